"""Activation gates: ReLU, sigmoid, tanh, clip and dropout."""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from .. import kernels
from .base import Domain, Gate, GateError, Values


class ReLU(Gate):
    """z = max(x, 0).  ReLU *gates*: the upstream gradient passes where x > 0 and is
    blocked elsewhere.  Convention: relu'(0) = 0 (PyTorch's choice)."""

    domain = Domain("elementwise", (Values(avoid=(0.0,)),))  # away from the kink
    scalars = True  # (the kernels take NumPy scalars too)

    def forward(self, x):
        z = kernels.relu(x)
        self.save_for_backward(z)
        return z

    def backward(self, g):
        (z,) = self.saved
        return kernels.relu_backward(z, g)  # g where z > 0, else 0


class Sigmoid(Gate):
    """s = 1 / (1 + e**-x), one fused gate.  ds/dx = s * (1 - s), from the saved output.
    Computed from e**-|x| so neither branch overflows for large |x|."""

    domain = Domain("elementwise", (Values(-8.0, 8.0),))

    def forward(self, x):
        e = np.exp(-np.abs(x))
        s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        self.save_for_backward(s)
        return s

    def backward(self, g):
        (s,) = self.saved
        return g * s * (1 - s)


class Tanh(Gate):
    """t = tanh(x).  dt/dx = 1 - t**2, from the saved output."""

    domain = Domain("elementwise")
    scalars = True

    def forward(self, x):
        t = np.tanh(x)
        self.save_for_backward(t)
        return t

    def backward(self, g):
        (t,) = self.saved
        return g * (1 - t * t)


class Clip(Gate):
    """z = min(max(x, lo), hi).  dz/dx = 1 inside [lo, hi] and 0 outside.
    Convention: the bounds themselves count as inside (gradient 1), as in PyTorch's clamp."""

    domain = Domain("elementwise", (Values(avoid=(-0.5, 0.7)),), attrs={"lo": -0.5, "hi": 0.7})

    def __init__(self, lo: Optional[float] = None, hi: Optional[float] = None):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        self.save_for_backward(x)
        z = np.clip(x, self.lo, self.hi).astype(x.dtype, copy=False)
        if z.shape != x.shape:
            raise GateError(f"clip: bounds of shape {np.shape(self.lo)} and {np.shape(self.hi)} would "
                            f"change the input's shape {x.shape} to {z.shape}; give bounds that "
                            "broadcast to the input's shape")
        return z

    def backward(self, g):
        (x,) = self.saved
        inside = np.ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return g * inside


class Dropout(Gate):
    """Inverted dropout: z = x * m / (1 - p), each m[i] 1 with probability 1 - p, else 0, drawn
    afresh each call.  dz/dx = m / (1 - p): the gradient passes, scaled, where x was kept and is
    blocked where it was dropped (as ReLU gates it).  p = 1 drops everything (z = 0, no NaN).

    `generator` is an np.random.Generator, or a seed: the same seed gives the same mask for the
    same shape (how the property suite holds the mask fixed while it perturbs x)."""

    domain = Domain("elementwise", attrs={"p": 0.3, "generator": 1234})

    def __init__(self, p: float = 0.5, generator: Union[None, int, np.random.Generator] = None):
        if not 0.0 <= p <= 1.0:  # (also refuses NaN)
            raise GateError(f"dropout: p is the probability of dropping an element, in [0, 1]; got {p}")
        self.p, self.generator = p, generator

    def forward(self, x):
        rng = self.generator if isinstance(self.generator, np.random.Generator) else np.random.default_rng(self.generator)
        keep = rng.random(np.shape(x)) >= self.p  # P(keep) = 1 - p
        one = x.dtype.type(1)  # (1 / (1 - p) in x's dtype, rounded as PyTorch rounds it)
        scale = x.dtype.type(0) if self.p == 1.0 else one / x.dtype.type(1.0 - self.p)
        m = keep * scale  # the mask, scaled, in x's dtype
        self.save_for_backward(m)
        return x * m

    def backward(self, g):
        (m,) = self.saved
        return g * m
