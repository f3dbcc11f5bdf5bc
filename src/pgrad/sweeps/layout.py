"""The sweep folder, filled trial by trial:

    DIR/
      .pgrad            pgrad's marker (kind "sweep"): every file pgrad put there
      sweep.json        the spec and every trial: name, overrides, run_dir, status, reason, node,
                        wall_seconds (strict JSON)
      runs/<trial>/     one run folder per trial, written whole by ``pgrad train`` itself
      report.md         the ranking (:mod:`pgrad.sweeps.report`), written when the sweep ends
      sensitivity.png

The folder appears whole (:func:`create`: a hidden sibling renamed in, replacing only a sweep
folder pgrad wrote); after that, every status change rewrites sweep.json and the marker beside
and renames them in (:func:`write`). A trial's status is ``pending``, ``running``, ``done``,
``failed`` (with its one-line ``reason``), ``interrupted`` (a signal or a lost worker; its run
folder resumes from its checkpoint) or ``stopped`` (by a scheduler; its run folder is its last
snapshot). ``--resume`` keeps the settled ones (done, failed, stopped) and runs the others
(:func:`plan`). An Optuna search lists its trials as it draws them (:func:`added`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrad import folders
from pgrad.algorithms import config_class
from pgrad.config import FIELD_TYPES, INFINITIES, field_type
from pgrad.sweeps import Outcome, Task
from pgrad.sweeps.spec import (
    BACKENDS,
    KINDS,
    SCHEDULERS,
    SEARCHES,
    Space,
    SweepSpec,
    config_fields,
    overrides,
    train_argv,
    trial_names,
)

FORMAT = 1
SWEEP_JSON = "sweep.json"
RUNS = "runs"
REPORT_FILES = ("report.md", "sensitivity.png")
STATUSES = ("pending", "running", "done", "failed", "interrupted", "stopped")
SETTLED = ("done", "failed", "stopped")
"""Statuses that ``--resume`` keeps as they are."""
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._,=+-]{0,119}")
"""What a trial name may be (:func:`pgrad.sweeps.spec.trial_names` makes them so)."""


@dataclass(frozen=True)
class Trial:
    """One trial as sweep.json lists it; its run folder is ``runs/<name>``."""

    name: str
    overrides: dict[str, Any]
    status: str = "pending"
    reason: str | None = None
    node: str | None = None
    wall_seconds: float | None = None

    @property
    def run_dir(self) -> str:
        return f"{RUNS}/{self.name}"


def new_trials(spec: SweepSpec) -> list[Trial]:
    """Every trial of a spec, pending (none yet for an Optuna search: see :func:`added`)."""
    values = overrides(spec)
    return [Trial(name, v) for name, v in zip(trial_names(values), values, strict=True)]


def added(trials: Sequence[Trial], values: dict[str, Any]) -> Trial:
    """A new pending trial with swept ``values`` after ``trials``, named as :func:`new_trials` would
    have named it (unique among them)."""
    names = trial_names([*(t.overrides for t in trials), values])
    taken = {t.name.lower() for t in trials}
    name, k = names[-1], 1
    while name.lower() in taken:  # a name made unique by a suffix that another trial already has
        k += 1
        name = f"{names[-1]}-{k}"
    return Trial(name, dict(values))


def updated(trial: Trial, outcome: Outcome) -> Trial:
    """The trial after ``outcome``: its status, reason and node; this attempt's wall time added."""
    wall = trial.wall_seconds
    if outcome.wall_seconds is not None:
        wall = round((wall or 0.0) + outcome.wall_seconds, 6)
    return dataclasses.replace(trial, status=outcome.status, reason=outcome.reason,
                               node=outcome.node or trial.node, wall_seconds=wall)


