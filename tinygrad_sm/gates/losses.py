"""Loss gates that are clearer (and exact at their kinks) as one fused node: the multiclass SVM
hinge loss of the CS231n notes, binary cross-entropy on logits, and the Huber and smooth L1 losses."""
from __future__ import annotations

import numpy as np

from .base import Domain, Gate, GateError, Values
from .softmax import _check_class_targets, _check_reduction, _per_row_grad, _reduce


class MultiClassHinge(Gate):
    """L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin): the multiclass SVM loss.

    Each class j whose score comes within `margin` of the true class's score is a violation.
    Gradient: a violated margin sends +g to s_j and -g to s_{y_i}, so the true class receives
    -g times the number of violations; satisfied margins send nothing (the max gate routes).
    Convention at the kink (a margin exactly 0): no violation, gradient 0.
    """

    # Scores on a 0.25 grid and a margin of 1.125 keep every margin at least 0.125 from its kink.
    domain = Domain("classification", (Values(-2.0, 2.0, grid=0.25),), attrs={"margin": 1.125},
                    targets="class")

    def __init__(self, reduction: str = "mean", margin: float = 1.0):
        _check_reduction(reduction, "multiclass_hinge_loss")
        self.reduction, self.margin = reduction, margin

    def forward(self, s, target):
        if s.ndim not in (1, 2):
            raise GateError(f"multiclass_hinge_loss: scores must have shape (N, C) or (C,), got {s.shape}")
        _check_class_targets("multiclass_hinge_loss", target, s.shape[:-1], s.shape[-1], "scores")
        s2, t2 = s.reshape(-1, s.shape[-1]), target.reshape(-1)
        rows = np.arange(len(t2))
        with np.errstate(invalid="ignore"):  # (an inf score: inf - inf in its own column, set to 0 next)
            margins = s2 - s2[rows, t2][:, None] + self.margin
        margins[rows, t2] = 0  # the true class is not compared with itself
        violated = margins > 0
        self.save_for_backward(violated, t2)
        out = _reduce(np.maximum(margins, 0).sum(axis=1), self.reduction)  # (not margins * violated:
        # a margin of -inf, from a score of -inf or a float32 overflow, times 0 is NaN; a NaN stays NaN)
        return out.reshape(()) if s.ndim == 1 else out

    def backward(self, g):
        violated, t2 = self.saved
        n = len(t2)
        per_row = _per_row_grad(g, self.reduction, n, self.dtypes[0])
        grad = violated * per_row[:, None]                      # +g to each violating class
        grad[np.arange(n), t2] = -violated.sum(axis=1) * per_row  # -g per violation to the true class
        return grad.astype(self.dtypes[0], copy=False).reshape(self.shapes[0]), None


class BCEWithLogits(Gate):
    """L = -(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))), elementwise, from logits z.

    Computed as max(z, 0) - z t + log(1 + e**-|z|), which never overflows.
    Gradient: dL/dz = sigmoid(z) - t (smooth everywhere, z = 0 included); dL/dt = -z.
    """

    domain = Domain("elementwise", (Values(-5.0, 5.0), Values(0.0, 1.0)))

    def forward(self, z, t):
        self.save_for_backward(z, t)
        return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))

    def backward(self, g):
        z, t = self.saved
        e = np.exp(-np.abs(z))
        s = np.where(z >= 0, 1 / (1 + e), e / (1 + e))  # sigmoid(z), stable on both sides
        gz = g * (s - t) if self.needs_grad[0] else None
        gt = -g * z if self.needs_grad[1] else None
        return self.unbroadcast(gz, gt)


class BinaryCrossEntropy(Gate):
    """L = -(t log p + (1 - t) log(1 - p)), elementwise, for probabilities p in [0, 1].

    Each log is clamped at -100 (PyTorch's convention), so p = 0 or 1 gives a finite loss.
    Gradient: dL/dp = (p - t) / (p (1 - p)), its denominator kept >= 1e-12 so p = 0 or 1 gives a
    large finite gradient, not inf or NaN; dL/dt = log(1 - p) - log p (clamped the same way).
    """

    domain = Domain("elementwise", (Values(0.05, 0.95), Values(0.0, 1.0)))

    def forward(self, p, t):
        with np.errstate(divide="ignore"):
            log_p, log_q = np.maximum(np.log(p), -100), np.maximum(np.log1p(-p), -100)
        self.save_for_backward(p, t, log_p, log_q)
        return -(t * log_p + (1 - t) * log_q)

    def backward(self, g):
        p, t, log_p, log_q = self.saved
        gp = g * (p - t) / np.maximum(p * (1 - p), 1e-12) if self.needs_grad[0] else None
        gt = g * (log_q - log_p) if self.needs_grad[1] else None
        return self.unbroadcast(gp, gt)


class Huber(Gate):
    """L = d**2 / 2 where |d| < delta, else delta (|d| - delta / 2), elementwise, d = x - t:
    quadratic near the target, linear (so outliers pull no harder than delta) beyond it.
    Gradient: dL/dx = d clipped to [-delta, delta], and dL/dt = -dL/dx. The two pieces meet with
    the same value and slope at |d| = delta, so there is no kink to choose a convention for."""

    # Grids a quarter apart keep |d| an odd multiple of 0.25, never delta = 1 itself.
    domain = Domain("elementwise", (Values(grid=0.5), Values(grid=0.5, offset=0.25)), attrs={"delta": 1.0})

    def __init__(self, delta: float = 1.0):
        self.delta = delta

    def forward(self, x, t):
        d = x - t
        self.save_for_backward(d)
        a = np.abs(d)
        with np.errstate(over="ignore"):  # (d**2 of a huge d, on the side np.where does not take)
            return np.where(a < self.delta, d * d * 0.5, (a - self.delta * 0.5) * self.delta)

    def backward(self, g):
        (d,) = self.saved
        gd = g * np.clip(d, -self.delta, self.delta)
        return self.unbroadcast(gd if self.needs_grad[0] else None, -gd if self.needs_grad[1] else None)


class SmoothL1(Gate):
    """L = d**2 / (2 beta) where |d| < beta, else |d| - beta / 2, elementwise, d = x - t: the Huber
    loss divided by beta (delta = beta), computed as such, so that a tiny beta loses nothing.
    Gradient: dL/dx = d / beta clipped to [-1, 1] (the sign of d beyond beta), dL/dt = -dL/dx.
    beta > 0 (beta = 0 is the L1 loss, |d|: F.smooth_l1_loss sends it there)."""

    domain = Domain("elementwise", (Values(grid=0.5), Values(grid=0.5, offset=0.25)), attrs={"beta": 1.0})

    def __init__(self, beta: float = 1.0):
        self.beta = beta

    def forward(self, x, t):
        d = x - t
        self.save_for_backward(d)
        a = np.abs(d)
        with np.errstate(over="ignore"):  # (d**2 of a huge d, on the side np.where does not take)
            return np.where(a < self.beta, d * d * 0.5 / self.beta, a - self.beta * 0.5)

    def backward(self, g):
        (d,) = self.saved
        with np.errstate(over="ignore"):  # (d / beta past the float range: clipped to +-1 anyway)
            gd = g * np.clip(d / self.beta, -1, 1)
        return self.unbroadcast(gd if self.needs_grad[0] else None, -gd if self.needs_grad[1] else None)
