"""What the process-level tests share: starting a real pgrad process, its lock file, and exact
pictures of a folder tree (to assert that nothing outside a run folder changed)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any


def _default_signals() -> None:  # the child starts with default dispositions, whatever the runner set
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_pgrad(cwd: Path, *args: str) -> subprocess.Popen:
    """``python -m pgrad.cli ARGS`` as a real process in ``cwd`` (stderr captured as text)."""
    return subprocess.Popen([sys.executable, "-m", "pgrad.cli", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg"}, preexec_fn=_default_signals)


def start_train(cwd: Path, *args: str) -> subprocess.Popen:
    return start_pgrad(cwd, "train", *args)


def lock_file(out: Path) -> Path:
    """The lock pgrad holds beside ``out`` while it writes it."""
    return out.parent / f".{out.name}.pgrad-lock"


def tree_hash(folder: Path) -> dict[str, tuple]:
    """Every entry under folder: files by mode and sha256, symlinks by target (never followed),
    folders by mode, anything else by its mode."""
    state: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                state[rel] = ("L", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                state[rel] = ("D", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                state[rel] = ("F", stat.S_IMODE(st.st_mode), hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                state[rel] = ("?", st.st_mode)
    return state


def leftovers(root: Path) -> list[str]:
    """pgrad's temporary folders, aside folders and lock files anywhere under root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if ".pgrad-tmp-" in name or ".pgrad-old-" in name or name.endswith(".pgrad-lock"):
                found.append(os.path.join(dirpath, name))
    return sorted(found)


def strict_json(path: Path) -> Any:
    """The JSON of ``path``, failing on NaN or Infinity."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"{path} holds the non-JSON constant {name}")
    return json.loads(path.read_text(), parse_constant=refuse)


RUN_FILES = {"config.json", "metrics.csv", "summary.json", "theta.npy", "learning_curve.png", ".pgrad"}
"""What every complete run folder holds."""


def check_complete_run(folder: Path, seeds: list[int], plot: bool = True) -> None:
    """``folder`` is a complete pgrad run folder of ``seeds``: its files, strict JSON, the marker;
    ``plot=False``: one written with ``--no-plot`` (no learning_curve.png)."""
    assert folder.is_dir() and not folder.is_symlink(), folder
    names = {p.name for p in folder.iterdir()}
    expected = RUN_FILES if plot else RUN_FILES - {"learning_curve.png"}
    assert expected <= names, f"{folder} lacks {sorted(expected - names)}"
    assert strict_json(folder / "config.json")["seeds"] == seeds
    assert isinstance(strict_json(folder / "summary.json"), dict)
    marker = strict_json(folder / ".pgrad")
    assert marker["written_by"] == "pgrad" and marker["kind"] == "run"
    if plot:
        assert (folder / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert "learning_curve.png" not in names
