"""Natural policy gradient (Kakade, 2001) for the linear policies, each step of a fixed KL:

    for update = 0, 1, 2, ...:
        sample K episodes tau^k with pi_theta                        (rollout, as REINFORCE)
        stop if the last `solve_window` returns average >= threshold
        g = (1/K) sum_k sum_t w^k_t psi^k_t,   psi = grad log pi       (estimate, as REINFORCE)
        F = (1/N) sum_{alive t, k} psi^k_t psi^k_t^T                   (the sample Fisher per step)
        x = (F + lambda I)^-1 g                                       (exact d x d solve per seed)
        theta <- theta + lr beta x,   beta = sqrt(2 delta / x^T F x)   (ascend: mean KL ~ lr^2 delta)

The KL of the step, to second order, is 1/2 beta^2 x^T F x = delta per state (docs/theorem.md,
section 11.2), so the step length adapts to the policy's curvature and does not depend on the
scale of g. Sampling, the estimate, the state and the checkpoint are REINFORCE's
(:mod:`pgrad.algorithms.reinforce`); only the ascent differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pgrad import natural
from pgrad.algorithms import reinforce
from pgrad.algorithms.reinforce import LinearPolicy, ReinforceConfig, ReinforceState, make_policy
from pgrad.config import param, redefault
from pgrad.optim import finite_rows
from pgrad.rollout import Batch, split_seeds
from pgrad.training import loop
from pgrad.training.log import PER_SEED
from pgrad.training.loop import Algorithm, Sample, TrainResult
from pgrad.values import LinearValue

__all__ = ["ALGORITHM", "NPGConfig", "make_policy", "natural_step", "train"]


@dataclass(frozen=True)
class NPGConfig(ReinforceConfig):
    """Natural policy gradient with a linear policy (logistic, softmax-linear, Gaussian-linear):
    REINFORCE's sampling and estimate, then the step (F + lambda I)^-1 g scaled to a mean KL of
    ``max_kl`` per state.

    Defaults from a sweep on CartPole-v1 (logistic policy, REINFORCE's other defaults: reward-to-go,
    time_mean_loo baseline, gamma 1; ``train`` with seeds 0..19 batched, max 3000 episodes): K in
    {10, 20, 30, 50}, max_kl in {0.01, 0.02, 0.03, 0.05, 0.1}, damping in {0.001, 0.003, 0.01,
    0.03, 0.1, 0.3}, the batch_mean_loo baseline, gamma 0.99. Damping 0.001 or max_kl 0.05 left some
    seeds unsolved; damping 0.1 and larger slowed learning. Chosen, K = 10, max_kl = 0.02, damping
    0.01: 20 of 20 solved, median 250 episodes (max 470); on seeds 20..39, 20 of 20, median 265
    (max 560).
    """

    episodes_per_update: int = redefault(ReinforceConfig, "episodes_per_update", 10)
    optimizer: str = param("sgd", "the ascent: plain steps along F^-1 g (NPG takes no other)", ("sgd",))
    lr: float = redefault(ReinforceConfig, "lr", 1.0, "multiplier of the KL-normalised step (1: a step of "
                          "mean KL max_kl)")
    max_kl: float = param(0.02, "delta, the mean KL per state of each step (second order)")
    damping: float = param(0.01, "lambda added to the sample Fisher's diagonal before the solve")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.max_kl > 0:
            raise ValueError(f"max_kl must be positive, got {self.max_kl}")
        if not self.damping >= 0:
            raise ValueError(f"damping must be non-negative, got {self.damping}")


def natural_step(policy: LinearPolicy, theta: np.ndarray, batch: Batch, g: np.ndarray, max_kl: float,
                 damping: float) -> tuple[np.ndarray, np.ndarray]:
    """(beta x [S, d], beta [S]): x = (F + lambda I)^-1 g with F the per-step sample Fisher of the
    batch (``natural.sample_fisher(..., per_step=True)``), beta = sqrt(2 delta / x^T F x).
    Seeds in cache-sized groups, each on its own rows: grouping changes no bit."""
    steps, betas = [], []
    for part, b in split_seeds(batch):
        score = policy.grad_log_prob(theta[part], b.obs, b.act)
        fisher = natural.sample_fisher(score, b.alive, per_step=True)
        x = natural.solve_fisher(fisher, g[part], damping)
        fx = (fisher * x[:, None, :]).sum(axis=-1)  # F x, row by row (the same bits in any batch)
        beta = natural.natural_step_size(fx, x, max_kl)
        steps.append(beta[:, None] * x)
        betas.append(beta)
    return np.concatenate(steps), np.concatenate(betas)


def learn(config: NPGConfig, state: ReinforceState, idx: np.ndarray, sampled: Sample,
          steps: np.ndarray) -> tuple[np.ndarray, dict]:
    """Estimate g as REINFORCE does, solve for the natural direction and take the KL-normalised
    step, for every sampled seed on its own rows (the seeds that just stopped change no bit of
    the others); a seed whose numbers are not finite keeps its theta (``ok`` false). Metrics: the
    mean KL of the step on the batch's states (per seed and its mean) and each seed's beta."""
    rows, batch = sampled.data
    theta = state.theta
    if config.baseline == "value":                                                    # estimate
        value = LinearValue(state.policy.obs_dim + 1)
        g, state.value_params[rows] = reinforce.estimate_with_value(config, state.policy, theta[rows], batch,
                                                                    value, state.value_params[rows])
    else:
        g = reinforce.estimate(config, state.policy, theta[rows], batch)
    step, beta = natural_step(state.policy, theta[rows], batch, g, config.max_kl, config.damping)  # solve
    new = theta[rows] + config.lr * step                                                # ascend
    kl = natural.mean_kl(state.policy, theta[rows], new, batch.obs, batch.alive)
    keep = np.isin(rows, idx)
    new, g, kl, beta = new[keep], g[keep], kl[keep], beta[keep]
    ok = finite_rows(new, g, kl[:, None], state.value_params[idx])
    theta[idx[ok]] = new[ok]
    return ok, {"kl": float(np.mean(kl[ok])) if ok.any() else float("nan"),
                PER_SEED: {"kl": kl, "step_size": config.lr * beta}}


ALGORITHM = Algorithm(init=reinforce.init, sample=reinforce.sample, learn=learn, save=reinforce.save,
                      load=reinforce.load, params=lambda state: (state.theta, None))
"""NPG as the training loop runs it: REINFORCE's state, sampler and checkpoint, its own ascent."""


def train(config: NPGConfig, seeds: Sequence[int] = (0,),
          logger: Callable[[dict], None] | None = None) -> TrainResult:
    """Train one linear policy per seed by natural gradient steps, all seeds in lockstep."""
    return loop.train("npg", ALGORITHM, config, seeds, logger)
