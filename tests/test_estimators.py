"""Baselines, standardisation and the policy-gradient estimate, on hand-computed arrays."""

import numpy as np
import pytest

from pgrad.estimators import (
    batch_mean_baseline,
    policy_gradient,
    standardize,
    time_mean_baseline,
    weights,
)

# One seed, K = 2 episodes of lengths 2 and 1, T = 2.
W = np.array([[[4.0, 1.0]], [[2.0, 0.0]]])  # [T, S, K]
ALIVE = np.array([[[True, True]], [[True, False]]])


def test_batch_mean_baseline():
    b = batch_mean_baseline(W, ALIVE)
    np.testing.assert_allclose(b, np.full((2, 1, 2), 7.0 / 3.0))
    loo = batch_mean_baseline(W, ALIVE, leave_one_out=True)
    # episode 0 sees only episode 1 (mean 1); episode 1 sees episode 0 (mean 3)
    np.testing.assert_allclose(loo[:, 0, 0], [1.0, 1.0])
    np.testing.assert_allclose(loo[:, 0, 1], [3.0, 3.0])


def test_time_mean_baseline():
    np.testing.assert_allclose(time_mean_baseline(W, ALIVE)[:, 0], [[2.5, 2.5], [2.0, 2.0]])
    loo = time_mean_baseline(W, ALIVE, leave_one_out=True)
    np.testing.assert_allclose(loo[:, 0], [[1.0, 4.0], [0.0, 2.0]])  # no other episode at t=1 -> 0


def test_standardize_over_alive_steps():
    z = standardize(W, ALIVE)
    alive_values = z[ALIVE]
    np.testing.assert_allclose(alive_values.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(alive_values.std(), 1.0, rtol=1e-6)


def test_policy_gradient_hand_computed():
    score = np.zeros((2, 1, 2, 2))
    score[0, 0, 0] = [1.0, 0.0]
    score[1, 0, 0] = [0.0, 1.0]
    score[0, 0, 1] = [1.0, 1.0]
    score[1, 0, 1] = [100.0, 100.0]  # after episode 1 ended: masked out
    g = policy_gradient(score, W, ALIVE)
    # (1/K) [4*(1,0) + 2*(0,1) + 1*(1,1)] = (5, 3)/2
    np.testing.assert_allclose(g, [[2.5, 1.5]])


def test_weights_composes_weighting_and_baseline():
    rew = np.array([[[1.0, 1.0]], [[1.0, 0.0]]])
    w = weights(rew, ALIVE, 1.0, "reward_to_go", "batch_mean")
    # reward-to-go [[2, 1], [1, 0]] alive values 2, 1, 1 -> mean 4/3
    np.testing.assert_allclose(w[:, 0], [[2 - 4 / 3, 1 - 4 / 3], [1 - 4 / 3, -4 / 3]])


def test_leave_one_out_baseline_is_independent_of_own_episode():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 3, 5))
    alive = rng.random((6, 3, 5)) < 0.8
    for fn in (batch_mean_baseline, time_mean_baseline):
        b = fn(w, alive, leave_one_out=True)
        w2 = w.copy()
        w2[:, :, 2] = rng.normal(size=(6, 3))  # change episode 2 only
        b2 = fn(w2, alive, leave_one_out=True)
        np.testing.assert_allclose(b[:, :, 2], b2[:, :, 2], rtol=1e-12)


@pytest.mark.parametrize("kw, message", [
    (dict(weighting="rtg", baseline="none"), "unknown weighting"),
    (dict(weighting="reward_to_go", baseline="value!"), "unknown baseline"),
])
def test_unknown_names_list_accepted_values(kw, message):
    with pytest.raises(ValueError, match=f"{message}.*accepted"):
        weights(np.ones((2, 1, 2)), ALIVE, 1.0, **kw)


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\[T, S, K\]"):
        policy_gradient(np.zeros((2, 1, 2, 3)), np.zeros((2, 2)), np.ones((2, 2), bool))


def test_factored_gradient_equals_the_generic_estimate():
    from pgrad.estimators import factored_policy_gradient
    from pgrad.policies import LogisticPolicy

    rng = np.random.default_rng(3)
    policy = LogisticPolicy(obs_dim=4, bias=True)
    theta = rng.normal(size=(3, 5))
    obs = rng.normal(size=(9, 3, 6, 4))
    act = rng.integers(0, 2, (9, 3, 6))
    w = rng.normal(size=(9, 3, 6))
    alive = rng.random((9, 3, 6)) < 0.7
    generic = policy_gradient(policy.grad_log_prob(theta, obs, act), w, alive)
    factored = factored_policy_gradient(*policy.score_factors(theta, obs, act), w, alive)
    np.testing.assert_allclose(factored, generic, rtol=1e-12)
    coef = rng.normal(size=(9, 3, 6, 2))  # a vector coefficient, as softmax-linear has
    phi = obs
    outer = (phi[..., :, None] * coef[..., None, :]).reshape(9, 3, 6, 8)
    np.testing.assert_allclose(factored_policy_gradient(phi, coef, w, alive),
                               policy_gradient(outer, w, alive), rtol=1e-12)
