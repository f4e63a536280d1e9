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

exp32_scaled is the same scheme carried out in float32 (twice the SIMD lanes of float64), for the
float32 softmax-cross-entropy kernel. It returns exp(x) / 2**K for a per-row K, so the kernel never
forms z - max(z) (a float32 subtraction that can lose bits of z):
    k = round(x / ln 2), r = x - k ln 2 by two FMAs (ln 2 = LN2_HI32 + LN2_LO32; each fused
    multiply-add rounds once, so r is within 3e-8 of exact for |x| <= X32_MAX),
    exp(r) = P(r), a degree-6 polynomial fitted for the least relative error on |r| <= 0.3483 with
    float32 coefficients (3.8e-9 relative, far below float32's 6e-8 rounding),
    result = P(r) * 2**(k - K), the power of two built from its bits; 0 once k - K < -126.
Relative error at most 1.3e-7 (about one float32 ulp) for every normal result; the sum of the terms
is in tests/test_kernels.py, which checks it over the whole input range.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numba
import numpy as np
from llvmlite import ir
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

    def fma32(a: Any, b: Any, c: Any) -> np.float32:
        """a * b + c rounded once to float32 (the product of two float32 is exact in float64; the
        sum is rounded twice here, which can differ from one rounding in the last bit, rarely)."""
        return np.float32(np.float64(a) * np.float64(b) + np.float64(c))

    def _pow2_from_shifted(t: Any, bias: Any) -> np.float32:
        e = max(int(np.float32(t).view(np.int32)) - int(bias), 0) & 0x1FF  # what 32 bits keep
        return np.uint32(e << 23).view(np.float32)

    def wide_vectors() -> None:
        """(Compiled: asks LLVM for 512-bit vectors in this function's loops.)"""

    def order_key32(x: Any) -> np.int32:
        b = int(np.float32(x).view(np.int32))
        return np.int32(b ^ ((b >> 31) & 0x7FFFFFFF))

    def from_order_key32(k: Any) -> np.float32:
        k = int(k)
        return np.int32(k ^ ((k >> 31) & 0x7FFFFFFF)).view(np.float32)
else:
    @intrinsic
    def fma32(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
        """a * b + c in float32, rounded once (llvm.fma: an FMA instruction where there is one)."""
        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.fma(*args)
        return types.float32(types.float32, types.float32, types.float32), codegen

    @intrinsic
    def _pow2_from_shifted(typingctx: Any, t: Any, bias: Any) -> Any:
        """The float32 with exponent field max(bits(t) - bias, 0) and mantissa 0: 2**(that - 127),
        or 0.0 when the field would be <= 0. 32-bit integer code (Numba would widen to int64)."""
        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            i32 = ir.IntType(32)
            e = builder.sub(builder.bitcast(args[0], i32), builder.trunc(args[1], i32))
            zero = ir.Constant(i32, 0)
            e = builder.select(builder.icmp_signed(">", e, zero), e, zero)
            return builder.bitcast(builder.shl(e, ir.Constant(i32, 23)), ir.FloatType())
        return types.float32(types.float32, types.int64), codegen

    def _flip_negatives(builder: Any, b: Any) -> Any:
        """b with its low 31 bits flipped where it is negative (its own inverse)."""
        i32 = ir.IntType(32)
        return builder.xor(b, builder.and_(builder.ashr(b, ir.Constant(i32, 31)),
                                           ir.Constant(i32, 0x7FFFFFFF)))

    @intrinsic
    def wide_vectors(typingctx: Any) -> Any:
        """Asks LLVM to vectorise the loops of the function that calls this with 512-bit vectors
        where the CPU has them. LLVM's tuning for recent Intel cores prefers 256-bit vectors
        (wider ones can lower the clock); for the exp loops, which are arithmetic-bound, 512 bits
        measured faster. llvmlite accepts only its own list of attributes, so the string
        attribute goes into the set directly; where that fails, the loops keep LLVM's choice."""
        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            try:
                set.add(builder.function.attributes, '"prefer-vector-width"="512"')
            except Exception:  # pragma: no cover - a different llvmlite: only slower
                pass
            return context.get_dummy_value()
        return types.none(), codegen

    @intrinsic
    def order_key32(typingctx: Any, x: Any) -> Any:
        """An int32 whose signed order is the order of the float32 x (a NaN with the sign bit clear
        is above +inf). An integer max vectorises where a float max, which must say what NaN does,
        does not; int32 code, where Numba's own integer arithmetic would widen to int64."""
        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return _flip_negatives(builder, builder.bitcast(args[0], ir.IntType(32)))
        return types.int32(types.float32), codegen

    @intrinsic
    def from_order_key32(typingctx: Any, k: Any) -> Any:
        """The float32 that order_key32 turned into k."""
        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.bitcast(_flip_negatives(builder, args[0]), ir.FloatType())
        return types.float32(types.int32), codegen

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


# -- float32 --------------------------------------------------------------------------------------
LOG2E32 = np.float32(LOG2E)
LN2_HI32 = np.float32(LN2)  # float32's nearest ln 2; with FMA, k * LN2_HI32 need not be exact
LN2_LO32 = np.float32(LN2 - float(LN2_HI32))  # LN2_HI32 + LN2_LO32 is ln 2 to 8.8e-17
SHIFT32 = np.float32(12582912.0)  # 1.5 * 2**23: adding it rounds to an integer for |v| < 2**22
SHIFT32_BITS = int(SHIFT32.view(np.int32))
X32_MAX = 65536.0 + 128.0  # |x| up to here keeps |x / ln 2| < 2**22 and k ln 2 exact enough
# exp(r) ~ 1 + r + r**2/2 + C3 r**3 + ... + C6 r**6 for |r| <= 0.3483 (fitted with the first three
# fixed, then each coefficient rounded to float32 in turn and the later ones refitted)
C3, C4, C5, C6 = (np.float32(c) for c in (0.16666531562805176, 0.04166724905371666,
                                           0.008367802016437054, 0.0013863531639799476))
ONE32, HALF32 = np.float32(1.0), np.float32(0.5)


@jit()
def exp32_k(x):
    """k = round(x / ln 2) as exp32_scaled computes it (the same FMA: k(x) <= k(y) for x <= y)."""
    return int(fma32(x, LOG2E32, SHIFT32) - SHIFT32)


@jit()
def exp32_bias(k):
    """exp32_scaled's argument for a division by 2**k: SHIFT32's bits + k - the exponent bias."""
    return SHIFT32_BITS + k - 127


@jit()
def exp32_scaled(x, bias):
    """exp(x) / 2**K in float32, with bias = exp32_bias(K), for float32 x with |x| <= X32_MAX and
    x <= K ln 2 + 88 (so the result stays below 2**128). Results under 2**-126 (k - K < -126) are
    exactly 0 (or, for k - K = -126, a correctly rounded subnormal)."""
    t = fma32(x, LOG2E32, SHIFT32)  # k + 1.5 * 2**23: k sits in the low mantissa bits
    kf = t - SHIFT32
    r = fma32(kf, -LN2_HI32, x)  # exact x - k LN2_HI32, rounded once
    r = fma32(kf, -LN2_LO32, r)
    p = fma32(fma32(fma32(fma32(C6, r, C5), r, C4), r, C3), r, HALF32)  # Horner, by FMAs
    p = fma32(fma32(p, r, ONE32), r, ONE32)
    return p * _pow2_from_shifted(t, bias)


@jit()
def exp32(x):
    """exp(x) in float32 for any float32 x: NaN stays NaN; 0 below -87.68 (results under
    2**-126.5), correctly rounded subnormals up to -87.34; inf from 88.72 (float32 overflows)."""
    if x < -104.0:
        x = np.float32(-104.0)
    if x > 89.0:
        x = np.float32(89.0)
    big = x > 0  # divide by 2 and double afterwards, so that 2**(k - K) stays below 2**128
    e = exp32_scaled(x, exp32_bias(1 if big else 0))
    return e * np.float32(2.0) if big else e
