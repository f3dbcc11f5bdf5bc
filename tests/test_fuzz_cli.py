"""Property-based fuzzing of the ``pgrad`` command line (issue 8's contract).

Two families of generated cases, each run in-process (``pgrad.cli.main``) with the working
directory a fresh scratch tree:

- command lines for train, eval, plot, verify and report mixing valid and invalid flags and
  values (nan, inf, negative, 0, huge, non-numbers, empty strings, unknown flags and choices,
  repeated flags, ``--flag=value``, unambiguous and ambiguous prefixes) and ``--out`` / run
  folder paths that are interesting (``.``, ``..``, ``''``, ``a/..``, a file, a symlink, a
  folder pgrad did not write, a nested new path, a name that is too long);
- run folders damaged in one file (truncated, replaced by other JSON, NaN, wrong types, wrong
  arrays, a pickle, no ``return`` column, a symlink, a folder, deleted) given to eval, plot and
  report.

Every case asserts the contract's invariants: exit code 0 or 2 (verify: also 1), ``main`` never
raises, no traceback, on exit 2 exactly one stderr line ``pgrad: error: ...``, no temporary
folder or lock file left, nothing outside ``--out`` changed (on exit 2 nothing at all), and a
complete folder on success. Where the generated input is certainly valid (or certainly
invalid) the exit code itself is asserted too.

Each generated train is given a tiny budget (appended last, so it wins) and verify / report
small sizes (given first, so that generated values, all of them small, win). A quarter of the
cases are built from pieces that are each valid, so that successful runs are common too.

Not generated, on purpose: ``--out /`` and paths above the scratch tree (an implementation that
got them wrong would delete what is not its own); ``--help`` (it exits through SystemExit).
``plot`` may rewrite the run folder's own ``.pgrad`` marker besides learning_curve.png (the
marker lists the files pgrad wrote).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import RUN_FILES, tree_hash
from pgrad.algorithms.a2c import A2CConfig
from pgrad.algorithms.ppo import PPOConfig
from pgrad.algorithms.reinforce import ReinforceConfig
from pgrad.cli import main

CONFIGS = {"reinforce": ReinforceConfig, "a2c": A2CConfig, "ppo": PPOConfig}
BUDGET = {"reinforce": ["--max-episodes", "100", "--eval-episodes", "2", "--quiet"],
          "a2c": ["--max-steps", "2048", "--eval-episodes", "2", "--quiet"],
          "ppo": ["--max-steps", "2048", "--eval-episodes", "2", "--quiet"]}
REPORT_FILES = {"report.md", "report.png", "report.json", ".pgrad"}
STATUSES = {"solved", "budget", "diverged", "interrupted"}
HUGE = "1000000000000"  # 10**12
TORCH = importlib.util.find_spec("torch") is not None
ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0
ABS = "\0abs:"  # in an argv token: the scratch working directory's absolute path (and a slash)

FAST = settings(deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


# ---------------------------------------------------------------------------------------------
# The scratch tree: root/ (hashed whole) with the working directory root/work/ inside, so that
# `--out ..` stays inside what is hashed.
# ---------------------------------------------------------------------------------------------

def _kind_of(f: dataclasses.Field) -> str:
    name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return name.replace(" ", "")


def changed_paths(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def leftovers(state: dict) -> list[str]:
    """Entries that no exit path may leave: pgrad's temporary folders, aside folders and locks."""
    return sorted(k for k in state if ".pgrad-tmp-" in k.rsplit("/", 1)[-1]
                  or ".pgrad-old-" in k.rsplit("/", 1)[-1] or k.endswith(".pgrad-lock"))


def under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def strict_json(path: Path):
    """Parse strictly: NaN / Infinity literals are not JSON."""
    def refuse(name):
        raise AssertionError(f"{path} holds the non-JSON constant {name}")
    return json.loads(path.read_text(), parse_constant=refuse)


def check_marker(folder: Path, kind: str) -> None:
    marker = strict_json(folder / ".pgrad")
    assert isinstance(marker, dict), marker
    assert marker.get("written_by") == "pgrad" and marker.get("kind") == kind, marker
    assert "pgrad_version" in marker and "git_commit" in marker, marker
    assert marker["git_commit"] is None or isinstance(marker["git_commit"], str), marker


