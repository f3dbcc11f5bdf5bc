"""Config helpers: each field carries its help text, which the CLI reads (no drift)."""

from __future__ import annotations

import dataclasses
from typing import Any


def param(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A dataclass field with a default, a help text and, optionally, its accepted values."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def check_choices(config: Any) -> None:
    """Raise a one-line ValueError if a field with choices holds another value."""
    for f in dataclasses.fields(config):
        choices = f.metadata.get("choices")
        value = getattr(config, f.name)
        if choices and value not in choices:
            raise ValueError(f"unknown {f.name} {value!r}; accepted: {', '.join(choices)}")


def solve_threshold(config: Any) -> float:
    """The threshold in force: ``config.solve_threshold``, else the environment's reward
    threshold in Gymnasium's registry, else +inf (train to the budget, never "solved")."""
    if config.solve_threshold is not None:
        return float(config.solve_threshold)
    from pgrad.envs import reward_threshold

    threshold = reward_threshold(config.env_id)
    return float("inf") if threshold is None else float(threshold)
