"""What DDPG, TD3 and SAC share: their config base, and the off-policy algorithm the training
loop runs (its state, one sample and one learn step, checkpoints).

    sample   T steps of N environments per seed: uniform actions until learning_starts, then
             the actor's exploring actions; store (s, a, r, s', terminated, truncated)
    learn    G gradient steps, each on B transitions drawn from the seed's replay buffer
             (the algorithm's ``gradient_step``: critics to the TD target, the actor, targets)

Everything a seed needs is its own: its buffer, networks, optimiser states and generator (the
minibatch rows and every noise of an update drawn from it in one call per kind), so seed s
trains alone exactly as beside other seeds (:mod:`~pgrad.algorithms.off_nets`). A checkpoint
holds the networks, the Adam moments and step counts, the replay buffer, the sampler's
environment states and running episodes: a resumed run continues bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from pgrad.algorithms.ac_agent import torch_installed
from pgrad.algorithms.ac_samples import seed_first
from pgrad.algorithms.off_nets import Actor, Adam, init_mlp, parse_net_arch, rows_of, scale
from pgrad.config import (
    check_choices,
    param,
    positive_ints,
    solve_threshold_field,
    solve_window_field,
    time_limit_field,
)
from pgrad.noise import OrnsteinUhlenbeck
from pgrad.policies.mlp import MLP, TORCH_HINT, require_torch
from pgrad.replay import ReplayBuffer
from pgrad.rollout import DynamicsSegments, EnvSpec, GymSegments, check_time_limit, env_spec, make_segments
from pgrad.training.checkpoint import restorable
from pgrad.training.log import PER_SEED, fill
from pgrad.training.loop import Algorithm, Sample

if TYPE_CHECKING:
    from torch import Tensor

    from pgrad.policies import Policy


@dataclass(frozen=True)
class OffPolicyConfig:
    """The fields DDPG, TD3 and SAC share (each algorithm changes some defaults, adds its own)."""

    env_id: str = param("Pendulum-v1", "environment with Box actions: pgrad's own dynamics or any "
                         "Gymnasium id")
    net_arch: str = param("64,64", "hidden layer widths of the actor and of each critic (ReLU MLPs; "
                             "64,64 or 64x64; multiples of 4 keep a seed in a batch bit-identical to "
                             "the seed alone)")
    num_envs: int = param(1, "N, environments per seed, stepped in lockstep")
    train_freq: int = param(1, "T, steps per environment between updates")
    gradient_steps: int = param(1, "G, gradient steps per update")
    batch_size: int = param(256, "B, transitions per gradient step, drawn uniformly from the replay buffer")
    buffer_size: int = param(1_000_000, "replay buffer capacity per seed (transitions)")
    learning_starts: int = param(100, "environment steps per seed with uniform random actions before "
                                 "learning")
    gamma: float = param(0.99, "discount factor gamma in [0, 1]")
    tau: float = param(0.005, "Polyak coefficient tau in (0, 1] of the target networks")
    lr: float = param(1e-3, "Adam learning rate of the actor and the critics")
    max_steps: int = param(20_000, "stop a seed after this many environment steps")
    time_limit: int = time_limit_field()
    solve_threshold: float | None = solve_threshold_field()
    solve_window: int = solve_window_field()
    eval_episodes: int = param(10, "episodes for the final evaluation")

    def __post_init__(self) -> None:
        check_choices(self)
        check_config(self)

    @property
    def hidden(self) -> tuple[int, ...]:
        """The hidden layer widths of ``net_arch``."""
        return parse_net_arch(self.net_arch)

    @property
    def capacity(self) -> int:
        """Rows of each seed's buffer: buffer_size, or fewer if max_steps cannot fill it."""
        return min(self.buffer_size, self.max_steps + self.num_envs * self.train_freq)


