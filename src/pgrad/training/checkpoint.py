"""Checkpoints: a :class:`~pgrad.training.loop.TrainState` as plain arrays and JSON, no pickle.

A checkpoint is a folder with two files:

- ``state.npz``: every array (``numpy.savez``, read back with ``allow_pickle=False``): the log
  (``log/...``: finished episodes, counters, flags, the per-update table) and the algorithm's
  state (``algo/...``: parameters, optimiser moments and step counts, value parameters, the
  sampler's environment states and in-progress episode returns and lengths);
- ``state.json``: strict JSON with the format, pgrad's version, the algorithm, its config, the
  seeds, the update count, the training seconds so far, and every seed's generator state
  (``numpy.random.PCG64``'s state: integers).

:func:`save` and :func:`load` are inverses: a run loaded from a checkpoint continues exactly as
the run that wrote it would have. Anything else (another format or pgrad version, a missing
or damaged file, arrays of the wrong shape) is a one-line ValueError.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from pgrad import folders
from pgrad.config import to_dict
from pgrad.training.loop import Algorithm, TrainState, new_log

FORMAT = 1
"""The checkpoint format this pgrad writes and reads."""


def save(algorithm: Algorithm, state: TrainState, folder: Path) -> None:
    """Write ``state`` into the (new, empty) folder ``folder``."""
    from pgrad import __version__

    folder = Path(folder)
    folder.mkdir()
    arrays = {f"log/{k}": v for k, v in state.log.to_arrays().items()}
    arrays |= {f"algo/{k}": np.asarray(v) for k, v in algorithm.save(state.algo_state).items()}
    with open(folder / "state.npz", "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    meta = {"format": FORMAT, "pgrad_version": __version__, "algo": state.algo,
            "config": to_dict(state.config), "seeds": list(state.seeds), "update": state.update,
            "wall_seconds": state.log.wall, "rngs": [rng.bit_generator.state for rng in state.rngs]}
    (folder / "state.json").write_text(folders.dumps(meta))


def _bad(folder: Path, why: str) -> ValueError:
    return ValueError(f"checkpoint {folder}: {why}")


def read_meta(folder: Path) -> dict:
    """state.json, checked: format and version, the keys a checkpoint needs."""
    from pgrad import __version__

    meta = folders.read_json(Path(folder) / "state.json")
    if not isinstance(meta, dict):
        raise _bad(folder, "state.json is not a JSON object")
    if meta.get("format") != FORMAT or meta.get("pgrad_version") != __version__:
        raise _bad(folder, f"written by pgrad {meta.get('pgrad_version')!r} in format "
                   f"{meta.get('format')!r}; this pgrad {__version__} reads format {FORMAT} of its own "
                   "version only")
    missing = [k for k in ("algo", "config", "seeds", "update", "wall_seconds", "rngs") if k not in meta]
    if missing:
        raise _bad(folder, f"state.json lacks {', '.join(missing)}")
    return meta


def _generators(folder: Path, states: Any, count: int) -> list[np.random.Generator]:
    if not isinstance(states, list) or len(states) != count:
        raise _bad(folder, f"needs {count} generator states")
    rngs = []
    for state in states:
        rng = np.random.default_rng()
        try:
            if state["bit_generator"] != "PCG64":
                raise ValueError(state["bit_generator"])
            rng.bit_generator.state = state
        except (TypeError, KeyError, ValueError, OverflowError) as e:
            raise _bad(folder, f"a generator state is damaged ({e})") from None
        rngs.append(rng)
    return rngs


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(Path(folder) / "state.npz", allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise _bad(folder, f"state.npz is unreadable ({reason})") from None


def load(folder: Path) -> tuple[Algorithm, TrainState]:
    """The algorithm and the state of a checkpoint; a one-line ValueError if it is damaged."""
    from pgrad import algorithms
    from pgrad.config import from_dict
    from pgrad.runs import read_seeds

    folder = Path(folder)
    meta = read_meta(folder)
    algo = meta["algo"]
    if algo not in algorithms.ALGORITHMS:
        raise _bad(folder, f"unknown algo {algo!r}")
    try:
        config = from_dict(algorithms.config_class(algo), meta["config"])
    except (TypeError, ValueError) as e:
        raise _bad(folder, str(e).splitlines()[0]) from None
    seeds = read_seeds(folder / "state.json", meta["seeds"])
    algorithm = algorithms.module(algo).ALGORITHM
    why = algorithm.restorable(config)
    if why is not None:
        raise _bad(folder, why)
    rngs = _generators(folder, meta["rngs"], len(seeds))
    arrays = _arrays(folder)
    update, wall = meta["update"], meta["wall_seconds"]
    if not isinstance(update, int) or update < 0 or not isinstance(wall, int | float):
        raise _bad(folder, "update and wall_seconds must be numbers")
    log = new_log(config, seeds, float(wall))
    try:
        log.load_arrays({k[4:]: v for k, v in arrays.items() if k.startswith("log/")})
        algo_arrays = {k[5:]: v for k, v in arrays.items() if k.startswith("algo/")}
        algo_state = algorithm.load(config, rngs, algo_arrays)
    except (KeyError, ValueError, IndexError, TypeError) as e:
        raise _bad(folder, f"state.npz does not fit the config ({type(e).__name__}: {e})") from None
    return algorithm, TrainState(algo, config, tuple(seeds), rngs, log, algo_state, update)


def restorable(config: Any) -> str | None:
    """Runs on pgrad's own dynamics resume bit for bit; Gymnasium's envs keep state pgrad cannot save."""
    from pgrad.envs import DYNAMICS, _plain_id

    if _plain_id(config.env_id) in DYNAMICS:
        return None
    return (f"{config.env_id} is not one of pgrad's own environments; its Gymnasium environments' "
            "internal state is not saved, so this run cannot resume (train it again)")
