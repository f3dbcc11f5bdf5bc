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

    obs: [T, S, K, d] s_t;  act: [T, S, K] a_t;  rew: [T, S, K] r_t (0 after the end);
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
    (zero noise) instead of sampling; ``dtype=np.float32`` runs the fast single-precision
    mode. Episodes are truncated after ``max_steps`` (default: the environment's limit).
    """
    if theta.ndim != 2 or theta.shape[0] != len(rngs):
        raise ValueError(f"theta must be [S, d] with S = {len(rngs)} seeds, got {theta.shape}")
    H = max_steps or dynamics.max_episode_steps
    S, K = theta.shape[0], num_episodes
    reset_u, noise, step_u = draw_noise(dynamics, policy, rngs, K, H)
    if greedy:
        noise = np.zeros_like(noise)
    theta_c = theta.astype(dtype, copy=False)
    noise = noise.astype(dtype, copy=False)
    state = dynamics.reset(reset_u.astype(dtype, copy=False))

    obs_buf = np.empty((H, dynamics.obs_dim, S, K), dtype)
    act_buf = np.zeros((H, S, K) + policy.action_shape, policy.action_dtype)
    rew_buf = np.zeros((H, S, K), dtype)
    term_buf = np.zeros((H, S, K), bool)
    alive_buf = np.zeros((H, S, K), bool)
    alive = np.ones((S, K), bool)
    T = H
    for t in range(H):
        obs = dynamics.observe(state)
        obs_buf[t] = obs
        act_buf[t] = act = policy.act(theta_c, obs.transpose(1, 2, 0), noise[t])
        if step_u is None:
            next_state, rew_buf[t], term_buf[t] = dynamics.step(state, act)
        else:
            next_state, rew_buf[t], term_buf[t] = dynamics.step(state, act, step_u[t])
        alive_buf[t] = alive
        np.greater(alive, term_buf[t], out=alive)  # alive and not terminated
        if not np.count_nonzero(alive):
            T = t + 1
            break
        state = np.where(alive, next_state, state)  # ended episodes stay frozen, finite
    alive_buf = alive_buf[:T]
    rew_buf, term_buf = rew_buf[:T] * alive_buf, term_buf[:T] & alive_buf
    trunc_buf = np.zeros((T, S, K), bool)
    if T == H:
        trunc_buf[H - 1] = alive_buf[H - 1]  # the time limit, as Gymnasium's TimeLimit sets it
    alive_buf = alive_buf[:T]
    return Batch(
        obs=np.moveaxis(obs_buf[:T], 1, -1),
        act=act_buf[:T],
        rew=rew_buf,
        terminated=term_buf,
        truncated=trunc_buf,
        alive=alive_buf,
        lengths=alive_buf.sum(axis=0),
    )


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
