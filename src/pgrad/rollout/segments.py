"""Fixed-length segments over N environments per seed with autoreset, for actor-critic methods.

Two samplers, one per kind of environment, fill the same :class:`SegmentBuffer` and return
the same :class:`Segment`: :class:`DynamicsSegments` steps pgrad's fused dynamics as one numpy
batch, :class:`GymSegments` steps Gymnasium's own vector environments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from pgrad.envs import Dynamics
from pgrad.policies import Policy
from pgrad.rollout import compiled
from pgrad.rollout.spaces import _dynamics_spec, _make_gym_vec, _pgrad_dynamics, check_spaces, to_env_action

if TYPE_CHECKING:
    from gymnasium.spaces import Discrete
    from gymnasium.vector import VectorEnv

    from pgrad.noise import OrnsteinUhlenbeck


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


class _Episodes:
    """Running returns and lengths of S x N environments, and the episodes finished so far."""

    def __init__(self, ep_return: np.ndarray, ep_length: np.ndarray) -> None:
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
        def cat(parts: list[np.ndarray], dtype: DTypeLike) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype)
        return (tuple(cat(r, np.float64) for r in self.returns),
                tuple(cat(n, np.int64) for n in self.lengths))


@dataclass(frozen=True)
class SegmentBuffer:
    """The step arrays of one segment, which a sampler fills in place at each step t:
    obs, next_obs: [T, S, N, d] float64;  act: [T, S, N, ...] in the policy's action shape and
    dtype;  rew: [T, S, N] float64;  terminated, truncated: [T, S, N] bool. Every entry is
    written before :meth:`segment` hands the arrays over (they start uninitialised)."""

    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    next_obs: np.ndarray

    @classmethod
    def empty(cls, num_steps: int, num_seeds: int, num_envs: int, obs_dim: int,
              policy: Policy) -> SegmentBuffer:
        """Uninitialised arrays for T = ``num_steps`` steps of N = ``num_envs`` envs of S seeds."""
        T, S, N = num_steps, num_seeds, num_envs
        return cls(obs=np.empty((T, S, N, obs_dim)),
                   act=np.empty((T, S, N) + policy.action_shape, policy.action_dtype),
                   rew=np.empty((T, S, N)), terminated=np.empty((T, S, N), bool),
                   truncated=np.empty((T, S, N), bool), next_obs=np.empty((T, S, N, obs_dim)))

    def segment(self, episodes: _Episodes) -> Segment:
        """The filled arrays (not copies) and the episodes that finished during the segment."""
        return Segment(self.obs, self.act, self.rew, self.terminated, self.truncated, self.next_obs,
                       *episodes.finished())


def _seed_rows(num_seeds: int, theta: np.ndarray, seeds: np.ndarray | None) -> np.ndarray:
    """The generator indices ``seeds`` (default all ``num_seeds``), checked against theta: [S, d]."""
    idx = np.arange(num_seeds) if seeds is None else np.asarray(seeds)
    if theta.ndim != 2 or theta.shape[0] != len(idx):
        raise ValueError(f"theta must be [S, d] with S = {len(idx)} seeds, got {theta.shape}")
    return idx


def _draw_segment_noise(policy: Policy, rngs: Sequence[np.random.Generator], T: int, N: int,
                        reset_draws: int, step_draws: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Each seed's randomness for one segment, in this order from its own generator: action noise
    [T, S, N, ...], reset uniforms [T, r, S, N], transition uniforms [T, q, S, N] (or None)."""
    noise = np.stack([policy.noise(rng, (T, N)) for rng in rngs], axis=1)
    reset_u = np.stack([rng.random((T, reset_draws, N)) for rng in rngs], axis=2)
    step_u = None
    if step_draws:
        step_u = np.stack([rng.random((T, step_draws, N)) for rng in rngs], axis=2)
    return noise, reset_u, step_u


class DynamicsSegments:
    """Segments from N copies per seed of one of pgrad's fused, pure :class:`Dynamics` (the fast
    path): state [state_dim, S, N] in numpy, same-step autoreset, time limit from the dynamics.

    Seed s draws, from its own generator, its initial states here and then, per segment, its
    action noise, reset uniforms for every (t, env) and transition uniforms (one call each), so
    seed s gives the same segments alone as beside other seeds.
    """

    def __init__(self, dynamics: Dynamics, num_envs: int, rngs: Sequence[np.random.Generator], *,
                 dtype: DTypeLike = np.float64) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs}")
        self.dynamics, self.spec, self.num_envs = dynamics, _dynamics_spec(dynamics), num_envs
        self.rngs, self.dtype = list(rngs), np.dtype(dtype)
        u = np.stack([rng.random((dynamics.reset_draws, num_envs)) for rng in self.rngs], axis=1)
        self.state = dynamics.reset(u.astype(self.dtype))
        self.ep_return = np.zeros((len(self.rngs), num_envs))
        self.ep_length = np.zeros((len(self.rngs), num_envs), np.int64)

    def sample(self, policy: Policy, theta: np.ndarray, num_steps: int,
               seeds: np.ndarray | None = None, process: OrnsteinUhlenbeck | None = None) -> Segment:
        """The next ``num_steps`` steps under pi_theta of the seeds ``seeds`` (indices into the
        generators; default all), theta: [len(seeds), d]. With a noise ``process`` the policy acts
        on its y_{t+1} from each step's noise, and each ended episode restarts it."""
        dyn, N, T = self.dynamics, self.num_envs, num_steps
        idx = _seed_rows(len(self.rngs), theta, seeds)
        noise, reset_u, step_u = _draw_segment_noise(policy, [self.rngs[i] for i in idx], T, N,
                                                     dyn.reset_draws, dyn.step_draws)
        state = self.state[:, idx]
        episodes = _Episodes(self.ep_return[idx], self.ep_length[idx])
        buf = SegmentBuffer.empty(T, len(idx), N, dyn.obs_dim, policy)
        obs = dyn.observe(state).transpose(1, 2, 0)
        step = compiled.vector_step(dyn, self.dtype, T * len(idx) * N) or dyn.step  # the same bits
        for t in range(T):
            buf.obs[t] = obs
            eps = noise[t] if process is None else process.next(noise[t], idx)
            buf.act[t] = act = policy.act(theta, obs, eps)
            u = () if step_u is None else (step_u[t],)
            state, rew, terminated = step(state, to_env_action(self.spec, act), *u)
            episodes.step(rew)
            truncated = episodes.ep_length >= dyn.max_episode_steps
            buf.next_obs[t] = obs = dyn.observe(state).transpose(1, 2, 0)
            buf.rew[t], buf.terminated[t], buf.truncated[t] = rew, terminated, truncated
            done = terminated | truncated
            if process is not None:
                process.reset(idx, done)
            if done.any():
                episodes.finish(done)
                state[:, done] = dyn.reset(reset_u[t][:, done].astype(self.dtype, copy=False))
                obs = dyn.observe(state).transpose(1, 2, 0)
        self.state[:, idx] = state
        self.ep_return[idx], self.ep_length[idx] = episodes.ep_return, episodes.ep_length
        return buf.segment(episodes)

    def close(self) -> None:
        """Nothing to release: the fused dynamics hold only arrays (GymSegments closes its envs)."""


