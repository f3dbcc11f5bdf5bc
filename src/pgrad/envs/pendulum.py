"""Pendulum as pure, vectorised numpy functions, bit-exact with Gymnasium's ``PendulumEnv``.

## Description
The inverted pendulum swing-up: a pendulum hangs from a fixed point, and the agent applies
a torque at the free end to swing it up and keep it upright (g = 10, m = l = 1).

## Action space
``Box(-2, 2, (1,), float32)``: the torque (N m, counter-clockwise positive). Gymnasium
clips it to [-2, 2]; the clipped torque enters both the dynamics and the reward.

## Observation table
| index | quantity             | bounds   |
|-------|----------------------|----------|
| 0     | x = cos(theta)       | [-1, 1]  |
| 1     | y = sin(theta)       | [-1, 1]  |
| 2     | angular velocity     | [-8, 8]  |

The state is ``(theta, theta_dot)`` with theta = 0 upright, as Gymnasium holds it in
``env.unwrapped.state``; :func:`observe` maps it to the table.

## Reward
r = -(normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 torque^2), normalize(theta) in [-pi, pi),
computed from the state before the step; at most 0, at least about -16.27.

## Episode end
Never terminated; truncated after 200 steps (``MAX_EPISODE_STEPS``, the rollout's or vector
env's job).

## Layout and exactness
States are float64 ``[2, *batch]`` arrays, component first. The arithmetic follows
``PendulumEnv.step`` operation by operation, with its dtypes: the float32 torque is squared
and scaled in float32, and ``x ** 2`` is the C library's ``pow`` (``powf`` for the torque),
see :func:`pgrad.envs._scalar.pow2`. Actions are float32, the dtype of the action space; a
float64 action is rounded to float32 first.
"""

from __future__ import annotations

import numpy as np

from pgrad.envs._scalar import box_action, check_state, pow2

ENV_ID = "Pendulum-v1"
STATE_DIM = 2
OBS_DIM = 3
ACTION_DIM = 1
MAX_EPISODE_STEPS = 200
RESET_HIGH = (np.pi, 1.0)  # theta, theta_dot uniform in [-high, high]

MAX_SPEED = 8
MAX_TORQUE = 2.0
DT = 0.05
G = 10.0
M = 1.0
L = 1.0
OBS_HIGH = (1.0, 1.0, MAX_SPEED)


def reset(u: np.ndarray) -> np.ndarray:
    """Initial states: s_0 = low + (high - low) u, u in [0, 1), low = -high, high = (pi, 1).

    u: [2, *batch] uniforms. Returns the state [2, *batch] in u's dtype.
    """
    if u.shape[:1] != (STATE_DIM,):
        raise ValueError(f"reset draws must have shape [2, *batch], got {u.shape}")
    high = np.array(RESET_HIGH).reshape((STATE_DIM,) + (1,) * (u.ndim - 1))
    low = -high
    return (low + (high - low) * u).astype(u.dtype, copy=False)


def observe(state: np.ndarray) -> np.ndarray:
    """(cos theta, sin theta, theta_dot): [3, *batch]."""
    check_state(state, STATE_DIM)
    theta, theta_dot = state
    return np.stack([np.cos(theta), np.sin(theta), theta_dot])


def angle_normalize(x: np.ndarray) -> np.ndarray:
    """((x + pi) mod 2 pi) - pi, in [-pi, pi)."""
    return ((x + np.pi) % (2 * np.pi)) - np.pi


def step(state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One explicit-Euler step of every pendulum in the batch.

    state: [2, *batch]; action: [*batch, 1] torques (float32; any real value, clipped to
    [-2, 2]). Returns (next state [2, *batch], reward [*batch], terminated [*batch], all false).

    theta_dot' = clip(theta_dot + (3 g / (2 l) sin theta + 3 / (m l^2) u) dt, -8, 8),
    theta' = theta + theta_dot' dt.
    """
    check_state(state, STATE_DIM)
    th, thdot = state
    g = G
    m = M
    l = L  # noqa: E741 (Gymnasium's name)
    dt = DT
    u = np.clip(box_action(action, state.shape[1:], ACTION_DIM), -MAX_TORQUE, MAX_TORQUE)[..., 0]
    costs = pow2(angle_normalize(th)) + 0.1 * pow2(thdot) + 0.001 * (pow2(u))
    newthdot = thdot + (3 * g / (2 * l) * np.sin(th) + 3.0 / (m * l**2) * u) * dt
    newthdot = np.clip(newthdot, -MAX_SPEED, MAX_SPEED)
    newth = th + newthdot * dt
    return np.stack([newth, newthdot]), -costs, np.zeros(th.shape, bool)