def check_run_folder(folder: Path) -> None:
    """A complete run folder as the contract describes it."""
    assert folder.is_dir() and not folder.is_symlink(), folder
    names = {p.name for p in folder.iterdir()}
    assert RUN_FILES <= names, f"{folder} lacks {sorted(RUN_FILES - names)}"
    check_marker(folder, "run")
    config = strict_json(folder / "config.json")
    assert isinstance(config, dict) and "pgrad_version" in config and "git_commit" in config, config
    summary = strict_json(folder / "summary.json")
    assert isinstance(summary, dict) and "status" in summary, summary
    status = summary["status"] if isinstance(summary["status"], list) else [summary["status"]]
    assert status and set(status) <= STATUSES, summary["status"]
    assert (folder / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    np.load(folder / "theta.npy", allow_pickle=False)


def check_report_folder(folder: Path) -> None:
    assert folder.is_dir() and not folder.is_symlink(), folder
    names = {p.name for p in folder.iterdir()}
    assert REPORT_FILES <= names, f"{folder} lacks {sorted(REPORT_FILES - names)}"
    check_marker(folder, "report")
    strict_json(folder / "report.json")
    assert (folder / "report.png").read_bytes()[:4] == b"\x89PNG"


@dataclass
class Outcome:
    rc: object  # the exit code, or the exception main raised
    out: str
    err: str


def run_main(argv: list[str], cwd: Path) -> Outcome:
    """main(argv) in cwd, stdout and stderr captured; an escaping exception is recorded."""
    old = os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(list(argv))
            except BaseException as e:  # noqa: BLE001 - main must never raise, SystemExit included
                rc = e
    finally:
        os.chdir(old)
    return Outcome(rc, out.getvalue(), err.getvalue())


def check_common(argv: list[str], o: Outcome, allowed_rc: set[int]) -> None:
    assert not isinstance(o.rc, BaseException), f"main({argv!r}) raised {o.rc!r}"
    assert o.rc in allowed_rc, f"main({argv!r}) returned {o.rc!r}; stderr: {o.err!r}"
    assert "Traceback" not in o.err and "Traceback" not in o.out, \
        f"main({argv!r}) printed a traceback: {o.err}"
    if o.rc == 2:
        assert o.err.startswith("pgrad: error: ") and o.err.endswith("\n") and o.err.count("\n") == 1, \
            f"main({argv!r}) exit 2 needs exactly one 'pgrad: error: ' line on stderr, got {o.err!r}"
    else:
        assert "pgrad: error:" not in o.err, f"main({argv!r}) returned {o.rc} but printed {o.err!r}"


class Scratch:
    """A fresh scratch tree per example, removed afterwards."""

    def __init__(self, templates: dict[str, Path]):
        self.root = Path(tempfile.mkdtemp(prefix="pgrad-fuzz-")).resolve()
        self.work = self.root / "work"
        self.work.mkdir()
        (self.root / "victim.txt").write_text("outside every run folder\n")
        (self.work / "file").write_text("a plain file\n")
        (self.work / "plain").mkdir()
        (self.work / "plain" / "keep.txt").write_text("not written by pgrad\n")
        shutil.copytree(templates["reinforce"], self.work / "run", symlinks=True)
        shutil.copytree(templates["a2c"], self.work / "run2", symlinks=True)
        shutil.copytree(templates["reinforce"], self.work / "existing-run", symlinks=True)
        shutil.copytree(templates["report"], self.work / "existing-report", symlinks=True)
        os.symlink("run", self.work / "link-run")
        os.symlink("plain", self.work / "linkdir")
        os.symlink("nowhere", self.work / "dangling")
        (self.work / "ro").mkdir()
        os.chmod(self.work / "ro", 0o555)

    def path(self, token: str) -> str:
        """The token with ABS (also inside --flag=ABS...) spelled as the working directory's path."""
        return token.replace(ABS, str(self.work) + os.sep)

    def argv(self, tokens: list[str]) -> list[str]:
        return [self.path(t) for t in tokens]

    def rel(self, token: str) -> str:
        """The root-relative path a --out / run folder token names, its parent's symlinks resolved
        (the last component itself is kept: a symlink --out names the link)."""
        p = Path(self.path(token))
        p = p if p.is_absolute() else self.work / p
        parent = Path(os.path.realpath(p.parent))
        full = parent / p.name if p.name not in ("", ".", "..") else Path(os.path.realpath(p))
        try:
            return full.relative_to(self.root).as_posix()
        except ValueError:
            return "/" + full.as_posix()  # outside the tree: nothing there may change

    def cleanup(self):
        for dirpath, dirnames, _ in os.walk(self.root):
            for d in dirnames:
                path = os.path.join(dirpath, d)
                if not os.path.islink(path):
                    with contextlib.suppress(OSError):
                        os.chmod(path, 0o755)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def templates():
    """Real folders written once per module: a REINFORCE run (one seed), an A2C run (two seeds)
    and a report of both."""
    base = Path(tempfile.mkdtemp(prefix="pgrad-fuzz-templates-")).resolve()
    runs = {"reinforce": base / "reinforce", "a2c": base / "a2c", "report": base / "report"}
    o = run_main(["train", "--out", str(runs["reinforce"]), *BUDGET["reinforce"]], base)
    assert o.rc == 0, o
    o = run_main(["train", "--algo", "a2c", "--seeds", "0-1", "--out", str(runs["a2c"]), *BUDGET["a2c"]],
                 base)
    assert o.rc == 0, o
    o = run_main(["report", str(runs["reinforce"]), str(runs["a2c"]), "--resamples", "50",
                  "--out", str(runs["report"])], base)
    assert o.rc == 0, o
    yield runs
    shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Family a: generated command lines. Each piece knows whether it certainly parses and whether
# its value is certainly valid (True), certainly invalid (False) or not known (None).
# ---------------------------------------------------------------------------------------------

HELP = {"--help": ("help", "flag", None), "-h": ("help", "flag", None)}
FIXED_TRAIN = {"--algo": ("algo", "str", tuple(CONFIGS)), "--seeds": ("seeds", "str", None),
               "--out": ("out", "str", None), "--force": ("force", "flag", None),
               "--quiet": ("quiet", "flag", None), "--checkpoint-every": ("checkpoint_every", "float", None),
               "--tensorboard": ("tensorboard", "str", None), "--no-plot": ("plot", "flag", None),
               **HELP}  # the last three: for prefix ambiguity
COMMAND_OPTIONS = {  # option string -> (dest, kind, choices)
    "eval": {"--episodes": ("episodes", "int", None), **HELP},
    "plot": dict(HELP),
    "verify": {"--size": ("size", "int", None), "--episodes": ("episodes", "int", None),
               "--seed": ("seed", "int", None), **HELP},
    "report": {"--out": ("out", "str", None), "--force": ("force", "flag", None),
               "--seed": ("seed", "int", None), "--resamples": ("resamples", "int", None), **HELP},
}


def train_options(algo: str) -> dict[str, tuple[str, str, tuple | None]]:
    """Every option string of `pgrad train --algo algo` -> (dest, kind, choices)."""
    options = dict(FIXED_TRAIN)
    for f in dataclasses.fields(CONFIGS[algo]):
        flag = "--" + f.name.replace("_", "-")
        kind = _kind_of(f)
        options[flag] = (f.name, kind, f.metadata.get("choices"))
        if kind == "bool":
            options["--no-" + f.name.replace("_", "-")] = (f.name, "bool", None)
    return options


FIELDS = {algo: {f.name: (_kind_of(f), f.metadata.get("choices")) for f in dataclasses.fields(cls)}
          for algo, cls in CONFIGS.items()}
"""algo -> config field -> (annotation, accepted values or None)."""
ALL_FIELDS = {name: info for fields in FIELDS.values() for name, info in fields.items()}


def match_option(token: str, options: dict) -> str | None:
    """The option string argparse takes `token` for (exact, or a unique prefix), else None."""
    name = token.split("=", 1)[0] if token.startswith("--") else token
    if name in options:
        return name
    if not name.startswith("--"):
        return None
    hits = [o for o in options if o.startswith(name)]
    return hits[0] if len(hits) == 1 else None


NEGATIVE_NUMBER = re.compile(r"-\d+|-\d*\.\d+")


@dataclass
class Piece:
    """One flag on the command line: its spelling, and the value argparse will store."""

    spelled: str  # the option string as written (full, prefix, unknown)
    value: str | None  # None: a flag without a value (store_true, --x / --no-x)
    equals: bool = False  # written --flag=value

    def tokens(self) -> list[str]:
        if self.value is None:
            return [self.spelled]
        return [f"{self.spelled}={self.value}"] if self.equals else [self.spelled, self.value]


def parse_piece(piece: Piece, options: dict) -> tuple[bool, str | None, object]:
    """(parses, dest, value as argparse stores it) of one piece, for the given option table."""
    opt = match_option(piece.spelled, options)
    if opt is None:
        return False, None, None
    dest, kind, choices = options[opt]
    if kind in ("flag", "bool"):
        if piece.value is not None:  # --force=1, --bias=1: "ignored explicit argument"
            return False, dest, None
        return True, dest, not opt.startswith("--no-")
    if piece.value is None:
        return False, dest, None
    if not piece.equals and piece.value.startswith("-") and not NEGATIVE_NUMBER.fullmatch(piece.value):
        return False, dest, None  # argparse takes it for an option: "expected one argument"
    v = piece.value
    try:
        if kind == "int":
            return True, dest, int(v)
        if kind in ("float", "float|None"):
            return True, dest, float(v)
    except ValueError:
        return False, dest, None
    if choices and v not in choices:  # argparse checks every occurrence, not only the last
        return False, dest, None
    return True, dest, v


INT_POOL = ["0", "-1", "1", "2", "3", HUGE, "1.5", "abc", "", "nan", " 2", "0x10"]
FLOAT_POOL = ["0", "0.5", "1", "-1", "2", "1e-3", "nan", "inf", "-inf", "1e400", "abc", "", "1e308",
              "-0.5", " 0.25 ", "Infinity", "NaN"]
INT_POOLS = {  # valid values kept small wherever a large one would cost time
    "episodes_per_update": ["0", "-1", "1", "2", HUGE, "1.5", "abc", ""],
    "depth": ["0", "-1", "1", "2", "abc", "1.5"],
    "epochs": ["0", "-1", "1", "2", "abc"],
    "hidden": ["0", "-1", "2", "8", HUGE, "abc"],
    "num_envs": ["0", "-1", "2", "4", "32", HUGE, "abc", "nan"],
    "num_steps": ["0", "-1", "2", "4", "16", HUGE, "abc", ""],
    "minibatch_size": ["0", "-1", "7", "64", "128", "512", HUGE, "abc"],
    "solve_window": ["0", "-1", "1", "5", HUGE, "abc"],
    "time_limit": ["0", "-1", "1", "5", HUGE, "abc", "inf"],
}
SEEDS_POOL = ["0", "0-2", "1,5", " 3 ", "3-1", "a", "", "-1", "1,1", "0-99999999999", "0x1", "1.5", "7"]
ENV_POOL = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0",
            "CliffWalking-v1", "FrozenLake-v1", "Taxi-v3", "Pong-v5", "", "nosuchmodule:Foo-v0",
            "CartPole-v1 ", "pgrad.envs.registration:pgrad/CartPole-v1"]
