"""Sampling trajectories: K episodes per seed, all seeds and episodes in lockstep.

This is the only module that turns environment flags into masks. Each seed draws the
randomness of a whole rollout from its own generator (reset draws, then action noise
for every possible step), so seed s gives the same batch whether it runs alone or
beside other seeds.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pgrad.envs import Dynamics
from pgrad.policies import Policy


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

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
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
    (None for deterministic dynamics)."""
    H, K, S = max_steps, num_episodes, len(rngs)
    buffers = workspace if workspace is not None else Workspace()
    reset_u = np.empty((dynamics.reset_draws, S, K))
    step_u = buffers.array("step_u", (H, dynamics.step_draws, S, K), np.float64)
    noise = None
    for j, rng in enumerate(rngs):
        reset_u[:, j] = rng.random((dynamics.reset_draws, K))
        step = max(1, NOISE_ELEMENTS // K)
        for t in range(0, H, step):  # the same stream as one call, in cache-sized pieces
            rows = policy.noise(rng, (min(step, H - t), K))
            if noise is None:
                noise = buffers.array("noise", (H, S) + rows.shape[1:], rows.dtype)
            noise[t : t + len(rows), j] = rows
        if dynamics.step_draws:
            step_u[:, :, j] = rng.random((H, dynamics.step_draws, K))
    return reset_u, noise, step_u if dynamics.step_draws else None


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
    dtype=np.float64,
    max_steps: int | None = None,
    workspace: Workspace | None = None,
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
    alive_buf.fill(False)  # compacted-away episodes are never written again
    env = slice(None)  # the simulated environments: all, or their flat indices once compacted
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


# ---------------------------------------------------------------------------------------------
# Fixed-length segments over N environments with autoreset, for actor-critic methods
# ---------------------------------------------------------------------------------------------

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


def check_spaces(env_id: str, observation_space, action_space) -> EnvSpec:
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
    from pgrad.envs import get_dynamics

    try:
        return get_dynamics(env_id)
    except ValueError:
        return None


def _dynamics_spec(dynamics: Dynamics) -> EnvSpec:
    low, high = getattr(dynamics, "action_low", ()), getattr(dynamics, "action_high", ())
    return EnvSpec(dynamics.id, dynamics.obs_dim, num_actions=dynamics.num_actions if not low else 0,
                   action_low=tuple(low), action_high=tuple(high))


def check_time_limit(time_limit: int) -> int:
    """``time_limit`` if it is a positive integer (a number of steps), else a one-line ValueError."""
    if isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Integral) or time_limit < 1:
        raise ValueError(f"time_limit must be a positive integer, got {time_limit!r}")
    return int(time_limit)


def _make_gym_vec(env_id: str, num_envs: int, time_limit: int | None = None):
    """gymnasium.make_vec(env_id) with same-step autoreset: the step that ends an episode returns
    the first observation of the next one and the true final observation in info["final_obs"].
    ``time_limit`` caps the episodes of an env without a time limit of its own (its spec's
    max_episode_steps is None); an env with one keeps it."""
    import gymnasium
    from gymnasium.vector import AutoresetMode

    from pgrad.envs import gym_spec

    own_limit = gym_spec(env_id).max_episode_steps  # unknown ids: a one-line ValueError
    cap = {}
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


@dataclass(frozen=True)
class Segment:
    """T steps of N environments for each of S seeds, time first; episodes run on across
    segments and restart automatically when they end.

    obs: [T, S, N, d] s_t;  act: [T, S, N, ...] a_t as sampled (Box actions unclipped);
    rew: [T, S, N] r_t;  terminated, truncated: [T, S, N] the flags of step t (never merged;
    both can be true);  next_obs: [T, S, N, d] the observation after step t: s_{t+1} inside an
    episode, the true final observation where the episode ended at t (never the reset one), and
    at t = T-1 the observation the next segment starts from.
    episode_returns, episode_lengths: per seed, the undiscounted returns and lengths of the
    episodes that finished during the segment, in the order they finished.
    """

    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    next_obs: np.ndarray
    episode_returns: tuple[np.ndarray, ...]
    episode_lengths: tuple[np.ndarray, ...]


def _draw_segment_noise(policy: Policy, rngs: Sequence[np.random.Generator], T: int, N: int,
                        reset_draws: int, step_draws: int):
    """Each seed's randomness for one segment, in this order from its own generator: action noise
    [T, S, N, ...], reset uniforms [T, r, S, N], transition uniforms [T, q, S, N] (or None)."""
    noise = np.stack([policy.noise(rng, (T, N)) for rng in rngs], axis=1)
    reset_u = np.stack([rng.random((T, reset_draws, N)) for rng in rngs], axis=2)
    step_u = None
    if step_draws:
        step_u = np.stack([rng.random((T, step_draws, N)) for rng in rngs], axis=2)
    return noise, reset_u, step_u


