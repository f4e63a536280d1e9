"""The numba kernels against their NumPy references (reference.py), the polynomial exp's error bound,
the backend switch, start-up, caching and threads.

Also run uncompiled: NUMBA_DISABLE_JIT=1 pytest tests/test_kernels.py (numba runs the same code
as Python, with smaller grids here so it stays quick).
"""
import contextlib
import os
import subprocess
import sys

import hypothesis.extra.numpy as hnp
import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_sm
from tinygrad_sm import kernels
from tinygrad_sm.gates.conv import out_size
from tinygrad_sm.kernels import exp_poly
from tinygrad_sm.kernels import numba_kernels as nk
from tinygrad_sm.kernels import reference as ref

JIT = not numba.config.DISABLE_JIT
FLOATS = [np.float32, np.float64]


MODES = pytest.mark.parametrize("mode", ["serial", "parallel"])


@contextlib.contextmanager
def compiled(mode):
    """Run the kernels through their serial or their parallel version (parallel: even for tiny inputs)."""
    with pytest.MonkeyPatch.context() as m:
        for name in ("PARALLEL_MIN", "PARALLEL_MIN_ELEMENTWISE"):
            m.setattr(nk, name, 0 if mode == "parallel" else 1 << 62)
        m.setattr(nk, "SPINNING_OPENMP", False)  # (the parallel versions even beside PyTorch)
        yield


def close(ours, theirs, dtype, scale=1.0):
    """float64 kernels agree with the reference to rounding; float32 kernels are within 1e-6
    relative of the reference run in float64 (absolute 1e-8 * scale where the value crosses 0,
    e.g. p - e/C under label smoothing)."""
    assert ours.dtype == dtype
    if dtype == np.float64:
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13 * scale)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8 * scale)


def arrays(shape, dtype, lo=-30.0, hi=30.0):
    return hnp.arrays(np.float64, shape, elements=st.floats(lo, hi)).map(lambda a: a.astype(dtype))


rows_cols = st.tuples(st.integers(1, 9), st.integers(1, 40))


# -- the polynomial exp: its error over the whole input range --------------------------------------
@numba.njit
def _exp_all(x, lean, out):
    for i in range(x.size):
        out[i] = exp_poly.exp_lean(x[i]) if lean else exp_poly.exp_full(x[i])


def _exp(x, lean):
    out = np.empty_like(x)
    with np.errstate(over="ignore", invalid="ignore"):  # uncompiled, discarded lanes would warn
        _exp_all(x, lean, out)
    return out


GRID = 2_000_001 if JIT else 20_001


def test_exp_full_is_within_two_ulp_and_handles_every_range():
    x = np.linspace(-760.0, 720.0, GRID)
    with np.errstate(over="ignore"):
        got, want = _exp(x, False), np.exp(x)
    normal = (x > -708.3) & (x < 709.7)
    rel = np.abs(got[normal] - want[normal]) / want[normal]
    assert rel.max() <= 2.3e-16 + 2 * 2.0 ** -53  # Taylor bound + a couple of roundings
    sub = (x > -746.0) & (x <= -708.3)  # subnormal results: within one subnormal step
    assert np.abs(got[sub] - want[sub]).max() <= 2.0 ** -1074
    assert (got[x < -746.0] == 0).all() and np.isinf(got[x > 709.8]).all()
    special = _exp(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0]), False)
    assert np.isnan(special[0]) and special[1] == np.inf and special[2] == 0.0
    np.testing.assert_allclose(special[3:], [1.0, 1.0, np.e], rtol=4.5e-16, atol=0)


def test_exp_lean_is_within_its_taylor_bound_and_is_zero_below_float32():
    x = np.linspace(-110.0, 95.0, GRID)
    with np.errstate(over="ignore"):
        got, want = _exp(x, True), np.exp(x)
    live = (x >= -104.0) & (x <= 88.7)
    assert (np.abs(got[live] - want[live]) / want[live]).max() <= 7.4e-9  # 0.3466**8 / 8! * e**0.3466
    assert (got[x < -104.0] == 0).all()  # exactly 0, never garbage; float32 would round them to 0
    assert np.isinf(got[x > 89.0]).all()
    tiny = x < -87.0  # float32 subnormals: after rounding to float32, at most one step (2**-149) off
    with np.errstate(over="ignore"):
        diff = got[tiny].astype(np.float32).astype(np.float64) - want[tiny].astype(np.float32)
    assert np.abs(diff).max() <= 2.0 ** -149
    special = _exp(np.array([np.nan, np.inf, -np.inf, -1e300]), True)
    assert np.isnan(special[0]) and special[1] == np.inf and (special[2:] == 0).all()


@given(x=st.floats(-800, 800))
def test_exp_full_matches_numpy_on_drawn_values(x):
    with np.errstate(over="ignore"):
        got, want = _exp(np.array([x]), False)[0], np.exp(x)
    assert got == want if np.isinf(want) else abs(got - want) <= 5e-16 * want + 2.0 ** -1074


# -- the float32 exp: error bound over its whole input range -------------------------------------
@numba.njit
def _exp32_all(x, out):
    for i in range(x.size):
        out[i] = exp_poly.exp32(x[i])


@numba.njit
def _exp32_scaled_all(x, k, out):
    bias = exp_poly.exp32_bias(k)
    for i in range(x.size):
        out[i] = exp_poly.exp32_scaled(x[i], bias)


def _exp32(x):
    out = np.empty_like(x)
    with np.errstate(over="ignore", invalid="ignore"):  # uncompiled, the NaN lanes would warn
        _exp32_all(x, out)
    return out


# The bound, term by term (u = 2**-24, |r| <= 0.3475 for |x| <= X32_MAX):
#   r = x - k ln 2 by two FMAs: 2 * 2**-26 = 3.0e-8 (and 94700 * 8.8e-17 from ln 2's split);
#   the polynomial: 3.8e-9 relative on |r| <= 0.3483 (its fit, checked below);
#   Horner in float32: the last FMA's rounding u = 6.0e-8 of p, the one before |r| u / 0.706 =
#   2.9e-8, the rest 0.6e-8; the product with 2**(k - K) is exact for normal results.
# Total 1.29e-7, about 1.1 float32 ulp at worst; measured: 7.5e-8 over the grid.
EXP32_BOUND = 1.3e-7
FLT_MIN = 2.0 ** -126  # float32's smallest normal number


def test_exp32_polynomial_fit_is_within_its_bound():
    r = np.linspace(-0.3483, 0.3483, 200_001)
    c = [1.0, 1.0, 0.5] + [float(v) for v in (exp_poly.C3, exp_poly.C4, exp_poly.C5, exp_poly.C6)]
    p = sum(ci * r**i for i, ci in enumerate(c))  # in float64: the fit's own error
    assert np.abs(p / np.exp(r) - 1).max() <= 3.8e-9


def test_exp32_is_within_its_bound_and_handles_every_range():
    grid = np.linspace(-110.0, 95.0, GRID, dtype=np.float32)
    near = np.nextafter(np.float32([-87.68, -87.33, 88.72]), np.float32(0))  # the edges, +-1 step
    x = np.concatenate([grid, near, np.nextafter(near, np.float32(-np.inf))])
    got, want = _exp32(x), np.exp(x.astype(np.float64))
    normal = (want >= FLT_MIN) & (want <= np.finfo(np.float32).max)
    assert (np.abs(got[normal] - want[normal]) / want[normal]).max() <= EXP32_BOUND
    tiny = want < FLT_MIN  # 0 below 2**-126.5 and correctly rounded subnormals above: never garbage
    assert (got[tiny] >= 0).all() and (np.abs(got[tiny] - want[tiny]) <= FLT_MIN).all()
    assert (got[x < -87.7] == 0).all()
    sub = tiny & (got > 0)
    assert sub.any() and (np.abs(got[sub] - want[sub]) <= 2.0 ** -149).all()
    assert np.isinf(got[want > np.finfo(np.float32).max]).all()
    special = _exp32(np.float32([np.nan, np.inf, -np.inf, 0.0, -0.0, -1e30, 1e30, 88.7]))
    assert np.isnan(special[0]) and special[1] == np.inf and special[2] == 0
    assert (special[3:5] == 1).all() and special[5] == 0 and special[6] == np.inf
    assert abs(special[7] / np.exp(np.float64(np.float32(88.7))) - 1) <= EXP32_BOUND


