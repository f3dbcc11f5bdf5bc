"""REINFORCE's estimate for the logistic policy compiled with numba: the same bits as the numpy
estimate, :func:`pgrad.estimators.weights` then :func:`pgrad.estimators.factored_policy_gradient`
on :meth:`pgrad.policies.LogisticPolicy.score_factors`, in two passes over a batch instead of
about twenty numpy calls, each writing a [T, S, K] temporary.

It covers what the default config runs: the ``reward_to_go`` weighting (any gamma), the baselines
``none``, ``time_mean`` and ``time_mean_loo``, no standardisation, K >= 2 episodes per seed; every
other estimate runs in numpy. Each numpy operation is repeated in numpy's own order:

- z = s_0 w_0 + s_1 w_1 + ... (+ bias), summed in order (``LogisticPolicy.logits``); p = 0.5 +
  0.5 tanh(0.5 z) (``sigmoid``), with numpy's own ``np.tanh`` (its SIMD code, which compiled code
  cannot reproduce), called once on the whole [T, S, K] array between the two passes;
- the reward-to-go is ``np.cumsum`` of the reversed (discounted) rewards: from the last step
  back, the first term copied, each next one added in turn; discounted rewards are
  gamma^t r_t with numpy's gamma^t (:func:`pgrad.returns.discounts`);
- a sum over time (``sum(axis=0)``) adds the steps in order to 0.0;
- a sum over a seed's K episodes (``sum(axis=-1)`` on a contiguous row) is numpy's pairwise
  summation, 0.0 + :func:`_pairwise`. With K = 1 and one seed numpy would sum over time
  pairwise too (the only axis left), so K >= 2 is required.

The kernels are checked once per process against the numpy estimate on random batches (every
covered baseline, gamma 1 and not, with and without bias, signed zeros among the weights); one
that disagrees or does not build is turned off with a one-line notice (:mod:`pgrad.jit`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pgrad import estimators, jit
from pgrad.policies import LogisticPolicy
from pgrad.returns import discounts
from pgrad.rollout import compiled
from pgrad.rollout.episodes import Batch

BASELINES = {"none": 0, "time_mean": 1, "time_mean_loo": 2}
"""The baselines the kernel computes, by its code for them."""

PAIRWISE_BLOCK = 128
"""numpy's PW_BLOCKSIZE: rows up to this length are summed by eight interleaved partial sums."""


def _pairwise_block(a: np.ndarray, lo: int, n: int) -> float:
    """numpy's pairwise_sum of a[lo : lo + n] for n <= 128: fewer than 8 terms in order; else eight
    partial sums r_j = a_j + a_{j+8} + ..., combined ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)),
    then the remainder in order."""
    if n < 8:
        total = 0.0
        for i in range(n):
            total += a[lo + i]
        return total
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += a[lo + i]
        i += 1
    return total


def _pairwise(a: np.ndarray, lo: int, n: int) -> float:
    """numpy's pairwise_sum of a[lo : lo + n]: rows longer than 128 split at n / 2 rounded down to a
    multiple of 8, each half summed so, the two added. (numpy recurses; this walks the same tree
    with a stack, since numba's cached machine code cannot recurse.)"""
    if n <= PAIRWISE_BLOCK:
        return _pairwise_block(a, lo, n)
    starts = np.empty(128, np.int64)  # the pending nodes: (start, length, children done)
    lengths = np.empty(128, np.int64)
    done = np.empty(128, np.bool_)
    sums = np.empty(128)  # the sums of finished nodes, left before right
    nodes, values = 1, 0
    starts[0], lengths[0], done[0] = lo, n, False
    while nodes > 0:
        nodes -= 1
        start, length = starts[nodes], lengths[nodes]
        if length <= PAIRWISE_BLOCK:
            sums[values] = _pairwise_block(a, start, length)
            values += 1
        elif done[nodes]:  # both halves summed: left + right
            values -= 1
            sums[values - 1] = sums[values - 1] + sums[values]
        else:
            half = length // 2
            half -= half % 8
            done[nodes] = True
            starts[nodes + 1], lengths[nodes + 1], done[nodes + 1] = start + half, length - half, False
            starts[nodes + 2], lengths[nodes + 2], done[nodes + 2] = start, half, False
            nodes += 3
    return sums[0]


def _half_logits(theta: np.ndarray, bias: bool, obs: np.ndarray, out: np.ndarray) -> None:
    """out = 0.5 z, z = s_0 w_0 + s_1 w_1 + ... (+ w_bias) in that order: theta [S, d], obs [T, S, K, o],
    out [T, S, K]."""
    T, S, K, F = obs.shape
    for t in range(T):
        for s in range(S):
            for k in range(K):
                z = obs[t, s, k, 0] * theta[s, 0]
                for j in range(1, F):
                    z = z + obs[t, s, k, j] * theta[s, j]
                if bias:
                    z = z + theta[s, F]
                out[t, s, k] = 0.5 * z


