"""Score-function gradient estimators: pure functions of a batch, no state.

Shapes are time first: weights ``w: [T, S, K]``, alive mask ``alive: [T, S, K]``,
scores ``score: [T, S, K, d]``; estimates are per seed, ``[S, d]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pgrad.returns import WEIGHTINGS


def _check_wa(w: np.ndarray, alive: np.ndarray) -> None:
    if w.ndim != 3 or w.shape != alive.shape:
        raise ValueError(f"weights and alive must both be [T, S, K], got {w.shape} and {alive.shape}")


def _masked_sum(x: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """sum over alive steps (t, k) per seed: [T, S, K] -> [S]; time summed first, in order."""
    return np.where(alive, x, 0.0).sum(axis=0).sum(axis=-1)


def batch_mean_baseline(w: np.ndarray, alive: np.ndarray, leave_one_out: bool = False) -> np.ndarray:
    """b = mean of w over the alive steps of all K episodes of the seed: [T, S, K].

    With ``leave_one_out`` episode k's baseline uses the other K-1 episodes only,
    b^k = (sum_{j != k} sum_t w^j_t) / (sum_{j != k} L_j), which does not depend on episode k
    and so leaves the estimator unbiased; the plain mean includes episode k's own weights
    and biases the estimate by O(1/K).
    """
    _check_wa(w, alive)
    total = _masked_sum(w, alive)[:, None]
    count = alive.sum(axis=(0, 2))[:, None].astype(np.float64)
    if leave_one_out:
        own = np.where(alive, w, 0.0).sum(axis=0)
        rest = count - alive.sum(axis=0)
        b = np.divide(total - own, rest, out=np.zeros_like(own), where=rest > 0)
        return np.broadcast_to(b, w.shape)
    return np.broadcast_to(total / count, w.shape)


def time_mean_baseline(w: np.ndarray, alive: np.ndarray, leave_one_out: bool = False) -> np.ndarray:
    """b_t = mean of w_t over the episodes of the seed still alive at t: [T, S, K].

    With ``leave_one_out`` episode k's b_t averages the other alive episodes only (0 if none).
    """
    _check_wa(w, alive)
    wa = np.where(alive, w, 0.0)
    total = wa.sum(axis=-1, keepdims=True)
    count = alive.sum(axis=-1, keepdims=True).astype(np.float64)
    if leave_one_out:
        rest = count - alive  # where no other episode is alive, total - wa = 0: b = 0 / 1
        return (total - wa) / np.maximum(rest, 1.0)
    return np.broadcast_to(np.divide(total, count, out=np.zeros_like(total), where=count > 0), w.shape)


BASELINES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray] | None] = {
    "none": None,
    "batch_mean": lambda w, alive: batch_mean_baseline(w, alive),
    "batch_mean_loo": lambda w, alive: batch_mean_baseline(w, alive, leave_one_out=True),
    "time_mean": lambda w, alive: time_mean_baseline(w, alive),
    "time_mean_loo": lambda w, alive: time_mean_baseline(w, alive, leave_one_out=True),
}
"""Baselines by name: b(s_t) subtracted from the weights, b: [T, S, K]."""


def standardize(w: np.ndarray, alive: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """(w - mean) / (std + eps), mean and std over each seed's alive steps: [T, S, K]."""
    _check_wa(w, alive)
    count = alive.sum(axis=(0, 2)).astype(np.float64)
    mean = _masked_sum(w, alive) / count
    var = _masked_sum((w - mean[:, None]) ** 2, alive) / count
    return (w - mean[:, None]) / (np.sqrt(var)[:, None] + eps)