@given(k=st.integers(-94_600, 94_600), data=st.data())
def test_exp32_scaled_keeps_the_bound_for_any_row_max(k, data):
    """exp(x) / 2**K as the float32 kernel uses it: K = k(row max), x from 110 below the max
    (results down to 0) to the max, anywhere within +-X32_MAX."""
    top = min(k * np.log(2) + 0.3, exp_poly.X32_MAX)
    seed = data.draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).uniform(top - 110, top, 2000 if JIT else 100).astype(np.float32)
    x = x[np.abs(x) <= exp_poly.X32_MAX]
    got = np.empty_like(x)
    _exp32_scaled_all(x, k, got)
    want = np.exp(x.astype(np.float64) - k * np.log(2))  # float64: ~1e-11 relative here
    normal = want >= FLT_MIN
    assert (np.abs(got[normal] - want[normal]) <= EXP32_BOUND * want[normal]).all()
    assert ((got[~normal] >= 0) & (got[~normal] <= FLT_MIN)).all()


# -- softmax and friends ---------------------------------------------------------------------------
@MODES
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_softmax_kernels_match_the_reference(mode, name, data, dtype):
    with compiled(mode):
        z = data.draw(rows_cols.flatmap(lambda s: arrays(s, dtype)))
        close(getattr(nk, name)(z), getattr(ref, name)(z.astype(np.float64)), dtype)


@MODES
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_softmax_backward_kernels_match_the_reference(mode, data, dtype):
    with compiled(mode):
        shape = data.draw(rows_cols)
        z, g = data.draw(arrays(shape, dtype)), data.draw(arrays(shape, dtype, -2, 2))
        p, logp = ref.softmax(z), ref.log_softmax(z)
        p64, lp64, g64 = p.astype(np.float64), logp.astype(np.float64), g.astype(np.float64)
        close(nk.softmax_backward(p, g), ref.softmax_backward(p64, g64), dtype)
        close(nk.log_softmax_backward(logp, g), ref.log_softmax_backward(lp64, g64), dtype,
              scale=np.abs(g64).sum(axis=1).max())  # g - p * sum(g) crosses 0


# -- fused softmax-cross-entropy -------------------------------------------------------------------
@st.composite
def ce_cases(draw, dtype, lo=-30.0, hi=30.0):
    n, c = draw(st.tuples(st.integers(1, 9), st.integers(1, 40)))
    z = draw(arrays((n, c), dtype, lo, hi))
    if draw(st.booleans()):
        t = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    else:
        raw = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0.0, 1.0)))
        t = (raw / np.maximum(raw.sum(axis=1, keepdims=True), 1e-300)).astype(dtype)
    return z, t, draw(st.sampled_from([0.0, 0.1, 1.0])), draw(st.sampled_from([1.0, 1 / n, -2.5]))


@MODES
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_fused_cross_entropy_matches_the_reference(mode, data, dtype):
    with compiled(mode):
        z, t, eps, scale = data.draw(ce_cases(dtype))
        loss, grad = nk.softmax_cross_entropy(z, t, eps, scale)
        t64 = t if t.dtype.kind == "i" else t.astype(np.float64)
        want_loss, want_grad = ref.softmax_cross_entropy(z.astype(np.float64), t64, eps, scale)
        # Losses below 1e-6: within 1e-12 in float32. In float64, log(sum e**(z - max)) is rounded
        # near 1 to 2e-16 absolute whichever way it is computed: a loss of 4e-11 (logits 25, 0,
        # 0, 0) is good to that, 5e-6 relative.
        close(loss, want_loss, dtype, scale=1e-4 if dtype == np.float32 else 5e-3)
        close(grad, want_grad, dtype, scale=abs(scale))


@MODES
@given(data=st.data())
def test_float32_cross_entropy_is_accurate_and_finite_for_logits_up_to_1e4(mode, data):
    with compiled(mode):
        z, t, eps, scale = data.draw(ce_cases(np.float32, -1e4, 1e4))
        loss, grad = nk.softmax_cross_entropy(z, t, eps, scale)
        assert np.isfinite(loss).all() and np.isfinite(grad).all()
        t64 = t if t.dtype.kind == "i" else t.astype(np.float64)
        want_loss, want_grad = ref.softmax_cross_entropy(z.astype(np.float64), t64, eps, scale)
        close(loss, want_loss, np.float32, scale=1e-4)
        close(grad, want_grad, np.float32, scale=abs(scale))


@MODES
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.filterwarnings("ignore:invalid value")  # inf - inf, uncompiled (NUMBA_DISABLE_JIT=1)
def test_cross_entropy_rows_with_nan_or_inf_give_nan_and_minus_inf_is_a_zero_probability(mode, dtype):
    with compiled(mode):
        z = np.array([[0.0, np.nan, 1.0], [np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0], [0.0, 1.0, -np.inf]],
                     dtype)
        loss, grad = nk.softmax_cross_entropy(z, np.array([0, 1, 2, 2]))
        assert np.isnan(loss[:2]).all()
        np.testing.assert_allclose(loss[2], np.log1p(np.exp(-1.0)), rtol=1e-6)
        assert loss[3] == np.inf and grad[2, 0] == 0  # the target has probability 0: honestly infinite


@MODES
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.filterwarnings("ignore:invalid value")  # 0 * inf in the reference
def test_probability_targets_with_a_minus_inf_logit_where_the_target_is_0(mode, eps):
    """PyTorch's rule: without smoothing, 0 * log(0) makes the loss NaN; with smoothing the
    target there is eps / C > 0, so the loss is inf. Both backends alike, gradients finite."""
    with compiled(mode):
        z = np.array([[0.0, -np.inf, 1.0]])
        t = np.array([[1.0, 0.0, 0.0]])
        loss, grad = nk.softmax_cross_entropy(z, t, eps)
        want_loss, want_grad = ref.softmax_cross_entropy(z, t, eps)
        assert (np.isnan(loss[0]) if eps == 0 else loss[0] == np.inf)
        np.testing.assert_array_equal(np.isnan(loss), np.isnan(want_loss))
        np.testing.assert_allclose(grad, want_grad, rtol=1e-12)
        assert np.isfinite(grad).all()


# -- the float32 path (float32 logits, class targets, no smoothing): 1e-6 relative everywhere ------
def _ce_truth(z, t, scale):
    """Loss and gradient in float64 by formulas that keep their relative accuracy where the plain
    ones cancel: e = exp(z - max) (an exact shift for float32 z), R = the sum of the others'
    e (summed without e_t), loss = log1p(R / e_t) (log(S) - (z_t - max) once e_t underflows),
    grad_t = -(R / S) * scale. For losses ~1e-11 the reference's log(S) would be off by 1e-5."""
    z = z.astype(np.float64)
    rows = np.arange(len(z))
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    et = e[rows, t]
    others = e.copy()
    others[rows, t] = 0.0
    rest = others.sum(axis=1)
    s = rest + et
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # (the branch not taken)
        loss = np.where(et > 1e-300, np.log1p(rest / et), np.log(s) - shifted[rows, t])
    grad = e / s[:, None] * scale
    grad[rows, t] = -(rest / s) * scale
    return loss, grad


@st.composite
def float32_class_cases(draw, rows=st.integers(1, 6), cols=st.integers(1, 40)):
    """float32 logits of spread 1 to 1e4 with class targets; some rows made confident (the target
    5 to 25 above the rest: losses down to ~1e-11) or hopeless (up to 2e4 below: losses ~2e4)."""
    n, c = draw(st.tuples(rows, cols))
    spread = draw(st.sampled_from([1.0, 30.0, 1e4]))
    z = draw(arrays((n, c), np.float64, -spread, spread))
    t = draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    for i in range(n):
        kind = draw(st.sampled_from(["plain", "confident", "hopeless"]))
        if kind == "confident":
            z[i, t[i]] = z[i].max() + draw(st.floats(5.0, 25.0))
        elif kind == "hopeless":
            z[i, t[i]] = z[i].min() - draw(st.floats(0.0, 2e4))
    return z.astype(np.float32), t, draw(st.sampled_from([1.0, 1 / n, -2.5]))


