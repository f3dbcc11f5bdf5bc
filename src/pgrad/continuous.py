"""Pathwise policy-gradient estimators for continuous actions, given a critic's action gradient.

Shapes are time first, as in :mod:`pgrad.estimators`: Jacobians ``jac: [T, S, K, d, m]``
(d u_j / d theta_i), critic gradients ``grad_q: [T, S, K, m]``, alive mask ``alive: [T, S, K]``;
estimates are per seed, ``[S, d]``. Both estimators are the chain rule through the action,

    g = (1/K) sum_k sum_t gamma^t grad_theta a^k_t grad_a Q_t(s^k_t, a)|_{a = a^k_t},

and differ in what the action is (docs/theorem.md, section 12):

- the deterministic policy gradient (Silver et al., 2014), a = mu_theta(s):
  grad J = sum_t gamma^t E[grad_theta mu(s_t) grad_a Q^mu_t(s_t, a)|_{a = mu(s_t)}];
- the reparameterisation gradient (Heess et al., 2015; SAC's actor without its entropy term),
  a = mu_theta(s) + sigma_theta eps with eps ~ N(0, I) drawn independently of theta:
  grad J = sum_t gamma^t E[grad_theta a_t grad_a Q^pi_t(s_t, a_t)], equal in expectation to the
  score-function form sum_t gamma^t E[grad log pi(a_t | s_t) Q^pi_t(s_t, a_t)].

Either is unbiased when the critic's grad_a Q_t is exact (``pgrad.lqr.lqr_action_value_grad`` on
the LQR); with a learned critic it is as good as the critic's action gradient. SAC's actor adds the
entropy term: ``soft_reparameterised_gradient`` differentiates E[Q^soft_t(s_t, a_t) - alpha log pi(a_t | s_t)]
through the sample and through the density, unbiased for grad J_alpha (``pgrad.lqr.lqr_soft_gradient``).
"""

from __future__ import annotations

import numpy as np

from pgrad import estimators
from pgrad.policies import GaussianLinearPolicy
from pgrad.policies.deterministic import linear_jacobian