def policy_gradient(score: np.ndarray, w: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """g = (1/K) sum_k sum_t w^k_t grad log pi(a^k_t | s^k_t), over alive steps: [S, d].

    score: [T, S, K, d]; w, alive: [T, S, K]. Time is summed first, in order, so trailing
    padding (alive = False) never changes the result.
    """
    _check_wa(w, alive)
    if score.shape[:3] != w.shape:
        raise ValueError(f"score must be [T, S, K, d] matching weights {w.shape}, got {score.shape}")
    terms = np.where(alive, w, 0.0)[..., None] * score
    return terms.sum(axis=0).mean(axis=1)


def factored_policy_gradient(phi: np.ndarray, coef: np.ndarray, w: np.ndarray,
                             alive: np.ndarray) -> np.ndarray:
    """policy_gradient for log-linear policies, whose score factorises as
    grad log pi(a | s) = phi(s) (x) c(s, a): features times a coefficient, e.g. (y - p) s for
    the logistic policy or phi(s) (onehot(a) - pi(. | s)) for softmax-linear.

    g = (1/K) sum_k sum_t w^k_t phi(s^k_t) (x) c^k_t, without forming the [T, S, K, d] score.
    phi: [T, S, K, f]; coef: [T, S, K] or [T, S, K, A]; w, alive: [T, S, K].
    Returns [S, f] or [S, f * A] (row-major by feature, as theta is laid out).
    """
    _check_wa(w, alive)
    if phi.shape[:3] != w.shape or coef.shape[:3] != w.shape:
        raise ValueError(f"phi [T, S, K, f] and coef [T, S, K, ...] must match weights {w.shape}, "
                         f"got {phi.shape} and {coef.shape}")
    wc = np.where(alive, w, 0.0) if coef.ndim == 3 else np.where(alive, w, 0.0)[..., None]
    wc = wc * coef
    K = w.shape[2]
    columns = []
    for j in range(phi.shape[3]):  # one feature at a time: memory stays [T, S, K]
        phi_j = phi[..., j] if coef.ndim == 3 else phi[..., j, None]
        columns.append((wc * phi_j).sum(axis=0).sum(axis=1) / K)  # time first, in order
    return np.stack(columns, axis=1).reshape(w.shape[1], -1)


def weights(rew: np.ndarray, alive: np.ndarray, gamma: float, weighting: str, baseline: str,
            standardize_weights: bool = False) -> np.ndarray:
    """w_t for the score function: the named weighting, minus the named baseline, optionally
    standardised.  rew, alive: [T, S, K] -> [T, S, K]."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; accepted: {', '.join(WEIGHTINGS)}")
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; accepted: {', '.join(BASELINES)}")
    w = WEIGHTINGS[weighting](rew, gamma)
    baseline_fn = BASELINES[baseline]
    if baseline_fn is not None:
        w = w - baseline_fn(w, alive)
    if standardize_weights:
        w = standardize(w, alive)
    return w


# ---------------------------------------------------------------------------------------------
# Surrogate objectives for actor-critic methods (A2C, PPO). Elementwise over samples of any
# shape [...]; the caller averages over its minibatch.
# ---------------------------------------------------------------------------------------------

def clipped_surrogate(ratio: np.ndarray, adv: np.ndarray, clip: float) -> np.ndarray:
    """PPO's clipped surrogate per sample (Schulman et al., 2017):

        L^CLIP = min(r A, clip(r, 1 - eps, 1 + eps) A),   r = pi_theta(a | s) / pi_old(a | s).

    ratio, adv: [...] -> [...]. Maximised; at r = 1 its gradient is the policy gradient A grad log pi.
    """
    if ratio.shape != adv.shape:
        raise ValueError(f"ratio and adv must have the same shape, got {ratio.shape} and {adv.shape}")
    if not clip > 0:
        raise ValueError(f"clip must be positive, got {clip}")
    return np.minimum(ratio * adv, np.clip(ratio, 1.0 - clip, 1.0 + clip) * adv)


def clipped_surrogate_grad(ratio: np.ndarray, adv: np.ndarray, clip: float) -> np.ndarray:
    """dL^CLIP / d log pi_theta(a | s) per sample: r A where the unclipped term is the minimum,
    0 where the clip is active (A > 0 and r > 1 + eps, or A < 0 and r < 1 - eps).

    So grad_theta L^CLIP = (dL^CLIP / d log pi) grad_theta log pi(a | s).  ratio, adv: [...] -> [...].
    """
    if ratio.shape != adv.shape:
        raise ValueError(f"ratio and adv must have the same shape, got {ratio.shape} and {adv.shape}")
    clipped = ((adv > 0) & (ratio > 1.0 + clip)) | ((adv < 0) & (ratio < 1.0 - clip))
    return np.where(clipped, 0.0, ratio * adv)


def categorical_entropy(probs: np.ndarray) -> np.ndarray:
    """H(pi(. | s)) = -sum_a pi_a log pi_a (0 log 0 = 0): [..., A] -> [...]."""
    logp = np.log(np.where(probs > 0, probs, 1.0))
    return -(probs * logp).sum(axis=-1)


def categorical_entropy_grad(probs: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """grad_theta H(pi(. | s)) = -sum_a pi_a log pi_a grad_theta log pi(a | s)
    (from grad H = -sum_a grad pi_a (log pi_a + 1) and sum_a grad pi_a = 0).

    probs: [..., A]; scores: [..., A, d], the score of every action -> [..., d].
    """
    if scores.shape[:-1] != probs.shape:
        raise ValueError(f"scores must be [..., A, d] for probs {probs.shape}, got {scores.shape}")
    logp = np.log(np.where(probs > 0, probs, 1.0))
    return -((probs * logp)[..., None] * scores).sum(axis=-2)


def approx_kl(logp: np.ndarray, logp_old: np.ndarray) -> np.ndarray:
    """Per-sample estimate of KL(pi_old || pi_theta) from samples of pi_old (Schulman's k3):
    (r - 1) - log r, r = exp(logp - logp_old); non-negative, unbiased.  [...] -> [...]."""
    log_ratio = logp - logp_old
    return np.expm1(log_ratio) - log_ratio


def explained_variance(value: np.ndarray, target: np.ndarray) -> np.ndarray:
    """1 - Var[target - V] / Var[target] over the last axis: [..., M] -> [...] (nan if Var[target] = 0).

    1 means V predicts the targets perfectly, 0 no better than their mean, < 0 worse."""
    if value.shape != target.shape:
        raise ValueError(f"value and target must have the same shape, got {value.shape} and {target.shape}")
    var = target.var(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, 1.0 - (target - value).var(axis=-1) / var, np.nan)