class _Episodes:
    """Running returns and lengths of S x N environments, and the episodes finished so far."""

    def __init__(self, ep_return: np.ndarray, ep_length: np.ndarray):
        self.ep_return, self.ep_length = ep_return, ep_length
        S = ep_return.shape[0]
        self.returns: list[list[np.ndarray]] = [[] for _ in range(S)]
        self.lengths: list[list[np.ndarray]] = [[] for _ in range(S)]

    def step(self, rew: np.ndarray) -> None:
        self.ep_return += rew
        self.ep_length += 1

    def finish(self, done: np.ndarray) -> None:
        for j in np.flatnonzero(done.any(axis=1)):
            self.returns[j].append(self.ep_return[j, done[j]].copy())
            self.lengths[j].append(self.ep_length[j, done[j]].copy())
        self.ep_return[done] = 0.0
        self.ep_length[done] = 0

    def finished(self) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        def cat(parts, dtype):
            return np.concatenate(parts) if parts else np.zeros(0, dtype)
        return (tuple(cat(r, np.float64) for r in self.returns),
                tuple(cat(n, np.int64) for n in self.lengths))


class DynamicsSegments:
    """Segments from N copies per seed of one of pgrad's fused, pure :class:`Dynamics` (the fast
    path): state [state_dim, S, N] in numpy, same-step autoreset, time limit from the dynamics.

    Seed s draws, from its own generator, its initial states here and then, per segment, its
    action noise, reset uniforms for every (t, env) and transition uniforms (one call each), so
    seed s gives the same segments alone as beside other seeds.
    """

    def __init__(self, dynamics: Dynamics, num_envs: int, rngs: Sequence[np.random.Generator], *,
                 dtype=np.float64):
        if num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs}")
        self.dynamics, self.spec, self.num_envs = dynamics, _dynamics_spec(dynamics), num_envs
        self.rngs, self.dtype = list(rngs), np.dtype(dtype)
        u = np.stack([rng.random((dynamics.reset_draws, num_envs)) for rng in self.rngs], axis=1)
        self.state = dynamics.reset(u.astype(self.dtype))
        self.ep_return = np.zeros((len(self.rngs), num_envs))
        self.ep_length = np.zeros((len(self.rngs), num_envs), np.int64)

    def sample(self, policy: Policy, theta: np.ndarray, num_steps: int,
               seeds: np.ndarray | None = None) -> Segment:
        """The next ``num_steps`` steps under pi_theta of the seeds ``seeds`` (indices into the
        generators; default all), theta: [len(seeds), d]."""
        dyn, N, T = self.dynamics, self.num_envs, num_steps
        idx = np.arange(len(self.rngs)) if seeds is None else np.asarray(seeds)
        if theta.ndim != 2 or theta.shape[0] != len(idx):
            raise ValueError(f"theta must be [S, d] with S = {len(idx)} seeds, got {theta.shape}")
        noise, reset_u, step_u = _draw_segment_noise(policy, [self.rngs[i] for i in idx], T, N,
                                                     dyn.reset_draws, dyn.step_draws)
        state = self.state[:, idx]
        episodes = _Episodes(self.ep_return[idx], self.ep_length[idx])
        S = len(idx)
        obs_buf = np.empty((T, S, N, dyn.obs_dim))
        next_buf = np.empty((T, S, N, dyn.obs_dim))
        act_buf = np.empty((T, S, N) + policy.action_shape, policy.action_dtype)
        rew_buf = np.empty((T, S, N))
        term_buf = np.empty((T, S, N), bool)
        trunc_buf = np.empty((T, S, N), bool)
        obs = dyn.observe(state).transpose(1, 2, 0)
        for t in range(T):
            obs_buf[t] = obs
            act_buf[t] = act = policy.act(theta, obs, noise[t])
            u = () if step_u is None else (step_u[t],)
            state, rew, terminated = dyn.step(state, to_env_action(self.spec, act), *u)
            episodes.step(rew)
            truncated = episodes.ep_length >= dyn.max_episode_steps
            next_buf[t] = obs = dyn.observe(state).transpose(1, 2, 0)
            rew_buf[t], term_buf[t], trunc_buf[t] = rew, terminated, truncated
            done = terminated | truncated
            if done.any():
                episodes.finish(done)
                state[:, done] = dyn.reset(reset_u[t][:, done].astype(self.dtype, copy=False))
                obs = dyn.observe(state).transpose(1, 2, 0)
        self.state[:, idx] = state
        self.ep_return[idx], self.ep_length[idx] = episodes.ep_return, episodes.ep_length
        return Segment(obs_buf, act_buf, rew_buf, term_buf, trunc_buf, next_buf, *episodes.finished())

    def close(self) -> None:
        """Nothing to release: the fused dynamics hold only arrays (GymSegments closes its envs)."""


