"""Softmax, log-softmax and the losses built on them, including the fused
softmax-cross-entropy gate."""
from __future__ import annotations

import numpy as np

from .. import kernels
from .base import Domain, Gate, GateError, Values


def _is_last(x: np.ndarray, axis: int) -> bool:
    """axis is x's last one (a 0-d array counts as one element along dim 0 or -1, as in PyTorch)."""
    return axis in (-1, x.ndim - 1) or (x.ndim == 0 and axis == 0)


def _last(x: np.ndarray, axis: int) -> np.ndarray:
    return x if _is_last(x, axis) else np.moveaxis(x, axis, -1)


def _back(x: np.ndarray, axis: int) -> np.ndarray:
    return x if _is_last(x, axis) else np.moveaxis(x, -1, axis)


class Softmax(Gate):
    """p = exp(x) / sum(exp(x)) along axis (shifted by the max, so it never overflows).
    dL/dx = p * (g - sum(g * p)): the Jacobian diag(p) - p p^T applied to g."""

    domain = Domain("softmax", (Values(-5.0, 5.0),))

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):
        p = _back(kernels.softmax(_last(x, self.axis)), self.axis)
        self.save_for_backward(p)
        return p

    def backward(self, g):
        (p,) = self.saved
        return _back(kernels.softmax_backward(_last(p, self.axis), _last(g, self.axis)), self.axis)


class LogSoftmax(Gate):
    """log p = x - logsumexp(x) along axis.  dL/dx = g - softmax(x) * sum(g)."""

    domain = Domain("softmax", (Values(-5.0, 5.0),))

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):
        logp = _back(kernels.log_softmax(_last(x, self.axis)), self.axis)
        self.save_for_backward(logp)
        return logp

    def backward(self, g):
        (logp,) = self.saved
        return _back(kernels.log_softmax_backward(_last(logp, self.axis), _last(g, self.axis)), self.axis)


REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in REDUCTIONS:
        raise GateError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_class_targets(op: str, target: np.ndarray, n_rows: tuple[int, ...], c: int, what: str,
                         values: bool = True) -> None:
    """Integer targets of shape n_rows with every value in [0, c) (values=False: not the values)."""
    if target.dtype.kind not in "iu":
        hint = f"; for probability targets give shape {n_rows + (c,)}" if target.dtype.kind == "f" else ""
        raise GateError(f"{op}: class targets must be integers, got {target.dtype}{hint}")
    if target.shape != n_rows:
        raise GateError(f"{op}: {what} of shape {n_rows + (c,)} need targets of shape {n_rows}, "
                        f"got {target.shape}")
    if values and target.size and (target.min() < 0 or target.max() >= c):
        bad = np.flatnonzero((target < 0) | (target >= c))[0]
        raise GateError(f"{op}: class target {target.reshape(-1)[bad]} at index {bad} is out of range "
                        f"for {c} classes (valid: 0..{c - 1})")


def _per_row_grad(g: np.ndarray, reduction: str, n: int, dtype: np.dtype) -> np.ndarray:
    """The upstream gradient of each row's loss: g/N for mean, g for sum, g itself for none."""
    if reduction == "none":
        return g.reshape(n).astype(dtype, copy=False)
    scale = g / n if reduction == "mean" and n else g
    return np.full(n, scale, dtype=dtype)


def _reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":  # = loss.mean(), bit for bit, without np.mean's Python layer
        n = loss.shape[0]  # (the mean of no rows is NaN, as in PyTorch, without NumPy's warning)
        return np.add.reduce(loss) / n if n else np.full((), np.nan, loss.dtype)
    return np.add.reduce(loss) if reduction == "sum" else loss


