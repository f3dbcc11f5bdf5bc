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
    discounted = rew if gamma == 1.0 else discounts(rew.shape[0], gamma, rew.ndim) * rew
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


def gae(rew: np.ndarray, value: np.ndarray, next_value: np.ndarray, terminated: np.ndarray,
        truncated: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Generalised advantage estimation, GAE(gamma, lambda) (Schulman et al., 2016), time first:

        delta_t = r_t + gamma (1 - terminated_t) V(s'_t) - V(s_t)
        A_t     = delta_t + gamma lambda (1 - done_t) A_{t+1},  done_t = terminated_t or truncated_t,

    with A = 0 after the last step T-1. s'_t is the observation after step t: s_{t+1} inside
    an episode, the true final observation where the episode ended at t, and at t = T-1 the
    observation the next segment starts from. So the value of the final observation is
    bootstrapped at truncation and never at termination, and done_t cuts the trace so that
    A_t never reaches into the next episode. lambda = 1 gives the (bootstrapped) Monte Carlo
    return minus the baseline, sum_k gamma^k r_{t+k} (+ gamma^n V(s'_{t+n-1}) if the episode
    was truncated or the segment ended at t+n-1) - V(s_t); lambda = 0 gives A_t = delta_t.
    The value targets are the lambda-returns A_t + V(s_t).

    rew, value, next_value, terminated, truncated: [T, ...] (all the same shape) -> A [T, ...].
    """
    _check(rew, gamma)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    for name, x in (("value", value), ("next_value", next_value), ("terminated", terminated),
                    ("truncated", truncated)):
        if x.shape != rew.shape:
            raise ValueError(f"{name} must have the shape of rew {rew.shape}, got {x.shape}")
    if terminated.dtype != bool or truncated.dtype != bool:
        raise ValueError("terminated and truncated must be bool arrays")
    delta = rew + gamma * np.where(terminated, 0.0, next_value) - value
    adv = np.empty(rew.shape, dtype=np.result_type(delta.dtype, np.float64))
    running = np.zeros(rew.shape[1:], dtype=adv.dtype)
    cont = gamma * lam * ~(terminated | truncated)
    for t in range(rew.shape[0] - 1, -1, -1):
        running = delta[t] + cont[t] * running
        adv[t] = running
    return adv
