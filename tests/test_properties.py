"""The property suite: every gate in the library, inputs drawn from the gate's declared domain.

A gate added to tinygrad_sm/gates/ is picked up here automatically; without a `domain` and a
NumPy reference below, the suite fails.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinygrad_sm as ts
from tinygrad_sm import Gate, Tensor, gates as G
from tinygrad_sm.gates.base import unbroadcast
from tinygrad_sm.testing import gate_inputs, gradcheck

from .helpers import adaptive_avg_pool_ref, conv2d_ref, conv_transpose2d_ref, pool_ref, unpool_ref

GATES = sorted((g for g in Gate.registry if g.__module__.startswith("tinygrad_sm.gates")
                and not g.__name__.startswith("_")), key=lambda g: g.__name__)
IDS = [g.__name__ for g in GATES]


def _red(x, reduction):
    return x.mean() if reduction == "mean" else (x.sum() if reduction == "sum" else x)


def _target_dist(t, c, eps):
    dist = np.eye(c)[t] if t.dtype.kind in "iu" else t
    return (1 - eps) * dist + eps / c


def _matmul_ref(x, w):
    x2 = x[None, :] if x.ndim == 1 else x
    w2 = w[:, None] if w.ndim == 1 else w
    r = (x2[..., :, :, None] * w2[..., None, :, :]).sum(-2)  # sum_k x[i, k] w[k, j]
    r = r[..., 0, :] if x.ndim == 1 else r
    return r[..., 0] if w.ndim == 1 else r


def _log_softmax_ref(x, axis):
    return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))


def _torch_prod(a, axis, keepdims):
    """PyTorch's prod takes one dim: several are reduced one after the other (the last first)."""
    axes = range(a.ndim) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    for d in sorted((d % max(a.ndim, 1) for d in axes), reverse=True):
        a = a.prod(dim=d, keepdim=keepdims) if a.ndim else a
    return a