AC_ENVS = {"CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0",
           "CliffWalking-v1", "FrozenLake-v1", "pgrad.envs.registration:pgrad/CartPole-v1"}
UNKNOWN_FLAGS = ["--bogus", "--zzz", "-q", "--max-episodes-per-seed", "--lr2"]


def value_pool(name: str) -> list[str]:
    if name == "seeds":
        return SEEDS_POOL
    if name == "env_id":
        return ENV_POOL
    kind, choices = ALL_FIELDS[name]
    if choices:
        return [*choices, "bogus", "", str(choices[0]).upper()]
    if kind == "int":
        return INT_POOLS.get(name, INT_POOL)
    if kind in ("float", "float|None"):
        return FLOAT_POOL
    return ["x"]


def seeds_valid(text: str) -> bool | None:
    """Mirror of --seeds' grammar: True for a few seeds, False if malformed, repeated or huge."""
    seeds: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            return False
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            return False
        if hi - lo > 10**6:
            return False  # the contract: "--seeds 0-99999999999" is refused by the memory estimate
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        return False
    return True if len(seeds) <= 5 else None


def float_valid(algo: str, name: str, v: float) -> bool | None:
    if math.isnan(v):
        return False
    if name == "solve_threshold":
        return None if v == -math.inf else True
    if math.isinf(v):
        return False
    if name in ("gamma", "gae_lambda"):
        return 0.0 <= v <= 1.0
    if name in ("lr", "mlp_lr", "max_grad_norm", "value_ridge", "clip"):
        if v <= 0:
            return False
        if algo == "reinforce" and name == "lr":
            return True  # the contract's own divergence example: --lr 1e308 trains and exits 0
        return True if v <= 2 else None
    if name in ("ent_coef", "vf_coef"):
        if v < 0:
            return False
        return True if v <= 2 else None
    if name == "init_log_std":
        return True if abs(v) <= 2 else None
    return None


POSITIVE_INTS = {"episodes_per_update", "max_episodes", "solve_window", "eval_episodes", "num_envs",
                 "num_steps", "hidden", "depth", "max_steps", "epochs", "minibatch_size", "time_limit"}


def int_valid(algo: str, name: str, v: int) -> bool | None:
    if name in POSITIVE_INTS and v < 1:
        return False
    if name in ("max_episodes", "max_steps", "eval_episodes"):
        return True  # the budget given last overrides it anyway
    if v >= 10**9:
        if name in ("episodes_per_update", "num_envs", "num_steps"):
            return False  # the memory estimate refuses it (it cannot be allocated)
        if name == "minibatch_size":
            return False  # cannot divide num_envs * num_steps
        return None
    return True if name in POSITIVE_INTS else None


BAD_ENVS = {"Pong-v5", "", "nosuchmodule:Foo-v0", "CartPole-v1 "}


def env_valid(algo: str, env: str) -> bool | None:
    """Every algorithm takes pgrad's own dynamics and any Gymnasium id with Discrete or 1-D Box
    actions (``--float32`` only on pgrad's own: see semantic_validity)."""
    if env in AC_ENVS:
        return True
    if env.startswith("Taxi"):
        return None  # quadratic value features of 500 states: refused unless --value-features linear
    return False if env in BAD_ENVS else None


def semantic_validity(algo: str, final: dict) -> bool | None:
    """Certainly valid (True), certainly refused (False) or not known (None): the final values."""
    verdicts = []
    for name, value in final.items():
        if name in ("algo", "out", "force", "quiet"):
            continue
        if name == "seeds":
            verdicts.append(seeds_valid(value))
        elif name == "env_id":
            verdicts.append(env_valid(algo, value))
        else:
            kind, choices = FIELDS[algo][name]
            if kind == "bool":
                verdicts.append(True)
            elif choices:  # checked by argparse (parse_piece); mlp also needs torch
                verdicts.append(not (name == "policy" and value == "mlp" and not TORCH))
            elif kind == "int":
                verdicts.append(int_valid(algo, name, value))
            elif kind in ("float", "float|None"):
                verdicts.append(float_valid(algo, name, value))
            else:
                verdicts.append(None)
    if algo == "ppo":
        defaults = {f.name: f.default for f in dataclasses.fields(PPOConfig)}
        n = final.get("num_envs", defaults["num_envs"])
        t = final.get("num_steps", defaults["num_steps"])
        b = final.get("minibatch_size", defaults["minibatch_size"])
        if all(isinstance(x, int) and 0 < x < 10**9 for x in (n, t, b)):
            verdicts.append((n * t) % b == 0)
    pgrads_own = {"CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0",
                  "pgrad.envs.registration:pgrad/CartPole-v1"}
    if final.get("float32") is True and final.get("env_id", "CartPole-v1") not in pgrads_own:
        verdicts.append(None if final.get("env_id") not in AC_ENVS else False)  # float32: pgrad's own only
    if False in verdicts:
        return False
    return True if all(v is True for v in verdicts) else None


