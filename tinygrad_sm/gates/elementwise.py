"""Elementwise arithmetic gates. Binary gates broadcast like NumPy; their backward sums each
gradient back to its input's shape (`self.unbroadcast`)."""
from __future__ import annotations

import numpy as np

from .base import Domain, Gate, GateError, Values


class Add(Gate):
    """z = x + y.  Add *distributes*: dz/dx = dz/dy = 1, so each input gets the upstream
    gradient unchanged (summed over the dimensions broadcasting stretched)."""

    domain = Domain("elementwise", (Values(), Values()))
    scalars = True

    def forward(self, x, y):
        return x + y

    def backward(self, g):
        return self.unbroadcast(g, g)


class AddConst(Gate):
    """z = x + c for a constant number c.  dz/dx = 1: the upstream gradient passes through
    unchanged (add distributes, and the constant takes no share).  `t + 2.0` records this gate."""

    domain = Domain("elementwise", attrs={"c": 0.75})
    scalars = True

    def __init__(self, c: float):
        self.c = c  # `t + 2.0` passes a NumPy scalar of t's dtype (quicker than a Python float)

    def forward(self, x):
        return x + self.c

    def backward(self, g):
        return g


class Sub(Gate):
    """z = x - y.  dz/dx = 1, dz/dy = -1: x gets g, y gets -g."""

    domain = Domain("elementwise", (Values(), Values()))
    scalars = True

    def forward(self, x, y):
        return x - y

    def backward(self, g):
        return self.unbroadcast(g, -g if self.needs_grad[1] else None)


class Neg(Gate):
    """z = -x.  dz/dx = -1."""

    domain = Domain("elementwise")
    scalars = True

    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Mul(Gate):
    """z = x * y.  Mul *swaps*: dz/dx = y and dz/dy = x, so each input's gradient is the
    upstream gradient times the *other* input."""

    domain = Domain("elementwise", (Values(), Values()))
    scalars = True

    def forward(self, x, y):
        need = self.needs_grad  # (empty when not recorded) keep only what the swap uses
        if need:
            self.save_for_backward(x if need[1] else None, y if need[0] else None)
        return x * y

    def backward(self, g):
        x, y = self.saved
        gx = g * y if self.needs_grad[0] else None
        gy = g * x if self.needs_grad[1] else None
        return self.unbroadcast(gx, gy)


class MulConst(Gate):
    """z = c * x for a constant number c.  dz/dx = c: the upstream gradient is scaled by c.
    `t * 2.0` records this gate."""

    domain = Domain("elementwise", attrs={"c": -1.5})
    scalars = True

    def __init__(self, c: float):
        self.c = c  # as in AddConst

    def forward(self, x):
        return x * self.c

    def backward(self, g):
        return g * self.c


class Div(Gate):
    """z = x / y.  dz/dx = 1/y,  dz/dy = -x/y**2 = -z/y."""

    domain = Domain("elementwise", (Values(), Values(avoid=(0.0,), margin=0.3)))  # denominator away from 0
    scalars = True

    def forward(self, x, y):
        z = x / y
        self.save_for_backward(y, z)
        return z

    def backward(self, g):
        y, z = self.saved
        gx = g / y
        gy = -gx * z if self.needs_grad[1] else None
        return self.unbroadcast(gx if self.needs_grad[0] else None, gy)


class PowScalar(Gate):
    """z = x ** c for a constant c.  dz/dx = c * x**(c-1)  (0 when c == 0, as in PyTorch)."""

    domain = Domain("elementwise", (Values(0.2, 3.0),), attrs={"exponent": 2.5})

    def __init__(self, exponent: float):
        self.exponent = exponent

    def forward(self, x):
        self.save_for_backward(x)
        return x ** self.exponent

    def backward(self, g):
        (x,) = self.saved
        c = self.exponent
        if c == 0:
            return np.zeros_like(g)
        return g * (c * x ** (c - 1))


class Pow(Gate):
    """z = x ** y for tensors.  dz/dx = y * x**(y-1),  dz/dy = z * log(x).
    Conventions (PyTorch's): dz/dx = 0 where y == 0 (x**0 is 1 for every x, also x = 0, where
    y * x**(y-1) would be 0 * inf); dz/dy = 0 where x == 0 and y >= 0."""

    domain = Domain("elementwise", (Values(0.2, 3.0), Values(-2.0, 2.0)))  # positive base

    def forward(self, x, y):
        z = x ** y
        self.save_for_backward(x, y, z)
        return z

    def backward(self, g):
        x, y, z = self.saved
        gx = gy = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs_grad[0]:
                gx = g * np.where(y == 0, 0, y * x ** (y - 1))
            if self.needs_grad[1]:  # (log of x in z's dtype: a float32 x beside a float64 y would
                # round log(x) to float32 and give y only a float32-accurate gradient)
                gy = g * np.where((x == 0) & (y >= 0), 0, z * np.log(x.astype(z.dtype, copy=False)))
        return self.unbroadcast(gx, gy)