# Independent NumPy references: the formula, written the plain way.
REFERENCES = {
    "Add": lambda a, b: a + b,
    "AddConst": lambda a, c: np.add(a, c, dtype=a.dtype),
    "Sub": lambda a, b: a - b,
    "Neg": lambda a: 0 - a,
    "Mul": lambda a, b: a * b,
    "MulConst": lambda a, c: np.multiply(c, a, dtype=a.dtype),
    "Div": lambda a, b: a * (1 / b),
    "PowScalar": lambda a, exponent: np.exp(exponent * np.log(a)),
    "Pow": lambda a, b: np.exp(b * np.log(a)),
    "Cast": lambda a, dtype: a.astype(dtype),
    "Exp": lambda a: np.e ** a,
    "Log": lambda a: np.log(a),
    "Sqrt": lambda a: a ** 0.5,
    "Prod": lambda a, axis, keepdims: np.multiply.reduce(a, axis=axis, keepdims=keepdims),
    "CumSum": lambda a, axis: np.add.accumulate(a, axis=axis),
    "Gather": lambda a, dim, index: np.array([a[tuple(index[pos] if k == dim % a.ndim else i for k, i in enumerate(pos))]
                                              for pos in np.ndindex(index.shape)]).reshape(index.shape),
    "Conv2d": conv2d_ref,
    "ConvTranspose2d": conv_transpose2d_ref,
    "MaxPool2d": lambda a, **kw: pool_ref(a, how=np.max, fill=-np.inf, **kw),
    "AvgPool2d": lambda a, **kw: pool_ref(a, how=np.mean, **kw),
    "AdaptiveAvgPool2d": adaptive_avg_pool_ref,
    "MaxUnpool2d": unpool_ref,
    "StdSqrt": lambda a: a ** 0.5,
    "Abs": lambda a: np.where(a < 0, -a, a),
    "Maximum": lambda a, b: np.where(a > b, a, b),
    "Minimum": lambda a, b: np.where(a < b, a, b),
    "Where": lambda a, b, cond: a * cond + b * (1 - cond),
    "ReLU": lambda a: a * (a > 0),
    "LeakyReLU": lambda a, negative_slope: np.maximum(a, 0) + negative_slope * np.minimum(a, 0),
    "ELU": lambda a, alpha: np.where(a > 0, a, alpha * (np.exp(a) - 1)),
    "GELU": lambda a: a * 0.5 * (1 + np.vectorize(math.erf)(a / np.sqrt(2))),
    "SiLU": lambda a: a / (1 + np.exp(-a)),
    "Softplus": lambda a, beta, threshold: np.where(a * beta > threshold, a, np.log(1 + np.exp(beta * a)) / beta),
    "Sigmoid": lambda a: 1 / (1 + np.exp(-a)),
    "Tanh": lambda a: (np.exp(2 * a) - 1) / (np.exp(2 * a) + 1),
    "Clip": lambda a, lo, hi: np.where(a < lo, lo, np.where(a > hi, hi, a)),
    "Dropout": lambda a, p, generator: a * ((np.random.default_rng(generator).random(a.shape) >= p) / (1 - p)),
    "Sum": lambda a, axis, keepdims: np.add.reduce(a, axis=axis, keepdims=keepdims),
    "Mean": lambda a, axis, keepdims: np.add.reduce(a, axis=axis, keepdims=keepdims)
    * (np.add.reduce(np.ones_like(a), axis=axis, keepdims=keepdims) ** -1.0),
    "Max": lambda a, axis, keepdims: np.maximum.reduce(a, axis=axis, keepdims=keepdims),
    "Min": lambda a, axis, keepdims: np.minimum.reduce(a, axis=axis, keepdims=keepdims),
    "LogSumExp": lambda a, axis, keepdims: np.log(np.add.reduce(np.exp(a), axis=axis, keepdims=keepdims)),
    "Reshape": lambda a, shape: np.reshape(a.copy(), shape),
    "Permute": lambda a, axes: np.moveaxis(a, axes, range(a.ndim)) if a.ndim else a,
    "Expand": lambda a, shape: a * np.ones(shape),
    "Concat": lambda *xs, axis: np.concatenate(xs, axis=axis),
    "Stack": lambda *xs, axis: np.concatenate([np.expand_dims(x, axis) for x in xs], axis=axis),
    "GetItem": lambda a, index: np.asarray(a[index]),
    "MatMul": _matmul_ref,
    "Softmax": lambda a, axis: np.exp(a) / np.exp(a).sum(axis=axis, keepdims=True),
    "LogSoftmax": _log_softmax_ref,
    "CrossEntropy": lambda z, t, reduction, label_smoothing: _red(
        -(_target_dist(t, z.shape[1], label_smoothing) * _log_softmax_ref(z, 1)).sum(1), reduction),
    "NLLLoss": lambda lp, t, reduction: _red(-lp[np.arange(len(t)), t], reduction),
    "Linear": lambda x, w, *b, relu: (lambda y: y * (y > 0) if relu else y)(_matmul_ref(x, w.T) + (b[0] if b else 0)),
    "MultiClassHinge": lambda s, t, reduction, margin: _red(
        (np.maximum(0, s - s[np.arange(len(t)), t][:, None] + margin)).sum(1) - margin, reduction),
    "BinaryCrossEntropy": lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)),
    "SmoothL1": lambda x, t, beta: np.where(np.abs(x - t) < beta, (x - t) ** 2 / (2 * beta), np.abs(x - t) - beta / 2),
    "Huber": lambda x, t, delta: np.where(np.abs(x - t) < delta, (x - t) ** 2 / 2, delta * np.abs(x - t) - delta ** 2 / 2),
    "BCEWithLogits": lambda z, t: -(t * np.log(1 / (1 + np.exp(-z))) + (1 - t) * np.log(1 / (1 + np.exp(z)))),
}

