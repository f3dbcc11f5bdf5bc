"""What A2C and PPO share: their config fields and checks, and the actor-critic algorithm the
training loop runs (its state, one sample and one learn step, checkpoints).

    sample   T steps of N environments per seed with pi_theta        (the segment sampler)
    learn    A = GAE(gamma, lambda) with V; R = A + V                   (``ac_samples.estimate``)
             ascend J (the algorithm's ``ascend``: one step, or E epochs of minibatches)
             refit V to R (linear: least squares; MLP: J's value term)

The objective and its gradients are in :mod:`~pgrad.algorithms.ac_gradients`, the agent in
:mod:`~pgrad.algorithms.ac_agent`, the samples and diagnostics in
:mod:`~pgrad.algorithms.ac_samples`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pgrad.algorithms.ac_agent import POLICIES, Agent, init_params, make_agent, make_policy, torch_installed
from pgrad.algorithms.ac_samples import Samples, estimate, fit_value, select, value_diagnostics
from pgrad.config import (
    check_choices,
    eval_episodes_field,
    param,
    positive_ints,
    solve_threshold_field,
    solve_window_field,
    time_limit_field,
)
from pgrad.optim import Adam, finite_rows, linear_decay, put, take
from pgrad.policies.mlp import TORCH_HINT
from pgrad.rollout import (
    DynamicsSegments,
    GymSegments,
    check_time_limit,
    env_spec,
    evaluate_env,
    make_segments,
    seed_streams,
)
from pgrad.training import loop
from pgrad.training.checkpoint import restorable
from pgrad.training.log import PER_SEED, fill
from pgrad.training.loop import Algorithm, Sample, TrainResult
from pgrad.values import VALUE_FEATURES

LR_SCHEDULES = ("constant", "linear")
LOG_STD_BOUND = 20.0
"""init_log_std must lie in [-20, 20]: sigma from 2e-9 to 5e8."""


@dataclass(frozen=True)
class ActorCriticConfig:
    """The fields A2C and PPO share, with A2C's defaults (PPO changes a few and adds its own)."""

    env_id: str = param("CartPole-v1", "environment: pgrad's own dynamics or any Gymnasium id")
    policy: str = param("linear", "policy and value function: linear (numpy) or mlp (torch)", POLICIES)
    num_envs: int = param(16, "N, environments per seed, stepped in lockstep")
    num_steps: int = param(16, "T, steps per environment in each update (n of the n-step returns)")
    gamma: float = param(0.99, "discount factor gamma in [0, 1]")
    gae_lambda: float = param(0.95, "GAE lambda in [0, 1] (1: n-step returns)")
    ent_coef: float = param(0.0, "entropy bonus coefficient")
    vf_coef: float = param(0.5, "value-loss coefficient (MLP; the linear value is fitted by least squares)")
    max_grad_norm: float = param(0.5, "clip each seed's gradient to this Euclidean norm")
    lr: float = param(0.1, "Adam learning rate of the linear policy")
    mlp_lr: float = param(0.003, "Adam learning rate of the MLP policy and value function")
    lr_schedule: str = param("linear", "learning rate: constant, or linear decay to 0 at max_steps",
                             LR_SCHEDULES)
    normalize_advantages: bool = param(True, "standardise the advantages of each update")
    bias: bool = param(False, "bias feature in the linear policy")
    value_features: str = param("quadratic", "features of the linear value function", VALUE_FEATURES)
    value_ridge: float = param(1e-3, "ridge of the linear value fit (towards the previous fit)")
    hidden: int = param(64, "MLP width")
    depth: int = param(2, "MLP hidden layers")
    init_log_std: float = param(0.0, "initial log standard deviation of Gaussian policies, in [-20, 20]")
    max_steps: int = param(300_000, "stop a seed after this many environment steps")
    time_limit: int = time_limit_field()
    float32: bool = param(False, "single-precision environment states (pgrad's own dynamics)")
    solve_threshold: float | None = solve_threshold_field()
    solve_window: int = solve_window_field()
    eval_episodes: int = eval_episodes_field()

    def __post_init__(self) -> None:
        check_choices(self)
        check_config(self)

    @property
    def batch_size(self) -> int:
        """N * T samples per update."""
        return self.num_envs * self.num_steps