# --out / run folder tokens: (token, valid without --force, valid with --force, expected message)
TRAIN_OUTS = [
    ("fresh", True, True, None), ("fresh/", True, True, None), ("./fresh", True, True, None),
    ("new/deep/run", True, True, None), (ABS + "absfresh", True, True, None), (None, True, True, None),
    ("existing-run", False, True, "already exists; pass --force"),
    ("existing-report", False, None, None),
    ("plain", False, False, "not written by pgrad"),
    ("file", False, False, None), ("link-run", False, False, None), ("dangling", False, False, None),
    (".", False, False, None), ("..", False, False, None), ("", False, False, None),
    ("a/..", False, False, None), ("./.", False, False, None), (ABS, False, False, None),
    ("file/sub", False, False, None), ("x" * 300, False, False, "too long"),
    ("x" * 250, None, None, None), ("linkdir/new", None, None, None),
    ("ro/run", None if ROOT_USER else False, None if ROOT_USER else False, None),
]
REPORT_OUTS = [
    ("fresh", True, True, None), ("fresh/", True, True, None), ("new/deep/rep", True, True, None),
    (ABS + "absrep", True, True, None), (None, True, True, None),
    ("existing-report", False, True, "already exists; pass --force"),
    ("existing-run", False, None, None), ("run", False, False, None),
    ("plain", False, False, "not written by pgrad"), ("file", False, False, None),
    ("link-run", False, False, None), ("dangling", False, False, None), (".", False, False, None),
    ("..", False, False, None), ("", False, False, None), ("a/..", False, False, None),
    (ABS, False, False, None), ("file/sub", False, False, None), ("x" * 300, False, False, "too long"),
]
RUN_DIRS = [  # (token, a readable run folder?)
    ("run", True), ("run2", True), ("./run", True), ("run/", True), (ABS + "run", True),
    ("link-run", None), (".", False), ("..", False), ("", False), ("nonexistent", False),
    ("file", False), ("plain", False), ("dangling", False), ("existing-report", False),
]


@dataclass
class Case:
    command: str
    tokens: list[str]
    expect: bool | None  # True: must succeed; False: must exit 2; None: either
    out: str | None = None  # train / report: the --out token in force (None: the default)
    run_dir: str | None = None  # plot: the run folder token
    hint: str | None = None  # a substring the error line must hold (when expect is False)


def _combine(*verdicts: bool | None) -> bool | None:
    if False in verdicts:
        return False
    return True if all(v is True for v in verdicts) else None


def piece_valid(algo: str, piece: Piece) -> bool:
    """Whether this one piece, on its own, certainly parses and holds a valid value."""
    ok, dest, value = parse_piece(piece, train_options(algo))
    return ok and semantic_validity(algo, {dest: value}) is True


@st.composite
def flag_pieces(draw, names: list[str], max_pieces: int = 4, valid_for: str | None = None) -> list[Piece]:
    """Up to max_pieces flags; with valid_for (an algorithm), only pieces valid on their own."""
    pieces = []
    if valid_for is not None:
        names = sorted({*FIELDS[valid_for], "seeds"} - {"max_episodes", "max_steps", "eval_episodes"})
    for _ in range(draw(st.integers(0, max_pieces))):
        if valid_for is not None:
            for _attempt in range(4):
                piece = draw(flag_pieces(names, 1))[:1]
                if piece and piece_valid(valid_for, piece[0]):
                    pieces += piece
                    break
            continue
        name = draw(st.sampled_from(names))
        if name.startswith("-"):  # an unknown flag, with or without a value
            value = draw(st.sampled_from([None, "1", "x"]))
            pieces.append(Piece(name, value, equals=value is not None and draw(st.booleans())))
            continue
        flag = "--" + name.replace("_", "-")
        kind = ALL_FIELDS.get(name, ("str", None))[0] if name != "seeds" else "str"
        if kind == "bool":
            spelled = draw(st.sampled_from([flag, "--no-" + flag[2:]]))
            value = draw(st.sampled_from([None, None, None, "1"]))
        else:
            spelled = flag
            value = draw(st.sampled_from(value_pool(name)))
        if draw(st.integers(0, 5)) == 0 and len(spelled) > 4:  # a prefix: unique or ambiguous
            prefix = spelled[:draw(st.integers(3, len(spelled) - 1))]
            if not "--help".startswith(prefix):  # never ask for the help text (it exits)
                spelled = prefix
        pieces.append(Piece(spelled, value, equals=value is not None and draw(st.booleans())))
    return pieces


TRAIN_NAMES = sorted({*ALL_FIELDS, "seeds"}) + UNKNOWN_FLAGS


def _out_pieces(draw, outs, valid: bool = False) -> tuple[list[Piece], tuple]:
    choice = draw(st.sampled_from([o for o in outs if o[1] or o[2]] if valid else outs))
    if choice[0] is None:
        return [], choice
    pieces = []
    if draw(st.integers(0, 7)) == 0:  # repeated: the last one wins
        pieces.append(Piece("--out", draw(st.sampled_from([o[0] for o in outs if o[0] is not None]))))
    pieces.append(Piece("--out", choice[0], equals=draw(st.booleans())))
    return pieces, choice


@st.composite
def train_cases(draw) -> Case:
    valid = draw(st.integers(0, 3)) == 0  # a quarter of the cases: every piece valid on its own
    algo = draw(st.sampled_from(sorted(CONFIGS)))
    forms = [["--algo", algo], [f"--algo={algo}"], ["--alg", algo], [f"--al={algo}"],
             ["--algo", draw(st.sampled_from(sorted(CONFIGS))), "--algo", algo]]
    if algo == "reinforce":
        forms.append([])
    algo_tokens = draw(st.sampled_from(forms))
    algo_ok = True
    if not valid and draw(st.integers(0, 9)) == 0:
        algo_tokens = ["--algo", draw(st.sampled_from(["dqn", "", "PPO", "ppo "]))]
        algo_ok = False
    out_pieces, (out_token, ok_plain, ok_force, hint) = _out_pieces(draw, TRAIN_OUTS, valid)
    force = draw(st.sampled_from([[], [], [Piece("--force", None)], [Piece("--forc", None)],
                                  [Piece("--force", "1", equals=True)]]))
    if valid:
        force = [Piece("--force", None)] if not ok_plain else force[:0]
    flags = draw(flag_pieces(TRAIN_NAMES, valid_for=algo if valid else None))
    # groups keep their order (repeated --out: the last one wins); None stands for --algo
    groups: list[list[Piece] | None] = [*([p] for p in flags), out_pieces, force, None]
    groups = [groups[i] for i in draw(st.permutations(range(len(groups))))]
    tokens = [t for g in groups for t in (algo_tokens if g is None else [t for p in g for t in p.tokens()])]
    tokens += BUDGET[algo]  # last, so that it wins

    options = train_options(algo)
    parses, final, forced = algo_ok, {}, False
    for piece in (p for g in groups if g is not None for p in g):
        ok, dest, value = parse_piece(piece, options)
        parses = parses and ok
        if ok and dest == "force":
            forced = True
        elif ok and dest not in ("out", "quiet", "help", "checkpoint_every", "tensorboard", "plot"):
            final[dest] = value
    for name in ("max_episodes", "max_steps", "eval_episodes"):
        final.pop(name, None)  # the budget, given last, wins
    semantic = semantic_validity(algo, final) if parses else False
    out_ok = ok_force if forced else ok_plain
    return Case("train", ["train", *tokens], _combine(parses, semantic, out_ok), out=out_token,
                hint=hint if (parses and semantic is True and out_ok is False) else None)


