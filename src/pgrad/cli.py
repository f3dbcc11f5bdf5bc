"""The ``pgrad`` command: train, resume, eval, plot, render, verify, report, sweep.

Every ``pgrad train`` flag is generated from the algorithm's config dataclass (names,
defaults, help texts and accepted values), so the two cannot drift. Bad input, a damaged
run folder or a filesystem problem gets one line on stderr and exit code 2, before any
compute is spent and with nothing written; SIGINT and SIGTERM get one line (``interrupted``)
and exit codes 130 and 143, with nothing half-written.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from pgrad.algorithms import ALGORITHMS

if TYPE_CHECKING:  # imported where used, so that `pgrad --help` starts fast
    import numpy as np
    from rich.console import Console
    from rich.progress import Progress

    from pgrad.runs import RunFolder
    from pgrad.training.loop import Algorithm, Callback, TrainState

ALGOS = sorted(ALGORITHMS)
FLAG_TYPES = {"int": int, "float": float, "float | None": float, "str": str}
"""Config field annotation -> the argparse type of its flag (bool fields get --x / --no-x)."""
NO_PLOT_HELP = "leave learning_curve.png out of the run folder (pgrad plot draws it later)"
TENSORBOARD_HELP = ("also log to TensorBoard: one run per seed in DIR/<run folder name>/seed_<seed>/ "
                    "(needs pgrad[tensorboard])")


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


@dataclass(frozen=True)
class TrainHooks:
    """What a caller running ``pgrad train`` / ``resume`` in its own process adds to the run (a Ray
    Tune trial: :mod:`pgrad.sweeps.ray_trial`): loop callbacks, called after pgrad's own, and
    ``written(run folder, run_status)`` after each write of the run folder (every snapshot, with
    its checkpoint/: ``running`` or ``interrupted``; the finished folder: ``done``)."""

    callbacks: tuple[Callback, ...] = ()
    written: Callable[[Path, str], None] | None = None


TRAIN_HOOKS: ContextVar[TrainHooks | None] = ContextVar("pgrad_train_hooks", default=None)
"""The hooks of the ``train`` / ``resume`` that :func:`main` runs in this context (None: none)."""


def _main_thread() -> bool:
    """Signals are the main thread's: :func:`main` called from another one (a Ray Tune trial runs
    in a thread of its worker) leaves their handlers alone."""
    return threading.current_thread() is threading.main_thread()


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as SIGINT raises KeyboardInterrupt."""


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit code 2 (argparse prints usage as well)
        raise UsageError(message)


def seed_ranges(text: str) -> list[range]:
    """'0-99' -> [range(0, 100)]; '1,5,7' -> three ranges; ranges and lists combine ('0-3,10')."""
    ranges = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise UsageError(f"malformed --seeds {text!r}; accepted: N, A-B with A <= B, or a "
                             "comma-separated list of those (e.g. 0-99 or 1,5,7)")
        lo = int(m.group(1))
        ranges.append(range(lo, (int(m.group(2)) if m.group(2) is not None else lo) + 1))
    return ranges


def parse_seeds(text: str) -> list[int]:
    """The seeds of ``--seeds`` (:func:`seed_ranges`), each at most once."""
    seeds = [s for r in seed_ranges(text) for s in r]
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r} repeats a seed; each seed may appear once")
    return seeds


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser, config_cls: type) -> None:
    from pgrad.config import field_type

    for f in dataclasses.fields(config_cls):
        help_text = f.metadata.get("help", "")
        choices = f.metadata.get("choices")
        kind = field_type(f)
        if kind == "bool":
            parser.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=f.default,
                                help=f"{help_text} (default: {f.default})")
        else:
            parser.add_argument(_flag(f.name), type=FLAG_TYPES[kind], default=f.default, choices=choices,
                                metavar=f.name.upper() if not choices else None,
                                help=f"{help_text} (default: {f.default})")


