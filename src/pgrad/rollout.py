"""Sampling trajectories: K episodes per seed, all seeds and episodes in lockstep.

This is the only module that turns environment flags into masks. Each seed draws the
randomness of a whole rollout from its own generator (reset draws, then action noise
for every possible step), so seed s gives the same batch whether it runs alone or
beside other seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pgrad.envs import Dynamics
from pgrad.policies import Policy


@dataclass(frozen=True)
class Batch:
    """K episodes for each of S seeds, time first, padded to the longest episode T.

    obs: [T, S, K, d] s_t;  act: [T, S, K] a_t;  rew: [T, S, K] r_t (all 0 after the end);
    terminated, truncated: [T, S, K] the flags of the step taken at t (kept apart: both
    can be true on the last step of the time limit); alive: [T, S, K] step t was taken;
    lengths: [S, K] number of steps of each episode.
    """

    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    alive: np.ndarray
    lengths: np.ndarray

    @property
    def episode_returns(self) -> np.ndarray:
        """Undiscounted return sum_t r_t of each episode: [S, K]."""
        return self.rew.sum(axis=0)


def draw_noise(
    dynamics: Dynamics, policy: Policy, rngs: Sequence[np.random.Generator], num_episodes: int,
    max_steps: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Each seed's randomness for one rollout, drawn in this order from its own generator:
    reset uniforms [r, S, K], action noise [H, S, K, ...], transition uniforms [H, q, S, K]
    (None for deterministic dynamics)."""
    H, K = max_steps, num_episodes
    reset_u = np.stack([rng.random((dynamics.reset_draws, K)) for rng in rngs], axis=1)
    noise = np.stack([policy.noise(rng, (H, K)) for rng in rngs], axis=1)
    step_u = None
    if dynamics.step_draws:
        step_u = np.stack([rng.random((H, dynamics.step_draws, K)) for rng in rngs], axis=2)
    return reset_u, noise, step_u


def rollout(
    dynamics: Dynamics,
    policy: Policy,
    theta: np.ndarray,
    rngs: Sequence[np.random.Generator],
    num_episodes: int,
    *,
    greedy: bool = False,
    dtype=np.float64,
    max_steps: int | None = None,
) -> Batch:
    """Run ``num_episodes`` episodes per seed under pi_theta until every one has ended.

    theta: [S, d], one row per generator in ``rngs``. ``greedy`` takes the modal action
    (``policy.mode``) instead of sampling; ``dtype=np.float32`` runs the fast single-precision
    mode. Episodes are truncated after ``max_steps`` (default: the environment's limit).

    The S * K episodes are simulated as one flat batch of environments, each with its own
    row of parameters. Ended episodes stay frozen until at most half are still running;
    then the batch is compacted to the running ones, so late steps cost what they use.
    """
    if theta.ndim != 2 or theta.shape[0] != len(rngs):
        raise ValueError(f"theta must be [S, d] with S = {len(rngs)} seeds, got {theta.shape}")
    H = max_steps or dynamics.max_episode_steps
    S, K = theta.shape[0], num_episodes
    N = S * K
    reset_u, noise, step_u = draw_noise(dynamics, policy, rngs, K, H)
    noise = noise.astype(dtype, copy=False).reshape((H, N) + noise.shape[3:])
    step_u = None if step_u is None else step_u.reshape(H, -1, N)
    theta_env = np.repeat(theta.astype(dtype, copy=False), K, axis=0)  # [N, d], seed-major
    state = dynamics.reset(reset_u.astype(dtype, copy=False).reshape(-1, N))

    obs_buf = np.zeros((H, dynamics.obs_dim, N), dtype)
    act_buf = np.zeros((H, N) + policy.action_shape, policy.action_dtype)
    rew_buf = np.zeros((H, N), dtype)
    term_buf = np.zeros((H, N), bool)
    alive_buf = np.zeros((H, N), bool)
    env = slice(None)  # the simulated environments: all, or their flat indices once compacted
    alive = np.ones(N, bool)
    T = H
    for t in range(H):
        obs = dynamics.observe(state)  # [obs_dim, E]
        obs_e = obs.T[:, None]  # [E, 1, obs_dim]: each environment is its own row of theta
        if greedy:
            act = policy.mode(theta_env, obs_e)[:, 0]
        else:
            act = policy.act(theta_env, obs_e, noise[t, env][:, None])[:, 0]
        u = () if step_u is None else (step_u[t][:, env],)
        next_state, rew, terminated = dynamics.step(state, act, *u)
        obs_buf[t][:, env], act_buf[t, env], rew_buf[t, env] = obs, act, rew
        term_buf[t, env], alive_buf[t, env] = terminated, alive
        np.greater(alive, terminated, out=alive)  # alive and not terminated
        running = np.count_nonzero(alive)
        if not running:
            T = t + 1
            break
        if 2 * running <= alive.size:  # compact to the running environments
            env = np.flatnonzero(alive) if isinstance(env, slice) else env[alive]
            state, theta_env, alive = next_state[:, alive], theta_env[alive], alive[alive]
        else:
            state = np.where(alive, next_state, state)  # ended episodes stay frozen, finite
    obs_buf, act_buf, alive_buf = obs_buf[:T], act_buf[:T], alive_buf[:T]
    obs_buf *= alive_buf[:, None, :]  # steps after an episode's end hold zeros
    act_buf *= alive_buf.reshape(alive_buf.shape + (1,) * len(policy.action_shape))
    alive_buf = alive_buf.reshape(T, S, K)
    trunc_buf = np.zeros((T, S, K), bool)
    if T == H:
        trunc_buf[H - 1] = alive_buf[H - 1]  # the time limit, as Gymnasium's TimeLimit sets it
    return Batch(
        obs=np.moveaxis(obs_buf.reshape(T, -1, S, K), 1, -1),
        act=act_buf.reshape((T, S, K) + policy.action_shape),
        rew=rew_buf[:T].reshape(T, S, K) * alive_buf,
        terminated=term_buf[:T].reshape(T, S, K) & alive_buf,
        truncated=trunc_buf,
        alive=alive_buf,
        lengths=alive_buf.sum(axis=0),
    )


def split_seeds(batch: Batch, max_elements: int = 1 << 16):
    """Yield (seed slice, sub-batch) for consecutive groups of seeds, each trimmed to its own
    longest episode and holding about ``max_elements`` steps, so per-seed estimators run on
    cache-sized arrays without the padding of other seeds' longer episodes."""
    T, S, K = batch.alive.shape
    per_seed = max(1, max_elements // max(1, T * K))
    for lo in range(0, S, per_seed):
        part = slice(lo, min(S, lo + per_seed))
        t = int(batch.lengths[part].max())
        yield part, Batch(obs=batch.obs[:t, part], act=batch.act[:t, part],
                          rew=batch.rew[:t, part], terminated=batch.terminated[:t, part],
                          truncated=batch.truncated[:t, part], alive=batch.alive[:t, part],
                          lengths=batch.lengths[part])


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Seed s owns two independent streams: (training, evaluation)."""
    train_seq, eval_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(train_seq), np.random.default_rng(eval_seq)


def evaluate(dynamics: Dynamics, policy: Policy, theta: np.ndarray,
             rngs: Sequence[np.random.Generator], num_episodes: int, *, greedy: bool = False,
             dtype=np.float64) -> np.ndarray:
    """Undiscounted returns of ``num_episodes`` fresh episodes per seed under theta: [S, N]."""
    batch = rollout(dynamics, policy, theta, rngs, num_episodes, greedy=greedy, dtype=dtype)
    return batch.episode_returns
