"""The local backend: trials in ``workers`` long-lived worker processes on this machine.

Each worker is a fresh interpreter (multiprocessing's ``spawn``), started with
OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = PGRAD_THREADS = 1 in its environment so
that every trial is single-threaded (the trials are the parallelism), and runs one trial at a
time (:func:`pgrad.sweeps.run_trial`: ``pgrad train`` in-process), sending back its
:class:`~pgrad.sweeps.Outcome` through its own pipe.

Signals: a worker has its own process group, so a terminal's Ctrl-C reaches the sweep alone; the
sweep records SIGINT / SIGTERM, starts no more trials and forwards each signal once to every
worker running one (``pgrad train`` finishes the update and writes an interrupted, resumable
snapshot; a second signal aborts at once), then waits for their outcomes. A worker that dies
(SIGKILL, out of memory) makes its trial ``interrupted`` with the reason, and the sweep goes on
with a new worker. Workers end when the sweep is done with them (at once, without the
interpreter's teardown: nothing of theirs is left to write) or closes their pipes, and on Linux
with the sweep itself (``PR_SET_PDEATHSIG``: SIGTERM, so that their trials stop cleanly).

While it waits for the trials, the sweep does its ``spare`` work (the report's first steps:
:class:`pgrad.sweeps.report.Ranking`), so that little is left for after the last trial.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext, SpawnProcess
from types import FrameType

from pgrad.sweeps import Outcome, Report, Task, run_trial

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "PGRAD_THREADS")
POLL_SECONDS = 0.2
"""How often the sweep looks at its signals while waiting for trials."""
JOIN_SECONDS = 60.0
"""How long closing the sweep waits for a worker to end before killing it."""


def _serve(conn: Connection, parent: int) -> None:
    """A worker's life: run each task received on ``conn``, send its outcome back; end on None,
    on a closed pipe, or with the sweep process."""
    os.setpgrp()  # the terminal's Ctrl-C goes to the sweep, which forwards it exactly once
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        return  # the sweep is already gone
    for s in (signal.SIGINT, signal.SIGTERM):  # between trials; pgrad.cli.main handles them inside one
        signal.signal(s, signal.SIG_IGN)
    sys.stdout = open(os.devnull, "w")  # a trial's own summary line: the sweep shows progress instead
    while True:
        try:
            task = conn.recv()
            if task is None:  # the sweep is done with this worker: its trials' files are all closed
                conn.close()
                os._exit(0)  # skip the interpreter's teardown (numba, scipy, matplotlib: seconds)
            conn.send(run_trial(task))
        except (EOFError, OSError):
            return


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """OMP/OPENBLAS/MKL_NUM_THREADS and PGRAD_THREADS = 1 in this process's environment inside the
    block (what a process started meanwhile inherits), restored after."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update(dict.fromkeys(THREAD_VARS, "1"))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class _Worker:
    process: SpawnProcess
    conn: Connection
    task: Task | None = None


def _start(ctx: SpawnContext) -> _Worker:
    conn, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, os.getpid()), name="pgrad-sweep-worker", daemon=True)
    with single_threaded():
        process.start()
    child.close()
    return _Worker(process, conn)


def _death(process: SpawnProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"worker process {process.pid} was killed by {signal.Signals(-code).name}"
    return f"worker process {process.pid} ended (exit code {code}) during the trial"


def _collect(worker: _Worker, node: str) -> Outcome | None:
    """The outcome of a busy worker's trial if it has one, an ``interrupted`` one if the worker
    died without one, None while it is still running."""
    assert worker.task is not None
    with contextlib.suppress(EOFError, OSError):  # a broken pipe: the worker died
        if worker.conn.poll():
            outcome: Outcome = worker.conn.recv()
            return outcome
        if worker.process.is_alive():
            return None
    worker.process.join(JOIN_SECONDS)
    return Outcome(worker.task.name, "interrupted", _death(worker.process), node)


class Signals:
    """SIGINT and SIGTERM while the sweep runs: recorded, never raised; :meth:`forward` sends
    each one received since its last call to the given processes."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.sent = 0

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)

    def forward(self, pids: Sequence[int]) -> None:
        for signum in self.received[self.sent:]:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
        self.sent = len(self.received)

    def __enter__(self) -> Signals:
        self.previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self.previous.items():
            signal.signal(s, h)


def _close(pool: Sequence[_Worker]) -> None:
    """End every worker: a trial still running (the sweep failed) gets SIGTERM; each pipe is
    closed; a worker still alive after JOIN_SECONDS is killed."""
    for worker in pool:
        if worker.task is not None and worker.process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid or 0, signal.SIGTERM)
        with contextlib.suppress(OSError):
            worker.conn.send(None)
        worker.conn.close()
    for worker in pool:
        worker.process.join(JOIN_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()


def _dispatch(pool: list[_Worker], queue: deque[Task], workers: int, ctx: SpawnContext, report: Report,
              node: str) -> None:
    """Give queued tasks to idle workers, starting workers up to ``workers``."""
    while queue:
        worker = next((w for w in pool if w.task is None), None)
        if worker is None:
            if len(pool) >= workers:
                return
            worker = _start(ctx)
            pool.append(worker)
        worker.task = queue.popleft()
        with contextlib.suppress(OSError):  # a worker lost meanwhile: collected as such
            worker.conn.send(worker.task)
        report(Outcome(worker.task.name, "running", node=node))


def run_local(tasks: Sequence[Task], report: Report, workers: int,
              spare: Callable[[], bool] | None = None) -> int | None:
    """Run ``tasks`` on ``workers`` processes of this machine (a :class:`~pgrad.sweeps.Backend`):
    ``report`` gets every trial's ``running`` and then its end; returns the first signal that
    interrupted the sweep, or None.

    ``spare``: work beside the trials, e.g. the sweep's report, done in this process while it
    would wait for them (every waiting trial has been given to a worker): one short step per call,
    returning whether it took one (if not, it is called again after POLL_SECONDS or a trial's
    end). What it does then is not left for after the last trial, with every core but one idle."""
    if workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers}")
    ctx = multiprocessing.get_context("spawn")
    node, queue = socket.gethostname(), deque(tasks)
    pool: list[_Worker] = []
    with Signals() as signals:
        try:
            while True:
                if not signals.received:
                    _dispatch(pool, queue, workers, ctx, report, node)
                busy = [w for w in pool if w.task is not None]
                signals.forward([w.process.pid for w in busy if w.process.pid is not None])
                if not busy:
                    break
                more = spare is not None and not signals.received and spare()
                wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                     timeout=0 if more else POLL_SECONDS)
                ended = []
                for worker in busy:
                    outcome = _collect(worker, node)
                    if outcome is not None:
                        worker.task = None
                        ended.append(outcome)
                pool = [w for w in pool if w.task is not None or w.process.is_alive()]  # lost: collected
                if ended and not signals.received:
                    _dispatch(pool, queue, workers, ctx, report, node)  # the next trials first
                for outcome in ended:
                    report(outcome)
        finally:
            _close(pool)
    return signals.received[0] if signals.received else None
