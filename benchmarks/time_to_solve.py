"""Wall-clock time to solve CartPole-v1: pgrad REINFORCE against Stable-Baselines3 PPO.

Solved means: the mean undiscounted return of the last 100 finished training episodes
reaches 475. Parts:

pgrad runs its compiled hot path (``pgrad.jit.load()``, as ``PGRAD_JIT=1``; its kernels are
loaded, or compiled into numba's cache, by an untimed warm-up call); ``PGRAD_NO_JIT=1`` times the
numpy path instead.

(a) pgrad REINFORCE, default ``ReinforceConfig()``, each seed trained alone in its own
    ``train(config, [seed])`` call (seeds 0..19). Time = ``TrainResult.wall_seconds``:
    the training loop only (no imports, no evaluation, no files), stopping when solved or
    after ``max_episodes`` (5,000).
(b) pgrad REINFORCE, 100 seeds (0..99) batched in one ``train`` call; time = its
    ``wall_seconds`` (every seed has stopped).
(c) the peer: Stable-Baselines3 PPO with rl-zoo3's tuned CartPole-v1 hyperparameters, read
    from rl_zoo3's installed ``hyperparams/ppo.yml`` (8 ``DummyVecEnv`` copies with Monitor,
    linear schedules for ``lin_`` values over rl-zoo3's ``n_timesteps``, as rl-zoo3 trains).
    A callback collects every finished episode's Monitor return and stops training when
    the last 100 average 475, or at the time cap, or at ``n_timesteps``. Time = from
    building the environments and the model (torch imported already) to the stop. torch runs
    single-threaded by default (``--torch-threads``), like pgrad's numpy.

    python benchmarks/time_to_solve.py                      # full run
    python benchmarks/time_to_solve.py --peer-seeds 1       # fewer SB3 seeds
    python benchmarks/time_to_solve.py --quick              # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_header, md_table, sb3_time_to_solve  # noqa: E402

SOLVE_THRESHOLD = 475.0
SOLVE_WINDOW = 100


# ---------------------------------------------------------------------------------------------
# pgrad
# ---------------------------------------------------------------------------------------------

def pgrad_alone(seeds: list[int]) -> list[dict]:
    """(a) One ``train`` call per seed: wall seconds, solved flag, episodes to solve."""
    from pgrad import jit
    from pgrad.algorithms.reinforce import ReinforceConfig, train

    jit.load()  # the compiled rollout from the first call (PGRAD_JIT=1); PGRAD_NO_JIT=1 keeps numpy
    train(ReinforceConfig(max_episodes=64), [10_000])  # warm-up, untimed: loads (or compiles) the kernels
    print(f"  pgrad compiled hot path: {'on' if jit.available() else 'off'}", file=sys.stderr)
    out = []
    for seed in seeds:
        result = train(ReinforceConfig(), [seed])
        out.append({"seed": seed, "seconds": result.wall_seconds, "solved": bool(result.solved[0]),
                    "episodes": int(result.solved_at_episode[0]),
                    "timesteps": int(result.episodes[0]["length"].sum())})
        print(f"  pgrad seed {seed}: {result.wall_seconds:.3f} s, solved {bool(result.solved[0])}",
              file=sys.stderr)
    return out


def pgrad_batched(seeds: list[int]) -> dict:
    """(b) All seeds in one ``train`` call: total wall seconds and how many solved."""
    from pgrad import jit
    from pgrad.algorithms.reinforce import ReinforceConfig, train

    jit.load()
    train(ReinforceConfig(max_episodes=64), [10_000])  # warm-up, untimed
    result = train(ReinforceConfig(), seeds)
    print(f"  pgrad {len(seeds)} seeds batched: {result.wall_seconds:.3f} s, "
          f"solved {int(result.solved.sum())}", file=sys.stderr)
    return {"seconds": result.wall_seconds, "solved": int(result.solved.sum()),
            "num_seeds": len(seeds),
            "episodes": [int(e) for e in result.solved_at_episode if e >= 0],
            "timesteps": [int(t["length"].sum()) for t, ok in zip(result.episodes, result.solved,
                                                                    strict=True) if ok]}


# ---------------------------------------------------------------------------------------------
# Stable-Baselines3 PPO with rl-zoo3's hyperparameters
# ---------------------------------------------------------------------------------------------

def zoo_hyperparams(env_id: str = "CartPole-v1") -> dict:
    """rl-zoo3's tuned PPO hyperparameters for env_id, as shipped in its hyperparams/ppo.yml."""
    import rl_zoo3
    import yaml

    path = Path(rl_zoo3.__file__).parent / "hyperparams" / "ppo.yml"
    with open(path) as f:
        return dict(yaml.safe_load(f)[env_id])


