"""A sweep's spec: the fields it sweeps, every value checked by the algorithm's own config before
any trial starts, and the trials that a grid or a random search makes of it.

    --grid FIELD=V1,V2,...          grid search: every combination of the values (cartesian
                                    product, the last --grid varying fastest)
    --space FIELD=log:LO:HI         random search: log-uniform, exp(U[log LO, log HI)), 0 < LO
    --space FIELD=uniform:LO:HI     U[LO, HI)
    --space FIELD=int:LO:HI         an integer in LO..HI, both included
    --space FIELD=choice:A,B,...    one of the values, each with probability 1/n

FIELD is a config field of the algorithm (``lr``, ``num_envs``; ``num-envs`` too). Random search
draws ``--trials`` configurations from ``numpy.random.default_rng(--search-seed)``, trial by
trial and field by field in the order given, so that a sweep is reproducible. ``--search optuna``
(Ray backend) draws from the same spaces with Optuna's TPE sampler, seeded by ``--search-seed``,
trial by trial as the results come in (:mod:`pgrad.sweeps.ray_backend`). A trial is named after
its values (``lr=0.1,num_envs=32``), made filesystem-safe and unique.

``--backend ray`` runs the trials as Ray Tune trials; ``--scheduler asha`` (Ray backend) lets
Tune's ASHA stop the trials that fall behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from pgrad.algorithms import config_class
from pgrad.config import field_type

SEARCHES = ("grid", "random", "optuna")
BACKENDS = ("local", "ray")
SCHEDULERS = ("asha",)
KINDS = ("log", "uniform", "int", "choice")
NAME_MAX = 120
"""Longest trial name (bytes); longer ones are cut and end in a hash of the whole name."""
UNSAFE = re.compile(r"[^A-Za-z0-9._,=+-]")
TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0")


@dataclass(frozen=True)
class Space:
    """Where random search draws one field from: ``kind`` log / uniform / int on [low, high], or
    choice among ``values``."""

    kind: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep needs to run (and ``--resume`` to finish it): the algorithm, the config
    values fixed for every trial (field -> value, as given on the command line), the seeds
    (``--seeds`` text), the search and what it sweeps, the trials' checkpoint period, the backend
    and the scheduler that may stop trials early (None: none)."""

    algo: str
    fixed: dict[str, Any]
    seeds: str
    search: str = "grid"
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    space: dict[str, Space] = field(default_factory=dict)
    trials: int | None = None
    search_seed: int | None = None
    checkpoint_every: float = 60.0
    backend: str = "local"
    scheduler: str | None = None

    @property
    def fields(self) -> list[str]:
        """The swept fields, in the order given."""
        return list(self.grid or self.space)


def config_fields(algo: str) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(config_class(algo))}


def field_named(algo: str, name: str, flag: str) -> dataclasses.Field:
    """The config field ``name`` (dashes read as underscores); a one-line ValueError naming the
    accepted fields."""
    fields = config_fields(algo)
    key = name.strip().replace("-", "_")
    if key not in fields:
        raise ValueError(f"{flag}: unknown field {name.strip()!r} for {algo}; accepted: {', '.join(fields)}")
    return fields[key]


def parse_value(f: dataclasses.Field, text: str) -> Any:
    """A command-line value of field ``f``, typed as the field is (``none`` for a field whose
    default is None; true/false for a bool); a one-line ValueError."""
    kind, text = field_type(f), text.strip()
    if text.lower() in ("none", "null") and f.default is None:
        return None
    try:
        if kind == "bool":
            if text.lower() not in TRUE + FALSE:
                raise ValueError
            return text.lower() in TRUE
        if kind == "int":
            return int(text)
        return float(text) if kind != "str" else text
    except ValueError:
        raise ValueError(f"{f.name} takes {'true or false' if kind == 'bool' else kind} values, "
                         f"got {text!r}") from None


