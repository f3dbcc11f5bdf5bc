"""The compiled REINFORCE estimate (pgrad.fused_estimate) against the numpy estimate, bit for bit.

Each test compares the bytes of the gradient: every shape where numpy's summation order could
differ (rows shorter than 8, at 8 and 128, longer rows that numpy splits pairwise), signed zeros
among the weights, both discounted and not, every covered baseline, with and without bias."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from pgrad import fused_estimate
from pgrad.algorithms.reinforce import ReinforceConfig, train
from pgrad.policies import LogisticPolicy, SoftmaxLinearPolicy
from pgrad.rollout import compiled
from pgrad.rollout.episodes import Batch

numba = pytest.importorskip("numba")


def _batch(rng, T, S, K, zeros=0.2):
    lengths = rng.integers(1, T + 1, (S, K))
    alive = np.arange(T)[:, None, None] < lengths
    scale = 10.0 ** rng.integers(-3, 4)
    rew = np.where(rng.random((T, S, K)) < zeros, 0.0, rng.normal(size=(T, S, K)) * scale) * alive
    obs = rng.normal(size=(T, S, K, 4)) * np.array([1.0, 2.0, 0.2, 3.0])
    obs[rng.random(obs.shape) < 0.05] = -0.0
    act = rng.integers(0, 2, (T, S, K)).astype(np.int8)
    return Batch(obs=obs, act=act, rew=rew, terminated=np.zeros_like(alive), truncated=np.zeros_like(alive),
                 alive=alive, lengths=lengths)


def _same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("K", [2, 3, 7, 8, 9, 16, 100, 127, 128, 129, 136, 255, 257, 1000, 3001])
@pytest.mark.parametrize("baseline", sorted(fused_estimate.BASELINES))
def test_the_fused_estimate_is_the_numpy_estimate_bit_for_bit(eager, K, baseline):
    assert fused_estimate.ready()
    rng = np.random.default_rng([K, len(baseline)])
    for T, S in ((1, 1), (2, 3), (37, 2)):
        for bias in (False, True):
            for gamma in (1.0, 0.97, 0.0):
                policy = LogisticPolicy(bias=bias)
                batch = _batch(rng, T, S, K)
                theta = rng.normal(size=(S, policy.dim)) * 3.0
                want = fused_estimate.numpy_gradient(policy, theta, batch, gamma, baseline)
                got = fused_estimate.gradient(policy, theta, batch, gamma, baseline)
                assert _same(got, want), (T, S, bias, gamma)


def test_the_fused_estimate_takes_the_rollouts_strided_views(eager):
    """Training hands the kernels views: obs [T, S, K, d] moved from the rollout's [T, d, S, K]
    buffer, trimmed to a group of seeds (split_seeds)."""
    rng = np.random.default_rng(3)
    full = _batch(rng, 30, 5, 40)
    obs = np.moveaxis(np.ascontiguousarray(np.moveaxis(full.obs, -1, 1)), 1, -1)  # [T, d, S, K] underneath
    part = slice(1, 4)
    view = Batch(obs=obs[:20, part], act=full.act[:20, part], rew=full.rew[:20, part],
                 terminated=full.terminated[:20, part], truncated=full.truncated[:20, part],
                 alive=full.alive[:20, part], lengths=full.lengths[part])
    theta = rng.normal(size=(3, 4))
    policy = LogisticPolicy()
    assert _same(fused_estimate.gradient(policy, theta, view, 1.0, "time_mean_loo"),
                 fused_estimate.numpy_gradient(policy, theta, view, 1.0, "time_mean_loo"))


def test_numpys_pairwise_sum_is_repeated_exactly(eager):
    """The kernel's sum of a row is numpy's ``sum`` of it, for lengths across every branch of numpy's
    pairwise summation (numpy's grouping of terms differs from a sum in order at 8 terms and up)."""
    fused_estimate.ready()
    rng = np.random.default_rng(0)
    pairwise = fused_estimate._pairwise
    mismatched_in_order = 0
    for n in [*range(0, 300), 511, 512, 1000, 1024, 4097, 10_000]:
        a = rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, size=n)
        assert 0.0 + pairwise(a, 0, n) == a.sum(), n
        total = 0.0
        for x in a:
            total += x
        mismatched_in_order += total != a.sum()
    assert mismatched_in_order > 100  # the test could fail: summing in order is not numpy's sum


def test_training_with_the_fused_estimate_is_the_same_bits(eager, monkeypatch):
    config = ReinforceConfig(max_episodes=800)
    fused = train(config, [0, 1, 2])
    assert fused_estimate.ready()
    monkeypatch.setattr(fused_estimate, "ready", lambda: False)
    reference = train(config, [0, 1, 2])
    assert _same(fused.theta, reference.theta)
    for a, b in zip(fused.episodes, reference.episodes, strict=True):
        assert _same(a["return"], b["return"]) and _same(a["length"], b["length"])


@pytest.mark.parametrize("case", ["standardize", "baseline", "weighting", "one episode", "policy", "float32"])
def test_what_the_kernels_do_not_cover_runs_in_numpy(case):
    rng = np.random.default_rng(1)
    batch = _batch(rng, 5, 2, 1 if case == "one episode" else 6)
    if case == "float32":
        batch = Batch(**{**batch.__dict__, "obs": batch.obs.astype(np.float32)})
    policy = SoftmaxLinearPolicy(4, 2) if case == "policy" else LogisticPolicy()
    args = {"weighting": "total_return" if case == "weighting" else "reward_to_go",
            "baseline": "batch_mean" if case == "baseline" else "time_mean_loo",
            "standardize": case == "standardize"}
    assert not fused_estimate.covers(policy, batch=batch, **args)
    assert fused_estimate.covers(LogisticPolicy(), batch=_batch(rng, 5, 2, 6), weighting="reward_to_go",
                                 baseline="time_mean_loo", standardize=False)


def test_a_fused_estimate_that_disagrees_is_turned_off_with_one_line(eager, monkeypatch, caplog):
    monkeypatch.setattr(compiled, "_checked", set())
    monkeypatch.setattr(compiled, "_broken", {})
    real = fused_estimate.gradient
    monkeypatch.setattr(fused_estimate, "gradient", lambda *args: real(*args) * (1.0 + 2.0**-52))
    with caplog.at_level(logging.WARNING, logger="pgrad"):
        assert not fused_estimate.ready()
        result = train(ReinforceConfig(max_episodes=300), [0])  # the numpy estimate, no crash
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "logistic_estimate off" in lines[0] and "disagrees" in lines[0]
    assert np.isfinite(result.theta).all()


def test_training_does_not_depend_on_the_thread_count(eager, monkeypatch):
    """The estimate runs seed groups on threads (split_seeds cut small here, so that there are many):
    the fused and the numpy estimate give the same bits on one thread and on three."""
    import pgrad.algorithms.reinforce as reinforce
    from pgrad.rollout import episodes, threads

    real_split = episodes.split_seeds
    monkeypatch.setattr(reinforce, "split_seeds", lambda batch: real_split(batch, max_elements=64))
    config = ReinforceConfig(max_episodes=300, episodes_per_update=20)
    runs = {}
    for fused in (True, False):
        monkeypatch.setattr(fused_estimate, "ready", (lambda: True) if fused else (lambda: False))
        for n in ("1", "3"):
            monkeypatch.setenv(threads.THREADS_VAR, n)
            runs[fused, n] = train(config, [0, 1, 2, 3]).theta.tobytes()
    assert len(set(runs.values())) == 1