def needed_bytes(spec: SweepSpec, trials: Sequence[Trial]) -> int:
    """Roughly the disk space of the trials' run folders (as ``pgrad train`` estimates one)."""
    from pgrad.cli import seed_ranges
    from pgrad.runs import ROW_BYTES

    seeds = sum(len(r) for r in seed_ranges(spec.seeds))
    defaults = {f.name: f.default for f in dataclasses.fields(config_class(spec.algo))}
    total = 1 << 20
    largest = {k: s.values[0] if s.kind == "choice" else s.high for k, s in spec.space.items()}
    drawn = [largest] * (spec.trials or 0) if spec.search == "optuna" else []  # to be drawn as it runs
    for values in [t.overrides for t in trials] or drawn:
        c = {**defaults, **spec.fixed, **values}
        episodes = c.get("max_episodes") or c.get("max_steps", 0) // 10
        total += (1 << 20) + seeds * (episodes + c["eval_episodes"]) * ROW_BYTES
    return total


# ---------------------------------------------------------------------------------------------
# sweep.json and the marker
# ---------------------------------------------------------------------------------------------

def to_json_value(value: Any) -> Any:
    """A config value for strict JSON: infinities as "inf" / "-inf" (as config.json has them)."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def from_json_value(f: dataclasses.Field, value: Any, where: str) -> Any:
    """A value of field ``f`` read back from JSON, its type checked; a one-line ValueError."""
    kind = field_type(f)
    if isinstance(value, str) and value in INFINITIES and kind != "str":
        value = INFINITIES[value]
    typed = isinstance(value, FIELD_TYPES[kind]) and (kind == "bool" or not isinstance(value, bool))
    if not typed:
        raise ValueError(f"{where}: {f.name} must be of type {kind}, got {value!r}")
    return float(value) if kind.startswith("float") and value is not None else value


def values_to_json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: to_json_value(v) for k, v in values.items()}


def values_from_json(algo: str, values: Any, where: str) -> dict[str, Any]:
    """field -> value of a JSON object: known fields of ``algo``, typed; a one-line ValueError."""
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a JSON object")
    fields = config_fields(algo)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown fields {', '.join(unknown)} for {algo}")
    return {k: from_json_value(fields[k], v, where) for k, v in values.items()}


def _space_json(space: Space) -> dict[str, Any]:
    if space.kind == "choice":
        return {"kind": "choice", "values": [to_json_value(v) for v in space.values]}
    return {"kind": space.kind, "low": space.low, "high": space.high}


def to_json(spec: SweepSpec) -> dict[str, Any]:
    return {"algo": spec.algo, "fixed": values_to_json(spec.fixed), "seeds": spec.seeds,
            "search": spec.search, "grid": {k: [to_json_value(v) for v in vs] for k, vs in spec.grid.items()},
            "space": {k: _space_json(s) for k, s in spec.space.items()}, "trials": spec.trials,
            "search_seed": spec.search_seed, "checkpoint_every": spec.checkpoint_every,
            "backend": spec.backend, "scheduler": spec.scheduler}


def from_json(data: Any, where: str) -> SweepSpec:
    """The spec of sweep.json's ``spec`` object; a one-line ValueError naming what is wrong."""
    from pgrad.algorithms import ALGORITHMS
    from pgrad.cli import parse_seeds

    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a JSON object")
    try:
        algo, seeds, search = data["algo"], data["seeds"], data["search"]
        if algo not in ALGORITHMS or search not in SEARCHES or not isinstance(seeds, str):
            raise ValueError(f"{where}: unknown algo or search, or seeds not a string")
        parse_seeds(seeds)
        fixed = values_from_json(algo, data["fixed"], f"{where} fixed")
        grid = {k: tuple(values_from_json(algo, {k: v}, f"{where} grid")[k] for v in vs)
                for k, vs in dict(data["grid"]).items()}
        space = {}
        for k, s in dict(data["space"]).items():
            if s["kind"] == "choice":
                space[k] = Space("choice", values=tuple(values_from_json(algo, {k: v}, f"{where} space")[k]
                                                        for v in s["values"]))
            elif s["kind"] in KINDS:
                space[k] = Space(s["kind"], float(s["low"]), float(s["high"]))
            else:
                raise ValueError(f"{where} space {k}: unknown kind {s['kind']!r}")
        trials, search_seed, every = data["trials"], data["search_seed"], float(data["checkpoint_every"])
        backend, scheduler = data.get("backend", "local"), data.get("scheduler")  # absent in older sweeps
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{where}: missing or malformed {e}") from None
    if search != "grid" and not (isinstance(trials, int) and isinstance(search_seed, int)):
        raise ValueError(f"{where}: a {search} search needs integer trials and search_seed")
    if backend not in BACKENDS or scheduler not in (None, *SCHEDULERS):
        raise ValueError(f"{where}: unknown backend {backend!r} or scheduler {scheduler!r}")
    return SweepSpec(algo, fixed, seeds, search, grid, space, trials, search_seed, every, backend, scheduler)


