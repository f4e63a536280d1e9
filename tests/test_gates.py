"""Every gate: forward value against NumPy, and backward against central differences (float64)."""
import math

import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm.testing import gradcheck

from .helpers import adaptive_avg_pool_ref, conv2d_ref, conv_transpose2d_ref, pool_ref, unpool_ref

R = np.random.default_rng(1234)


def normal(*shape):
    return R.standard_normal(shape)


def positive(*shape):
    return R.uniform(0.5, 2.0, shape)


def away_from_zero(*shape):
    """Values with |x| >= 0.2: no ReLU/abs kink within a finite-difference step."""
    return R.uniform(0.2, 2.0, shape) * R.choice([-1.0, 1.0], shape)


def distinct(*shape):
    """A random permutation of well-separated values: no ties for max/min."""
    return R.permutation(np.arange(int(np.prod(shape))) * 0.37 - 3.0).reshape(shape)


C43, C32, C34 = normal(4, 3), normal(3, 2), normal(3, 4)  # fixed constants that vary the gradient

# name, tinygrad function, numpy reference, inputs
COND = np.random.default_rng(99).random((3, 4)) > 0.5  # (where's condition: fixed, as a gate's constant)
UNPOOL_AT = np.array([[[[0, 4], [5, 5]], [[8, 1], [2, 3]]]])  # (places in a 3x3 plane)

