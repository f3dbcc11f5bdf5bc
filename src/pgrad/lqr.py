"""The linear-quadratic regulator: exact J(theta), grad J and Q_t for linear policies, to verify estimators.

Finite horizon H, state x in R^n, action u in R^m (docs/theorem.md, section 12):

    x_0 ~ N(mean0, cov0),   x_{t+1} = A x_t + B u_t + w_t,   w_t ~ N(0, W = noise_cov),
    r_t = -(x_t^T Q x_t + u_t^T R u_t),   J(theta) = E[ sum_{t<H} gamma^t r_t ],

under an affine policy u_t = K x_t + k + sigma * eps_t, eps_t ~ N(0, I_m): ``GaussianLinearPolicy``
(sigma = exp(log_std)) or ``DeterministicLinearPolicy`` (sigma = 0); k is the bias (0 without).
Every x_t is Gaussian, with moments given forward by (M = A + B K, S = diag(sigma^2))

    m_{t+1} = M m_t + B k,   Sigma_{t+1} = M Sigma_t M^T + B S B^T + W,   m_0 = mean0, Sigma_0 = cov0,

so E[r_t] = -(tr(Q_K Sigma_t) + m_t^T Q_K m_t + 2 k^T R K m_t + k^T R k + tr(R S)), Q_K = Q + K^T R K.
The value is quadratic, V_t(x) = -(x^T P_t x + 2 p_t^T x + c_t), backward from P_H = 0, p_H = 0, c_H = 0:

    P_t = Q_K + gamma M^T P_{t+1} M,       p_t = K^T R k + gamma M^T (P_{t+1} B k + p_{t+1}),
    c_t = k^T R k + tr(R S)
          + gamma [k^T B^T P_{t+1} B k + 2 p_{t+1}^T B k + tr(P_{t+1} (B S B^T + W)) + c_{t+1}],

and so is the action value, with y = A x + B a:

    Q_t(x, a) = -(x^T Q x + a^T R a) - gamma [y^T P_{t+1} y + 2 p_{t+1}^T y + tr(P_{t+1} W) + c_{t+1}],
    grad_a Q_t(x, a) = -2 (G_t a + H_t x + h_t),   G_t = R + gamma B^T P_{t+1} B,
                       H_t = gamma B^T P_{t+1} A,  h_t = gamma B^T p_{t+1}.

The gradient is sum_t gamma^t E[grad_theta u_t grad_a Q_t(x_t, u_t)] (reparameterisation) in closed
form, with E[x_t x_t^T] = Sigma_t + m_t m_t^T and E[eps] = 0, E[eps eps^T] = I:

    dJ/dK = -2 sum_t gamma^t [(G_t K + H_t)(Sigma_t + m_t m_t^T) + (G_t k + h_t) m_t^T],
    dJ/dk = -2 sum_t gamma^t [(G_t K + H_t) m_t + G_t k + h_t],
    dJ/d log sigma_j = -2 sum_t gamma^t (G_t)_jj sigma_j^2.

SAC's entropy-regularised objective (Haarnoja et al., 2018) at temperature alpha >= 0 adds the
policy's entropy at every step. The Gaussian-linear policy's entropy, H(sigma) = sum_j log sigma_j +
(m / 2)(1 + log 2 pi), is the same in every state and every episode lasts H steps, so

    J_alpha = E[ sum_{t<H} gamma^t (r_t - alpha log pi(u_t | x_t)) ] = J + alpha c_H H(sigma),
    c_H = sum_{t<H} gamma^t,   grad J_alpha = grad J + alpha c_H (0 on W, 1 on each log sigma_j),

and the soft action value Q^soft_t(x, a) is Q_t(x, a) plus a constant of t, so grad_a Q^soft_t = grad_a Q_t.

:func:`pgrad.lqr_dynamics.lqr_dynamics` turns the LQR into a :class:`pgrad.envs.Dynamics`, so the
Monte Carlo estimators run on it through the same rollout as cart-pole and the finite MDPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from pgrad.policies import DeterministicLinearPolicy, GaussianLinearPolicy

LinearPolicy = GaussianLinearPolicy | DeterministicLinearPolicy
"""The policies with exact LQR results: u = K x + k + sigma eps, sigma = 0 for the deterministic one."""

SYM_TOL = 1e-10
"""Q, R, cov0 and noise_cov must be symmetric, and their eigenvalues >= 0, to this relative tolerance."""


def _frozen(x: ArrayLike) -> np.ndarray:
    a = np.array(x, dtype=np.float64)  # a private copy, then read-only
    a.flags.writeable = False
    return a


def _check_psd(M: np.ndarray, name: str) -> None:
    scale = 1.0 + float(np.max(np.abs(M)))
    if float(np.max(np.abs(M - M.T))) > SYM_TOL * scale:
        raise ValueError(f"{name} must be symmetric")
    if float(np.linalg.eigvalsh(M).min()) < -SYM_TOL * scale:
        raise ValueError(f"{name} must be positive semi-definite")


@dataclass(frozen=True, eq=False)
class LQR:
    """A finite-horizon LQR, validated on construction (one-line ValueError on bad input).

    A: [n, n];  B: [n, m];  Q: [n, n] and R: [m, m] symmetric positive semi-definite cost
    matrices;  mean0: [n] and cov0: [n, n] (symmetric PSD) of x_0;  noise_cov: [n, n]
    (symmetric PSD) of w_t;  horizon: H >= 1, the number of actions per episode. All finite.
    """

    A: np.ndarray
    B: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    mean0: np.ndarray
    cov0: np.ndarray
    noise_cov: np.ndarray
    horizon: int

    def __post_init__(self) -> None:
        A, B = _frozen(self.A), _frozen(self.B)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] < 1:
            raise ValueError(f"A must be [n, n] with n >= 1, got shape {A.shape}")
        n = A.shape[0]
        if B.ndim != 2 or B.shape[0] != n or B.shape[1] < 1:
            raise ValueError(f"B must be [{n}, m] with m >= 1, got shape {B.shape}")
        m = B.shape[1]
        arrays = {"A": A, "B": B}
        for name, shape in (("Q", (n, n)), ("R", (m, m)), ("mean0", (n,)), ("cov0", (n, n)),
                            ("noise_cov", (n, n))):
            arrays[name] = _frozen(getattr(self, name))
            if arrays[name].shape != shape:
                raise ValueError(f"{name} must have shape {list(shape)}, got {arrays[name].shape}")
        for name, a in arrays.items():
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} must be finite")
        for name in ("Q", "R", "cov0", "noise_cov"):
            _check_psd(arrays[name], name)
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int | np.integer) \
                or self.horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {self.horizon!r}")
        for name, a in arrays.items():
            object.__setattr__(self, name, a)
        object.__setattr__(self, "horizon", int(self.horizon))

    @property
    def state_dim(self) -> int:
        """n."""
        return self.A.shape[0]

    @property
    def action_dim(self) -> int:
        """m."""
        return self.B.shape[1]


def random_lqr(rng: np.random.Generator, state_dim: int, action_dim: int, horizon: int) -> LQR:
    """A random LQR: A = I + N(0, 0.3^2 / n) entries, B ~ N(0, 1 / n), Q, R, cov0 and noise_cov
    of the form G G^T / dim + 0.1 I with G standard normal (positive definite), mean0 ~ N(0, I)."""
    n, m = state_dim, action_dim

    def spd(k: int) -> np.ndarray:
        G = rng.standard_normal((k, k))
        return G @ G.T / k + 0.1 * np.eye(k)

    A = np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    B = rng.standard_normal((n, m)) / np.sqrt(n)
    return LQR(A, B, spd(n), spd(m), rng.standard_normal(n), spd(n), spd(n), horizon)


def _check_gamma(gamma: float) -> None:
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")


def policy_matrices(lqr: LQR, policy: LinearPolicy,
                    theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K [m, n], k [m], sigma [m]) of u = K x + k + sigma eps from theta [d]: theta's W (row-major
    [F, m], the policy's layout) is (K^T; k); sigma = exp(log_std), or 0 for the deterministic policy."""
    n, m = lqr.state_dim, lqr.action_dim
    if not isinstance(policy, GaussianLinearPolicy | DeterministicLinearPolicy):
        raise ValueError(f"the LQR needs a GaussianLinearPolicy or DeterministicLinearPolicy, got "
                         f"{type(policy).__name__}")
    if policy.obs_dim != n or policy.action_dim != m:
        raise ValueError(f"the policy maps {policy.obs_dim} to {policy.action_dim} dims but the LQR has "
                         f"n = {n}, m = {m}")
    if theta.shape != (policy.dim,):
        raise ValueError(f"theta must have shape [{policy.dim}], got {theta.shape}")
    F = policy.num_features
    W = theta[: F * m].reshape(F, m)
    k = W[n] if policy.bias else np.zeros(m)
    sigma = np.exp(theta[F * m:]) if isinstance(policy, GaussianLinearPolicy) else np.zeros(m)
    return W[:n].T, k, sigma


