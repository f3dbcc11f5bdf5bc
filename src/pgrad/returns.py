"""Returns and gradient weightings: pure functions over rewards ``rew: [T, ...]``, time first.

Rewards after an episode's end are 0 (the rollout masks them), so every sum may run to T.
"""

from __future__ import annotations

import numpy as np


def _check(rew: np.ndarray, gamma: float) -> None:
    if rew.ndim < 1:
        raise ValueError(f"rew must be [T, ...], got a scalar of shape {rew.shape}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")


def discounts(T: int, gamma: float, ndim: int) -> np.ndarray:
    """gamma^t for t = 0 .. T-1, shaped [T, 1, ...] to broadcast against an ndim-array."""
    return (gamma ** np.arange(T, dtype=np.float64)).reshape((T,) + (1,) * (ndim - 1))


def discounted_return(rew: np.ndarray, gamma: float) -> np.ndarray:
    """G(tau) = sum_{t=0}^{T-1} gamma^t r_t.  rew: [T, ...] -> [...]."""
    _check(rew, gamma)
    return (discounts(rew.shape[0], gamma, rew.ndim) * rew).sum(axis=0)


def total_return(rew: np.ndarray, gamma: float) -> np.ndarray:
    """The theorem as derived weights every step by the whole return: w_t = G(tau).  [T, ...]."""
    return np.broadcast_to(discounted_return(rew, gamma), rew.shape)


def reward_to_go(rew: np.ndarray, gamma: float) -> np.ndarray:
    """The derivation's final form: w_t = sum_{t' >= t} gamma^{t'} r_{t'}.  [T, ...] -> [T, ...].

    Keeps the factor gamma^{t'} (not gamma^{t'-t}), so the estimator stays unbiased for
    J(theta) = E[sum_t gamma^t r_t]: dropping the past rewards only removes terms whose
    expectation is zero.
    """
    _check(rew, gamma)
    discounted = discounts(rew.shape[0], gamma, rew.ndim) * rew
    return np.cumsum(discounted[::-1], axis=0)[::-1]


def reward_to_go_from_t(rew: np.ndarray, gamma: float) -> np.ndarray:
    """Common practice: w_t = sum_{t' >= t} gamma^{t'-t} r_{t'} = r_t + gamma w_{t+1}.  [T, ...].

    This equals reward_to_go / gamma^t: it drops the factor gamma^t, so for gamma < 1 it
    overweights late steps and is a biased estimator of grad J (unbiased at gamma = 1).
    """
    _check(rew, gamma)
    out = np.empty(rew.shape, dtype=np.result_type(rew.dtype, np.float64))
    running = np.zeros(rew.shape[1:], dtype=out.dtype)
    for t in range(rew.shape[0] - 1, -1, -1):
        running = rew[t] + gamma * running
        out[t] = running
    return out


WEIGHTINGS = {
    "total_return": total_return,
    "reward_to_go": reward_to_go,
    "reward_to_go_from_t": reward_to_go_from_t,
}
"""Gradient weightings by name: the weight w_t that multiplies grad log pi(a_t | s_t)."""
