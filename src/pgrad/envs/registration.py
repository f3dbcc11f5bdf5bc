"""Gymnasium ids ``pgrad/<id>`` for pgrad's dynamics, and their vector entry points.

``gymnasium.make("pgrad/Acrobot-v1")`` gives Gymnasium's own single env (with its time
limit), and ``gymnasium.make_vec("pgrad/Acrobot-v1", n)`` (default or
``vectorization_mode="vector_entry_point"``) pgrad's :class:`DynamicsVectorEnv`; with
``vectorization_mode="sync"`` it is Gymnasium's ``SyncVectorEnv`` of the single env.

``import pgrad`` registers the ids without importing Gymnasium (0.35 s): at once if Gymnasium
is already imported, else right after it is (:func:`register_when_gymnasium_loads`). Naming
this module in an id also registers them:
``gymnasium.make_vec("pgrad.envs.registration:pgrad/Acrobot-v1", n)``. This module imports
neither Gymnasium nor the vector env until they are needed.
"""

from __future__ import annotations

import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pgrad.envs import DYNAMICS, NAMESPACE, get_dynamics

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec

    from pgrad.envs.vector import DynamicsVectorEnv

VECTOR_KWARGS = ("dtype", "max_episode_steps", "render_mode")
"""The keyword arguments pgrad's vector env takes; other env kwargs are Gymnasium's alone."""


def make_dynamics_vector_env(env_id: str, num_envs: int = 1, **kwargs: Any) -> DynamicsVectorEnv:
    """``DynamicsVectorEnv`` of ``num_envs`` copies of ``env_id``; ``kwargs`` among ``VECTOR_KWARGS``.

    Any other kwarg (such as CartPole's ``sutton_barto_reward`` or Pendulum's ``g``) changes
    Gymnasium's env in a way pgrad does not mirror: a one-line ValueError names it.
    """
    from pgrad.envs.vector import DynamicsVectorEnv

    dynamics = get_dynamics(env_id)
    unsupported = [key for key in kwargs if key not in VECTOR_KWARGS]
    if unsupported:
        raise ValueError(f"{env_id}: pgrad does not mirror the env kwarg(s) "
                         f"{', '.join(map(repr, unsupported))}; supported: {', '.join(VECTOR_KWARGS)} "
                         f"(Gymnasium's own env takes them: gymnasium.make_vec({dynamics.id!r}, n, "
                         f"vectorization_mode='sync', ...))")
    return DynamicsVectorEnv(dynamics, num_envs, **kwargs)


# One named vector entry point per id, so that each EnvSpec names it by a string (as Gymnasium's
# own "gymnasium.envs.classic_control.cartpole:CartPoleVectorEnv"): specs stay JSON-able and
# equal when re-created by gymnasium.make_vec(env.spec).
def cartpole(num_envs: int = 1, **kwargs: Any) -> DynamicsVectorEnv:
    """Vector entry point of ``pgrad/CartPole-v1``."""
    return make_dynamics_vector_env("CartPole-v1", num_envs, **kwargs)


def acrobot(num_envs: int = 1, **kwargs: Any) -> DynamicsVectorEnv:
    """Vector entry point of ``pgrad/Acrobot-v1``."""
    return make_dynamics_vector_env("Acrobot-v1", num_envs, **kwargs)


def mountain_car(num_envs: int = 1, **kwargs: Any) -> DynamicsVectorEnv:
    """Vector entry point of ``pgrad/MountainCar-v0``."""
    return make_dynamics_vector_env("MountainCar-v0", num_envs, **kwargs)


def mountain_car_continuous(num_envs: int = 1, **kwargs: Any) -> DynamicsVectorEnv:
    """Vector entry point of ``pgrad/MountainCarContinuous-v0``."""
    return make_dynamics_vector_env("MountainCarContinuous-v0", num_envs, **kwargs)


def pendulum(num_envs: int = 1, **kwargs: Any) -> DynamicsVectorEnv:
    """Vector entry point of ``pgrad/Pendulum-v1``."""
    return make_dynamics_vector_env("Pendulum-v1", num_envs, **kwargs)


VECTOR_ENTRY_POINTS = {
    "CartPole-v1": f"{__name__}:cartpole",
    "Acrobot-v1": f"{__name__}:acrobot",
    "MountainCar-v0": f"{__name__}:mountain_car",
    "MountainCarContinuous-v0": f"{__name__}:mountain_car_continuous",
    "Pendulum-v1": f"{__name__}:pendulum",
}
"""The ``vector_entry_point`` of each ``pgrad/<id>``, by id."""


def register_all() -> None:
    """Register ``pgrad/<id>`` for every id in ``DYNAMICS`` not yet registered (imports Gymnasium)."""
    import gymnasium

    for env_id in DYNAMICS:
        namespaced = f"{NAMESPACE}/{env_id}"
        if namespaced in gymnasium.registry:
            continue
        reference = gymnasium.spec(env_id)  # Gymnasium's own registration of the plain id
        gymnasium.register(
            id=namespaced,
            entry_point=reference.entry_point,
            vector_entry_point=VECTOR_ENTRY_POINTS[env_id],
            max_episode_steps=reference.max_episode_steps,
            reward_threshold=reference.reward_threshold,
        )


def _register_quietly() -> None:
    """register_all(), with a warning instead of an error: it must never break ``import gymnasium``."""
    try:
        register_all()
    except Exception as e:
        warnings.warn(f"pgrad could not register its Gymnasium ids: {type(e).__name__}: {e}", stacklevel=2)


class _RegisteringLoader:
    """Gymnasium's own loader, then :func:`register_all` once the package has finished executing."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # anything else a loader offers: Gymnasium's own
        return getattr(self.loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        module.__loader__ = self.loader  # the package keeps its own loader from now on
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        _register_quietly()


class _RegisterOnImport:
    """A one-shot ``sys.meta_path`` finder: on the first ``import gymnasium``, it removes itself,
    finds Gymnasium's spec with the other finders and wraps its loader in :class:`_RegisteringLoader`."""

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name != "gymnasium":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        from importlib.util import find_spec

        spec = find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)  # type: ignore[assignment]
        return spec


def register_when_gymnasium_loads() -> None:
    """Register pgrad's ids now if Gymnasium is imported, else right after it is (idempotent)."""
    if "gymnasium" in sys.modules:
        _register_quietly()
    elif not any(isinstance(finder, _RegisterOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())


register_when_gymnasium_loads()
