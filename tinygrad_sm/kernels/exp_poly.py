"""A vectorisable exp for the Numba kernels, and the `jit` decorator they all use.

Numba calls libm's exp one element at a time (no SVML here), which made the softmax kernels
slower than PyTorch. This exp is plain arithmetic that LLVM turns into SIMD code:

    exp(x) = 2**k * exp(r),  k = round(x / ln 2),  r = x - k ln 2,  |r| <= ln(2) / 2

exp(r) is its Taylor polynomial of degree n, whose error is below |r|**(n+1) / (n+1)! * e**|r|:
    degree 7  (exp_lean): 7.3e-9 relative, for results that are rounded to float32 anyway;
    degree 12 (exp_full): 2.3e-16 relative, about one float64 rounding.
tests/test_kernels.py measures both against NumPy's exp over their whole input range.
2**k is built from its bits. k ln 2 is subtracted in two parts (ln 2 = LN2_HI + LN2_LO, LN2_HI with
trailing zero bits) so that k * LN2_HI is exact. Results too small for the output type are exactly 0
(exp_full gives the correctly scaled subnormals on the way there); NaN stays NaN; +inf and -inf
give inf and 0.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numba
import numpy as np
from numba.core import types
from numba.extending import intrinsic, overload


def _probe() -> None:
    pass


def _cache_is_writable() -> bool:
    """numba.njit(cache=True) looks for a writable cache directory (next to this file, then
    NUMBA_CACHE_DIR, then the user's cache) and raises RuntimeError where there is none."""
    try:
        numba.njit(cache=True)(_probe)
        return True
    except RuntimeError:
        return False


CACHE = _cache_is_writable()


def jit(**options: Any) -> Callable[[Callable], Callable]:
    """numba.njit, cached on disk when a cache directory is writable (else compiled in memory only).
    error_model="numpy": x / 0 gives inf or NaN as in NumPy instead of raising, which also lets LLVM
    vectorise loops that divide (the check for a zero divisor is a branch)."""
    return numba.njit(cache=CACHE, error_model="numpy", **options)


LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453
LN2_HI = 0.693145751953125  # 0x3FE62E4000000000: k * LN2_HI is exact for |k| < 2**11
LN2_LO = 1.4286068203094173e-06  # ln 2 - LN2_HI
SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer, kept in the low bits
SHIFT_BITS = int(np.float64(SHIFT).view(np.int64))

if numba.config.DISABLE_JIT:  # plain Python runs the same algorithm
    def _f64_from_bits(i: Any) -> float:
        return float(np.int64(i).view(np.float64))

    def _bits_from_f64(x: Any) -> int:
        return int(np.float64(x).view(np.int64))
else:
    @intrinsic
    def _f64_from_bits(typingctx: Any, i: Any) -> Any:
        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(types.float64))
        return types.float64(types.int64), codegen

    @intrinsic
    def _bits_from_f64(typingctx: Any, x: Any) -> Any:
        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(types.int64))
        return types.int64(types.float64), codegen


@jit(fastmath={"contract"})
def _reduce(x):
    """(k, r) with x = k ln 2 + r; k comes back as an int64."""
    t = x * LOG2E + SHIFT
    kf = t - SHIFT
    r = (x - kf * LN2_HI) - kf * LN2_LO
    return _bits_from_f64(t) - SHIFT_BITS, r


@jit(fastmath={"contract"})
def _pow2(k):
    """2**k for -1022 <= k <= 1023 (the & keeps the bits in range whatever k is, e.g. from NaN)."""
    return _f64_from_bits(((k + 1023) & 2047) << 52)


@jit(fastmath={"contract"})
def exp_lean(x):
    """exp(x) for results rounded to float32, Taylor degree 7: 0 below -104 (e**-104 is under half
    of float32's smallest subnormal), inf above 89 (float32 overflows at 88.73)."""
    t = x * LOG2E + SHIFT
    kf = t - SHIFT
    r = x - kf * LN2  # one step is enough here: |k| <= 150 puts at most 1e-14 of error into r
    p = 1.0 + r * (1.0 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (
        1 / 120 + r * (1 / 720 + r * (1 / 5040)))))))
    k = _bits_from_f64(t) - SHIFT_BITS
    e = p * _pow2(k)
    if x < -104.0:
        return 0.0
    return math.inf if x > 89.0 else e


@jit(fastmath={"contract"})
def exp_full(x):
    """exp(x) in float64 for any x, Taylor degree 12."""
    k, r = _reduce(x)
    p = 1.0 + r * (1.0 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (
        1 / 720 + r * (1 / 5040 + r * (1 / 40320 + r * (1 / 362880 + r * (
            1 / 3628800 + r * (1 / 39916800 + r * (1 / 479001600))))))))))))
    h = k >> 1  # 2**k in two halves, each a normal number, so subnormal results round once
    e = p * _pow2(h) * _pow2(k - h)
    if x < -746.0:
        return 0.0
    return math.inf if x > 709.8 else e


def exp_for(x, like):  # no annotations: numba matches them against the overload's lambdas
    """exp(x) accurate enough for results of like's dtype: exp_lean for float32,
    exp_full otherwise. Numba picks the version at compile time (the overload below)."""
    with np.errstate(over="ignore", invalid="ignore"):  # only run uncompiled (NUMBA_DISABLE_JIT=1):
        # the lanes that compiled code computes and then discards would warn here
        return exp_lean(x) if isinstance(like, np.float32) else exp_full(x)


@overload(exp_for, jit_options={"cache": CACHE})
def _exp_for_compiled(x, like):
    if like == types.float32:
        return lambda x, like: exp_lean(x)
    return lambda x, like: exp_full(x)