@st.composite
def eval_cases(draw) -> Case:
    valid = draw(st.integers(0, 3)) == 0
    run_dir, ok_dir = draw(st.sampled_from([r for r in RUN_DIRS if r[1]] if valid else RUN_DIRS))
    pieces = []
    for _ in range(draw(st.integers(0, 3))):
        kind = 0 if valid else draw(st.integers(0, 4))
        if kind <= 2:
            spelled = draw(st.sampled_from(["--episodes", "--episodes", "--ep", "--e"]))
            value = draw(st.sampled_from(["1", "3", " 2"] if valid else
                                         ["0", "-1", "1", "2", "3", HUGE, "abc", "", "nan", "1.5"]))
            pieces.append(Piece(spelled, value, equals=draw(st.booleans())))
        elif kind == 3:
            pieces.append(Piece(draw(st.sampled_from(UNKNOWN_FLAGS)), None))
        else:
            pieces.append(Piece("extra-positional", None))
    options = COMMAND_OPTIONS["eval"]
    parses, final = True, {"episodes": 2}
    tokens: list[str] = []
    for p in pieces:
        tokens += p.tokens()
        if p.spelled == "extra-positional":
            parses = False
            continue
        ok, dest, value = parse_piece(p, options)
        parses = parses and ok
        if ok:
            final[dest] = value
    n = final["episodes"]
    episodes_ok = False if n < 1 or n >= 10**9 else True
    positional = [] if not valid and draw(st.integers(0, 15)) == 0 else [run_dir]
    argv = ["eval", "--episodes", "2", *positional, *tokens] if draw(st.booleans()) else \
        ["eval", *positional, "--episodes", "2", *tokens]
    expect = _combine(parses, episodes_ok, ok_dir if positional else False)
    return Case("eval", argv, expect)


@st.composite
def plot_cases(draw) -> Case:
    valid = draw(st.integers(0, 3)) == 0
    run_dir, ok_dir = draw(st.sampled_from([r for r in RUN_DIRS if r[1]] if valid else RUN_DIRS))
    extra = [] if valid else \
        draw(st.sampled_from([[], [], [], ["--bogus"], ["extra-positional"], ["--bogus=1"]]))
    positional = [] if not valid and draw(st.integers(0, 15)) == 0 else [run_dir]
    expect = _combine(not extra, ok_dir if positional else False)
    return Case("plot", ["plot", *positional, *extra], expect, run_dir=run_dir if positional else None)


@st.composite
def verify_cases(draw) -> Case:
    valid = draw(st.integers(0, 3)) == 0
    pieces = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 8 if valid else 9))
        if kind <= 2:
            pieces.append(Piece(draw(st.sampled_from(["--size", "--size", "--si"])),
                                draw(st.sampled_from(["2", "3", "20"] if valid else
                                                     ["0", "1", "2", "3", "20", "-1", "abc", "", "nan",
                                                      "1.5"])),
                                equals=draw(st.booleans())))
        elif kind <= 5:
            pieces.append(Piece(draw(st.sampled_from(["--episodes", "--episodes", "--ep"])),
                                draw(st.sampled_from(["2", "3"] if valid else
                                                     ["0", "1", "2", "3", "-1", "abc", HUGE])),
                                equals=draw(st.booleans())))
        elif kind <= 8:
            pieces.append(Piece(draw(st.sampled_from(["--seed", "--seed", "--see"] if valid else
                                                     ["--seed", "--seed", "--see", "--s"])),
                                draw(st.sampled_from(["0", "1", HUGE] if valid else
                                                     ["0", "1", "-1", HUGE, "abc", ""])),
                                equals=draw(st.booleans())))
        else:
            pieces.append(Piece(draw(st.sampled_from(UNKNOWN_FLAGS)), None))
    options = COMMAND_OPTIONS["verify"]
    parses, final = True, {"size": 20, "episodes": 2, "seed": 0}
    tokens: list[str] = []
    for p in pieces:
        tokens += p.tokens()
        ok, dest, value = parse_piece(p, options)
        parses = parses and ok
        if ok:
            final[dest] = value
    size_ok = final["size"] >= 2
    episodes_ok = None if final["episodes"] == 1 else (2 <= final["episodes"] < 10**9)  # K = 1: open
    seed_ok = final["seed"] >= 0
    expect = _combine(parses, size_ok, episodes_ok, seed_ok)
    return Case("verify", ["verify", "--size", "20", "--episodes", "2", *tokens], expect)


@st.composite
def report_cases(draw) -> Case:
    valid = draw(st.integers(0, 3)) == 0
    if valid:
        runs = [(name, True) for name in draw(st.sampled_from([["run"], ["run2"], ["run", "run2"], ["./run"],
                                                               [ABS + "run2", "run/"]]))]
    else:
        n = draw(st.integers(0, 3) if draw(st.integers(0, 15)) == 0 else st.integers(1, 3))
        runs = [draw(st.sampled_from(RUN_DIRS)) for _ in range(n)]
    n = len(runs)
    out_pieces, (out_token, ok_plain, ok_force, hint) = _out_pieces(draw, REPORT_OUTS, valid)
    pieces = [Piece("--force", None)] if valid and not ok_plain else []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.integers(2, 5) if valid else st.integers(0, 6))
        if kind <= 1:
            pieces.append(Piece(draw(st.sampled_from(["--force", "--f"])), None))
        elif kind <= 3:
            pieces.append(Piece(draw(st.sampled_from(["--resamples", "--res", "--r"])),
                                draw(st.sampled_from(["1", "50"] if valid else
                                                     ["0", "-1", "1", "50", "abc", "nan", ""])),
                                equals=draw(st.booleans())))
        elif kind <= 5:
            seed = draw(st.sampled_from(["0", "3"] if valid else ["0", "3", "-1", "abc"]))
            pieces.append(Piece("--seed", seed, equals=draw(st.booleans())))
        else:
            pieces.append(Piece(draw(st.sampled_from(UNKNOWN_FLAGS)), None))
    options = COMMAND_OPTIONS["report"]
    parses, final, forced = n >= 1, {"resamples": 50, "seed": 0}, False
    groups = [out_pieces, *([p] for p in pieces)]  # repeated --out stays in order: the last one wins
    groups = [groups[i] for i in draw(st.permutations(range(len(groups))))]
    tokens: list[str] = []
    for p in (p for g in groups for p in g):
        tokens += p.tokens()
        ok, dest, value = parse_piece(p, options)
        parses = parses and ok
        if ok and dest == "force":
            forced = True
        elif ok and dest in ("resamples", "seed"):
            final[dest] = value
    run_tokens = [r[0] for r in runs]
    resolved = [os.path.normpath(t[len(ABS):] if t.startswith(ABS) else t).rstrip("/") for t in run_tokens]
    runs_ok = _combine(*(r[1] for r in runs)) if runs else False
    if runs_ok is not False and len(set(resolved)) < len(resolved):
        runs_ok = False  # a run folder given twice
    if runs_ok is not False and any(t == "link-run" for t in run_tokens) and "run" in resolved:
        runs_ok = False  # the same folder twice, once through a symlink
    out_ok = ok_force if forced else ok_plain
    if out_token == "run" and "run" not in resolved:
        out_ok = False if not forced else None  # a run folder, not one of the report's: like existing-run
    if out_token is not None and os.path.normpath(out_token) in resolved:
        out_ok = False  # would replace one of its own run folders
    flags_ok = parses and final["resamples"] >= 1 and final["seed"] >= 0
    expect = _combine(flags_ok, runs_ok, out_ok)
    argv = ["report", "--resamples", "50", *run_tokens, *tokens] if draw(st.booleans()) else \
        ["report", "--resamples", "50", *tokens, *run_tokens]
    other_ok = flags_ok and runs_ok is True
    return Case("report", argv, expect, out=out_token, hint=hint if (other_ok and out_ok is False) else None)


