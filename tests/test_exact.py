"""pgrad.exact: J and grad J on finite MDPs, checked by hand, by finite differences and by
Monte Carlo through the rollout; the MDP's validation and its Dynamics."""

from dataclasses import replace

import numpy as np
import pytest

from pgrad.exact import (
    FiniteMDP,
    aliased_mdp,
    compatible_weights,
    exact_from_t_mean,
    exact_gradient,
    exact_objective,
    fisher_matrix,
    natural_gradient,
    random_mdp,
    state_occupancy,
    to_dynamics,
)
from pgrad.policies import LogisticPolicy, SoftmaxLinearPolicy, TabularSoftmaxPolicy
from pgrad.policies.logistic import sigmoid
from pgrad.returns import discounted_return
from pgrad.rollout import rollout


def hand_mdp() -> FiniteMDP:
    """s0 --a0 (r=1)--> s1;  s0 --a1 (r=2)--> s1 or terminal s2 (1/2 each);  s1 --a (r = 0, 3)--> s1."""
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = 1.0
    P[0, 1, 1] = P[0, 1, 2] = 0.5
    P[1, :, 1] = 1.0
    P[2, :, 2] = 1.0
    R = np.array([[1.0, 2.0], [0.0, 3.0], [5.0, 5.0]])  # the terminal state's rewards never count
    return FiniteMDP(P, R, np.array([1.0, 0.0, 0.0]), horizon=2, terminal=np.array([False, False, True]))


def test_hand_computed_objective_and_gradient():
    mdp, policy, gamma = hand_mdp(), TabularSoftmaxPolicy(3, 2), 0.9
    theta = np.array([0.3, -0.2, 0.5, 0.1, 7.0, -7.0])
    p0, q0 = sigmoid(0.3 + 0.2), sigmoid(0.5 - 0.1)  # pi(a0 | s0), pi(a0 | s1)
    v1 = (1 - q0) * 3.0                               # V_1(s1): one step left
    J = p0 * (1 + gamma * v1) + (1 - p0) * (2 + gamma * 0.5 * v1)
    d_theta0 = p0 * (1 - p0) * (-1 + 0.5 * gamma * v1)
    d_theta1 = gamma * (p0 + 0.5 * (1 - p0)) * (-3 * q0 * (1 - q0))
    expected = [d_theta0, -d_theta0, d_theta1, -d_theta1, 0.0, 0.0]
    assert exact_objective(mdp, policy, theta, gamma) == pytest.approx(J, rel=1e-14)
    np.testing.assert_allclose(exact_gradient(mdp, policy, theta, gamma), expected, rtol=1e-13, atol=1e-15)
    # occupancy: all mass in s0 at t = 0; at t = 1 in s1 unless the episode ended in s2
    np.testing.assert_allclose(state_occupancy(mdp, policy.probs(theta, mdp.observations())),
                               [[1, 0, 0], [0, p0 + 0.5 * (1 - p0), 0]])


@pytest.mark.parametrize("gamma", [0.5, 0.9, 1.0])
def test_aliased_mdp_closed_form(gamma):
    H, theta = 4, np.array([0.5])
    policy, p = LogisticPolicy(obs_dim=1), sigmoid(0.5)
    later = sum(gamma**t for t in range(1, H))
    assert exact_objective(aliased_mdp(H), policy, theta, gamma) == pytest.approx(p + (1 - p) * later)
    np.testing.assert_allclose(exact_gradient(aliased_mdp(H), policy, theta, gamma),
                               [p * (1 - p) * (1 - later)])
    np.testing.assert_allclose(exact_from_t_mean(aliased_mdp(H), policy, theta, gamma),
                               [p * (1 - p) * (1 - (H - 1))])


