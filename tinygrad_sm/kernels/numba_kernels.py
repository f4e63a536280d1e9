"""Numba versions of the kernels in reference.py (read that file first: same maths, same names).

How these are fast:
- Softmax-type kernels work row by row (rows split over threads with `prange`); a row stays in
  cache while it is read for the max, for exp and the sum, and again for the output. The float32
  cross-entropy finds each row's max in the previous row's exp loop, so the row streams in from
  memory while that loop computes.
- exp is a polynomial (exp_poly.py) that LLVM vectorises; Numba's libm exp is not vectorised
  without Intel's SVML. Sums are vectorised with the `reassoc` flag only: no flag that assumes
  away NaN or inf.
- float32 inputs are computed in float64 inside and rounded once when stored, except in two hot
  paths of training, which compute in float32 (twice the SIMD lanes, no conversions): the fused
  softmax-cross-entropy with class targets and no smoothing, with a float32 exp, keeps every
  result within 1e-6 relative; the plain SGD step (no momentum, no weight decay) by FMAs is
  within two roundings of the result plus 2**-47 lr |g| (see _sgd32_body).
- The float32 cross-entropy's loops over rows of WIDE_MIN classes or more are compiled a second
  time for 512-bit vectors (_wide_copy): LLVM's tuning for recent Intel cores picks 256 bits,
  which left half of each AVX-512 register idle in these arithmetic-bound loops.
- Every kernel is compiled twice, serial and parallel: tiny inputs (batch 64, 10 classes) skip the
  cost of waking threads.
- Matrix products stay with BLAS (NumPy's `@`); the passes around them (bias, ReLU, the masked
  gradient and the bias gradient) are fused into one pass each.
"""
from __future__ import annotations

import math
import os
import sys
import types
import warnings
from typing import Any, Callable, Optional


def _spinning_openmp_loaded() -> bool:
    """Whether a GNU OpenMP runtime is already in this process (PyTorch brings one) and was
    started without OMP_WAIT_POLICY. Numba's parallel kernels can then end up on that runtime,
    whose idle threads spin and take the cores from BLAS: an MLP step measured 25x slower."""
    if "OMP_WAIT_POLICY" in os.environ:  # the user chose a policy: it applies to every runtime
        return False
    try:
        with open("/proc/self/maps") as f:
            return "libgomp" in f.read()
    except OSError:  # not Linux: PyTorch is the runtime we know of
        return "torch" in sys.modules


# Checked before numba starts its own OpenMP runtime (at the first parallel kernel, not at import).
SPINNING_OPENMP = _spinning_openmp_loaded()
# Numba's OpenMP threads would otherwise spin for a while after each parallel kernel, taking the
# cores from the BLAS threads of the matrix product that usually comes next (and BLAS's from us).
# Set before numba loads its OpenMP runtime; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import prange  # noqa: E402

from . import reference  # noqa: E402
from .exp_poly import (LN2, exp32_bias, exp32_k, exp32_scaled, exp_for, fma32,  # noqa: E402
                       from_order_key32, jit, order_key32, wide_vectors)

# Row kernels (softmax, cross-entropy) on inputs of at least this many elements use their parallel
# version. Below it the whole kernel takes about as long (~30 us) as waking the threads would.
PARALLEL_MIN = 1 << 15
# The same for one-pass elementwise kernels (ReLU, bias + ReLU, optimiser updates). They are
# memory-bound, and they run between matrix products whose BLAS threads still hold the cores:
# in MLP training on 2 cores their parallel versions made each step slower, not faster.
PARALLEL_MIN_ELEMENTWISE = 1 << 22

_FLOATS = (np.float32, np.float64)
_F32 = np.dtype(np.float32)
_FLOAT_DTYPES = (_F32, np.dtype(np.float64))  # (native byte order: '>f8' is not among them)


def _launch(kernels: tuple[Callable, Callable], size: int, rows: int = 1,
            elementwise: bool = False) -> tuple[Callable, int]:
    """The serial or the parallel version, and how many blocks of rows a parallel loop splits the
    work into (each block allocates its scratch row once)."""
    # (size first: asking numba for its thread count costs more than a small kernel)
    if size >= (PARALLEL_MIN_ELEMENTWISE if elementwise else PARALLEL_MIN):
        threads = numba.get_num_threads()
        if threads > 1 and not _serial_beside_spinning_openmp():
            return kernels[1], max(1, min(rows, 8 * threads))
    return kernels[0], 1


_warned_spinning = False


def _serial_beside_spinning_openmp() -> bool:
    """With a spinning OpenMP runtime loaded before us (SPINNING_OPENMP), run serially; say so once."""
    global _warned_spinning
    if SPINNING_OPENMP and not _warned_spinning:
        _warned_spinning = True
        warnings.warn("tinygrad_sm: an OpenMP runtime (PyTorch's?) was loaded before tinygrad_sm's "
                      "kernels, without OMP_WAIT_POLICY; its spinning threads would slow the parallel "
                      "kernels many times over, so they run serially. Set OMP_WAIT_POLICY=PASSIVE "
                      "before importing it (or import tinygrad_sm's kernels first) to keep them parallel.",
                      RuntimeWarning, stacklevel=4)
    return SPINNING_OPENMP


def _both(fn: Callable, **kw: Any) -> tuple[Callable, Callable]:
    """The same kernel compiled serial and parallel (prange is a plain range when serial).

    The parallel one compiles a copy renamed *_parallel: Numba's disk cache is keyed by the
    function's name and argument types, not by parallel=True, so with one function the two
    versions would share a cache entry, and a serial call could load the parallel machine code
    (which wakes the threads: 5-20 us instead of 1 us for 8 rows).
    """
    par = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_parallel",
                             fn.__defaults__, fn.__closure__)
    par.__qualname__ = fn.__qualname__ + "_parallel"
    return jit(**kw)(fn), jit(parallel=True, **kw)(par)


