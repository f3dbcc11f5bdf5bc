"""pgrad.natural: the sample Fisher, Fisher-vector products, conjugate gradient, the KL and the
natural step size, checked by hand, by finite differences, by autograd, against numpy.linalg.solve,
and against Monte Carlo and numeric integration."""

import numpy as np
import pytest

from pgrad import natural
from pgrad.exact import fisher_matrix, random_mdp, to_dynamics
from pgrad.policies import (
    GaussianLinearPolicy,
    LogisticPolicy,
    MLPCategoricalPolicy,
    MLPGaussianPolicy,
    SoftmaxLinearPolicy,
    TabularSoftmaxPolicy,
)
from pgrad.rollout import rollout
from pgrad.verify import bias_of

S, T, K = 2, 3, 4


def batch_inputs(policy, rng, obs_dim=None):
    """theta [S, d], obs [T, S, K, obs_dim] and an alive mask with some dead steps (episodes end early)."""
    obs_dim = policy.obs_dim if obs_dim is None else obs_dim
    if isinstance(policy, TabularSoftmaxPolicy):
        obs = rng.integers(0, policy.n_states, (T, S, K, 1)).astype(np.float64)
    else:
        obs = rng.standard_normal((T, S, K, obs_dim))
    lengths = rng.integers(1, T + 1, (S, K))
    alive = np.arange(T)[:, None, None] < lengths
    theta = 0.7 * rng.standard_normal((S, policy.dim))
    return theta, obs, alive


LINEAR_POLICIES = [
    pytest.param(LogisticPolicy(3, bias=True), id="logistic"),
    pytest.param(SoftmaxLinearPolicy(2, 3, bias=True), id="softmax-linear"),
    pytest.param(TabularSoftmaxPolicy(4, 3), id="tabular"),
    pytest.param(GaussianLinearPolicy(2, action_dim=2, bias=True), id="gaussian-linear"),
]


def dense(operator, S, d):
    """The matrix of an operator [S, d] -> [S, d], column by column: [S, d, d]."""
    return np.stack([operator(np.broadcast_to(e, (S, d)).copy()) for e in np.eye(d)], axis=-1)


def kl_hessian_by_differences(policy, theta, obs, alive, h=2e-4):
    """H_ij = d^2 mean_kl(theta, theta + x) / dx_i dx_j at x = 0, by the symmetric polarised second
    difference [KL(h(u+v)) - KL(h(u-v)) + KL(-h(u+v)) - KL(-h(u-v))] / (4 h^2): [S, d, d]."""
    d = theta.shape[1]

    def kl(x):
        return natural.mean_kl(policy, theta, theta + np.broadcast_to(x, theta.shape), obs, alive)

    H = np.empty((theta.shape[0], d, d))
    for i, u in enumerate(np.eye(d)):
        for j, v in enumerate(np.eye(d)):
            plus, minus = h * (u + v), h * (u - v)
            H[:, i, j] = (kl(plus) - kl(minus) + kl(-plus) - kl(-minus)) / (4 * h * h)
    return H


# --- the sample Fisher --------------------------------------------------------------------------

def test_sample_fisher_hand_computed():
    """T = 2 steps, S = 1 seed, K = 2 episodes, d = 2, gamma = 1/2; episode 1 ends after one step:

        episode 0: psi_0 = (1, 0), psi_1 = (1, 2);   episode 1: psi_0 = (0, 3), psi_1 = dead (9, 9).
        F_hat = (1/2) [ (1,0)(1,0)^T + 1/2 (1,2)(1,2)^T + (0,3)(0,3)^T ]
              = (1/2) [[1 + 1/2, 1], [1, 2 + 9]] = [[0.75, 0.5], [0.5, 5.5]];
        per step (N = 3 alive steps instead of K = 2): [[0.5, 1/3], [1/3, 11/3]].
    """
    score = np.array([[[[1.0, 0.0], [0.0, 3.0]]], [[[1.0, 2.0], [9.0, 9.0]]]])  # [T, S, K, d]
    alive = np.array([[[True, True]], [[True, False]]])
    np.testing.assert_allclose(natural.sample_fisher(score, alive, gamma=0.5), [[[0.75, 0.5], [0.5, 5.5]]])
    np.testing.assert_allclose(natural.sample_fisher(score, alive, 0.5, per_step=True),
                               [[[0.5, 1 / 3], [1 / 3, 11 / 3]]])


