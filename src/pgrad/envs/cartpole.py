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
component first, so each component is one contiguous array. The arithmetic follows
Gymnasium 1.x ``CartPoleEnv.step`` operation by operation (explicit Euler, tau = 0.02),
which is what makes the float64 results equal to the last bit.
"""

from __future__ import annotations

import math

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


def step(state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One explicit-Euler step of every cart-pole in the batch.

    state: [4, *batch]; action: [*batch] in {0, 1} (bool or integer).
    Returns (next state [4, *batch], reward [*batch], terminated [*batch]).
    The time limit is the rollout's business: this function never truncates.
    """
    x, x_dot, theta, theta_dot = state
    # Each block computes Gymnasium's expression in its order of operations, in place (fewer
    # temporaries: this is the hot loop); a * b = b * a and a + b = b + a exactly.
    force_mag = state.dtype.type(FORCE_MAG)
    force = np.multiply(action, 2 * force_mag, dtype=state.dtype)
    force -= force_mag  # exactly -10 (action 0) or +10 (action 1)
    costheta = np.cos(theta)
    sintheta = np.sin(theta)
    # temp = (force + polemass_length * theta_dot**2 * sintheta) / total_mass
    temp = np.square(theta_dot)
    temp *= POLEMASS_LENGTH
    temp *= sintheta
    temp += force
    temp /= TOTAL_MASS
    # thetaacc = (gravity * sintheta - costheta * temp)
    #            / (length * (4/3 - masspole * costheta**2 / total_mass))
    denominator = np.square(costheta)
    denominator *= MASSPOLE
    denominator /= TOTAL_MASS
    np.subtract(4.0 / 3.0, denominator, out=denominator)
    denominator *= LENGTH
    thetaacc = GRAVITY * sintheta
    thetaacc -= costheta * temp
    thetaacc /= denominator
    # xacc = temp - polemass_length * thetaacc * costheta / total_mass
    xacc = POLEMASS_LENGTH * thetaacc
    xacc *= costheta
    xacc /= TOTAL_MASS
    np.subtract(temp, xacc, out=xacc)
    # explicit Euler, each component rounded exactly as Gymnasium's four updates
    next_state = np.empty_like(state)
    for i, derivative in enumerate((x_dot, xacc, theta_dot, thetaacc)):
        np.multiply(derivative, TAU, out=next_state[i])
        next_state[i] += state[i]
    # abs(x) > 2.4 is exactly (x < -2.4) | (x > 2.4) in floating point.
    terminated = (np.abs(next_state[0]) > X_THRESHOLD) | (np.abs(next_state[2]) > THETA_THRESHOLD)
    return next_state, np.ones(terminated.shape, state.dtype), terminated

