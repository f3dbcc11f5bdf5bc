"""The run folder: config.json, metrics.csv, theta.npy, summary.json and learning_curve.png
(A2C and PPO add value.npy and updates.csv).

A run folder is written whole or not at all: everything goes into a temporary sibling
folder that is renamed into place at the end.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pgrad import __version__
from pgrad.config import solve_threshold

METRICS_FIELDS = ("seed", "episode", "return", "length", "update", "wall_seconds")


def check_out_dir(out: Path, force: bool) -> None:
    """Raise a one-line ValueError if ``out`` exists (and is not to be replaced) or is a file."""
    if out.exists() and not force:
        raise ValueError(f"run folder {out} already exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")


def metrics_rows(seeds, episodes) -> list[tuple]:
    """One row per episode: seed, episode (1-based), return, length, update, wall seconds."""
    rows = []
    for seed, table in zip(seeds, episodes, strict=True):
        for i in range(len(table["return"])):
            rows.append((seed, i + 1, float(table["return"][i]), int(table["length"][i]),
                         int(table["update"][i]), round(float(table["wall"][i]), 6)))
    return rows


def per_seed(values, several: bool):
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


@contextlib.contextmanager
def written_whole(out: Path):
    """Yield a temporary sibling folder of ``out``; on success it replaces ``out`` (renamed into
    place), on any error it is removed: a folder is written whole or not at all."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(out: Path, *, algo: str, config, seeds, result, eval_returns: np.ndarray,
              eval_greedy_returns: np.ndarray, force: bool = False) -> Path:
    """Write the complete run folder for a finished training run; returns its path."""
    from pgrad.plotting import learning_curve

    out = Path(out)
    check_out_dir(out, force)
    with written_whole(out) as tmp:
        several = len(seeds) > 1
        (tmp / "config.json").write_text(json.dumps(
            {"algo": algo, "config": dataclasses.asdict(config), "seeds": list(seeds),
             "pgrad_version": __version__}, indent=2) + "\n")
        rows = metrics_rows(seeds, result.episodes)
        with open(tmp / "metrics.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(METRICS_FIELDS)
            writer.writerows(rows)
        np.save(tmp / "theta.npy", result.theta, allow_pickle=False)
        if getattr(result, "value_params", None) is not None:  # actor-critic: V's parameters [S, F]
            np.save(tmp / "value.npy", result.value_params, allow_pickle=False)
        if getattr(result, "updates", None):  # actor-critic: one row of diagnostics per update
            write_updates(tmp / "updates.csv", result.updates)
        summary = {
            "solved": per_seed(result.solved, several),
            "solved_at_episode": per_seed(
                [int(e) if e >= 0 else None for e in result.solved_at_episode], several),
            "episodes": per_seed([len(t["return"]) for t in result.episodes], several),
            "wall_seconds": round(result.wall_seconds, 6),
            "final_eval_mean": per_seed(eval_returns.mean(axis=1), several),
            "final_eval_greedy_mean": per_seed(eval_greedy_returns.mean(axis=1), several),
            "eval_episodes": int(eval_returns.shape[1]),
        }
        if hasattr(result, "solved_at_step"):  # actor-critic: environment steps
            summary["solved_at_step"] = per_seed([int(e) if e >= 0 else None for e in result.solved_at_step],
                                                 several)
            summary["env_steps"] = per_seed([int(n) for n in result.steps], several)
        if several:
            summary |= {"seeds": list(seeds), "num_solved": int(np.sum(result.solved)),
                        "final_eval_mean_over_seeds": float(eval_returns.mean())}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        learning_curve(rows, solve_threshold(config), config.solve_window, tmp / "learning_curve.png")
    return out


def read_run(run_dir: Path) -> tuple[dict, np.ndarray, list[dict]]:
    """(config.json as a dict, theta [S, d], metrics rows as dicts) of a run folder."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise ValueError(f"{run_dir} is not a pgrad run folder (no config.json)")
    meta = json.loads((run_dir / "config.json").read_text())
    theta = np.load(run_dir / "theta.npy", allow_pickle=False)
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return meta, theta, rows