def check_config(config: OffPolicyConfig) -> None:
    """The one-line checks of an off-policy config (types and choices: ``check_choices``)."""
    if not 0.0 <= config.gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {config.gamma}")
    if not 0.0 < config.tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {config.tau}")
    if not config.lr > 0:
        raise ValueError(f"lr must be positive, got {config.lr}")
    if config.learning_starts < 0:
        raise ValueError(f"learning_starts must be >= 0, got {config.learning_starts}")
    positive_ints(config, "num_envs", "train_freq", "gradient_steps", "batch_size", "buffer_size",
                  "max_steps", "solve_window", "eval_episodes")
    if config.buffer_size < config.num_envs * config.train_freq:
        raise ValueError(f"buffer_size must hold one update's num_envs * train_freq = "
                         f"{config.num_envs * config.train_freq} transitions, got {config.buffer_size}")
    config.hidden  # noqa: B018  (a one-line ValueError for a bad net_arch)
    check_time_limit(config.time_limit)
    if not torch_installed():
        raise ValueError(TORCH_HINT)
    if env_spec(config.env_id).discrete:
        raise ValueError(f"{config.env_id} has discrete actions; DDPG, TD3 and SAC need a Box action space")


def make_actor(config: Any, spec: EnvSpec) -> Actor:
    """The actor of ``config`` for the environment's spaces: deterministic (DDPG, TD3: exploring
    with N(0, action_noise^2) in [-1, 1] units) or squashed Gaussian (SAC)."""
    kind = "squashed" if getattr(config, "squashed", False) else "deterministic"
    return Actor(spec.obs_dim, spec.action_dim, config.hidden, spec.action_low, spec.action_high, kind,
                 getattr(config, "action_noise", 0.0))


def make_policy(config: Any, spec: EnvSpec | None = None) -> Actor:
    """The actor as a policy (for ``pgrad eval`` and ``pgrad.load``); theta is its parameters."""
    return make_actor(config, spec if spec is not None else env_spec(config.env_id))


def critic_net(config: Any, spec: EnvSpec) -> MLP:
    """Q(s, a): obs_dim + action_dim -> hidden -> 1."""
    return MLP((spec.obs_dim + spec.action_dim, *config.hidden, 1))


@dataclass
class OffPolicyState:
    """One off-policy run over S seeds: the actor (as a policy), the networks as float32 tensors
    (``actor`` [S, d], ``critic`` and ``critic_target`` [S, K, d_Q], maybe ``actor_target``
    [S, d] and ``log_alpha`` [S, 1]), their Adam states, each seed's gradient steps ``updates``
    [S] and environment steps ``steps`` [S], the replay buffer, the sampler and the generators."""

    spec: EnvSpec
    actor: Actor
    nets: dict[str, Tensor]
    opts: dict[str, Adam]
    updates: np.ndarray
    steps: np.ndarray
    buffer: ReplayBuffer
    sampler: DynamicsSegments | GymSegments
    rngs: list[np.random.Generator]
    noise: OrnsteinUhlenbeck | None = None
    """DDPG's and TD3's Ornstein-Uhlenbeck exploration (``noise_type``), else None."""


GradientStep = Callable[[Any, OffPolicyState, np.ndarray, dict[str, np.ndarray], int],
                        tuple[np.ndarray, dict[str, np.ndarray]]]
"""gradient_step(config, state, idx, draws, g) -> (finite [len(idx)], per-seed metrics): the g-th
gradient step of this update for the seeds idx; draws: this update's randomness of those seeds."""
Draws = Callable[[Any, OffPolicyState, np.ndarray], dict[str, np.ndarray]]
"""draws(config, state, idx) -> each kind of this update's randomness, [len(idx), G, ...]."""