# -- row helpers ------------------------------------------------------------------------------------
@jit()
def _row_max(bits, cell, cell_bits):
    """The largest element of a float row, from the row's bits read as integers (`bits`).

    Flipping all but the sign bit of negative floats makes integer order equal float order, and an
    integer max vectorises where a float max (which must say what NaN does) does not. A NaN wins,
    so a row holding NaN gives NaN, as it should. `cell` is one float and `cell_bits` its bits:
    they turn the winner back into a float.
    """
    shift = bits.itemsize * 8 - 1
    mask = (1 << shift) - 1
    m = -mask - 1
    for j in range(bits.shape[0]):
        b = bits[j]
        key = b ^ ((b >> shift) & mask)
        m = key if key > m else m
    cell_bits[0] = m ^ ((m >> shift) & mask)
    return np.float64(cell[0])


@jit(fastmath={"reassoc"})
def _exp_shifted(zr, m, buf):
    """buf[j] = exp(zr[j] - m) in float64; returns the sum."""
    s = np.float64(0.0)  # (not 0.0: uncompiled, 0.0 + float32 would stay float32)
    for j in range(zr.shape[0]):
        e = exp_for(np.float64(zr[j]) - m, zr[j])
        buf[j] = e
        s += e
    return s


@jit(fastmath={"reassoc"})
def _sum_exp_shifted(zr, m):
    s = np.float64(0.0)  # (not 0.0: uncompiled, 0.0 + float32 would stay float32)
    for j in range(zr.shape[0]):
        s += exp_for(np.float64(zr[j]) - m, zr[j])
    return s


@jit(fastmath={"reassoc"})
def _row_sum(zr):
    s = np.float64(0.0)  # (not 0.0: uncompiled, 0.0 + float32 would stay float32)
    for j in range(zr.shape[0]):
        s += zr[j]
    return s


@jit(fastmath={"reassoc"})
def _row_sum_below(zr, m):
    """sum(m - z) in float64, for m >= every z: each term >= 0, so nothing cancels."""
    s = np.float64(0.0)
    for j in range(zr.shape[0]):
        s += m - np.float64(zr[j])
    return s


@jit(fastmath={"reassoc"})
def _row_dot(a, b):
    s = np.float64(0.0)  # (not 0.0: uncompiled, 0.0 + float32 would stay float32)
    for j in range(a.shape[0]):
        s += np.float64(a[j]) * b[j]
    return s