def build_parser(algo: str = "reinforce", only: str | None = None) -> argparse.ArgumentParser:
    """The ``pgrad`` parser. With ``only``, only that subcommand gets its arguments (the others
    stay bare: argparse parses one subcommand, and ``pgrad --help`` lists only their one-line
    helps), which spares importing every algorithm to start a command; ``only=""`` builds none."""
    parser = _Parser(prog="pgrad", description="Policy-gradient reinforcement learning.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, add) in SUBCOMMANDS.items():
        if only is None or only == name:
            add(sub, help_text, algo)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def _add_train(sub: Any, help_text: str, algo: str) -> None:
    from pgrad.algorithms import config_class

    train = sub.add_parser("train", help=help_text,
                           description="Train one agent per seed, all seeds in one vectorised run.")
    train.add_argument("--algo", choices=ALGOS, default="reinforce", help="algorithm")
    train.add_argument("--seeds", default="0", help="seeds: N, A-B or a list, e.g. 0-99 (default: 0)")
    train.add_argument("--out", default=None,
                       help="run folder (default: runs/<timestamp>-<pid>)")
    train.add_argument("--force", action="store_true",
                       help="replace an existing run folder (only one that pgrad wrote)")
    train.add_argument("--quiet", action="store_true", help="no live progress")
    train.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS",
                       help="write the run folder with a checkpoint every SECONDS of training (0: never; "
                            "default: 60)")
    train.add_argument("--tensorboard", default=None, metavar="DIR", help=TENSORBOARD_HELP)
    train.add_argument("--no-plot", dest="plot", action="store_false", help=NO_PLOT_HELP)
    add_config_flags(train, config_class(algo))


def _add_resume(sub: Any, help_text: str, algo: str) -> None:
    resume = sub.add_parser("resume", help=help_text,
                            description="Continue a run folder holding a checkpoint (written every "
                                        "--checkpoint-every seconds and on SIGINT/SIGTERM); the finished "
                                        "folder equals an uninterrupted run's, wall-clock times aside.")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS",
                        help="seconds between checkpoints (0: never; default: 60)")
    resume.add_argument("--tensorboard", default=None, metavar="DIR",
                        help=TENSORBOARD_HELP + "; appends to the runs the interrupted run wrote")
    resume.add_argument("--quiet", action="store_true", help="no live progress")
    resume.add_argument("--no-plot", dest="plot", action="store_false", help=NO_PLOT_HELP)


def _add_eval(sub: Any, help_text: str, algo: str) -> None:
    ev = sub.add_parser("eval", help=help_text)
    ev.add_argument("run_dir", type=Path)
    ev.add_argument("--episodes", type=int, default=100, help="episodes per seed (default: 100)")


def _add_plot(sub: Any, help_text: str, algo: str) -> None:
    plot = sub.add_parser("plot", help=help_text)
    plot.add_argument("run_dir", type=Path)


def _add_render(sub: Any, help_text: str, algo: str) -> None:
    ren = sub.add_parser("render", help=help_text,
                         description="Render the agents of a run folder with the environment's own "
                                     "renderer into a GIF or MP4, one labelled tile per seed; each "
                                     "episode's return is printed and drawn in the corner.")
    ren.add_argument("run_dir", type=Path)
    ren.add_argument("--out", required=True, type=Path, help="video file: .gif or .mp4")
    ren.add_argument("--force", action="store_true", help="replace an existing GIF or MP4 file")
    ren.add_argument("--seeds", default=None, help="seeds of the run to show, tiled (default: its first)")
    ren.add_argument("--episodes", type=int, default=1, help="episodes per seed, one after another "
                                                             "(default: 1)")
    greedy = ren.add_mutually_exclusive_group()
    greedy.add_argument("--greedy", dest="greedy", action="store_true", default=True,
                        help="take the policy's modal action (default)")
    greedy.add_argument("--sampled", dest="greedy", action="store_false", help="sample the actions")
    ren.add_argument("--fps", type=float, default=None,
                     help="frames per second (default: the environment's render_fps)")
    ren.add_argument("--max-steps", type=int, default=None, help="cut each episode after this many steps")


