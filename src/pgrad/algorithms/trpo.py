"""Trust region policy optimisation, TRPO (Schulman et al., 2015), on the actor-critic base:

    for update = 0, 1, 2, ...:
        sample T steps of N environments with pi_theta                     (segment)
        stop a seed when its last 100 finished episodes average >= threshold
        A = GAE(gamma, lambda) with V;  R = A + V                          (estimate)
        L(theta') = mean[pi_theta'(a | s) / pi_theta(a | s) A] + ent_coef H(pi_theta')
        g = grad L(theta),  x = CG(F_bar + damping I, g)                   (ascend: the direction,
        full step s = sqrt(2 delta / x^T F_bar x) x                          10 CG iterations)
        theta <- theta + c^j s for the first j = 0 .. J-1 with
                 mean KL(pi_theta || pi_theta+c^j s) <= delta and L(theta + c^j s) > L(theta);
                 none: theta stays                                         (line search)
        fit V to R (linear: least squares; MLP: value_steps Adam steps on vf_coef (V - R)^2)

F_bar is the Hessian of the mean KL at theta, applied without forming it
(``natural.fisher_operator``: closed forms for the linear policies, autograd for MLPs); the
step has mean KL delta to second order (``natural.natural_step_size``), the line search makes
it hold exactly on the segment's states. Each seed has its own direction, step and line search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pgrad import natural
from pgrad.algorithms import actor_critic as ac
from pgrad.algorithms.ac_agent import Agent, make_policy
from pgrad.algorithms.ac_gradients import (
    MLPForward,
    forward,
    linear_gradient,
    mlp_gradient,
    mlp_value_gradient,
    to_torch,
)
from pgrad.algorithms.ac_samples import Samples, normalize
from pgrad.config import param, positive_ints, redefault
from pgrad.optim import Adam, clip_grad_norm
from pgrad.training.log import PER_SEED
from pgrad.training.loop import TrainResult

__all__ = ["ALGORITHM", "LineSearch", "TRPOConfig", "evaluate", "line_search", "make_policy", "train",
           "trpo_step"]
evaluate = ac.evaluate
Base = ac.ActorCriticConfig


@dataclass(frozen=True)
class TRPOConfig(Base):
    """TRPO with a linear (softmax-linear, Gaussian-linear) or an MLP policy, on any Gymnasium
    environment. The trust-region defaults are the anchors' (delta 0.01, 10 CG iterations,
    damping 0.1, backtracking factor 0.8 over 10 steps). ``lr`` is unused (the step length is set
    by delta); ``mlp_lr`` and ``value_steps`` train the value MLP (the linear value is fitted by
    least squares, as in A2C and PPO).

    The segment, N = 16 environments of T = 64 steps, from two recorded sweeps of the MLP policy
    (64 x 64) on CartPole-v1, seeds 0-4 per trial, 150k steps at most:

        pgrad sweep --algo trpo --policy mlp --grid num_envs=8,64 --grid num_steps=16,128
            --grid gae_lambda=0.95,0.98 --seeds 0-4 --max-steps 150000 --out sweeps/trpo-mlp
        pgrad sweep --algo trpo --policy mlp --grid num_envs=16,32 --grid num_steps=32,64
            --seeds 0-4 --max-steps 150000 --out sweeps/trpo-mlp-2

    Seeds solved (last-100 mean >= 475), median steps to solve, final evaluations (100 episodes):
    T = 16 (N 8 or 64): 2 to 5 of 5, evaluations down to 135 (the old default N 64, T 16, lambda
    0.95: 4 of 5, three evaluations below 310); N 8, T 128: 5 of 5, 62k, all 500 (lambda 0.95) or
    one 374 (0.98); N 16, T 32: 5 of 5, 64k, all 500; N 16, T 64: 5 of 5, 64k, one 462; N 32, T 32:
    5 of 5, 68k, one 467; N 32, T 64: 5 of 5, 76k, one 215 (N 64, T 128: interrupted, not
    finished). Short segments starve GAE of
    real returns while the value MLP is still poor. With the linear policy every one of these
    segments solves seeds 0-9 (10 of 10), N 16 x T 64 in median 71k steps; N 8 x T 128 takes
    about twice the wall time (fewer environments per step), so N 16, T 64 is the default for both.
    """

    num_envs: int = redefault(Base, "num_envs", 16)
    num_steps: int = redefault(Base, "num_steps", 64)
    max_steps: int = redefault(Base, "max_steps", 300_000)
    mlp_lr: float = redefault(Base, "mlp_lr", 0.01, "Adam learning rate of the MLP value function")
    lr_schedule: str = redefault(Base, "lr_schedule", "constant")
    max_kl: float = param(0.01, "delta, the largest mean KL per state of an accepted step")
    cg_iterations: int = param(10, "conjugate-gradient iterations for x = F^-1 g")
    damping: float = param(0.1, "lambda added to the Fisher's diagonal in the CG solve")
    backtrack_coef: float = param(0.8, "c in (0, 1), the line search's shrink factor")
    backtrack_steps: int = param(10, "J, the most step lengths the line search tries")
    value_steps: int = param(20, "MLP: full-batch Adam steps of the value function per update")

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_ints(self, "cg_iterations", "backtrack_steps", "value_steps")
        if not self.max_kl > 0:
            raise ValueError(f"max_kl must be positive, got {self.max_kl}")
        if not self.damping >= 0:
            raise ValueError(f"damping must be non-negative, got {self.damping}")
        if not 0 < self.backtrack_coef < 1:
            raise ValueError(f"backtrack_coef must be in (0, 1), got {self.backtrack_coef}")


def train(config: TRPOConfig, seeds: Sequence[int] = (0,),
          logger: Callable[[dict], None] | None = None) -> TrainResult:
    """Train one agent per seed, all seeds in lockstep, each stopping on its own: the training
    loop with one trust-region step per segment."""
    return ac.train("trpo", ALGORITHM, config, seeds, logger)


@dataclass(frozen=True)
class LineSearch:
    """The outcome of the line search, per seed [S]: the new theta [S, d], whether a step was
    accepted, the index j of the accepted length c^j (J where none was), the mean KL and the
    surrogate gain L(theta_new) - L(theta) of the accepted step (0 where none was)."""

    theta: np.ndarray
    accepted: np.ndarray
    backtracks: np.ndarray
    kl: np.ndarray
    improvement: np.ndarray


def surrogate(agent: Agent, params: np.ndarray, data: Samples, adv: np.ndarray,
              ent_coef: float) -> np.ndarray:
    """L(theta') = mean_i[exp(log pi_theta'(a_i | s_i) - log pi_old(a_i | s_i)) A_i] + ent_coef mean H,
    per seed: [S] (params [S, d(+F)], data and adv [S, M])."""
    if data.logp_old is None:
        raise ValueError("the surrogate needs log pi_old of the samples")
    fwd = forward(agent, params, data.obs, data.act)
    entropy = fwd.entropy.detach().numpy() if isinstance(fwd, MLPForward) else fwd.entropy
    return (np.exp(fwd.logp - data.logp_old) * adv).mean(axis=1) + ent_coef * entropy.mean(axis=1)


def line_search(agent: Agent, params: np.ndarray, full_step: np.ndarray, data: Samples, adv: np.ndarray,
                config: TRPOConfig) -> LineSearch:
    """Backtracking along full_step [S, d] from theta = params[:, :d]: per seed, the first
    theta + c^j full_step (j = 0 .. J-1) with mean KL <= delta on the samples' states and
    L(theta + c^j s) > L(theta); where none is, theta stays."""
    d = full_step.shape[1]
    theta = params[:, :d]
    obs, alive = data.obs[None], np.ones((1, *data.obs.shape[:2]), bool)  # [1, S, M, n]: T = 1, K = M
    base = surrogate(agent, params, data, adv, config.ent_coef)
    S = theta.shape[0]
    new, accepted = theta.copy(), np.zeros(S, bool)
    backtracks = np.full(S, config.backtrack_steps)
    kl, improvement = np.zeros(S), np.zeros(S)
    for j in range(config.backtrack_steps):
        candidate = theta + config.backtrack_coef**j * full_step
        candidate_kl = natural.mean_kl(agent.policy, theta, candidate, obs, alive)
        gain = surrogate(agent, np.concatenate([candidate, params[:, d:]], axis=1), data, adv,
                         config.ent_coef) - base
        take = ~accepted & (candidate_kl <= config.max_kl) & (gain > 0)
        new[take], backtracks[take] = candidate[take], j
        kl[take], improvement[take] = candidate_kl[take], gain[take]
        accepted |= take
        if accepted.all():
            break
    return LineSearch(new, accepted, backtracks, kl, improvement)


def trpo_step(agent: Agent, config: TRPOConfig, params: np.ndarray, opt_state: tuple[np.ndarray, ...],
              data: Samples, rngs: Sequence[np.random.Generator],
              lr: float) -> tuple[np.ndarray, tuple[np.ndarray, ...], dict]:
    """One trust-region step of the policy (module docstring) on all N * T samples, and for an MLP
    agent ``value_steps`` full-batch Adam steps (rate ``lr``) of its value function, the first on
    the same forward pass as g; no randomness (``rngs`` is unused).

    params: [S, d] (MLP: [S, d + F]); data: seed-first samples [S, M]. Returns (params, Adam
    state, diagnostics: approx_kl, the accepted step's mean KL; entropy; backtracks; accepted, the
    fraction of seeds that moved; surrogate_gain, L(theta_new) - L(theta); ``per_seed``: each
    seed's own [S])."""
    policy, d = agent.policy, agent.policy.dim
    theta = params[:, :d]
    adv = normalize(data.adv) if config.normalize_advantages else data.adv
    fwd = forward(agent, params, data.obs, data.act)                                   # g = grad L
    if isinstance(fwd, MLPForward):
        ret = to_torch(data.ret)[0]
        grad = mlp_gradient(fwd, adv, ret, config.ent_coef, config.vf_coef)
        g, entropy = grad[:, :d], fwd.entropy.detach().numpy()
        (obs_t,) = to_torch(data.obs)
        for k in range(config.value_steps):  # the value term alone; the policy's moments stay 0
            if k:
                grad = mlp_value_gradient(agent, params, obs_t, ret, config.vf_coef)
            value_grad, _ = clip_grad_norm(np.concatenate([np.zeros_like(g), grad[:, d:]], axis=1),
                                           config.max_grad_norm)
            params, opt_state = Adam(lr).step(params, value_grad, opt_state)
    else:
        g, entropy = linear_gradient(fwd, adv, config.ent_coef), fwd.entropy
    obs, alive = data.obs[None], np.ones((1, *data.obs.shape[:2]), bool)  # [1, S, M, n]: T = 1, K = M
    fisher = natural.fisher_operator(policy, theta, obs, alive)
    x = natural.conjugate_gradient(fisher, g, config.cg_iterations, config.damping)    # x = CG(F, g)
    beta = natural.natural_step_size(fisher(x), x, config.max_kl)       # beta = sqrt(2 delta / x^T F x)
    search = line_search(agent, params, beta[:, None] * x, data, adv, config)
    params = params.copy()
    params[:, :d] = search.theta
    per_seed = {"approx_kl": search.kl, "entropy": entropy.mean(axis=1), "surrogate_gain": search.improvement,
                "backtracks": search.backtracks.astype(np.float64),
                "accepted": search.accepted.astype(np.float64)}
    return params, opt_state, {k: float(v.mean()) for k, v in per_seed.items()} | {PER_SEED: per_seed}


ALGORITHM = ac.make_algorithm(trpo_step)
"""TRPO as the training loop runs it."""