# -- softmax and log-softmax --------------------------------------------------------------------------
def _softmax_body(z, bits, out, nchunks):
    n, c = z.shape
    for k in prange(nchunks):
        buf = np.empty(c)  # exp(z - max) of the current row, in float64
        cell = np.empty(1, z.dtype)
        cell_bits = cell.view(bits.dtype)
        for i in range(k * n // nchunks, (k + 1) * n // nchunks):
            zr, orow = z[i], out[i]
            inv = 1.0 / _exp_shifted(zr, _row_max(bits[i], cell, cell_bits), buf)
            for j in range(c):
                orow[j] = buf[j] * inv


def _log_softmax_body(z, bits, out, nchunks):
    n, c = z.shape
    for k in prange(nchunks):
        cell = np.empty(1, z.dtype)
        cell_bits = cell.view(bits.dtype)
        for i in range(k * n // nchunks, (k + 1) * n // nchunks):
            zr, orow = z[i], out[i]
            m = _row_max(bits[i], cell, cell_bits)
            ls = math.log(_sum_exp_shifted(zr, m))
            for j in range(c):  # (z - m) - log s, not z - (m + log s): a large m would swallow log s
                orow[j] = (np.float64(zr[j]) - m) - ls


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
    if z.ndim != 2 or z.dtype not in _FLOAT_DTYPES or z.size == 0:
        return None
    return np.ascontiguousarray(z)


def _rowwise(kernels: tuple[Callable, Callable], ref: Callable, *arrays: np.ndarray) -> np.ndarray:
    rows = [_rows(a) for a in arrays]
    if any(r is None for r in rows) or any(r.dtype != rows[0].dtype or r.shape != rows[0].shape
                                           for r in rows):
        return ref(*arrays)
    out = np.empty_like(rows[0])
    kernel, nchunks = _launch(kernels, out.size, out.shape[0])
    kernel(*rows, out, nchunks)
    return out


def _bits(z: np.ndarray) -> np.ndarray:
    """The same memory read as integers of the same width (for _row_max)."""
    return z.view(np.int32 if z.dtype == np.float32 else np.int64)


def _with_max(kernels: tuple[Callable, Callable], ref: Callable, z: np.ndarray) -> np.ndarray:
    zc = _rows(z)
    if zc is None:
        return ref(z)
    out = np.empty_like(zc)
    kernel, nchunks = _launch(kernels, zc.size, zc.shape[0])
    kernel(zc, _bits(zc), out, nchunks)
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    return _with_max(_SOFTMAX, reference.softmax, z)


def log_softmax(z: np.ndarray) -> np.ndarray:
    return _with_max(_LOG_SOFTMAX, reference.log_softmax, z)


def softmax_backward(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    return _rowwise(_SOFTMAX_BACKWARD, reference.softmax_backward, p, g)


def log_softmax_backward(logp: np.ndarray, g: np.ndarray) -> np.ndarray:
    return _rowwise(_LOG_SOFTMAX_BACKWARD, reference.log_softmax_backward, logp, g)


# -- fused softmax-cross-entropy: the loss and its gradient in one pass over each row ------------------
def _ce_class_body(z, bits, t, eps, scale, loss, grad, nchunks):
    n, c = z.shape
    off = eps / c
    bad = 0
    for k in prange(nchunks):
        buf = np.empty(c)  # exp(z - max) of the current row, in float64
        cell = np.empty(1, z.dtype)
        cell_bits = cell.view(bits.dtype)
        for i in range(k * n // nchunks, (k + 1) * n // nchunks):
            zr, gr, ti = z[i], grad[i], t[i]
            if ti < 0 or ti >= c:
                bad += 1
                continue
            m = _row_max(bits[i], cell, cell_bits)
            s = _exp_shifted(zr, m, buf)
            inv = 1.0 / s
            for j in range(c):  # (p - eps / C) * scale; the target gets - (1 - eps) below
                gr[j] = (buf[j] * inv - off) * scale
            gr[ti] = (buf[ti] * inv - (1.0 - eps) - off) * scale
            # loss = logsumexp - (1 - eps) z_t - eps mean(z), as a sum of terms >= 0
            li = math.log(s)
            if eps != 1.0:  # (at eps = 1 the target's term has weight 0, also where z_t is -inf)
                li += (1.0 - eps) * (m - zr[ti])
            if eps != 0.0:  # eps * mean(m - z): terms >= 0, no cancellation against a large m
                li += eps * (_row_sum_below(zr, m) / c)
            loss[i] = li
    return bad, 0


# -- the same for float32 logits, class targets and no smoothing, in float32 -----------------------
@jit()
def _row_max32(zr):
    """The largest element of a float32 row (NaN if the row holds a NaN with its sign bit clear).
    The kernel below need not see NaN here: a NaN it misses still makes the row's sum NaN."""
    m = np.int32(-2147483648)
    for j in range(zr.shape[0]):
        key = order_key32(zr[j])
        m = key if key > m else m
    return from_order_key32(m)


# Rows of at least WIDE_MIN classes go through copies of the three row loops below
# (_exp32_into_max_next, _scale32, _sum32) compiled for 512-bit vectors. LLVM's tuning for recent
# Intel cores picks 256-bit vectors even where the CPU has 512-bit ones (wider ones can lower the
# clock), which leaves half of each AVX-512 register idle in these arithmetic-bound loops. How:
# - each loop calls vector_width(), which does nothing;
# - _wide_copy compiles the loop a second time, with vector_width() standing for
#   exp_poly.wide_vectors(), which gives the function LLVM's "prefer-vector-width"="512";
# - the copy is renamed *_wide, so that Numba's disk cache keeps the two apart.
# On CPUs without AVX-512 the two copies are the same code. Measured on an AVX-512 Xeon
# (benchmarks/README.md): the exp loop over rows of 1000 in cache took 0.72x the time, a
# (4096, 1000) call about 0.85x. But the wide loop takes 64 floats a step and leaves up to 63 to a
# loop of one vector a step and then to single floats: rows of 250 to 320 took up to 1.25x the
# time, and from about 384 classes on the wide loop was never slower. Shorter rows keep LLVM's
# choice.
WIDE_MIN = 384


@jit()
def vector_width():
    """Leaves LLVM its own choice of vector width (see WIDE_MIN)."""


def _wide_copy(fn: Callable, **calls: Callable) -> Callable:
    """fn compiled again as *_wide, where vector_width() is exp_poly.wide_vectors() and the
    functions named in calls replace the ones fn calls by those names (see WIDE_MIN)."""
    py = getattr(fn, "py_func", fn)  # (fn itself under NUMBA_DISABLE_JIT)
    unknown = set(calls) - set(py.__code__.co_names)
    assert not unknown, f"{py.__name__} calls nothing named {sorted(unknown)}"
    names = dict(py.__globals__, vector_width=wide_vectors, **calls)
    copy = types.FunctionType(py.__code__, names, py.__name__ + "_wide", py.__defaults__,
                              py.__closure__)
    copy.__qualname__ = py.__qualname__ + "_wide"
    options = {k: v for k, v in getattr(fn, "targetoptions", {}).items()
               if k not in ("nopython", "error_model")}  # (jit() sets those)
    return jit(**options)(copy)


@jit()
def _exp32_into_max_next(zr, gr, lo, bias, zn):
    """gr[j] = exp(max(zr[j], lo)) / 2**K in float32 (exp32_scaled), returning _row_max32(zn) for
    the next row zn (of the same length), found in the same loop.

    Only float32 and int32 in the loop, so LLVM vectorises all of it (with a float64 sum in the
    same loop it took half the lanes; the sum as a second pass over the row, in L1, is cheaper:
    a (4096, 1000) call on one thread went from 6.7 to 3.8-4.6 ms). The next row streams in from
    memory while the exp computes (a separate max pass stood and waited for it), and the max's
    integer work fills vector units that the exp's FMAs leave idle: a (4096, 1000) call took
    0.92-1.01x the time on two threads, and 0.94x on one with the rows in cache. LLVM does not
    vectorise loops over range(start, stop) as well, so callers pass whole rows."""
    vector_width()
    m = np.int32(-2147483648)
    for j in range(zr.shape[0]):
        x = zr[j]
        gr[j] = exp32_scaled(lo if x < lo else x, bias)  # (NaN stays NaN: NaN < lo is False)
        key = order_key32(zn[j])
        m = key if key > m else m
    return from_order_key32(m)


@jit()
def _scale32(gr, v):
    """gr *= v."""
    vector_width()
    for j in range(gr.shape[0]):
        gr[j] *= v


@jit(fastmath={"reassoc"})
def _sum_of_quarters(a, b, c, d):
    """sum_j ((a_j + b_j) + (c_j + d_j)), the pairs added in float32 and the total in float64."""
    vector_width()
    s = np.float64(0.0)  # (not 0.0: uncompiled, 0.0 + float32 would stay float32)
    for j in range(a.shape[0]):
        s += np.float64((a[j] + b[j]) + (c[j] + d[j]))
    return s


@jit()
def _sum32(gr):
    """The sum of a row of float32 terms >= 0, within 2**-23 (1.2e-7) of the total.

    A float32 sum of ~1000 terms can be off by 1e-5 of the total; a float64 sum of the float32
    terms is exact to n * 1.1e-16, but converting every term to float64 takes half the time of the
    exp loop. Here the row's four quarters are added element by element in float32 first (two
    roundings, each within 2**-24 of its result; the terms are >= 0, so the total is off by at most
    2 * 2**-24 of itself), and only every fourth value is converted: 0.6-0.8x the time.
    """
    c = gr.shape[0]
    q = c // 4
    s = _sum_of_quarters(gr[:q], gr[q:2 * q], gr[2 * q:3 * q], gr[3 * q:4 * q])
    for j in range(4 * q, c):
        s += np.float64(gr[j])
    return s


_exp32_into_max_next_wide = _wide_copy(_exp32_into_max_next)
_scale32_wide = _wide_copy(_scale32)
_sum_of_quarters_wide = _wide_copy(_sum_of_quarters)
_sum32_wide = _wide_copy(_sum32, _sum_of_quarters=_sum_of_quarters_wide)


# Up to this distance below the row's max, the target's exp is a normal float32 (>= e**-30 / 2)
# and log1p(sum of the others / its exp) gives the loss to float32 accuracy, however small.
LOG1P_RANGE = 30.0
# Logits more than this below the max have exp(z - max) < 2**-158: 0 in float32 either way.
CLAMP_BELOW = 110.0
# Rows whose max is within +-MAX32 take the float32 path (exp32_scaled's range, with room).
MAX32 = 65536.0


def _ce_class32_body(z, bits, t, eps, scale, loss, grad, nchunks):
    """Row by row, in float32 where that keeps every error below 1e-6 (twice the SIMD lanes of
    float64). Rows whose max is not finite or beyond +-MAX32 are left to the float64 kernel: their
    loss is set to NaN and counted; softmax_cross_entropy then redoes the rows with a NaN loss.

    With e_j = exp(z_j) / 2**K (K = round(m / ln 2) for the row max m: e_max is in [0.7, 1.42],
    nothing overflows, and z_j - m, which can lose bits of z_j in float32, is never formed),
    R = the sum of the others (summed without e_t: S - e_t would cancel where e_t dominates) and
    S = R + e_t:
        grad_j = e_j / S * scale, grad_t = -(R / S) * scale  (p_t - 1 without cancellation),
        loss = log1p(R / e_t) near the max (keeps its relative accuracy for losses ~1e-8),
               log(S) + K ln 2 - z_t further down (>= LOG1P_RANGE; e_t may underflow there).
    Errors, relative: each e_j within 1.3e-7 (exp32_scaled); R and S carry their terms' 1.3e-7 and
    1.2e-7 more (_sum32); two float32 roundings of 6e-8 (1/S and the product): about 5e-7 in all
    for e_j / S, under 1e-6.
    A row's max comes from the previous row's exp loop (_exp32_into_max_next), so each block of
    rows reads its rows from memory once, beside the arithmetic.
    (The row's own arithmetic is written out here; the loops it calls are inlined by LLVM.)
    """
    n, c = z.shape
    bad = left = 0
    wide = c >= WIDE_MIN
    for k in prange(nchunks):
        start, stop = k * n // nchunks, (k + 1) * n // nchunks
        m_next = _row_max32(z[start]) if start < stop else np.float32(0.0)
        for i in range(start, stop):
            zr, gr, ti = z[i], grad[i], t[i]
            m = np.float64(m_next)  # this row's max, found with the previous row's exp
            more = i + 1 < stop
            bad_target = ti < 0 or ti >= c
            if bad_target or not abs(m) <= MAX32:  # (also NaN)
                if bad_target:
                    bad += 1
                else:
                    loss[i] = np.nan
                    left += 1
                if more:
                    m_next = _row_max32(z[i + 1])
                continue
            kk = exp32_k(np.float32(m))
            lo, bias = np.float32(m - CLAMP_BELOW), exp32_bias(kk)
            zn = z[i + 1] if more else zr  # (the block's last row: a max thrown away)
            if wide:
                m_next = _exp32_into_max_next_wide(zr, gr, lo, bias, zn)
            else:
                m_next = _exp32_into_max_next(zr, gr, lo, bias, zn)
            et = np.float64(gr[ti])
            gr[ti] = 0.0  # the sum of the others directly: S - e_t would cancel where e_t dominates
            rest = _sum32_wide(gr) if wide else _sum32(gr)
            s = rest + et
            inv = np.float32(scale / s)
            if wide:
                _scale32_wide(gr, inv)
            else:
                _scale32(gr, inv)
            gr[ti] = -(rest / s) * scale
            zt = np.float64(zr[ti])
            if m - zt < LOG1P_RANGE:
                loss[i] = math.log1p(rest / et)
            else:
                loss[i] = math.log(s) - (zt - kk * LN2)
    return bad, left


@jit(fastmath={"reassoc"})
def _row_dot_shift(tr, zr, m, skip_zeros):
    """sum(t * (m - z)): each term >= 0 for t >= 0, so no cancellation against a large max.
    skip_zeros: terms with t = 0 count 0 even where z = -inf (with label smoothing, the smoothed
    target is > 0 there, and the eps term of the loss already carries that inf: 0 * inf is NaN)."""
    s = np.float64(0.0)  # (not 0.0: uncompiled, 0.0 + float32 would stay float32)
    for j in range(tr.shape[0]):
        s += 0.0 if skip_zeros and tr[j] == 0 else tr[j] * (m - zr[j])
    return s


def _ce_prob_body(z, bits, t, eps, scale, loss, grad, nchunks):
    n, c = z.shape
    off = eps / c
    for k in prange(nchunks):
        buf = np.empty(c)
        cell = np.empty(1, z.dtype)
        cell_bits = cell.view(bits.dtype)
        for i in range(k * n // nchunks, (k + 1) * n // nchunks):
            zr, tr, gr = z[i], t[i], grad[i]
            m = _row_max(bits[i], cell, cell_bits)
            s = _exp_shifted(zr, m, buf)
            tsum = (1.0 - eps) * _row_sum(tr) + eps  # sum of the smoothed target
            inv = tsum / s
            for j in range(c):  # (p * sum(t) - t) * scale
                gr[j] = (buf[j] * inv - (1.0 - eps) * np.float64(tr[j]) - off) * scale
            li = tsum * math.log(s)
            if eps != 1.0:  # (as above: 0 * inf would make the loss NaN)
                li += (1.0 - eps) * _row_dot_shift(tr, zr, m, eps != 0.0)
            if eps != 0.0:  # eps * mean(m - z): terms >= 0, no cancellation against a large m
                li += eps * (_row_sum_below(zr, m) / c)
            loss[i] = li
    return 0, 0


_CE_CLASS = _both(_ce_class_body)
_CE_CLASS32 = _both(_ce_class32_body)
_CE_PROB = _both(_ce_prob_body)


def softmax_cross_entropy(z: np.ndarray, target: np.ndarray, label_smoothing: float = 0.0,
                          grad_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    zc = _rows(z)
    if zc is None or target.dtype.kind not in "iuf" or target.ndim not in (1, 2):
        return reference.softmax_cross_entropy(z, target, label_smoothing, grad_scale)
    n, c = zc.shape
    if target.ndim == 1:
        t = np.ascontiguousarray(target, dtype=np.int64)
        # float32 without smoothing has a float32 kernel; smoothing keeps the float64 one
        kernels = _CE_CLASS32 if zc.dtype == np.float32 and label_smoothing == 0 else _CE_CLASS
    else:
        t, kernels = np.ascontiguousarray(target, dtype=zc.dtype), _CE_PROB
    if t.shape[0] != n or (t.ndim == 2 and t.shape != zc.shape):
        raise ValueError(f"softmax_cross_entropy: logits of shape {zc.shape} and targets of shape "
                         f"{target.shape} do not fit")
    loss = np.empty(n, zc.dtype)
    grad = np.empty_like(zc)
    kernel, nchunks = _launch(kernels, zc.size, n)
    bad, left = kernel(zc, _bits(zc), t, float(label_smoothing), float(grad_scale), loss, grad,
                       nchunks)
    if bad:
        raise ValueError(f"softmax_cross_entropy: {bad} class target(s) outside 0..{c - 1}")
    if left:  # rows the float32 kernel left to float64 (found among any NaN losses)
        redo = np.flatnonzero(np.isnan(loss))
        loss[redo], grad[redo] = softmax_cross_entropy(zc[redo].astype(np.float64), t[redo], 0.0,
                                                       grad_scale)
    return loss, grad


def cross_entropy_forward(z: np.ndarray, target: np.ndarray,
                          label_smoothing: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """As reference.cross_entropy_forward, with the numba log-softmax."""
    logp = log_softmax(z)
    return reference.loss_from_log_softmax(logp, target, label_smoothing).astype(z.dtype, copy=False), logp


cross_entropy_backward = reference.cross_entropy_backward  # the fused kernel above replaces it


# -- ReLU and the linear layer ------------------------------------------------------------------------
relu = reference.relu  # np.maximum is already a single vectorised pass


def _relu_backward_body(y, g, out):
    for i in prange(y.shape[0]):
        out[i] = g[i] if y[i] > 0 else 0


_RELU_BACKWARD = _both(_relu_backward_body)


def _flat(*arrays: np.ndarray) -> bool:
    """All C-contiguous float arrays of one dtype and shape: the kernels can run on their flat views."""
    a0 = arrays[0]
    if a0.dtype not in _FLOAT_DTYPES:
        return False
    for a in arrays:  # (a loop, not all() over a generator: this runs several times a step)
        if not a.flags.c_contiguous or a.dtype != a0.dtype or a.shape != a0.shape:
            return False
    return True


def _writable(*arrays: np.ndarray) -> bool:
    """The arrays an update writes can be written (else the reference raises NumPy's clear error:
    numba's compiler would refuse a read-only array with a typing error instead)."""
    for a in arrays:
        if not a.flags.writeable:
            return False
    return True


def relu_backward(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    if y.size < 4096 or not _flat(y, g):  # NumPy's where is as fast when dispatch dominates
        z = reference.zero(g.dtype)
        return np.where(y > z, g, z)  # (reference.relu_backward, one call less for tiny arrays)
    out = np.empty_like(g)
    _launch(_RELU_BACKWARD, y.size, elementwise=True)[0](y.reshape(-1), g.reshape(-1), out.reshape(-1))
    return out


def _normal_cdf_body(x, out):
    for i in prange(x.shape[0]):  # (in float64, as reference.normal_cdf: the C library's erfc)
        out[i] = math.erfc(np.float64(x[i]) * -reference.SQRT_HALF) * 0.5


_NORMAL_CDF = _both(_normal_cdf_body)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    if not _flat(x):
        return reference.normal_cdf(x)
    out = np.empty_like(x)
    # (parallel from PARALLEL_MIN elements, as the row kernels: erfc costs tens of ns a value, far
    # more than the memory it reads)
    _launch(_NORMAL_CDF, x.size)[0](x.reshape(-1), out.reshape(-1))
    return out


def _bias_relu_body(y, b):
    n, m = y.shape
    for i in prange(n):
        for j in range(m):
            v = y[i, j] + b[j]
            y[i, j] = 0 if v <= 0 else v  # NaN stays NaN, as with np.maximum


def _relu_mask_colsum_body(y, g, gm, parts, nchunks):
    """gm = g where y > 0 else 0, and parts[k] = the column sums of block k of gm's rows."""
    n, m = y.shape
    for k in prange(nchunks):
        acc = parts[k]
        acc[:] = 0.0
        for i in range(k * n // nchunks, (k + 1) * n // nchunks):
            for j in range(m):
                v = g[i, j] if y[i, j] > 0 else 0
                gm[i, j] = v
                acc[j] += v


@jit()
def _colsum(g):
    """The column sums of a 2-D array, accumulated in float64 (measured on a (256, 10) float32
    array: ~3 us, where np.sum(axis=0) takes ~9 us)."""
    out = np.zeros(g.shape[1])
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            out[j] += g[i, j]
    return out


_BIAS_RELU = _both(_bias_relu_body)
_RELU_MASK_COLSUM = _both(_relu_mask_colsum_body)


def linear_forward(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray] = None,
                   relu: bool = False) -> np.ndarray:
    y = x @ w.T  # BLAS
    if b is not None and relu and _flat(y) and y.flags.c_contiguous and b.dtype == y.dtype:
        _launch(_BIAS_RELU, y.size, elementwise=True)[0](y, b)  # one pass instead of two
        return y
    if b is not None:
        y += b
    if relu:
        np.maximum(y, 0, out=y)
    return y


def linear_backward(x: np.ndarray, w: np.ndarray, y: np.ndarray, g: np.ndarray, relu: bool = False,
                    need: tuple[bool, bool, bool] = (True, True, True)) -> tuple[Any, Any, Any]:
    if not relu:
        if not need[2] or not _flat(g) or g.size > PARALLEL_MIN:  # (big: NumPy's sum is as fast)
            return reference.linear_backward(x, w, y, g, relu, need)
        gm, db = g, _colsum(g).astype(g.dtype)
    elif not _flat(y, g):
        return reference.linear_backward(x, w, y, g, relu, need)
    else:
        gm = np.empty_like(g)
        kernel, nchunks = _launch(_RELU_MASK_COLSUM, g.size, g.shape[0], elementwise=True)
        parts = np.empty((nchunks, g.shape[1]))
        kernel(y, g, gm, parts, nchunks)
        db = (parts[0] if nchunks == 1 else parts.sum(axis=0)).astype(g.dtype) if need[2] else None
    dx = gm @ w if need[0] else None
    dw = gm.T @ x if need[1] else None
    return dx, dw, db


# -- optimiser updates, one pass over each parameter ----------------------------------------------------
def _sgd_body(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first, has_buf):
    for i in prange(p.shape[0]):
        pi = np.float64(p[i])
        d = np.float64(g[i])
        if weight_decay != 0.0:  # (not 0 * p: an inf parameter would give NaN)
            d += weight_decay * pi
        if has_buf:
            b = d if first else momentum * np.float64(buf[i]) + (1.0 - dampening) * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        p[i] = pi - lr * d


def _sgd32_body(p, g, lr):
    """The plain float32 step (no momentum, no weight decay), in float32: p - lr g with lr split into
    float32 parts hi + lo, by two FMAs that each round once: p - hi g, then - lo g. The error is at
    most two float32 roundings of the result plus 2**-47 lr |g| (the float64 loop above: one
    rounding plus 2**-53 lr |g|; NumPy's float32 p -= lr * g: up to 2**-24 lr |g| where p and lr g
    cancel); inf and NaN come out as in the float64 loop. The float64 loop converts three times
    per element and took twice as long (200k parameters: 47 us, this 24 us; NumPy 45 us)."""
    hi = np.float32(lr)
    lo = np.float32(lr - np.float64(hi))  # lr - hi - lo is below 2**-48 lr
    for i in prange(p.shape[0]):
        gi = g[i]
        r = fma32(-hi, gi, p[i])
        p[i] = fma32(-lo, gi, r) if abs(r) < np.inf else r  # (where r is inf, g may be: inf - inf)


def _adam_body(p, g, m, v, decay, wd, beta1, beta2, eps, step_size, bc2_sqrt):
    for i in prange(p.shape[0]):
        pi = np.float64(p[i])
        if decay != 1.0:
            pi *= decay
        gi = np.float64(g[i])
        if wd != 0.0:  # (not 0 * p: an inf parameter would give NaN)
            gi += wd * pi
        mi = beta1 * np.float64(m[i]) + (1.0 - beta1) * gi
        vi = beta2 * np.float64(v[i]) + (1.0 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = pi - step_size * mi / (math.sqrt(vi) / bc2_sqrt + eps)


_SGD = _both(_sgd_body)
_SGD32 = _both(_sgd32_body)
_ADAM = _both(_adam_body)


def sgd_step_(p: np.ndarray, g: np.ndarray, buf: Optional[np.ndarray], *, lr: float,
              momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
              nesterov: bool = False, first: bool = False) -> None:
    if (not momentum and not weight_decay and p.dtype == _F32 and g.dtype == _F32
            and p.shape == g.shape and p.flags.c_contiguous and g.flags.c_contiguous and p.flags.writeable
            and 1e-30 < abs(lr) < 1e30):  # (lr's float32 parts stay normal numbers)
        _launch(_SGD32, p.size, elementwise=True)[0](p.reshape(-1), g.reshape(-1), float(lr))
        return
    has_buf = bool(momentum)
    if not (_flat(p, g, *([buf] if has_buf else [])) and _writable(p, *([buf] if has_buf else []))):
        return reference.sgd_step_(p, g, buf, lr=lr, momentum=momentum, dampening=dampening,
                                   weight_decay=weight_decay, nesterov=nesterov, first=first)
    flat = p.reshape(-1)
    kernel = _launch(_SGD, p.size, elementwise=True)[0]
    kernel(flat, g.reshape(-1), buf.reshape(-1) if has_buf else flat, float(lr), float(momentum),
           float(dampening), float(weight_decay), bool(nesterov), bool(first), has_buf)


def adam_step_(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, *, step: int, lr: float,
               beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
               weight_decay: float = 0.0, decoupled: bool = False) -> None:
    if not (_flat(p, g, m, v) and _writable(p, m, v)):
        return reference.adam_step_(p, g, m, v, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                    weight_decay=weight_decay, decoupled=decoupled)
    decay, wd = (1.0 - lr * weight_decay, 0.0) if decoupled else (1.0, float(weight_decay))
    step_size = lr / (1.0 - beta1 ** step)
    bc2_sqrt = math.sqrt(1.0 - beta2 ** step)
    kernel = _launch(_ADAM, p.size, elementwise=True)[0]
    kernel(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), float(decay), wd, float(beta1),
           float(beta2), float(eps), float(step_size), bc2_sqrt)


# -- windows of images: im2col, col2im, max pooling (geometry as in reference.py) ---------------------
def _im2col_body(x, cols, k0, k1, s0, s1, p0, p1, d0, d1, ho, wo):
    nb, nc, h, w = x.shape
    for cab in prange(nc * k0 * k1):  # (each row its own task: a 1-channel input has only k0*k1)
        c, a, b = cab // (k0 * k1), (cab // k1) % k0, cab % k1
        row = cols[cab]
        for n in range(nb):
            for i in range(ho):
                r = i * s0 + a * d0 - p0
                base = (n * ho + i) * wo
                if 0 <= r < h:
                    xr = x[n, c, r]
                    for j in range(wo):
                        q = j * s1 + b * d1 - p1
                        row[base + j] = xr[q] if 0 <= q < w else 0
                else:
                    for j in range(wo):
                        row[base + j] = 0


def _col2im_body(cols, gx, k0, k1, s0, s1, p0, p1, d0, d1, ho, wo):
    nb, nc, h, w = gx.shape
    for c in prange(nc):  # (each channel adds into its own planes: no two threads meet)
        for n in range(nb):
            gx[n, c] = 0  # (here, not by np.zeros: the planes are then in cache for the adds)
        for a in range(k0):
            for b in range(k1):
                row = cols[(c * k0 + a) * k1 + b]
                for n in range(nb):
                    for i in range(ho):
                        r = i * s0 + a * d0 - p0
                        if 0 <= r < h:
                            gr = gx[n, c, r]
                            base = (n * ho + i) * wo
                            for j in range(wo):
                                q = j * s1 + b * d1 - p1
                                if 0 <= q < w:
                                    gr[q] += row[base + j]


def _max_pool_body(x, y, arg, k0, k1, s0, s1, p0, p1, d0, d1, a_lo, a_hi, b_lo, b_hi):
    """a_lo[i] <= a < a_hi[i]: the kernel rows of window row i inside the image (b_*: columns)."""
    nb, nc, h, w = x.shape
    ho, wo = y.shape[2], y.shape[3]
    for m in prange(nb * nc):
        xm, ym, am = x[m // nc, m % nc], y[m // nc, m % nc], arg[m // nc, m % nc]  # (one image plane)
        for i in range(ho):
            r0, al, ah = i * s0 - p0, a_lo[i], a_hi[i]
            for j in range(wo):
                q0, bl, bh = j * s1 - p1, b_lo[j], b_hi[j]
                if al >= ah or bl >= bh:  # (a window over padding only)
                    ym[i, j] = -np.inf
                    am[i, j] = -1
                    continue
                best, at = xm[r0 + al * d0, q0 + bl * d1], (r0 + al * d0) * w + q0 + bl * d1
                for a in range(al, ah):
                    r = r0 + a * d0
                    for b in range(bl, bh):
                        v = xm[r, q0 + b * d1]
                        # larger, or a NaN (the last NaN wins, as in PyTorch); selects, not branches: on
                        # data, which one wins is a coin toss, and mispredicted branches cost more
                        take = (v > best) | (v != v)
                        best = v if take else best
                        at = r * w + q0 + b * d1 if take else at
                ym[i, j] = best
                am[i, j] = at


def _inside(size: int, k: int, s: int, p: int, d: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """For each output position o: the kernel offsets lo <= a < hi that land inside 0..size-1."""
    start = np.arange(n_out) * s - p
    lo = np.where(start >= 0, 0, (-start + d - 1) // d)
    hi = np.minimum(k, (size - 1 - start) // d + 1)
    return lo.astype(np.int64), hi.astype(np.int64)


def _max_pool_2x2_body(x, y, arg):
    """max_pool2d's most common case, 2x2 windows with stride 2 (no padding or dilation), unrolled:
    the same winners as _max_pool_body (the first largest in row-major order, the last NaN), about four
    times quicker."""
    nb, nc, h, w = x.shape
    ho, wo = y.shape[2], y.shape[3]
    for m in prange(nb * nc):
        xm, ym, am = x[m // nc, m % nc], y[m // nc, m % nc], arg[m // nc, m % nc]
        for i in range(ho):
            top, bottom = xm[2 * i], xm[2 * i + 1]
            for j in range(wo):
                best, at = top[2 * j], 0
                v = top[2 * j + 1]
                take = (v > best) | (v != v)
                best, at = (v, 1) if take else (best, at)
                v = bottom[2 * j]
                take = (v > best) | (v != v)
                best, at = (v, w) if take else (best, at)
                v = bottom[2 * j + 1]
                take = (v > best) | (v != v)
                best, at = (v, w + 1) if take else (best, at)
                ym[i, j] = best
                am[i, j] = 2 * i * w + 2 * j + at


def _max_pool_backward_body(g, arg, gx):
    nb, nc, ho, wo = g.shape
    w = gx.shape[3]
    for m in prange(nb * nc):
        n, c = m // nc, m % nc
        plane = gx[n, c]
        plane[:] = 0  # (here, not by np.zeros: the plane is then in cache for the adds)
        for i in range(ho):
            for j in range(wo):
                at = arg[n, c, i, j]
                if at >= 0:
                    plane[at // w, at % w] += g[n, c, i, j]


_IM2COL = _both(_im2col_body)
_COL2IM = _both(_col2im_body)
_MAX_POOL = _both(_max_pool_body)
_MAX_POOL_2X2 = _both(_max_pool_2x2_body)
_MAX_POOL_BACKWARD = _both(_max_pool_backward_body)


def _images(*arrays: np.ndarray) -> bool:
    """C-contiguous float arrays of one dtype: the window kernels' inputs."""
    for a in arrays:
        if a.dtype not in _FLOAT_DTYPES or a.dtype != arrays[0].dtype or not a.flags.c_contiguous:
            return False
    return True


def im2col(x: np.ndarray, k, s, p, d, out) -> np.ndarray:
    if not _images(x):
        return reference.im2col(x, k, s, p, d, out)
    cols = np.empty((x.shape[1] * k[0] * k[1], x.shape[0] * out[0] * out[1]), dtype=x.dtype)
    _launch(_IM2COL, cols.size, x.shape[0])[0](x, cols, *k, *s, *p, *d, *out)
    return cols


def col2im(cols: np.ndarray, xshape, k, s, p, d, out) -> np.ndarray:
    if not _images(cols):
        return reference.col2im(cols, xshape, k, s, p, d, out)
    gx = np.empty(xshape, dtype=cols.dtype)
    _launch(_COL2IM, cols.size, xshape[0])[0](cols, gx, *k, *s, *p, *d, *out)
    return gx


def max_pool2d(x: np.ndarray, k, s, p, d, out) -> tuple[np.ndarray, np.ndarray]:
    if not _images(x):
        return reference.max_pool2d(x, k, s, p, d, out)
    y = np.empty(x.shape[:2] + tuple(out), dtype=x.dtype)
    arg = np.empty(y.shape, dtype=np.int64)
    if (tuple(k) == (2, 2) and tuple(s) == (2, 2) and tuple(p) == (0, 0) and tuple(d) == (1, 1)
            and 2 * out[0] <= x.shape[2] and 2 * out[1] <= x.shape[3]):  # (not ceil_mode's last half window)
        _launch(_MAX_POOL_2X2, x.size, x.shape[0] * x.shape[1])[0](x, y, arg)
        return y, arg
    rows = _inside(x.shape[2], k[0], s[0], p[0], d[0], out[0])
    cols = _inside(x.shape[3], k[1], s[1], p[1], d[1], out[1])
    _launch(_MAX_POOL, x.size, x.shape[0] * x.shape[1])[0](x, y, arg, *k, *s, *p, *d, *rows, *cols)
    return y, arg


def max_pool2d_backward(g: np.ndarray, arg: np.ndarray, xshape) -> np.ndarray:
    if not _images(g) or not arg.flags.c_contiguous:
        return reference.max_pool2d_backward(g, arg, xshape)
    gx = np.empty(xshape, dtype=g.dtype)
    _launch(_MAX_POOL_BACKWARD, g.size, g.shape[0] * g.shape[1])[0](g, arg, gx)
    return gx


# -- compiling ahead of time, and threads ---------------------------------------------------------------
def warmup() -> None:
    """Compile (or load from the disk cache) every kernel, serial and parallel, float32 and float64."""
    global PARALLEL_MIN, PARALLEL_MIN_ELEMENTWISE, SPINNING_OPENMP
    saved = PARALLEL_MIN, PARALLEL_MIN_ELEMENTWISE, SPINNING_OPENMP
    try:
        for PARALLEL_MIN, PARALLEL_MIN_ELEMENTWISE, SPINNING_OPENMP in (saved, (0, 0, False)):
            for dt in _FLOATS:
                z = np.linspace(-1.0, 1.0, 12, dtype=dt).reshape(3, 4)
                p = softmax(z)
                log_softmax(z)
                softmax_backward(p, z)
                log_softmax_backward(z, z)
                softmax_cross_entropy(z, np.array([0, 1, 3]), 0.1, 0.5)
                softmax_cross_entropy(z, np.array([0, 1, 3]), 0.0, 0.5)  # float32: its own kernel
                softmax_cross_entropy(z, p, 0.1, 0.5)
                _launch(_RELU_BACKWARD, z.size, elementwise=True)[0](z.reshape(-1), z.reshape(-1), p.reshape(-1))
                normal_cdf(z)
                sq = np.eye(4, dtype=dt) - 0.25
                linear_forward(sq, sq, sq[0], relu=True)
                linear_backward(sq, sq, sq, sq, True)
                linear_backward(sq, sq, sq, sq, False)
                q, g, m, v = (np.ones(5, dt) for _ in range(4))
                sgd_step_(q, g, m, lr=0.1, momentum=0.9)
                sgd_step_(q, g, None, lr=0.1)  # (float32: its own kernel)
                adam_step_(q, g, m, v, step=1, lr=0.1)
                img = np.ones((1, 2, 3, 3), dt)
                geo = ((2, 2), (1, 1), (1, 1), (1, 1), (4, 4))
                col2im(im2col(img, *geo), img.shape, *geo)
                y, arg = max_pool2d(img, *geo)
                max_pool2d(img, (2, 2), (2, 2), (0, 0), (1, 1), (1, 1))
                max_pool2d_backward(y, arg, img.shape)
    finally:
        PARALLEL_MIN, PARALLEL_MIN_ELEMENTWISE, SPINNING_OPENMP = saved


def set_num_threads(n: int) -> None:
    numba.set_num_threads(n)  # (kernels.set_num_threads checks n against the pool first)


def get_num_threads() -> int:
    return numba.get_num_threads()
