"""Final returns of pgrad's algorithms, 10 seeds each, beside published SB3 rl-zoo and CleanRL numbers.

For each (environment, algorithm) pair below, in this order:

    CartPole-v1: reinforce (--baseline value), a2c, ppo, npg, trpo, trpo (--policy mlp)
    Acrobot-v1:  reinforce (--baseline value), a2c, ppo, trpo
    Pendulum-v1: a2c, ppo (--policy mlp), trpo (--policy mlp), ddpg, td3, sac
    MountainCarContinuous-v0: ddpg, td3, sac (--max-steps 50000, reported without a target), td3
                              with Ornstein-Uhlenbeck noise 0.5 (label td3-ou)

A pair's second name is its label: the algorithm, then ``-mlp`` where the run uses the MLP policy.

1. train seeds 0-9 with the CLI, each pair in its own process and run folder:
   ``pgrad train --algo ALGO --env-id ENV --seeds 0-9 --out RUNS/ENV-LABEL --quiet --force``;
   a pair whose training fails (an algorithm not written yet, an environment it does not
   support) is skipped and listed with pgrad's one-line error;
2. run ``pgrad report`` over the run folders that exist (IQM of the final evaluation return
   over seeds, 95% stratified bootstrap CI, seeds, wall time, env steps; learning curves);
3. write ``benchmarks/results.md`` (and ``benchmarks/results.png``, the report's figure): the
   report's numbers beside the targets and the published peer numbers, each with its source.

    python benchmarks/results.py                              # full run, seeds 0-9
    python benchmarks/results.py --seeds 0-2 --md /tmp/r.md   # smoke run
    python benchmarks/results.py --reinforce-baseline time_mean_loo  # before --baseline value lands

Run folders go under ``runs/results/`` (git-ignored) unless ``--runs`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCarContinuous-v0")
PAIRS = (("CartPole-v1", "reinforce"), ("CartPole-v1", "a2c"), ("CartPole-v1", "ppo"),
         ("CartPole-v1", "npg"), ("CartPole-v1", "trpo"), ("CartPole-v1", "trpo-mlp"),
         ("Acrobot-v1", "reinforce"), ("Acrobot-v1", "a2c"), ("Acrobot-v1", "ppo"), ("Acrobot-v1", "trpo"),
         ("Pendulum-v1", "a2c"), ("Pendulum-v1", "ppo"), ("Pendulum-v1", "trpo-mlp"),
         ("Pendulum-v1", "ddpg"), ("Pendulum-v1", "td3"), ("Pendulum-v1", "sac"),
         ("MountainCarContinuous-v0", "ddpg"), ("MountainCarContinuous-v0", "td3"),
         ("MountainCarContinuous-v0", "sac"), ("MountainCarContinuous-v0", "td3-ou"))
TARGETS = {("CartPole-v1", "reinforce"): 475.0, ("CartPole-v1", "a2c"): 475.0, ("CartPole-v1", "ppo"): 475.0,
           ("CartPole-v1", "npg"): 475.0, ("CartPole-v1", "trpo"): 475.0, ("CartPole-v1", "trpo-mlp"): 475.0,
           ("Acrobot-v1", "a2c"): -100.0, ("Acrobot-v1", "ppo"): -100.0, ("Acrobot-v1", "trpo"): -100.0,
           ("Pendulum-v1", "ppo"): -250.0, ("Pendulum-v1", "trpo-mlp"): -250.0,
           ("Pendulum-v1", "ddpg"): -250.0, ("Pendulum-v1", "td3"): -200.0, ("Pendulum-v1", "sac"): -200.0}
"""Final-return targets (IQM over seeds); pairs not listed have none."""


def algorithm(label: str) -> str:
    """The --algo of a pair's label ("trpo-mlp" -> "trpo")."""
    return label.split("-")[0]