def _add_verify(sub: Any, help_text: str, algo: str) -> None:
    from pgrad import verify

    check = sub.add_parser("verify", help=help_text,
                           description="Bias (against the exact gradient on finite MDPs) and variance of "
                                       "every gradient estimator; exit code 0 only if every estimator "
                                       "that theory calls unbiased is within 4 standard errors.")
    check.add_argument("--size", type=int, default=verify.DEFAULT_BATCHES,
                       help=f"M, independent batches per case, >= 2 (default: {verify.DEFAULT_BATCHES})")
    check.add_argument("--episodes", type=int, default=verify.DEFAULT_EPISODES,
                       help=f"K, episodes per batch, at least 2 (default: {verify.DEFAULT_EPISODES})")
    check.add_argument("--seed", type=int, default=0, help="seed of the random MDPs and the sampling "
                                                           "(default: 0)")


def _add_report(sub: Any, help_text: str, algo: str) -> None:
    rep = sub.add_parser("report", help=help_text,
                         description="Group run folders by (environment, algorithm); write report.md (IQM "
                                     "of the final return with a 95% stratified bootstrap CI, seeds, wall "
                                     "time, env steps), report.png and report.json into --out; print "
                                     "the table.")
    rep.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="run folders")
    rep.add_argument("--out", default=None,
                     help="report folder (default: reports/<timestamp>-<pid>)")
    rep.add_argument("--force", action="store_true",
                     help="replace an existing report folder (only one that pgrad wrote)")
    rep.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    rep.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default: 10000)")


def _add_sweep(sub: Any, help_text: str, algo: str) -> None:
    from pgrad.sweeps import command as sweep_command

    sweep_command.add_parser(sub, algo, help_text)


SUBCOMMANDS: dict[str, tuple[str, Callable[[Any, str, str], None]]] = {
    "train": ("train agents and write a run folder", _add_train),
    "resume": ("continue an interrupted run where it stopped", _add_resume),
    "eval": ("evaluate a run's final policy", _add_eval),
    "plot": ("redraw a run's learning_curve.png", _add_plot),
    "render": ("a video of a run's trained agents", _add_render),
    "verify": ("check every gradient estimator against exact gradients", _add_verify),
    "report": ("IQM table and learning curves with confidence bands", _add_report),
    "sweep": ("train many configurations and rank them with confidence intervals", _add_sweep),
}
"""Each command's one-line help (as ``pgrad --help`` lists it) and how its arguments are added."""


def chosen_algo(argv: list[str]) -> str:
    """The ``--algo`` of a ``train`` or ``sweep`` command line, parsed as argparse parses it (``--algo X``,
    ``--algo=X``, unambiguous prefixes, the last one winning); "reinforce" by default."""
    if not argv or argv[0] not in ("train", "sweep"):
        return "reinforce"
    pre = _Parser(add_help=False)
    pre.add_argument("--algo", default="reinforce")
    known, _ = pre.parse_known_args(argv[1:])
    if known.algo not in ALGORITHMS:
        raise UsageError(f"argument --algo: invalid choice: {known.algo!r} (choose from "
                         f"{', '.join(ALGOS)})")
    return known.algo


def flags_named(message: str, config_cls: type) -> str:
    """A config's one-line error with its field names written as the flags that set them."""
    for f in dataclasses.fields(config_cls):
        message = re.sub(rf"(?<![\w-]){f.name}(?!\w)", _flag(f.name), message)
    return message


