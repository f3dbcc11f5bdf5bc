"""REINFORCE written out as the derivation states it, from pgrad's building blocks.

    grad J(theta) = E[ sum_t grad log pi(a_t | s_t) sum_{t' >= t} gamma^{t'} r_{t'} ]

Run: python examples/custom_loop.py
"""

import numpy as np

from pgrad.envs import get_dynamics
from pgrad.policies import LogisticPolicy
from pgrad.returns import reward_to_go
from pgrad.rollout import rollout

env = get_dynamics("CartPole-v1")
policy = LogisticPolicy(obs_dim=4)  # pi(left | s) = sigmoid(theta . s)
theta = policy.init(num_seeds=1)  # [1, 4]: one seed
rng = np.random.default_rng(0)
alpha, gamma, K = 0.5, 1.0, 64

for update in range(100):
    batch = rollout(env, policy, theta, [rng], num_episodes=K)  # sample K trajectories
    returns = batch.episode_returns  # G(tau^k) with gamma = 1: [1, K]
    print(f"update {update:3d}  mean return {returns.mean():6.1f}")
    if returns.mean() >= 475:
        break
    weight = reward_to_go(batch.rew, gamma) * batch.alive  # sum_{t'>=t} gamma^t' r_t': [T, 1, K]
    score = policy.grad_log_prob(theta, batch.obs, batch.act)  # (y - p) s: [T, 1, K, 4]
    grad = (weight[..., None] * score).sum(axis=(0, 2)) / K  # Monte Carlo grad J: [1, 4]
    theta = theta + alpha * grad / (np.linalg.norm(grad) + 1e-8)  # normalised gradient ascent

print("theta =", theta[0])
