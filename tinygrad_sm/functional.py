"""Functional forms of the ops: `tinygrad_sm.softmax(x)`, `F.cross_entropy(logits, y)`, ..."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from . import creation
from . import gates as G
from ._checks import is_int, is_real
from .creation import Seed
from .gates.softmax import _check_class_targets
from .tensor import ArrayLike, AxisLike, Tensor, _last_axis, _lift, _one_kind, _operands, _reduce_axis, note_write


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


def finite_numbers(op: str, **numbers: Any) -> None:
    """Options that must be finite real numbers (a slope, a margin, a threshold)."""
    for name, v in numbers.items():
        if not is_real(v) or not np.isfinite(v):
            raise ValueError(f"{op}: {name} must be a finite number, got {v!r}")


def _smooth_input(op: str, x: ArrayLike, **numbers: Any) -> Tensor:
    """The input of a ReLU relative as a float tensor, after its numeric options are checked."""
    finite_numbers(op, **numbers)
    x = _t(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op} takes floating-point input, got {x.dtype}; convert it first (x.float())")
    return x


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x; the gradient leaks through the negative side scaled
    by the slope. inplace=True is accepted for PyTorch code (a new tensor all the same)."""
    x = _smooth_input("leaky_relu", x, negative_slope=negative_slope)
    return G.LeakyReLU.apply(x, negative_slope=float(negative_slope))


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (e**x - 1); the gradient is 1, or alpha * e**x."""
    return G.ELU.apply(_smooth_input("elu", x, alpha=alpha), alpha=float(alpha))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF (exact, through erf), or its tanh approximation
    with approximate="tanh"; as PyTorch's F.gelu."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return G.GELU.apply(_smooth_input("gelu", x), approximate=approximate)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (swish); the gradient is s (1 + x (1 - s)), s = sigmoid(x)."""
    return G.SiLU.apply(_smooth_input("silu", x))


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e**(beta x)) / beta, and x itself where beta x > threshold; the gradient is
    sigmoid(beta x) (1 above the threshold). threshold=inf: never linear."""
    x = _smooth_input("softplus", x, beta=beta)
    if not is_real(threshold) or threshold != threshold:
        raise ValueError(f"softplus: threshold must be a number, got {threshold!r}")
    if beta == 0:
        raise ValueError("softplus: beta must not be 0 (it divides)")
    return G.Softplus.apply(x, beta=float(beta), threshold=float(threshold))


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


def prod(input: Tensor, dim: AxisLike = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """torch.prod's spelling of input.prod(dim, keepdim)."""
    return _t(input).prod(dim, keepdim)