def _progress_logger(console: Console, num_seeds: int) -> tuple[Progress, Callable[[dict], None]]:
    """A logger for train() that shows episodes, mean return and elapsed time live."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                        TextColumn("episodes {task.fields[episodes]:>7}"),
                        TextColumn("moving mean return {task.fields[window]:>6.1f}"),
                        TextColumn("seeds training {task.fields[active]}/" + str(num_seeds)),
                        TimeElapsedColumn(), console=console, transient=False)
    task = progress.add_task("training", total=None, episodes=0, window=0.0, active=num_seeds)

    def log(metrics: dict) -> None:
        progress.update(task, episodes=metrics["episodes"], window=metrics["window_mean"],
                        active=metrics.get("active", len(metrics["seeds"])))

    return progress, log


def _evaluate(config: Any, policy: Any, theta: np.ndarray, seeds: Sequence[int],
              episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """(sampled, greedy) returns [S, E], each from fresh evaluation streams of every seed."""
    from pgrad.rollout import evaluate_env, seed_streams

    time_limit = getattr(config, "time_limit", None)
    sampled, greedy = (evaluate_env(config.env_id, policy, theta, [seed_streams(s)[1] for s in seeds],
                                    episodes, greedy=greedy, time_limit=time_limit)
                       for greedy in (False, True))
    return sampled, greedy


class Deferred:
    """SIGINT and SIGTERM while training: the first asks the loop to stop at the end of the
    current update (``signum`` is set; the run is then written as an interrupted snapshot), a
    second one aborts at once (KeyboardInterrupt / Terminated, nothing written). Once the finished
    run folder is written (:meth:`finished`), a signal changes nothing: the run is done."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.done = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.done:
            return
        if self.signum is not None:
            raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated()
        self.signum = signum

    def finished(self) -> None:
        """The finished run folder is written: ignore signals from now on (``main`` restores the
        handlers its caller had)."""
        self.done = True

    def __enter__(self) -> Deferred:
        self.previous = ({s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}
                         if _main_thread() else {})
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self.previous.items():  # done: ignored until ``main`` restores its caller's
            signal.signal(s, signal.SIG_IGN if self.done else h)

    def callback(self, metrics: dict, state: TrainState) -> str | None:
        return "stop" if self.signum is not None else None


