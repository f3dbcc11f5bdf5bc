"""``pgrad sweep --backend ray`` against the local backend: what Ray Tune costs on one machine.

The 12-trial x 20-seed REINFORCE grid of ``benchmarks/sweep_local.py`` on CartPole-v1, run as two
real ``pgrad sweep`` processes, the local backend first, then ``--backend ray`` (a local Ray of W
CPUs started and stopped by the sweep, or ``--address`` an existing cluster). Reported per backend:

- wall: ``time.perf_counter()`` from just before the sweep process starts to its exit (for Ray:
  importing Ray, starting it, Tune's set-up and its worker processes, every trial, the report);
- the sum of the trials' own training times (summary.json ``wall_seconds``) and of their time in
  the workers (sweep.json ``wall_seconds``: training, evaluation and the run folder), each / W;

and the ratio of the Ray sweep's wall time to the local one's. Both sweeps must end with every
trial ``done`` and every trial's theta.npy identical between them (the same training, bit for bit).

    python benchmarks/sweep_ray.py                 # 12 trials x 20 seeds
    python benchmarks/sweep_ray.py --quick         # 4 trials x 5 seeds
    python benchmarks/sweep_ray.py --address auto  # the Ray side on a running cluster
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_header, md_table  # noqa: E402
from sweep_local import GRID, QUICK_GRID  # noqa: E402


def run_sweep(out: Path, grid: list[str], seeds: str, workers: int, *backend: str) -> float:
    """Run ``pgrad sweep`` as a process (the ``pgrad`` entry point); its wall time in seconds."""
    argv = [sys.executable, "-c", "import sys; from pgrad.cli import main; sys.exit(main())", "sweep",
            "--algo", "reinforce", *grid, "--seeds", seeds, "--out", str(out), "--workers", str(workers),
            "--quiet", *backend]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"pgrad sweep {' '.join(backend)} failed (exit {proc.returncode}): "
                         f"{proc.stderr.strip()}")
    return wall


def times(out: Path) -> tuple[list[dict], float, float]:
    """The trials of a finished sweep, the sum of their training times and of their times in workers."""
    trials = json.loads((out / "sweep.json").read_text())["trials"]
    assert all(t["status"] == "done" for t in trials), [t["status"] for t in trials]
    training = sum(json.loads((out / t["run_dir"] / "summary.json").read_text())["wall_seconds"]
                   for t in trials)
    return trials, training, sum(t["wall_seconds"] for t in trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes / the local Ray's CPUs (default: the cores)")
    parser.add_argument("--seeds", default=None, help="seeds of every trial (default: 0-19; --quick: 0-4)")
    parser.add_argument("--quick", action="store_true", help="4 trials x 5 seeds")
    parser.add_argument("--address", default=None, help="run the Ray sweep on this Ray cluster instead")
    args = parser.parse_args()
    grid, seeds = (QUICK_GRID, args.seeds or "0-4") if args.quick else (GRID, args.seeds or "0-19")
    scratch = Path(tempfile.mkdtemp(prefix="pgrad-sweep-ray-bench-"))
    ray = ["--backend", "ray", *(["--address", args.address] if args.address else [])]
    rows, walls = [], {}
    try:
        for name, backend in (("local", []), ("ray", ray)):
            out = scratch / name
            walls[name] = run_sweep(out, grid, seeds, args.workers, *backend)
            trials, training, in_workers = times(out)
            rows.append([f"`{' '.join(['--backend', name] + backend[2:])}`", f"{walls[name]:.2f}",
                         f"{training / args.workers:.2f}", f"{in_workers / args.workers:.2f}"])
        for t in trials:
            same = (scratch / "local" / t["run_dir"] / "theta.npy").read_bytes() == \
                (scratch / "ray" / t["run_dir"] / "theta.npy").read_bytes()
            assert same, f"{t['name']}: theta differs between the backends"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"# pgrad sweep, Ray backend vs local: {len(trials)} trials x {seeds} seeds, "
          f"{args.workers} workers\n")
    print(machine_header("ray", "optuna") + "\n")
    print(md_table(["backend", "sweep wall time (s)", "sum of training times / W (s)",
                    "sum of times in workers / W (s)"], rows))
    ratio, extra = walls["ray"] / walls["local"], walls["ray"] - walls["local"]
    print(f"\nRay / local wall time: **{ratio:.2f}x** ({extra:.1f} s more); every trial's theta.npy "
          "identical between the backends.")


if __name__ == "__main__":
    main()