def test_sample_fisher_is_unbiased_for_the_exact_fisher():
    """The mean of M batches' sample Fisher is within 4 SE of F(theta) in every entry."""
    rng = np.random.default_rng(0)
    mdp, policy = random_mdp(rng, 4, 2, 5, n_terminal=1, feature_dim=2), LogisticPolicy(2, bias=True)
    gamma, M = 0.9, 3000
    theta = 0.5 * rng.standard_normal(policy.dim)
    thetas = np.tile(theta, (M, 1))
    batch = rollout(to_dynamics(mdp), policy, thetas, [np.random.default_rng(s) for s in range(M)], 4)
    F_hat = natural.sample_fisher(policy.grad_log_prob(thetas, batch.obs, batch.act), batch.alive, gamma)
    F = fisher_matrix(mdp, policy, theta, gamma)
    assert bias_of(F_hat.reshape(M, -1), F.ravel()).max_z < 4
    assert np.all(np.linalg.eigvalsh(F_hat) > -1e-12)  # each one positive semi-definite


# --- Fisher-vector products ---------------------------------------------------------------------

@pytest.mark.parametrize("policy", LINEAR_POLICIES)
def test_fisher_operator_is_the_hessian_of_mean_kl(policy):
    """F_bar = Hessian of the mean KL at theta' = theta, by second differences of ``mean_kl``."""
    theta, obs, alive = batch_inputs(policy, np.random.default_rng(1))
    F_bar = dense(natural.fisher_operator(policy, theta, obs, alive), S, policy.dim)
    np.testing.assert_allclose(F_bar, F_bar.transpose(0, 2, 1), atol=1e-14)
    np.testing.assert_allclose(F_bar, kl_hessian_by_differences(policy, theta, obs, alive), atol=1e-6)


@pytest.mark.parametrize("policy", LINEAR_POLICIES[:3])
def test_fisher_operator_is_the_expected_outer_product_of_the_policy_score(policy):
    """For discrete policies F_bar = (1/N) sum_alive sum_a pi(a | s) psi psi^T, with psi the policy's
    own grad_log_prob: the closed forms re-derive nothing the policy does not say."""
    theta, obs, alive = batch_inputs(policy, np.random.default_rng(2))
    pi = policy.probs(theta, obs)
    expected = np.zeros((S, policy.dim, policy.dim))
    for a in range(pi.shape[-1]):
        psi = policy.grad_log_prob(theta, obs, np.full(alive.shape, a))
        expected += np.einsum("tsk,tski,tskj->sij", np.where(alive, pi[..., a], 0.0), psi, psi)
    expected /= alive.sum(axis=(0, 2))[:, None, None]
    np.testing.assert_allclose(dense(natural.fisher_operator(policy, theta, obs, alive), S, policy.dim),
                               expected, rtol=1e-12, atol=1e-15)


def test_gaussian_fisher_is_minus_the_expected_hessian_of_log_pi():
    """F_bar = E[psi psi^T] = -E[grad^2 log pi] for the Gaussian: both Monte Carlo means over actions
    (the Hessian by central differences of grad_log_prob) within 4 SE of the closed form."""
    policy, rng = GaussianLinearPolicy(2, action_dim=1, bias=True), np.random.default_rng(3)
    theta, n, h = np.array([[0.3, -0.5, 0.2, -0.4]]), 100_000, 1e-5
    obs = np.broadcast_to(np.array([0.8, -1.3]), (1, 1, n, 2))
    act = policy.sample(theta, obs, rng)
    minus_hessian = -np.stack([(policy.grad_log_prob(theta + h * e, obs, act)
                                - policy.grad_log_prob(theta - h * e, obs, act)) / (2 * h)
                               for e in np.eye(4)], axis=-1).reshape(n, 4, 4)
    psi = policy.grad_log_prob(theta, obs, act).reshape(n, 4)
    F_bar = dense(natural.fisher_operator(policy, theta, obs, np.ones((1, 1, n), bool)), 1, 4)[0]
    for samples in (minus_hessian, psi[:, :, None] * psi[:, None, :]):
        se = samples.std(axis=0) / np.sqrt(n)
        assert np.all(np.abs(samples.mean(axis=0) - F_bar) <= 4 * se + 1e-6)


