"""TRPO wall-clock time to solve CartPole-v1: pgrad (linear and MLP policies) beside sb3-contrib's
TRPO with rl-baselines3-zoo's tuned CartPole-v1 settings.

Solved means: the mean undiscounted return of the last 100 finished training episodes reaches
475 (checked by pgrad after each segment, by the SB3 callback after every step).

(a) pgrad TRPO, linear policy: ``TRPOConfig()`` (the defaults), each seed alone in its own
    ``train(config, [seed])`` call; time = ``TrainResult.wall_seconds``, the training loop only
    (sampling, GAE, the CG solve and line search, the value fit): no imports, evaluation or files.
(b) pgrad TRPO, MLP policy: ``TRPOConfig(policy="mlp")``, the same way (torch warmed up first).
(c) sb3-contrib TRPO, rl-zoo3's ``hyperparams/trpo.yml`` CartPole-v1 entry (2 DummyVecEnv copies
    with Monitor; n_steps 512, batch_size 512, cg_damping 1e-3, gae_lambda 0.98, gamma 0.99,
    learning_rate 1e-3, n_critic_updates 20, 1e5 steps); time = building the environments and
    the model, then ``learn`` until the callback stops it.
    (a), (b) and (c) alternate seed by seed so that load on the machine hits all three alike;
    torch runs with ``--torch-threads`` threads for (b) and (c).
(d) pgrad, all seeds in one batched ``train`` call (linear and MLP): wall seconds per seed.

    python benchmarks/trpo_speed.py              # full run (SB3 dominates)
    python benchmarks/trpo_speed.py --quick      # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_header, md_table, print_solve_table, sb3_time_to_solve  # noqa: E402

ZOO_CARTPOLE = {"n_envs": 2, "n_timesteps": 100_000, "policy": "MlpPolicy", "n_steps": 512, "batch_size": 512,
                "cg_damping": 1e-3, "gae_lambda": 0.98, "gamma": 0.99, "learning_rate": 1e-3,
                "n_critic_updates": 20}
"""rl-baselines3-zoo hyperparams/trpo.yml, CartPole-v1 (rl_zoo3 2.x)."""


def zoo_hyperparams() -> dict:
    """The installed rl_zoo3's CartPole-v1 TRPO entry (falls back to the copy above)."""
    try:
        import rl_zoo3
        import yaml

        path = Path(rl_zoo3.__file__).parent / "hyperparams" / "trpo.yml"
        return dict(yaml.safe_load(path.read_text())["CartPole-v1"])
    except (ImportError, OSError, KeyError):
        return dict(ZOO_CARTPOLE)


def pgrad_solve(policy: str, seed: int) -> dict:
    from pgrad.algorithms import trpo

    result = trpo.train(trpo.TRPOConfig(policy=policy), [seed])
    out = {"seed": seed, "seconds": result.wall_seconds, "solved": bool(result.solved[0]),
           "timesteps": int(result.solved_at_step[0])}
    print(f"  pgrad TRPO {policy} seed {seed}: {out['seconds']:.2f} s, solved {out['solved']}, "
          f"{out['timesteps']} steps", file=sys.stderr)
    return out


def sb3_solve(seed: int, hyper: dict, time_cap: float, steps: int) -> dict:
    from sb3_contrib import TRPO
    from stable_baselines3.common.env_util import make_vec_env

    kwargs = {k: v for k, v in hyper.items() if k not in {"n_envs", "n_timesteps", "policy", "normalize"}}

    def make():
        env = make_vec_env("CartPole-v1", n_envs=hyper["n_envs"], seed=seed)
        return TRPO(hyper["policy"], env, seed=seed, device="cpu", verbose=0, **kwargs)
    out = {"seed": seed, **sb3_time_to_solve(make, steps, time_cap)}
    print(f"  sb3-contrib TRPO seed {seed}: {out['seconds']:.1f} s, solved {out['solved']}, "
          f"{out['timesteps']} steps{' (time cap)' if out['capped'] else ''}", file=sys.stderr)
    return out


def batched(policy: str, seeds: list[int]) -> dict:
    from pgrad.algorithms import trpo

    start = time.perf_counter()
    result = trpo.train(trpo.TRPOConfig(policy=policy), seeds)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "solved": int(result.solved.sum()),
            "steps": float(statistics.median(result.solved_at_step[result.solved] if result.solved.any()
                                             else result.steps))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="(a-c) seeds 0..N-1, each alone (default: 5)")
    parser.add_argument("--batched-seeds", type=int, default=10,
                        help="(d) seeds 0..N-1 in one call (default: 10)")
    parser.add_argument("--peer-seeds", type=int, default=3, help="(c) the first N of --seeds (default: 3)")
    parser.add_argument("--peer-steps", type=int, default=200_000,
                        help="(c) SB3's step budget, to solve by the rule above (default: 200000; the "
                             "zoo trains 100000)")
    parser.add_argument("--peer-time-cap", type=float, default=600.0,
                        help="(c) give up on an SB3 seed after this many seconds (default: 600)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch.set_num_threads for (b) and (c); 0 keeps torch's default (default: 1)")
    parser.add_argument("--parts", default="abcd", help="which parts to run (default: abcd)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, SB3 capped at 30 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.batched_seeds, args.peer_time_cap = 1, 2, min(args.peer_time_cap, 30.0)

    import torch

    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    from pgrad.algorithms import trpo

    for policy in ("linear", "mlp"):  # warm-up: imports, torch initialisation
        trpo.train(trpo.TRPOConfig(policy=policy, max_steps=4096), [10_000])
    hyper = zoo_hyperparams()
    timed: dict[str, list[dict]] = {"a": [], "b": [], "c": []}
    for seed in range(args.seeds):  # interleaved, seed by seed
        if "a" in args.parts:
            timed["a"].append(pgrad_solve("linear", seed))
        if "b" in args.parts:
            timed["b"].append(pgrad_solve("mlp", seed))
        if "c" in args.parts and seed < args.peer_seeds:
            timed["c"].append(sb3_solve(seed, hyper, args.peer_time_cap, args.peer_steps))

    print(f"## TRPO time to solve CartPole-v1 (last-100 mean >= 475){' QUICK' if args.quick else ''}\n")
    print(machine_header("torch", "stable-baselines3", "sb3-contrib", "rl_zoo3")
          + f" torch threads {torch.get_num_threads()}.\n")
    names = {"a": "pgrad TRPO, linear policy, defaults", "b": "pgrad TRPO, MLP policy (`policy=\"mlp\"`)",
             "c": "sb3-contrib TRPO, rl-zoo3 CartPole-v1 hyperparameters"}
    peer = print_solve_table(timed, names, "c", "sb3-contrib")
    if "d" in args.parts:
        seeds = list(range(args.batched_seeds))
        print(f"\n## pgrad TRPO, seeds 0-{len(seeds) - 1} in one train call\n")
        out = [(p, batched(p, seeds)) for p in ("linear", "mlp")]
        print(md_table(["policy", "solved", "wall s (all seeds)", "wall s per seed",
                        "env steps to solve (median)"],
                       [[p, f"{r['solved']}/{len(seeds)}", f"{r['seconds']:.2f}",
                         f"{r['seconds'] / len(seeds):.2f}", f"{r['steps']:,.0f}"] for p, r in out]))
        if peer:
            for p, r in out:
                print(f"\n- sb3-contrib seed alone / pgrad {p} per seed in the batch: "
                      f"**{statistics.median(peer) / (r['seconds'] / len(seeds)):.1f}x**")
    print(f"\nsb3-contrib TRPO: rl-zoo3 CartPole-v1 entry {hyper}; device cpu.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
