"""The logistic policy on a binary action: pi(left | s) = sigmoid(theta . s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pgrad.policies.base import check_theta_obs


def sigmoid(z: np.ndarray) -> np.ndarray:
    """sigmoid(z) = 1 / (1 + exp(-z)) = (1 + tanh(z / 2)) / 2, finite for every finite z.

    The tanh form never overflows and is accurate to about 1e-16 absolute (below that a
    probability rounds to 0 or 1; log-probabilities use logaddexp instead).
    """
    return 0.5 + 0.5 * np.tanh(0.5 * z)


@dataclass(frozen=True)
class LogisticPolicy:
    """pi_theta(left | s) = p = sigmoid(z), z = theta . s;  pi_theta(right | s) = 1 - p.

    Actions follow Gymnasium's cart-pole: 0 = left, 1 = right. With ``bias=True`` the
    features are (s, 1) and theta has ``obs_dim + 1`` entries. The score function is
    grad_theta log pi(a | s) = (y - p) s with y = 1 for left, 0 for right.

    Sampling goes left iff u < p for u ~ Uniform[0, 1) (see ``act``); ``mode`` is the greedy
    action.
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
        """z = theta . s (+ theta_bias), summed over j in order: [...] from obs [..., obs_dim].

        The fixed order makes z for one (theta, s) pair the same bits however it is batched.
        """
        check_theta_obs(theta, obs, self.dim, self.obs_dim)
        w = theta if theta.ndim == 1 else theta[:, None, :]
        z = obs[..., 0] * w[..., 0]
        for j in range(1, self.obs_dim):
            z = z + obs[..., j] * w[..., j]
        if self.bias:
            z = z + w[..., self.obs_dim]
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
        """v = 2u - 1 with u ~ Uniform[0, 1), one per action: shape."""
        v = rng.random(shape)
        v *= 2.0
        v -= 1.0
        return v

    def act(self, theta: np.ndarray, obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """a = 0 (left) if v < tanh(z / 2), else 1 (right): int8 [...].

        With v = 2u - 1 this is u < (1 + tanh(z / 2)) / 2 = sigmoid(z) = p: left with
        probability p, in three array operations and without overflow.
        """
        return (noise >= np.tanh(0.5 * self.logits(theta, obs))).view(np.int8)

    def mode(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """The greedy action: left (0) where p >= 1/2, i.e. z >= 0: int8 [...]."""
        return (self.logits(theta, obs) < 0).view(np.int8)

    def sample(self, theta: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """a ~ pi_theta(. | s): int8 [...]."""
        z = self.logits(theta, obs)
        return self.act(theta, obs, self.noise(rng, z.shape))

    def log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """log pi(a | s) = -log(1 + exp(-z)) for left, -log(1 + exp(z)) for right: [...]."""
        z = self.logits(theta, obs)
        return -np.logaddexp(0.0, np.where(act == 0, -z, z))

    def grad_log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """grad_theta log pi(a | s) = (y - p) s, y = 1[a = left]: [..., d]."""
        phi, coef = self.score_factors(theta, obs, act)
        return coef[..., None] * phi

    def score_factors(self, theta: np.ndarray, obs: np.ndarray,
                      act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The score as features times a coefficient: (s [..., d], y - p [...])."""
        p = self.prob_left(theta, obs)
        return self.features(obs), (act == 0) - p
