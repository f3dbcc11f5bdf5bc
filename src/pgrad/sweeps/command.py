"""``pgrad sweep``: its flags and its lifecycle.

    check the spec and the folder (bad input: one line, exit 2, nothing written)
    --backend ray: connect to Ray (--address) or start a local one (a Ray that does not answer,
        or Ray not installed: one line, exit 2, nothing written)
    lock the sweep folder; create it whole (or, with --resume, read it back)
    run every trial not yet settled on the backend, rewriting sweep.json at each status change
    write report.md and sensitivity.png; exit 0 if every trial is done (or stopped by the
    scheduler), 1 if not,
    130 / 143 on SIGINT / SIGTERM (the trials stopped resumably: pgrad sweep --resume DIR)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from pgrad.sweeps import Outcome, Task
    from pgrad.sweeps.layout import Trial
    from pgrad.sweeps.report import Ranking
    from pgrad.sweeps.spec import SweepSpec

SPEC_FLAGS = {"algo": "--algo", "grid": "--grid", "space": "--space", "search": "--search",
              "trials": "--trials", "search_seed": "--search-seed", "seeds": "--seeds", "out": "--out",
              "force": "--force", "checkpoint_every": "--checkpoint-every", "scheduler": "--scheduler"}
"""Flags that make a new sweep's spec (``--resume`` reads it from sweep.json instead)."""
RAY_FLAGS = {"address": "--address", "cpus_per_trial": "--cpus-per-trial", "storage": "--storage"}
"""Flags of the Ray backend only."""
RAY_INSTALL = "pgrad sweep --backend ray needs Ray: pip install 'pgrad[ray]'"


