"""pgrad.lqr and pgrad.continuous: the LQR's exact J, grad J and Q_t checked by hand, by central
differences and by Monte Carlo through the rollout; the DPG, reparameterisation and soft (SAC)
reparameterisation estimators with the exact critic against the exact gradient; the soft objective
J_alpha; the deterministic linear policy; bad input."""

import numpy as np
import pytest

from pgrad import estimators
from pgrad.continuous import (
    deterministic_policy_gradient,
    gaussian_action_jacobian,
    reparameterised_gradient,
    soft_reparameterised_gradient,
)
from pgrad.exact import (
    LQR,
    lqr_action_value,
    lqr_action_value_grad,
    lqr_dynamics,
    lqr_from_t_mean,
    lqr_gradient,
    lqr_objective,
    lqr_soft_gradient,
    lqr_soft_objective,
    lqr_values,
    random_lqr,
)
from pgrad.lqr import policy_matrices, state_moments
from pgrad.policies import DeterministicLinearPolicy, GaussianLinearPolicy, LogisticPolicy
from pgrad.rollout import rollout
from pgrad.verify import DPG, REPARAMETERISED, SOFT_REPARAMETERISED, Row, bias_of, lqr_cases, verify

Z = 4.0


def scalar_lqr(horizon: int = 2) -> LQR:
    """x' = x + u + w, r = -(x^2 + u^2), x_0 = 1 exactly, Var(w) = 1/2."""
    one = np.ones((1, 1))
    return LQR(one, one, one, one, np.array([1.0]), np.zeros((1, 1)), 0.5 * one, horizon)


def test_hand_computed_scalar_case():
    """u = k x + sigma eps with k = -1/2, sigma = 1, gamma = 1/2, H = 2:

    E[x_0^2] = 1, E[x_1^2] = (1 + k)^2 + sigma^2 + 1/2 = 7/4, E[u_t^2] = k^2 E[x_t^2] + sigma^2, so
    J = -(1 + 1/4 + 1) - 1/2 (7/4 + 7/16 + 1) = -2.25 - 1.59375 = -3.84375;
    dJ/dk = -2 k - gamma [(1 + k^2) dE[x_1^2]/dk + 2 k E[x_1^2]] = 1 - 1/2 (5/4 - 7/4) = 5/4;
    dJ/dlog sigma = sigma dJ/dsigma = -2 - gamma ((1 + k^2) 2 + 2) = -4.25.
    Without the noise (the deterministic policy): E[x_1^2] = 3/4, J = -5/4 - 1/2 (5/4)(3/4) = -1.71875.
    """
    lqr, gaussian = scalar_lqr(), GaussianLinearPolicy(1, 1, bias=False)
    theta = np.array([-0.5, 0.0])
    assert lqr_objective(lqr, gaussian, theta, 0.5) == pytest.approx(-3.84375, rel=1e-15)
    np.testing.assert_allclose(lqr_gradient(lqr, gaussian, theta, 0.5), [1.25, -4.25], rtol=1e-14)
    deterministic = DeterministicLinearPolicy(1, 1, bias=False)
    assert lqr_objective(lqr, deterministic, theta[:1], 0.5) == pytest.approx(-1.71875, rel=1e-15)
    m, Sigma = state_moments(lqr, gaussian, theta)
    np.testing.assert_allclose(m, [[1.0], [0.5]])
    np.testing.assert_allclose(Sigma, [[[0.0]], [[1.5]]])


POLICIES = [GaussianLinearPolicy(3, 2, bias=True), GaussianLinearPolicy(3, 2, bias=False),
            DeterministicLinearPolicy(3, 2, bias=True), DeterministicLinearPolicy(3, 2, bias=False)]


def central_difference(f, theta, h=1e-6):
    return np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])


@pytest.mark.parametrize("gamma", [0.7, 1.0])
@pytest.mark.parametrize("policy", POLICIES, ids=repr)
def test_gradient_matches_central_differences(policy, gamma):
    rng = np.random.default_rng(7)
    lqr = random_lqr(rng, 3, 2, 5)
    theta = 0.3 * rng.standard_normal(policy.dim)
    numeric = central_difference(lambda th: lqr_objective(lqr, policy, th, gamma), theta)
    exact = lqr_gradient(lqr, policy, theta, gamma)
    np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-7 * np.abs(exact).max())
    if gamma == 1.0:
        np.testing.assert_allclose(lqr_from_t_mean(lqr, policy, theta, gamma), exact, rtol=1e-13)


