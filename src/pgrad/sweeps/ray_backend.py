"""The Ray backend: every trial a Ray Tune trial (:mod:`pgrad.sweeps.ray_trial`), on a local Ray
started for the sweep or on an existing cluster.

    connect   --address (auto, HOST:PORT of the head, or ray://HOST:PORT of its Ray Client server):
              something must answer there within PROBE_SECONDS (else one line, exit 2, before
              anything is written); without it, a local Ray of --workers CPUs (or this process's
              own Ray, if it has one: left running)
    run       tune.Tuner over the trials: a grid over the tasks, or the trials Optuna draws
              (:mod:`pgrad.sweeps.ray_search`); each trial --cpus-per-trial CPUs;
              FailureConfig(max_failures): a lost worker or node restarts the trial from its
              latest checkpoint; --scheduler asha: ASHA on window_mean, in env steps
    follow    a Tune callback in the sweep's process turns Tune's events into the sweep's outcomes
              (``running`` with the Ray node id, then done / failed from the trial's last report,
              ``stopped`` by the scheduler, ``interrupted`` if Tune gave up on it or the sweep got
              SIGINT / SIGTERM) and copies every checkpoint into ``runs/<trial>/``; through Ray
              Client (``ray://``) Tune runs on the cluster instead, and its events come back
              through a relay (:mod:`pgrad.sweeps.ray_client`): the same outcomes, the same folders

Where trials write: each trial trains in a scratch folder of its own node; its run folder (every
snapshot, and the finished folder) travels back as a Tune checkpoint through Tune's storage
(``--storage``: by default a temporary folder of the machine Tune runs on, removed after the
sweep; a cluster of several machines needs a folder every node mounts at the same path, or a URI
such as ``s3://bucket/sweeps``), and the sweep copies it into ``runs/<trial>/``. ``runs/`` thus always holds
each trial's latest snapshot, from which ``pgrad sweep --resume`` continues it (the snapshot is
shipped to the trial through Ray's object store). ``--tensorboard DIR`` is written by the trials on
their nodes: a shared folder on a cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune

from pgrad import folders
from pgrad.sweeps import Outcome, Report, Task
from pgrad.sweeps.local import Signals
from pgrad.sweeps.ray_search import OptunaPlan, asha, optuna_search
from pgrad.sweeps.ray_trial import TASK, folder_files, trainable, write_files
from pgrad.sweeps.spec import SweepSpec

PROBE_SECONDS = 3.0
"""How long ``--address`` may take to answer."""
MAX_FAILURES = 3
"""Restarts of a trial whose worker or node was lost, each from its latest checkpoint."""
QUIET_TUNE = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "TUNE_DISABLE_SIGINT_HANDLER": "1",
              "RAY_AIR_NEW_OUTPUT": "0"}
"""Tune without its per-trial result files, its SIGINT handler (the sweep's own stops it) and its
progress output (the sweep shows its own)."""


@dataclass(frozen=True)
class RayOptions:
    """How a sweep uses Ray: CPUs per trial, trials at once (None: as many as the CPUs allow), Tune's
    storage (None: a temporary folder) and restarts of a trial whose worker was lost."""

    cpus_per_trial: float = 1.0
    max_concurrent: int | None = None
    storage: str | None = None
    max_failures: int = MAX_FAILURES


# ---------------------------------------------------------------------------------------------
# Connecting
# ---------------------------------------------------------------------------------------------

def probe(address: str) -> None:
    """A one-line ValueError unless something answers at the Ray address within PROBE_SECONDS:
    ``auto`` (the cluster ``ray start`` made on this machine), ``HOST:PORT`` (its head's GCS) or
    ``ray://HOST:PORT`` (its head's Ray Client server, which must also answer Ray Client's ping)."""
    client = address.startswith("ray://")
    where = address.removeprefix("ray://")
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address
        except ImportError:
            return  # Ray's own lookup moved: ray.init finds the cluster or says why not
        try:
            resolved = canonicalize_bootstrap_address("auto")
        except (ConnectionError, ValueError):
            resolved = None
        if resolved is None:
            raise ValueError("--address auto: no running Ray cluster found on this machine (start one with "
                             "`ray start --head`, or give --address HOST:PORT)")
        where = resolved
    host, sep, port = where.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--address {address!r}: give auto, HOST:PORT (the head node's GCS address) or "
                         "ray://HOST:PORT (its Ray Client server)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), PROBE_SECONDS).close()
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise ValueError(f"--address {address}: no Ray cluster answers at {host}:{port} ({why} within "
                         f"{PROBE_SECONDS:g} s)") from None
    if client:
        from pgrad.sweeps.ray_client import ping

        ping(address, where, PROBE_SECONDS)


@contextlib.contextmanager
def connected(address: str | None, num_cpus: int, storage: str | None) -> Iterator[None]:
    """Ray for the sweep: this process's own Ray if it has one (left running); else the cluster at
    ``address`` (disconnected at the end; ``ray://``: through Ray Client) or a local Ray of
    ``num_cpus`` CPUs (stopped at the end).
    One-line ValueErrors: nothing at ``address``, Ray refusing to start or connect, a cluster of
    several machines without shared ``storage``."""
    if address is not None:
        probe(address)
    own = not ray.is_initialized()
    if own:
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if address is None:
                ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **quiet)
            else:
                ray.init(address=address, **quiet)
        except Exception as e:  # Ray's own reason, whatever its type
            raise ValueError(f"Ray did not start: {(str(e).splitlines() or [type(e).__name__])[0]}") from None
    try:
        machines = {n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}
        if storage is None and len(machines) > 1:
            raise ValueError(f"the Ray cluster spans {len(machines)} machines: give --storage, a folder "
                             "every node mounts at the same path or a URI (s3://bucket/path), for Tune's "
                             "checkpoints")
        yield
    finally:
        if own:
            ray.shutdown()


def slots(options: RayOptions) -> int:
    """Trials that can run at once: ``max_concurrent``, else the cluster's CPUs / CPUs per trial."""
    if options.max_concurrent is not None:
        return options.max_concurrent
    return max(1, int(ray.cluster_resources().get("CPU", 1) // options.cpus_per_trial))


# ---------------------------------------------------------------------------------------------
# Following Tune
# ---------------------------------------------------------------------------------------------

Install = Callable[[str, dict[str, bytes]], None]
"""Where a checkpoint's run folder goes: ``(run_dir, folder_files)``."""


def install(run_dir: str, files: dict[str, bytes]) -> None:
    """Write a trial's run folder (:func:`~pgrad.sweeps.ray_trial.folder_files`) into ``run_dir``,
    written whole (replacing only a run folder pgrad wrote)."""
    with folders.written_whole(Path(run_dir), "run") as tmp:
        write_files({k: v for k, v in files.items() if k != folders.MARKER}, tmp)


class Events(tune.Callback):
    """Tune's events as the sweep's outcomes (``report``); every checkpoint's run folder handed to
    ``install`` for its trial's run folder. Both are the sweep's own functions when Tune runs in
    the sweep's process, a relay to it when Tune runs on the cluster (Ray Client)."""

    def __init__(self, report: Report, scheduler: str | None, install: Install = install) -> None:
        self.report, self.scheduler, self.install = report, scheduler, install
        self.nodes: dict[str, str] = {}
        self.started: set[str] = set()
        self.ended: set[str] = set()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "report": None}  # Tune pickles the experiment; the sweep's own state stays

    @staticmethod
    def task(trial: Any) -> dict[str, Any]:
        task: dict[str, Any] = trial.config[TASK]
        return task

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        name = self.task(trial)["name"]
        self.started.add(name)
        self.report(Outcome(name, "running", node=self.nodes.get(name)))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        name, node = self.task(trial)["name"], result.get("node")
        if isinstance(node, str) and self.nodes.get(name) != node:
            self.nodes[name] = node
            self.report(Outcome(name, "running", node=node))

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: tune.Checkpoint,
                      **info: Any) -> None:
        with checkpoint.as_directory() as folder:
            files = folder_files(Path(folder))
        self.install(self.task(trial)["run_dir"], files)

    def unsettled(self) -> list[tuple[str, str | None]]:
        """The trials that started and did not end (stopped with the sweep), with their nodes."""
        return [(name, self.nodes.get(name)) for name in sorted(self.started - self.ended)]

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        name, last = self.task(trial)["name"], trial.last_result or {}
        status = last.get("pgrad_status") or "stopped"
        reason = last.get("pgrad_reason")
        if status == "stopped":
            reason = f"stopped by {self.scheduler} at {last.get('env_steps', 0)} env steps"
        elif status == "done" and trial.num_failures:
            restored = last.get("pgrad_restored")
            where = "from scratch" if restored is None else f"from its checkpoint at update {restored}"
            reason = f"restarted {trial.num_failures} time(s) by Ray after a lost worker, {where}"
        self.ended.add(name)
        self.report(Outcome(name, status, reason, self.nodes.get(name), last.get("wall_seconds")))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        name, error = self.task(trial)["name"], trial.get_error()
        why = (str(error).strip().splitlines() or [type(error).__name__])[-1] if error else "unknown error"
        self.ended.add(name)
        self.report(Outcome(name, "interrupted", f"Ray trial failed {trial.num_failures} times: {why}",
                            self.nodes.get(name)))


class StopOnSignal(tune.Stopper):
    """Stops every trial once the sweep got SIGINT or SIGTERM (``signals``: anything with a
    ``received`` list)."""

    def __init__(self, signals: Any) -> None:
        self.signals = signals

    def __getstate__(self) -> dict:
        return {"signals": Signals()}

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return bool(self.signals.received)


# ---------------------------------------------------------------------------------------------
# The backend
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet_tune() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in QUIET_TUNE}
    levels = {name: logging.getLogger(name).level for name in ("ray.tune", "ray.train")}
    os.environ.update(QUIET_TUNE)
    for name in levels:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # a lost worker: the sweep says so itself
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _dirname(trial: Any) -> str:
    return str(trial.trial_id)


def fit(tasks: Sequence[Task], snapshots: dict[str, dict[str, bytes]], *, spec: SweepSpec,
        options: RayOptions, search: OptunaPlan | None, events: Events, stop: tune.Stopper) -> None:
    """Run the sweep's Tune experiment in this process (the sweep's own, or under Ray Client a task
    on the cluster): ``tasks`` (or, with ``search``, the trials Optuna draws) as trials, the
    Tune events to ``events``, stopped once ``stop`` says so."""
    count = len(tasks) if search is None else len(search.points) + search.draws
    resources = {"cpu": options.cpus_per_trial}
    runnable = tune.with_resources(tune.with_parameters(trainable, snapshots=snapshots), resources)
    if search is None:
        space: dict[str, Any] = {TASK: tune.grid_search([dataclasses.asdict(t) for t in tasks])}
        searcher, samples = None, 1
    else:
        space, searcher, samples = {}, optuna_search(spec, search, slots(options)), count
    storage = options.storage or tempfile.mkdtemp(prefix="pgrad-tune-")
    try:
        with _quiet_tune():
            tuner = tune.Tuner(runnable, param_space=space, tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=asha(spec) if spec.scheduler == "asha" else None,
                num_samples=samples, max_concurrent_trials=None if searcher else options.max_concurrent,
                reuse_actors=True, trial_dirname_creator=_dirname),
                run_config=tune.RunConfig(
                    name=f"pgrad-sweep-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}", storage_path=storage,
                    callbacks=[events], stop=stop,
                    verbose=0, failure_config=tune.FailureConfig(max_failures=options.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
            tuner.fit()
    finally:
        if options.storage is None:
            shutil.rmtree(storage, ignore_errors=True)


def run_ray(tasks: Sequence[Task], report: Report, *, spec: SweepSpec, options: RayOptions,
            search: OptunaPlan | None = None) -> int | None:
    """Run ``tasks`` (or, with ``search``, the trials Optuna draws) as Ray Tune trials on the Ray
    this process is connected to (a :class:`~pgrad.sweeps.Backend`); returns the signal that
    interrupted the sweep, or None. Through Ray Client, Tune runs on the cluster
    (:func:`pgrad.sweeps.ray_client.run_remote`)."""
    count = len(tasks) if search is None else len(search.points) + search.draws
    if count == 0:
        return None
    snapshots = {t.name: folder_files(Path(t.run_dir)) for t in tasks if t.argv[:1] == ("resume",)}
    with Signals() as signals:
        if ray.util.client.ray.is_connected():
            from pgrad.sweeps.ray_client import run_remote

            unsettled = run_remote(tasks, snapshots, report, signals, spec=spec, options=options,
                                   search=search)
        else:
            events = Events(report, spec.scheduler)
            fit(tasks, snapshots, spec=spec, options=options, search=search, events=events,
                stop=StopOnSignal(signals))
            unsettled = events.unsettled()
    for name, node in unsettled:  # stopped with the sweep: resumable
        report(Outcome(name, "interrupted", None, node))
    return signals.received[0] if signals.received else None
