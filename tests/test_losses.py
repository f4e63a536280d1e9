"""Losses in tinygrad_sm.functional: values, gradients, bad input, and PyTorch agreement."""
import numpy as np
import pytest

import tinygrad_sm as ts
import tinygrad_sm.nn.functional as F
from tinygrad_sm.testing import gradcheck

from .helpers import leaf


def test_hinge_loss_matches_the_cs231n_worked_example():
    # scores for cat, car, frog on the cat image: max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1) = 2.9
    s = leaf([[3.2, 5.1, -1.7]])
    loss = F.multiclass_hinge_loss(s, np.array([0]))
    assert loss.item() == pytest.approx(2.9)
    loss.backward()
    # one violated margin (car): +1 to car, -1 to the true class; frog satisfied: 0
    np.testing.assert_allclose(s.grad.data, [[-1.0, 1.0, 0.0]])


def test_hinge_loss_counts_violations_for_the_true_class():
    s = leaf([[0.0, 0.5, 0.2, -3.0], [1.0, 1.0, 5.0, 0.0]])
    loss = F.multiclass_hinge_loss(s, np.array([0, 2]), reduction="sum")
    assert loss.item() == pytest.approx(1.5 + 1.2)
    loss.backward()
    np.testing.assert_allclose(s.grad.data, [[-2, 1, 1, 0], [0, 0, 0, 0]])


def test_hinge_loss_gradcheck_and_bad_targets():
    rng = np.random.default_rng(1)
    s = leaf(rng.choice(np.arange(-8, 8) * 0.25, size=(4, 5)))
    assert gradcheck(lambda s: F.multiclass_hinge_loss(s, np.array([0, 4, 2, 1]), margin=1.125), [s])
    with pytest.raises(ValueError, match="class target 5 at index 1 is out of range for 5 classes"):
        F.multiclass_hinge_loss(s, np.array([0, 5, 2, 1]))
    with pytest.raises(ValueError, match=r"need targets of shape \(4,\)"):
        F.multiclass_hinge_loss(s, np.array([0, 1]))


def test_hinge_loss_matches_pytorch_multi_margin_times_classes(torch):
    rng = np.random.default_rng(2)
    s = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    ours = F.multiclass_hinge_loss(leaf(s), y).item()
    theirs = 4 * torch.nn.functional.multi_margin_loss(torch.from_numpy(s), torch.from_numpy(y)).item()
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_bce_with_logits_is_stable_and_exact_at_zero():
    z = leaf([-1000.0, -5.0, 0.0, 5.0, 1000.0])
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    p = 1 / (1 + np.exp(-z.data[1:4]))
    np.testing.assert_allclose(loss.data[1:4], -(t[1:4] * np.log(p) + (1 - t[1:4]) * np.log(1 - p)), rtol=1e-12)
    assert loss.data[0] == 0 and loss.data[4] == 0
    loss.sum().backward()
    np.testing.assert_allclose(z.grad.data, [0, p[0] - 1, -0.5, p[2], 0], atol=1e-15)  # sigmoid(0) - 1


def test_bce_and_bce_with_logits_agree_and_match_pytorch(torch):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((5, 3)) * 3
    t = rng.uniform(0, 1, (5, 3))
    a = F.binary_cross_entropy_with_logits(leaf(z), t)
    b = F.binary_cross_entropy(ts.sigmoid(leaf(z)), t)
    assert a.item() == pytest.approx(b.item(), rel=1e-10)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(z), torch.from_numpy(t))
    assert a.item() == pytest.approx(ref.item(), rel=1e-12)
    zl = leaf(z)
    F.binary_cross_entropy_with_logits(zl, t).backward()
    zt = torch.from_numpy(z).requires_grad_()
    torch.nn.functional.binary_cross_entropy_with_logits(zt, torch.from_numpy(t)).backward()
    np.testing.assert_allclose(zl.grad.data, zt.grad.numpy(), rtol=1e-10)


def test_bce_clamps_log_like_pytorch_and_rejects_non_probabilities():
    p = leaf([0.0, 1.0, 0.5])
    t = np.array([1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_allclose(loss.data, [100.0, 100.0, np.log(2)])
    loss.sum().backward()  # finite at p = 0 and 1, as in PyTorch
    np.testing.assert_allclose(p.grad.data, [-1e12, 1e12, -2.0])
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\], found 1.5"):
        F.binary_cross_entropy(leaf([0.5, 1.5]), np.array([0.0, 1.0]))


def test_mse_loss_value_gradient_and_shape_error():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    t = np.array([[0.0, 2.0], [5.0, 4.0]])
    loss = F.mse_loss(x, t)
    assert loss.item() == pytest.approx((1 + 0 + 4 + 0) / 4)
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2 * (x.data - t) / 4)
    with pytest.raises(ValueError, match=r"mse_loss: input of shape \(2, 2\) and target of shape \(4,\) differ"):
        F.mse_loss(x, np.zeros(4))
    with pytest.raises(ValueError, match="reduction must be"):
        F.mse_loss(x, t, reduction="avg")


