"""Softmax, log-softmax and the fused softmax-cross-entropy gate."""
import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import GateError, Tensor
from tinygrad_sm.testing import gradcheck

from .helpers import leaf


def onehot(y, c):
    return np.eye(c)[y]


def test_fused_gradient_is_softmax_minus_onehot_over_n(rng):
    z = rng.standard_normal((5, 4))
    y = np.array([0, 3, 1, 1, 2])
    zt = leaf(z)
    ts.cross_entropy(zt, y).backward()
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(zt.grad.numpy(), (p - onehot(y, 4)) / 5, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_equals_unfused_in_value_and_gradient(rng, reduction):
    z = rng.standard_normal((6, 5))
    y = rng.integers(0, 5, 6)
    a, b = leaf(z), leaf(z)
    fused = ts.cross_entropy(a, y, reduction=reduction)
    unfused = ts.nll_loss(b.log_softmax(axis=1), y, reduction=reduction)
    np.testing.assert_allclose(fused.numpy(), unfused.numpy(), rtol=1e-12)
    g = rng.standard_normal(fused.shape)
    fused.backward(g)
    unfused.backward(g)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_probability_targets_and_label_smoothing(rng):
    z = rng.standard_normal((4, 3))
    y = np.array([2, 0, 1, 2])
    eps = 0.1
    smoothed = (1 - eps) * onehot(y, 3) + eps / 3
    by_class = ts.cross_entropy(leaf(z), y, label_smoothing=eps)
    by_prob = ts.cross_entropy(leaf(z), smoothed)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    expected = -(smoothed * logp).sum(1).mean()
    np.testing.assert_allclose([by_class.item(), by_prob.item()], [expected, expected], rtol=1e-12)
    assert gradcheck(lambda z: ts.cross_entropy(z, y, label_smoothing=eps), [leaf(z)])
    assert gradcheck(lambda z: ts.cross_entropy(z, smoothed, reduction="none"), [leaf(z)])


def test_probability_targets_can_take_a_gradient(rng):
    z, t = leaf(rng.standard_normal((3, 4))), leaf(rng.dirichlet(np.ones(4), size=3))
    assert gradcheck(lambda z, t: ts.cross_entropy(z, t), [z, t])


def test_single_sample_logits(rng):
    z = rng.standard_normal(5)
    loss = ts.cross_entropy(leaf(z), np.array(3))
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), -(z - np.log(np.exp(z).sum()))[3])
    assert gradcheck(lambda z: ts.cross_entropy(z, np.array(3)), [leaf(z)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_finite_for_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]])
    y = np.array([1, 2, 0])
    zt = Tensor(z, dtype=dtype, requires_grad=True)
    loss = ts.cross_entropy(zt, y, reduction="none")
    loss.sum().backward()
    assert np.isfinite(loss.numpy()).all() and np.isfinite(zt.grad.numpy()).all()
    np.testing.assert_allclose(loss.numpy(), [2e4, 0.0, np.log(2)], rtol=1e-6)
    for fn in (lambda t: t.softmax(), lambda t: t.log_softmax(), lambda t: t.logsumexp(axis=1)):
        x = Tensor(z, dtype=dtype, requires_grad=True)
        out = fn(x)
        out.sum().backward()
        assert np.isfinite(out.numpy()).all() and np.isfinite(x.grad.numpy()).all()


def test_softmax_rows_sum_to_one_and_ignore_a_constant_shift(rng):
    z = rng.standard_normal((4, 6)) * 5
    p = Tensor(z, dtype="float64").softmax(axis=1).numpy()
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-12)
    shifted = Tensor(z + rng.standard_normal((4, 1)) * 100, dtype="float64").softmax(axis=1).numpy()
    np.testing.assert_allclose(shifted, p, rtol=1e-9, atol=1e-15)


def test_class_targets_out_of_range():
    z = Tensor(np.zeros((3, 4)))
    with pytest.raises(GateError, match=r"class target 4 at index 1 is out of range for 4 classes \(valid: 0..3\)"):
        ts.cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(GateError, match="class target -1 at index 0"):
        ts.nll_loss(z, np.array([-1, 0, 1]))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_negative_class_targets_are_refused_by_both_kernel_backends(backend):
    # NumPy indexing would quietly read the last class for -1; both kernels refuse it
    prev = ts.kernels.get_backend()
    ts.kernels.set_backend(backend)
    try:
        z = Tensor(np.zeros((3, 4)), requires_grad=True)
        with pytest.raises(GateError, match="class target -1 at index 2 is out of range"):
            ts.cross_entropy(z, np.array([0, 1, -1]))
        with pytest.raises(ValueError, match=r"1 class target\(s\) outside 0..3"):
            ts.kernels.softmax_cross_entropy(np.zeros((3, 4)), np.array([0, 1, -1]))
    finally:
        ts.kernels.set_backend(prev)


