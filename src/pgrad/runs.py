"""The run folder: config.json, metrics.csv, theta.npy, summary.json and learning_curve.png
(A2C and PPO add value.npy and updates.csv), and pgrad's marker ``.pgrad``.

A run folder is written whole or not at all, and replaces only a run folder pgrad wrote
(:mod:`pgrad.folders`). :func:`read_run` checks a folder before anything uses it: every file,
type, shape and number, each problem a one-line ValueError naming the file.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from pgrad import algorithms, folders
from pgrad.config import from_dict, solve_threshold, to_dict

if TYPE_CHECKING:
    from pgrad.training.loop import TrainResult

METRICS_FIELDS = ("seed", "episode", "return", "length", "update", "wall_seconds")
STATUSES = ("solved", "budget", "diverged", "running", "interrupted")
"""A seed's status in summary.json: it reached the solve threshold, used its budget, stopped
because its numbers became non-finite, or was still training when a snapshot was written
(periodically: running; on SIGINT or SIGTERM: interrupted)."""
ROW_BYTES = 64
"""Roughly the bytes of one metrics.csv row (for the free-space check)."""


def default_out(root: str = "runs") -> Path:
    """``runs/<YYYYmmdd-HHMMSS>-<pid>``: unique for runs started in the same second."""
    return Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def check_out_dir(out: Path, force: bool, needed_bytes: int = 0) -> Path:
    """The absolute run folder to write, or a one-line ValueError (:func:`folders.check_target`)."""
    return folders.check_target(out, force=force, kind="run", needed_bytes=needed_bytes)


def metrics_rows(seeds: Sequence[int], episodes: Sequence[dict[str, np.ndarray]]) -> list[tuple]:
    """One row per episode: seed, episode (1-based), return, length, update, wall seconds."""
    rows = []
    for seed, table in zip(seeds, episodes, strict=True):
        for i in range(len(table["return"])):
            rows.append((seed, i + 1, float(table["return"][i]), int(table["length"][i]),
                         int(table["update"][i]), round(float(table["wall"][i]), 6)))
    return rows


def per_seed(values: Iterable[Any], several: bool) -> Any:
    """A list with one entry per seed when several, else the single value."""
    values = [v.item() if hasattr(v, "item") else v for v in values]
    return values if several else values[0]


def write_updates(path: Path, updates: list[dict]) -> None:
    """updates.csv: the metrics of every update (approx_kl, clip_fraction, explained_variance, ...,
    as the logger received them), ``seeds`` written as the number of seeds still training."""
    fields = list(dict.fromkeys(k for u in updates for k in u))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seeds_training" if k == "seeds" else k for k in fields])
        for u in updates:
            writer.writerow([len(u[k]) if k == "seeds" else u.get(k, "") for k in fields])


RUN_STATUSES = ("done", "running", "interrupted")
"""summary.json's ``run_status``: training and evaluation finished; a periodic snapshot of a run
still training; a snapshot written on SIGINT or SIGTERM. The last two hold ``checkpoint/``."""


def write_run(out: Path, *, algo: str, config: Any, seeds: Sequence[int], result: TrainResult,
              eval_returns: np.ndarray | None = None,
              eval_greedy_returns: np.ndarray | None = None, force: bool = False, run_status: str = "done",
              checkpoint: Callable[[Path], None] | None = None, plot: bool = True) -> Path:
    """Write the run folder of a training result, whole; returns its path.

    A finished run (``run_status`` "done") has its final evaluation; a snapshot ("running",
    "interrupted") has none (null in summary.json), and ``checkpoint(folder)`` writes the training
    state into its ``checkpoint/`` for ``pgrad resume``. ``plot=False`` leaves out
    learning_curve.png (``pgrad plot`` draws it later from metrics.csv).
    """

    target = check_out_dir(out, force)
    with folders.written_whole(target, "run") as tmp:
        several = len(seeds) > 1
        (tmp / "config.json").write_text(folders.dumps(
            {"algo": algo, "config": to_dict(config), "seeds": list(seeds),
             **folders.provenance()}))
        rows = metrics_rows(seeds, result.episodes)
        with open(tmp / "metrics.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(METRICS_FIELDS)
            writer.writerows(rows)
        np.save(tmp / "theta.npy", result.theta, allow_pickle=False)
        if result.value_params is not None:  # actor-critic: V's parameters [S, F]
            np.save(tmp / "value.npy", result.value_params, allow_pickle=False)
        if result.updates:  # one row of metrics per update
            write_updates(tmp / "updates.csv", result.updates)
        summary: dict[str, Any] = {
            "run_status": run_status,
            "status": per_seed(result.status, several),
            "solved": per_seed(result.solved, several),
            "solved_at_episode": per_seed(
                [int(e) if e >= 0 else None for e in result.solved_at_episode], several),
            "solved_at_step": per_seed([int(e) if e >= 0 else None for e in result.solved_at_step], several),
            "episodes": per_seed([len(t["return"]) for t in result.episodes], several),
            "env_steps": per_seed([int(n) for n in result.steps], several),
            "wall_seconds": round(result.wall_seconds, 6),
            "final_eval_mean": None, "final_eval_greedy_mean": None, "eval_episodes": None,
        }
        if eval_returns is not None and eval_greedy_returns is not None:
            summary |= {"final_eval_mean": per_seed(eval_returns.mean(axis=1), several),
                        "final_eval_greedy_mean": per_seed(eval_greedy_returns.mean(axis=1), several),
                        "eval_episodes": int(eval_returns.shape[1])}
        if several:
            summary |= {"seeds": list(seeds), "num_solved": int(np.sum(result.solved)),
                        "final_eval_mean_over_seeds": (None if eval_returns is None
                                                       else float(eval_returns.mean()))}
        (tmp / "summary.json").write_text(folders.dumps(summary))
        if plot:
            from pgrad.plotting import learning_curve

            learning_curve(rows, solve_threshold(config), config.solve_window, tmp / "learning_curve.png")
        if checkpoint is not None:
            checkpoint(tmp / "checkpoint")
    return target


@dataclass(frozen=True)
class RunFolder:
    """A checked run folder: the algorithm, its config, the seeds, theta [S, d] (finite, of the
    policy's shape) and the metrics rows (dicts with at least seed and return)."""

    path: Path
    algo: str
    config: Any
    seeds: list[int]
    theta: np.ndarray
    rows: list[dict]

    @property
    def module(self) -> ModuleType:
        return algorithms.module(self.algo)


def _bad(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: {why}")


def read_seeds(path: Path, seeds: Any) -> list[int]:
    """config.json's seeds: a non-empty list of distinct non-negative integers."""
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise _bad(path, "seeds must be a non-empty list of non-negative integers")
    if len(set(seeds)) != len(seeds):
        raise _bad(path, "seeds repeat a seed")
    return seeds


def read_theta(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """theta.npy: a plain float array of ``shape`` (no pickle), every number finite."""
    if path.is_symlink() or not path.is_file():
        raise _bad(path, "missing, or not a regular file")
    try:
        theta = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise _bad(path, f"not a numpy .npy array ({str(e).splitlines()[0] if str(e) else 'unreadable'})") \
            from None
    if not isinstance(theta, np.ndarray):
        theta.close()
        raise _bad(path, "is an .npz archive, not an .npy array")
    if theta.dtype.kind != "f":
        raise _bad(path, f"must hold floats, holds {theta.dtype}")
    if theta.shape != shape:
        raise _bad(path, f"has shape {theta.shape}; the config's policy needs {shape}")
    if not np.isfinite(theta).all():
        bad = np.flatnonzero(~np.isfinite(theta).all(axis=1))
        raise _bad(path, f"holds non-finite parameters (seed rows {', '.join(map(str, bad[:5]))}); "
                   "pgrad will not evaluate a diverged policy")
    return theta


def read_metrics(path: Path, seeds: list[int]) -> list[dict]:
    """metrics.csv: rows with a seed of the run and a numeric return."""
    if path.is_symlink() or not path.is_file():
        raise _bad(path, "missing, or not a regular file")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise _bad(path, f"unreadable CSV ({folders.fs_error(e) if isinstance(e, OSError) else e})") from None
    known = set(map(str, seeds))
    for i, row in enumerate(rows, start=2):
        try:
            if row.get("seed") not in known:
                raise ValueError(f"seed {row.get('seed')!r} is not one of the run's seeds")
            if not math.isfinite(float(row["return"])):
                raise ValueError(f"return {row['return']!r} is not a finite number")
        except (KeyError, TypeError, ValueError) as e:
            why = "no return column" if isinstance(e, KeyError | TypeError) else str(e)
            raise _bad(path, f"line {i}: {why}") from None
    return rows


def read_run(run_dir: Path) -> RunFolder:
    """Check and read a run folder; a one-line ValueError names the file and the problem."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir} is not a folder")
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{run_dir} is not a pgrad run folder (no config.json)")
    meta = folders.read_json(config_path)
    if not isinstance(meta, dict):
        raise _bad(config_path, f"must be a JSON object, is a {type(meta).__name__}")
    if "algo" not in meta or "config" not in meta or "seeds" not in meta:
        raise _bad(config_path, "needs the keys algo, config and seeds")
    algo = meta["algo"]
    if not isinstance(algo, str) or algo not in algorithms.ALGORITHMS:
        accepted = ", ".join(sorted(algorithms.ALGORITHMS))
        raise _bad(config_path, f"unknown algo {algo!r}; accepted: {accepted}")
    try:
        config = from_dict(algorithms.config_class(algo), meta["config"])
    except (ValueError, TypeError) as e:
        raise _bad(config_path, str(e).splitlines()[0]) from None
    seeds = read_seeds(config_path, meta["seeds"])
    from pgrad.rollout import env_spec

    policy = algorithms.module(algo).make_policy(config, env_spec(config.env_id))
    theta = read_theta(run_dir / "theta.npy", (len(seeds), policy.dim))
    rows = read_metrics(run_dir / "metrics.csv", seeds)
    return RunFolder(run_dir, algo, config, seeds, theta, rows)
