"""Ornstein-Uhlenbeck exploration noise for the deterministic actors (DDPG, TD3).

Temporally correlated noise, as DDPG's paper (Lillicrap et al., 2016) and Stable-Baselines3's
``OrnsteinUhlenbeckActionNoise`` use it, one process per seed and environment:

    y_0 = 0,   y_{t+1} = y_t + theta (0 - y_t) dt + sqrt(dt) eps_t,   eps_t ~ N(0, I_m),

the exploring action clip(mu(s_t) + sigma y_{t+1}, -1, 1) with sigma = ``action_noise`` (SB3's
form with its sigma taken out: the same process, scaled). An environment whose episode ended
starts again from y = 0, as SB3 resets a vectorised action noise per finished environment.
The eps_t are the seed's own Gaussian action noise, drawn from its generator as for Gaussian
exploration, so a seed explores alike alone and beside other seeds.
"""

from __future__ import annotations

import math

import numpy as np

NOISE_TYPES = ("normal", "ornstein-uhlenbeck")
"""``noise_type``: independent Gaussian noise at every step, or the process of this module."""


class OrnsteinUhlenbeck:
    """The processes' states ``state`` [S, N, m] (float64), stepped for some seeds at a time."""

    def __init__(self, num_seeds: int, num_envs: int, action_dim: int, *, theta: float, dt: float) -> None:
        self.state = np.zeros((num_seeds, num_envs, action_dim))
        self.theta, self.dt = theta, dt

    def next(self, eps: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """y_{t+1} of the seeds ``seeds`` from their y_t and eps_t [len(seeds), N, m]: stored, returned."""
        y = self.state[seeds]
        y = y + self.theta * (0.0 - y) * self.dt + math.sqrt(self.dt) * eps
        self.state[seeds] = y
        return y

    def reset(self, seeds: np.ndarray, done: np.ndarray) -> None:
        """y = 0 for the environments whose episode just ended, done [len(seeds), N]."""
        if done.any():
            rows = self.state[seeds]
            rows[done] = 0.0
            self.state[seeds] = rows
