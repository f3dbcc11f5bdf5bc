"""Helpers shared by the benchmark scripts: machine description and markdown tables."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Sequence
from importlib import metadata


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def versions(*packages: str) -> str:
    """'name version' for each installed package, comma-separated."""
    out = []
    for name in packages:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def machine_header(*packages: str) -> str:
    """One markdown paragraph: CPU, cores, load average, Python and package versions."""
    try:
        load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load average unknown"
    return (f"Machine: {cpu_model()}, {os.cpu_count()} logical cores, {load}; "
            f"Python {sys.version.split()[0]}, {versions('numpy', 'gymnasium', *packages)}.")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table; numbers right-aligned."""
    def align(col: int) -> str:
        numeric = all(isinstance(r[col], int | float) or _looks_numeric(r[col]) for r in rows)
        return "---:" if numeric and rows else "---"

    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join(align(i) for i in range(len(headers))) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _looks_numeric(text: object) -> bool:
    s = str(text).replace(",", "").replace("x", "").replace("M", "").replace("%", "").strip()
    try:
        float(s)
    except ValueError:
        return False
    return True


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def sb3_time_to_solve(make_model, total_timesteps: int, time_cap: float, window: int = 100,
                      threshold: float = 475.0) -> dict:
    """Build an SB3 model with ``make_model()`` (environments included, on the clock) and train it
    until the mean of the last ``window`` Monitor returns reaches ``threshold``, ``total_timesteps``
    run out, or ``time_cap`` seconds pass. Returns seconds, solved, capped, episodes, timesteps."""
    import time
    from collections import deque

    import numpy as np
    from stable_baselines3.common.callbacks import BaseCallback

    class StopWhenSolved(BaseCallback):
        def __init__(self, start: float):
            super().__init__()
            self.start, self.returns = start, deque(maxlen=window)
            self.episodes, self.solved, self.capped = 0, False, False

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.returns.append(float(info["episode"]["r"]))
                    self.episodes += 1
            if len(self.returns) == window and np.mean(self.returns) >= threshold:
                self.solved = True
                return False
            if time.perf_counter() - self.start > time_cap:
                self.capped = True
                return False
            return True

    start = time.perf_counter()
    model = make_model()
    callback = StopWhenSolved(start)
    model.learn(total_timesteps=total_timesteps, callback=callback)
    seconds = time.perf_counter() - start
    model.get_env().close()
    return {"seconds": seconds, "solved": callback.solved, "capped": callback.capped,
            "episodes": callback.episodes, "timesteps": int(model.num_timesteps)}


def solve_stats(rows: Sequence[dict]) -> list[str]:
    """Table cells of time-to-solve runs (dicts with solved, seconds, timesteps): solved/total,
    median, min and max wall seconds of the solved ones, median env steps to solve."""
    solved = [r["seconds"] for r in rows if r["solved"]]
    if not solved:
        return [f"0/{len(rows)}", "-", "-", "-", "-"]
    steps = statistics.median([r["timesteps"] for r in rows if r["solved"]])
    return [f"{len(solved)}/{len(rows)}", f"{statistics.median(solved):.3f}", f"{min(solved):.3f}",
            f"{max(solved):.3f}", f"{steps:,.0f}"]


def print_solve_table(timed: dict[str, list[dict]], names: dict[str, str], peer: str,
                      peer_label: str) -> list[float]:
    """Print the time-to-solve table of the runs in ``timed`` (key -> rows of seeds trained alone)
    and, for every other key, the ratio of the peer's median wall seconds to its own; returns the
    peer's solved seconds."""
    rows = [[f"{names[k]} (seeds 0-{len(v) - 1}, each alone)", *solve_stats(v)]
            for k, v in timed.items() if v]
    if rows:
        print(md_table(["run", "solved", "wall s (median)", "min", "max", "env steps to solve (median)"],
                       rows))
        print()
    solved_peer = [r["seconds"] for r in timed.get(peer, []) if r["solved"]]
    for key, runs in timed.items():
        mine = [r["seconds"] for r in runs if r["solved"]]
        if key != peer and mine and solved_peer:
            ratio = statistics.median(solved_peer) / statistics.median(mine)
            print(f"- {peer_label} / {names[key]}: **{ratio:.1f}x** (the median wall seconds to solve)")
    return solved_peer
