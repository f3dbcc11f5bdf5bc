"""A ``gymnasium.vector.VectorEnv`` over pgrad's pure dynamics (next-step autoreset)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from gymnasium import logger, spaces
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import ArrayLike, DTypeLike

from pgrad.envs import Dynamics
from pgrad.envs.render import RENDER_FPS, Renderer

RESET_OPTIONS = ("state",)
"""The keys ``DynamicsVectorEnv.reset(options=...)`` accepts."""


class DynamicsVectorEnv(VectorEnv):
    """``num_envs`` copies of one :class:`~pgrad.envs.Dynamics`, stepped as one numpy batch.

    Follows Gymnasium's vector API: observations ``[num_envs, obs_dim]`` float32, rewards
    float64, separate ``terminated`` and ``truncated`` flags, and next-step autoreset (the
    step after an episode ends returns the first observation of the next episode with
    reward 0 and both flags false). Actions are ``[num_envs]`` integers for discrete
    dynamics and ``[num_envs, m]`` floats (taken as float32, the Box space's dtype) for Box
    dynamics; like Gymnasium's own envs, Box dynamics accept actions outside the Box and
    clip them as the reference does. ``reset(options={"state": array [num_envs, state_dim]})``
    starts every copy from the given internal states (finite real numbers), one row per env as
    Gymnasium holds it in ``env.unwrapped.state``; no other option key is accepted. The state
    is held in ``self.state``, component first, shape ``[state_dim, num_envs]``.

    ``render_mode="rgb_array"`` (for Gymnasium's classic-control ids): :meth:`render` returns one
    uint8 frame ``[H, W, 3]`` per env, drawn by Gymnasium's own renderer from that env's state
    (:mod:`pgrad.envs.render`); ``self.last_actions`` and ``self.acted`` then hold each env's last
    action and whether it took it since its last reset (Pendulum draws its last torque).
    """

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, dynamics: Dynamics, num_envs: int = 1, *, dtype: DTypeLike = np.float64,
                 max_episode_steps: int | None = None, render_mode: str | None = None) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        self.dynamics = dynamics
        self.num_envs = num_envs
        self.dtype = dtype
        self.max_episode_steps = max_episode_steps or dynamics.max_episode_steps
        low, high = (np.array(bound, dtype=np.float32) for bound in dynamics.obs_bounds)
        self.single_observation_space = spaces.Box(low, high, dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        if dynamics.discrete:
            self.single_action_space = spaces.Discrete(dynamics.num_actions)
        else:
            self.single_action_space = spaces.Box(
                np.array(dynamics.action_low, dtype=np.float32),
                np.array(dynamics.action_high, dtype=np.float32),
                dtype=np.float32,
            )
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.state: np.ndarray | None = None
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.prev_done = np.zeros(num_envs, dtype=bool)
        if dynamics.id in RENDER_FPS:
            self.metadata = {**self.metadata, "render_fps": RENDER_FPS[dynamics.id]}
        self.render_mode = render_mode
        self.renderer = Renderer(dynamics.id) if render_mode else None
        self.last_actions = (np.zeros(num_envs, np.int64) if dynamics.discrete
                             else np.zeros((num_envs, dynamics.action_dim), np.float32))
        self.acted = np.zeros(num_envs, dtype=bool)

    def _draw_states(self, n: int) -> np.ndarray:
        u = self.np_random.random((self.dynamics.reset_draws, n)).astype(self.dtype, copy=False)
        return self.dynamics.reset(u)

    def _obs(self) -> np.ndarray:
        # only called once reset() has set the state
        return self.dynamics.observe(cast(np.ndarray, self.state)).T.astype(np.float32)

    def _check_actions(self, actions: ArrayLike) -> np.ndarray:
        actions = np.asarray(actions)
        n = self.num_envs
        if actions.ndim == 0:  # as Gymnasium's SyncVectorEnv, which iterates over the actions
            raise TypeError(f"Unable to iterate over the following elements: {actions} "
                            f"(give one action per env, {n} in all)")
        if self.dynamics.discrete:
            if actions.shape != (n,) or actions.dtype.kind not in "biu" or not self.action_space.contains(
                actions.astype(self.action_space.dtype)
            ):
                raise ValueError(f"actions must be {n} integers in [0, {self.dynamics.num_actions})")
            return actions
        m = self.dynamics.action_dim
        if actions.shape != (n, m) or actions.dtype.kind not in "fiu" or not np.isfinite(actions).all():
            raise ValueError(
                f"actions must be finite real numbers of shape ({n}, {m}), "
                f"got {actions.dtype} {actions.shape}"
            )
        return actions.astype(np.float32, copy=False)

    def _check_state(self, state: ArrayLike) -> np.ndarray:
        """options["state"]: [num_envs, state_dim] finite real numbers -> [state_dim, num_envs] in
        self.dtype (complex, bool or non-numeric states are refused, never cast)."""
        state = np.asarray(state)
        if state.dtype.kind not in "iuf":
            raise ValueError(f"options['state'] must hold real numbers, got dtype {state.dtype}")
        expected = (self.num_envs, self.dynamics.state_dim)
        if state.shape != expected:
            raise ValueError(f"options['state'] must have shape {expected}, got {state.shape}")
        with np.errstate(over="ignore"):  # too large for float32: refused as non-finite below
            state = state.astype(self.dtype)
        if not np.isfinite(state).all():
            raise ValueError(f"options['state'] must be finite in {self.dtype}, got NaN or inf")
        return np.ascontiguousarray(state.T)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        unknown = [key for key in options if key not in RESET_OPTIONS]
        if unknown:
            raise ValueError(f"unknown reset option(s) {', '.join(map(repr, unknown))}; "
                             f"accepted: {', '.join(RESET_OPTIONS)}")
        if "state" in options:
            self.state = self._check_state(options["state"])
        else:
            self.state = self._draw_states(self.num_envs)
        self.steps[:] = 0
        self.prev_done[:] = False
        self.acted[:] = False
        return self._obs(), {}

    def step(self, actions: ArrayLike
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        actions = self._check_actions(actions)
        draws = self.dynamics.step_draws  # stochastic dynamics take their uniforms as an argument
        u = (self.np_random.random((draws, self.num_envs)),) if draws else ()
        self.state, reward, terminated = self.dynamics.step(self.state, actions, *u)
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
        if self.renderer is not None:
            self.last_actions[:] = actions
            self.acted = ~done  # the envs reset on this step took no action
        return self._obs(), reward, terminated, truncated, {}

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One uint8 frame [H, W, 3] per env, as Gymnasium's SyncVectorEnv returns them (a tuple);
        without a render_mode, a warning and None, as Gymnasium's own vector envs."""
        if self.renderer is None:
            logger.warn("render() needs render_mode='rgb_array', e.g. "
                        f"pgrad.make_vec({self.dynamics.id!r}, n, render_mode='rgb_array')")
            return None
        if self.state is None:
            raise ResetNeeded("call reset() before render()")
        return self.renderer.frames(self.state, self.last_actions, self.acted)

    def close_extras(self, **kwargs: Any) -> None:
        if self.renderer is not None:
            self.renderer.close()
