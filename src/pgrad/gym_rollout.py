"""Whole episodes from any Gymnasium id, in the time-first :class:`~pgrad.rollout.Batch` layout.

:func:`gym_rollout` is :func:`pgrad.rollout.rollout` for environments pgrad does not simulate
itself: K Gymnasium environments per seed (one ``gymnasium.make_vec`` each, via
:class:`~pgrad.rollout.GymSegments`), every seed stepped in lockstep until each environment has
finished its first episode. Whatever an environment does after that (same-step autoreset starts
a new episode) is ignored, as in :func:`~pgrad.rollout.evaluate_env`.

Randomness, per seed s and only from ``rngs[s]``, in this order:

1. one integer, the reset seed of seed s's K environments (``GymSegments``: sub-env k is
   reset with that seed + k, and the environments' own randomness follows from it);
2. then, for t = 0, 1, ..., while at least one of seed s's K episodes is still running,
   ``policy.noise(rngs[s], (K,))``: the action noise of step t of its K episodes
   (none with ``greedy``).

A seed whose episodes have all ended draws nothing more and its environments are no longer
stepped, so seed s gives the same batch, and leaves its generator in the same state, whether it
runs alone or beside other seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pgrad.policies import Policy
from pgrad.rollout import Batch, EnvSpec, GymSegments, check_time_limit, to_env_action


def episode_horizon(env_id: str, time_limit: int | None = None) -> int:
    """H, the most steps an episode of ``env_id`` can take in :func:`gym_rollout`: the env's own
    time limit (``max_episode_steps`` of its Gymnasium spec), else ``time_limit``; a one-line
    ValueError if it has neither (its episodes might never end)."""
    from pgrad.envs import gym_spec

    own = gym_spec(env_id).max_episode_steps  # unknown ids: a one-line ValueError
    if own is not None:
        return int(own)
    if time_limit is None:
        raise ValueError(f"env {env_id!r} has no time limit of its own: pass time_limit")
    return check_time_limit(time_limit)


def _check_policy(spec: EnvSpec, policy: Policy) -> None:
    """A one-line ValueError unless the policy's actions fit the env's action space."""
    shape = tuple(policy.action_shape)
    if spec.discrete and shape != ():
        raise ValueError(f"{spec.id}: discrete actions need a discrete policy, got action shape {shape}")
    if not spec.discrete and shape != (spec.action_dim,):
        raise ValueError(f"{spec.id}: Box actions of length {spec.action_dim} need a policy with action "
                         f"shape ({spec.action_dim},), got {shape}")


def gym_rollout(
    env_id: str,
    policy: Policy,
    theta: np.ndarray,
    rngs: Sequence[np.random.Generator],
    num_episodes: int,
    *,
    greedy: bool = False,
    time_limit: int | None = None,
) -> Batch:
    """Run one episode in each of ``num_episodes`` Gymnasium environments per seed under pi_theta.

    theta: [S, d], one row per generator in ``rngs``. ``greedy`` takes ``policy.mode`` instead
    of sampling. ``time_limit`` caps the episodes of an env without a time limit of its own
    (required then, see :func:`episode_horizon`); an env with one keeps it. Gymnasium is used
    for every id, including those pgrad also implements as fused dynamics.

    Returns the layout of :func:`pgrad.rollout.rollout`, T the longest episode: obs [T, S, K, d]
    float64 (Discrete observations one-hot), act [T, S, K, ...] as the policy sampled it (Box
    actions unclipped; the env gets ``to_env_action``), rew [T, S, K], terminated and truncated
    [T, S, K] as the env reported them on the episode's last step (both can be true; truncated
    is the env's TimeLimit), alive [T, S, K], lengths [S, K]. After an episode's end: obs the
    observation of the episode's last step, act 0, rew 0, flags and alive False.
    """
    theta = np.asarray(theta)
    if theta.ndim != 2 or theta.shape[0] != len(rngs):
        raise ValueError(f"theta must be [S, d] with S = {len(rngs)} seeds, got {theta.shape}")
    episode_horizon(env_id, time_limit)  # episodes must end: a time limit, own or given
    S, K = len(rngs), num_episodes
    sampler = GymSegments(env_id, K, rngs, time_limit=time_limit)  # draws each seed's reset seed
    try:
        spec = sampler.spec
        _check_policy(spec, policy)
        obs = sampler.obs  # [S, K, d]: the first observation of every episode
        last_obs = obs.copy()  # each episode's latest observation: the padding after its end
        running = np.ones((S, K), bool)
        obs_rows, act_rows, rew_rows, term_rows, trunc_rows, alive_rows = [], [], [], [], [], []
        while running.any():
            idx = np.flatnonzero(running.any(axis=1))  # seeds with an episode still running
            if greedy:
                act = policy.mode(theta[idx], obs[idx])
            else:
                noise = np.stack([policy.noise(rngs[int(i)], (K,)) for i in idx])
                act = policy.act(theta[idx], obs[idx], noise)
            env_act = to_env_action(spec, act)
            act_t: np.ndarray = np.zeros((S, K) + tuple(policy.action_shape), policy.action_dtype)
            rew_t = np.zeros((S, K))
            term_t, trunc_t = np.zeros((S, K), bool), np.zeros((S, K), bool)
            next_obs = obs.copy()
            for j, i in enumerate(idx):
                env = sampler.envs[i]
                a = np.asarray(env_act[j]).astype(env.single_action_space.dtype)
                o, rew, term, trunc, _ = env.step(a)
                next_obs[i] = sampler._observe(o)  # after an episode's end: the next one's, unused
                live = running[i]
                act_t[i, live] = act[j][live]
                rew_t[i] = np.where(live, rew, 0.0)
                term_t[i], trunc_t[i] = live & term, live & trunc
            obs_rows.append(last_obs.copy())
            act_rows.append(act_t)
            rew_rows.append(rew_t)
            term_rows.append(term_t)
            trunc_rows.append(trunc_t)
            alive_rows.append(running.copy())
            running = running & ~(term_t | trunc_t)
            last_obs[running] = next_obs[running]  # ended episodes keep their last observation
            obs = next_obs
    finally:
        sampler.close()
    alive = np.stack(alive_rows)
    return Batch(obs=np.stack(obs_rows), act=np.stack(act_rows), rew=np.stack(rew_rows),
                 terminated=np.stack(term_rows), truncated=np.stack(trunc_rows), alive=alive,
                 lengths=alive.sum(axis=0))
