"""GAE(lambda) on hand-computed arrays: lambda = 1, lambda = 0, truncation against termination."""

import numpy as np
import pytest

from pgrad.returns import gae, reward_to_go_from_t

# One environment, five steps, gamma = 0.9. The episode ends at t = 2, a new one starts at
# t = 3 and is still running when the segment ends at t = 4.
REW = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
VALUE = np.array([10.0, 20.0, 30.0, 40.0, 50.0])       # V(s_t)
NEXT_VALUE = np.array([20.0, 30.0, 77.0, 50.0, 60.0])  # V(s'_t); 77 = V(final obs of episode 1)
ENDS_AT_2 = np.array([False, False, True, False, False])
NEVER = np.zeros(5, bool)


def run(lam, terminated, truncated):
    return gae(REW, VALUE, NEXT_VALUE, terminated, truncated, gamma=0.9, lam=lam)


def test_lambda_one_is_the_monte_carlo_return_minus_the_baseline():
    # terminated at t = 2: no bootstrap there; the second episode bootstraps from V = 60
    expected = [1 + 0.9 * 2 + 0.81 * 3 - 10,  # -4.77
                2 + 0.9 * 3 - 20,             # -15.3
                3 - 30,                       # -27
                4 + 0.9 * 5 + 0.81 * 60 - 40,  # 17.1
                5 + 0.9 * 60 - 50]            # 9
    np.testing.assert_allclose(run(1.0, ENDS_AT_2, NEVER), expected, rtol=1e-12)
    np.testing.assert_allclose(expected, [-4.77, -15.3, -27.0, 17.1, 9.0], rtol=1e-12)


def test_lambda_zero_is_the_one_step_td_error():
    np.testing.assert_allclose(run(0.0, ENDS_AT_2, NEVER), [9.0, 9.0, -27.0, 9.0, 9.0], rtol=1e-12)
    np.testing.assert_allclose(run(0.0, NEVER, ENDS_AT_2), [9.0, 9.0, 42.3, 9.0, 9.0], rtol=1e-12)


def test_truncation_bootstraps_from_the_final_observation_and_termination_does_not():
    truncated = run(1.0, NEVER, ENDS_AT_2)
    # truncated at t = 2: the return continues with gamma * V(final obs) = 0.9 * 77
    np.testing.assert_allclose(truncated[:3], [1 + 1.8 + 2.43 + 0.729 * 77 - 10,  # 51.363
                                               2 + 2.7 + 0.81 * 77 - 20,          # 47.07
                                               3 + 0.9 * 77 - 30], rtol=1e-12)     # 42.3
    terminated = run(1.0, ENDS_AT_2, NEVER)
    np.testing.assert_array_equal(truncated[3:], terminated[3:])  # the trace is cut either way
    # both flags at once (the pole falls on the last step of the time limit): termination wins
    np.testing.assert_array_equal(run(1.0, ENDS_AT_2, ENDS_AT_2), terminated)


def test_intermediate_lambda_by_hand():
    # A_t = delta_t + 0.45 A_{t+1}, cut after t = 2
    np.testing.assert_allclose(run(0.5, ENDS_AT_2, NEVER),
                               [9 + 0.45 * (9 + 0.45 * -27), 9 + 0.45 * -27, -27, 9 + 0.45 * 9, 9],
                               rtol=1e-12)


def test_no_values_and_termination_gives_the_reward_to_go():
    rng = np.random.default_rng(0)
    rew = rng.normal(size=(7, 3, 4))
    terminated = np.zeros((7, 3, 4), bool)
    terminated[-1] = True
    zeros = np.zeros_like(rew)
    adv = gae(rew, zeros, zeros, terminated, np.zeros_like(terminated), gamma=0.97, lam=1.0)
    np.testing.assert_allclose(adv, reward_to_go_from_t(rew, 0.97), rtol=1e-12)


def test_batch_columns_are_independent():
    batch = np.stack([REW, 2 * REW], axis=1)  # [T, 2]
    v, nv = np.stack([VALUE, VALUE], 1), np.stack([NEXT_VALUE, NEXT_VALUE], 1)
    term, trunc = np.stack([ENDS_AT_2, NEVER], 1), np.stack([NEVER, ENDS_AT_2], 1)
    adv = gae(batch, v, nv, term, trunc, 0.9, 0.8)
    np.testing.assert_array_equal(adv[:, 0], gae(REW, VALUE, NEXT_VALUE, ENDS_AT_2, NEVER, 0.9, 0.8))
    np.testing.assert_array_equal(adv[:, 1], gae(2 * REW, VALUE, NEXT_VALUE, NEVER, ENDS_AT_2, 0.9, 0.8))


@pytest.mark.parametrize("kw, message", [
    (dict(lam=1.5), r"lam must be in \[0, 1\]"),
    (dict(gamma=-0.1), r"gamma must be in \[0, 1\]"),
    (dict(value=np.zeros(4)), "value must have the shape of rew"),
    (dict(terminated=np.zeros(5)), "must be bool arrays"),
])
def test_bad_input_is_refused_in_one_line(kw, message):
    args = dict(rew=REW, value=VALUE, next_value=NEXT_VALUE, terminated=ENDS_AT_2, truncated=NEVER,
                gamma=0.9, lam=0.9) | kw
    with pytest.raises(ValueError, match=message):
        gae(**args)
