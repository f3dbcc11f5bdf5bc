"""The compiled hot path's switch: numba when it is installed and works, else the numpy reference.

pgrad's environments are written once, as scalar code that mirrors Gymnasium's own step
(``transition`` in a module of :mod:`pgrad.envs`, which the numpy ``step`` runs on whole arrays).
:mod:`pgrad.rollout.compiled` compiles that code with numba into the fused rollout loop.
Compiling keeps IEEE order: no ``fastmath`` (so no reassociation and no fused multiply-add),
numpy's error model (a division by zero gives inf or nan, as numpy's arrays do), and
``cache=True``, so that later processes load the machine code instead of compiling it.

Loading numba and its cached kernels costs a process about a quarter of a second and 100 MiB,
more than a small run spends in numpy (the default ``pgrad train`` trains one seed in about
0.15 s). So by default (``auto``) the kernels are loaded once this process's rollouts have
stepped :data:`AUTO_WORK` environment-step slots in numpy (S K H per rollout, counted before the
rollout runs); from then on every rollout with a kernel runs compiled. ``PGRAD_JIT=1`` loads them
at the first rollout (benchmarks and tests use it; :func:`load` does the same from code).

The numpy path is taken, and the results are the same bits, when

- the environment variable ``PGRAD_NO_JIT`` is set to anything but ``""`` or ``"0"``, or
  ``PGRAD_JIT=0`` (silently), or
- numba is missing, fails to import, fails to compile a kernel, or a kernel disagrees with the
  numpy path in its start-up check (:func:`disable` logs one line on the ``pgrad`` logger).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

ENV_VAR = "PGRAD_NO_JIT"
"""Set to 1 to run the numpy reference path everywhere."""

MODE_VAR = "PGRAD_JIT"
"""``auto`` (default): compile once the work repays it; ``1``: from the first rollout; ``0``: never."""

AUTO_WORK = 1 << 22
"""Environment-step slots run in numpy before ``auto`` loads the kernels: about a second of
numpy work at small batches, several times numba's loading cost."""

OPTIONS: dict[str, Any] = {"cache": True, "fastmath": False, "nogil": True, "error_model": "numpy"}
"""numba.njit's options for every kernel: IEEE order kept, machine code cached on disk."""

logger = logging.getLogger("pgrad")
_numba: Any = None
_reason: str | None = None  # why the compiled path is off (None: not decided yet or on)


def requested() -> bool:
    """Whether the environment allows the compiled path (``PGRAD_NO_JIT`` unset, empty or 0, and
    ``PGRAD_JIT`` not 0)."""
    return os.environ.get(ENV_VAR, "") in ("", "0") and os.environ.get(MODE_VAR, "auto") != "0"


def eager() -> bool:
    """Whether the kernels load at the first rollout (``PGRAD_JIT=1``, or :func:`load` was called)."""
    return _eager or os.environ.get(MODE_VAR, "auto") == "1"


_eager = False
_work = 0


def wants(work: int) -> bool:
    """Count ``work`` environment-step slots about to run; whether the compiled path should load now
    (allowed, and eager or past :data:`AUTO_WORK`). Once loaded, callers use it without asking."""
    global _work
    if not requested():
        return False
    _work += work
    return eager() or _work >= AUTO_WORK


def load() -> bool:
    """Ask for the compiled path from now on (as ``PGRAD_JIT=1``); whether numba imports."""
    global _eager
    _eager = True
    return available()


def numba() -> Any:
    """The numba module, imported on first use; None when the compiled path is off."""
    global _numba
    if _numba is not None or _reason is not None:
        return _numba
    if not requested():
        _off(f"{ENV_VAR} is set", notice=False)
        return None
    os.environ.setdefault("NUMBA_DISABLE_INTEL_SVML", "1")  # libm's functions, as numpy and Python call
    try:
        import numba as module
    except Exception as e:  # missing, or broken (a mismatched llvmlite, numpy too new, ...)
        disable(f"numba does not import ({type(e).__name__}: {(str(e).splitlines() or [''])[0]})")
        return None
    _numba = module
    return _numba


def available() -> bool:
    """Whether the compiled path is on: numba imports and nothing has disabled it."""
    return numba() is not None


def njit(function: Callable[..., Any], inline: bool = False) -> Any:
    """``numba.njit(function)`` with :data:`OPTIONS` (``inline``: inlined into its callers by numba,
    for the small functions the kernels call per step); call only when :func:`available`."""
    return numba().njit(**OPTIONS, **({"inline": "always"} if inline else {}))(function)


def disable(reason: str) -> None:
    """Turn the compiled path off for this process, with a one-line notice saying why."""
    _off(reason, notice=True)


def _off(reason: str, notice: bool) -> None:
    global _numba, _reason
    if _reason is None and notice:
        logger.warning("pgrad: compiled hot path off, using numpy (same results, slower): %s", reason)
    _numba, _reason = None, reason


def reason() -> str | None:
    """Why the compiled path is off (None while it is on or not yet tried)."""
    return _reason


def reset() -> None:
    """Forget the decision and the work counted (tests: re-read the variables, retry the import)."""
    global _numba, _reason, _eager, _work
    _numba, _reason, _eager, _work = None, None, False, 0
