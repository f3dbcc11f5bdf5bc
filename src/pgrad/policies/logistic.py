"""The logistic policy on a binary action: pi(left | s) = sigmoid(theta . s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pgrad.policies.base import check_theta_obs


def sigmoid(z: np.ndarray) -> np.ndarray:
    """sigmoid(z) = 1 / (1 + exp(-z)), computed without overflow for any finite z."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@dataclass(frozen=True)
class LogisticPolicy:
    """pi_theta(left | s) = p = sigmoid(z), z = theta . s;  pi_theta(right | s) = 1 - p.

    Actions follow Gymnasium's cart-pole: 0 = left, 1 = right. With ``bias=True`` the
    features are (s, 1) and theta has ``obs_dim + 1`` entries. The score function is
    grad_theta log pi(a | s) = (y - p) s with y = 1 for left, 0 for right.

    Sampling thresholds logistic noise: a = left iff eps < z with eps ~ Logistic(0, 1),
    which has probability sigmoid(z); eps = 0 gives the greedy action.
    """

    obs_dim: int = 4
    bias: bool = False
    action_shape: ClassVar[tuple[int, ...]] = ()
    action_dtype: ClassVar[type] = np.int8

    @property
    def dim(self) -> int:
        """d, the number of parameters: obs_dim (+1 with the bias)."""
        return self.obs_dim + int(self.bias)

    def init(self, num_seeds: int | None = None) -> np.ndarray:
        """theta = 0 (pi = 1/2 everywhere): shape [d], or [S, d] with num_seeds."""
        shape = (self.dim,) if num_seeds is None else (num_seeds, self.dim)
        return np.zeros(shape)

    def logits(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """z = theta . s (+ theta_bias): [...] from obs [..., obs_dim]."""
        check_theta_obs(theta, obs, self.dim, self.obs_dim)
        w = theta[..., : self.obs_dim]
        z = np.einsum("...d,d->...", obs, w) if theta.ndim == 1 else np.einsum(
            "...skd,sd->...sk", obs, w)
        if self.bias:
            z = z + (theta[..., -1] if theta.ndim == 1 else theta[:, None, -1])
        return z

    def features(self, obs: np.ndarray) -> np.ndarray:
        """s, or (s, 1) with the bias: [..., d]."""
        if not self.bias:
            return obs
        return np.concatenate([obs, np.ones(obs.shape[:-1] + (1,), obs.dtype)], axis=-1)

    def prob_left(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """p = pi(left | s) = sigmoid(theta . s): [...]."""
        return sigmoid(self.logits(theta, obs))

    def probs(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """(pi(left | s), pi(right | s)) = (p, 1 - p): [..., 2]."""
        z = self.logits(theta, obs)
        return np.stack([sigmoid(z), sigmoid(-z)], axis=-1)

    def noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """eps ~ Logistic(0, 1), one per action: shape."""
        return rng.logistic(size=shape)

    def act(self, theta: np.ndarray, obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """a = 0 (left) if eps < z else 1 (right): int8 [...]."""
        return (noise >= self.logits(theta, obs)).view(np.int8)

    def sample(self, theta: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """a ~ pi_theta(. | s): int8 [...]."""
        z = self.logits(theta, obs)
        return (rng.logistic(size=z.shape) >= z).view(np.int8)

    def log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """log pi(a | s) = -log(1 + exp(-z)) for left, -log(1 + exp(z)) for right: [...]."""
        z = self.logits(theta, obs)
        return -np.logaddexp(0.0, np.where(act == 0, -z, z))

    def grad_log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """grad_theta log pi(a | s) = (y - p) s, y = 1[a = left]: [..., d]."""
        p = self.prob_left(theta, obs)
        y = (act == 0).astype(p.dtype)
        return (y - p)[..., None] * self.features(obs)