class CrossEntropy(Gate):
    """L = -sum(t * log softmax(z)) per row, fused into one gate.

    Inputs: logits z of shape (N, C) (or (C,) for one sample) and targets t, either integer
    classes of shape (N,) or probabilities of shape (N, C). With label smoothing e the target
    distribution is (1 - e) * t + e / C.
    Gradient: dL/dz = (softmax(z) - t) / N for reduction="mean", in one step: no softmax
    Jacobian, no log of a probability that could underflow to 0.
    """

    domain = Domain("classification", (Values(-5.0, 5.0),))

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0):
        _check_reduction(reduction, "cross_entropy")
        if not 0.0 <= label_smoothing <= 1.0:
            raise GateError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, z, target):
        if z.ndim not in (1, 2):
            raise GateError(f"cross_entropy: logits must have shape (N, C) or (C,), got {z.shape}")
        if z.dtype.kind != "f":  # integer logits compute in float64, as NumPy's exp and softmax do
            z = z.astype(np.float64)
        z2 = z.reshape(1, -1) if z.ndim == 1 else z
        n, c = z2.shape
        if target.dtype.kind == "f" and target.shape == z.shape:  # probabilities
            t2 = target.reshape(n, c).astype(z.dtype, copy=False)
        else:  # (the kernel checks the values: it refuses targets outside 0..C-1)
            _check_class_targets("cross_entropy", target, z.shape[:-1], c, "logits", values=False)
            t2 = target.reshape(n)
        # One fused pass gives the loss and its gradient, already divided by N for "mean";
        # backward then only has to scale it by the upstream gradient (usually 1: nothing to do).
        scale = 1.0 / n if self.reduction == "mean" and n else 1.0
        try:
            loss, grad = kernels.softmax_cross_entropy(z2, t2, self.label_smoothing, scale)
        except ValueError:
            if t2.ndim == 1:  # say which target, and where
                _check_class_targets("cross_entropy", target, z.shape[:-1], c, "logits")
            raise
        out = _reduce(loss, self.reduction)
        # a mean or sum is finite when every row's loss is (or overflows: then the check below
        # finds no bad input and lets it through)
        if not (np.isfinite(out) if out.ndim == 0 else np.isfinite(out).all()):
            _explain_nonfinite(z2, t2)
        need = self.needs_grad  # (the logits only for the targets' gradient)
        if need:
            self.save_for_backward(grad, z2 if len(need) > 1 and need[1] else None)
        return out.reshape(()) if z.ndim == 1 else out

    def backward(self, g):
        grad, z2 = self.saved
        n = grad.shape[0]
        gz = None
        if self.needs_grad[0]:
            if self.reduction == "none":
                gz = grad * g.reshape(n, 1).astype(grad.dtype, copy=False)
            else:
                gz = grad if g == 1 else grad * g.astype(grad.dtype)
            if gz.shape != self.shapes[0]:  # (a view would make backward copy the gradient)
                gz = gz.reshape(self.shapes[0])
        gt = None
        if len(self.needs_grad) > 1 and self.needs_grad[1]:  # dL/dt = -(1 - e) log p
            per_row = _per_row_grad(g, self.reduction, n, grad.dtype)
            logp = kernels.log_softmax(z2)
            gt = (-(1 - self.label_smoothing) * logp * per_row[:, None]).reshape(self.shapes[1])
            gt = gt.astype(self.dtypes[1], copy=False)  # (the targets' dtype may not be the logits')
        return gz, gt


def _explain_nonfinite(z: np.ndarray, t: np.ndarray) -> None:
    """Raise a clear error when the loss is NaN/inf because of bad logits or targets."""
    for what, arr in (("logits", z), ("targets", t)):
        bad = np.isnan(arr) | np.isposinf(arr) if arr.dtype.kind == "f" else None
        if bad is not None and bad.any():
            r, col = np.argwhere(bad)[0]
            raise GateError(f"cross_entropy: {what} contain {arr[r, col]} (first at row {r}, column {col}); "
                            "the loss would be NaN. Check the inputs, or lower the learning rate if "
                            "training diverged.")
    if z.size and z.dtype.kind == "f":
        dead = np.flatnonzero(np.isneginf(z).all(axis=1))
        if len(dead):
            raise GateError(f"cross_entropy: every logit of row {dead[0]} is -inf ({len(dead)} such row(s)), "
                            "so softmax has no value there and the loss would be NaN")
    # -inf logit on a target class: the loss is honestly +inf; let it through.


class NLLLoss(Gate):
    """L = -logp[i, y_i] per row (the negative log-likelihood of the target class).
    dL/dlogp is -1 (times g, /N for mean) at each row's target and 0 elsewhere.
    nll_loss(log_softmax(z), y) equals cross_entropy(z, y)."""

    domain = Domain("classification", (Values(-5.0, 0.0),), targets="class")

    def __init__(self, reduction: str = "mean"):
        _check_reduction(reduction, "nll_loss")
        self.reduction = reduction

    def forward(self, logp, target):
        if logp.ndim not in (1, 2):
            raise GateError(f"nll_loss: input must have shape (N, C) or (C,), got {logp.shape}")
        _check_class_targets("nll_loss", target, logp.shape[:-1], logp.shape[-1], "log-probabilities")
        lp2 = logp.reshape(-1, logp.shape[-1])
        t2 = target.reshape(-1)
        self.save_for_backward(t2)
        out = _reduce(-lp2[np.arange(lp2.shape[0]), t2], self.reduction)
        return out.reshape(()) if logp.ndim == 1 else out

    def backward(self, g):
        (t2,) = self.saved
        shape = self.shapes[0]
        n = int(np.prod(shape[:-1]))
        grad = np.zeros((n, shape[-1]), dtype=self.dtypes[0])
        grad[np.arange(n), t2] = -_per_row_grad(g, self.reduction, n, self.dtypes[0])
        return grad.reshape(shape), None
