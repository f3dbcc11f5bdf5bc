"""The networks of DDPG, TD3 and SAC with a seed axis: ReLU MLPs as flat parameter rows, their
numpy and torch forward passes, the actors as policies, Adam, and the squashed Gaussian.

A network's parameters are one row per seed, [S, d] float32 (twin critics: [S, K, d]), in the
layout of :class:`pgrad.policies.mlp.MLP`: per layer W_l [n_l, n_{l+1}] then b_l [n_{l+1}].
The torch pass multiplies all seeds at once with ``torch.baddbmm`` (x [S, B, n] @ W [S, n, h]
+ b); the numpy pass (the samplers, evaluation, ``pgrad.load``) computes the same function, one
environment per row.

Seed s alone and seed s in a batch: bit for bit, on torch's CPU kernels, when every hidden
width is a multiple of 4 (checked for 4 to 400 and batches B of 1 to 256; the defaults 64,
256 and 400,300 are). Two cases needed care and are handled: torch runs a lone [B, n] @ [n, 1]
product (one seed, one output) as a matrix-vector product that sums in another order, so
:func:`torch_forward` runs two copies of it; and a strided slice of the twin critics' rows
(TD3's Q_1) is copied contiguous first. With other widths (5, 6, 7, 10, 30, 50 were tried) the
batched kernels round some sums differently for a seed alone (relative 1e-7 in a gradient),
and the runs then drift apart as any two nearly equal training runs do; each seed still draws
all its randomness from its own generator, so its run stays seeded and reproducible.

    f(x) = W_L h_{L-1} + b_L,  h_l = relu(W_l h_{l-1} + b_l),  h_0 = x

Weights and biases start as PyTorch's ``nn.Linear`` does, U(-1/sqrt(n_l), 1/sqrt(n_l)), drawn
from each seed's generator. Actions: the actors act in [-1, 1]^m and the environment receives
``unscale(a) = low + (a + 1) (high - low) / 2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pgrad.policies.gaussian import LOG_2PI
from pgrad.policies.mlp import MLP, require_torch

if TYPE_CHECKING:
    from torch import Tensor

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
"""SAC's log standard deviation is clamped to this range (as Stable-Baselines3 does)."""