def init(config: Any, rngs: list[np.random.Generator], *, critics: int = 2, actor_target: bool = True,
         log_alpha: float | None = None) -> OffPolicyState:
    """The sampler (initial states from each seed's generator), then per seed the actor's and the
    ``critics`` critics' weights; targets start as copies; SAC's log alpha starts at ``log_alpha``."""
    torch = require_torch()
    sampler = make_segments(config.env_id, config.num_envs, rngs, time_limit=config.time_limit)
    spec = sampler.spec
    actor = make_actor(config, spec)
    S, q_net = len(rngs), critic_net(config, spec)
    nets = {"actor": torch.from_numpy(init_mlp(actor.net, rngs)),
            "critic": torch.from_numpy(np.stack([init_mlp(q_net, [rng] * critics) for rng in rngs]))}
    nets["critic_target"] = nets["critic"].clone()
    if actor_target:
        nets["actor_target"] = nets["actor"].clone()
    if log_alpha is not None:
        nets["log_alpha"] = torch.full((S, 1), float(log_alpha))
    trained = [k for k in ("actor", "critic", "log_alpha") if k in nets]
    opts: dict[str, Adam] = {k: Adam.zeros_like(nets[k]) for k in trained}
    buffer = ReplayBuffer(S, config.capacity, spec.obs_dim, spec.action_dim)
    noise = None
    if getattr(config, "noise_type", "normal") == "ornstein-uhlenbeck":
        noise = OrnsteinUhlenbeck(S, config.num_envs, spec.action_dim, theta=config.noise_theta,
                                  dt=config.noise_dt)
    return OffPolicyState(spec, actor, nets, opts, np.zeros(S, np.int64), np.zeros(S, np.int64), buffer,
                          sampler, rngs, noise)


def sample(config: Any, state: OffPolicyState, idx: np.ndarray) -> Sample:
    """T steps of N environments of the seeds idx into their buffers (actions stored in [-1, 1])."""
    warmup = bool(state.steps[idx[0]] < config.learning_starts)  # seeds run in lockstep
    policy = state.actor.with_kind("uniform") if warmup else state.actor
    theta = rows_of(state.nets["actor"], idx).numpy()
    segment = state.sampler.sample(cast("Policy", policy), theta, config.train_freq, idx,
                                   None if warmup else state.noise)
    low, high = np.asarray(state.spec.action_low), np.asarray(state.spec.action_high)
    state.buffer.add(idx, seed_first(segment.obs), scale(seed_first(segment.act), low, high),
                     seed_first(segment.rew), seed_first(segment.next_obs), seed_first(segment.terminated),
                     seed_first(segment.truncated))
    batch = config.num_envs * config.train_freq
    state.steps[idx] += batch
    return Sample(segment.episode_returns, segment.episode_lengths, np.full(len(idx), batch, np.int64), None)


def make_learn(draws: Draws, gradient_step: GradientStep) -> Callable[..., tuple[np.ndarray, dict]]:
    """The learn step: G gradient steps for the seeds past learning_starts; a seed whose loss is
    not finite takes no further step (its parameters stay as they were) and stops, diverged."""

    def learn(config: Any, state: OffPolicyState, idx: np.ndarray, sampled: Sample,
              steps: np.ndarray) -> tuple[np.ndarray, dict]:
        ok = np.ones(len(idx), bool)
        ready = state.steps[idx] > config.learning_starts
        if not ready.any():
            return ok, {}
        rows = idx[ready]
        noise = draws(config, state, rows)
        alive = np.ones(len(rows), bool)
        sums: dict[str, np.ndarray] = {}
        for g in range(config.gradient_steps):
            live = np.flatnonzero(alive)
            draws_g = {k: v[live] for k, v in noise.items()}
            finite, metrics = gradient_step(config, state, rows[live], draws_g, g)
            alive[live[~finite]] = False
            for k, v in metrics.items():
                sums.setdefault(k, np.zeros(len(rows)))[live] += v
        ok[ready] = alive
        per_seed = {k: v / config.gradient_steps for k, v in sums.items()}
        return ok, {k: float(np.mean(v)) for k, v in per_seed.items()} | {PER_SEED: per_seed}

    return learn