def _linear(initial: float):
    """rl-zoo3's ``lin_<x>``: x * progress_remaining (1 at the start, 0 at n_timesteps)."""
    def schedule(progress_remaining: float) -> float:
        return progress_remaining * initial
    return schedule


def ppo_kwargs(hyper: dict) -> dict:
    """PPO(**kwargs) from the zoo entry, with lin_ strings turned into linear schedules."""
    skip = {"n_envs", "n_timesteps", "policy", "normalize"}
    kwargs = {}
    for key, value in hyper.items():
        if key in skip:
            continue
        if isinstance(value, str) and value.startswith("lin_"):
            value = _linear(float(value[len("lin_"):]))
        kwargs[key] = value
    return kwargs


def sb3_solve(seed: int, hyper: dict, time_cap: float, max_timesteps: int | None) -> dict:
    """(c) Train SB3 PPO on CartPole-v1 until the last 100 Monitor returns average 475."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    def make():
        env = make_vec_env("CartPole-v1", n_envs=hyper["n_envs"], seed=seed)
        return PPO(hyper["policy"], env, seed=seed, device="cpu", verbose=0, **ppo_kwargs(hyper))
    out = sb3_time_to_solve(make, int(max_timesteps or hyper["n_timesteps"]), time_cap, SOLVE_WINDOW,
                            SOLVE_THRESHOLD)
    print(f"  SB3 PPO seed {seed}: {out['seconds']:.1f} s, solved {out['solved']}, "
          f"{out['timesteps']} steps, {out['episodes']} episodes"
          f"{' (time cap)' if out['capped'] else ''}", file=sys.stderr)
    return {"seed": seed, **out}


# ---------------------------------------------------------------------------------------------

def _stats(xs: list[float]) -> tuple[str, str, str]:
    if not xs:
        return "-", "-", "-"
    return f"{statistics.median(xs):.3f}", f"{min(xs):.3f}", f"{max(xs):.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alone-seeds", type=int, default=20,
                        help="(a) seeds 0..N-1, each trained alone (default: 20)")
    parser.add_argument("--batched-seeds", type=int, default=100,
                        help="(b) seeds 0..N-1 in one train call (default: 100)")
    parser.add_argument("--peer-seeds", type=int, default=3,
                        help="(c) SB3 PPO seeds 0..N-1 (default: 3)")
    parser.add_argument("--peer-time-cap", type=float, default=600.0,
                        help="(c) give up on an SB3 seed after this many seconds (default: 600)")
    parser.add_argument("--peer-timesteps", type=int, default=None,
                        help="(c) total_timesteps for SB3 (default: rl-zoo3's n_timesteps; the "
                             "lin_ schedules anneal over it)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="(c) torch.set_num_threads for SB3; 0 keeps torch's default "
                             "(default: 1, single-threaded like pgrad's numpy)")
    parser.add_argument("--parts", default="abc", help="which parts to run, e.g. ab (default: abc)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 3 seeds alone, 10 batched, 1 SB3 seed capped at 30 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.alone_seeds, args.batched_seeds, args.peer_seeds = 3, 10, 1
        args.peer_time_cap = min(args.peer_time_cap, 30.0)

    rows = []
    alone = batched = peer = None
    if "a" in args.parts:
        alone = pgrad_alone(list(range(args.alone_seeds)))
        solved = [r for r in alone if r["solved"]]
        times = [r["seconds"] for r in solved]
        eps = [r["episodes"] for r in solved]
        rows.append([f"pgrad REINFORCE, default config, each seed alone (seeds 0-{args.alone_seeds - 1})",
                     f"{len(solved)}/{len(alone)}", *_stats(times),
                     f"{statistics.median(eps):.0f}" if eps else "-",
                     f"{statistics.median([r['timesteps'] for r in solved]):.0f}" if solved else "-"])
    if "b" in args.parts:
        batched = pgrad_batched(list(range(args.batched_seeds)))
        n = batched["num_seeds"]
        rows.append([f"pgrad REINFORCE, default config, {n} seeds in one train call (total)",
                     f"{batched['solved']}/{n}", f"{batched['seconds']:.3f}", "-", "-",
                     f"{statistics.median(batched['episodes']):.0f}" if batched["episodes"] else "-",
                     f"{statistics.median(batched['timesteps']):.0f}" if batched["timesteps"] else "-"])
        rows.append([f"  the same, per seed (total / {n})", "", f"{batched['seconds'] / n:.3f}",
                     "-", "-", "", "-"])
    hyper = None
    if "c" in args.parts:
        import torch

        if args.torch_threads > 0:
            torch.set_num_threads(args.torch_threads)
        hyper = zoo_hyperparams()
        print(f"  rl-zoo3 PPO CartPole-v1: {hyper}; torch threads {torch.get_num_threads()}",
              file=sys.stderr)
        peer = [sb3_solve(s, hyper, args.peer_time_cap, args.peer_timesteps)
                for s in range(args.peer_seeds)]
        solved = [r for r in peer if r["solved"]]
        times = [r["seconds"] for r in solved]
        eps = [r["episodes"] for r in solved]
        rows.append([f"SB3 PPO, rl-zoo3 CartPole-v1 hyperparameters (seeds 0-{args.peer_seeds - 1})",
                     f"{len(solved)}/{len(peer)}", *_stats(times),
                     f"{statistics.median(eps):.0f}" if eps else "-",
                     f"{statistics.median([r['timesteps'] for r in solved]):.0f}" if solved else "-"])

    print(f"## Time to solve CartPole-v1 (last-{SOLVE_WINDOW} mean >= {SOLVE_THRESHOLD:g})"
          f"{' QUICK' if args.quick else ''}\n")
    extra = ("stable-baselines3", "rl_zoo3", "torch") if "c" in args.parts else ()
    print(machine_header(*extra) + "\n")
    print(md_table(["run", "solved", "wall s (median)", "min", "max", "episodes to solve (median)",
                    "env steps to solve (median)"], rows))
    print()
    pgrad_median = statistics.median([r["seconds"] for r in alone if r["solved"]]) \
        if alone and any(r["solved"] for r in alone) else None
    peer_solved = [r["seconds"] for r in peer if r["solved"]] if peer else []
    if pgrad_median and peer_solved:
        peer_median = statistics.median(peer_solved)
        print(f"Ratio SB3 PPO / pgrad (median wall seconds to solve, one seed alone): "
              f"{peer_median / pgrad_median:.1f}x")
        if batched:
            per_seed = batched["seconds"] / batched["num_seeds"]
            print(f"Ratio SB3 PPO / pgrad batched (per seed, total / {batched['num_seeds']}): "
                  f"{peer_median / per_seed:.1f}x")
    elif peer and not peer_solved:
        print(f"SB3 PPO solved no seed within its cap ({args.peer_time_cap:g} s, "
              f"{args.peer_timesteps or hyper['n_timesteps']:g} steps); no ratio.")
    print("\nTimes exclude imports; median/min/max are over the solved seeds. pgrad: "
          "TrainResult.wall_seconds (training loop only). SB3: environment and "
          "model construction plus learn() until the stop; stops at rl-zoo3's n_timesteps if not "
          "solved (the linear schedules reach 0 there). Env steps to solve: sum of the training "
          "episodes' lengths (pgrad), num_timesteps at the stop (SB3).")
    if hyper is not None:
        print(f"\nSB3 PPO: rl-zoo3 CartPole-v1 entry {hyper}; device cpu, torch threads "
              f"{__import__('torch').get_num_threads()}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
