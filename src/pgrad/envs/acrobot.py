"""Acrobot as pure, vectorised numpy functions, bit-exact with Gymnasium's ``AcrobotEnv``.

## Description
Two links hang in a chain from a fixed joint; only the joint between the links is
actuated. The agent swings the free end above a target height (Sutton, 1996; Sutton and
Barto's book dynamics, Gymnasium's default ``book_or_nips = "book"``).

## Action space
``Discrete(3)``: torque -1 (0), 0 (1) or +1 (2) N m on the joint between the links.

## Observation table
| index | quantity                         | bounds                 |
|-------|----------------------------------|------------------------|
| 0     | cos(theta1)                      | [-1, 1]                |
| 1     | sin(theta1)                      | [-1, 1]                |
| 2     | cos(theta2)                      | [-1, 1]                |
| 3     | sin(theta2)                      | [-1, 1]                |
| 4     | angular velocity of theta1       | [-4 pi, 4 pi]          |
| 5     | angular velocity of theta2       | [-9 pi, 9 pi]          |

theta1 is the first link's angle from hanging straight down, theta2 the second link's
angle relative to the first. The state is ``(theta1, theta2, dtheta1, dtheta2)``, as
Gymnasium holds it in ``env.unwrapped.state``; :func:`observe` maps it to the table.

## Reward
-1 on every step that does not reach the target height, 0 on the step that does.

## Episode end
Terminated when the free end rises above the target, -cos(theta1) - cos(theta2 + theta1)
> 1; truncated after 500 steps (``MAX_EPISODE_STEPS``, the rollout's or vector env's job).

## Layout and exactness
States are ``[4, *batch]`` arrays, component first. One step is Gymnasium's fourth-order
Runge-Kutta over dt = 0.2 (one interval), then angles wrapped into [-pi, pi] and velocities
bounded, operation by operation as ``AcrobotEnv.step``, ``rk4``, ``wrap`` and ``bound`` do
them, so float64 results equal Gymnasium's to the last bit. Two scalar details are
mirrored: ``x ** 2`` is the C library's ``pow`` (:func:`pgrad.envs._scalar.pow2`), and
Gymnasium's reset state is float32, whose observation is computed in float32; pgrad
computes the observation of every state that holds only float32 values that way.
"""

from __future__ import annotations

import numpy as np
from numpy import pi

from pgrad.envs._scalar import check_discrete_action, check_state, float32_typed, pow2

ENV_ID = "Acrobot-v1"
STATE_DIM = 4
OBS_DIM = 6
NUM_ACTIONS = 3
MAX_EPISODE_STEPS = 500
RESET_LOW, RESET_HIGH = -0.1, 0.1

DT = 0.2
LINK_LENGTH_1 = 1.0
LINK_MASS_1 = 1.0
LINK_MASS_2 = 1.0
LINK_COM_POS_1 = 0.5
LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
MAX_VEL_1 = 4 * pi
MAX_VEL_2 = 9 * pi
AVAIL_TORQUE = np.array([-1.0, 0.0, +1])
OBS_HIGH = (1.0, 1.0, 1.0, 1.0, MAX_VEL_1, MAX_VEL_2)


def reset(u: np.ndarray) -> np.ndarray:
    """Initial states: s_0 = float32(low + (high - low) u), u in [0, 1), low = -0.1, high = 0.1.

    u: [4, *batch] uniforms. Returns the state [4, *batch] in u's dtype, holding the float32
    values that ``np_random.uniform(-0.1, 0.1, size=4).astype(np.float32)`` gives.
    """
    if u.shape[:1] != (STATE_DIM,):
        raise ValueError(f"reset draws must have shape [4, *batch], got {u.shape}")
    return (RESET_LOW + (RESET_HIGH - RESET_LOW) * u).astype(np.float32).astype(u.dtype)


