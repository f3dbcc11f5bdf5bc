"""``pgrad sweep --backend ray`` on one local Ray (issue 11), shared by the whole module.

The contract under test:

- a Ray trial is exactly ``pgrad train`` with the same flags: every run folder equals the local
  backend's (and a standalone train's), bit for bit; sweep.json names the Ray node each trial ran
  on; the sweep folder holds what the local backend's holds, and nothing is left in the temp dir;
- ``--tensorboard DIR`` reaches every trial: DIR/<trial>/seed_<s>/, the same points as locally;
- ``--scheduler asha`` stops the trials that fall behind (``stopped``, with the reason; the sweep
  still exits 0), and ``--search optuna`` draws the same trials under the same seed;
- bad input: one line, exit 2, nothing written: a Ray address that does not answer (within a few
  seconds; ``HOST:PORT`` or ``ray://HOST:PORT``), Ray-only flags without ``--backend ray``, Ray not
  installed. Ray Client itself: tests/test_sweep_ray_client.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium  # noqa: F401  (first: its warning filters, set on import, must not override the marks')
import pytest

ray = pytest.importorskip("ray")

from helpers import check_complete_run, leftovers, strict_json, tree_hash  # noqa: E402
from pgrad.cli import main  # noqa: E402
from test_sweep import FIXED, GRID, same_trial, trials_of  # noqa: E402
from test_tensorboard import content, read  # noqa: E402

SEEDS = ["--seeds", "0-1"]
OPTUNA = ["--backend", "ray", "--search", "optuna", "--space", "lr=log:0.1:3", "--space",
          "episodes_per_update=int:4:16", "--seeds", "0", "--max-episodes", "24", "--eval-episodes", "2"]
"""Tiny trials drawn by Optuna."""


def sweep(*args: str, quiet: bool = True) -> int:
    """``pgrad sweep ARGS``; with live progress if not ``quiet`` (Tune then pickles what draws it)."""
    return main(["sweep", *args, *(["--quiet"] if quiet else [])])


def scratch() -> set[str]:
    """What the Ray backend keeps in the temp dir while it runs (trial run folders, Tune's storage)."""
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(("pgrad-trial-", "pgrad-tune-"))}


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray of 2 CPUs for the module (each sweep uses it and leaves it running)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray.get_runtime_context().get_node_id()
    ray.shutdown()


@pytest.fixture(scope="module")
def pair(local_ray, tmp_path_factory) -> tuple[Path, Path, Path]:
    """The 2 x 2 grid of tests/test_sweep.py on seeds 0-1 on Ray (with TensorBoard in ray-tb) and
    locally: the sweep folders and their parent."""
    root = tmp_path_factory.mktemp("pair")
    before = scratch()
    board = ["--tensorboard", str(root / "ray-tb")]
    for backend in ("ray", "local"):
        args = [*GRID, *FIXED, *SEEDS, *(board if backend == "ray" else []), "--out", str(root / backend)]
        assert sweep(*args, "--backend", backend, "--workers", "2") == 0
    assert scratch() == before
    return root / "ray", root / "local", root


def test_ray_trials_are_bit_identical_to_the_local_backend_and_to_train(pair, local_ray, tmp_path):
    on_ray, here, _ = pair
    assert [(t["name"], t["overrides"]) for t in trials_of(on_ray)] == \
        [(t["name"], t["overrides"]) for t in trials_of(here)]
    for t in trials_of(on_ray):
        assert (t["status"], t["reason"], t["node"]) == ("done", None, local_ray), t
        assert isinstance(t["wall_seconds"], float) and t["wall_seconds"] > 0
        check_complete_run(on_ray / t["run_dir"], [0, 1], plot=False)
        same_trial(on_ray / t["run_dir"], here / t["run_dir"])
    first = trials_of(on_ray)[0]
    ref = tmp_path / "ref"
    lr, k = first["overrides"]["lr"], first["overrides"]["episodes_per_update"]
    assert main(["train", "--lr", str(lr), "--episodes-per-update", str(k), *FIXED, *SEEDS, "--out", str(ref),
                 "--quiet"]) == 0
    same_trial(on_ray / first["run_dir"], ref)