def finite_mdp_cases():
    """(mdp, policy): random MDPs with each policy on finite MDPs, terminal states, both R shapes."""
    rng = np.random.default_rng(0)
    yield pytest.param(random_mdp(rng, 5, 3, 6, n_terminal=1), TabularSoftmaxPolicy(5, 3), id="tabular")
    yield pytest.param(random_mdp(rng, 6, 3, 5, feature_dim=2), SoftmaxLinearPolicy(2, 3, bias=True),
                       id="softmax-linear")
    yield pytest.param(random_mdp(rng, 4, 2, 7, n_terminal=2, feature_dim=3), LogisticPolicy(3, bias=True),
                       id="logistic")
    mdp = random_mdp(rng, 4, 2, 3)
    yield pytest.param(replace(mdp, R=mdp.R[:, :, 0]), TabularSoftmaxPolicy(4, 2), id="tabular-R[s,a]")


@pytest.mark.parametrize("mdp, policy", list(finite_mdp_cases()))
@pytest.mark.parametrize("gamma", [0.8, 1.0])
def test_gradient_matches_central_differences(mdp, policy, gamma):
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(policy.dim)
    h = 1e-5
    fd = np.array([(exact_objective(mdp, policy, theta + h * e, gamma)
                    - exact_objective(mdp, policy, theta - h * e, gamma)) / (2 * h)
                   for e in np.eye(policy.dim)])
    grad = exact_gradient(mdp, policy, theta, gamma)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())
    if gamma == 1.0:  # the common-practice weighting estimates grad J exactly when gamma = 1
        np.testing.assert_allclose(exact_from_t_mean(mdp, policy, theta, gamma), grad, rtol=1e-12)


def test_seed_axis_equals_each_seed_alone():
    mdp, policy = next(finite_mdp_cases()).values
    theta = np.random.default_rng(2).standard_normal((3, policy.dim))
    J = exact_objective(mdp, policy, theta, 0.9)
    grad = exact_gradient(mdp, policy, theta, 0.9)
    for s in range(3):
        assert J[s] == pytest.approx(exact_objective(mdp, policy, theta[s], 0.9), rel=1e-13)
        np.testing.assert_allclose(grad[s], exact_gradient(mdp, policy, theta[s], 0.9), rtol=1e-12)


@pytest.mark.parametrize("mdp, policy", list(finite_mdp_cases()))
def test_objective_matches_monte_carlo_through_the_rollout(mdp, policy):
    """J is the mean discounted return of episodes the rollout samples from ``to_dynamics``."""
    gamma, S, K = 0.9, 50, 400
    theta = np.random.default_rng(3).standard_normal(policy.dim)
    rngs = [np.random.default_rng(s) for s in range(S)]
    batch = rollout(to_dynamics(mdp), policy, np.tile(theta, (S, 1)), rngs, K)
    G = discounted_return(batch.rew, gamma).ravel()
    assert batch.rew.shape[0] <= mdp.horizon and batch.lengths.max() <= mdp.horizon
    assert abs(G.mean() - exact_objective(mdp, policy, theta, gamma)) < 4 * G.std() / np.sqrt(G.size)


def test_dynamics_sample_the_mdp():
    mdp = hand_mdp()
    dynamics = to_dynamics(mdp)
    n = 100_000
    u = np.random.default_rng(4).random((1, n))
    state = dynamics.reset(u)
    assert state.shape == (1, n) and np.all(state == 0)
    next_state, reward, terminated = dynamics.step(state, np.ones(n, np.int32), u)
    frac_terminal = terminated.mean()
    assert abs(frac_terminal - 0.5) < 4 * np.sqrt(0.25 / n)
    np.testing.assert_array_equal(terminated, next_state[0] == 2)
    np.testing.assert_array_equal(reward, 2.0)
    assert dynamics.max_episode_steps == 2 and dynamics.step_draws == 1 and dynamics.reset_draws == 1
    np.testing.assert_array_equal(dynamics.observe(next_state), next_state)  # the index, [1, *batch]
    features = np.arange(6.0).reshape(3, 2)
    obs = to_dynamics(replace(mdp, features=features)).observe(np.array([[2.0, 0.0]]))
    np.testing.assert_array_equal(obs, features[[2, 0]].T)  # component first: [obs_dim, *batch]


