"""IQM and its stratified bootstrap interval: hand-computed cases and seeded properties."""

import numpy as np
import pytest
from scipy.stats import trim_mean

from pgrad.stats import iqm, iqm_ci


@pytest.mark.parametrize("scores, expected", [
    ([1, 2, 3, 4], 2.5),                      # n=4: cut 1 each end -> mean(2, 3)
    ([100, 0, 6, 1, 5, 2, 4, 3], 3.5),        # n=8: cut 2 -> mean(2, 3, 4, 5); order does not matter
    ([10, 1, 3, 2, 100], 5.0),                # n=5: cut floor(1.25)=1 -> mean(2, 3, 10)
    ([7.0], 7.0),                             # n=1: nothing to cut
    ([0, 1], 0.5),                            # n=2: floor(0.5)=0 -> plain mean
    ([-50, 1, 2, 3, 4, 5, 6, 7, 8, 1e6], 4.5),  # n=10: cut 2 -> mean(2..7), outliers ignored
])
def test_iqm_hand_computed(scores, expected):
    assert iqm(scores) == pytest.approx(expected)
    assert iqm(scores) == pytest.approx(trim_mean(scores, 0.25))


def test_iqm_batched_over_leading_axes():
    scores = np.array([[1, 2, 3, 4], [0, 0, 0, 8]])
    np.testing.assert_allclose(iqm(scores), [2.5, 0.0])
    np.testing.assert_allclose(iqm(scores.T, axis=0), [2.5, 0.0])


def test_iqm_rejects_no_scores():
    with pytest.raises(ValueError, match="at least one score"):
        iqm([])


def test_ci_of_constant_scores_is_the_point():
    assert iqm_ci([[3.0, 3.0, 3.0]], np.random.default_rng(0)) == (3.0, 3.0)


def test_two_point_distribution_percentiles():
    # Resampling {0, 1} twice: IQM (= mean for n=2) is 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4.
    rng = np.random.default_rng(0)
    assert iqm_ci([[0.0, 1.0]], rng, n_resamples=20_000) == (0.0, 1.0)                  # 2.5%, 97.5%
    assert iqm_ci([[0.0, 1.0]], rng, confidence=0.4, n_resamples=20_000) == (0.5, 0.5)  # 30%, 70%


def test_stratification_resamples_within_each_task():
    # Task A always scores 0, task B always 1: every stratified replicate holds two of each,
    # so its IQM is exactly 0.5. Pooling the four runs unstratified lets replicates draw
    # all zeros (or all ones) with probability 1/16 each, widening the interval to [0, 1].
    rng = np.random.default_rng(0)
    assert iqm_ci([[0.0, 0.0], [1.0, 1.0]], rng) == (0.5, 0.5)
    assert iqm_ci([[0.0, 0.0, 1.0, 1.0]], rng) == (0.0, 1.0)


def test_unequal_strata_and_batch_axes():
    # 4 zeros and 2 ones in every replicate: IQM of [0, 0, 0, 0, 1, 1] cuts 1 each end -> 1/4.
    low, high = iqm_ci([np.zeros((3, 4)), np.ones((3, 2))], np.random.default_rng(0))
    np.testing.assert_array_equal(low, [0.25] * 3)
    np.testing.assert_array_equal(high, [0.25] * 3)


def test_single_run_has_no_interval():
    low, high = iqm_ci([[5.0]], np.random.default_rng(0))
    assert np.isnan(low) and np.isnan(high)


def test_seeded_and_reproducible():
    scores = np.random.default_rng(1).normal(size=12)
    a = iqm_ci([scores], np.random.default_rng(42), n_resamples=500)
    b = iqm_ci([scores], np.random.default_rng(42), n_resamples=500)
    c = iqm_ci([scores], np.random.default_rng(43), n_resamples=500)
    assert a == b and a != c


@pytest.mark.parametrize("kwargs, message", [
    ({"rng": 0}, "numpy.random.Generator"),
    ({"confidence": 1.0}, "confidence must be in"),
    ({"n_resamples": 0}, "n_resamples must be a positive"),
    ({"strata": []}, "at least one stratum"),
    ({"strata": [np.zeros((2, 3)), np.zeros((3, 3))]}, "share their leading"),
])
def test_bad_arguments(kwargs, message):
    args = {"strata": [[1.0, 2.0]], "rng": np.random.default_rng(0)} | kwargs
    with pytest.raises(ValueError, match=message):
        iqm_ci(args.pop("strata"), args.pop("rng"), **args)


def _draw(rng, n):
    """Scores of n seeds from one of a few distributions, some heavy-tailed or bimodal."""
    kind = rng.integers(4)
    if kind == 0:
        return rng.normal(100, 20, n)
    if kind == 1:
        return rng.standard_t(2, n)
    if kind == 2:
        return np.where(rng.random(n) < 0.7, 500.0, rng.uniform(0, 200, n))
    return rng.exponential(50, n)


def test_property_interval_contains_the_iqm():
    rng = np.random.default_rng(2021)
    for _ in range(60):
        strata = [_draw(rng, int(rng.integers(3, 40))) for _ in range(int(rng.integers(1, 4)))]
        low, high = iqm_ci(strata, rng, n_resamples=1000)
        point = iqm(np.concatenate(strata))
        assert low <= point <= high


def test_property_interval_narrows_with_more_seeds():
    rng = np.random.default_rng(7)
    widths = {n: [] for n in (10, 40, 160)}
    for _ in range(20):
        population = rng.normal(0, 1, 100_000)
        for n in widths:
            low, high = iqm_ci([rng.choice(population, n)], rng, n_resamples=1000)
            widths[n].append(high - low)
    w10, w40, w160 = (np.array(widths[n]) for n in (10, 40, 160))
    assert np.all(w160 < w10)
    assert np.median(w160) < np.median(w40) < np.median(w10)
    # The width of an IQM interval shrinks like 1/sqrt(n): about half per fourfold n.
    assert 0.35 < np.median(w40) / np.median(w10) < 0.7
    assert 0.35 < np.median(w160) / np.median(w40) < 0.7