# PyTorch counterparts, for gates that have one.
TORCH = {
    "Add": lambda torch, a, b: a + b,
    "AddConst": lambda torch, a, c: a + c,
    "Sub": lambda torch, a, b: a - b,
    "Neg": lambda torch, a: -a,
    "Mul": lambda torch, a, b: a * b,
    "MulConst": lambda torch, a, c: c * a,
    "Div": lambda torch, a, b: a / b,
    "PowScalar": lambda torch, a, exponent: a ** exponent,
    "Pow": lambda torch, a, b: a ** b,
    "Exp": lambda torch, a: torch.exp(a),
    "Log": lambda torch, a: torch.log(a),
    "Sqrt": lambda torch, a: torch.sqrt(a),
    "Prod": lambda torch, a, axis, keepdims: _torch_prod(a, axis, keepdims),
    "CumSum": lambda torch, a, axis: torch.cumsum(a, dim=axis),
    "Gather": lambda torch, a, dim, index: torch.gather(a, dim, torch.as_tensor(index)),
    "Conv2d": lambda torch, x, w, *b, stride, padding, dilation, groups=1: torch.nn.functional.conv2d(
        x, w, *b, stride=stride, padding=padding, dilation=dilation, groups=groups),
    "ConvTranspose2d": lambda torch, x, w, *b, stride, padding, output_padding, dilation, groups=1: (
        torch.nn.functional.conv_transpose2d(x, w, *b, stride=stride, padding=padding, output_padding=output_padding,
                                             dilation=dilation, groups=groups)),
    "MaxPool2d": lambda torch, a, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False: (
        torch.nn.functional.max_pool2d(a, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)),
    "AvgPool2d": lambda torch, a, kernel_size, stride=None, **kw: torch.nn.functional.avg_pool2d(
        a, kernel_size, stride, **kw),
    "AdaptiveAvgPool2d": lambda torch, a, output_size: torch.nn.functional.adaptive_avg_pool2d(a, output_size),
    "StdSqrt": lambda torch, a: torch.sqrt(a),
    "Abs": lambda torch, a: torch.abs(a),
    "Maximum": lambda torch, a, b: torch.maximum(a, b),
    "Minimum": lambda torch, a, b: torch.minimum(a, b),
    "Where": lambda torch, a, b, cond: torch.where(torch.as_tensor(cond), a, b),
    "ReLU": lambda torch, a: torch.relu(a),
    "LeakyReLU": lambda torch, a, negative_slope: torch.nn.functional.leaky_relu(a, negative_slope),
    "ELU": lambda torch, a, alpha: torch.nn.functional.elu(a, alpha),
    "GELU": lambda torch, a: torch.nn.functional.gelu(a),
    "SiLU": lambda torch, a: torch.nn.functional.silu(a),
    "Softplus": lambda torch, a, beta, threshold: torch.nn.functional.softplus(a, beta, threshold),
    "Sigmoid": lambda torch, a: torch.sigmoid(a),
    "Tanh": lambda torch, a: torch.tanh(a),
    "Clip": lambda torch, a, lo, hi: torch.clamp(a, lo, hi),
    "Sum": lambda torch, a, axis, keepdims: a.sum() if axis is None and not keepdims
    else torch.sum(a, dim=axis if axis is not None else tuple(range(a.ndim)), keepdim=keepdims),
    "Mean": lambda torch, a, axis, keepdims: a.mean() if axis is None and not keepdims
    else torch.mean(a, dim=axis if axis is not None else tuple(range(a.ndim)), keepdim=keepdims),
    "Max": lambda torch, a, axis, keepdims: torch.amax(a, dim=axis if axis is not None else (), keepdim=keepdims),
    "Min": lambda torch, a, axis, keepdims: torch.amin(a, dim=axis if axis is not None else (), keepdim=keepdims),
    "LogSumExp": lambda torch, a, axis, keepdims: torch.logsumexp(
        a, dim=axis if axis is not None else tuple(range(a.ndim)), keepdim=keepdims),
    "Reshape": lambda torch, a, shape: a.reshape(shape),
    "Permute": lambda torch, a, axes: a.permute(tuple(axes)),
    "Expand": lambda torch, a, shape: a.expand(tuple(shape)),
    "Concat": lambda torch, *xs, axis: torch.cat(xs, dim=axis),
    "Stack": lambda torch, *xs, axis: torch.stack(xs, dim=axis),
    "MatMul": lambda torch, a, b: a @ b,
    "Softmax": lambda torch, a, axis: torch.softmax(a, dim=axis),
    "LogSoftmax": lambda torch, a, axis: torch.log_softmax(a, dim=axis),
    "CrossEntropy": lambda torch, z, t, reduction, label_smoothing: torch.nn.functional.cross_entropy(
        z, t, reduction=reduction, label_smoothing=label_smoothing),
    "NLLLoss": lambda torch, lp, t, reduction: torch.nn.functional.nll_loss(lp, t, reduction=reduction),
    "Linear": lambda torch, x, w, *b, relu: (torch.relu if relu else (lambda y: y))(torch.nn.functional.linear(x, w, *b)),
    # PyTorch's multi_margin_loss divides each row's sum by the number of classes.
    "MultiClassHinge": lambda torch, s, t, reduction, margin: s.shape[1] * torch.nn.functional.multi_margin_loss(
        s, t, margin=margin, reduction=reduction),
    "BinaryCrossEntropy": lambda torch, p, t: torch.nn.functional.binary_cross_entropy(
        *torch.broadcast_tensors(p, t), reduction="none"),
    "BCEWithLogits": lambda torch, z, t: torch.nn.functional.binary_cross_entropy_with_logits(
        *torch.broadcast_tensors(z, t), reduction="none"),
    "SmoothL1": lambda torch, x, t, beta: torch.nn.functional.smooth_l1_loss(
        *torch.broadcast_tensors(x, t), reduction="none", beta=beta),
    "Huber": lambda torch, x, t, delta: torch.nn.functional.huber_loss(
        *torch.broadcast_tensors(x, t), reduction="none", delta=delta),
}