def test_inverse_cdf_never_picks_a_zero_probability_state():
    rho0 = np.array([0.1, 0.2, 0.7 - 1e-12, 1e-12, 0.0, 0.0])  # trailing zeros after rounding
    mdp = FiniteMDP(np.broadcast_to(np.eye(6)[:, None], (6, 1, 6)), np.zeros((6, 1)), rho0, 1)
    u = np.array([[0.0, 0.1, 0.31, 0.999999, 1 - 2**-53]])
    np.testing.assert_array_equal(to_dynamics(mdp).reset(u)[0], [0, 1, 2, 2, 3])


def bad_inputs():
    P = np.full((2, 2, 2), 0.5)
    R, rho0 = np.zeros((2, 2)), np.array([1.0, 0.0])
    yield dict(P=P[:, :, :1], R=R, rho0=rho0, horizon=3)                      # P not [N, A, N]
    yield dict(P=P + [0.6, -0.6], R=R, rho0=rho0, horizon=3)                  # negative probability
    yield dict(P=P * 1.01, R=R, rho0=rho0, horizon=3)                         # rows do not sum to 1
    yield dict(P=P, R=R, rho0=np.array([0.5, 0.5 + 2e-9]), horizon=3)          # off by more than 1e-9
    yield dict(P=P, R=np.zeros((2, 3)), rho0=rho0, horizon=3)                 # R shape
    yield dict(P=P, R=R, rho0=np.ones(3) / 3, horizon=3)                      # rho0 shape
    yield dict(P=P, R=R, rho0=rho0, horizon=0)                                # horizon
    yield dict(P=P, R=R, rho0=rho0, horizon=2.5)
    yield dict(P=P, R=R, rho0=rho0, horizon=3, terminal=np.array([False, True]))  # not absorbing
    P_abs = P.copy()
    P_abs[1] = [0.0, 1.0]
    yield dict(P=P_abs, R=R, rho0=np.array([0.5, 0.5]), horizon=3, terminal=np.array([False, True]))
    yield dict(P=P_abs, R=R, rho0=rho0, horizon=3, terminal=np.array([0, 1]))  # terminal not bool
    yield dict(P=P, R=R, rho0=rho0, horizon=3, features=np.ones((3, 2)))      # features shape
    yield dict(P=P, R=R * np.nan, rho0=rho0, horizon=3)                       # rewards not finite


@pytest.mark.parametrize("kwargs", list(bad_inputs()))
def test_bad_input_gets_a_one_line_error(kwargs):
    with pytest.raises(ValueError) as info:
        FiniteMDP(**kwargs)
    assert "\n" not in str(info.value)


def test_valid_mdp_within_tolerance_and_frozen():
    P = np.full((2, 2, 2), 0.5)
    mdp = FiniteMDP(P, np.zeros((2, 2)), np.array([0.5, 0.5 + 5e-10]), 3)
    P[0, 0] = [1.0, 0.0]  # the MDP keeps its own read-only copy
    assert mdp.P[0, 0, 0] == 0.5 and not mdp.P.flags.writeable


def test_policy_and_mdp_must_agree():
    mdp = random_mdp(np.random.default_rng(5), 3, 3, 2, feature_dim=2)
    with pytest.raises(ValueError, match="actions"):
        exact_gradient(mdp, LogisticPolicy(2), np.zeros(2), 0.9)
    with pytest.raises(ValueError, match="gamma"):
        exact_objective(mdp, SoftmaxLinearPolicy(2, 3), np.zeros(6), 1.5)


def test_finite_mdp_runs_as_a_gymnasium_vector_env():
    from pgrad.envs.vector import DynamicsVectorEnv
    from pgrad.exact import random_mdp, to_dynamics

    mdp = random_mdp(np.random.default_rng(0), n_states=4, n_actions=2, horizon=5)
    venv = DynamicsVectorEnv(to_dynamics(mdp), 16)
    obs, _ = venv.reset(seed=0)
    ends = 0
    for _ in range(12):
        obs, rew, term, trunc, _ = venv.step(venv.action_space.sample())
        assert venv.observation_space.contains(obs)
        ends += int((term | trunc).sum())
    assert ends >= 16  # every copy reached its horizon (or a terminal state) at least once


