"""Continuous mountain car as pure numpy functions, bit-exact with Gymnasium's
``Continuous_MountainCarEnv``.

## Description
An under-powered car sits at the bottom of a sinusoidal valley; it must rock back and
forth to reach the flag on the right hill, paying for the force it uses (Moore, 1990).

## Action space
``Box(-1, 1, (1,), float32)``: the force on the car. The dynamics clip it to [-1, 1]
and multiply it by power = 0.0015; the reward uses the action as given, unclipped.

## Observation (state) table
| index | quantity                 | bounds        |
|-------|--------------------------|---------------|
| 0     | position of the car (m)  | [-1.2, 0.6]   |
| 1     | velocity of the car      | [-0.07, 0.07] |

## Transition
velocity += force power - 0.0025 cos(3 position), clipped to [-0.07, 0.07];
position += velocity, clipped to [-1.2, 0.6]; hitting the left wall while moving left
sets the velocity to 0.

## Reward
-0.1 action^2 on every step, plus 100 on the step that reaches the goal.

## Episode end
Terminated when position >= 0.45 and velocity >= 0; truncated after 999 steps
(``MAX_EPISODE_STEPS``, the rollout's or vector env's job).

## Layout and exactness
States are ``[2, *batch]`` arrays, component first. Gymnasium holds the state in float64
right after ``reset`` and in float32 after every ``step``, and numpy scalar promotion makes
the two cases compute differently (a Python float meeting a float32 scalar is rounded to
float32 first). pgrad mirrors both: a state whose values are all float32-representable
takes the float32 arithmetic, any other state the float64 arithmetic of the first step
after a reset. A float64 reset position that happens to be exactly float32-representable
(about one reset in 2^29) would take the float32 arithmetic, where Gymnasium takes the
float64 one. Actions are float32, the dtype of the action space; a float64 action is
rounded to float32 first.
"""

from __future__ import annotations

import numpy as np

from pgrad.envs._scalar import box_action, check_state, float32_typed
from pgrad.envs.mountain_car import (  # noqa: F401  the same track, start states, observations
    MAX_POSITION,
    MAX_SPEED,
    MIN_POSITION,
    OBS_HIGH,
    OBS_LOW,
    STATE_DIM,
    observe,
    reset,
)

ENV_ID = "MountainCarContinuous-v0"
ACTION_DIM = 1
MAX_EPISODE_STEPS = 999
MIN_ACTION = -1.0
MAX_ACTION = 1.0
GOAL_POSITION = 0.45
GOAL_VELOCITY = 0
POWER = 0.0015


def _transition(
    position: np.ndarray, velocity: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Continuous_MountainCarEnv.step`` on state components of one dtype T (float32 or
    float64) and float32 actions [n]. Python floats that meet a T value are cast to T, as
    numpy's scalar promotion casts them. Returns (position, velocity) in float32, terminated.
    """
    T = position.dtype.type
    # math.cos(3 * position) returns a Python float, computed in float64 from the T product
    gravity_term = 0.0025 * np.cos((3 * position).astype(np.float64))
    # force = min(max(action, -1.0), 1.0): the float32 action itself, or a Python float bound
    below, above = MIN_ACTION > action, MAX_ACTION < action
    clipped = below | above
    # float32 force: force * power - term, all in float32 (Python floats cast to float32)
    increment_inside = action * POWER - gravity_term.astype(np.float32)
    # Python float force: computed in float64, then added to the T velocity as a Python float
    increment_bound = np.where(below, MIN_ACTION, MAX_ACTION) * POWER - gravity_term
    velocity = np.where(
        clipped, velocity + increment_bound.astype(T), velocity + increment_inside.astype(T)
    )
    # "if v > max_speed: v = max_speed" and the like are exactly minimum / maximum
    velocity = np.maximum(np.minimum(velocity, T(MAX_SPEED)), T(-MAX_SPEED))
    position = position + velocity
    position = np.maximum(np.minimum(position, T(MAX_POSITION)), T(MIN_POSITION))
    velocity = np.where((position == MIN_POSITION) & (velocity < 0), T(0), velocity)
    terminated = (position >= GOAL_POSITION) & (velocity >= GOAL_VELOCITY)
    return position.astype(np.float32), velocity.astype(np.float32), terminated


def step(state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of every car in the batch.

    state: [2, *batch]; action: [*batch, 1] forces (float32; any real value, see the module
    docstring). Returns (next state [2, *batch], reward [*batch], terminated [*batch]).

    reward = 100 [terminated] - 0.1 action^2, with the action unclipped, as Gymnasium's.
    """
    check_state(state, STATE_DIM)
    batch_shape = state.shape[1:]
    force = box_action(action, batch_shape, ACTION_DIM)[..., 0].reshape(-1)
    flat = state.reshape(STATE_DIM, -1)
    # float32 arithmetic for every element, then float64 arithmetic for fresh float64 states
    position, velocity, terminated = _transition(
        flat[0].astype(np.float32), flat[1].astype(np.float32), force
    )
    if state.dtype == np.float64:
        fresh = ~float32_typed(flat)
        if fresh.any():
            position[fresh], velocity[fresh], terminated[fresh] = _transition(
                flat[0, fresh], flat[1, fresh], force[fresh]
            )
    # reward = 0; reward = 100.0 if terminated; reward -= math.pow(action[0], 2) * 0.1
    # math.pow(force, 2): the square of a float32 value is exact in float64 (24-bit significand,
    # 48-bit product), and libm's pow returns exact results exactly, so force * force is it
    force64 = force.astype(np.float64)
    reward = np.where(terminated, 100.0, 0.0) - force64 * force64 * 0.1
    next_state = np.empty(flat.shape, state.dtype)
    next_state[0], next_state[1] = position, velocity
    next_state = next_state.reshape(state.shape)
    return next_state, reward.astype(state.dtype).reshape(batch_shape), terminated.reshape(batch_shape)
