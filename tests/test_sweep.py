"""``pgrad sweep`` with the local backend (issue 11).

The contract under test:

- a trial is exactly ``pgrad train`` with the sweep's fixed flags, the trial's values and the
  seeds: every trial's run folder equals a standalone train's, bit for bit (theta.npy,
  metrics.csv and summary.json but for their wall-clock fields, config.json);
- sweep.json is strict JSON: the spec, and per trial its overrides (typed), run_dir (relative),
  status, reason, node and wall seconds; the folder carries pgrad's marker of kind sweep;
- report.md ranks the done trials by the IQM of their final returns; the probability of
  improvement is P(X > Y) + 0.5 P(X = Y); sensitivity.png is a PNG;
- bad input: exit 2, one line, nothing written; a trial the config refuses at run time is
  ``failed`` with the config's reason while the others finish (exit 1);
- SIGINT of a real sweep: exit 130, one line, its trials ``interrupted``; a SIGKILLed worker: its
  trial ``interrupted``, the sweep goes on (exit 1); ``--resume`` then finishes the sweep, and
  every trial is bit-identical to an uninterrupted sweep's;
- random search and trial names are reproducible and filesystem-safe.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import gymnasium  # noqa: F401  (first: its warning filters, set on import, must not override the marks')
import numpy as np
import pytest

from helpers import check_complete_run, leftovers, strict_json, tree_hash
from pgrad.cli import main
from pgrad.rollout import threads
from pgrad.stats import iqm
from pgrad.sweeps import layout, local, report, spec

posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and flock")
FIXED = ["--max-episodes", "160", "--eval-episodes", "5"]
GRID = ["--grid", "lr=0.5,2", "--grid", "episodes_per_update=8,16"]
LONG = ["--grid", "lr=0.5,1,2", "--seeds", "0-1", "--episodes-per-update", "16", "--max-episodes", "400",
        "--solve-threshold", "inf", "--eval-episodes", "5"]
"""Three trials of about a second each: still training when a signal comes."""
WALL = {"metrics.csv": "wall_seconds", "updates.csv": "wall"}


def sweep(*args: str) -> int:
    return main(["sweep", *args, "--workers", "2", "--quiet"])


def trials_of(folder: Path) -> list[dict]:
    return strict_json(folder / "sweep.json")["trials"]


def csv_without(path: Path, column: str) -> list[list[str]]:
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    j = lines[0].index(column)
    return [line[:j] + line[j + 1:] for line in lines]


def same_trial(a: Path, b: Path) -> None:
    """Run folders a and b hold the same training, bit for bit: theta.npy and config.json byte for
    byte, metrics.csv / updates.csv line for line and summary.json key for key, wall clock aside."""
    assert (a / "theta.npy").read_bytes() == (b / "theta.npy").read_bytes(), f"theta differs: {a} vs {b}"
    assert (a / "config.json").read_bytes() == (b / "config.json").read_bytes()
    for name, column in WALL.items():
        assert (a / name).exists() == (b / name).exists(), name
        if (a / name).exists():
            assert csv_without(a / name, column) == csv_without(b / name, column), f"{name}: {a} vs {b}"
    sa, sb = strict_json(a / "summary.json"), strict_json(b / "summary.json")
    sa.pop("wall_seconds"), sb.pop("wall_seconds")
    assert sa == sb and sa["run_status"] == "done", (sa, sb)


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory) -> Path:
    """A real 2 x 2 REINFORCE grid sweep on seeds 0-2."""
    out = tmp_path_factory.mktemp("grid") / "sweep"
    assert sweep(*GRID, *FIXED, "--seeds", "0-2", "--out", str(out)) == 0
    return out


# ---------------------------------------------------------------------------------------------
# A sweep: its trials, sweep.json, the report
# ---------------------------------------------------------------------------------------------

def test_every_trial_is_bit_identical_to_a_standalone_train(grid_sweep, tmp_path):
    trials = trials_of(grid_sweep)
    assert [t["overrides"] for t in trials] == [{"lr": lr, "episodes_per_update": k}
                                                for lr in (0.5, 2.0) for k in (8, 16)]
    for t in trials:
        ref = tmp_path / t["name"]
        lr, k = t["overrides"]["lr"], t["overrides"]["episodes_per_update"]
        assert main(["train", "--lr", str(lr), "--episodes-per-update", str(k), *FIXED, "--seeds", "0-2",
                     "--out", str(ref), "--quiet"]) == 0
        check_complete_run(grid_sweep / t["run_dir"], [0, 1, 2], plot=False)
        same_trial(grid_sweep / t["run_dir"], ref)


def test_sweep_json_and_the_marker(grid_sweep):
    data = strict_json(grid_sweep / "sweep.json")
    assert data["format"] == 1
    assert data["spec"] == {"algo": "reinforce", "fixed": {"max_episodes": 160, "eval_episodes": 5},
                            "seeds": "0-2", "search": "grid",
                            "grid": {"lr": [0.5, 2.0], "episodes_per_update": [8, 16]},
                            "space": {}, "trials": None, "search_seed": None, "checkpoint_every": 60.0,
                            "backend": "local", "scheduler": None}
    names = ["lr=0.5,episodes_per_update=8", "lr=0.5,episodes_per_update=16",
             "lr=2,episodes_per_update=8", "lr=2,episodes_per_update=16"]
    assert [t["name"] for t in data["trials"]] == names
    for t in data["trials"]:
        assert t["run_dir"] == f"runs/{t['name']}" and (grid_sweep / t["run_dir"]).is_dir()
        assert (t["status"], t["reason"], t["node"]) == ("done", None, socket.gethostname())
        assert isinstance(t["wall_seconds"], float) and t["wall_seconds"] > 0
    marker = strict_json(grid_sweep / ".pgrad")
    assert marker["written_by"] == "pgrad" and marker["kind"] == "sweep"
    listed = set(marker["files"])
    assert {"sweep.json", "report.md", "sensitivity.png", "runs", f"runs/{names[0]}/theta.npy"} <= listed
    assert sorted(p.name for p in grid_sweep.iterdir()) == [".pgrad", "report.md", "runs", "sensitivity.png",
                                                           "sweep.json"]
    assert not leftovers(grid_sweep.parent)


def test_report_ranks_trials_by_iqm(grid_sweep):
    text = (grid_sweep / "report.md").read_text()
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    ranked = [(row[2].strip().strip("`"), float(row[3].replace(",", ""))) for row in rows]
    finals = {t["name"]: strict_json(grid_sweep / t["run_dir"] / "summary.json")["final_eval_mean"]
              for t in trials_of(grid_sweep)}
    expected = {name: float(iqm(x)) for name, x in finals.items()}
    assert sorted(name for name, _ in ranked) == sorted(expected)
    for name, value in ranked:
        assert value == pytest.approx(expected[name], abs=0.051)
    values = [expected[name] for name, _ in ranked]
    assert values == sorted(values, reverse=True)
    assert "Probability of improvement" in text and "sensitivity.png" in text
    assert (grid_sweep / "sensitivity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_ranking_begun_while_the_sweep_runs_gives_the_report_of_one_made_at_the_end(grid_sweep, tmp_path):
    from pgrad.sweeps import layout

    spec, trials = layout.read(grid_sweep)
    copies = {}
    for way in ("at the end", "step by step"):
        copy = copies[way] = tmp_path / way.replace(" ", "-")
        shutil.copytree(grid_sweep, copy)
        ranking = report.Ranking(copy)
        if way == "step by step":  # as the local backend does: the first trials while the last one runs
            running = [*trials[:-1], dataclasses.replace(trials[-1], status="running")]
            assert ranking.step(running)  # the imports start on their own thread: this step does not wait
            assert ranking.importing is not None and ranking.importing.name == "pgrad-report-imports"
            ranking.importing.join()
            while ranking.step(running):
                pass
            assert ranking.warm and ranking.next == len(trials) - 1
        report.write_report(copy, spec, trials, ranking=ranking)
    for name in ("report.md", "sensitivity.png"):
        assert (copies["at the end"] / name).read_bytes() == (copies["step by step"] / name).read_bytes()
    assert (grid_sweep / "report.md").read_bytes() == (copies["at the end"] / "report.md").read_bytes()
    other = report.Ranking(copies["at the end"], seed=1)
    with pytest.raises(ValueError, match="a ranking of"):
        report.write_report(copies["at the end"], spec, trials, ranking=other)


def test_the_ranking_reads_each_trials_summary_not_its_training_curves(grid_sweep, tmp_path):
    spec, trials = layout.read(grid_sweep)
    copy = tmp_path / "copy"
    shutil.copytree(grid_sweep, copy)
    for trial in trials:  # the per-episode curves: long, and nothing in the report comes from them
        (copy / trial.run_dir / "metrics.csv").unlink()
    text, ranked = report.write_report(copy, spec, trials)
    assert len(ranked) == len(trials) and "unreadable" not in text
    assert (grid_sweep / "report.md").read_bytes() == (copy / "report.md").read_bytes()


def test_probability_of_improvement_counts_wins_and_half_ties():
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 1.0])
    assert report.probability_of_improvement(x, y) == pytest.approx(8.5 / 12)  # 1 tie, 2 ties + 1 win, 3, 3
    rng = np.random.default_rng(3)
    for n, m in [(5, 7), (20, 20), (3, 1)]:
        x, y = rng.integers(0, 4, n).astype(float), rng.integers(0, 4, m).astype(float)  # many ties
        brute = sum((a > b) + 0.5 * (a == b) for a in x for b in y) / (n * m)
        assert report.probability_of_improvement(x, y) == pytest.approx(brute, abs=1e-12)
        assert report.probability_of_improvement(y, x) == pytest.approx(1 - brute, abs=1e-12)
    low, high = report.improvement_ci(x[:3], [0.0, 1.0, 5.0], np.random.default_rng(0), n_resamples=500)
    assert 0 <= low <= high <= 1
    assert np.isnan(report.improvement_ci([1.0], [2.0, 3.0], np.random.default_rng(0))[0])


def test_resume_of_a_finished_sweep_runs_nothing(grid_sweep, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(grid_sweep, copy)
    def written() -> dict[str, int]:
        return {t["name"]: (copy / t["run_dir"] / "theta.npy").stat().st_mtime_ns for t in trials_of(copy)}

    before = written()
    assert main(["sweep", "--resume", str(copy), "--quiet"]) == 0
    assert written() == before
    assert [t["status"] for t in trials_of(copy)] == ["done"] * 4


def test_the_marker_skips_a_temporary_folder_a_worker_renames_meanwhile(grid_sweep, tmp_path, monkeypatch):
    """The sweep lists what pgrad wrote (its marker) while workers write their run folders: a
    trial's ``.pgrad-tmp-*`` folder may be renamed into place between listing ``runs/`` and
    walking it (a sweep failed with "No such file or directory" so)."""
    from pathlib import Path

    from pgrad import folders

    copy = tmp_path / "copy"
    shutil.copytree(grid_sweep, copy)
    spec, trials = layout.read(copy)
    moving = copy / "runs" / f"{folders.TMP_PREFIX}renamed"
    (moving / "sub").mkdir(parents=True)
    walk = Path.rglob

    def renamed_meanwhile(self, pattern, *args, **kwargs):
        if self == moving:  # the worker's rename lands now
            shutil.rmtree(moving)
            raise FileNotFoundError(2, "No such file or directory", str(moving))
        return walk(self, pattern, *args, **kwargs)

    monkeypatch.setattr(Path, "rglob", renamed_meanwhile)
    names = layout.owned(copy, trials)
    assert not any(folders.TMP_PREFIX in n for n in names)
    assert "sweep.json" in names and all(t.run_dir in names for t in trials)


def test_force_replaces_only_a_sweep_folder(grid_sweep, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(grid_sweep, copy)
    args = ["--grid", "lr=2,3", "--max-episodes", "40", "--episodes-per-update", "8", "--eval-episodes", "2",
            "--out", str(copy)]
    assert sweep(*args) == 2 and "already exists; pass --force" in capsys.readouterr().err
    assert sweep(*args, "--force") == 0
    assert [t["name"] for t in trials_of(copy)] == ["lr=2", "lr=3"]
    assert sorted(p.name for p in (copy / "runs").iterdir()) == ["lr=2", "lr=3"]


# ---------------------------------------------------------------------------------------------
# Bad input and failing trials
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--grid", "bogus=1,2"], "unknown field 'bogus' for reinforce; accepted: env_id, episodes_per_update"),
    (["--grid", "lr=-1,1"], "--grid lr=-1: lr must be positive"),
    (["--grid", "weighting=reward_to_go,sideways"], "unknown weighting 'sideways'; accepted:"),
    (["--grid", "episodes_per_update=8,1.5"], "episodes_per_update takes int values, got '1.5'"),
    (["--grid", "lr="], "empty"),
    (["--grid", "lr=1,,2"], "empty value"),
    (["--grid", "lr=1,1"], "repeats a value"),
    (["--grid", "lr=1", "--grid", "lr=2"], "lr is swept twice"),
    (["--max-episodes", "100"], "empty grid"),
    (["--lr", "1", "--grid", "lr=1,2"], "lr is both fixed (--lr) and swept"),
    (["--lr", "-2", "--grid", "gamma=0.9,1"], "--lr must be positive"),
    (["--grid", "lr=1,2", "--seeds", "3-1"], "malformed --seeds"),
    (["--algo=ppo", "--grid", "num_envs=4,8", "--max-steps", "0"], "--max-steps must be a positive integer"),
    (["--algo", "ppo", "--minibatch-size", "32", "--grid", "num_envs=4,0"],
     "--grid num_envs=0: num_envs must be a positive integer"),
    (["--algo", "ppo", "--grid", "num_envs=4,8"], "--grid num_envs=4: minibatch_size 512 must divide"),
    (["--grid", "lr=1,2", "--space", "gamma=uniform:0.9:1"], "--grid and --space do not mix"),
    (["--search", "random", "--grid", "lr=1,2", "--trials", "2"], "--grid is for --search grid"),
    (["--grid", "lr=1,2", "--trials", "3"], "--trials and --search-seed go with --search random"),
    (["--search", "random", "--trials", "2"], "needs at least one --space"),
    (["--space", "lr=log:0.1:1"], "needs --trials N"),
    (["--space", "lr=log:0.1:1", "--trials", "0"], "needs --trials N with N >= 1, got 0"),
    (["--space", "lr=log:0.1", "--trials", "2"], "log needs both bounds"),
    (["--space", "lr=uniform", "--trials", "2"], "uniform needs both bounds"),
    (["--space", "lr=uniform:1:0.5", "--trials", "2"], "LO < HI"),
    (["--space", "lr=log:0:1", "--trials", "2"], "log needs LO > 0"),
    (["--space", "lr=normal:0:1", "--trials", "2"], "unknown kind 'normal'"),
    (["--space", "lr=int:1:3", "--trials", "2"], "lr is a float field; int: draws ints"),
    (["--space", "gamma=uniform:0.5:1.5", "--trials", "2"], "gamma must be in [0, 1]"),
    (["--space", "baseline=choice:none,bogus", "--trials", "2"], "unknown baseline 'bogus'"),
    (["--grid", "lr=1,2", "--workers", "0"], "--workers must be a positive integer, got 0"),
    (["--resume", "nowhere"], "nowhere is not a pgrad sweep folder"),
    (["--resume", "empty"], "empty is not a pgrad sweep folder"),
    (["--resume", "empty", "--grid", "lr=1,2"], "drop --grid"),
    (["--resume", "empty", "--lr", "3"], "drop --lr"),
    (["--grid", "lr=1,2", "--out", "mine"], "was not written by pgrad"),
])
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    before = tree_hash(tmp_path)
    capsys.readouterr()
    out = [] if "--out" in argv or "--resume" in argv else ["--out", "new"]
    assert main(["sweep", *argv, *out]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("pgrad: error: "), err
    assert message in err, err
    assert tree_hash(tmp_path) == before


@pytest.mark.filterwarnings("ignore:.*CartPole-v0 is out of date")
def test_a_trial_the_config_refuses_fails_and_the_others_finish(tmp_path, capsys):
    out = tmp_path / "sweep"
    capsys.readouterr()
    code = sweep("--grid", "env_id=CartPole-v1,CartPole-v0", "--grid", "float32=false,true", "--seeds", "0-1",
                 "--max-episodes", "16", "--episodes-per-update", "8", "--eval-episodes", "2",
                 "--out", str(out))
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines()[-1].startswith("pgrad: 1 of 4 trials not done (1 failed)"), err
    status = {t["name"]: (t["status"], t["reason"]) for t in trials_of(out)}
    failed = status.pop("env_id=CartPole-v0,float32=true")
    assert failed == ("failed", "--float32 runs pgrad's own environments only, not CartPole-v0")
    assert set(status.values()) == {("done", None)}
    for t in trials_of(out):
        if t["status"] == "done":
            check_complete_run(out / t["run_dir"], [0, 1], plot=False)
    text = (out / "report.md").read_text()
    assert "`env_id=CartPole-v0,float32=true`: failed: --float32 runs pgrad's own environments only" in text


def test_a_tampered_trial_name_cannot_lead_out_of_the_sweep_folder(grid_sweep, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(grid_sweep, copy)
    data = strict_json(copy / "sweep.json")
    data["trials"][0]["name"] = "../../escape"
    (copy / "sweep.json").write_text(json.dumps(data))
    before = tree_hash(tmp_path)
    capsys.readouterr()
    assert main(["sweep", "--resume", str(copy), "--quiet"]) == 2
    assert "trial name '../../escape' is not a safe folder name" in capsys.readouterr().err
    assert tree_hash(tmp_path) == before


def test_workers_start_single_threaded(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.delenv("PGRAD_THREADS", raising=False)
    with local.single_threaded():  # what a worker started here inherits
        assert all(os.environ[k] == "1" for k in local.THREAD_VARS)
        assert threads.count() == 1  # pgrad's own threads (the compiled rollout, REINFORCE's seed groups)
    assert os.environ["OMP_NUM_THREADS"] == "8" and "MKL_NUM_THREADS" not in os.environ
    assert "PGRAD_THREADS" not in os.environ


# ---------------------------------------------------------------------------------------------
# Search and names
# ---------------------------------------------------------------------------------------------

def test_random_search_is_reproducible_under_its_seed():
    def drawn(seed: int) -> list[dict]:
        s = spec.make_spec("reinforce", {}, "0", grid=[], search="random", trials=20, search_seed=seed,
                           space=["lr=log:0.01:1", "episodes_per_update=int:16:18",
                                  "baseline=choice:none,time_mean", "gamma=uniform:0.9:1"])
        return spec.overrides(s)

    first = drawn(7)
    assert first == drawn(7) and first != drawn(8)
    for values in first:
        assert list(values) == ["lr", "episodes_per_update", "baseline", "gamma"]
        assert 0.01 <= values["lr"] <= 1 and 0.9 <= values["gamma"] < 1
        assert type(values["lr"]) is float and type(values["episodes_per_update"]) is int
    assert {v["episodes_per_update"] for v in first} == {16, 17, 18}  # both ends included
    assert {v["baseline"] for v in first} == {"none", "time_mean"}
    assert len(set(spec.trial_names(first))) == 20


def test_grid_is_a_cartesian_product_in_a_stable_order():
    s = spec.make_spec("ppo", {}, "0", space=[],
                       grid=["lr=0.03,0.1", "num-envs=32,64", "normalize_advantages=true,false"])
    values = spec.overrides(s)
    assert len(values) == 8 and values[0] == {"lr": 0.03, "num_envs": 32, "normalize_advantages": True}
    assert values[1] == {"lr": 0.03, "num_envs": 32, "normalize_advantages": False}
    assert values[-1] == {"lr": 0.1, "num_envs": 64, "normalize_advantages": False}
    assert spec.trial_names(values)[:2] == ["lr=0.03,num_envs=32,normalize_advantages=true",
                                            "lr=0.03,num_envs=32,normalize_advantages=false"]
    argv = spec.train_argv(s, values[1], "out")
    assert argv[:3] == ["train", "--algo", "ppo"]
    assert "--lr=0.03" in argv and "--num-envs=32" in argv and "--no-normalize-advantages" in argv


def test_trial_names_are_safe_and_unique():
    ids = ["pgrad/CartPole-v1", "mod:Env v0", "mod_Env_v0", "MOD_ENV_V0", "x" * 300]
    names = spec.trial_names([{"env_id": e} for e in ids] + [{"solve_threshold": float("inf")}])
    assert names[:4] == ["env_id=pgrad_CartPole-v1", "env_id=mod_Env_v0", "env_id=mod_Env_v0-2",
                         "env_id=MOD_ENV_V0-3"]
    assert len(names[4]) == spec.NAME_MAX and names[5] == "solve_threshold=inf"
    assert all(layout.NAME.fullmatch(n) for n in names)


# ---------------------------------------------------------------------------------------------
# Signals, lost workers and --resume
# ---------------------------------------------------------------------------------------------

def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_sweep(cwd: Path, *args: str) -> subprocess.Popen:
    """A real ``pgrad sweep`` process (the ``pgrad`` entry point: ``pgrad.cli.main``), stderr captured."""
    return subprocess.Popen([sys.executable, "-c", "import sys; from pgrad.cli import main; sys.exit(main())",
                             "sweep", *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "MPLBACKEND": "Agg"},
                            preexec_fn=_default_signals)


def wait_until(proc: subprocess.Popen, ready, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the sweep ended or stalled first: {proc.communicate()[1]!r}")
        time.sleep(0.01)


def statuses(out: Path) -> list[str]:
    try:
        return [t["status"] for t in trials_of(out)]
    except (OSError, ValueError):
        return []


def lock_pid(out: Path, name: str) -> int | None:
    """The pid in a trial's run-folder lock: the worker training it."""
    try:
        return int((out / "runs" / f".{name}.pgrad-lock").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory) -> Path:
    """The uninterrupted sweep of LONG."""
    out = tmp_path_factory.mktemp("long") / "reference"
    assert sweep(*LONG, "--out", str(out)) == 0
    return out


