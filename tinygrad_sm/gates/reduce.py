"""Reduction gates over `axis` (None, an int or a tuple) with `keepdims`."""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from .base import Domain, Gate, Values

Axis = Union[None, int, tuple[int, ...]]


def normalize_axis(axis: Axis, ndim: int, unique: bool = True, op: str = "") -> Optional[tuple[int, ...]]:
    """None, or a tuple of non-negative axes; raises for an axis out of range (or repeated, when
    `unique`; `op` names the caller in the message). A 0-d tensor takes axis 0 or -1, as in
    PyTorch, and gives no axes: nothing to reduce."""
    where = f"{op}: " if op else ""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise np.exceptions.AxisError(f"{where}axis {a} is out of bounds for a tensor of {ndim} dimension(s)")
        out.append(int(a) % max(ndim, 1))
    if unique and len(set(out)) != len(out):
        raise ValueError(f"{where}repeated axis in {axis}")
    return tuple(out) if ndim else ()


class _Reduce(Gate):
    def __init__(self, axis: Axis = None, keepdims: bool = False):
        self.axis, self.keepdims = axis, keepdims

    def kept(self, a: np.ndarray) -> np.ndarray:
        """Put back the reduced axes (as size 1) so `a` broadcasts against the input."""
        if self.keepdims or self.axis is None:
            return a  # already kept, or a 0-d value that broadcasts anywhere
        return np.expand_dims(a, self.axis)

    def forward_axes(self, x: np.ndarray) -> None:
        self.axis = normalize_axis(self.axis, x.ndim)


class Sum(_Reduce):
    """z = sum of x over axis.  Every summed element had slope 1, so each gets the upstream
    gradient of the sum it fed: g broadcast back to x's shape (add distributes)."""

    domain = Domain("reduce")

    def forward(self, x):
        self.forward_axes(x)
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, g):
        return np.broadcast_to(self.kept(g), self.shapes[0])


class Mean(_Reduce):
    """z = sum(x) / n over axis.  Each element gets g / n."""

    domain = Domain("reduce")

    def forward(self, x):
        self.forward_axes(x)
        if x.size:
            out = x.mean(axis=self.axis, keepdims=self.keepdims)
            self.count = x.size // max(out.size, 1)  # n
            return out
        axes = range(x.ndim) if self.axis is None else self.axis
        self.count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        if self.count:  # (an empty result: nothing to average, nothing to warn about)
            return x.mean(axis=self.axis, keepdims=self.keepdims)
        # the mean of nothing is NaN, as in PyTorch (without NumPy's warning)
        shape = x.sum(axis=self.axis, keepdims=self.keepdims).shape
        return np.full(shape, np.nan, x.dtype if x.dtype.kind == "f" else np.float64)

    def backward(self, g):
        if self.count == 0:  # (no input element: an empty gradient)
            return np.zeros(self.shapes[0], g.dtype)
        return np.broadcast_to(self.kept(g) / self.count, self.shapes[0])


class _Extreme(_Reduce):
    """Max/min over axis.  Routes the gradient to the winners.
    Convention: tied winners share it equally (PyTorch's amax/amin and full max()/min()). A NaN
    wins (the result is NaN), and the NaN elements share the gradient, as PyTorch's max()/min()
    send it to a lone NaN."""

    pick: staticmethod  # np.max or np.min, set by the subclass

    def forward(self, x):
        self.forward_axes(x)
        if x.size == 0 and (self.axis is None or any(x.shape[a] == 0 for a in self.axis)):
            raise ValueError("an axis to reduce is empty, so there is no value to take")
        m = self.pick(x, axis=self.axis, keepdims=True)
        winners = x == m
        if m.dtype.kind == "f" and np.isnan(m).any():  # (NaN == NaN is False)
            winners |= np.isnan(x) & np.isnan(m)
        self.save_for_backward(winners, winners.sum(axis=self.axis, keepdims=True))
        return m if self.keepdims else (m.reshape(()) if self.axis is None else np.squeeze(m, self.axis))

    def backward(self, g):
        winners, count = self.saved
        return winners * (self.kept(g) / count).astype(g.dtype, copy=False)


class Max(_Extreme):
    __doc__ = _Extreme.__doc__.replace("Max/min", "z = max of x")

    domain = Domain("reduce", (Values(grid=0.25, unique=True),))  # no ties
    pick = staticmethod(np.max)


class Min(_Extreme):
    __doc__ = _Extreme.__doc__.replace("Max/min", "z = min of x")

    domain = Domain("reduce", (Values(grid=0.25, unique=True),))  # no ties
    pick = staticmethod(np.min)


class LogSumExp(_Reduce):
    """z = log(sum(exp(x))) over axis, computed as m + log(sum(exp(x - m))) with m = max(x)
    so large x cannot overflow.  dz/dx = exp(x - z) = softmax(x) along the axis."""

    domain = Domain("reduce")

    def forward(self, x):
        self.forward_axes(x)
        m = np.max(x, axis=self.axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0)  # rows of all -inf give -inf, not NaN
        with np.errstate(divide="ignore"):
            z = np.log(np.exp(x - m).sum(axis=self.axis, keepdims=True)) + m
        self.save_for_backward(x, z)
        if self.keepdims:
            return z
        return z.reshape(()) if self.axis is None else np.squeeze(z, self.axis)

    def backward(self, g):
        x, z = self.saved
        return self.kept(g) * np.exp(x - z)


class Prod(_Reduce):
    """z = product of x over axis.  dz/dx_i = the product of the others: with the running
    products from the left (before i) and from the right (after i), exactly left_i * right_i,
    also where some x are 0 (dividing z by x_i would give 0/0 there)."""

    domain = Domain("reduce", (Values(-1.5, 1.5),))

    def forward(self, x):
        self.forward_axes(x)
        if self.needs_grad:
            self.save_for_backward(x)
        return np.prod(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, g):
        (x,) = self.saved
        axes = tuple(range(x.ndim)) if self.axis is None else self.axis
        ends = tuple(range(x.ndim - len(axes), x.ndim))
        moved = np.moveaxis(x, axes, ends)  # the reduced axes last, then merged: one product a row
        lead = moved.shape[:x.ndim - len(axes)]
        rows = moved.reshape(lead + (int(np.prod(moved.shape[len(lead):], dtype=np.int64)),))
        one = np.ones(lead + (1,), x.dtype)  # (products of nothing; a row of no elements stays empty)
        left = np.cumprod(np.concatenate([one, rows], axis=-1), axis=-1)[..., :-1]
        right = np.cumprod(np.concatenate([one, rows[..., ::-1]], axis=-1), axis=-1)[..., :-1][..., ::-1]
        others = (left * right).reshape(moved.shape)
        return np.moveaxis(others, ends, axes) * self.kept(g)


class CumSum(Gate):
    """z_i = x_0 + ... + x_i along axis.  x_j feeds every z_i with i >= j, so its gradient is the
    sum of g_i over i >= j: the running sum of g taken from the other end."""

    domain = Domain("softmax")  # (an axis drawn, as softmax's)

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):  # (integers and bools add up in int64, as PyTorch's)
        return np.cumsum(x, axis=self.axis, dtype=x.dtype if x.dtype.kind in "fc" else np.int64)

    def backward(self, g):
        return np.flip(np.cumsum(np.flip(g, self.axis), axis=self.axis), self.axis)
