"""Gradient ascent: pure (theta, grad, state) -> (theta, state) steps, batched over seeds.

theta and grad are [S, d] (or [d]); optimiser state is a tuple of arrays whose leading
axis is the seed axis, so a subset of seeds can be stepped with ``take``/``put``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SGD:
    """theta <- theta + lr * grad."""

    lr: float

    def init(self, theta: np.ndarray) -> tuple[np.ndarray, ...]:
        return ()

    def step(self, theta: np.ndarray, grad: np.ndarray,
             state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        return theta + self.lr * grad, state


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma and Ba, 2015), as ascent:
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  n <- n + 1;
    theta <- theta + lr * (m / (1 - b1^n)) / (sqrt(v / (1 - b2^n)) + eps).
    """

    lr: float
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8

    def init(self, theta: np.ndarray) -> tuple[np.ndarray, ...]:
        """(m, v, n): zeros like theta, and a step count per seed."""
        return np.zeros_like(theta), np.zeros_like(theta), np.zeros(theta.shape[:-1], np.int64)

    def step(self, theta: np.ndarray, grad: np.ndarray,
             state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        m, v, n = state
        m = self.b1 * m + (1 - self.b1) * grad
        v = self.b2 * v + (1 - self.b2) * np.square(grad)
        n = n + 1
        m_hat = m / (1 - self.b1 ** n[..., None])
        v_hat = v / (1 - self.b2 ** n[..., None])
        return theta + self.lr * m_hat / (np.sqrt(v_hat) + self.eps), (m, v, n)


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Per seed, whether every number of every array is finite: arrays [S, ...] -> [S] bool."""
    ok = np.ones(len(arrays[0]), bool)
    for x in arrays:
        ok &= np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    return ok


def take(state: tuple[np.ndarray, ...], idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """The optimiser state of the seeds ``idx``."""
    return tuple(x[idx] for x in state)


def put(state: tuple[np.ndarray, ...], idx: np.ndarray, part: tuple[np.ndarray, ...]) -> None:
    """Write a subset's state back into the full state, in place."""
    for x, p in zip(state, part, strict=True):
        x[idx] = p


def clip_grad_norm(grad: np.ndarray, max_norm: float) -> tuple[np.ndarray, np.ndarray]:
    """Rescale each seed's gradient to Euclidean norm at most max_norm:
    g <- g * min(1, max_norm / ||g||).  grad: [S, d] (or [d]) -> (clipped grad, norms [S])."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    norm = np.sqrt(np.square(grad).sum(axis=-1))
    scale = np.minimum(1.0, max_norm / np.maximum(norm, 1e-12))
    return grad * scale[..., None], norm


def linear_decay(initial: float, fraction_done: float) -> float:
    """A linear schedule: initial * (1 - fraction_done), fraction_done in [0, 1] of the budget."""
    return initial * max(0.0, 1.0 - fraction_done)
