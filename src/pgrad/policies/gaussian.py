"""The Gaussian-linear policy on Box actions: a ~ N(mu(s), diag(sigma^2)), mu(s) = phi(s) @ W.

The mean is linear in the features phi(s) = s (or (s, 1) with the bias); the log standard
deviation is a learned vector that does not depend on the state. Actions are unbounded
samples of the Gaussian: the sampler clips them to the Box bounds only when it sends them
to the environment, so log pi(a | s) is always the density of the action actually drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from pgrad.policies.base import check_theta_obs

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_density(z: np.ndarray, log_std: np.ndarray) -> np.ndarray:
    """log N(a; mu, sigma^2) summed over the action: sum_j [-z_j^2 / 2 - log sigma_j - log(2 pi) / 2]
    with z = (a - mu) / sigma: [...] from z [..., m]."""
    return (-0.5 * np.square(z) - log_std - 0.5 * LOG_2PI).sum(axis=-1)


def gaussian_entropy(log_std: np.ndarray) -> np.ndarray:
    """H = sum_j (log sigma_j + (1 + log 2 pi) / 2): [...] from log sigma [..., m]."""
    return (log_std + 0.5 * (1.0 + LOG_2PI)).sum(axis=-1)


def gaussian_score(z: np.ndarray, sigma: np.ndarray,
                   weight: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The score's coefficients, each times ``weight`` (broadcastable to z): d log pi / d mu = z / sigma
    and d log pi / d log sigma = z^2 - 1, [..., m] each (for a linear mean, grad_W log pi =
    phi(s) (z / sigma)^T)."""
    return weight * z / sigma, weight * (np.square(z) - 1.0)