@MODES
@given(case=float32_class_cases())
def test_float32_cross_entropy_is_within_1e_6_relative_everywhere(mode, case):
    """Loss and every gradient entry within 1e-6 relative of float64, for tiny and huge losses
    alike; no absolute slack except below float32's normal range (2**-126), where exp gives 0
    or subnormals and a loss like log1p(e**-88) = 6e-39 comes out 0."""
    _check_float32_cross_entropy(mode, case)


@MODES
@given(case=float32_class_cases(rows=st.integers(1, 3),
                                cols=st.integers(nk.WIDE_MIN - 2, nk.WIDE_MIN + 130)))
def test_float32_cross_entropy_is_within_1e_6_relative_on_rows_long_enough_for_the_wide_loops(mode, case):
    """The same on rows of WIDE_MIN classes or more, which take the loops compiled for 512-bit
    vectors (and on the two rows just below, which do not)."""
    _check_float32_cross_entropy(mode, case)


def _check_float32_cross_entropy(mode, case):
    z, t, scale = case
    with compiled(mode):
        loss, grad = nk.softmax_cross_entropy(z, t, 0.0, scale)
    want_loss, want_grad = _ce_truth(z, t, scale)
    assert loss.dtype == grad.dtype == np.float32
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6, atol=2.0**-125)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=2.0**-125 * max(abs(scale), 1.0))


@MODES
def test_float32_confident_and_hopeless_rows_keep_their_relative_accuracy(mode):
    """Losses of 1e-12 (the sum of the others is taken again without the target's term) and of
    2e4 (e_t underflows), with the gradient entry of the target, -(1 - p_t), as small as 1e-12."""
    z = np.array([[28.0, 0.0, 1.0, -2.0], [9.0, 0.0, 0.0, 0.0], [-2e4, 3.0, 1.0, 0.0]], np.float32)
    t = np.array([0, 0, 0])
    with compiled(mode):
        loss, grad = nk.softmax_cross_entropy(z, t, 0.0, 1 / 3)
    want_loss, want_grad = _ce_truth(z, t, 1 / 3)
    assert 1e-12 < want_loss[0] < 1e-11 and want_loss[2] > 2e4
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6, atol=0)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=0)


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs 80-bit long double")
@given(case=float32_class_cases())
def test_the_float64_truth_agrees_with_the_reference_in_long_double(case):
    """The plain formulas in 80-bit (eps 1.1e-19) confirm _ce_truth to 1e-18 absolute: 1e-7 relative
    for losses down to 1e-11 (long double's own log(S) is off by ~1e-19 / loss)."""
    z, t, scale = case
    want_loss, want_grad = _ce_truth(z, t, scale)
    ld_loss, ld_grad = ref.softmax_cross_entropy(z.astype(np.longdouble), t, 0.0, scale)
    np.testing.assert_allclose(want_loss, ld_loss.astype(np.float64), rtol=1e-7, atol=1e-18)
    np.testing.assert_allclose(want_grad, ld_grad.astype(np.float64), rtol=1e-7,
                               atol=1e-18 * abs(scale))


@MODES
@pytest.mark.filterwarnings("ignore:invalid value")  # inf - inf in the float64 reference
def test_float32_rows_out_of_the_float32_range_are_redone_in_float64(mode):
    z = np.array([[1e5, 0.0, -1e5], [3e38, 3e38, 0.0], [np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0],
                  [0.5, -0.5, 2.0], [-1e5, -1e5 - 16, -2e5]], np.float32)
    t = np.array([1, 0, 1, 2, 0, 0])
    with compiled(mode):
        kernel, _ = nk._launch(nk._CE_CLASS32, z.size, len(z))
        loss, grad = np.empty(6, np.float32), np.empty_like(z)
        assert kernel(z, nk._bits(z), t, 0.0, 0.5, loss, grad, 1) == (0, 5)  # only row 4 stays
        loss, grad = nk.softmax_cross_entropy(z, t, 0.0, 0.5)
    want_loss, want_grad = ref.softmax_cross_entropy(z.astype(np.float64), t, 0.0, 0.5)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-30, equal_nan=True)
    assert np.isnan(loss[2:4]).all() and np.isfinite(loss[[0, 1, 4, 5]]).all()


@given(row=hnp.arrays(np.float32, st.integers(1, 60), elements=st.floats(width=32)))
def test_row_max32_is_numpys_max_and_sees_nan_with_the_sign_bit_clear(row):
    got = nk._row_max32(row)
    nan = np.isnan(row)
    if (nan & ~np.signbit(row)).any() or nan.all():
        assert np.isnan(got)
    else:  # a NaN with the sign bit set sorts below -inf
        assert got == row[~nan].max()


SUM32 = pytest.mark.parametrize("sum32", [nk._sum32, nk._sum32_wide], ids=["default", "wide"])


@SUM32
@given(row=hnp.arrays(np.float32, st.integers(0, 70) | st.integers(nk.WIDE_MIN - 70, nk.WIDE_MIN + 70),
                     elements=st.floats(0.0, 1.5, width=32) | st.floats(0.0, 2.0**-100, width=32)))
def test_sum32_is_within_two_float32_roundings_of_the_exact_sum(sum32, row):
    """The CE kernel's row sum adds the quarters of the row in float32 before the float64 total:
    within 2 * 2**-24 of the exact sum of terms >= 0 (tails of 1-3 terms and rows under 4 too;
    its copy for 512-bit vectors adds in another order, within the same bound)."""
    import math
    exact = math.fsum(float(v) for v in row)
    got = sum32(row)
    assert abs(got - exact) <= 2 * 2.0**-24 * exact


@SUM32
def test_sum32_meets_its_bound_where_the_float32_additions_round(sum32):
    """Terms 1 + k ulp with k = 0, 1, 2, ...: a pair sum of odd k1 + k2 rounds (a tie), and so does
    a sum of two pairs whose k's do not add up to a multiple of 4."""
    import math
    q = 1001
    row = np.float32(1.0) + np.arange(4 * q + 3, dtype=np.float32) * np.float32(2.0**-23)
    a, b = row[:q], row[q:2 * q]
    assert ((a + b).astype(np.float64) != a.astype(np.float64) + b).all()  # (they do round)
    exact = math.fsum(float(v) for v in row)
    assert abs(sum32(row) - exact) <= 2 * 2.0**-24 * exact
    assert sum32(row) != exact


WIDE_OR_NOT = pytest.mark.parametrize("wide", [False, True], ids=["default", "wide"])
# rows shorter and longer than one step of the wide loop (64 floats), with every kind of remainder
ROW_LENGTHS = st.integers(1, 60) | st.integers(60, 200)


@WIDE_OR_NOT
@given(rows=ROW_LENGTHS.flatmap(lambda c: hnp.arrays(np.float32, (2, c), elements=st.floats(width=32))),
       lo=st.floats(-200.0, 0.0, width=32))
def test_the_exp_loop_that_also_finds_the_next_rows_max_does_both(wide, rows, lo):
    """_exp32_into_max_next (and its copy for 512-bit vectors) writes exp32_scaled of each
    element, clamped below at lo, bit for bit, and returns what _row_max32 returns for the next
    row, NaN of either sign included (the CE kernel takes each row's max from it)."""
    zr, zn = np.clip(rows[0], -80.0, 80.0), rows[1]  # (exp32_scaled's range for bias 0)
    lo, bias = np.float32(lo), exp_poly.exp32_bias(0)
    want = np.array([exp_poly.exp32_scaled(max(x, lo), bias) for x in zr], np.float32)
    got = np.empty_like(zr)
    loop = nk._exp32_into_max_next_wide if wide else nk._exp32_into_max_next
    with np.errstate(over="ignore", invalid="ignore"):  # (uncompiled: the lanes compiled code discards)
        m = loop(zr, got, lo, bias, zn)
    np.testing.assert_array_equal(got, want)
    want_m = nk._row_max32(zn)
    assert m == want_m or (np.isnan(m) and np.isnan(want_m))


@WIDE_OR_NOT
@given(row=ROW_LENGTHS.flatmap(lambda c: hnp.arrays(np.float32, c, elements=st.floats(width=32))),
       v=st.floats(width=32))
def test_the_scale_loop_multiplies_each_element_in_float32(wide, row, v):
    with np.errstate(over="ignore", invalid="ignore"):
        want = row * np.float32(v)
        (nk._scale32_wide if wide else nk._scale32)(row, np.float32(v))
    np.testing.assert_array_equal(row, want)


