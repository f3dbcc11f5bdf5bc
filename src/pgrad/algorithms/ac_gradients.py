"""The per-minibatch forward passes and gradients of A2C and PPO: the linear (numpy) and the MLP
(torch) path.

Both paths ascend the same objective, per seed and averaged over a minibatch of B samples,

    J = (1/B) sum_i c_i log pi_theta(a_i | s_i) + ent_coef H(pi_theta(. | s_i)) [- vf_coef (V(s_i) - R_i)^2],

where the coefficient c_i (held fixed) makes grad J the gradient of the surrogate: c_i = A_i for
the policy gradient of A2C, and c_i = dL^CLIP / d log pi (``estimators.clipped_surrogate_grad``)
for PPO. The linear path multiplies c_i by the analytic score ``policy.grad_log_prob`` and fits
the linear value function by least squares; the MLP path backpropagates J through torch and
trains the MLP value function with the value term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pgrad.algorithms.ac_agent import Agent
from pgrad.optim import clip_grad_norm
from pgrad.policies.gaussian import LOG_2PI, GaussianLinearPolicy
from pgrad.policies.mlp import require_torch


def forward(agent: Agent, params: np.ndarray, obs: np.ndarray, act: np.ndarray):
    """The policy's forward pass on seed-first samples: numpy for linear policies, torch (with
    the value function) for MLPs. Either result has ``logp`` [S, B] as a numpy array."""
    if agent.mlp:
        return mlp_forward(agent, params, *to_torch(obs, act))
    return linear_forward(agent.policy, params, obs, act)


def ascent_direction(agent: Agent, fwd, coef: np.ndarray, ret: np.ndarray, ent_coef: float,
                     vf_coef: float, max_grad_norm: float) -> tuple[np.ndarray, np.ndarray]:
    """grad J (module docstring) with each seed's norm clipped: (direction [S, d], norm [S])."""
    if agent.mlp:
        grad = mlp_gradient(fwd, coef, to_torch(ret)[0], ent_coef, vf_coef)
    else:
        grad = linear_gradient(fwd, coef, ent_coef)
    return clip_grad_norm(grad, max_grad_norm)


@dataclass(frozen=True)
class LinearForward:
    """One numpy forward pass of a linear policy over a minibatch, seed first: features phi
    [S, B, F], log pi(a_i | s_i) [S, B], and what the score needs: for softmax-linear (z = phi W)
    log pi(. | s) and pi [S, B, A] and the one-hot actions; for Gaussian-linear (mu = phi W) the
    standardised actions (a - mu) / sigma [S, B, m], sigma and log sigma."""

    phi: np.ndarray
    logp: np.ndarray
    logp_all: np.ndarray | None = None
    probs: np.ndarray | None = None
    onehot: np.ndarray | None = None
    z: np.ndarray | None = None
    sigma: np.ndarray | None = None
    log_std: np.ndarray | None = None

    @property
    def entropy(self) -> np.ndarray:
        """H(pi(. | s_i)) [S, B]: -sum_a pi_a log pi_a, or sum_j (log sigma_j + (1 + log 2 pi) / 2)."""
        if self.sigma is None:
            return -(self.probs * self.logp_all).sum(axis=-1)
        return np.broadcast_to((self.log_std + 0.5 * (1.0 + LOG_2PI)).sum(axis=-1), self.logp.shape)