class _Gaussian:
    """What both Gaussian policies derive from their ``mean(theta, obs)`` [..., m] and
    ``log_std(theta)`` (broadcastable to it), which each defines: sampling, log pi, entropy."""

    action_dim: int
    action_dtype: ClassVar[type] = np.float64

    if TYPE_CHECKING:  # what each subclass defines
        def mean(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray: ...
        def log_std(self, theta: np.ndarray) -> np.ndarray: ...

    @property
    def action_shape(self) -> tuple[int, ...]:
        return (self.action_dim,)

    def distribution(self, theta: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu(s), sigma), each broadcastable to [..., m]."""
        return self.mean(theta, obs), np.exp(self.log_std(theta))

    def noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """eps ~ N(0, I): [*shape, m]."""
        return rng.standard_normal((*shape, self.action_dim))

    def act(self, theta: np.ndarray, obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """a = mu(s) + sigma * eps: [..., m]."""
        mu, sigma = self.distribution(theta, obs)
        return mu + sigma * noise

    def mode(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """The greedy action, the mean mu(s): [..., m]."""
        return self.mean(theta, obs)

    def sample(self, theta: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """a ~ pi_theta(. | s): [..., m]."""
        mu, sigma = self.distribution(theta, obs)
        return mu + sigma * rng.standard_normal(mu.shape)

    def _check_act(self, act: np.ndarray, mu: np.ndarray) -> None:
        if act.shape != mu.shape:
            raise ValueError(f"act must have shape {mu.shape} (batch and action_dim), got {act.shape}")

    def standardize(self, theta: np.ndarray, obs: np.ndarray,
                    act: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z, sigma, log sigma) with z = (a - mu(s)) / sigma: z [..., m], sigma and log sigma
        broadcastable to it."""
        mu = self.mean(theta, obs)
        self._check_act(act, mu)
        log_std = self.log_std(theta)
        sigma = np.exp(log_std)
        return (act - mu) / sigma, sigma, log_std

    def log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """log pi(a | s) = sum_j [-z_j^2 / 2 - log_std_j - log(2 pi) / 2], z = (a - mu) / sigma: [...]."""
        z, _, log_std = self.standardize(theta, obs, act)
        return gaussian_log_density(z, log_std)

    def entropy(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """H(pi(. | s)) = sum_j (log_std_j + (1 + log 2 pi) / 2), broadcast to the batch: [...]."""
        return np.broadcast_to(gaussian_entropy(self.log_std(theta)), self.mean(theta, obs).shape[:-1])


@dataclass(frozen=True)
class GaussianLinearPolicy(_Gaussian):
    """pi_theta(a | s) = prod_j N(a_j; mu_j(s), sigma_j^2), mu(s) = phi(s) @ W, sigma = exp(log_std).

    theta: [F * m + m] or [S, F * m + m] = (W row-major [F, m], log_std [m]), F = obs_dim (+1 with
    the bias), m = action_dim. Score function, with z_j = (a_j - mu_j) / sigma_j:

        grad_W log pi(a | s) = phi(s) (z / sigma)^T,   d log pi / d log_std_j = z_j^2 - 1.

    Entropy H = sum_j (log_std_j + (1 + log 2 pi) / 2), the same in every state.
    Sampling: a = mu + sigma * eps with eps ~ N(0, I); ``mode`` is the mean.
    """

    obs_dim: int
    action_dim: int = 1
    bias: bool = True
    init_log_std: float = 0.0

    def __post_init__(self) -> None:
        if self.obs_dim < 1 or self.action_dim < 1:
            raise ValueError(f"need obs_dim >= 1 and action_dim >= 1, got {self.obs_dim}, {self.action_dim}")

    @property
    def num_features(self) -> int:
        """F = obs_dim (+1 with the bias)."""
        return self.obs_dim + int(self.bias)

    @property
    def dim(self) -> int:
        """d = F * m + m."""
        return (self.num_features + 1) * self.action_dim

    def init(self, num_seeds: int | None = None) -> np.ndarray:
        """W = 0, log_std = init_log_std: shape [d], or [S, d] with num_seeds."""
        theta = np.zeros((self.dim,) if num_seeds is None else (num_seeds, self.dim))
        theta[..., self.num_features * self.action_dim:] = self.init_log_std
        return theta

    def features(self, obs: np.ndarray) -> np.ndarray:
        """phi(s) = s, or (s, 1) with the bias: [..., F]."""
        if not self.bias:
            return obs
        return np.concatenate([obs, np.ones(obs.shape[:-1] + (1,), obs.dtype)], axis=-1)

    def _split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(W [F, m] or [S, 1, F, m], log_std [m] or [S, 1, m]), broadcastable over [..., S, K]."""
        F, m = self.num_features, self.action_dim
        W = theta[..., : F * m].reshape(*theta.shape[:-1], F, m)
        log_std = theta[..., F * m:]
        if theta.ndim == 2:
            W, log_std = W[:, None], log_std[:, None]
        return W, log_std

    def mean(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """mu(s) = phi(s) @ W, summed over the features in order (the same bits however the
        batch is shaped): [..., m] from obs [..., obs_dim] (with theta [S, d]: [..., S, K, m])."""
        check_theta_obs(theta, obs, self.dim, self.obs_dim)
        W, _ = self._split(theta)
        mu = obs[..., 0, None] * W[..., 0, :]
        for f in range(1, self.obs_dim):
            mu = mu + obs[..., f, None] * W[..., f, :]
        if self.bias:
            mu = mu + W[..., self.obs_dim, :]
        return mu

    def log_std(self, theta: np.ndarray) -> np.ndarray:
        """log sigma: [m], or [S, 1, m] with a seed axis (broadcasts against [..., S, K, m])."""
        return self._split(theta)[1]

    def grad_log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """grad_theta log pi(a | s) = (phi(s) (z / sigma)^T flattened, z^2 - 1): [..., d]."""
        z, sigma, _ = self.standardize(theta, obs, act)
        d_mu, d_log_std = gaussian_score(z, sigma)
        grad_W = self.features(obs)[..., :, None] * d_mu[..., None, :]
        grad_W = grad_W.reshape(*grad_W.shape[:-2], self.num_features * self.action_dim)
        return np.concatenate([grad_W, d_log_std], axis=-1)

    def grad_entropy(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """grad_theta H = (0 for W, 1 for each log_std_j), broadcast to the batch: [..., d]."""
        batch = self.mean(theta, obs).shape[:-1]
        g = np.zeros(batch + (self.dim,))
        g[..., self.num_features * self.action_dim:] = 1.0
        return g