@MODES
def test_float32_blocks_of_rows_skip_bad_rows_and_still_find_the_next_rows_max(mode):
    """Rows redone in float64 (max out of range) and rows with a bad target sit between good rows
    of one block; each good row still gets its own max (a wrong one would shift its loss)."""
    rng = np.random.default_rng(5)
    z = (rng.standard_normal((7, 33)) * 4).astype(np.float32)
    z[1, 3] = 1e6  # past MAX32: left to float64
    z[2] += 50.0  # a max far from its neighbours'
    z[4] -= 70.0
    z[5] += 200.0  # the bad-target row: a max carried past it would be 200 off for row 6
    t = np.array([0, 1, 2, 3, 4, 5, 6])
    with compiled(mode):
        kernel, _ = nk._launch(nk._CE_CLASS32, z.size, len(z))
        for blocks in (1, 2, 3, 7):
            loss, grad = np.full(7, -1.0, np.float32), np.empty_like(z)
            tt = t.copy()
            tt[5] = 40  # out of range: counted, row left alone
            assert kernel(z, nk._bits(z), tt, 0.0, 0.5, loss, grad, blocks) == (1, 1)
            good = [0, 2, 3, 4, 6]
            want_loss, want_grad = _ce_truth(z[good], t[good], 0.5)
            np.testing.assert_allclose(loss[good], want_loss, rtol=1e-6)
            np.testing.assert_allclose(grad[good], want_grad, rtol=1e-6, atol=2.0**-125)
            assert np.isnan(loss[1]) and loss[5] == -1.0


@MODES
@pytest.mark.parametrize("nan", [np.nan, -np.nan])
def test_float32_rows_with_either_nan_give_nan_and_leave_the_others_alone(mode, nan):
    z = np.array([[0.0, nan, 1.0], [1.0, 2.0, 3.0]], np.float32)
    with compiled(mode), np.errstate(invalid="ignore"):  # (uncompiled: NaN arithmetic warns)
        loss, grad = nk.softmax_cross_entropy(z, np.array([2, 0]), 0.0, 1.0)
    assert np.isnan(loss[0]) and np.isnan(grad[0]).all()
    want_loss, want_grad = _ce_truth(z[1:], np.array([0]), 1.0)
    np.testing.assert_allclose(loss[1:], want_loss, rtol=1e-6)
    np.testing.assert_allclose(grad[1:], want_grad, rtol=1e-6)


def test_cross_entropy_kernel_refuses_targets_out_of_range():
    z = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"1 class target\(s\) outside 0..3"):
        nk.softmax_cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"logits of shape \(3, 4\) and targets of shape \(2,\)"):
        nk.softmax_cross_entropy(z, np.array([0, 1]))


@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_unfused_cross_entropy_kernels_match_the_reference(data, dtype):
    z, t, eps, _ = data.draw(ce_cases(dtype))
    loss, logp = nk.cross_entropy_forward(z, t, eps)
    want_loss, want_logp = ref.cross_entropy_forward(z.astype(np.float64), t, eps)
    close(logp, want_logp, dtype)
    # loss = -log p_t, from log p = z - logsumexp(z): absolute error ~1e-16 * |logsumexp| in
    # float64 whichever exp is used, so a loss of 2e-6 is only good to 1e-10 relative
    close(loss, want_loss, dtype, scale=np.abs(want_logp).max(initial=1.0) * 1e-2)


# -- ReLU and the linear layer ---------------------------------------------------------------------
@MODES
@given(data=st.data(), dtype=st.sampled_from(FLOATS), size=st.sampled_from([7, 5000]))
def test_relu_backward_matches_the_reference(mode, data, dtype, size):
    with compiled(mode):
        y = data.draw(arrays(size, dtype, -1, 1))
        g = data.draw(arrays(size, dtype, -1, 1))
        np.testing.assert_array_equal(nk.relu_backward(y, g), ref.relu_backward(y, g))


@MODES
@given(data=st.data(), dtype=st.sampled_from(FLOATS), size=st.sampled_from([7, 5000]))
def test_normal_cdf_matches_the_reference(mode, data, dtype, size):
    """Both evaluate erfc(-x / sqrt 2) / 2 in float64 with the C library's erfc and round once:
    equal to the bit."""
    with compiled(mode):
        x = data.draw(arrays(size, dtype, -40, 10))
        np.testing.assert_array_equal(nk.normal_cdf(x), ref.normal_cdf(x))


def test_normal_cdf_values_edges_and_shapes():
    x = np.array([0.0, -0.0, 1.0, -1.0, -8.0, 9.0, -40.0, -np.inf, np.inf, np.nan])
    # (standard normal table values; Phi(-8) from the tail to full precision, no cancellation;
    # Phi(-40) = 4e-350 is below float64's range)
    want = [0.5, 0.5, 0.8413447460685429, 0.15865525393145707, 6.22096057427178e-16, 1.0, 0.0, 0.0, 1.0, np.nan]
    for impl in (nk, ref):
        # (x / sqrt 2 rounds to 1e-16, which erfc magnifies 2 z**2 = 64 times at x = -8)
        np.testing.assert_allclose(impl.normal_cdf(x), want, rtol=1e-14, atol=0)
        y = impl.normal_cdf(x[:6].astype(np.float32).reshape(2, 3).T)  # (not contiguous: the reference's way)
        assert y.dtype == np.float32 and y.shape == (3, 2)
        np.testing.assert_array_equal(y, np.float32(np.array(want[:6]).reshape(2, 3).T))
        assert impl.normal_cdf(np.zeros((0, 3))).shape == (0, 3)


def test_relu_and_its_backward_take_array_subclasses_and_numpy_scalars(tmp_path):
    """The scalar shortcut (for Gate.scalars) is taken for NumPy scalars only: a memmap or a
    masked array is an array, and goes through the array kernels."""
    y = np.memmap(tmp_path / "y.bin", dtype=np.float32, mode="w+", shape=(4,))
    y[:] = [-1.0, 0.0, 2.0, np.nan]
    g = np.ma.masked_array(np.full(4, 3.0, np.float32))
    np.testing.assert_array_equal(np.asarray(kernels.relu(y)), [0.0, 0.0, 2.0, np.nan])
    np.testing.assert_array_equal(np.asarray(kernels.relu_backward(y, g)), [0.0, 0.0, 3.0, 0.0])
    assert kernels.relu(np.float32(-2.0)) == 0.0 and kernels.relu(np.float64(2.5)) == 2.5
    assert kernels.relu_backward(np.float32(1.0), np.float32(3.0)) == 3.0
    assert kernels.relu_backward(np.float32(-1.0), np.float32(3.0)) == 0.0


def close_products(ours, theirs, dtype, bound, k):
    """Matrix products: float32 BLAS rounds each sum of k terms to about k * 6e-8 of sum(|terms|).
    Below the normal range a rounding step is off by up to half the smallest subnormal instead
    (1.5 * 1e-45 is stored as 2.8e-45 in float32), so k products and sums add k of those."""
    assert ours.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-6
    atol = tol * np.max(bound, initial=0.0) + 2 * k * np.finfo(dtype).smallest_subnormal
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=atol)


@MODES
@given(data=st.data(), dtype=st.sampled_from(FLOATS), relu=st.booleans(), bias=st.booleans())
def test_linear_kernels_match_the_reference(mode, data, dtype, relu, bias):
    with compiled(mode):
        n, k, m = data.draw(st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9)))
        x, w = data.draw(arrays((n, k), dtype, -2, 2)), data.draw(arrays((m, k), dtype, -2, 2))
        b = data.draw(arrays(m, dtype, -2, 2)) if bias else None
        g = data.draw(arrays((n, m), dtype, -2, 2))
        x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
        y = nk.linear_forward(x, w, b, relu)
        b64 = None if b is None else b.astype(np.float64)
        close_products(y, ref.linear_forward(x64, w64, b64, relu), dtype,
                       np.abs(x64) @ np.abs(w64).T + (0 if b is None else np.abs(b64)), k + 1)
        need = data.draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
        ours = nk.linear_backward(x, w, y, g, relu, need)
        theirs = ref.linear_backward(x64, w64, y, g64, relu, need)
        ag = np.abs(g64)
        bounds = (ag @ np.abs(w64), ag.T @ np.abs(x64), ag.sum(axis=0))
        for a, b_, wanted, bound, terms in zip(ours, theirs, need, bounds, (m, n, n)):
            assert (a is None) == (not wanted)
            if wanted:
                close_products(a, b_, dtype, bound, terms)