def sweep_json(spec: SweepSpec, trials: Sequence[Trial]) -> dict[str, Any]:
    return {"format": FORMAT, **folders.provenance(), "spec": to_json(spec),
            "trials": [{"name": t.name, "overrides": values_to_json(t.overrides), "run_dir": t.run_dir,
                        "status": t.status, "reason": t.reason, "node": t.node,
                        "wall_seconds": t.wall_seconds} for t in trials]}


def owned(folder: Path, trials: Sequence[Trial]) -> list[str]:
    """What pgrad wrote under a sweep folder (relative paths, as the marker lists them): sweep.json,
    the report, ``runs/``, every trial's run folder with the files its own marker lists, and
    what a lost worker may have left in ``runs/`` (pgrad's temporary folders and lock files)."""
    names = [SWEEP_JSON, *REPORT_FILES, RUNS]
    for trial in trials:
        marker = folders.read_marker(folder / trial.run_dir)
        names += [trial.run_dir] + ([f"{trial.run_dir}/{f}" for f in [folders.MARKER, *marker["files"]]]
                                    if marker else [])
        names.append(f"{RUNS}/.{trial.name}{folders.LOCK_SUFFIX}")
    runs = folder / RUNS
    for p in runs.iterdir() if runs.is_dir() and not runs.is_symlink() else ():
        if p.name.startswith((folders.TMP_PREFIX, folders.OLD_PREFIX)):
            try:
                names += [str(q.relative_to(folder)) for q in [p, *p.rglob("*")]]
            except FileNotFoundError:  # a worker renamed it into place meanwhile: nothing left to list
                continue
    return sorted(n for n in set(names) if os.path.lexists(folder / n))


def write(folder: Path, spec: SweepSpec, trials: Sequence[Trial]) -> None:
    """Rewrite sweep.json and then the marker, each beside its place and renamed in."""
    text = folders.dumps(sweep_json(spec, trials))
    folders.replace_file(folder / SWEEP_JSON, lambda tmp: tmp.write_text(text))
    marker = {"written_by": "pgrad", "kind": "sweep", **folders.provenance(), "files": owned(folder, trials)}
    folders.replace_file(folder / folders.MARKER, lambda tmp: tmp.write_text(folders.dumps(marker)))


def create(target: Path, spec: SweepSpec, trials: Sequence[Trial]) -> None:
    """Make the sweep folder whole: sweep.json (every trial pending), ``runs/`` and the marker,
    renamed into ``target`` (replacing a sweep folder pgrad wrote, checked again)."""
    with folders.written_whole(target, "sweep") as tmp:
        (tmp / RUNS).mkdir()
        (tmp / SWEEP_JSON).write_text(folders.dumps(sweep_json(spec, trials)))


def _bad(folder: Path, why: str) -> ValueError:
    return ValueError(f"{folder / SWEEP_JSON}: {why}")