def test_seed_axis_gives_the_rows():
    rng = np.random.default_rng(3)
    lqr, policy = random_lqr(rng, 2, 1, 4), GaussianLinearPolicy(2, 1)
    theta = 0.3 * rng.standard_normal((3, policy.dim))
    np.testing.assert_array_equal(lqr_objective(lqr, policy, theta, 0.9),
                                  [lqr_objective(lqr, policy, row, 0.9) for row in theta])
    np.testing.assert_array_equal(lqr_gradient(lqr, policy, theta, 0.9),
                                  [lqr_gradient(lqr, policy, row, 0.9) for row in theta])


@pytest.mark.parametrize("policy", POLICIES[::2], ids=repr)
def test_values_and_action_values_are_consistent(policy):
    """J = E[V_0(x_0)] (backward) equals J from the forward moments; V_t(x) = E_eps[Q_t(x, mu + sigma eps)]
    = Q_t(x, mu(x)) - tr(G_t S) since Q_t is quadratic in a with Hessian -2 G_t; grad_a Q_t by
    central differences of Q_t."""
    rng = np.random.default_rng(11)
    lqr, gamma = random_lqr(rng, 3, 2, 4), 0.9
    theta = 0.3 * rng.standard_normal(policy.dim)
    values = lqr_values(lqr, policy, theta, gamma)
    P, p, c = values.P[0], values.p[0], values.c[0]
    J = -(np.trace(P @ lqr.cov0) + lqr.mean0 @ P @ lqr.mean0 + 2 * p @ lqr.mean0 + c)
    assert J == pytest.approx(lqr_objective(lqr, policy, theta, gamma), rel=1e-12)

    K, k, sigma = policy_matrices(lqr, policy, theta)
    x = rng.standard_normal((4, 5, 3))  # [T = H, batch, n]
    mu = x @ K.T + k
    G = lqr.R + gamma * np.einsum("ia,tij,jb->tab", lqr.B, values.P[1:], lqr.B)
    V = -(np.einsum("tbi,tij,tbj->tb", x, values.P[:4], x) + 2 * np.einsum("tbi,ti->tb", x, values.p[:4])
          + values.c[:4, None])
    expected_q = lqr_action_value(lqr, values, x, mu) - np.einsum("tjj,j->t", G, sigma**2)[:, None]
    np.testing.assert_allclose(V, expected_q, rtol=1e-12, atol=1e-12)

    a = rng.standard_normal((4, 5, 2))
    grad = lqr_action_value_grad(lqr, values, x, a)
    h = 1e-6

    def q(a):
        return lqr_action_value(lqr, values, x, a)

    numeric = np.stack([(q(a + h * e) - q(a - h * e)) / (2 * h) for e in np.eye(2)], axis=-1)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def sample(lqr, policy, theta, seeds, episodes, seed=0):
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(seeds)]
    theta_s = np.broadcast_to(theta, (seeds, policy.dim))
    return theta_s, rollout(lqr_dynamics(lqr), policy, theta_s, rngs, episodes)


def test_monte_carlo_objective_and_score_function_gradient():
    """The rollout through lqr_dynamics: the discounted return within 4 SE of J; reward-to-go with the
    leave-one-out baseline within 4 SE of grad J; the gamma^{t'-t} form within 4 SE of lqr_from_t_mean."""
    rng = np.random.default_rng(5)
    lqr, policy, gamma = random_lqr(rng, 2, 1, 4), GaussianLinearPolicy(2, 1), 0.8
    theta = np.array([-0.3, -0.2, 0.1, np.log(0.6)])
    theta_s, batch = sample(lqr, policy, theta, 1000, 4)
    assert batch.rew.shape == (4, 1000, 4) and batch.truncated[-1].all() and not batch.terminated.any()
    G = (gamma ** np.arange(4)[:, None, None] * batch.rew).sum(axis=0).ravel()
    assert abs(G.mean() - lqr_objective(lqr, policy, theta, gamma)) < Z * G.std() / np.sqrt(G.size)
    score = policy.grad_log_prob(theta_s, batch.obs, batch.act)
    for weighting, target in (("reward_to_go", lqr_gradient(lqr, policy, theta, gamma)),
                              ("reward_to_go_from_t", lqr_from_t_mean(lqr, policy, theta, gamma))):
        w = estimators.weights(batch.rew, batch.alive, gamma, weighting, "batch_mean_loo")
        assert bias_of(estimators.policy_gradient(score, w, batch.alive), target).max_z < Z