PAIR_FLAGS = {
    # Pendulum-v1 needs a nonlinear policy: a Gaussian MLP with rl-zoo's PPO settings for
    # Pendulum (n_envs 4, n_steps 1024, gamma 0.9, gae_lambda 0.95, 10 epochs, lr 1e-3, 1e5 steps).
    ("Pendulum-v1", "ppo"): ["--policy", "mlp", "--num-envs", "4", "--num-steps", "1024",
                             "--gamma", "0.9", "--gae-lambda", "0.95", "--epochs", "10",
                             "--minibatch-size", "64", "--mlp-lr", "0.001", "--max-steps", "100000"],
    ("CartPole-v1", "trpo-mlp"): ["--policy", "mlp"],
    # TRPO on Pendulum with rl-zoo's TRPO settings where pgrad has them (n_envs 2, n_steps 1024,
    # gamma 0.9, 1e5 steps; zoo's gSDE exploration has no pgrad counterpart).
    ("Pendulum-v1", "trpo-mlp"): ["--policy", "mlp", "--num-envs", "2", "--num-steps", "1024",
                                  "--gamma", "0.9", "--gae-lambda", "0.95", "--max-steps", "100000"],
    # MountainCarContinuous-v0: every default (the Pendulum-v1 settings) for 50,000 steps per seed,
    # the budget of the zoo's SAC there (the zoo's DDPG and TD3 use 300k steps and OU noise 0.5).
    **{("MountainCarContinuous-v0", a): ["--max-steps", "50000"] for a in ("ddpg", "td3", "sac")},
    # ... and TD3 with the zoo's exploration there, Ornstein-Uhlenbeck noise of sigma 0.5.
    ("MountainCarContinuous-v0", "td3-ou"): ["--max-steps", "50000", "--noise-type", "ornstein-uhlenbeck",
                                             "--action-noise", "0.5"],
}
"""Flags beyond each algorithm's defaults, per pair (printed in results.md)."""

# ---------------------------------------------------------------------------------------------
# Published peer numbers, copied by hand from the pages below; each cell names its source.
# ---------------------------------------------------------------------------------------------
ZOO_COMMIT = "0088472b8cb622732bdbc4aa3d0d0abde86c67ed"
ZOO_URL = f"https://github.com/DLR-RM/rl-baselines3-zoo/blob/{ZOO_COMMIT}/benchmark.md"
CLEANRL_COMMIT = "7a96de22014e13dfb0dbf35b17157a1d9d9c7431"
CLEANRL_URL = f"https://github.com/vwxyzjn/cleanrl/blob/{CLEANRL_COMMIT}/docs/rl-algorithms/ppo.md"
CLEANRL_DOCS = "https://docs.cleanrl.dev/rl-algorithms/ppo/#experiment-results"
CLEANRL_OVERVIEW = "https://docs.cleanrl.dev/rl-algorithms/overview/"

