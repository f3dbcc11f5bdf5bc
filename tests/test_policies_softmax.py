"""Softmax policies: hand-computed probabilities, the score function against finite
differences of log_prob, Gumbel-max sampling, the seed axis, and shape checks."""

import numpy as np
import pytest

from pgrad.policies import SoftmaxLinearPolicy, TabularSoftmaxPolicy
from pgrad.policies.softmax import log_softmax


def central_difference(f, theta, h=1e-6):
    """d f(theta) / d theta_i by central differences: [..., d]."""
    cols = []
    for i in range(theta.shape[-1]):
        e = np.zeros_like(theta)
        e[..., i] = h
        cols.append((f(theta + e) - f(theta - e)) / (2 * h))
    return np.stack(cols, axis=-1)


POLICIES = [
    (SoftmaxLinearPolicy(3, 4), lambda rng, shape: rng.standard_normal((*shape, 3))),
    (SoftmaxLinearPolicy(2, 3, bias=True), lambda rng, shape: rng.standard_normal((*shape, 2))),
    (TabularSoftmaxPolicy(5, 3), lambda rng, shape: rng.integers(0, 5, (*shape, 1)).astype(float)),
]


@pytest.mark.parametrize("policy, draw_obs", POLICIES)
def test_score_matches_finite_differences(policy, draw_obs):
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(policy.dim)
    obs = draw_obs(rng, (7,))
    act = policy.sample(theta, obs, rng)
    expected = central_difference(lambda th: policy.log_prob(th, obs, act), theta)  # [7, d]
    np.testing.assert_allclose(policy.grad_log_prob(theta, obs, act), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("policy, draw_obs", POLICIES)
def test_seed_axis_equals_each_seed_alone(policy, draw_obs):
    rng = np.random.default_rng(1)
    S, K, T = 3, 4, 2
    theta = rng.standard_normal((S, policy.dim))
    obs = draw_obs(rng, (T, S, K))
    act = policy.sample(theta, obs, rng)
    for s in range(S):
        for name in ("probs", "log_prob", "grad_log_prob"):
            args = (obs, act) if name != "probs" else (obs,)
            batched = getattr(policy, name)(theta, *args)[:, s]
            alone = getattr(policy, name)(theta[s], *(a[:, s] for a in args))
            np.testing.assert_allclose(batched, alone, rtol=1e-12)


def test_tabular_probabilities_by_hand():
    policy = TabularSoftmaxPolicy(2, 3)
    theta = np.array([0.0, 0.0, 0.0, 1.0, 0.0, -1.0])  # row-major by state
    probs = policy.probs(theta, np.array([[0.0], [1.0]]))
    e = np.e
    np.testing.assert_allclose(probs, [[1 / 3] * 3, [e / (e + 1 + 1 / e), 1 / (e + 1 + 1 / e),
                                                     (1 / e) / (e + 1 + 1 / e)]])
    # the score lives in the state's own row: (e_a - pi) there, 0 elsewhere
    score = policy.grad_log_prob(theta, np.array([[1.0]]), np.array([2]))
    np.testing.assert_allclose(score[0], [0, 0, 0, -probs[1, 0], -probs[1, 1], 1 - probs[1, 2]])


def test_linear_logits_by_hand():
    policy = SoftmaxLinearPolicy(2, 2, bias=True)
    theta = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # W = [[1, 2], [3, 4], [5, 6]]
    obs = np.array([1.0, -1.0])
    np.testing.assert_allclose(policy.logits(theta, obs), [1 - 3 + 5, 2 - 4 + 6])
    np.testing.assert_allclose(policy.probs(theta, obs), [1 / (1 + np.e), np.e / (1 + np.e)])


def test_log_softmax_is_stable():
    z = np.array([1000.0, 0.0, -1000.0])
    np.testing.assert_allclose(log_softmax(z), [0.0, -1000.0, -2000.0])


@pytest.mark.parametrize("policy, draw_obs", POLICIES)
def test_gumbel_sampling_has_the_policy_law(policy, draw_obs):
    rng = np.random.default_rng(2)
    theta = rng.standard_normal(policy.dim)
    obs = np.broadcast_to(draw_obs(rng, (1,)), (200_000, policy.obs_dim))
    act = policy.sample(theta, obs, rng)
    freq = np.bincount(act, minlength=policy.num_actions) / act.size
    p = policy.probs(theta, obs[:1])[0]
    np.testing.assert_allclose(freq, p, atol=4 * np.sqrt(p * (1 - p) / act.size).max())


@pytest.mark.parametrize("policy, draw_obs", POLICIES)
def test_sample_is_act_on_noise_and_zero_noise_is_greedy(policy, draw_obs):
    rng = np.random.default_rng(3)
    theta = rng.standard_normal(policy.dim)
    obs = draw_obs(rng, (5, 6))
    a = policy.sample(theta, obs, np.random.default_rng(9))
    b = policy.act(theta, obs, policy.noise(np.random.default_rng(9), (5, 6)))
    np.testing.assert_array_equal(a, b)
    greedy = policy.act(theta, obs, np.zeros((5, 6, policy.num_actions)))
    np.testing.assert_array_equal(greedy, np.argmax(policy.probs(theta, obs), axis=-1))
    assert a.dtype == policy.action_dtype and policy.action_shape == ()


def test_shape_and_range_errors_are_one_line():
    linear, tabular = SoftmaxLinearPolicy(3, 2), TabularSoftmaxPolicy(4, 2)
    cases = [
        lambda: linear.probs(np.zeros(5), np.zeros(3)),                    # theta of the wrong size
        lambda: linear.probs(np.zeros((2, 6)), np.zeros((5, 3))),          # seed axis without [S, K]
        lambda: linear.log_prob(np.zeros(6), np.zeros((4, 3)), np.zeros(3, int)),  # act shape
        lambda: tabular.probs(np.zeros(8), np.array([[4.0]])),             # state out of range
        lambda: tabular.probs(np.zeros(8), np.array([[0.5]])),             # not an integer state
        lambda: SoftmaxLinearPolicy(3, 1),
    ]
    for case in cases:
        with pytest.raises(ValueError) as info:
            case()
        assert "\n" not in str(info.value)
