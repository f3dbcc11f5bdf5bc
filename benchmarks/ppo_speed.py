"""PPO wall-clock time to solve CartPole-v1: pgrad (linear and MLP policies) beside
Stable-Baselines3 PPO, and the 10-seed final evaluation of pgrad's A2C and PPO defaults.

Solved means: the mean undiscounted return of the last 100 finished training episodes reaches
475 (checked by pgrad after each segment of T steps, by SB3's callback after every step).

(a) pgrad PPO, linear policy: ``PPOConfig()`` (the defaults), each seed trained alone in its own
    ``train(config, [seed])`` call. Time = ``ActorCriticResult.wall_seconds``: the training loop
    only (sampling, estimating, updating), no imports, no evaluation, no files.
(b) pgrad PPO, MLP policy: ``PPOConfig(policy="mlp")`` (the defaults with the MLP's own learning
    rate), the same way. torch is imported and warmed up before the clock.
(c) the peer: SB3 PPO with rl-zoo3's tuned CartPole-v1 hyperparameters, from
    ``time_to_solve.sb3_solve`` (8 DummyVecEnv copies with Monitor, rl-zoo3's linear schedules;
    time = building the environments and the model, then ``learn`` until the callback stops it).
    (a), (b) and (c) alternate seed by seed, so that load on the machine hits all three alike;
    torch runs with ``--torch-threads`` threads for both (b) and (c).
(d) final evaluation: the defaults of PPO and A2C (linear, and MLP), seeds 0..9 trained in one
    batched ``train`` call each, then 100 evaluation episodes per seed with sampled actions
    from each seed's evaluation stream (``evaluate``): how many seeds reach a mean >= 475.

    python benchmarks/ppo_speed.py                 # full run (about 3-5 minutes, SB3 dominates)
    python benchmarks/ppo_speed.py --quick         # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_header, md_table, print_solve_table  # noqa: E402

SOLVE_THRESHOLD = 475.0


def pgrad_solve(algo: str, policy: str, seed: int) -> dict:
    """Train one seed alone with the defaults; wall seconds of the training loop."""
    from pgrad.algorithms import a2c, ppo

    module = {"ppo": ppo, "a2c": a2c}[algo]
    config = next(v for k, v in vars(module).items() if k.endswith("Config"))(policy=policy)
    result = module.train(config, [seed])
    out = {"seed": seed, "seconds": result.wall_seconds, "solved": bool(result.solved[0]),
           "timesteps": int(result.solved_at_step[0]), "episodes": int(result.solved_at_episode[0])}
    print(f"  pgrad {algo} {policy} seed {seed}: {out['seconds']:.3f} s, solved {out['solved']}, "
          f"{out['timesteps']} steps", file=sys.stderr)
    return out


def warm_up(policies: list[str]) -> None:
    """One short untimed run per policy (imports, torch initialisation)."""
    from pgrad.algorithms import ppo

    for policy in policies:
        ppo.train(ppo.PPOConfig(policy=policy, max_steps=4096), [10_000])


def final_evaluation(algo: str, policy: str, seeds: list[int], episodes: int) -> dict:
    """Defaults, all seeds in one train call, then `episodes` evaluation episodes per seed."""
    from pgrad.algorithms import a2c, ppo

    module = {"ppo": ppo, "a2c": a2c}[algo]
    config = next(v for k, v in vars(module).items() if k.endswith("Config"))(policy=policy)
    start = time.perf_counter()
    result = module.train(config, seeds)
    seconds = time.perf_counter() - start
    means = module.evaluate(config, result.theta, seeds, episodes).mean(axis=1)
    print(f"  {algo} {policy} {len(seeds)} seeds: eval means {[round(float(m), 1) for m in means]}",
          file=sys.stderr)
    return {"solved": int(result.solved.sum()), "reached": int((means >= SOLVE_THRESHOLD).sum()),
            "min": float(means.min()), "mean": float(means.mean()), "seconds": seconds,
            "steps": float(statistics.median(result.steps))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="(a-c) seeds 0..N-1, each alone (default: 5)")
    parser.add_argument("--eval-seeds", type=int, default=10, help="(d) seeds 0..N-1 (default: 10)")
    parser.add_argument("--eval-episodes", type=int, default=100, help="(d) episodes per seed (default: 100)")
    parser.add_argument("--peer-time-cap", type=float, default=300.0,
                        help="(c) give up on an SB3 seed after this many seconds (default: 300)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch.set_num_threads for (b) and (c); 0 keeps torch's default (default: 1)")
    parser.add_argument("--parts", default="abcd", help="which parts to run (default: abcd)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 seed, 2 eval seeds, SB3 capped at 30 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.eval_seeds, args.eval_episodes = 1, 2, 10
        args.peer_time_cap = min(args.peer_time_cap, 30.0)

    import torch

    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    warm_up([p for p, part in (("linear", "a"), ("mlp", "b")) if part in args.parts])
    hyper = None
    if "c" in args.parts:
        from time_to_solve import sb3_solve, zoo_hyperparams

        hyper = zoo_hyperparams()
    timed: dict[str, list[dict]] = {"a": [], "b": [], "c": []}
    for seed in range(args.seeds):  # interleaved, seed by seed
        if "a" in args.parts:
            timed["a"].append(pgrad_solve("ppo", "linear", seed))
        if "b" in args.parts:
            timed["b"].append(pgrad_solve("ppo", "mlp", seed))
        if "c" in args.parts:
            timed["c"].append(sb3_solve(seed, hyper, args.peer_time_cap, None))

    print(f"## PPO time to solve CartPole-v1 (last-100 mean >= {SOLVE_THRESHOLD:g})"
          f"{' QUICK' if args.quick else ''}\n")
    print(machine_header("torch", "stable-baselines3", "rl_zoo3")
          + f" torch threads {torch.get_num_threads()}.\n")
    names = {"a": "pgrad PPO, linear policy, defaults", "b": "pgrad PPO, MLP policy (`policy=\"mlp\"`)",
             "c": "SB3 PPO, rl-zoo3 CartPole-v1 hyperparameters"}
    print_solve_table(timed, names, "c", "SB3")
    if "d" in args.parts:
        seeds = list(range(args.eval_seeds))
        evals = [(algo, policy, final_evaluation(algo, policy, seeds, args.eval_episodes))
                 for algo in ("ppo", "a2c") for policy in ("linear", "mlp")]
        print(f"\n## Final evaluation with the defaults: seeds 0-{args.eval_seeds - 1}, "
              f"{args.eval_episodes} episodes each, sampled actions\n")
        print(md_table(["algorithm", "policy", "solved in training", f"final eval >= {SOLVE_THRESHOLD:g}",
                        "min final eval", "mean final eval", "env steps (median)",
                        "train wall s (all seeds, one call)"],
                       [[a.upper(), p, f"{r['solved']}/{len(seeds)}", f"{r['reached']}/{len(seeds)}",
                         f"{r['min']:.1f}", f"{r['mean']:.1f}", f"{r['steps']:,.0f}", f"{r['seconds']:.2f}"]
                        for a, p, r in evals]))
    print("\nTimes exclude imports and evaluation. pgrad: ActorCriticResult.wall_seconds, the training "
          "loop of one seed alone (sampling, GAE, minibatch updates, value fits). SB3: environment and "
          "model construction plus learn() until the last 100 Monitor returns average 475 (or "
          "rl-zoo3's n_timesteps). Env steps to solve: environment steps taken when the rule fired.")
    if hyper is not None:
        print(f"\nSB3 PPO: rl-zoo3 CartPole-v1 entry {hyper}; device cpu.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
