"""Softmax policies on a discrete action: pi_theta(a | s) = exp(z_a) / sum_b exp(z_b).

Two parameterisations of the logits z share one score function,

    grad_theta log pi(a | s) = phi(s) (e_a - pi(. | s))^T,   flattened row-major to [F * A],

where phi(s) [F] are the features the logits are linear in:

- ``SoftmaxLinearPolicy``: z = phi(s) @ W with phi(s) = s (or (s, 1) with the bias) and
  W = theta.reshape(F, A);
- ``TabularSoftmaxPolicy``: z = theta.reshape(n_states, n_actions)[s], i.e. phi(s) is the
  one-hot vector of the integer state s (observations are state indices, obs_dim = 1).

Sampling is Gumbel-max: a = argmax_a (z_a + g_a) with g_a ~ Gumbel(0, 1) i.i.d. has
probability softmax(z)_a; g = 0 gives the greedy (modal) action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from pgrad.policies.base import check_theta_obs


def log_softmax_and_softmax(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log softmax(z), softmax(z)) over the last axis, [..., A] each: z_a - m - log sum_b exp(z_b - m)
    and exp(z_a - m) / sum_b exp(z_b - m), m = max_b z_b; finite for finite z. Computed one action
    at a time: for the few actions of a policy this is much faster than reductions along a short
    last axis. The one implementation of the softmax in pgrad's numpy code."""
    m = z[..., 0]
    for a in range(1, z.shape[-1]):
        m = np.maximum(m, z[..., a])
    shifted = z - m[..., None]
    e = np.exp(shifted)
    total = e[..., 0]
    for a in range(1, z.shape[-1]):
        total = total + e[..., a]
    return shifted - np.log(total)[..., None], e / total[..., None]


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax(z)_a = z_a - max(z) - log sum_b exp(z_b - max(z)): [..., A]
    (:func:`log_softmax_and_softmax`)."""
    return log_softmax_and_softmax(z)[0]


def softmax_entropy(logp: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """H(pi(. | s)) = -sum_a pi_a log pi_a: [...] from log pi and pi [..., A]."""
    return -(probs * logp).sum(axis=-1)


class _Softmax:
    """What both softmax policies derive from their ``logits(theta, obs)`` [..., A] and
    ``features(obs)`` [..., F] (the phi that the logits are linear in), which each defines."""

    action_shape: ClassVar[tuple[int, ...]] = ()
    action_dtype: ClassVar[type] = np.int32

    if TYPE_CHECKING:  # what each subclass defines (a field or a property)
        @property
        def num_actions(self) -> int: ...
        @property
        def dim(self) -> int: ...
        def logits(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray: ...
        def features(self, obs: np.ndarray) -> np.ndarray: ...

    def init(self, num_seeds: int | None = None) -> np.ndarray:
        """theta = 0 (uniform over actions): shape [d], or [S, d] with num_seeds."""
        return np.zeros((self.dim,) if num_seeds is None else (num_seeds, self.dim))

    def distribution(self, theta: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log pi(. | s), pi(. | s)) = (log softmax(z), softmax(z)): [..., A] each."""
        return log_softmax_and_softmax(self.logits(theta, obs))

    def probs(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """pi(a | s) = softmax(z)_a: [..., A]."""
        return self.distribution(theta, obs)[1]

    def entropy(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """H(pi(. | s)) = -sum_a pi_a log pi_a: [...]."""
        return softmax_entropy(*self.distribution(theta, obs))

    def noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """g ~ Gumbel(0, 1), one per action and batch element: [*shape, A]."""
        return rng.gumbel(size=(*shape, self.num_actions))

    def act(self, theta: np.ndarray, obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """a = argmax_a (z_a + g_a): [...]."""
        return np.argmax(self.logits(theta, obs) + noise, axis=-1).astype(self.action_dtype)

    def mode(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """The greedy action argmax_a z_a (the first on ties): [...]."""
        return np.argmax(self.logits(theta, obs), axis=-1).astype(self.action_dtype)

    def sample(self, theta: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """a ~ pi_theta(. | s): [...]."""
        z = self.logits(theta, obs)
        return np.argmax(z + rng.gumbel(size=z.shape), axis=-1).astype(self.action_dtype)

    def score_factors(self, theta: np.ndarray, obs: np.ndarray,
                      act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The score as features times a coefficient: grad log pi(a | s) = phi(s) (x) (onehot(a) - pi(. | s)),
        returned as (phi [..., F], onehot(a) - pi(. | s) [..., A]); theta is laid out row-major by feature."""
        return self.features(obs), score_coefficient(act, self.probs(theta, obs))

    def log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """log pi(a | s) = z_a - log sum_b exp(z_b): [...]."""
        logp = log_softmax(self.logits(theta, obs))
        _check_act(act, logp.shape)
        return np.take_along_axis(logp, act[..., None].astype(np.intp), axis=-1)[..., 0]

    def grad_log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """grad_theta log pi(a | s) = phi(s) (e_a - pi(. | s))^T flattened row-major: [..., F * A]."""
        pi = self.probs(theta, obs)
        _check_act(act, pi.shape)
        phi = self.features(obs)
        e_a = (act[..., None] == np.arange(self.num_actions)).astype(pi.dtype)
        outer = phi[..., :, None] * (e_a - pi)[..., None, :]
        return outer.reshape(*outer.shape[:-2], self.dim)


def score_coefficient(act: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """d log pi(a | s) / dz = onehot(a) - pi(. | s): [..., A] (the score is phi(s) times it)."""
    return (act[..., None] == np.arange(probs.shape[-1])) - probs


def _check_act(act: np.ndarray, probs_shape: tuple[int, ...]) -> None:
    if act.shape != probs_shape[:-1]:
        raise ValueError(f"act must have the batch shape {probs_shape[:-1]}, got {act.shape}")


@dataclass(frozen=True)
class SoftmaxLinearPolicy(_Softmax):
    """pi_theta(a | s) = softmax(phi(s) @ W)_a, W = theta.reshape(F, A), F = obs_dim (+1 with bias).

    theta: [F * A] or [S, F * A], row-major (theta[f * A + a] = W[f, a]). Actions 0 .. A-1.
    Score: grad_W log pi(a | s) = phi(s) (e_a - pi)^T.
    """

    obs_dim: int
    num_actions: int
    bias: bool = False

    def __post_init__(self) -> None:
        if self.obs_dim < 1 or self.num_actions < 2:
            raise ValueError(f"need obs_dim >= 1 and num_actions >= 2, got {self.obs_dim} and "
                             f"{self.num_actions}")

    @property
    def dim(self) -> int:
        """d = (obs_dim + bias) * num_actions."""
        return (self.obs_dim + int(self.bias)) * self.num_actions

    def features(self, obs: np.ndarray) -> np.ndarray:
        """phi(s) = s, or (s, 1) with the bias: [..., F]."""
        if not self.bias:
            return obs
        return np.concatenate([obs, np.ones(obs.shape[:-1] + (1,), obs.dtype)], axis=-1)

    def logits(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """z = phi(s) @ W: [..., A] from obs [..., obs_dim] (with theta [S, d]: [..., S, K, A])."""
        check_theta_obs(theta, obs, self.dim, self.obs_dim)
        phi = self.features(obs)
        W = theta.reshape(*theta.shape[:-1], phi.shape[-1], self.num_actions)
        if theta.ndim == 1:
            return phi @ W
        return np.einsum("...skf,sfa->...ska", phi, W)


@dataclass(frozen=True)
class TabularSoftmaxPolicy(_Softmax):
    """pi_theta(a | s) = softmax(theta[s, :])_a on a finite MDP; observations are state indices.

    obs: [..., 1] holding the integer state s (as a float, the way the rollout stores it);
    theta: [n_states * n_actions] or [S, n_states * n_actions], row-major by state
    (theta[s * n_actions + a]). The score is nonzero only in row s: e_a - pi(. | s).
    """

    n_states: int
    n_actions: int
    obs_dim: ClassVar[int] = 1

    def __post_init__(self) -> None:
        if self.n_states < 1 or self.n_actions < 2:
            raise ValueError(f"need n_states >= 1 and n_actions >= 2, got {self.n_states}, {self.n_actions}")

    @property
    def num_actions(self) -> int:
        return self.n_actions

    @property
    def dim(self) -> int:
        """d = n_states * n_actions."""
        return self.n_states * self.n_actions

    def state_index(self, obs: np.ndarray) -> np.ndarray:
        """The integer state s of each observation: [...]; a one-line ValueError if not in range."""
        s = obs[..., 0]
        idx = s.astype(np.intp)
        if idx.size and (np.any(idx != s) or idx.min() < 0 or idx.max() >= self.n_states):
            raise ValueError(f"tabular observations must be integer states in [0, {self.n_states})")
        return idx

    def features(self, obs: np.ndarray) -> np.ndarray:
        """phi(s) = one-hot(s): [..., n_states]."""
        return (self.state_index(obs)[..., None] == np.arange(self.n_states)).astype(np.float64)

    def logits(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """z = theta[s, :]: [..., A] (with theta [S, d]: [..., S, K, A])."""
        check_theta_obs(theta, obs, self.dim, self.obs_dim)
        idx = self.state_index(obs)
        table = theta.reshape(*theta.shape[:-1], self.n_states, self.n_actions)
        if theta.ndim == 1:
            return table[idx]
        return table[np.arange(theta.shape[0])[:, None], idx]
