"""The training log: every seed's finished episodes, the one stopping rule, and the metrics of
every update, as plain arrays (so a checkpoint holds it whole).

Seed s stops when the mean return of its last ``window`` finished episodes reaches
``threshold`` (solved), when it has used its budget (``max_episodes`` finished episodes, or
``max_steps`` environment steps), or when its numbers became non-finite (diverged).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

UPDATE_INTS = ("update", "seeds_training", "episodes", "steps", "active")
"""Columns of the update table that hold integers (the others hold floats)."""
PER_SEED = "per_seed"
"""The metrics entry holding each learning seed's own diagnostics, {name: [seeds learned]} with
"index" (their positions in the run's seeds): for callbacks, kept out of the update table."""


class EpisodeLog:
    """Finished episodes per seed, the stopping rule, and one row of metrics per update."""

    def __init__(self, seeds: Sequence[int], window: int, threshold: float, *,
                 max_episodes: int | None = None, max_steps: int | None = None, wall_before: float = 0.0):
        S = len(seeds)
        self.seeds, self.window, self.threshold = tuple(seeds), window, threshold
        self.max_episodes, self.max_steps = max_episodes, max_steps
        self.records: list[list[tuple]] = [[] for _ in range(S)]  # (returns, lengths, update, wall)
        self.episodes = np.zeros(S, np.int64)
        self.steps = np.zeros(S, np.int64)
        self.active = np.ones(S, bool)
        self.diverged = np.zeros(S, bool)
        self.solved_at_episode = np.full(S, -1)
        self.solved_at_step = np.full(S, -1)
        self.updates: list[dict] = []
        self.wall_before = wall_before
        self.start = time.perf_counter()

    @property
    def wall(self) -> float:
        """Seconds of training so far, including those before a resume."""
        return self.wall_before + time.perf_counter() - self.start

    def window_mean(self, i: int) -> float:
        """Mean return of seed i's last ``window`` finished episodes (fewer at the start; nan if none)."""
        recent, count = [], 0
        for returns, *_ in reversed(self.records[i]):
            recent.append(returns)
            count += returns.size
            if count >= self.window:
                break
        if not count:
            return float("nan")
        return float(np.concatenate(recent[::-1])[-self.window:].mean())

    def record(self, idx: np.ndarray, returns: Sequence[np.ndarray], lengths: Sequence[np.ndarray],
               steps: np.ndarray, update: int) -> dict:
        """Add the episodes the seeds ``idx`` finished and the steps they took in this update, stop
        seeds by the rule, and return this update's metrics so far."""
        wall = self.wall
        means = []
        for j, i in enumerate(idx):
            self.steps[i] += steps[j]
            if returns[j].size:
                self.records[i].append((returns[j], lengths[j], update, wall))
                self.episodes[i] += returns[j].size
            mean = self.window_mean(i) if self.episodes[i] else float("nan")
            if self.episodes[i]:
                means.append(mean)
            if self.episodes[i] >= self.window and mean >= self.threshold:
                self.solved_at_episode[i], self.solved_at_step[i] = self.episodes[i], self.steps[i]
                self.active[i] = False
            elif ((self.max_episodes is not None and self.episodes[i] >= self.max_episodes)
                  or (self.max_steps is not None and self.steps[i] >= self.max_steps)):
                self.active[i] = False
        finished = np.concatenate(returns) if len(returns) else np.zeros(0)
        return {
            "update": update,
            "seeds": [self.seeds[i] for i in idx],
            "episodes": int(self.episodes.sum()),
            "steps": int(self.steps[idx].max()),
            "mean_return": float(finished.mean()) if finished.size else float("nan"),
            "window_mean": float(np.mean(means)) if means else 0.0,
            "wall": wall,
            "active": int(self.active.sum()),
        }

    def diverge(self, idx: np.ndarray) -> None:
        """Stop the seeds ``idx``: their numbers became non-finite."""
        self.diverged[idx], self.active[idx] = True, False

    def log(self, metrics: dict) -> None:
        """Keep this update's metrics as a table row (``seeds`` as the number still training; the
        per-seed diagnostics left out)."""
        self.updates.append({("seeds_training" if k == "seeds" else k): (len(v) if k == "seeds" else v)
                             for k, v in metrics.items() if k != PER_SEED})

    def status(self, running: str = "running") -> list[str]:
        """Each seed's status: solved, budget, diverged, or ``running`` for a seed still training."""
        return ["diverged" if d else "solved" if s >= 0 else running if a else "budget"
                for s, d, a in zip(self.solved_at_episode, self.diverged, self.active, strict=True)]

    def tables(self) -> list[dict[str, np.ndarray]]:
        """Per seed, its episodes as arrays: return, length, update, wall."""
        return [_episode_table(r) for r in self.records]

    # -- checkpoints: the log as arrays and back ----------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything the log holds, as arrays (see :meth:`from_arrays`)."""
        tables = self.tables()
        arrays = {f"episodes_{k}": np.concatenate([t[k] for t in tables]) for k in tables[0]}
        arrays |= {"episode_counts": np.array([len(t["return"]) for t in tables], np.int64),
                   "episodes": self.episodes, "steps": self.steps, "active": self.active,
                   "diverged": self.diverged, "solved_at_episode": self.solved_at_episode,
                   "solved_at_step": self.solved_at_step}
        keys = list(dict.fromkeys(k for u in self.updates for k in u))
        for k in keys:
            present = np.array([k in u for u in self.updates], bool)
            dtype = np.int64 if k in UPDATE_INTS else np.float64
            arrays[f"updates/{k}"] = np.array([u.get(k, 0) for u in self.updates], dtype)
            arrays[f"updates_present/{k}"] = present
        arrays["update_keys"] = np.array(keys, dtype=np.str_)
        return arrays

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`to_arrays` wrote (one record per seed holds its episodes); a
        ValueError for arrays whose shapes do not fit together."""
        for name in ("episodes", "steps", "active", "diverged", "solved_at_episode", "solved_at_step"):
            fill(getattr(self, name), arrays[name], name)
        counts = arrays["episode_counts"]
        episodes = {k: arrays[f"episodes_{k}"] for k in ("return", "length", "update", "wall")}
        if (counts.shape != self.episodes.shape or counts.dtype.kind not in "iu" or (counts < 0).any()
                or any(x.shape != (int(counts.sum()),) for x in episodes.values())):
            raise ValueError("the episode arrays do not fit episode_counts")
        ends = np.cumsum(counts)
        for i, (lo, hi) in enumerate(zip(ends - counts, ends, strict=True)):
            if hi > lo:
                self.records[i] = [tuple(episodes[k][lo:hi] for k in ("return", "length", "update", "wall"))]
        keys = [str(k) for k in arrays["update_keys"]]
        columns = [arrays[f"updates/{k}"] for k in keys] + [arrays[f"updates_present/{k}"] for k in keys]
        n = len(columns[0]) if keys else 0
        if any(c.shape != (n,) for c in columns):
            raise ValueError("the columns of the update table differ in length")
        self.updates = [{k: arrays[f"updates/{k}"][r].item() for k in keys
                         if arrays[f"updates_present/{k}"][r]} for r in range(n)]


def fill(target: np.ndarray, source: np.ndarray, name: str) -> None:
    """target[...] = source, refusing (ValueError) a source of another shape or kind instead of
    broadcasting it: restoring a checkpoint never stretches a damaged array."""
    if source.shape != target.shape or source.dtype.kind not in ("b" if target.dtype.kind == "b" else "biuf"):
        raise ValueError(f"{name} has shape {source.shape} and dtype {source.dtype}, expected {target.shape} "
                         f"{target.dtype}")
    target[...] = source


def _episode_table(records: list[tuple]) -> dict[str, np.ndarray]:
    """A seed's records as arrays; a record's update and wall hold per chunk (scalar) or per episode."""
    if not records:
        return {"return": np.zeros(0), "length": np.zeros(0, np.int64), "update": np.zeros(0, np.int64),
                "wall": np.zeros(0)}
    rets, lens, updates, walls = zip(*records, strict=True)
    counts = [len(r) for r in rets]
    return {"return": np.concatenate(rets), "length": np.concatenate(lens).astype(np.int64),
            "update": np.concatenate([np.broadcast_to(np.asarray(u, np.int64), (c,))
                                      for u, c in zip(updates, counts, strict=True)]),
            "wall": np.concatenate([np.broadcast_to(np.asarray(w, np.float64), (c,))
                                    for w, c in zip(walls, counts, strict=True)])}
