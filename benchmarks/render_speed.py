"""``pgrad render`` of one 500-step CartPole-v1 episode to GIF (and to MP4), as whole processes.

    python benchmarks/render_speed.py [--repeats 5]

Trains the default run once (REINFORCE, seed 0: its greedy episode lasts the full 500 steps),
then times ``pgrad render RUN --out x.gif`` from process start to the written file, median of
``--repeats`` runs; the same for ``.mp4``. Target: under 5 s for the GIF.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PGRAD = [sys.executable, "-m", "pgrad.cli"]


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([*PGRAD, *args], capture_output=True, text=True, check=True, cwd=cwd)
    return time.perf_counter() - start, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        subprocess.run([*PGRAD, "train", "--out", "run", "--quiet"], check=True, cwd=cwd, capture_output=True)
        for suffix in (".gif", ".mp4"):
            times, text = [], ""
            for _ in range(args.repeats):
                seconds, text = timed(["render", "run", "--out", f"x{suffix}", "--force"], cwd)
                times.append(seconds)
            size = (cwd / f"x{suffix}").stat().st_size
            print(f"{suffix}: median {statistics.median(times):.2f} s (min {min(times):.2f}, "
                  f"max {max(times):.2f}) over {args.repeats} runs; {size / 1e3:.0f} kB; "
                  f"{text.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