def run(case, v_seed=0, leaves=None):
    """Forward and backward once with a random upstream gradient; returns (leaves, out, v)."""
    leaves = leaves if leaves is not None else case.tensors()
    out = case.fn()(*leaves)
    rng = np.random.default_rng(v_seed)
    v = rng.uniform(0.5, 1.5, out.shape) * rng.choice([-1.0, 1.0], out.shape)
    out.backward(v.astype(out.dtype))
    return leaves, out, v


# -- every gate is covered ---------------------------------------------------------------------------
def test_every_gate_declares_a_domain_and_a_reference():
    missing_domain = [g.__name__ for g in GATES if g.domain is None]
    missing_ref = [g.__name__ for g in GATES if g.__name__ not in REFERENCES]
    assert missing_domain == [] and missing_ref == []


def test_a_gate_without_a_domain_cannot_be_drawn():
    class Undeclared(Gate):
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match="Undeclared declares no test domain"):
        gate_inputs(Undeclared)


# -- 1. analytic gradient == central differences ---------------------------------------------------------
@pytest.mark.parametrize("gate", GATES, ids=IDS)
@given(data=st.data())
def test_gradient_matches_central_differences(gate, data):
    case = data.draw(gate_inputs(gate))
    assert gradcheck(case.fn(), case.tensors(), **case.check)


# -- 2. forward == a plain NumPy reference ---------------------------------------------------------------
@pytest.mark.parametrize("gate", GATES, ids=IDS)
@given(data=st.data())
def test_forward_matches_numpy_reference(gate, data):
    case = data.draw(gate_inputs(gate))
    out = case.fn()(*case.tensors(requires_grad=False))
    ref = REFERENCES[gate.__name__](*case.arrays, **case.attrs)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)
    assert out.shape == np.shape(ref)


# -- 3. gradient shape and dtype == input's (float32 and float64, broadcasting inputs) ----------------
@pytest.mark.parametrize("gate", GATES, ids=IDS)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_gradient_has_the_input_shape_and_dtype(gate, data, dtype):
    case = data.draw(gate_inputs(gate, dtype=dtype))
    leaves, out, _ = run(case)
    assert out.dtype == case.attrs.get("dtype", dtype)  # Cast outputs its target dtype
    for t in leaves:
        if t.requires_grad:
            assert t.grad is not None and t.grad.shape == t.shape and t.grad.dtype == t.dtype


# -- 4. reuse accumulates ------------------------------------------------------------------------------
@pytest.mark.parametrize("gate", GATES, ids=IDS)
@given(data=st.data())
def test_using_inputs_twice_accumulates_both_gradients(gate, data):
    case = data.draw(gate_inputs(gate))
    once_a, _, _ = run(case, v_seed=1)
    once_b, _, _ = run(case, v_seed=2)
    leaves = case.tensors()
    fn = case.fn()
    out1, out2 = fn(*leaves), fn(*leaves)
    v1 = run(case, v_seed=1)[2]
    v2 = run(case, v_seed=2)[2]
    ((out1 * v1).sum() + (out2 * v2).sum()).backward()
    for t, a, b in zip(leaves, once_a, once_b):
        if t.requires_grad:
            np.testing.assert_allclose(t.grad.numpy(), a.grad.numpy() + b.grad.numpy(), rtol=1e-12, atol=1e-12)


BINARY_ELEMENTWISE = [g for g in GATES if g.domain.kind == "elementwise" and len(g.domain.values) == 2]


