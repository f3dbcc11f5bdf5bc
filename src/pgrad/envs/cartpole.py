"""Cart-pole as pure, vectorised numpy functions, bit-exact with Gymnasium's ``CartPoleEnv``.

## Description
A pole is hinged to a cart on a frictionless track; the agent pushes the cart left or
right with a fixed force to keep the pole upright (Barto, Sutton and Anderson, 1983).

## Action space
``Discrete(2)``: 0 pushes the cart to the left (force -10 N), 1 to the right (+10 N).

## Observation (state) table
| index | quantity              | bounds that end the episode |
|-------|-----------------------|-----------------------------|
| 0     | cart position x       | abs(x) > 2.4                |
| 1     | cart velocity         | none                        |
| 2     | pole angle (rad)      | abs(angle) > 12 degrees     |
| 3     | pole angular velocity | none                        |

## Reward
+1 on every step, the terminating step included.

## Episode end
Terminated when the cart or the pole leaves the bounds above; truncated after 500 steps
(``MAX_EPISODE_STEPS``). Both flags can be true on the same step, as in Gymnasium's
``TimeLimit``; they are never merged.

## Layout
States are float64 (or float32 in the fast mode) arrays of shape ``[4, *batch]``,
component first, so each component is one contiguous array. The arithmetic, :func:`transition`, follows
Gymnasium 1.x ``CartPoleEnv.step`` operation by operation (explicit Euler, tau = 0.02),
which is what makes the float64 results equal to the last bit; it is written once, for
floats and arrays alike, and runs both as numpy (:func:`step`) and compiled
(:mod:`pgrad.rollout.compiled`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ENV_ID = "CartPole-v1"
OBS_DIM = 4
NUM_ACTIONS = 2
MAX_EPISODE_STEPS = 500
RESET_LOW, RESET_HIGH = -0.05, 0.05

GRAVITY = 9.8
MASSCART = 1.0
MASSPOLE = 0.1
TOTAL_MASS = MASSPOLE + MASSCART
LENGTH = 0.5  # half the pole's length
POLEMASS_LENGTH = MASSPOLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02
THETA_THRESHOLD = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4


def reset(u: np.ndarray) -> np.ndarray:
    """Initial states from uniform draws: s_0 = low + (high - low) * u, u in [0, 1).

    u: [4, *batch] uniforms (component first). Returns the state [4, *batch], same dtype.
    """
    if u.shape[0] != OBS_DIM:
        raise ValueError(f"reset draws must have shape [4, *batch], got {u.shape}")
    return RESET_LOW + (RESET_HIGH - RESET_LOW) * u


def transition(x: Any, x_dot: Any, theta: Any, theta_dot: Any, force: Any) -> tuple[Any, Any, Any, Any, Any]:
    """Gymnasium 1.x ``CartPoleEnv.step`` line by line (explicit Euler, tau = 0.02): the one
    implementation of cart-pole's arithmetic.

    Each argument is a float (numba compiles this for :mod:`pgrad.rollout.compiled`) or an
    array of one shape (:func:`step` calls it on whole components); ``force`` is -10 or +10.
    The operations are Gymnasium's in its order, so both forms round exactly as it does.
    Returns (x, x_dot, theta, theta_dot, terminated).
    """
    costheta = np.cos(theta)
    sintheta = np.sin(theta)
    temp = (force + POLEMASS_LENGTH * np.square(theta_dot) * sintheta) / TOTAL_MASS
    thetaacc = (GRAVITY * sintheta - costheta * temp) / (
        LENGTH * (4.0 / 3.0 - MASSPOLE * np.square(costheta) / TOTAL_MASS)
    )
    xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
    x = x + TAU * x_dot
    x_dot = x_dot + TAU * xacc
    theta = theta + TAU * theta_dot
    theta_dot = theta_dot + TAU * thetaacc
    terminated = ((x < -X_THRESHOLD) | (x > X_THRESHOLD)
                  | (theta < -THETA_THRESHOLD) | (theta > THETA_THRESHOLD))
    return x, x_dot, theta, theta_dot, terminated


def step(state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One explicit-Euler step of every cart-pole in the batch: :func:`transition` on whole arrays.

    state: [4, *batch]; action: [*batch] in {0, 1} (bool or integer).
    Returns (next state [4, *batch], reward [*batch], terminated [*batch]).
    The time limit is the rollout's business: this function never truncates.
    """
    force_mag = state.dtype.type(FORCE_MAG)
    force = np.multiply(action, 2 * force_mag, dtype=state.dtype)
    force -= force_mag  # exactly -10 (action 0) or +10 (action 1)
    next_state = np.empty_like(state)
    *components, terminated = transition(state[0], state[1], state[2], state[3], force)
    for i, component in enumerate(components):
        next_state[i] = component
    return next_state, np.ones(terminated.shape, state.dtype), terminated
