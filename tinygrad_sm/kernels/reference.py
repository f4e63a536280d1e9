"""Plain NumPy kernels: the reference every fast kernel is tested against.

All work along the last axis of a 2-D (N, C) array of logits, shifting each row by its max so
exp never overflows (logits of +-1e4 stay finite).
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log p = z - max(z) - log(sum(exp(z - max(z)))) along the last axis."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """p = exp(z - max(z)) / sum(exp(z - max(z))) along the last axis."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """dL/dz = p * (g - sum(g * p)) along the last axis (the softmax Jacobian times g)."""
    return p * (g - (g * p).sum(axis=-1, keepdims=True))


def log_softmax_backward(logp: np.ndarray, g: np.ndarray) -> np.ndarray:
    """dL/dz = g - softmax(z) * sum(g) along the last axis."""
    return g - np.exp(logp) * g.sum(axis=-1, keepdims=True)


def smoothed(target: np.ndarray, c: int, label_smoothing: float) -> np.ndarray:
    """The (N, C) target distribution: (1 - e) * target + e / C."""
    return target if not label_smoothing else (1 - label_smoothing) * target + label_smoothing / c


def cross_entropy_forward(
    z: np.ndarray, target: np.ndarray, label_smoothing: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row loss and log-softmax of (N, C) logits.

    target is either (N,) integer classes or (N, C) probabilities. With smoothing e the target
    distribution is (1 - e) * target + e / C, as in PyTorch.
    Returns (loss of shape (N,), log p of shape (N, C)).
    """
    logp = log_softmax(z)
    n, c = z.shape
    if target.ndim == 1:  # class indices: loss = -log p[target]
        loss = -logp[np.arange(n), target]
        if label_smoothing:
            loss = (1 - label_smoothing) * loss - (label_smoothing / c) * logp.sum(axis=1)
    else:
        loss = -(smoothed(target, c, label_smoothing) * logp).sum(axis=1)
    return loss.astype(z.dtype, copy=False), logp


def cross_entropy_backward(
    logp: np.ndarray, target: np.ndarray, g: np.ndarray, label_smoothing: float = 0.0
) -> np.ndarray:
    """dL/dz = (softmax(z) - t) * g per row, t the (smoothed) target distribution.

    g is the upstream gradient of each row's loss, shape (N,) (for reduction='mean' the caller
    passes 1/N in every row, giving the familiar (p - y) / N).
    """
    n, c = logp.shape
    grad = np.exp(logp)
    if target.ndim == 1:
        grad[np.arange(n), target] -= 1 - label_smoothing
        if label_smoothing:
            grad -= label_smoothing / c
    else:
        grad -= smoothed(target, c, label_smoothing)
    grad *= g[:, None]
    return grad