@pytest.mark.parametrize("gate", BINARY_ELEMENTWISE, ids=[g.__name__ for g in BINARY_ELEMENTWISE])
@given(data=st.data())
def test_f_of_x_x_gets_the_sum_of_both_paths(gate, data):
    case = data.draw(gate_inputs(gate))
    a = case.arrays[1] if gate is G.Div else case.arrays[0]  # x / x needs x away from 0
    if gate in (G.Maximum, G.Minimum):
        a = np.abs(a)  # f(x, x) ties everywhere: each path gets half, and the halves sum to g
    x = Tensor(a.copy(), requires_grad=True)
    x1, x2 = Tensor(a.copy(), requires_grad=True), Tensor(a.copy(), requires_grad=True)
    g = np.random.default_rng(0).standard_normal(a.shape)
    gate.apply(x, x, **case.attrs).backward(g)
    gate.apply(x1, x2, **case.attrs).backward(g)
    np.testing.assert_allclose(x.grad.numpy(), x1.grad.numpy() + x2.grad.numpy(), rtol=1e-12, atol=1e-12)


# -- 5. backward mutates nothing and returns no aliases -------------------------------------------------
@pytest.mark.parametrize("gate", GATES, ids=IDS)
@given(data=st.data())
def test_backward_mutates_nothing_and_aliases_nothing(gate, data):
    case = data.draw(gate_inputs(gate))
    leaves = case.tensors()
    before = [t.data.copy() for t in leaves]
    out = case.fn()(*leaves)
    v = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
    v_before = v.copy()
    out.backward(v)
    for t, b in zip(leaves, before):
        np.testing.assert_array_equal(t.data, b)
    np.testing.assert_array_equal(v, v_before)
    grads = [t.grad.data for t in leaves if t.requires_grad]
    for i, gi in enumerate(grads):
        assert not np.shares_memory(gi, v)
        assert not any(np.shares_memory(gi, t.data) for t in leaves)
        assert not any(np.shares_memory(gi, gj) for gj in grads[i + 1:])


# -- 6. the gate patterns ---------------------------------------------------------------------------------
@given(data=st.data())
def test_add_distributes_the_upstream_gradient(data):
    case = data.draw(gate_inputs(G.Add))
    leaves, _, v = run(case)
    for t in leaves:
        np.testing.assert_allclose(t.grad.numpy(), unbroadcast(v, t.shape), rtol=1e-12, atol=1e-12)


@given(data=st.data())
def test_mul_swaps_its_inputs(data):
    case = data.draw(gate_inputs(G.Mul))
    (x, y), _, v = run(case)
    np.testing.assert_allclose(x.grad.numpy(), unbroadcast(v * y.numpy(), x.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), unbroadcast(v * x.numpy(), y.shape), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gate,wins", [(G.Maximum, np.greater), (G.Minimum, np.less)], ids=["Maximum", "Minimum"])
@given(data=st.data())
def test_binary_max_routes_to_the_winner(gate, wins, data):
    case = data.draw(gate_inputs(gate))
    (x, y), _, v = run(case)
    xb, yb = np.broadcast_arrays(x.numpy(), y.numpy())
    np.testing.assert_allclose(x.grad.numpy(), unbroadcast(v * wins(xb, yb), x.shape), atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), unbroadcast(v * wins(yb, xb), y.shape), atol=1e-12)


@pytest.mark.parametrize("gate", [G.Max, G.Min], ids=["Max", "Min"])
@given(data=st.data())
def test_max_reduction_sends_nothing_to_the_losers(gate, data):
    case = data.draw(gate_inputs(gate))
    (x,), out, _ = run(case)
    kept = REFERENCES[gate.__name__](x.numpy(), case.attrs["axis"], True)
    losers = x.numpy() != kept
    assert (x.grad.numpy()[losers] == 0).all()
    assert (x.grad.numpy()[~losers] != 0).all()


# -- 7. softmax and cross-entropy -------------------------------------------------------------------------
@given(data=st.data())
def test_softmax_sums_to_one_and_ignores_a_shift(data):
    case = data.draw(gate_inputs(G.Softmax))
    (a,), axis = case.arrays, case.attrs["axis"]
    p = Tensor(a).softmax(axis=axis).numpy()
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-12)
    shift = data.draw(st.floats(-50, 50))
    np.testing.assert_allclose(Tensor(a + shift).softmax(axis=axis).numpy(), p, rtol=1e-9, atol=1e-14)


