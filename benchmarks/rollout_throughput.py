"""Cart-pole rollout throughput: environment steps per second at 1,024 and 16,384 environments.

Contenders, all single-threaded, timed in the same run and interleaved repeat by repeat:

(a) Gymnasium's ``CartPoleVectorEnv`` (``gymnasium.make_vec("CartPole-v1", n,
    vectorization_mode="vector_entry_point")``) stepping pre-drawn random actions: the
    environment alone, no policy, no sampling, no trajectory storage.
(b) pgrad's fused rollout ``pgrad.rollout.rollout`` in float64, compiled (its numba kernel,
    :mod:`pgrad.rollout.compiled`, loaded before timing) and as the numpy loop
    (``compiled=False``, the reference and the fallback): reset, the logistic policy
    pi(left | s) = sigmoid(theta . s), logistic-noise sampling from each seed's generator, the
    dynamics, and the time-first trajectory buffers (obs, act, rew, flags, alive mask).
(c) the same in float32 (``dtype=np.float32``; the numpy loop: the kernels are float64).
(d) a compiled fused loop: numba ``@njit`` of the same cart-pole + logistic-policy + sampling
    loop, lockstep over environments, writing the same trajectory buffers; also a variant that
    stores nothing (environment + policy + sampling only). It samples left with probability
    sigmoid(z) from one uniform draw per step (left iff u * (1 + exp(-z)) < 1, i.e.
    u < sigmoid(z)), from a ``numpy.random.Generator`` passed in. Its transitions are checked
    against pgrad's ``cartpole.step`` at start-up. Compile time is excluded from the
    throughput and reported separately.

Counting: every contender is credited with lockstep steps x environments. For (a) every
environment steps on every call (Gymnasium resets ended environments inside the step call).
For (b)-(d) the policy theta = -100 * (0.1, 0.5, 10, 2) keeps every episode alive until the
time limit (``--steps``, default 500), so the alive env steps (sum of episode lengths) equal
steps x environments; the script checks this and prints the alive fraction.

    python benchmarks/rollout_throughput.py            # full run
    python benchmarks/rollout_throughput.py --quick    # smoke run (50 steps, 1 repeat)
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

KEEP_ALIVE_THETA = -100.0 * np.array([0.1, 0.5, 10.0, 2.0])
"""pi(left | s) = sigmoid(theta . s) with this theta balances the pole for 500 steps."""


# ---------------------------------------------------------------------------------------------
# (a) Gymnasium
# ---------------------------------------------------------------------------------------------

def make_gymnasium(n: int, steps: int, seed: int):
    """A CartPoleVectorEnv of n copies and pre-drawn random actions [steps, n]."""
    import gymnasium

    env = gymnasium.make_vec("CartPole-v1", n, vectorization_mode="vector_entry_point")
    actions = np.random.default_rng(seed).integers(0, 2, size=(steps, n)).astype(
        env.action_space.dtype)
    return env, actions


def time_gymnasium(env, actions: np.ndarray, seed: int) -> tuple[float, int]:
    """Seconds for len(actions) steps of every environment; env steps credited."""
    env.reset(seed=seed)
    step = env.step
    start = time.perf_counter()
    for a in actions:
        step(a)
    return time.perf_counter() - start, actions.size


# ---------------------------------------------------------------------------------------------
# (b), (c) pgrad
# ---------------------------------------------------------------------------------------------

def time_pgrad(n: int, steps: int, seed: int, dtype, num_seeds: int, workspace,
               compiled: bool = True) -> tuple[float, int]:
    """Seconds for one pgrad rollout of n environments (num_seeds x n / num_seeds episodes),
    including drawing the noise, filling the buffers and the frozen Batch; alive env steps
    credited. The buffers live in a ``Workspace`` reused across repeats, as training reuses it."""
    from pgrad.envs import CARTPOLE
    from pgrad.policies import LogisticPolicy
    from pgrad.rollout import rollout

    theta = np.repeat(KEEP_ALIVE_THETA[None], num_seeds, axis=0)
    rngs = [np.random.default_rng([seed, s]) for s in range(num_seeds)]
    start = time.perf_counter()
    batch = rollout(CARTPOLE, LogisticPolicy(), theta, rngs, n // num_seeds, dtype=dtype,
                    max_steps=steps, workspace=workspace, compiled=compiled)
    elapsed = time.perf_counter() - start
    return elapsed, int(batch.lengths.sum())


# ---------------------------------------------------------------------------------------------
# (d) numba: the same loop, compiled
# ---------------------------------------------------------------------------------------------

def _constants(dtype) -> np.ndarray:
    from pgrad.envs import cartpole as c

    return np.array([c.GRAVITY, c.MASSPOLE, c.TOTAL_MASS, c.LENGTH, c.POLEMASS_LENGTH,
                     c.FORCE_MAG, c.TAU, c.THETA_THRESHOLD, c.X_THRESHOLD, c.RESET_LOW,
                     c.RESET_HIGH - c.RESET_LOW, 4.0 / 3.0], dtype=dtype)


def import_numba() -> float:
    """Seconds spent importing numba."""
    start = time.perf_counter()
    import numba  # noqa: F401

    return time.perf_counter() - start


def build_numba_kernel(dtype):
    """The fused loop as a numba function computing in ``dtype`` (float32 or float64)."""
    import numba

    cast = np.float32 if np.dtype(dtype) == np.float32 else np.float64

    @numba.njit(cache=False, fastmath=False)
    def fused_rollout(theta, consts, num_envs, horizon, rng, store,
                      obs_buf, act_buf, rew_buf, term_buf, alive_buf):
        """Lockstep over num_envs cart-poles for up to `horizon` steps under the logistic
        policy; writes obs_buf [H, 4, n], act/rew/term/alive [H, n] when `store`.
        Returns (alive env steps, steps taken T)."""
        gravity, masspole, total_mass, length, polemass_length = consts[0], consts[1], \
            consts[2], consts[3], consts[4]
        force_mag, tau, theta_threshold, x_threshold = consts[5], consts[6], consts[7], consts[8]
        low, span, four_thirds = consts[9], consts[10], consts[11]
        one = cast(1.0)
        state = np.empty((4, num_envs), consts.dtype)
        for c in range(4):
            for k in range(num_envs):
                state[c, k] = low + span * cast(rng.random())
        alive = np.ones(num_envs, np.bool_)
        n_alive = num_envs
        total = 0
        taken = horizon
        for t in range(horizon):
            for k in range(num_envs):
                if not alive[k]:
                    continue
                x, x_dot, th, th_dot = state[0, k], state[1, k], state[2, k], state[3, k]
                z = theta[0] * x + theta[1] * x_dot + theta[2] * th + theta[3] * th_dot
                # left with probability sigmoid(z): left iff u < 1 / (1 + exp(-z))
                right = cast(rng.random()) * (one + np.exp(-z)) >= one
                force = force_mag if right else -force_mag
                costheta = np.cos(th)
                sintheta = np.sin(th)
                temp = (force + polemass_length * th_dot * th_dot * sintheta) / total_mass
                thetaacc = (gravity * sintheta - costheta * temp) / (
                    length * (four_thirds - masspole * costheta * costheta / total_mass))
                xacc = temp - polemass_length * thetaacc * costheta / total_mass
                nx = x + tau * x_dot
                nth = th + tau * th_dot
                terminated = abs(nx) > x_threshold or abs(nth) > theta_threshold
                if store:
                    obs_buf[t, 0, k] = x
                    obs_buf[t, 1, k] = x_dot
                    obs_buf[t, 2, k] = th
                    obs_buf[t, 3, k] = th_dot
                    act_buf[t, k] = 1 if right else 0
                    rew_buf[t, k] = one
                    term_buf[t, k] = terminated
                    alive_buf[t, k] = True
                total += 1
                if terminated:
                    alive[k] = False
                    n_alive -= 1
                else:
                    state[0, k] = nx
                    state[1, k] = x_dot + tau * xacc
                    state[2, k] = nth
                    state[3, k] = th_dot + tau * thetaacc
            if n_alive == 0:
                taken = t + 1
                break
        return total, taken

    return fused_rollout


def numba_buffers(n: int, steps: int, dtype, store: bool) -> tuple[np.ndarray, ...]:
    """The compiled loop's output buffers (allocated once and reused, like pgrad's workspace)."""
    if not store:
        n = steps = 1
    return (np.empty((steps, 4, n), dtype), np.zeros((steps, n), np.int8), np.zeros((steps, n), dtype),
            np.zeros((steps, n), np.bool_), np.zeros((steps, n), np.bool_))


def time_numba(kernels, n: int, steps: int, seed: int, dtype, store: bool,
               buffers: tuple[np.ndarray, ...]) -> tuple[float, int]:
    """Seconds for one compiled rollout into reused buffers."""
    obs, act, rew, term, alive = buffers
    start = time.perf_counter()
    kernel = kernels[np.dtype(dtype).name]
    total, _ = kernel(KEEP_ALIVE_THETA.astype(dtype), _constants(dtype), n, steps,
                      np.random.default_rng(seed), store, obs, act, rew, term, alive)
    return time.perf_counter() - start, int(total)


def check_numba(kernels) -> float:
    """Largest |difference| between the compiled loop's float64 transitions and pgrad's
    ``cartpole.step`` on a short stored rollout (the two must compute the same dynamics)."""
    from pgrad.envs import cartpole

    n, steps = 256, 200
    obs = np.empty((steps, 4, n))
    act = np.zeros((steps, n), np.int8)
    alive = np.zeros((steps, n), np.bool_)
    kernels["float64"](-KEEP_ALIVE_THETA / 1000, _constants(np.float64), n, steps,
                       np.random.default_rng(1), True, obs,
                       act, np.zeros((steps, n)), np.zeros((steps, n), np.bool_), alive)
    worst = 0.0
    for t in range(steps - 1):
        ok = alive[t + 1]
        nxt, _, _ = cartpole.step(obs[t][:, ok], act[t][ok])
        worst = max(worst, float(np.abs(nxt - obs[t + 1][:, ok]).max(initial=0.0)))
    return worst


def compile_numba(kernels, dtype) -> float:
    """Seconds to compile the kernel for dtype (first calls on a tiny problem, with and
    without buffers)."""
    start = time.perf_counter()
    time_numba(kernels, 2, 2, 0, dtype, True, numba_buffers(2, 2, dtype, True))
    time_numba(kernels, 2, 2, 0, dtype, False, numba_buffers(2, 2, dtype, False))
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", default="1024,16384",
                        help="comma-separated environment counts (default: 1024,16384)")
    parser.add_argument("--steps", type=int, default=500, help="steps per rollout (default: 500)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (default: 7)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="pgrad's seed axis S: n envs run as S seeds x n/S episodes (default: 1)")
    parser.add_argument("--no-numba", action="store_true", help="skip the compiled reference")
    parser.add_argument("--threads", default="1", help="PGRAD_THREADS for pgrad's compiled rollout "
                        "(default: 1, single-threaded like every contender)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 steps, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = 50, 1
    env_counts = [int(x) for x in args.envs.split(",")]
    for n in env_counts:
        if n % args.seeds:
            parser.error(f"--seeds {args.seeds} must divide every environment count ({n})")

    kernels = None
    compile_rows = []
    import os

    os.environ["PGRAD_THREADS"] = args.threads
    from pgrad import jit

    start = time.perf_counter()
    jit.load()  # pgrad's compiled kernels from the first rollout (PGRAD_JIT=1); cached on disk
    time_pgrad(8, 4, 0, np.float64, 1, None)
    compile_rows.append(("pgrad: import numba and load (or compile) its kernels"
                         + ("" if jit.available() else f" (off: {jit.reason()})"),
                         f"{time.perf_counter() - start:.2f}"))
    if not args.no_numba:
        compile_rows.append(("import numba", f"{import_numba():.2f}"))
        kernels = {np.dtype(d).name: build_numba_kernel(d) for d in (np.float64, np.float32)}
        for dtype in (np.float64, np.float32):
            compile_rows.append((f"compile fused loop ({np.dtype(dtype).name})",
                                 f"{compile_numba(kernels, dtype):.2f}"))
        diff = check_numba(kernels)
        if diff > 1e-12:
            raise SystemExit(f"compiled loop disagrees with pgrad's cartpole.step by {diff:.3g}")

    contenders = {
        "Gymnasium CartPoleVectorEnv, random actions (env only)": None,
        "pgrad rollout float64, compiled (env + policy + sampling + buffers)": ("pgrad", np.float64, True),
        "pgrad rollout float64, numpy loop (env + policy + sampling + buffers)": ("pgrad", np.float64, False),
        "pgrad rollout float32, numpy loop (env + policy + sampling + buffers)": ("pgrad", np.float32, False),
    }
    if kernels is not None:
        contenders.update({
            "numba fused loop float64 (env + policy + sampling + buffers)": ("numba", np.float64, True),
            "numba fused loop float32 (env + policy + sampling + buffers)": ("numba", np.float32, True),
            "numba fused loop float64 (env + policy + sampling, no buffers)": ("numba", np.float64, False),
        })

    rows = []
    for n in env_counts:
        gym_env, actions = make_gymnasium(n, args.steps, seed=n)

        from pgrad.rollout import Workspace

        reused: dict = {}  # buffers reused across repeats, per contender

        def run(spec, rep, gym_env=gym_env, actions=actions, n=n, reused=reused):
            if spec is None:
                return time_gymnasium(gym_env, actions, seed=rep)
            if spec[0] == "pgrad":
                workspace = reused.setdefault(spec, Workspace())
                return time_pgrad(n, args.steps, rep, spec[1], args.seeds, workspace, spec[2])
            buffers = reused.setdefault(spec, numba_buffers(n, args.steps, spec[1], spec[2]))
            return time_numba(kernels, n, args.steps, rep, spec[1], spec[2], buffers)

        for spec in contenders.values():  # warm-up: page faults, caches, lazy imports
            run(spec, 10_000)
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        credited: dict[str, int] = {}
        for rep in range(args.repeats):  # interleaved, so load hits every contender alike
            for name, spec in contenders.items():
                seconds, env_steps = run(spec, rep)
                rates[name].append(env_steps / seconds)
                credited[name] = env_steps
        gym_median = statistics.median(rates[next(iter(contenders))])
        gym_best = max(rates[next(iter(contenders))])
        for name, r in rates.items():
            med, best = statistics.median(r), max(r)
            rows.append((f"{n:,}", name, f"{med / 1e6:.1f}", f"{best / 1e6:.1f}",
                         f"{med / gym_median:.2f}x", f"{best / gym_best:.2f}x",
                         f"{credited[name] / (args.steps * n):.3f}"))
        gym_env.close()

    print(f"## Rollout throughput (CartPole-v1, {args.steps} steps, median and best of "
          f"{args.repeats} repeats{', QUICK' if args.quick else ''})\n")
    print(machine_header("numba") + "\n")
    print(md_table(["envs", "contender", "M env steps/s (median)", "M env steps/s (best)",
                    "vs Gymnasium (median)", "vs Gymnasium (best)", "credited / (steps x envs)"],
                   rows))
    if compile_rows:
        print("\n" + md_table(["numba one-off cost", "seconds"], compile_rows))
    print("\nCredited steps: Gymnasium = steps x envs (every env steps every call); pgrad and "
          "numba = alive env steps (sum of episode lengths), equal to steps x envs here because "
          "theta = -100 * (0.1, 0.5, 10, 2) keeps every episode alive (last column = 1.000).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