def cumsum(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    """torch.cumsum's spelling of input.cumsum(dim)."""
    return _t(input).cumsum(dim)


def gather(input: Tensor, dim: int, index: ArrayLike) -> Tensor:  # noqa: A002
    """torch.gather's spelling of input.gather(dim, index)."""
    return _t(input).gather(dim, index)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:  # noqa: A002
    """torch.sort's spelling of input.sort(dim, descending): (values, indices)."""
    return _t(input).sort(dim, descending, stable)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:  # noqa: A002
    """torch.argsort's spelling of input.argsort(dim, descending)."""
    return _t(input).argsort(dim, descending, stable)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
    """torch.topk's spelling of input.topk(k, dim, largest): (values, indices)."""
    return _t(input).topk(k, dim, largest, sorted)


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


def l1_loss(input: Tensor, target: ArrayLike, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error: mean(|input - target|); the gradient is sign(input - target) / N
    (0 where they are equal, abs's convention)."""
    t = _operands(input, target)[1]  # (integer targets take the input's float dtype)
    _same_shape("l1_loss", input, t)
    return _reduced((input - t).abs(), reduction, "l1_loss")


def _huber_input(op: str, input: Tensor, target: ArrayLike, reduction: str, name: str,  # noqa: A002
                 value: float, zero_ok: bool) -> Tensor:
    finite_numbers(op, **{name: value})
    if value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{op}: {name} must be {'>= 0' if zero_ok else '> 0'}, got {value!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    t = _operands(input, target)[1]
    _same_shape(op, input, t)
    return t


def huber_loss(input: Tensor, target: ArrayLike, reduction: str = "mean", delta: float = 1.0) -> Tensor:  # noqa: A002
    """d**2 / 2 where |d| < delta, else delta (|d| - delta / 2), d = input - target (one gate):
    squared error near the target, absolute error (times delta) far from it. The gradient is d
    clipped to [-delta, delta]."""
    t = _huber_input("huber_loss", input, target, reduction, "delta", delta, zero_ok=False)
    return _reduced(G.Huber.apply(input, t, delta=float(delta)), reduction, "huber_loss")


def smooth_l1_loss(input: Tensor, target: ArrayLike, reduction: str = "mean", beta: float = 1.0) -> Tensor:  # noqa: A002
    """d**2 / (2 beta) where |d| < beta, else |d| - beta / 2 (the Huber loss over beta, one gate),
    whose gradient is d / beta clipped to [-1, 1]; beta = 0 is l1_loss (as PyTorch's)."""
    t = _huber_input("smooth_l1_loss", input, target, reduction, "beta", beta, zero_ok=True)
    if beta == 0:
        return l1_loss(input, t, reduction)
    return _reduced(G.SmoothL1.apply(input, t, beta=float(beta)), reduction, "smooth_l1_loss")


def multi_margin_loss(input: Tensor, target: ArrayLike, p: int = 1, margin: float = 1.0,  # noqa: A002
                      weight: Optional[ArrayLike] = None, reduction: str = "mean") -> Tensor:
    """PyTorch's multiclass hinge loss: for each sample, the sum over wrong classes j of
    max(0, margin - x[y] + x[j])**p (times weight[y]), divided by the number of classes C.
    With p=1 and no weight it is multiclass_hinge_loss / C (the same gate); p=2 squares each
    violated margin. input is (N, C) or (C,) (one sample, target a class or [class])."""
    op = "multi_margin_loss"
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(f"{op}: p must be 1 or 2, got {p!r}")
    finite_numbers(op, margin=margin)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    x, y = _t(input), _target(target)
    if x.ndim not in (1, 2):
        raise ValueError(f"{op}: input must have shape (N, C) or (C,), got {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op} takes floating-point scores, got {x.dtype}; convert them first (x.float())")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{op}: class targets must be integers, got {y.dtype}")
    c = x.shape[-1]
    one_row = x.ndim == 1  # (one sample: the target is a class, or a list of one)
    rows = x.reshape(1, c) if one_row else x
    labels = y.data.reshape(-1) if one_row and y.data.shape in ((), (1,)) else y.data
    _check_class_targets(op, labels, rows.shape[:-1], c, "input")
    w = None if weight is None else np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if w is not None and w.shape != (c,):
        raise ValueError(f"{op}: weight must have one entry per class, shape ({c},); got {w.shape}")
    if p == 1 and w is None:
        per_sample = G.MultiClassHinge.apply(rows, Tensor._wrap(labels), reduction="none", margin=float(margin)) / c
    else:
        wrong = np.ones(rows.shape, dtype=bool)  # (the true class is not compared with itself: masked
        wrong[np.arange(len(labels)), labels] = False  # before the max, where an inf score makes inf - inf)
        with np.errstate(invalid="ignore"):  # (inf - inf in a true class's column, which where drops)
            m = where(wrong, rows - rows.gather(1, labels[:, None]) + float(margin), 0.0).relu()  # relu'(0) = 0
        if p == 2:
            m = m * m
        if w is not None:
            m = m * w.astype(rows.dtype)[labels][:, None]
        per_sample = m.sum(1) / c
    if one_row and y.data.shape == ():
        per_sample = per_sample.reshape(())
    return _reduced(per_sample, reduction, op)


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


# -- convolution and pooling ----------------------------------------------------------------------------
def _batched(op: str, x: Tensor) -> tuple[Tensor, bool]:
    """(x as (N, C, H, W), whether it was one image (C, H, W) given without the batch axis)."""
    if x.ndim == 3:
        return x.reshape((1,) + x.shape), True
    if x.ndim != 4:
        raise ValueError(f"{op}: input must have shape (N, C, H, W) or (C, H, W), got {x.shape}")
    return x, False


def _same_padding(weight_shape: tuple[int, ...], stride: object, dilation: object) -> tuple[int, int]:
    """padding='same' (stride 1): half of each dilated kernel's extent, which must be even."""
    s, d = G.conv.pair(stride, "stride", "conv2d", 1), G.conv.pair(dilation, "dilation", "conv2d", 1)
    if s != (1, 1):
        raise ValueError(f"conv2d: padding='same' needs stride 1, got stride={stride!r}")
    extent = [d[i] * (weight_shape[2 + i] - 1) for i in (0, 1)]
    if any(e % 2 for e in extent):
        raise ValueError(f"conv2d: padding='same' with kernel {weight_shape[2:]} (dilation {d}) would pad one "
                         "side more than the other, which this conv2d does not do; pad the input with "
                         "an odd kernel, or give padding as numbers")
    return extent[0] // 2, extent[1] // 2


def conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: object = 1,  # noqa: A002
           padding: object = 0, dilation: object = 1, groups: int = 1) -> Tensor:
    """2-D convolution (PyTorch's cross-correlation): input (N, C, H, W) or (C, H, W), weight
    (O, C / groups, kh, kw), bias (O,). stride, padding, dilation: an int or a pair; padding may be
    'valid' (0) or 'same' (stride 1). groups: the channels convolved in that many groups apart
    (groups = C: depthwise). One gate: im2col windows times the weight matrix (see gates.Conv2d)."""
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"conv2d: {name} must be a Tensor, got a {type(t).__name__} (ts.tensor(a) makes one)")
    x, one = _batched("conv2d", _t(input))
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"conv2d: padding must be a number, a pair, 'valid' or 'same', got {padding!r}")
        padding = 0 if padding == "valid" else _same_padding(weight.shape, stride, dilation)
    if x.data.dtype.kind != weight.data.dtype.kind:
        x, weight = _one_kind([x, weight])  # integer pixels take the weight's dtype, as linear does
    y = G.Conv2d.apply(x, weight, *([] if bias is None else [bias]), stride=stride, padding=padding,
                       dilation=dilation, groups=groups)
    return y.reshape(y.shape[1:]) if one else y


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: object = 1,  # noqa: A002
                     padding: object = 0, output_padding: object = 0, groups: int = 1, dilation: object = 1) -> Tensor:
    """Transposed convolution (the gradient of conv2d with respect to its input, run forward): input
    (N, C_in, H, W) or (C_in, H, W), weight (C_in, C_out / groups, kh, kw), bias (C_out,). The output side is
    (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1: stride 2 doubles it,
    as a decoder's upsampling layer does. One gate (see gates.ConvTranspose2d)."""
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"conv_transpose2d: {name} must be a Tensor, got a {type(t).__name__} (ts.tensor(a) makes one)")
    x, one = _batched("conv_transpose2d", _t(input))
    if x.data.dtype.kind != weight.data.dtype.kind:
        x, weight = _one_kind([x, weight])  # integer pixels take the weight's dtype, as conv2d does
    y = G.ConvTranspose2d.apply(x, weight, *([] if bias is None else [bias]), stride=stride, padding=padding,
                                output_padding=output_padding, dilation=dilation, groups=groups)
    return y.reshape(y.shape[1:]) if one else y


