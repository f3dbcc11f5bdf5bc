"""Evaluation: undiscounted returns of fresh episodes per seed under fixed parameters theta."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from pgrad.envs import Dynamics
from pgrad.policies import Policy
from pgrad.rollout.episodes import rollout
from pgrad.rollout.segments import GymSegments
from pgrad.rollout.spaces import _pgrad_dynamics, to_env_action


def evaluate(dynamics: Dynamics, policy: Policy, theta: np.ndarray,
             rngs: Sequence[np.random.Generator], num_episodes: int, *, greedy: bool = False,
             dtype: DTypeLike = np.float64) -> np.ndarray:
    """Undiscounted returns of ``num_episodes`` fresh episodes per seed under theta: [S, N]."""
    batch = rollout(dynamics, policy, theta, rngs, num_episodes, greedy=greedy, dtype=dtype)
    return batch.episode_returns


def evaluate_env(env_id: str, policy: Policy, theta: np.ndarray, rngs: Sequence[np.random.Generator],
                 num_episodes: int, *, greedy: bool = False, time_limit: int | None = None) -> np.ndarray:
    """Undiscounted returns of ``num_episodes`` fresh episodes per seed under theta [S, d]: [S, E].

    pgrad's own dynamics run the fused :func:`evaluate`; any other id runs ``num_episodes``
    Gymnasium environments per seed until each has finished its first episode, which ends
    after ``time_limit`` steps where the env has no time limit of its own. ``greedy`` takes
    ``policy.mode`` instead of sampling.
    """
    dynamics = _pgrad_dynamics(env_id)
    if dynamics is not None:
        return evaluate(dynamics, policy, theta, rngs, num_episodes, greedy=greedy)
    sampler = GymSegments(env_id, num_episodes, rngs, time_limit=time_limit)
    try:
        S, E = len(rngs), num_episodes
        returns = np.full((S, E), np.nan)
        obs = sampler.obs
        running, total = np.ones((S, E), bool), np.zeros((S, E))
        while running.any():
            if greedy:
                act = policy.mode(theta, obs)
            else:
                act = policy.act(theta, obs, np.stack([policy.noise(rng, (E,)) for rng in rngs]))
            env_act = to_env_action(sampler.spec, act)
            obs = np.empty_like(obs)
            for j, env in enumerate(sampler.envs):
                a = np.asarray(env_act[j]).astype(env.single_action_space.dtype)
                o, rew, term, trunc, _ = env.step(a)
                obs[j] = sampler._observe(o)
                total[j] += np.where(running[j], rew, 0.0)
                ended = running[j] & (term | trunc)
                returns[j, ended] = total[j, ended]
                running[j] &= ~ended
        return returns
    finally:
        sampler.close()