def _chain_rule(jac: np.ndarray, grad_q: np.ndarray, alive: np.ndarray, gamma: float) -> np.ndarray:
    if alive.ndim != 3 or grad_q.ndim != 4 or grad_q.shape[:3] != alive.shape:
        raise ValueError(f"grad_q must be [T, S, K, m] and alive [T, S, K], got {grad_q.shape} and "
                         f"{alive.shape}")
    if jac.ndim != 5 or jac.shape[:3] != alive.shape or jac.shape[-1] != grad_q.shape[-1]:
        raise ValueError(f"jac must be [T, S, K, d, m] matching grad_q {grad_q.shape}, got {jac.shape}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    discount = gamma ** np.arange(alive.shape[0], dtype=np.float64)
    weighted = np.where(alive[..., None], grad_q, 0.0) * discount[:, None, None, None]  # [T, S, K, m]
    return np.einsum("tskdm,tskm->tskd", jac, weighted).sum(axis=0).mean(axis=1)  # time first, in order


def deterministic_policy_gradient(jac: np.ndarray, grad_q: np.ndarray, alive: np.ndarray,
                                  gamma: float) -> np.ndarray:
    """The DPG estimate with a given critic gradient, over alive steps:

        g = (1/K) sum_k sum_t gamma^t grad_theta mu(s^k_t) grad_a Q_t(s^k_t, a)|_{a = mu(s^k_t)}.

    jac: [T, S, K, d, m] grad_theta mu(s_t) (``DeterministicLinearPolicy.grad_mean``);
    grad_q: [T, S, K, m] grad_a Q_t at a = mu(s_t); alive: [T, S, K] -> [S, d].
    """
    return _chain_rule(jac, grad_q, alive, gamma)


def reparameterised_gradient(jac: np.ndarray, grad_q: np.ndarray, alive: np.ndarray,
                             gamma: float) -> np.ndarray:
    """The reparameterisation estimate with a given critic gradient, over alive steps:

        g = (1/K) sum_k sum_t gamma^t grad_theta a^k_t grad_a Q_t(s^k_t, a^k_t),
        a_t = mu_theta(s_t) + sigma_theta eps_t, the noise eps_t held fixed.

    jac: [T, S, K, d, m] grad_theta a_t (``gaussian_action_jacobian``); grad_q: [T, S, K, m]
    grad_a Q_t at the sampled a_t; alive: [T, S, K] -> [S, d].
    """
    return _chain_rule(jac, grad_q, alive, gamma)


def soft_reparameterised_gradient(jac: np.ndarray, grad_q: np.ndarray, score: np.ndarray,
                                  grad_a_log_prob: np.ndarray, alive: np.ndarray, gamma: float,
                                  alpha: float) -> np.ndarray:
    """SAC's actor gradient (Haarnoja et al., 2018), maximisation form, over alive steps:

        g = (1/K) sum_k sum_t gamma^t [grad_theta a_t (grad_a Q^soft_t(s_t, a) - alpha grad_a log pi(a | s_t))
                                       - alpha grad_theta log pi(a | s_t)]|_{a = a_t},
        a_t = mu_theta(s_t) + sigma_theta eps_t, the noise eps_t held fixed,

    the derivative of sum_t gamma^t (Q^soft_t - alpha log pi) through the action (the chain rule of
    ``reparameterised_gradient``) and through the density at the fixed action (the score); an
    estimate of grad J_alpha, J_alpha = E[sum_t gamma^t (r_t - alpha log pi(a_t | s_t))].

    jac: [T, S, K, d, m] grad_theta a_t; grad_q: [T, S, K, m] grad_a Q^soft_t at a_t; score:
    [T, S, K, d] grad_theta log pi(a_t | s_t) (``policy.grad_log_prob``); grad_a_log_prob: [T, S, K, m],
    -(a_t - mu) / sigma^2 for the Gaussian; alive: [T, S, K]; alpha >= 0 -> [S, d].
    alpha = 0 is ``reparameterised_gradient``.
    """
    if not (np.isfinite(alpha) and alpha >= 0.0):
        raise ValueError(f"alpha must be finite and >= 0, got {alpha}")
    if grad_a_log_prob.shape != grad_q.shape:
        raise ValueError(f"grad_a_log_prob must be [T, S, K, m] like grad_q {grad_q.shape}, got "
                         f"{grad_a_log_prob.shape}")
    pathwise = _chain_rule(jac, grad_q - alpha * grad_a_log_prob, alive, gamma)  # checks jac, alive, gamma
    if score.shape != jac.shape[:-1]:
        raise ValueError(f"score must be [T, S, K, d] matching jac {jac.shape}, got {score.shape}")
    discount = gamma ** np.arange(alive.shape[0], dtype=np.float64)
    discount_t = np.broadcast_to(discount[:, None, None], alive.shape)  # gamma^t as the score's weight
    return pathwise - alpha * estimators.policy_gradient(score, discount_t, alive)


def gaussian_action_jacobian(policy: GaussianLinearPolicy, theta: np.ndarray, obs: np.ndarray,
                             noise: np.ndarray) -> np.ndarray:
    """grad_theta a for a = phi(s) @ W + exp(log_std) * eps (``GaussianLinearPolicy.act``), in its
    theta layout (W row-major [F, m], then log_std [m]):

        d a_j / d W[f, i] = phi_f(s) [i = j],   d a_j / d log_std_i = sigma_j eps_j [i = j].

    theta: [d] or [S, d]; obs: [..., obs_dim] (with theta [S, d]: [..., S, K, obs_dim]);
    noise eps: [..., m] -> [..., d, m]. The noise of a sampled action is z = (a - mu) / sigma
    (``policy.standardize``).
    """
    sigma = np.exp(policy.log_std(theta))
    if noise.shape != policy.mean(theta, obs).shape:
        raise ValueError(f"noise must have the shape of the actions, {policy.mean(theta, obs).shape}, "
                         f"got {noise.shape}")
    d_log_std = (sigma * noise)[..., :, None] * np.eye(policy.action_dim)  # [..., m (i), m (j)]
    return np.concatenate([linear_jacobian(policy.features(obs), policy.action_dim), d_log_std], axis=-2)
