"""``--tensorboard DIR`` on ``pgrad train`` and ``pgrad resume``, read back with TensorBoard's own
EventAccumulator: one run per seed in DIR/<run folder name>/seed_<seed>/, CleanRL's tag names, the
step axis in that seed's environment steps, every seed's own episodes and diagnostics, the config
as text; a resume after a real SIGINT / SIGTERM shows every step once (and so does one over events a
killed run wrote after its checkpoint); refusals before training, with nothing written."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import start_pgrad, tree_hash
from pgrad import cli
from pgrad.algorithms import reinforce
from pgrad.training import loop
from pgrad.training.tensorboard import INSTALL, TensorBoard

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

QUICK = ["--eval-episodes", "2", "--quiet"]
FLAGS = {  # reinforce: seeds 0, 1, 2 stop after 9, 10 and 7 updates (solved, budget, solved)
    "reinforce": ["--algo", "reinforce", "--episodes-per-update", "10", "--max-episodes", "100",
                  "--lr", "0.5", "--solve-threshold", "80", "--solve-window", "10", *QUICK],
    "a2c": ["--algo", "a2c", "--num-envs", "4", "--num-steps", "8", "--max-steps", "640", *QUICK],
    "ppo": ["--algo", "ppo", "--num-envs", "4", "--num-steps", "8", "--minibatch-size", "16", "--epochs", "2",
            "--max-steps", "640", *QUICK],
}
SEEDS = {"reinforce": "0-2", "a2c": "0-1", "ppo": "0-1"}
CHARTS = {"charts/episodic_return", "charts/episodic_length", "charts/SPS", "charts/learning_rate"}
LOSSES = {"a2c": {"losses/entropy", "losses/value_loss", "losses/explained_variance"}}
LOSSES["ppo"] = LOSSES["a2c"] | {"losses/approx_kl", "losses/clipfrac"}
COLUMNS = {"losses/approx_kl": "approx_kl", "losses/clipfrac": "clip_fraction", "losses/entropy": "entropy",
           "losses/value_loss": "value_loss", "losses/explained_variance": "explained_variance",
           "charts/learning_rate": "lr"}
"""Tag -> its column in updates.csv (the mean over the seeds training)."""
LONG = ["--algo", "reinforce", "--seeds", "0-1", "--episodes-per-update", "10", "--max-episodes", "200",
        "--solve-threshold", "inf", *QUICK]  # 20 updates, under a second: still going when signalled


def read(folder: Path, purge: bool = True):
    """TensorBoard's EventAccumulator of one run, everything kept (purging orphans, as TensorBoard does)."""
    acc = event_accumulator.EventAccumulator(str(folder), purge_orphaned_data=purge, size_guidance={
        event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0})
    acc.Reload()
    return acc


