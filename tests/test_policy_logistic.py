"""LogisticPolicy: pi(left | s) = sigmoid(theta . s) and its score function (y - p) s."""

import warnings

import numpy as np
import pytest

from pgrad.policies import LogisticPolicy


def test_probabilities_hand_computed():
    policy = LogisticPolicy(obs_dim=2)
    theta = np.array([1.0, -2.0])
    obs = np.array([[0.5, 0.25], [0.0, 0.0]])  # z = 0.5 - 0.5 = 0, and 0
    np.testing.assert_allclose(policy.probs(theta, obs), [[0.5, 0.5], [0.5, 0.5]])
    obs = np.array([[1.0, 0.0]])  # z = 1
    p = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(policy.probs(theta, obs), [[p, 1 - p]], rtol=1e-15)
    np.testing.assert_allclose(policy.log_prob(theta, obs, np.array([0])), [np.log(p)], rtol=1e-15)
    np.testing.assert_allclose(policy.grad_log_prob(theta, obs, np.array([1])), [[-p, 0.0]], rtol=1e-15)


def test_bias_feature():
    policy = LogisticPolicy(obs_dim=2, bias=True)
    theta = np.array([0.0, 0.0, 3.0])
    obs = np.zeros((1, 2))
    assert policy.dim == 3
    np.testing.assert_allclose(policy.prob_left(theta, obs), 1 / (1 + np.exp(-3.0)))
    g = policy.grad_log_prob(theta, obs, np.array([0]))
    np.testing.assert_allclose(g, [[0.0, 0.0, 1 - 1 / (1 + np.exp(-3.0))]])


@pytest.mark.parametrize("bias", [False, True])
def test_score_function_matches_finite_differences(bias):
    rng = np.random.default_rng(0)
    policy = LogisticPolicy(obs_dim=4, bias=bias)
    theta = rng.normal(size=policy.dim)
    obs = rng.normal(size=(20, 4))
    act = rng.integers(0, 2, 20)
    grad = policy.grad_log_prob(theta, obs, act)
    h = 1e-6
    for j in range(policy.dim):
        e = np.zeros(policy.dim)
        e[j] = h
        fd = (policy.log_prob(theta + e, obs, act) - policy.log_prob(theta - e, obs, act)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-6, atol=1e-9)


def test_stable_for_huge_logits():
    policy = LogisticPolicy(obs_dim=1)
    obs = np.array([[1.0], [-1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow or invalid-value warning fails
        for scale in (1e3, 1e6, -1e6):
            theta = np.array([scale])
            p = policy.probs(theta, obs)
            lp = policy.log_prob(theta, obs, np.array([0, 1]))
            g = policy.grad_log_prob(theta, obs, np.array([1, 0]))
            assert np.isfinite(p).all() and np.isfinite(g).all()
            assert not np.isnan(lp).any()
            np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    theta = np.array([1e6])
    assert policy.log_prob(theta, obs[:1], np.array([0]))[0] == 0.0
    assert policy.log_prob(theta, obs[:1], np.array([1]))[0] == -1e6


def test_sampling_frequency_matches_probability():
    policy = LogisticPolicy(obs_dim=1)
    theta = np.array([0.7])
    obs = np.ones((200_000, 1))
    act = policy.sample(theta, obs, np.random.default_rng(1))
    p_left = 1 / (1 + np.exp(-0.7))
    se = np.sqrt(p_left * (1 - p_left) / obs.shape[0])
    assert abs(np.mean(act == 0) - p_left) < 4 * se
    greedy = policy.act(theta, obs[:3], np.zeros(3))
    assert greedy.tolist() == [0, 0, 0]  # z > 0: left is the more likely action


def test_seed_axis_broadcasts_one_theta_per_seed():
    policy = LogisticPolicy(obs_dim=3)
    rng = np.random.default_rng(2)
    theta = rng.normal(size=(5, 3))
    obs = rng.normal(size=(7, 5, 4, 3))  # [T, S, K, d]
    z = policy.logits(theta, obs)
    assert z.shape == (7, 5, 4)
    for s in range(5):
        np.testing.assert_allclose(z[:, s], obs[:, s] @ theta[s], rtol=1e-14)
    assert policy.grad_log_prob(theta, obs, np.zeros((7, 5, 4), int)).shape == (7, 5, 4, 3)


@pytest.mark.parametrize(
    "theta, obs",
    [(np.zeros(3), np.zeros((2, 4))), (np.zeros((2, 4)), np.zeros((3, 2, 4))),
     (np.zeros((2, 4)), np.zeros((3, 5, 4)))],
)
def test_shape_errors_are_one_line(theta, obs):
    with pytest.raises(ValueError, match="must") as e:
        LogisticPolicy(obs_dim=4).probs(theta, obs)
    assert "\n" not in str(e.value)
