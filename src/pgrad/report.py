"""``pgrad report``: run folders -> a markdown table and learning curves with confidence bands.

Rows group run folders by (environment, algorithm); run folders of the same pair and the
same config pool their seeds (a pair run with several configs gets one row per config, its
label naming the fields that differ). Per row:

- IQM (interquartile mean, ``pgrad.stats.iqm``) over seeds of each seed's final evaluation
  return (``final_eval_mean`` in summary.json), with a 95% stratified percentile-bootstrap
  interval over seeds (``pgrad.stats.iqm_ci``; rliable's method, Agarwal et al. 2021);
- the number of seeds, the wall time (summary.json ``wall_seconds``, summed over the row's run
  folders) and the training environment steps summed over seeds (summary.json ``env_steps``, which
  counts every step taken; for folders without it, the ``length`` column of metrics.csv, or the
  last value per seed of a cumulative step counter).

The figure has one panel per environment and one line per row: at each point of a common
x grid (environment steps, or episodes where a run logs no steps) the IQM over seeds of the
moving-mean training return, with a pointwise 95% bootstrap band. A seed that stopped
early (solved, or out of budget) holds its last moving mean, as in ``learning_curve.png``.

``write_report`` writes ``report.md``, ``report.png`` and ``report.json`` (the table's numbers)
into a folder, whole or not at all: a temporary sibling folder renamed into place.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, cast

import numpy as np

from pgrad import folders
from pgrad.config import INFINITIES
from pgrad.plotting import moving_average
from pgrad.stats import iqm, iqm_ci

CONFIDENCE = 0.95
RESAMPLES = 10_000
"""Bootstrap replicates for the table's intervals."""
BAND_RESAMPLES = 2_000
"""Bootstrap replicates at each of the GRID_POINTS points of a learning-curve band."""
GRID_POINTS = 200
DEFAULT_WINDOW = 100
"""Moving-mean window for runs whose config has no ``solve_window``."""
RETURN_COLUMNS = ("return", "episode_return")
STEP_COLUMNS = ("env_steps", "global_step", "total_steps", "timesteps", "steps")
"""Cumulative per-seed step counters, used when metrics.csv has no ``length`` column."""


@dataclass(frozen=True)
class Run:
    """What the report reads from one run folder. Per seed: final evaluation return
    ``final_eval [S]``, training returns per logged row, and the cumulative environment steps
    at each row (``None`` when metrics.csv logs no steps)."""

    path: Path
    algo: str
    env_id: str
    config: dict
    seeds: tuple[int, ...]
    final_eval: np.ndarray
    wall_seconds: float
    returns: tuple[np.ndarray, ...]
    steps: tuple[np.ndarray, ...] | None
    summary_env_steps: int | None = None

    @property
    def env_steps(self) -> int | None:
        """Training environment steps over all seeds: summary.json's ``env_steps`` (every step
        taken, finished episodes or not), else the metrics' step counts (None when it logs none)."""
        if self.summary_env_steps is not None:
            return self.summary_env_steps
        if self.steps is None:
            return None
        return int(sum(s[-1] for s in self.steps if s.size))

    @property
    def window(self) -> int:
        return int(self.config.get("solve_window", DEFAULT_WINDOW))


@dataclass(frozen=True)
class Group:
    """One row of the report: the run folders of one (environment, algorithm, config)."""

    env_id: str
    algo: str
    label: str
    runs: tuple[Run, ...]

    @property
    def seeds(self) -> list[int]:
        return [s for r in self.runs for s in r.seeds]

    @property
    def final_eval(self) -> np.ndarray:
        return np.concatenate([r.final_eval for r in self.runs])


def _fail(path: Path, why: str) -> NoReturn:
    raise ValueError(f"{path} is not a pgrad run folder ({why})")


def _read_json(path: Path, name: str) -> dict:
    try:
        data = folders.read_json(path / name)
    except ValueError as e:
        _fail(path, str(e))
    if not isinstance(data, dict):
        _fail(path, f"{name} is not a JSON object")
    return data


