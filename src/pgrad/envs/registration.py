"""Gymnasium ids ``pgrad/<id>`` for pgrad's dynamics; importing this module registers them.

``gymnasium.make("pgrad/Acrobot-v1")`` gives Gymnasium's own single env (with its time
limit), and ``gymnasium.make_vec("pgrad/Acrobot-v1", n)`` (default or
``vectorization_mode="vector_entry_point"``) pgrad's :class:`DynamicsVectorEnv`; with
``vectorization_mode="sync"`` it is Gymnasium's ``SyncVectorEnv`` of the single env.
The ids are registered by :func:`pgrad.envs.register`, by :func:`pgrad.make_vec`, or by
naming this module in the id: ``gymnasium.make_vec("pgrad.envs.registration:pgrad/Acrobot-v1", n)``.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium

from pgrad.envs import DYNAMICS, NAMESPACE, get_dynamics
from pgrad.envs.vector import DynamicsVectorEnv


def make_dynamics_vector_env(env_id: str, num_envs: int = 1, **kwargs: Any) -> DynamicsVectorEnv:
    """Gymnasium's vector entry point: ``DynamicsVectorEnv`` of ``num_envs`` copies of ``env_id``.

    ``kwargs`` (``max_episode_steps``, ``dtype``) go to :class:`DynamicsVectorEnv`.
    """
    return DynamicsVectorEnv(get_dynamics(env_id), num_envs, **kwargs)


def register_all() -> None:
    """Register ``pgrad/<id>`` for every id in ``DYNAMICS`` not yet registered."""
    for env_id in DYNAMICS:
        namespaced = f"{NAMESPACE}/{env_id}"
        if namespaced in gymnasium.registry:
            continue
        reference = gymnasium.spec(env_id)  # Gymnasium's own registration of the plain id
        gymnasium.register(
            id=namespaced,
            entry_point=reference.entry_point,
            vector_entry_point=functools.partial(make_dynamics_vector_env, env_id),
            max_episode_steps=reference.max_episode_steps,
            reward_threshold=reference.reward_threshold,
        )


register_all()