def test_dpg_with_the_exact_critic_is_unbiased():
    rng = np.random.default_rng(6)
    lqr, policy, gamma = random_lqr(rng, 3, 2, 5), DeterministicLinearPolicy(3, 2), 0.9
    theta = 0.3 * rng.standard_normal(policy.dim)
    theta_s, batch = sample(lqr, policy, theta, 500, 4, seed=1)
    grad_q = lqr_action_value_grad(lqr, lqr_values(lqr, policy, theta, gamma), batch.obs, batch.act)
    g = deterministic_policy_gradient(policy.grad_mean(theta_s, batch.obs), grad_q, batch.alive, gamma)
    assert g.shape == (500, policy.dim)
    assert bias_of(g, lqr_gradient(lqr, policy, theta, gamma)).max_z < Z


def test_dpg_is_exact_without_randomness():
    """With x_0 and w_t deterministic (cov0 = noise_cov = 0) one episode's DPG estimate is grad J."""
    rng = np.random.default_rng(8)
    base = random_lqr(rng, 3, 2, 5)
    zero = np.zeros((3, 3))
    lqr = LQR(base.A, base.B, base.Q, base.R, base.mean0, zero, zero, 5)
    policy, gamma = DeterministicLinearPolicy(3, 2), 0.9
    theta = 0.3 * rng.standard_normal(policy.dim)
    theta_s, batch = sample(lqr, policy, theta, 1, 2)
    grad_q = lqr_action_value_grad(lqr, lqr_values(lqr, policy, theta, gamma), batch.obs, batch.act)
    g = deterministic_policy_gradient(policy.grad_mean(theta_s, batch.obs), grad_q, batch.alive, gamma)
    np.testing.assert_allclose(g[0], lqr_gradient(lqr, policy, theta, gamma), rtol=1e-12, atol=1e-12)


def test_reparameterisation_with_the_exact_critic_is_unbiased_and_beats_the_score_function():
    rng = np.random.default_rng(9)
    lqr, policy, gamma = random_lqr(rng, 3, 2, 5), GaussianLinearPolicy(3, 2), 0.9
    theta = np.concatenate([0.3 * rng.standard_normal(8), np.log([0.5, 0.8])])
    theta_s, batch = sample(lqr, policy, theta, 500, 4, seed=2)
    noise = policy.standardize(theta_s, batch.obs, batch.act)[0]
    jac = gaussian_action_jacobian(policy, theta_s, batch.obs, noise)
    grad_q = lqr_action_value_grad(lqr, lqr_values(lqr, policy, theta, gamma), batch.obs, batch.act)
    g = reparameterised_gradient(jac, grad_q, batch.alive, gamma)
    exact = lqr_gradient(lqr, policy, theta, gamma)
    assert bias_of(g, exact).max_z < Z
    score = policy.grad_log_prob(theta_s, batch.obs, batch.act)
    w = estimators.weights(batch.rew, batch.alive, gamma, "reward_to_go", "batch_mean_loo")
    score_function = estimators.policy_gradient(score, w, batch.alive)
    assert bias_of(score_function, exact).max_z < Z  # the same expectation
    assert g.var(axis=0).sum() < 0.2 * score_function.var(axis=0).sum()


def entropy_by_hand(log_std):
    """H(N(mu, diag sigma^2)) = sum_j log sigma_j + (m / 2) (1 + log 2 pi)."""
    return np.sum(log_std) + 0.5 * log_std.size * (1.0 + np.log(2 * np.pi))


