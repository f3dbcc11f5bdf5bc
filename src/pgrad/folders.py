"""Folders pgrad writes (run folders, report folders), written so that nothing is ever lost.

The rules, each enforced here and nowhere else:

- A folder pgrad writes holds a marker, ``.pgrad``: strict JSON naming pgrad, the kind of
  folder, pgrad's version and commit, and every file pgrad put there. ``--force`` replaces
  only a folder whose marker is pgrad's and that holds no file the marker does not list.
- The target is checked before any work is paid for (:func:`check_target`): not the working
  directory or an ancestor of it, not a symlink, not a file, a writable parent, a name that
  fits, and free space for what will be written.
- One writer per folder: :class:`FolderLock` holds an exclusive ``flock`` on
  ``.<name>.pgrad-lock`` beside the target for the whole run.
- At every moment the path holds the old complete folder or the new one
  (:func:`written_whole`): the new folder is written in a hidden sibling and exchanged with the
  old one in one atomic step (Linux ``renameat2``; elsewhere the old one is renamed aside and the
  new one renamed in), then the old one is deleted; SIGINT and SIGTERM are held
  back during the renames and the clean-up, so no exit path leaves a temporary folder.
- JSON is strict (:func:`dumps`: ``allow_nan=False``, non-finite numbers as ``null``), and single
  files are written beside and renamed in (:func:`replace_file`), never through a symlink.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import json
import math
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

MARKER = ".pgrad"
LOCK_SUFFIX = ".pgrad-lock"
TMP_PREFIX = ".pgrad-tmp-"
OLD_PREFIX = ".pgrad-old-"
KINDS = ("run", "report", "sweep")


# ---------------------------------------------------------------------------------------------
# Strict JSON
# ---------------------------------------------------------------------------------------------

def _plain(x: Any) -> Any:
    """JSON-ready: numpy scalars and arrays to Python, non-finite floats to None."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def dumps(obj: Any) -> str:
    """Strict JSON text (non-finite numbers as ``null``; ``allow_nan=False``), ending in a newline."""
    return json.dumps(_plain(obj), indent=2, allow_nan=False) + "\n"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json(path: Path) -> Any:
    """Parse a strict JSON file (NaN and Infinity refused); a one-line ValueError naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read {path}: {_reason(e)}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}") from None
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None


def _reason(e: BaseException) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0]


# ---------------------------------------------------------------------------------------------
# The marker
# ---------------------------------------------------------------------------------------------

@functools.cache
def git_commit() -> str | None:
    """The commit of the pgrad source tree this module was imported from, or None (an installed
    copy, or git missing). Only a checkout whose top level holds this very package counts. Asked
    of git once per process (a sweep writes its folder's files dozens of times)."""
    import subprocess

    package = Path(__file__).resolve().parent
    try:
        top = subprocess.run(["git", "-C", str(package), "rev-parse", "--show-toplevel", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = top.stdout.split()
    if top.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() / "src" / "pgrad" != package:
        return None
    return lines[1]


def provenance() -> dict:
    """pgrad's version and the git commit that wrote a folder (None outside a checkout)."""
    from pgrad import __version__

    return {"pgrad_version": __version__, "git_commit": git_commit()}


def _listing(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (relative, sorted), the marker excluded."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != MARKER
                  or p.parent != folder)


def write_marker(folder: Path, kind: str) -> None:
    """Write ``.pgrad`` into a folder pgrad has just filled, listing what is there."""
    marker = {"written_by": "pgrad", "kind": kind, **provenance(), "files": _listing(folder)}
    (folder / MARKER).write_text(dumps(marker))


def read_marker(folder: Path) -> dict | None:
    """The folder's marker, or None if it has none (or one that is not pgrad's)."""
    path = folder / MARKER
    if path.is_symlink() or not path.is_file():
        return None
    try:
        marker = read_json(path)
    except ValueError:
        return None
    ok = (isinstance(marker, dict) and marker.get("written_by") == "pgrad"
          and marker.get("kind") in KINDS and isinstance(marker.get("files"), list))
    return marker if ok else None


def replaceable(folder: Path, kind: str) -> str | None:
    """Why pgrad may not replace ``folder`` (None if it may): it must carry pgrad's marker, be of
    the same kind, and hold nothing the marker does not list."""
    marker = read_marker(folder)
    if marker is None:
        return f"was not written by pgrad (no {MARKER} marker)"
    if marker["kind"] != kind:
        return f"is a pgrad {marker['kind']} folder, not a {kind} folder"
    extra = sorted(set(_listing(folder)) - set(map(str, marker["files"])))
    if extra:
        shown = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
        return f"holds files pgrad did not write ({shown})"
    return None


# ---------------------------------------------------------------------------------------------
# Checking a target before any work
# ---------------------------------------------------------------------------------------------

def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PiB"


def check_target(out: str | os.PathLike, *, force: bool, kind: str, needed_bytes: int = 0,
                 flag: str = "--out") -> Path:
    """The absolute path of the folder to write, or a one-line ValueError saying why not.

    Refused: an empty path; a last component ``.`` or ``..``; the working directory or an
    ancestor of it; a symlink; an existing file; an existing non-empty folder that pgrad may not
    replace (:func:`replaceable`), or any existing non-empty folder without ``force``; a parent that is not a
    writable folder; a name or path too long for the file system; less free space than
    ``needed_bytes``.
    """
    text = os.fspath(out)
    what = f"{kind} folder"
    if not text.strip():
        raise ValueError(f"{flag} is empty; give the path of a new {what}")
    path = Path(text)
    if path.name in ("", ".", ".."):
        raise ValueError(f"{flag} {text!r} must end in a folder name (not '.', '..' or '/')")
    try:
        target = path.parent.resolve() / path.name
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError) as e:
        raise ValueError(f"{flag} {text!r}: {_reason(e)}") from None
    if target == cwd or target in cwd.parents:
        raise ValueError(f"{flag} {text!r} is the working directory or one of its ancestors; "
                         f"give a new {what} inside it")
    ancestor = target.parent
    while not os.path.lexists(ancestor):
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{flag} {text!r}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {text!r}: cannot write in {ancestor} (permission denied)")
    name_max = os.pathconf(ancestor, "PC_NAME_MAX")
    longest = max(len(part.encode()) for part in target.relative_to(ancestor).parts)
    if longest + len(LOCK_SUFFIX) + 1 > name_max:
        raise ValueError(f"{flag} {text!r}: folder name too long ({longest} bytes; at most "
                         f"{name_max - len(LOCK_SUFFIX) - 1})")
    if len(os.fsencode(target)) + 64 > os.pathconf(ancestor, "PC_PATH_MAX"):
        raise ValueError(f"{flag} {text!r}: path too long for the file system")
    if target.is_symlink():
        raise ValueError(f"{flag} {text!r} is a symlink; pgrad never writes through one")
    if target.exists():
        if not target.is_dir():
            raise ValueError(f"{flag} {text!r} exists and is not a folder")
        if not any(target.iterdir()):
            return target  # an empty folder: nothing in it to lose
        why = replaceable(target, kind)
        if why is not None:
            raise ValueError(f"{what} {text} exists and {why}; pgrad replaces only {kind} folders it "
                             f"wrote: choose another {flag}")
        if not force:
            raise ValueError(f"{what} {text} already exists; pass --force to replace it")
    free = shutil.disk_usage(ancestor).free
    if needed_bytes > free:
        raise ValueError(f"{flag} {text!r}: not enough free space in {ancestor} (about "
                         f"{format_bytes(needed_bytes)} needed, {format_bytes(free)} free)")
    return target


# ---------------------------------------------------------------------------------------------
# One writer per folder
# ---------------------------------------------------------------------------------------------

class FolderLock:
    """An exclusive lock on the folder ``target`` for as long as the process writes it:
    ``flock`` on ``<parent>/.<name>.pgrad-lock`` (released by the kernel if the process dies;
    the file is removed on release). A second holder gets a one-line ValueError naming the
    folder and, where known, the other process."""

    def __init__(self, target: Path, what: str = "run folder"):
        self.target, self.what = Path(target), what
        self.path = self.target.parent / f".{self.target.name}{LOCK_SUFFIX}"
        self.fd: int | None = None

    def acquire(self) -> FolderLock:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").split()
                os.close(fd)
                who = f" (pid {holder[0]} on {holder[1]})" if len(holder) >= 2 else ""
                raise ValueError(f"{self.what} {self.target} is being written by another pgrad "
                                 f"process{who}; wait for it or choose another --out") from None
            try:
                same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:  # else the previous holder removed the file between our open and flock
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> FolderLock:
        try:
            with signals_held():  # a signal meanwhile lands below, where the lock is released
                return self.acquire()
        except BaseException:
            self.release()
            raise

    def __exit__(self, *exc: object) -> None:
        with signals_held():
            self.release()


# ---------------------------------------------------------------------------------------------
# Writing a folder whole
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back inside the block (main thread only); a signal that arrives
    meanwhile is delivered when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``);
    False where the system or file system cannot (then nothing happened)."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, target: Path, kind: str) -> None:
    """Rename ``tmp`` to ``target``. An existing target (checked again: pgrad's own) is exchanged
    with ``tmp`` atomically where the system can, else renamed aside first; either way it is
    deleted only once the new folder is in place."""
    if not os.path.lexists(target) or (target.is_dir() and not target.is_symlink()
                                       and not any(target.iterdir())):
        os.rename(tmp, target)  # over an empty folder, or fails if one appeared meanwhile
        return
    why = "is not a folder" if target.is_symlink() or not target.is_dir() else replaceable(target, kind)
    if why is not None:
        raise ValueError(f"{target} {why}; left as it is (the new folder was not written)")
    if exchange(tmp, target):  # one atomic step: target is the new folder, tmp the old one
        shutil.rmtree(tmp)
        return
    old = Path(tempfile.mkdtemp(prefix=OLD_PREFIX, dir=target.parent))
    os.rename(target, old)  # replaces the empty folder mkdtemp made
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old)


@contextlib.contextmanager
def written_whole(target: Path, kind: str) -> Iterator[Path]:
    """Yield a fresh hidden sibling folder of ``target`` to fill; on success it gets pgrad's
    marker and replaces ``target`` (see the module docstring); on any error or signal it is
    removed and ``target`` is left as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=target.parent))
    try:
        yield tmp
        write_marker(tmp, kind)
        os.chmod(tmp, 0o755)
        with signals_held():
            _swap_in(tmp, target, kind)
    except BaseException:
        with signals_held():
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_file(path: Path, write: Any) -> Path:
    """Write one file beside ``path`` and rename it over ``path``: ``write(tmp_path)`` fills a
    fresh temporary file in the same folder. A symlink at ``path`` is replaced, never followed."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        with signals_held():
            os.replace(tmp, path)
    except BaseException:
        with signals_held(), contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def fs_error(e: OSError) -> str:
    """A filesystem error as one line: the path and the reason (``ENOSPC`` named plainly)."""
    reason = "no space left on the device" if e.errno == errno.ENOSPC else _reason(e)
    return f"{e.filename}: {reason}" if e.filename else reason
