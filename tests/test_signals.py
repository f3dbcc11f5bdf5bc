"""Real SIGINT and SIGTERM sent to a real ``pgrad train`` process (issues 8 and 9).

SIGINT -> exit 130, SIGTERM -> exit 143, each with exactly one stderr line (``pgrad: interrupted``,
and how to resume) and no traceback; no ``.pgrad-tmp-*``, ``.pgrad-old-*`` or ``*.pgrad-lock``
left beside ``--out``. A signal during training lets the update finish and writes the run so far
as a complete, resumable snapshot (run_status ``interrupted``, ``checkpoint/``), replacing a run
folder the ``--force`` run was going to replace; a second signal aborts at once. At every
moment ``--out`` holds a complete folder: the old one unchanged, the interrupted snapshot, or
the finished new run.

The lock file ``.<name>.pgrad-lock`` beside ``--out`` appears once start-up is done (the
signal handlers are installed at the start of ``main()``); the tests wait for it before
signalling, so that every signal lands inside ``main``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import check_complete_run, leftovers, lock_file, start_train, strict_json, tree_hash

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and flock")

EXIT_CODE = {signal.SIGINT: 130, signal.SIGTERM: 143}
LONG = ["--max-episodes", "10000000", "--solve-threshold", "inf", "--quiet"]  # still training when signalled
SHORT = ["--max-episodes", "1000", "--solve-threshold", "inf", "--eval-episodes", "20", "--quiet"]


def wait_for_lock(proc: subprocess.Popen, out: Path, timeout: float = 30.0) -> bool:
    """Poll until the lock file beside ``out`` exists: True; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.lexists(lock_file(out)):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"no lock file {lock_file(out)} within {timeout} s; stderr: {err!r}")


def check_interrupted_stderr(err: str) -> None:
    lines = err.splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"expected exactly one stderr line, got {err!r}"
    assert lines[0].startswith("pgrad: ") and "interrupted" in lines[0], err


@pytest.fixture(scope="module")
def old_run(tmp_path_factory) -> Path:
    """A run folder written by a quick real `pgrad train` (seed 0), copied where a test needs it."""
    base = tmp_path_factory.mktemp("old-run")
    out = base / "old"
    proc = start_train(base, "--out", str(out), "--max-episodes", "100", "--eval-episodes", "2", "--quiet")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    check_complete_run(out, [0])
    return out


def place_old_run(old_run: Path, out: Path) -> dict:
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(old_run, out, symlinks=True)
    return tree_hash(out)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("existing", [True, False], ids=["over-an-old-run", "fresh-out"])
def test_a_signal_while_training_exits_cleanly(tmp_path, old_run, sig, existing):
    parent = tmp_path / "runs"
    parent.mkdir()
    out = parent / "target"
    before = place_old_run(old_run, out) if existing else None
    proc = start_train(tmp_path, "--out", str(out), *(["--force"] if existing else []), "--seeds", "1", *LONG)
    assert wait_for_lock(proc, out), f"the run ended before training: {proc.communicate()[1]!r}"
    time.sleep(0.3)
    assert proc.poll() is None, f"the run ended before the signal: {proc.communicate()[1]!r}"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_CODE[sig], f"exit {proc.returncode}, stderr {err!r}"
    check_interrupted_stderr(err)
    assert not leftovers(tmp_path), leftovers(tmp_path)
    assert sorted(os.listdir(parent)) in ([["target"]] if existing else [[], ["target"]]), os.listdir(parent)
    assert "resume with: pgrad resume" in err, err
    check_snapshot(out, [1])  # training was under way: the run so far, resumable, replaced the old one
    assert before is None or tree_hash(out) != before


def check_snapshot(out: Path, seeds: list[int]) -> None:
    """``out`` is the complete interrupted snapshot of a run of ``seeds``."""
    check_complete_run(out, seeds)
    summary = strict_json(out / "summary.json")
    assert summary["run_status"] == "interrupted", summary
    assert (out / "checkpoint" / "state.json").is_file() and (out / "checkpoint" / "state.npz").is_file()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_aborts_at_once(tmp_path, old_run, sig):
    out = tmp_path / "runs" / "target"
    before = place_old_run(old_run, out)
    proc = start_train(tmp_path, "--out", str(out), "--force", "--seeds", "1", *LONG)
    assert wait_for_lock(proc, out)
    time.sleep(0.3)
    proc.send_signal(sig)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_CODE[sig], f"exit {proc.returncode}, stderr {err!r}"
    check_interrupted_stderr(err)
    assert not leftovers(tmp_path), leftovers(tmp_path)
    if tree_hash(out) != before:  # the second signal can only land after the snapshot's rename
        check_snapshot(out, [1])


def check_signal_at(tmp_path: Path, old_run: Path, delay: float, sig: signal.Signals, i: int) -> str:
    """One short --force run over an old run folder, signalled `delay` s after start-up; the
    invariant either way. Returns which outcome it was."""
    parent = tmp_path / f"case{i}"
    out = parent / "target"
    before = place_old_run(old_run, out)
    proc = start_train(tmp_path, "--out", str(out), "--force", "--seeds", "1", *SHORT)
    if wait_for_lock(proc, out):
        time.sleep(delay)
        proc.send_signal(sig)  # a no-op when the run has already ended
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert not leftovers(parent), f"delay {delay}: left {leftovers(parent)}"
    assert sorted(os.listdir(parent)) == ["target"], f"delay {delay}: {os.listdir(parent)}"
    if proc.returncode == 0:
        assert "pgrad: error" not in err and "interrupted" not in err, err
        check_complete_run(out, [1])  # the new run folder, complete
        return "finished"
    assert proc.returncode == EXIT_CODE[sig], f"delay {delay}: exit {proc.returncode}, stderr {err!r}"
    check_interrupted_stderr(err)
    if tree_hash(out) != before:  # interrupted while training: the resumable snapshot replaced it
        check_snapshot(out, [1])
    return "interrupted"


def test_sigterm_at_several_moments_leaves_old_or_new(tmp_path, old_run):
    outcomes = [check_signal_at(tmp_path, old_run, delay, signal.SIGTERM, i)
                for i, delay in enumerate([0.05, 0.4, 0.8, 1.5])]
    assert set(outcomes) <= {"finished", "interrupted"}


@pytest.mark.slow
def test_sigterm_and_sigint_at_many_moments_leave_old_or_new(tmp_path, old_run):
    delays = [0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5, 2.0]
    outcomes = [check_signal_at(tmp_path, old_run, delay, (signal.SIGTERM, signal.SIGINT)[i % 2], i)
                for i, delay in enumerate(delays)]
    assert set(outcomes) <= {"finished", "interrupted"}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_after_the_finished_run_is_written_changes_nothing(tmp_path, sig, monkeypatch, capsys):
    """The run folder is complete and done: a signal while pgrad prints its summary line (a late
    Ctrl-C, or a scheduler's SIGTERM) must not report the finished run as interrupted."""
    from rich.console import Console

    from pgrad.cli import main

    printed = Console.print

    def print_then_signal(self, *args, **kwargs):
        printed(self, *args, **kwargs)
        os.kill(os.getpid(), sig)

    monkeypatch.setattr(Console, "print", print_then_signal)
    out = tmp_path / "run"
    before = signal.getsignal(sig)
    assert main(["train", "--out", str(out), "--seeds", "1", *SHORT]) == 0
    assert signal.getsignal(sig) is before  # a caller from Python gets its own handler back
    assert "interrupted" not in capsys.readouterr().err
    check_complete_run(out, [1])
    assert strict_json(out / "summary.json")["run_status"] == "done"