def test_mlp_categorical_fisher_vector_product_matches_dense_autograd_fisher():
    pytest.importorskip("torch")
    policy = MLPCategoricalPolicy(3, 3, hidden=(5,))
    rng = np.random.default_rng(4)
    _, obs, alive = batch_inputs(policy, rng)
    theta = policy.init(S, rng=[np.random.default_rng(s) for s in range(S)]) * 20.0  # far from uniform
    pi = policy.probs(theta, obs)
    expected = np.zeros((S, policy.dim, policy.dim))
    for a in range(3):  # the autograd score of every action, weighted by its probability
        psi = policy.grad_log_prob(theta, obs, np.full(alive.shape, a))
        expected += np.einsum("tsk,tski,tskj->sij", np.where(alive, pi[..., a], 0.0), psi, psi)
    expected /= alive.sum(axis=(0, 2))[:, None, None]
    operator = natural.fisher_operator(policy, theta, obs, alive)
    np.testing.assert_allclose(dense(operator, S, policy.dim), expected, rtol=1e-10, atol=1e-13)
    v = rng.standard_normal((S, policy.dim))
    np.testing.assert_allclose(natural.fisher_vector_product(policy, theta, obs, alive, v), operator(v))


def test_mlp_gaussian_fisher_vector_product_matches_the_kl_hessian():
    pytest.importorskip("torch")
    policy = MLPGaussianPolicy(2, action_dim=2, hidden=(3,), init_log_std=-0.3)
    rng = np.random.default_rng(5)
    _, obs, alive = batch_inputs(policy, rng)
    theta = policy.init(S, rng=[np.random.default_rng(s) for s in range(S)])
    theta[:, :-2] *= 10.0
    F_bar = dense(natural.fisher_operator(policy, theta, obs, alive), S, policy.dim)
    np.testing.assert_allclose(F_bar, kl_hessian_by_differences(policy, theta, obs, alive), atol=1e-6)


# --- conjugate gradient and the step -------------------------------------------------------------

def spd_batch(rng, S, d, singular=False):
    """S symmetric positive (semi-)definite matrices with spread-out eigenvalues: [S, d, d]."""
    q, _ = np.linalg.qr(rng.standard_normal((S, d, d)))
    eig = np.exp(rng.uniform(-3, 2, (S, d)))
    if singular:
        eig[:, :2] = 0.0
    return np.einsum("sij,sj,skj->sik", q, eig, q)


@pytest.mark.parametrize("damping, singular", [(0.0, False), (0.1, False), (0.1, True)])
def test_conjugate_gradient_matches_solve_batched_and_damped(damping, singular):
    rng = np.random.default_rng(6)
    A, b = spd_batch(rng, 5, 8, singular), rng.standard_normal((5, 8))
    x = natural.conjugate_gradient(lambda v: (A @ v[..., None])[..., 0], b, iterations=50,
                                   damping=damping, tol=1e-14)
    direct = np.linalg.solve(A + damping * np.eye(8), b[..., None])[..., 0]
    np.testing.assert_allclose(x, direct, rtol=1e-9, atol=1e-12)


def test_conjugate_gradient_seed_in_a_batch_equals_the_seed_alone():
    rng = np.random.default_rng(7)
    A, b = spd_batch(rng, 4, 6), rng.standard_normal((4, 6))
    b[2] *= 1e-3  # a seed that converges at a different iteration than the others

    def matvec(M):
        return lambda v: np.einsum("sij,sj->si", M, v)

    batched = natural.conjugate_gradient(matvec(A), b, iterations=10, damping=0.1, tol=1e-6)
    for s in range(4):
        alone = natural.conjugate_gradient(matvec(A[s:s + 1]), b[s:s + 1], iterations=10, damping=0.1,
                                           tol=1e-6)
        np.testing.assert_array_equal(batched[s], alone[0])