def _split(item: str, flag: str, algo: str) -> tuple[dataclasses.Field, str]:
    name, sep, rest = item.partition("=")
    if not sep or not rest.strip():
        shape = "V1,V2,..." if flag == "--grid" else "KIND:..."
        raise ValueError(f"{flag} {item!r}: empty; give FIELD={shape}")
    return field_named(algo, name, f"{flag} {item!r}"), rest.strip()


def _distinct(values: list[Any], where: str) -> tuple[Any, ...]:
    if len({repr(v) for v in values}) != len(values):
        raise ValueError(f"{where} repeats a value")
    return tuple(values)


def parse_grid(algo: str, items: list[str]) -> dict[str, tuple[Any, ...]]:
    """``--grid FIELD=V1,V2,...`` items -> field -> values; a one-line ValueError for an unknown
    field, a field given twice, an empty or malformed value list."""
    grid: dict[str, tuple[Any, ...]] = {}
    for item in items:
        f, rest = _split(item, "--grid", algo)
        if f.name in grid:
            raise ValueError(f"--grid {item!r}: {f.name} is swept twice; give its values in one --grid")
        texts = rest.split(",")
        if any(not t.strip() for t in texts):
            raise ValueError(f"--grid {item!r}: empty value; give FIELD=V1,V2,...")
        grid[f.name] = _distinct([_value(f, t, f"--grid {item!r}") for t in texts], f"--grid {item!r}")
    return grid


def _value(f: dataclasses.Field, text: str, where: str) -> Any:
    try:
        return parse_value(f, text)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def parse_space(algo: str, items: list[str]) -> dict[str, Space]:
    """``--space FIELD=KIND:...`` items -> field -> :class:`Space`; a one-line ValueError for an
    unknown field or kind, bounds missing or out of order (LO >= HI), a kind the field's type
    cannot take (log and uniform: float fields; int: int fields)."""
    space: dict[str, Space] = {}
    for item in items:
        f, rest = _split(item, "--space", algo)
        where = f"--space {item!r}"
        if f.name in space:
            raise ValueError(f"{where}: {f.name} is given twice")
        kind, _, args = rest.partition(":")
        if kind not in KINDS:
            raise ValueError(f"{where}: unknown kind {kind!r}; accepted: log:LO:HI, uniform:LO:HI, "
                             "int:LO:HI, choice:A,B,...")
        if kind == "choice":
            texts = args.split(",")
            if any(not t.strip() for t in texts):
                raise ValueError(f"{where}: give the values, choice:A,B,...")
            space[f.name] = Space("choice", values=_distinct([_value(f, t, where) for t in texts], where))
            continue
        number = "int" if kind == "int" else "float"
        if field_type(f) not in (("int",) if kind == "int" else ("float", "float | None")):
            raise ValueError(f"{where}: {f.name} is a {field_type(f)} field; {kind}: draws {number}s "
                             f"(use {'int:LO:HI or ' if field_type(f) == 'int' else ''}choice:A,B,...)")
        bounds = args.split(":")
        if len(bounds) != 2 or not all(b.strip() for b in bounds):
            raise ValueError(f"{where}: {kind} needs both bounds, {kind}:LO:HI")
        low, high = (_value(f, b, where) for b in bounds)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"{where}: needs finite bounds LO < HI, got {low} and {high}")
        if kind == "log" and low <= 0:
            raise ValueError(f"{where}: log needs LO > 0, got {low}")
        space[f.name] = Space(kind, low, high)
    return space


def _refused(algo: str, values: dict[str, Any]) -> str | None:
    """The config's own one-line message if it refuses ``values``, else None."""
    from pgrad.config import from_dict

    try:
        from_dict(config_class(algo), values)
    except ValueError as e:
        return (str(e).splitlines() or ["refused"])[0]
    return None


