"""``pgrad sweep`` on the local backend: how close a sweep comes to perfect parallel training.

A 12-trial x 20-seed REINFORCE grid on CartPole-v1 (lr in {1, 1.5, 2} x episodes_per_update in
{48, 64, 100, 128}, the neighbourhood of the defaults' own sweep), run as one real ``pgrad sweep``
process with ``--workers W`` (default: the cores). Reported:

- wall: ``time.perf_counter()`` from just before the sweep process starts to its exit (worker
  start-up, every trial's training, evaluation and run folder, the report);
- ideal: the sum of the trials' own training times (summary.json ``wall_seconds``) / W;
- ratio = wall / ideal (issue 11's target: <= 1.3);
- beside it, the sum of the trials' wall times in their workers (sweep.json ``wall_seconds``:
  training, evaluation and writing the run folder) / W, which splits the gap into per-trial
  work outside training and the sweep's own overhead (start-up, scheduling, the report);
- and the CPU time (user + system) of the sweep process and its workers / W: the work done,
  which other load on the machine does not inflate as it does wall times (compare it between
  versions measured on a busy machine).

With ``--zoo-sample N`` (default 3; 0 skips it), the same sweep as rl-baselines3-zoo would run
it: SB3 has no REINFORCE, so each trial is SB3 PPO with rl-zoo3's tuned CartPole-v1 settings
(read from its installed hyperparams/ppo.yml, as benchmarks/time_to_solve.py does) trained for
rl-zoo3's ``n_timesteps``, one seed per run; N runs are timed (one torch thread each, one after
another) and the mean is extrapolated to trials x seeds runs spread over the same W workers.
Needs ``pip install -r benchmarks/requirements.txt``.

Every trial must end ``done``. Trials are single-threaded; on a machine shared with other work,
the ratio rises with the load (reported with the machine line).

    python benchmarks/sweep_local.py              # 12 trials x 20 seeds
    python benchmarks/sweep_local.py --quick      # 4 trials x 5 seeds, a smoke run
    python benchmarks/sweep_local.py --workers 4 --keep sweeps/bench
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_header, md_table  # noqa: E402

from pgrad.cli import parse_seeds  # noqa: E402

TARGET = 1.3
GRID = ["--grid", "lr=1,1.5,2", "--grid", "episodes_per_update=48,64,100,128"]
QUICK_GRID = ["--grid", "lr=1,2", "--grid", "episodes_per_update=48,100"]


def run_sweep(out: Path, grid: list[str], seeds: str, workers: int) -> tuple[float, float]:
    """Run ``pgrad sweep`` as a process (the ``pgrad`` entry point); its wall time and the CPU time
    of it and its workers (user + system), in seconds."""
    argv = [sys.executable, "-c", "import sys; from pgrad.cli import main; sys.exit(main())", "sweep",
            "--algo", "reinforce", *grid, "--seeds", seeds, "--out", str(out), "--workers", str(workers),
            "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the sweep, and the workers it waited for
    if proc.returncode != 0:
        raise SystemExit(f"pgrad sweep failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def zoo_run_seconds(seed: int) -> float:
    """Wall seconds of one SB3 PPO run with rl-zoo3's CartPole-v1 settings for its n_timesteps."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from time_to_solve import ppo_kwargs, zoo_hyperparams

    torch.set_num_threads(1)
    hyper = zoo_hyperparams()
    start = time.perf_counter()
    env = make_vec_env("CartPole-v1", n_envs=hyper["n_envs"], seed=seed)
    model = PPO(hyper["policy"], env, seed=seed, device="cpu", verbose=0, **ppo_kwargs(hyper))
    model.learn(total_timesteps=int(hyper["n_timesteps"]))
    env.close()
    seconds = time.perf_counter() - start
    print(f"  SB3 PPO (rl-zoo3 settings) seed {seed}: {seconds:.1f} s for {model.num_timesteps} steps",
          file=sys.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--seeds", default=None, help="seeds of every trial (default: 0-19; --quick: 0-4)")
    parser.add_argument("--quick", action="store_true", help="4 trials x 5 seeds")
    parser.add_argument("--keep", type=Path, default=None, help="write the sweep folder here and keep it")
    parser.add_argument("--zoo-sample", type=int, default=3,
                        help="SB3 PPO runs (rl-zoo3 settings) to time and extrapolate (0: none)")
    args = parser.parse_args()
    grid, seeds = (QUICK_GRID, args.seeds or "0-4") if args.quick else (GRID, args.seeds or "0-19")
    scratch = Path(tempfile.mkdtemp(prefix="pgrad-sweep-bench-"))
    out = args.keep if args.keep is not None else scratch / "sweep"
    try:
        wall, cpu = run_sweep(out, grid, seeds, args.workers)
        trials = json.loads((out / "sweep.json").read_text())["trials"]
        assert all(t["status"] == "done" for t in trials), [t["status"] for t in trials]
        training = sum(json.loads((out / t["run_dir"] / "summary.json").read_text())["wall_seconds"]
                       for t in trials)
        in_workers = sum(t["wall_seconds"] for t in trials)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ideal = training / args.workers
    print(f"# pgrad sweep, local backend: {len(trials)} trials x {seeds} seeds, {args.workers} workers\n")
    print(machine_header() + "\n")
    print(md_table(["measure", "seconds", "ratio to ideal"], [
        ["sweep wall time (process start to exit)", f"{wall:.2f}", f"{wall / ideal:.2f}x"],
        ["ideal: sum of trials' training time / workers", f"{ideal:.2f}", "1.00x"],
        ["sum of trials' time in their workers / workers", f"{in_workers / args.workers:.2f}",
         f"{in_workers / args.workers / ideal:.2f}x"],
        ["CPU time of the sweep and its workers / workers", f"{cpu / args.workers:.2f}",
         f"{cpu / args.workers / ideal:.2f}x"],
    ]))
    verdict = "meets" if wall / ideal <= TARGET else "misses"
    print(f"\nratio {wall / ideal:.2f} {verdict} the target <= {TARGET} "
          f"(sum of training times {training:.2f} s over {len(trials)} trials).")
    if args.zoo_sample > 0:
        runs = len(trials) * len(parse_seeds(seeds))
        sample = [zoo_run_seconds(seed) for seed in range(args.zoo_sample)]
        zoo = sum(sample) / len(sample) * runs / args.workers
        print(f"\nrl-baselines3-zoo way (SB3 PPO, rl-zoo3 CartPole-v1 settings, one seed per run): "
              f"{args.zoo_sample} runs took {', '.join(f'{x:.1f}' for x in sample)} s; extrapolated to "
              f"{runs} runs over {args.workers} workers: {zoo:.0f} s, **{zoo / wall:.0f}x** pgrad's sweep "
              f"wall time ({wall:.1f} s).")


if __name__ == "__main__":
    main()
