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
from typing import TYPE_CHECKING

import numpy as np

from pgrad.algorithms.ac_agent import Agent
from pgrad.optim import clip_grad_norm
from pgrad.policies.gaussian import (
    GaussianLinearPolicy,
    gaussian_entropy,
    gaussian_log_density,
    gaussian_score,
)
from pgrad.policies.mlp import require_torch
from pgrad.policies.softmax import SoftmaxLinearPolicy, score_coefficient, softmax_entropy

if TYPE_CHECKING:
    from torch import Tensor


def forward(agent: Agent, params: np.ndarray, obs: np.ndarray, act: np.ndarray) -> LinearForward | MLPForward:
    """The policy's forward pass on seed-first samples: numpy for linear policies, torch (with
    the value function) for MLPs. Either result has ``logp`` [S, B] as a numpy array."""
    if agent.mlp:
        obs_t, act_t = to_torch(obs, act)
        return mlp_forward(agent, params, obs_t, act_t)
    return linear_forward(agent.linear_parts[0], params, obs, act)


def ascent_direction(agent: Agent, fwd: LinearForward | MLPForward, coef: np.ndarray, ret: np.ndarray,
                     ent_coef: float, vf_coef: float, max_grad_norm: float) -> tuple[np.ndarray, np.ndarray]:
    """grad J (module docstring) with each seed's norm clipped: (direction [S, d], norm [S])."""
    if isinstance(fwd, MLPForward):
        grad = mlp_gradient(fwd, coef, to_torch(ret)[0], ent_coef, vf_coef)
    else:
        grad = linear_gradient(fwd, coef, ent_coef)
    return clip_grad_norm(grad, max_grad_norm)


@dataclass(frozen=True)
class SoftmaxForward:
    """One numpy forward pass of the softmax-linear policy (z = phi W) over a minibatch, seed first:
    features phi [S, B, F], log pi(. | s) and pi(. | s) [S, B, A], the actions [S, B] and
    log pi(a_i | s_i) [S, B], all from the policy's own formulas."""

    phi: np.ndarray
    logp_all: np.ndarray
    probs: np.ndarray
    act: np.ndarray
    logp: np.ndarray

    @property
    def entropy(self) -> np.ndarray:
        """H(pi(. | s_i)) [S, B]."""
        return softmax_entropy(self.logp_all, self.probs)


@dataclass(frozen=True)
class GaussianForward:
    """One numpy forward pass of the Gaussian-linear policy (mu = phi W) over a minibatch, seed first:
    features phi [S, B, F], the standardised actions z = (a - mu) / sigma [S, B, m], sigma and
    log sigma (broadcastable to z), and log pi(a_i | s_i) [S, B]."""

    phi: np.ndarray
    z: np.ndarray
    sigma: np.ndarray
    log_std: np.ndarray
    logp: np.ndarray

    @property
    def entropy(self) -> np.ndarray:
        """H(pi(. | s_i)) [S, B] (the same in every state)."""
        return np.broadcast_to(gaussian_entropy(self.log_std), self.logp.shape)


LinearForward = SoftmaxForward | GaussianForward


def linear_forward(policy: SoftmaxLinearPolicy | GaussianLinearPolicy, theta: np.ndarray, obs: np.ndarray,
                   act: np.ndarray) -> LinearForward:
    """theta [S, d]; obs [S, B, n]; act [S, B, ...] -> the forward pass, by the policy's methods."""
    phi = policy.features(obs)
    if isinstance(policy, GaussianLinearPolicy):
        z, sigma, log_std = policy.standardize(theta, obs, act)
        return GaussianForward(phi, z, sigma, log_std, gaussian_log_density(z, log_std))
    logp_all, probs = policy.distribution(theta, obs)
    logp = np.take_along_axis(logp_all, act[..., None].astype(np.intp), axis=-1)[..., 0]
    return SoftmaxForward(phi, logp_all, probs, act, logp)