def test_a_ray_sweep_folder_holds_what_a_local_one_holds(pair):
    on_ray, here, root = pair
    def listing(folder: Path) -> list[str]:
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))

    assert listing(on_ray) == listing(here)
    assert strict_json(on_ray / "sweep.json")["spec"]["backend"] == "ray"
    marker = strict_json(on_ray / ".pgrad")
    assert set(listing(on_ray)) - {".pgrad"} <= set(marker["files"])
    assert "--backend ray" in (on_ray / "report.md").read_text()
    assert not leftovers(root)


def test_tensorboard_reaches_every_trial_and_seed(pair, tmp_path):
    on_ray, _, root = pair
    first = trials_of(on_ray)[0]
    ref = tmp_path / first["name"]  # TensorBoard names the run after the run folder
    values = [f"--{k.replace('_', '-')}={v}" for k, v in first["overrides"].items()]
    assert main(["train", *values, *FIXED, *SEEDS, "--out", str(ref), "--tensorboard", str(tmp_path / "tb"),
                 "--quiet"]) == 0
    for t in trials_of(on_ray):
        for seed in (0, 1):
            events = root / "ray-tb" / t["name"] / f"seed_{seed}"
            assert any(events.glob("events.out.tfevents.*")), events
            if t is first:
                assert content(read(events)) == content(read(tmp_path / "tb" / t["name"] / f"seed_{seed}"))


def test_resume_ships_each_interrupted_trials_snapshot_to_its_ray_trial(pair, local_ray, tmp_path):
    from pgrad.cli import TrainHooks
    from pgrad.sweeps import Task, run_trial

    on_ray, here, _ = pair
    copy = tmp_path / "copy"
    shutil.copytree(on_ray, copy)
    data = strict_json(copy / "sweep.json")
    cut, fresh = data["trials"][:2]

    def checkpoint_then_fail(metrics: dict, state) -> str | None:  # a snapshot at update 3, then a crash
        if state.update == 4:
            raise RuntimeError("worker lost")
        return "checkpoint" if state.update == 3 else None

    argv = ["train", *[f"--{k.replace('_', '-')}={v}" for k, v in cut["overrides"].items()], *FIXED, *SEEDS,
            "--out", str(copy / cut["run_dir"]), "--force", "--quiet"]
    assert run_trial(Task(cut["name"], tuple(argv)), TrainHooks((checkpoint_then_fail,))).status == "failed"
    assert strict_json(copy / cut["run_dir"] / "summary.json")["run_status"] == "running"
    shutil.rmtree(copy / fresh["run_dir"])
    cut["status"], fresh["status"] = "interrupted", "pending"
    (copy / "sweep.json").write_text(json.dumps(data))
    assert main(["sweep", "--resume", str(copy), "--tensorboard", str(tmp_path / "tb"), "--quiet"]) == 0
    for t in trials_of(copy):
        assert t["status"] == "done" and t["node"] == local_ray, t
        same_trial(copy / t["run_dir"], here / t["run_dir"])
    for t in (cut, fresh):  # resumed and started trials pass --tensorboard on
        for seed in (0, 1):
            assert any((tmp_path / "tb" / t["name"] / f"seed_{seed}").glob("events.out.tfevents.*")), t


def test_a_ray_trial_uses_as_many_pgrad_threads_as_it_was_given_cpus(local_ray):
    from pgrad.sweeps.ray_trial import pin_threads

    @ray.remote
    def threads_in_a_trial() -> int:
        from pgrad.rollout import threads

        pin_threads()
        return threads.count()

    assert ray.get([threads_in_a_trial.options(num_cpus=n).remote() for n in (1, 2)]) == [1, 2]