class Every:
    """A callback asking for a checkpoint once ``seconds`` of wall time have passed since the last
    one was written (never if 0): a slow snapshot never makes the next one due at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.last = seconds, time.monotonic()

    def __call__(self, metrics: dict, state: TrainState) -> str | None:
        return "checkpoint" if self.seconds and time.monotonic() - self.last >= self.seconds else None

    def written(self) -> None:
        self.last = time.monotonic()


def _train_to_end(algorithm: Algorithm, state: TrainState, target: Path, out: str, args: argparse.Namespace,
                  console: Console) -> int:
    """Run the loop to the end (or to a signal), evaluate and write the run folder at ``target``;
    periodic snapshots every ``--checkpoint-every`` seconds, an interrupted one on a signal."""
    import numpy as np

    from pgrad import algorithms
    from pgrad.folders import FolderLock
    from pgrad.rollout import env_spec
    from pgrad.runs import write_run
    from pgrad.training import checkpoint, loop
    from pgrad.training.tensorboard import TensorBoard

    config, seeds = state.config, list(state.seeds)
    hooks = TRAIN_HOOKS.get() or TrainHooks()
    written = hooks.written or (lambda target, status: None)

    timer = Every(args.checkpoint_every)
    board = None if args.tensorboard is None else TensorBoard(
        args.tensorboard, target.name, state, force=getattr(args, "force", False), run_folder=target)

    def snapshot(st: TrainState, status: str) -> None:
        if board is not None:
            board.flush()  # TensorBoard holds every event up to the checkpoint before it is written
        write_run(target, algo=st.algo, config=config, seeds=seeds, result=loop.result(algorithm, st, status),
                  force=True, run_status=status, plot=args.plot,
                  checkpoint=lambda folder: checkpoint.save(algorithm, st, folder))
        timer.written()
        written(target, status)

    with (FolderLock(target), np.errstate(all="ignore"), Deferred() as signals,  # divergence: reported below
          board if board is not None else contextlib.nullcontext()):  # closed on every way out
        callbacks: list[Callback] = [signals.callback, timer, *([board] if board is not None else []),
                                     *hooks.callbacks]
        if args.quiet:
            loop.run(algorithm, state, callbacks, lambda st: snapshot(st, "running"))
        else:
            progress, log = _progress_logger(console, len(seeds))
            with progress:
                loop.run(algorithm, state, [*callbacks, loop.logger_callback(log)],
                         lambda st: snapshot(st, "running"))
        if signals.signum is None:
            result = loop.result(algorithm, state)
            policy = algorithms.module(state.algo).make_policy(config, env_spec(config.env_id))
            ret, greedy = _evaluate(config, policy, result.theta, seeds, config.eval_episodes)
        if signals.signum is not None:
            snapshot(state, "interrupted")
            why = algorithm.restorable(config)
            hint = f"resume with: pgrad resume {out}" if why is None else f"this run cannot resume: {why}"
            print(f"pgrad: interrupted; {hint}", file=sys.stderr)
            return 130 if signals.signum == signal.SIGINT else 143
        write_run(target, algo=state.algo, config=config, seeds=seeds, result=result, eval_returns=ret,
                  eval_greedy_returns=greedy, force=True, plot=args.plot)
        signals.finished()  # done: a late signal (while the lines below print) changes nothing
        written(target, "done")
        solved = int(result.solved.sum())
        console.print(f"solved {solved}/{len(seeds)} seeds in {result.wall_seconds:.3f} s; "
                      f"final eval mean return {ret.mean():.1f} (greedy {greedy.mean():.1f}); "
                      f"run folder {out}")
        if result.diverged.any():
            bad = ", ".join(str(seeds[i]) for i in result.diverged.nonzero()[0])
            print(f"pgrad: warning: seed(s) {bad} diverged (non-finite parameters, gradients or losses) "
                  "and stopped with their last finite parameters; status 'diverged' in summary.json",
                  file=sys.stderr)
        return 0


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    from pgrad import algorithms, sizes
    from pgrad.runs import ROW_BYTES, check_out_dir, default_out
    from pgrad.training import loop

    config_cls = algorithms.config_class(args.algo)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls)}
    try:
        config = config_cls(**values)
        num_seeds = sum(len(r) for r in seed_ranges(args.seeds))
        sizes.check_training(args.algo, config, num_seeds)
    except ValueError as e:
        raise UsageError(flags_named(str(e), config_cls)) from None
    if not args.checkpoint_every >= 0:
        raise UsageError(f"--checkpoint-every must be >= 0 seconds (0: no periodic checkpoints), got "
                         f"{args.checkpoint_every}")
    seeds = parse_seeds(args.seeds)
    episodes = getattr(config, "max_episodes", None) or config.max_steps // 10
    needed = (1 << 20) + num_seeds * (episodes + config.eval_episodes) * ROW_BYTES
    out = args.out if args.out is not None else str(default_out())
    target = check_out_dir(Path(out), args.force, needed)
    if args.tensorboard is not None:
        from pgrad.training import tensorboard

        tensorboard.prepare(args.tensorboard, target.name, fresh=True, force=args.force, run_folder=target)
    algorithm = algorithms.module(args.algo).ALGORITHM
    state = loop.start(args.algo, algorithm, config, seeds)
    try:
        return _train_to_end(algorithm, state, target, out, args, console)
    finally:
        algorithm.close(state.algo_state)


def cmd_resume(args: argparse.Namespace, console: Console) -> int:
    from pgrad.folders import read_marker
    from pgrad.runs import check_out_dir
    from pgrad.training import checkpoint

    if not args.checkpoint_every >= 0:
        raise UsageError(f"--checkpoint-every must be >= 0 seconds, got {args.checkpoint_every}")
    run_dir = Path(args.run_dir)
    if read_marker(run_dir) is None or not (run_dir / "checkpoint").is_dir():
        raise UsageError(f"{run_dir} is not a resumable pgrad run folder (it needs pgrad's marker and a "
                         "checkpoint/ folder, which runs stopped by a signal or still running have)")
    target = check_out_dir(run_dir, True)
    if args.tensorboard is not None:
        from pgrad.training import tensorboard

        tensorboard.prepare(args.tensorboard, target.name, fresh=False, force=False, run_folder=target)
    algorithm, state = checkpoint.load(run_dir / "checkpoint")
    try:
        return _train_to_end(algorithm, state, target, str(run_dir), args, console)
    finally:
        algorithm.close(state.algo_state)


def _load(run_dir: Path) -> RunFolder:
    from pgrad.runs import read_run

    try:
        return read_run(run_dir)
    except ValueError as e:
        raise UsageError(f"cannot read run folder {run_dir}: {e}") from None


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from pgrad import sizes
    from pgrad.training.agent import agents

    if args.episodes < 1:
        raise UsageError(f"--episodes must be a positive integer, got {args.episodes}")
    try:
        seeds = agents(args.run_dir)
    except ValueError as e:
        raise UsageError(f"cannot read run folder {args.run_dir}: {e}") from None
    config = seeds[0].config
    sizes.check_evaluation(config, 1, args.episodes, seeds[0].theta.size)
    table = Table(title=f"{config.env_id}: {args.episodes} evaluation episodes per seed")
    for col in ("seed", "stochastic mean", "stochastic std", "greedy mean", "greedy std"):
        table.add_column(col, justify="right")
    for agent in seeds:
        r, g = (agent.evaluate(args.episodes, greedy=greedy) for greedy in (False, True))
        table.add_row(str(agent.seed), *(f"{x:.1f}" for x in (r.mean(), r.std(), g.mean(), g.std())))
    console.print(table)
    return 0


def cmd_plot(args: argparse.Namespace, console: Console) -> int:
    from pgrad import folders
    from pgrad.config import solve_threshold
    from pgrad.plotting import learning_curve

    run = _load(args.run_dir)
    path = Path(args.run_dir) / "learning_curve.png"
    marker = folders.read_marker(run.path)
    listed = marker is not None and path.name in marker["files"]
    if os.path.lexists(path) and not listed:
        raise UsageError(f"{path} was not written by pgrad (the run folder's {folders.MARKER} marker does "
                         "not list it); move it away to redraw the plot")
    with folders.FolderLock(run.path.resolve()):
        folders.replace_file(path, lambda tmp: learning_curve(
            run.rows, solve_threshold(run.config), run.config.solve_window, tmp))
        if marker is not None and not listed:
            marker["files"] = sorted([*marker["files"], path.name])
            folders.replace_file(run.path / folders.MARKER,
                                 lambda tmp: tmp.write_text(folders.dumps(marker)))
    console.print(f"wrote {path}")
    return 0


def cmd_render(args: argparse.Namespace, console: Console) -> int:
    from pgrad import folders, render, sizes
    from pgrad.training.agent import agents

    out: Path = args.out
    if out.suffix not in render.FORMATS:
        raise UsageError(f"--out {out}: unknown video format {out.suffix!r}; accepted: "
                         f"{', '.join(render.FORMATS)}")
    for name, value in (("--episodes", args.episodes), ("--max-steps", args.max_steps)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be a positive integer, got {value}")
    if args.fps is not None and not 0 < args.fps <= 1000:
        raise UsageError(f"--fps must be in (0, 1000], got {args.fps}")
    if os.path.lexists(out) and not out.is_symlink():
        if not args.force or not out.is_file():
            raise UsageError(f"{out} exists; pass --force to replace it" if out.is_file() else
                             f"--out {out} is not a file")
        if not render.existing_video(out):
            raise UsageError(f"{out} is not a GIF or MP4 file; pgrad replaces only videos")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    missing = render.missing_packages(out.suffix)
    if missing:
        raise UsageError(f"pgrad render needs {', '.join(missing)}: {render.INSTALL}")
    try:
        shown = agents(args.run_dir, None if args.seeds is None else parse_seeds(args.seeds))
    except ValueError as e:
        raise UsageError(f"cannot read run folder {args.run_dir}: {e}") from None
    shown = shown if args.seeds is not None else shown[:1]
    spec = render.video_spec(shown[0], len(shown), args.episodes, args.max_steps)
    sizes.check_fits(f"render of {len(shown)} seed(s) x {args.episodes} episode(s)",
                     spec.bytes if out.suffix == ".gif" else 0, "; show fewer seeds or episodes, or an .mp4")
    fps = args.fps or spec.fps
    finished: list[render.Episode] = []
    counts: list[int] = []
    images = render.frames(shown, args.episodes, args.greedy, spec.limit, finished)
    folders.replace_file(out, lambda tmp: counts.append(render.WRITERS[out.suffix](tmp, images, fps)))
    for ep in finished:
        console.out(f"seed {ep.seed} episode {ep.index + 1}: return {ep.ret:.1f} ({ep.steps} steps)",
                    highlight=False)
    console.out(f"wrote {out} ({counts[0]} frames at {fps:g} fps)", highlight=False)
    return 0


def cmd_verify(args: argparse.Namespace, console: Console) -> int:
    from pgrad import sizes
    from pgrad.verify import format_table, memory_bytes, summary, verify

    if args.size < 2 or args.episodes < 2 or args.seed < 0:
        raise UsageError(f"verify needs --size >= 2, --episodes >= 2 (the leave-one-out baselines) and "
                         f"--seed >= 0, got {args.size}, {args.episodes} and {args.seed}")
    start = time.perf_counter()
    sizes.check_fits(f"verify --size {args.size} --episodes {args.episodes}",
                     memory_bytes(args.size, args.episodes), "; lower --size or --episodes")
    rows = verify(args.size, args.episodes, args.seed)
    title = f"pgrad verify --size {args.size} --episodes {args.episodes} --seed {args.seed}"
    console.out(format_table(rows, title), highlight=False)
    console.out(f"{summary(rows)} ({time.perf_counter() - start:.1f} s)", highlight=False)
    return 0 if all(r.passed for r in rows) else 1


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from pgrad import report
    from pgrad.folders import FolderLock
    from pgrad.runs import default_out

    if args.resamples < 1 or args.seed < 0:
        raise UsageError(f"report needs --resamples >= 1 and --seed >= 0, got {args.resamples} and "
                         f"{args.seed}")
    out = args.out if args.out is not None else default_out("reports")
    groups, target = report.prepare(args.runs, out, args.force, args.resamples)
    with FolderLock(target, "report folder"):
        text = report.write_report(groups, target, seed=args.seed, n_resamples=args.resamples)
    console.out(text, highlight=False)
    console.out(f"wrote {Path(out) / 'report.md'}, report.png and report.json", highlight=False)
    return 0


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from pgrad.sweeps.command import cmd_sweep as sweep

    return sweep(args, console)


COMMANDS = {"train": cmd_train, "resume": cmd_resume, "eval": cmd_eval, "plot": cmd_plot,
            "render": cmd_render, "verify": cmd_verify, "report": cmd_report, "sweep": cmd_sweep}


def run(argv: list[str]) -> int:
    """Parse and run one command; errors propagate (``main`` turns them into exit codes)."""
    only = argv[0] if argv and argv[0] in SUBCOMMANDS else ""  # argparse takes only the exact name there
    args = build_parser(chosen_algo(argv), only).parse_args(argv)
    from rich.console import Console

    return COMMANDS[args.command](args, Console())


def main(argv: list[str] | None = None) -> int:
    """The ``pgrad`` command: exit code 0 (done), 1 (``verify`` found a failing estimator, or a
    ``sweep`` trial is not done), 2 (bad input, one line on stderr), 130 / 143 (SIGINT / SIGTERM:
    one line, ``interrupted``)."""
    from pgrad.folders import fs_error

    program = argv is None  # the pgrad process itself (not a call from Python)
    argv = sys.argv[1:] if argv is None else argv
    handlers = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: _raise_terminated}
    previous = {s: signal.signal(s, h) for s, h in handlers.items()} if _main_thread() else {}
    try:
        return run(argv)
    except (UsageError, ValueError) as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
    except OSError as e:
        message = fs_error(e)
    except MemoryError:
        message = "out of memory; ask for fewer seeds, environments or episodes"
    except KeyboardInterrupt:
        print("pgrad: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("pgrad: interrupted", file=sys.stderr)
        return 143
    finally:
        for s, h in previous.items():  # the process is done: a late signal changes nothing
            signal.signal(s, signal.SIG_IGN if program else h)
    print(f"pgrad: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
