"""Issue 8, one test per reported failure: run folders that never lose anything, values and
sizes refused up front, divergence that says so, and one line with exit code 2 for every bad
input (signals, concurrency and generated inputs: test_signals.py, test_concurrent_writers.py,
test_fuzz_cli.py)."""

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from helpers import tree_hash
from pgrad import folders
from pgrad.algorithms import a2c, ppo, reinforce
from pgrad.algorithms import actor_critic as ac
from pgrad.cli import chosen_algo, main

FAST = ["--max-episodes", "100", "--eval-episodes", "3", "--quiet"]
PPO_FAST = ["--algo", "ppo", "--max-steps", "2048", "--eval-episodes", "3", "--quiet"]


def one_error_line(capsys, fragment: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pgrad: error: "), err
    assert fragment in err, err
    return err


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A working directory with files of the user's, which nothing may touch."""
    work = tmp_path / "work"
    (work / "thesis").mkdir(parents=True)
    (work / "thesis" / "chapter1.tex").write_text("months of work")
    (work / "notes.txt").write_text("keep")
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("made") / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    return out


# ---------------------------------------------------------------------------------------------
# --out and --force
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["train", "report"])
@pytest.mark.parametrize("out", [".", "", "thesis/..", "..", "/", "./", "thesis/../."])
def test_out_that_is_the_working_dir_or_an_ancestor_is_refused(scratch, capsys, run_dir, command, out):
    before = tree_hash(scratch.parent)
    argv = ["train", *FAST] if command == "train" else ["report", str(run_dir), "--resamples", "20"]
    assert main([*argv, "--out", out, "--force"]) == 2
    one_error_line(capsys, "--out")
    assert tree_hash(scratch.parent) == before


def test_force_never_replaces_a_folder_pgrad_did_not_write(scratch, capsys):
    before = tree_hash(scratch)
    assert main(["train", "--out", "thesis", "--force", *FAST]) == 2
    one_error_line(capsys, "was not written by pgrad")
    assert tree_hash(scratch) == before


def test_force_never_replaces_runs_holding_earlier_runs(scratch, capsys):
    assert main(["train", "--out", "runs/first", *FAST]) == 0
    before = tree_hash(scratch)
    assert main(["train", "--out", "runs", "--force", *FAST]) == 2
    one_error_line(capsys, "was not written by pgrad")
    assert tree_hash(scratch) == before


def test_force_refuses_a_run_folder_holding_files_pgrad_did_not_write(scratch, capsys):
    assert main(["train", "--out", "run", *FAST]) == 0
    (scratch / "run" / "my-analysis.ipynb").write_text("{}")
    before = tree_hash(scratch)
    assert main(["train", "--out", "run", "--force", *FAST]) == 2
    one_error_line(capsys, "holds files pgrad did not write (my-analysis.ipynb)")
    assert tree_hash(scratch) == before


def test_replacing_keeps_the_old_folder_until_the_new_one_is_in(scratch, monkeypatch):
    """Interrupt the swap between renaming the old folder aside and renaming the new one in:
    the old folder is back at --out, nothing is left beside it."""
    assert main(["train", "--out", "run", *FAST]) == 0
    before = tree_hash(scratch)
    real_rename = os.rename

    def rename(src, dst):
        if Path(src).name.startswith(folders.TMP_PREFIX):
            raise KeyboardInterrupt  # as if Ctrl-C landed exactly here
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(folders, "exchange", lambda a, b: False)  # the two-rename path
    assert main(["train", "--out", "run", "--force", "--seeds", "3", *FAST]) == 130
    assert tree_hash(scratch) == before


