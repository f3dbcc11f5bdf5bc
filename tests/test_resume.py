"""The training lifecycle: checkpoints, interrupts and ``pgrad resume``.

The contract under test:

- ``loop.run`` with callbacks: ``"checkpoint"`` calls the checkpoint function at an update
  boundary, ``"stop"`` ends the run (``run`` returns False) with a state that can be saved;
  ``checkpoint.save`` / ``checkpoint.load`` are inverses, and a run stopped, saved, loaded and
  run to the end gives, bit for bit, what the uninterrupted run gives (wall-clock times aside).
- ``pgrad train``: SIGINT / SIGTERM finish the update, write an ``interrupted`` snapshot with a
  ``checkpoint/`` and exit 130 / 143 with one stderr line ``pgrad: interrupted; resume with:
  pgrad resume DIR``; ``--checkpoint-every S`` writes ``running`` snapshots, so that even a
  SIGKILL leaves a resumable folder. ``pgrad resume DIR`` then finishes the run, and the folder
  equals an uninterrupted run's, except the wall-clock fields (metrics.csv ``wall_seconds``,
  updates.csv ``wall``, summary.json ``wall_seconds``): :func:`same_run`.
- ``pgrad resume`` refuses (exit 2, one line ``pgrad: error: ...``, nothing touched) damaged
  checkpoints, other formats and versions, and A2C/PPO runs on Gymnasium environments that are
  not pgrad's own.

The subprocess tests send real signals at a few delays after start-up (the lock file beside
``--out`` appears once training begins); a run that finishes before its signal lands is still
checked against the uninterrupted run, and each test retries with a larger budget until the
interrupt path was taken at least once. The long matrix is marked ``slow``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from helpers import lock_file, start_pgrad, tree_hash
from pgrad import cli
from pgrad.algorithms import a2c, ppo, reinforce
from pgrad.algorithms.ac_agent import torch_installed
from pgrad.folders import FolderLock
from pgrad.runs import write_run
from pgrad.training import checkpoint, loop

INF = float("inf")
WALL_COLUMNS = {"metrics.csv": "wall_seconds", "updates.csv": "wall"}
"""The wall-clock column of each CSV file of a run folder (summary.json: its key wall_seconds)."""
RUN_PARTS = ("theta.npy", "summary.json", "metrics.csv", "config.json", ".pgrad", "learning_curve.png")
EXIT_CODE = {signal.SIGINT: 130, signal.SIGTERM: 143}
ALGORITHMS = {"reinforce": reinforce.ALGORITHM, "a2c": a2c.ALGORITHM, "ppo": ppo.ALGORITHM}
needs_torch = pytest.mark.skipif(not torch_installed(), reason="MLP policies need torch (pgrad[torch])")
posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and flock")


# ---------------------------------------------------------------------------------------------
# Comparing run folders
# ---------------------------------------------------------------------------------------------

def listing(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, relative, sorted (hidden ones included)."""
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*"))


def csv_without(path: Path, column: str) -> list[list[str]]:
    """A CSV file's lines (header first) as parsed fields, ``column`` left out of every line."""
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    assert lines and column in lines[0], f"{path}: no {column} column in {lines[:1]}"
    j = lines[0].index(column)
    return [line[:j] + line[j + 1:] for line in lines]


def summary_without_wall(path: Path) -> list[tuple]:
    """summary.json's items in order, wall_seconds (a number) left out."""
    summary = json.loads(Path(path).read_text())
    wall = summary.pop("wall_seconds")
    assert isinstance(wall, int | float) and not isinstance(wall, bool) and wall >= 0, f"{path}: {wall!r}"
    return list(summary.items())


def same_run(a: Path, b: Path) -> None:
    """Assert that run folders ``a`` and ``b`` are equal except for their wall-clock fields: the
    same files; metrics.csv and updates.csv equal line for line but for their wall column;
    summary.json equal key for key (in order) but for wall_seconds; every other file byte for
    byte (theta.npy, value.npy, config.json, .pgrad, learning_curve.png, a checkpoint's files)."""
    a, b = Path(a), Path(b)
    names = listing(a)
    assert names == listing(b), f"{a} and {b} hold different files: {names} vs {listing(b)}"
    for part in RUN_PARTS:
        assert part in names, f"{a} lacks {part}"
    for name in names:
        pa, pb = a / name, b / name
        if pa.is_dir() or pb.is_dir():
            assert pa.is_dir() and pb.is_dir(), f"{name}: a folder in one run only"
        elif name in WALL_COLUMNS:
            la, lb = csv_without(pa, WALL_COLUMNS[name]), csv_without(pb, WALL_COLUMNS[name])
            assert la[0] == lb[0], f"{name}: headers differ: {la[0]} vs {lb[0]}"
            assert len(la) == len(lb), f"{name}: {len(la) - 1} vs {len(lb) - 1} rows"
            for i, (x, y) in enumerate(zip(la, lb, strict=True)):
                assert x == y, f"{name} line {i + 1} differs (wall aside): {x} vs {y}"
        elif name == "summary.json":
            sa, sb = summary_without_wall(pa), summary_without_wall(pb)
            assert [k for k, _ in sa] == [k for k, _ in sb], f"summary.json keys differ: {sa} vs {sb}"
            for (k, x), (_, y) in zip(sa, sb, strict=True):
                assert x == y, f"summary.json {k} differs: {x!r} vs {y!r}"
        else:
            assert pa.read_bytes() == pb.read_bytes(), f"{name} differs between {a} and {b}"


def as_list(value, n: int) -> list:
    """A summary.json per-seed value as a list (a single seed's is a scalar)."""
    return value if isinstance(value, list) else [value] * n


# ---------------------------------------------------------------------------------------------
# In-process: configs, reference runs, comparing results
# ---------------------------------------------------------------------------------------------

def _cases() -> dict[str, Callable[[], tuple[str, object]]]:
    small_ac = dict(num_envs=4, num_steps=8, minibatch_size=16, epochs=2, eval_episodes=5)
    small_reinforce = dict(episodes_per_update=8, max_episodes=80, lr=0.3, solve_threshold=INF,
                           eval_episodes=5)
    return {
        "reinforce": lambda: ("reinforce", reinforce.ReinforceConfig(**small_reinforce)),
        "reinforce-value": lambda: ("reinforce", reinforce.ReinforceConfig(baseline="value",
                                                                           **small_reinforce)),
        # seeds solve at different updates: finished seeds sit out the later ones
        "reinforce-solves": lambda: ("reinforce", reinforce.ReinforceConfig(
            episodes_per_update=8, max_episodes=160, solve_threshold=100, solve_window=8, eval_episodes=5)),
        "reinforce-float32": lambda: ("reinforce", reinforce.ReinforceConfig(float32=True,
                                                                             **small_reinforce)),
        "a2c-pendulum": lambda: ("a2c", a2c.A2CConfig(
            env_id="Pendulum-v1", num_envs=2, num_steps=20, max_steps=600, eval_episodes=5)),
        "a2c-pendulum-float32": lambda: ("a2c", a2c.A2CConfig(
            env_id="Pendulum-v1", num_envs=2, num_steps=20, max_steps=600, float32=True, eval_episodes=5)),
        "ppo-linear": lambda: ("ppo", ppo.PPOConfig(max_steps=384, solve_threshold=INF, **small_ac)),
        "ppo-linear-solves": lambda: ("ppo", ppo.PPOConfig(max_steps=640, solve_threshold=22, solve_window=5,
                                                           **small_ac)),
        "ppo-mlp": lambda: ("ppo", ppo.PPOConfig(policy="mlp", hidden=8, max_steps=384, solve_threshold=INF,
                                                 **small_ac)),
    }


