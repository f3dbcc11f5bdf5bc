"""Environment spaces as the policies see them, and the ids behind them: pgrad's own fused
dynamics, or any Gymnasium id made into a same-step-autoreset vector environment."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pgrad.envs import Dynamics

if TYPE_CHECKING:
    from gymnasium import Space
    from gymnasium.vector import VectorEnv


@dataclass(frozen=True)
class EnvSpec:
    """An environment's spaces as the policies see them: observations flattened to obs_dim
    floats (Discrete observations one-hot); actions Discrete(num_actions) starting at
    ``action_start``, or a 1-D Box [action_low, action_high] (then num_actions = 0)."""

    id: str
    obs_dim: int
    num_actions: int = 0
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()
    action_start: int = 0

    @property
    def discrete(self) -> bool:
        return self.num_actions > 0

    @property
    def action_dim(self) -> int:
        """m, the length of a Box action (0 for discrete actions)."""
        return len(self.action_low)


def check_spaces(env_id: str, observation_space: Space[Any], action_space: Space[Any]) -> EnvSpec:
    """The EnvSpec of Gymnasium spaces, or a one-line ValueError for spaces pgrad cannot train on
    (observations: Box or Discrete; actions: Discrete or 1-D Box; not Dict, Tuple, MultiDiscrete...)."""
    from gymnasium import spaces

    if isinstance(observation_space, spaces.Box):
        obs_dim = int(np.prod(observation_space.shape))
    elif isinstance(observation_space, spaces.Discrete):
        obs_dim = int(observation_space.n)
    else:
        raise ValueError(f"{env_id}: unsupported observation space {type(observation_space).__name__}; "
                         "pgrad supports Box and Discrete observations")
    if isinstance(action_space, spaces.Discrete):
        return EnvSpec(env_id, obs_dim, num_actions=int(action_space.n), action_start=int(action_space.start))
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return EnvSpec(env_id, obs_dim, action_low=tuple(map(float, action_space.low)),
                       action_high=tuple(map(float, action_space.high)))
    raise ValueError(f"{env_id}: unsupported action space {type(action_space).__name__}"
                     f"{getattr(action_space, 'shape', '')}; pgrad supports Discrete and 1-D Box actions")


def _pgrad_dynamics(env_id: str) -> Dynamics | None:
    """pgrad's own fused dynamics for ``env_id``, or None where pgrad does not implement it."""
    from pgrad.envs import get_dynamics

    try:
        return get_dynamics(env_id)
    except ValueError:
        return None


def _dynamics_spec(dynamics: Dynamics) -> EnvSpec:
    """The EnvSpec of pgrad's own dynamics (Box bounds when it has them, else Discrete)."""
    low, high = getattr(dynamics, "action_low", ()), getattr(dynamics, "action_high", ())
    return EnvSpec(dynamics.id, dynamics.obs_dim, num_actions=dynamics.num_actions if not low else 0,
                   action_low=tuple(low), action_high=tuple(high))


def check_time_limit(time_limit: int) -> int:
    """``time_limit`` if it is a positive integer (a number of steps), else a one-line ValueError."""
    if isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Integral) or time_limit < 1:
        raise ValueError(f"time_limit must be a positive integer, got {time_limit!r}")
    return int(time_limit)


def _make_gym_vec(env_id: str, num_envs: int, time_limit: int | None = None) -> VectorEnv[Any, Any, Any]:
    """gymnasium.make_vec(env_id) with same-step autoreset: the step that ends an episode returns
    the first observation of the next one and the true final observation in info["final_obs"].
    ``time_limit`` caps the episodes of an env without a time limit of its own (its spec's
    max_episode_steps is None); an env with one keeps it."""
    import gymnasium
    from gymnasium.vector import AutoresetMode

    from pgrad.envs import gym_spec

    own_limit = gym_spec(env_id).max_episode_steps  # unknown ids: a one-line ValueError
    cap: dict[str, Any] = {}  # make_vec forwards its **kwargs to the env's spec
    if time_limit is not None and own_limit is None:
        cap = {"max_episode_steps": check_time_limit(time_limit)}
    try:
        return gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync",
                                  vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}, **cap)
    except gymnasium.error.Error as e:  # e.g. a missing optional dependency
        raise ValueError(f"env {env_id!r}: Gymnasium says: {str(e).splitlines()[0]}") from None


def env_spec(env_id: str) -> EnvSpec:
    """The spaces of ``env_id``: pgrad's own dynamics, or any Gymnasium id (checked up front)."""
    dynamics = _pgrad_dynamics(env_id)
    if dynamics is not None:
        return _dynamics_spec(dynamics)
    env = _make_gym_vec(env_id, 1)
    try:
        return check_spaces(env_id, env.single_observation_space, env.single_action_space)
    finally:
        env.close()


def to_env_action(spec: EnvSpec, act: np.ndarray) -> np.ndarray:
    """What the environment receives: discrete actions shifted by the space's start, Box actions
    clipped to the bounds (the policy's sample itself stays unclipped for log pi)."""
    if spec.discrete:
        return act + spec.action_start if spec.action_start else act
    return np.clip(act, spec.action_low, spec.action_high)