def test_a_storage_folder_the_user_gave_is_kept_with_what_it_held(local_ray, tmp_path):
    # pgrad removes only the temporary Tune storage it made itself, never --storage
    storage = tmp_path / "tune-storage"
    storage.mkdir()
    (storage / "theirs.txt").write_text("not pgrad's")
    args = ["--grid", "lr=1", "--seeds", "0", "--max-episodes", "24", "--eval-episodes", "2"]
    assert sweep(*args, "--backend", "ray", "--storage", str(storage), "--out", str(tmp_path / "s")) == 0
    assert (storage / "theirs.txt").read_text() == "not pgrad's"
    assert any(p.name.startswith("pgrad-sweep-") for p in storage.iterdir())  # Tune's run stays there


def test_asha_stops_the_trials_that_fall_behind(local_ray, tmp_path):
    out = tmp_path / "asha"
    args = ["--grid", "lr=2,1.5,0.002,0.001", *SEEDS, "--episodes-per-update", "8", "--max-episodes", "300",
            "--solve-threshold", "inf", "--eval-episodes", "2", "--checkpoint-every", "0.5"]
    assert sweep(*args, "--backend", "ray", "--scheduler", "asha", "--out", str(out), quiet=False) == 0
    status = {t["name"]: t for t in trials_of(out)}
    assert status["lr=0.002"]["status"] == status["lr=0.001"]["status"] == "stopped", status
    assert "done" in {status["lr=2"]["status"], status["lr=1.5"]["status"]}, status
    stopped = [t for t in status.values() if t["status"] == "stopped"]
    for t in stopped:
        assert t["reason"].startswith("stopped by asha at ") and t["reason"].endswith(" env steps"), t
        assert t["node"] == local_ray
        run = out / t["run_dir"]
        if run.exists():  # its last snapshot, resumable
            assert strict_json(run / "summary.json")["run_status"] == "running"
            assert (run / "checkpoint").is_dir()
    text = (out / "report.md").read_text()
    assert "--scheduler asha`" in text and f"`{stopped[0]['name']}`: stopped: stopped by asha at " in text
    assert main(["sweep", "--resume", str(out), "--quiet"]) == 0  # stopped trials are settled: nothing runs
    assert {t["name"]: t["status"] for t in trials_of(out)} == {n: t["status"] for n, t in status.items()}


def optuna_sweeps(tmp_path: Path, trials: int, seeds: list[str]) -> list[list[tuple[str, dict]]]:
    """The trials (name, overrides) of an Optuna sweep of ``trials`` trials under each search seed."""
    drawn = []
    for i, seed in enumerate(seeds):
        out = tmp_path / f"optuna{i}"
        args = [*OPTUNA, "--trials", str(trials), "--search-seed", seed, "--out", str(out)]
        assert sweep(*args, quiet=i > 0) == 0
        found = trials_of(out)
        assert len(found) == trials and {t["status"] for t in found} == {"done"}
        for t in found:
            assert 0.1 <= t["overrides"]["lr"] <= 3 and 4 <= t["overrides"]["episodes_per_update"] <= 16
            assert type(t["overrides"]["episodes_per_update"]) is int
            check_complete_run(out / t["run_dir"], [0], plot=False)
        assert strict_json(out / "sweep.json")["spec"]["search"] == "optuna"
        drawn.append([(t["name"], t["overrides"]) for t in found])
    return drawn


def test_optuna_search_is_reproducible_under_its_seed(local_ray, tmp_path):
    first, again = optuna_sweeps(tmp_path, 4, ["3", "3"])  # two rounds of 2 (the module's 2 CPUs)
    assert first == again and len({name for name, _ in first}) == 4


@pytest.mark.slow
def test_optuna_search_is_reproducible_past_its_random_start(local_ray, tmp_path):
    first, again, other = optuna_sweeps(tmp_path, 12, ["3", "3", "4"])  # TPE proper from the 11th trial
    assert first == again and first != other


