"""A ``gymnasium.vector.VectorEnv`` over pgrad's pure dynamics (next-step autoreset)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from pgrad.envs import Dynamics


class DynamicsVectorEnv(VectorEnv):
    """``num_envs`` copies of one :class:`~pgrad.envs.Dynamics`, stepped as one numpy batch.

    Follows Gymnasium's vector API: observations ``[num_envs, obs_dim]`` float32, rewards
    float64, separate ``terminated`` and ``truncated`` flags, and next-step autoreset (the
    step after an episode ends returns the first observation of the next episode with
    reward 0 and both flags false). ``reset(options={"state": array [num_envs, state_dim]})``
    starts every copy from the given internal states; the state is held in ``self.state``,
    component first, shape ``[state_dim, num_envs]``.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, dynamics: Dynamics, num_envs: int = 1, *, dtype=np.float64,
                 max_episode_steps: int | None = None):
        if num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        self.dynamics = dynamics
        self.num_envs = num_envs
        self.dtype = dtype
        self.max_episode_steps = max_episode_steps or dynamics.max_episode_steps
        high = np.array(dynamics.obs_high, dtype=np.float32)
        self.single_observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.single_action_space = spaces.Discrete(dynamics.num_actions)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.state: np.ndarray | None = None
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.prev_done = np.zeros(num_envs, dtype=bool)

    def _draw_states(self, n: int) -> np.ndarray:
        u = self.np_random.random((self.dynamics.reset_draws, n)).astype(self.dtype, copy=False)
        return self.dynamics.reset(u)

    def _obs(self) -> np.ndarray:
        return self.dynamics.observe(self.state).T.astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "state" in options:
            state = np.asarray(options["state"], dtype=self.dtype)
            expected = (self.num_envs, self.dynamics.state_dim)
            if state.shape != expected:
                raise ValueError(f"options['state'] must have shape {expected}, got {state.shape}")
            self.state = np.ascontiguousarray(state.T)
        else:
            self.state = self._draw_states(self.num_envs)
        self.steps[:] = 0
        self.prev_done[:] = False
        return self._obs(), {}

    def step(self, actions):
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not self.action_space.contains(
            actions.astype(self.action_space.dtype)
        ):
            raise ValueError(
                f"actions must be {self.num_envs} integers in [0, {self.dynamics.num_actions})"
            )
        self.state, reward, terminated = self.dynamics.step(self.state, actions)
        reward = reward.astype(np.float64)
        self.steps += 1
        truncated = self.steps >= self.max_episode_steps
        done = self.prev_done
        if done.any():
            self.state[:, done] = self._draw_states(int(done.sum()))
            self.steps[done] = 0
            reward[done] = 0.0
            terminated[done] = False
            truncated[done] = False
        self.prev_done = terminated | truncated
        return self._obs(), reward, terminated, truncated, {}
