"""Array versions of the scalar arithmetic that Gymnasium's classic-control envs perform.

Gymnasium steps one environment with numpy (or Python) *scalars*; a few scalar operations
do not round like their array counterparts, so mirroring them bit for bit needs care:

- ``x ** 2`` on a float64 scalar calls the C library's ``pow(x, 2.0)``, which is not always
  the correctly rounded ``x * x`` (glibc misrounds about 1 in 1,000). ``np.float_power``
  calls the same ``pow`` element by element, so it is exact.
- ``x ** 2`` on a float32 scalar calls ``powf(x, 2.0f)``. numpy has no array loop that calls
  it, so :func:`pow2` rounds the exact square (computed in float64) correctly and defers to
  the scalar operation itself for the few elements whose square lies so near a float32
  rounding boundary that ``powf``'s documented error could round it the other way.
- Gymnasium keeps some states in float32 and some in float64 (Acrobot after ``reset``,
  MountainCarContinuous after ``step``), and the dtype changes the arithmetic. pgrad holds
  float64 arrays, and :func:`float32_typed` tells which batch elements hold float32 values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# glibc's powf (ARM optimized-routines) documents a relative error before the final rounding
# below 128 ln2 relerr_log2 + relerr_exp2 for |y log2 x| <= 128; for y = 2 that is under
# (1 + |log2 x|) 2^-31.6. We flag four times that band.
_POWF_Y2_RELERR = 2.0**-30
_TINY, _HUGE = 2.0**-60, 2.0**60  # outside: subnormal or overflowing squares, scalar path


def pow2(x: np.ndarray) -> np.ndarray:
    """``x ** 2`` elementwise, equal to the last bit to numpy's scalar ``x[i] ** 2``.

    x: float32 or float64 array of any shape. Returns the same shape and dtype.
    """
    if x.dtype == np.float64:
        return np.float_power(x, 2.0)
    if x.dtype != np.float32:
        raise ValueError(f"pow2 takes float32 or float64 arrays, got {x.dtype}")
    x64 = x.astype(np.float64)
    sq = x64 * x64  # exact: a float32 significand has 24 bits, so its square fits in 53
    with np.errstate(over="ignore", invalid="ignore"):
        out = sq.astype(np.float32)  # the correctly rounded square
        # powf's result before rounding lies within sq (1 +- relerr); where that interval holds
        # a float32 rounding boundary, the two ends round differently and powf may round
        # either way: ask the scalar operation itself. |log2 |x|| <= |exponent| + 1.
        relerr = (2.0 + np.abs(np.frexp(x)[1])) * _POWF_Y2_RELERR
        hard = (sq - sq * relerr).astype(np.float32) != (sq + sq * relerr).astype(np.float32)
        magnitude = np.abs(x64)
        hard |= ~((magnitude >= _TINY) & (magnitude <= _HUGE))  # subnormal, overflow, nan
        if hard.any():
            out[hard] = [value**2 for value in x[hard]]
    return out


def where(condition: Any, x: Any, y: Any) -> Any:
    """``np.where`` for the arrays of the numpy path; :mod:`pgrad.rollout.compiled` binds the name to
    a scalar ``x if condition else y`` when it compiles a ``transition`` (numba's np.where on
    scalars returns a 0-d array)."""
    return np.where(condition, x, y)


def clip(x: Any, low: Any, high: Any) -> Any:
    """``np.clip(x, low, high)`` as ``minimum(maximum(x, low), high)``: the same value for every
    input, nan included, on arrays and (compiled) on floats alike."""
    return np.minimum(np.maximum(x, low), high)


def float32_typed(state: np.ndarray) -> np.ndarray:
    """Which batch elements of ``state [d, *batch]`` hold only float32-representable values.

    Returns a bool array [*batch]; all true for a float32 state.
    """
    if state.dtype == np.float32:
        return np.ones(state.shape[1:], bool)
    return (state == state.astype(np.float32)).all(axis=0)


def box_action(action: np.ndarray, batch_shape: tuple[int, ...], dim: int) -> np.ndarray:
    """A Box action ``[*batch, dim]`` as float32, the dtype of Gymnasium's action spaces.

    Float64 actions are rounded to float32 first; Gymnasium's own env would compute with
    them in float64, so bit-exactness holds for float32 actions.
    """
    action = np.asarray(action)
    if action.shape != (*batch_shape, dim) or action.dtype.kind not in "fiu":
        raise ValueError(
            f"action must be real numbers of shape {(*batch_shape, dim)}, got {action.dtype} {action.shape}"
        )
    return action.astype(np.float32, copy=False)


def check_state(state: np.ndarray, state_dim: int) -> None:
    """Raise a one-line ValueError unless ``state`` is a float array ``[state_dim, *batch]``."""
    if state.ndim < 1 or state.shape[0] != state_dim or state.dtype.kind != "f":
        raise ValueError(
            f"state must be a float array of shape [{state_dim}, *batch], got {state.dtype} {state.shape}"
        )


def check_discrete_action(action: np.ndarray, batch_shape: tuple[int, ...], num_actions: int) -> None:
    """Raise a one-line ValueError unless ``action`` holds integers in [0, num_actions), [*batch]."""
    if (
        action.shape != batch_shape
        or action.dtype.kind not in "iu"
        or (action.size and (action.min() < 0 or action.max() >= num_actions))
    ):
        raise ValueError(
            f"action must be integers in [0, {num_actions}) of shape {batch_shape}, "
            f"got {action.dtype} {action.shape}"
        )
