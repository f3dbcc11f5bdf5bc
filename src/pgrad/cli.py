"""The ``pgrad`` command: train, eval, plot, verify.

Every ``pgrad train`` flag is generated from the algorithm's config dataclass (names,
defaults, help texts and accepted values), so the two cannot drift. Bad input gets one
line on stderr and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

ALGOS = {"reinforce": "pgrad.algorithms.reinforce", "a2c": "pgrad.algorithms.a2c",
         "ppo": "pgrad.algorithms.ppo"}
"""Algorithm name -> module holding its config class and train()."""


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2 (argparse prints usage as well)
        raise UsageError(message)


def parse_seeds(text: str) -> list[int]:
    """'0-99' -> 0..99; '1,5,7' -> [1, 5, 7]; ranges and lists combine ('0-3,10')."""
    seeds: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise UsageError(f"malformed --seeds {text!r}; accepted: N, A-B with A <= B, or a "
                             "comma-separated list of those (e.g. 0-99 or 1,5,7)")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r} repeats a seed; each seed may appear once")
    return seeds


def _config_class(algo: str):
    import importlib

    module = importlib.import_module(ALGOS[algo])
    return module, next(v for k, v in vars(module).items() if k.endswith("Config"))


def _add_config_flags(parser: argparse.ArgumentParser, config_cls) -> None:
    for f in dataclasses.fields(config_cls):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        choices = f.metadata.get("choices")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default,
                                help=f"{help_text} (default: {f.default})")
        else:
            kind = {"int": int, "float": float, "float | None": float, "str": str}[str(f.type)]
            parser.add_argument(flag, type=kind, default=f.default, choices=choices,
                                metavar=f.name.upper() if not choices else None,
                                help=f"{help_text} (default: {f.default})")


def build_parser(algo: str = "reinforce") -> argparse.ArgumentParser:
    parser = _Parser(prog="pgrad", description="Policy-gradient reinforcement learning.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = sub.add_parser("train", help="train agents and write a run folder",
                           description="Train one agent per seed, all seeds in one vectorised run.")
    train.add_argument("--algo", choices=sorted(ALGOS), default="reinforce", help="algorithm")
    train.add_argument("--seeds", default="0", help="seeds: N, A-B or a list, e.g. 0-99 (default: 0)")
    train.add_argument("--out", type=Path, default=None,
                       help="run folder (default: runs/<timestamp>)")
    train.add_argument("--force", action="store_true", help="replace an existing run folder")
    train.add_argument("--quiet", action="store_true", help="no live progress")
    _add_config_flags(train, _config_class(algo)[1])
    ev = sub.add_parser("eval", help="evaluate a run's final policy")
    ev.add_argument("run_dir", type=Path)
    ev.add_argument("--episodes", type=int, default=100, help="episodes per seed (default: 100)")
    plot = sub.add_parser("plot", help="redraw a run's learning_curve.png")
    plot.add_argument("run_dir", type=Path)
    from pgrad import verify

    check = sub.add_parser("verify", help="check every gradient estimator against exact gradients",
                           description="Bias (against the exact gradient on finite MDPs) and variance of "
                                       "every gradient estimator; exit code 0 only if every estimator "
                                       "that theory calls unbiased is within 4 standard errors.")
    check.add_argument("--size", type=int, default=verify.DEFAULT_BATCHES,
                       help=f"M, independent batches per case (default: {verify.DEFAULT_BATCHES})")
    check.add_argument("--episodes", type=int, default=verify.DEFAULT_EPISODES,
                       help=f"K, episodes per batch (default: {verify.DEFAULT_EPISODES})")
    check.add_argument("--seed", type=int, default=0, help="seed of the random MDPs and the sampling "
                                                           "(default: 0)")
    rep = sub.add_parser("report", help="IQM table and learning curves with confidence bands",
                         description="Group run folders by (environment, algorithm); write report.md (IQM "
                                     "of the final return with a 95% stratified bootstrap CI, seeds, wall "
                                     "time, env steps), report.png and report.json into --out; print "
                                     "the table.")
    rep.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="run folders")
    rep.add_argument("--out", type=Path, default=None, help="report folder (default: reports/<timestamp>)")
    rep.add_argument("--force", action="store_true", help="replace an existing report folder")
    rep.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    rep.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default: 10000)")
    return parser


def _progress_logger(console, num_seeds: int):
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


def cmd_train(args, console) -> int:
    from pgrad.rollout import env_spec, evaluate_env, seed_streams
    from pgrad.runs import check_out_dir, write_run

    module, config_cls = _config_class(args.algo)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls)}
    try:
        config = config_cls(**values)
    except ValueError as e:
        raise UsageError(str(e)) from None
    seeds = parse_seeds(args.seeds)
    out = args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    try:
        check_out_dir(out, args.force)
    except ValueError as e:
        raise UsageError(str(e)) from None

    if args.quiet:
        result = module.train(config, seeds)
    else:
        progress, log = _progress_logger(console, len(seeds))
        with progress:
            result = module.train(config, seeds, logger=log)
    policy = module.make_policy(config, env_spec(config.env_id))
    eval_rngs = [seed_streams(s)[1] for s in seeds]
    ret = evaluate_env(config.env_id, policy, result.theta, eval_rngs, config.eval_episodes)
    greedy = evaluate_env(config.env_id, policy, result.theta, eval_rngs, config.eval_episodes, greedy=True)
    path = write_run(out, algo=args.algo, config=config, seeds=seeds, result=result,
                     eval_returns=ret, eval_greedy_returns=greedy, force=args.force)
    solved = int(result.solved.sum())
    console.print(f"solved {solved}/{len(seeds)} seeds in {result.wall_seconds:.3f} s; "
                  f"final eval mean return {ret.mean():.1f} (greedy {greedy.mean():.1f}); "
                  f"run folder {path}")
    return 0


def _load(run_dir: Path):
    from pgrad.runs import read_run

    try:
        meta, theta, rows = read_run(run_dir)
    except (ValueError, OSError) as e:
        raise UsageError(f"cannot read run folder {run_dir}: {e}") from None
    module, config_cls = _config_class(meta["algo"])
    return module, config_cls(**meta["config"]), meta["seeds"], theta, rows


def cmd_eval(args, console) -> int:
    from rich.table import Table

    from pgrad.rollout import env_spec, evaluate_env, seed_streams

    if args.episodes < 1:
        raise UsageError(f"--episodes must be a positive integer, got {args.episodes}")
    module, config, seeds, theta, _ = _load(args.run_dir)
    policy = module.make_policy(config, env_spec(config.env_id))
    table = Table(title=f"{config.env_id}: {args.episodes} evaluation episodes per seed")
    for col in ("seed", "stochastic mean", "stochastic std", "greedy mean", "greedy std"):
        table.add_column(col, justify="right")
    stoch, greedy = (evaluate_env(config.env_id, policy, theta, [seed_streams(s)[1] for s in seeds],
                                  args.episodes, greedy=g) for g in (False, True))
    for seed, r, g in zip(seeds, stoch, greedy, strict=True):
        table.add_row(str(seed), f"{r.mean():.1f}", f"{r.std():.1f}", f"{g.mean():.1f}", f"{g.std():.1f}")
    console.print(table)
    return 0


def cmd_plot(args, console) -> int:
    from pgrad.config import solve_threshold
    from pgrad.plotting import learning_curve

    _, config, _, _, rows = _load(args.run_dir)
    path = learning_curve(rows, solve_threshold(config), config.solve_window,
                          Path(args.run_dir) / "learning_curve.png")
    console.print(f"wrote {path}")
    return 0


def cmd_verify(args, console) -> int:
    from pgrad.verify import format_table, summary, verify

    start = time.perf_counter()
    try:
        rows = verify(args.size, args.episodes, args.seed)
    except ValueError as e:
        raise UsageError(str(e)) from None
    title = f"pgrad verify --size {args.size} --episodes {args.episodes} --seed {args.seed}"
    console.out(format_table(rows, title), highlight=False)
    console.out(f"{summary(rows)} ({time.perf_counter() - start:.1f} s)", highlight=False)
    return 0 if all(r.passed for r in rows) else 1


def cmd_report(args, console) -> int:
    from pgrad import report

    if args.resamples < 1:
        raise UsageError(f"--resamples must be a positive integer, got {args.resamples}")
    out = args.out or Path("reports") / time.strftime("%Y%m%d-%H%M%S")
    try:
        groups = report.prepare(args.runs, out, args.force)
    except ValueError as e:
        raise UsageError(str(e)) from None
    text = report.write_report(groups, out, seed=args.seed, n_resamples=args.resamples, force=args.force)
    console.out(text, highlight=False)
    console.out(f"wrote {out / 'report.md'}, report.png and report.json", highlight=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    algo = "reinforce"
    if "--algo" in argv[:-1]:
        algo = argv[argv.index("--algo") + 1]
    try:
        if algo not in ALGOS:
            raise UsageError(f"unknown --algo {algo!r}; accepted: {', '.join(sorted(ALGOS))}")
        args = build_parser(algo).parse_args(argv)
        from rich.console import Console

        console = Console()
        commands = {"train": cmd_train, "eval": cmd_eval, "plot": cmd_plot, "verify": cmd_verify,
                    "report": cmd_report}
        return commands[args.command](args, console)
    except UsageError as e:
        print(f"pgrad: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