@pytest.mark.parametrize("case, fragment", [
    ("parent_is_file", "is not a folder"),
    ("name_too_long", "too long"),
    ("not_writable", "cannot write in"),
    ("no_space", "not enough free space"),
    ("symlink", "is a symlink"),
    ("is_file", "exists and is not a folder"),
])
def test_out_problems_are_found_before_training(scratch, capsys, monkeypatch, case, fragment):
    out = {"parent_is_file": "notes.txt/run", "name_too_long": "r" * 250, "not_writable": "new/run",
           "no_space": "run", "symlink": "link", "is_file": "notes.txt"}[case]
    if case == "not_writable":
        monkeypatch.setattr(os, "access", lambda *a, **k: False)  # the tests may run as root
    if case == "no_space":
        monkeypatch.setattr(folders.shutil, "disk_usage", lambda p: SimpleNamespace(free=1000))
    if case == "symlink":
        (scratch / "link").symlink_to(scratch / "thesis")

    def never(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(reinforce, "train", never)
    before = tree_hash(scratch)
    assert main(["train", "--out", out, *FAST]) == 2
    one_error_line(capsys, fragment)
    assert tree_hash(scratch) == before


def test_replacing_exchanges_old_and_new_in_one_step(scratch, monkeypatch):
    assert main(["train", "--out", "run", *FAST]) == 0
    swapped = []
    real = folders.exchange
    monkeypatch.setattr(folders, "exchange", lambda a, b: swapped.append((a, b)) or real(a, b))
    assert main(["train", "--out", "run", "--force", "--seeds", "3", *FAST]) == 0
    assert len(swapped) == 1 and swapped[0][1].name == "run"
    assert folders.read_json(scratch / "run" / "config.json")["seeds"] == [3]
    assert sorted(p.name for p in scratch.iterdir()) == ["notes.txt", "run", "thesis"]


def test_default_out_is_unique_per_process(scratch):
    from pgrad.runs import default_out

    assert str(os.getpid()) in default_out().name
    assert main(["train", *FAST]) == 0
    (made,) = (scratch / "runs").iterdir()
    assert folders.read_marker(made)["kind"] == "run"


def test_plot_replaces_a_symlink_instead_of_writing_through_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    precious = tmp_path / "precious.png"
    precious.write_bytes(b"not a plot")
    (out / "learning_curve.png").unlink()
    (out / "learning_curve.png").symlink_to(precious)
    assert main(["plot", str(out)]) == 0
    assert precious.read_bytes() == b"not a plot"
    assert not (out / "learning_curve.png").is_symlink()
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.png", "run"]


def test_plot_never_replaces_a_learning_curve_pgrad_did_not_write(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    (out / folders.MARKER).unlink()
    before = tree_hash(tmp_path)
    assert main(["plot", str(out)]) == 2
    one_error_line(capsys, "was not written by pgrad")
    assert tree_hash(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# Values, sizes and divergence
# ---------------------------------------------------------------------------------------------

def float_flags(config_cls):
    return [f for f in dataclasses.fields(config_cls) if f.type in ("float", "float | None")]


@pytest.mark.parametrize("algo, field", [(algo, f.name) for algo, cls in
                                          [("reinforce", reinforce.ReinforceConfig), ("a2c", a2c.A2CConfig),
                                           ("ppo", ppo.PPOConfig)] for f in float_flags(cls)])
def test_every_float_flag_refuses_nan_and_infinities(scratch, capsys, algo, field):
    flag = "--" + field.replace("_", "-")
    for value in ("nan", "inf", "-inf"):
        if field == "solve_threshold" and value == "inf":
            continue  # documented: inf means never solved
        assert main(["train", "--algo", algo, flag, value, "--out", "x", "--quiet"]) == 2
        one_error_line(capsys, flag)
    assert not (scratch / "x").exists()


def test_solve_threshold_inf_means_never_solved(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--solve-threshold", "inf", *FAST]) == 0
    assert folders.read_json(out / "summary.json")["status"] == "budget"


@pytest.mark.parametrize("argv", [
    ["train", "--seeds", "0-99999999999"],
    ["train", "--episodes-per-update", "100000000"],
    ["train", "--algo", "ppo", "--policy", "mlp", "--hidden", "1000000"],
    ["eval", "RUN", "--episodes", "1000000000000"],
    ["verify", "--size", "100000000000", "--episodes", "100000"],
    ["report", "RUN", "--resamples", "1000000000000000"],
])
def test_sizes_that_cannot_fit_are_refused_with_the_estimate(scratch, capsys, run_dir, argv):
    argv = [str(run_dir) if a == "RUN" else a for a in argv]
    before = tree_hash(scratch)
    assert main(argv) == 2
    err = one_error_line(capsys, "of memory; this machine has")
    assert "needs about" in err
    assert tree_hash(scratch) == before


def test_value_features_that_cannot_fit_get_a_hint(scratch, capsys):
    assert main(["train", "--algo", "ppo", "--env-id", "Taxi-v4", "--quiet"]) == 2
    one_error_line(capsys, "--value-features linear")


def test_a_diverging_seed_stops_with_its_last_finite_parameters(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--out", str(out), "--lr", "1e308", "--seeds", "0-1", *FAST, "--max-episodes", "300"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pgrad: warning: seed(s) 0, 1 diverged" in err
    summary = json.loads((out / "summary.json").read_text(),
                         parse_constant=lambda c: pytest.fail(f"bare {c} in summary.json"))
    assert summary["status"] == ["diverged", "diverged"] and summary["solved"] == [False, False]
    assert np.isfinite(np.load(out / "theta.npy")).all()
    assert main(["eval", str(out), "--episodes", "2"]) == 0


def test_actor_critic_seed_that_diverges_stops_and_the_others_go_on():
    config = ppo.PPOConfig(max_steps=4096)

    def poisoned(agent, config, params, opt_state, data, rngs, lr):
        params, opt_state, diagnostics = ppo.ppo_epochs(agent, config, params, opt_state, data, rngs, lr)
        if len(params) == 2:  # both seeds still training: seed 1 becomes NaN
            params = params.copy()
            params[1] = np.nan
        return params, opt_state, diagnostics

    result = ac.train("ppo", ac.make_algorithm(poisoned), config, [0, 1])
    assert result.diverged.tolist() == [False, True]
    assert np.isfinite(result.theta).all() and result.steps.tolist() == [4096, config.batch_size]
    alone = ppo.train(config, [0])
    np.testing.assert_array_equal(result.theta[0], alone.theta[0])


def test_eval_refuses_non_finite_parameters(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    theta = np.load(out / "theta.npy")
    theta[0, 2] = np.nan
    np.save(out / "theta.npy", theta)
    assert main(["eval", str(out)]) == 2
    one_error_line(capsys, "non-finite parameters")


def test_summary_is_strict_json_on_box_envs(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *PPO_FAST, "--env-id", "Pendulum-v1", "--out", str(out)]) == 0
    for name in ("summary.json", "config.json", folders.MARKER):
        folders.read_json(out / name)  # NaN or Infinity would raise
    assert main(["report", str(out), "--out", str(tmp_path / "rep"), "--resamples", "20"]) == 0


def test_dumps_writes_non_finite_numbers_as_null():
    text = folders.dumps({"a": float("nan"), "b": [np.float64("inf"), 1.5], "c": np.int64(3)})
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": 3}


# ---------------------------------------------------------------------------------------------
# Parsing and damaged run folders
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, algo", [
    (["train", "--algo=ppo"], "ppo"), (["train", "--alg", "ppo"], "ppo"),
    (["train", "--algo", "a2c", "--algo", "ppo"], "ppo"), (["train", "--algo=a2c"], "a2c"),
    (["train"], "reinforce"), (["eval", "x"], "reinforce"),
])
def test_algo_is_parsed_as_argparse_parses_it(argv, algo):
    assert chosen_algo(argv) == algo


def test_algo_equals_form_trains(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--algo=a2c", "--alg", "ppo", "--out", str(out), *PPO_FAST[2:]]) == 0
    assert folders.read_json(out / "config.json")["algo"] == "ppo"


def damage(run: Path, case: str) -> None:
    if case == "config_list":
        (run / "config.json").write_text("[1, 2]")
    elif case == "unknown_algo":
        meta = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps(meta | {"algo": "dqn"}))
    elif case == "config_wrong_type":
        meta = json.loads((run / "config.json").read_text())
        meta["config"]["lr"] = "fast"
        (run / "config.json").write_text(json.dumps(meta))
    elif case == "theta_shape":
        np.save(run / "theta.npy", np.zeros((1, 7)))
    elif case == "theta_npz":
        with open(run / "theta.npy", "wb") as f:
            np.savez(f, theta=np.zeros((1, 4)))
    elif case == "theta_object":
        np.save(run / "theta.npy", np.array([[None] * 4], dtype=object), allow_pickle=True)
    elif case == "metrics_no_return":
        (run / "metrics.csv").write_text("seed,episode\n0,1\n")
    elif case == "metrics_nan":
        lines = (run / "metrics.csv").read_text().splitlines()
        cells = lines[1].split(",")
        cells[2] = "nan"
        (run / "metrics.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    elif case == "config_nan":
        text = (run / "config.json").read_text().replace('"lr": 2.0', '"lr": NaN')
        (run / "config.json").write_text(text)


@pytest.mark.parametrize("command", ["eval", "plot"])
@pytest.mark.parametrize("case, fragment", [
    ("config_list", "must be a JSON object"), ("unknown_algo", "unknown algo 'dqn'"),
    ("config_wrong_type", "lr must be of type float"), ("theta_shape", "has shape (1, 7)"),
    ("theta_npz", "theta.npy"), ("theta_object", "theta.npy"),
    ("metrics_no_return", "no return column"), ("config_nan", "not valid JSON"),
    ("metrics_nan", "is not a finite number"),
])
def test_damaged_run_folders_get_one_line(tmp_path, capsys, run_dir, command, case, fragment):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    damage(run, case)
    before = tree_hash(tmp_path)
    assert main([command, str(run)]) == 2
    one_error_line(capsys, fragment)
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("argv, fragment", [
    (["verify", "--size", "2", "--episodes", "1"], "--episodes >= 2"),
    (["verify", "--seed", "-1"], "--seed >= 0"),
    (["report", "RUN", "--seed", "-1"], "--seed >= 0"),
])
def test_verify_and_report_bad_numbers(capsys, run_dir, argv, fragment):
    assert main([str(run_dir) if a == "RUN" else a for a in argv]) == 2
    one_error_line(capsys, fragment)


def test_eval_of_an_mlp_run_without_torch(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["train", *PPO_FAST, "--policy", "mlp", "--max-steps", "1024", "--out", str(out)]) == 0
    monkeypatch.setattr(ac, "torch_installed", lambda: False)
    assert main(["eval", str(out)]) == 2
    one_error_line(capsys, 'pip install "pgrad[torch]"')


def test_eval_of_a_run_whose_env_lacks_a_dependency(tmp_path, capsys, run_dir):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    meta = json.loads((run / "config.json").read_text())
    meta |= {"algo": "ppo", "config": {"env_id": "CarRacing-v3"}}
    (run / "config.json").write_text(json.dumps(meta))
    assert main(["eval", str(run)]) == 2
    one_error_line(capsys, "CarRacing-v3")


# ---------------------------------------------------------------------------------------------
# Environments through the CLI
# ---------------------------------------------------------------------------------------------

def test_module_prefixed_ids_train_and_evaluate(tmp_path):
    out = tmp_path / "run"
    env_id = "pgrad.envs.registration:pgrad/CartPole-v1"
    assert main(["train", *PPO_FAST, "--env-id", env_id, "--out", str(out)]) == 0
    assert main(["eval", str(out), "--episodes", "2"]) == 0


def test_a_run_where_no_episode_finished_is_complete(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--algo", "ppo", "--env-id", "MountainCarContinuous-v0", "--max-steps", "4096",
                 "--eval-episodes", "1", "--out", str(out), "--quiet"]) == 0
    assert folders.read_json(out / "summary.json")["episodes"] == 0
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert folders.replaceable(out, "run") is None
    assert main(["report", str(out), "--out", str(tmp_path / "rep"), "--resamples", "20"]) == 0


def test_an_env_without_time_limit_ends_its_episodes(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *PPO_FAST, "--env-id", "CliffWalking-v1", "--time-limit", "50", "--num-envs", "8",
                 "--minibatch-size", "128", "--out", str(out)]) == 0
    summary = folders.read_json(out / "summary.json")
    assert summary["episodes"] >= 2048 // 50 and math.isfinite(summary["final_eval_greedy_mean"])


# ---------------------------------------------------------------------------------------------
# Small truths
# ---------------------------------------------------------------------------------------------

def test_greedy_evaluation_uses_fresh_streams_as_eval_does(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *PPO_FAST, "--env-id", "Pendulum-v1", "--out", str(out)]) == 0
    summary = folders.read_json(out / "summary.json")
    config = ppo.PPOConfig(**folders.read_json(out / "config.json")["config"])
    theta = np.load(out / "theta.npy")
    greedy = ac.evaluate(config, theta, [0], 3, greedy=True).mean()
    assert summary["final_eval_greedy_mean"] == pytest.approx(greedy, rel=0, abs=1e-12)


def test_report_counts_every_env_step(tmp_path):
    out, rep = tmp_path / "run", tmp_path / "rep"
    assert main(["train", *PPO_FAST, "--seeds", "0-1", "--out", str(out)]) == 0
    steps = folders.read_json(out / "summary.json")["env_steps"]
    assert main(["report", str(out), "--out", str(rep), "--resamples", "20"]) == 0
    (row,) = folders.read_json(rep / "report.json")["rows"]
    assert row["env_steps"] == sum(steps) == 2 * 2048


def test_run_folders_record_version_and_commit(run_dir):
    from pgrad import __version__

    meta = folders.read_json(run_dir / "config.json")
    assert meta["pgrad_version"] == __version__
    package = Path(folders.__file__).resolve().parent
    top = subprocess.run(["git", "-C", str(package), "rev-parse", "--show-toplevel", "HEAD"],
                         capture_output=True, text=True)
    lines = top.stdout.split()
    # A commit only for a checkout that holds this package at src/pgrad; an installed copy (CI's
    # site-packages may sit inside some other repository) records None.
    in_checkout = top.returncode == 0 and Path(lines[0]).resolve() / "src" / "pgrad" == package
    assert meta["git_commit"] == (lines[1] if in_checkout else None)
    assert folders.read_marker(run_dir)["git_commit"] == meta["git_commit"]


def test_the_commit_is_asked_of_git_once_per_process(monkeypatch):
    """A sweep rewrites sweep.json and its marker at every trial's start and end: one git
    process per process, not one per file written."""
    calls = []
    real = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or real(*a, **k))
    folders.git_commit.cache_clear()
    first = folders.git_commit()
    assert [folders.git_commit() for _ in range(3)] == [first] * 3
    assert len(calls) == 1


def test_an_installed_copy_inside_another_repository_records_no_commit(tmp_path):
    """site-packages inside an unrelated git repository must not lend pgrad that repo's commit."""
    repo = tmp_path / "other"
    site = repo / "venv" / "lib" / "site-packages" / "pgrad"
    site.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    (site / "__init__.py").write_text("")
    import shutil
    shutil.copy(folders.__file__, site / "folders.py")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import importlib.util as u; "
            "spec = u.spec_from_file_location('f', sys.argv[2]); m = u.module_from_spec(spec); "
            "spec.loader.exec_module(m); print(m.git_commit())")
    out = subprocess.run([sys.executable, "-c", code, str(site.parent), str(site / "folders.py")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"
