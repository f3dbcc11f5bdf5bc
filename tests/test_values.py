"""Linear value function: features, the closed-form least-squares fit, the seed axis."""

import numpy as np
import pytest

from pgrad.values import LinearValue

RNG = np.random.default_rng(0)


def test_features_by_hand():
    s = np.array([2.0, 3.0])
    np.testing.assert_array_equal(LinearValue(2, "linear").psi(s), [1, 2, 3])
    np.testing.assert_array_equal(LinearValue(2, "quadratic").psi(s), [1, 2, 3, 4, 6, 9])
    assert LinearValue(4).dim == 15 and LinearValue(4, "linear").dim == 5


def test_least_squares_recovers_an_exact_quadratic_value_and_the_ridge_pulls_to_the_previous_fit():
    value = LinearValue(3)
    w_true = RNG.normal(size=(2, value.dim))
    obs = RNG.normal(size=(2, 500, 3))
    target = np.stack([value.value(w_true[s], obs[s]) for s in range(2)])
    np.testing.assert_allclose(value.fit(obs, target, ridge=1e-10), w_true, atol=1e-6)
    w_prev = RNG.normal(size=(2, value.dim))
    np.testing.assert_allclose(value.fit(obs, target, ridge=1e8, w_prev=w_prev), w_prev, atol=1e-4)


def test_seed_axis_is_bit_identical_to_each_seed_alone():
    value = LinearValue(4)
    obs = RNG.normal(size=(3, 64, 4))
    target = RNG.normal(size=(3, 64))
    w = value.fit(obs, target)
    for s in range(3):
        np.testing.assert_array_equal(w[s], value.fit(obs[s:s + 1], target[s:s + 1])[0])
    grid = RNG.normal(size=(5, 3, 7, 4))  # [T, S, N, n]
    batched = value.value(w, grid)
    for s in range(3):
        np.testing.assert_array_equal(batched[:, s], value.value(w[s], grid[:, s]))


def test_bad_input():
    with pytest.raises(ValueError, match="unknown value features 'cubic'; accepted: linear, quadratic"):
        LinearValue(4, "cubic")
    with pytest.raises(ValueError, match=r"need obs \[S, M, n\] and target \[S, M\]"):
        LinearValue(4).fit(np.zeros((10, 4)), np.zeros(10))
    with pytest.raises(ValueError, match="ridge must be positive"):
        LinearValue(4).fit(np.zeros((1, 10, 4)), np.zeros((1, 10)), ridge=0.0)
