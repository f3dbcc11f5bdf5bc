"""Multilayer-perceptron policies, categorical and Gaussian, with gradients from PyTorch.

The parameters are one flat float64 vector theta [d], or [S, d] with a seed axis, like the
linear policies': the layers (W_l [n_l, n_{l+1}], b_l [n_{l+1}]) are views into it, row-major
in order. Two forward passes compute the same function f_theta:

- numpy (``logits``, ``act``, ``log_prob``, ...): the sampler and the evaluation call it once
  per environment step, so torch never enters the environment loop;
- torch (``torch_logits``, ``torch_log_prob``, ``torch_entropy``): training differentiates
  it with autograd. ``grad_log_prob`` is that autograd score (per sample, via torch.func).

f_theta(s) = W_L h_{L-1} + b_L with h_l = tanh(W_l h_{l-1} + b_l), h_0 = s; weights start
orthogonal (gain sqrt 2 for hidden layers, ``out_gain`` for the last), biases at 0.
PyTorch is the optional extra ``pgrad[torch]`` and is imported only when a torch function runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar, TypeVar, cast

import numpy as np

from pgrad.policies.base import check_theta_obs
from pgrad.policies.gaussian import LOG_2PI, _Gaussian
from pgrad.policies.softmax import _Softmax, log_softmax

if TYPE_CHECKING:
    from torch import Tensor

_Array = TypeVar("_Array", np.ndarray, "Tensor")
"""A numpy array or a torch tensor: the parameter layout is shared by both forward passes."""

TORCH_HINT = 'MLP policies and value functions need PyTorch: pip install "pgrad[torch]"'


def require_torch() -> ModuleType:
    """Import torch, or raise a one-line ImportError that says how to install the extra."""
    try:
        import torch
    except ImportError:
        raise ImportError(TORCH_HINT) from None
    return torch


def orthogonal(rng: np.random.Generator, n_in: int, n_out: int, gain: float) -> np.ndarray:
    """A [n_in, n_out] matrix with orthonormal rows or columns, times gain (Saxe et al., 2014)."""
    a = rng.standard_normal((max(n_in, n_out), min(n_in, n_out)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    return gain * (q if n_in >= n_out else q.T)


@dataclass(frozen=True)
class MLP:
    """The flat-parameter layout and forward passes of a tanh MLP with layer sizes ``sizes``."""

    sizes: tuple[int, ...]
    out_gain: float = 1.0

    @property
    def dim(self) -> int:
        """Number of parameters: sum_l (n_l + 1) n_{l+1}."""
        return sum((a + 1) * b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def init(self, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """One orthogonal initialisation per generator: [len(rngs), dim]."""
        rows = []
        for rng in rngs:
            parts = []
            last = len(self.sizes) - 2
            for layer, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
                gain = self.out_gain if layer == last else math.sqrt(2.0)
                parts += [orthogonal(rng, a, b, gain).ravel(), np.zeros(b)]
            rows.append(np.concatenate(parts))
        return np.stack(rows)

    def layers(self, params: _Array) -> list[tuple[_Array, _Array]]:
        """[(W_l, b_l)] as views of params [dim] or [S, dim]: W [.., n_l, n_{l+1}], b [.., 1, n_{l+1}]
        with a seed axis (so that they broadcast over [S, K, n]), else [n_l, n_{l+1}] and [n_{l+1}]."""
        out, i = [], 0
        lead = params.shape[:-1]
        for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            W = params[..., i:i + a * b].reshape(*lead, a, b)
            bias = params[..., i + a * b:i + (a + 1) * b]
            out.append((W, bias[..., None, :] if lead else bias))
            i += (a + 1) * b
        return out

    def forward(self, params: np.ndarray, x: np.ndarray) -> np.ndarray:
        """f(x) in numpy: x [..., n_0] -> [..., n_L]; with params [S, dim], x is [..., S, K, n_0]."""
        h = x
        layers = self.layers(params)
        for W, b in layers[:-1]:
            h = np.tanh(h @ W + b)
        W, b = layers[-1]
        return h @ W + b

    def torch_forward(self, params: Tensor, x: Tensor) -> Tensor:
        """f(x) in torch, the same arithmetic: params [dim] or [S, dim], x [..., n_0] or [S, B, n_0]."""
        torch = require_torch()
        h = x
        layers = self.layers(params)
        for W, b in layers[:-1]:
            h = torch.tanh(h @ W + b)
        W, b = layers[-1]
        return h @ W + b


def _net_weights(net: MLP, num_seeds: int | None,
                 rng: np.random.Generator | Sequence[np.random.Generator] | None) -> np.ndarray:
    """Initial weights [S, net.dim] (S = 1 without num_seeds), one generator per seed."""
    if rng is None:
        raise ValueError("MLP policies draw their initial weights: pass rng (one per seed)")
    rngs = ([cast(np.random.Generator, rng)] if num_seeds is None
            else list(cast(Sequence[np.random.Generator], rng)))
    if num_seeds is not None and len(rngs) != num_seeds:
        raise ValueError(f"need one generator per seed, got {len(rngs)} for {num_seeds} seeds")
    return net.init(rngs)


def _check(policy: MLPCategoricalPolicy | MLPGaussianPolicy, theta: np.ndarray, obs: np.ndarray) -> None:
    check_theta_obs(theta, obs, policy.dim, policy.obs_dim)


def _per_sample_grad(log_prob_fn: Callable[[Tensor, Tensor, Tensor], Tensor],
                     theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
    """grad_theta log pi(a | s) for every sample by autograd (torch.func.vmap of grad): [..., d]."""
    torch = require_torch()
    from torch.func import grad, vmap

    def one(th: Tensor, o: Tensor, a: Tensor) -> Tensor:
        return log_prob_fn(th, o[None], a[None])[0]

    if theta.ndim == 2:  # seed axis: obs [..., S, K, n]; one seed at a time
        axis = obs.ndim - 3
        out = [_per_sample_grad(log_prob_fn, theta[s], np.take(obs, s, axis), np.take(act, s, axis))
               for s in range(theta.shape[0])]
        return np.stack(out, axis=axis)
    batch = obs.shape[:-1]
    o = torch.from_numpy(np.ascontiguousarray(obs.reshape(-1, obs.shape[-1])))
    a = torch.from_numpy(np.ascontiguousarray(act.reshape(o.shape[0], *act.shape[len(batch):])))
    g = vmap(grad(one), in_dims=(None, 0, 0))(torch.from_numpy(theta), o, a)
    return g.numpy().reshape(*batch, theta.shape[-1])


@dataclass(frozen=True)
class MLPCategoricalPolicy(_Softmax):
    """pi_theta(a | s) = softmax(f_theta(s))_a, f_theta a tanh MLP obs_dim -> hidden -> num_actions.

    Sampling is Gumbel-max, a = argmax_a (z_a + g_a), g_a ~ Gumbel(0, 1); ``mode`` is argmax z
    (``probs``, ``noise``, ``act``, ``mode``, ``sample`` and ``log_prob`` come from the softmax
    policies; the score is by autograd).
    The last layer starts with gain 0.01, so the initial policy is nearly uniform.
    """

    obs_dim: int
    num_actions: int
    hidden: tuple[int, ...] = (64, 64)
    action_shape: ClassVar[tuple[int, ...]] = ()
    action_dtype: ClassVar[type] = np.int32

    def __post_init__(self) -> None:
        if self.obs_dim < 1 or self.num_actions < 2:
            raise ValueError(f"need obs_dim >= 1 and num_actions >= 2, got {self.obs_dim}, "
                             f"{self.num_actions}")

    @property
    def net(self) -> MLP:
        return MLP((self.obs_dim, *self.hidden, self.num_actions), out_gain=0.01)

    @property
    def dim(self) -> int:
        return self.net.dim

    def init(self, num_seeds: int | None = None,
             rng: np.random.Generator | Sequence[np.random.Generator] | None = None) -> np.ndarray:
        """Orthogonal weights drawn from ``rng`` (one generator per seed with num_seeds): [d] or [S, d]."""
        theta = _net_weights(self.net, num_seeds, rng)
        return theta[0] if num_seeds is None else theta

    def logits(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """z = f_theta(s): [..., A] (with theta [S, d], obs [..., S, K, n]: [..., S, K, A])."""
        _check(self, theta, obs)
        return self.net.forward(theta, obs)

    def entropy(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """H = -sum_a pi_a log pi_a: [...]."""
        logp = log_softmax(self.logits(theta, obs))
        return -(np.exp(logp) * logp).sum(axis=-1)

    def grad_log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """grad_theta log pi(a | s) by autograd: [..., d]."""
        _check(self, theta, obs)
        return _per_sample_grad(self.torch_log_prob, theta, obs, act)

    def torch_logits(self, theta: Tensor, obs: Tensor) -> Tensor:
        """z = f_theta(s) in torch."""
        return self.net.torch_forward(theta, obs)

    def torch_log_prob(self, theta: Tensor, obs: Tensor, act: Tensor) -> Tensor:
        """log pi(a | s) in torch: [...] (act holds integer actions)."""
        torch = require_torch()
        logp = torch.log_softmax(self.torch_logits(theta, obs), dim=-1)
        return torch.gather(logp, -1, act.long()[..., None])[..., 0]

    def torch_entropy(self, theta: Tensor, obs: Tensor) -> Tensor:
        """H = -sum_a pi_a log pi_a in torch: [...]."""
        torch = require_torch()
        logp = torch.log_softmax(self.torch_logits(theta, obs), dim=-1)
        return -(logp.exp() * logp).sum(dim=-1)

    def torch_log_prob_entropy(self, theta: Tensor, obs: Tensor,
                               act: Tensor) -> tuple[Tensor, Tensor]:
        """(log pi(a | s), H(pi(. | s))) in torch from one forward pass: ([...], [...])."""
        torch = require_torch()
        logp_all = torch.log_softmax(self.torch_logits(theta, obs), dim=-1)
        return (torch.gather(logp_all, -1, act.long()[..., None])[..., 0],
                -(logp_all.exp() * logp_all).sum(dim=-1))


@dataclass(frozen=True)
class MLPGaussianPolicy(_Gaussian):
    """pi_theta(a | s) = prod_j N(a_j; mu_j(s), sigma_j^2), mu = f_theta(s) a tanh MLP, sigma = exp(log_std).

    theta = (MLP parameters, log_std [m]): the log standard deviation is learned and does not
    depend on the state. Sampling: a = mu + sigma * eps, eps ~ N(0, I); ``mode`` is mu. Actions
    are clipped to the Box bounds only when the sampler sends them to the environment.
    """

    obs_dim: int
    action_dim: int = 1
    hidden: tuple[int, ...] = (64, 64)
    init_log_std: float = 0.0

    def __post_init__(self) -> None:
        if self.obs_dim < 1 or self.action_dim < 1:
            raise ValueError(f"need obs_dim >= 1 and action_dim >= 1, got {self.obs_dim}, "
                             f"{self.action_dim}")

    @property
    def net(self) -> MLP:
        return MLP((self.obs_dim, *self.hidden, self.action_dim), out_gain=0.01)

    @property
    def dim(self) -> int:
        return self.net.dim + self.action_dim

    def init(self, num_seeds: int | None = None,
             rng: np.random.Generator | Sequence[np.random.Generator] | None = None) -> np.ndarray:
        """Orthogonal weights from ``rng`` (one generator per seed), log_std = init_log_std."""
        weights = _net_weights(self.net, num_seeds, rng)
        log_std = np.full((len(weights), self.action_dim), self.init_log_std)
        theta = np.concatenate([weights, log_std], axis=1)
        return theta[0] if num_seeds is None else theta

    def log_std(self, theta: _Array) -> _Array:
        """log sigma: [m], or [S, 1, m] with a seed axis (broadcasts against [..., S, K, m])."""
        log_std = theta[..., self.net.dim:]
        return log_std[..., None, :] if theta.ndim == 2 else log_std

    def mean(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """mu(s) = f_theta(s): [..., m]."""
        _check(self, theta, obs)
        return self.net.forward(theta[..., : self.net.dim], obs)

    def grad_log_prob(self, theta: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """grad_theta log pi(a | s) by autograd: [..., d]."""
        _check(self, theta, obs)
        return _per_sample_grad(self.torch_log_prob, theta, obs, act)

    def torch_log_prob(self, theta: Tensor, obs: Tensor, act: Tensor) -> Tensor:
        """log pi(a | s) in torch: [...]."""
        mu = self.net.torch_forward(theta[..., : self.net.dim], obs)
        log_std = self.log_std(theta)
        z = (act - mu) * (-log_std).exp()
        return (-0.5 * z.square() - log_std - 0.5 * LOG_2PI).sum(dim=-1)

    def torch_entropy(self, theta: Tensor, obs: Tensor) -> Tensor:
        """H in torch, broadcast to the batch: [...]."""
        h = (self.log_std(theta) + 0.5 * (1.0 + LOG_2PI)).sum(dim=-1)
        return h.expand(obs.shape[:-1])

    def torch_log_prob_entropy(self, theta: Tensor, obs: Tensor,
                               act: Tensor) -> tuple[Tensor, Tensor]:
        """(log pi(a | s), H(pi(. | s))) in torch: ([...], [...])."""
        return self.torch_log_prob(theta, obs, act), self.torch_entropy(theta, obs)