SB3_ZOO = {
    # (env, algo): (mean_reward ± std_reward, n_timesteps), the row of benchmark.md quoted in SOURCES
    ("CartPole-v1", "a2c"): ("500.000 ± 0.000", "500k"),
    ("CartPole-v1", "ppo"): ("500.000 ± 0.000", "100k"),
    ("Acrobot-v1", "a2c"): ("-83.353 ± 17.213", "500k"),
    ("Acrobot-v1", "ppo"): ("-73.506 ± 18.201", "1M"),
    ("Pendulum-v1", "a2c"): ("-162.965 ± 103.210", "1M"),
    ("Pendulum-v1", "ppo"): ("-172.225 ± 104.159", "100k"),
    ("CartPole-v1", "trpo-mlp"): ("500.000 ± 0.000", "100k"),
    ("Acrobot-v1", "trpo"): ("-83.114 ± 18.648", "100k"),
    ("Pendulum-v1", "trpo-mlp"): ("-174.631 ± 127.577", "100k"),
    ("Pendulum-v1", "ddpg"): ("-152.099 ± 94.282", "20k"),
    ("Pendulum-v1", "td3"): ("-151.855 ± 90.227", "20k"),
    ("Pendulum-v1", "sac"): ("-156.995 ± 88.714", "20k"),
    ("MountainCarContinuous-v0", "ddpg"): ("93.512 ± 0.048", "300k"),
    ("MountainCarContinuous-v0", "td3"): ("93.483 ± 0.075", "300k"),
    ("MountainCarContinuous-v0", "sac"): ("94.679 ± 1.134", "50k"),
    ("MountainCarContinuous-v0", "td3-ou"): ("93.483 ± 0.075", "300k"),
}
CLEANRL = {
    # (env, algo): `ppo.py` column of the classic-control table in docs/rl-algorithms/ppo.md
    ("CartPole-v1", "ppo"): "490.04 ± 6.12",
    ("Acrobot-v1", "ppo"): "-86.36 ± 1.32",
}
SOURCES = f"""\
**SB3 rl-zoo**: [rl-baselines3-zoo `benchmark.md`]({ZOO_URL}) (commit `{ZOO_COMMIT[:8]}`), table
"Performance of trained agents": `mean_reward ± std_reward` over `eval_episodes` evaluation
episodes (deterministic policy) of **one** trained agent per pair, after `n_timesteps` of
training (the page itself warns that it is "not a quantitative benchmark as it corresponds to
only one run"). Rows used, verbatim:

```text
|a2c  |Acrobot-v1                 |    -83.353|    17.213|500k       |        149979|         1778|
|a2c  |CartPole-v1                |    500.000|     0.000|500k       |        150000|          300|
|a2c  |Pendulum-v1                |   -162.965|   103.210|1M         |        150000|          750|
|ppo  |Acrobot-v1                 |    -73.506|    18.201|1M         |        149979|         2013|
|ppo  |CartPole-v1                |    500.000|     0.000|100k       |        150000|          300|
|ppo  |Pendulum-v1                |   -172.225|   104.159|100k       |        150000|          750|
|trpo |Acrobot-v1                 |    -83.114|    18.648|100k       |        149976|         1783|
|trpo |CartPole-v1                |    500.000|     0.000|100k       |        150000|          300|
|trpo |Pendulum-v1                |   -174.631|   127.577|100k       |        150000|          750|
|ddpg |Pendulum-v1                |   -152.099|    94.282|20k        |        150000|          750|
|td3  |Pendulum-v1                |   -151.855|    90.227|20k        |        150000|          750|
|sac  |Pendulum-v1                |   -156.995|    88.714|20k        |        150000|          750|
|ddpg |MountainCarContinuous-v0   |     93.512|     0.048|300k       |        149965|         2260|
|td3  |MountainCarContinuous-v0   |     93.483|     0.075|300k       |        149976|         2275|
|sac  |MountainCarContinuous-v0   |     94.679|     1.134|50k        |        149966|         1443|
```

rl-zoo's DDPG and TD3 agents on MountainCarContinuous-v0 trained 300k steps with
Ornstein-Uhlenbeck noise (sigma 0.5) and 400 x 300 networks, its SAC agent 50k steps with gSDE
(rl-zoo3's `hyperparams/{{ddpg,td3,sac}}.yml`); pgrad's rows there run 50k steps each.

rl-zoo's agents are MLPs (sb3-contrib's TRPO, `MlpPolicy`), so its TRPO numbers sit beside pgrad's
MLP rows; its Acrobot-v1 TRPO row sits beside pgrad's linear TRPO (pgrad has no MLP run there).

**CleanRL**: [docs, PPO, `ppo.py`, Experiment results]({CLEANRL_DOCS})
([source]({CLEANRL_URL}), commit `{CLEANRL_COMMIT[:8]}`): "average episodic returns for
`ppo.py`", mean ± std over 3 seeds (`--num-seeds 3` in CleanRL's `benchmark/ppo.sh`), 500k
steps (`ppo.py`'s default `total_timesteps`), from the runs' logged training episodic returns. Rows used
(spacing normalised):
`| CartPole-v1 | 490.04 ± 6.12 | 497.54 ± 4.02 |` and `| Acrobot-v1 | -86.36 ± 1.32 | -81.82 ± 5.58 |`
(the second column is openai/baselines' PPO, not used here).

**n/a** where no number was found: neither rl-zoo nor CleanRL has REINFORCE or NPG, nor
CleanRL TRPO (its TRPO pull request was never merged); CleanRL has no
A2C (its [algorithm overview]({CLEANRL_OVERVIEW}) lists none); CleanRL's PPO page reports no
Pendulum-v1 (its continuous-action PPO results are MuJoCo and dm_control tasks only).

**Not like for like.** pgrad's column is the IQM over seeds of each seed's mean return over
its final evaluation episodes with the stochastic (sampled-action) policy; rl-zoo's is one agent
evaluated greedily; CleanRL's averages training episodes over 3 seeds. Budgets differ too (see
the env-steps column and the peers' `n_timesteps`). pgrad's DDPG, TD3 and SAC use 64 x 64
networks (rl-zoo: 400 x 300, SAC 256 x 256) and evaluate 10 episodes per seed.
"""