# --- the Fisher matrix, the natural gradient, compatible function approximation ------------------

def test_hand_computed_fisher_and_natural_gradient():
    """``hand_mdp`` with the logistic policy on features x(s0) = (1, 0), x(s1) = (1, 1), x(s2) = (0, 0).

    p_s = pi(a0 | s) = sigmoid(theta . x(s)); the episode is in s0 at t = 0 and, unless action 1
    ended it in s2 (probability (1 - p0) / 2), in s1 at t = 1: d_0 = (1, 0, 0),
    d_1 = (0, q, 0) with q = p0 + (1 - p0) / 2. The logistic score is (y - p) x, so
    sum_a pi psi psi^T = p (1 - p) x x^T in each state and

        F = p0 (1 - p0) x0 x0^T + gamma q p1 (1 - p1) x1 x1^T = a x0 x0^T + b x1 x1^T.

    By the policy gradient theorem grad J = a D0 x0 + b D1 x1 with the action gaps
    D_t = Q_t(s_t, a0) - Q_t(s_t, a1): D1 = 0 - 3, D0 = (1 + gamma V1) - (2 + gamma V1 / 2),
    V1 = 3 (1 - p1). As x0, x1 are independent, F w = grad J means x0 . w = D0 and
    x1 . w = D1: the natural gradient is w = (D0, D1 - D0), the action gaps themselves, whatever
    the probabilities a and b.
    """
    features = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    mdp, policy, gamma = replace(hand_mdp(), features=features), LogisticPolicy(2), 0.9
    theta = np.array([0.4, -1.1])
    p0, p1 = sigmoid(0.4), sigmoid(0.4 - 1.1)
    q, V1 = p0 + (1 - p0) / 2, 3 * (1 - p1)
    a, b = p0 * (1 - p0), gamma * q * p1 * (1 - p1)
    x0, x1 = features[0], features[1]
    F = a * np.outer(x0, x0) + b * np.outer(x1, x1)
    D0, D1 = (1 + gamma * V1) - (2 + gamma * V1 / 2), -3.0
    np.testing.assert_allclose(fisher_matrix(mdp, policy, theta, gamma), F, rtol=1e-14)
    np.testing.assert_allclose(exact_gradient(mdp, policy, theta, gamma), a * D0 * x0 + b * D1 * x1,
                               rtol=1e-13)
    np.testing.assert_allclose(natural_gradient(mdp, policy, theta, gamma), [D0, D1 - D0], rtol=1e-13)
    np.testing.assert_allclose(compatible_weights(mdp, policy, theta, gamma), [D0, D1 - D0], rtol=1e-13)


@pytest.mark.parametrize("mdp, policy", list(finite_mdp_cases()))
@pytest.mark.parametrize("gamma", [0.8, 1.0])
def test_compatible_weights_are_the_natural_gradient(mdp, policy, gamma):
    """F w = grad J for the least-squares fit of psi^T w to Q_t, to machine precision; w = F^+ grad J."""
    theta = np.random.default_rng(6).standard_normal(policy.dim)
    F = fisher_matrix(mdp, policy, theta, gamma)
    grad = exact_gradient(mdp, policy, theta, gamma)
    w = compatible_weights(mdp, policy, theta, gamma)
    np.testing.assert_allclose(F, F.T, atol=1e-15)
    assert np.linalg.eigvalsh(F).min() > -1e-14 * np.abs(F).max()
    assert np.linalg.norm(F @ w - grad) < 1e-13 * np.linalg.norm(grad)
    np.testing.assert_allclose(w, natural_gradient(mdp, policy, theta, gamma), rtol=1e-11, atol=1e-13)
    damped = natural_gradient(mdp, policy, theta, gamma, damping=0.1)
    np.testing.assert_allclose(damped, np.linalg.solve(F + 0.1 * np.eye(policy.dim), grad), rtol=1e-12)