def parse_net_arch(text: str) -> tuple[int, ...]:
    """"400,300" or "400x300" -> (400, 300) (the x form fits in a sweep's comma-separated
    ``--grid net_arch=64x64,400x300``); a one-line ValueError unless it is positive integers."""
    try:
        sizes = tuple(int(x) for x in text.replace("x", ",").split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ValueError(f"net_arch must be positive layer widths separated by commas or x, such as "
                         f"400,300 or 400x300, got {text!r}")
    return sizes


def init_mlp(net: MLP, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """PyTorch's default initialisation, W_l and b_l ~ U(-1/sqrt(n_l), 1/sqrt(n_l)), one row per
    generator: [len(rngs), net.dim] float32."""
    rows = []
    for rng in rngs:
        parts = []
        for a, b in zip(net.sizes[:-1], net.sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(a)
            parts += [rng.uniform(-bound, bound, a * b), rng.uniform(-bound, bound, b)]
        rows.append(np.concatenate(parts))
    return np.stack(rows).astype(np.float32)


def torch_forward(net: MLP, params: Tensor, x: Tensor) -> Tensor:
    """f(x) for every seed at once: params [S, d], x [S, B, n_0] -> [S, B, n_L] (baddbmm per layer)."""
    torch = require_torch()
    layers = net.layers(params)
    h = x
    for k, (W, b) in enumerate(layers):
        if h.shape[0] == 1 and W.shape[-1] == 1:
            # torch multiplies a lone [B, n] @ [n, 1] as a matrix-vector product, whose sums are
            # ordered otherwise than the batched product's: two copies keep seed s alone exact
            h = torch.baddbmm(torch.cat([b, b]), torch.cat([h, h]), torch.cat([W, W]))[:1]
        else:
            h = torch.baddbmm(b, h, W)
        if k < len(layers) - 1:
            h = torch.relu_(h)
    return h


def numpy_forward(net: MLP, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """f(x) in numpy, in params' dtype: params [S, d], x [S, K, n_0] -> [S, K, n_L]."""
    layers = net.layers(params)
    h = x.astype(params.dtype, copy=False)
    for k, (W, b) in enumerate(layers):
        h = h @ W + b
        if k < len(layers) - 1:
            h = np.maximum(h, 0)
    return h


def critic_forward(net: MLP, params: Tensor, obs: Tensor, act: Tensor) -> Tensor:
    """Q_k(s, a) of K critics per seed: params [S, K, d], obs [S, B, n], act [S, B, m] -> [S, K, B]."""
    torch = require_torch()
    S, K, d = params.shape
    x = torch.cat([obs, act], dim=-1)
    x = x[:, None].expand(S, K, *x.shape[1:]).reshape(S * K, *x.shape[1:])
    return torch_forward(net, params.reshape(S * K, d), x).reshape(S, K, -1)


def squashed_log_prob(u: Tensor, mu: Tensor, log_std: Tensor) -> Tensor:
    """log pi(a | s) of a = tanh(u), u ~ N(mu, sigma^2) (change of variables, per action component
    da_j / du_j = 1 - tanh(u_j)^2), summed over the action: [...] from [..., m]:

        log pi(a | s) = sum_j [log N(u_j; mu_j, sigma_j^2) - log(1 - tanh(u_j)^2)],
        log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2 u))   (exact, stable for large |u|).

    The affine map from [-1, 1] to the Box bounds adds a constant, left out (as in SAC).
    """
    torch = require_torch()
    z = (u - mu) * torch.exp(-log_std)
    gaussian = -0.5 * z.square() - log_std - 0.5 * LOG_2PI
    log_det = 2.0 * (math.log(2.0) - u - torch.nn.functional.softplus(-2.0 * u))
    return (gaussian - log_det).sum(dim=-1)


def squashed_sample(net: MLP, params: Tensor, obs: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
    """(a = tanh(mu + sigma eps), log pi(a | s)) of SAC's actor, reparameterised: params [S, d],
    obs [S, B, n], eps [S, B, m] -> ([S, B, m], [S, B]); f(s) = (mu, log sigma), log sigma
    clamped to [-20, 2]."""
    out = torch_forward(net, params, obs)
    m = eps.shape[-1]
    mu, log_std = out[..., :m], out[..., m:].clamp(LOG_STD_MIN, LOG_STD_MAX)
    u = mu + log_std.exp() * eps
    return u.tanh(), squashed_log_prob(u, mu, log_std)


@dataclass
class Adam:
    """Adam (Kingma and Ba, 2015) on one parameter tensor p [S, ...] with a step count per seed,
    PyTorch's arithmetic: m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps)  (descent: g is a loss gradient)."""

    m: Tensor
    v: Tensor
    t: np.ndarray
    BETAS: ClassVar[tuple[float, float]] = (0.9, 0.999)
    EPS: ClassVar[float] = 1e-8

    @classmethod
    def zeros_like(cls, p: Tensor) -> Adam:
        torch = require_torch()
        return cls(torch.zeros_like(p), torch.zeros_like(p), np.zeros(p.shape[0], np.int64))

    def step(self, p: Tensor, g: Tensor, lr: float, idx: np.ndarray) -> None:
        """p[idx] <- the Adam step with the gradient g [len(idx), ...], in place (idx: seed rows)."""
        torch = require_torch()
        b1, b2 = self.BETAS
        self.t[idx] += 1
        t = self.t[idx]
        shape = (len(t),) + (1,) * (p.dim() - 1)
        step_size = torch.from_numpy((lr / (1.0 - b1 ** t)).astype(np.float32)).reshape(shape)
        bc2 = torch.from_numpy(np.sqrt(1.0 - b2 ** t).astype(np.float32)).reshape(shape)
        if all_rows(idx, p.shape[0]):
            m, v = self.m.mul_(b1).add_(g, alpha=1.0 - b1), self.v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            p.sub_(step_size * m / (v.sqrt() / bc2).add_(self.EPS))
            return
        rows = torch.from_numpy(idx)
        m = self.m[rows].mul_(b1).add_(g, alpha=1.0 - b1)
        v = self.v[rows].mul_(b2).addcmul_(g, g, value=1.0 - b2)
        self.m[rows], self.v[rows] = m, v
        p[rows] = p[rows] - step_size * m / (v.sqrt() / bc2).add_(self.EPS)


def all_rows(idx: np.ndarray, num_seeds: int) -> bool:
    """Whether the seed rows idx are 0 .. S-1 in order (then tensors are used whole, not gathered)."""
    return len(idx) == num_seeds and bool(np.all(idx == np.arange(num_seeds)))


def rows_of(x: Tensor, idx: np.ndarray) -> Tensor:
    """x[idx] along the seed axis: x itself when idx is every row, else a gathered copy."""
    torch = require_torch()
    return x if all_rows(idx, x.shape[0]) else x[torch.from_numpy(idx)]


def scale(act: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Environment actions -> [-1, 1]: 2 (a - low) / (high - low) - 1."""
    return 2.0 * (act - low) / (high - low) - 1.0


def unscale(act: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """[-1, 1] -> environment actions: low + (a + 1) (high - low) / 2."""
    return low + (act + 1.0) * (0.5 * (high - low))


@dataclass(frozen=True)
class Actor:
    """An off-policy actor as a pgrad policy (``noise``, ``act``, ``mode``: the samplers,
    evaluation and ``pgrad.load``), theta [S, d] its flat parameters.

    ``kind="deterministic"`` (DDPG, TD3): mu(s) = tanh(f(s)); acting a = clip(mu + sigma eps,
    -1, 1), eps ~ N(0, I); greedy a = mu(s).
    ``kind="squashed"`` (SAC): f(s) = (mu, log sigma); acting a = tanh(mu + sigma eps);
    greedy a = tanh(mu).
    ``kind="uniform"``: a ~ U(-1, 1)^m whatever theta (the warm-up before learning starts).
    Every action is ``unscale``-d to the Box bounds.
    """

    obs_dim: int
    action_dim: int
    hidden: tuple[int, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    kind: str = "deterministic"
    sigma: float = 0.1
    action_dtype: ClassVar[type] = np.float64

    @property
    def net(self) -> MLP:
        out = 2 * self.action_dim if self.kind == "squashed" else self.action_dim
        return MLP((self.obs_dim, *self.hidden, out))

    @property
    def dim(self) -> int:
        return self.net.dim

    @property
    def action_shape(self) -> tuple[int, ...]:
        return (self.action_dim,)

    def with_kind(self, kind: str) -> Actor:
        return Actor(self.obs_dim, self.action_dim, self.hidden, self.low, self.high, kind, self.sigma)

    def noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """eps ~ N(0, I) (uniform: u ~ U(0, 1)): [*shape, m]."""
        if self.kind == "uniform":
            return rng.random((*shape, self.action_dim))
        return rng.standard_normal((*shape, self.action_dim))

    def _unscale(self, a: np.ndarray) -> np.ndarray:
        return unscale(a.astype(np.float64), np.asarray(self.low), np.asarray(self.high))

    def act(self, theta: np.ndarray, obs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """The exploring action [..., S, K, m] (class docstring) of obs [..., S, K, n]."""
        if self.kind == "uniform":
            return self._unscale(2.0 * noise - 1.0)
        out = numpy_forward(self.net, theta, obs)
        m = self.action_dim
        if self.kind == "squashed":
            log_std = np.clip(out[..., m:], LOG_STD_MIN, LOG_STD_MAX)
            return self._unscale(np.tanh(out[..., :m] + np.exp(log_std) * noise))
        return self._unscale(np.clip(np.tanh(out) + self.sigma * noise, -1.0, 1.0))

    def mode(self, theta: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """The greedy action tanh(mu(s)), unscaled: [..., S, K, m]."""
        out = numpy_forward(self.net, theta, obs)
        return self._unscale(np.tanh(out[..., :self.action_dim]))


def to_tensor(x: np.ndarray, dtype: Any = None) -> Tensor:
    """A float32 torch tensor of a numpy array (bools as float32 0/1)."""
    torch = require_torch()
    return torch.from_numpy(np.ascontiguousarray(x, dtype or np.float32))
