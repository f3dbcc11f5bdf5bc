"""``pgrad sweep --backend ray --address ADDR`` on a two-node Ray cluster on this machine
(``ray.cluster_utils.Cluster``, as Ray's own tests do), shared by the module (issue 11).

- trials run on both nodes: sweep.json names two node ids, the cluster's own, and every trial equals
  the local backend's, bit for bit;
- a trial whose worker process is killed (SIGKILL) mid-trial is restarted by Ray Tune from its
  latest checkpoint (FailureConfig) and still ends bit-identical to the local backend's; sweep.json
  says that it was restarted, and from which update;
- SIGINT stops a Ray sweep resumably (exit 130, its trials ``interrupted``, their latest snapshots
  in runs/), and ``--resume`` on the cluster finishes it, bit-identical.
"""

from __future__ import annotations

import fcntl
import glob
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium  # noqa: F401  (first: its warning filters, set on import, must not override the marks')
import pytest

pytest.importorskip("ray")

from helpers import check_complete_run, strict_json  # noqa: E402
from pgrad.cli import main  # noqa: E402
from test_sweep import same_trial, trials_of  # noqa: E402

LONG = ["--grid", "lr=1,2", "--seeds", "0-1", "--episodes-per-update", "16", "--solve-threshold", "inf",
        "--eval-episodes", "5"]
"""Two trials of two seeds, never solved: they train to their --max-episodes."""


@pytest.fixture(scope="module")
def cluster():
    """A head node and a second node, one CPU each; the test process is not connected to it."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def node_ids(cluster) -> set[str]:
    return {node.node_id for node in cluster.list_all_nodes()}


def local_sweep(out: Path, *args: str) -> Path:
    assert main(["sweep", *args, "--out", str(out), "--workers", "2", "--quiet"]) == 0
    return out


def test_trials_run_on_both_nodes_and_equal_the_local_backend(cluster, tmp_path):
    # Trials long enough (a few seconds) to overlap: Tune gives a trial that finishes before the
    # other node's worker has started to the same node's actor (reuse_actors), so two 0.1 s
    # trials can both land on one node.
    args = [*LONG, "--max-episodes", "1600"]
    out = tmp_path / "cluster"
    assert main(["sweep", *args, "--backend", "ray", "--address", cluster.address, "--out", str(out),
                 "--quiet"]) == 0
    trials = trials_of(out)
    assert {t["status"] for t in trials} == {"done"}
    nodes = {t["node"] for t in trials}
    assert len(nodes) == 2 and nodes == node_ids(cluster), (nodes, node_ids(cluster))
    here = local_sweep(tmp_path / "local", *args)
    for t in trials:
        check_complete_run(out / t["run_dir"], [0, 1], plot=False)
        same_trial(out / t["run_dir"], here / t["run_dir"])


def worker_pid(name: str) -> int | None:
    """The pid in the held lock of the trial's run folder, in its scratch folder: the Ray worker training
    it (a killed worker's folder, its lock no longer held, stays until the trial runs on its node again)."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "pgrad-trial-*", f".{name}.pgrad-lock")):
        try:
            with open(path) as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # held: its writer is alive
                    return int(lock.read().split()[0])
        except (OSError, IndexError, ValueError):
            continue
    return None


def snapshot_arrived(out: Path, name: str) -> bool:
    try:
        return strict_json(out / "runs" / name / "summary.json")["run_status"] == "running"
    except (OSError, ValueError):
        return False


def start_sweep(out: Path, *args: str) -> subprocess.Popen:
    """A real ``pgrad sweep --backend ray`` process (stderr captured), checkpointing every 0.3 s."""
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from pgrad.cli import main; sys.exit(main())", "sweep", *args,
         "--backend", "ray", "--checkpoint-every", "0.3", "--out", str(out), "--quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MPLBACKEND": "Agg"})


def wait_for(proc: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the sweep ended or stalled first: {proc.communicate()[1]!r}")
        time.sleep(0.05)


def test_a_killed_worker_is_resumed_by_tune_and_the_trial_stays_bit_identical(cluster, tmp_path):
    args = [*LONG, "--max-episodes", "1000"]
    out = tmp_path / "cluster"
    proc = start_sweep(out, *args, "--address", cluster.address)
    wait_for(proc, lambda: snapshot_arrived(out, "lr=1") and worker_pid("lr=1") is not None)
    pid = worker_pid("lr=1")
    assert pid is not None and pid != proc.pid
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    trials = {t["name"]: t for t in trials_of(out)}
    assert {t["status"] for t in trials.values()} == {"done"}
    killed = trials["lr=1"]["reason"]
    assert killed.startswith("restarted 1 time(s) by Ray after a lost worker, from its checkpoint at "
                             "update "), killed
    assert int(killed.rsplit(" ", 1)[1]) > 0
    assert trials["lr=2"]["reason"] is None
    here = local_sweep(tmp_path / "local", *args)
    for t in trials.values():
        check_complete_run(out / t["run_dir"], [0, 1], plot=False)
        same_trial(out / t["run_dir"], here / t["run_dir"])


@pytest.mark.slow
def test_sigint_stops_a_ray_sweep_resumably_and_resume_finishes_it_bit_identical(cluster, tmp_path):
    args = [*LONG, "--max-episodes", "1000"]
    out = tmp_path / "cluster"
    proc = start_sweep(out, *args, "--address", cluster.address)
    wait_for(proc, lambda: snapshot_arrived(out, "lr=1"))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.endswith(f"pgrad: interrupted; resume with: pgrad sweep --resume {out}\n"), err
    assert trials_of(out)[0]["status"] == "interrupted"
    assert (out / "runs" / "lr=1" / "checkpoint").is_dir()
    assert main(["sweep", "--resume", str(out), "--address", cluster.address, "--quiet"]) == 0
    here = local_sweep(tmp_path / "local", *args)
    for t in trials_of(out):
        assert t["status"] == "done", t
        same_trial(out / t["run_dir"], here / t["run_dir"])