def test_one_conjugate_gradient_step_is_exact_line_search_along_b():
    """After one iteration x = (b^T b / b^T (A + lambda I) b) b."""
    A, b = np.array([[[2.0, 1.0], [1.0, 3.0]]]), np.array([[1.0, -2.0]])
    x = natural.conjugate_gradient(lambda v: (A @ v[..., None])[..., 0], b, iterations=1, damping=0.5)
    Bb = (A[0] + 0.5 * np.eye(2)) @ b[0]
    np.testing.assert_allclose(x[0], (b[0] @ b[0]) / (b[0] @ Bb) * b[0])


def test_solve_fisher_pseudo_inverse_and_damping():
    """Tabular softmax: each state's row of F is shift-invariant, F 1_s = 0; F^+ g is the minimum-norm
    solution (orthogonal to those directions) and damping gives (F + lambda I)^-1 g."""
    rng = np.random.default_rng(8)
    mdp, policy = random_mdp(rng, 3, 3, 4), TabularSoftmaxPolicy(3, 3)
    F = fisher_matrix(mdp, policy, rng.standard_normal(9), 0.9)
    g = F @ rng.standard_normal(9)  # in the range of F
    x = natural.solve_fisher(F, g)
    np.testing.assert_allclose(F @ x, g, atol=1e-13)
    np.testing.assert_allclose(x.reshape(3, 3).sum(axis=1), 0.0, atol=1e-12)  # no shift component
    np.testing.assert_allclose(natural.solve_fisher(F, g, 0.1), np.linalg.solve(F + 0.1 * np.eye(9), g))
    np.testing.assert_allclose(natural.solve_fisher(np.stack([F, 2 * F]), np.stack([g, g]))[1], x / 2)


@pytest.mark.parametrize("policy", [LINEAR_POLICIES[1], LINEAR_POLICIES[3]])
def test_natural_step_moves_the_policy_by_the_target_kl(policy):
    theta, obs, alive = batch_inputs(policy, np.random.default_rng(9))
    F_bar = dense(natural.fisher_operator(policy, theta, obs, alive), S, policy.dim)
    g = np.einsum("sij,sj->si", F_bar, np.random.default_rng(10).standard_normal(theta.shape))
    x = natural.solve_fisher(F_bar, g)
    for delta in (1e-4, 1e-6):
        beta = natural.natural_step_size(g, x, delta)
        kl = natural.mean_kl(policy, theta, theta + beta[:, None] * x, obs, alive)
        np.testing.assert_allclose(kl, delta, rtol=30 * np.sqrt(delta))  # second order in the step
    assert natural.natural_step_size(np.zeros((1, 3)), np.zeros((1, 3)), 0.01)[0] == 0.0


# --- the KL -----------------------------------------------------------------------------------------

def test_categorical_kl_against_monte_carlo():
    rng = np.random.default_rng(11)
    p_old, p = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
    kl = natural.categorical_kl(np.log(p_old), np.log(p))
    a = rng.choice(4, size=400_000, p=p_old)
    samples = np.log(p_old[a]) - np.log(p[a])
    assert abs(kl - samples.mean()) < 4 * samples.std() / np.sqrt(a.size)
    assert natural.categorical_kl(np.log(p), np.log(p)) == pytest.approx(0.0, abs=1e-15)
    with np.errstate(divide="ignore"):  # log 0 = -inf: an action the old policy never takes
        logp_old = np.log([0.5, 0.5, 0.0])
    assert natural.categorical_kl(logp_old, np.log([0.25, 0.25, 0.5])) == pytest.approx(np.log(2))


