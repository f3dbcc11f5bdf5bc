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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pgrad.algorithms import actor_critic as ac
from pgrad.config import check_choices, param, solve_threshold_field
from pgrad.optim import Adam
from pgrad.rollout import check_time_limit
from pgrad.values import VALUE_FEATURES

make_policy = ac.make_policy
evaluate = ac.evaluate


@dataclass(frozen=True)
class A2CConfig:
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

    env_id: str = param("CartPole-v1", "environment: pgrad's own dynamics or any Gymnasium id")
    policy: str = param("linear", "policy and value function: linear (numpy) or mlp (torch)", ac.POLICIES)
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
                             ac.LR_SCHEDULES)
    normalize_advantages: bool = param(True, "standardise the advantages of each update")
    bias: bool = param(False, "bias feature in the linear policy")
    value_features: str = param("quadratic", "features of the linear value function", VALUE_FEATURES)
    value_ridge: float = param(1e-3, "ridge of the linear value fit (towards the previous fit)")
    hidden: int = param(64, "MLP width")
    depth: int = param(2, "MLP hidden layers")
    init_log_std: float = param(0.0, "initial log standard deviation of Gaussian policies")
    max_steps: int = param(300_000, "stop a seed after this many environment steps")
    time_limit: int = param(1000, "cap on episode length (steps) for environments without a time limit "
                            "of their own; environments with one keep theirs")
    solve_threshold: float | None = solve_threshold_field()
    solve_window: int = param(100, "finished episodes in the moving mean")
    eval_episodes: int = param(100, "episodes for the final evaluation")

    def __post_init__(self):
        check_choices(self)
        check_time_limit(self.time_limit)
        ac.check_config(self)

    @property
    def batch_size(self) -> int:
        """N * T samples per update."""
        return self.num_envs * self.num_steps


def train(config: A2CConfig, seeds: Sequence[int] = (0,), logger: ac.Logger = None) -> ac.ActorCriticResult:
    """Train one agent per seed, all seeds in lockstep, each stopping on its own: the
    actor-critic loop (``actor_critic.train``) with one gradient step per segment."""
    return ac.train(config, seeds, logger, a2c_step, old_log_prob=False)


def a2c_step(agent: ac.Agent, config: A2CConfig, params: np.ndarray, opt_state, data: ac.Samples,
             rngs, lr: float):
    """One Adam step along grad J with c_i = A_i (module docstring) on all N * T samples (no
    randomness: ``rngs`` is unused). Returns (params, Adam state, {"entropy": its mean})."""
    adv = ac.normalize(data.adv) if config.normalize_advantages else data.adv
    fwd = ac.forward(agent, params, data.obs, data.act)
    grad, _ = ac.ascent_direction(agent, fwd, adv, data.ret, config.ent_coef, config.vf_coef,
                                  config.max_grad_norm)
    entropy = fwd.entropy.detach().numpy() if agent.mlp else fwd.entropy
    return *Adam(lr).step(params, grad, opt_state), {"entropy": float(entropy.mean())}
