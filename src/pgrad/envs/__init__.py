"""Environments: dynamics as pure vectorised numpy functions, and their Gymnasium vector env.

Each environment pgrad implements is a :class:`Dynamics` bundle of pure functions over
component-first state arrays ``[state_dim, *batch]``: CartPole-v1, Acrobot-v1,
MountainCar-v0 (discrete actions), MountainCarContinuous-v0 and Pendulum-v1 (Box actions),
each bit-exact with Gymnasium's single env. The same functions back the fused rollout
(:mod:`pgrad.rollout`) and :class:`pgrad.envs.vector.DynamicsVectorEnv`, a
``gymnasium.vector.VectorEnv``, which Gymnasium also reaches as ``pgrad/<id>``
(:func:`register`; ``import pgrad`` registers the ids as soon as Gymnasium is imported), and
draws frames with Gymnasium's own renderers (:mod:`pgrad.envs.render`). Any other Gymnasium
id goes through ``gymnasium.make_vec``. Ids may carry Gymnasium's ``module:`` prefix
(``pgrad.envs.registration:pgrad/CartPole-v1``): the module is imported, and the rest of the id
is looked up as without the prefix.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from pgrad.envs import acrobot, cartpole, mountain_car, mountain_car_continuous, pendulum

if TYPE_CHECKING:
    from gymnasium.envs.registration import EnvSpec
    from gymnasium.vector import VectorEnv

NAMESPACE = "pgrad"
"""Gymnasium namespace of pgrad's registered ids: ``pgrad/Acrobot-v1`` and so on."""


