"""The LQR as pgrad dynamics: x' = A x + B a + w, r = -(x^T Q x + a^T R a), through the same rollout.

The Gaussian draws come from the rollout's uniforms by the inverse normal CDF, so the LQR runs
through :func:`pgrad.rollout.rollout` like any other :class:`pgrad.envs.Dynamics`, each seed from
its own generator.
"""

from __future__ import annotations

import numpy as np

from pgrad.envs import Dynamics
from pgrad.lqr import LQR

TINY_UNIFORM = 2.0**-54
"""Uniform draws are raised to at least this before ndtri, so u = 0 gives -8.5 sigma, not -inf."""


def _sqrt_psd(M: np.ndarray) -> np.ndarray:
    """The symmetric square root L of a symmetric PSD M (L L^T = M, singular M allowed)."""
    eigenvalues, V = np.linalg.eigh(M)
    return (V * np.sqrt(np.maximum(eigenvalues, 0.0))) @ V.T


def lqr_dynamics(lqr: LQR, env_id: str = "LQR") -> Dynamics:
    """The LQR as a :class:`pgrad.envs.Dynamics` with unbounded Box actions, for the rollout.

    The state is x itself, component first [n, *batch], and so is the observation. ``reset`` turns
    n uniforms into x_0 = mean0 + cov0^(1/2) ndtri(u); ``step`` (``step_draws = n``) returns
    x' = A x + B a + W^(1/2) ndtri(u) and r = -(x^T Q x + a^T R a) for actions a [*batch, m];
    nothing terminates, and ``max_episode_steps`` is the horizon, so the rollout truncates after H
    actions. ndtri is the inverse normal CDF; a draw u = 0 (probability 2^-53) is read as 2^-54.
    """
    L0, Lw = _sqrt_psd(lqr.cov0), _sqrt_psd(lqr.noise_cov)
    A, B, Q, R, n = lqr.A, lqr.B, lqr.Q, lqr.R, lqr.state_dim

    def normal(u: np.ndarray) -> np.ndarray:
        if u.shape[0] != n:
            raise ValueError(f"LQR draws must have shape [{n}, *batch], got {u.shape}")
        from scipy.special import ndtri  # here, so that importing pgrad (and pgrad --help) stays fast

        return ndtri(np.maximum(u, TINY_UNIFORM))

    def reset(u: np.ndarray) -> np.ndarray:
        x = lqr.mean0.reshape(n, *(1,) * (u.ndim - 1)) + np.einsum("ij,j...->i...", L0, normal(u))
        return x.astype(u.dtype)

    def step(state: np.ndarray, action: np.ndarray,
             u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cost = (np.einsum("i...,ij,j...->...", state, Q, state)
                + np.einsum("...i,ij,...j->...", action, R, action))
        x_next = (np.einsum("ij,j...->i...", A, state) + np.einsum("ij,...j->i...", B, action)
                  + np.einsum("ij,j...->i...", Lw, normal(u)))
        return x_next.astype(state.dtype), (-cost).astype(state.dtype), np.zeros(cost.shape, bool)

    def observe(state: np.ndarray) -> np.ndarray:
        return state

    return Dynamics(
        id=env_id,
        obs_dim=n,
        state_dim=n,
        reset_draws=n,
        num_actions=0,
        max_episode_steps=lqr.horizon,
        obs_high=(np.inf,) * n,
        reset=reset,
        step=step,
        observe=observe,
        step_draws=n,
        action_low=(-np.inf,) * lqr.action_dim,
        action_high=(np.inf,) * lqr.action_dim,
    )