def test_l2_penalty_value_and_gradient():
    w1, w2 = leaf([[1.0, -2.0]]), leaf([3.0])
    pen = F.l2_penalty([w1, w2], 0.5)
    assert pen.item() == pytest.approx(0.5 * (1 + 4 + 9))
    pen.backward()
    np.testing.assert_allclose(w1.grad.data, [[1.0, -2.0]])  # 2 * 0.5 * w
    with pytest.raises(ValueError, match="no parameters"):
        F.l2_penalty([], 1.0)


def test_log_softmax_nll_equals_cross_entropy():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((6, 5))
    y = rng.integers(0, 5, 6)
    a, b = leaf(z), leaf(z)
    la = F.nll_loss(F.log_softmax(a, dim=1), y)
    lb = F.cross_entropy(b, y)
    assert la.item() == pytest.approx(lb.item(), rel=1e-12)
    la.backward()
    lb.backward()
    np.testing.assert_allclose(a.grad.data, b.grad.data, rtol=1e-10, atol=1e-15)


def test_linear_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation must be None or 'relu'"):
        F.linear(leaf(np.ones((2, 3))), leaf(np.ones((4, 3))), activation="gelu")


def test_probability_targets_of_another_dtype_get_their_own_gradient_dtype():
    z = ts.Tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    t = ts.Tensor(np.full((2, 3), 1 / 3), requires_grad=True)  # float64 beside float32 logits
    F.cross_entropy(z, t).backward()
    assert t.grad.dtype == np.float64 and z.grad.dtype == np.float32
    np.testing.assert_allclose(t.grad.numpy(), np.full((2, 3), np.log(3) / 2), rtol=1e-6)


@pytest.mark.parametrize("targets", ["class", "prob"])
def test_losses_of_an_empty_batch_follow_pytorch(targets):
    """The mean over no rows is NaN, the sum 0, and 'none' an empty vector; the gradient is empty."""
    for reduction, want in (("mean", np.nan), ("sum", 0.0), ("none", None)):
        for loss_fn in (F.cross_entropy, F.nll_loss):
            if loss_fn is F.nll_loss and targets == "prob":
                continue
            z = ts.Tensor(np.zeros((0, 3), np.float32), requires_grad=True)
            t = np.zeros(0, np.int64) if targets == "class" else np.zeros((0, 3), np.float32)
            with np.errstate(all="raise"):  # (and no warning on the way)
                loss = loss_fn(z, t, reduction=reduction)
                loss.sum().backward()
            if want is None:
                assert loss.shape == (0,)
            else:
                np.testing.assert_equal(loss.item(), want)
            assert z.grad.shape == (0, 3)


def test_cross_entropy_of_integer_logits_computes_in_float64_as_softmax_does():
    z = np.array([[1, 2, 3], [3, 0, 0]])
    zf = z.astype(np.float64)
    for target in (np.array([0, 0]), np.array([[1.0, 0, 0], [0.5, 0.5, 0]])):
        for eps in (0.0, 0.1):
            got = F.cross_entropy(ts.Tensor(z), target, label_smoothing=eps)
            want = F.cross_entropy(ts.Tensor(zf), target, label_smoothing=eps)
            assert got.dtype == np.float64
            assert got.item() == pytest.approx(want.item(), rel=1e-12)
    logp = zf - np.log(np.exp(zf).sum(axis=1, keepdims=True))  # (was 1.0: the loss cut to an int)
    want = -(logp[0, 0] + 0.5 * logp[1, 0] + 0.5 * logp[1, 1]) / 2
    assert F.cross_entropy(ts.Tensor(z), np.array([[1.0, 0, 0], [0.5, 0.5, 0]])).item() == pytest.approx(want)


def test_hinge_loss_with_a_margin_of_minus_inf_is_finite():
    """max(0, -inf) is 0: a wrong class scored -inf (or a float32 difference that overflows)
    violates nothing, as in PyTorch's multi_margin_loss."""
    s = leaf([[0.0, -np.inf, 0.5]])
    loss = F.multiclass_hinge_loss(s, np.array([0]))
    assert loss.item() == pytest.approx(1.5)
    loss.backward()
    np.testing.assert_array_equal(s.grad.data, [[-1.0, 0.0, 1.0]])
    s32 = ts.Tensor(np.array([[3e38, -3e38, 0.0]], np.float32))
    with np.errstate(over="ignore"):
        assert F.multiclass_hinge_loss(s32, np.array([0])).item() == 0.0


def test_hinge_loss_of_nan_scores_is_nan():
    """A NaN score must not read as a satisfied margin: a training run stops on a NaN loss."""
    for s in ([[1.0, np.nan, 0.5]], [[np.nan, 0.0, 0.5]], [[np.nan, np.nan, np.nan]]):
        assert np.isnan(F.multiclass_hinge_loss(ts.Tensor(np.array(s)), np.array([0])).item())
