"""Surrogate objectives of actor-critic methods: hand-computed values and finite differences."""

import numpy as np
import pytest

from pgrad.estimators import (
    approx_kl,
    categorical_entropy,
    categorical_entropy_grad,
    clipped_surrogate,
    clipped_surrogate_grad,
    explained_variance,
)
from pgrad.optim import clip_grad_norm, linear_decay
from pgrad.policies import SoftmaxLinearPolicy


def test_clipped_surrogate_by_hand():
    ratio = np.array([0.5, 0.9, 1.0, 1.1, 1.5, 0.5, 1.5])
    adv = np.array([2.0, 2.0, 2.0, 2.0, 2.0, -1.0, -1.0])
    # min(r A, clip(r, 0.8, 1.2) A)
    expected = [1.0, 1.8, 2.0, 2.2, 2.4, -0.8, -1.5]
    np.testing.assert_allclose(clipped_surrogate(ratio, adv, 0.2), expected)
    # d/dlog pi = r A unless the clipped term is the minimum (A > 0, r > 1.2 or A < 0, r < 0.8)
    np.testing.assert_allclose(clipped_surrogate_grad(ratio, adv, 0.2), [1.0, 1.8, 2.0, 2.2, 0.0, 0.0, -1.5])


def test_clipped_surrogate_grad_is_the_derivative_in_log_pi():
    rng = np.random.default_rng(0)
    logp_old = rng.normal(size=200)
    logp = logp_old + rng.normal(scale=0.3, size=200)
    adv = rng.normal(size=200)
    eps = 1e-6
    fd = (clipped_surrogate(np.exp(logp + eps - logp_old), adv, 0.2)
          - clipped_surrogate(np.exp(logp - eps - logp_old), adv, 0.2)) / (2 * eps)
    np.testing.assert_allclose(clipped_surrogate_grad(np.exp(logp - logp_old), adv, 0.2), fd, atol=1e-6)


def test_categorical_entropy_and_its_gradient_by_finite_differences():
    rng = np.random.default_rng(1)
    policy = SoftmaxLinearPolicy(obs_dim=3, num_actions=4, bias=True)
    theta, obs = rng.normal(size=policy.dim), rng.normal(size=(5, 3))
    probs = policy.probs(theta, obs)
    np.testing.assert_allclose(categorical_entropy(np.full(4, 0.25)), np.log(4))
    scores = np.stack([policy.grad_log_prob(theta, obs, np.full(5, a)) for a in range(4)], axis=-2)
    grad = categorical_entropy_grad(probs, scores)  # [5, d]
    eps = 1e-6
    for i in range(policy.dim):
        e = np.zeros(policy.dim)
        e[i] = eps
        fd = (categorical_entropy(policy.probs(theta + e, obs))
              - categorical_entropy(policy.probs(theta - e, obs))) / (2 * eps)
        np.testing.assert_allclose(grad[:, i], fd, atol=1e-7)


def test_approx_kl_and_explained_variance():
    np.testing.assert_allclose(approx_kl(np.log([1.0, 2.0]), np.log([1.0, 1.0])), [0.0, 1 - np.log(2)])
    target = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(explained_variance(target, target), [1.0])
    np.testing.assert_allclose(explained_variance(np.full((1, 4), 2.5), target), [0.0])
    assert np.isnan(explained_variance(np.zeros((1, 3)), np.ones((1, 3))))[0]


def test_gradient_norm_clipping_is_per_seed():
    grad = np.array([[3.0, 4.0], [0.3, 0.4]])
    clipped, norm = clip_grad_norm(grad, 1.0)
    np.testing.assert_allclose(norm, [5.0, 0.5])
    np.testing.assert_allclose(clipped, [[0.6, 0.8], [0.3, 0.4]])
    assert linear_decay(0.01, 0.25) == pytest.approx(0.0075) and linear_decay(0.01, 1.5) == 0.0
