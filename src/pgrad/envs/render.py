"""Frames of pgrad's states, drawn by Gymnasium's own classic-control renderers.

A :class:`Renderer` holds one unwrapped Gymnasium single env (``render_mode="rgb_array"``) and
draws each copy of a vector env with it: it sets the env's internal state to that copy's row of
pgrad's state, typed as Gymnasium would hold it (:func:`gym_state`), and calls its ``render()``. So a
frame is pixel-equal to the one Gymnasium's env draws in the same state. Pendulum also draws its
last torque as an arrow, ``last_u``: the last action clipped to [-2, 2], None right after a
reset, as ``PendulumEnv.step`` and ``reset`` set it. No other state enters a frame.

pygame is imported on the first frame only; without a display (neither ``DISPLAY`` nor
``WAYLAND_DISPLAY``), SDL draws off-screen (``SDL_VIDEODRIVER=dummy``, unless set).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pgrad.envs import pendulum

RENDER_FPS = {"CartPole-v1": 50, "Acrobot-v1": 15, "MountainCar-v0": 30,
              "MountainCarContinuous-v0": 30, "Pendulum-v1": 30}
"""Gymnasium's ``metadata["render_fps"]`` of each env pgrad draws (tested against Gymnasium's)."""

FLOAT32_AFTER_STEP = {"Acrobot-v1": False, "MountainCarContinuous-v0": True}
"""Ids whose Gymnasium state is float32 at times: Acrobot's right after a reset (False: not after
a step), MountainCarContinuous's after a step (True); float64 otherwise, and for the other ids."""

INSTALL = "pip install 'pgrad[render]'"
"""How to install pygame (the pygame-ce distribution), which Gymnasium's renderers draw with."""


def gym_state(env_id: str, row: np.ndarray, acted: bool) -> np.ndarray:
    """One copy's state [state_dim] as Gymnasium's env would hold it, ``acted``: whether the copy
    has stepped since its last reset. float32 where ``FLOAT32_AFTER_STEP`` says so and every value
    is float32 (a state given to ``reset(options=...)`` may not be: it stays float64), else float64;
    the renderers' arithmetic follows the dtype (``s[0] - pi / 2`` stays float32)."""
    row32 = row.astype(np.float32)
    if FLOAT32_AFTER_STEP.get(env_id) == acted and np.array_equal(row32, row):
        return row32
    return row.astype(np.float64)


def _open(env_id: str) -> Any:
    """Gymnasium's unwrapped single env ``env_id`` in ``rgb_array`` mode, after readying pygame."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import gymnasium

    try:
        import pygame  # noqa: F401  (Gymnasium's renderers import it again)
    except ImportError:
        raise gymnasium.error.DependencyNotInstalled(f"rendering needs pygame: {INSTALL}") from None

    return gymnasium.make(env_id, render_mode="rgb_array").unwrapped


class Renderer:
    """Draws the copies of one vector env of ``env_id`` (a key of ``RENDER_FPS``)."""

    def __init__(self, env_id: str) -> None:
        if env_id not in RENDER_FPS:
            raise ValueError(f"render_mode='rgb_array' needs one of {', '.join(RENDER_FPS)}, got {env_id!r}")
        self.env_id = env_id
        self.env: Any = None  # Gymnasium's env, opened on the first frame

    def frames(self, state: np.ndarray, last_actions: np.ndarray, acted: np.ndarray
               ) -> tuple[np.ndarray, ...]:
        """One uint8 frame [H, W, 3] per copy.

        state: [state_dim, num_envs]; last_actions: [num_envs, ...] the last action of each
        copy (float32 [num_envs, 1] torques for Pendulum); acted: [num_envs] bool, whether the
        copy took that action since its last reset.
        """
        if self.env is None:
            self.env = _open(self.env_id)
        frames = []
        for i, row in enumerate(state.T):
            self.env.state = gym_state(self.env_id, row, bool(acted[i]))
            if self.env_id == pendulum.ENV_ID:  # u = np.clip(u, -max_torque, max_torque)[0]
                torque = np.clip(last_actions[i], -pendulum.MAX_TORQUE, pendulum.MAX_TORQUE)[0]
                self.env.last_u = torque if acted[i] else None
            frames.append(self.env.render())
        return tuple(frames)

    def close(self) -> None:
        """Close Gymnasium's env (and with it pygame, as Gymnasium's close does)."""
        if self.env is not None:
            self.env.close()
            self.env = None
