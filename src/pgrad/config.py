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
