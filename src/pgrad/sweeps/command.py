"""``pgrad sweep``: its flags and its lifecycle.

    check the spec and the folder (bad input: one line, exit 2, nothing written)
    lock the sweep folder; create it whole (or, with --resume, read it back)
    run every trial not yet settled on the backend, rewriting sweep.json at each status change
    write report.md and sensitivity.png; exit 0 if every trial is done, 1 if not,
    130 / 143 on SIGINT / SIGTERM (the trials stopped resumably: pgrad sweep --resume DIR)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from pgrad.sweeps.layout import Trial
    from pgrad.sweeps.spec import SweepSpec

SPEC_FLAGS = {"algo": "--algo", "grid": "--grid", "space": "--space", "search": "--search",
              "trials": "--trials", "search_seed": "--search-seed", "seeds": "--seeds", "out": "--out",
              "force": "--force", "checkpoint_every": "--checkpoint-every"}
"""Flags that make a new sweep's spec (``--resume`` reads it from sweep.json instead)."""


def add_parser(subparsers: Any, algo: str = "reinforce") -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand, with one flag per config field of ``algo`` (fixed for every
    trial; only those given count)."""
    from pgrad.algorithms import ALGORITHMS, config_class
    from pgrad.cli import add_config_flags
    from pgrad.sweeps.spec import SEARCHES

    sweep: argparse.ArgumentParser = subparsers.add_parser(
        "sweep", help="train many configurations and rank them with confidence intervals",
        description="Train one configuration per trial, each on all --seeds in one vectorised run "
                    "(exactly `pgrad train` with the same flags), in worker processes; write DIR/sweep.json, "
                    "DIR/runs/<trial>/ (run folders), report.md (trials ranked by the IQM of the final "
                    "return, 95% bootstrap CIs) and sensitivity.png. Config flags below are fixed for "
                    "every trial. Exit 0 if every trial is done, 1 if some failed or were interrupted.")
    sweep.add_argument("--algo", choices=sorted(ALGORITHMS), default=None,
                       help="algorithm (default: reinforce)")
    sweep.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2,...",
                       help="sweep a config field over these values; several --grid: every combination")
    sweep.add_argument("--search", choices=SEARCHES, default=None,
                       help="grid (the default with --grid) or random (the default with --space)")
    sweep.add_argument("--space", action="append", default=[], metavar="FIELD=KIND:...",
                       help="random search: draw a config field from log:LO:HI (log-uniform), uniform:LO:HI, "
                            "int:LO:HI (both included) or choice:A,B,...")
    sweep.add_argument("--trials", type=int, default=None, help="random search: configurations to draw")
    sweep.add_argument("--search-seed", type=int, default=None,
                       help="random search: seed of the draws (default: 0)")
    sweep.add_argument("--seeds", default=None, help="seeds of every trial: N, A-B or a list (default: 0)")
    sweep.add_argument("--out", default=None, help="sweep folder (default: sweeps/<timestamp>-<pid>)")
    sweep.add_argument("--force", action="store_true",
                       help="replace an existing sweep folder (only one that pgrad wrote)")
    sweep.add_argument("--workers", type=int, default=None,
                       help=f"worker processes, one trial each at a time (default: the cores, "
                            f"{os.cpu_count()})")
    sweep.add_argument("--quiet", action="store_true", help="no live progress")
    sweep.add_argument("--checkpoint-every", type=float, default=None, metavar="SECONDS",
                       help="each trial's checkpoint period (0: never; default: 60)")
    sweep.add_argument("--resume", type=Path, default=None, metavar="DIR",
                       help="finish the sweep in DIR: done and failed trials kept, interrupted ones resumed, "
                            "the others started (with --workers and --quiet only)")
    add_config_flags(sweep, config_class(algo))
    names = {f.name for f in dataclasses.fields(config_class(algo))}
    for action in sweep._actions:  # a config flag not given leaves no attribute: only given ones are fixed
        if action.dest in names:
            action.default = argparse.SUPPRESS
    return sweep


@contextlib.contextmanager
def _progress(console: Console, quiet: bool, trials: dict[str, Trial]) -> Iterator[Callable[[], None]]:
    """Live progress over the trials (nothing if quiet): yields the function that redraws it."""
    if quiet:
        yield lambda: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from pgrad.sweeps.layout import SETTLED

    progress = Progress(SpinnerColumn(), TextColumn("trials"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=console)
    task = progress.add_task("sweep", total=len(trials), counts="")

    def show() -> None:
        counts = Counter(t.status for t in trials.values())
        progress.update(task, completed=sum(counts[s] for s in SETTLED),
                        counts=", ".join(f"{n} {s}" for s, n in sorted(counts.items())))

    with progress:
        show()
        yield show


def _checked(args: argparse.Namespace) -> tuple[str, Path, tuple[SweepSpec, list[Trial]] | None]:
    """The sweep folder (as given, and absolute) and, for a new sweep, its spec and trials: every
    check that can refuse the command line, before anything is written (a one-line error)."""
    from pgrad import folders
    from pgrad.cli import UsageError
    from pgrad.runs import default_out
    from pgrad.sweeps import layout, spec

    algo = args.algo or "reinforce"
    fixed = {name: getattr(args, name) for name in spec.config_fields(algo) if hasattr(args, name)}
    if args.resume is not None:
        given = [flag for dest, flag in SPEC_FLAGS.items() if getattr(args, dest) not in (None, [], False)]
        given += ["--" + name.replace("_", "-") for name in fixed]
        if given:
            raise UsageError(f"--resume reads the sweep from {args.resume}/sweep.json; drop "
                             f"{', '.join(given)} (only --workers and --quiet go with it)")
        target = Path(os.path.abspath(args.resume))
        if target.is_symlink():
            raise UsageError(f"--resume {args.resume} is a symlink; pgrad never writes through one")
        layout.read(target)
        return str(args.resume), target, None
    every = 60.0 if args.checkpoint_every is None else args.checkpoint_every
    sweep = spec.make_spec(algo, fixed, args.seeds or "0", grid=args.grid, space=args.space,
                           search=args.search, trials=args.trials, search_seed=args.search_seed,
                           checkpoint_every=every)
    trials = layout.new_trials(sweep)
    out = args.out if args.out is not None else str(default_out("sweeps"))
    target = folders.check_target(out, force=args.force, kind="sweep",
                                  needed_bytes=layout.needed_bytes(sweep, trials))
    return out, target, (sweep, trials)


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from pgrad import folders
    from pgrad.cli import UsageError
    from pgrad.sweeps import Backend, Outcome, layout
    from pgrad.sweeps.local import run_local
    from pgrad.sweeps.report import write_report

    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    if workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {workers}")
    out, target, new = _checked(args)
    backend: Backend = functools.partial(run_local, workers=workers)
    start = time.perf_counter()
    with folders.FolderLock(target, "sweep folder"):
        if new is None:
            sweep, trials = layout.read(target)  # again, now that no other sweep can change it
        else:
            sweep, trials = new
            layout.create(target, sweep, trials)
        trials, tasks = layout.plan(target, sweep, trials)
        layout.write(target, sweep, trials)
        state = {t.name: t for t in trials}
        with _progress(console, args.quiet, state) as show:
            def report(outcome: Outcome) -> None:
                state[outcome.name] = layout.updated(state[outcome.name], outcome)
                layout.write(target, sweep, list(state.values()))
                show()

            signum = backend(tasks, report)
        trials = list(state.values())
        if signum is not None:
            print(f"pgrad: interrupted; resume with: pgrad sweep --resume {out}", file=sys.stderr)
            return 130 if signum == signal.SIGINT else 143
        _, ranked = write_report(target, sweep, trials)
        layout.write(target, sweep, trials)  # the marker lists the report too
    best = f"; best {ranked[0].trial.name}: IQM final return {ranked[0].iqm:.1f}" if ranked else ""
    return _summary(console, out, trials, f"in {time.perf_counter() - start:.1f} s{best}")


def _summary(console: Console, out: str, trials: list[Trial], how: str) -> int:
    """Print what the sweep did; exit code 0 if every trial is done, else 1 (with one stderr line)."""
    from pgrad.sweeps.layout import SETTLED

    counts = Counter(t.status for t in trials)
    console.out(f"sweep {out}: {counts['done']}/{len(trials)} trials done {how}; wrote "
                f"{Path(out) / 'report.md'} and sensitivity.png", highlight=False)
    if counts["done"] == len(trials):
        return 0
    detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "done")
    unsettled = any(t.status not in SETTLED for t in trials)
    hint = f"; resume with: pgrad sweep --resume {out}" if unsettled else ""
    print(f"pgrad: {len(trials) - counts['done']} of {len(trials)} trials not done ({detail}); see "
          f"{Path(out) / 'sweep.json'}{hint}", file=sys.stderr)
    return 1
