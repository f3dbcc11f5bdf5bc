"""The natural policy gradient: Fisher matrices, Fisher-vector products, conjugate gradient, KL.

Pure functions of a batch. Shapes are time first: scores ``score: [T, S, K, d]``, observations
``obs: [T, S, K, obs_dim]``, alive mask ``alive: [T, S, K]``; parameters ``theta: [S, d]``;
results per seed, ``[S, d]`` or ``[S, d, d]``. With psi(s, a) = grad_theta log pi(a | s):

    F(theta)       = E[sum_t gamma^t psi psi^T]        the Fisher matrix, weighted like grad J
    F^-1 grad J                                        the natural gradient (Kakade, 2001)
    KL(pi_old || pi_theta) ~ 1/2 (theta - theta_old)^T F_bar (theta - theta_old),
    F_bar          = E_{s ~ batch}[E_{a ~ pi}[psi psi^T]] the Hessian of the mean KL at theta_old.

The NPG/TRPO step theta + beta F_bar^-1 g with beta = sqrt(2 delta / g^T F_bar^-1 g) moves the
policy by a mean KL of about delta (Schulman et al., 2015). See docs/theorem.md, section 11.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from pgrad.policies import (
    DiscretePolicy,
    GaussianLinearPolicy,
    LogisticPolicy,
    MLPCategoricalPolicy,
    MLPGaussianPolicy,
    Policy,
    SoftmaxLinearPolicy,
    TabularSoftmaxPolicy,
)

if TYPE_CHECKING:
    from torch import Tensor

PINV_RTOL = 1e-12
"""In a pseudo-inverse of F, eigenvalues below PINV_RTOL x the largest count as 0."""

Operator = Callable[[np.ndarray], np.ndarray]
"""v [S, d] -> A v [S, d], one symmetric positive semi-definite matrix per seed."""


def _check_score_alive(score: np.ndarray, alive: np.ndarray) -> None:
    if score.ndim != 4 or score.shape[:3] != alive.shape:
        raise ValueError(f"score must be [T, S, K, d] and alive [T, S, K], got {score.shape} and "
                         f"{alive.shape}")


def _alive_steps(alive: np.ndarray) -> np.ndarray:
    """N_s, the number of alive steps of each seed: [S] (a one-line ValueError if some N_s = 0)."""
    if alive.ndim != 3:
        raise ValueError(f"alive must be [T, S, K], got shape {alive.shape}")
    count = alive.sum(axis=(0, 2)).astype(np.float64)
    if np.any(count == 0):
        raise ValueError("every seed needs at least one alive step")
    return count


def sample_fisher(score: np.ndarray, alive: np.ndarray, gamma: float = 1.0,
                  per_step: bool = False) -> np.ndarray:
    """F_hat = (1/K) sum_k sum_t gamma^t psi^k_t psi^k_t^T over alive steps, per seed: [S, d, d].

    E[F_hat] = F(theta) = sum_t gamma^t sum_s d_t(s) sum_a pi(a | s) psi psi^T
    (``pgrad.exact.fisher_matrix``). With ``per_step`` the sum is divided by the N_s alive steps
    instead of K: F_bar_hat = (1/N) sum_{k,t} gamma^t psi psi^T, at gamma = 1 the sampled-action
    estimate of the Hessian of ``mean_kl``, the metric the KL step size needs.
    score: [T, S, K, d]; alive: [T, S, K]. Time is summed first, in order, so trailing padding
    (alive = False) never changes the result.
    """
    _check_score_alive(score, alive)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    discount = gamma ** np.arange(score.shape[0], dtype=np.float64)
    weighted = np.where(alive, discount[:, None, None], 0.0)[..., None] * score
    total = np.stack([(weighted * score[..., i, None]).sum(axis=0).sum(axis=1)  # time first, in order:
                      for i in range(score.shape[-1])], axis=1)                 # padding changes no bit
    scale = _alive_steps(alive) if per_step else np.full(score.shape[1], float(score.shape[2]))
    return total / scale[:, None, None]


def solve_fisher(fisher: np.ndarray, g: np.ndarray, damping: float = 0.0) -> np.ndarray:
    """x = (F + damping I)^-1 g, or x = F^+ g (the pseudo-inverse) at damping 0, where F may be
    singular (the tabular and linear softmax, whose logits are shift-invariant over actions).

    F^+ drops eigenvalues below ``PINV_RTOL`` lambda_max; x is then the minimum-norm least-squares
    solution of F x = g. fisher: [..., d, d]; g: [..., d] -> [..., d].
    """
    if fisher.ndim < 2 or fisher.shape[-2:] != (g.shape[-1],) * 2 or fisher.shape[:-2] != g.shape[:-1]:
        raise ValueError(f"fisher must be [..., d, d] and g [..., d], got {fisher.shape} and {g.shape}")
    if not damping >= 0.0:
        raise ValueError(f"damping must be non-negative, got {damping}")
    if damping > 0.0:
        damped = fisher + damping * np.eye(g.shape[-1])
        return np.linalg.solve(damped, g[..., None])[..., 0]
    return (np.linalg.pinv(fisher, hermitian=True, rtol=PINV_RTOL) @ g[..., None])[..., 0]


def conjugate_gradient(matvec: Operator, b: np.ndarray, iterations: int = 10, damping: float = 0.0,
                       tol: float = 1e-10) -> np.ndarray:
    """x ~ (A + damping I)^-1 b by conjugate gradient, batched over seeds: b [S, d] -> x [S, d].

    From x_0 = 0, r_0 = p_0 = b, with B = A + damping I (Hestenes and Stiefel, 1952):

        alpha_i = r_i^T r_i / p_i^T B p_i,   x_{i+1} = x_i + alpha_i p_i,   r_{i+1} = r_i - alpha_i B p_i,
        beta_i  = r_{i+1}^T r_{i+1} / r_i^T r_i,   p_{i+1} = r_{i+1} + beta_i p_i,

    for at most ``iterations`` steps; a seed stops (alpha = 0 from then on) once
    ||r_i|| <= tol ||b||, so each seed's x does not depend on the others in the batch.
    matvec: v [S, d] -> A v [S, d], A symmetric positive semi-definite per seed.
    """
    if b.ndim != 2:
        raise ValueError(f"b must be [S, d], got shape {b.shape}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if not damping >= 0.0 or not tol >= 0.0:
        raise ValueError(f"damping and tol must be non-negative, got {damping} and {tol}")
    x = np.zeros_like(b, dtype=np.float64)
    r = np.array(b, dtype=np.float64)
    p = r.copy()
    rr = (r * r).sum(axis=1)
    stop = tol**2 * rr
    for _ in range(iterations):
        active = rr > stop
        if not active.any():
            break
        Bp = matvec(p) + damping * p
        pBp = (p * Bp).sum(axis=1)
        alpha = np.where(active, rr / np.where(active & (pBp > 0), pBp, 1.0), 0.0)[:, None]
        x = x + alpha * p
        r = r - alpha * Bp
        rr_next = (r * r).sum(axis=1)
        beta = np.where(active, rr_next / np.where(active, rr, 1.0), 0.0)[:, None]
        p = r + beta * p
        rr = rr_next
    return x


def natural_step_size(g: np.ndarray, x: np.ndarray, max_kl: float) -> np.ndarray:
    """beta = sqrt(2 delta / g^T x) with x = F_bar^-1 g, per seed: [S] from g, x [S, d].

    The step theta + beta x has 1/2 beta^2 x^T F_bar x = 1/2 beta^2 g^T x = delta: its mean KL is
    delta to second order. beta = 0 where g^T x = 0 (a zero gradient).
    """
    if g.ndim != 2 or x.shape != g.shape:
        raise ValueError(f"g and x must both be [S, d], got {g.shape} and {x.shape}")
    if not max_kl > 0:
        raise ValueError(f"max_kl must be positive, got {max_kl}")
    gx = (g * x).sum(axis=1)
    if np.any(gx < 0):
        raise ValueError("g^T F^-1 g must be non-negative: is the Fisher operator positive semi-definite?")
    return np.sqrt(np.divide(2.0 * max_kl, gx, out=np.zeros_like(gx), where=gx > 0))


# ---------------------------------------------------------------------------------------------
# KL divergence between the old and the new policy, per state and averaged over a batch.
# ---------------------------------------------------------------------------------------------

def categorical_kl(logp_old: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """KL(p_old || p) = sum_a p_old(a) (log p_old(a) - log p(a)) (0 log 0 = 0): [..., A] -> [...]."""
    if logp_old.shape != logp.shape:
        raise ValueError(f"log-probabilities must have the same shape, got {logp_old.shape} and {logp.shape}")
    p_old = np.exp(logp_old)
    return (p_old * np.where(p_old > 0, logp_old - logp, 0.0)).sum(axis=-1)


def gaussian_kl(mu_old: np.ndarray, log_std_old: np.ndarray, mu: np.ndarray,
                log_std: np.ndarray) -> np.ndarray:
    """KL(N(mu_old, sigma_old^2) || N(mu, sigma^2)) for diagonal Gaussians, summed over the action:

        sum_j [log sigma_j - log sigma_old_j + (sigma_old_j^2 + (mu_old_j - mu_j)^2) / (2 sigma_j^2) - 1/2].

    mu_old, mu: [..., m]; log_std_old, log_std broadcastable to them -> [...].
    """
    if mu_old.shape != mu.shape:
        raise ValueError(f"means must have the same shape, got {mu_old.shape} and {mu.shape}")
    ratio = np.exp(2.0 * (log_std_old - log_std))
    gap = np.square((mu_old - mu) * np.exp(-log_std))
    return (log_std - log_std_old + 0.5 * (ratio + gap) - 0.5).sum(axis=-1)


def action_log_probs(policy: DiscretePolicy, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """log pi(a | s) for every action a, from the policy's own ``log_prob``: [..., A]."""
    shape = policy.probs(theta, obs).shape
    return np.stack([policy.log_prob(theta, obs, np.full(shape[:-1], a, policy.action_dtype))
                     for a in range(shape[-1])], axis=-1)


