"""Helpers shared by the benchmark scripts: machine description and markdown tables."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Sequence
from importlib import metadata


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def versions(*packages: str) -> str:
    """'name version' for each installed package, comma-separated."""
    out = []
    for name in packages:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def machine_header(*packages: str) -> str:
    """One markdown paragraph: CPU, cores, load average, Python and package versions."""
    try:
        load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load average unknown"
    return (f"Machine: {cpu_model()}, {os.cpu_count()} logical cores, {load}; "
            f"Python {sys.version.split()[0]}, {versions('numpy', 'gymnasium', *packages)}.")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table; numbers right-aligned."""
    def align(col: int) -> str:
        numeric = all(isinstance(r[col], int | float) or _looks_numeric(r[col]) for r in rows)
        return "---:" if numeric and rows else "---"

    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join(align(i) for i in range(len(headers))) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _looks_numeric(text: object) -> bool:
    s = str(text).replace(",", "").replace("x", "").replace("M", "").replace("%", "").strip()
    try:
        float(s)
    except ValueError:
        return False
    return True


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)