def check_config(config: ActorCriticConfig) -> None:
    """The one-line checks of an actor-critic config (types and choices: ``check_choices``)."""
    if not 0.0 <= config.gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {config.gamma}")
    if not 0.0 <= config.gae_lambda <= 1.0:
        raise ValueError(f"gae_lambda must be in [0, 1], got {config.gae_lambda}")
    if not -LOG_STD_BOUND <= config.init_log_std <= LOG_STD_BOUND:
        raise ValueError(f"init_log_std must be in [-{LOG_STD_BOUND:g}, {LOG_STD_BOUND:g}] (sigma = "
                         f"exp(init_log_std) must be a usable float), got {config.init_log_std}")
    for name in ("lr", "mlp_lr", "max_grad_norm", "value_ridge"):
        if not getattr(config, name) > 0:
            raise ValueError(f"{name} must be positive, got {getattr(config, name)}")
    for name in ("ent_coef", "vf_coef"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name} must be non-negative, got {getattr(config, name)}")
    positive_ints(config, "num_envs", "num_steps", "hidden", "depth", "max_steps", "solve_window",
                  "eval_episodes")
    check_time_limit(config.time_limit)
    if config.float32 and restorable(config) is not None:
        raise ValueError(f"float32 runs pgrad's own environments only, not {config.env_id}")
    if config.policy == "mlp" and not torch_installed():
        raise ValueError(TORCH_HINT)
    env_spec(config.env_id)  # unknown ids and unsupported spaces: a one-line ValueError


def learning_rate(config: ActorCriticConfig, steps_done: int) -> float:
    """The learning rate of the configured policy (``lr`` linear, ``mlp_lr`` MLP) after steps_done
    environment steps: constant, or decaying linearly to 0 at max_steps."""
    lr = config.mlp_lr if config.policy == "mlp" else config.lr
    if config.lr_schedule == "constant":
        return lr
    return linear_decay(lr, steps_done / config.max_steps)


@dataclass
class ActorCriticState:
    """One actor-critic run over S seeds: the agent, params [S, d] (MLP: policy and value weights
    together), the value parameters w [S, F], Adam's state, the segment sampler (environment
    states and running episodes) and each seed's generator."""

    agent: Agent
    params: np.ndarray
    w: np.ndarray
    opt_state: tuple[np.ndarray, ...]
    sampler: DynamicsSegments | GymSegments
    rngs: list[np.random.Generator]


Ascend = Callable[..., tuple[np.ndarray, tuple, dict]]
"""ascend(agent, config, params [S, d], Adam state, samples, rngs, lr) -> (params, state, metrics)."""


def init(config: ActorCriticConfig, rngs: list[np.random.Generator]) -> ActorCriticState:
    """The sampler (initial states drawn from each seed's generator), then the agent's parameters."""
    dtype = np.float32 if config.float32 else np.float64
    sampler = make_segments(config.env_id, config.num_envs, rngs, dtype=dtype, time_limit=config.time_limit)
    agent = make_agent(config, sampler.spec)
    params, w = init_params(agent, rngs)  # MLP: params = (theta, w), trained together
    return ActorCriticState(agent, params, w, Adam(config.lr).init(params), sampler, rngs)


def sample(config: ActorCriticConfig, state: ActorCriticState, idx: np.ndarray) -> Sample:
    """The next segment of the seeds ``idx`` (T steps of N environments each); data: (idx, Segment)."""
    theta = state.params[idx, :state.agent.policy.dim]
    segment = state.sampler.sample(state.agent.policy, theta, config.num_steps, idx)
    return Sample(segment.episode_returns, segment.episode_lengths,
                  np.full(len(idx), config.batch_size, np.int64), (idx, segment))


