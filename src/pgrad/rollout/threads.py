"""Threads for the hot path: how many, and a map over independent pieces of work.

The compiled rollout (:mod:`pgrad.rollout.compiled`, whose kernels release the GIL) runs
contiguous groups of environments on separate threads, and REINFORCE estimates groups of seeds
on separate threads (numpy releases the GIL inside its array loops). Each piece is computed by
the same code on the same numbers whatever the grouping, and the results are put together in
order, so they do not depend on the thread count. ``PGRAD_THREADS=1`` pins one thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

THREADS_VAR = "PGRAD_THREADS"
"""Threads the hot path may use (default: the cores this process may run on, at most 8); 1 pins one."""

MAX_DEFAULT = 8

T = TypeVar("T")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None
_workers = 0


def count() -> int:
    """``PGRAD_THREADS`` if set (a one-line ValueError unless a positive integer), else the cores
    this process may run on, at most ``MAX_DEFAULT``."""
    value = os.environ.get(THREADS_VAR, "").strip()
    if value:
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number < 1:
            raise ValueError(f"{THREADS_VAR} must be a positive integer, got {value!r}")
        return number
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT, cores))


def map(function: Callable[[T], R], items: Sequence[T]) -> list[R]:  # noqa: A001 (the builtin's meaning)
    """``[function(x) for x in items]``, on up to :func:`count` threads when there are two or more items."""
    global _executor, _workers
    n = min(count(), len(items))
    if n <= 1:
        return [function(x) for x in items]
    if _executor is None or _workers < n:
        if _executor is not None:
            _executor.shutdown(wait=False)
        _executor, _workers = ThreadPoolExecutor(n, thread_name_prefix="pgrad"), n
    return list(_executor.map(function, items))
