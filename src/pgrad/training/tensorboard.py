"""TensorBoard logging: one TensorBoard run per seed, ``DIR/<run name>/seed_<seed>/``, every
scalar keyed by that seed's environment steps, under the names CleanRL and Stable-Baselines3 use:

    charts/episodic_return, charts/episodic_length    the mean return and length of the episodes the
                                                      seed finished in the update (none: no point)
    charts/SPS                                        the seed's environment steps per second of training
    charts/learning_rate                              the algorithm's learning rate
    losses/approx_kl, losses/clipfrac, losses/entropy, losses/value_loss, losses/explained_variance
                                                      the seed's own diagnostics, where the algorithm has them

and the config as a markdown table (text, tag ``config``, at step 0). Each seed that took part in
an update gets one event, at the environment step it reached, holding the update's points: the
means of the episodes it finished, its SPS and, if it learned, its diagnostics. One point per tag
and step is what TensorBoard's web view draws (it keeps the last point of a step), and it keeps the
writer's cost small: TensorBoard's writer checksums every byte in pure Python.

TensorBoard reads a folder's event files in name order (their names start with the second they were
made in; :func:`prepare` waits for the next second if need be). EventAccumulator drops the scalars seen
so far at steps >= that of a SessionLog START; TensorBoard's data server (its web view) drops, per tag,
the points at steps >= that of a later point. A fresh run starts each seed's file with START at step 0,
so an earlier run's event files there (kept) are hidden (in the web view: the tags the new run writes);
a resumed run with START at the checkpoint's step + 1, so what a killed run wrote after its last
checkpoint shows once, not twice (the resumed run writes the very same steps again).

TensorBoard is imported only here, and only when a run asks for it (``pgrad[tensorboard]``): its own
writer (``EventFileWriter``) and protos.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from pgrad.config import to_dict
from pgrad.training.log import PER_SEED
from pgrad.training.loop import TrainState

INSTALL = "--tensorboard needs TensorBoard: pip install 'pgrad[tensorboard]'"
EVENTS = "events.out.tfevents.*"
TAGS = {"lr": "charts/learning_rate", "approx_kl": "losses/approx_kl", "clip_fraction": "losses/clipfrac",
        "entropy": "losses/entropy", "value_loss": "losses/value_loss",
        "explained_variance": "losses/explained_variance"}
"""Per-seed diagnostic -> its tag (any other one is written as losses/<name>)."""


def require() -> tuple[Any, Any, Any]:
    """TensorBoard's (EventFileWriter, event_pb2, summary_pb2); a one-line ValueError without it."""
    try:
        writer = importlib.import_module("tensorboard.summary.writer.event_file_writer")
        return (writer.EventFileWriter, importlib.import_module("tensorboard.compat.proto.event_pb2"),
                importlib.import_module("tensorboard.compat.proto.summary_pb2"))
    except ImportError:
        raise ValueError(INSTALL) from None


def _check_folder(path: Path) -> None:
    if path.is_symlink():
        raise ValueError(f"--tensorboard: {path} is a symlink; pgrad never writes through one")
    if path.exists() and not path.is_dir():
        raise ValueError(f"--tensorboard: {path} exists and is not a folder")
    if path.exists() and not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--tensorboard: cannot write in {path} (permission denied)")


def event_files(folder: Path) -> list[Path]:
    """The event files in ``folder`` and in its folders one level down (none if it is missing)."""
    return sorted([*folder.glob(EVENTS), *folder.glob(f"*/{EVENTS}")]) if folder.is_dir() else []


def prepare(logdir: str | os.PathLike, run_name: str, *, fresh: bool, force: bool,
            run_folder: Path | None = None) -> Path:
    """The folder ``logdir/run_name`` to write, checked before any training (a one-line ValueError):
    TensorBoard importable; no symlink, file or unwritable folder on the way; not ``run_folder`` or
    inside it; for a ``fresh`` run, no event files there unless ``force`` (they are kept, and hidden
    by START). Waits, at most a second, until new event files will sort after the existing ones."""
    text = os.fspath(logdir)
    if not text.strip():
        raise ValueError("--tensorboard is empty; give the folder TensorBoard reads (its logdir)")
    require()
    root = Path(text)
    folder = root / run_name
    ancestor = root
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor != root and not (ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK)):
        raise ValueError(f"--tensorboard {text}: cannot make a folder in {ancestor}")
    for path in (root, folder, *(folder.glob("seed_*") if folder.is_dir() else ())):
        _check_folder(path)
    if run_folder is not None:
        inside = root.resolve() / run_name
        if inside == run_folder or run_folder in inside.parents:
            raise ValueError(f"--tensorboard {text}: {folder} is the run folder or inside it; give a "
                             "folder outside it")
    existing = event_files(folder)
    if fresh and existing and not force:
        raise ValueError(f"--tensorboard: {folder} already holds TensorBoard event files; pass --force to "
                         "start a new run there (the old files are kept, TensorBoard shows only the new one)")
    seconds = [int(part) for p in existing if (part := p.name.split(".")[3]).isdigit()]
    wait = max(seconds, default=0) + 1 - time.time()
    if 0 < wait <= 1:
        time.sleep(wait)
    return folder


