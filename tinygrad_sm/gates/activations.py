"""Activation gates: ReLU and its smooth relatives (leaky ReLU, ELU, GELU, SiLU, softplus),
sigmoid, tanh, clip and dropout."""
from __future__ import annotations

import math
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


class LeakyReLU(Gate):
    """z = x where x > 0, else slope * x.  Like ReLU it gates, but leaks: where x <= 0 the upstream
    gradient is scaled by the slope instead of blocked.  Convention: the slope at 0 (as PyTorch)."""

    domain = Domain("elementwise", (Values(avoid=(0.0,)),), attrs={"negative_slope": 0.2})

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        pos = x > 0
        self.save_for_backward(pos)
        return np.where(pos, x, x * self.negative_slope)

    def backward(self, g):
        (pos,) = self.saved
        return np.where(pos, g, g * self.negative_slope)


class ELU(Gate):
    """z = x where x > 0, else alpha * (e**x - 1).  dz/dx = 1 where x > 0, else alpha * e**x,
    which meets 1 at 0 when alpha = 1 (the convention at 0 is the second branch, as PyTorch's;
    at NaN the first, as PyTorch's: the gradient passes)."""

    domain = Domain("elementwise", (Values(avoid=(0.0,)),), attrs={"alpha": 1.5})

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def forward(self, x):
        self.save_for_backward(x)
        # (expm1: exact near 0, where e**x - 1 cancels; of min(x, 0): the unused side never overflows)
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0)) * self.alpha)

    def backward(self, g):
        (x,) = self.saved
        return np.where(x <= 0, g * (np.exp(np.minimum(x, 0)) * self.alpha), g)


_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_SCALE, _TANH_CUBIC = math.sqrt(2.0 / math.pi), 0.044715


class GELU(Gate):
    """z = x * Phi(x), Phi the standard normal CDF: Phi(x) = (1 + erf(x / sqrt 2)) / 2 = erfc(-x / sqrt 2) / 2.
    dz/dx = Phi(x) + x * phi(x), phi the normal density e**(-x**2/2) / sqrt(2 pi) (product rule).

    approximate="tanh" uses Phi(x) ~ (1 + tanh(u)) / 2 = sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x**3);
    then dz/dx = s + x * 2 s (1 - s) du/dx, s = sigmoid(2u), du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x**2).
    (Both CDFs are computed so that they do not cancel: 1 + erf and 1 + tanh lose every digit for x << 0.)
    """

    domain = Domain("elementwise")

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise GateError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        if self.approximate == "tanh":
            with np.errstate(over="ignore"):  # (x**3 of a huge x: the sigmoid of +-inf is 1 or 0)
                cdf = _sigmoid((x + x * x * x * _TANH_CUBIC) * (2 * _TANH_SCALE))
        else:
            cdf = kernels.normal_cdf(x)  # (as erfc(-x / sqrt 2) / 2: 1 + erf(x / sqrt 2) cancels for x << 0)
        self.save_for_backward(x, cdf)
        with np.errstate(invalid="ignore"):  # (-inf * 0 is NaN, as in PyTorch)
            return x * cdf

    def backward(self, g):
        x, s = self.saved  # (s: the CDF)
        with np.errstate(over="ignore", invalid="ignore"):  # (x**2 of a huge x: e**-inf is 0; inf * 0 is NaN, as in PyTorch)
            if self.approximate == "tanh":
                du = (1 + x * x * (3 * _TANH_CUBIC)) * _TANH_SCALE
                return g * (s + x * (2 * s * (1 - s)) * du)
            return g * (s + x * (np.exp(x * x * -0.5) * _INV_SQRT_2PI))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e**-x) from e**-|x|, so that neither branch overflows for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class SiLU(Gate):
    """z = x * s, s = sigmoid(x) (also called swish).  dz/dx = s + x * s * (1 - s) = s (1 + x (1 - s)):
    the product rule, with sigmoid's own derivative s (1 - s)."""

    domain = Domain("elementwise", (Values(-8.0, 8.0),))

    def forward(self, x):
        s = _sigmoid(x)
        self.save_for_backward(x, s)
        with np.errstate(invalid="ignore"):  # (-inf * 0 is NaN, as in PyTorch)
            return x * s

    def backward(self, g):
        x, s = self.saved
        with np.errstate(invalid="ignore"):  # (inf * 0 is NaN, as in PyTorch)
            return g * (s * (1 + x * (1 - s)))


class Softplus(Gate):
    """z = log(1 + e**(beta x)) / beta, a smooth ReLU; z = x where beta x > threshold (there the
    two agree to float precision).  dz/dx = sigmoid(beta x), and 1 above the threshold.
    Computed as max(beta x, 0) + log1p(e**-|beta x|), which never overflows."""

    domain = Domain("elementwise", (Values(avoid=(2.0,), margin=0.2),), attrs={"beta": 1.5, "threshold": 3.0})

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        with np.errstate(over="ignore"):  # (beta x of a huge x: inf, on the linear side)
            bx = x * self.beta
        self.save_for_backward(bx)
        smooth = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / self.beta
        return np.where(bx > self.threshold, x, smooth)

    def backward(self, g):
        (bx,) = self.saved
        return np.where(bx > self.threshold, g, g * _sigmoid(bx))


class Sigmoid(Gate):
    """s = 1 / (1 + e**-x), one fused gate.  ds/dx = s * (1 - s), from the saved output.
    Computed from e**-|x| so neither branch overflows for large |x|."""

    domain = Domain("elementwise", (Values(-8.0, 8.0),))

    def forward(self, x):
        s = _sigmoid(x)
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
