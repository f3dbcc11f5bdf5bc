"""The deterministic linear policy on Box actions: a = mu_theta(s) = phi(s) @ W.

The policy of the deterministic policy gradient (Silver et al., 2014): no density and no
score function, but a Jacobian grad_theta mu(s) [d, m], which the DPG estimator
(:mod:`pgrad.continuous`) multiplies with a critic's grad_a Q(s, a).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pgrad.policies.base import check_theta_obs


def linear_jacobian(phi: np.ndarray, action_dim: int) -> np.ndarray:
    """d a / d W for a = phi @ W with W row-major [F, m] flattened to theta[f m + i]:

    jac[..., f m + i, j] = phi_f [i = j]:  [..., F * m, m] from phi [..., F].
    """
    m = action_dim
    jac = phi[..., :, None, None] * np.eye(m)  # [..., F, m (i), m (j)]
    return jac.reshape(*phi.shape[:-1], phi.shape[-1] * m, m)


@dataclass(frozen=True)
class DeterministicLinearPolicy:
    """a = mu_theta(s) = phi(s) @ W, phi(s) = s or (s, 1) with the bias.

    theta: [F * m] or [S, F * m] = W row-major [F, m], F = obs_dim (+1 with the bias),
    m = action_dim: the same layout as the mean of ``GaussianLinearPolicy`` (its theta
    without log_std). Jacobian grad_theta mu_j(s) = phi(s) (x) e_j (``grad_mean``).

    There is no randomness: ``noise`` draws nothing ([*shape, 0]), ``act``, ``mode`` and
    ``sample`` all give mu(s). ``log_prob`` and ``grad_log_prob`` raise: a deterministic
    policy has no density, so no score-function estimator applies to it.
    """

    obs_dim: int
    action_dim: int = 1
    bias: bool = True
    action_dtype: ClassVar[type] = np.float64

    def __post_init__(self) -> None:
        if self.obs_dim < 1 or self.action_dim < 1:
            raise ValueError(f"need obs_dim >= 1 and action_dim >= 1, got {self.obs_dim}, {self.action_dim}")

    @property
    def action_shape(self) -> tuple[int, ...]:
        return (self.action_dim,)

    @property
    def num_features(self) -> int:
        """F = obs_dim (+1 with the bias)."""
        return self.obs_dim + int(self.bias)

    @property
    def dim(self) -> int:
        """d = F * m."""
        return self.num_features * self.action_dim

    def init(self, num_seeds: int | None = None) -> np.ndarray:
        """W = 0: shape [d], or [S, d] with num_seeds."""
        return np.zeros((self.dim,) if num_seeds is None else (num_seeds, self.dim))

    def features(self, obs: np.ndarray) -> np.ndarray:
        """phi(s) = s, or (s, 1) with the bias: [..., F]."""
        if not self.bias:
            return obs
        return np.concatenate([obs, np.ones(obs.shape[:-1] + (1,), obs.dtype)], axis=-1)

    def mean(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """mu(s) = phi(s) @ W, summed over the features in order (as ``GaussianLinearPolicy.mean``):
        [..., m] from obs [..., obs_dim] (with theta [S, d]: obs [..., S, K, obs_dim] -> [..., S, K, m])."""
        check_theta_obs(theta, obs, self.dim, self.obs_dim)
        W = theta.reshape(*theta.shape[:-1], self.num_features, self.action_dim)
        if theta.ndim == 2:
            W = W[:, None]  # [S, 1, F, m], broadcast over K
        mu = obs[..., 0, None] * W[..., 0, :]
        for f in range(1, self.obs_dim):
            mu = mu + obs[..., f, None] * W[..., f, :]
        if self.bias:
            mu = mu + W[..., self.obs_dim, :]
        return mu

    def grad_mean(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """grad_theta mu(s), d mu_j / d theta_i: [..., d, m] (``linear_jacobian`` of phi(s))."""
        check_theta_obs(theta, obs, self.dim, self.obs_dim)
        return linear_jacobian(self.features(obs), self.action_dim)

    def noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Nothing to draw: an empty array [*shape, 0]; ``rng`` is left untouched."""
        return np.zeros((*shape, 0))

    def act(self, theta: np.ndarray, obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """a = mu(s), whatever the (empty) noise: [..., m]."""
        return self.mean(theta, obs)

    def mode(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """a = mu(s): [..., m]."""
        return self.mean(theta, obs)

    def sample(self, theta: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """a = mu(s): [..., m]; ``rng`` is left untouched."""
        return self.mean(theta, obs)

    def log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        raise ValueError("a deterministic policy has no density: use the deterministic policy gradient")

    def grad_log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        raise ValueError("a deterministic policy has no score function: use the deterministic policy "
                         "gradient")