def add_parser(subparsers: Any, algo: str, help_text: str) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand, with one flag per config field of ``algo`` (fixed for every
    trial; only those given count)."""
    from pgrad.algorithms import ALGORITHMS, config_class
    from pgrad.cli import add_config_flags
    from pgrad.sweeps.spec import BACKENDS, SCHEDULERS, SEARCHES

    sweep: argparse.ArgumentParser = subparsers.add_parser(
        "sweep", help=help_text,
        description="Train one configuration per trial, each on all --seeds in one vectorised run "
                    "(exactly `pgrad train` with the same flags), in worker processes or Ray Tune trials "
                    "(--backend ray); write DIR/sweep.json, "
                    "DIR/runs/<trial>/ (run folders), report.md (trials ranked by the IQM of the final "
                    "return, 95% bootstrap CIs) and sensitivity.png. Config flags below are fixed for "
                    "every trial. Exit 0 if every trial is done (or stopped by --scheduler), 1 if some "
                    "failed or were interrupted.")
    sweep.add_argument("--algo", choices=sorted(ALGORITHMS), default=None,
                       help="algorithm (default: reinforce)")
    sweep.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2,...",
                       help="sweep a config field over these values; several --grid: every combination")
    sweep.add_argument("--search", choices=SEARCHES, default=None,
                       help="grid (the default with --grid), random (the default with --space) or optuna "
                            "(Optuna's TPE through Ray Tune, seeded by --search-seed, proposing rounds of "
                            "--workers trials; --backend ray)")
    sweep.add_argument("--space", action="append", default=[], metavar="FIELD=KIND:...",
                       help="random or optuna search: draw a config field from log:LO:HI (log-uniform), "
                            "uniform:LO:HI, int:LO:HI (both included) or choice:A,B,...")
    sweep.add_argument("--trials", type=int, default=None,
                       help="random or optuna search: configurations to draw")
    sweep.add_argument("--search-seed", type=int, default=None,
                       help="random or optuna search: seed of the draws (default: 0)")
    sweep.add_argument("--seeds", default=None, help="seeds of every trial: N, A-B or a list (default: 0)")
    sweep.add_argument("--out", default=None, help="sweep folder (default: sweeps/<timestamp>-<pid>)")
    sweep.add_argument("--force", action="store_true",
                       help="replace an existing sweep folder (only one that pgrad wrote)")
    sweep.add_argument("--workers", type=int, default=None,
                       help=f"worker processes, one trial each at a time (default: the cores, "
                            f"{os.cpu_count()}); --backend ray: the local Ray's CPUs, or with --address the "
                            "trials at once (default: as the cluster's CPUs allow)")
    sweep.add_argument("--backend", choices=BACKENDS, default=None,
                       help="local: worker processes here (default); ray: Ray Tune trials on a local Ray "
                            "started for the sweep, or on the cluster at --address (needs pgrad[ray])")
    sweep.add_argument("--address", default=None, metavar="ADDR",
                       help="--backend ray: the Ray cluster to run on: auto (the one `ray start` made on "
                            "this machine), HOST:PORT of its head, or ray://HOST:10001 (its Ray Client "
                            "server: Tune then runs on the cluster, the run folders come back here)")
    sweep.add_argument("--cpus-per-trial", type=float, default=None, metavar="N",
                       help="--backend ray: CPUs each trial holds (default: 1)")
    sweep.add_argument("--storage", default=None, metavar="PATH_OR_URI",
                       help="--backend ray: where Ray Tune keeps the trials' checkpoints (default: a "
                            "temporary folder, removed after the sweep); a cluster of several machines needs "
                            "a folder every node mounts at the same path, or a URI such as s3://bucket/sweeps")
    sweep.add_argument("--scheduler", choices=SCHEDULERS, default=None,
                       help="--backend ray: asha, Ray Tune's ASHA stopping the trials that fall behind "
                            "(window_mean, in env steps; their status: stopped)")
    sweep.add_argument("--tensorboard", default=None, metavar="DIR",
                       help="each trial's pgrad train --tensorboard: one TensorBoard run per trial and seed "
                            "in DIR/<trial>/seed_<seed>/ (needs pgrad[tensorboard])")
    sweep.add_argument("--quiet", action="store_true", help="no live progress")
    sweep.add_argument("--checkpoint-every", type=float, default=None, metavar="SECONDS",
                       help="each trial's checkpoint period (0: never; default: 60); --backend ray: what a "
                            "trial whose worker was lost restarts from")
    sweep.add_argument("--resume", type=Path, default=None, metavar="DIR",
                       help="finish the sweep in DIR: done, failed and stopped trials kept, interrupted "
                            "ones resumed, the others started (with --workers, --quiet, --tensorboard and "
                            "the backend flags only)")
    add_config_flags(sweep, config_class(algo))
    names = {f.name for f in dataclasses.fields(config_class(algo))}
    for action in sweep._actions:  # a config flag not given leaves no attribute: only given ones are fixed
        if action.dest in names:
            action.default = argparse.SUPPRESS
    return sweep


@contextlib.contextmanager
def _progress(console: Console, quiet: bool, trials: dict[str, Trial],
              total: int) -> Iterator[Callable[[], None]]:
    """Live progress over the trials, at least ``total`` of them (nothing if quiet): yields the
    function that redraws it."""
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
        progress.update(task, total=max(total, len(trials)), completed=sum(counts[s] for s in SETTLED),
                        counts=", ".join(f"{n} {s}" for s, n in sorted(counts.items())))

    with progress:
        show()
        yield show


def _checked(args: argparse.Namespace) -> tuple[str, Path, SweepSpec, list[Trial] | None]:
    """The sweep folder (as given, and absolute), its spec (with the backend to run it on) and, for a
    new sweep, its trials: every check that can refuse the command line, before anything is
    written (a one-line error)."""
    from pgrad import folders
    from pgrad.cli import UsageError
    from pgrad.runs import default_out
    from pgrad.sweeps import layout, spec

    algo = args.algo or "reinforce"
    fixed = {name: getattr(args, name) for name in spec.config_fields(algo) if hasattr(args, name)}
    if args.tensorboard is not None:
        from pgrad.training import tensorboard

        tensorboard.require()
    if args.resume is not None:
        given = [flag for dest, flag in SPEC_FLAGS.items() if getattr(args, dest) not in (None, [], False)]
        given += ["--" + name.replace("_", "-") for name in fixed]
        if given:
            raise UsageError(f"--resume reads the sweep from {args.resume}/sweep.json; drop "
                             f"{', '.join(given)} (only --workers, --quiet, --tensorboard and the backend "
                             "flags go with it)")
        target = Path(os.path.abspath(args.resume))
        if target.is_symlink():
            raise UsageError(f"--resume {args.resume} is a symlink; pgrad never writes through one")
        return str(args.resume), target, _backend(args, layout.read(target)[0]), None
    every = 60.0 if args.checkpoint_every is None else args.checkpoint_every
    sweep = spec.make_spec(algo, fixed, args.seeds or "0", grid=args.grid, space=args.space,
                           search=args.search, trials=args.trials, search_seed=args.search_seed,
                           checkpoint_every=every, backend=args.backend or "local", scheduler=args.scheduler)
    sweep = _backend(args, sweep)
    trials = layout.new_trials(sweep)
    out = args.out if args.out is not None else str(default_out("sweeps"))
    target = folders.check_target(out, force=args.force, kind="sweep",
                                  needed_bytes=layout.needed_bytes(sweep, trials))
    if args.tensorboard is not None and not args.force:
        from pgrad.training.tensorboard import event_files

        held = [t.name for t in trials if event_files(Path(args.tensorboard) / t.name)]
        if held:
            raise UsageError(f"--tensorboard: {Path(args.tensorboard) / held[0]} already holds TensorBoard "
                             "event files; pass --force to start new runs there (the old files are kept, "
                             "hidden)")
    return out, target, sweep, trials


def _backend(args: argparse.Namespace, sweep: SweepSpec) -> SweepSpec:
    """The spec with the backend the command line asks for (a resumed sweep: its own unless
    --backend says otherwise); a one-line error for flags the backend does not take."""
    from pgrad.cli import UsageError

    backend = args.backend or sweep.backend
    if backend != "ray":
        given = [flag for dest, flag in RAY_FLAGS.items() if getattr(args, dest) is not None]
        needs = (["--search optuna"] if sweep.search == "optuna" else []) + (
            [f"--scheduler {sweep.scheduler}"] if sweep.scheduler else [])
        if given or needs:
            raise UsageError(f"{', '.join(given or needs)} needs --backend ray")
    if args.cpus_per_trial is not None and not args.cpus_per_trial > 0:
        raise UsageError(f"--cpus-per-trial must be positive, got {args.cpus_per_trial}")
    return dataclasses.replace(sweep, backend=backend)


def _ray() -> ModuleType:
    """pgrad's Ray backend, or the one-line install hint where Ray is missing."""
    from pgrad.cli import UsageError

    try:
        from pgrad.sweeps import ray_backend
    except ImportError:
        raise UsageError(RAY_INSTALL) from None
    return ray_backend



