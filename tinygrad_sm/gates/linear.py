"""A whole linear layer in one gate: y = x @ w.T + b, optionally followed by ReLU."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import kernels
from .base import Domain, Gate, GateError, Values


def _check(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray]) -> None:
    if w.ndim != 2:
        raise GateError(f"linear: weight must have shape (out_features, in_features), got {w.shape}")
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise GateError(f"linear: input of shape {x.shape} does not fit weight of shape {w.shape}: "
                        f"the input's last dimension must be in_features = {w.shape[1]}")
    mixed = [(name, a.dtype) for name, a in (("input", x), ("bias", b))
             if a is not None and a.dtype != w.dtype and a.dtype.kind == "f" and w.dtype.kind == "f"]
    if mixed:  # (PyTorch refuses the mix too)
        name, dt = mixed[0]
        fix = (f"convert the input with .to('{w.dtype}') or the model with .to('{dt}')" if name == "input"
               else f"convert the bias with .to('{w.dtype}')")
        raise GateError(f"linear: {name} is {dt} but the weight is {w.dtype}; {fix}")
    if b is not None and b.shape != (w.shape[0],):
        raise GateError(f"linear: bias must have shape ({w.shape[0]},) for weight of shape {w.shape}, "
                        f"got {b.shape}")


class Linear(Gate):
    """y = x @ w.T + b, then max(y, 0) if relu=True; x is (N, in) (or (in,), or (..., in)),
    w is (out, in) as in PyTorch, b is (out,) or left out: Linear.apply(x, w[, b], relu=...).

    Backward: ReLU gates first, gm = g where y > 0; then mul swaps, in matrix form:
    dx = gm @ w, dw = gm.T @ x, db = gm summed over the batch (the bias was broadcast to every row).
    One gate instead of matmul + add + relu: each activation is touched fewer times.
    """

    domain = Domain("linear", (Values(), Values(), Values()))

    def __init__(self, relu: bool = False):
        self.relu = relu

    def forward(self, x, w, b=None):
        _check(x, w, b)
        x2 = x.reshape(-1, x.shape[-1])  # the batch dimensions flattened into rows
        y = kernels.linear_forward(x2, w, b, self.relu)
        need = self.needs_grad  # (empty when not recorded) dx needs w, dw needs x
        if need:
            self.save_for_backward(x2 if need[1] else None, w if need[0] else None, y if self.relu else None)
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        x2, w, y = self.saved
        need = tuple(self.needs_grad) + (False,) * (3 - len(self.needs_grad))
        g2 = g.reshape(-1, self.shapes[1][0])
        dx, dw, db = kernels.linear_backward(x2, w, y, g2, self.relu, need)
        dx = None if dx is None else dx.reshape(self.shapes[0])
        return self.unbroadcast(dx, dw, db)[:len(self.needs_grad)]
