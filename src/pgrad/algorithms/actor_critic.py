"""What A2C and PPO share: the agent (policy and value function), the episode log with its
stopping rule, the result, the per-minibatch gradients of the linear (numpy) and MLP (torch)
paths, and evaluation.

Both paths ascend the same objective, per seed and averaged over a minibatch of B samples,

    J = (1/B) sum_i c_i log pi_theta(a_i | s_i) + ent_coef H(pi_theta(. | s_i)) [- vf_coef (V(s_i) - R_i)^2],

where the coefficient c_i (held fixed) makes grad J the gradient of the surrogate: c_i = A_i for
the policy gradient of A2C, and c_i = dL^CLIP / d log pi (``estimators.clipped_surrogate_grad``)
for PPO. The linear path multiplies c_i by the analytic score ``policy.grad_log_prob`` and fits
the linear value function by least squares; the MLP path backpropagates J through torch and
trains the MLP value function with the value term.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pgrad import estimators
from pgrad.config import solve_threshold
from pgrad.optim import Adam, clip_grad_norm, finite_rows, linear_decay, put, take
from pgrad.policies import SoftmaxLinearPolicy
from pgrad.policies.gaussian import LOG_2PI, GaussianLinearPolicy
from pgrad.policies.mlp import TORCH_HINT, MLPCategoricalPolicy, MLPGaussianPolicy, require_torch
from pgrad.returns import gae
from pgrad.rollout import EnvSpec, Segment, env_spec, evaluate_env, make_segments, seed_streams
from pgrad.values import LinearValue, MLPValue

POLICIES = ("linear", "mlp")
LOG_STD_BOUND = 20.0
"""init_log_std must lie in [-20, 20]: sigma from 2e-9 to 5e8."""
LR_SCHEDULES = ("constant", "linear")


def check_config(config) -> None:
    """Shared one-line checks of an A2C or PPO config (choices are checked by check_choices)."""
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
    for name in ("num_envs", "num_steps", "hidden", "depth", "max_steps", "solve_window", "eval_episodes"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be a positive integer, got {getattr(config, name)}")
    if config.policy == "mlp" and not _torch_installed():
        raise ValueError(TORCH_HINT)
    env_spec(config.env_id)  # unknown ids and unsupported spaces: a one-line ValueError


def _torch_installed() -> bool:
    """Whether torch can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class Agent:
    """The policy pi_theta and the value function V of one configuration (no parameters here)."""

    policy: object
    value: LinearValue | MLPValue

    @property
    def mlp(self) -> bool:
        return isinstance(self.value, MLPValue)


def make_agent(config, spec: EnvSpec) -> Agent:
    """Softmax-linear or Gaussian-linear policy with a linear value function (``policy="linear"``),
    or MLP policy and value function (``policy="mlp"``), for the environment's spaces."""
    if config.policy == "linear":
        if spec.discrete:
            policy = SoftmaxLinearPolicy(spec.obs_dim, spec.num_actions, bias=config.bias)
        else:
            policy = GaussianLinearPolicy(spec.obs_dim, spec.action_dim, bias=config.bias,
                                          init_log_std=config.init_log_std)
        return Agent(policy, LinearValue(spec.obs_dim, config.value_features))
    hidden = (config.hidden,) * config.depth
    if spec.discrete:
        policy = MLPCategoricalPolicy(spec.obs_dim, spec.num_actions, hidden)
    else:
        policy = MLPGaussianPolicy(spec.obs_dim, spec.action_dim, hidden, config.init_log_std)
    return Agent(policy, MLPValue(spec.obs_dim, hidden))


def make_policy(config, dynamics_or_spec=None):
    """The policy of ``config`` (for evaluation: ``pgrad eval``); the spaces come from config.env_id."""
    return make_agent(config, env_spec(config.env_id)).policy


