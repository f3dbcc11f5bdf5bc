"""The ``pgrad`` command as a whole process: wall time from start-up to exit, and peak memory.

Measures, each as a fresh child process (``subprocess.Popen`` + ``os.wait4``):

- ``pgrad train --out <tmp>`` with every default (one seed, REINFORCE on CartPole-v1, final
  evaluation, run folder with config, metrics, checkpoint and plot): median of 5 runs;
  each run's folder is checked to exist and be non-empty.
- ``pgrad --help``: median of 10 runs.

Wall time: ``time.perf_counter()`` just before the child is started to just after it has
been reaped. Peak memory: the child's maximum resident set size, from the ``rusage`` that
``os.wait4`` returns for that child alone (ru_maxrss, KiB on Linux). One untimed warm-up run
of each command comes first (file-system cache). Stdout and stderr go to pipes, so rich
draws no live progress (as in a script or CI).

    python benchmarks/cli_process.py               # full run
    python benchmarks/cli_process.py --quick       # smoke run (2 runs each)
    python benchmarks/cli_process.py --importtime  # also the slowest imports (python -X importtime)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_header, md_table  # noqa: E402

TARGETS = {"train": 1.0, "help": 0.5, "rss_mib": 200.0}
"""Issue 14's targets: the default ``pgrad train`` <= 1 s (it was < 2 s before), ``--help`` < 0.5 s,
peak memory <= 200 MiB (it was < 150 MiB)."""


def pgrad_command() -> list[str]:
    """The installed ``pgrad`` console script, else ``python -m pgrad.cli``."""
    exe = shutil.which("pgrad")
    return [exe] if exe else [sys.executable, "-m", "pgrad.cli"]


def run_child(cmd: list[str], env: dict | None = None) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS MiB, exit code, stderr tail) of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-2000:]
    return seconds, usage.ru_maxrss / 1024.0, proc.returncode, tail


def time_train(base: list[str], runs: int, extra: list[str]) -> tuple[list[float], list[float]]:
    """Wall seconds and peak MiB of ``pgrad train --out <fresh tmp dir>`` runs."""
    walls, rss = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs + 1):  # the first is the warm-up
            out = Path(tmp) / f"run{i}"
            seconds, mib, code, tail = run_child(base + ["train", "--out", str(out), *extra])
            if code != 0 or not out.is_dir() or not any(out.iterdir()):
                raise SystemExit(f"pgrad train failed (exit {code}, folder {out}):\n{tail}")
            if i:
                walls.append(seconds)
                rss.append(mib)
    return walls, rss


def time_help(base: list[str], runs: int) -> tuple[list[float], list[float]]:
    walls, rss = [], []
    for i in range(runs + 1):
        seconds, mib, code, tail = run_child(base + ["--help"])
        if code != 0:
            raise SystemExit(f"pgrad --help failed (exit {code}):\n{tail}")
        if i:
            walls.append(seconds)
            rss.append(mib)
    return walls, rss


def slowest_imports(base: list[str], args: list[str], top: int = 12) -> list[tuple[str, str]]:
    """The top cumulative import times (python -X importtime) of one pgrad run."""
    cmd = [sys.executable, "-X", "importtime", "-c",
           "import sys; from pgrad.cli import main; sys.exit(main(sys.argv[1:]))", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():  # "import time: self | cumulative | <indent>name"
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative_us, name_field = line[len("import time:"):].split("|")
        if name_field.startswith("  "):  # nested import, counted in its parent's cumulative
            continue
        rows.append((int(cumulative_us), name_field.strip()))
    top_level = sorted(rows, reverse=True)[:top]
    return [(name, f"{us / 1e6:.3f}") for us, name in top_level]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-runs", type=int, default=5, help="timed train runs (default: 5)")
    parser.add_argument("--help-runs", type=int, default=10, help="timed --help runs (default: 10)")
    parser.add_argument("--importtime", action="store_true",
                        help="also list the slowest top-level imports of `pgrad --help` and `train`")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 runs of each")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_runs, args.help_runs = 2, 2

    base = pgrad_command()
    train_walls, train_rss = time_train(base, args.train_runs, [])
    bare_walls, bare_rss = time_train(base, args.train_runs, ["--no-plot"])
    help_walls, help_rss = time_help(base, args.help_runs)

    def verdict(value: float, target: float, under: bool = False) -> str:
        return "yes" if value < target or (value == target and not under) else "NO"

    rows = [
        ["`pgrad train --out <tmp>` (defaults)", args.train_runs,
         f"{statistics.median(train_walls):.2f}", f"{min(train_walls):.2f}",
         f"{max(train_walls):.2f}", f"<= {TARGETS['train']:g}",
         verdict(statistics.median(train_walls), TARGETS["train"]),
         f"{max(train_rss):.0f}", verdict(max(train_rss), TARGETS["rss_mib"])],
        ["`pgrad train --out <tmp> --no-plot` (no learning_curve.png: no matplotlib)", args.train_runs,
         f"{statistics.median(bare_walls):.2f}", f"{min(bare_walls):.2f}", f"{max(bare_walls):.2f}", "",
         "", f"{max(bare_rss):.0f}", verdict(max(bare_rss), TARGETS["rss_mib"])],
        ["`pgrad --help`", args.help_runs, f"{statistics.median(help_walls):.3f}",
         f"{min(help_walls):.3f}", f"{max(help_walls):.3f}", f"< {TARGETS['help']:g}",
         verdict(statistics.median(help_walls), TARGETS["help"], under=True),
         f"{max(help_rss):.0f}", verdict(max(help_rss), TARGETS["rss_mib"])],
    ]
    print(f"## The pgrad command as a process{' (QUICK)' if args.quick else ''}\n")
    print(machine_header() + f" Command: `{' '.join(base)}`.\n")
    print(md_table(["command", "runs", "wall s (median)", "min", "max", "target s",
                    "meets time target", "peak RSS MiB (max)", f"<= {TARGETS['rss_mib']:g} MiB"], rows))
    print("\nWall: child start to reaped exit (perf_counter). Peak RSS: the child's own "
          "ru_maxrss from os.wait4 (largest over the runs).")
    if args.importtime:
        print("\n" + md_table(["slowest top-level imports of `pgrad --help`", "cumulative s"],
                              slowest_imports(base, ["--help"], top=6)))
        with tempfile.TemporaryDirectory() as tmp:
            imports = slowest_imports(base, ["train", "--quiet", "--out", str(Path(tmp) / "r")])
        print("\n" + md_table(["slowest top-level imports of `pgrad train`", "cumulative s"],
                              imports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
