"""State-value functions V(s) for baselines and actor-critic methods.

- :class:`LinearValue`: V_w(s) = w . psi(s) on fixed features, fitted in closed form by
  (regularised) least squares, batched over the seed axis; pure numpy.
- :class:`MLPValue`: V(s) a tanh MLP whose flat parameters train with torch autograd (the
  optional extra ``pgrad[torch]``), evaluated in numpy.

Parameters are plain arrays, [F] or [S, F] with a seed axis; observations [..., S, K, n].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from pgrad.policies.mlp import MLP

if TYPE_CHECKING:
    from torch import Tensor

VALUE_FEATURES = ("linear", "quadratic")


@dataclass(frozen=True)
class LinearValue:
    """V_w(s) = w . psi(s), with psi(s) = (1, s) ("linear") or (1, s, s_i s_j for i <= j) ("quadratic").

    ``fit`` solves the least-squares problem of each seed in closed form,

        w = argmin_w (1/M) sum_i (w . psi(s_i) - y_i)^2 + ridge ||w - w_prev||^2
          = (Psi^T Psi / M + ridge I)^{-1} (Psi^T y / M + ridge w_prev),

    where w_prev (default 0) is the previous fit: a small ridge keeps the fit well posed and,
    with w_prev, makes it a proximal step that remembers earlier batches.
    """

    obs_dim: int
    features: str = "quadratic"

    def __post_init__(self) -> None:
        if self.features not in VALUE_FEATURES:
            raise ValueError(f"unknown value features {self.features!r}; accepted: "
                             f"{', '.join(VALUE_FEATURES)}")

    @property
    def dim(self) -> int:
        """F = 1 + n (+ n (n + 1) / 2 for quadratic features)."""
        n = self.obs_dim
        return 1 + n + (n * (n + 1) // 2 if self.features == "quadratic" else 0)

    def init(self, num_seeds: int | None = None) -> np.ndarray:
        """w = 0: [F] or [S, F]."""
        return np.zeros((self.dim,) if num_seeds is None else (num_seeds, self.dim))

    def psi(self, obs: np.ndarray) -> np.ndarray:
        """psi(s): [..., F] from obs [..., n]."""
        if obs.shape[-1] != self.obs_dim:
            raise ValueError(f"obs must end in the feature axis of size {self.obs_dim}, got {obs.shape}")
        cols = [np.ones(obs.shape[:-1]), *(obs[..., i] for i in range(self.obs_dim))]
        if self.features == "quadratic":
            cols += [obs[..., i] * obs[..., j] for i in range(self.obs_dim) for j in range(i, self.obs_dim)]
        return np.stack(cols, axis=-1)

    def value(self, w: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """V_w(s) = sum_f w_f psi_f(s), summed over f in order (the same bits however the batch is
        shaped): [...] from obs [..., n]; with w [S, F], obs is [..., S, K, n]."""
        psi = self.psi(obs)
        if w.ndim == 2:
            if obs.ndim < 3 or obs.shape[-3] != w.shape[0]:
                raise ValueError(f"with w [S, F] = {w.shape}, obs must be [..., S, K, n], got {obs.shape}")
            w = w[:, None, :]
        v = psi[..., 0] * w[..., 0]
        for f in range(1, self.dim):
            v = v + psi[..., f] * w[..., f]
        return v

    def fit(self, obs: np.ndarray, target: np.ndarray, ridge: float = 1e-3,
            w_prev: np.ndarray | None = None) -> np.ndarray:
        """Least-squares fit per seed (formula above): obs [S, M, n], target [S, M] -> w [S, F]."""
        if obs.ndim != 3 or target.shape != obs.shape[:2]:
            raise ValueError(f"need obs [S, M, n] and target [S, M], got {obs.shape} and {target.shape}")
        if not ridge > 0:
            raise ValueError(f"ridge must be positive, got {ridge}")
        S, M = target.shape
        psi = self.psi(obs)
        psi_t = np.ascontiguousarray(psi.transpose(0, 2, 1))
        gram = psi_t @ psi / M + ridge * np.eye(self.dim)
        rhs = (psi_t @ target[..., None])[..., 0] / M
        if w_prev is not None:
            rhs = rhs + ridge * w_prev
        return np.linalg.solve(gram, rhs[..., None])[..., 0]


@dataclass(frozen=True)
class MLPValue:
    """V(s) = f(s), a tanh MLP obs_dim -> hidden -> 1 with flat parameters [F] or [S, F];
    the last layer starts orthogonal with gain 1. Trained with torch (``torch_value``)."""

    obs_dim: int
    hidden: tuple[int, ...] = (64, 64)

    @property
    def net(self) -> MLP:
        return MLP((self.obs_dim, *self.hidden, 1), out_gain=1.0)

    @property
    def dim(self) -> int:
        return self.net.dim

    def init(self, num_seeds: int | None = None,
             rng: np.random.Generator | Sequence[np.random.Generator] | None = None) -> np.ndarray:
        """Orthogonal weights from ``rng`` (one generator per seed with num_seeds): [F] or [S, F]."""
        if rng is None:
            raise ValueError("MLP value functions draw their initial weights: pass rng (one per seed)")
        rngs: Sequence[np.random.Generator] = ([cast(np.random.Generator, rng)] if num_seeds is None
                                               else list(cast(Sequence[np.random.Generator], rng)))
        params = self.net.init(rngs)
        return params[0] if num_seeds is None else params

    def value(self, params: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """V(s) in numpy: [...] from obs [..., n] (with params [S, F]: obs [..., S, K, n])."""
        return self.net.forward(params, obs)[..., 0]

    def torch_value(self, params: Tensor, obs: Tensor) -> Tensor:
        """V(s) in torch: [...]."""
        return self.net.torch_forward(params, obs)[..., 0]