def linear_forward(policy, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> LinearForward:
    """theta [S, d]; obs [S, B, n]; act [S, B, ...] -> LinearForward."""
    phi = policy.features(obs)
    if isinstance(policy, GaussianLinearPolicy):
        mu = policy.mean(theta, obs)
        log_std = policy.log_std(theta)
        sigma = np.exp(log_std)
        z = (act - mu) / sigma
        logp = (-0.5 * np.square(z) - log_std - 0.5 * LOG_2PI).sum(axis=-1)
        return LinearForward(phi, logp, z=z, sigma=sigma, log_std=log_std)
    logp_all, probs = log_softmax_by_action(policy.logits(theta, obs))
    onehot = act[..., None] == np.arange(logp_all.shape[-1])
    logp = np.take_along_axis(logp_all, act[..., None].astype(np.intp), axis=-1)[..., 0]
    return LinearForward(phi, logp, logp_all=logp_all, probs=probs, onehot=onehot)


def log_softmax_by_action(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log softmax(z), softmax(z)) over the last axis, [..., A] each: z_a - m - log sum_b exp(z_b - m),
    m = max_b z_b, computed one action at a time (for the few actions of a policy this is much
    faster than reductions along a short last axis)."""
    m = z[..., 0]
    for a in range(1, z.shape[-1]):
        m = np.maximum(m, z[..., a])
    shifted = z - m[..., None]
    e = np.exp(shifted)
    total = e[..., 0]
    for a in range(1, z.shape[-1]):
        total = total + e[..., a]
    return shifted - np.log(total)[..., None], e / total[..., None]


def linear_gradient(forward: LinearForward, coef: np.ndarray, ent_coef: float) -> np.ndarray:
    """grad J = (1/B) sum_i [c_i grad log pi(a_i | s_i) + ent_coef grad H(pi(. | s_i))]: [S, d].

    Both linear policies are linear in the features, so grad J = (1/B) sum_i phi(s_i) (x) g_i:
    softmax-linear: g_i = c_i (e_a - pi) - ent_coef pi (log pi + H)  (the gradients in z);
    Gaussian-linear: g_i = c_i z / sigma for W, and (1/B) sum_i c_i (z^2 - 1) + ent_coef for log_std.
    """
    B = coef.shape[1]
    if forward.sigma is None:
        probs = forward.probs
        g = coef[..., None] * (forward.onehot - probs)
        if ent_coef:
            g = g - ent_coef * probs * (forward.logp_all + forward.entropy[..., None])
        grad = np.einsum("sbf,sba->sfa", forward.phi, g) / B
        return grad.reshape(grad.shape[0], -1)
    z = forward.z
    grad_W = np.einsum("sbf,sbm->sfm", forward.phi, coef[..., None] * z / forward.sigma) / B
    grad_log_std = (coef[..., None] * (np.square(z) - 1.0)).mean(axis=1) + ent_coef
    return np.concatenate([grad_W.reshape(grad_W.shape[0], -1), grad_log_std], axis=1)


@dataclass(frozen=True)
class MLPForward:
    """One torch forward pass over a minibatch: the leaf parameters p [S, d_pi + d_v], the
    tensors log pi(a_i | s_i), H(pi(. | s_i)), V(s_i) [S, B], and logp [S, B] as numpy."""

    params: object
    logp_t: object
    entropy: object
    value: object
    logp: np.ndarray


def mlp_forward(agent: Agent, params: np.ndarray, obs, act) -> MLPForward:
    """The forward pass of the MLP policy and value function in torch float32.

    params: [S, d_pi + d_v] = (theta, value parameters) numpy; obs [S, B, n], act [S, B, ...] tensors."""
    torch = require_torch()
    p = torch.tensor(params, dtype=torch.float32, requires_grad=True)
    theta, w = p[:, :agent.policy.dim], p[:, agent.policy.dim:]
    logp, entropy = agent.policy.torch_log_prob_entropy(theta, obs, act)
    return MLPForward(p, logp, entropy, agent.value.torch_value(w, obs), logp.detach().double().numpy())


def mlp_gradient(fwd: MLPForward, coef: np.ndarray, ret, ent_coef: float, vf_coef: float) -> np.ndarray:
    """grad J for the MLP policy and value function by autograd (J in the module docstring):
    [S, d_pi + d_v] float64. coef: [S, B] numpy, the fixed c_i; ret: [S, B] tensor, the targets R_i."""
    torch = require_torch()
    value_loss = (fwd.value - ret).square().mean(dim=1)
    objective = ((torch.from_numpy(coef).float() * fwd.logp_t).mean(dim=1)
                 + ent_coef * fwd.entropy.mean(dim=1) - vf_coef * value_loss)
    objective.sum().backward()  # seeds are independent: each row of p gets its own gradient
    return fwd.params.grad.numpy().astype(np.float64)


def to_torch(*arrays):
    """numpy arrays -> torch tensors (float arrays as float32)."""
    torch = require_torch()
    return tuple(torch.from_numpy(np.ascontiguousarray(x, np.float32 if x.dtype.kind == "f" else None))
                 for x in arrays)