def test_soft_objective_by_hand():
    """The scalar case of ``test_hand_computed_scalar_case`` at alpha = 0.2: c_H = 1 + 1/2 = 3/2 and
    H(N(mu, 1)) = (1 + log 2 pi) / 2, so J_alpha = -3.84375 + 0.15 (1 + log 2 pi),
    dJ_alpha/dk = dJ/dk = 5/4 and dJ_alpha/d log sigma = -4.25 + 0.2 * 3/2 = -3.95."""
    lqr, policy, theta = scalar_lqr(), GaussianLinearPolicy(1, 1, bias=False), np.array([-0.5, 0.0])
    expected = -3.84375 + 0.15 * (1.0 + np.log(2 * np.pi))
    assert lqr_soft_objective(lqr, policy, theta, 0.5, 0.2) == pytest.approx(expected, rel=1e-15)
    np.testing.assert_allclose(lqr_soft_gradient(lqr, policy, theta, 0.5, 0.2), [1.25, -3.95], rtol=1e-14)


@pytest.mark.parametrize("gamma", [0.7, 1.0])
@pytest.mark.parametrize("policy", POLICIES[:2], ids=repr)
def test_soft_gradient_matches_central_differences(policy, gamma):
    rng = np.random.default_rng(12)
    lqr, alpha = random_lqr(rng, 3, 2, 5), 0.3
    theta = 0.3 * rng.standard_normal(policy.dim)
    numeric = central_difference(lambda th: lqr_soft_objective(lqr, policy, th, gamma, alpha), theta)
    exact = lqr_soft_gradient(lqr, policy, theta, gamma, alpha)
    np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-7 * np.abs(exact).max())


def test_soft_objective_adds_the_discounted_entropy():
    """J_alpha - J = alpha c_H H(sigma) with c_H = sum_{t<H} gamma^t; grad J_alpha - grad J is alpha c_H
    on each log_std component and 0 on W; alpha = 0 gives J and grad J; the seed axis gives the rows."""
    rng = np.random.default_rng(13)
    lqr, policy, gamma, alpha = random_lqr(rng, 3, 2, 5), GaussianLinearPolicy(3, 2), 0.9, 0.7
    theta = 0.3 * rng.standard_normal((4, policy.dim))
    c_H = sum(gamma**t for t in range(5))
    entropy = np.array([entropy_by_hand(row[-2:]) for row in theta])
    J = lqr_objective(lqr, policy, theta, gamma)
    J_alpha = lqr_soft_objective(lqr, policy, theta, gamma, alpha)
    np.testing.assert_allclose(J_alpha - J, alpha * c_H * entropy, rtol=1e-12)
    gap = lqr_soft_gradient(lqr, policy, theta, gamma, alpha) - lqr_gradient(lqr, policy, theta, gamma)
    np.testing.assert_array_equal(gap[:, :8], 0.0)
    np.testing.assert_allclose(gap[:, 8:], alpha * c_H, rtol=1e-12)
    np.testing.assert_array_equal(lqr_soft_objective(lqr, policy, theta, gamma, 0.0), J)
    np.testing.assert_array_equal(lqr_soft_gradient(lqr, policy, theta, gamma, 0.0),
                                  lqr_gradient(lqr, policy, theta, gamma))
    np.testing.assert_array_equal(lqr_soft_gradient(lqr, policy, theta, gamma, alpha),
                                  [lqr_soft_gradient(lqr, policy, row, gamma, alpha) for row in theta])
    assert lqr_soft_objective(lqr, policy, theta[0], gamma, alpha).shape == ()


def soft_inputs(policy, theta_s, batch):
    """jac = grad_theta a_t, the score grad_theta log pi(a_t | x_t) and grad_a log pi(a | x_t) at a_t,
    -(a - mu) / sigma^2 = -z / sigma, for the sampled actions."""
    z, sigma, _ = policy.standardize(theta_s, batch.obs, batch.act)
    jac = gaussian_action_jacobian(policy, theta_s, batch.obs, z)
    return jac, policy.grad_log_prob(theta_s, batch.obs, batch.act), -z / sigma


