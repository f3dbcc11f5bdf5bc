"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from pgrad import jit


@pytest.fixture
def eager(monkeypatch):
    """The compiled path on from the first rollout, as PGRAD_JIT=1 sets it."""
    monkeypatch.setenv(jit.MODE_VAR, "1")
    monkeypatch.delenv(jit.ENV_VAR, raising=False)
    jit.reset()
    assert jit.available()
    yield
    jit.reset()