command_lines = st.one_of(train_cases(), train_cases(), eval_cases(), plot_cases(), verify_cases(),
                          report_cases())


def _default_folder(scratch: Scratch, before: dict, after: dict, parent: str) -> Path:
    """The one folder a run with the default --out added under parent (runs/ or reports/)."""
    new = sorted(k for k in after.keys() - before.keys() if k.count("/") == parent.count("/") + 1
                 and k.startswith(parent + "/"))
    assert len(new) == 1, f"expected exactly one new folder in {parent}/, got {new}"
    name = new[0].rsplit("/", 1)[1]
    assert re.fullmatch(rf"\d{{8}}-\d{{6}}-{os.getpid()}", name), \
        f"default --out {new[0]} is not <YYYYmmdd-HHMMSS>-<pid>"
    return scratch.root / new[0]


def check_case(templates, case: Case) -> None:
    scratch = Scratch(templates)
    try:
        argv = scratch.argv(case.tokens)
        before = tree_hash(scratch.root)
        o = run_main(argv, scratch.work)
        after = tree_hash(scratch.root)
        event(f"{case.command}: expected {case.expect}, exit {o.rc!r}")
        check_common(argv, o, {0, 1, 2} if case.command == "verify" else {0, 2})
        if case.expect is True:
            assert o.rc in ((0, 1) if case.command == "verify" else (0,)), \
                f"main({argv!r}) should succeed; got {o.rc!r}, stderr {o.err!r}"
        elif case.expect is False:
            assert o.rc == 2, f"main({argv!r}) should be refused (exit 2); got {o.rc!r}, stderr {o.err!r}"
            if case.hint:
                assert case.hint in o.err, f"main({argv!r}): {case.hint!r} not in {o.err!r}"
        assert not leftovers(after), f"main({argv!r}) left {leftovers(after)}"
        changed = changed_paths(before, after)
        if o.rc == 2 or case.command in ("eval", "verify"):
            assert not changed, f"main({argv!r}) exit {o.rc} changed {sorted(changed)}"
            return
        if case.command == "plot":
            folder = scratch.rel(case.run_dir)
            folder = Path(os.path.realpath(scratch.root / folder)).relative_to(scratch.root).as_posix()
            allowed = {f"{folder}/learning_curve.png", f"{folder}/.pgrad"}
            assert changed <= allowed, f"main({argv!r}) changed {sorted(changed - allowed)}"
            png = scratch.root / folder / "learning_curve.png"
            assert not png.is_symlink() and png.read_bytes()[:4] == b"\x89PNG"
            return
        if case.out is None:  # the default --out: runs/<stamp>-<pid> or reports/<stamp>-<pid>
            parent = "work/" + ("runs" if case.command == "train" else "reports")
            target = _default_folder(scratch, before, after, parent)
            target_rel = target.relative_to(scratch.root).as_posix()
        else:
            target_rel = scratch.rel(case.out)
            target = scratch.root / target_rel
        ancestors = {p.as_posix() for p in Path(target_rel).parents if p.as_posix() != "."}
        outside = {c for c in changed if not under(c, target_rel)
                   and not (c in ancestors and c not in before and after[c][0] == "D")}
        assert not outside, f"main({argv!r}) changed {sorted(outside)} outside {target_rel}"
        (check_run_folder if case.command == "train" else check_report_folder)(target)
    finally:
        scratch.cleanup()


@settings(FAST, max_examples=200)
@given(case=command_lines)
def test_generated_command_lines(templates, case):
    check_case(templates, case)


@pytest.mark.slow
@settings(FAST, max_examples=2000)
@given(case=command_lines)
def test_generated_command_lines_many(templates, case):
    check_case(templates, case)


# ---------------------------------------------------------------------------------------------
# Family b: damaged run folders for eval, plot and report.
# ---------------------------------------------------------------------------------------------

@dataclass
class Damage:
    file: str
    kind: str
    arg: object = None
    must_fail: frozenset = frozenset()  # commands that must exit 2
    must_succeed: frozenset = frozenset()  # commands that must exit 0

    def __repr__(self):
        return (f"Damage({self.file!r}, {self.kind!r}, {self.arg!r}, must_fail={sorted(self.must_fail)}, "
                f"must_succeed={sorted(self.must_succeed)})")


ALL = frozenset({"eval", "plot", "report"})
EVAL_PLOT = frozenset({"eval", "plot"})
BAD_VALUES = [None, "x", [], {}, -1, True, 1.5]
CONFIG_FIELD_RULES = {  # config field -> the values certainly refused by eval and plot
    "env_id": [None, "x", [], {}, -1, True, 1.5],
    "gamma": [None, "x", [], {}, -1, 1.5, "NaN"],
    "lr": [None, "x", [], {}, -1, "NaN"],
    "eval_episodes": [None, "x", [], {}, -1],
    "solve_window": [None, "x", [], {}, -1],
    "solve_threshold": ["x", [], {}, "NaN"],
}


def _needs(file: str) -> frozenset:
    """The commands that cannot work without this file intact."""
    return {"config.json": ALL, "theta.npy": frozenset({"eval"}),
            "metrics.csv": frozenset({"plot", "report"}), "summary.json": frozenset({"report"})
            }.get(file, frozenset())