@dataclass(frozen=True)
class Dynamics:
    """An environment as pure functions.

    reset(u [reset_draws, *batch] uniforms in [0, 1)) -> state [state_dim, *batch]
    step(state, action) -> (state, reward [*batch], terminated [*batch]), or, for
        stochastic dynamics (step_draws > 0), step(state, action, u [step_draws, *batch]);
        action is [*batch] integers in [0, num_actions) for discrete actions, or
        [*batch, m] floats for Box actions (m = len(action_low))
    observe(state) -> obs [obs_dim, *batch] (component first)

    Discrete actions: ``num_actions > 0`` and empty ``action_low``/``action_high``.
    Box actions: ``num_actions == 0`` and the Box bounds in ``action_low``/``action_high``.
    The observation bounds are ``obs_low`` (default ``-obs_high``) and ``obs_high``.
    """

    id: str
    obs_dim: int
    state_dim: int
    reset_draws: int
    num_actions: int
    max_episode_steps: int
    obs_high: tuple[float, ...]
    reset: Callable[[np.ndarray], np.ndarray]
    # step(state, action) or, with step_draws > 0, step(state, action, u)
    step: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]
    observe: Callable[[np.ndarray], np.ndarray]
    step_draws: int = 0
    obs_low: tuple[float, ...] = ()
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.action_low) != len(self.action_high):
            raise ValueError(f"{self.id}: action_low and action_high must have the same length")
        if (self.num_actions > 0) == bool(self.action_low):
            raise ValueError(f"{self.id}: give either num_actions > 0 or Box bounds, not both")
        if len(self.obs_high) != self.obs_dim or len(self.obs_low) not in (0, self.obs_dim):
            raise ValueError(f"{self.id}: observation bounds must have obs_dim = {self.obs_dim} entries")

    @property
    def discrete(self) -> bool:
        """Whether actions are integers in [0, num_actions) (else Box actions)."""
        return self.num_actions > 0

    @property
    def action_dim(self) -> int:
        """m, the length of a Box action (0 for discrete actions)."""
        return len(self.action_low)

    @property
    def obs_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(low, high) of the observation space."""
        return self.obs_low or tuple(-h for h in self.obs_high), self.obs_high


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

ACROBOT = Dynamics(
    id=acrobot.ENV_ID,
    obs_dim=acrobot.OBS_DIM,
    state_dim=acrobot.STATE_DIM,
    reset_draws=acrobot.STATE_DIM,
    num_actions=acrobot.NUM_ACTIONS,
    max_episode_steps=acrobot.MAX_EPISODE_STEPS,
    obs_high=acrobot.OBS_HIGH,
    reset=acrobot.reset,
    step=acrobot.step,
    observe=acrobot.observe,
)

MOUNTAIN_CAR = Dynamics(
    id=mountain_car.ENV_ID,
    obs_dim=mountain_car.STATE_DIM,
    state_dim=mountain_car.STATE_DIM,
    reset_draws=1,
    num_actions=mountain_car.NUM_ACTIONS,
    max_episode_steps=mountain_car.MAX_EPISODE_STEPS,
    obs_high=mountain_car.OBS_HIGH,
    obs_low=mountain_car.OBS_LOW,
    reset=mountain_car.reset,
    step=mountain_car.step,
    observe=mountain_car.observe,
)

MOUNTAIN_CAR_CONTINUOUS = Dynamics(
    id=mountain_car_continuous.ENV_ID,
    obs_dim=mountain_car_continuous.STATE_DIM,
    state_dim=mountain_car_continuous.STATE_DIM,
    reset_draws=1,
    num_actions=0,
    max_episode_steps=mountain_car_continuous.MAX_EPISODE_STEPS,
    obs_high=mountain_car_continuous.OBS_HIGH,
    obs_low=mountain_car_continuous.OBS_LOW,
    reset=mountain_car_continuous.reset,
    step=mountain_car_continuous.step,
    observe=mountain_car_continuous.observe,
    action_low=(mountain_car_continuous.MIN_ACTION,),
    action_high=(mountain_car_continuous.MAX_ACTION,),
)

PENDULUM = Dynamics(
    id=pendulum.ENV_ID,
    obs_dim=pendulum.OBS_DIM,
    state_dim=pendulum.STATE_DIM,
    reset_draws=pendulum.STATE_DIM,
    num_actions=0,
    max_episode_steps=pendulum.MAX_EPISODE_STEPS,
    obs_high=pendulum.OBS_HIGH,
    reset=pendulum.reset,
    step=pendulum.step,
    observe=pendulum.observe,
    action_low=(-pendulum.MAX_TORQUE,),
    action_high=(pendulum.MAX_TORQUE,),
)

DYNAMICS: dict[str, Dynamics] = {
    d.id: d for d in (CARTPOLE, ACROBOT, MOUNTAIN_CAR, MOUNTAIN_CAR_CONTINUOUS, PENDULUM)
}
"""Environment ids with pure dynamics in pgrad (the fused rollout runs these)."""


def _split_module(env_id: str) -> tuple[str | None, str]:
    """``module:id`` -> (``module``, ``id``), as Gymnasium splits it; an id without ``:`` -> (None, id)."""
    module, sep, name = env_id.partition(":")
    return (module, name) if sep else (None, env_id)


def _import_module(env_id: str) -> str:
    """The id without its ``module:`` prefix, after importing that module (Gymnasium's convention:
    the module registers the id); a one-line ValueError if the import fails."""
    module, name = _split_module(env_id)
    if module is not None:
        try:
            importlib.import_module(module)
        except Exception as e:
            reason = (str(e).splitlines() or [""])[0]
            raise ValueError(f"env {env_id!r}: cannot import module {module!r} "
                             f"({type(e).__name__}: {reason})") from None
    return name


def _plain_id(env_id: str) -> str:
    """``Acrobot-v1``, ``pgrad/Acrobot-v1``, ``module:Acrobot-v1`` and ``module:pgrad/Acrobot-v1``
    -> ``Acrobot-v1``: the id without its module and ``pgrad/`` prefixes."""
    return _split_module(env_id)[1].removeprefix(NAMESPACE + "/")


def get_dynamics(env_id: str) -> Dynamics:
    """The pure dynamics for ``env_id`` (plain, ``pgrad/``-namespaced, either behind a ``module:``
    prefix, whose module must import); a one-line ValueError names the accepted ids."""
    try:
        dynamics = DYNAMICS[_plain_id(env_id)]
    except KeyError:
        raise ValueError(
            f"unknown env {env_id!r}; accepted: {', '.join(DYNAMICS)}"
        ) from None
    _import_module(env_id)
    return dynamics


REWARD_THRESHOLDS: dict[str, float | None] = {
    "CartPole-v1": 475.0, "Acrobot-v1": -100.0, "MountainCar-v0": -110.0,
    "MountainCarContinuous-v0": 90.0, "Pendulum-v1": None,
}
"""Gymnasium's registered reward_threshold of pgrad's own ids (tested against the registry),
kept here so that training pgrad's environments needs no Gymnasium import."""


