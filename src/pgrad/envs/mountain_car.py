"""Mountain car as pure, vectorised numpy functions, bit-exact with Gymnasium's ``MountainCarEnv``.

## Description
An under-powered car sits at the bottom of a sinusoidal valley; it must rock back and
forth to build momentum and reach the flag on top of the right hill (Moore, 1990).

## Action space
``Discrete(3)``: accelerate to the left (0), do not accelerate (1), accelerate to the
right (2).

## Observation (state) table
| index | quantity                 | bounds        |
|-------|--------------------------|---------------|
| 0     | position of the car (m)  | [-1.2, 0.6]   |
| 1     | velocity of the car      | [-0.07, 0.07] |

## Transition
velocity += (action - 1) force + cos(3 position) (-gravity), clipped to [-0.07, 0.07];
position += velocity, clipped to [-1.2, 0.6]; hitting the left wall while moving left
sets the velocity to 0 (force = 0.001, gravity = 0.0025).

## Reward
-1 on every step, the terminating step included.

## Episode end
Terminated when position >= 0.5 and velocity >= 0; truncated after 200 steps
(``MAX_EPISODE_STEPS``, the rollout's or vector env's job).

## Layout and exactness
States are float64 ``[2, *batch]`` arrays, component first; the arithmetic follows
``MountainCarEnv.step`` operation by operation (Gymnasium's ``math.cos`` and numpy's
``np.cos`` agree on float64), so the results equal Gymnasium's to the last bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pgrad.envs._scalar import check_discrete_action, check_state, clip, where

ENV_ID = "MountainCar-v0"
STATE_DIM = 2
NUM_ACTIONS = 3
MAX_EPISODE_STEPS = 200
RESET_LOW, RESET_HIGH = -0.6, -0.4

MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GOAL_POSITION = 0.5
GOAL_VELOCITY = 0
FORCE = 0.001
GRAVITY = 0.0025
OBS_LOW = (MIN_POSITION, -MAX_SPEED)
OBS_HIGH = (MAX_POSITION, MAX_SPEED)


def reset(u: np.ndarray) -> np.ndarray:
    """Initial states: position = low + (high - low) u with u in [0, 1), velocity = 0.

    u: [1, *batch] uniforms. Returns the state [2, *batch] in u's dtype.
    """
    if u.shape[:1] != (1,):
        raise ValueError(f"reset draws must have shape [1, *batch], got {u.shape}")
    state = np.zeros((STATE_DIM, *u.shape[1:]), u.dtype)
    state[0] = RESET_LOW + (RESET_HIGH - RESET_LOW) * u[0]
    return state


def observe(state: np.ndarray) -> np.ndarray:
    """The observation is the state: [2, *batch]."""
    return state


def step(state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of every car in the batch.

    state: [2, *batch]; action: [*batch] integers in {0, 1, 2}.
    Returns (next state [2, *batch], reward [*batch], terminated [*batch]).
    """
    check_state(state, STATE_DIM)
    action = np.asarray(action)
    check_discrete_action(action, state.shape[1:], NUM_ACTIONS)
    position, velocity = state
    push = (action - 1).astype(state.dtype)
    position, velocity, terminated = transition(position, velocity, push)
    return np.stack([position, velocity]), np.full(terminated.shape, REWARD, state.dtype), terminated


REWARD = -1.0
"""The reward of every step."""


def transition(position: Any, velocity: Any, push: Any) -> tuple[Any, Any, Any]:
    """Gymnasium's ``MountainCarEnv.step`` line by line on floats (compiled) or arrays (numpy):
    ``push`` = action - 1 in {-1, 0, 1}. Returns (position, velocity, terminated)."""
    velocity = velocity + (push * FORCE + np.cos(3 * position) * (-GRAVITY))
    velocity = clip(velocity, -MAX_SPEED, MAX_SPEED)
    position = position + velocity
    position = clip(position, MIN_POSITION, MAX_POSITION)
    velocity = where((position == MIN_POSITION) & (velocity < 0), 0.0, velocity)
    terminated = (position >= GOAL_POSITION) & (velocity >= GOAL_VELOCITY)
    return position, velocity, terminated