def draw_rows(config: Any, state: OffPolicyState, idx: np.ndarray, *noise: int) -> dict[str, np.ndarray]:
    """One update's randomness of the seeds idx, from each seed's generator in this order: the
    minibatch rows [G, B], then each standard normal draw of ``noise`` ([G, B, m] each)."""
    G, B, m = config.gradient_steps, config.batch_size, state.spec.action_dim
    rngs = [state.rngs[i] for i in idx]
    rows = state.buffer.draw(idx, rngs, (G, B))
    out = {"rows": rows}
    if noise:
        eps = np.stack([np.stack([rng.standard_normal((G, B, m)) for _ in noise]) for rng in rngs])
        out |= {f"eps{k}": eps[:, k] for k in range(len(noise))}
    return out


def save(state: OffPolicyState) -> dict[str, np.ndarray]:
    """The networks, Adam's moments and step counts, the counters, the replay buffer, the
    sampler's environment states and running episodes, and an Ornstein-Uhlenbeck noise's state."""
    sampler = state.sampler
    env = {"env_state": sampler.state} if isinstance(sampler, DynamicsSegments) else {"obs": sampler.obs}
    if state.noise is not None:
        env["noise_state"] = state.noise.state
    return {**{f"net/{k}": t.numpy() for k, t in state.nets.items()},
            **{f"opt/{k}/{part}": getattr(a, part).numpy() if part != "t" else a.t
               for k, a in state.opts.items() for part in ("m", "v", "t")},
            "updates": state.updates, "steps": state.steps,
            **{f"buffer/{k}": v for k, v in state.buffer.arrays().items()},
            **env, "ep_return": sampler.ep_return, "ep_length": sampler.ep_length}


def make_load(init_fn: Callable[[Any, list[np.random.Generator]], OffPolicyState]
              ) -> Callable[[Any, list[np.random.Generator], dict[str, np.ndarray]], OffPolicyState]:
    """load(config, rngs, arrays): the state :func:`save` wrote; built on throw-away generators, so
    that the restored ones are left exactly as the checkpoint holds them."""

    def load(config: Any, rngs: list[np.random.Generator], arrays: dict[str, np.ndarray]) -> OffPolicyState:
        state = init_fn(config, [np.random.default_rng(0) for _ in rngs])
        state.rngs[:] = rngs
        state.sampler.rngs[:] = rngs
        if not isinstance(state.sampler, DynamicsSegments):
            raise ValueError(restorable(config))
        targets = {"updates": state.updates, "steps": state.steps, "env_state": state.sampler.state,
                   "ep_return": state.sampler.ep_return, "ep_length": state.sampler.ep_length,
                   **{f"buffer/{k}": v for k, v in state.buffer.arrays().items()},
                   **{f"net/{k}": t.numpy() for k, t in state.nets.items()},
                   **{f"opt/{k}/{part}": getattr(a, part).numpy() if part != "t" else a.t
                      for k, a in state.opts.items() for part in ("m", "v", "t")}}
        if state.noise is not None:
            targets["noise_state"] = state.noise.state
        for name, target in targets.items():
            fill(target, arrays[name], name)
        return state

    return load


def make_algorithm(init_fn: Callable[[Any, list[np.random.Generator]], OffPolicyState], draws: Draws,
                   gradient_step: GradientStep) -> Algorithm:
    """An off-policy algorithm as the training loop runs it; theta is the actor's parameters
    (float64 copies), and there is no value function in the run folder."""
    return Algorithm(init=init_fn, sample=sample, learn=make_learn(draws, gradient_step), save=save,
                     load=make_load(init_fn),
                     params=lambda state: (state.nets["actor"].numpy().astype(np.float64), None),
                     close=lambda state: state.sampler.close(), restorable=restorable)


def to_torch(*arrays: np.ndarray) -> Sequence[Tensor]:
    """numpy arrays -> float32 torch tensors (bools as 0 / 1)."""
    torch = require_torch()
    return [torch.from_numpy(np.ascontiguousarray(x, np.float32)) for x in arrays]
