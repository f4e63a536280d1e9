"""Functional forms of the ops: `tinygrad_sm.softmax(x)`, `F.cross_entropy(logits, y)`, ..."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from . import creation
from . import gates as G
from ._checks import is_int, is_real
from .creation import Seed
from .tensor import ArrayLike, AxisLike, Tensor, _last_axis, _lift, _one_kind, _operands, _reduce_axis


def _t(x: ArrayLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _all_tensors(items: Sequence[ArrayLike]) -> list[Tensor]:
    """The items of cat/stack as tensors: numbers and lists beside a tensor take its dtype, as
    they do in a binary op (a float64 tensor keeps [0.1] exact)."""
    like = next((t for t in items if isinstance(t, Tensor)), None)
    return [t if isinstance(t, Tensor) else _lift(t, like) if like is not None else Tensor(t) for t in items]


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise; ReLU gates the gradient (passes it where x > 0)."""
    return G.ReLU.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e**-x) elementwise (stable for large |x|); the gradient is s (1 - s)."""
    return G.Sigmoid.apply(x)


def tanh(x: Tensor) -> Tensor:
    """tanh(x) elementwise; the gradient is 1 - tanh(x)**2."""
    return G.Tanh.apply(x)


def _dropout_p(p: float) -> float:
    if not is_real(p) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p is the probability of dropping an element, a number in [0, 1]; got {p!r}")
    return float(p)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, *,
            generator: Seed = None) -> Tensor:
    """Zero each element with probability p and scale the others by 1 / (1 - p), so that the
    expected value is unchanged (inverted dropout, as PyTorch's F.dropout); x itself when not
    training, at p = 0, or when x is empty. inplace=True is accepted for PyTorch code and changes
    nothing but memory (a new tensor). `generator`: a seed or np.random.Generator (else
    manual_seed's)."""
    p, x = _dropout_p(p), _t(x)
    if not training or p == 0.0 or x.data.size == 0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: expects a float tensor, got {x.dtype}; convert it with .float()")
    if isinstance(generator, (bool, np.bool_)):
        raise TypeError("dropout: generator is a seed (an int) or an np.random.Generator, not a bool")
    return G.Dropout.apply(x, p=p, generator=creation._gen(generator))


def where(condition: ArrayLike, input: ArrayLike, other: ArrayLike) -> Tensor:  # noqa: A002
    """input where condition holds, else other (torch.where(condition, input, other)); condition is
    a bool Tensor or array and takes no gradient. The gradient is routed: input gets it where
    condition holds, other elsewhere. A number beside a tensor takes its dtype."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: the condition must be bool (a comparison, such as x > 0), got {cond.dtype}")
    if isinstance(input, Tensor):
        x, y = _operands(input, other)
    elif isinstance(other, Tensor):
        x, y = _operands(other, input, reflected=True)
    else:
        x, y = _operands(Tensor(input), other)
    return G.Where.apply(x, y, cond=cond)


def one_hot(target: ArrayLike, num_classes: int = -1) -> Tensor:
    """int64 rows with a 1 at each label: out[..., k] = (target == k), as PyTorch's F.one_hot;
    num_classes=-1 takes the largest label + 1."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expects integer class labels, got {t.dtype}")
    if not is_int(num_classes) or num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be an int >= 0 (or -1: the largest label + 1), got {num_classes!r}")
    if num_classes == -1 and t.size == 0:
        raise ValueError("one_hot: no labels to count the classes from; give num_classes")
    n = int(t.max()) + 1 if num_classes == -1 else int(num_classes)
    bad = t[(t < 0) | (t >= n)]
    if bad.size:
        raise ValueError(f"one_hot: label {int(bad.flat[0])} is outside [0, {n}) ({bad.size} such)")
    return Tensor._wrap((t[..., None] == np.arange(n)).astype(np.int64))


def exp(x: Tensor) -> Tensor:
    """e**x elementwise; the gradient is e**x itself."""
    return G.Exp.apply(x)


def log(x: Tensor) -> Tensor:
    """Natural logarithm elementwise; the gradient is 1 / x."""
    return G.Log.apply(x)


def sqrt(x: Tensor) -> Tensor:
    """Square root elementwise; the gradient is 1 / (2 sqrt(x))."""
    return G.Sqrt.apply(x)


def maximum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise max (the cs231n max gate): the gradient goes to the larger input."""
    return G.Maximum.apply(*_operands(_t(x), y))


def minimum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise min: the gradient goes to the smaller input (split in half on ties)."""
    return G.Minimum.apply(*_operands(_t(x), y))


def matmul(x: Tensor, w: ArrayLike) -> Tensor:
    """Matrix product x @ w (1-D and batched operands as in NumPy); dX = G W^T, dW = X^T G."""
    return G.MatMul.apply(*_operands(x, w))


def cat(tensors: Sequence[Tensor], axis: int = 0, *, dim: Optional[int] = None) -> Tensor:
    """Join tensors along an existing axis."""
    if not tensors:
        raise ValueError("cat needs at least one tensor")
    return G.Concat.apply(*_one_kind(_all_tensors(tensors)), axis=axis if dim is None else dim)


concatenate = cat


def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: Optional[int] = None) -> Tensor:
    """Stack same-shaped tensors along a new axis."""
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    return G.Stack.apply(*_one_kind(_all_tensors(tensors)), axis=axis if dim is None else dim)


