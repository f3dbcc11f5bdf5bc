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
]


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
    prints = {f"{algo} {json.dumps(o, sort_keys=True)} {seeds}": fingerprint(algo, o, seeds)
              for algo, o, seeds in RUNS}
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