def train(env_id: str, algo: str, seeds: str, out: Path, extra: list[str],
          timeout: float | None) -> str | None:
    """Train one pair with the CLI; None on success, else the reason (pgrad's one-line error)."""
    cmd = [sys.executable, "-m", "pgrad.cli", "train", "--algo", algo, "--env-id", env_id, "--seeds", seeds,
           "--out", str(out), "--quiet", "--force", *extra]
    print("$ pgrad " + " ".join(cmd[3:]), file=sys.stderr)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"training took longer than --timeout {timeout:g} s"
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"pgrad train exited with code {proc.returncode}"


def machine() -> str:
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                    if line.startswith("model name")), platform.processor())
    except OSError:
        cpu = platform.processor() or "unknown CPU"
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("numpy", "scipy", "gymnasium"))
    load = "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())  # wall times depend on it
    return (f"{cpu}, {os.cpu_count()} logical cores, {load} at the end; "
            f"Python {platform.python_version()}, {versions}")


def label(name: str) -> str:
    """How a pair's label reads in the table: "trpo-mlp" -> "trpo (--policy mlp)", "td3-ou" ->
    "td3 (--noise-type ornstein-uhlenbeck)"."""
    if name.endswith("-mlp"):
        return f"{algorithm(name)} (--policy mlp)"
    if name.endswith("-ou"):
        return f"{algorithm(name)} (--noise-type ornstein-uhlenbeck)"
    return name


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.1f}"


def met(x: float | None, target: float | None) -> str:
    """Whether x reaches the target: yes, **no**, n/a (no x) or – (no target)."""
    if target is None:
        return "–"
    return "n/a" if x is None else ("yes" if x >= target else "**no**")


def provenance(out: Path) -> str:
    """When and from which commit a run folder was written (its config.json's time and commit)."""
    meta = json.loads((out / "config.json").read_text())
    written = time.strftime("%Y-%m-%d %H:%M", time.localtime((out / "config.json").stat().st_mtime))
    commit = meta.get("git_commit")
    return f"written {written}" + (f" by commit {commit[:10]}" if commit else ", commit not recorded")