# -- optimiser steps -------------------------------------------------------------------------------
@st.composite
def params(draw, dtype, n=3):
    """n arrays of one size: small ones drawn by Hypothesis, a big one (past PARALLEL_MIN) from a seed."""
    size = draw(st.sampled_from([1, 33, 40000]))
    if size < 1000:
        return [draw(arrays(size, dtype, -2, 2)) for _ in range(n)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return [rng.uniform(-2, 2, size).astype(dtype) for _ in range(n)]


@given(data=st.data(), dtype=st.sampled_from(FLOATS), momentum=st.sampled_from([0.0, 0.9]),
       dampening=st.sampled_from([0.0, 0.3]), wd=st.sampled_from([0.0, 0.01]), nesterov=st.booleans(),
       first=st.booleans())
def test_sgd_step_matches_the_reference(data, dtype, momentum, dampening, wd, nesterov, first):
    p, g, buf = data.draw(params(dtype))
    p2, g2, buf2 = (a.astype(np.float64) for a in (p, g, buf))  # the reference, run in float64
    g_before = g.copy()
    opts = dict(lr=0.1, momentum=momentum, dampening=dampening, weight_decay=wd, nesterov=nesterov,
                first=first)
    nk.sgd_step_(p, g, buf if momentum else None, **opts)
    ref.sgd_step_(p2, g2, buf2 if momentum else None, **opts)
    close(p, p2, dtype)
    close(buf, buf2, dtype)
    np.testing.assert_array_equal(g, g_before)


@given(data=st.data(), dtype=st.sampled_from(FLOATS), step=st.sampled_from([1, 2, 100]),
       wd=st.sampled_from([0.0, 0.01]), decoupled=st.booleans())
def test_adam_step_matches_the_reference(data, dtype, step, wd, decoupled):
    p, g, m = data.draw(params(dtype))
    v = m * m  # running mean of squares: >= 0
    p2, g2, m2, v2 = (a.astype(np.float64) for a in (p, g, m, v))  # the reference, run in float64
    opts = dict(step=step, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=wd, decoupled=decoupled)
    nk.adam_step_(p, g, m, v, **opts)
    ref.adam_step_(p2, g2, m2, v2, **opts)
    close(p, p2, dtype)
    close(m, m2, dtype)
    close(v, v2, dtype)


@pytest.mark.parametrize("lr", [0.1, 0.05, 1 / 3, 1e-3, 0.5])
@pytest.mark.parametrize("size", [7, 40000])
def test_plain_float32_sgd_step_is_within_two_roundings_where_p_and_lr_g_cancel(lr, size, monkeypatch):
    """The plain float32 step (no momentum, no weight decay) has its own float32 kernel: p - lr g by
    two FMAs with lr split into float32 parts. Its error bound: 2 roundings of the result, plus
    2**-47 lr |g| from the split (lr_hi + lr_lo is lr to 2**-48). Checked where it is hardest:
    p within a few ulps of lr g, so the result is ~1e-7 of either, and at 0 exactly."""
    rng = np.random.default_rng(size)
    g = rng.uniform(-2, 2, size).astype(np.float32)
    p = (lr * g.astype(np.float64)).astype(np.float32)
    p = p + rng.integers(-3, 4, size).astype(np.float32) * np.spacing(p)  # a few ulps off
    p[:3] = [1.5, -0.25, 0.0]  # and some that do not cancel
    exact = p.astype(np.float64) - lr * g.astype(np.float64)  # float64: within 2**-53 lr |g|
    calls = []
    monkeypatch.setattr(nk, "_SGD32", tuple((lambda *a, k=k: calls.append(1) or k(*a)) for k in nk._SGD32))
    ours = p.copy()
    nk.sgd_step_(ours, g, None, lr=lr)
    assert calls, "the float32 kernel did not run"
    err = np.abs(ours.astype(np.float64) - exact)
    assert np.all(err <= 2 * 2.0**-24 * np.abs(exact) + 2.0**-46 * lr * np.abs(g))
    assert np.any(np.abs(exact) < 1e-6 * np.abs(lr * g))  # the cases were hard ones


def test_plain_float32_sgd_step_keeps_nan_and_inf():
    p = np.array([1.0, np.nan, 2.0, 0.5], np.float32)
    g = np.array([np.inf, 1.0, np.nan, 1.0], np.float32)
    ref_p = p.copy()
    nk.sgd_step_(p, g, None, lr=0.1)
    with np.errstate(invalid="ignore"):
        ref.sgd_step_(ref_p, g, None, lr=0.1)
    np.testing.assert_array_equal(p, ref_p)  # -inf, nan, nan, 0.4


@pytest.mark.parametrize("lr,g,want", [(2.0**133, 2.0**-130, -7.0),  # lr past float32's range
                                       (2.0**-120, 2.0**120, 0.0),  # lr's low part would be subnormal
                                       (0.0, 1.0, 3.0)])
def test_float32_sgd_step_with_an_lr_its_float32_parts_cannot_hold_takes_the_float64_loop(
        lr, g, want, monkeypatch):
    calls = []
    monkeypatch.setattr(nk, "_SGD32", tuple((lambda *a, k=k: calls.append(1) or k(*a)) for k in nk._SGD32))
    p = np.full(5, 1.0 if lr else 3.0, np.float32)
    nk.sgd_step_(p, np.full(5, g, np.float32), None, lr=lr)
    assert not calls
    np.testing.assert_array_equal(p, np.full(5, want, np.float32))  # exact: 1 - 8, 1 - 1, 3 - 0


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("nesterov,dampening", [(False, 0.0), (True, 0.0), (False, 0.5)])
def test_sgd_matches_pytorch_over_steps(torch, backend, nesterov, dampening, rng):
    p0, grads = rng.standard_normal(50), rng.standard_normal((4, 50))
    tp = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.SGD([tp], lr=0.1, momentum=0.9, dampening=dampening, nesterov=nesterov,
                          weight_decay=0.01)
    impl = nk if backend == "numba" else ref
    p, buf = p0.copy(), np.zeros(50)
    for i, g in enumerate(grads):
        tp.grad = torch.tensor(g)
        opt.step()
        impl.sgd_step_(p, g, buf, lr=0.1, momentum=0.9, dampening=dampening, weight_decay=0.01,
                       nesterov=nesterov, first=i == 0)
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_matches_pytorch_over_steps(torch, backend, decoupled, rng):
    p0, grads = rng.standard_normal(50), rng.standard_normal((5, 50))
    tp = torch.tensor(p0, requires_grad=True)
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls([tp], lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    impl = nk if backend == "numba" else ref
    p, m, v = p0.copy(), np.zeros(50), np.zeros(50)
    for step, g in enumerate(grads, start=1):
        tp.grad = torch.tensor(g)
        opt.step()
        impl.adam_step_(p, g, m, v, step=step, lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8,
                        weight_decay=0.1, decoupled=decoupled)
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_update_kernels_check_their_arguments():
    p = np.zeros(3)
    with pytest.raises(ValueError, match="sgd_step_: momentum != 0 needs a momentum buffer"):
        kernels.sgd_step_(p, p.copy(), None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"adam_step_: g must match the parameter, shape \(3,\) float64; "
                                         r"got \(4,\) float64"):
        kernels.adam_step_(p, np.zeros(4), p.copy(), p.copy(), step=1, lr=0.1)
    with pytest.raises(ValueError, match="adam_step_: step counts from 1, got 0"):
        kernels.adam_step_(p, p.copy(), p.copy(), p.copy(), step=0, lr=0.1)


def test_update_kernels_work_in_place_on_non_contiguous_parameters():
    p = np.arange(12.0).reshape(3, 4).T  # a transposed view
    p2 = p.copy()
    g = np.ones((4, 3))
    kernels.sgd_step_(p, g, None, lr=0.5)
    ref.sgd_step_(p2, g, None, lr=0.5)
    np.testing.assert_array_equal(p, p2)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_adam_in_float32_takes_a_step_where_g_squared_alone_would_overflow(backend):
    """v += (1 - beta2) * g * g, in PyTorch's order: for |g| of 1e20, g * g alone is inf in
    float32 and froze the parameter under the NumPy backend; (1 - beta2) * g first stays finite."""
    impl = nk if backend == "numba" else ref
    p, g = np.ones(3, np.float32), np.full(3, 1e20, np.float32)
    m, v = np.zeros(3, np.float32), np.zeros(3, np.float32)
    impl.adam_step_(p, g, m, v, step=1, lr=0.01)
    np.testing.assert_allclose(p, 0.99, rtol=1e-6)
    assert np.isfinite(v).all()


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("order", [">", "<"])
def test_kernels_take_arrays_of_either_byte_order(backend, order, rng):
    """Big-endian arrays (from a file) used to crash the numba kernels (their bits were read
    with the wrong width) while the NumPy reference took them: both give the same now."""
    impl = nk if backend == "numba" else ref
    for dt in ("f4", "f8"):
        z = rng.standard_normal((3, 5)).astype(order + dt)
        native = z.astype(dt)
        tol = 1e-6 if dt == "f4" else 1e-13  # (the numba module hands them to the reference)
        np.testing.assert_allclose(impl.softmax(z), impl.softmax(native), rtol=tol)
        np.testing.assert_allclose(impl.log_softmax(z), impl.log_softmax(native), rtol=tol)
        y = np.array([0, 4, 2])
        for got, want in zip(impl.softmax_cross_entropy(z, y), impl.softmax_cross_entropy(native, y)):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        p, p2 = z.copy(), native.copy()
        impl.sgd_step_(p2, native, None, lr=0.5)
        impl.sgd_step_(p, z, None, lr=0.5)
        np.testing.assert_array_equal(p, p2)


# -- backend switch, start-up, cache, threads ------------------------------------------------------
def _python(code, **env):
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                          timeout=120)


def test_import_does_not_import_numba_and_the_first_kernel_does():
    r = _python("import sys, numpy as np, tinygrad_sm as ts\n"
                "assert 'numba' not in sys.modules, 'numba imported at import time'\n"
                "ts.kernels.softmax(np.zeros((2, 3)))\n"
                "assert 'numba' in sys.modules\n"
                "print(ts.kernels.get_backend())", TINYGRAD_SM_BACKEND="numba")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numba"


def test_without_the_jit_the_default_backend_is_the_numpy_reference():
    code = ("import sys, numpy as np, tinygrad_sm as ts\n"
            "ts.kernels.softmax(np.zeros((2, 3)))\n"
            "print(ts.kernels.get_backend(), 'numba' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k not in ("TINYGRAD_SM_BACKEND", "NUMBA_DISABLE_JIT")}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           env={**env, **extra})
            for extra in ({"NUMBA_DISABLE_JIT": "1"}, {"NUMBA_DISABLE_JIT": "0"},
                          {"NUMBA_DISABLE_JIT": "1", "TINYGRAD_SM_BACKEND": "numba"})]
    assert [r.stdout.split() for r in runs] == [["numpy", "False"], ["numba", "True"], ["numba", "True"]], \
        [r.stderr for r in runs]


def test_backend_from_the_environment():
    r = _python("import sys, numpy as np, tinygrad_sm as ts\n"
                "ts.kernels.softmax(np.zeros((2, 3)))\n"
                "print(ts.kernels.get_backend(), 'numba' in sys.modules)", TINYGRAD_SM_BACKEND="NumPy")
    assert r.stdout.split() == ["numpy", "False"], r.stderr
    r = _python("import tinygrad_sm", TINYGRAD_SM_BACKEND="cuda")
    assert r.returncode != 0
    assert "TINYGRAD_SM_BACKEND: backend must be one of ('numba', 'numpy'), got 'cuda'" in r.stderr


@pytest.fixture
def restore_backend():
    before = kernels.get_backend()
    yield
    kernels.set_backend(before)


def test_set_backend_switches_every_kernel(restore_backend, rng):
    z = rng.standard_normal((4, 5)).astype(np.float32)
    kernels.set_backend("numpy")
    assert kernels.get_backend() == "numpy" and kernels._impl is ref
    slow = kernels.softmax(z)
    kernels.set_backend("numba")
    assert kernels.get_backend() == "numba" and kernels._impl is nk
    np.testing.assert_allclose(kernels.softmax(z), slow, rtol=1e-6)
    with pytest.raises(ValueError, match=r"set_backend: backend must be one of \(.*\), got 'jax'"):
        kernels.set_backend("jax")


@pytest.mark.skipif(not JIT, reason="nothing is compiled or cached without the JIT")
def test_kernels_compile_without_a_cache_when_no_cache_directory_is_writable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a cache directory inside a file cannot be made, not even by root
    r = _python("import numpy as np, tinygrad_sm as ts\n"
                "from tinygrad_sm.kernels import exp_poly\n"
                "print(ts.kernels.softmax(np.zeros((2, 4)))[0, 0], exp_poly.CACHE)",
                NUMBA_CACHE_DIR=str(blocker / "cache"),  # the only place numba may look
                NUMBA_CACHE_LOCATOR_CLASSES="numba.core.caching._UserProvidedCacheLocator")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0.25", "False"]


@pytest.mark.skipif(not JIT, reason="nothing is compiled or cached without the JIT")
def test_serial_kernels_never_load_the_parallel_ones_from_the_disk_cache(tmp_path):
    """Numba keys its disk cache by function and argument types, not by parallel=True: the two
    versions of a kernel must be two functions, or a serial call in a later process picks up the
    cached parallel code (and its thread start-up, 5-20 us per call)."""
    code = ("import sys, numpy as np\n"
            "from tinygrad_sm.kernels import numba_kernels as nk\n"
            "nk.PARALLEL_MIN = 0 if sys.argv[1] == 'parallel' else 1 << 62\n"
            "nk.softmax(np.zeros((2, 4)))\n"
            "print(sum(nk._SOFTMAX[sys.argv[1] == 'parallel'].stats.cache_hits.values()))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                           env=env, timeout=120) for mode in ("parallel", "serial", "serial")]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert [r.stdout.strip() for r in runs] == ["0", "0", "1"]  # compiled, compiled, then loaded
    assert nk._SOFTMAX[0].py_func.__name__ != nk._SOFTMAX[1].py_func.__name__


@pytest.mark.skipif(not JIT, reason="nothing is compiled without the JIT")
def test_the_wide_copies_ask_llvm_for_512_bit_vectors_and_get_them_where_the_cpu_has_them(tmp_path):
    """The hint is a function attribute (exp_poly.wide_vectors) on each wide copy, which the
    default copies go without; the copies keep their fastmath flags (the sum's reassoc).
    (A new process with an empty cache: Numba cannot show the code of functions loaded from disk.)"""
    code = ("import numpy as np, numba, llvmlite.binding as ll\n"
            "from tinygrad_sm.kernels import numba_kernels as nk\n"
            "row = np.ones(1000, np.float32)\n"
            "nk._exp32_into_max_next(row, row.copy(), np.float32(-9), 0, row)\n"
            "nk._exp32_into_max_next_wide(row, row.copy(), np.float32(-9), 0, row)\n"
            "nk._scale32(row, np.float32(1)); nk._scale32_wide(row, np.float32(1))\n"
            "q = row[:250]\n"
            "nk._sum_of_quarters(q, q, q, q); nk._sum_of_quarters_wide(q, q, q, q)\n"
            "for name in ('_exp32_into_max_next', '_scale32', '_sum_of_quarters'):\n"
            "    for f in (getattr(nk, name), getattr(nk, name + '_wide')):\n"
            "        sig = f.signatures[0]\n"
            "        print(f.__name__, '\"prefer-vector-width\"=\"512\"' in f.inspect_llvm(sig),\n"
            "              'zmm' in f.inspect_asm(sig), 'fadd reassoc' in f.inspect_llvm(sig))\n"
            "plain = numba.config.CPU_NAME is None and numba.config.CPU_FEATURES is None\n"
            "print('avx512', plain and ll.get_host_cpu_features().get('avx512f', False))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    *lines, avx512 = r.stdout.strip().split("\n")
    seen = {name: (hint, zmm, reassoc) for name, hint, zmm, reassoc in map(str.split, lines)}
    assert len(seen) == 6
    for name, (hint, zmm, reassoc) in seen.items():
        assert hint == str(name.endswith("_wide")), name
        assert reassoc == str(name.startswith("_sum_of_quarters")), name
        if name.endswith("_wide") and avx512 == "avx512 True":  # the host's own CPU model
            assert zmm == "True", name  # 512-bit registers in the machine code


def test_warmup_compiles_everything_and_threads_can_be_set():
    kernels.warmup()
    n = kernels.get_num_threads()
    try:
        tinygrad_sm.set_num_threads(1)  # (PyTorch's names, at the top level too)
        assert kernels.get_num_threads() == tinygrad_sm.get_num_threads() == 1
        z = np.linspace(-3, 3, 64 * 1024).reshape(64, 1024)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(nk, "PARALLEL_MIN", 0)
            m.setattr(nk, "SPINNING_OPENMP", False)
            np.testing.assert_allclose(kernels.softmax(z), ref.softmax(z), rtol=1e-12)
    finally:
        kernels.set_num_threads(n)
    with pytest.raises(ValueError, match="set_num_threads: need a positive integer, got 0"):
        kernels.set_num_threads(0)
    with pytest.raises(ValueError, match="numba starts with at most"):
        kernels.set_num_threads(numba.config.NUMBA_NUM_THREADS + 1)


def test_an_empty_backend_variable_means_the_default():
    code = "import tinygrad_sm as ts; print(ts.kernels.get_backend())"
    unset = {k: v for k, v in os.environ.items() if k != "TINYGRAD_SM_BACKEND"}
    default = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=unset,
                             timeout=120).stdout.strip()
    assert default in ("numba", "numpy")
    for value in ("", "  "):
        r = _python(code, TINYGRAD_SM_BACKEND=value)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == default
    r = _python(code, TINYGRAD_SM_BACKEND="cuda")
    assert r.returncode != 0 and "TINYGRAD_SM_BACKEND: backend must be one of" in r.stderr


def test_thread_count_is_checked_before_numba_is_imported():
    # too many threads is refused when asked for, not later at the first kernel
    code = """if True:
        import sys, numpy as np, tinygrad_sm as ts
        try:
            ts.set_num_threads(3)
        except ValueError as e:
            print("refused:", "numba starts with at most 2" in str(e))
        print("numba" in sys.modules)
        ts.set_num_threads(1)  # (loads numba now, to set the count in this thread)
        print("numba" in sys.modules, ts.get_num_threads(), ts.kernels.max_num_threads())
        import threading
        worker = threading.Thread(target=ts.kernels.softmax, args=(np.zeros((2, 3)),))
        worker.start(); worker.join()
        ts.kernels.softmax(np.zeros((2, 3)))
        print("numba" in sys.modules, ts.get_num_threads(), ts.kernels.max_num_threads())
    """
    r = _python(code, NUMBA_NUM_THREADS="2", TINYGRAD_SM_BACKEND="numba")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:4] == ["refused: True", "False", "True 1 2", "True 1 2"]
    # with the NumPy backend nothing loads numba; the count waits until something does
    code = """if True:
        import sys, tinygrad_sm as ts
        ts.set_num_threads(1)
        print("numba" in sys.modules, ts.get_num_threads())
        ts.kernels.set_backend("numba")
        print(ts.get_num_threads())
    """
    r = _python(code, NUMBA_NUM_THREADS="2", TINYGRAD_SM_BACKEND="numpy")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["False 1", "1"]
    # numba imported by someone else first: its pool is fixed, whatever the environment says later
    code = """if True:
        import os, numba, tinygrad_sm as ts
        os.environ["NUMBA_NUM_THREADS"] = "4"
        try:
            ts.set_num_threads(3)
        except ValueError as e:
            print("refused:", "numba starts with at most 2" in str(e))
        print(ts.kernels.max_num_threads())
    """
    r = _python(code, NUMBA_NUM_THREADS="2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["refused: True", "2"]


@pytest.mark.skipif(not JIT, reason="without the JIT there are no parallel kernels")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
@pytest.mark.parametrize("policy", [None, "PASSIVE"])
def test_kernels_run_serially_beside_a_spinning_openmp_runtime_loaded_before_them(policy):
    """PyTorch loads GNU OpenMP before our kernels (its threads spin when idle): numba's parallel
    kernels beside it made an MLP step 25x slower, so they run serially and say why, once.
    With OMP_WAIT_POLICY set by the user nothing spins, and they stay parallel."""
    import ctypes.util
    gomp = ctypes.util.find_library("gomp")
    if gomp is None:
        pytest.skip("no libgomp on this machine")
    code = ("import ctypes, sys, warnings, numpy as np\n"
            f"ctypes.CDLL({gomp!r})\n"  # what `import torch` does first
            "from tinygrad_sm.kernels import numba_kernels as nk\n"
            "nk.PARALLEL_MIN = 0\n"
            "z = np.linspace(-3, 3, 4096).reshape(64, 64)\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    a = nk.softmax(z); b = nk.softmax(z)\n"
            "kernel, _ = nk._launch(nk._SOFTMAX, z.size, 64)\n"
            "print(nk.SPINNING_OPENMP, kernel is nk._SOFTMAX[1], len(w), "
            "bool(np.allclose(a, nk.reference.softmax(z), rtol=1e-12)))\n"
            "print(w[0].message if w else '')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_NUM_THREADS")}
    env["NUMBA_NUM_THREADS"] = "2"
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    first, message = r.stdout.splitlines()[:2]
    if policy:
        assert first.split() == ["False", "True", "0", "True"]
    else:
        assert first.split() == ["True", "False", "1", "True"]  # serial, warned once, still right
        assert "OMP_WAIT_POLICY=PASSIVE" in message


# -- found by review on 2026-12-02 ------------------------------------------------------------------
@MODES
def test_log_softmax_keeps_log_s_beside_a_large_row_max(mode):
    """(z - m) - log s, not z - (m + log s): log 2 beside 1e17 would round away."""
    cases = [np.array([[1e17, 1e17], [1e6, 1e6 - 1]]), np.array([[3e38, 3e38, 0.0]], np.float32)]
    with compiled(mode):
        for z in cases:
            want = ref.log_softmax(z.astype(np.float64))
            np.testing.assert_allclose(nk.log_softmax(z), want.astype(z.dtype), rtol=1e-12 if z.dtype == np.float64
                                       else 1e-6)
        np.testing.assert_allclose(nk.log_softmax(np.array([[1e17, 1e17]]))[0], [-np.log(2)] * 2, rtol=1e-15)


@MODES
def test_label_smoothing_loss_does_not_cancel_against_a_large_row_max(mode):
    z = np.array([[1e9, 1e9 + 3.0, 1e9 - 2.0], [5e8, 5e8 + 1.0, 5e8 - 1.0]])
    t = np.array([0, 2])
    want = ref.cross_entropy_forward(z - z.max(axis=1, keepdims=True), t, 0.1)[0]  # shift-free truth
    with compiled(mode):
        loss, _ = nk.softmax_cross_entropy(z, t, 0.1)
    np.testing.assert_allclose(loss, want, rtol=1e-14)


@pytest.mark.parametrize("backend", [nk, ref])
def test_an_inf_parameter_stays_inf_without_weight_decay(backend):
    """0 * inf is NaN: without weight decay the term is not there at all (PyTorch's rule)."""
    for dtype in FLOATS:
        for momentum in (0.0, 0.9):
            p, g = np.array([np.inf, 1.0], dtype), np.ones(2, dtype)
            backend.sgd_step_(p, g, np.zeros(2, dtype) if momentum else None, lr=0.1, momentum=momentum,
                              first=True)
            np.testing.assert_array_equal(p, np.array([np.inf, 0.9], dtype))
        p, m, v = np.array([np.inf, 1.0], dtype), np.zeros(2, dtype), np.zeros(2, dtype)
        backend.adam_step_(p, np.ones(2, dtype), m, v, step=1, lr=0.1)
        assert p[0] == np.inf and np.isfinite(m).all() and np.isfinite(v).all()


def test_a_step_on_a_read_only_parameter_refuses_before_changing_any_state():
    import tinygrad_sm as ts
    for make in (lambda ps: ts.optim.Adam(ps, lr=0.1), lambda ps: ts.optim.SGD(ps, lr=0.1, momentum=0.9,
                                                                               dampening=0.5)):
        p = ts.Tensor(np.ones(3, np.float32), requires_grad=True)
        frozen = np.ones(3, np.float32)
        frozen.flags.writeable = False
        p.data = frozen
        p.grad = ts.Tensor(np.ones(3, np.float32))
        opt = make([p])
        with pytest.raises(ValueError, match="parameter 0 is read-only"):
            opt.step()
        assert opt.state.get(0, {}) == {}  # no step counted, no buffer kept
        p.data = frozen.copy()
        opt.step()  # then a first step as if the failed one had not happened
        assert opt.state[0].get("step", 1) == 1
        np.testing.assert_allclose(p.data, np.full(3, 0.9, np.float32), rtol=1e-6)


def test_unfused_cross_entropy_checks_its_class_targets_and_matches_the_reference_at_full_smoothing():
    z = np.array([[0.0, 1.0, 2.0], [3.0, 1.0, 0.0]])
    unfused = (lambda t: kernels.cross_entropy_forward(z, t),
               lambda t: kernels.cross_entropy_backward(ref.log_softmax(z), t, np.ones(2)))
    for fn in unfused:  # (a -1 used to wrap around to the last class)
        with pytest.raises(ValueError, match=r"class targets must be in \[0, 3\), got \[-1\]"):
            fn(np.array([0, -1]))
    for fn in (*unfused, lambda t: kernels.softmax_cross_entropy(z, t)):  # (1.5 used to become 1)
        with pytest.raises(ValueError, match=r"class targets must be integers, got float64"):
            fn(np.array([0.0, 1.5]))
    zi = np.array([[0.0, -np.inf, 1.0]])
    assert nk.cross_entropy_forward(zi, np.array([1]), 1.0)[0][0] == ref.cross_entropy_forward(
        zi, np.array([1]), 1.0)[0][0] == np.inf


def test_warmup_and_set_backend_without_numba():
    r = _python("import sys, warnings\n"
                "sys.modules['numba'] = None\n"
                "warnings.simplefilter('ignore')\n"
                "import numpy as np, tinygrad_sm as ts\n"
                "ts.warmup()\n"
                "print(ts.kernels.get_backend())\n"
                "try:\n"
                "    ts.kernels.set_backend('numba')\n"
                "except ImportError:\n"
                "    print('refused', ts.kernels.get_backend())\n",
                TINYGRAD_SM_BACKEND="")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["numpy", "refused", "numpy"]


def test_a_refused_set_backend_says_which_kernels_run():
    """Without numba, set_backend('numba') raises; the NumPy kernels are what runs after it, and
    get_backend() says so (also where the default was still the numba backend, not yet loaded)."""
    r = _python("import sys\n"
                "sys.modules['numba'] = None\n"
                "import numpy as np, tinygrad_sm as ts\n"
                "try:\n"
                "    ts.kernels.set_backend('numba')\n"
                "except ImportError:\n"
                "    print(ts.kernels.get_backend(), ts.kernels.softmax(np.zeros((1, 2))).tolist())\n",
                TINYGRAD_SM_BACKEND="")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["numpy", "[[0.5,", "0.5]]"] and "RuntimeWarning" not in r.stderr


# -- windows of images: im2col, col2im, max pooling ------------------------------------------------------
@st.composite
def image_geometry(draw, pool=False):
    """(x shape, k, s, p, d, out) with at least one output position (pool: padding <= k/2)."""
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = tuple(draw(st.integers(0, ki // 2 if pool else 2)) for ki in k)
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    hw = tuple(draw(st.integers(max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]), 9)) for i in (0, 1))
    ceil = pool and draw(st.booleans())  # (ceil_mode: last windows running past the padding)
    out = tuple(out_size(hw[i], k[i], s[i], p[i], d[i], ceil) for i in (0, 1))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) + hw
    return shape, k, s, p, d, out


@MODES
@given(data=st.data(), geo=image_geometry(), dtype=st.sampled_from(FLOATS))
def test_im2col_and_col2im_kernels_match_the_reference(mode, data, geo, dtype):
    shape, *g = geo
    with compiled(mode):
        x = data.draw(arrays(shape, dtype, -2, 2))
        cols = nk.im2col(x, *g)
        np.testing.assert_array_equal(cols, ref.im2col(x, *g))  # (copies: exact)
        gc = data.draw(arrays(cols.shape, dtype, -2, 2))
        ours, theirs = nk.col2im(gc, shape, *g), ref.col2im(gc.astype(np.float64), shape, *g)
        # (sums of at most k0*k1 terms, added in another order)
        close_products(ours, theirs, dtype, ref.col2im(np.abs(gc).astype(np.float64), shape, *g), 9)


@MODES
@given(data=st.data(), geo=image_geometry(pool=True), dtype=st.sampled_from(FLOATS), ties=st.booleans())
def test_max_pool_kernels_match_the_reference_ties_and_nan_included(mode, data, geo, dtype, ties):
    shape, *g = geo
    with compiled(mode):
        x = data.draw(arrays(shape, dtype, -2, 2))
        if ties:  # (a coarse grid: windows with several equal winners, and NaN now and then)
            x = np.round(x)
            x[data.draw(hnp.arrays(np.bool_, shape))] = np.nan
        y, arg = nk.max_pool2d(x, *g)
        want_y, want_arg = ref.max_pool2d(x, *g)
        np.testing.assert_array_equal(y, want_y)
        np.testing.assert_array_equal(arg, want_arg)
        gy = data.draw(arrays(y.shape, dtype, -2, 2))
        close_products(nk.max_pool2d_backward(gy, arg, shape),
                       ref.max_pool2d_backward(gy.astype(np.float64), arg, shape), dtype,
                       ref.max_pool2d_backward(np.abs(gy).astype(np.float64), arg, shape), 9)


@MODES
@given(data=st.data(), dtype=st.sampled_from(FLOATS), ties=st.booleans(),
       shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 9), st.integers(2, 9)))