CASES = [
    ("add", lambda x, y: x + y, lambda x, y: x + y, [normal(3, 4), normal(4)]),
    ("add_scalar", lambda x: 2.5 + x, lambda x: 2.5 + x, [normal(3)]),
    ("sub", lambda x, y: x - y, lambda x, y: x - y, [normal(2, 3), normal(2, 1)]),
    ("rsub", lambda x: 1.0 - x, lambda x: 1.0 - x, [normal(3)]),
    ("neg", lambda x: -x, lambda x: -x, [normal(2, 2)]),
    ("mul", lambda x, y: x * y, lambda x, y: x * y, [normal(3, 1), normal(1, 4)]),
    ("div", lambda x, y: x / y, lambda x, y: x / y, [normal(3, 4), positive(4)]),
    ("rdiv", lambda x: 2.0 / x, lambda x: 2.0 / x, [positive(3)]),
    ("pow_scalar", lambda x: x ** 3, lambda x: x ** 3, [normal(5)]),
    ("pow_frac", lambda x: x ** 0.5, lambda x: x ** 0.5, [positive(5)]),
    ("pow_tensor", lambda x, y: x ** y, lambda x, y: x ** y, [positive(2, 3), normal(3)]),
    ("rpow", lambda x: 2.0 ** x, lambda x: 2.0 ** x, [normal(4)]),
    ("exp", lambda x: x.exp(), np.exp, [normal(3, 3)]),
    ("log", lambda x: x.log(), np.log, [positive(3, 3)]),
    ("sqrt", lambda x: x.sqrt(), np.sqrt, [positive(4)]),
    ("std_sqrt", lambda x: ts.gates.StdSqrt.apply(x), np.sqrt, [positive(4)]),
    ("abs", lambda x: x.abs(), np.abs, [away_from_zero(3, 4)]),
    ("maximum", lambda x, y: ts.maximum(x, y), np.maximum, [distinct(3, 4), distinct(3, 4) + 0.1]),
    ("minimum", lambda x, y: ts.minimum(x, y), np.minimum, [distinct(3, 4), distinct(4) + 0.1]),
    ("where", lambda x, y: ts.where(ts.tensor(COND), x, y), lambda x, y: np.where(COND, x, y),
     [normal(3, 4), normal(4)]),
    ("relu", lambda x: x.relu(), lambda x: np.maximum(x, 0), [away_from_zero(4, 5)]),
    ("sigmoid", lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), [normal(4, 5) * 3]),
    ("tanh", lambda x: x.tanh(), np.tanh, [normal(4, 5)]),
    ("clip", lambda x: x.clip(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
     [np.array([-2.0, -0.9, -0.3, 0.1, 0.5, 1.2, 3.0])]),
    ("dropout", lambda x: ts.functional.dropout(x, 0.4, generator=7),
     lambda x: x * (np.random.default_rng(7).random(x.shape) >= 0.4) / 0.6, [normal(4, 5)]),
    ("cast", lambda x: x.astype("float32").astype("float64") * 1.0, lambda x: x.astype(np.float32).astype(np.float64),
     [np.array([0.5, -1.25, 2.0])]),
    ("sum_all", lambda x: x.sum(), np.sum, [normal(3, 4)]),
    ("sum_axis", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), [normal(3, 4, 2)]),
    ("sum_axes_keep", lambda x: x.sum(axis=(0, 2), keepdims=True),
     lambda x: x.sum(axis=(0, 2), keepdims=True), [normal(3, 4, 2)]),
    ("sum_neg_axis", lambda x: x.sum(axis=-1), lambda x: x.sum(axis=-1), [normal(3, 4)]),
    ("mean_all", lambda x: x.mean(), np.mean, [normal(3, 4)]),
    ("mean_axis", lambda x: x.mean(axis=0, keepdims=True), lambda x: x.mean(axis=0, keepdims=True), [normal(3, 4)]),
    ("max_all", lambda x: x.max(), np.max, [distinct(3, 4)]),
    ("max_axis", lambda x: x.max(axis=1), lambda x: x.max(axis=1), [distinct(3, 4)]),
    ("min_axis", lambda x: x.min(axis=0, keepdims=True), lambda x: x.min(axis=0, keepdims=True), [distinct(3, 4)]),
    ("logsumexp", lambda x: x.logsumexp(axis=1), lambda x: np.log(np.exp(x).sum(axis=1)), [normal(3, 5)]),
    ("logsumexp_all", lambda x: x.logsumexp(), lambda x: np.log(np.exp(x).sum()), [normal(3, 5)]),
    ("reshape", lambda x: x.reshape(4, 3) * C43.astype(x.dtype), lambda x: x.reshape(4, 3), [normal(3, 4)]),
    ("flatten", lambda x: x.flatten(1), lambda x: x.reshape(2, -1), [normal(2, 3, 4)]),
    ("transpose", lambda x: x.T @ C32.astype(x.dtype), lambda x: x.T, [normal(3, 4)]),
    ("permute", lambda x: x.permute(2, 0, 1), lambda x: np.transpose(x, (2, 0, 1)), [normal(2, 3, 4)]),
    ("expand", lambda x: x.expand(3, 4) * C34.astype(x.dtype), lambda x: np.broadcast_to(x, (3, 4)), [normal(1, 4)]),
    ("squeeze", lambda x: x.squeeze(1), lambda x: x.squeeze(1), [normal(3, 1, 2)]),
    ("unsqueeze", lambda x: x.unsqueeze(0), lambda x: x[None], [normal(3, 2)]),
    ("cat", lambda x, y: ts.cat([x, y], axis=1), lambda x, y: np.concatenate([x, y], axis=1),
     [normal(2, 3), normal(2, 2)]),
    ("stack", lambda x, y: ts.stack([x, y], axis=1), lambda x, y: np.stack([x, y], axis=1),
     [normal(2, 3), normal(2, 3)]),
    ("getitem_slice", lambda x: x[1:, ::2], lambda x: x[1:, ::2], [normal(3, 5)]),
    ("getitem_int", lambda x: x[1], lambda x: x[1], [normal(3, 5)]),
    ("getitem_array_repeat", lambda x: x[[0, 2, 0, 0]], lambda x: x[[0, 2, 0, 0]], [normal(3, 2)]),
    ("getitem_pairs", lambda x: x[np.arange(3), np.array([1, 0, 1])],
     lambda x: x[np.arange(3), np.array([1, 0, 1])], [normal(3, 2)]),
    ("matmul_2d", lambda x, w: x @ w, lambda x, w: x @ w, [normal(3, 4), normal(4, 2)]),
    ("matmul_vec_mat", lambda x, w: x @ w, lambda x, w: x @ w, [normal(4), normal(4, 2)]),
    ("matmul_mat_vec", lambda x, w: x @ w, lambda x, w: x @ w, [normal(3, 4), normal(4)]),
    ("matmul_dot", lambda x, w: x @ w, lambda x, w: x @ w, [normal(4), normal(4)]),
    ("matmul_batched", lambda x, w: x @ w, lambda x, w: x @ w, [normal(2, 3, 4), normal(4, 5)]),
    ("matmul_batched_both", lambda x, w: x @ w, lambda x, w: x @ w, [normal(2, 1, 3, 4), normal(3, 4, 2)]),
    ("matmul_vec_batched", lambda x, w: x @ w, lambda x, w: x @ w, [normal(4), normal(2, 4, 3)]),
    ("softmax", lambda x: x.softmax(axis=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True), [normal(3, 4)]),
    ("softmax_axis0", lambda x: x.softmax(axis=0), lambda x: np.exp(x) / np.exp(x).sum(0, keepdims=True),
     [normal(3, 4)]),
    ("log_softmax", lambda x: x.log_softmax(), lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
     [normal(3, 4)]),
]