def make_learn(ascend: Ascend, old_log_prob: bool) -> Callable[..., tuple[np.ndarray, dict]]:
    """The learn step of an actor-critic algorithm with this ``ascend``; ``old_log_prob``: keep
    log pi_old of the samples (PPO's ratio needs it)."""

    def learn(config: ActorCriticConfig, state: ActorCriticState, idx: np.ndarray, sampled: Sample,
              steps: np.ndarray) -> tuple[np.ndarray, dict]:
        rows, segment = sampled.data
        segment = select(segment, np.isin(rows, idx))
        agent, params, w = state.agent, state.params, state.w
        data: Samples = estimate(agent, config, params[idx], w[idx], segment,                  # estimate
                                 old_log_prob=old_log_prob)
        lr = learning_rate(config, int(steps[idx[0]]) - config.batch_size)
        step, part, diagnostics = ascend(agent, config, params[idx],                            # ascend
                                         take(state.opt_state, idx), data, [state.rngs[i] for i in idx], lr)
        fit = fit_value(agent, config, step, w[idx], data)
        ok = finite_rows(step, fit, data.ret, *part)  # non-finite: the seed stops as it was
        params[idx[ok]], w[idx[ok]] = step[ok], fit[ok]
        put(state.opt_state, idx[ok], tuple(x[ok] for x in part))
        values = value_diagnostics(data)
        per_seed = {**diagnostics.pop(PER_SEED, {}), **values.pop(PER_SEED), "lr": np.full(len(idx), lr)}
        return ok, diagnostics | values | {"lr": lr, PER_SEED: per_seed}

    return learn


def save(state: ActorCriticState) -> dict[str, np.ndarray]:
    """params, w, Adam's state (opt0, opt1, opt2) and the sampler's environment states and running
    episode returns and lengths."""
    sampler = state.sampler
    if not isinstance(sampler, DynamicsSegments):  # Gymnasium's envs: their state is not ours to save
        sampler_arrays = {"obs": sampler.obs}
    else:
        sampler_arrays = {"env_state": sampler.state}
    return {"params": state.params, "w": state.w, **{f"opt{k}": x for k, x in enumerate(state.opt_state)},
            **sampler_arrays, "ep_return": sampler.ep_return, "ep_length": sampler.ep_length}


def load(config: ActorCriticConfig, rngs: list[np.random.Generator],
         arrays: dict[str, np.ndarray]) -> ActorCriticState:
    """The state :func:`save` wrote; built on throw-away generators, so that the restored ones are
    left exactly as the checkpoint holds them."""
    state = init(config, [np.random.default_rng(0) for _ in rngs])
    state.rngs[:] = rngs
    state.sampler.rngs[:] = rngs
    if not isinstance(state.sampler, DynamicsSegments):
        raise ValueError(restorable(config))
    targets = {"params": state.params, "w": state.w, "env_state": state.sampler.state,
               "ep_return": state.sampler.ep_return, "ep_length": state.sampler.ep_length,
               **{f"opt{k}": x for k, x in enumerate(state.opt_state)}}
    for name, target in targets.items():
        fill(target, arrays[name], name)
    return state


def make_algorithm(ascend: Ascend, old_log_prob: bool = True) -> Algorithm:
    """An actor-critic algorithm as the training loop runs it."""
    return Algorithm(init=init, sample=sample, learn=make_learn(ascend, old_log_prob), save=save, load=load,
                     params=lambda state: (state.params[:, :state.agent.policy.dim], state.w),
                     close=lambda state: state.sampler.close(), restorable=restorable)


def train(name: str, algorithm: Algorithm, config: ActorCriticConfig, seeds: Sequence[int],
          logger: Callable[[dict], None] | None = None) -> TrainResult:
    """Train one agent per seed, all seeds in lockstep, each stopping on its own."""
    return loop.train(name, algorithm, config, seeds, logger)


def evaluate(config: ActorCriticConfig, theta: np.ndarray, seeds: Sequence[int], num_episodes: int, *,
             greedy: bool = False) -> np.ndarray:
    """Returns of ``num_episodes`` fresh episodes per seed [S, E] from each seed's evaluation stream."""
    policy = make_policy(config)
    rngs = [seed_streams(s)[1] for s in seeds]
    return evaluate_env(config.env_id, policy, theta, rngs, num_episodes, greedy=greedy,
                        time_limit=config.time_limit)