def test_optuna_proposes_rounds_that_depend_only_on_the_seed_and_the_results():
    from pgrad.sweeps import Task
    from pgrad.sweeps.ray_search import OptunaPlan, optuna_search
    from pgrad.sweeps.spec import make_spec

    spec = make_spec("reinforce", {}, "0", grid=[], space=["lr=log:0.01:1", "baseline=choice:none,time_mean"],
                     search="optuna", trials=14, search_seed=5, backend="ray")

    def proposals(seed: int, batch: int, reverse: bool = False) -> list[dict]:
        claimed: list[dict] = []
        plan = OptunaPlan([], [], 14, lambda values: claimed.append(values) or Task(f"t{len(claimed)}", ()))
        searcher, done = optuna_search(dataclasses.replace(spec, search_seed=seed), plan, batch), 0
        while done < 14:
            ids = [f"{done + i}" for i in range(batch)]
            got = [searcher.suggest(i) for i in ids]
            assert searcher.suggest("extra") is None  # a round is never more than batch trials
            ends = list(zip(ids, got, strict=True))
            for i, values in reversed(ends) if reverse else ends:  # trials of a round end in any order
                assert values is not None and values["pgrad_task"]["name"] == f"t{int(i) + 1}"
                searcher.on_trial_complete(i, {"window_mean": 100 * values["lr"]})
            done += batch
        return claimed

    first = proposals(5, 2)
    assert first == proposals(5, 2, reverse=True) and first != proposals(6, 2)
    assert first[:10] == proposals(5, 7)[:10]  # the 10 random start-up draws; TPE after them sees the results
    assert len({v["lr"] for v in first}) == 14 and {v["baseline"] for v in first} <= {"none", "time_mean"}


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused(tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    (tmp_path / "mine").mkdir(exist_ok=True)
    before = tree_hash(tmp_path)
    capsys.readouterr()
    start = time.monotonic()
    out = [] if "--resume" in argv else ["--out", str(tmp_path / "new")]
    assert main(["sweep", *argv, *out, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("pgrad: error: "), err
    assert message in err, err
    assert time.monotonic() - start < 10
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_ray_address_that_does_not_answer_is_refused_at_once(scheme, local_ray, tmp_path, capsys):
    where = f"127.0.0.1:{closed_port()}"
    refused(tmp_path, capsys, [*GRID, "--backend", "ray", "--address", scheme + where],
            f"--address {scheme}{where}: no Ray cluster answers at {where} (")


@pytest.mark.parametrize("argv, message", [
    (["--scheduler", "asha", *GRID], "--scheduler asha needs --backend ray"),
    (["--search", "optuna", "--space", "lr=log:0.1:1", "--trials", "2"],
     "--search optuna needs --backend ray"),
    ([*GRID, "--address", "auto"], "--address needs --backend ray"),
    ([*GRID, "--storage", "/tmp"], "--storage needs --backend ray"),
    ([*GRID, "--backend", "ray", "--cpus-per-trial", "0"], "--cpus-per-trial must be positive, got 0"),
    ([*GRID, "--backend", "ray", "--address", "nowhere"], "--address 'nowhere': give auto, HOST:PORT"),
    ([*GRID, "--backend", "ray", "--address", "ray://nowhere"],
     "--address 'ray://nowhere': give auto, HOST:PORT"),
    (["--search", "optuna", "--backend", "ray", "--space", "lr=log:0.1:1"],
     "--search optuna needs --trials N"),
    (["--search", "optuna", "--backend", "ray", "--trials", "2"],
     "--search optuna needs at least one --space"),
    (["--backend", "ray", "--scheduler", "hyperband", *GRID], "argument --scheduler: invalid choice"),
    (["--resume", "mine", "--scheduler", "asha"], "drop --scheduler"),
])
def test_ray_flags_are_checked_before_anything_runs(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(tmp_path, capsys, argv, message)


def test_without_ray_the_sweep_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from pgrad.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    before = tree_hash(tmp_path)
    proc = subprocess.run([sys.executable, "-c", code, "sweep", *GRID, "--backend", "ray", "--out", "new"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "pgrad: error: pgrad sweep --backend ray needs Ray: pip install 'pgrad[ray]'\n"
    assert tree_hash(tmp_path) == before