def max_pool2d(input: Tensor, kernel_size: object, stride: object = None, padding: object = 0,  # noqa: A002
               dilation: object = 1, ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """The largest value of each kernel_size window (stride defaults to kernel_size); padding
    counts as -inf. The gradient goes to each window's winner (the first, if several tie).
    ceil_mode: the output size rounded up (the last windows take what they cover).
    return_indices: (y, indices), each winner's place as a flat index into its (H, W) plane, an
    int64 tensor (what max_unpool2d takes)."""
    x, one = _batched("max_pool2d", _t(input))
    gate = G.MaxPool2d(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                       ceil_mode=ceil_mode, return_indices=return_indices)
    y = gate.run1(x)
    if not return_indices:
        return y.reshape(y.shape[1:]) if one else y
    idx = Tensor(gate.__dict__.pop("indices"))  # (the gate keeps no copy)
    return (y.reshape(y.shape[1:]), idx.reshape(idx.shape[1:])) if one else (y, idx)


def max_unpool2d(input: Tensor, indices: Any, kernel_size: object, stride: object = None,  # noqa: A002
                 padding: object = 0, output_size: Optional[Sequence[int]] = None) -> Tensor:
    """max_pool2d's partial inverse: zeros, with each value of input put back at its place in
    indices (from max_pool2d(..., return_indices=True)). The output is (H_in - 1) * stride - 2 *
    padding + kernel_size on each side, or output_size ((H, W), or the whole shape), which may
    differ from that by less than the stride (the size the pooling started from)."""
    x, one = _batched("max_unpool2d", _t(input))
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if one:
        idx = idx.reshape((1,) + idx.shape)
    k = G.conv.pair(kernel_size, "kernel_size", "max_unpool2d", 1)
    s = k if stride is None else G.conv.pair(stride, "stride", "max_unpool2d", 1)
    p = G.conv.pair(padding, "padding", "max_unpool2d", 0)
    size = [(x.shape[2 + d] - 1) * s[d] - 2 * p[d] + k[d] for d in (0, 1)]
    if output_size is not None:
        want = list(output_size) if isinstance(output_size, (tuple, list)) else None
        if want is not None and len(want) == 4:  # (the whole shape, as PyTorch takes it)
            want = want[-2:]
        if want is None or len(want) != 2 or not all(is_int(v) for v in want):
            raise ValueError(f"max_unpool2d: output_size is (H, W) or the whole output shape, got {output_size!r}")
        for d in (0, 1):
            if not size[d] - s[d] < want[d] < size[d] + s[d]:
                raise ValueError(f"max_unpool2d: output_size {tuple(want)} is too far from the size this "
                                 f"pooling gives, {tuple(size)}: each side must differ by less than the stride {s}")
        size = [int(v) for v in want]
    y = G.MaxUnpool2d.apply(x, indices=idx, output_size=tuple(size))
    return y.reshape(y.shape[1:]) if one else y


def avg_pool2d(input: Tensor, kernel_size: object, stride: object = None, padding: object = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    """The mean of each kernel_size window (stride defaults to kernel_size): its sum over
    kh * kw, padding counted as zeros (count_include_pad=True, PyTorch's default), or over the
    input's own elements in it (count_include_pad=False), or over divisor_override.
    ceil_mode: the output size rounded up (the last windows take what they cover)."""
    x, one = _batched("avg_pool2d", _t(input))
    y = G.AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                          count_include_pad=count_include_pad, divisor_override=divisor_override)
    return y.reshape(y.shape[1:]) if one else y


def adaptive_avg_pool2d(input: Tensor, output_size: object) -> Tensor:  # noqa: A002
    """The mean over windows that divide the input into output_size (an int, or a pair whose None
    keeps that side) as evenly as they can; adaptive_avg_pool2d(x, 1) is global average pooling."""
    x, one = _batched("adaptive_avg_pool2d", _t(input))
    if output_size is None or (isinstance(output_size, (tuple, list)) and len(output_size) != 2):
        raise TypeError(f"adaptive_avg_pool2d: output_size is an int or a pair (H, W), either may be None "
                        f"to keep that side; got {output_size!r}")
    size = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size, output_size]
    size = [x.shape[2 + i] if v is None else v for i, v in enumerate(size)]
    y = G.AdaptiveAvgPool2d.apply(x, output_size=tuple(size))
    return y.reshape(y.shape[1:]) if one else y


