"""`pgrad train --algo a2c|ppo`: the same run folder as REINFORCE, eval and plot on it, any Gymnasium id."""

import csv
import json

import numpy as np
import pytest

from pgrad.cli import main

FAST = ["--max-steps", "4096", "--num-envs", "8", "--num-steps", "32", "--eval-episodes", "5", "--quiet"]


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_train_writes_the_run_folder_and_eval_and_plot_read_it(algo, tmp_path, capsys):
    out = tmp_path / algo
    extra = ["--minibatch-size", "64"] if algo == "ppo" else []
    assert main(["train", "--algo", algo, "--seeds", "0-1", "--out", str(out), *FAST, *extra]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".pgrad", "config.json", "learning_curve.png", "metrics.csv", "summary.json", "theta.npy",
        "updates.csv", "value.npy"]
    updates = list(csv.DictReader(open(out / "updates.csv")))
    assert len(updates) == 4096 // (8 * 32) and updates[0]["seeds_training"] == "2"
    assert {"explained_variance", "value_loss", "entropy", "lr", "window_mean"} <= set(updates[0])
    if algo == "ppo":
        assert {"approx_kl", "clip_fraction"} <= set(updates[0])
    config = json.loads((out / "config.json").read_text())
    assert config["algo"] == algo and config["config"]["policy"] == "linear"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] == [4096, 4096] and len(summary["final_eval_mean"]) == 2
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert {int(r["seed"]) for r in rows} == {0, 1}
    assert np.load(out / "theta.npy", allow_pickle=False).shape == (2, 8)
    (out / "learning_curve.png").unlink()
    assert main(["plot", str(out)]) == 0 and (out / "learning_curve.png").exists()
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "3"]) == 0
    assert "greedy mean" in capsys.readouterr().out


def test_mlp_run_folder_holds_plain_arrays(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "mlp"
    assert main(["train", "--algo", "ppo", "--policy", "mlp", "--hidden", "8", "--out", str(out), *FAST,
                 "--max-steps", "512", "--minibatch-size", "128"]) == 0
    theta = np.load(out / "theta.npy", allow_pickle=False)  # the MLP's flat parameters, no pickle
    assert theta.shape == (1, 5 * 8 + 9 * 8 + 9 * 2)
    assert main(["eval", str(out), "--episodes", "2"]) == 0


def test_a_gymnasium_id_pgrad_does_not_implement(tmp_path, capsys):
    out = tmp_path / "gym"
    assert main(["train", "--algo", "ppo", "--env-id", "FrozenLake-v1", "--out", str(out), *FAST,
                 "--minibatch-size", "64"]) == 0
    assert main(["eval", str(out), "--episodes", "2"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["train", "--algo", "ppo", "--env-id", "Blackjack-v1"], "unsupported observation space Tuple"),
    (["train", "--algo", "ppo", "--minibatch-size", "7"], "--minibatch-size 7 must divide"),
    (["train", "--algo", "a2c", "--policy", "cnn"], "invalid choice: 'cnn'"),
    (["train", "--algo", "dqn"],
     "invalid choice: 'dqn' (choose from a2c, ddpg, npg, ppo, reinforce, sac, td3, trpo)"),
])
def test_bad_input_is_one_line_with_exit_code_2(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "x").exists()
