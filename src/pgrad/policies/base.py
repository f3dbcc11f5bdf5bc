"""The interface every pgrad policy follows, and shared shape checks."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Policy(Protocol):
    """pi_theta(a | s) with an analytic score function.

    ``noise(rng, shape)`` draws the randomness for one action per batch element, and
    ``act(theta, obs, noise)`` turns it into actions, so that ``sample`` equals
    ``act(theta, obs, noise(rng, shape))`` in distribution; ``mode`` is the greedy action.
    """

    @property
    def dim(self) -> int: ...
    @property
    def action_shape(self) -> tuple[int, ...]: ...  # () for discrete actions, (m,) for Box actions
    @property
    def action_dtype(self) -> type: ...

    def init(self, num_seeds: int | None = None) -> np.ndarray: ...
    def noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray: ...
    def act(self, theta: np.ndarray, obs: np.ndarray, noise: np.ndarray) -> np.ndarray: ...
    def mode(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray: ...
    def sample(self, theta: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...
    def log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray: ...
    def grad_log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray: ...


class DiscretePolicy(Policy, Protocol):
    """A policy on a finite action set that also gives the action probabilities."""

    def probs(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray: ...


def check_theta_obs(theta: np.ndarray, obs: np.ndarray, dim: int, obs_dim: int) -> None:
    """Raise a one-line ValueError unless theta is [dim] or [S, dim] and obs fits it."""
    if theta.ndim not in (1, 2) or theta.shape[-1] != dim:
        raise ValueError(f"theta must have shape [{dim}] or [S, {dim}], got {theta.shape}")
    if obs.shape[-1:] != (obs_dim,):
        raise ValueError(f"obs must end in the feature axis of size {obs_dim}, got {obs.shape}")
    if theta.ndim == 2 and (obs.ndim < 3 or obs.shape[-3] != theta.shape[0]):
        raise ValueError(
            f"with theta [S, d] = {theta.shape}, obs must be [..., S, K, {obs_dim}], got {obs.shape}"
        )