class _Trials:
    """The sweep's trials as they change: each change rewritten into sweep.json, and shown."""

    def __init__(self, target: Path, sweep: SweepSpec, trials: list[Trial], tasks: list[Task],
                 board: str | None) -> None:
        self.target, self.sweep, self.tasks, self.board = target, sweep, tasks, board
        self.state = {t.name: t for t in trials}
        self.claimed: set[str] = set()
        self.show: Callable[[], None] = lambda: None

    def write(self) -> None:
        from pgrad.sweeps import layout

        layout.write(self.target, self.sweep, list(self.state.values()))
        self.show()

    def report(self, outcome: Outcome) -> None:
        from pgrad.sweeps import layout

        self.state[outcome.name] = layout.updated(self.state[outcome.name], outcome)
        self.write()

    def claim(self, values: dict[str, Any]) -> Task:
        """The task of an Optuna proposal: an unsettled trial with these values again, else a new trial."""
        from pgrad.sweeps import layout

        for task in self.tasks:
            if task.name not in self.claimed and self.state[task.name].overrides == values:
                self.claimed.add(task.name)
                return task
        trial = layout.added(list(self.state.values()), values)
        self.state[trial.name] = trial
        self.write()
        return layout.task(self.target, self.sweep, trial, self.board)


def _run(args: argparse.Namespace, ray: ModuleType | None, workers: int, trials: _Trials,
         ranking: Ranking) -> int | None:
    """Run the unsettled trials on the backend; the signal that interrupted them, or None. With the
    local backend, the sweep begins the report's ``ranking`` while it waits for the trials."""
    from pgrad.sweeps.local import run_local

    if ray is None:
        return run_local(trials.tasks, trials.report, workers,
                         spare=lambda: ranking.step(list(trials.state.values())))
    options = ray.RayOptions(args.cpus_per_trial or 1.0, workers if args.address else None, args.storage)
    search = None
    if trials.sweep.search == "optuna":
        from pgrad.sweeps.ray_search import optuna_plan

        search = optuna_plan(trials.target, list(trials.state.values()), trials.tasks, trials.sweep,
                             trials.claim)
    signum: int | None = ray.run_ray(trials.tasks, trials.report, spec=trials.sweep, options=options,
                                     search=search)
    return signum


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from pgrad import folders
    from pgrad.cli import UsageError
    from pgrad.sweeps import layout
    from pgrad.sweeps.report import Ranking, write_report

    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    if workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {workers}")
    out, target, sweep, new = _checked(args)
    ray = _ray() if sweep.backend == "ray" else None
    board = None if args.tensorboard is None else os.path.abspath(args.tensorboard)
    start = time.perf_counter()
    with (ray.connected(args.address, workers, args.storage) if ray else contextlib.nullcontext(),
          folders.FolderLock(target, "sweep folder")):
        if new is None:
            sweep, listed = layout.read(target)  # again, now that no other sweep can change it
            sweep = _backend(args, sweep)
        else:
            listed = new
            layout.create(target, sweep, listed)
        kept, tasks = layout.plan(target, sweep, listed, board)
        trials = _Trials(target, sweep, kept, tasks, board)
        trials.write()
        ranking = Ranking(target)
        with _progress(console, args.quiet, trials.state, sweep.trials or 0) as show:
            trials.show = show
            signum = _run(args, ray, workers, trials, ranking)
        final = list(trials.state.values())
        if signum is not None:
            print(f"pgrad: interrupted; resume with: pgrad sweep --resume {out}", file=sys.stderr)
            return 130 if signum == signal.SIGINT else 143
        _, ranked = write_report(target, sweep, final, ranking=ranking)
        layout.write(target, sweep, final)  # the marker lists the report too
    best = f"; best {ranked[0].trial.name}: IQM final return {ranked[0].iqm:.1f}" if ranked else ""
    return _summary(console, out, final, f"in {time.perf_counter() - start:.1f} s{best}")


def _summary(console: Console, out: str, trials: list[Trial], how: str) -> int:
    """Print what the sweep did; exit code 0 if every trial is done or stopped by the scheduler (its
    intended end), else 1 (with one stderr line)."""
    from pgrad.sweeps.layout import SETTLED

    counts = Counter(t.status for t in trials)
    stopped = f" ({counts['stopped']} stopped by the scheduler)" if counts["stopped"] else ""
    console.out(f"sweep {out}: {counts['done']}/{len(trials)} trials done{stopped} {how}; wrote "
                f"{Path(out) / 'report.md'} and sensitivity.png", highlight=False)
    if counts["done"] + counts["stopped"] == len(trials):
        return 0
    detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "done")
    unsettled = any(t.status not in SETTLED for t in trials)
    hint = f"; resume with: pgrad sweep --resume {out}" if unsettled else ""
    print(f"pgrad: {len(trials) - counts['done']} of {len(trials)} trials not done ({detail}); see "
          f"{Path(out) / 'sweep.json'}{hint}", file=sys.stderr)
    return 1
