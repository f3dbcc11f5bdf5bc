"""Wall time of ``pgrad verify`` at its default size, and of the unbiasedness tests.

Each is run as a fresh child process, timed with ``time.perf_counter()`` from just before
start to just after exit; the median of ``--runs`` runs is reported (after one untimed
warm-up of each, for the file-system cache). Targets from the issue: ``pgrad verify`` under
30 s and the unbiasedness tests under 60 s together, on a 2-core machine.

    python benchmarks/verify_time.py            # 3 runs each
    python benchmarks/verify_time.py --runs 1
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "pgrad verify (default size)": [sys.executable, "-m", "pgrad.cli", "verify"],
    "pytest tests/test_unbiased.py tests/test_verify.py": [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_unbiased.py",
        "tests/test_verify.py"],
}
TARGETS = {"pgrad verify (default size)": 30.0, "pytest tests/test_unbiased.py tests/test_verify.py": 60.0}


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores; "
          f"Python {sys.version.split()[0]}.\n")
    print("| command | median wall time (s) | runs | target (s) |")
    print("| --- | ---: | ---: | ---: |")
    for name, command in COMMANDS.items():
        wall_time(command)  # warm-up
        times = [wall_time(command) for _ in range(args.runs)]
        print(f"| `{name}` | {statistics.median(times):.1f} | {args.runs} | {TARGETS[name]:.0f} |")


if __name__ == "__main__":
    main()