CASES = _cases()
SEEDS = {"1seed": (0,), "3seeds": (0, 1, 2)}


def make_case(case: str):
    if "mlp" in case and not torch_installed():
        pytest.skip("MLP policies need torch (pgrad[torch])")
    algo, config = CASES[case]()
    return algo, ALGORITHMS[algo], config


def finish(algorithm: loop.Algorithm, state: loop.TrainState, callbacks=(), checkpoint_fn=None) -> bool:
    """loop.run, then release the environments."""
    try:
        with np.errstate(all="ignore"):
            return loop.run(algorithm, state, callbacks, checkpoint_fn)
    finally:
        algorithm.close(state.algo_state)


_REFERENCES: dict[tuple, loop.TrainResult] = {}


def reference(case: str, seeds: tuple[int, ...]) -> loop.TrainResult:
    """The uninterrupted run of a case (computed once per session)."""
    if (case, seeds) not in _REFERENCES:
        algo, algorithm, config = make_case(case)
        state = loop.start(algo, algorithm, config, seeds)
        assert finish(algorithm, state) is True
        _REFERENCES[case, seeds] = loop.result(algorithm, state)
    return _REFERENCES[case, seeds]


def stop_at(k: int) -> loop.Callback:
    """A callback that asks the loop to stop once ``k`` updates are done."""
    return lambda metrics, state: loop.STOP if state.update == k else None


def same_bits(x, y, what: str) -> None:
    x, y = np.asarray(x), np.asarray(y)
    assert (x.dtype, x.shape) == (y.dtype, y.shape), f"{what}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
    assert x.tobytes() == y.tobytes(), f"{what} differs:\n{x}\nvs\n{y}"


def same_value(x, y, what: str) -> None:
    """One metric of the update table: the same number, bit for bit, written the same in a CSV."""
    assert str(x) == str(y), f"{what}: {x!r} vs {y!r} (updates.csv would differ)"
    if isinstance(x, int | float | np.number) and not isinstance(x, bool):
        assert np.float64(x).tobytes() == np.float64(y).tobytes(), f"{what}: {x!r} vs {y!r}"


def same_result(r: loop.TrainResult, ref: loop.TrainResult) -> None:
    """Two results equal bit for bit, wall-clock times aside."""
    assert r.seeds == ref.seeds
    same_bits(r.theta, ref.theta, "theta")
    assert (r.value_params is None) == (ref.value_params is None), "value_params"
    if ref.value_params is not None:
        same_bits(r.value_params, ref.value_params, "value_params")
    for name in ("solved", "solved_at_episode", "solved_at_step", "steps", "diverged"):
        same_bits(getattr(r, name), getattr(ref, name), name)
    assert r.status == ref.status
    assert len(r.episodes) == len(ref.episodes)
    for s, (t, u) in enumerate(zip(r.episodes, ref.episodes, strict=True)):
        for column in ("return", "length", "update"):
            same_bits(t[column], u[column], f"seed {r.seeds[s]} episodes {column}")
        assert len(t["wall"]) == len(u["wall"])
    assert len(r.updates) == len(ref.updates), f"{len(r.updates)} vs {len(ref.updates)} updates"
    for i, (x, y) in enumerate(zip(r.updates, ref.updates, strict=True)):
        x = {k: v for k, v in x.items() if k != "wall"}
        y = {k: v for k, v in y.items() if k != "wall"}
        assert list(x) == list(y), f"update {i}: columns {list(x)} vs {list(y)}"
        for key in x:
            same_value(x[key], y[key], f"update {i} {key}")


def stopped_state(case: str, seeds: tuple[int, ...], k: int):
    """A fresh run of the case stopped by a callback after ``k`` updates."""
    algo, algorithm, config = make_case(case)
    state = loop.start(algo, algorithm, config, seeds)
    with np.errstate(all="ignore"):
        assert loop.run(algorithm, state, [stop_at(k)]) is False
    assert state.update == k and len(state.log.updates) == k
    return algorithm, state


# ---------------------------------------------------------------------------------------------
# same_run itself
# ---------------------------------------------------------------------------------------------

def _rewrite_csv(path: Path, edit: Callable[[list[str], list[list[str]]], None]) -> None:
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    header, rows = lines[0], lines[1:]
    edit(header, rows)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])


def _set_column(column: str, value: str, row: int = 0):
    def edit(header, rows):
        rows[row][header.index(column)] = value
    return edit