class GymSegments:
    """Segments from any Gymnasium id: one ``gymnasium.make_vec`` of N environments per seed
    (synchronous, same-step autoreset), stepped in lockstep with the policy acting on all seeds
    at once. The step that ends an episode keeps the true final observation
    (``info["final_obs"]``) in next_obs; the reset observation starts the next step, so no
    reset transition is ever recorded. Seed s seeds its environments and draws its action
    noise from its own generator. ``time_limit`` caps the episodes of envs without a time
    limit of their own (:func:`_make_gym_vec`).
    """

    def __init__(self, env_id: str, num_envs: int, rngs: Sequence[np.random.Generator], *,
                 time_limit: int | None = None):
        if num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs}")
        self.rngs, self.num_envs = list(rngs), num_envs
        self.envs = []
        try:
            for _ in self.rngs:
                self.envs.append(_make_gym_vec(env_id, num_envs, time_limit))
            first = self.envs[0]
            self.spec = check_spaces(env_id, first.single_observation_space, first.single_action_space)
            self._obs_space = first.single_observation_space
            self._one_hot = not hasattr(self._obs_space, "low")  # Discrete observations
            self.obs = np.stack([self._observe(env.reset(seed=int(rng.integers(2**31 - 1)))[0])
                                 for env, rng in zip(self.envs, self.rngs, strict=True)])
        except BaseException:
            self.close()
            raise
        self.ep_return = np.zeros((len(self.rngs), num_envs))
        self.ep_length = np.zeros((len(self.rngs), num_envs), np.int64)

    def _observe(self, obs) -> np.ndarray:
        """Gymnasium observations [N, ...] -> float64 [N, obs_dim] (Discrete: one-hot)."""
        obs = np.asarray(obs)
        if self._one_hot:
            return (obs[:, None] - self._obs_space.start == np.arange(self.spec.obs_dim)).astype(np.float64)
        return obs.reshape(obs.shape[0], -1).astype(np.float64)

    def sample(self, policy: Policy, theta: np.ndarray, num_steps: int,
               seeds: np.ndarray | None = None) -> Segment:
        """The next ``num_steps`` steps under pi_theta of the seeds ``seeds`` (default all)."""
        N, T = self.num_envs, num_steps
        idx = np.arange(len(self.rngs)) if seeds is None else np.asarray(seeds)
        if theta.ndim != 2 or theta.shape[0] != len(idx):
            raise ValueError(f"theta must be [S, d] with S = {len(idx)} seeds, got {theta.shape}")
        noise = np.stack([policy.noise(self.rngs[i], (T, N)) for i in idx], axis=1)
        S, d = len(idx), self.spec.obs_dim
        obs = self.obs[idx]
        episodes = _Episodes(self.ep_return[idx], self.ep_length[idx])
        obs_buf, next_buf = np.empty((T, S, N, d)), np.empty((T, S, N, d))
        act_buf = np.empty((T, S, N) + policy.action_shape, policy.action_dtype)
        rew_buf = np.empty((T, S, N))
        term_buf, trunc_buf = np.empty((T, S, N), bool), np.empty((T, S, N), bool)
        for t in range(T):
            obs_buf[t] = obs
            act_buf[t] = act = policy.act(theta, obs, noise[t])
            env_act = to_env_action(self.spec, act)
            obs = np.empty_like(obs)
            for j, i in enumerate(idx):
                space = self.envs[i].single_action_space
                o, rew_buf[t, j], term_buf[t, j], trunc_buf[t, j], info = self.envs[i].step(
                    np.asarray(env_act[j]).astype(space.dtype))
                obs[j] = self._observe(o)
                next_buf[t, j] = obs[j]
                if "_final_obs" in info and info["_final_obs"].any():
                    ended = info["_final_obs"]
                    next_buf[t, j, ended] = self._observe(np.stack(info["final_obs"][ended]))
            episodes.step(rew_buf[t])
            episodes.finish(term_buf[t] | trunc_buf[t])
        self.obs[idx] = obs
        self.ep_return[idx], self.ep_length[idx] = episodes.ep_return, episodes.ep_length
        return Segment(obs_buf, act_buf, rew_buf, term_buf, trunc_buf, next_buf, *episodes.finished())

    def close(self) -> None:
        for env in self.envs:
            env.close()


def make_segments(env_id: str, num_envs: int, rngs: Sequence[np.random.Generator], *,
                  dtype=np.float64, time_limit: int | None = None) -> DynamicsSegments | GymSegments:
    """A segment sampler for ``env_id``: pgrad's fused dynamics when pgrad implements the id,
    else Gymnasium's own vector environments (spaces checked up front), their episodes capped at
    ``time_limit`` steps where the env has no time limit of its own."""
    dynamics = _pgrad_dynamics(env_id)
    if dynamics is not None:
        return DynamicsSegments(dynamics, num_envs, rngs, dtype=dtype)
    return GymSegments(env_id, num_envs, rngs, time_limit=time_limit)


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