@st.composite
def damages(draw, files: list[str]) -> Damage:
    file = draw(st.sampled_from(files))
    generic = ["delete", "truncate", "garbage", "dir", "symlink_copy", "symlink_dangling"]
    specific = {"config.json": ["json_list", "json_scalar", "json_drop", "json_type", "json_nan",
                                "json_unknown_algo", "json_extra_key", "config_field"],
                "summary.json": ["json_list", "json_scalar", "json_drop", "json_type", "json_nan"],
                ".pgrad": ["json_list", "json_drop", "json_type"],
                "theta.npy": ["npy_shape", "npy_npz", "npy_nonfinite", "npy_object", "npy_dtype"],
                "value.npy": ["npy_shape", "npy_nonfinite", "npy_object"],
                "metrics.csv": ["csv_drop_return", "csv_bad_value", "csv_bad_seed", "csv_header_only",
                                "csv_extra_column"]}.get(file, [])
    kind = draw(st.sampled_from(["none"] + generic + specific * 2))
    needs = _needs(file)
    if kind == "none":
        return Damage(file, kind, must_succeed=ALL)
    if file == "learning_curve.png":
        # plot redraws it: replaced whatever it was (a symlink itself, never its target)
        ok = frozenset({"plot"}) if kind != "dir" else frozenset()
        arg = draw(st.floats(0, 0.99)) if kind == "truncate" else draw(st.binary(max_size=32)) \
            if kind == "garbage" else None
        return Damage(file, kind, arg, must_succeed=ok)
    if kind == "truncate":  # a truncated CSV may still be a CSV of fewer rows: open
        return Damage(file, kind, draw(st.floats(0, 0.99)),
                      must_fail=needs if file != "metrics.csv" else frozenset())
    if kind == "garbage":
        data = draw(st.binary(max_size=64))
        must = needs if file in ("config.json", "theta.npy", "summary.json") else frozenset()
        return Damage(file, kind, data, must_fail=must)
    if kind in ("delete", "dir", "symlink_dangling"):
        return Damage(file, kind, must_fail=needs)
    if kind == "symlink_copy":
        return Damage(file, kind)
    if kind in ("json_list", "json_scalar"):
        arg = draw(st.sampled_from(["[]", "[1, 2]"] if kind == "json_list" else ["3", "null", '"x"', "true"]))
        return Damage(file, kind, arg, must_fail=needs if file != ".pgrad" else frozenset())
    if kind == "json_drop":
        key = draw(st.sampled_from({"config.json": ["algo", "config", "seeds", "pgrad_version", "git_commit"],
                                    "summary.json": ["final_eval_mean", "wall_seconds", "status", "episodes"],
                                    ".pgrad": ["written_by", "kind", "pgrad_version"]}[file]))
        must = ALL if (file, key) in {("config.json", "algo"), ("config.json", "config"),
                                      ("config.json", "seeds")} else \
            frozenset({"report"}) if (file, key) == ("summary.json", "final_eval_mean") else frozenset()
        return Damage(file, kind, key, must_fail=must)
    if kind == "json_type":
        key = draw(st.sampled_from({"config.json": ["algo", "config", "seeds"],
                                    "summary.json": ["final_eval_mean", "wall_seconds"],
                                    ".pgrad": ["written_by", "kind"]}[file]))
        value = draw(st.sampled_from(BAD_VALUES))
        must = frozenset()
        if file == "config.json" and key == "algo":
            must = EVAL_PLOT  # report groups any algorithm's name (it reads other tools' folders too)
        elif file == "config.json" and key == "config" and value != {}:
            must = ALL
        elif file == "config.json" and key == "seeds":
            must = frozenset({"eval", "report"})
        elif file == "summary.json" and key == "final_eval_mean" and value in (None, "x", [], {}):
            must = frozenset({"report"})
        return Damage(file, kind, (key, value), must_fail=must)
    if kind == "json_nan":
        key = draw(st.sampled_from(["gamma", "lr", "solve_threshold"] if file == "config.json"
                                   else ["final_eval_mean", "wall_seconds"]))
        must = EVAL_PLOT if file == "config.json" else frozenset({"report"}) if key == "final_eval_mean" \
            else frozenset()
        return Damage(file, kind, key, must_fail=must)
    if kind == "json_unknown_algo":
        return Damage(file, kind, draw(st.sampled_from(["dqn", "", "PPO"])), must_fail=EVAL_PLOT)
    if kind == "json_extra_key":
        return Damage(file, kind)
    if kind == "config_field":
        key = draw(st.sampled_from(sorted(CONFIG_FIELD_RULES)))
        value = draw(st.sampled_from(BAD_VALUES + ["NaN"]))
        refused = any(value == v and type(value) is type(v) for v in CONFIG_FIELD_RULES[key])
        return Damage(file, kind, (key, value), must_fail=EVAL_PLOT if refused else frozenset())
    if kind == "npy_shape":
        shape = draw(st.sampled_from(["wider", "flat", "more_seeds", "empty", "scalar", "3d"]))
        return Damage(file, kind, shape, must_fail=needs)
    if kind == "npy_npz":
        return Damage(file, kind, must_fail=needs)
    if kind == "npy_nonfinite":
        value = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        return Damage(file, kind, (value, draw(st.integers(0, 99))), must_fail=needs)
    if kind == "npy_object":
        return Damage(file, kind, must_fail=needs)
    if kind == "npy_dtype":
        dtype = draw(st.sampled_from(["complex128", "<U3", "float32", "int64", ">f8", "fortran"]))
        return Damage(file, kind, dtype, must_fail=needs if dtype in ("complex128", "<U3") else frozenset())
    if kind == "csv_drop_return":
        return Damage(file, kind, must_fail=needs)
    if kind == "csv_bad_value":
        value = draw(st.sampled_from(["abc", "", "nan", "inf"]))
        return Damage(file, kind, (value, draw(st.integers(0, 99))),
                      must_fail=needs if value in ("abc", "") else frozenset())
    if kind == "csv_bad_seed":
        value = draw(st.sampled_from(["x", "7", "-1"]))
        return Damage(file, kind, (value, draw(st.integers(0, 99))),
                      must_fail=frozenset({"report"}) if value == "x" else frozenset())
    return Damage(file, kind)  # csv_header_only, csv_extra_column: open


def _rewrite_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    data = edit(data)
    path.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n")