def _edit_summary(key: str, value) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        summary = json.loads((folder / "summary.json").read_text())
        summary[key] = value
        (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return edit


def _flip_last_byte(name: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = bytearray((folder / name).read_bytes())
        data[-1] ^= 1
        (folder / name).write_bytes(bytes(data))
    return edit


SAME_RUN_EDITS = {  # edit of a copy -> does same_run still hold?
    "metrics wall_seconds": (lambda d: _rewrite_csv(d / "metrics.csv", _set_column("wall_seconds", "99.5")),
                             True),
    "updates wall": (lambda d: _rewrite_csv(d / "updates.csv", _set_column("wall", "12.25", 2)), True),
    "summary wall_seconds": (_edit_summary("wall_seconds", 1234.5), True),
    "metrics return": (lambda d: _rewrite_csv(d / "metrics.csv", _set_column("return", "-1.0", 3)), False),
    "metrics row dropped": (lambda d: _rewrite_csv(d / "metrics.csv", lambda h, rows: rows.pop()), False),
    "updates steps": (lambda d: _rewrite_csv(d / "updates.csv", _set_column("steps", "1")), False),
    "summary episodes": (_edit_summary("episodes", [-1, -1, -1]), False),
    "summary key added": (_edit_summary("extra", 1), False),
    "theta.npy": (_flip_last_byte("theta.npy"), False),
    "value.npy": (_flip_last_byte("value.npy"), False),
    "learning_curve.png": (_flip_last_byte("learning_curve.png"), False),
    "config.json": (lambda d: (d / "config.json").write_text((d / "config.json").read_text() + " "), False),
    "extra file": (lambda d: (d / "notes.txt").write_text("x"), False),
    "value.npy removed": (lambda d: (d / "value.npy").unlink(), False),
}


@pytest.fixture(scope="module")
def written_run(tmp_path_factory) -> Path:
    """A PPO run folder (3 seeds, 5 updates: value.npy and updates.csv included)."""
    algorithm, state = stopped_state("ppo-linear", (0, 1, 2), 5)
    algorithm.close(state.algo_state)
    return write_run(tmp_path_factory.mktemp("written") / "a", algo="ppo", config=state.config,
                     seeds=[0, 1, 2], result=loop.result(algorithm, state))


@pytest.mark.parametrize("edit", list(SAME_RUN_EDITS))
def test_same_run_ignores_only_the_wall_clock_fields(edit, written_run, tmp_path):
    shutil.copytree(written_run, tmp_path / "b")
    same_run(written_run, tmp_path / "b")
    change, still_same = SAME_RUN_EDITS[edit]
    change(tmp_path / "b")
    if still_same:
        same_run(written_run, tmp_path / "b")
    else:
        with pytest.raises(AssertionError):
            same_run(written_run, tmp_path / "b")


# ---------------------------------------------------------------------------------------------
# In-process round trips
# ---------------------------------------------------------------------------------------------

QUICK_CASES = ("reinforce", "reinforce-value", "reinforce-solves", "a2c-pendulum", "ppo-linear",
               "ppo-linear-solves")
"""Every stop point of these in the default run; of the others (float32, MLP: slower, or variants),
a few."""
QUICK_STOPS = ((3, "3seeds"), ("last", "1seed"))
ROUND_TRIPS = [pytest.param(case, k, seeds, id=f"{case}-{k}-{seeds}",
                            marks=() if case in QUICK_CASES or (k, seeds) in QUICK_STOPS
                            else pytest.mark.slow)
               for case in CASES for k in (1, 3, 7, "last") for seeds in SEEDS]


@pytest.mark.parametrize(("case", "k", "seeds"), ROUND_TRIPS)
def test_stop_save_load_finish_equals_uninterrupted(case, k, seeds, tmp_path):
    """Stop after k updates, checkpoint, load, run to the end: the uninterrupted result, bit for bit.
    The run that was saved, continued in memory, gives it too (saving disturbs nothing)."""
    seeds = SEEDS[seeds]
    ref = reference(case, seeds)
    total = len(ref.updates)
    assert total >= 8, f"{case}: budget too small for the stop points ({total} updates)"
    k = total if k == "last" else k
    algorithm, state = stopped_state(case, seeds, k)
    checkpoint.save(algorithm, state, tmp_path / "checkpoint")
    assert finish(algorithm, state) is True
    same_result(loop.result(algorithm, state), ref)

    loaded_algorithm, loaded = checkpoint.load(tmp_path / "checkpoint")
    assert loaded_algorithm is algorithm
    assert (loaded.algo, loaded.config, loaded.seeds, loaded.update) == (state.algo, state.config, seeds, k)
    assert loaded.done == (k == total)
    assert finish(loaded_algorithm, loaded) is True
    assert loaded.update == total
    same_result(loop.result(loaded_algorithm, loaded), ref)


@pytest.mark.parametrize("case", [c if "mlp" not in c else pytest.param(c, marks=pytest.mark.slow)
                                  for c in CASES])
def test_several_stops_and_resumes_equal_uninterrupted(case, tmp_path):
    """Stopped and resumed three times (after 2, 5 and 6 updates): still the uninterrupted result."""
    seeds = (0, 1, 2)
    ref = reference(case, seeds)
    algo, algorithm, config = make_case(case)
    state = loop.start(algo, algorithm, config, seeds)
    for i, k in enumerate((2, 5, 6)):
        assert finish(algorithm, state, [stop_at(k)]) is False
        checkpoint.save(algorithm, state, tmp_path / f"checkpoint{i}")
        algorithm, state = checkpoint.load(tmp_path / f"checkpoint{i}")
        assert state.update == k
    assert finish(algorithm, state) is True
    same_result(loop.result(algorithm, state), ref)


@pytest.mark.parametrize("case", list(CASES))
def test_save_load_save_writes_the_same_checkpoint(case, tmp_path):
    algorithm, state = stopped_state(case, (0, 1, 2), 3)
    checkpoint.save(algorithm, state, tmp_path / "first")
    algorithm.close(state.algo_state)
    loaded_algorithm, loaded = checkpoint.load(tmp_path / "first")
    checkpoint.save(loaded_algorithm, loaded, tmp_path / "second")
    loaded_algorithm.close(loaded.algo_state)
    assert sorted(os.listdir(tmp_path / "second")) == ["state.json", "state.npz"]

    with np.load(tmp_path / "first" / "state.npz") as f, np.load(tmp_path / "second" / "state.npz") as g:
        assert f.files == g.files
        for name in f.files:
            same_bits(f[name], g[name], f"state.npz {name}")
    first, second = (json.loads((tmp_path / d / "state.json").read_text(),
                                parse_constant=lambda c: pytest.fail(f"state.json holds {c}"))
                     for d in ("first", "second"))
    assert second.pop("wall_seconds") >= first.pop("wall_seconds") >= 0
    assert first == second
    assert list(first) == list(second)
    assert first["update"] == 3 and first["seeds"] == [0, 1, 2] and len(first["rngs"]) == 3


@pytest.mark.parametrize("case", ["reinforce-value", "a2c-pendulum", "ppo-linear-solves",
                                  pytest.param("ppo-mlp", marks=pytest.mark.slow)])
def test_resumed_result_writes_the_same_run_folder(case, tmp_path):
    """write_run of the resumed result and of the uninterrupted one: same_run (updates.csv included,
    so each metric is written the same after a round trip through state.npz)."""
    seeds = (0, 1, 2)
    ref = reference(case, seeds)
    algorithm, state = stopped_state(case, seeds, 4)
    checkpoint.save(algorithm, state, tmp_path / "checkpoint")
    algorithm.close(state.algo_state)
    algorithm, state = checkpoint.load(tmp_path / "checkpoint")
    finish(algorithm, state)
    for name, result in (("a", ref), ("b", loop.result(algorithm, state))):
        write_run(tmp_path / name, algo=state.algo, config=state.config, seeds=list(seeds), result=result)
    same_run(tmp_path / "a", tmp_path / "b")


# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------

def test_checkpoint_request_saves_the_state_at_an_update_boundary(tmp_path):
    """"checkpoint" calls the checkpoint function once, after the update that asked, with the
    state at that boundary (update count, log and metrics agree); the run goes on to the end,
    unchanged, and every checkpoint so written resumes to the uninterrupted result."""
    case, seeds = "ppo-linear-solves", (0, 1, 2)
    ref = reference(case, seeds)
    algo, algorithm, config = make_case(case)
    state = loop.start(algo, algorithm, config, seeds)
    seen, saved = [], []

    def ask(metrics, st):
        assert st is state
        assert metrics["update"] == st.update - 1 == st.log.updates[-1]["update"]
        seen.append(st.update)
        return loop.CHECKPOINT if st.update in (2, 5) else None

    def save(st):
        assert st is state
        assert st.update == len(st.log.updates) == seen[-1]
        folder = tmp_path / f"at{st.update}"
        checkpoint.save(algorithm, st, folder)
        saved.append(st.update)

    assert finish(algorithm, state, [ask], save) is True
    assert saved == [2, 5]
    assert seen == list(range(1, len(ref.updates) + 1))
    same_result(loop.result(algorithm, state), ref)
    for k in saved:
        resumed_algorithm, resumed = checkpoint.load(tmp_path / f"at{k}")
        assert resumed.update == k
        finish(resumed_algorithm, resumed)
        same_result(loop.result(resumed_algorithm, resumed), ref)


def test_stop_ends_run_false_and_the_state_goes_on_in_memory():
    case, seeds = "reinforce-solves", (0, 1, 2)
    ref = reference(case, seeds)
    algo, algorithm, config = make_case(case)
    state = loop.start(algo, algorithm, config, seeds)
    calls = []
    both = [lambda m, st: calls.append(("first", st.update)),
            lambda m, st: loop.STOP if st.update == 4 else calls.append(("second", st.update))]
    with np.errstate(all="ignore"):
        assert loop.run(algorithm, state, both) is False
    assert state.update == 4 and not state.done
    assert calls == [(name, u) for u in (1, 2, 3) for name in ("first", "second")] + [("first", 4)]
    assert loop.result(algorithm, state).status.count("running") >= 1
    assert finish(algorithm, state) is True
    same_result(loop.result(algorithm, state), ref)


def test_checkpoint_and_stop_in_one_update_checkpoints_then_stops(tmp_path):
    algo, algorithm, config = make_case("ppo-linear")
    state = loop.start(algo, algorithm, config, (0, 1))
    saved = []
    callbacks = [lambda m, st: loop.CHECKPOINT if st.update == 3 else None, stop_at(3)]
    assert finish(algorithm, state, callbacks, lambda st: saved.append(st.update)) is False
    assert saved == [3] and state.update == 3


def test_checkpoint_request_without_a_checkpoint_function_is_ignored():
    case, seeds = "ppo-linear", (0, 1)
    algo, algorithm, config = make_case(case)
    state = loop.start(algo, algorithm, config, seeds)
    assert finish(algorithm, state, [lambda m, st: loop.CHECKPOINT]) is True
    same_result(loop.result(algorithm, state), reference(case, seeds))


# ---------------------------------------------------------------------------------------------
# pgrad train / resume in-process, with signals raised at a chosen update
# ---------------------------------------------------------------------------------------------

CLI_FLAGS = {
    "reinforce": ["--algo", "reinforce", "--seeds", "0-2", "--episodes-per-update", "8",
                  "--max-episodes", "80", "--solve-threshold", "inf", "--eval-episodes", "5"],
    "ppo-pendulum": ["--algo", "ppo", "--env-id", "Pendulum-v1", "--seeds", "0-2", "--num-envs", "4",
                     "--num-steps", "8", "--minibatch-size", "16", "--epochs", "2", "--max-steps", "640",
                     "--eval-episodes", "5"],
    "ppo-mlp": ["--algo", "ppo", "--policy", "mlp", "--hidden", "8", "--seeds", "0-1", "--num-envs", "4",
                "--num-steps", "8", "--minibatch-size", "16", "--epochs", "2", "--max-steps", "640",
                "--solve-threshold", "inf", "--eval-episodes", "5"],
}


def signal_during_training(monkeypatch, at: int, *signums: int) -> None:
    """Make the training loop raise ``signums`` in this process in the callback of update ``at``
    (after the CLI's own callbacks ran: the run stops after the next update)."""
    run = loop.run

    def raising(algorithm, state, callbacks=(), checkpoint_fn=None):
        def raise_them(metrics, st):
            if st.update == at:
                for signum in signums:
                    signal.raise_signal(signum)
        return run(algorithm, state, [*callbacks, raise_them], checkpoint_fn)

    monkeypatch.setattr(loop, "run", raising)


def main(argv: Sequence[str], capsys) -> tuple[int, list[str]]:
    """pgrad's main in this process: (exit code, stderr lines)."""
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err.splitlines()


def leftovers(parent: Path) -> list[str]:
    return sorted(n for n in os.listdir(parent) if n.startswith(".") and "pgrad" in n)


@pytest.fixture(scope="module")
def cli_uninterrupted(tmp_path_factory) -> Callable[[str], Path]:
    """The folder of an uninterrupted in-process `pgrad train` with CLI_FLAGS[name] (one per name)."""
    root = tmp_path_factory.mktemp("cli_uninterrupted")

    def get(name: str) -> Path:
        if not (root / name).exists():
            assert cli.main(["train", *CLI_FLAGS[name], "--quiet", "--out", str(root / name)]) == 0
        return root / name

    return get


QUICK_INTERRUPTS = {("reinforce", signal.SIGINT, 1), ("reinforce", signal.SIGTERM, 9),
                    ("ppo-pendulum", signal.SIGINT, 4), ("ppo-pendulum", signal.SIGTERM, 18)}
INTERRUPTS = [pytest.param(flags, signum, at, id=f"{flags}-{signal.Signals(signum).name}-{at}",
                           marks=() if (flags, signum, at) in QUICK_INTERRUPTS else pytest.mark.slow)
              for flags in CLI_FLAGS for signum in (signal.SIGINT, signal.SIGTERM) for at in (1, 4, 9, 18)]


@pytest.mark.parametrize(("flags", "signum", "at"), INTERRUPTS)
def test_cli_interrupt_at_an_update_then_resume(flags, signum, at, tmp_path, monkeypatch, capsys,
                                                cli_uninterrupted):
    """SIGINT / SIGTERM raised in the callback of update ``at``: the update after it is finished,
    the interrupted snapshot written (exit 130 / 143, one line), and resume gives the folder of
    the uninterrupted run. (reinforce has 10 updates: at 9 the run stops on its last update, at
    18 the signal never comes and the run just finishes.)"""
    if flags == "ppo-mlp" and not torch_installed():
        pytest.skip("MLP policies need torch")
    a = cli_uninterrupted(flags)
    total = len(csv_without(a / "updates.csv", "wall")) - 1
    monkeypatch.chdir(tmp_path)
    signal_during_training(monkeypatch, at, signum)
    code, err = main(["train", *CLI_FLAGS[flags], "--quiet", "--out", "b"], capsys)
    if at >= total:
        assert (code, err) == (0, [])
    else:
        assert code == EXIT_CODE[signum]
        assert err == ["pgrad: interrupted; resume with: pgrad resume b"]
        check_snapshot(a, tmp_path / "b", "interrupted", "interrupted")
        assert checkpoint_update(tmp_path / "b") == at + 1  # the update the signal landed in finished
        assert leftovers(tmp_path) == []
        monkeypatch.undo()
        monkeypatch.chdir(tmp_path)
        assert main(["resume", "b", "--quiet"], capsys) == (0, [])
    check_done(a, tmp_path / "b")
    assert leftovers(tmp_path) == []


def test_cli_snapshots_after_every_update_change_nothing(tmp_path, monkeypatch, capsys, cli_uninterrupted):
    """--checkpoint-every tiny: a running snapshot after every update, and the same final folder."""
    monkeypatch.chdir(tmp_path)
    argv = [*CLI_FLAGS["reinforce"], "--quiet"]
    snapshots = []
    save = checkpoint.save

    def counting(algorithm, state, folder):
        snapshots.append(state.update)
        summary = json.loads((Path(folder).parent / "summary.json").read_text())
        assert summary["run_status"] == "running" and set(summary["status"]) <= {"running", "budget"}
        save(algorithm, state, folder)

    monkeypatch.setattr(checkpoint, "save", counting)
    assert main(["train", *argv, "--out", "b", "--checkpoint-every", "1e-9"], capsys) == (0, [])
    assert snapshots == list(range(1, len(snapshots) + 1)) and len(snapshots) >= 10
    check_done(cli_uninterrupted("reinforce"), tmp_path / "b")


def test_cli_second_signal_aborts_at_once(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    signal_during_training(monkeypatch, 2, signal.SIGINT, signal.SIGINT)
    code, err = main(["train", *CLI_FLAGS["reinforce"], "--quiet", "--out", "b"], capsys)
    assert (code, err) == (130, ["pgrad: interrupted"])
    assert os.listdir(tmp_path) == []  # nothing written, no temporary folder, no lock file


def test_snapshot_written_in_process_resumes_to_the_cli_run(tmp_path, monkeypatch, capsys, cli_uninterrupted):
    """An interrupted folder made with write_run(..., checkpoint=checkpoint.save) resumes through the
    CLI to the folder `pgrad train` writes with the same flags."""
    monkeypatch.chdir(tmp_path)
    config = ppo.PPOConfig(env_id="Pendulum-v1", num_envs=4, num_steps=8, minibatch_size=16, epochs=2,
                           max_steps=640, eval_episodes=5)
    interrupted_folder(tmp_path / "b", "ppo", config, (0, 1, 2), 6)
    assert main(["resume", "b", "--quiet"], capsys) == (0, [])
    check_done(cli_uninterrupted("ppo-pendulum"), tmp_path / "b")


# ---------------------------------------------------------------------------------------------
# Damaged checkpoints: refused with one line, nothing touched
# ---------------------------------------------------------------------------------------------

def interrupted_folder(out: Path, algo: str, config, seeds: Sequence[int], k: int) -> Path:
    """The run folder of a run stopped after ``k`` updates, as SIGINT writes it."""
    algorithm = ALGORITHMS[algo]
    state = loop.start(algo, algorithm, config, seeds)
    try:
        with np.errstate(all="ignore"):
            assert loop.run(algorithm, state, [stop_at(k)]) is False
        write_run(out, algo=algo, config=config, seeds=list(seeds),
                  result=loop.result(algorithm, state, "interrupted"), force=True, run_status="interrupted",
                  checkpoint=lambda folder: checkpoint.save(algorithm, state, folder))
    finally:
        algorithm.close(state.algo_state)
    return out


def _json(edit: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / "checkpoint" / "state.json"
        meta = json.loads(path.read_text())
        replaced = edit(meta)
        path.write_text(json.dumps(meta if replaced is None else replaced))
    return damage


def _text(text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / "checkpoint" / "state.json").write_text(text)


def _npz(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / "checkpoint" / "state.npz"
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        edit(arrays)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    return damage


def _set(name: str, make: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict], None]:
    def edit(arrays: dict) -> None:
        arrays[name] = make(arrays[name])
    return edit


def _truncate(folder: Path) -> None:
    path = folder / "checkpoint" / "state.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _rng(edit: Callable[[dict], object]) -> Callable[[dict], object]:
    def change(meta: dict) -> None:
        replaced = edit(meta["rngs"][1])
        if replaced is not None:
            meta["rngs"][1] = replaced
    return change


def _drop(key: str) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        del d[key]
    return edit


def _other_shape(x: np.ndarray) -> np.ndarray:
    return np.zeros((x.shape[0], x.shape[1] + 1), x.dtype)


CHECKPOINT_DAMAGE: dict[str, Callable[[Path], None]] = {
    "state.json not JSON": _text('{"format": 1,'),
    "state.json NaN": _text('{"format": NaN}'),
    "state.json a list": _text("[]"),
    "state.json empty": _text(""),
    "state.json missing": lambda d: (d / "checkpoint" / "state.json").unlink(),
    "format 2": _json(lambda m: m.update(format=2)),
    "format missing": _json(_drop("format")),
    "another pgrad_version": _json(lambda m: m.update(pgrad_version="0.0.0+elsewhere")),
    **{f"state.json lacks {key}": _json(_drop(key))
       for key in ("algo", "config", "seeds", "update", "wall_seconds", "rngs")},
    "unknown algo": _json(lambda m: m.update(algo="sarsa")),
    "config unknown field": _json(lambda m: m["config"].update(learning_speed=3)),
    "config bad value": _json(lambda m: m["config"].update(gamma=7.0)),
    "config not an object": _json(lambda m: m.update(config=[1, 2])),
    "seeds repeat": _json(lambda m: m.update(seeds=[0, 0, 1])),
    "seeds fewer than generators": _json(lambda m: m.update(seeds=[0, 1])),
    "update negative": _json(lambda m: m.update(update=-1)),
    "update a string": _json(lambda m: m.update(update="3")),
    "wall_seconds a string": _json(lambda m: m.update(wall_seconds="1.5")),
    "generator MT19937": _json(_rng(lambda g: g.update(bit_generator="MT19937"))),
    "generator state a string": _json(_rng(lambda g: g["state"].update(state="many"))),
    "generator state negative": _json(_rng(lambda g: g["state"].update(state=-5))),
    "generator lacks state": _json(_rng(_drop("state"))),
    "generator not an object": _json(_rng(lambda g: 7)),
    "generators fewer than seeds": _json(lambda m: m.update(rngs=m["rngs"][:2])),
    "rngs not a list": _json(lambda m: m.update(rngs={"0": m["rngs"][0]})),
    "state.npz truncated": _truncate,
    "state.npz missing": lambda d: (d / "checkpoint" / "state.npz").unlink(),
    "state.npz empty": lambda d: (d / "checkpoint" / "state.npz").write_bytes(b""),
    "state.npz not a zip": lambda d: (d / "checkpoint" / "state.npz").write_bytes(b"PK\x03\x04" + bytes(100)),
    "state.npz pickled array": _npz(_set("log/steps", lambda x: np.array([None, 1, 2], dtype=object))),
    "log array missing": _npz(lambda a: a.pop("log/steps")),
    "log array longer": _npz(_set("log/steps", lambda x: np.concatenate([x, x[:1]]))),
    "log array one seed only": _npz(_set("log/steps", lambda x: x[:1])),
    "log array a scalar": _npz(_set("log/active", lambda x: x[0])),
    "episode counts one seed short": _npz(_set("log/episode_counts", lambda x: x[:-1])),
    "episode returns truncated": _npz(_set("log/episodes_return", lambda x: x[:-5])),
    "update table column short": _npz(_set("log/updates/update", lambda x: x[:1])),
    "update table keys missing": _npz(lambda a: a.pop("log/update_keys")),
    "theta missing": _npz(lambda a: a.pop("algo/theta")),
    "theta wrong shape": _npz(_set("algo/theta", _other_shape)),
    "theta one seed only": _npz(_set("algo/theta", lambda x: x[:1])),
    "theta strings": _npz(_set("algo/theta", lambda x: np.full(x.shape, "a"))),
    "optimizer state one seed only": _npz(_set("algo/opt2", lambda x: x[:1])),
}
PPO_DAMAGE: dict[str, Callable[[Path], None]] = {
    "params missing": _npz(lambda a: a.pop("algo/params")),
    "params wrong shape": _npz(_set("algo/params", _other_shape)),
    "params one seed only": _npz(_set("algo/params", lambda x: x[:1])),
    "env_state missing": _npz(lambda a: a.pop("algo/env_state")),
    "env_state one env more": _npz(_set("algo/env_state", lambda x: np.concatenate([x, x[:1]]))),
    "env_state one env only": _npz(_set("algo/env_state", lambda x: x[:1])),
    "ep_length one seed only": _npz(_set("algo/ep_length", lambda x: x[:1])),
    "value weights wrong shape": _npz(_set("algo/w", _other_shape)),
}
FOLDER_DAMAGE: dict[str, Callable[[Path], None]] = {
    "checkpoint removed": lambda d: shutil.rmtree(d / "checkpoint"),
    "checkpoint a file": lambda d: (shutil.rmtree(d / "checkpoint"), (d / "checkpoint").write_text("x")),
    "marker removed": lambda d: (d / ".pgrad").unlink(),
}
DAMAGE = {**{("reinforce", k): v for k, v in {**CHECKPOINT_DAMAGE, **FOLDER_DAMAGE}.items()},
          **{("ppo", k): v for k, v in PPO_DAMAGE.items()},
          **{("ppo", k): CHECKPOINT_DAMAGE[k] for k in ("state.npz truncated", "generator state negative",
                                                        "config bad value", "log array one seed only")}}
DAMAGE_CONFIGS = {
    "reinforce": reinforce.ReinforceConfig(episodes_per_update=8, max_episodes=80, solve_threshold=INF,
                                           eval_episodes=5),
    "ppo": ppo.PPOConfig(num_envs=4, num_steps=8, minibatch_size=16, epochs=2, max_steps=384,
                         solve_threshold=INF, eval_episodes=5),
}


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> dict[str, Path]:
    """One interrupted run folder per algorithm (3 seeds, stopped after 3 updates), to copy."""
    root = tmp_path_factory.mktemp("snapshots")
    return {algo: interrupted_folder(root / algo, algo, config, (0, 1, 2), 3)
            for algo, config in DAMAGE_CONFIGS.items()}


def damaged(snapshots: dict[str, Path], algo: str, damage: str, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(snapshots[algo], folder)
    DAMAGE[algo, damage](folder)
    return folder


@pytest.mark.parametrize(("algo", "damage"), [k for k in DAMAGE if k[1] not in FOLDER_DAMAGE],
                         ids=[f"{a}: {d}" for a, d in DAMAGE if d not in FOLDER_DAMAGE])
def test_checkpoint_load_refuses_a_damaged_checkpoint(algo, damage, snapshots, tmp_path):
    folder = damaged(snapshots, algo, damage, tmp_path)
    with pytest.raises(ValueError) as e:
        checkpoint.load(folder / "checkpoint")
    message = str(e.value)
    assert str(folder / "checkpoint") in message and "\n" not in message, message


@pytest.mark.parametrize(("algo", "damage"), list(DAMAGE), ids=[f"{a}: {d}" for a, d in DAMAGE])
def test_resume_refuses_a_damaged_checkpoint_and_touches_nothing(algo, damage, snapshots, tmp_path, capsys):
    folder = damaged(snapshots, algo, damage, tmp_path)
    before = tree_hash(tmp_path)
    code, err = main(["resume", folder, "--quiet"], capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("pgrad: error: "), err
    assert "checkpoint" in err[0], f"the message does not say the checkpoint is the problem: {err[0]}"
    assert tree_hash(tmp_path) == before


def test_the_undamaged_snapshot_resumes(snapshots, tmp_path, capsys):
    """The control of the damage tests: the folder they damage resumes and finishes."""
    shutil.copytree(snapshots["reinforce"], tmp_path / "run")
    assert main(["resume", tmp_path / "run", "--quiet"], capsys) == (0, [])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["run_status"] == "done" and summary["status"] == ["budget"] * 3
    assert not (tmp_path / "run" / "checkpoint").exists()


@pytest.mark.parametrize("what", ["finished run", "no folder", "being written", "bad --checkpoint-every"])
def test_resume_refuses_what_it_cannot_resume(what, snapshots, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "run"
    argv = ["resume", folder, "--quiet"]
    if what == "finished run":
        shutil.copytree(snapshots["reinforce"], folder)
        assert main(argv, capsys)[0] == 0
    elif what == "bad --checkpoint-every":
        shutil.copytree(snapshots["reinforce"], folder)
        argv += ["--checkpoint-every", "-1"]
    elif what == "being written":
        shutil.copytree(snapshots["reinforce"], folder)
    before = tree_hash(tmp_path)
    if what == "being written":
        with FolderLock(folder):
            before = tree_hash(tmp_path)
            code, err = main(argv, capsys)
            assert tree_hash(tmp_path) == before
    else:
        code, err = main(argv, capsys)
        assert tree_hash(tmp_path) == before
    assert code == 2 and len(err) == 1 and err[0].startswith("pgrad: error: "), (code, err)


# ---------------------------------------------------------------------------------------------
# Gymnasium environments that are not pgrad's own: a checkpoint, but no resume
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("env_id", ["CartPole-v1", "pgrad/Acrobot-v1", "Pendulum-v1", "MountainCar-v0"])
def test_pgrad_own_environments_are_restorable(env_id):
    for algo in ("a2c", "ppo"):
        config = CASES["a2c-pendulum" if algo == "a2c" else "ppo-linear"]()[1]
        cls = type(config)
        assert ALGORITHMS[algo].restorable(cls(env_id=env_id)) is None


@pytest.mark.parametrize("algo", ["a2c", "ppo"])
def test_resume_refuses_a_gymnasium_env_that_is_not_pgrads(algo, tmp_path, capsys):
    cls = a2c.A2CConfig if algo == "a2c" else ppo.PPOConfig
    extra = {"minibatch_size": 16} if algo == "ppo" else {}
    config = cls(env_id="CliffWalking-v1", time_limit=50, num_envs=2, num_steps=8, max_steps=100_000,
                 eval_episodes=5, **extra)
    assert ALGORITHMS[algo].restorable(config) is not None
    folder = interrupted_folder(tmp_path / "run", algo, config, (0, 1), 2)
    assert (folder / "checkpoint" / "state.npz").is_file()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["run_status"] == "interrupted" and summary["status"] == ["interrupted"] * 2
    before = tree_hash(tmp_path)
    code, err = main(["resume", folder, "--quiet"], capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith("pgrad: error: "), err
    assert "cannot resume" in err[0] and "CliffWalking-v1" in err[0], err[0]
    assert tree_hash(tmp_path) == before
    with pytest.raises(ValueError, match="cannot resume"):
        checkpoint.load(folder / "checkpoint")


def test_cli_interrupted_gymnasium_run_is_refused_on_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    signal_during_training(monkeypatch, 2, signal.SIGINT)
    code, err = main(["train", "--algo", "ppo", "--env-id", "CliffWalking-v1", "--time-limit", "50",
                      "--num-envs", "2", "--num-steps", "8", "--minibatch-size", "16",
                      "--max-steps", "100000", "--eval-episodes", "5", "--quiet", "--out", "run"], capsys)
    assert code == 130 and len(err) == 1 and err[0].startswith("pgrad: interrupted"), err
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["run_status"] == "interrupted"
    monkeypatch.undo()
    before = tree_hash(tmp_path)
    code, err = main(["resume", tmp_path / "run", "--quiet"], capsys)
    assert code == 2 and len(err) == 1 and "cannot resume" in err[0], err
    assert tree_hash(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# Real processes, real signals
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Family:
    """`pgrad train` flags of one algorithm family; the budget flag's value is scaled on retries."""

    flags: tuple[str, ...]
    budget_flag: str
    budget: int
    needs_torch: bool = False

    def argv(self, scale: int) -> list[str]:
        return [*self.flags, self.budget_flag, str(self.budget * scale), "--quiet"]


FAMILIES = {  # each trains for about 2-4 s on an idle core
    "reinforce": Family(("--algo", "reinforce", "--seeds", "0-3", "--solve-threshold", "inf",
                         "--eval-episodes", "20"), "--max-episodes", 4000),
    "ppo-linear": Family(("--algo", "ppo", "--env-id", "Pendulum-v1", "--seeds", "0-1",
                          "--eval-episodes", "10"), "--max-steps", 200_000),
    "ppo-mlp": Family(("--algo", "ppo", "--policy", "mlp", "--hidden", "16", "--seeds", "0-1",
                       "--solve-threshold", "inf", "--eval-episodes", "10"), "--max-steps", 30_000, True),
}
SCALES = (1, 2, 4)
"""Budgets tried in turn until a signal lands while the run trains."""


def _env() -> dict[str, str]:
    return {**os.environ, "MPLBACKEND": "Agg"}


def pgrad(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgrad.cli", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, env=_env())


def wait(proc: subprocess.Popen, timeout: float = 300) -> str:
    """Wait for the process to end; its stderr."""
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"pgrad still running after {timeout} s; stderr: {proc.communicate()[1]!r}") \
            from None


def wait_until(proc: subprocess.Popen, condition: Callable[[], bool], timeout: float = 120) -> bool:
    """Poll ``condition`` until it holds (True) or the process ends first (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    proc.kill()
    raise AssertionError(f"condition not met within {timeout} s; stderr: {proc.communicate()[1]!r}")


def run_status(folder: Path) -> str | None:
    """summary.json's run_status, or None while there is none to read."""
    try:
        return json.loads((folder / "summary.json").read_text())["run_status"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def checkpoint_update(folder: Path) -> int:
    try:
        return json.loads((folder / "checkpoint" / "state.json").read_text())["update"]
    except (OSError, ValueError, KeyError, TypeError):
        return -1


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Callable[[list[str]], Path]:
    """The run folder of an uninterrupted `pgrad train` with the given flags (one per flags)."""
    root = tmp_path_factory.mktemp("uninterrupted")
    made: dict[tuple[str, ...], Path] = {}

    def get(argv: list[str]) -> Path:
        if tuple(argv) not in made:
            out = root / f"a{len(made)}"
            done = pgrad(root, "train", *argv, "--out", out.name)
            assert done.returncode == 0, done.stderr
            made[tuple(argv)] = out
        return made[tuple(argv)]

    return get


def family(name: str) -> Family:
    if FAMILIES[name].needs_torch and not torch_installed():
        pytest.skip("MLP policies need torch")
    return FAMILIES[name]


def check_snapshot(a: Path, b: Path, run_status_: str, seed_status: str) -> None:
    """b is a snapshot of the run a finished: its run_status, each seed's status (seed_status while
    it trains, else a's), a checkpoint of as many updates as updates.csv, and every seed's episodes
    a prefix of a's."""
    final = json.loads((a / "summary.json").read_text())
    summary = json.loads((b / "summary.json").read_text())
    assert summary["run_status"] == run_status_
    assert summary["final_eval_mean"] is None and summary["eval_episodes"] is None
    n = len(as_list(final["env_steps"], 1))
    for s, (status, steps, final_status, final_steps) in enumerate(zip(
            as_list(summary["status"], n), as_list(summary["env_steps"], n), as_list(final["status"], n),
            as_list(final["env_steps"], n), strict=True)):
        expected = seed_status if steps < final_steps else final_status
        assert status == expected, f"seed #{s}: {status} after {steps} of {final_steps} steps"
    assert (b / "checkpoint" / "state.npz").is_file() and (b / "checkpoint" / "state.json").is_file()
    updates = csv_without(b / "updates.csv", "wall")
    assert checkpoint_update(b) == len(updates) - 1
    assert updates == csv_without(a / "updates.csv", "wall")[:len(updates)]
    mine = csv_without(b / "metrics.csv", "wall_seconds")
    theirs = csv_without(a / "metrics.csv", "wall_seconds")
    assert mine[0] == theirs[0]
    for seed in {row[0] for row in theirs[1:]}:
        rows = [r for r in mine[1:] if r[0] == seed]
        assert rows == [r for r in theirs[1:] if r[0] == seed][:len(rows)], f"seed {seed}'s episodes"


def check_done(a: Path, b: Path) -> None:
    assert run_status(b) == "done"
    assert not (b / "checkpoint").exists()
    same_run(a, b)


def signal_then_resume(root: Path, name: str, signum: int, delays: Sequence[float], uninterrupted) -> int:
    """Train into a fresh folder, send ``signum`` ``delay`` s after training began, check the
    interrupted snapshot, resume it, compare with the uninterrupted run; for each delay, with
    larger budgets until a signal landed during training. Returns how many did."""
    spec = family(name)
    landed = 0
    for scale in SCALES:
        argv = spec.argv(scale)
        a = uninterrupted(argv)
        for delay in delays:
            parent = root / f"x{scale}-{delay}"
            parent.mkdir()
            out = f"{parent.name}/b"
            b = root / out
            proc = start_pgrad(root, "train", *argv, "--out", out)
            if wait_until(proc, lambda b=b: os.path.lexists(lock_file(b))):
                time.sleep(delay)
                proc.send_signal(signum)
            err = wait(proc)
            if proc.returncode == 0 or (proc.returncode == EXIT_CODE[signum] and run_status(b) == "done"):
                print(f"{name} x{scale}, signal after {delay} s: the run finished first")
                check_done(a, b)  # finished before the signal landed (or after the folder was complete)
                continue
            assert proc.returncode == EXIT_CODE[signum], err
            assert err.splitlines() == [f"pgrad: interrupted; resume with: pgrad resume {out}"], err
            check_snapshot(a, b, "interrupted", "interrupted")
            print(f"{name} x{scale}, signal after {delay} s: interrupted after update {checkpoint_update(b)} "
                  f"of {len(csv_without(a / 'updates.csv', 'wall')) - 1}")
            assert os.listdir(parent) == ["b"]  # no temporary folder, no lock file
            done = pgrad(root, "resume", out, "--quiet")
            assert (done.returncode, done.stderr) == (0, ""), done.stderr
            check_done(a, b)
            assert os.listdir(parent) == ["b"]
            landed += 1
        if landed:
            return landed
    pytest.fail(f"{name}: every run finished before its signal landed, even at {SCALES[-1]}x the budget")


def kill_then_resume(root: Path, name: str, uninterrupted, after: float = 0.0,
                     kill_resume: bool = False) -> None:
    """Train with --checkpoint-every 0.3, SIGKILL ``after`` s after the first running snapshot,
    resume (optionally SIGKILL the resume too after its first new snapshot, and resume again),
    compare with the uninterrupted run; with larger budgets until a kill landed during training."""
    spec = family(name)
    for scale in SCALES:
        argv = spec.argv(scale)
        a = uninterrupted(argv)
        parent = root / f"x{scale}"
        parent.mkdir()
        out = f"{parent.name}/b"
        b = root / out
        proc = start_pgrad(root, "train", *argv, "--out", out, "--checkpoint-every", "0.3")
        if not wait_until(proc, lambda b=b: run_status(b) == "running"):
            wait(proc)
            check_done(a, b)
            continue
        time.sleep(after)
        proc.kill()
        wait(proc)
        if proc.returncode == 0 or run_status(b) == "done":
            check_done(a, b)
            continue
        assert proc.returncode == -signal.SIGKILL
        assert run_status(b) == "running", f"no run folder at {b} after SIGKILL: {os.listdir(parent)}"
        check_snapshot(a, b, "running", "running")
        print(f"{name} x{scale}: killed; snapshot after update {checkpoint_update(b)}; left beside it: "
              f"{sorted(os.listdir(parent))}")
        if kill_resume:
            before = checkpoint_update(b)
            proc = start_pgrad(root, "resume", out, "--quiet", "--checkpoint-every", "0.3")
            if wait_until(proc, lambda b=b, before=before: checkpoint_update(b) > before):
                proc.kill()
            wait(proc)
            if run_status(b) != "done":
                check_snapshot(a, b, "running", "running")
                print(f"{name} x{scale}: resume killed; snapshot after update {checkpoint_update(b)}")
        if run_status(b) != "done":
            done = pgrad(root, "resume", out, "--quiet")
            assert (done.returncode, done.stderr) == (0, ""), done.stderr
        check_done(a, b)
        return
    pytest.fail(f"{name}: every run finished before it was killed, even at {SCALES[-1]}x the budget")


@posix
@pytest.mark.parametrize("name", ["reinforce", "ppo-linear"])
def test_sigint_then_resume_equals_the_uninterrupted_run(name, tmp_path, uninterrupted):
    assert signal_then_resume(tmp_path, name, signal.SIGINT, [0.7], uninterrupted) >= 1


@posix
@pytest.mark.parametrize("name", ["reinforce", "ppo-linear"])
def test_sigkill_then_resume_equals_the_uninterrupted_run(name, tmp_path, uninterrupted):
    kill_then_resume(tmp_path, name, uninterrupted)


@posix
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_signal_matrix_then_resume(name, signum, tmp_path, uninterrupted):
    """Signals at 0.7, 1.3 and 2.1 s into training (during sampling, an update, between updates:
    wherever they land), each resumed to the uninterrupted run."""
    assert signal_then_resume(tmp_path, name, signum, [0.7, 1.3, 2.1], uninterrupted) >= 1


@posix
@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAMILIES))
def test_sigkill_matrix_then_resume(name, tmp_path, uninterrupted):
    """SIGKILL a second after the first snapshot, SIGKILL the resume after its first snapshot,
    resume again: the uninterrupted run."""
    kill_then_resume(tmp_path, name, uninterrupted, after=1.0, kill_resume=True)


@posix
@pytest.mark.slow
def test_periodic_snapshots_with_progress_change_nothing(tmp_path, uninterrupted):
    """Uninterrupted, with progress shown and snapshots every 0.3 s: the same folder."""
    argv = FAMILIES["ppo-linear"].argv(1)
    a = uninterrupted(argv)
    done = pgrad(tmp_path, "train", *[f for f in argv if f != "--quiet"], "--out", "b", "--checkpoint-every",
                 "0.3")
    assert done.returncode == 0, done.stderr
    check_done(a, tmp_path / "b")
