"""Config helpers: each field carries its help text, which the CLI reads (no drift), and
every field is checked on construction: its type, finiteness and accepted values."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "float | None": (int, float, type(None)), "str": (str,),
    "bool": (bool,),
}
"""The annotations a config field may have, and the Python types each accepts."""


def param(default: Any, help: str, choices: tuple[str, ...] | None = None, *,
          allow_inf: bool = False) -> Any:
    """A dataclass field with a default, a help text and, optionally, its accepted values;
    ``allow_inf``: a float field where +-inf means something (its help says what)."""
    return dataclasses.field(default=default,
                             metadata={"help": help, "choices": choices, "allow_inf": allow_inf})


def field_type(f: dataclasses.Field) -> str:
    """A config field's annotation as one of FIELD_TYPES' keys (a TypeError for any other)."""
    name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if name not in FIELD_TYPES:
        raise TypeError(f"config field {f.name} has type {name}; supported: {', '.join(FIELD_TYPES)}")
    return name


def check_choices(config: Any) -> None:
    """Raise a one-line ValueError for a field of the wrong type, a NaN (or an infinity where the
    field does not allow it), or a value outside the field's choices."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kind = field_type(f)
        if not isinstance(value, FIELD_TYPES[kind]) or (kind != "bool" and isinstance(value, bool)):
            raise ValueError(f"{f.name} must be of type {kind}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            if math.isnan(value) or not f.metadata.get("allow_inf"):
                raise ValueError(f"{f.name} must be a finite number, got {value}")
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ValueError(f"unknown {f.name} {value!r}; accepted: {', '.join(choices)}")


INFINITIES = {"inf": math.inf, "-inf": -math.inf}
"""How a float field's infinity is written in JSON, which has no infinities."""


def to_dict(config: Any) -> dict[str, Any]:
    """The config as a JSON-ready dict: infinities as the strings "inf" / "-inf"."""
    return {k: (("inf" if v > 0 else "-inf") if isinstance(v, float) and math.isinf(v) else v)
            for k, v in dataclasses.asdict(config).items()}


def from_dict(config_cls: type, values: Any) -> Any:
    """The config of a saved dict (:func:`to_dict`; a run folder's config.json): unknown fields
    refused, missing ones at their defaults, every value checked by the config; a one-line
    ValueError."""
    if not isinstance(values, dict):
        raise ValueError(f"the config must be a JSON object, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown config fields {', '.join(map(str, unknown))} for {config_cls.__name__}")
    values = {k: (INFINITIES[v] if isinstance(v, str) and v in INFINITIES and field_type(fields[k]) != "str"
                  else v) for k, v in values.items()}
    return config_cls(**values)


def solve_threshold(config: Any) -> float:
    """The threshold in force: ``config.solve_threshold``, else the environment's reward
    threshold in Gymnasium's registry, else +inf (train to the budget, never "solved")."""
    if config.solve_threshold is not None:
        return float(config.solve_threshold)
    from pgrad.envs import reward_threshold

    threshold = reward_threshold(config.env_id)
    return float("inf") if threshold is None else float(threshold)


def solve_threshold_field() -> Any:
    """The ``solve_threshold`` field every algorithm shares (inf: never solved, train to the budget)."""
    return param(None, "solved when the mean return of the last window reaches this (default: the env's "
                 "Gymnasium reward_threshold, 475 for CartPole-v1; inf: never, train to the budget)",
                 allow_inf=True)


def solve_window_field(unit: str = "finished episodes") -> Any:
    """The ``solve_window`` field every algorithm shares."""
    return param(100, f"{unit} in the moving mean")


def eval_episodes_field() -> Any:
    """The ``eval_episodes`` field every algorithm shares."""
    return param(100, "episodes for the final evaluation")


def time_limit_field() -> Any:
    """The ``time_limit`` field every algorithm shares."""
    return param(1000, "cap on episode length (steps) for environments without a time limit of their own; "
                 "environments with one keep theirs")


def positive_ints(config: Any, *names: str) -> None:
    """A one-line ValueError unless every field in ``names`` is a positive integer."""
    for name in names:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be a positive integer, got {getattr(config, name)}")


def redefault(config_cls: type, name: str, default: Any, help: str | None = None) -> Any:
    """Field ``name`` of ``config_cls`` with another default (and help): for a config that extends
    another and differs only in the value it starts from."""
    f = next(f for f in dataclasses.fields(config_cls) if f.name == name)
    return dataclasses.field(default=default, metadata={**f.metadata, "help": help or f.metadata["help"]})
