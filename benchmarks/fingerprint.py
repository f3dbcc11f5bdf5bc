"""Fingerprints of a fixed set of training runs: a hash of every seed's final parameters, episode
records and step counts. A change that should alter only speed or structure must leave every
fingerprint as it was: run this before and after and compare (``--check FILE``).

    python benchmarks/fingerprint.py > before.json     # on the old code
    python benchmarks/fingerprint.py --check before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import numpy as np

RUNS = [
    ("reinforce", {}, [0, 1, 2]),
    ("reinforce", {"baseline": "value", "max_episodes": 1000}, [0, 1]),
    ("reinforce", {"env_id": "Acrobot-v1", "max_episodes": 300}, [0]),
    ("a2c", {"max_steps": 20_000}, [0, 1]),
    ("ppo", {"max_steps": 20_000}, [0, 1]),
    ("ppo", {"env_id": "Pendulum-v1", "max_steps": 8192}, [0]),
    ("a2c", {"env_id": "MountainCarContinuous-v0", "max_steps": 8192}, [0]),
    ("ppo", {"policy": "mlp", "hidden": 16, "max_steps": 8192}, [0]),
    # added with issue 14 (the compiled hot path), recorded on the numpy code before it
    ("reinforce", {"float32": True, "max_episodes": 1000}, [0, 1]),
    ("reinforce", {"env_id": "MountainCar-v0", "max_episodes": 200}, [0]),
    ("reinforce", {"env_id": "Pendulum-v1", "max_episodes": 200}, [0, 1]),
    ("reinforce", {"env_id": "MountainCarContinuous-v0", "max_episodes": 100}, [0]),
    ("reinforce", {"env_id": "Acrobot-v1", "float32": True, "max_episodes": 200}, [0]),
    ("reinforce", {"episodes_per_update": 10, "bias": True, "weighting": "total_return", "baseline": "none",
                   "optimizer": "sgd", "lr": 0.05, "max_episodes": 500}, [3]),
    ("ppo", {"float32": True, "max_steps": 8192}, [0]),
    ("ppo", {"env_id": "Acrobot-v1", "max_steps": 8192}, [0]),
    ("a2c", {"env_id": "MountainCar-v0", "max_steps": 8192}, [0]),
    # NPG and TRPO with every field that sets their numerics given (their defaults may change)
    ("npg", {"episodes_per_update": 10, "gamma": 1.0, "weighting": "reward_to_go",
             "baseline": "time_mean_loo", "optimizer": "sgd", "lr": 1.0, "max_kl": 0.02, "damping": 0.01,
             "max_episodes": 600}, [0, 1]),
    ("trpo", {"policy": "linear", "num_envs": 64, "num_steps": 16, "gamma": 0.99, "gae_lambda": 0.95,
              "lr": 0.1, "lr_schedule": "constant", "normalize_advantages": True, "max_kl": 0.01,
              "cg_iterations": 10, "damping": 0.1, "backtrack_coef": 0.8, "backtrack_steps": 10,
              "max_steps": 16384}, [0]),
]


def key(algo: str, overrides: dict, seeds: list[int]) -> str:
    """The run's name in the JSON file: ``algo {overrides as sorted JSON} [seeds]``."""
    return f"{algo} {json.dumps(overrides, sort_keys=True)} {seeds}"


def fingerprint(algo: str, overrides: dict, seeds: list[int]) -> str:
    from pgrad import algorithms

    module = algorithms.module(algo)
    result = module.train(algorithms.config_class(algo)(**overrides), seeds)
    h = hashlib.sha256()
    for x in (result.theta, result.solved_at_episode):
        h.update(np.ascontiguousarray(x).tobytes())
    for table in result.episodes:
        for key in ("return", "length", "update"):
            h.update(np.ascontiguousarray(table[key]).tobytes())
    return h.hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", help="compare with the fingerprints in this JSON file")
    args = parser.parse_args()
    prints = {}
    for algo, o, seeds in RUNS:
        start = time.perf_counter()
        prints[key(algo, o, seeds)] = fingerprint(algo, o, seeds)
        print(f"{time.perf_counter() - start:6.2f} s  {key(algo, o, seeds)}", file=sys.stderr)
    if not args.check:
        print(json.dumps(prints, indent=2))
        return 0
    old = json.loads(open(args.check).read())
    bad = [k for k in prints if old.get(k) != prints[k]]
    for k in prints:
        print(("same " if k not in bad else "DIFF ") + k)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