def test_soft_reparameterisation_with_the_exact_critic_is_unbiased_for_the_soft_gradient():
    """SAC's actor gradient, jac (grad_a Q_t - alpha grad_a log pi) - alpha grad_theta log pi, with the exact
    critic (on the LQR grad_a Q^soft_t = grad_a Q_t): within 4 SE of grad J_alpha and more than 6 SE from
    grad J. For the Gaussian its alpha terms sum to +alpha per alive step on each log_std (0 on W), and
    alpha = 0 gives the reparameterisation estimate bit for bit."""
    rng = np.random.default_rng(9)
    lqr, policy, gamma, alpha = random_lqr(rng, 3, 2, 5), GaussianLinearPolicy(3, 2), 0.9, 0.5
    theta = np.concatenate([0.3 * rng.standard_normal(8), np.log([0.5, 0.8])])
    theta_s, batch = sample(lqr, policy, theta, 500, 4, seed=3)
    jac, score, grad_a_log_prob = soft_inputs(policy, theta_s, batch)
    grad_q = lqr_action_value_grad(lqr, lqr_values(lqr, policy, theta, gamma), batch.obs, batch.act)
    g = soft_reparameterised_gradient(jac, grad_q, score, grad_a_log_prob, batch.alive, gamma, alpha)
    assert g.shape == (500, policy.dim)
    assert bias_of(g, lqr_soft_gradient(lqr, policy, theta, gamma, alpha)).max_z < Z
    assert bias_of(g, lqr_gradient(lqr, policy, theta, gamma)).max_z > 6.0
    plain = reparameterised_gradient(jac, grad_q, batch.alive, gamma)
    steps = np.where(batch.alive, gamma ** np.arange(5)[:, None, None], 0.0).sum(axis=0).mean(axis=1)
    np.testing.assert_allclose(g[:, :8], plain[:, :8], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g[:, 8:], plain[:, 8:] + alpha * steps[:, None], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(
        soft_reparameterised_gradient(jac, grad_q, score, grad_a_log_prob, batch.alive, gamma, 0.0), plain)


def test_action_jacobians_match_central_differences():
    rng = np.random.default_rng(10)
    gaussian = GaussianLinearPolicy(3, 2)
    theta, obs = rng.standard_normal(gaussian.dim), rng.standard_normal((4, 3))
    eps = rng.standard_normal((4, 2))
    numeric = central_difference(lambda th: gaussian.act(th, obs, eps), theta)  # [d, 4, m]
    np.testing.assert_allclose(gaussian_action_jacobian(gaussian, theta, obs, eps),
                               np.moveaxis(numeric, 0, 1), rtol=1e-7, atol=1e-9)
    deterministic = DeterministicLinearPolicy(3, 2)
    w = theta[:deterministic.dim]
    np.testing.assert_array_equal(deterministic.mean(w, obs), gaussian.mean(theta, obs))  # the same layout
    numeric = central_difference(lambda th: deterministic.mean(th, obs), w)
    np.testing.assert_allclose(deterministic.grad_mean(w, obs), np.moveaxis(numeric, 0, 1), atol=1e-9)


def test_deterministic_policy_draws_nothing_and_has_no_density():
    policy, rng = DeterministicLinearPolicy(2, 1), np.random.default_rng(0)
    state = rng.bit_generator.state
    assert policy.noise(rng, (3, 4)).shape == (3, 4, 0) and rng.bit_generator.state == state
    theta, obs = np.array([1.0, -2.0, 0.5]), np.array([[3.0, 1.0]])
    np.testing.assert_array_equal(policy.act(theta, obs, np.zeros((1, 0))), [[1.5]])
    np.testing.assert_array_equal(policy.sample(theta, obs, rng), policy.mode(theta, obs))
    with pytest.raises(ValueError, match="no density"):
        policy.log_prob(theta, obs, np.zeros((1, 1)))
    with pytest.raises(ValueError, match="no score function"):
        policy.grad_log_prob(theta, obs, np.zeros((1, 1)))


def test_dynamics_step_and_reset_by_hand():
    """u = 1/2 is the median, ndtri(1/2) = 0: x_0 = mean0 and x' = A x + B a exactly; u = 0 stays finite."""
    lqr = scalar_lqr(3)
    dyn = lqr_dynamics(lqr)
    assert (dyn.action_dim, dyn.obs_dim, dyn.max_episode_steps, dyn.step_draws) == (1, 1, 3, 1)
    np.testing.assert_array_equal(dyn.reset(np.full((1, 2), 0.5)), [[1.0, 1.0]])
    x, r, terminated = dyn.step(np.array([[2.0, -1.0]]), np.array([[0.5], [1.0]]), np.full((1, 2), 0.5))
    np.testing.assert_array_equal(x, [[2.5, 0.0]])
    np.testing.assert_array_equal(r, [-4.25, -2.0])
    assert not terminated.any()
    assert np.isfinite(dyn.step(x, np.zeros((2, 1)), np.zeros((1, 2)))[0]).all()
    with pytest.raises(ValueError, match=r"LQR draws must have shape \[1, \*batch\]"):
        dyn.reset(np.full((2, 2), 0.5))


GOOD = {"A": np.eye(2), "B": np.ones((2, 1)), "Q": np.eye(2), "R": np.eye(1), "mean0": np.zeros(2),
        "cov0": np.eye(2), "noise_cov": np.eye(2), "horizon": 3}


@pytest.mark.parametrize("change, message", [
    ({"A": np.ones((2, 3))}, r"A must be \[n, n\]"),
    ({"B": np.ones((3, 1))}, r"B must be \[2, m\]"),
    ({"Q": np.eye(3)}, r"Q must have shape \[2, 2\]"),
    ({"mean0": np.zeros(3)}, r"mean0 must have shape \[2\]"),
    ({"A": np.array([[1.0, np.nan], [0.0, 1.0]])}, "A must be finite"),
    ({"Q": np.array([[1.0, 0.5], [0.0, 1.0]])}, "Q must be symmetric"),
    ({"R": -np.eye(1)}, "R must be positive semi-definite"),
    ({"cov0": np.array([[1.0, 2.0], [2.0, 1.0]])}, "cov0 must be positive semi-definite"),
    ({"noise_cov": np.array([[1.0, 1.0], [0.0, 1.0]])}, "noise_cov must be symmetric"),
    ({"horizon": 0}, "horizon must be a positive integer"),
    ({"horizon": True}, "horizon must be a positive integer"),
])
def test_bad_lqr_raises_one_line(change, message):
    with pytest.raises(ValueError, match=message) as info:
        LQR(**{**GOOD, **change})
    assert "\n" not in str(info.value)


def test_singular_covariances_are_allowed():
    lqr = LQR(**{**GOOD, "cov0": np.zeros((2, 2)), "noise_cov": np.diag([1.0, 0.0])})
    assert lqr.state_dim == 2 and lqr.action_dim == 1 and not lqr.cov0.flags.writeable


@pytest.mark.parametrize("policy, theta, message", [
    (LogisticPolicy(2), np.zeros(2), "needs a GaussianLinearPolicy or DeterministicLinearPolicy"),
    (GaussianLinearPolicy(3, 1), np.zeros(5), "maps 3 to 1 dims but the LQR has n = 2, m = 1"),
    (GaussianLinearPolicy(2, 1), np.zeros(3), r"theta must have shape \[4\]"),
])
def test_bad_policy_raises_one_line(policy, theta, message):
    with pytest.raises(ValueError, match=message):
        lqr_gradient(LQR(**GOOD), policy, theta, 0.9)


def test_bad_estimator_input_raises_one_line():
    lqr, policy = LQR(**GOOD), GaussianLinearPolicy(2, 1)
    values = lqr_values(lqr, policy, policy.init(), 0.9)
    with pytest.raises(ValueError, match="gamma must be in"):
        lqr_objective(lqr, policy, policy.init(), 1.5)
    with pytest.raises(ValueError, match=r"x_t must be \[T, ..., 2\] with 1 <= T <= H = 3"):
        lqr_action_value(lqr, values, np.zeros((4, 1, 2)), np.zeros((4, 1, 1)))
    with pytest.raises(ValueError, match="a_t must be"):
        lqr_action_value_grad(lqr, values, np.zeros((3, 1, 2)), np.zeros((3, 1, 2)))
    alive = np.ones((3, 2, 4), bool)
    with pytest.raises(ValueError, match=r"jac must be \[T, S, K, d, m\]"):
        deterministic_policy_gradient(np.zeros((3, 2, 4, 5, 2)), np.zeros((3, 2, 4, 1)), alive, 0.9)
    with pytest.raises(ValueError, match=r"grad_q must be \[T, S, K, m\]"):
        reparameterised_gradient(np.zeros((3, 2, 4, 5, 1)), np.zeros((3, 2, 1)), alive, 0.9)


DETERMINISTIC_THETA = np.zeros(3)


@pytest.mark.parametrize("policy, theta, alpha, message", [
    (DeterministicLinearPolicy(2, 1), DETERMINISTIC_THETA, 0.2,
     "the soft objective needs a GaussianLinearPolicy .*, got DeterministicLinearPolicy"),
    (GaussianLinearPolicy(2, 1), np.zeros(4), -0.1, r"alpha must be finite and >= 0, got -0\.1"),
    (GaussianLinearPolicy(2, 1), np.zeros(4), np.nan, "alpha must be finite and >= 0, got nan"),
    (GaussianLinearPolicy(2, 1), np.zeros(4), np.inf, "alpha must be finite and >= 0, got inf"),
])
@pytest.mark.parametrize("function", [lqr_soft_objective, lqr_soft_gradient], ids=lambda f: f.__name__)
def test_bad_soft_objective_input_raises_one_line(function, policy, theta, alpha, message):
    with pytest.raises(ValueError, match=message) as info:
        function(LQR(**GOOD), policy, theta, 0.9, alpha)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("change, message", [
    ({"score": np.zeros((3, 2, 4, 4))}, r"score must be \[T, S, K, d\] matching jac \(3, 2, 4, 5, 1\)"),
    ({"grad_a_log_prob": np.zeros((3, 2, 4, 2))}, r"grad_a_log_prob must be \[T, S, K, m\] like grad_q"),
    ({"jac": np.zeros((3, 2, 4, 5, 2))}, r"jac must be \[T, S, K, d, m\]"),
    ({"alpha": -1.0}, "alpha must be finite and >= 0, got -1.0"),
    ({"gamma": 1.5}, "gamma must be in"),
])
def test_bad_soft_estimator_input_raises_one_line(change, message):
    good = {"jac": np.zeros((3, 2, 4, 5, 1)), "grad_q": np.zeros((3, 2, 4, 1)),
            "score": np.zeros((3, 2, 4, 5)), "grad_a_log_prob": np.zeros((3, 2, 4, 1)),
            "alive": np.ones((3, 2, 4), bool), "gamma": 0.9, "alpha": 0.2}
    assert soft_reparameterised_gradient(**good).shape == (2, 5)
    with pytest.raises(ValueError, match=message) as info:
        soft_reparameterised_gradient(**{**good, **change})
    assert "\n" not in str(info.value)


def test_verify_lqr_rows():
    """The LQR cases of ``pgrad verify``: every score-function row, the reparameterisation row and the
    DPG row, each checked against the exact gradient, and the soft case's one row against grad J_alpha;
    the unbiased ones pass."""
    rows = verify(num_batches=300, num_episodes=4, seed=2, cases=lqr_cases())
    assert all(isinstance(r, Row) for r in rows)  # no natural-gradient rows without an MDP
    names = list(dict.fromkeys(r.case for r in rows))
    assert names[2] == "LQR Gaussian soft α=0.2 γ=0.8"
    gaussian, deterministic, soft = ([r for r in rows if r.case == name] for name in names)
    assert len(gaussian) == 16 and (gaussian[-1].weighting, gaussian[-1].baseline) == REPARAMETERISED
    assert [(r.weighting, r.baseline) for r in deterministic] == [DPG]
    assert [(r.weighting, r.baseline) for r in soft] == [SOFT_REPARAMETERISED]
    assert deterministic[0].variance_ratio is None and soft[0].variance_ratio is None
    assert soft[0].unbiased_in_theory
    assert all(r.bias is not None for r in rows)
    assert all(r.passed for r in rows if r.unbiased_in_theory)
    reparameterised = gaussian[-1]
    assert reparameterised.variance_ratio is not None and reparameterised.variance_ratio < 0.1


def test_verify_soft_case_targets_the_soft_gradient():
    """The soft case: the Gaussian case's LQR, policy, theta and gamma, with alpha = 0.2, so its exact
    gradient is grad J plus alpha c_H = 0.2 (1 - 0.8^6) / 0.2 on log sigma."""
    gaussian, _, soft = lqr_cases()
    assert (soft.lqr, soft.theta.tolist(), soft.gamma, soft.alpha) == (gaussian.lqr, gaussian.theta.tolist(),
                                                                       0.8, 0.2)
    assert gaussian.alpha is None and soft.policy == gaussian.policy
    np.testing.assert_allclose(soft.exact - gaussian.exact, [0.0, 0.0, 0.0, 1 - 0.8**6], atol=1e-14)