def test_float_class_targets_are_refused_with_a_hint():
    with pytest.raises(GateError, match=r"class targets must be integers, got float32; .*shape \(3, 4\)"):
        ts.cross_entropy(Tensor(np.zeros((3, 4))), Tensor([0.0, 1.0, 2.0]))


def test_target_shape_must_match():
    with pytest.raises(GateError, match=r"logits of shape \(3, 4\) need targets of shape \(3,\), got \(2,\)"):
        ts.cross_entropy(Tensor(np.zeros((3, 4))), np.array([0, 1]))
    with pytest.raises(GateError, match=r"shape \(N, C\) or \(C,\)"):
        ts.cross_entropy(Tensor(np.zeros((2, 3, 4))), np.array([0, 1]))


@pytest.mark.filterwarnings("ignore:invalid value")
def test_nan_logits_are_reported():
    z = np.zeros((3, 4))
    z[1, 2] = np.nan
    with pytest.raises(GateError, match=r"logits contain nan \(first at row 1, column 2\)"):
        ts.cross_entropy(Tensor(z), np.array([0, 1, 2]))
    z[1, 2] = np.inf
    with pytest.raises(GateError, match=r"logits contain inf"):
        ts.cross_entropy(Tensor(z), np.array([0, 1, 2]))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_row_of_only_minus_inf_is_reported(backend):
    prev = ts.kernels.get_backend()
    ts.kernels.set_backend(backend)
    try:
        for dt in (np.float32, np.float64):
            z = np.zeros((3, 4), dt)
            z[2] = -np.inf
            with pytest.raises(GateError, match=r"every logit of row 2 is -inf \(1 such row"), \
                    np.errstate(invalid="ignore"):
                ts.cross_entropy(Tensor(z), np.array([0, 1, 2]))
    finally:
        ts.kernels.set_backend(prev)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_full_label_smoothing_with_a_minus_inf_logit_is_inf_not_nan(backend):
    """At label_smoothing=1 the target distribution is uniform: log p = -inf anywhere makes the
    loss inf (PyTorch's value), and 0 * inf must not make it NaN."""
    prev = ts.kernels.get_backend()
    ts.kernels.set_backend(backend)
    try:
        for dt in (np.float32, np.float64):
            z = np.array([[0.0, -np.inf, 1.0]], dt)
            for target in (np.array([1]), np.array([0]), np.array([[0.2, 0.3, 0.5]], dt)):
                with np.errstate(divide="ignore", invalid="ignore"):
                    loss = ts.cross_entropy(Tensor(z), target, label_smoothing=1.0).item()
                assert loss == np.inf, (dt, target)
    finally:
        ts.kernels.set_backend(prev)


def test_bad_reduction_and_smoothing():
    with pytest.raises(GateError, match="reduction must be one of"):
        ts.cross_entropy(Tensor(np.zeros((1, 2))), np.array([0]), reduction="avg")
    with pytest.raises(GateError, match="label_smoothing"):
        ts.cross_entropy(Tensor(np.zeros((1, 2))), np.array([0]), label_smoothing=1.5)


# -- against PyTorch, when it is installed ------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_matches_pytorch(torch, rng, reduction, smoothing):
    z = rng.standard_normal((8, 5))
    y = rng.integers(0, 5, 8)
    ours = leaf(z)
    loss = ts.cross_entropy(ours, y, reduction=reduction, label_smoothing=smoothing)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(y), reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(loss.numpy(), ref.detach().numpy(), rtol=1e-10)
    g = rng.standard_normal(loss.shape)
    loss.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), zt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_probability_cross_entropy_matches_pytorch(torch, rng):
    z = rng.standard_normal((4, 6))
    t = rng.dirichlet(np.ones(6), size=4)
    ours = leaf(z)
    loss = ts.cross_entropy(ours, t, label_smoothing=0.1)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(t), label_smoothing=0.1)
    loss.backward()
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-10)
    np.testing.assert_allclose(ours.grad.numpy(), zt.grad.numpy(), rtol=1e-10, atol=1e-14)
