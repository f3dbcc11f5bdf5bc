"""The pgrad command: run folders, eval, plot, and one-line errors with exit code 2."""

import argparse
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from pgrad import cli
from pgrad.cli import main, parse_seeds

FAST = ["--max-episodes", "128", "--eval-episodes", "5", "--quiet"]


def test_train_writes_a_complete_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--eval-episodes", "10"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".pgrad", "config.json", "learning_curve.png", "metrics.csv", "summary.json", "theta.npy",
        "updates.csv"]
    config = json.loads((out / "config.json").read_text())
    assert config["algo"] == "reinforce" and config["config"]["gamma"] == 1.0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["solved"] is True and summary["final_eval_mean"] >= 400
    assert {"solved_at_episode", "wall_seconds", "final_eval_greedy_mean"} <= set(summary)
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert list(rows[0]) == ["seed", "episode", "return", "length", "update", "wall_seconds"]
    assert len(rows) == summary["solved_at_episode"]
    assert np.load(out / "theta.npy", allow_pickle=False).shape == (1, 4)
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "solved 1/1" in capsys.readouterr().out


def test_many_seeds_one_run(tmp_path):
    out = tmp_path / "many"
    assert main(["train", "--seeds", "0-2,5", "--out", str(out), *FAST]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1, 2, 5] and len(summary["final_eval_mean"]) == 4
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert sorted({int(r["seed"]) for r in rows}) == [0, 1, 2, 5]


def test_eval_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    (out / "learning_curve.png").unlink()
    assert main(["plot", str(out)]) == 0 and (out / "learning_curve.png").exists()
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "3"]) == 0
    text = capsys.readouterr().out
    assert "greedy mean" in text and "stochastic mean" in text


@pytest.mark.parametrize("argv, message", [
    (["train", "--env-id", "Pong-v5"], "unknown --env-id 'Pong-v5'"),
    (["train", "--weighting", "rtg"], "invalid choice: 'rtg'"),
    (["train", "--gamma", "1.5"], "gamma must be in [0, 1]"),
    (["train", "--lr", "-1"], "lr must be positive"),
    (["train", "--episodes-per-update", "0"], "--episodes-per-update must be a positive integer"),
    (["train", "--seeds", "3-1"], "malformed --seeds"),
    (["train", "--seeds", "a"], "malformed --seeds"),
    (["train", "--seeds", "1,1"], "repeats a seed"),
    (["train", "--algo", "dqn"], "invalid choice: 'dqn'"),
    (["eval", "/nonexistent"], "cannot read run folder"),
])
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, capsys, argv, message):
    out = tmp_path / "never"
    extra = ["--out", str(out)] if argv[0] == "train" and argv[1] != "--algo" else []
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_existing_run_folder_needs_force_and_only_pgrad_folders_are_replaced(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    for force in ([], ["--force"]):  # a folder pgrad did not write is never replaced
        assert main(["train", "--out", str(out), *force, *FAST]) == 2
        assert "was not written by pgrad" in capsys.readouterr().err
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    mine = tmp_path / "mine"
    assert main(["train", "--out", str(mine), *FAST]) == 0
    first = (mine / "metrics.csv").read_bytes()
    assert main(["train", "--out", str(mine), "--seeds", "1", *FAST]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert (mine / "metrics.csv").read_bytes() == first
    assert main(["train", "--out", str(mine), "--seeds", "1", "--force", *FAST]) == 0
    assert (mine / "metrics.csv").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "run"]  # nothing left beside


def test_help_lists_every_config_field():
    from dataclasses import fields

    from pgrad.algorithms.reinforce import ReinforceConfig

    text = subprocess.run([sys.executable, "-m", "pgrad.cli", "train", "--help"],
                          capture_output=True, text=True, check=True).stdout
    for f in fields(ReinforceConfig):
        assert "--" + f.name.replace("_", "-") in text
        assert f.metadata["help"].split()[0] in text


def test_a_command_builds_only_its_own_arguments():
    """`pgrad --help` lists every command without importing an algorithm; each command's own help
    and parse are those of the full parser."""
    probe = ("import sys; from pgrad.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith(('pgrad.algorithms.', 'pgrad.verify',"
             " 'pgrad.sweeps.spec'))))")
    run = subprocess.run([sys.executable, "-c", probe, "--help"], capture_output=True, text=True, check=True)
    assert all(f"    {name}" in run.stdout for name in cli.SUBCOMMANDS)
    assert run.stdout.strip().splitlines()[-1] == "[]"
    full = cli.build_parser()
    for name in cli.SUBCOMMANDS:
        own = cli.build_parser(only=name)
        assert _subparser(own, name).format_help() == _subparser(full, name).format_help()
    args = ["train", "--algo", "ppo", "--seeds", "0-2", "--num-envs", "4"]
    assert cli.build_parser("ppo", "train").parse_args(args) == cli.build_parser("ppo").parse_args(args)


def _subparser(parser, name):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def test_parse_seeds():
    assert parse_seeds("0-3,10") == [0, 1, 2, 3, 10]
    assert parse_seeds("7") == [7]
    assert len(parse_seeds("0-99")) == 100


def test_no_plot_leaves_the_learning_curve_out_and_pgrad_plot_draws_it(tmp_path):
    from helpers import check_complete_run

    out = tmp_path / "run"
    assert main(["train", "--max-episodes", "40", "--seeds", "0-1", "--out", str(out), "--quiet",
                 "--no-plot"]) == 0
    check_complete_run(out, [0, 1], plot=False)
    assert main(["plot", str(out)]) == 0
    check_complete_run(out, [0, 1])
