"""Nothing changes but time: the fixed training runs of ``benchmarks/fingerprint.py`` give the
fingerprints recorded in ``benchmarks/fingerprints.json`` (a hash of every seed's final parameters,
episode returns, lengths and update numbers), on the compiled hot path and on the numpy reference.

The quick runs are checked in the default test run; the rest carry the ``slow`` marker."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load_fingerprint_module():
    path = BENCHMARKS / "fingerprint.py"
    spec = importlib.util.spec_from_file_location("pgrad_benchmark_fingerprint", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fp = _load_fingerprint_module()
RECORDED = json.loads((BENCHMARKS / "fingerprints.json").read_text())

QUICK = {  # each under about half a second on numpy
    'reinforce {} [0, 1, 2]',
    'reinforce {"env_id": "MountainCar-v0", "max_episodes": 200} [0]',
    'reinforce {"env_id": "Pendulum-v1", "max_episodes": 200} [0, 1]',
    'reinforce {"env_id": "MountainCarContinuous-v0", "max_episodes": 100} [0]',
    'reinforce {"float32": true, "max_episodes": 1000} [0, 1]',
    'ppo {"env_id": "Pendulum-v1", "max_steps": 8192} [0]',
    'a2c {"env_id": "MountainCarContinuous-v0", "max_steps": 8192} [0]',
    'ppo {"float32": true, "max_steps": 8192} [0]',
}
RUNS = {fp.key(*run): run for run in fp.RUNS}


def _params(names: set[str], slow: bool) -> list:
    marks = [pytest.mark.slow] if slow else []
    return [pytest.param(name, id=name, marks=marks) for name in RUNS if (name in names) != slow]


def test_every_run_is_recorded_and_the_quick_ones_exist():
    assert set(RUNS) == set(RECORDED)
    assert QUICK <= set(RUNS)


@pytest.fixture(params=["compiled", "numpy"])
def path(request, monkeypatch):
    """The compiled hot path from the first rollout (PGRAD_JIT=1), or the numpy reference (PGRAD_NO_JIT=1)."""
    from pgrad import jit

    if request.param == "compiled":
        pytest.importorskip("numba")
        monkeypatch.setenv(jit.MODE_VAR, "1")
        monkeypatch.delenv(jit.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(jit.ENV_VAR, "1")
    jit.reset()
    yield request.param
    jit.reset()


@pytest.mark.parametrize("name", _params(QUICK, slow=False) + _params(QUICK, slow=True))
def test_fingerprint_is_as_recorded(name, path):
    assert fp.fingerprint(*RUNS[name]) == RECORDED[name]