# -- normalisation and embedding: built from ops, so their gradients are the ops' ---------------------
def _normalized(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """((x - mean) / sqrt(var + eps), mean, var) over `axes`, var the biased (1/n) variance."""
    mean = x.mean(axis=axes, keepdims=True)
    d = x - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    return d / (var + eps).sqrt(), mean, var


def _float_like(op: str, x: Tensor, *others: Optional[Tensor]) -> None:
    """Normalisation takes floats, of the dtype of its parameters and statistics (as PyTorch)."""
    if x.dtype.kind != "f":
        raise TypeError(f"{op} takes floating-point input, got {x.dtype}; convert it first (x.float())")
    for t in others:
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"{op}: the input is {x.dtype} but the layer's parameters or statistics are "
                            f"{t.dtype}; convert the input with .to('{t.dtype}') or the layer with .to('{x.dtype}')")


def _eps(op: str, eps: float) -> float:
    if not is_real(eps) or not eps > 0 or not np.isfinite(eps):
        raise ValueError(f"{op}: eps must be a number > 0, got {eps!r}")
    return float(eps)


def layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Optional[Tensor] = None,  # noqa: A002
               bias: Optional[Tensor] = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last len(normalized_shape) dims of each sample: (x - mean) / sqrt(var +
    eps) (var biased), then * weight + bias, both of shape normalized_shape, as PyTorch's."""
    x = _t(input)
    shape = (int(normalized_shape),) if is_int(normalized_shape) else tuple(int(n) for n in normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the last dims of the input, "
                         f"whose shape is {x.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != shape:
            raise ValueError(f"layer_norm: {name} must have the normalized shape {shape}, got {t.shape}")
    _float_like("layer_norm", x, weight, bias)
    y, _, _ = _normalized(x, tuple(range(x.ndim - len(shape), x.ndim)), _eps("layer_norm", eps))
    if weight is not None:
        y = y * weight
    return y + bias if bias is not None else y


def batch_norm(input: Tensor, running_mean: Optional[Tensor], running_var: Optional[Tensor],  # noqa: A002
               weight: Optional[Tensor] = None, bias: Optional[Tensor] = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) over the batch and any spatial dims, as PyTorch's.
    training=True: with this batch's mean and biased variance, and the running statistics (if
    given) move toward the batch's, running = (1 - momentum) * running + momentum * batch (the
    unbiased variance), in place; training=False: with the running statistics."""
    x = _t(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must have shape (N, C, ...), got {x.shape}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},) for input of shape {x.shape}, got {t.shape}")
    _float_like("batch_norm", x, running_mean, running_var, weight, bias)
    axes = (0,) + tuple(range(2, x.ndim))
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    eps = _eps("batch_norm", eps)
    if training:
        n = _values_per_channel("batch_norm", x)
        y, mean, var = _normalized(x, axes, eps)
        if running_mean is not None and running_var is not None:
            m = x.data.dtype.type(momentum)
            running_mean.data *= 1 - m
            running_mean.data += m * mean.data.reshape(c)
            running_var.data *= 1 - m
            running_var.data += m * var.data.reshape(c) * x.data.dtype.type(n / (n - 1))
            for t in (running_mean, running_var):  # (a graph that saved them must not use the new values)
                note_write(t, "batch_norm's running statistics")
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: training=False normalises with the running statistics; give "
                             "running_mean and running_var (or training=True)")
        y = (x - running_mean.reshape(per_channel)) / (running_var.reshape(per_channel) + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(per_channel)
    return y + bias.reshape(per_channel) if bias is not None else y


def _values_per_channel(op: str, x: Tensor) -> int:
    """N * H * W ...: how many values each channel's batch statistics are over (more than 1)."""
    n = x.data.size // max(x.shape[1], 1)
    if n <= 1:
        raise ValueError(f"{op}: training needs more than 1 value per channel, input of shape {x.shape} "
                         f"has {n} (a batch of one: use model.eval(), or a larger batch)")
    return n


def embedding(input: ArrayLike, weight: Tensor, padding_idx: Optional[int] = None) -> Tensor:  # noqa: A002
    """Rows of weight (num_embeddings, dim) picked by the integer indices in input: the result
    has shape input.shape + (dim,). Each row's gradient is the sum over the places it was
    picked; the row padding_idx gets none, as in PyTorch."""
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: the indices must be integers, got {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"embedding: index {int(bad)} is out of range for {n} embeddings")
    out = weight[idx]
    if padding_idx is not None:
        pad = padding_idx % n if -n <= padding_idx < n else None
        if pad is None:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for {n} embeddings")
        hit = idx == pad
        if hit.any():  # (those rows read, but send no gradient back)
            out = where(hit[..., None], out.detach(), out)
    return out