def _ce_ref(z, y):
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


Y = np.array([2, 0, 3])
CASES += [
    ("cross_entropy", lambda z: ts.cross_entropy(z, Y), lambda z: _ce_ref(z, Y), [normal(3, 4)]),
    ("cross_entropy_sum", lambda z: ts.cross_entropy(z, Y, reduction="sum"),
     lambda z: _ce_ref(z, Y) * 3, [normal(3, 4)]),
    ("cross_entropy_none", lambda z: ts.cross_entropy(z, Y, reduction="none"),
     lambda z: -(z - np.log(np.exp(z).sum(1, keepdims=True)))[np.arange(3), Y], [normal(3, 4)]),
    ("nll_loss", lambda lp: ts.nll_loss(lp, Y), lambda lp: -lp[np.arange(3), Y].mean(), [normal(3, 4)]),
    ("linear_relu", lambda x, w, b: ts.gates.Linear.apply(x, w, b, relu=True),
     lambda x, w, b: np.maximum(x @ w.T + b, 0), [away_from_zero(5, 4), normal(3, 4), normal(3)]),
    ("linear", lambda x, w: ts.gates.Linear.apply(x, w), lambda x, w: x @ w.T, [normal(5, 4), normal(3, 4)]),
    # scores on a quarter grid and a margin of 1.125: every margin stays 0.125 from the hinge's kink
    ("hinge", lambda s: ts.functional.multiclass_hinge_loss(s, Y, margin=1.125),
     lambda s: (np.maximum(0, s - s[np.arange(3), Y][:, None] + 1.125).sum(1) - 1.125).mean(),
     [R.integers(-8, 8, (3, 4)) * 0.25]),
    ("prod", lambda x: x.prod(1), lambda x: x.prod(1), [normal(3, 4)]),
    ("prod_with_a_zero", lambda x: x.prod(), np.prod, [np.array([[1.5, 0.0], [-2.0, 0.5]])]),
    ("cumsum", lambda x: x.cumsum(0), lambda x: np.cumsum(x, 0), [normal(4, 3)]),
    ("gather", lambda x: x.gather(1, np.array([[2, 0, 2], [1, 1, 3]])),
     lambda x: np.take_along_axis(x[:2], np.array([[2, 0, 2], [1, 1, 3]]), 1), [normal(3, 4)]),
    ("conv2d", lambda x, w, b: ts.gates.Conv2d.apply(x, w, b, stride=2, padding=1),
     lambda x, w, b: conv2d_ref(x, w, b, stride=(2, 2), padding=(1, 1), dilation=(1, 1)),
     [normal(2, 3, 5, 6), normal(4, 3, 3, 2), normal(4)]),
    ("conv_transpose2d", lambda x, w, b: ts.gates.ConvTranspose2d.apply(x, w, b, stride=2, padding=1, output_padding=1),
     lambda x, w, b: conv_transpose2d_ref(x, w, b, stride=(2, 2), padding=(1, 1), output_padding=(1, 1),
                                          dilation=(1, 1)),
     [normal(2, 3, 3, 4), normal(3, 2, 3, 3), normal(2)]),
    ("adaptive_avg_pool2d", lambda x: ts.gates.AdaptiveAvgPool2d.apply(x, output_size=(2, 3)),
     lambda x: adaptive_avg_pool_ref(x, (2, 3)), [normal(2, 2, 5, 4)]),
    ("avg_pool2d_ceil", lambda x: ts.gates.AvgPool2d.apply(x, kernel_size=2, ceil_mode=True, count_include_pad=False),
     lambda x: pool_ref(x, (2, 2), how=np.mean, ceil_mode=True, count_include_pad=False), [normal(1, 2, 5, 5)]),
    ("max_pool2d", lambda x: ts.gates.MaxPool2d.apply(x, kernel_size=2),
     lambda x: pool_ref(x, (2, 2)), [distinct(2, 3, 4, 6)]),
    ("max_unpool2d", lambda x: ts.gates.MaxUnpool2d.apply(x, indices=UNPOOL_AT, output_size=(3, 3)),  # (5 twice)
     lambda x: unpool_ref(x, UNPOOL_AT, (3, 3)), [normal(1, 2, 2, 2)]),
    ("avg_pool2d", lambda x: ts.gates.AvgPool2d.apply(x, kernel_size=3, stride=1, padding=1),
     lambda x: pool_ref(x, (3, 3), (1, 1), (1, 1), how=np.mean), [normal(1, 2, 4, 5)]),
    ("bce_with_logits", lambda z, t: ts.functional.binary_cross_entropy_with_logits(z, t),
     lambda z, t: np.mean(np.log1p(np.exp(-z)) + (1 - t) * z), [normal(3, 4), R.uniform(0, 1, (3, 4))]),
    ("leaky_relu", lambda x: ts.functional.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
     [away_from_zero(3, 4)]),
    ("elu", lambda x: ts.functional.elu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1)),
     [away_from_zero(3, 4)]),
    ("gelu", lambda x: ts.functional.gelu(x),
     lambda x: x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))) / 2, [normal(3, 4) * 2]),
    ("gelu_tanh", lambda x: ts.functional.gelu(x, "tanh"),
     lambda x: x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))) / 2, [normal(3, 4) * 2]),
    ("silu", lambda x: ts.functional.silu(x), lambda x: x / (1 + np.exp(-x)), [normal(3, 4) * 2]),
    ("softplus", lambda x: ts.functional.softplus(x, beta=2.0, threshold=3.0),
     lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2), [np.array([-3.0, -0.4, 0.3, 1.2, 1.9, 4.0])]),
    # differences on a grid a quarter apart: never at delta (or beta) = 1, where the pieces meet
    ("huber", lambda x, t: ts.functional.huber_loss(x, t, "none", delta=1.0),
     lambda x, t: np.where(abs(x - t) < 1, (x - t) ** 2 / 2, abs(x - t) - 0.5),
     [R.integers(-8, 8, (3, 4)) * 0.5, R.integers(-8, 8, (3, 4)) * 0.5 + 0.25]),
    ("smooth_l1", lambda x, t: ts.functional.smooth_l1_loss(x, t, "none", beta=0.5),
     lambda x, t: np.where(abs(x - t) < 0.5, (x - t) ** 2, abs(x - t) - 0.25),
     [R.integers(-8, 8, (3, 4)) * 0.5, R.integers(-8, 8, (3, 4)) * 0.5 + 0.125]),
    ("bce", lambda p, t: ts.functional.binary_cross_entropy(p, t),
     lambda p, t: -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)), [R.uniform(0.1, 0.9, (3, 4)),
                                                                      R.uniform(0, 1, (3, 4))]),
]