def test_gaussian_kl_against_numeric_integration():
    from scipy import integrate, stats

    mu_old, log_std_old = np.array([0.3, -1.0]), np.array([-0.2, 0.4])
    mu, log_std = np.array([-0.5, 0.2]), np.array([0.1, -0.3])
    quad = 0.0
    for j in range(2):  # a diagonal Gaussian's KL is the sum over its coordinates
        p_old = stats.norm(mu_old[j], np.exp(log_std_old[j]))
        p = stats.norm(mu[j], np.exp(log_std[j]))
        quad += integrate.quad(lambda a, p_old=p_old, p=p: p_old.pdf(a) * (p_old.logpdf(a) - p.logpdf(a)),
                               -30, 30, epsabs=1e-13)[0]
    assert natural.gaussian_kl(mu_old, log_std_old, mu, log_std) == pytest.approx(quad, rel=1e-9)
    assert natural.gaussian_kl(mu, log_std, mu, log_std) == 0.0


@pytest.mark.parametrize("policy", LINEAR_POLICIES)
def test_mean_kl_is_zero_at_theta_old_and_ignores_dead_steps(policy):
    theta, obs, alive = batch_inputs(policy, np.random.default_rng(12))
    other = theta + 0.3 * np.random.default_rng(13).standard_normal(theta.shape)
    np.testing.assert_allclose(natural.mean_kl(policy, theta, theta, obs, alive), 0.0, atol=1e-15)
    kl = natural.mean_kl(policy, theta, other, obs, alive)
    assert kl.shape == (S,) and np.all(kl > 0)
    moved = np.where(alive[..., None], obs, np.roll(obs, 1, axis=2))  # change only the dead steps
    np.testing.assert_array_equal(natural.mean_kl(policy, theta, other, moved, alive), kl)
    per_state = natural.policy_kl(policy, theta, other, obs)
    np.testing.assert_allclose(kl, np.where(alive, per_state, 0).sum(axis=(0, 2)) / alive.sum(axis=(0, 2)))


# --- bad inputs ---------------------------------------------------------------------------------

def bad_calls():
    score, alive = np.zeros((3, 2, 4, 5)), np.ones((3, 2, 4), bool)
    policy = LogisticPolicy(2)
    theta, obs = np.zeros((2, 2)), np.zeros((3, 2, 4, 2))
    yield lambda: natural.sample_fisher(score[0], alive)                       # score not [T, S, K, d]
    yield lambda: natural.sample_fisher(score, alive[:, :1])                   # alive mismatch
    yield lambda: natural.sample_fisher(score, alive, gamma=1.5)
    yield lambda: natural.sample_fisher(score, np.zeros_like(alive), per_step=True)  # no alive step
    yield lambda: natural.solve_fisher(np.eye(3), np.ones(4))
    yield lambda: natural.solve_fisher(np.eye(3), np.ones(3), damping=-1.0)
    yield lambda: natural.conjugate_gradient(lambda v: v, np.ones(3))          # b not [S, d]
    yield lambda: natural.conjugate_gradient(lambda v: v, np.ones((1, 3)), iterations=0)
    yield lambda: natural.conjugate_gradient(lambda v: v, np.ones((1, 3)), tol=-1.0)
    yield lambda: natural.natural_step_size(np.ones((2, 3)), np.ones((2, 2)), 0.01)
    yield lambda: natural.natural_step_size(np.ones((2, 3)), np.ones((2, 3)), 0.0)
    yield lambda: natural.natural_step_size(np.ones((1, 2)), -np.ones((1, 2)), 0.01)  # not PSD
    yield lambda: natural.categorical_kl(np.zeros(3), np.zeros(2))
    yield lambda: natural.gaussian_kl(np.zeros(2), 0.0, np.zeros(3), 0.0)
    yield lambda: natural.policy_kl(policy, theta, theta[:1], obs)
    yield lambda: natural.mean_kl(policy, theta, theta, obs, alive[:2])
    yield lambda: natural.fisher_operator(policy, theta[0], obs, alive)         # theta without seed axis
    yield lambda: natural.fisher_operator(object(), theta, obs, alive)          # not a policy pgrad knows
    yield lambda: natural.fisher_vector_product(policy, theta, obs, alive, np.ones(2))  # v without seed axis
    yield lambda: natural.policy_kl(object(), theta, theta, obs)


@pytest.mark.parametrize("call", list(bad_calls()))
def test_bad_input_gets_a_one_line_error(call):
    with pytest.raises(ValueError) as info:
        call()
    assert "\n" not in str(info.value)
