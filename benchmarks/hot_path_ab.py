"""The compiled hot path against the numpy reference, algorithm by algorithm, same code, same runs.

Each case trains in a fresh process, once with ``PGRAD_JIT=1`` (the compiled kernels from the
first rollout, warm numba cache) and once with ``PGRAD_NO_JIT=1`` (numpy only), interleaved,
``--repeats`` times. A process times only its training (after one warm-up call, which loads the
kernels) in CPU and wall seconds, and prints a hash of every seed's final parameters: the two
paths must print the same hash, or the script says so and exits 1.

Cases (CartPole-v1, linear policies): REINFORCE's default config, one seed alone (seeds 0-9, one
after another) and 100 seeds in one call; A2C and PPO, 100,000 steps, seed 0.

    python benchmarks/hot_path_ab.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

from _common import machine_header, md_table, median

CASES = {
    "REINFORCE, one seed alone (seeds 0-9, total)": ("reinforce", [[s] for s in range(10)], {}),
    "REINFORCE, 100 seeds in one call": ("reinforce", [list(range(100))], {}),
    "A2C linear, 100k steps": ("a2c", [[0]], {"max_steps": 100_000}),
    "PPO linear, 100k steps": ("ppo", [[0]], {"max_steps": 100_000}),
}


def child(algo: str, calls: list[list[int]], overrides: dict) -> None:
    """Train the case in this process; print {cpu, wall, hash} as one JSON line."""
    import numpy as np

    from pgrad.algorithms import config_class, module

    config = config_class(algo)(**overrides)
    train = module(algo).train
    train(config, calls[0][:1])  # warm-up: imports, kernel loading and start-up checks
    digest = hashlib.sha256()
    cpu, wall = time.process_time(), time.perf_counter()
    for seeds in calls:
        digest.update(np.ascontiguousarray(train(config, seeds).theta).tobytes())
    print(json.dumps({"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall,
                      "hash": digest.hexdigest()[:16]}))


def measure(name: str, compiled: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PGRAD_JIT", "PGRAD_NO_JIT")}
    env.update({"PGRAD_JIT": "1"} if compiled else {"PGRAD_NO_JIT": "1"})
    out = subprocess.run([sys.executable, __file__, "--child", name], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per case and path")
    parser.add_argument("--quick", action="store_true", help="one repeat of the REINFORCE one-seed case")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*CASES[args.child])
        return 0
    names = list(CASES)[:1] if args.quick else list(CASES)
    repeats = 1 if args.quick else args.repeats
    print(machine_header("numba"))
    print(f"\n`python benchmarks/hot_path_ab.py{' --quick' if args.quick else ''}`: median of {repeats} "
          "fresh processes per path, interleaved; training only, after a warm-up call.\n")
    rows, same = [], True
    for name in names:
        runs: dict[bool, list[dict]] = {True: [], False: []}
        for _ in range(repeats):
            for compiled in (True, False):
                runs[compiled].append(measure(name, compiled))
        hashes = {r["hash"] for r in runs[True] + runs[False]}
        same &= len(hashes) == 1
        cpu = {c: median([r["cpu"] for r in runs[c]]) for c in runs}
        wall = {c: median([r["wall"] for r in runs[c]]) for c in runs}
        rows.append([name, f"{cpu[False]:.3f}", f"{cpu[True]:.3f}", f"{cpu[False] / cpu[True]:.2f}x",
                     f"{wall[False]:.3f}", f"{wall[True]:.3f}", f"{wall[False] / wall[True]:.2f}x",
                     "yes" if len(hashes) == 1 else "NO"])
    print(md_table(["case", "numpy CPU s", "compiled CPU s", "CPU ratio", "numpy wall s", "compiled wall s",
                    "wall ratio", "same theta"], rows))
    if not same:
        print("\nThe compiled path changed a result: see the 'same theta' column.", file=sys.stderr)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