def state_moments(lqr: LQR, policy: LinearPolicy, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The law of x_t, N(m_t, Sigma_t), for t < H: m [H, n] and Sigma [H, n, n], forward from
    (mean0, cov0) by m_{t+1} = M m_t + B k, Sigma_{t+1} = M Sigma_t M^T + B S B^T + W."""
    K, k, sigma = policy_matrices(lqr, policy, theta)
    M, Bk = lqr.A + lqr.B @ K, lqr.B @ k
    added = lqr.B @ np.diag(sigma**2) @ lqr.B.T + lqr.noise_cov
    m, Sigma = np.empty((lqr.horizon, lqr.state_dim)), np.empty((lqr.horizon, lqr.state_dim, lqr.state_dim))
    m[0], Sigma[0] = lqr.mean0, lqr.cov0
    for t in range(lqr.horizon - 1):
        m[t + 1] = M @ m[t] + Bk
        Sigma[t + 1] = M @ Sigma[t] @ M.T + added
    return m, Sigma


@dataclass(frozen=True, eq=False)
class QuadraticValues:
    """V_t(x) = -(x^T P_t x + 2 p_t^T x + c_t) of one policy at one gamma, t = 0 .. H:
    P [H + 1, n, n], p [H + 1, n], c [H + 1] (index H is the zero after the last step)."""

    P: np.ndarray
    p: np.ndarray
    c: np.ndarray
    gamma: float


def lqr_values(lqr: LQR, policy: LinearPolicy, theta: np.ndarray, gamma: float) -> QuadraticValues:
    """The backward recursion of the module docstring for P_t, p_t, c_t, from P_H = 0, p_H = 0, c_H = 0."""
    _check_gamma(gamma)
    K, k, sigma = policy_matrices(lqr, policy, theta)
    A, B, R, H, n = lqr.A, lqr.B, lqr.R, lqr.horizon, lqr.state_dim
    M, Bk, S = A + B @ K, B @ k, np.diag(sigma**2)
    P, p, c = np.zeros((H + 1, n, n)), np.zeros((H + 1, n)), np.zeros(H + 1)
    for t in range(H - 1, -1, -1):
        P[t] = lqr.Q + K.T @ R @ K + gamma * M.T @ P[t + 1] @ M
        P[t] = 0.5 * (P[t] + P[t].T)  # symmetric to the last bit
        p[t] = K.T @ R @ k + gamma * M.T @ (P[t + 1] @ Bk + p[t + 1])
        future = Bk @ P[t + 1] @ Bk + 2 * p[t + 1] @ Bk + np.trace(P[t + 1] @ (B @ S @ B.T + lqr.noise_cov))
        c[t] = k @ R @ k + np.trace(R @ S) + gamma * (future + c[t + 1])
    return QuadraticValues(P, p, c, gamma)


def _check_time_first(lqr: LQR, x_t: np.ndarray, a_t: np.ndarray) -> None:
    n, m = lqr.state_dim, lqr.action_dim
    if x_t.ndim < 2 or x_t.shape[-1] != n or not 1 <= x_t.shape[0] <= lqr.horizon:
        raise ValueError(f"x_t must be [T, ..., {n}] with 1 <= T <= H = {lqr.horizon}, got {x_t.shape}")
    if a_t.shape != x_t.shape[:-1] + (m,):
        raise ValueError(f"a_t must be {list(x_t.shape[:-1] + (m,))} to match x_t, got {a_t.shape}")


def _per_step(a: np.ndarray, T: int, batch_ndim: int) -> np.ndarray:
    """a[1 : T + 1] ([T, *shape]) reshaped to broadcast over [T, *batch, *shape]: the t + 1 terms."""
    return a[1:T + 1].reshape(T, *(1,) * batch_ndim, *a.shape[1:])


def lqr_action_value(lqr: LQR, values: QuadraticValues, x_t: np.ndarray, a_t: np.ndarray) -> np.ndarray:
    """Q_t(x, a) = -(x^T Q x + a^T R a) - gamma [y^T P_{t+1} y + 2 p_{t+1}^T y + tr(P_{t+1} W) + c_{t+1}],
    y = A x + B a, for step t = 0 .. T-1 of the time-first x_t [T, ..., n], a_t [T, ..., m]: [T, ...]."""
    _check_time_first(lqr, x_t, a_t)
    T, b = x_t.shape[0], x_t.ndim - 2
    y = x_t @ lqr.A.T + a_t @ lqr.B.T
    P, p = _per_step(values.P, T, b), _per_step(values.p, T, b)
    rest = np.einsum("tij,ji->t", values.P[1:T + 1], lqr.noise_cov) + values.c[1:T + 1]
    future = np.einsum("...i,...ij,...j->...", y, P, y) + 2 * (p * y).sum(-1) + rest.reshape(T, *(1,) * b)
    cost = np.einsum("...i,ij,...j->...", x_t, lqr.Q, x_t) + np.einsum("...i,ij,...j->...", a_t, lqr.R, a_t)
    return -cost - values.gamma * future


def lqr_action_value_grad(lqr: LQR, values: QuadraticValues, x_t: np.ndarray, a_t: np.ndarray) -> np.ndarray:
    """grad_a Q_t(x, a) = -2 [R a + gamma B^T (P_{t+1} (A x + B a) + p_{t+1})] for step t = 0 .. T-1
    of the time-first x_t [T, ..., n], a_t [T, ..., m]: [T, ..., m]. It is also the exact soft critic's
    action gradient: with SAC's entropy term Q^soft_t = Q_t + a constant of t (module docstring)."""
    _check_time_first(lqr, x_t, a_t)
    T, b = x_t.shape[0], x_t.ndim - 2
    y = x_t @ lqr.A.T + a_t @ lqr.B.T
    Py = np.einsum("...ij,...j->...i", _per_step(values.P, T, b), y) + _per_step(values.p, T, b)
    return -2.0 * (a_t @ lqr.R + values.gamma * Py @ lqr.B)  # R symmetric: R a = a @ R


def _objective(lqr: LQR, policy: LinearPolicy, theta: np.ndarray, gamma: float) -> float:
    _check_gamma(gamma)
    K, k, sigma = policy_matrices(lqr, policy, theta)
    m, Sigma = state_moments(lqr, policy, theta)
    Q_K, R = lqr.Q + K.T @ lqr.R @ K, lqr.R
    cost = (np.einsum("ij,tji->t", Q_K, Sigma) + np.einsum("ti,ij,tj->t", m, Q_K, m)
            + 2 * m @ (K.T @ R @ k) + k @ R @ k + np.sum(np.diag(R) * sigma**2))
    return float(-(gamma ** np.arange(lqr.horizon)) @ cost)


def _gradient(lqr: LQR, policy: LinearPolicy, theta: np.ndarray, gamma: float,
              discounted: bool = True) -> np.ndarray:
    K, k, sigma = policy_matrices(lqr, policy, theta)
    m, Sigma = state_moments(lqr, policy, theta)
    values = lqr_values(lqr, policy, theta, gamma)
    A, B = lqr.A, lqr.B
    discount = gamma ** np.arange(lqr.horizon) if discounted else np.ones(lqr.horizon)
    P_next, p_next = values.P[1:], values.p[1:]  # P_{t+1}, p_{t+1} for t < H
    G = lqr.R + gamma * np.einsum("ia,tij,jb->tab", B, P_next, B)  # [H, m, m]
    Hx = gamma * np.einsum("ia,tij,jb->tab", B, P_next, A)  # [H, m, n]
    h = gamma * p_next @ B  # [H, m]
    GKH, Gkh = G @ K + Hx, G @ k + h  # [H, m, n], [H, m]
    second = Sigma + m[:, :, None] * m[:, None, :]  # E[x_t x_t^T]
    dK = -2 * (np.einsum("t,tan,tnj->aj", discount, GKH, second) + np.einsum("t,ta,tj->aj", discount, Gkh, m))
    dk = -2 * np.einsum("t,ta->a", discount, np.einsum("tan,tn->ta", GKH, m) + Gkh)
    dW = np.concatenate([dK.T, dk[None]]) if policy.bias else dK.T
    parts = [dW.reshape(-1)]
    if isinstance(policy, GaussianLinearPolicy):
        parts.append(-2 * np.einsum("t,tjj->j", discount, G) * sigma**2)
    return np.concatenate(parts)


def lqr_objective(lqr: LQR, policy: LinearPolicy, theta: np.ndarray, gamma: float) -> np.ndarray:
    """J(theta) = -sum_{t<H} gamma^t [tr(Q_K Sigma_t) + m_t^T Q_K m_t + 2 k^T R K m_t + k^T R k + tr(R S)],
    from the forward moments: [] for theta [d], [S] for theta [S, d]."""
    if theta.ndim == 2:
        return np.array([_objective(lqr, policy, row, gamma) for row in theta])
    return np.array(_objective(lqr, policy, theta, gamma))


def lqr_gradient(lqr: LQR, policy: LinearPolicy, theta: np.ndarray, gamma: float) -> np.ndarray:
    """grad J(theta) in theta's layout (dJ/dW = (dJ/dK^T; dJ/dk) row-major, then dJ/d log_std for the
    Gaussian), from the closed form of the module docstring: [d] for theta [d], [S, d] for [S, d]."""
    if theta.ndim == 2:
        return np.stack([_gradient(lqr, policy, row, gamma) for row in theta])
    return _gradient(lqr, policy, theta, gamma)


def lqr_from_t_mean(lqr: LQR, policy: LinearPolicy, theta: np.ndarray, gamma: float) -> np.ndarray:
    """What ``reward_to_go_from_t`` converges to on the LQR: ``lqr_gradient`` without the factor
    gamma^t of each step, sum_t E[grad_theta u_t grad_a Q_t(x_t, u_t)] (= grad J at gamma = 1):
    [d] for theta [d], [S, d] for [S, d]."""
    if theta.ndim == 2:
        return np.stack([_gradient(lqr, policy, row, gamma, discounted=False) for row in theta])
    return _gradient(lqr, policy, theta, gamma, discounted=False)


def _gaussian(policy: LinearPolicy, alpha: float) -> GaussianLinearPolicy:
    """The policy of a soft objective, which must have an entropy; alpha must be finite and >= 0."""
    if not isinstance(policy, GaussianLinearPolicy):
        raise ValueError(f"the soft objective needs a GaussianLinearPolicy (a deterministic policy has no "
                         f"entropy), got {type(policy).__name__}")
    if not (np.isfinite(alpha) and alpha >= 0.0):
        raise ValueError(f"alpha must be finite and >= 0, got {alpha}")
    return policy


def _discount_sum(lqr: LQR, gamma: float) -> float:
    """c_H = sum_{t<H} gamma^t."""
    return float(np.sum(gamma ** np.arange(lqr.horizon, dtype=np.float64)))


def lqr_soft_objective(lqr: LQR, policy: LinearPolicy, theta: np.ndarray, gamma: float,
                       alpha: float) -> np.ndarray:
    """SAC's J_alpha(theta) = J(theta) + alpha c_H H(sigma), c_H = sum_{t<H} gamma^t, for the
    Gaussian-linear policy (H from ``policy.entropy``, the same in every state, read at mean0):
    [] for theta [d], [S] for theta [S, d]."""
    gaussian = _gaussian(policy, alpha)
    J = lqr_objective(lqr, gaussian, theta, gamma)  # checks gamma, the policy's dims and theta
    entropy = np.array([gaussian.entropy(row, lqr.mean0) for row in np.atleast_2d(theta)])
    return J + alpha * _discount_sum(lqr, gamma) * entropy.reshape(J.shape)


def lqr_soft_gradient(lqr: LQR, policy: LinearPolicy, theta: np.ndarray, gamma: float,
                      alpha: float) -> np.ndarray:
    """grad J_alpha(theta) = grad J(theta) + alpha c_H grad H, grad H = (0 on W, 1 on each log_std)
    (``policy.grad_entropy``), in theta's layout: [d] for theta [d], [S, d] for theta [S, d]."""
    gaussian = _gaussian(policy, alpha)
    grad = lqr_gradient(lqr, gaussian, theta, gamma)  # checks gamma, the policy's dims and theta
    grad_entropy = np.stack([gaussian.grad_entropy(row, lqr.mean0) for row in np.atleast_2d(theta)])
    return grad + alpha * _discount_sum(lqr, gamma) * grad_entropy.reshape(grad.shape)
