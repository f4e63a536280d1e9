"""Initialisers that fill a tensor in place, as PyTorch's nn.init: `nn.init.kaiming_normal_(fc.weight)`.

Each one draws from `generator` (a seed or np.random.Generator; None: manual_seed's), writes into
the tensor's own array outside any graph, and returns the tensor. A gate that saved the array
for a pending backward() notices the write and refuses (as after an optimizer step).

Fans as in PyTorch: a weight of shape (out, in, *kernel) has fan_in = in * prod(kernel) and
fan_out = out * prod(kernel); nn.Linear's weight is (out_features, in_features).
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from . import creation
from ._checks import is_real
from .creation import Seed
from .tensor import Tensor, note_write

_GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75}
_CONV = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """The factor that keeps activations' variance steady through `nonlinearity` (PyTorch's
    values): 1 for linear and sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + a**2)) for
    leaky_relu with slope a = param (0.01 by default), 3/4 for selu."""
    if nonlinearity in _GAINS or nonlinearity in _CONV:
        return _GAINS.get(nonlinearity, 1.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: leaky_relu's negative slope must be a number, got {slope!r}")
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; one of "
                     f"{', '.join([*_GAINS, 'leaky_relu', *_CONV])}")


def _calculate_fan_in_and_fan_out(t: Tensor) -> tuple[int, int]:
    shape = t.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape {shape} "
                         "(a bias: use zeros_, constant_ or uniform_)")
    kernel = math.prod(shape[2:])
    return shape[1] * kernel, shape[0] * kernel


def _fan(t: Tensor, mode: str, name: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{name}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"{name}: a tensor of shape {t.shape} has {mode} 0")
    return fan


def _fill(t: Tensor, values: Any, name: str) -> Tensor:
    """Write `values` into t's own array (cast to its dtype) and note the write."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} fills a Tensor in place, got {type(t).__name__}")
    if t.dtype.kind != "f":
        raise TypeError(f"{name}: expects a float tensor, got {t.dtype}")
    if not t.data.flags.writeable:
        raise ValueError(f"{name}: the tensor's array is read-only (from_numpy of a read-only array?); "
                         "copy it first (ts.tensor(a))")
    t.data[...] = values
    note_write(t, f"nn.init.{name}")
    return t


def _empty(t: Any) -> bool:
    """A tensor with no elements: the fan-based initialisers leave it as it is (as PyTorch does)."""
    return isinstance(t, Tensor) and t.data.ndim >= 2 and t.data.size == 0


def _number(value: Any, what: str, name: str) -> float:
    if not is_real(value) or not math.isfinite(value):
        raise ValueError(f"{name}: {what} must be a finite number, got {value!r}")
    return float(value)


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator: Seed = None) -> Tensor:
    """U(a, b) in place."""
    a, b = _number(a, "a", "uniform_"), _number(b, "b", "uniform_")
    if a > b:
        raise ValueError(f"uniform_: a must be <= b, got a={a}, b={b}")
    return _fill(t, creation._gen(generator).uniform(a, b, t.shape), "uniform_")


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator: Seed = None) -> Tensor:
    """N(mean, std**2) in place."""
    mean, std = _number(mean, "mean", "normal_"), _number(std, "std", "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    return _fill(t, creation._gen(generator).normal(mean, std, t.shape), "normal_")


def constant_(t: Tensor, val: float) -> Tensor:
    """Every element val, in place."""
    return _fill(t, _number(val, "val", "constant_"), "constant_")


def zeros_(t: Tensor) -> Tensor:
    """Zeros in place (a bias)."""
    return _fill(t, 0.0, "zeros_")


def ones_(t: Tensor) -> Tensor:
    """Ones in place."""
    return _fill(t, 1.0, "ones_")


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator: Seed = None) -> Tensor:
    """Glorot: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    if _empty(t):
        return t
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    a = _number(gain, "gain", "xavier_uniform_") * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(t, creation._gen(generator).uniform(-a, a, t.shape), "xavier_uniform_")


def xavier_normal_(t: Tensor, gain: float = 1.0, generator: Seed = None) -> Tensor:
    """Glorot: N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    if _empty(t):
        return t
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    std = _number(gain, "gain", "xavier_normal_") * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(t, creation._gen(generator).normal(0.0, std, t.shape), "xavier_normal_")


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Seed = None) -> Tensor:
    """He: U(-bound, bound), bound = sqrt(3) * gain / sqrt(fan), gain = calculate_gain(nonlinearity, a).
    (PyTorch's defaults; for ReLU nets pass nonlinearity="relu".)"""
    if _empty(t):
        return t
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode, "kaiming_uniform_"))
    bound = math.sqrt(3.0) * std
    return _fill(t, creation._gen(generator).uniform(-bound, bound, t.shape), "kaiming_uniform_")


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Seed = None) -> Tensor:
    """He: N(0, std**2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""
    if _empty(t):
        return t
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode, "kaiming_normal_"))
    return _fill(t, creation._gen(generator).normal(0.0, std, t.shape), "kaiming_normal_")


def orthogonal_(t: Tensor, gain: float = 1.0, generator: Seed = None) -> Tensor:
    """A (semi-)orthogonal matrix in place, times gain, as PyTorch's: t viewed as (rows, the rest)
    gets orthonormal rows (or columns, whichever are fewer), from the QR factors of a Gaussian
    matrix with the signs of R's diagonal put into Q (so Q is uniform over orthogonal matrices).
    Common for recurrent weights: repeated products by an orthogonal matrix neither blow up nor fade."""
    gain = _number(gain, "gain", "orthogonal_")
    if not isinstance(t, Tensor) or t.ndim < 2:
        raise ValueError(f"orthogonal_: needs a tensor of 2 or more dimensions, got "
                         f"{t.shape if isinstance(t, Tensor) else type(t).__name__}")
    if t.data.size == 0:
        return t
    rows = t.shape[0]
    cols = t.data.size // rows
    a = creation._gen(generator).standard_normal((rows, cols))
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # (each column's sign from R: without it Q is not uniformly drawn)
    if rows < cols:
        q = q.T
    return _fill(t, (gain * q).reshape(t.shape), "orthogonal_")


def trunc_normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: Seed = None) -> Tensor:
    """N(mean, std**2) cut to [a, b] (absolute bounds, as PyTorch's), in place: values outside are
    drawn again until every one is inside."""
    mean, std = _number(mean, "mean", "trunc_normal_"), _number(std, "std", "trunc_normal_")
    a, b = _number(a, "a", "trunc_normal_"), _number(b, "b", "trunc_normal_")
    if std <= 0 or a >= b or not a <= mean + 5 * std or not mean - 5 * std <= b:
        raise ValueError(f"trunc_normal_: needs std > 0 and a < b within a few std of the mean, got "
                         f"mean={mean}, std={std}, a={a}, b={b}")
    rng = creation._gen(generator)
    out = rng.normal(mean, std, t.shape)
    bad = (out < a) | (out > b)
    while bad.any():
        out[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (out < a) | (out > b)
    return _fill(t, out, "trunc_normal_")