def _gradient(rew: np.ndarray, alive: np.ndarray, act: np.ndarray, tanh_half: np.ndarray, obs: np.ndarray,
              gamma_t: np.ndarray, discounted: bool, baseline: int, bias: bool, grad: np.ndarray) -> None:
    """grad [S, d] = (1/K) sum_k sum_t w^k_t (y^k_t - p^k_t) phi(s^k_t), w the reward-to-go minus the
    baseline (code ``baseline``), p = 0.5 + 0.5 tanh_half; rew, alive, act, tanh_half [T, S, K],
    obs [T, S, K, o], gamma_t [T] (used if ``discounted``)."""
    T, S, K, F = obs.shape
    w = np.empty((T, K))
    wa = np.empty(K)
    columns = np.empty((F + 1, K))
    for s in range(S):
        for k in range(K):  # np.cumsum(discounted[::-1], axis=0)[::-1]: the last step copied,
            w[T - 1, k] = gamma_t[T - 1] * rew[T - 1, s, k] if discounted else rew[T - 1, s, k]
        for t in range(T - 2, -1, -1):  # then each earlier one added
            for k in range(K):
                w[t, k] = w[t + 1, k] + (gamma_t[t] * rew[t, s, k] if discounted else rew[t, s, k])
        if baseline != 0:  # time_mean(_loo)_baseline: over the seed's alive episodes at t
            for t in range(T):
                count = 0
                for k in range(K):
                    wa[k] = w[t, k] if alive[t, s, k] else 0.0
                    count += alive[t, s, k]
                total = 0.0 + _pairwise(wa, 0, K)
                for k in range(K):
                    if baseline == 2:
                        rest = count - (1.0 if alive[t, s, k] else 0.0)
                        b = (total - wa[k]) / max(rest, 1.0)
                    else:
                        b = total / count if count > 0 else 0.0
                    w[t, k] = w[t, k] - b
        columns[:, :] = 0.0  # factored_policy_gradient: time first, in order, from 0.0
        for t in range(T):
            for k in range(K):
                coef = (1.0 if act[t, s, k] == 0 else 0.0) - (0.5 + 0.5 * tanh_half[t, s, k])
                wc = (w[t, k] if alive[t, s, k] else 0.0) * coef
                for j in range(F):
                    columns[j, k] = columns[j, k] + wc * obs[t, s, k, j]
                if bias:
                    columns[F, k] = columns[F, k] + wc
        for j in range(F + int(bias)):  # then the episodes, pairwise
            grad[s, j] = (0.0 + _pairwise(columns[j], 0, K)) / K


def _build() -> Any:
    global _pairwise, _pairwise_block
    if not hasattr(_pairwise, "py_func"):  # compiled in place, as _gradient calls them
        _pairwise_block = jit.njit(_pairwise_block, inline=True)
        _pairwise = jit.njit(_pairwise)
    return jit.njit(_half_logits), jit.njit(_gradient)


NAME = "logistic_estimate"
compiled.register(NAME, _build)


def covers(policy: Any, weighting: str, baseline: str, standardize: bool, batch: Batch) -> bool:
    """Whether the kernels compute this estimate (else it runs in numpy)."""
    return (type(policy) is LogisticPolicy and weighting == "reward_to_go" and baseline in BASELINES
            and not standardize and batch.rew.shape[2] >= 2 and batch.obs.dtype == np.float64)


def gradient(policy: LogisticPolicy, theta: np.ndarray, batch: Batch, gamma: float,
             baseline: str) -> np.ndarray:
    """g [S, d] as ``factored_policy_gradient(*policy.score_factors(theta, obs, act), weights(rew,
    alive, gamma, "reward_to_go", baseline), alive)``, from the kernels (call where :func:`covers`
    and :func:`ready`)."""
    half_logits, kernel = compiled.kernel(NAME, 0)
    T, S, K = batch.rew.shape
    tanh_half = np.empty((T, S, K))
    half_logits(theta, policy.bias, batch.obs, tanh_half)
    np.tanh(tanh_half, out=tanh_half)
    grad = np.empty((S, policy.dim))
    kernel(batch.rew, batch.alive, batch.act, tanh_half, batch.obs, discounts(T, gamma, 1), gamma != 1.0,
           BASELINES[baseline], policy.bias, grad)
    return grad


def ready() -> bool:
    """Whether the kernels are on: loaded with the compiled path and past their start-up check."""
    return compiled.kernel(NAME, 0) is not None and compiled.checked(NAME, _self_check)


def _self_check() -> str | None:
    """The kernels against the numpy estimate on random batches; None, or what disagrees."""
    rng = np.random.default_rng(20261203)
    for bias in (False, True):
        policy = LogisticPolicy(bias=bias)
        for baseline in BASELINES:
            for gamma in (1.0, 0.9):
                T, S, K = int(rng.integers(1, 40)), int(rng.integers(1, 4)), int(rng.integers(2, 140))
                lengths = rng.integers(1, T + 1, (S, K))
                alive = np.arange(T)[:, None, None] < lengths
                rew = np.where(rng.random((T, S, K)) < 0.2, 0.0, rng.normal(size=(T, S, K))) * alive
                act = rng.integers(0, 2, (T, S, K)).astype(np.int8)
                batch = Batch(obs=rng.normal(size=(T, S, K, 4)), act=act, rew=rew,
                              terminated=np.zeros_like(alive), truncated=np.zeros_like(alive),
                              alive=alive, lengths=lengths)
                theta = rng.normal(size=(S, policy.dim))
                want = numpy_gradient(policy, theta, batch, gamma, baseline)
                got = gradient(policy, theta, batch, gamma, baseline)
                if got.shape != want.shape or got.tobytes() != want.tobytes():
                    return f"disagrees with numpy (baseline {baseline}, gamma {gamma}, bias {bias})"
    return None


def numpy_gradient(policy: LogisticPolicy, theta: np.ndarray, batch: Batch, gamma: float,
                   baseline: str) -> np.ndarray:
    """The numpy estimate that :func:`gradient` equals bit for bit."""
    w = estimators.weights(batch.rew, batch.alive, gamma, "reward_to_go", baseline)
    phi, coef = policy.score_factors(theta, batch.obs, batch.act)
    return estimators.factored_policy_gradient(phi, coef, w, batch.alive)