def observe(state: np.ndarray) -> np.ndarray:
    """(cos theta1, sin theta1, cos theta2, sin theta2, dtheta1, dtheta2): [6, *batch].

    Float32-valued states (fresh from reset) take cos and sin in float32, as Gymnasium does.
    """
    check_state(state, STATE_DIM)
    theta = state[:2]
    obs = np.empty((OBS_DIM, *state.shape[1:]), state.dtype)
    obs[0:4:2], obs[1:4:2] = np.cos(theta), np.sin(theta)
    obs[4:] = state[2:]
    if state.dtype == np.float64:
        typed32 = float32_typed(state)
        if typed32.any():
            theta32 = theta[:, typed32].astype(np.float32)
            cos_view, sin_view = obs[0:4:2], obs[1:4:2]
            cos_view[:, typed32], sin_view[:, typed32] = np.cos(theta32), np.sin(theta32)
    return obs


def _dsdt(s: tuple[np.ndarray, ...], a: np.ndarray) -> tuple[np.ndarray, ...]:
    """Gymnasium's ``AcrobotEnv._dsdt`` (book dynamics), each expression as written there."""
    m1 = LINK_MASS_1
    m2 = LINK_MASS_2
    l1 = LINK_LENGTH_1
    lc1 = LINK_COM_POS_1
    lc2 = LINK_COM_POS_2
    I1 = LINK_MOI
    I2 = LINK_MOI
    g = 9.8
    theta1, theta2, dtheta1, dtheta2 = s
    cos_theta2, sin_theta2 = np.cos(theta2), np.sin(theta2)
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos_theta2) + I1 + I2
    d2 = m2 * (lc2**2 + l1 * lc2 * cos_theta2) + I2
    phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * pow2(dtheta2) * sin_theta2
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin_theta2
        + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - pi / 2)
        + phi2
    )
    ddtheta2 = (
        a + d2 / d1 * phi1 - m2 * l1 * lc2 * pow2(dtheta1) * sin_theta2 - phi2
    ) / (m2 * lc2**2 + I2 - pow2(d2) / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return dtheta1, dtheta2, ddtheta1, ddtheta2


def _wrap(x: np.ndarray, m: float, M: float) -> np.ndarray:
    """Gymnasium's ``wrap``: subtract (M - m) while x > M, then add it while x < m."""
    diff = M - m
    while (above := x > M).any():
        x = np.where(above, x - diff, x)
    while (below := x < m).any():
        x = np.where(below, x + diff, x)
    return x


def _bound(x: np.ndarray, m: float, M: float) -> np.ndarray:
    """Gymnasium's ``bound``: Python's min(max(x, m), M), ties and NaN included."""
    x = np.where(m > x, m, x)
    return np.where(M < x, M, x)


def step(state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Runge-Kutta step of every acrobot in the batch.

    state: [4, *batch]; action: [*batch] integers in {0, 1, 2}.
    Returns (next state [4, *batch], reward [*batch], terminated [*batch]).

    rk4: y1 = y0 + dt/6 (k1 + 2 k2 + 2 k3 + k4), k1 = f(y0), k2 = f(y0 + dt/2 k1),
    k3 = f(y0 + dt/2 k2), k4 = f(y0 + dt k3), the torque held constant.
    """
    check_state(state, STATE_DIM)
    action = np.asarray(action)
    check_discrete_action(action, state.shape[1:], NUM_ACTIONS)
    torque = AVAIL_TORQUE.astype(state.dtype)[action]
    y0 = tuple(state)
    dt = DT  # rk4 over t = [0, dt]: one interval
    dt2 = dt / 2.0
    k1 = _dsdt(y0, torque)
    k2 = _dsdt(tuple(y + dt2 * k for y, k in zip(y0, k1, strict=True)), torque)
    k3 = _dsdt(tuple(y + dt2 * k for y, k in zip(y0, k2, strict=True)), torque)
    k4 = _dsdt(tuple(y + dt * k for y, k in zip(y0, k3, strict=True)), torque)
    ns = [y + dt / 6.0 * (a + 2 * b + 2 * c + d) for y, a, b, c, d in zip(y0, k1, k2, k3, k4, strict=True)]
    next_state = np.stack([
        _wrap(ns[0], -pi, pi),
        _wrap(ns[1], -pi, pi),
        _bound(ns[2], -MAX_VEL_1, MAX_VEL_1),
        _bound(ns[3], -MAX_VEL_2, MAX_VEL_2),
    ])
    terminated = -np.cos(next_state[0]) - np.cos(next_state[1] + next_state[0]) > 1.0
    reward = np.where(terminated, 0.0, -1.0).astype(state.dtype)
    return next_state, reward, terminated
