"""Environment throughput: env steps per second, pgrad's vector env beside Gymnasium's.

For each classic-control environment pgrad implements (CartPole-v1, Acrobot-v1,
MountainCar-v0, MountainCarContinuous-v0, Pendulum-v1) and each number of environments
(1, 64, 1,024, 16,384), in the same run and on one thread:

(a) pgrad: ``pgrad.make_vec(id, n)``, the numpy-vectorised ``DynamicsVectorEnv`` (float64).
(b) Gymnasium: ``gymnasium.make_vec(id, n, vectorization_mode="sync")``, a ``SyncVectorEnv``
    of Gymnasium's own single envs (with their time-limit and checker wrappers).

Both step uniformly random actions drawn before the clock starts (a pool of batches used in
turn; Box actions uniform in the action space) and reset ended environments themselves
(next-step autoreset), so every call counts n env steps: throughput = calls x n / seconds.
Each point runs one untimed warm-up call, then calls until ``--seconds`` have passed (at least
one call; a Sync call at 16,384 envs can take longer than that on its own). Timing is
``time.perf_counter``. Construction and reset are not timed.

    python benchmarks/env_throughput.py            # 1 to 16,384 envs, ~1 s per point
    python benchmarks/env_throughput.py --quick    # 1 to 1,024 envs, ~0.1 s per point
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib import metadata

import gymnasium
import numpy as np

import pgrad
from pgrad.envs import DYNAMICS

SIZES = (1, 64, 1024, 16384)
QUICK_SIZES = (1, 64, 1024)
ACTION_POOL = 16  # distinct pre-drawn action batches, used in turn


def random_actions(space: gymnasium.Space, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """ACTION_POOL batches of n random actions from the single-env action space."""
    if isinstance(space, gymnasium.spaces.Discrete):
        return [rng.integers(0, space.n, n) for _ in range(ACTION_POOL)]
    return [rng.uniform(space.low, space.high, (n, *space.shape)).astype(space.dtype)
            for _ in range(ACTION_POOL)]


def steps_per_second(env: gymnasium.vector.VectorEnv, actions: list[np.ndarray], seconds: float) -> float:
    """Env steps per second: calls x num_envs over the time taken, after one warm-up call."""
    env.reset(seed=0)
    env.step(actions[0])
    calls = 0
    start = time.perf_counter()
    while True:
        env.step(actions[calls % len(actions)])
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * env.num_envs / elapsed


def measure(env_id: str, n: int, seconds: float, seed: int) -> tuple[float, float]:
    """(pgrad, Gymnasium Sync) env steps per second for n copies of env_id."""
    ours = pgrad.make_vec(env_id, n)
    actions = random_actions(ours.single_action_space, n, np.random.default_rng(seed))
    pgrad_rate = steps_per_second(ours, actions, seconds)
    sync = gymnasium.make_vec(env_id, n, vectorization_mode="sync")
    sync_rate = steps_per_second(sync, actions, seconds)
    sync.close()
    return pgrad_rate, sync_rate


def machine() -> str:
    """CPU, cores, load, Python and package versions, as one line."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    packages = ", ".join(f"{name} {metadata.version(name)}" for name in ("numpy", "gymnasium"))
    return (f"Machine: {cpu}, {os.cpu_count()} logical cores, load average {load}; "
            f"Python {sys.version.split()[0]}, {packages}.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 to 1,024 envs, 0.1 s per point")
    parser.add_argument("--seconds", type=float, default=None, help="time per point (default 1, quick 0.1)")
    parser.add_argument("--envs", nargs="+", default=list(DYNAMICS), choices=list(DYNAMICS),
                        help="environment ids (default: all five)")
    parser.add_argument("--sizes", nargs="+", type=int, default=None, help="numbers of environments")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random actions")
    args = parser.parse_args(argv)
    seconds = args.seconds or (0.1 if args.quick else 1.0)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)

    print(machine())
    print()
    print("| environment | envs | pgrad steps/s | Gymnasium Sync steps/s | pgrad / Sync |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for env_id in args.envs:
        for n in sizes:
            pgrad_rate, sync_rate = measure(env_id, n, seconds, args.seed)
            ratio = pgrad_rate / sync_rate
            print(f"| {env_id} | {n:,} | {pgrad_rate:,.0f} | {sync_rate:,.0f} | {ratio:,.1f}x |", flush=True)


if __name__ == "__main__":
    main()