@pytest.mark.parametrize("mdp, policy", list(finite_mdp_cases()))
def test_fisher_is_minus_the_expected_hessian_of_log_pi(mdp, policy):
    """F = sum_t gamma^t sum_s d_t(s) sum_a pi(a | s) (-grad^2 log pi(a | s)), the Hessian by central
    differences of the policy's score (E[psi psi^T] = -E[grad^2 log pi] since sum_a grad^2 pi = 0)."""
    gamma, h = 0.9, 1e-6
    theta = np.random.default_rng(7).standard_normal(policy.dim)
    obs = mdp.observations()
    pi = policy.probs(theta, obs)
    weight = (gamma ** np.arange(mdp.horizon)[:, None] * state_occupancy(mdp, pi)).sum(axis=0)[:, None] * pi
    F = np.zeros((policy.dim, policy.dim))
    for a in range(mdp.n_actions):
        act = np.full(mdp.n_states, a)
        hessian = np.stack([(policy.grad_log_prob(theta + h * e, obs, act)
                             - policy.grad_log_prob(theta - h * e, obs, act)) / (2 * h)
                            for e in np.eye(policy.dim)], axis=-1)  # [N, d, d]
        F -= np.einsum("s,sij->ij", weight[:, a], hessian)
    np.testing.assert_allclose(fisher_matrix(mdp, policy, theta, gamma), F, atol=1e-8)


def test_natural_gradient_is_invariant_to_reparameterisation():
    """theta = A eta with A invertible: the policy on features x(s)^T A in eta is the same policy.
    Then F_eta = A^T F A and grad_eta J = A^T grad J, so A F_eta^-1 grad_eta J = F^-1 grad J: the
    natural step maps to the same step in theta, while the vanilla one, A A^T grad J, does not."""
    rng = np.random.default_rng(8)
    mdp, policy, gamma = random_mdp(rng, 5, 2, 4, feature_dim=3), LogisticPolicy(3), 0.9
    A = rng.standard_normal((3, 3)) + 2 * np.eye(3)
    eta = rng.standard_normal(3)
    theta = A @ eta
    mdp_eta = replace(mdp, features=mdp.features @ A)
    J = exact_objective(mdp, policy, theta, gamma)
    assert exact_objective(mdp_eta, policy, eta, gamma) == pytest.approx(J, rel=1e-12)
    natural_theta = natural_gradient(mdp, policy, theta, gamma)
    np.testing.assert_allclose(A @ natural_gradient(mdp_eta, policy, eta, gamma), natural_theta, rtol=1e-10)
    vanilla_theta = exact_gradient(mdp, policy, theta, gamma)
    vanilla_eta = exact_gradient(mdp_eta, policy, eta, gamma)
    assert np.linalg.norm(A @ vanilla_eta - vanilla_theta) > 0.1 * np.linalg.norm(vanilla_theta)


def test_fisher_seed_axis_equals_each_seed_alone():
    mdp, policy = next(finite_mdp_cases()).values
    theta = np.random.default_rng(9).standard_normal((3, policy.dim))
    for fn in (fisher_matrix, natural_gradient, compatible_weights):
        batched = fn(mdp, policy, theta, 0.9)
        for s in range(3):
            np.testing.assert_allclose(batched[s], fn(mdp, policy, theta[s], 0.9), rtol=1e-12, atol=1e-15)


def test_fisher_bad_input_gets_a_one_line_error():
    mdp = random_mdp(np.random.default_rng(10), 3, 2, 2, feature_dim=2)
    for call in (lambda: fisher_matrix(mdp, LogisticPolicy(2), np.zeros(2), 1.5),
                 lambda: compatible_weights(mdp, LogisticPolicy(2), np.zeros(2), -0.1),
                 lambda: natural_gradient(mdp, LogisticPolicy(2), np.zeros(2), 0.9, damping=-1.0),
                 lambda: fisher_matrix(mdp, SoftmaxLinearPolicy(2, 3), np.zeros(6), 0.9)):
        with pytest.raises(ValueError) as info:
            call()
        assert "\n" not in str(info.value)
