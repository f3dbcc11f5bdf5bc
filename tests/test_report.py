"""pgrad report: grouping, the table's numbers, the figure, atomic output and bad input."""

import csv
import json

import numpy as np
import pytest

from pgrad import report
from pgrad.cli import main

FAST = ["--max-episodes", "300", "--eval-episodes", "5", "--quiet"]


def make_run(path, *, final_eval, algo="reinforce", env_id="CartPole-v1", seeds=None, wall=1.0,
             lengths=None, columns=("seed", "episode", "return", "length"), config=None):
    """A synthetic run folder: seed s logs episodes with returns 10, 20, ... and the given lengths."""
    seeds = list(range(len(final_eval))) if seeds is None else seeds
    lengths = lengths or {s: [10, 20, 30] for s in seeds}
    path.mkdir(parents=True)
    cfg = {"env_id": env_id, "solve_threshold": 475.0, "solve_window": 2} | (config or {})
    (path / "config.json").write_text(json.dumps({"algo": algo, "config": cfg, "seeds": seeds}))
    (path / "summary.json").write_text(json.dumps(
        {"wall_seconds": wall, "final_eval_mean": final_eval if len(seeds) > 1 else final_eval[0]}))
    with open(path / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for s in seeds:
            total = 0
            for i, n in enumerate(lengths[s]):
                total += n
                values = {"seed": s, "episode": i + 1, "return": 10.0 * (i + 1), "length": n,
                          "env_steps": total}
                writer.writerow([values[c] for c in columns])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two real REINFORCE CartPole run folders: seeds 0-3 and 4-5 of the same config."""
    root = tmp_path_factory.mktemp("runs")
    assert main(["train", "--seeds", "0-3", "--out", str(root / "a"), *FAST]) == 0
    assert main(["train", "--seeds", "4-5", "--out", str(root / "b"), *FAST]) == 0
    return root / "a", root / "b"


def test_report_of_trained_runs(trained, tmp_path, capsys):
    out = tmp_path / "report"
    capsys.readouterr()
    assert main(["report", *map(str, trained), "--out", str(out), "--resamples", "500"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [".pgrad", "report.json", "report.md", "report.png"]
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    text = (out / "report.md").read_text()
    assert text in capsys.readouterr().out
    (row,) = json.loads((out / "report.json").read_text())["rows"]   # same config: one row, pooled
    assert (row["env_id"], row["algo"], row["seeds"]) == ("CartPole-v1", "reinforce", 6)
    finals = np.concatenate([np.atleast_1d(json.loads((p / "summary.json").read_text())["final_eval_mean"])
                             for p in trained])
    assert row["iqm"] == pytest.approx(np.sort(finals)[1:5].mean())   # n=6: cut 1 at each end
    assert row["ci_low"] <= row["iqm"] <= row["ci_high"]
    lengths = sum(int(r["length"]) for p in trained for r in csv.DictReader(open(p / "metrics.csv")))
    assert row["env_steps"] == lengths
    walls = sum(json.loads((p / "summary.json").read_text())["wall_seconds"] for p in trained)
    assert row["wall_seconds"] == pytest.approx(walls)
    assert f"| CartPole-v1 | reinforce | {row['iqm']:,.1f} | [{row['ci_low']:,.1f}, {row['ci_high']:,.1f}] " \
           f"| 6 |" in text
    assert "![learning curves" in text and str(trained[0]) in text


def test_hand_computed_table(tmp_path):
    a = make_run(tmp_path / "a", final_eval=[1.0, 2.0, 3.0, 4.0, 100.0], wall=2.5,
                 lengths={s: [5, 7] for s in range(5)})
    rows = report.summarize(report.group_runs([report.load_run(a)]), np.random.default_rng(0))
    assert rows[0]["iqm"] == 3.0                                   # n=5: mean(2, 3, 4)
    assert rows[0]["env_steps"] == 5 * 12 and rows[0]["wall_seconds"] == 2.5
    assert rows[0]["ci_low"] <= 3.0 <= rows[0]["ci_high"] < 100.0


def test_groups_by_env_algo_and_config(tmp_path):
    runs = [report.load_run(make_run(tmp_path / name, final_eval=[1.0, 2.0], seeds=seeds, env_id=env,
                                     algo=algo, config=cfg))
            for name, env, algo, seeds, cfg in [
                ("a", "CartPole-v1", "reinforce", [0, 1], {}),
                ("b", "Acrobot-v1", "ppo", [0, 1], {}),
                ("c", "CartPole-v1", "reinforce", [2, 3], {}),
                ("d", "CartPole-v1", "reinforce", [0, 1], {"baseline": "none"}),
            ]]
    groups = report.group_runs(runs)
    assert [(g.env_id, g.label, g.seeds) for g in groups] == [
        ("CartPole-v1", "reinforce (baseline=None)", [0, 1, 2, 3]),
        ("Acrobot-v1", "ppo", [0, 1]),
        ("CartPole-v1", "reinforce (baseline=none)", [0, 1]),
    ]


def test_seed_counted_once_per_group(tmp_path):
    runs = [report.load_run(make_run(tmp_path / n, final_eval=[1.0, 2.0], seeds=[0, 1])) for n in "ab"]
    with pytest.raises(ValueError, match="seed 0 of CartPole-v1 / reinforce is in both"):
        report.group_runs(runs)


def test_single_seed_and_logs_without_steps(tmp_path, capsys):
    one = make_run(tmp_path / "one", final_eval=[42.0], columns=("seed", "episode", "return"))
    out = tmp_path / "report"
    assert main(["report", str(one), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "| CartPole-v1 | reinforce | 42.0 | n/a (1 seed) | 1 |" in text and text.rstrip().count("n/a") >= 2
    assert json.loads((out / "report.json").read_text())["rows"][0]["env_steps"] is None


def test_cumulative_step_column(tmp_path):
    run = make_run(tmp_path / "a", final_eval=[1.0, 2.0], columns=("seed", "episode", "return", "env_steps"))
    loaded = report.load_run(run)
    assert loaded.env_steps == 2 * 60
    np.testing.assert_array_equal(loaded.steps[0], [10, 30, 60])


def test_curve_band_holds_stopped_seeds():
    curves = [(np.array([1.0, 3.0]), np.array([0.0, 10.0])),
              (np.array([2.0, 4.0, 6.0]), np.array([5.0, 5.0, 20.0]))]
    grid, centre, low, high = report.curve_band(curves, np.random.default_rng(0), points=5)
    np.testing.assert_array_equal(grid, [2.0, 3.0, 4.0, 5.0, 6.0])
    np.testing.assert_array_equal(centre, [2.5, 7.5, 7.5, 7.5, 15.0])   # seed 0 holds 10 after x=3
    assert np.all(low <= centre) and np.all(centre <= high)


def test_force_replaces_and_same_seed_same_report(tmp_path):
    run = make_run(tmp_path / "a", final_eval=[1.0, 5.0, 2.0, 8.0])
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.txt").write_text("old")
    assert main(["report", str(run), "--out", str(out), "--force", "--seed", "3"]) == 2  # not pgrad's
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    (out / "old.txt").unlink()
    assert main(["report", str(run), "--out", str(out), "--seed", "3"]) == 0  # an empty folder is fine
    first = (out / "report.json").read_text()
    assert main(["report", str(run), "--out", str(out), "--seed", "3"]) == 2  # pgrad's: needs --force
    assert main(["report", str(run), "--out", str(out), "--force", "--seed", "3"]) == 0
    assert (out / "report.json").read_text() == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("case, message", [
    ("missing", "is not a pgrad run folder (no such folder)"),
    ("empty", "is not a pgrad run folder (cannot read"),
    ("none", "the following arguments are required: RUN_DIR"),
    ("twice", "is given twice"),
    ("exists", "was not written by pgrad"),
    ("over_run", "was not written by pgrad"),
    ("bad_json", "config.json is not valid JSON"),
    ("resamples", "report needs --resamples >= 1"),
])
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, capsys, case, message):
    run = make_run(tmp_path / "run", final_eval=[1.0, 2.0])
    out = tmp_path / "report"
    argv = {
        "missing": [str(tmp_path / "nope")],
        "empty": [str((tmp_path / "empty").resolve())],
        "none": [],
        "twice": [str(run), str(run)],
        "exists": [str(run)],
        "over_run": [str(run), "--force"],
        "bad_json": [str(tmp_path / "bad")],
        "resamples": [str(run), "--resamples", "0"],
    }[case]
    (tmp_path / "empty").mkdir()
    make_run(tmp_path / "bad", final_eval=[1.0]).joinpath("config.json").write_text("{oops")
    if case == "exists":
        out.mkdir()
        (out / "notes.txt").write_text("not pgrad's")
    target = run if case == "over_run" else out
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["report", *argv, "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("final_eval", [[None], [None, None], [1.0, None]])
def test_a_run_without_final_evaluation_is_refused_in_one_line(final_eval, tmp_path, capsys):
    # found by the fuzz test: a single-seed summary.json with "final_eval_mean": null read as NaN
    run = make_run(tmp_path / "snap", final_eval=final_eval)
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "final_eval_mean must be finite" in err and "not finished" in err
    assert not out.exists()


@pytest.mark.parametrize("threshold", [1e308, -1e308, 1e12, float("inf")])
def test_learning_curve_with_a_threshold_far_off_the_returns(threshold, tmp_path):
    # found by the fuzz test: --solve-threshold 1e308 made matplotlib fail drawing the line
    from pgrad.plotting import learning_curve

    rows = [(s, i + 1, float(-500 + 3 * i)) for s in (0, 1) for i in range(50)]
    for data in (rows, rows[:50], []):
        path = learning_curve(data, threshold, 10, tmp_path / "curve.png")
        assert path.read_bytes()[:4] == b"\x89PNG"