@given(data=st.data())
def test_fused_cross_entropy_equals_the_composition(data):
    case = data.draw(gate_inputs(G.CrossEntropy))
    z, t = case.arrays
    eps, reduction = case.attrs["label_smoothing"], case.attrs["reduction"]
    a, b = Tensor(z, requires_grad=True), Tensor(z, requires_grad=True)
    fused = ts.cross_entropy(a, t, reduction=reduction, label_smoothing=eps)
    dist = Tensor(_target_dist(t, z.shape[1], eps))
    composed = -(dist * b.log_softmax(axis=1)).sum(axis=1)
    composed = composed.mean() if reduction == "mean" else (composed.sum() if reduction == "sum" else composed)
    np.testing.assert_allclose(fused.numpy(), composed.numpy(), rtol=1e-12, atol=1e-14)
    g = np.random.default_rng(0).standard_normal(fused.shape)
    fused.backward(g)
    composed.backward(g)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("gate", [G.Softmax, G.LogSoftmax, G.CrossEntropy], ids=["Softmax", "LogSoftmax", "CE"])
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_finite_for_logits_up_to_1e4(gate, data, dtype):
    case = data.draw(gate_inputs(gate, dtype=dtype))
    arrays = [case.arrays[0] * dtype(2e3)] + case.arrays[1:]  # values in [-1e4, 1e4]
    x = Tensor(arrays[0], requires_grad=True)
    out = gate.apply(x, *[Tensor(a) for a in arrays[1:]], **case.attrs)
    out.backward(np.ones(out.shape, dtype))
    assert np.isfinite(out.numpy()).all() and np.isfinite(x.grad.numpy()).all()


# -- 8. against PyTorch, for every gate with a counterpart -------------------------------------------------
TORCH_GATES = [g for g in GATES if g.__name__ in TORCH]


@pytest.mark.parametrize("gate", TORCH_GATES, ids=[g.__name__ for g in TORCH_GATES])
@given(data=st.data())
def test_forward_and_gradient_match_pytorch(gate, data, torch):
    case = data.draw(gate_inputs(gate))
    leaves, out, v = run(case)
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in case.arrays]
    t_out = TORCH[gate.__name__](torch, *t_in, **case.attrs)
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    t_out.backward(torch.tensor(v))
    for ours, theirs in zip(leaves, t_in):
        if ours.requires_grad:
            np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


# -- the checker catches a broken backward --------------------------------------------------------------------
def test_a_wrong_backward_is_caught_and_located(monkeypatch):
    def unswapped(self, g):  # forgets to swap: multiplies by its own input
        x, y = self.saved
        return self.unbroadcast(g * x, g * y)

    monkeypatch.setattr(G.Mul, "backward", unswapped)
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True, name="x")
    y = Tensor(np.array([[5.0, -6.0], [7.0, 8.0]]), requires_grad=True, name="y")
    with pytest.raises(AssertionError) as err:
        gradcheck(lambda x, y: x * y, [x, y])
    msg = str(err.value)
    assert "input 0 ('x'), shape (2, 2): 4 of 4 gradient elements disagree" in msg
    assert "input 1 ('y')" in msg
    assert "(1, 1)" in msg  # the worst element, by index, with analytic and numerical values


@pytest.mark.parametrize("gate", GATES, ids=IDS)
@given(data=st.data())
def test_the_suite_fails_any_gate_whose_backward_is_broken(gate, data):
    """Scale every gradient a gate returns by 1.5: the gradient check must notice, for every gate."""
    case = data.draw(gate_inputs(gate))
    leaves, _, _ = run(case)
    # a draw whose true gradient is (almost) zero is unchanged by scaling: nothing to catch
    assume(any(t.requires_grad and np.abs(t.grad.numpy()).max() > 1e-3 for t in leaves))
    original = gate.backward

    def broken(self, g):
        out = original(self, g)
        out = out if isinstance(out, tuple) else (out,)
        return tuple(None if o is None else o * np.asarray(1.5, o.dtype) for o in out)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(gate, "backward", broken)
        assert not gradcheck(case.fn(), case.tensors(), raise_exception=False, **case.check)
