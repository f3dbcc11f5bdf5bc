"""Off-policy training speed on Pendulum-v1: pgrad TD3 and SAC beside Stable-Baselines3's.

Both sides train with rl-baselines3-zoo's Pendulum-v1 settings, one gradient step per
environment step (train_freq 1, gradient_steps 1):

- TD3: net 400,300, lr 1e-3, gamma 0.98, buffer 200000, learning_starts 10000, Gaussian
  exploration noise 0.1, batch 256, tau 0.005, policy delay 2, smoothing 0.2 clipped at 0.5;
- SAC: lr 1e-3, otherwise SB3's defaults (net 256,256, batch 256, learning_starts 100, buffer 1e6,
  gamma 0.99, tau 0.005, automatic entropy temperature).

Timed, each with torch on ``--torch-threads`` threads (default 1):

(a) pgrad, S seeds in one run (``train(config, seeds)``, a seed axis through every network):
    wall seconds of the training loop / S = seconds per seed;
(b) SB3, the same S seeds one after another (``model.learn``, building the env and the model
    included): total / S = seconds per seed;
(c) one seed alone: pgrad's ``train(config, [0])`` against SB3's seed 0 from (b).

``--net-arch 64,64`` runs both sides with other hidden widths (pgrad's own defaults): with the
zoo's 400,300 both sides are bound by the critics' matrix products, which batching seeds does
not shrink; with small networks the per-step overheads dominate, which it does.

Ratios printed: (b) / (a) per seed (the target: pgrad >= 5x faster per seed) and SB3 / pgrad
for one seed alone (the target: >= 1). Returns are printed beside the times (the last 10
training episodes' mean per seed), so that a fast wrong run shows. A full run takes long
(SB3 TD3 20000 steps is minutes per seed); ``--quick`` is a smoke run of small step counts.

    python benchmarks/offpolicy_speed.py                     # full: 10 seeds, 20000 steps
    python benchmarks/offpolicy_speed.py --quick             # smoke run
    python benchmarks/offpolicy_speed.py --algos sac --seeds 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_header, md_table  # noqa: E402

ENV_ID = "Pendulum-v1"
ZOO = {
    "td3": dict(net_arch=(400, 300), learning_rate=1e-3, gamma=0.98, buffer_size=200_000,
                learning_starts=10_000, noise=0.1, batch_size=256, tau=0.005),
    "sac": dict(net_arch=(256, 256), learning_rate=1e-3, gamma=0.99, buffer_size=1_000_000,
                learning_starts=100, batch_size=256, tau=0.005),
}
"""rl-baselines3-zoo's Pendulum-v1 hyperparameters (SB3's defaults where the zoo sets none)."""


def pgrad_config(algo: str, steps: int, learning_starts: int) -> Any:
    """pgrad's config of the zoo's settings."""
    from pgrad.algorithms import sac, td3

    z = ZOO[algo]
    common = dict(net_arch=",".join(map(str, z["net_arch"])), lr=z["learning_rate"], gamma=z["gamma"],
                  buffer_size=z["buffer_size"], learning_starts=learning_starts, batch_size=z["batch_size"],
                  tau=z["tau"], max_steps=steps, train_freq=1, gradient_steps=1, eval_episodes=1,
                  solve_threshold=float("inf"))
    if algo == "td3":
        return td3.TD3Config(action_noise=z["noise"], policy_delay=2, target_noise=0.2,
                             target_noise_clip=0.5, **common)
    return sac.SACConfig(**common)


def pgrad_run(algo: str, seeds: list[int], steps: int, learning_starts: int) -> tuple[float, list[float]]:
    """(training-loop wall seconds, each seed's mean return of its last 10 training episodes)."""
    from pgrad.algorithms import module

    result = module(algo).train(pgrad_config(algo, steps, learning_starts), seeds)
    return result.wall_seconds, [float(t["return"][-10:].mean()) for t in result.episodes]


def sb3_run(algo: str, seed: int, steps: int, learning_starts: int) -> tuple[float, float]:
    """(wall seconds of building the env and model and learning, the last 10 episodes' mean return)."""
    import gymnasium as gym
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.noise import NormalActionNoise

    z = ZOO[algo]
    start = time.perf_counter()
    env = Monitor(gym.make(ENV_ID))
    common = dict(learning_rate=z["learning_rate"], gamma=z["gamma"], buffer_size=z["buffer_size"],
                  learning_starts=learning_starts, batch_size=z["batch_size"], tau=z["tau"], train_freq=1,
                  gradient_steps=1, policy_kwargs=dict(net_arch=list(z["net_arch"])), seed=seed,
                  device="cpu", verbose=0)
    if algo == "td3":
        noise = NormalActionNoise(np.zeros(1), z["noise"] * np.ones(1))
        model: Any = TD3("MlpPolicy", env, action_noise=noise, policy_delay=2, target_policy_noise=0.2,
                         target_noise_clip=0.5, **common)
    else:
        model = SAC("MlpPolicy", env, **common)
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - start
    returns = env.get_episode_rewards()[-10:]
    env.close()
    return seconds, float(np.mean(returns)) if returns else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", default="td3,sac", help="comma-separated: td3, sac (default: td3,sac)")
    parser.add_argument("--seeds", type=int, default=10, help="S: seeds 0..S-1 (default: 10)")
    parser.add_argument("--steps", type=int, default=20_000,
                        help="environment steps per seed (default: 20000)")
    parser.add_argument("--learning-starts", type=int, default=None,
                        help="override the zoo's learning_starts of both sides (default: the zoo's)")
    parser.add_argument("--net-arch", default=None,
                        help="hidden widths of both sides, e.g. 64,64 (default: the zoo's)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch.set_num_threads (default: 1)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 seeds, 600 steps, learning_starts 200")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.steps, args.learning_starts = 2, 600, 200
    if args.net_arch is not None:
        for z in ZOO.values():
            z["net_arch"] = tuple(int(w) for w in args.net_arch.split(","))

    import torch

    torch.set_num_threads(args.torch_threads)
    seeds = list(range(args.seeds))
    rows, ratios = [], []
    for algo in args.algos.split(","):
        starts = ZOO[algo]["learning_starts"] if args.learning_starts is None else args.learning_starts
        pgrad_run(algo, [1000], min(args.steps, starts + 200), min(starts, 100))  # warm-up, untimed
        batch_s, batch_ret = pgrad_run(algo, seeds, args.steps, starts)
        alone_s, alone_ret = pgrad_run(algo, [0], args.steps, starts)
        peer = [sb3_run(algo, s, args.steps, starts) for s in seeds]
        peer_total = sum(s for s, _ in peer)
        print(f"  {algo}: pgrad {batch_s:.1f} s for {len(seeds)} seeds, {alone_s:.1f} s alone; "
              f"SB3 {peer_total:.1f} s", file=sys.stderr)
        rows += [[f"pgrad {algo.upper()}, {len(seeds)} seeds in one run", f"{batch_s / len(seeds):.2f}",
                  f"{np.mean(batch_ret):.0f}"],
                 [f"pgrad {algo.upper()}, seed 0 alone", f"{alone_s:.2f}", f"{alone_ret[0]:.0f}"],
                 [f"SB3 {algo.upper()}, {len(seeds)} seeds one after another",
                  f"{peer_total / len(seeds):.2f}",
                  f"{np.mean([r for _, r in peer]):.0f}"]]
        ratios += [f"- {algo.upper()} per seed, SB3 one after another / pgrad batched: "
                   f"**{peer_total / batch_s:.1f}x** (target >= 5x)",
                   f"- {algo.upper()} one seed alone, SB3 / pgrad: **{peer[0][0] / alone_s:.2f}x** "
                   "(target >= 1x)"]
    print(f"## Off-policy training speed on {ENV_ID}: {args.steps} steps per seed"
          f"{' QUICK' if args.quick else ''}{'' if args.net_arch is None else ', net ' + args.net_arch}\n")
    print(machine_header("torch", "stable-baselines3") + f" torch threads {torch.get_num_threads()}.\n")
    print(md_table(["run", "wall s per seed", "mean return, last 10 training episodes"], rows))
    print()
    print("\n".join(ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