def make_spec(algo: str, fixed: dict[str, Any], seeds: str, *, grid: list[str], space: list[str],
              search: str | None = None, trials: int | None = None, search_seed: int | None = None,
              checkpoint_every: float = 60.0, backend: str = "local",
              scheduler: str | None = None) -> SweepSpec:
    """The checked spec of a sweep, or a one-line ValueError: flags that do not go together, an
    unknown field, a value the config refuses (each swept value, and every bound and choice of a
    space, is checked on top of the fixed values), an empty grid or space, Optuna or a scheduler
    without the Ray backend."""
    from pgrad.cli import flags_named, parse_seeds

    if backend not in BACKENDS:
        raise ValueError(f"unknown --backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    if scheduler is not None and scheduler not in SCHEDULERS:
        raise ValueError(f"unknown --scheduler {scheduler!r}; accepted: {', '.join(SCHEDULERS)}")
    if scheduler is not None and backend != "ray":
        raise ValueError(f"--scheduler {scheduler} needs --backend ray (Ray Tune's scheduler stops trials)")
    if search == "optuna" and backend != "ray":
        raise ValueError("--search optuna needs --backend ray (Optuna runs through Ray Tune's OptunaSearch)")
    search = search or ("random" if space else "grid")
    if grid and space:
        raise ValueError("--grid and --space do not mix: --grid runs every combination (--search grid), "
                         "--space draws --trials configurations (--search random)")
    if search == "grid":
        if space:
            raise ValueError("--space needs --search random (a grid search takes --grid FIELD=V1,V2,...)")
        if trials is not None or search_seed is not None:
            raise ValueError("--trials and --search-seed go with --search random; a grid runs every "
                             "combination")
        if not grid:
            raise ValueError("empty grid: give at least one --grid FIELD=V1,V2,... (or --search random with "
                             "--space)")
    elif search in ("random", "optuna"):
        if grid:
            raise ValueError(f"--search {search} draws from --space FIELD=KIND:...; --grid is for "
                             "--search grid")
        if not space:
            raise ValueError(f"--search {search} needs at least one --space FIELD=KIND:... (log:LO:HI, "
                             "uniform:LO:HI, int:LO:HI or choice:A,B,...)")
        if trials is None or trials < 1:
            raise ValueError(f"--search {search} needs --trials N with N >= 1, got {trials}")
    else:
        raise ValueError(f"unknown --search {search!r}; accepted: {', '.join(SEARCHES)}")
    if not checkpoint_every >= 0:
        raise ValueError(f"--checkpoint-every must be >= 0 seconds, got {checkpoint_every}")
    parse_seeds(seeds)
    why = _refused(algo, fixed)
    if why is not None:
        raise ValueError(flags_named(why, config_class(algo)))
    swept = parse_grid(algo, grid) if search == "grid" else {}
    spaces = parse_space(algo, space) if search != "grid" else {}
    for name, values in (swept or {k: _candidates(s) for k, s in spaces.items()}).items():
        if name in fixed:
            raise ValueError(f"{name} is both fixed ({'--' + name.replace('_', '-')}) and swept; drop one")
        for value in values:
            why = _refused(algo, {**fixed, name: value})
            if why is not None:
                flag = "--grid" if swept else "--space"
                raise ValueError(f"{flag} {name}={format_value(value)}: {why}")
    return SweepSpec(algo, dict(fixed), seeds, search, swept, spaces, trials,
                     (search_seed or 0) if search != "grid" else None, checkpoint_every, backend, scheduler)


def _candidates(space: Space) -> tuple[Any, ...]:
    """The values of a space the config must accept: its bounds, or every choice."""
    return space.values if space.kind == "choice" else (space.low, space.high)


def draw(space: Space, rng: Any) -> Any:
    """One value of ``space`` from the numpy Generator ``rng`` (a Python int, float, ...)."""
    if space.kind == "choice":
        return space.values[int(rng.integers(len(space.values)))]
    low, high = space.low, space.high
    assert low is not None and high is not None
    if space.kind == "int":
        return int(rng.integers(int(low), int(high), endpoint=True))
    if space.kind == "log":
        return min(max(math.exp(float(rng.uniform(math.log(low), math.log(high)))), low), high)
    return float(rng.uniform(low, high))


def overrides(spec: SweepSpec) -> list[dict[str, Any]]:
    """The swept values of every trial, in trial order: the grid's cartesian product (the first
    field varying slowest), or ``spec.trials`` draws of the space from
    ``numpy.random.default_rng(spec.search_seed)``, trial by trial, field by field; none for an
    Optuna search (its trials are drawn while the sweep runs)."""
    if spec.search == "optuna":
        return []
    if spec.search == "grid":
        names = list(spec.grid)
        return [dict(zip(names, values, strict=True)) for values in itertools.product(*spec.grid.values())]
    import numpy as np

    rng = np.random.default_rng(spec.search_seed)
    return [{name: draw(space, rng) for name, space in spec.space.items()} for _ in range(spec.trials or 0)]


def format_value(value: Any) -> str:
    """A value as a trial name and the report show it: true/false, 6 significant digits, none."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def trial_names(all_overrides: list[dict[str, Any]]) -> list[str]:
    """``lr=0.1,num_envs=32`` per trial: characters outside ``A-Za-z0-9._,=+-`` become ``_``, a
    name over NAME_MAX bytes is cut and ends in a hash of the whole, and a name that another trial
    already has (ignoring case) gets ``-2``, ``-3``, ..."""
    names: list[str] = []
    seen: set[str] = set()
    for values in all_overrides:
        base = UNSAFE.sub("_", ",".join(f"{k}={format_value(v)}" for k, v in values.items())) or "trial"
        if len(base) > NAME_MAX:
            base = base[:NAME_MAX - 9] + "-" + hashlib.sha1(base.encode()).hexdigest()[:8]
        name, k = base, 1
        while name.lower() in seen:
            k += 1
            name = f"{base}-{k}"
        seen.add(name.lower())
        names.append(name)
    return names


def config_flags(values: dict[str, Any]) -> list[str]:
    """``pgrad train`` flags setting config fields to ``values``: ``--lr=0.1`` (floats by repr, so
    they read back bit for bit), ``--bias`` / ``--no-bias``; None (the field's default) needs none."""
    flags = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            flags.append(f"{flag}={value!r}" if isinstance(value, float) else f"{flag}={value}")
    return flags


def train_argv(spec: SweepSpec, values: dict[str, Any], out: str) -> list[str]:
    """The ``pgrad train`` command line of a trial with swept ``values``, writing run folder ``out``."""
    return ["train", "--algo", spec.algo, *config_flags({**spec.fixed, **values}), "--seeds", spec.seeds,
            "--out", out, "--quiet", "--no-plot", "--checkpoint-every", repr(spec.checkpoint_every)]


def command_line(spec: SweepSpec) -> str:
    """The ``pgrad sweep`` command that makes this spec (without ``--out``)."""
    parts = ["pgrad sweep", f"--algo {spec.algo}"]
    parts += [f"--grid {k}={','.join(map(format_value, v))}" for k, v in spec.grid.items()]
    if spec.backend != "local":
        parts.append(f"--backend {spec.backend}")
    if spec.search != "grid":
        parts += [f"--search {spec.search} --trials {spec.trials}"]
        for k, s in spec.space.items():
            bounds = ",".join(map(format_value, s.values)) if s.kind == "choice" else f"{s.low!r}:{s.high!r}"
            parts.append(f"--space '{k}={s.kind}:{bounds}'")
        parts.append(f"--search-seed {spec.search_seed}")
    parts += [f"--seeds {spec.seeds}", *config_flags(spec.fixed)]
    if spec.checkpoint_every != 60.0:
        parts.append(f"--checkpoint-every {spec.checkpoint_every:g}")
    if spec.scheduler is not None:
        parts.append(f"--scheduler {spec.scheduler}")
    return " ".join(parts)