def policy_kl(policy: Policy, theta_old: np.ndarray, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """KL(pi_old(. | s) || pi_theta(. | s)) in every state: [...] from obs [..., obs_dim]
    (``categorical_kl`` for discrete policies, ``gaussian_kl`` for Gaussian ones)."""
    if theta_old.shape != theta.shape:
        raise ValueError(f"theta_old and theta must have the same shape, got {theta_old.shape} and "
                         f"{theta.shape}")
    if isinstance(policy, GaussianLinearPolicy | MLPGaussianPolicy):
        return gaussian_kl(policy.mean(theta_old, obs), policy.log_std(theta_old), policy.mean(theta, obs),
                           policy.log_std(theta))
    if not hasattr(policy, "probs"):
        raise ValueError(f"no KL for {type(policy).__name__}: need a discrete or Gaussian policy")
    discrete: DiscretePolicy = policy  # type: ignore[assignment]  # checked by hasattr above
    return categorical_kl(action_log_probs(discrete, theta_old, obs), action_log_probs(discrete, theta, obs))


def mean_kl(policy: Policy, theta_old: np.ndarray, theta: np.ndarray, obs: np.ndarray,
            alive: np.ndarray) -> np.ndarray:
    """(1/N_s) sum over alive steps of KL(pi_old(. | s_t) || pi_theta(. | s_t)), per seed: [S].

    theta_old, theta: [S, d]; obs: [T, S, K, obs_dim]; alive: [T, S, K]."""
    kl = policy_kl(policy, theta_old, theta, obs)
    if kl.shape != alive.shape:
        raise ValueError(f"obs must be [T, S, K, obs_dim] matching alive {alive.shape}, got {obs.shape}")
    return np.where(alive, kl, 0.0).sum(axis=(0, 2)) / _alive_steps(alive)


# ---------------------------------------------------------------------------------------------
# Fisher-vector products F_bar v, F_bar = (1/N) sum_{alive} E_{a ~ pi}[psi psi^T], without forming F.
# ---------------------------------------------------------------------------------------------

def fisher_operator(policy: Policy, theta: np.ndarray, obs: np.ndarray, alive: np.ndarray) -> Operator:
    """v [S, d] -> F_bar v [S, d], F_bar = (1/N_s) sum_{alive t, k} E_{a ~ pi(. | s)}[psi psi^T], the
    Hessian of ``mean_kl(theta, theta')`` at theta' = theta. In closed form for the linear
    policies, whose score is phi(s) (x) c(s, a):

        logistic:        E[c c^T] = p (1 - p),          F_bar v = mean p (1 - p) x (x . v);
        softmax:         E[c c^T] = diag(pi) - pi pi^T, F_bar v = mean phi (x) pi * (u - pi . u), u = V^T phi;
        Gaussian-linear: E[psi psi^T] = (phi phi^T (x) diag(1/sigma^2), 2 I for log sigma), no cross term;

    for MLP policies by autograd (double backward) of the mean KL (torch, imported here).
    theta: [S, d]; obs: [T, S, K, obs_dim]; alive: [T, S, K].
    """
    if theta.ndim != 2 or obs.shape[:3] != alive.shape or theta.shape[0] != alive.shape[1]:
        raise ValueError(f"theta must be [S, d], obs [T, S, K, obs_dim] and alive [T, S, K], got "
                         f"{theta.shape}, {obs.shape} and {alive.shape}")
    product = _operator(policy, theta, obs, alive)

    def checked(v: np.ndarray) -> np.ndarray:
        if v.shape != theta.shape:
            raise ValueError(f"v must have the shape of theta {theta.shape}, got {v.shape}")
        return product(v)
    return checked


def _operator(policy: Policy, theta: np.ndarray, obs: np.ndarray, alive: np.ndarray) -> Operator:
    """``fisher_operator`` for inputs already checked: the closed forms, or autograd for MLPs."""
    count = _alive_steps(alive)
    if isinstance(policy, MLPCategoricalPolicy | MLPGaussianPolicy):
        return _autograd_operator(policy, theta, obs, alive)
    mask = _seed_first(alive)[..., None] / count[:, None, None]  # [S, n, 1]: 1 / N_s where alive
    if isinstance(policy, LogisticPolicy):
        x = _seed_first(policy.features(obs))
        p = _seed_first(policy.prob_left(theta, obs))[..., None]
        c = mask * p * (1.0 - p)
        return lambda v: (x.transpose(0, 2, 1) @ (c * (x @ v[..., None])))[..., 0]
    if isinstance(policy, SoftmaxLinearPolicy | TabularSoftmaxPolicy):
        phi = _seed_first(policy.features(obs))
        pi = _seed_first(policy.probs(theta, obs))
        phi_t = np.ascontiguousarray((mask * phi).transpose(0, 2, 1))
        shape, ones = (theta.shape[0], phi.shape[-1], policy.num_actions), np.ones(policy.num_actions)

        def softmax_product(v: np.ndarray) -> np.ndarray:
            u = phi @ v.reshape(shape)  # u = V^T phi: [S, n, A]
            return (phi_t @ (pi * (u - ((pi * u) @ ones)[..., None]))).reshape(v.shape)
        return softmax_product
    if isinstance(policy, GaussianLinearPolicy):
        phi = _seed_first(policy.features(obs))
        phi_t = np.ascontiguousarray((mask * phi).transpose(0, 2, 1))
        inv_var = np.exp(-2.0 * policy.log_std(theta))  # 1 / sigma^2: [S, 1, m]
        mean_dim = policy.num_features * policy.action_dim
        shape = (theta.shape[0], policy.num_features, policy.action_dim)

        def gaussian_product(v: np.ndarray) -> np.ndarray:
            mean_part = phi_t @ ((phi @ v[:, :mean_dim].reshape(shape)) * inv_var)
            return np.concatenate([mean_part.reshape(v.shape[0], mean_dim), 2.0 * v[:, mean_dim:]], axis=1)
        return gaussian_product
    raise ValueError(f"no Fisher-vector product for {type(policy).__name__}")


def _seed_first(x: np.ndarray) -> np.ndarray:
    """[T, S, K, ...] -> [S, T * K, ...], each seed's samples in one row block (for batched matmul)."""
    x = np.moveaxis(x, 1, 0)
    return np.ascontiguousarray(x.reshape(x.shape[0], -1, *x.shape[3:]), dtype=np.float64)


def fisher_vector_product(policy: Policy, theta: np.ndarray, obs: np.ndarray, alive: np.ndarray,
                          v: np.ndarray) -> np.ndarray:
    """F_bar v [S, d] (``fisher_operator`` applied once)."""
    return fisher_operator(policy, theta, obs, alive)(v)


def _torch_kl(policy: MLPCategoricalPolicy | MLPGaussianPolicy, theta_old: Tensor, theta: Tensor,
              obs: Tensor) -> Tensor:
    """KL(pi_old(. | s) || pi_theta(. | s)) in torch, the formulas of ``categorical_kl`` and
    ``gaussian_kl``: [S, B] from obs [S, B, n]."""
    import torch

    if isinstance(policy, MLPCategoricalPolicy):
        logp_old = torch.log_softmax(policy.torch_logits(theta_old, obs), dim=-1)
        logp = torch.log_softmax(policy.torch_logits(theta, obs), dim=-1)
        return (logp_old.exp() * (logp_old - logp)).sum(dim=-1)
    n = policy.net.dim
    mu_old = policy.net.torch_forward(theta_old[..., :n], obs)
    mu = policy.net.torch_forward(theta[..., :n], obs)
    log_std_old, log_std = policy.log_std(theta_old), policy.log_std(theta)
    ratio, gap = (2.0 * (log_std_old - log_std)).exp(), ((mu_old - mu) * (-log_std).exp()).square()
    return (log_std - log_std_old + 0.5 * (ratio + gap) - 0.5).sum(dim=-1)


def _autograd_operator(policy: MLPCategoricalPolicy | MLPGaussianPolicy, theta: np.ndarray,
                       obs: np.ndarray, alive: np.ndarray) -> Operator:
    """F_bar v = grad_theta' (grad_theta' mean_kl(theta, theta') . v) at theta' = theta, one graph
    for all seeds (their parameters are separate, so the sum over seeds separates too)."""
    from pgrad.policies.mlp import require_torch

    torch = require_torch()
    o, mask = torch.from_numpy(_seed_first(obs)), torch.from_numpy(_seed_first(alive))
    theta_old = torch.from_numpy(np.array(theta, np.float64))
    theta_new = theta_old.clone().requires_grad_(True)
    kl = (_torch_kl(policy, theta_old, theta_new, o) * mask).sum(dim=1) / mask.sum(dim=1)
    (grad,) = torch.autograd.grad(kl.sum(), theta_new, create_graph=True)

    def product(v: np.ndarray) -> np.ndarray:
        (hv,) = torch.autograd.grad((grad * torch.from_numpy(np.asarray(v, np.float64))).sum(), theta_new,
                                    retain_graph=True)
        return hv.numpy()
    return product