def read(folder: Path) -> tuple[SweepSpec, list[Trial]]:
    """The spec and trials of a sweep folder, checked: pgrad's marker of kind sweep, a real
    ``runs/`` folder, sweep.json of this format with safe, distinct trial names and known
    statuses; nothing beside the run folders and the report that pgrad did not write. A one-line
    ValueError otherwise."""
    folder = Path(folder)
    marker = folders.read_marker(folder) if folder.is_dir() and not folder.is_symlink() else None
    if marker is None or marker["kind"] != "sweep":
        raise ValueError(f"{folder} is not a pgrad sweep folder (it needs the {folders.MARKER} marker "
                         "that pgrad sweep writes)")
    runs = folder / RUNS
    if runs.is_symlink() or not runs.is_dir():
        raise ValueError(f"{runs} is missing or not a folder; pgrad writes trials only into its own runs/")
    for name in (SWEEP_JSON, *REPORT_FILES):
        if os.path.lexists(folder / name) and name not in marker["files"]:
            raise ValueError(f"{folder / name} was not written by pgrad; move it away to resume the sweep")
    data = folders.read_json(folder / SWEEP_JSON)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _bad(folder, f"not a sweep of format {FORMAT}")
    spec = from_json(data.get("spec"), f"{folder / SWEEP_JSON} spec")
    if not isinstance(data.get("trials"), list):
        raise _bad(folder, "trials must be a list")
    trials = []
    for item in data["trials"]:
        try:
            trial = Trial(item["name"], values_from_json(spec.algo, item["overrides"], "overrides"),
                          item["status"], item["reason"], item["node"], item["wall_seconds"])
        except (KeyError, TypeError, ValueError) as e:
            raise _bad(folder, f"malformed trial ({e})") from None
        if not isinstance(trial.name, str) or not NAME.fullmatch(trial.name):
            raise _bad(folder, f"trial name {trial.name!r} is not a safe folder name")
        if trial.status not in STATUSES:
            raise _bad(folder, f"trial {trial.name}: unknown status {trial.status!r}")
        wall = trial.wall_seconds
        if not (all(isinstance(x, str | None) for x in (trial.reason, trial.node))
                and (wall is None or isinstance(wall, int | float) and not isinstance(wall, bool))):
            raise _bad(folder, f"trial {trial.name}: reason and node must be strings, wall_seconds a number")
        trials.append(trial)
    if len({t.name.lower() for t in trials}) != len(trials):
        raise _bad(folder, "two trials share a name")
    return spec, trials


# ---------------------------------------------------------------------------------------------
# What is left to run
# ---------------------------------------------------------------------------------------------

def _run_status(run: Path) -> str | None:
    """summary.json's run_status of a pgrad run folder (None if it is not one, or unreadable)."""
    if folders.read_marker(run) is None:
        return None
    try:
        summary = folders.read_json(run / "summary.json")
    except ValueError:
        return None
    return summary.get("run_status") if isinstance(summary, dict) else None


def task(folder: Path, spec: SweepSpec, trial: Trial, tensorboard: str | None = None) -> Task:
    """The task of a trial: ``pgrad resume`` of its run folder if that holds a checkpoint, ``pgrad
    train`` otherwise (``--force`` over a run folder pgrad wrote, which ``train`` checks); with
    ``--tensorboard DIR`` passed through (and, to ``train``, ``--force``: a trial trained again
    starts its TensorBoard runs over, the old event files kept and hidden)."""
    run = str(folder / trial.run_dir)
    board = ["--tensorboard", tensorboard] if tensorboard is not None else []
    resume = ["resume", run, "--quiet", "--no-plot", "--checkpoint-every", repr(spec.checkpoint_every),
              *board]
    if _run_status(folder / trial.run_dir) is not None and (folder / trial.run_dir / "checkpoint").is_dir():
        return Task(trial.name, tuple(resume), run, tuple(resume))
    force = os.path.lexists(run) or tensorboard is not None
    argv = train_argv(spec, trial.overrides, run) + board + (["--force"] if force else [])
    return Task(trial.name, tuple(argv), run, tuple(resume))


def plan(folder: Path, spec: SweepSpec, trials: Sequence[Trial],
         tensorboard: str | None = None) -> tuple[list[Trial], list[Task]]:
    """The trials, and a :func:`task` for each that is not settled. A run folder already finished
    (its sweep was lost before recording it) is recorded done, without running again."""
    kept, tasks = [], []
    for trial in trials:
        run = folder / trial.run_dir
        if trial.status in SETTLED:
            kept.append(trial)
            continue
        status = _run_status(run)
        if status == "done":
            summary = folders.read_json(run / "summary.json")
            kept.append(updated(trial, Outcome(trial.name, "done", wall_seconds=summary.get("wall_seconds"))))
            continue
        kept.append(trial)
        tasks.append(task(folder, spec, trial, tensorboard))
    return kept, tasks
