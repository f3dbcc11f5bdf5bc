"""One trial of a Ray sweep, as a Ray Tune function trainable: a :class:`~pgrad.sweeps.Task` trained
by ``pgrad train`` (or ``resume``) in a Tune worker, wherever Ray placed it.

    restore   the run folder of the trial's latest Tune checkpoint (Tune restarted the trial
              after a lost worker: FailureConfig), else the snapshot the sweep shipped with the
              task (``pgrad sweep --resume``), else none
    train     :func:`pgrad.sweeps.run_trial` in this worker: ``pgrad resume`` of a restored run
              folder, ``pgrad train`` otherwise, its run folder ``<scratch>/<trial>`` in a scratch
              folder of this node, ``<temp dir>/pgrad-trial-<Tune trial id>`` (removed at the end;
              a killed worker's, by the trial's next attempt on the same node)
    report    each update's metrics to Tune (:func:`tune_metrics`); every snapshot pgrad writes
              (its ``checkpoint/`` inside) goes with its update's report as a ``tune.Checkpoint``,
              and the finished run folder with the last report, which also holds the trial's end:
              ``pgrad_status`` done / failed (with ``pgrad_reason``) and ``pgrad_restored``, the
              update of the Tune checkpoint this attempt continued from (None: none)

The sweep (:mod:`pgrad.sweeps.ray_backend`) copies each reported run folder into
``runs/<trial>/``, so results travel back from any node through Tune's storage.

A run folder travels as :func:`folder_files`: pgrad's marker and the files it lists, by relative
path (no pickle, no links); :func:`write_files` puts them back.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pgrad import folders
from pgrad.sweeps import Outcome, Task, run_trial
from pgrad.training.loop import TrainState

TASK = "pgrad_task"
"""The key of a Tune trial's config that holds its task (name, argv, run_dir, resume)."""
METRIC = "window_mean"
"""What ASHA and Optuna maximise: see :func:`tune_metrics`."""


def folder_files(run: Path) -> dict[str, bytes]:
    """A pgrad run folder as relative path -> bytes: its marker and every file the marker lists; a
    one-line ValueError if ``run`` has no run marker of pgrad's."""
    marker = folders.read_marker(run)
    if marker is None or marker["kind"] != "run":
        raise ValueError(f"{run} is not a pgrad run folder (no run marker)")
    files = {folders.MARKER: (run / folders.MARKER).read_bytes()}
    for name in marker["files"]:
        path = run / name
        if path.is_file() and not path.is_symlink():
            files[name] = path.read_bytes()
    return files


def write_files(files: dict[str, bytes], folder: Path) -> None:
    """Write :func:`folder_files` into ``folder`` (created if missing); a ValueError for a path that
    would leave it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not parts:
            raise ValueError(f"run folder file {name!r} is not a relative path inside the folder")
        path = folder.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def tune_metrics(state: TrainState, metrics: dict, node: str) -> dict[str, Any]:
    """The update's result for Tune: ``update`` (updates done), ``env_steps`` (the most any seed
    took), ``episodes`` (over seeds), ``mean_return`` (of the episodes finished in the update),
    ``window_mean`` (over the seeds with an episode, each one's mean return over its last
    ``solve_window`` episodes, seeds that stopped included: unlike the loop's own, it does not drop
    as seeds solve), ``seeds_training`` and the Ray ``node`` id."""
    log = state.log
    means = [log.window_mean(i) for i in range(len(state.seeds)) if log.episodes[i]]
    return {"update": state.update, "env_steps": int(log.steps.max()), "episodes": int(log.episodes.sum()),
            "mean_return": metrics["mean_return"], METRIC: float(np.mean(means)) if means else 0.0,
            "seeds_training": int(log.active.sum()), "node": node}


class Reporter:
    """The trial's link to Tune: a loop callback that keeps each update's result until it knows
    whether a snapshot follows (:meth:`written` reports it with that snapshot as its checkpoint;
    the next update reports it alone), and the last report (:meth:`finish`)."""

    def __init__(self, node: str, restored: int | None = None) -> None:
        self.node, self.restored = node, restored
        self.pending: dict[str, Any] | None = None
        self.last: dict[str, Any] = {METRIC: 0.0, "node": node}

    def __call__(self, metrics: dict, state: TrainState) -> None:
        self.report()
        self.pending = self.last = tune_metrics(state, metrics, self.node)

    def written(self, run: Path, status: str) -> None:
        if status != "done":  # a snapshot; the finished folder goes with the last report
            self.report(run)

    def report(self, run: Path | None = None) -> None:
        from ray import tune

        if self.pending is not None:
            result, self.pending = self.pending, None
            tune.report(result, checkpoint=None if run is None else tune.Checkpoint.from_directory(str(run)))

    def finish(self, outcome: Outcome, run: Path) -> None:
        """The last report: the last update's result with the trial's end (``pgrad_status``,
        ``pgrad_reason``, ``wall_seconds``) and, if it is done, the finished run folder."""
        from ray import tune

        result = {**self.last, "pgrad_status": outcome.status, "pgrad_reason": outcome.reason,
                  "pgrad_restored": self.restored, "wall_seconds": outcome.wall_seconds}
        self.pending = None
        done = outcome.status == "done"
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(str(run)) if done else None)


def _restored(task: Task, snapshots: dict[str, dict[str, bytes]]) -> tuple[dict[str, bytes] | None, bool]:
    """The run folder to continue from, and whether it is the trial's latest Tune checkpoint (else
    the snapshot shipped with the task, if any)."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            return folder_files(Path(folder)), True
    return snapshots.get(task.name), False


def _update(files: dict[str, bytes]) -> int | None:
    """The update count of a run folder's checkpoint (None if it has none)."""
    state = files.get("checkpoint/state.json")
    return None if state is None else int(json.loads(state)["update"])


def pin_threads() -> None:
    """PGRAD_THREADS = the CPUs Ray gave this task or actor (at least 1), so that a trial's hot
    path uses its share of the node and no more (Ray does the same for OMP_NUM_THREADS)."""
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    os.environ["PGRAD_THREADS"] = str(max(1, int(cpus)))


def trainable(config: dict[str, Any], snapshots: dict[str, dict[str, bytes]]) -> None:
    """Tune's function trainable of a sweep trial: ``config[TASK]`` is its task; ``snapshots``: run
    folders to resume by trial name (``tune.with_parameters``)."""
    import ray
    from ray import tune

    from pgrad.cli import TrainHooks

    pin_threads()
    given = config[TASK]
    task = Task(given["name"], tuple(given["argv"]), given["run_dir"], tuple(given["resume"]))
    files, from_tune = _restored(task, snapshots)
    reporter = Reporter(ray.get_runtime_context().get_node_id(),
                        _update(files) if files is not None and from_tune else None)
    scratch = Path(tempfile.gettempdir()) / f"pgrad-trial-{tune.get_context().get_trial_id()}"
    shutil.rmtree(scratch, ignore_errors=True)  # a killed attempt's, on this node
    scratch.mkdir()
    run = scratch / task.name
    try:
        local = task.at(str(run))
        argv = local.argv
        if files is not None:
            write_files(files, run)
            argv = local.resume
        if files is not None and not (run / "checkpoint").is_dir():  # restored finished: report it again
            outcome = Outcome(task.name, "done", node=reporter.node)
        else:
            outcome = run_trial(Task(task.name, argv), TrainHooks((reporter,), reporter.written))
        reporter.finish(outcome, run)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
