"""The dtypes tinygrad_sm uses and how data becomes an array.

Rules (see docs/conventions.md):
- Python floats become float32 unless a dtype is asked for; NumPy float32/float64 arrays keep
  their dtype (as torch.tensor does); float64 on request;
- integer data stays integer (class labels), bool stays bool; neither can require grad;
- Python scalars in an op take a float tensor's dtype (they never upcast float32);
- mixing float32 and float64 tensors in elementwise ops follows NumPy's promotion (the result
  is float64); matrix products refuse the mix, as PyTorch's do.
"""
from __future__ import annotations

from typing import Any, Union

import numpy as np

float32 = np.dtype(np.float32)
"""32-bit float: the default for float data and Python floats."""
float64 = np.dtype(np.float64)
"""64-bit float: ask for it (or pass a float64 array); use it for gradient checks."""
int32 = np.dtype(np.int32)
"""32-bit integer (never requires grad)."""
int64 = np.dtype(np.int64)
"""64-bit integer: Python ints and class labels (never requires grad)."""
bool_ = np.dtype(np.bool_)
"""Boolean: what comparisons return (never requires grad)."""

default_float = float32
FLOAT_DTYPES = (float32, float64)

DTypeLike = Union[str, type, np.dtype, None]

_ALIASES = {"float": float32, "double": float64, "long": int64, "int": int64, "bool": bool_}


def to_dtype(dtype: DTypeLike) -> np.dtype:
    """Turn "float32", np.float32, tinygrad_sm.float32, ... into a NumPy dtype."""
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"unknown dtype {dtype!r}; use float32, float64, int32, int64 or bool") from e
    if dt.kind not in "fiub":
        raise TypeError(f"dtype {dt} is not supported; use float32, float64, int32, int64 or bool")
    dt = dt.newbyteorder("=")  # ('>f8' asks for float64: the values are kept, in native order)
    if dt.kind == "f" and dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype {dt} is not supported; floating-point tensors are float32 or float64")
    return dt


def is_float(dt: np.dtype) -> bool:
    return dt.kind == "f"


def as_array(data: Any, dtype: DTypeLike = None, copy: bool = True) -> np.ndarray:
    """Convert user data to an ndarray following the rules above."""
    if dtype is not None:
        dt = to_dtype(dtype)
        return np.array(data, dtype=dt, copy=copy) if copy else np.asarray(data, dtype=dt)
    from_numpy_float = (isinstance(data, (np.ndarray, np.floating))
                        and np.dtype(data.dtype).newbyteorder("=") in FLOAT_DTYPES)
    arr = np.array(data, copy=copy) if copy else np.asarray(data)
    if not arr.dtype.isnative:  # (big-endian data from a file: the same values, in this machine's order)
        arr = arr.astype(arr.dtype.newbyteorder("="))
    kind = arr.dtype.kind
    if kind == "f":
        if from_numpy_float or arr.dtype == default_float:
            return arr
        return arr.astype(default_float)
    if kind in "iub":
        return arr
    raise TypeError(
        f"cannot make a tensor from data of dtype {arr.dtype}; "
        "give numbers (floats, ints or bools) or a numeric NumPy array"
    )


def scalar_dtype(like: np.dtype, value: Union[int, float, bool]) -> np.dtype:
    """dtype a Python scalar takes when combined with a tensor of dtype `like`.

    Float tensors keep their dtype (2.0 * float32 stays float32). Integer and bool tensors
    follow NumPy (an int64 tensor times 0.5 is float64).
    """
    if like.kind == "f":
        return like
    return np.result_type(like, value)