@pytest.mark.parametrize("name,fn,ref,arrays", CASES, ids=[c[0] for c in CASES])
def test_forward_matches_numpy(name, fn, ref, arrays):
    ins = [ts.Tensor(a, dtype="float64") for a in arrays]
    out = fn(*ins)
    if name in ("reshape", "transpose", "expand"):  # fn multiplies by a constant to vary the gradient
        out = {"reshape": lambda x: x.reshape(4, 3), "transpose": lambda x: x.T,
               "expand": lambda x: x.expand(3, 4)}[name](ins[0])
    np.testing.assert_allclose(out.numpy(), ref(*arrays), rtol=1e-12, atol=1e-12)
    assert out.dtype == np.float64


@pytest.mark.parametrize("name,fn,ref,arrays", CASES, ids=[c[0] for c in CASES])
def test_backward_matches_central_differences(name, fn, ref, arrays):
    ins = [ts.Tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    # A trip through float32 is exact only for steps float32 can represent: use a power of two.
    eps = 2.0 ** -6 if name == "cast" else 1e-6
    assert gradcheck(fn, ins, eps=eps)


def test_every_builtin_gate_is_exercised_here():
    """A new gate must get a forward and gradient test in this table (or a dedicated one)."""
    used = set()
    for _, fn, _, arrays in CASES:
        out = fn(*[ts.Tensor(a, dtype="float64", requires_grad=True) for a in arrays])
        stack = [out.grad_fn]
        while stack:
            g = stack.pop()
            if g is not None and not isinstance(g, ts.Tensor):
                used.add(type(g).__name__)
                stack.extend(p for p in g.parents if isinstance(p, ts.Gate))
    builtin = {c.__name__ for c in ts.Gate.registry
               if c.__module__.startswith("tinygrad_sm.gates") and not c.__name__.startswith("_")}
    assert builtin - used == set()


def test_a_float64_exponent_of_a_float32_base_gets_a_float64_accurate_gradient():
    x = np.array([1.3, 2.7, 0.9], np.float32)
    y = np.array([0.5, 1.5, 2.5])
    X, Y = ts.Tensor(x, requires_grad=True), ts.Tensor(y, requires_grad=True)
    (X ** Y).sum().backward()
    x64 = x.astype(np.float64)  # (the float32 values, exactly)
    np.testing.assert_allclose(Y.grad.numpy(), x64 ** y * np.log(x64), rtol=1e-14)
