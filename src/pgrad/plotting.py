"""Learning curves: return per episode, its moving average and the solve threshold."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last min(i + 1, window) values at each index i: [n] -> [n]."""
    c = np.cumsum(np.insert(np.asarray(x, np.float64), 0, 0.0))
    i = np.arange(1, len(x) + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def learning_curve(rows: Iterable[tuple[Any, ...] | Mapping[str, Any]], threshold: float, window: int,
                   path: Path) -> Path:
    """Save the learning curve for metrics rows (seed, episode, return, ...) to ``path``.

    One seed: each episode's return, the moving mean over ``window`` episodes and the
    threshold. Several seeds: the median moving mean over seeds with an interquartile band;
    a seed that stopped (solved, or out of episodes) holds its last value. No rows (no episode
    finished): an empty plot that says so.
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, faster start-up

    by_seed: dict = defaultdict(list)
    for row in rows:
        seed, ret = (row[0], row[2]) if isinstance(row, tuple) else (row["seed"], row["return"])
        by_seed[seed].append(float(ret))
    fig = Figure(figsize=(7, 4), dpi=110)
    ax = fig.subplots()
    if not by_seed:
        ax.text(0.5, 0.5, "no episode finished during training", ha="center", va="center",
                transform=ax.transAxes)
    elif len(by_seed) == 1:
        returns = np.array(next(iter(by_seed.values())))
        episodes = np.arange(1, len(returns) + 1)
        ax.plot(episodes, returns, ".", ms=2, alpha=0.35, color="tab:blue", label="episode return")
        ax.plot(episodes, moving_average(returns, window), color="tab:blue", lw=2,
                label=f"mean of last {window}")
    else:
        curves = [moving_average(np.array(r), window) for r in by_seed.values()]
        n = max(len(c) for c in curves)
        padded = np.empty((len(curves), n))
        for i, c in enumerate(curves):
            padded[i, : len(c)], padded[i, len(c):] = c, c[-1]
        episodes = np.arange(1, n + 1)
        q25, q50, q75 = np.percentile(padded, [25, 50, 75], axis=0)
        ax.fill_between(episodes, q25, q75, alpha=0.3, color="tab:blue", label="interquartile range")
        ax.plot(episodes, q50, color="tab:blue", lw=2,
                label=f"median over {len(curves)} seeds of mean of last {window}")
    if np.isfinite(threshold) and _near_data(threshold, by_seed):
        ax.axhline(threshold, ls="--", color="tab:red", lw=1, label=f"threshold {threshold:g}")
    elif np.isfinite(threshold):  # far off the returns: a line there would squash (or break) the axis
        ax.plot([], [], ls="--", color="tab:red", lw=1, label=f"threshold {threshold:g} (off the chart)")
    ax.set_xlabel("episode")
    ax.set_ylabel("return")
    if by_seed:
        ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return Path(path)


def _near_data(threshold: float, by_seed: Mapping[Any, list[float]]) -> bool:
    """Whether a threshold line fits on the returns' axis: within 10 spans of the returns' range
    (no returns: within 1e6 of 0)."""
    returns = [r for rs in by_seed.values() for r in rs]
    lo, hi = (min(returns), max(returns)) if returns else (0.0, 0.0)
    span = max(hi - lo, abs(hi), abs(lo), 1.0)
    return lo - 10 * span <= threshold <= hi + 10 * span if returns else abs(threshold) <= 1e6