def load_run(path: Path, *, curves: bool = True) -> Run:
    """Read config.json, summary.json and metrics.csv; a one-line ValueError if not a run folder.
    ``curves=False`` leaves metrics.csv unread (``returns`` empty, ``steps`` None): what a ranking
    of final results needs is all in summary.json."""
    path = Path(path)
    if not path.is_dir():
        _fail(path, "no such folder")
    meta, summary = _read_json(path, "config.json"), _read_json(path, "summary.json")
    try:
        algo, config, seeds = str(meta["algo"]), dict(meta["config"]), [int(s) for s in meta["seeds"]]
        env_id = str(config["env_id"])
        final_eval = np.atleast_1d(np.asarray(summary["final_eval_mean"], dtype=np.float64))
        wall_seconds = float(summary["wall_seconds"])
    except (KeyError, TypeError, ValueError) as e:
        _fail(path, f"missing or malformed field {e}")
    if final_eval.shape != (len(seeds),):
        _fail(path, f"summary.json has {final_eval.size} final_eval_mean values for {len(seeds)} seeds")
    if not np.isfinite(final_eval).all():  # null: a snapshot of an unfinished run, not a result
        _fail(path, "summary.json final_eval_mean must be finite numbers (null: the run has not finished; "
                    "pgrad resume it first)")
    window, threshold = config.get("solve_window", DEFAULT_WINDOW), config.get("solve_threshold")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        _fail(path, f"config.json solve_window must be a positive integer, is {window!r}")
    if threshold is not None and threshold not in INFINITIES and (
            isinstance(threshold, bool) or not isinstance(threshold, int | float)):
        _fail(path, f"config.json solve_threshold must be a number, null or \"inf\", is {threshold!r}")
    env_steps = summary.get("env_steps")
    if env_steps is not None:
        env_steps = np.atleast_1d(np.asarray(env_steps, dtype=object))
        if env_steps.shape != (len(seeds),) or not all(isinstance(n, int) and n >= 0 for n in env_steps):
            _fail(path, "summary.json env_steps must hold one non-negative integer per seed")
        env_steps = int(sum(env_steps))
    if not curves:
        return Run(path=path, algo=algo, env_id=env_id, config=config, seeds=tuple(seeds),
                   final_eval=final_eval, wall_seconds=wall_seconds, returns=(), steps=None,
                   summary_env_steps=env_steps)
    try:
        with open(path / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        _fail(path, "no readable metrics.csv")
    columns = set(rows[0]) if rows else set()
    ret_col = next((c for c in RETURN_COLUMNS if c in columns), None)
    if rows and (ret_col is None or "seed" not in columns):
        _fail(path, f"metrics.csv needs a seed and a return column, has {', '.join(sorted(columns))}")
    step_col = "length" if "length" in columns else next((c for c in STEP_COLUMNS if c in columns), None)
    try:
        returns: dict[int, list[float]] = {s: [] for s in seeds}
        steps: dict[int, list[float]] = {s: [] for s in seeds}
        for row in rows:
            seed = int(row["seed"])
            if seed not in returns:
                _fail(path, f"metrics.csv has seed {seed}, which config.json does not list")
            returns[seed].append(float(row[ret_col]))
            if step_col is not None:
                steps[seed].append(float(row[step_col]))
    except (TypeError, ValueError) as e:
        _fail(path, f"malformed metrics.csv: {e}")
    if step_col == "length":
        step_arrays = tuple(np.cumsum(np.asarray(steps[s], np.float64)) for s in seeds)
    elif step_col is not None:
        step_arrays = tuple(np.asarray(steps[s], np.float64) for s in seeds)
    else:
        step_arrays = None
    return Run(path=path, algo=algo, env_id=env_id, config=config, seeds=tuple(seeds),
               final_eval=final_eval, wall_seconds=wall_seconds,
               returns=tuple(np.asarray(returns[s], np.float64) for s in seeds), steps=step_arrays,
               summary_env_steps=env_steps)


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """Runs -> groups by (env_id, algo, config), in order of first appearance.

    Raises a one-line ValueError for no runs, a run folder given twice, or a seed that two
    run folders of one group both hold (it would count twice).
    """
    if not runs:
        raise ValueError("no run folders given")
    seen: dict[Path, Path] = {}
    for run in runs:
        key = run.path.resolve()
        if key in seen:
            raise ValueError(f"run folder {run.path} is given twice")
        seen[key] = run.path
    buckets: dict[tuple, list[Run]] = {}
    for run in runs:
        buckets.setdefault((run.env_id, run.algo, json.dumps(run.config, sort_keys=True)), []).append(run)
    groups = []
    for (env_id, algo, _), members in buckets.items():
        owner: dict[int, Path] = {}
        for run in members:
            for seed in run.seeds:
                if seed in owner:
                    raise ValueError(f"seed {seed} of {env_id} / {algo} is in both {owner[seed]} and "
                                     f"{run.path}; each seed may count once")
                owner[seed] = run.path
        siblings = [m[0].config for k, m in buckets.items() if k[:2] == (env_id, algo)]
        differing = sorted(k for k in set().union(*siblings)
                           if len({json.dumps(c.get(k), sort_keys=True) for c in siblings}) > 1)
        label = algo
        if differing:
            label += " (" + ", ".join(f"{k}={members[0].config.get(k)}" for k in differing) + ")"
        groups.append(Group(env_id, algo, label, tuple(members)))
    return groups


def check_out(out: Path, force: bool, runs: Sequence[Run]) -> Path:
    """The absolute report folder to write (:func:`folders.check_target`), or a one-line ValueError;
    also refused: a folder that is, or holds, one of the run folders."""
    target = folders.check_target(out, force=force, kind="report")
    for run in runs:
        path = run.path.resolve()
        if path == target or target in path.parents:
            raise ValueError(f"--out {out} would replace run folder {run.path}; choose another folder")
    return target


def check_memory(groups: Sequence[Group], n_resamples: int) -> None:
    """Refuse a bootstrap that cannot fit in memory: resamples x seeds numbers per row."""
    from pgrad.sizes import check_fits

    seeds = max(len(g.seeds) for g in groups)
    check_fits(f"--resamples {n_resamples:,} over {seeds} seeds", 4 * n_resamples * seeds * 8,
               "; lower --resamples")


def prepare(paths: Sequence[Path], out: Path, force: bool,
            n_resamples: int = RESAMPLES) -> tuple[list[Group], Path]:
    """Load and group the run folders and check ``out`` and the bootstrap's memory: everything that
    can reject the input. Returns the groups and the absolute report folder."""
    runs = [load_run(Path(p)) for p in paths]
    groups = group_runs(runs)
    target = check_out(out, force, runs)
    check_memory(groups, n_resamples)
    return groups, target


def summarize(groups: Sequence[Group], rng: np.random.Generator, *,
              n_resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> list[dict]:
    """One dict per group: the table's numbers.

    ``iqm`` and ``ci_low``/``ci_high`` over the group's seeds (one stratum: one task per row;
    None with a single seed);
    ``wall_seconds`` summed over its run folders; ``env_steps`` over its seeds (None if unlogged).
    """
    rows = []
    for group in groups:
        scores = group.final_eval
        low, high = iqm_ci([scores], rng, confidence=confidence, n_resamples=n_resamples)
        steps = [r.env_steps for r in group.runs]
        rows.append({
            "env_id": group.env_id, "algo": group.algo, "label": group.label,
            "iqm": float(iqm(scores)),
            "ci_low": low if np.isfinite(low) else None, "ci_high": high if np.isfinite(high) else None,
            "seeds": len(scores), "wall_seconds": float(sum(r.wall_seconds for r in group.runs)),
            "env_steps": None if None in steps else int(sum(cast("list[int]", steps))),
            "runs": [str(r.path) for r in group.runs],
        })
    return rows


def _num(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:,.{digits}f}"


def markdown(rows: Sequence[dict], *, seed: int, n_resamples: int = RESAMPLES,
             confidence: float = CONFIDENCE, figure: str | None = "report.png") -> str:
    """The report as markdown: the table, what its columns mean, the figure, the run folders."""
    pct = f"{confidence:.0%}"
    lines = [
        "# pgrad report", "",
        "| environment | algorithm | IQM final return | " + pct + " CI | seeds | wall time (s) | env steps |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ci = f"[{_num(r['ci_low'])}, {_num(r['ci_high'])}]" if r["ci_low"] is not None else "n/a (1 seed)"
        steps = "n/a" if r["env_steps"] is None else f"{r['env_steps']:,}"
        lines.append(f"| {r['env_id']} | {r['label']} | {_num(r['iqm'])} | {ci} | {r['seeds']} | "
                     f"{_num(r['wall_seconds'], 2)} | {steps} |")
    lines += [
        "",
        "IQM final return: interquartile mean (mean of the middle 50%, `scipy.stats.trim_mean(x, 0.25)`) "
        "over seeds of each seed's final evaluation return (`final_eval_mean` in summary.json). "
        f"{pct} CI: percentile bootstrap over seeds, resampled with replacement within each task "
        f"(stratified; rliable's method, Agarwal et al. 2021), {n_resamples:,} resamples, seed {seed}. "
        "Wall time: summary.json `wall_seconds`, summed over a row's run folders. Env steps: training "
        "environment steps summed over seeds: summary.json `env_steps` (every step taken), else the "
        "episode lengths in metrics.csv.",
    ]
    if figure:
        lines += ["", f"![learning curves: IQM over seeds of the moving-mean return]({figure})"]
    lines += ["", "Run folders:", ""]
    lines += [f"- {r['env_id']} / {r['label']}: " + ", ".join(f"`{p}`" for p in r["runs"]) for r in rows]
    return "\n".join(lines) + "\n"


def _seed_curves(group: Group, use_steps: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, moving-mean return) per seed with at least one logged episode."""
    curves = []
    for run in group.runs:
        for i, returns in enumerate(run.returns):
            if returns.size:
                steps = cast("tuple[np.ndarray, ...]", run.steps)  # use_steps: every run logs steps
                x = steps[i] if use_steps else np.arange(1.0, returns.size + 1)
                curves.append((x, moving_average(returns, run.window)))
    return curves


def curve_band(curves: Sequence[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, *,
               points: int = GRID_POINTS, n_resamples: int = BAND_RESAMPLES,
               confidence: float = CONFIDENCE
               ) -> tuple[np.ndarray, np.float64 | np.ndarray, float | np.ndarray, float | np.ndarray]:
    """Per-seed curves (x increasing, y) -> grid [G], IQM [G], band low [G], band high [G].

    The grid runs from the latest first x over seeds to the last x of any seed; a seed's value
    at g is its y at its last x <= g (a seed that stopped holds its last value).
    """
    lo = max(x[0] for x, _ in curves)
    hi = max(x[-1] for x, _ in curves)
    grid = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    values = np.stack([y[np.searchsorted(x, grid, side="right") - 1] for x, y in curves], axis=-1)
    low, high = iqm_ci([values], rng, confidence=confidence, n_resamples=n_resamples)
    return grid, iqm(values), low, high


def figure(groups: Sequence[Group], path: Path, rng: np.random.Generator) -> Path:
    """Save the learning-curve figure: one panel per environment, one line per group."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    envs = list(dict.fromkeys(g.env_id for g in groups))
    fig = Figure(figsize=(5.5 * len(envs), 4), dpi=110)
    axes = fig.subplots(1, len(envs), squeeze=False)
    for ax, env_id in zip(axes[0], envs, strict=True):
        members = [g for g in groups if g.env_id == env_id]
        use_steps = all(r.steps is not None for g in members for r in g.runs)
        for k, group in enumerate(members):
            curves = _seed_curves(group, use_steps)
            if not curves:
                continue
            grid, centre, low, high = curve_band(curves, rng)
            color = f"C{k % 10}"
            ax.plot(grid, centre, color=color, lw=2, label=f"{group.label} (IQM of {len(curves)} seeds)")
            if len(curves) > 1:
                ax.fill_between(grid, low, high, color=color, alpha=0.25, lw=0)
        thresholds = {r.config.get("solve_threshold") for g in members for r in g.runs}
        threshold = thresholds.pop() if len(thresholds) == 1 else None
        if isinstance(threshold, int | float) and np.isfinite(threshold):
            ax.axhline(threshold, ls="--", color="tab:red", lw=1, label=f"threshold {threshold:g}")
        windows = sorted({r.window for g in members for r in g.runs})
        ax.set_title(env_id)
        ax.set_xlabel("environment steps" if use_steps else "episodes")
        ax.set_ylabel(f"return, mean of last {windows[0]} episodes" if len(windows) == 1
                      else "return, moving mean")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no episode finished during training", ha="center", va="center",
                    transform=ax.transAxes)
        ax.grid(alpha=0.3)
    fig.suptitle(f"IQM over seeds with {CONFIDENCE:.0%} bootstrap band", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def write_report(groups: Sequence[Group], out: Path, *, seed: int = 0, n_resamples: int = RESAMPLES) -> str:
    """Write report.md, report.png and report.json into ``out`` (checked by :func:`prepare`), whole
    or not at all; returns the markdown.

    All randomness (the bootstrap) comes from ``numpy.random.default_rng(seed)``.
    """
    out = Path(out)
    rng = np.random.default_rng(seed)
    rows = summarize(groups, rng, n_resamples=n_resamples)
    text = markdown(rows, seed=seed, n_resamples=n_resamples)
    with folders.written_whole(out, "report") as tmp:
        (tmp / "report.md").write_text(text)
        (tmp / "report.json").write_text(folders.dumps(
            {"confidence": CONFIDENCE, "resamples": n_resamples, "seed": seed, "rows": rows}))
        figure(groups, tmp / "report.png", rng)
    return text
