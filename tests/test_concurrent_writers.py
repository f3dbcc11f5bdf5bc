"""Two real ``pgrad train`` processes at once (issue 8's contract).

- The same ``--out``: one writer holds an exclusive ``flock`` on ``.<name>.pgrad-lock`` beside
  the folder; the other exits 2 at start-up (before training) with one stderr line saying the
  folder "is being written by another pgrad process" (and naming it, with ``(pid N)`` when
  known). The folder is a complete run folder afterwards and no lock file is left.
- The default ``--out`` (``runs/<YYYYmmdd-HHMMSS>-<pid>``): two runs started in the same
  second in the same working directory both succeed, in two different folders.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import check_complete_run, leftovers, lock_file, start_train

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock")

# long enough (several seconds of training) that the second process is done with its start-up
# while the first one still trains
MEDIUM = ["--max-episodes", "10000", "--solve-threshold", "inf", "--eval-episodes", "5", "--quiet"]
QUICK = ["--max-episodes", "100", "--eval-episodes", "2", "--quiet"]
BUSY = "is being written by another pgrad process"


def wait_for_lock(proc: subprocess.Popen, out: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.lexists(lock_file(out)):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the first run ended before training: {proc.communicate()[1]!r}")
        time.sleep(0.005)
    proc.kill()
    raise AssertionError(f"no lock file {lock_file(out)} within {timeout} s: {proc.communicate()[1]!r}")


def wait_all(procs: list[subprocess.Popen], timeout: float = 300.0) -> list[int]:
    """Wait for every process; the indices in the order they ended."""
    order: list[int] = []
    deadline = time.monotonic() + timeout
    while len(order) < len(procs):
        for i, p in enumerate(procs):
            if i not in order and p.poll() is not None:
                order.append(i)
        if time.monotonic() > deadline:
            for p in procs:
                p.kill()
            raise AssertionError("the runs did not end in time")
        time.sleep(0.005)
    return order


def check_refused_as_busy(err: str, out: Path, winner: subprocess.Popen) -> None:
    lines = err.splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("pgrad: error: "), f"expected one error line, got {err!r}"
    assert BUSY in lines[0] and out.name in lines[0], lines[0]
    pid = re.search(r"\(pid (\d+)", lines[0])
    if pid:  # "(pid N)" when known: then it must be the process that holds the folder
        assert int(pid.group(1)) == winner.pid, (lines[0], winner.pid)


@pytest.fixture(scope="module")
def old_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("old-run")
    out = base / "old"
    proc = start_train(base, "--out", str(out), *QUICK)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out


@pytest.mark.parametrize("existing", [False, True], ids=["fresh-out", "force-over-an-old-run"])
def test_a_second_writer_is_refused_at_start_up(tmp_path, old_run, existing):
    out = tmp_path / "runs" / "shared"
    force = []
    if existing:
        out.parent.mkdir()
        shutil.copytree(old_run, out, symlinks=True)
        force = ["--force"]
    first = start_train(tmp_path, "--out", str(out), *force, "--seeds", "1", *MEDIUM)
    wait_for_lock(first, out)
    second = start_train(tmp_path, "--out", str(out), *force, "--seeds", "2", *MEDIUM)
    _, err2 = second.communicate(timeout=120)
    still_training = first.poll() is None
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 2, f"exit {second.returncode}, stderr {err2!r}"
    assert still_training, "the second process was refused only after the first had finished, not at start-up"
    check_refused_as_busy(err2, out, first)
    check_complete_run(out, [1])
    assert not leftovers(tmp_path), leftovers(tmp_path)
    assert sorted(os.listdir(out.parent)) == ["shared"]


def test_two_writers_started_together_one_wins(tmp_path):
    out = tmp_path / "runs" / "shared"
    procs = [start_train(tmp_path, "--out", str(out), "--seeds", str(s), *MEDIUM) for s in (1, 2)]
    order = wait_all(procs)
    errs = [p.communicate()[1] for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], f"exit codes {codes}, stderr {errs!r}"
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert order[0] == loser, "the refused process should end first (at start-up), before the winner trains"
    check_refused_as_busy(errs[loser], out, procs[winner])
    check_complete_run(out, [winner + 1])
    assert not leftovers(tmp_path), leftovers(tmp_path)
    assert sorted(os.listdir(out.parent)) == ["shared"]


def test_default_out_is_unique_for_runs_started_in_the_same_second(tmp_path):
    procs = [start_train(tmp_path, "--seeds", str(s), *QUICK) for s in (3, 4)]
    wait_all(procs)
    errs = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert all("Traceback" not in e for e in errs), errs
    names = sorted(os.listdir(tmp_path / "runs"))
    assert len(names) == 2, names  # two folders, nothing else (no lock or temporary folder left)
    stamps = {}
    for name in names:
        m = re.fullmatch(r"(\d{8}-\d{6})-(\d+)", name)
        assert m, f"default --out {name} is not <YYYYmmdd-HHMMSS>-<pid>"
        stamps[int(m.group(2))] = m.group(1)
    assert set(stamps) == {p.pid for p in procs}, (names, [p.pid for p in procs])
    for seed, p in zip((3, 4), procs, strict=True):
        check_complete_run(tmp_path / "runs" / f"{stamps[p.pid]}-{p.pid}", [seed])
    assert not leftovers(tmp_path), leftovers(tmp_path)