def results_md(rows: dict, missing: dict, args, seconds: float, reused: dict | None = None) -> str:
    """The markdown page: one line per pair, the sources, what was skipped and why, and which
    pairs were reused from earlier run folders rather than trained in this run."""
    extra = f" --baseline {args.reinforce_baseline}"
    lines = [
        "# Results: final returns beside published numbers", "",
        f"Written by `python benchmarks/results.py` on {time.strftime('%Y-%m-%d')} in {seconds:.0f} s "
        f"({machine()}). Each pair: `pgrad train --algo ALGO --env-id ENV --seeds {args.seeds}` "
        f"(REINFORCE with `{extra.strip()}`; "
        + "; ".join(f"{algorithm(a)} on {e} with `{' '.join(f)}`" for (e, a), f in PAIR_FLAGS.items())
        + "), then `pgrad report` over the run folders.", "",
        "| environment | algorithm | pgrad IQM final return [95% CI] | seeds | target | IQM ≥ target "
        "| CI low ≥ target | SB3 rl-zoo (1 agent, steps) | CleanRL (3 seeds) | wall time (s) "
        "| env steps / seed |",
        "| --- | --- | ---: | ---: | ---: | :---: | :---: | ---: | ---: | ---: | ---: |",
    ]
    for env_id, algo in PAIRS:
        target = TARGETS.get((env_id, algo))
        zoo = SB3_ZOO.get((env_id, algo))
        zoo_cell = f"{zoo[0]} ({zoo[1]})" if zoo else "n/a"
        clean_cell = CLEANRL.get((env_id, algo), "n/a")
        name = f"{algo} ({extra.strip()})" if algo == "reinforce" else label(algo)
        row = rows.get((env_id, algo))
        if row is None:
            lines.append(f"| {env_id} | {name} | not run¹ | – | {fmt(target) if target else '–'} | – | – "
                         f"| {zoo_cell} | {clean_cell} | – | – |")
            continue
        ci = f"[{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
        steps = "n/a" if row["env_steps"] is None else f"{row['env_steps'] / row['seeds']:,.0f}"
        lines.append(f"| {env_id} | {name} | {fmt(row['iqm'])} {ci} | {row['seeds']} "
                     f"| {fmt(target) if target else '–'} | {met(row['iqm'], target)} "
                     f"| {met(row['ci_low'], target)} "
                     f"| {zoo_cell} | {clean_cell} | {row['wall_seconds']:.2f} | {steps} |")
    lines += ["", "Targets: CartPole-v1 ≥ 475 for every algorithm; Acrobot-v1 ≥ -100 for A2C, PPO and TRPO; "
              "Pendulum-v1 ≥ -250 for PPO, TRPO (MLP) and DDPG, ≥ -200 for TD3 and SAC (20,000 steps "
              "per seed); MountainCarContinuous-v0 is reported without one (50,000 steps per seed); "
              "– where a pair has none. IQM and CI as "
              "`pgrad report` computes them (interquartile mean over seeds; stratified percentile "
              "bootstrap, 10,000 resamples, seed 0).",
              ""]
    if rows:
        lines += [f"![learning curves]({args.md.with_suffix('.png').name})", ""]
    if reused:
        lines += ["Reused, not trained in this run (`--reuse` or `--only`): the figures of these pairs "
                  "come from earlier run folders:", ""]
        lines += [f"- {env_id} / {algo}: `{out}`, {provenance(out)}"
                  for (env_id, algo), out in reused.items()]
        lines.append("")
    if missing:
        lines += ["¹ Not run, with pgrad's error:", ""]
        lines += [f"- {env_id} / {algo}: `{why}`" for (env_id, algo), why in missing.items()]
        lines.append("")
    lines += ["## Sources of the peer numbers", "", SOURCES]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9", help="seeds per pair (default: 0-9)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "results",
                        help="folder for the run folders and the report (default: runs/results)")
    parser.add_argument("--md", type=Path, default=ROOT / "benchmarks" / "results.md",
                        help="markdown to write (default: benchmarks/results.md; the figure goes beside it)")
    parser.add_argument("--reinforce-baseline", default="value",
                        help="--baseline for REINFORCE (default: value)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse existing run folders instead of retraining")
    parser.add_argument("--only", default="",
                        help="comma-separated labels to train (e.g. npg,trpo,trpo-mlp); the other pairs "
                             "are reused from earlier run folders where they exist (default: all)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds allowed per pair (default: none)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    args.runs.mkdir(parents=True, exist_ok=True)
    done, missing, reused = {}, {}, {}
    for env_id, algo in PAIRS:
        out = args.runs / f"{env_id}-{algo}"
        extra = ["--baseline", args.reinforce_baseline] if algo == "reinforce" else []
        extra += PAIR_FLAGS.get((env_id, algo), [])
        if args.only and algo not in args.only.split(","):
            if (out / "summary.json").is_file():  # not retrained: the folder of an earlier run
                done[(env_id, algo)] = reused[(env_id, algo)] = out
            continue
        if args.reuse and (out / "summary.json").is_file():
            done[(env_id, algo)] = reused[(env_id, algo)] = out
            continue
        why = train(env_id, algorithm(algo), args.seeds, out, extra, args.timeout)
        if why is None:
            done[(env_id, algo)] = out
        else:
            missing[(env_id, algo)] = why
            print(f"  skipped {env_id} / {algo}: {why}", file=sys.stderr)

    rows = {}
    if done:
        report_dir = args.runs / "report"
        cmd = [sys.executable, "-m", "pgrad.cli", "report", *map(str, done.values()),
               "--out", str(report_dir), "--force"]
        print("$ pgrad " + " ".join(cmd[3:]), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        report = json.loads((report_dir / "report.json").read_text())
        by_path = {Path(p): r for r in report["rows"] for p in r["runs"]}
        rows = {pair: by_path[path] for pair, path in done.items()}
        shutil.copyfile(report_dir / "report.png", args.md.with_suffix(".png"))
    args.md.write_text(results_md(rows, missing, args, time.perf_counter() - start, reused))
    print(f"wrote {args.md}" + (f" and {args.md.with_suffix('.png')}" if done else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
