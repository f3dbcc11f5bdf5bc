"""A2C's and PPO's samples: a segment's advantages (GAE) and value targets as seed-first
arrays, the value refit, and the diagnostics of an update."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pgrad import estimators
from pgrad.algorithms.ac_agent import Agent
from pgrad.algorithms.ac_gradients import forward
from pgrad.returns import gae
from pgrad.rollout import Segment
from pgrad.training.log import PER_SEED


def select(segment: Segment, keep: np.ndarray) -> Segment:
    """The segment restricted to the seeds where ``keep`` is true."""
    rows = np.flatnonzero(keep)
    return Segment(segment.obs[:, keep], segment.act[:, keep], segment.rew[:, keep],
                   segment.terminated[:, keep], segment.truncated[:, keep], segment.next_obs[:, keep],
                   tuple(segment.episode_returns[j] for j in rows),
                   tuple(segment.episode_lengths[j] for j in rows))


def values(agent: Agent, w: np.ndarray, segment: Segment) -> tuple[np.ndarray, np.ndarray]:
    """(V(s_t), V(s'_t)), each [T, S, N], with the value parameters w [S, F]."""
    return agent.value.value(w, segment.obs), agent.value.value(w, segment.next_obs)


def seed_first(x: np.ndarray) -> np.ndarray:
    """[T, S, N, ...] -> [S, T * N, ...], contiguous: each seed's samples in one row."""
    x = np.moveaxis(x, 1, 0)
    return np.ascontiguousarray(x.reshape(x.shape[0], -1, *x.shape[3:]))


@dataclass(frozen=True)
class Samples:
    """Training samples, seed first: obs [S, M, n], act [S, M, ...], advantages adv [S, M],
    value targets ret [S, M] (lambda-returns A + V), log pi_old(a | s) [S, M] and the values
    V(s) [S, M] the advantages were computed with."""

    obs: np.ndarray
    act: np.ndarray
    adv: np.ndarray
    ret: np.ndarray
    logp_old: np.ndarray | None
    value: np.ndarray | None

    def take(self, index: np.ndarray) -> Samples:
        """Samples index [S, M'] of each seed (one gather per field; ``value`` is left out)."""
        rows = np.arange(index.shape[0])[:, None]
        logp_old = None if self.logp_old is None else self.logp_old[rows, index]
        return Samples(self.obs[rows, index], self.act[rows, index], self.adv[rows, index],
                       self.ret[rows, index], logp_old, None)

    def window(self, lo: int, hi: int) -> Samples:
        """Samples lo .. hi-1 of each seed (views)."""
        logp_old = None if self.logp_old is None else self.logp_old[:, lo:hi]
        value = None if self.value is None else self.value[:, lo:hi]
        return Samples(self.obs[:, lo:hi], self.act[:, lo:hi], self.adv[:, lo:hi], self.ret[:, lo:hi],
                       logp_old, value)


def estimate(agent: Agent, config: Any, params: np.ndarray, w: np.ndarray, segment: Segment, *,
             old_log_prob: bool = True) -> Samples:
    """V(s_t) and V(s'_t) with the value parameters w [S, F], the advantages A = GAE(gamma, lambda)
    and the value targets R = A + V, as seed-first samples; with ``old_log_prob``, also
    log pi_old(a | s) under the policy that sampled the segment (params [S, d])."""
    value, next_value = values(agent, w, segment)
    adv = gae(segment.rew, value, next_value, segment.terminated, segment.truncated, config.gamma,
              config.gae_lambda)
    obs, act = seed_first(segment.obs), seed_first(segment.act)
    logp_old = forward(agent, params, obs, act).logp if old_log_prob else None
    return Samples(obs, act, seed_first(adv), seed_first(adv + value), logp_old, seed_first(value))


def fit_value(agent: Agent, config: Any, params: np.ndarray, w: np.ndarray, data: Samples) -> np.ndarray:
    """The value parameters after an update: the MLP's are part of params (trained by the value
    term of J); the linear ones are refitted to the targets R by least squares (proximal to w)."""
    if agent.mlp:
        return params[:, agent.policy.dim:]
    return agent.linear_parts[1].fit(data.obs, data.ret, config.value_ridge, w_prev=w)


def normalize(adv: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """(A - mean) / (std + eps) over each seed's samples: [S, B] -> [S, B]."""
    centred = adv - adv.mean(axis=1, keepdims=True)
    return centred / (np.sqrt(np.square(centred).mean(axis=1, keepdims=True)) + eps)


def value_diagnostics(data: Samples) -> dict:
    """The value loss mean (V(s) - R)^2 and the explained variance 1 - Var[R - V] / Var[R] of the
    values the advantages were computed with, averaged over seeds; ``per_seed``: each seed's own [S]."""
    if data.value is None:
        raise ValueError("value diagnostics need the samples' values")
    explained = estimators.explained_variance(data.value, data.ret)  # nan where Var[R] = 0
    loss = np.square(data.value - data.ret)
    return {"value_loss": float(loss.mean()),
            "explained_variance": float(np.nanmean(explained)) if np.isfinite(explained).any() else np.nan,
            PER_SEED: {"value_loss": loss.mean(axis=1), "explained_variance": explained}}


def policy_diagnostics(logp: np.ndarray, logp_old: np.ndarray, entropy: Any, clip: float) -> dict:
    """Per minibatch, before its step: the approximate KL(pi_old || pi_theta) (k3 estimator), the
    fraction of samples whose ratio is outside [1 - eps, 1 + eps], and the entropy; means [S]."""
    entropy = entropy.detach().numpy() if hasattr(entropy, "detach") else entropy
    return {"approx_kl": estimators.approx_kl(logp, logp_old).mean(axis=1),
            "clip_fraction": (np.abs(np.expm1(logp - logp_old)) > clip).mean(axis=1),
            "entropy": entropy.mean(axis=1)}