def init_params(agent: Agent, rngs: Sequence[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
    """(params, w): the parameters gradient ascent trains and those of the value function.

    Linear: params = theta [S, d] starts at 0 (Gaussian: log_std = init_log_std) and w [S, F] at 0
    (w is fitted by least squares). MLP: params = (theta, w) [S, d + F], trained together, both
    orthogonal and drawn from each seed's generator; w is a copy of the value part."""
    S = len(rngs)
    if not agent.mlp:
        return agent.policy.init(S), agent.value.init(S)
    theta, w = agent.policy.init(S, rng=rngs), agent.value.init(S, rng=rngs)
    return np.concatenate([theta, w], axis=1), w


def learning_rate(config, steps_done: int) -> float:
    """The learning rate of the configured policy (``lr`` linear, ``mlp_lr`` MLP) after steps_done
    environment steps: constant, or decaying linearly to 0 at max_steps."""
    lr = config.mlp_lr if config.policy == "mlp" else config.lr
    if config.lr_schedule == "constant":
        return lr
    return linear_decay(lr, steps_done / config.max_steps)


def select(segment: Segment, keep: np.ndarray) -> Segment:
    """The segment restricted to the seeds where ``keep`` is true."""
    arrays = {k: getattr(segment, k)[:, keep] for k in ("obs", "act", "rew", "terminated", "truncated",
                                                         "next_obs")}
    episodes = {k: tuple(x for x, k_ in zip(getattr(segment, k), keep, strict=True) if k_)
                for k in ("episode_returns", "episode_lengths")}
    return Segment(**arrays, **episodes)


def values(agent: Agent, w: np.ndarray, segment: Segment) -> tuple[np.ndarray, np.ndarray]:
    """(V(s_t), V(s'_t)), each [T, S, N], with the value parameters w [S, F]."""
    return agent.value.value(w, segment.obs), agent.value.value(w, segment.next_obs)


def seed_first(x: np.ndarray) -> np.ndarray:
    """[T, S, N, ...] -> [S, T * N, ...], contiguous: each seed's samples in one row."""
    x = np.moveaxis(x, 1, 0)
    return np.ascontiguousarray(x.reshape(x.shape[0], -1, *x.shape[3:]))


@dataclass(frozen=True)
class Samples:
    """Training samples, seed first: obs [S, M, n], act [S, M, ...], advantages adv [S, M],
    value targets ret [S, M] (lambda-returns A + V), log pi_old(a | s) [S, M] and the values
    V(s) [S, M] the advantages were computed with."""

    obs: np.ndarray
    act: np.ndarray
    adv: np.ndarray
    ret: np.ndarray
    logp_old: np.ndarray | None
    value: np.ndarray

    def take(self, index: np.ndarray) -> Samples:
        """Samples index [S, M'] of each seed (one gather per field; ``value`` is left out)."""
        rows = np.arange(index.shape[0])[:, None]
        return Samples(*(None if (x := getattr(self, f)) is None or f == "value" else x[rows, index]
                         for f in self.__dataclass_fields__))

    def window(self, lo: int, hi: int) -> Samples:
        """Samples lo .. hi-1 of each seed (views)."""
        return Samples(*(None if (x := getattr(self, f)) is None else x[:, lo:hi]
                         for f in self.__dataclass_fields__))


def estimate(agent: Agent, config, params: np.ndarray, w: np.ndarray, segment: Segment, *,
             old_log_prob: bool = True) -> Samples:
    """V(s_t) and V(s'_t) with the value parameters w [S, F], the advantages A = GAE(gamma, lambda)
    and the value targets R = A + V, as seed-first samples; with ``old_log_prob``, also
    log pi_old(a | s) under the policy that sampled the segment (params [S, d])."""
    value, next_value = values(agent, w, segment)
    adv = gae(segment.rew, value, next_value, segment.terminated, segment.truncated, config.gamma,
              config.gae_lambda)
    obs, act = seed_first(segment.obs), seed_first(segment.act)
    logp_old = forward(agent, params, obs, act).logp if old_log_prob else None
    return Samples(obs, act, seed_first(adv), seed_first(adv + value), logp_old, seed_first(value))


def fit_value(agent: Agent, config, params: np.ndarray, w: np.ndarray, data: Samples) -> np.ndarray:
    """The value parameters after an update: the MLP's are part of params (trained by the value
    term of J); the linear ones are refitted to the targets R by least squares (proximal to w)."""
    if agent.mlp:
        return params[:, agent.policy.dim:]
    return agent.value.fit(data.obs, data.ret, config.value_ridge, w_prev=w)


def normalize(adv: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """(A - mean) / (std + eps) over each seed's samples: [S, B] -> [S, B]."""
    centred = adv - adv.mean(axis=1, keepdims=True)
    return centred / (np.sqrt(np.square(centred).mean(axis=1, keepdims=True)) + eps)


def forward(agent: Agent, params: np.ndarray, obs: np.ndarray, act: np.ndarray):
    """The policy's forward pass on seed-first samples: numpy for linear policies, torch (with
    the value function) for MLPs. Either result has ``logp`` [S, B] as a numpy array."""
    if agent.mlp:
        return mlp_forward(agent, params, *to_torch(obs, act))
    return linear_forward(agent.policy, params, obs, act)


def ascent_direction(agent: Agent, fwd, coef: np.ndarray, ret: np.ndarray, ent_coef: float,
                     vf_coef: float, max_grad_norm: float) -> tuple[np.ndarray, np.ndarray]:
    """grad J (module docstring) with each seed's norm clipped: (direction [S, d], norm [S])."""
    if agent.mlp:
        grad = mlp_gradient(fwd, coef, to_torch(ret)[0], ent_coef, vf_coef)
    else:
        grad = linear_gradient(fwd, coef, ent_coef)
    return clip_grad_norm(grad, max_grad_norm)


def value_diagnostics(data: Samples) -> dict:
    """The value loss mean (V(s) - R)^2 and the explained variance 1 - Var[R - V] / Var[R] of the
    values the advantages were computed with, averaged over seeds."""
    explained = estimators.explained_variance(data.value, data.ret)  # nan where Var[R] = 0
    return {"value_loss": float(np.square(data.value - data.ret).mean()),
            "explained_variance": float(np.nanmean(explained)) if np.isfinite(explained).any() else np.nan}


def policy_diagnostics(logp: np.ndarray, logp_old: np.ndarray, entropy, clip: float) -> dict:
    """Per minibatch, before its step: the approximate KL(pi_old || pi_theta) (k3 estimator), the
    fraction of samples whose ratio is outside [1 - eps, 1 + eps], and the entropy; means [S]."""
    entropy = entropy.detach().numpy() if hasattr(entropy, "detach") else entropy
    return {"approx_kl": estimators.approx_kl(logp, logp_old).mean(axis=1),
            "clip_fraction": (np.abs(np.expm1(logp - logp_old)) > clip).mean(axis=1),
            "entropy": entropy.mean(axis=1)}


@dataclass(frozen=True)
class LinearForward:
    """One numpy forward pass of a linear policy over a minibatch, seed first: features phi
    [S, B, F], log pi(a_i | s_i) [S, B], and what the score needs: for softmax-linear (z = phi W)
    log pi(. | s) and pi [S, B, A] and the one-hot actions; for Gaussian-linear (mu = phi W) the
    standardised actions (a - mu) / sigma [S, B, m], sigma and log sigma."""

    phi: np.ndarray
    logp: np.ndarray
    logp_all: np.ndarray | None = None
    probs: np.ndarray | None = None
    onehot: np.ndarray | None = None
    z: np.ndarray | None = None
    sigma: np.ndarray | None = None
    log_std: np.ndarray | None = None

    @property
    def entropy(self) -> np.ndarray:
        """H(pi(. | s_i)) [S, B]: -sum_a pi_a log pi_a, or sum_j (log sigma_j + (1 + log 2 pi) / 2)."""
        if self.sigma is None:
            return -(self.probs * self.logp_all).sum(axis=-1)
        return np.broadcast_to((self.log_std + 0.5 * (1.0 + LOG_2PI)).sum(axis=-1), self.logp.shape)


def linear_forward(policy, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> LinearForward:
    """theta [S, d]; obs [S, B, n]; act [S, B, ...] -> LinearForward."""
    phi = policy.features(obs)
    if isinstance(policy, GaussianLinearPolicy):
        mu = policy.mean(theta, obs)
        log_std = policy.log_std(theta)
        sigma = np.exp(log_std)
        z = (act - mu) / sigma
        logp = (-0.5 * np.square(z) - log_std - 0.5 * LOG_2PI).sum(axis=-1)
        return LinearForward(phi, logp, z=z, sigma=sigma, log_std=log_std)
    logp_all, probs = log_softmax_by_action(policy.logits(theta, obs))
    onehot = act[..., None] == np.arange(logp_all.shape[-1])
    logp = np.take_along_axis(logp_all, act[..., None].astype(np.intp), axis=-1)[..., 0]
    return LinearForward(phi, logp, logp_all=logp_all, probs=probs, onehot=onehot)


def log_softmax_by_action(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log softmax(z), softmax(z)) over the last axis, [..., A] each: z_a - m - log sum_b exp(z_b - m),
    m = max_b z_b, computed one action at a time (for the few actions of a policy this is much
    faster than reductions along a short last axis)."""
    m = z[..., 0]
    for a in range(1, z.shape[-1]):
        m = np.maximum(m, z[..., a])
    shifted = z - m[..., None]
    e = np.exp(shifted)
    total = e[..., 0]
    for a in range(1, z.shape[-1]):
        total = total + e[..., a]
    return shifted - np.log(total)[..., None], e / total[..., None]


def linear_gradient(forward: LinearForward, coef: np.ndarray, ent_coef: float) -> np.ndarray:
    """grad J = (1/B) sum_i [c_i grad log pi(a_i | s_i) + ent_coef grad H(pi(. | s_i))]: [S, d].

    Both linear policies are linear in the features, so grad J = (1/B) sum_i phi(s_i) (x) g_i:
    softmax-linear: g_i = c_i (e_a - pi) - ent_coef pi (log pi + H)  (the gradients in z);
    Gaussian-linear: g_i = c_i z / sigma for W, and (1/B) sum_i c_i (z^2 - 1) + ent_coef for log_std.
    """
    B = coef.shape[1]
    if forward.sigma is None:
        probs = forward.probs
        g = coef[..., None] * (forward.onehot - probs)
        if ent_coef:
            g = g - ent_coef * probs * (forward.logp_all + forward.entropy[..., None])
        grad = np.einsum("sbf,sba->sfa", forward.phi, g) / B
        return grad.reshape(grad.shape[0], -1)
    z = forward.z
    grad_W = np.einsum("sbf,sbm->sfm", forward.phi, coef[..., None] * z / forward.sigma) / B
    grad_log_std = (coef[..., None] * (np.square(z) - 1.0)).mean(axis=1) + ent_coef
    return np.concatenate([grad_W.reshape(grad_W.shape[0], -1), grad_log_std], axis=1)


@dataclass(frozen=True)
class MLPForward:
    """One torch forward pass over a minibatch: the leaf parameters p [S, d_pi + d_v], the
    tensors log pi(a_i | s_i), H(pi(. | s_i)), V(s_i) [S, B], and logp [S, B] as numpy."""

    params: object
    logp_t: object
    entropy: object
    value: object
    logp: np.ndarray


def mlp_forward(agent: Agent, params: np.ndarray, obs, act) -> MLPForward:
    """The forward pass of the MLP policy and value function in torch float32.

    params: [S, d_pi + d_v] = (theta, value parameters) numpy; obs [S, B, n], act [S, B, ...] tensors."""
    torch = require_torch()
    p = torch.tensor(params, dtype=torch.float32, requires_grad=True)
    theta, w = p[:, :agent.policy.dim], p[:, agent.policy.dim:]
    logp, entropy = agent.policy.torch_log_prob_entropy(theta, obs, act)
    return MLPForward(p, logp, entropy, agent.value.torch_value(w, obs), logp.detach().double().numpy())


def mlp_gradient(fwd: MLPForward, coef: np.ndarray, ret, ent_coef: float, vf_coef: float) -> np.ndarray:
    """grad J for the MLP policy and value function by autograd (J in the module docstring):
    [S, d_pi + d_v] float64. coef: [S, B] numpy, the fixed c_i; ret: [S, B] tensor, the targets R_i."""
    torch = require_torch()
    value_loss = (fwd.value - ret).square().mean(dim=1)
    objective = ((torch.from_numpy(coef).float() * fwd.logp_t).mean(dim=1)
                 + ent_coef * fwd.entropy.mean(dim=1) - vf_coef * value_loss)
    objective.sum().backward()  # seeds are independent: each row of p gets its own gradient
    return fwd.params.grad.numpy().astype(np.float64)


def to_torch(*arrays):
    """numpy arrays -> torch tensors (float arrays as float32)."""
    torch = require_torch()
    return tuple(torch.from_numpy(np.ascontiguousarray(x, np.float32 if x.dtype.kind == "f" else None))
                 for x in arrays)


@dataclass(frozen=True)
class ActorCriticResult:
    """What A2C and PPO training returns. Per seed (axis 0): final theta [S, d] and value
    parameters [S, F], solved flags, the episode count and environment steps when solved (-1
    if not), environment steps taken, and episode records (return, length, update, wall);
    ``updates``: the metrics of every update (the dicts the logger received); ``diverged``: the
    seeds whose numbers became non-finite (their parameters are the last finite ones)."""

    seeds: tuple[int, ...]
    theta: np.ndarray
    value_params: np.ndarray
    solved: np.ndarray
    solved_at_episode: np.ndarray
    solved_at_step: np.ndarray
    steps: np.ndarray
    episodes: list[dict[str, np.ndarray]]
    wall_seconds: float
    updates: list[dict]
    diverged: np.ndarray


class EpisodeLog:
    """Finished training episodes per seed, the stopping rule, and the per-update metrics.

    Seed s stops when the mean return of its last ``window`` finished episodes reaches
    ``threshold`` (solved), or when it has taken ``max_steps`` environment steps.
    """

    def __init__(self, seeds: Sequence[int], window: int, threshold: float, max_steps: int):
        S = len(seeds)
        self.seeds, self.window, self.threshold, self.max_steps = tuple(seeds), window, threshold, max_steps
        self.records: list[list[tuple]] = [[] for _ in range(S)]
        self.returns: list[list[float]] = [[] for _ in range(S)]
        self.active = np.ones(S, bool)
        self.steps = np.zeros(S, np.int64)
        self.solved_at_episode = np.full(S, -1)
        self.solved_at_step = np.full(S, -1)
        self.diverged = np.zeros(S, bool)
        self.updates: list[dict] = []
        self.start = time.perf_counter()

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.start

    def window_mean(self, i: int) -> float:
        """Mean return of seed i's last ``window`` finished episodes (fewer at the start)."""
        recent = self.returns[i][-self.window:]
        return sum(recent) / len(recent) if recent else float("nan")

    def record(self, idx: np.ndarray, segment: Segment, update: int) -> dict:
        """Add the episodes the seeds ``idx`` finished in ``segment``, stop seeds by the rule, and
        return this update's metrics so far."""
        wall = self.wall
        T, _, N = segment.rew.shape
        for j, i in enumerate(idx):
            self.steps[i] += T * N
            if segment.episode_returns[j].size:
                self.records[i].append((segment.episode_returns[j], segment.episode_lengths[j], update, wall))
                self.returns[i].extend(segment.episode_returns[j].tolist())
            if len(self.returns[i]) >= self.window and self.window_mean(i) >= self.threshold:
                self.solved_at_episode[i], self.solved_at_step[i] = len(self.returns[i]), self.steps[i]
                self.active[i] = False
            elif self.steps[i] >= self.max_steps:
                self.active[i] = False
        finished = np.concatenate(segment.episode_returns)
        means = [self.window_mean(i) for i in idx if self.returns[i]]
        return {
            "update": update,
            "seeds": [self.seeds[i] for i in idx],
            "episodes": sum(len(r) for r in self.returns),
            "steps": int(self.steps[idx].max()),
            "mean_return": float(finished.mean()) if finished.size else float("nan"),
            "window_mean": float(np.mean(means)) if means else 0.0,
            "wall": wall,
        }

    def diverge(self, idx: np.ndarray) -> None:
        """Stop the seeds ``idx``: their numbers became non-finite."""
        self.diverged[idx], self.active[idx] = True, False

    def log(self, metrics: dict, logger: Logger) -> None:
        """Keep this update's metrics and pass them to the logger."""
        self.updates.append(metrics)
        if logger is not None:
            logger(metrics)

    def result(self, theta: np.ndarray, value_params: np.ndarray) -> ActorCriticResult:
        return ActorCriticResult(self.seeds, theta, value_params, self.solved_at_episode >= 0,
                                 self.solved_at_episode, self.solved_at_step, self.steps.copy(),
                                 [_episode_table(r) for r in self.records], self.wall, self.updates,
                                 self.diverged.copy())


def _episode_table(records: list[tuple]) -> dict[str, np.ndarray]:
    if not records:
        return {"return": np.zeros(0), "length": np.zeros(0, int), "update": np.zeros(0, int),
                "wall": np.zeros(0)}
    rets, lens, updates, walls = zip(*records, strict=True)
    counts = [len(r) for r in rets]
    return {"return": np.concatenate(rets), "length": np.concatenate(lens),
            "update": np.repeat(np.array(updates, int), counts), "wall": np.repeat(np.array(walls), counts)}


def evaluate(config, theta: np.ndarray, seeds: Sequence[int], num_episodes: int, *,
             greedy: bool = False) -> np.ndarray:
    """Returns of ``num_episodes`` fresh episodes per seed [S, E] from each seed's evaluation stream."""
    policy = make_policy(config)
    rngs = [seed_streams(s)[1] for s in seeds]
    return evaluate_env(config.env_id, policy, theta, rngs, num_episodes, greedy=greedy,
                        time_limit=config.time_limit)


Logger = Callable[[dict], None] | None


Ascend = Callable[..., tuple[np.ndarray, tuple, dict]]
"""ascend(agent, config, params [S, d], Adam state, samples, rngs, lr) -> (params, state, metrics)."""


def train(config, seeds: Sequence[int], logger: Logger, ascend: Ascend, *,
          old_log_prob: bool = True) -> ActorCriticResult:
    """The actor-critic loop, one agent per seed, all seeds in lockstep, each stopping on its own:
    sample a segment, estimate advantages (GAE), ascend (the algorithm's ``ascend``), refit V, log.
    ``old_log_prob``: keep log pi_old of the samples (PPO's ratio needs it)."""
    rngs = [seed_streams(s)[0] for s in seeds]
    sampler = make_segments(config.env_id, config.num_envs, rngs, time_limit=config.time_limit)
    agent = make_agent(config, sampler.spec)
    params, w = init_params(agent, rngs)  # MLP: params = (theta, w), trained together
    opt_state = Adam(config.lr).init(params)
    log = EpisodeLog(seeds, config.solve_window, solve_threshold(config), config.max_steps)
    update = 0
    try:
        while log.active.any():
            idx = np.flatnonzero(log.active)
            theta = params[idx, :agent.policy.dim]
            segment = sampler.sample(agent.policy, theta, config.num_steps, idx)       # sample
            metrics = log.record(idx, segment, update)
            keep = log.active[idx]  # seeds that just stopped take no further step
            if keep.any():
                idx, segment = idx[keep], select(segment, keep)
                data = estimate(agent, config, params[idx], w[idx], segment,           # estimate
                                old_log_prob=old_log_prob)
                lr = learning_rate(config, log.steps[idx[0]] - config.batch_size)
                step, part, diagnostics = ascend(                                     # ascend
                    agent, config, params[idx], take(opt_state, idx), data, [rngs[i] for i in idx], lr)
                fit = fit_value(agent, config, step, w[idx], data)
                ok = finite_rows(step, fit, data.ret, *part)  # non-finite: the seed stops as it was
                log.diverge(idx[~ok])
                idx = idx[ok]
                params[idx], w[idx] = step[ok], fit[ok]
                put(opt_state, idx, tuple(x[ok] for x in part))
                metrics |= diagnostics | value_diagnostics(data) | {"lr": lr}
            log.log(metrics, logger)
            update += 1
    finally:
        sampler.close()
    return log.result(params[:, :agent.policy.dim].copy(), w.copy())