class Cast(Gate):
    """z = x converted to another float dtype.  dz/dx = 1: g is cast back to x's dtype."""

    domain = Domain("elementwise", (Values(grid=0.125),), attrs={"dtype": np.dtype(np.float32)},
                    check={"eps": 2.0 ** -6})  # steps float32 represents exactly

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, g):
        return g.astype(self.dtypes[0])


class Exp(Gate):
    """z = e**x.  dz/dx = e**x = z, the output itself."""

    domain = Domain("elementwise")
    scalars = True

    def forward(self, x):
        z = np.exp(x)
        self.save_for_backward(z)
        return z

    def backward(self, g):
        (z,) = self.saved
        return g * z


class Log(Gate):
    """z = ln x.  dz/dx = 1/x.  A negative x gives NaN, as in NumPy."""

    domain = Domain("elementwise", (Values(0.1, 5.0),))  # positive
    scalars = True

    def forward(self, x):
        self.save_for_backward(x)
        return np.log(x)

    def backward(self, g):
        (x,) = self.saved
        return g / x


class Sqrt(Gate):
    """z = sqrt(x).  dz/dx = 1 / (2 sqrt(x)) = 1 / (2z)  (inf at x == 0, as in PyTorch)."""

    domain = Domain("elementwise", (Values(0.1, 5.0),))  # positive
    scalars = True

    def forward(self, x):
        z = np.sqrt(x)
        self.save_for_backward(z)
        return z

    def backward(self, g):
        (z,) = self.saved
        return g / (2 * z)


class StdSqrt(Gate):
    """z = sqrt(v) for a variance v, the last step of std.  dz/dv = 1 / (2z) where z > 0, and 0
    where z == 0: a slice of equal values has a zero gradient, as PyTorch's std gives."""

    domain = Domain("elementwise", (Values(0.1, 5.0),))

    def forward(self, v):
        z = np.sqrt(v)
        self.save_for_backward(z)
        return z

    def backward(self, g):
        (z,) = self.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(z == 0, 0, g / (2 * z)).astype(z.dtype, copy=False)


class Abs(Gate):
    """z = |x|.  dz/dx = sign(x); convention: 0 at x == 0 (PyTorch's choice)."""

    domain = Domain("elementwise", (Values(avoid=(0.0,)),))  # away from the kink
    scalars = True

    def forward(self, x):
        self.save_for_backward(x)
        return np.abs(x)

    def backward(self, g):
        (x,) = self.saved
        return g * np.sign(x)


class Maximum(Gate):
    """z = max(x, y) elementwise (the cs231n "max gate").  Max *routes*: the whole upstream
    gradient goes to the larger input, nothing to the other.
    Convention: on a tie each input gets half (PyTorch's choice), so the sum is still g."""

    domain = Domain("elementwise", (Values(grid=0.5), Values(grid=0.5, offset=0.25)))  # never tied

    def forward(self, x, y):
        self.save_for_backward(x, y)
        return np.maximum(x, y)

    def backward(self, g):
        x, y = self.saved
        tie = 0.5 * (x == y)
        gx = g * ((x > y) + tie) if self.needs_grad[0] else None
        gy = g * ((y > x) + tie) if self.needs_grad[1] else None
        return self.unbroadcast(gx, gy)


class Where(Gate):
    """z = x where cond, else y (cond: a bool array, a constant of the gate).  Where *routes* as
    max does, by cond instead of by value: x gets g where cond holds, y gets g elsewhere (each
    summed over the dimensions it was broadcast along)."""

    domain = Domain("elementwise", (Values(), Values()), attrs={"cond": np.True_})

    def __init__(self, cond: np.ndarray):
        self.cond = cond

    def forward(self, x, y):
        try:
            np.broadcast_shapes(np.shape(self.cond), x.shape, y.shape)
        except ValueError:
            raise GateError(f"where: the condition of shape {np.shape(self.cond)} and the inputs of shapes "
                            f"{x.shape} and {y.shape} do not broadcast together") from None
        self.save_for_backward(self.cond)  # (saved: a change to it before backward is caught)
        return np.where(self.cond, x, y)

    def backward(self, g):
        (cond,) = self.saved
        zero = g.dtype.type(0)
        gx = np.where(cond, g, zero) if self.needs_grad[0] else None
        gy = np.where(cond, zero, g) if self.needs_grad[1] else None
        return self.unbroadcast(gx, gy)


class Minimum(Gate):
    """z = min(x, y) elementwise.  Routes the gradient to the smaller input; half each on a tie."""

    domain = Domain("elementwise", (Values(grid=0.5), Values(grid=0.5, offset=0.25)))  # never tied

    def forward(self, x, y):
        self.save_for_backward(x, y)
        return np.minimum(x, y)

    def backward(self, g):
        x, y = self.saved
        tie = 0.5 * (x == y)
        gx = g * ((x < y) + tie) if self.needs_grad[0] else None
        gy = g * ((y < x) + tie) if self.needs_grad[1] else None
        return self.unbroadcast(gx, gy)