def softmax(x: Tensor, axis: Optional[int] = None, *, dim: Optional[int] = None) -> Tensor:
    """exp(x) / sum(exp(x)) along axis (or dim; the last by default), shifted by the max, so it
    never overflows."""
    return G.Softmax.apply(x, axis=_last_axis(axis, dim))


def log_softmax(x: Tensor, axis: Optional[int] = None, *, dim: Optional[int] = None) -> Tensor:
    """x - logsumexp(x) along axis (or dim; the last by default): log-probabilities, exact where
    softmax would round to 0."""
    return G.LogSoftmax.apply(x, axis=_last_axis(axis, dim))


def logsumexp(x: Tensor, axis: AxisLike = None, keepdims: bool = False, *, dim: AxisLike = None,
              keepdim: Optional[bool] = None) -> Tensor:
    """log(sum(exp(x))) over axis (or dim), computed stably; its gradient is softmax(x)."""
    return G.LogSumExp.apply(x, axis=_reduce_axis(axis, dim), keepdims=bool(keepdim or keepdims))


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


# -- layers -------------------------------------------------------------------------------------------
def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, activation: Optional[str] = None) -> Tensor:
    """y = x @ weight.T + bias (weight of shape (out, in), as in PyTorch), then the activation.

    One fused gate: with activation="relu" the bias add and the ReLU happen in the same pass,
    and backward masks the upstream gradient once for all three products.
    """
    if activation not in (None, "relu"):
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")
    bias_ = [] if bias is None else [bias]
    if isinstance(x, Tensor) and isinstance(weight, Tensor) and x.data.dtype.kind != weight.data.dtype.kind:
        x, weight = _one_kind([x, weight])  # integer pixels take the weight's dtype, as x @ w.T does
    return G.Linear.apply(x, weight, *bias_, relu=activation == "relu")


# -- losses ---------------------------------------------------------------------------------------------
def _reduced(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(op: str, x: Tensor, target: Tensor) -> None:
    if x.shape != target.shape:
        raise ValueError(f"{op}: input of shape {x.shape} and target of shape {target.shape} differ; "
                         "give them the same shape (reshape one, e.g. target.reshape(input.shape))")


def mse_loss(input: Tensor, target: ArrayLike, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error: mean((input - target)**2); the gradient is 2 (input - target) / N."""
    t = _operands(input, target)[1]  # (integer targets take the input's float dtype)
    _same_shape("mse_loss", input, t)
    d = input - t
    return _reduced(d * d, reduction, "mse_loss")


def binary_cross_entropy(input: Tensor, target: ArrayLike, reduction: str = "mean") -> Tensor:  # noqa: A002
    """-(t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1].

    Each log is clamped at -100, as PyTorch does, so p = 0 or 1 gives a large finite loss, not inf.
    Prefer binary_cross_entropy_with_logits: it is exact where sigmoid would round to 0 or 1.
    """
    t = _operands(input, target)[1]  # (integer targets take the input's float dtype)
    _same_shape("binary_cross_entropy", input, t)
    p = input.data
    if p.size and not ((p >= 0) & (p <= 1)).all():
        bad = p[~((p >= 0) & (p <= 1))].reshape(-1)[0]
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], found {bad}; "
                         "for raw scores use binary_cross_entropy_with_logits")
    loss = G.BinaryCrossEntropy.apply(input, t)
    return _reduced(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target: ArrayLike, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Binary cross-entropy of sigmoid(input), fused and stable; the gradient is sigmoid(z) - t."""
    t = _operands(input, target)[1]  # (integer targets take the input's float dtype)
    _same_shape("binary_cross_entropy_with_logits", input, t)
    return _reduced(G.BCEWithLogits.apply(input, t), reduction, "binary_cross_entropy_with_logits")


def multiclass_hinge_loss(scores: Tensor, target: ArrayLike, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """The multiclass SVM loss of the CS231n notes: sum over wrong classes j of
    max(0, s_j - s_y + margin), averaged over the batch (unlike PyTorch's multi_margin_loss,
    it is not divided by the number of classes)."""
    return G.MultiClassHinge.apply(scores, _target(target), reduction=reduction, margin=margin)


def l2_penalty(parameters: Sequence[Tensor], weight: float) -> Tensor:
    """weight * sum of squares of every parameter (the `reg * sum(W * W)` of the CS231n notes);
    its gradient is 2 * weight * W. Pass only the weights if biases should not be penalised."""
    params = list(parameters)
    if not params:
        raise ValueError("l2_penalty: no parameters given")
    total = (params[0] * params[0]).sum()
    for p in params[1:]:
        total = total + (p * p).sum()
    return total * weight