def linear_gradient(forward: LinearForward, coef: np.ndarray, ent_coef: float) -> np.ndarray:
    """grad J = (1/B) sum_i [c_i grad log pi(a_i | s_i) + ent_coef grad H(pi(. | s_i))]: [S, d].

    Both linear policies are linear in the features, so grad J = (1/B) sum_i phi(s_i) (x) g_i with
    the policies' score coefficients (``score_coefficient``, ``gaussian_score``):
    softmax-linear: g_i = c_i (e_a - pi) - ent_coef pi (log pi + H)  (the gradients in z);
    Gaussian-linear: g_i = c_i z / sigma for W, and (1/B) sum_i c_i (z^2 - 1) + ent_coef for log_std.
    """
    B = coef.shape[1]
    if isinstance(forward, SoftmaxForward):
        probs = forward.probs
        g = coef[..., None] * score_coefficient(forward.act, probs)
        if ent_coef:
            g = g - ent_coef * probs * (forward.logp_all + forward.entropy[..., None])
        grad = np.einsum("sbf,sba->sfa", forward.phi, g) / B
        return grad.reshape(grad.shape[0], -1)
    d_mu, d_log_std = gaussian_score(forward.z, forward.sigma, coef[..., None])
    grad_W = np.einsum("sbf,sbm->sfm", forward.phi, d_mu) / B
    grad_log_std = d_log_std.mean(axis=1) + ent_coef
    return np.concatenate([grad_W.reshape(grad_W.shape[0], -1), grad_log_std], axis=1)


@dataclass(frozen=True)
class MLPForward:
    """One torch forward pass over a minibatch: the leaf parameters p [S, d_pi + d_v], the
    tensors log pi(a_i | s_i), H(pi(. | s_i)), V(s_i) [S, B], and logp [S, B] as numpy."""

    params: Tensor
    logp_t: Tensor
    entropy: Tensor
    value: Tensor
    logp: np.ndarray


def mlp_forward(agent: Agent, params: np.ndarray, obs: Tensor, act: Tensor) -> MLPForward:
    """The forward pass of the MLP policy and value function in torch float32.

    params: [S, d_pi + d_v] = (theta, value parameters) numpy; obs [S, B, n], act [S, B, ...] tensors."""
    torch = require_torch()
    policy, value = agent.mlp_parts
    p = torch.tensor(params, dtype=torch.float32, requires_grad=True)
    theta, w = p[:, :policy.dim], p[:, policy.dim:]
    logp, entropy = policy.torch_log_prob_entropy(theta, obs, act)
    return MLPForward(p, logp, entropy, value.torch_value(w, obs), logp.detach().double().numpy())


def mlp_gradient(fwd: MLPForward, coef: np.ndarray, ret: Tensor, ent_coef: float,
                 vf_coef: float) -> np.ndarray:
    """grad J for the MLP policy and value function by autograd (J in the module docstring):
    [S, d_pi + d_v] float64. coef: [S, B] numpy, the fixed c_i; ret: [S, B] tensor, the targets R_i."""
    torch = require_torch()
    value_loss = (fwd.value - ret).square().mean(dim=1)
    objective = ((torch.from_numpy(coef).float() * fwd.logp_t).mean(dim=1)
                 + ent_coef * fwd.entropy.mean(dim=1) - vf_coef * value_loss)
    objective.sum().backward()  # seeds are independent: each row of p gets its own gradient
    grad = fwd.params.grad
    if grad is None:
        raise RuntimeError("autograd gave no gradient")
    return grad.numpy().astype(np.float64)


def mlp_value_gradient(agent: Agent, params: np.ndarray, obs: Tensor, ret: Tensor,
                       vf_coef: float) -> np.ndarray:
    """grad of -vf_coef mean_i (V(s_i) - R_i)^2 alone (``mlp_gradient``'s value term, the same
    float32 arithmetic, without the policy's forward pass): [S, d_pi + d_v] float64, zero in the
    policy's columns. params: [S, d_pi + d_v] numpy; obs [S, B, n], ret [S, B] tensors."""
    torch = require_torch()
    policy, value = agent.mlp_parts
    p = torch.tensor(params, dtype=torch.float32, requires_grad=True)
    value_loss = (value.torch_value(p[:, policy.dim:], obs) - ret).square().mean(dim=1)
    (-vf_coef * value_loss).sum().backward()
    grad = p.grad
    if grad is None:
        raise RuntimeError("autograd gave no gradient")
    return grad.numpy().astype(np.float64)


def to_torch(*arrays: np.ndarray) -> tuple[Tensor, ...]:
    """numpy arrays -> torch tensors (float arrays as float32)."""
    torch = require_torch()
    return tuple(torch.from_numpy(np.ascontiguousarray(x, np.float32 if x.dtype.kind == "f" else None))
                 for x in arrays)
