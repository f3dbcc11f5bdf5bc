"""The Gaussian-linear policy: density, score function by finite differences, sampling, entropy."""

import math

import numpy as np
import pytest

from pgrad.policies.gaussian import GaussianLinearPolicy

RNG = np.random.default_rng(0)


def random_case(policy, seeds=None, batch=(7,)):
    theta = RNG.normal(scale=0.5, size=(policy.dim,) if seeds is None else (seeds, policy.dim))
    obs = RNG.normal(size=(*batch, policy.obs_dim))
    return theta, obs


def test_layout_and_density_by_hand():
    policy = GaussianLinearPolicy(obs_dim=2, action_dim=1, bias=True)
    theta = np.array([1.0, -2.0, 0.5, math.log(2.0)])  # W = (1, -2, 0.5)^T, sigma = 2
    obs = np.array([3.0, 1.0])
    assert policy.dim == 4
    np.testing.assert_allclose(policy.mean(theta, obs), [3.0 - 2.0 + 0.5])
    a = np.array([2.5])  # z = (2.5 - 1.5) / 2 = 0.5
    expected = -0.5 * 0.25 - math.log(2.0) - 0.5 * math.log(2 * math.pi)
    np.testing.assert_allclose(policy.log_prob(theta, obs, a), expected)
    np.testing.assert_allclose(policy.entropy(theta, obs), math.log(2.0) + 0.5 * (1 + math.log(2 * math.pi)))


@pytest.mark.parametrize("bias, action_dim, seeds", [(True, 1, None), (False, 3, None), (True, 2, 3)])
def test_score_function_matches_finite_differences(bias, action_dim, seeds):
    policy = GaussianLinearPolicy(obs_dim=4, action_dim=action_dim, bias=bias)
    batch = (5,) if seeds is None else (2, seeds, 4)
    theta, obs = random_case(policy, seeds, batch)
    act = policy.sample(theta, obs, RNG)
    score = policy.grad_log_prob(theta, obs, act)
    assert score.shape == (*batch, policy.dim)
    eps = 1e-6
    for i in range(policy.dim):
        e = np.zeros(policy.dim)
        e[i] = eps
        fd = (policy.log_prob(theta + e, obs, act) - policy.log_prob(theta - e, obs, act)) / (2 * eps)
        np.testing.assert_allclose(score[..., i], fd, atol=1e-6, rtol=1e-6)


def test_entropy_gradient_matches_finite_differences():
    policy = GaussianLinearPolicy(obs_dim=3, action_dim=2)
    theta, obs = random_case(policy)
    grad = policy.grad_entropy(theta, obs)
    eps = 1e-6
    for i in range(policy.dim):
        e = np.zeros(policy.dim)
        e[i] = eps
        fd = (policy.entropy(theta + e, obs) - policy.entropy(theta - e, obs)) / (2 * eps)
        np.testing.assert_allclose(grad[..., i], fd, atol=1e-8)


def test_sampling_has_the_policy_mean_and_std_and_zero_noise_is_the_mode():
    policy = GaussianLinearPolicy(obs_dim=2, action_dim=2, init_log_std=math.log(0.5))
    theta = policy.init()
    theta[:6] = [1.0, 0.0, 0.0, 1.0, 0.5, -0.5]
    obs = np.tile([1.0, 2.0], (200_000, 1))
    a = policy.act(theta, obs, policy.noise(RNG, (200_000,)))
    np.testing.assert_allclose(a.mean(axis=0), [1.5, 1.5], atol=0.01)
    np.testing.assert_allclose(a.std(axis=0), [0.5, 0.5], atol=0.01)
    zero = np.zeros((1, 2))
    np.testing.assert_array_equal(policy.act(theta, obs[:1], zero), policy.mode(theta, obs[:1]))
    assert policy.sample(theta, obs[:10], RNG).shape == (10, 2)


def test_seed_axis_gives_each_seed_its_own_parameters_bit_for_bit():
    policy = GaussianLinearPolicy(obs_dim=4, action_dim=2)
    theta, obs = random_case(policy, seeds=3, batch=(6, 3, 5))
    act = policy.sample(theta, obs, RNG)
    batched = policy.log_prob(theta, obs, act)
    for s in range(3):
        np.testing.assert_array_equal(batched[:, s], policy.log_prob(theta[s], obs[:, s], act[:, s]))
        np.testing.assert_array_equal(policy.mean(theta[s:s + 1], obs[:, s:s + 1])[:, 0],
                                      policy.mean(theta, obs)[:, s])


def test_init_and_bad_shapes():
    policy = GaussianLinearPolicy(obs_dim=3, action_dim=2, init_log_std=-0.5)
    assert policy.init(4).shape == (4, policy.dim)
    np.testing.assert_array_equal(policy.init()[-2:], [-0.5, -0.5])
    with pytest.raises(ValueError, match="obs must end in the feature axis"):
        policy.mean(policy.init(), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="act must have shape"):
        policy.log_prob(policy.init(), np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="action_dim >= 1"):
        GaussianLinearPolicy(obs_dim=3, action_dim=0)