def check_same_sweep(out: Path, reference: Path) -> None:
    assert [t["name"] for t in trials_of(out)] == [t["name"] for t in trials_of(reference)]
    for t in trials_of(out):
        assert t["status"] == "done", t
        check_complete_run(out / t["run_dir"], [0, 1], plot=False)
        same_trial(out / t["run_dir"], reference / t["run_dir"])


@posix
def test_sigint_mid_sweep_then_resume_equals_an_uninterrupted_sweep(tmp_path, long_reference):
    out = tmp_path / "sweep"
    proc = start_sweep(tmp_path, *LONG, "--out", str(out), "--workers", "1", "--quiet")
    wait_until(proc, lambda: statuses(out)[:2] == ["done", "running"] and lock_pid(out, "lr=1") is not None)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err == f"pgrad: interrupted; resume with: pgrad sweep --resume {out}\n"
    assert statuses(out) == ["done", "interrupted", "pending"]
    assert strict_json(out / "runs" / "lr=1" / "summary.json")["run_status"] == "interrupted"
    assert not (out / "runs" / "lr=2").exists() and not leftovers(tmp_path)
    assert main(["sweep", "--resume", str(out), "--workers", "2", "--quiet"]) == 0
    check_same_sweep(out, long_reference)


@posix
def test_a_killed_worker_leaves_its_trial_interrupted_and_the_sweep_goes_on(tmp_path, long_reference):
    out = tmp_path / "sweep"
    proc = start_sweep(tmp_path, *LONG, "--out", str(out), "--workers", "2", "--quiet")
    wait_until(proc, lambda: lock_pid(out, "lr=0.5") is not None)
    time.sleep(0.4)
    pid = lock_pid(out, "lr=0.5")
    assert pid is not None and pid != proc.pid
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert len(err.splitlines()) == 1 and "1 interrupted" in err and "pgrad sweep --resume" in err, err
    killed, *others = trials_of(out)
    assert killed["status"] == "interrupted"
    assert killed["reason"] == f"worker process {pid} was killed by SIGKILL"
    assert [t["status"] for t in others] == ["done", "done"]
    assert main(["sweep", "--resume", str(out), "--workers", "2", "--quiet"]) == 0
    check_same_sweep(out, long_reference)
