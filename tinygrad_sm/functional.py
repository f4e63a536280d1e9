"""Functional forms of the ops: `tinygrad_sm.softmax(x)`, `F.cross_entropy(logits, y)`, ..."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from . import gates as G
from .tensor import ArrayLike, AxisLike, Tensor, _lift


def _t(x: ArrayLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def relu(x: Tensor) -> Tensor:
    return G.ReLU.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    return G.Sigmoid.apply(x)


def tanh(x: Tensor) -> Tensor:
    return G.Tanh.apply(x)


def exp(x: Tensor) -> Tensor:
    return G.Exp.apply(x)


def log(x: Tensor) -> Tensor:
    return G.Log.apply(x)


def sqrt(x: Tensor) -> Tensor:
    return G.Sqrt.apply(x)


def maximum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise max (the cs231n max gate): the gradient goes to the larger input."""
    x = _t(x)
    return G.Maximum.apply(x, _lift(y, x))


def minimum(x: ArrayLike, y: ArrayLike) -> Tensor:
    x = _t(x)
    return G.Minimum.apply(x, _lift(y, x))


def matmul(x: Tensor, w: ArrayLike) -> Tensor:
    return G.MatMul.apply(x, _lift(w, x))


def cat(tensors: Sequence[Tensor], axis: int = 0, *, dim: Optional[int] = None) -> Tensor:
    """Join tensors along an existing axis."""
    if not tensors:
        raise ValueError("cat needs at least one tensor")
    return G.Concat.apply(*[_t(t) for t in tensors], axis=axis if dim is None else dim)


concatenate = cat


def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: Optional[int] = None) -> Tensor:
    """Stack same-shaped tensors along a new axis."""
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    return G.Stack.apply(*[_t(t) for t in tensors], axis=axis if dim is None else dim)


def softmax(x: Tensor, axis: int = -1, *, dim: Optional[int] = None) -> Tensor:
    return G.Softmax.apply(x, axis=axis if dim is None else dim)


def log_softmax(x: Tensor, axis: int = -1, *, dim: Optional[int] = None) -> Tensor:
    return G.LogSoftmax.apply(x, axis=axis if dim is None else dim)


def logsumexp(x: Tensor, axis: AxisLike = None, keepdims: bool = False) -> Tensor:
    return G.LogSumExp.apply(x, axis=axis, keepdims=keepdims)


def _target(target: ArrayLike) -> Tensor:
    if isinstance(target, Tensor):
        return target
    arr = np.asarray(target)
    return Tensor._wrap(arr)  # keep integer labels as they are; float targets keep their dtype


def cross_entropy(logits: Tensor, target: ArrayLike, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax + cross-entropy in one fused gate; the gradient is (softmax(logits) - target) / N.

    target: integer classes of shape (N,), or probabilities of shape (N, C).
    reduction: "mean" (over the batch), "sum" or "none" (one loss per row).
    """
    return G.CrossEntropy.apply(logits, _target(target), reduction=reduction, label_smoothing=label_smoothing)


def nll_loss(log_probs: Tensor, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target classes; nll_loss(log_softmax(z), y) == cross_entropy(z, y)."""
    return G.NLLLoss.apply(log_probs, _target(target), reduction=reduction)
