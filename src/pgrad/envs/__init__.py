"""Environments: dynamics as pure vectorised numpy functions, and their Gymnasium vector env.

Each environment pgrad implements is a :class:`Dynamics` bundle of pure functions over
component-first state arrays ``[state_dim, *batch]``. The same functions back the fused
rollout (:mod:`pgrad.rollout`) and :class:`pgrad.envs.vector.DynamicsVectorEnv`, a
``gymnasium.vector.VectorEnv``. Any other Gymnasium id goes through ``gymnasium.make_vec``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pgrad.envs import cartpole


@dataclass(frozen=True)
class Dynamics:
    """An environment as pure functions.

    reset(u [reset_draws, *batch] uniforms in [0, 1)) -> state [state_dim, *batch]
    step(state, action [*batch]) -> (state, reward [*batch], terminated [*batch]), or, for
        stochastic dynamics (step_draws > 0), step(state, action, u [step_draws, *batch])
    observe(state) -> obs [obs_dim, *batch] (component first)
    """

    id: str
    obs_dim: int
    state_dim: int
    reset_draws: int
    num_actions: int
    max_episode_steps: int
    obs_high: tuple[float, ...]
    reset: Callable[[np.ndarray], np.ndarray]
    step: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
    observe: Callable[[np.ndarray], np.ndarray]
    step_draws: int = 0


def _identity(state: np.ndarray) -> np.ndarray:
    return state


CARTPOLE = Dynamics(
    id=cartpole.ENV_ID,
    obs_dim=cartpole.OBS_DIM,
    state_dim=cartpole.OBS_DIM,
    reset_draws=cartpole.OBS_DIM,
    num_actions=cartpole.NUM_ACTIONS,
    max_episode_steps=cartpole.MAX_EPISODE_STEPS,
    obs_high=(cartpole.X_THRESHOLD * 2, np.inf, cartpole.THETA_THRESHOLD * 2, np.inf),
    reset=cartpole.reset,
    step=cartpole.step,
    observe=_identity,
)

DYNAMICS: dict[str, Dynamics] = {CARTPOLE.id: CARTPOLE}
"""Environment ids with pure dynamics in pgrad (the fused rollout runs these)."""


def get_dynamics(env_id: str) -> Dynamics:
    """The pure dynamics for ``env_id``; a one-line ValueError names the accepted ids."""
    try:
        return DYNAMICS[env_id]
    except KeyError:
        raise ValueError(
            f"unknown env {env_id!r}; accepted: {', '.join(sorted(DYNAMICS))}"
        ) from None


def make_vec(env_id: str, num_envs: int = 1, *, dtype=np.float64, **kwargs):
    """A ``gymnasium.vector.VectorEnv`` of ``num_envs`` copies of ``env_id``.

    pgrad's own dynamics (``DYNAMICS``) run as one numpy-vectorised env; ``dtype=np.float32``
    selects the fast single-precision mode. Any other id is passed to ``gymnasium.make_vec``.
    """
    if env_id in DYNAMICS:
        from pgrad.envs.vector import DynamicsVectorEnv

        return DynamicsVectorEnv(DYNAMICS[env_id], num_envs, dtype=dtype, **kwargs)
    import gymnasium

    return gymnasium.make_vec(env_id, num_envs=num_envs, **kwargs)
