"""Returns and weightings, against hand-computed arrays."""

import numpy as np
import pytest

from pgrad.returns import discounted_return, reward_to_go, reward_to_go_from_t, total_return

REW = np.array([1.0, 2.0, 3.0])  # one episode, T = 3
G = 0.5


def test_discounted_return_hand_computed():
    assert discounted_return(REW, G) == 1 + 0.5 * 2 + 0.25 * 3  # 2.75
    assert discounted_return(REW, 1.0) == 6.0
    assert discounted_return(REW, 0.0) == 1.0


def test_total_return_weights_every_step_by_g():
    np.testing.assert_array_equal(total_return(REW, G), [2.75, 2.75, 2.75])


def test_reward_to_go_keeps_gamma_t_prime():
    # w_t = sum_{t' >= t} gamma^t' r_t' = [1 + 1 + 0.75, 1 + 0.75, 0.75]
    np.testing.assert_array_equal(reward_to_go(REW, G), [2.75, 1.75, 0.75])


def test_reward_to_go_from_t_drops_gamma_t():
    # w_t = sum_{t' >= t} gamma^{t'-t} r_t' = [2.75, 2 + 1.5, 3]
    np.testing.assert_array_equal(reward_to_go_from_t(REW, G), [2.75, 3.5, 3.0])


def test_properties_on_random_batches():
    rng = np.random.default_rng(0)
    rew = rng.normal(size=(40, 3, 5))
    gamma = 0.9
    rtg, rtg_t = reward_to_go(rew, gamma), reward_to_go_from_t(rew, gamma)
    np.testing.assert_allclose(rtg[0], discounted_return(rew, gamma), rtol=1e-12)
    np.testing.assert_allclose(rtg_t[0], rtg[0], rtol=1e-12)
    np.testing.assert_allclose(rtg_t * gamma ** np.arange(40)[:, None, None], rtg, rtol=1e-10)
    np.testing.assert_allclose(reward_to_go(rew, 1.0), reward_to_go_from_t(rew, 1.0), rtol=1e-12)


def test_trailing_padding_changes_nothing_bit_for_bit():
    rng = np.random.default_rng(1)
    rew = rng.normal(size=(30, 2, 4))
    padded = np.concatenate([rew, np.zeros((17, 2, 4))])
    for f in (reward_to_go, reward_to_go_from_t):
        assert np.array_equal(f(padded, 0.97)[:30], f(rew, 0.97))
    assert np.array_equal(discounted_return(padded, 0.97), discounted_return(rew, 0.97))


@pytest.mark.parametrize("gamma", [-0.1, 1.5])
def test_gamma_outside_unit_interval_is_rejected(gamma):
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
        reward_to_go(REW, gamma)