def config_table(algo: str, config: Any, seed: int) -> str:
    """The config as a markdown table: field | value (the algorithm and the seed first)."""
    rows = [("algo", algo), ("seed", seed), *to_dict(config).items()]
    return "| field | value |\n| --- | --- |\n" + "".join(
        f"| {k} | {str(v).replace('|', chr(92) + '|')} |\n" for k, v in rows)


def text_summary(tag: str, text: str) -> Any:
    """A Summary of ``text`` for TensorBoard's text plugin: a DT_STRING tensor of shape [1]."""
    _, _, summary_pb2 = require()
    tensor_pb2 = importlib.import_module("tensorboard.compat.proto.tensor_pb2")
    shape_pb2 = importlib.import_module("tensorboard.compat.proto.tensor_shape_pb2")
    plugin_pb2 = importlib.import_module("tensorboard.plugins.text.plugin_data_pb2")
    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(
        plugin_name="text", content=plugin_pb2.TextPluginData(version=0).SerializeToString()))
    shape = shape_pb2.TensorShapeProto(dim=[shape_pb2.TensorShapeProto.Dim(size=1)])
    tensor = tensor_pb2.TensorProto(dtype="DT_STRING", string_val=[text.encode()], tensor_shape=shape)
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)])


class TensorBoard:
    """A training-loop callback writing one TensorBoard run per seed into ``logdir/run_name``
    (module docstring). A context manager: the writers open on entry (START, and the config on a
    fresh run) and are flushed and closed on exit, whatever ends the block.

        with TensorBoard("tb", "ppo", state) as board:
            loop.run(algorithm, state, [board])

    ``force``: a fresh run may start where event files are (they are kept)."""

    def __init__(self, logdir: str | os.PathLike, run_name: str, state: TrainState, *, force: bool = False,
                 run_folder: Path | None = None) -> None:
        self.logdir, self.run_name, self.state = logdir, run_name, state
        self.force, self.run_folder = force, run_folder
        self.position = {seed: i for i, seed in enumerate(state.seeds)}
        self.writers: list[Any] = []
        self.chunks: list[int] = []  # per seed, the log records already written
        self.Event: Any = None
        self.Summary: Any = None

    def __enter__(self) -> TensorBoard:
        state = self.state
        fresh = state.update == 0
        folder = prepare(self.logdir, self.run_name, fresh=fresh, force=self.force,
                         run_folder=self.run_folder)
        writer_cls, event_pb2, summary_pb2 = require()
        self.Event, self.Summary = event_pb2.Event, summary_pb2.Summary
        start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
        try:
            for i, seed in enumerate(state.seeds):
                path = _folder(folder / f"seed_{seed}")
                had_events = bool(event_files(path))
                self.writers.append(writer_cls(str(path), max_queue_size=1000, flush_secs=10))
                step = 0 if fresh else int(state.log.steps[i]) + 1
                self.writers[-1].add_event(self.Event(wall_time=time.time(), step=step, session_log=start))
                if fresh or not had_events:
                    config = text_summary("config", config_table(state.algo, state.config, seed))
                    self.writers[-1].add_event(self.Event(wall_time=time.time(), step=0, summary=config))
            if fresh:  # seeds of an earlier run that this one lacks: hidden as well
                for path in sorted(set(folder.glob("seed_*")) - {folder / f"seed_{s}" for s in state.seeds}):
                    if event_files(path):
                        hide = writer_cls(str(path))
                        hide.add_event(self.Event(wall_time=time.time(), step=0, session_log=start))
                        hide.close()
        except BaseException:
            self.close()
            raise
        self.chunks = [len(records) for records in state.log.records]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, metrics: dict, state: TrainState) -> None:
        """For every seed that took part in the update: one event at the step it reached, holding the
        means of the episodes it finished, its SPS and, if it learned, its own diagnostics."""
        log, wall, now = state.log, state.log.wall, time.time()
        per_seed = metrics.get(PER_SEED, {})
        learned = {int(i): j for j, i in enumerate(per_seed.get("index", ()))}
        for seed in metrics["seeds"]:
            i = self.position[seed]
            new, self.chunks[i] = log.records[i][self.chunks[i]:], len(log.records[i])
            event = self.Event(wall_time=now, step=int(log.steps[i]))
            add = event.summary.value.add
            if new:
                for tag, column in (("charts/episodic_return", 0), ("charts/episodic_length", 1)):
                    add(tag=tag, simple_value=float(np.concatenate([r[column] for r in new]).mean()))
            add(tag="charts/SPS", simple_value=float(log.steps[i] / wall))
            for name, x in per_seed.items() if i in learned else ():
                if name != "index":
                    add(tag=TAGS.get(name, f"losses/{name}"), simple_value=float(x[learned[i]]))
            self.writers[i].add_event(event)

    def flush(self) -> None:
        """Everything written so far onto the disk."""
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        """Flush and close every writer (once)."""
        writers, self.writers = self.writers, []
        for writer in writers:
            writer.close()


def _folder(path: Path) -> Path:
    """``path`` as a folder of its own: made if missing, never a symlink."""
    path.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise ValueError(f"--tensorboard: {path} is not a folder of its own (pgrad never writes through a "
                         "symlink)")
    return path