def gym_spec(env_id: str) -> EnvSpec:
    """Gymnasium's ``EnvSpec`` of ``env_id``, a ``module:id`` looked up after importing the module;
    a one-line ValueError if the module cannot be imported or Gymnasium does not know the id."""
    import gymnasium

    name = _import_module(env_id)
    try:
        return gymnasium.spec(name)
    except gymnasium.error.Error as e:
        raise ValueError(f"unknown env {env_id!r}: not one of pgrad's ({', '.join(sorted(DYNAMICS))}) "
                         f"and Gymnasium says: {str(e).splitlines()[0]}") from None


def reward_threshold(env_id: str) -> float | None:
    """The return at which ``env_id`` counts as solved in Gymnasium's registry (None if none)."""
    if _plain_id(env_id) in DYNAMICS:
        return REWARD_THRESHOLDS[get_dynamics(env_id).id]
    return gym_spec(env_id).reward_threshold


def register() -> None:
    """Register ``pgrad/<id>`` in Gymnasium for every id in ``DYNAMICS`` (idempotent; imports Gymnasium).

    Each uses Gymnasium's own single env as ``entry_point`` and a named function of
    :mod:`pgrad.envs.registration` that makes pgrad's
    :class:`~pgrad.envs.vector.DynamicsVectorEnv` as ``vector_entry_point``, so that
    ``gymnasium.make_vec("pgrad/Acrobot-v1", n, vectorization_mode="vector_entry_point")``
    runs pgrad's dynamics. ``import pgrad`` already registers them once Gymnasium is imported.
    """
    from pgrad.envs.registration import register_all

    register_all()


def make_vec(env_id: str, num_envs: int = 1, *, dtype: DTypeLike = np.float64, **kwargs: Any) -> VectorEnv:
    """A ``gymnasium.vector.VectorEnv`` of ``num_envs`` copies of ``env_id``.

    pgrad's own dynamics (``DYNAMICS``, by plain id such as ``Acrobot-v1``, namespaced
    ``pgrad/Acrobot-v1``, or either behind a ``module:`` prefix) run as one numpy-vectorised
    env; ``dtype=np.float32`` selects the fast single-precision mode, and ``kwargs`` may be
    ``max_episode_steps`` and ``render_mode="rgb_array"`` (any other: a one-line ValueError).
    Any other id is passed to ``gymnasium.make_vec`` with ``kwargs``. Registers pgrad's ids in
    Gymnasium on the way (:func:`register`).
    """
    register()
    if _plain_id(env_id) in DYNAMICS:
        from pgrad.envs.registration import make_dynamics_vector_env

        return make_dynamics_vector_env(env_id, num_envs, dtype=dtype, **kwargs)
    import gymnasium

    return gymnasium.make_vec(env_id, num_envs=num_envs, **kwargs)


# Registers pgrad/<id> in Gymnasium once Gymnasium is imported, without importing it here.
from pgrad.envs import registration  # noqa: E402, F401  (it needs the names above)