class GymSegments:
    """Segments from any Gymnasium id: one ``gymnasium.make_vec`` of N environments per seed
    (synchronous, same-step autoreset), stepped in lockstep with the policy acting on all seeds
    at once. The step that ends an episode keeps the true final observation
    (``info["final_obs"]``) in next_obs; the reset observation starts the next step, so no
    reset transition is ever recorded. Seed s seeds its environments and draws its action
    noise from its own generator. ``time_limit`` caps the episodes of envs without a time
    limit of their own (:func:`~pgrad.rollout.spaces._make_gym_vec`).
    """

    def __init__(self, env_id: str, num_envs: int, rngs: Sequence[np.random.Generator], *,
                 time_limit: int | None = None) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs}")
        self.rngs, self.num_envs = list(rngs), num_envs
        self.envs: list[VectorEnv[Any, Any, Any]] = []
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

    def _observe(self, obs: ArrayLike) -> np.ndarray:
        """Gymnasium observations [N, ...] -> float64 [N, obs_dim] (Discrete: one-hot)."""
        obs = np.asarray(obs)
        if self._one_hot:
            start = cast("Discrete", self._obs_space).start
            return (obs[:, None] - start == np.arange(self.spec.obs_dim)).astype(np.float64)
        return obs.reshape(obs.shape[0], -1).astype(np.float64)

    def sample(self, policy: Policy, theta: np.ndarray, num_steps: int,
               seeds: np.ndarray | None = None, process: OrnsteinUhlenbeck | None = None) -> Segment:
        """The next ``num_steps`` steps under pi_theta of the seeds ``seeds`` (default all); a noise
        ``process`` as in :meth:`DynamicsSegments.sample`."""
        N, T = self.num_envs, num_steps
        idx = _seed_rows(len(self.rngs), theta, seeds)
        noise = np.stack([policy.noise(self.rngs[i], (T, N)) for i in idx], axis=1)
        obs = self.obs[idx]
        episodes = _Episodes(self.ep_return[idx], self.ep_length[idx])
        buf = SegmentBuffer.empty(T, len(idx), N, self.spec.obs_dim, policy)
        for t in range(T):
            buf.obs[t] = obs
            eps = noise[t] if process is None else process.next(noise[t], idx)
            buf.act[t] = act = policy.act(theta, obs, eps)
            env_act = to_env_action(self.spec, act)
            obs = np.empty_like(obs)
            for j, i in enumerate(idx):
                space = self.envs[i].single_action_space
                o, buf.rew[t, j], buf.terminated[t, j], buf.truncated[t, j], info = self.envs[i].step(
                    np.asarray(env_act[j]).astype(space.dtype))
                obs[j] = self._observe(o)
                buf.next_obs[t, j] = obs[j]
                if "_final_obs" in info and info["_final_obs"].any():
                    ended = info["_final_obs"]
                    buf.next_obs[t, j, ended] = self._observe(np.stack(info["final_obs"][ended]))
            episodes.step(buf.rew[t])
            episodes.finish(buf.terminated[t] | buf.truncated[t])
            if process is not None:
                process.reset(idx, buf.terminated[t] | buf.truncated[t])
        self.obs[idx] = obs
        self.ep_return[idx], self.ep_length[idx] = episodes.ep_return, episodes.ep_length
        return buf.segment(episodes)

    def close(self) -> None:
        """Close every seed's vector environment."""
        for env in self.envs:
            env.close()


def make_segments(env_id: str, num_envs: int, rngs: Sequence[np.random.Generator], *,
                  dtype: DTypeLike = np.float64,
                  time_limit: int | None = None) -> DynamicsSegments | GymSegments:
    """A segment sampler for ``env_id``: pgrad's fused dynamics when pgrad implements the id,
    else Gymnasium's own vector environments (spaces checked up front), their episodes capped at
    ``time_limit`` steps where the env has no time limit of its own."""
    dynamics = _pgrad_dynamics(env_id)
    if dynamics is not None:
        return DynamicsSegments(dynamics, num_envs, rngs, dtype=dtype)
    return GymSegments(env_id, num_envs, rngs, time_limit=time_limit)
