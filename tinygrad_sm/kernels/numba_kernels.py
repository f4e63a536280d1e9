"""Numba versions of the kernels in reference.py (read that file first: same maths, same names).

How these are fast:
- Softmax-type kernels work row by row (rows split over threads with `prange`); a row stays in
  cache while it is read for the max, for exp and the sum, and again for the output.
- exp is a polynomial (exp_poly.py) that LLVM vectorises; Numba's libm exp is not vectorised
  without Intel's SVML. Sums are vectorised with the `reassoc` flag only: no flag that assumes
  away NaN or inf.
- float32 inputs are computed in float64 inside and rounded once when stored.
- Every kernel is compiled twice, serial and parallel: tiny inputs (batch 64, 10 classes) skip the
  cost of waking threads.
- Matrix products stay with BLAS (NumPy's `@`); the passes around them (bias, ReLU, the masked
  gradient and the bias gradient) are fused into one pass each.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numba
import numpy as np
from numba import prange

from . import reference
from .exp_poly import exp_for, jit

# Inputs with at least this many elements use the parallel kernels (measured on 2 cores: below it,
# waking the threads costs more than they save).
PARALLEL_MIN = 1 << 15

_FLOATS = (np.float32, np.float64)


def _pick(serial: Callable, parallel: Callable, size: int) -> Callable:
    return parallel if size >= PARALLEL_MIN and numba.get_num_threads() > 1 else serial


def _both(fn: Callable, **kw: Any) -> tuple[Callable, Callable]:
    """The same kernel compiled serial and parallel (prange is a plain range when serial)."""
    return jit(**kw)(fn), jit(parallel=True, **kw)(fn)


def _chunks(n: int) -> int:
    """How many blocks of rows a parallel loop runs (each block allocates its scratch row once)."""
    return max(1, min(n, 8 * numba.get_num_threads()))


# -- row helpers ------------------------------------------------------------------------------------
@jit()
def _row_max(zr):
    """max of a row, ignoring NaN (a NaN element turns the row's exp NaN later, which is kept).
    Eight independent running maxima so the loop is not one long dependency chain."""
    c = zr.shape[0]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = -np.inf
    j = 0
    while j + 8 <= c:
        v0, v1, v2, v3 = zr[j], zr[j + 1], zr[j + 2], zr[j + 3]
        v4, v5, v6, v7 = zr[j + 4], zr[j + 5], zr[j + 6], zr[j + 7]
        m0 = v0 if v0 > m0 else m0
        m1 = v1 if v1 > m1 else m1
        m2 = v2 if v2 > m2 else m2
        m3 = v3 if v3 > m3 else m3
        m4 = v4 if v4 > m4 else m4
        m5 = v5 if v5 > m5 else m5
        m6 = v6 if v6 > m6 else m6
        m7 = v7 if v7 > m7 else m7
        j += 8
    while j < c:
        m0 = zr[j] if zr[j] > m0 else m0
        j += 1
    m0 = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    return np.float64(m0)


@jit(fastmath={"reassoc"})
def _exp_shifted(zr, m, buf):
    """buf[j] = exp(zr[j] - m) in float64; returns the sum."""
    s = 0.0
    for j in range(zr.shape[0]):
        e = exp_for(np.float64(zr[j]) - m, zr[j])
        buf[j] = e
        s += e
    return s


@jit(fastmath={"reassoc"})
def _sum_exp_shifted(zr, m):
    s = 0.0
    for j in range(zr.shape[0]):
        s += exp_for(np.float64(zr[j]) - m, zr[j])
    return s


@jit(fastmath={"reassoc"})
def _row_sum(zr):
    s = 0.0
    for j in range(zr.shape[0]):
        s += zr[j]
    return s


@jit(fastmath={"reassoc"})
def _row_dot(a, b):
    s = 0.0
    for j in range(a.shape[0]):
        s += np.float64(a[j]) * b[j]
    return s


# -- softmax and log-softmax --------------------------------------------------------------------------
def _softmax_body(z, out, nchunks):
    n, c = z.shape
    for k in prange(nchunks):
        buf = np.empty(c)
        for i in range(k * n // nchunks, (k + 1) * n // nchunks):
            zr, orow = z[i], out[i]
            inv = 1.0 / _exp_shifted(zr, _row_max(zr), buf)
            for j in range(c):
                orow[j] = buf[j] * inv


def _log_softmax_body(z, out, nchunks):
    n, c = z.shape
    for i in prange(n):
        zr, orow = z[i], out[i]
        m = _row_max(zr)
        shift = m + math.log(_sum_exp_shifted(zr, m))
        for j in range(c):
            orow[j] = np.float64(zr[j]) - shift


def _softmax_backward_body(p, g, out, nchunks):
    n, c = p.shape
    for i in prange(n):
        pr, gr, orow = p[i], g[i], out[i]
        gp = _row_dot(gr, pr)
        for j in range(c):
            orow[j] = pr[j] * (np.float64(gr[j]) - gp)


def _log_softmax_backward_body(logp, g, out, nchunks):
    n, c = logp.shape
    for i in prange(n):
        lr, gr, orow = logp[i], g[i], out[i]
        gs = _row_sum(gr)
        for j in range(c):
            orow[j] = gr[j] - exp_for(np.float64(lr[j]), lr[j]) * gs


_SOFTMAX = _both(_softmax_body)
_LOG_SOFTMAX = _both(_log_softmax_body)
_SOFTMAX_BACKWARD = _both(_softmax_backward_body)
_LOG_SOFTMAX_BACKWARD = _both(_log_softmax_backward_body)


def _rows(z: np.ndarray) -> Optional[np.ndarray]:
    """z as a C-contiguous float32/float64 2-D array, or None when the reference should handle it."""
    if z.ndim != 2 or z.dtype.type not in _FLOATS or z.size == 0:
        return None
    return np.ascontiguousarray(z)


def _rowwise(kernels: tuple[Callable, Callable], ref: Callable, *arrays: np.ndarray) -> np.ndarray:
    rows = [_rows(a) for a in arrays]
    if any(r is None for r in rows) or any(r.dtype != rows[0].dtype or r.shape != rows[0].shape
                                           for r in rows):
        return ref(*arrays)
    out = np.empty_like(rows[0])
    _pick(*kernels, out.size)(*rows, out, _chunks(out.shape[0]))
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    return _rowwise(_SOFTMAX, reference.softmax, z)


def log_softmax(z: np.ndarray) -> np.ndarray:
    return _rowwise(_LOG_SOFTMAX, reference.log_softmax, z)


def softmax_backward(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    return _rowwise(_SOFTMAX_BACKWARD, reference.softmax_backward, p, g)


def log_softmax_backward(logp: np.ndarray, g: np.ndarray) -> np.ndarray:
    return _rowwise(_LOG_SOFTMAX_BACKWARD, reference.log_softmax_backward, logp, g)
