"""Algorithms: one module each, a frozen config and a train() that reads as its pseudocode.

``ALGORITHMS`` is the one table of them: name -> (module, config class name). The CLI, the run
folder reader and everything else that goes from a name to an algorithm use it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

ALGORITHMS: dict[str, tuple[str, str]] = {
    "reinforce": ("pgrad.algorithms.reinforce", "ReinforceConfig"),
    "a2c": ("pgrad.algorithms.a2c", "A2CConfig"),
    "ppo": ("pgrad.algorithms.ppo", "PPOConfig"),
    "npg": ("pgrad.algorithms.npg", "NPGConfig"),
    "trpo": ("pgrad.algorithms.trpo", "TRPOConfig"),
    "ddpg": ("pgrad.algorithms.ddpg", "DDPGConfig"),
    "td3": ("pgrad.algorithms.td3", "TD3Config"),
    "sac": ("pgrad.algorithms.sac", "SACConfig"),
}


def module(algo: str) -> ModuleType:
    """The module of ``algo`` (its config class, ``train`` and ``make_policy``); a one-line
    ValueError names the accepted algorithms."""
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; accepted: {', '.join(sorted(ALGORITHMS))}")
    return importlib.import_module(ALGORITHMS[algo][0])


def config_class(algo: str) -> type[Any]:
    """The frozen config dataclass of ``algo``."""
    return getattr(module(algo), ALGORITHMS[algo][1])