def apply_damage(run: Path, scratch: Scratch, d: Damage) -> None:
    p = run / d.file
    if d.kind == "none":
        return
    if d.kind == "delete":
        p.unlink()
    elif d.kind == "truncate":
        data = p.read_bytes()
        size = len(data.rstrip()) if d.file.endswith(".json") or d.file == ".pgrad" else len(data)
        p.write_bytes(data[:int(d.arg * size)])
    elif d.kind == "garbage":
        p.write_bytes(d.arg)
    elif d.kind == "dir":
        p.unlink()
        p.mkdir()
        (p / "inside").write_text("a folder where a file should be\n")
    elif d.kind == "symlink_copy":
        copies = scratch.root / "copies"
        copies.mkdir(exist_ok=True)
        target = copies / (d.file.lstrip(".") or "marker")
        shutil.copyfile(p, target)
        p.unlink()
        os.symlink(target, p)
    elif d.kind == "symlink_dangling":
        p.unlink()
        os.symlink(scratch.root / "nowhere", p)
    elif d.kind in ("json_list", "json_scalar"):
        p.write_text(d.arg + "\n")
    elif d.kind == "json_drop":
        _rewrite_json(p, lambda j: {k: v for k, v in j.items() if k != d.arg})
    elif d.kind == "json_type":
        key, value = d.arg
        _rewrite_json(p, lambda j: {**j, key: value})
    elif d.kind == "json_nan":
        if d.file == "config.json":
            _rewrite_json(p, lambda j: {**j, "config": {**j["config"], d.arg: math.nan}})
        else:
            _rewrite_json(p, lambda j: {**j, d.arg: math.nan})
    elif d.kind == "json_unknown_algo":
        _rewrite_json(p, lambda j: {**j, "algo": d.arg})
    elif d.kind == "json_extra_key":
        _rewrite_json(p, lambda j: {**j, "config": {**j["config"], "not_a_field": 1}})
    elif d.kind == "config_field":
        key, value = d.arg
        value = math.nan if value == "NaN" else value
        _rewrite_json(p, lambda j: {**j, "config": {**j["config"], key: value}})
    elif d.kind.startswith("npy_"):
        theta = np.load(p, allow_pickle=False)
        if d.kind == "npy_shape":
            s, k = theta.shape
            new = {"wider": np.zeros((s, k + 1)), "flat": np.zeros(s * k), "more_seeds": np.zeros((s + 1, k)),
                   "empty": np.zeros((s, 0)), "scalar": np.float64(1.0), "3d": np.zeros((s, k, 1))}[d.arg]
            np.save(p, new)
        elif d.kind == "npy_npz":
            with open(p, "wb") as f:
                np.savez(f, theta=theta)
        elif d.kind == "npy_nonfinite":
            value, i = d.arg
            theta = theta.astype(np.float64).copy()
            theta.flat[i % theta.size] = value
            np.save(p, theta)
        elif d.kind == "npy_object":
            arr = np.empty(theta.shape, dtype=object)
            arr[...] = 0.0
            np.save(p, arr, allow_pickle=True)
        elif d.kind == "npy_dtype":
            if d.arg == "fortran":
                np.save(p, np.asfortranarray(theta))
            elif d.arg == "<U3":
                np.save(p, theta.astype("<U3"))
            else:
                np.save(p, theta.astype(d.arg))
    elif d.kind.startswith("csv_"):
        lines = p.read_text().splitlines()
        header = lines[0].split(",")
        rows = [line.split(",") for line in lines[1:]]
        if d.kind == "csv_drop_return":
            i = header.index("return")
            header = header[:i] + header[i + 1:]
            rows = [r[:i] + r[i + 1:] for r in rows]
        elif d.kind in ("csv_bad_value", "csv_bad_seed") and rows:
            value, k = d.arg
            col = header.index("return" if d.kind == "csv_bad_value" else "seed")
            rows[k % len(rows)][col] = value
        elif d.kind == "csv_header_only":
            rows = []
        elif d.kind == "csv_extra_column":
            header = [*header, "extra"]
            rows = [[*r, "1"] for r in rows]
        p.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    else:  # pragma: no cover - a damage kind without an implementation
        raise AssertionError(d.kind)


@dataclass
class DamageCase:
    command: str
    template: str
    damage: Damage
    with_other: bool  # report: also give an intact run folder of the other algorithm
    report_out: str | None  # report: --out (None: the default reports/<stamp>-<pid>)


@st.composite
def damage_cases(draw) -> DamageCase:
    template = draw(st.sampled_from(["reinforce", "a2c"]))
    files = ["config.json", "summary.json", "metrics.csv", "theta.npy", "learning_curve.png", ".pgrad"]
    if template == "a2c":
        files += ["value.npy", "updates.csv"]
    command = draw(st.sampled_from(["eval", "eval", "plot", "plot", "report"]))
    return DamageCase(command, template, draw(damages(files)), draw(st.booleans()),
                      draw(st.sampled_from(["rep", None])))


def check_damage_case(templates, case: DamageCase) -> None:
    scratch = Scratch(templates)
    try:
        run = scratch.work / "damaged-run"
        shutil.copytree(templates[case.template], run, symlinks=True)
        other = scratch.work / "good-run"
        other_template = "a2c" if case.template == "reinforce" else "reinforce"
        shutil.copytree(templates[other_template], other, symlinks=True)
        apply_damage(run, scratch, case.damage)
        if case.command == "eval":
            argv = ["eval", "damaged-run", "--episodes", "2"]
        elif case.command == "plot":
            argv = ["plot", "damaged-run"]
        else:
            argv = ["report", "damaged-run", *(["good-run"] if case.with_other else []), "--resamples", "50",
                    *(["--out", case.report_out] if case.report_out else [])]
        before = tree_hash(scratch.root)
        o = run_main(argv, scratch.work)
        after = tree_hash(scratch.root)
        event(f"{case.command}: {case.damage.file} {case.damage.kind}, exit {o.rc!r}")
        check_common(argv, o, {0, 2})
        if case.command in case.damage.must_fail:
            assert o.rc == 2, \
                f"{case.damage}: main({argv!r}) should be refused; got {o.rc!r}, stderr {o.err!r}"
        if case.command in case.damage.must_succeed:
            assert o.rc == 0, \
                f"{case.damage}: main({argv!r}) should succeed; got {o.rc!r}, stderr {o.err!r}"
        if o.rc == 2 and case.damage.kind != "none":
            assert "damaged-run" in o.err, f"{case.damage}: the error should name the run folder: {o.err!r}"
        assert not leftovers(after), f"main({argv!r}) left {leftovers(after)}"
        changed = changed_paths(before, after)
        if o.rc == 2 or case.command == "eval":
            assert not changed, f"{case.damage}: main({argv!r}) exit {o.rc} changed {sorted(changed)}"
        elif case.command == "plot":
            allowed = {"work/damaged-run/learning_curve.png", "work/damaged-run/.pgrad"}
            assert changed <= allowed, f"{case.damage}: main({argv!r}) changed {sorted(changed - allowed)}"
            png = run / "learning_curve.png"
            assert not png.is_symlink() and png.read_bytes()[:4] == b"\x89PNG", case.damage
        else:
            if case.report_out:
                target = "work/" + case.report_out
                ancestors: set[str] = set()
            else:
                folder = _default_folder(scratch, before, after, "work/reports")
                target = folder.relative_to(scratch.root).as_posix()
                ancestors = {"work/reports"}
            outside = {c for c in changed
                       if not under(c, target) and not (c in ancestors and c not in before)}
            assert not outside, f"{case.damage}: main({argv!r}) changed {sorted(outside)}"
            check_report_folder(scratch.root / target)
    finally:
        scratch.cleanup()


@settings(FAST, max_examples=120)
@given(case=damage_cases())
def test_damaged_run_folders(templates, case):
    check_damage_case(templates, case)


@pytest.mark.slow
@settings(FAST, max_examples=1000)
@given(case=damage_cases())
def test_damaged_run_folders_many(templates, case):
    check_damage_case(templates, case)
