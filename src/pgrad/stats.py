"""Aggregate scores over seeds the way rliable does (Agarwal et al., 2021).

"Deep Reinforcement Learning at the Edge of the Statistical Precipice", NeurIPS 2021:
report the interquartile mean (IQM) of the scores over runs, with a stratified bootstrap
confidence interval, rather than a mean or a median of a handful of seeds.

Both are thin wrappers over scipy (``scipy.stats.trim_mean``, ``scipy.stats.bootstrap``);
scipy is imported inside the functions so that importing pgrad stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

IQM_TRIM = 0.25
"""Fraction cut from each end of the sorted scores: the IQM keeps the middle 50%."""


def iqm(scores: ArrayLike, axis: int = -1) -> np.float64 | np.ndarray:
    """Interquartile mean: the mean of the middle 50% of the scores along ``axis``.

        IQM(x) = mean(x_(k+1), ..., x_(n-k)),  k = floor(n / 4),  x_(i) sorted ascending

    exactly ``scipy.stats.trim_mean(x, 0.25, axis)`` (rliable's ``metrics.aggregate_iqm``).
    Shapes: ``[..., n]`` -> ``[...]`` (a float for a 1-D input).
    """
    from scipy.stats import trim_mean

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 0 or scores.shape[axis] == 0:
        raise ValueError(f"iqm needs at least one score along axis {axis}, got shape {scores.shape}")
    return trim_mean(scores, IQM_TRIM, axis=axis)


def _pooled_iqm(*strata: np.ndarray, axis: int) -> np.float64 | np.ndarray:
    """IQM of all strata pooled along ``axis`` (the statistic the bootstrap resamples)."""
    return iqm(np.concatenate(strata, axis=axis), axis=axis)


def iqm_ci(strata: Sequence[ArrayLike], rng: np.random.Generator, *, confidence: float = 0.95,
           n_resamples: int = 10_000) -> tuple[float, float] | tuple[np.ndarray, np.ndarray]:
    """Stratified percentile-bootstrap confidence interval of the pooled IQM.

    ``strata``: one array per task, ``[..., n_i]`` with the n_i runs (seeds) of task i on the
    last axis; leading axes (the same in every stratum) are a batch, e.g. the points of a
    learning curve. Each bootstrap replicate resamples the runs of every task with
    replacement, n_i out of n_i, independently per task, and computes the IQM of the pooled
    replicate (rliable's ``StratifiedBootstrap``); the interval is the
    ((1 - c)/2, (1 + c)/2) percentiles of the replicates (``scipy.stats.bootstrap`` with
    ``method='percentile'``, one sample per stratum, unpaired).

    Returns ``(low, high)``, floats for 1-D strata, arrays ``[...]`` otherwise. A stratum with a
    single run cannot be resampled: the interval is then ``(nan, nan)``.
    """
    from scipy.stats import bootstrap

    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")
    arrays = [np.asarray(s, dtype=np.float64) for s in strata]
    if not arrays or any(s.ndim == 0 or s.shape[-1] == 0 for s in arrays):
        raise ValueError("iqm_ci needs at least one stratum, each with at least one run on the last axis")
    if len({s.shape[:-1] for s in arrays}) != 1:
        shapes = [s.shape for s in arrays]
        raise ValueError(f"strata must share their leading (batch) axes, got shapes {shapes}")
    batch_shape = arrays[0].shape[:-1]
    if any(s.shape[-1] < 2 for s in arrays):
        nan = np.full(batch_shape, np.nan)
        return (float(nan), float(nan)) if not batch_shape else (nan, nan.copy())
    per_batch = max(1, 10_000_000 // max(1, sum(s.size for s in arrays)))  # bound memory
    result = bootstrap(tuple(arrays), _pooled_iqm, n_resamples=n_resamples, vectorized=True,
                       axis=-1, confidence_level=confidence, method="percentile", rng=rng,
                       batch=min(n_resamples, per_batch))
    low, high = result.confidence_interval
    if not batch_shape:
        return float(low), float(high)
    return np.asarray(low), np.asarray(high)