def test_the_2x2_stride_2_max_pool_kernel_matches_the_reference(mode, data, dtype, ties, shape):
    """The unrolled kernel for the common case (odd sizes: the last row or column is left out)."""
    g = ((2, 2), (2, 2), (0, 0), (1, 1), (shape[2] // 2, shape[3] // 2))
    with compiled(mode):
        x = data.draw(arrays(shape, dtype, -2, 2))
        if ties:
            x = np.round(x)
            x[data.draw(hnp.arrays(np.bool_, shape))] = np.nan
        y, arg = nk.max_pool2d(x, *g)
        want_y, want_arg = ref.max_pool2d(x, *g)
        np.testing.assert_array_equal(y, want_y)
        np.testing.assert_array_equal(arg, want_arg)
        gy = data.draw(arrays(y.shape, dtype, -2, 2))  # (windows apart: each element gets one g or 0)
        np.testing.assert_array_equal(nk.max_pool2d_backward(gy, arg, shape), ref.max_pool2d_backward(gy, arg, shape))


def test_max_pool_picks_the_first_winner_and_a_nan_and_skips_padding():
    """PyTorch's winners (its indices, checked by hand): the first largest, a NaN over any number
    and the last of several NaNs (its rule: replace the best by a larger value or a NaN)."""
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, np.nan, 2.0], [np.nan, 0.0, -np.inf]]]])
    for impl in (nk, ref):
        y, arg = impl.max_pool2d(x, (2, 2), (1, 1), (0, 0), (1, 1), (2, 2))
        np.testing.assert_array_equal(arg[0, 0], [[4, 4], [6, 4]])  # (NaNs at 4 and 6: the last)
        y, arg = impl.max_pool2d(np.array([[[[np.nan, np.nan], [1.0, 2.0]]]]), (2, 2), (2, 2), (0, 0), (1, 1), (1, 1))
        assert arg[0, 0, 0, 0] == 1
        y, arg = impl.max_pool2d(x, (2, 2), (2, 2), (1, 1), (1, 1), (2, 2))
        np.testing.assert_array_equal(arg[0, 0], [[0, 1], [6, 4]])  # (a tie of 3s: the first)
        np.testing.assert_array_equal(y[0, 0], [[1.0, 3.0], [np.nan, np.nan]])
        y, arg = impl.max_pool2d(np.full((1, 1, 1, 1), -np.inf), (2, 2), (1, 1), (1, 1), (1, 1), (2, 2))
        np.testing.assert_array_equal(arg[0, 0], [[0, 0], [0, 0]])  # (-inf is still an element, padding is not)