def points(acc, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def content(acc) -> dict[str, list]:
    """Every scalar tag's (step, value) points; SPS (wall-clock) by its steps only."""
    return {tag: [s for s, _ in points(acc, tag)] if tag == "charts/SPS" else points(acc, tag)
            for tag in acc.Tags()["scalars"]}


def episode_table(run: Path, seed: int) -> dict[str, np.ndarray]:
    with open(run / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if int(r["seed"]) == seed]
    return {k: np.array([float(r[k]) for r in rows]) for k in ("return", "length", "update")}


def update_means(table: dict[str, np.ndarray], column: str) -> list[float]:
    """Per update in which the seed finished episodes, their mean ``column`` (as float32, TensorBoard's)."""
    return [float(np.float32(table[column][table["update"] == u].mean())) for u in np.unique(table["update"])]


def update_table(run: Path) -> list[dict[str, str]]:
    with open(run / "updates.csv") as f:
        return list(csv.DictReader(f))


def env_steps(run: Path) -> list[int]:
    steps = json.loads((run / "summary.json").read_text())["env_steps"]
    return steps if isinstance(steps, list) else [steps]


def train(cwd: Path, out: str, algo: str, seeds: str, *extra: str) -> Path:
    assert cli.main(["train", *FLAGS[algo], "--seeds", seeds, "--out", str(cwd / out),
                     "--tensorboard", str(cwd / "tb"), *extra]) == 0
    return cwd / out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(run folder, TensorBoard folder of its name) of a training run per (algo, seeds), made once."""
    root = tmp_path_factory.mktemp("tb-runs")
    made: dict[tuple[str, str], tuple[Path, Path]] = {}

    def get(algo: str, seeds: str) -> tuple[Path, Path]:
        if (algo, seeds) not in made:
            name = f"{algo}-{seeds}"
            made[algo, seeds] = train(root, name, algo, seeds), root / "tb" / name
        return made[algo, seeds]

    return get


@pytest.mark.parametrize("algo", ["reinforce", "a2c", "ppo"])
def test_one_run_per_seed_keyed_by_its_env_steps(algo, runs):
    run, board = runs(algo, SEEDS[algo])
    seeds = [int(s) for s in json.loads((run / "config.json").read_text())["seeds"]]
    assert sorted(p.name for p in board.iterdir()) == [f"seed_{s}" for s in seeds]
    returns = []
    for seed, total in zip(seeds, env_steps(run), strict=True):
        acc = read(board / f"seed_{seed}")
        assert set(acc.Tags()["scalars"]) == CHARTS | LOSSES.get(algo, set())
        for tag in acc.Tags()["scalars"]:
            steps = [s for s, _ in points(acc, tag)]
            assert steps == sorted(steps) and 0 < steps[0] and steps[-1] <= total, tag
        table = episode_table(run, seed)
        sps = points(acc, "charts/SPS")
        if algo == "reinforce":  # a point per update the seed took part in, at the steps it reached
            updates = range(int(table["update"].max()) + 1)
            lengths = [table["length"][table["update"] == u].sum() for u in updates]
            assert [s for s, _ in sps] == np.cumsum(lengths).tolist()
        assert sps[-1][0] == total and all(v > 0 for _, v in sps)
        assert len({s for s, _ in sps}) == len(sps)  # one per update: none after the seed stopped
        episode_returns = points(acc, "charts/episodic_return")
        assert [v for _, v in episode_returns] == update_means(table, "return")
        assert [v for _, v in points(acc, "charts/episodic_length")] == update_means(table, "length")
        returns.append([v for _, v in episode_returns])
        config = acc.Tensors("config")
        assert [e.step for e in config] == [0]
        text = config[0].tensor_proto.string_val[0].decode()
        assert text.startswith("| field | value |\n| --- | --- |\n")
        rows = set(text.splitlines())
        assert {f"| algo | {algo} |", f"| seed | {seed} |", "| env_id | CartPole-v1 |"} <= rows
    assert returns[0] != returns[1]
    if algo == "reinforce":
        assert len({len(r) for r in returns}) == 3  # the seeds stopped at different updates


@pytest.mark.parametrize("algo", ["a2c", "ppo"])
def test_diagnostics_are_each_seeds_own(algo, runs):
    """Seed 1's losses in a two-seed run are what seed 1 alone computes (its updates.csv); the mean of
    the two seeds' is the two-seed run's updates.csv."""
    both, board = runs(algo, "0-1")
    alone, _ = runs(algo, "1")
    mine = {s: read(board / f"seed_{s}") for s in (0, 1)}
    for tag in sorted(LOSSES[algo] | {"charts/learning_rate"}):
        column = COLUMNS[tag]
        rows = [r for r in update_table(alone) if r[column] != ""]
        assert [s for s, _ in points(mine[1], tag)] == [int(r["steps"]) for r in rows]
        np.testing.assert_allclose([v for _, v in points(mine[1], tag)], [float(r[column]) for r in rows],
                                   rtol=1e-6, atol=1e-9, err_msg=tag)
        rows = [r for r in update_table(both) if r[column] != ""]
        pairs = zip(points(mine[0], tag), points(mine[1], tag), strict=True)
        mean = [(a + b) / 2 for (_, a), (_, b) in pairs]
        np.testing.assert_allclose(mean, [float(r[column]) for r in rows], rtol=1e-5, atol=1e-7, err_msg=tag)
    assert points(mine[0], "losses/value_loss") != points(mine[1], "losses/value_loss")


def test_usable_from_python_and_closed_when_training_fails(tmp_path):
    algorithm = reinforce.ALGORITHM
    state = loop.start("reinforce", algorithm, reinforce.ReinforceConfig(episodes_per_update=10), [7])

    def fail(metrics, st):
        if st.update == 3:
            raise RuntimeError("failed")

    with pytest.raises(RuntimeError), TensorBoard(tmp_path, "api", state) as board:
        loop.run(algorithm, state, [board, fail])
    assert board.writers == []  # flushed and closed
    acc = read(tmp_path / "api" / "seed_7")
    assert [s for s, _ in points(acc, "charts/SPS")] == [u["steps"] for u in state.log.updates]
    assert [v for _, v in points(acc, "charts/learning_rate")] == [2.0] * 3


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"gave up waiting; stderr: {proc.communicate()[1]!r}")
        time.sleep(0.005)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The TensorBoard folder of an uninterrupted run with the LONG flags."""
    root = tmp_path_factory.mktemp("tb-uninterrupted")
    assert cli.main(["train", *LONG, "--out", str(root / "b"), "--tensorboard", str(root / "tb")]) == 0
    return root / "tb" / "b"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_resume_after_a_real_signal_shows_every_step_once(sig, tmp_path, uninterrupted, monkeypatch):
    proc = start_pgrad(tmp_path, "train", *LONG, "--out", "b", "--tensorboard", "tb")
    wait_for(lambda: any((tmp_path / "tb" / "b" / "seed_1").glob("events.out.tfevents.*")), proc)
    proc.send_signal(sig)  # the event files open once the signal handlers are in: the update finishes
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], err
    assert err.splitlines() == ["pgrad: interrupted; resume with: pgrad resume b"]
    shutil.copytree(tmp_path / "b", tmp_path / "snapshot")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["resume", "b", "--quiet", "--tensorboard", "tb"]) == 0
    # as if the first resume had been killed after its checkpoint: resume the snapshot again over its events
    shutil.rmtree(tmp_path / "b")
    shutil.copytree(tmp_path / "snapshot", tmp_path / "b")
    assert cli.main(["resume", "b", "--quiet", "--tensorboard", "tb"]) == 0
    for seed in (0, 1):
        folder = tmp_path / "tb" / "b" / f"seed_{seed}"
        assert len(list(folder.glob("events.out.tfevents.*"))) == 3
        mine, theirs = content(read(folder)), content(read(uninterrupted / f"seed_{seed}"))
        assert mine == theirs  # every step once, every episode of the uninterrupted run
        raw = read(folder, purge=False)  # without TensorBoard's purge the first resume's events show twice
        assert len(raw.Scalars("charts/SPS")) > len(mine["charts/SPS"])
        assert len(read(folder).Tensors("config")) == 1


