"""REINFORCE on CartPole-v1 in JAX beside pgrad's: time per update per seed at 1 and 100 seeds.

The JAX version is the same algorithm as pgrad's default ``ReinforceConfig()``: the logistic
policy pi(left | s) = sigmoid(theta . s) from theta = 0, K = 100 whole episodes per update
(time limit 500), reward-to-go weights with gamma = 1, the leave-one-out time-mean baseline,
and Adam ascent (lr 2, b1 0.9, b2 0.999, eps 1e-8). It is written the way a speed-minded JAX
user writes it (purejaxrl's pattern): ``lax.scan`` over the 500 steps, ``vmap`` over episodes and
over seeds, one ``jit`` of the whole update, float32 (JAX's default), and no early stopping (every
update simulates all 500 steps; ended episodes are masked). Compile time is reported apart.

pgrad runs its default config as ``train`` does (its episodes end early, so an update costs what
its episodes use). Per update per seed = seconds / seed-updates: pgrad's ``wall_seconds`` over the
sum over seeds of the updates each made; JAX's time of U updates over U x seeds.

    pip install -r benchmarks/requirements.txt     # jax among the peers
    python benchmarks/jax_reinforce.py              # 1 and 100 seeds, then whole processes
    python benchmarks/jax_reinforce.py --quick      # smoke run

Whole processes (``--processes``, default 5): wall time from start to a written result of a fresh
``pgrad train`` (every default: one seed, its run folder) and of this script as a fresh process
running the JAX version for as many updates as that pgrad run took and writing its theta
(import, compile and all), interleaved after one untimed warm-up of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_header, md_table  # noqa: E402

K, H, LR = 100, 500, 2.0


def build_jax(num_seeds: int):
    """(jitted update over all seeds, initial carry, key) for ``num_seeds`` seeds."""
    import jax
    import jax.numpy as jnp

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass, polemass_length = masspole + masscart, masspole * length
    theta_threshold, x_threshold = 12 * 2 * np.pi / 360, 2.4

    def env_step(s, action):
        x, x_dot, th, th_dot = s
        force = jnp.where(action == 1, force_mag, -force_mag)
        cos, sin = jnp.cos(th), jnp.sin(th)
        temp = (force + polemass_length * th_dot**2 * sin) / total_mass
        thacc = (gravity * sin - cos * temp) / (length * (4.0 / 3.0 - masspole * cos**2 / total_mass))
        xacc = temp - polemass_length * thacc * cos / total_mass
        s = jnp.stack([x + tau * x_dot, x_dot + tau * xacc, th + tau * th_dot, th_dot + tau * thacc])
        done = (jnp.abs(s[0]) > x_threshold) | (jnp.abs(s[2]) > theta_threshold)
        return s, done

    def episode(theta, key):
        k0, k1 = jax.random.split(key)
        s0 = jax.random.uniform(k0, (4,), minval=-0.05, maxval=0.05)
        u = jax.random.uniform(k1, (H,))

        def body(carry, u_t):
            s, alive = carry
            p = jax.nn.sigmoid(theta @ s)
            action = (u_t >= p).astype(jnp.int32)  # left (0) with probability p
            s_next, done = env_step(s, action)
            return (s_next, alive & ~done), (s, action, alive)

        _, (obs, act, alive) = jax.lax.scan(body, (s0, jnp.bool_(True)), u)
        return obs, act, alive

    def update(carry, key):
        theta, m, v, n = carry
        key, sub = jax.random.split(key)
        obs, act, alive = jax.vmap(episode, (None, 0))(theta, jax.random.split(sub, K))  # [K, H, ...]
        rew = alive.astype(jnp.float32)
        rtg = jnp.cumsum(rew[:, ::-1], axis=1)[:, ::-1]                   # gamma = 1
        total, count = (rtg * rew).sum(0), rew.sum(0)                     # per t over alive episodes
        b = (total - rtg * rew) / jnp.maximum(count - rew, 1.0)           # leave-one-out time mean
        w = (rtg - b) * rew
        p = jax.nn.sigmoid(obs @ theta)
        coef = (act == 0) - p                                             # y - p
        g = (w * coef)[..., None] * obs
        g = g.sum((0, 1)) / K
        n = n + 1
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        theta = theta + LR * (m / (1 - 0.9**n)) / (jnp.sqrt(v / (1 - 0.999**n)) + 1e-8)
        return (theta, m, v, n), key, rew.sum(1).mean()

    batched = jax.jit(jax.vmap(update))
    zeros = jnp.zeros((num_seeds, 4), jnp.float32)
    carry = (zeros, zeros, zeros, jnp.zeros((num_seeds,), jnp.float32))
    return batched, carry, jax.random.key(0)


def time_jax(num_seeds: int, updates: int, repeats: int) -> dict:
    import jax

    start = time.perf_counter()
    update, carry, key = build_jax(num_seeds)
    keys = jax.random.split(key, num_seeds)
    carry, keys, ret = update(carry, keys)
    jax.block_until_ready(ret)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(updates):
            carry, keys, ret = update(carry, keys)
        jax.block_until_ready(ret)
        times.append((time.perf_counter() - start) / (updates * num_seeds))
    return {"compile": compile_s, "per": statistics.median(times), "best": min(times),
            "final_return": float(np.asarray(ret).mean())}


def time_pgrad(num_seeds: int, repeats: int, seeds_from: int = 0) -> dict:
    from pgrad import jit
    from pgrad.algorithms.reinforce import ReinforceConfig, train

    jit.load()
    start = time.perf_counter()
    warm_up = list(range(10_000, 10_000 + num_seeds))
    train(ReinforceConfig(max_episodes=200), warm_up)  # loads the kernels
    warm = time.perf_counter() - start
    per, solved = [], []
    for r in range(repeats):
        seeds = list(range(seeds_from + r * num_seeds, seeds_from + (r + 1) * num_seeds))
        result = train(ReinforceConfig(), seeds)
        seed_updates = sum(int(e["update"].max()) + 1 for e in result.episodes)
        per.append(result.wall_seconds / seed_updates)
        solved.append(int(result.solved.sum()))
    return {"warm": warm, "per": statistics.median(per), "best": min(per), "solved": solved,
            "compiled": jit.available()}


def jax_process(num_seeds: int, updates: int, out: Path) -> None:
    """The JAX run as a process of its own (``--as-process``): import, build and compile, ``updates``
    updates of ``num_seeds`` seeds, then theta [S, 4] written to ``out``/theta.npy, renamed in."""
    import jax

    update, carry, key = build_jax(num_seeds)
    keys = jax.random.split(key, num_seeds)
    for _ in range(updates):
        carry, keys, ret = update(carry, keys)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "theta.tmp.npy"
    np.save(tmp, np.asarray(carry[0], np.float64), allow_pickle=False)
    tmp.replace(out / "theta.npy")


def whole_processes(runs: int) -> list[list[str]]:
    """Rows: start to a written result, fresh processes: ``pgrad train`` with every default (one seed,
    to its run folder) and the JAX script for as many updates as pgrad's run took, ``runs`` each,
    interleaved; the median and best wall seconds of each, and their ratio."""
    import json
    import shutil
    import subprocess
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="pgrad-jax-process-"))
    walls: dict[str, list[float]] = {"pgrad": [], "jax": []}
    try:
        for r in range(runs + 1):  # the first of each: untimed warm-up (file and numba caches)
            run = scratch / f"pgrad-{r}"
            start = time.perf_counter()
            subprocess.run(["pgrad", "train", "--out", str(run), "--quiet"], check=True, capture_output=True)
            pgrad_wall = time.perf_counter() - start
            updates = int(json.loads((run / "summary.json").read_text())["episodes"]) // K
            start = time.perf_counter()
            jax_argv = [sys.executable, __file__, "--as-process", str(updates), str(scratch / f"jax-{r}")]
            subprocess.run(jax_argv, check=True, capture_output=True)
            jax_wall = time.perf_counter() - start
            if r:
                walls["pgrad"].append(pgrad_wall)
                walls["jax"].append(jax_wall)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    p, j = statistics.median(walls["pgrad"]), statistics.median(walls["jax"])
    best = {k: f"{min(v):.2f}" for k, v in walls.items()}
    return [["`pgrad train` (defaults: 1 seed, run folder)", f"{p:.2f}", best["pgrad"], "1.00x"],
            [f"JAX script, {updates} updates, theta.npy", f"{j:.2f}", best["jax"], f"{j / p:.2f}x"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,100", help="seed counts to time (comma-separated)")
    parser.add_argument("--updates", type=int, default=20, help="JAX updates timed per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--processes", type=int, default=5,
                        help="whole-process runs of each (pgrad train, the JAX script); 0: none")
    parser.add_argument("--as-process", nargs=2, metavar=("UPDATES", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 3 updates, 1 repeat")
    args = parser.parse_args(argv)
    if args.as_process:
        jax_process(1, int(args.as_process[0]), Path(args.as_process[1]))
        return 0
    counts = [1] if args.quick else [int(x) for x in args.seeds.split(",")]
    updates, repeats = (3, 1) if args.quick else (args.updates, args.repeats)
    rows = []
    for S in counts:
        j = time_jax(S, updates, repeats)
        p = time_pgrad(S, 1 if S > 10 else repeats * 2)
        print(f"  S={S}: jax {1e3 * j['per']:.3f} ms, pgrad {1e3 * p['per']:.3f} ms per seed-update",
              file=sys.stderr)
        rows.append((f"{S}", f"{1e3 * p['per']:.3f}", f"{1e3 * p['best']:.3f}", f"{1e3 * j['per']:.3f}",
                     f"{1e3 * j['best']:.3f}", f"{j['per'] / p['per']:.2f}x", f"{j['compile']:.2f}",
                     f"{p['warm']:.2f}", "yes" if p["compiled"] else "no (numpy)"))
    print(f"## REINFORCE per update per seed, pgrad beside JAX{' (QUICK)' if args.quick else ''}\n")
    print(machine_header("jax") + "\n")
    print(md_table(["seeds", "pgrad ms (median)", "pgrad ms (best)", "JAX ms (median)", "JAX ms (best)",
                    "JAX / pgrad", "JAX compile s", "pgrad warm-up s", "pgrad compiled"], rows))
    print("\npgrad: default ReinforceConfig, float64, stopping each seed when solved; JAX: float32, all 500 "
          "steps of every episode every update, no early stopping.")
    processes = 1 if args.quick else args.processes
    if processes:
        print(f"\n### Whole process, start to a written result (median of {processes}, fresh processes)\n")
        header = ["process", "wall s (median)", "wall s (best)", "ratio to pgrad"]
        print(md_table(header, whole_processes(processes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
