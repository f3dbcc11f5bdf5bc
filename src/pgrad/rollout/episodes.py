"""Whole episodes: K per seed, all seeds and episodes stepped in lockstep as one flat batch.

:func:`rollout` turns the dynamics' ``terminated`` flags and the time limit into the
``alive`` mask, ``terminated`` and ``truncated`` of a time-first :class:`Batch`;
:func:`split_seeds` cuts a batch into cache-sized groups of seeds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import DTypeLike

from pgrad.envs import Dynamics
from pgrad.policies import Policy
from pgrad.rollout import threads
from pgrad.rollout.compiled import kernel_for as compiled_kernel
from pgrad.rollout.compiled import run as run_compiled


@dataclass(frozen=True)
class Batch:
    """K episodes for each of S seeds, time first, padded to the longest episode T.

    obs: [T, S, K, d] s_t;  act: [T, S, K] a_t;  rew: [T, S, K] r_t (0 after the end; obs and
    act there are finite padding, the last state or zeros, which estimators mask with alive);
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


class Workspace:
    """Reusable rollout buffers, owned by the caller (a training loop keeps one)."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        """An array of this shape and dtype; its contents are finite but unspecified."""
        size = int(np.prod(shape))
        a = self._arrays.get(name)
        if a is None or a.dtype != np.dtype(dtype) or a.size < size:
            a = self._arrays[name] = np.zeros(size, dtype)
        return a[:size].reshape(shape)


NOISE_ELEMENTS = 1 << 15
"""Action noise is drawn about this many numbers at a time: small temporaries, same stream."""


def draw_noise(
    dynamics: Dynamics, policy: Policy, rngs: Sequence[np.random.Generator], num_episodes: int,
    max_steps: int, workspace: Workspace | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Each seed's randomness for one rollout, drawn in this order from its own generator:
    reset uniforms [r, S, K], action noise [H, S, K, ...], transition uniforms [H, q, S, K]
    (None for deterministic dynamics); H = ``max_steps`` >= 1."""
    H, K, S = max_steps, num_episodes, len(rngs)
    buffers = workspace if workspace is not None else Workspace()
    reset_u = np.empty((dynamics.reset_draws, S, K))
    step_u = buffers.array("step_u", (H, dynamics.step_draws, S, K), np.float64)
    step = max(1, NOISE_ELEMENTS // K)
    noise: np.ndarray | None = None

    def draw(j: int) -> None:  # seed j's draws, from its own generator, in the order above
        nonlocal noise
        rng = rngs[j]
        reset_u[:, j] = rng.random((dynamics.reset_draws, K))
        for t in range(0, H, step):  # the same stream as one call, in cache-sized pieces
            rows = policy.noise(rng, (min(step, H - t), K))
            if noise is None:  # seed 0's first piece, before any other seed draws
                noise = buffers.array("noise", (H, S) + rows.shape[1:], rows.dtype)
            noise[t : t + len(rows), j] = rows
        if dynamics.step_draws:
            step_u[:, :, j] = rng.random((H, dynamics.step_draws, K))

    def draw_seeds(seeds: range) -> None:
        for j in seeds:
            draw(j)

    draw(0)  # allocates the noise buffer: never None once H >= 1 and S >= 1
    # the other seeds in contiguous parts, on threads where the batch is large (numpy draws
    # without the GIL)
    parts = threads.count() if (S - 1) * H * K >= PARALLEL_DRAWS else 1
    threads.map(draw_seeds, [range(1 + (S - 1) * i // parts, 1 + (S - 1) * (i + 1) // parts)
                             for i in range(parts)])
    return reset_u, cast(np.ndarray, noise), step_u if dynamics.step_draws else None


PARALLEL_DRAWS = 1 << 18
"""Draw the seeds' randomness on several threads from this many numbers per rollout; each seed
draws from its own generator in its own order, so the threads change no number."""


COMPACT_FRACTION = 0.5
COMPACT_MIN = 1024
"""Compact the rollout batch only from this many environments: below it, numpy's per-call
cost dominates and the scatter writes of a compacted batch cost more than they save."""


def rollout(
    dynamics: Dynamics,
    policy: Policy,
    theta: np.ndarray,
    rngs: Sequence[np.random.Generator],
    num_episodes: int,
    *,
    greedy: bool = False,
    dtype: DTypeLike = np.float64,
    max_steps: int | None = None,
    workspace: Workspace | None = None,
    compiled: bool = True,
) -> Batch:
    """Run ``num_episodes`` episodes per seed under pi_theta until every one has ended.

    theta: [S, d], one row per generator in ``rngs``. ``greedy`` takes the modal action
    (``policy.mode``) instead of sampling; ``dtype=np.float32`` runs the fast single-precision
    mode. Episodes are truncated after ``max_steps`` (default: the environment's limit).

    The S * K episodes are simulated as one flat batch of environments, each with its own
    row of parameters. Ended episodes stay frozen until at most half are still running;
    then the batch is compacted to the running ones, so late steps cost what they use.
    With a ``workspace`` the buffers are reused (no fresh memory per call); the batch then
    views them and is valid until the next rollout with the same workspace.

    Where a compiled kernel exists (:mod:`pgrad.rollout.compiled`: float64 cart-pole with the
    logistic policy) and numba works, the loop runs compiled, to the same bits and without
    compaction; ``compiled=False`` runs the numpy loop (the reference).
    """
    if theta.ndim != 2 or theta.shape[0] != len(rngs):
        raise ValueError(f"theta must be [S, d] with S = {len(rngs)} seeds, got {theta.shape}")
    H = max_steps or dynamics.max_episode_steps
    S, K = theta.shape[0], num_episodes
    N = S * K
    buffers = workspace if workspace is not None else Workspace()
    reset_u, noise, step_u = draw_noise(dynamics, policy, rngs, K, H, buffers)
    noise = noise.astype(dtype, copy=False).reshape((H, N) + noise.shape[3:])
    step_u = None if step_u is None else step_u.reshape(H, -1, N)
    # [N, d], seed-major; held column by column (Fortran order) so theta_j is contiguous
    theta_env = np.asfortranarray(np.repeat(theta.astype(dtype, copy=False), K, axis=0))
    state = dynamics.reset(reset_u.astype(dtype, copy=False).reshape(-1, N))

    obs_buf = buffers.array("obs", (H, dynamics.obs_dim, N), dtype)
    act_buf = buffers.array("act", (H, N) + policy.action_shape, policy.action_dtype)
    rew_buf = buffers.array("rew", (H, N), dtype)
    term_buf = buffers.array("terminated", (H, N), bool)
    alive_buf = buffers.array("alive", (H, N), bool)
    kernel = compiled_kernel(dynamics, policy, np.dtype(dtype)) if compiled else None
    T = None if kernel is None else run_compiled(kernel, policy, theta_env, state, noise, greedy,
                                                 (obs_buf, act_buf, rew_buf, term_buf, alive_buf))
    if T is None:
        T = _numpy_loop(dynamics, policy, theta_env, state, noise, step_u, greedy, H,
                        (obs_buf, act_buf, rew_buf, term_buf, alive_buf))
    return _batch(obs_buf, act_buf, rew_buf, term_buf, alive_buf, T, H, S, K, policy)


def _numpy_loop(dynamics: Dynamics, policy: Policy, theta_env: np.ndarray, state: np.ndarray,
                noise: np.ndarray, step_u: np.ndarray | None, greedy: bool, H: int,
                bufs: tuple[np.ndarray, ...]) -> int:
    """The rollout's loop in numpy: writes the buffers for t < T and returns T."""
    obs_buf, act_buf, rew_buf, term_buf, alive_buf = bufs
    alive_buf.fill(False)  # compacted-away episodes are never written again
    N = theta_env.shape[0]
    # the simulated environments: all, or their flat indices once compacted
    env: slice | np.ndarray = slice(None)
    alive = np.ones(N, bool)
    T = H
    for t in range(H):
        obs = dynamics.observe(state)  # [obs_dim, E]
        obs_e = obs.T[:, None]  # [E, 1, obs_dim]: each environment is its own row of theta
        if greedy:
            act = policy.mode(theta_env, obs_e)[:, 0]
        else:
            noise_t = noise[t] if isinstance(env, slice) else noise[t].take(env, axis=0)
            act = policy.act(theta_env, obs_e, noise_t[:, None])[:, 0]
        u = () if step_u is None else (step_u[t][:, env],)
        next_state, rew, terminated = dynamics.step(state, act, *u)
        if isinstance(env, slice):
            obs_buf[t], act_buf[t], rew_buf[t], term_buf[t], alive_buf[t] = (
                obs, act, rew, terminated, alive)
        else:  # compacted: one-dimensional writes are the fastest scatter
            rows = (*obs_buf[t], act_buf[t], rew_buf[t], term_buf[t], alive_buf[t])
            for row, value in zip(rows, (*obs, act, rew, terminated, alive), strict=True):
                row[env] = value
        np.greater(alive, terminated, out=alive)  # alive and not terminated
        running = np.count_nonzero(alive)
        if not running:
            T = t + 1
            break
        if running == alive.size:
            state = next_state
        elif running <= COMPACT_FRACTION * alive.size and alive.size >= COMPACT_MIN:  # compact
            env = np.flatnonzero(alive) if isinstance(env, slice) else env[alive]
            state, theta_env = next_state[:, alive], np.asfortranarray(theta_env[alive])
            alive = alive[alive]
        else:
            state = np.where(alive, next_state, state)  # ended episodes stay frozen, finite
    return T


def _batch(obs_buf: np.ndarray, act_buf: np.ndarray, rew_buf: np.ndarray, term_buf: np.ndarray,
           alive_buf: np.ndarray, T: int, H: int, S: int, K: int, policy: Policy) -> Batch:
    """The time-first Batch [T, S, K, ...] viewing the first T steps of the buffers."""
    obs_buf, act_buf, alive_buf = obs_buf[:T], act_buf[:T], alive_buf[:T].reshape(T, S, K)
    trunc_buf = np.zeros((T, S, K), bool)
    if T == H:
        trunc_buf[H - 1] = alive_buf[H - 1]  # the time limit, as Gymnasium's TimeLimit sets it
    return Batch(
        obs=np.moveaxis(obs_buf.reshape(T, -1, S, K), 1, -1),
        act=act_buf.reshape((T, S, K) + policy.action_shape),
        rew=np.multiply(rew_buf[:T].reshape(T, S, K), alive_buf, out=rew_buf[:T].reshape(T, S, K)),
        terminated=np.logical_and(term_buf[:T].reshape(T, S, K), alive_buf,
                                  out=term_buf[:T].reshape(T, S, K)),
        truncated=trunc_buf,
        alive=alive_buf,
        lengths=alive_buf.sum(axis=0),
    )


def split_seeds(batch: Batch, max_elements: int = 1 << 16) -> Iterator[tuple[slice, Batch]]:
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
