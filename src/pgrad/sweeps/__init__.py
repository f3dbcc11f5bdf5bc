"""``pgrad sweep``: many configurations of one algorithm, each trained on the same seeds.

A sweep is a spec (:mod:`~pgrad.sweeps.spec`: the algorithm, fixed config values, the seeds and a
grid or a random search over config fields) expanded into trials; a trial is one configuration
trained on all the seeds in one vectorised call, exactly ``pgrad train`` with the same flags.
:mod:`~pgrad.sweeps.layout` is the sweep folder (``sweep.json``, ``runs/<trial>/``),
:mod:`~pgrad.sweeps.report` ranks the trials, :mod:`~pgrad.sweeps.command` is the command.

A backend is the one piece that differs between running trials here and on a cluster: it gets the
:class:`Task` of every trial still to run and reports each trial's :class:`Outcome` (``running``
when it starts, then ``done``, ``failed``, ``interrupted`` or, from a scheduler, ``stopped``);
it returns the signal that interrupted the sweep, or None. The local backend
(:mod:`~pgrad.sweeps.local`) runs :func:`run_trial` in worker processes; the Ray backend
(:mod:`~pgrad.sweeps.ray_backend`) runs the same function in Ray Tune trials, wherever they live.
"""

from __future__ import annotations

import contextlib
import io
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pgrad.cli import TrainHooks


@dataclass(frozen=True)
class Task:
    """One trial to run: its name, the ``pgrad`` command line that runs it (``train`` with the
    trial's flags and ``--out`` its run folder, or ``resume`` of that folder), ``run_dir``: that run
    folder as the command line names it (a backend that trains elsewhere puts its own folder in its
    place), and ``resume``: the command line that continues the run folder from its checkpoint."""

    name: str
    argv: tuple[str, ...]
    run_dir: str = ""
    resume: tuple[str, ...] = ()

    def at(self, run_dir: str) -> Task:
        """This task with its run folder at ``run_dir`` (both command lines)."""
        def moved(argv: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(run_dir if a == self.run_dir else a for a in argv)
        return Task(self.name, moved(self.argv), run_dir, moved(self.resume))


@dataclass(frozen=True)
class Outcome:
    """A trial's new status: ``running`` (it started on ``node``), ``done``, ``failed`` (with a
    one-line ``reason``), ``interrupted`` (a signal, or a lost worker: resumable) or ``stopped``
    (a scheduler ended it early); ``wall_seconds``: the time this attempt took."""

    name: str
    status: str
    reason: str | None = None
    node: str | None = None
    wall_seconds: float | None = None


Report = Callable[[Outcome], None]


class Backend(Protocol):
    """Runs ``tasks``, calls ``report`` with every status change (in the sweep's own process) and
    returns the signal number that interrupted the sweep (its trials reported ``interrupted``),
    or None once every task has reported its end."""

    def __call__(self, tasks: Sequence[Task], report: Report) -> int | None: ...


ERROR_PREFIX = "pgrad: error: "


def run_trial(task: Task, hooks: TrainHooks | None = None) -> Outcome:
    """Run one trial in this process: ``pgrad.cli.main(task.argv)``, its stderr captured, with
    ``hooks`` (:class:`pgrad.cli.TrainHooks`) added to its training.

    Exit code 0 -> ``done``; 130 / 143 (SIGINT / SIGTERM: the run folder holds an interrupted
    snapshot) -> ``interrupted``; anything else, or an exception -> ``failed`` with the one-line
    reason pgrad gave (its ``pgrad: error:`` line, or the exception).
    """
    from pgrad.cli import TRAIN_HOOKS, main

    node, start = socket.gethostname(), time.perf_counter()
    err = io.StringIO()
    token = TRAIN_HOOKS.set(hooks)
    try:
        with contextlib.redirect_stderr(err):
            code = main(list(task.argv))
    except Exception as e:  # a bug or an unexpected failure inside training: this trial only
        reason = (str(e).splitlines() or [""])[0]
        return Outcome(task.name, "failed", f"{type(e).__name__}: {reason}".rstrip(": "), node,
                       time.perf_counter() - start)
    finally:
        TRAIN_HOOKS.reset(token)
    wall = time.perf_counter() - start
    if code == 0:
        return Outcome(task.name, "done", None, node, wall)
    if code in (130, 143):
        return Outcome(task.name, "interrupted", None, node, wall)
    errors = [line.removeprefix(ERROR_PREFIX) for line in err.getvalue().splitlines()
              if line.startswith(ERROR_PREFIX)]
    return Outcome(task.name, "failed", errors[-1] if errors else f"exit code {code}", node, wall)
