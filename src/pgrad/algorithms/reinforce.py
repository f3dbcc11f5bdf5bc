"""REINFORCE (Williams, 1992): sample K trajectories, weight the score function, ascend.

    for update = 0, 1, 2, ...:
        sample K episodes tau^k with pi_theta                      (rollout)
        stop if the last `solve_window` returns average >= threshold
        g = (1/K) sum_k sum_t w^k_t grad log pi_theta(a^k_t | s^k_t)   (estimate)
        theta <- theta + alpha * step(g)                            (ascend)

Many seeds train at once: theta has a leading seed axis and each seed stops on its own.
pgrad's own dynamics run the fused :func:`~pgrad.rollout.rollout`; any other Gymnasium id with
Discrete or 1-D Box actions runs :func:`~pgrad.gym_rollout.gym_rollout`, whose environments are
made afresh in every update from each seed's generator, so a checkpoint (theta, the optimiser's
state, V's parameters and the generators) resumes bit for bit on either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from pgrad import estimators, fused_estimate
from pgrad.config import (
    check_choices,
    eval_episodes_field,
    param,
    positive_ints,
    solve_threshold_field,
    solve_window_field,
    time_limit_field,
)
from pgrad.envs import DYNAMICS, Dynamics
from pgrad.gym_rollout import episode_horizon, gym_rollout
from pgrad.optim import OPTIMIZERS, SGD, Adam, finite_rows, put, take
from pgrad.policies import GaussianLinearPolicy, LogisticPolicy, SoftmaxLinearPolicy
from pgrad.returns import WEIGHTINGS
from pgrad.rollout import (
    Batch,
    EnvSpec,
    Workspace,
    _pgrad_dynamics,
    check_time_limit,
    env_spec,
    rollout,
    split_seeds,
    threads,
)
from pgrad.training import loop
from pgrad.training.log import PER_SEED, fill
from pgrad.training.loop import Algorithm, Sample, TrainResult
from pgrad.values import LinearValue


@dataclass(frozen=True)
class ReinforceConfig:
    """REINFORCE with a linear policy: logistic (two actions), softmax-linear (more) or
    Gaussian-linear (Box actions).

    The defaults were chosen by a sweep (K in {48, 64, 100, 128}, lr in {1, 1.5, 2, 3},
    gamma in {0.99, 0.995, 1}, three baselines; 20 seeds each) for the fewest environment
    steps to solve CartPole-v1 with 20 of 20 seeds solved.
    """

    env_id: str = param("CartPole-v1", "environment: pgrad's own dynamics (" + ", ".join(DYNAMICS)
                        + "; plain, pgrad/ or module: prefixed) or any Gymnasium id with Discrete or "
                        "1-D Box actions")
    episodes_per_update: int = param(100, "K, episodes sampled per gradient step")
    gamma: float = param(1.0, "discount factor gamma in [0, 1]")
    weighting: str = param("reward_to_go", "weight on grad log pi", tuple(WEIGHTINGS))
    baseline: str = param("time_mean_loo", "baseline subtracted from the weights (value: a learned "
                          "V(s_t, t), least squares on quadratic features)", (*estimators.BASELINES, "value"))
    standardize: bool = param(False, "standardise the weights per batch")
    optimizer: str = param("adam", "gradient-ascent rule", tuple(OPTIMIZERS))
    lr: float = param(2.0, "learning rate alpha")
    bias: bool = param(False, "add a bias feature to the linear policy")
    max_episodes: int = param(5000, "stop a seed after this many training episodes")
    solve_threshold: float | None = solve_threshold_field()
    solve_window: int = solve_window_field("episodes")
    eval_episodes: int = eval_episodes_field()
    float32: bool = param(False, "fast single-precision rollouts (pgrad's own environments)")
    time_limit: int = time_limit_field()

    def __post_init__(self) -> None:
        check_choices(self)
        check_time_limit(self.time_limit)
        check_env(self.env_id)
        if self.float32 and _pgrad_dynamics(self.env_id) is None:
            raise ValueError(f"float32 runs pgrad's own environments only, not {self.env_id}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        positive_ints(self, "episodes_per_update", "max_episodes", "solve_window", "eval_episodes")

    @property
    def dtype(self) -> type[np.floating]:
        return np.float32 if self.float32 else np.float64


def check_env(env_id: str) -> None:
    """A one-line ValueError unless REINFORCE can train on ``env_id``: pgrad's own dynamics, or a
    Gymnasium id whose spaces pgrad supports (``env_spec``; Gymnasium's envs are made to see)."""
    try:
        env_spec(env_id)
    except ValueError as e:
        message = str(e)
        if not message.startswith(f"unknown env {env_id!r}"):
            raise  # a module that does not import, an unsupported space, ...
        said = message.partition("Gymnasium says: ")[2]
        raise ValueError(f"unknown env_id {env_id!r}; accepted: {', '.join(DYNAMICS)} (pgrad's own) or any "
                         "Gymnasium id with Discrete or 1-D Box actions"
                         + (f" (Gymnasium says: {said})" if said else "")) from None


LinearPolicy = LogisticPolicy | SoftmaxLinearPolicy | GaussianLinearPolicy


def make_policy(config: ReinforceConfig, spec: EnvSpec | Dynamics) -> LinearPolicy:
    """The logistic policy for two actions, softmax-linear for more, Gaussian-linear for Box
    actions, on the observations. ``spec``: an :class:`~pgrad.rollout.EnvSpec` or a
    :class:`~pgrad.envs.Dynamics` (both have obs_dim, discrete, num_actions and action_dim)."""
    if not spec.discrete:
        return GaussianLinearPolicy(spec.obs_dim, spec.action_dim, bias=config.bias)
    if spec.num_actions == 2:
        return LogisticPolicy(spec.obs_dim, bias=config.bias)
    return SoftmaxLinearPolicy(spec.obs_dim, spec.num_actions, bias=config.bias)


def fused_dynamics(env_id: str) -> Dynamics | None:
    """pgrad's own dynamics of ``env_id`` as the fused rollout runs them (None for any other id):
    Box actions are clipped to their bounds on the way in, as every other sampler sends them
    (``to_env_action``); discrete dynamics are returned as they are."""
    dynamics = _pgrad_dynamics(env_id)
    if dynamics is None or dynamics.discrete:
        return dynamics
    low, high, step = np.asarray(dynamics.action_low), np.asarray(dynamics.action_high), dynamics.step

    def clipped_step(state: np.ndarray, action: np.ndarray,
                     *u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return step(state, np.clip(action, low.astype(action.dtype), high.astype(action.dtype)), *u)

    return dataclasses.replace(dynamics, step=clipped_step)


def horizon(config: ReinforceConfig) -> int:
    """H, the most steps an episode can take: the dynamics' time limit (pgrad's own), else the
    Gymnasium env's own time limit, else ``config.time_limit``."""
    dynamics = _pgrad_dynamics(config.env_id)
    if dynamics is not None:
        return dynamics.max_episode_steps
    return episode_horizon(config.env_id, config.time_limit)


@dataclass
class ReinforceState:
    """The state of one REINFORCE run over S seeds: theta [S, d], the optimiser's state, the value
    baseline's parameters [S, F] (zero until first fitted), each seed's generator, the rollout
    buffers (reused across updates; not part of a checkpoint) and the fused dynamics (None: the
    episodes come from Gymnasium, :func:`~pgrad.gym_rollout.gym_rollout`)."""

    policy: LinearPolicy
    theta: np.ndarray
    opt_state: tuple[np.ndarray, ...]
    value_params: np.ndarray
    rngs: list[np.random.Generator]
    workspace: Workspace
    dynamics: Dynamics | None = None


def _optimizer(config: ReinforceConfig) -> Adam | SGD:
    return OPTIMIZERS[config.optimizer](lr=config.lr)


def init(config: ReinforceConfig, rngs: list[np.random.Generator]) -> ReinforceState:
    """theta = 0 (Gaussian: log sigma = 0) for every seed, the optimiser's initial state, V's
    parameters at 0. Draws nothing from the generators."""
    spec = env_spec(config.env_id)
    policy = make_policy(config, spec)
    theta = policy.init(len(rngs))
    value = LinearValue(spec.obs_dim + 1)  # the "value" baseline V(s_t, t): features of (s_t, t / H)
    return ReinforceState(policy, theta, _optimizer(config).init(theta), value.init(len(rngs)), rngs,
                          Workspace(), fused_dynamics(config.env_id))


def sample(config: ReinforceConfig, state: ReinforceState, idx: np.ndarray) -> Sample:
    """K episodes of each seed ``idx`` under pi_theta, in lockstep: the fused ``rollout`` on pgrad's
    own dynamics, ``gym_rollout`` (K fresh Gymnasium envs per seed) on any other id; data: (idx, Batch)."""
    rngs = [state.rngs[i] for i in idx]
    if state.dynamics is not None:
        batch = rollout(state.dynamics, state.policy, state.theta[idx], rngs, config.episodes_per_update,
                        dtype=config.dtype, workspace=state.workspace)
    else:
        batch = gym_rollout(config.env_id, state.policy, state.theta[idx], rngs, config.episodes_per_update,
                            time_limit=config.time_limit)
    lengths = batch.lengths
    return Sample(tuple(batch.episode_returns), tuple(lengths), lengths.sum(axis=1), (idx, batch))


def learn(config: ReinforceConfig, state: ReinforceState, idx: np.ndarray, sampled: Sample,
          steps: np.ndarray) -> tuple[np.ndarray, dict]:
    """Estimate the gradient of the seeds ``idx`` from their episodes and ascend.

    The estimate (and the value fit) runs on every sampled seed, each on its own rows, so the
    seeds that just stopped change no bit of the others; a seed whose step, gradient, optimiser
    state or value fit is not finite keeps its theta (``ok`` false). Metrics: each seed's learning
    rate (per seed only: the update table has no column for it)."""
    rows, batch = sampled.data
    theta = state.theta
    if config.baseline == "value":                                                  # estimate
        value = LinearValue(state.policy.obs_dim + 1)
        grad, state.value_params[rows] = estimate_with_value(config, state.policy, theta[rows], batch, value,
                                                             state.value_params[rows])
    else:
        grad = estimate(config, state.policy, theta[rows], batch)
    grad = grad[np.isin(rows, idx)]
    step, part = _optimizer(config).step(theta[idx], grad, take(state.opt_state, idx))   # ascend
    ok = finite_rows(step, grad, *part, state.value_params[idx])  # non-finite: the seed stops as it was
    theta[idx[ok]] = step[ok]
    put(state.opt_state, idx[ok], tuple(x[ok] for x in part))
    return ok, {PER_SEED: {"lr": np.full(len(idx), config.lr)}}


def save(state: ReinforceState) -> dict[str, np.ndarray]:
    """theta, the optimiser's state (opt0, opt1, ...: Adam's m, v and step counts) and V's parameters."""
    return {"theta": state.theta, "value_params": state.value_params,
            **{f"opt{k}": x for k, x in enumerate(state.opt_state)}}


def load(config: ReinforceConfig, rngs: list[np.random.Generator],
         arrays: dict[str, np.ndarray]) -> ReinforceState:
    """The state :func:`save` wrote (shapes checked against a fresh state)."""
    state = init(config, rngs)
    targets = {"theta": state.theta, "value_params": state.value_params,
               **{f"opt{k}": x for k, x in enumerate(state.opt_state)}}
    for name, target in targets.items():
        fill(target, arrays[name], name)
    return state


ALGORITHM = Algorithm(init=init, sample=sample, learn=learn, save=save, load=load,
                      params=lambda state: (state.theta, None))
"""REINFORCE as the training loop runs it."""


def train(config: ReinforceConfig, seeds: Sequence[int] = (0,),
          logger: Callable[[dict], None] | None = None) -> TrainResult:
    """Train one linear policy per seed, all seeds in lockstep, each stopping on its own."""
    return loop.train("reinforce", ALGORITHM, config, seeds, logger)


def estimate(config: ReinforceConfig, policy: LinearPolicy, theta: np.ndarray, batch: Batch) -> np.ndarray:
    """g = (1/K) sum_k sum_t w^k_t grad log pi(a^k_t | s^k_t) for every seed: [S, d].

    w is the configured weighting minus the configured baseline (optionally standardised).
    Seeds are estimated in cache-sized groups, on several threads where there are several groups
    (:mod:`pgrad.rollout.threads`); every quantity is per seed, so neither the grouping nor the
    thread count changes a bit of the result.
    """
    fused = (fused_estimate.covers(policy, config.weighting, config.baseline, config.standardize, batch)
             and fused_estimate.ready())  # the same bits, compiled (pgrad.fused_estimate)

    def group(item: tuple[slice, Batch]) -> np.ndarray:
        part, b = item
        if fused:
            return fused_estimate.gradient(cast(LogisticPolicy, policy), theta[part], b, config.gamma,
                                           config.baseline)
        w = estimators.weights(b.rew, b.alive, config.gamma, config.weighting, config.baseline,
                               config.standardize)
        return _policy_gradient(policy, theta[part], b, w)

    return np.concatenate(threads.map(group, list(split_seeds(batch))))


def _policy_gradient(policy: LinearPolicy, theta: np.ndarray, b: Batch, w: np.ndarray) -> np.ndarray:
    """(1/K) sum_k sum_t w^k_t grad log pi(a^k_t | s^k_t): from the factored score of log-linear
    policies (logistic, softmax-linear), else from the full score ``grad_log_prob`` (Gaussian)."""
    if hasattr(policy, "score_factors"):
        phi, coef = policy.score_factors(theta, b.obs, b.act)
        return estimators.factored_policy_gradient(phi, coef, w, b.alive)
    return estimators.policy_gradient(policy.grad_log_prob(theta, b.obs, b.act), w, b.alive)


def estimate_with_value(config: ReinforceConfig, policy: LinearPolicy, theta: np.ndarray, batch: Batch,
                        value: LinearValue, value_params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The estimate with a learned value baseline, w_t = G_t - V(s_t, t), and the refitted V.

    V(s, t) = v . psi(s, t / H) on quadratic features, H the time limit (:func:`horizon`). V is
    fitted after the gradient is estimated (by least squares to this batch's weights G_t on the
    alive steps, proximal to the previous fit), so the baseline of a batch never depends on its
    own actions, except in a seed's first update: with no fit yet, V is first fitted to that batch (a
    warm start; without it the first step is unbaselined and can stall learning).
    Returns (g [S, d], value parameters [S, F]).
    """
    grads: list[np.ndarray] = []
    fits: list[np.ndarray] = []
    H = horizon(config)
    for part, b in split_seeds(batch):
        T = b.rew.shape[0]
        t_over_h = np.broadcast_to((np.arange(T) / H)[:, None, None, None], b.obs.shape[:3] + (1,))
        features = np.concatenate([b.obs, t_over_h], axis=-1)                    # (s_t, t / H)
        g = estimators.weights(b.rew, b.alive, config.gamma, config.weighting, "none")
        flat = [np.moveaxis(x, 1, 0).reshape(x.shape[1], T * x.shape[2], *x.shape[3:])
                for x in (features, g, b.alive)]                                 # seed first

        def refit(j: int | np.integer, previous: np.ndarray,
                  flat: list[np.ndarray] = flat) -> np.ndarray:  # each seed on its alive steps only,
            f, y, m = (x[j] for x in flat)  # so the padding never changes a bit
            return value.fit(f[m][None], y[m][None], ridge=1e-3, w_prev=previous[None])

        params = value_params[part].copy()
        for j in np.flatnonzero(~params.any(axis=1)):  # never fitted: warm-start on this batch
            params[j] = refit(j, params[j])[0]
        w = g - value.value(params, features)
        if config.standardize:
            w = estimators.standardize(w, b.alive)
        grads.append(_policy_gradient(policy, theta[part], b, w))
        fits.extend(refit(j, previous) for j, previous in enumerate(params))
    return np.concatenate(grads), np.concatenate(fits)
