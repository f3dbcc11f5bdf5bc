"""Advantage actor-critic, A2C: synchronous n-step actor-critic over many environments
(Mnih et al., 2016, synchronous variant):

    for update = 0, 1, 2, ...:
        sample T steps of N environments with pi_theta                     (segment)
        stop a seed when its last 100 finished episodes average >= threshold
        A = GAE(gamma, lambda) with V;  R = A + V                          (estimate)
        J = mean[A log pi_theta(a | s)] + ent_coef H - vf_coef (V - R)^2
        theta <- theta + Adam(clip_norm(grad J))                           (ascend, one step)
        fit V to R (linear: least squares; MLP: the vf_coef term above)

With lambda = 1 the advantage is the n-step return minus V(s_t), bootstrapped from V of the
segment's last observation (and of the final observation at truncation, never at termination).
Linear policies run in numpy with a seed axis; MLP policies take gradients from torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pgrad.algorithms import actor_critic as ac
from pgrad.algorithms.ac_agent import Agent, make_policy
from pgrad.algorithms.ac_gradients import MLPForward, ascent_direction, forward
from pgrad.algorithms.ac_samples import Samples, normalize
from pgrad.optim import Adam
from pgrad.training.log import PER_SEED
from pgrad.training.loop import TrainResult

__all__ = ["A2CConfig", "ALGORITHM", "a2c_step", "evaluate", "make_policy", "train"]
evaluate = ac.evaluate


@dataclass(frozen=True)
class A2CConfig(ac.ActorCriticConfig):
    """A2C with a linear or an MLP policy, on any Gymnasium environment.

    The defaults were chosen by measurement on CartPole-v1 (solved: the last 100 training
    episodes average >= 475; final evaluation: 100 episodes with sampled actions), seeds 0..S-1
    batched in one ``train`` call:

    - linear policy (no bias feature, quadratic value features, as PPO), S = 10 then 20:
      N in {16, 32, 64}, T in {8, 16}, lr in {0.01, 0.03, 0.1}, lambda in {0.95, 1}. lr 0.01
      was too slow (0 of 20 solved within 300k steps with N >= 32); N = 16 was the most
      reliable. Chosen N = 16, T = 16, lr = 0.1, lambda = 0.95: 50 of 50 solved (S = 50),
      median 62k steps (max 188k), every final evaluation 500.0 (lambda = 1, the plain n-step
      return: 50 of 50, lowest final evaluation 499.2).
    - MLP policy (64 x 64 tanh), S = 10: mlp_lr in {0.001, 0.002, 0.003, 0.01}, N = 32, T in {8,
      16, 32}, lambda 1, 500k steps, advantages not standardised, max_grad_norm 0.25. None was
      reliable: mlp_lr = 0.003 solved 8 of 10 (6 of 10 final evaluations >= 475); without
      standardised advantages 10 of 10 solved and 9 of 10 final evaluations >= 475. Kept
      mlp_lr = 0.003; for an MLP on CartPole, PPO is the better choice.
    """


def train(config: A2CConfig, seeds: Sequence[int] = (0,),
          logger: Callable[[dict], None] | None = None) -> TrainResult:
    """Train one agent per seed, all seeds in lockstep, each stopping on its own: the
    training loop with one gradient step per segment."""
    return ac.train("a2c", ALGORITHM, config, seeds, logger)


def a2c_step(agent: Agent, config: A2CConfig, params: np.ndarray, opt_state: tuple[np.ndarray, ...],
             data: Samples, rngs: Sequence[np.random.Generator],
             lr: float) -> tuple[np.ndarray, tuple[np.ndarray, ...], dict]:
    """One Adam step along grad J with c_i = A_i (module docstring) on all N * T samples (no
    randomness: ``rngs`` is unused). Returns (params, Adam state, {"entropy": its mean, and each
    seed's own in ``per_seed``})."""
    adv = normalize(data.adv) if config.normalize_advantages else data.adv
    fwd = forward(agent, params, data.obs, data.act)
    grad, _ = ascent_direction(agent, fwd, adv, data.ret, config.ent_coef, config.vf_coef,
                                  config.max_grad_norm)
    entropy = fwd.entropy.detach().numpy() if isinstance(fwd, MLPForward) else fwd.entropy
    params, opt_state = Adam(lr).step(params, grad, opt_state)
    return params, opt_state, {"entropy": float(entropy.mean()), PER_SEED: {"entropy": entropy.mean(axis=1)}}


ALGORITHM = ac.make_algorithm(a2c_step, old_log_prob=False)
"""A2C as the training loop runs it."""
