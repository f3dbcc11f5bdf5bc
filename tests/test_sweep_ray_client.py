"""``pgrad sweep --backend ray --address ray://HOST:PORT``: a sweep through Ray Client, on a Ray head
started as users start one (``ray start --head`` in a subprocess, its own temp dir and ports),
shared by the module (issue 11).

- every trial equals the local backend's, bit for bit; sweep.json names the head's node id; the
  sweep folder holds what a local Ray's holds (Tune ran on the cluster, its run folders came back
  through Ray);
- ``--search optuna`` through Ray Client: each proposal registered with the sweep here;
- SIGINT stops a sweep through Ray Client resumably (exit 130, its trials ``interrupted``, their
  snapshots in runs/), and ``--resume`` through Ray Client finishes it, bit-identical;
- an address that answers but is no Ray Client server is refused at once: one line, exit 2,
  nothing written (a closed port: tests/test_sweep_ray.py).

The head is stopped by killing its process group (``ray stop`` would stop every Ray of the machine).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium  # noqa: F401  (first: its warning filters, set on import, must not override the marks')
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("grpc")  # pgrad[ray] installs ray[client]

from helpers import check_complete_run, strict_json  # noqa: E402
from pgrad.cli import main  # noqa: E402
from pgrad.sweeps.ray_client import ping  # noqa: E402
from test_sweep import FIXED, same_trial, start_sweep, statuses, trials_of, wait_until  # noqa: E402
from test_sweep_ray import refused  # noqa: E402

SMALL = ["--grid", "lr=0.5,2", *FIXED, "--seeds", "0-1"]
"""Two trials of two seeds."""


def free_port() -> int:
    """A port nothing listens on (the kernel's ephemeral range: outside Ray's worker ports)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head():
    """``ray start --head`` with 2 CPUs and a Ray Client server, in its own process group and temp
    dir: yields its ray:// address and its node id; killed (the group) at the end."""
    temp = tempfile.mkdtemp(prefix="rc-", dir="/tmp")  # short: Ray's socket paths must fit
    client = free_port()
    ports = [f"--port={free_port()}", f"--ray-client-server-port={client}", f"--dashboard-port={free_port()}",
             f"--dashboard-agent-listen-port={free_port()}"]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # this test's own head, on 127.0.0.1 only
    bin_dir = os.path.dirname(sys.executable)
    start = subprocess.Popen([os.path.join(bin_dir, "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
                              *ports, "--num-cpus=2", f"--temp-dir={temp}", "--include-dashboard=false",
                              "--disable-usage-stats"], env=env, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    group = start.pid
    try:
        out, _ = start.communicate(timeout=120)
        assert start.returncode == 0, out
        address = f"ray://127.0.0.1:{client}"
        deadline = time.monotonic() + 60
        while True:  # `ray start` returns before its Ray Client server answers, on a busy machine
            try:
                ping(address, f"127.0.0.1:{client}", 3.0)
                break
            except ValueError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        node = first_connection(address, temp)
        yield address, node
    finally:
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signum)
            time.sleep(2)
        shutil.rmtree(temp, ignore_errors=True)


def first_connection(address: str, temp: str, attempts: int = 3) -> str:
    """Connect once through Ray Client and return the head's node id. A try whose per-client server
    fails to start (Ray's "Starting Ray client server failed", now and then the first time on a
    fresh head) is made again; the last failure shows that server's own error log."""
    for attempt in range(attempts):
        try:
            ray.init(address=address, log_to_driver=False)
            node = ray.get_runtime_context().get_node_id()
            ray.shutdown()
            return node
        except ConnectionAbortedError:
            ray.shutdown()
            if attempt == attempts - 1:
                logs = "".join(Path(f).read_text()[-2000:] for f in
                               glob.glob(os.path.join(temp, "session_*", "logs", "ray_client_server_*.err")))
                message = f"Ray Client refused {attempts} times; its servers said:\n{logs}"
                raise AssertionError(message) from None
            time.sleep(2)
    raise AssertionError("unreachable")


def test_a_sweep_through_ray_client_equals_the_local_backend(head, tmp_path):
    address, node = head
    out = tmp_path / "client"
    assert main(["sweep", *SMALL, "--backend", "ray", "--address", address, "--out", str(out),
                 "--quiet"]) == 0
    here = tmp_path / "local"
    assert main(["sweep", *SMALL, "--workers", "2", "--out", str(here), "--quiet"]) == 0
    assert not ray.is_initialized()  # disconnected after the sweep
    assert [(t["name"], t["overrides"]) for t in trials_of(out)] == \
        [(t["name"], t["overrides"]) for t in trials_of(here)]
    for t in trials_of(out):
        assert (t["status"], t["reason"], t["node"]) == ("done", None, node), t
        check_complete_run(out / t["run_dir"], [0, 1], plot=False)
        same_trial(out / t["run_dir"], here / t["run_dir"])
    def listing(folder: Path) -> list[str]:
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    assert listing(out) == listing(here)
    assert strict_json(out / "sweep.json")["spec"]["backend"] == "ray"


@pytest.mark.slow
def test_optuna_through_ray_client_registers_each_proposal_here(head, tmp_path):
    address, node = head
    out = tmp_path / "optuna"
    args = ["--backend", "ray", "--search", "optuna", "--space", "lr=log:0.1:3", "--seeds", "0",
            "--max-episodes", "24", "--eval-episodes", "2", "--trials", "3", "--search-seed", "3"]
    assert main(["sweep", *args, "--address", address, "--out", str(out), "--quiet"]) == 0
    trials = trials_of(out)
    assert len({t["name"] for t in trials}) == 3 and {t["status"] for t in trials} == {"done"}, trials
    for t in trials:
        assert t["node"] == node and 0.1 <= t["overrides"]["lr"] <= 3
        check_complete_run(out / t["run_dir"], [0], plot=False)


def test_an_address_that_is_no_ray_client_server_is_refused_at_once(tmp_path, capsys):
    with socket.socket() as silent:  # accepts connections, never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        where = f"127.0.0.1:{silent.getsockname()[1]}"
        refused(tmp_path, capsys, [*SMALL, "--backend", "ray", "--address", f"ray://{where}"],
                f"--address ray://{where}: {where} answers, but not as a Ray Client server")


@pytest.mark.slow
def test_sigint_stops_a_ray_client_sweep_resumably_and_resume_finishes_it_bit_identical(head, tmp_path):
    address, node = head
    args = ["--grid", "lr=0.5,1", "--seeds", "0-1", "--episodes-per-update", "16", "--max-episodes", "1000",
            "--solve-threshold", "inf", "--eval-episodes", "5", "--checkpoint-every", "0.5"]  # one per CPU
    out = tmp_path / "cut"
    proc = start_sweep(tmp_path, *args, "--backend", "ray", "--address", address, "--out", str(out),
                       "--quiet")
    wait_until(proc, lambda: statuses(out)[:1] == ["running"]
               and any(out.glob("runs/*/checkpoint")), timeout=120)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().endswith(f"pgrad: interrupted; resume with: pgrad sweep --resume {out}"), err
    assert "interrupted" in statuses(out) and "done" not in statuses(out), statuses(out)
    assert main(["sweep", "--resume", str(out), "--address", address, "--quiet"]) == 0
    here = tmp_path / "local"
    assert main(["sweep", *args, "--workers", "2", "--out", str(here), "--quiet"]) == 0
    for t in trials_of(out):
        assert (t["status"], t["node"]) == ("done", node), t
        same_trial(out / t["run_dir"], here / t["run_dir"])