def test_force_keeps_the_old_event_files_and_shows_only_the_new_run(tmp_path):
    train(tmp_path, "x", "reinforce", "0-1")
    old = tree_hash(tmp_path / "tb")
    run = train(tmp_path, "x", "reinforce", "0", "--max-episodes", "30", "--force")
    now = tree_hash(tmp_path / "tb")
    assert {k: now[k] for k in old} == old  # nothing changed or removed
    assert len(list((tmp_path / "tb" / "x" / "seed_1").glob("events.out.tfevents.*"))) == 2
    acc = read(tmp_path / "tb" / "x" / "seed_0")
    returns = [v for _, v in points(acc, "charts/episodic_return")]
    assert returns == update_means(episode_table(run, 0), "return")
    assert "| max_episodes | 30 |" in acc.Tensors("config")[-1].tensor_proto.string_val[0].decode()
    hidden = read(tmp_path / "tb" / "x" / "seed_1")  # seed 1 is not in the new run
    assert hidden.Tags()["scalars"] and all(hidden.Scalars(tag) == [] for tag in hidden.Tags()["scalars"])


def refused(tmp_path: Path, capsys, argv: list[str], fragment: str) -> None:
    before = tree_hash(tmp_path)
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("pgrad: error: ") and fragment in err[0], err
    assert tree_hash(tmp_path) == before


def test_existing_event_files_are_refused_without_force(tmp_path, capsys):
    train(tmp_path, "runs/x", "reinforce", "0")
    argv = ["train", *FLAGS["reinforce"], "--out", str(tmp_path / "other" / "x"), "--tensorboard",
            str(tmp_path / "tb")]  # another run folder of the same name
    refused(tmp_path, capsys, argv, "already holds TensorBoard event files; pass --force")


@pytest.mark.parametrize(("case", "fragment"), [
    ("file", "exists and is not a folder"), ("symlink", "is a symlink"), ("run-symlink", "is a symlink"),
    ("seed-file", "exists and is not a folder"), ("run-folder", "is the run folder or inside it"),
    ("empty", "--tensorboard is empty"), ("unwritable", "permission denied")])
def test_bad_tensorboard_folders_are_refused_before_training(case, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    logdir, out = "tb", "runs/x"
    if case == "file":
        Path("tb").write_text("mine")
    elif case == "symlink":
        Path("tb").symlink_to(tmp_path / "elsewhere")
    elif case == "run-symlink":
        Path("tb").mkdir()
        Path("tb/x").symlink_to(tmp_path / "elsewhere")
    elif case == "seed-file":
        Path("tb/x").mkdir(parents=True)
        Path("tb/x/seed_0").write_text("mine")
    elif case == "run-folder":
        logdir = "runs"
    elif case == "empty":
        logdir = ""
    elif case == "unwritable":
        Path("tb").mkdir(mode=0o500)
        if os.geteuid() == 0:  # root writes anywhere: the permission check is asked as for a user
            access = os.access
            monkeypatch.setattr(os, "access", lambda p, mode: Path(p).name != "tb" and access(p, mode))
    refused(tmp_path, capsys, ["train", *FLAGS["reinforce"], "--out", out, "--tensorboard", logdir], fragment)


def test_without_tensorboard_installed_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['tensorboard'] = None; from pgrad.cli import main; "
            "sys.exit(main(['train', '--out', 'r', '--tensorboard', 'tb', '--quiet']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stderr) == (2, f"pgrad: error: {INSTALL}\n")
    assert os.listdir(tmp_path) == []  # refused before training: nothing written
