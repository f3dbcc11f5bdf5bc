"""What ``--tensorboard`` costs: the default ``pgrad train`` (in-process ``pgrad.cli.main``, --quiet)
with and without it, interleaved, medians of ``--repeats``; and, apart, the one-time import of
TensorBoard's writer (in a fresh process).

    python benchmarks/tensorboard_overhead.py --repeats 15

Per run: the training time (summary.json ``wall_seconds``: the loop, where the callback runs) and the
whole command (``main``: training, evaluation, the run folder, closing the event files). Both
variants run once before the timed pairs, so that imports are paid outside them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_header, md_table

IMPORT = ("import time; t = time.perf_counter(); "
          "import tensorboard.summary.writer.event_file_writer, tensorboard.compat.proto.event_pb2; "
          "print(time.perf_counter() - t)")


def timed(argv: list[str], root: Path, i: int, tensorboard: bool) -> tuple[float, float, float]:
    """(training seconds, command seconds, command CPU seconds of all threads) of one ``pgrad train``
    into a fresh folder."""
    from pgrad.cli import main

    out = root / f"{'tb' if tensorboard else 'plain'}-{i}"
    extra = ["--tensorboard", str(root / f"logs-{i}")] if tensorboard else []
    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", *argv, "--quiet", "--out", str(out), *extra])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if code != 0:
        raise SystemExit(f"pgrad train exited with {code}")
    return json.loads((out / "summary.json").read_text())["wall_seconds"], seconds, cpu


def import_seconds(repeats: int) -> float:
    """Median seconds to import TensorBoard's writer and protos in a fresh Python."""
    return statistics.median(float(subprocess.run([sys.executable, "-c", IMPORT], capture_output=True,
                                                  text=True, check=True).stdout) for _ in range(repeats))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="pairs of runs (default: 15)")
    parser.add_argument("flags", nargs="*", help="pgrad train flags (default: none, the default run)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        timed(args.flags, root, -1, False), timed(args.flags, root, -1, True)  # warm-up: imports
        pairs = [(timed(args.flags, root, i, False), timed(args.flags, root, i, True))
                 for i in range(args.repeats)]
    for k, what in enumerate(("training (summary.json wall_seconds)", "whole command (main), wall",
                              "whole command (main), CPU of all threads")):
        plain = [p[k] for p, _ in pairs]
        board = [b[k] for _, b in pairs]
        ratio = statistics.median(b / p for p, b in zip(plain, board, strict=True))
        rows.append((what, f"{statistics.median(plain):.3f}", f"{statistics.median(board):.3f}",
                     f"{(ratio - 1) * 100:+.1f}%"))
    print(machine_header("tensorboard"))
    print(f"\n`pgrad train {' '.join(args.flags)}` --quiet, {args.repeats} interleaved pairs:\n")
    print(md_table(["time", "without (s, median)", "with --tensorboard (s, median)",
                    "overhead (median of pairs)"], rows))
    print(f"\nImporting TensorBoard's writer once (fresh process, median of 5): {import_seconds(5):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
