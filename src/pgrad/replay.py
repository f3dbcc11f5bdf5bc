"""The replay buffer of off-policy methods, and their pure target formulas.

:class:`ReplayBuffer` holds, per seed, the last C transitions (s, a, r, s', terminated,
truncated) in numpy arrays with a seed axis [S, C, ...]; each seed fills its own rows and
draws its own minibatch indices from its own generator, so seed s sees the same buffer and
the same minibatches alone as beside other seeds. ``terminated`` and ``truncated`` are kept
apart: a truncated transition (the time limit) stores the true final observation as s' (the
samplers' ``next_obs``, never the reset one) and is bootstrapped from it; a terminated one
is not (CleanRL issue #198, Stable-Baselines3 issue #1276 describe the bug of merging them).

The targets (pure functions, any array library with broadcasting: numpy or torch):

    td_target:       y = r + gamma (1 - terminated) Q'(s', a')
    soft_td_target:  y = r + gamma (1 - terminated) (min_k Q'_k(s', a') - alpha log pi(a' | s'))
    polyak:          theta' <- (1 - tau) theta' + tau theta
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

_Array = TypeVar("_Array")


def td_target(rew: Any, terminated: Any, next_q: Any, gamma: float) -> Any:
    """The one-step TD target y = r + gamma (1 - terminated) Q'(s', a'), elementwise.

    rew, terminated, next_q: the same shape, e.g. [S, B] (terminated as 0/1 floats or bools).
    Truncated transitions are bootstrapped like any other: only termination zeroes the tail.
    """
    return rew + gamma * (1.0 - terminated * 1.0) * next_q


def soft_td_target(rew: Any, terminated: Any, next_q: Any, next_logp: Any, alpha: Any,
                   gamma: float) -> Any:
    """The soft (maximum-entropy) TD target of SAC (Haarnoja et al., 2018), elementwise:
    y = r + gamma (1 - terminated) (Q'(s', a') - alpha log pi(a' | s')), a' ~ pi(. | s'),
    with Q' the minimum over the target critics. rew, terminated, next_q, next_logp: [S, B];
    alpha broadcastable to them (e.g. [S, 1])."""
    return td_target(rew, terminated, next_q - alpha * next_logp, gamma)


def polyak(target: _Array, online: _Array, tau: float) -> _Array:
    """Polyak averaging of target parameters: theta' <- (1 - tau) theta' + tau theta (a new array)."""
    return (1.0 - tau) * target + tau * online  # type: ignore[operator, return-value]


@dataclass(frozen=True)
class Transitions:
    """A minibatch per seed, seed first: obs, next_obs [S, B, n], act [S, B, m], rew [S, B],
    terminated, truncated [S, B] (bool)."""

    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray


class ReplayBuffer:
    """The last ``capacity`` transitions of each of S seeds, a ring buffer per seed.

    obs, next_obs: [S, C, n] float32;  act: [S, C, m] float32;  rew: [S, C] float64;
    terminated, truncated: [S, C] bool;  pos [S]: the next row to write;  size [S]: rows filled.
    """

    FIELDS = ("obs", "act", "rew", "next_obs", "terminated", "truncated", "pos", "size")

    def __init__(self, num_seeds: int, capacity: int, obs_dim: int, action_dim: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity}")
        S, C = num_seeds, capacity
        self.capacity = C
        self.obs = np.zeros((S, C, obs_dim), np.float32)
        self.act = np.zeros((S, C, action_dim), np.float32)
        self.rew = np.zeros((S, C))
        self.next_obs = np.zeros((S, C, obs_dim), np.float32)
        self.terminated = np.zeros((S, C), bool)
        self.truncated = np.zeros((S, C), bool)
        self.pos = np.zeros(S, np.int64)
        self.size = np.zeros(S, np.int64)

    def add(self, idx: np.ndarray, obs: np.ndarray, act: np.ndarray, rew: np.ndarray, next_obs: np.ndarray,
            terminated: np.ndarray, truncated: np.ndarray) -> None:
        """Append M transitions to each seed of ``idx`` (all seeds the same M), in order.

        obs, next_obs: [len(idx), M, n];  act: [len(idx), M, m];  rew, terminated, truncated:
        [len(idx), M]. next_obs must hold the true final observation where an episode ended.
        """
        idx = np.asarray(idx)
        if obs.ndim != 3 or obs.shape[0] != len(idx) or obs.shape[2] != self.obs.shape[2]:
            raise ValueError(f"obs must be [{len(idx)}, M, {self.obs.shape[2]}], got {obs.shape}")
        M = obs.shape[1]
        if M > self.capacity:
            raise ValueError(f"cannot add {M} transitions to a buffer of {self.capacity}")
        rows = (self.pos[idx, None] + np.arange(M)) % self.capacity  # [len(idx), M]
        seeds = idx[:, None]
        self.obs[seeds, rows], self.act[seeds, rows], self.rew[seeds, rows] = obs, act, rew
        self.next_obs[seeds, rows] = next_obs
        self.terminated[seeds, rows], self.truncated[seeds, rows] = terminated, truncated
        self.pos[idx] = (self.pos[idx] + M) % self.capacity
        self.size[idx] = np.minimum(self.size[idx] + M, self.capacity)

    def draw(self, idx: np.ndarray, rngs: Sequence[np.random.Generator],
             shape: tuple[int, ...]) -> np.ndarray:
        """Uniform row indices [len(idx), *shape] into each seed's filled rows, one call per seed
        on its own generator (``rngs[j]`` for seed ``idx[j]``)."""
        if np.any(self.size[idx] == 0):
            raise ValueError("cannot sample from an empty replay buffer")
        return np.stack([rng.integers(0, self.size[i], shape) for i, rng in zip(idx, rngs, strict=True)])

    def take(self, idx: np.ndarray, rows: np.ndarray) -> Transitions:
        """The transitions at ``rows`` [len(idx), B] of the seeds idx."""
        seeds = np.asarray(idx)[:, None]
        return Transitions(self.obs[seeds, rows], self.act[seeds, rows], self.rew[seeds, rows],
                           self.next_obs[seeds, rows], self.terminated[seeds, rows],
                           self.truncated[seeds, rows])

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array of the buffer (for a checkpoint; the arrays themselves, not copies)."""
        return {name: getattr(self, name) for name in self.FIELDS}
