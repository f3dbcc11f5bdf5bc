"""What the training lifecycle (one loop, checkpoints) costs: training time of this tree against
another checkout (``--baseline DIR``, e.g. a worktree of the commit before the lifecycle), in
the same run, interleaved; and the time to write a checkpoint of a 100-seed REINFORCE run.

    git worktree add /tmp/before <commit> && python benchmarks/lifecycle_overhead.py --baseline /tmp/before

Each timing is ``TrainResult.wall_seconds`` (the training loop) in a fresh process whose
``sys.path`` starts with the tree's ``src/``; the ratio is this tree over the baseline, pair by pair.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "REINFORCE, 1 seed (seeds 0-9 one by one)":
        "from pgrad.algorithms.reinforce import ReinforceConfig as C, train\n"
        "t = [train(C(), [s]).wall_seconds for s in range(10)]",
    "REINFORCE, 100 seeds in one call":
        "from pgrad.algorithms.reinforce import ReinforceConfig as C, train\n"
        "t = [train(C(), list(range(100))).wall_seconds]",
    "PPO linear, 1 seed (seeds 0-4 one by one)":
        "from pgrad.algorithms.ppo import PPOConfig as C, train\n"
        "t = [train(C(), [s]).wall_seconds for s in range(5)]",
}
PRELUDE = "import sys, json\nsys.path.insert(0, {src!r})\n"
EPILOGUE = "\nprint(json.dumps(sum(t)))"


def timed(src: Path, code: str) -> float:
    out = subprocess.run([sys.executable, "-c", PRELUDE.format(src=str(src)) + code + EPILOGUE],
                         capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return float(json.loads(out.stdout.splitlines()[-1]))


def checkpoint_seconds(repeats: int = 5) -> tuple[float, float]:
    """(checkpoint/ alone, the whole snapshot run folder), medians, for 100 REINFORCE seeds."""
    from pgrad.algorithms import reinforce
    from pgrad.runs import write_run
    from pgrad.training import checkpoint, loop

    algorithm = reinforce.ALGORITHM
    state = loop.start("reinforce", algorithm, reinforce.ReinforceConfig(), list(range(100)))
    loop.run(algorithm, state, [lambda m, s: "stop" if s.update >= 3 else None])
    alone, whole = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            start = time.perf_counter()
            checkpoint.save(algorithm, state, Path(tmp) / f"c{i}")
            alone.append(time.perf_counter() - start)
            start = time.perf_counter()
            write_run(Path(tmp) / "run", algo="reinforce", config=state.config, seeds=list(state.seeds),
                      result=loop.result(algorithm, state, "running"), force=True, run_status="running",
                      checkpoint=lambda folder: checkpoint.save(algorithm, state, folder))
            whole.append(time.perf_counter() - start)
    return statistics.median(alone), statistics.median(whole)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout to compare with")
    parser.add_argument("--repeats", type=int, default=5, help="A/B pairs per case (default: 5)")
    args = parser.parse_args()
    print("| case | this tree (s, median) | baseline (s, median) | ratio (median of pairs) |")
    print("| --- | ---: | ---: | ---: |")
    for name, code in CASES.items():
        pairs = [(timed(ROOT / "src", code), timed(args.baseline / "src", code)) for _ in range(args.repeats)]
        mine, base = zip(*pairs, strict=True)
        ratio = statistics.median(a / b for a, b in pairs)
        print(f"| {name} | {statistics.median(mine):.3f} | {statistics.median(base):.3f} | {ratio:.3f} |")
    alone, whole = checkpoint_seconds()
    print(f"\ncheckpoint/ of a 100-seed REINFORCE run: {alone * 1000:.1f} ms; the whole snapshot run folder "
          f"(metrics, plot, checkpoint): {whole * 1000:.1f} ms (medians of 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
