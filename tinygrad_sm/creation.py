"""Ways to make tensors: from data, filled, random (seedable), ranges."""
from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from . import dtypes as _dt
from .tensor import ArrayLike, Tensor, _shape_arg

_rng = np.random.default_rng()

Seed = Union[None, int, np.random.Generator]


def manual_seed(seed: int) -> None:
    """Seed the generator that randn/rand/randint use when no `generator` is given."""
    global _rng
    _rng = np.random.default_rng(seed)


def _gen(generator: Seed) -> np.random.Generator:
    if generator is None:
        return _rng
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(generator)


def _float_dtype(dtype: _dt.DTypeLike) -> np.dtype:
    dt = _dt.default_float if dtype is None else _dt.to_dtype(dtype)
    return dt


def _make(arr: np.ndarray, requires_grad: bool, name: Optional[str] = None) -> Tensor:
    t = Tensor._wrap(arr)
    t.name = name
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data: ArrayLike, dtype: _dt.DTypeLike = None, requires_grad: bool = False,
           name: Optional[str] = None) -> Tensor:
    """A new tensor holding a copy of `data` (float data -> float32 unless dtype is given)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def from_numpy(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A tensor sharing memory with `array` and keeping its dtype (float64 stays float64)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy takes a NumPy array, got {type(array).__name__}")
    _dt.to_dtype(array.dtype)  # rejects unsupported dtypes with a clear message
    if not array.dtype.isnative:
        raise TypeError(f"from_numpy: the array's dtype {array.dtype.str} is not in this machine's byte "
                        "order, so its memory cannot be shared; use ts.tensor(array) (a converted copy) "
                        "or array.astype(array.dtype.newbyteorder('='))")
    # (a plain ndarray view of a subclass: np.matrix's * is a matrix product, a masked array's sum
    # skips its mask; the view shares the memory all the same)
    return _make(array if type(array) is np.ndarray else np.asarray(array), requires_grad)


def zeros(*shape: Any, dtype: _dt.DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: zeros(2, 3) or zeros((2, 3)); float32 unless `dtype` says otherwise."""
    return _make(np.zeros(_shape_arg(shape), dtype=_float_dtype(dtype)), requires_grad)


def ones(*shape: Any, dtype: _dt.DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: ones(2, 3) or ones((2, 3)); float32 unless `dtype` says otherwise."""
    return _make(np.ones(_shape_arg(shape), dtype=_float_dtype(dtype)), requires_grad)


def full(shape: Any, fill_value: float, dtype: _dt.DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """A tensor of `shape` (an int or a tuple) filled with `fill_value`; float32 unless `dtype`."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return _make(np.full(shape, fill_value, dtype=_float_dtype(dtype)), requires_grad)


def zeros_like(t: ArrayLike, dtype: _dt.DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape of `t` and its dtype (unless `dtype` is given)."""
    arr = t.data if isinstance(t, Tensor) else _dt.as_array(t, copy=False)  # (Python floats: float32)
    return _make(np.zeros(arr.shape, dtype=arr.dtype if dtype is None else _dt.to_dtype(dtype)), requires_grad)


def ones_like(t: ArrayLike, dtype: _dt.DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape of `t` and its dtype (unless `dtype` is given)."""
    arr = t.data if isinstance(t, Tensor) else _dt.as_array(t, copy=False)  # (Python floats: float32)
    return _make(np.ones(arr.shape, dtype=arr.dtype if dtype is None else _dt.to_dtype(dtype)), requires_grad)


def randn(*shape: Any, dtype: _dt.DTypeLike = None, requires_grad: bool = False,
          generator: Seed = None) -> Tensor:
    """Standard normal samples. `generator` is a seed or np.random.Generator (else manual_seed's)."""
    dt = _float_dtype(dtype)
    return _make(_gen(generator).standard_normal(_shape_arg(shape), dtype=dt), requires_grad)


def rand(*shape: Any, dtype: _dt.DTypeLike = None, requires_grad: bool = False,
         generator: Seed = None) -> Tensor:
    """Uniform samples in [0, 1)."""
    dt = _float_dtype(dtype)
    return _make(_gen(generator).random(_shape_arg(shape), dtype=dt), requires_grad)


def randint(*args: Any, size: Any = None, generator: Seed = None) -> Tensor:
    """Integers in [low, high) as int64 (e.g. random class labels), as PyTorch's:
    randint(high, size), randint(low, high, size), or size=... as a keyword."""
    if size is None and args:
        args, size = args[:-1], args[-1]
    if len(args) not in (1, 2) or size is None:
        raise TypeError("randint takes (high, size) or (low, high, size), e.g. ts.randint(10, (5,))")
    low, high = (0, args[0]) if len(args) == 1 else args
    shape = (int(size),) if isinstance(size, (int, np.integer)) else tuple(size)
    return _make(_gen(generator).integers(low, high, size=shape, dtype=np.int64), False)


def randn_like(t: ArrayLike, dtype: _dt.DTypeLike = None, requires_grad: bool = False,
               generator: Seed = None) -> Tensor:
    """Standard normal samples shaped like t (float: t's dtype, else the default float)."""
    arr = t.data if isinstance(t, Tensor) else np.asarray(t)
    dt = _dt.to_dtype(dtype) if dtype is not None else arr.dtype if arr.dtype.kind == "f" else _dt.default_float
    return _make(_gen(generator).standard_normal(arr.shape).astype(dt), requires_grad)


def rand_like(t: ArrayLike, dtype: _dt.DTypeLike = None, requires_grad: bool = False,
              generator: Seed = None) -> Tensor:
    """Uniform [0, 1) samples shaped like t (float: t's dtype, else the default float)."""
    arr = t.data if isinstance(t, Tensor) else np.asarray(t)
    dt = _dt.to_dtype(dtype) if dtype is not None else arr.dtype if arr.dtype.kind == "f" else _dt.default_float
    return _make(_gen(generator).random(arr.shape).astype(dt), requires_grad)


def randperm(n: int, generator: Seed = None) -> Tensor:
    """A random permutation of 0 .. n-1, int64."""
    return _make(_gen(generator).permutation(int(n)).astype(np.int64), False)


def linspace(start: float, end: float, steps: int, dtype: _dt.DTypeLike = None,
             requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from start to end, both included (float32 unless dtype)."""
    return _make(np.linspace(start, end, int(steps)).astype(_float_dtype(dtype)), requires_grad)


def arange(start: float, stop: Optional[float] = None, step: float = 1, dtype: _dt.DTypeLike = None,
           requires_grad: bool = False) -> Tensor:
    """Like np.arange; integer arguments give int64, float ones float32 (unless dtype)."""
    arr = np.arange(start, stop, step) if stop is not None else np.arange(0, start, step)  # (0 to start)
    if dtype is None and arr.dtype.kind == "f":
        dtype = _dt.default_float
    return _make(_dt.as_array(arr, dtype, copy=False), requires_grad)


def eye(n: int, m: Optional[int] = None, dtype: _dt.DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix (m = n by default); float32 unless `dtype` says otherwise."""
    return _make(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)
