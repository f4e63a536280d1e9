"""ReLU's relatives (leaky ReLU, ELU, GELU, SiLU, softplus), softmax modules, and the regression and
margin losses (L1, Huber, smooth L1, PyTorch's multi-margin), against PyTorch's and by gradcheck.
The gates' own property tests (every gate, drawn inputs) are in test_properties."""
import math

import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import functional as F
from tinygrad_sm import nn
from tinygrad_sm.testing import gradcheck

R = np.random.default_rng(11)

ACTIVATIONS = [  # (ours, PyTorch's by name, keyword arguments)
    (F.leaky_relu, "leaky_relu", {}),
    (F.leaky_relu, "leaky_relu", {"negative_slope": 0.3}),
    (F.elu, "elu", {}),
    (F.elu, "elu", {"alpha": 0.5}),
    (F.gelu, "gelu", {}),
    (F.gelu, "gelu", {"approximate": "tanh"}),
    (F.silu, "silu", {}),
    (F.softplus, "softplus", {}),
    (F.softplus, "softplus", {"beta": 2.0, "threshold": 5.0}),
    (F.softplus, "softplus", {"beta": -1.5}),
]
IDS = [f"{name}-{kw}" for _, name, kw in ACTIVATIONS]
# Large, tiny and negative values, the kinks themselves (0; softplus' threshold 20 and 5 / 2) and
# values that overflow e**x.
EDGES = [-1e4, -800.0, -30.0, -2.5, -1e-8, 0.0, 1e-8, 2.5, 5.0, 20.0, 30.0, 800.0, 1e4]


def _float64_truth(name, kw, x, g, torch):
    """The activation and its input gradient in float64: PyTorch's, except GELU's. PyTorch
    computes 1 + erf(x / sqrt 2) and 1 + tanh(u), which cancel to nothing for x << 0 in float64
    too (it gives 0 where x Phi(x) is -8.06e-17 at x = -8.5); there the same CDFs as math.erfc and a
    logistic sigmoid, which do not cancel."""
    if name != "gelu":
        t = torch.tensor(x, requires_grad=True)
        y = getattr(torch.nn.functional, name)(t, **kw)
        y.backward(torch.tensor(g))
        return y.detach().numpy(), t.grad.numpy()
    if kw.get("approximate", "none") == "none":
        cdf = np.array([math.erfc(-v / math.sqrt(2)) / 2 for v in x])
        return x * cdf, g * (cdf + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi))
    c = math.sqrt(2 / math.pi)
    u = c * (x + 0.044715 * x ** 3)
    s = np.array([1 / (1 + math.exp(-2 * v)) if v >= 0 else math.exp(2 * v) / (1 + math.exp(2 * v)) for v in u])
    return x * s, g * (s + x * 2 * s * (1 - s) * c * (1 + 3 * 0.044715 * x * x))


def test_gelu_agrees_with_pytorch_where_pytorchs_does_not_cancel(torch):
    x = np.linspace(-3, 8, 301)
    for approximate in ("none", "tanh"):
        t = ts.tensor(x, requires_grad=True)
        y = F.gelu(t, approximate)
        y.sum().backward()
        tt = torch.tensor(x, requires_grad=True)
        ty = torch.nn.functional.gelu(tt, approximate=approximate)
        ty.sum().backward()
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("ours,name,kw", ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_values_and_gradients_are_pytorchs(ours, name, kw, dtype, torch):
    x = np.concatenate([R.standard_normal(200) * 4, EDGES]).astype(dtype)
    g = R.standard_normal(x.shape).astype(dtype)
    t = ts.tensor(x, requires_grad=True)
    y = ours(t, **kw)
    assert y.dtype == np.dtype(dtype)
    y.backward(g)
    assert np.isfinite(y.numpy()).all() and np.isfinite(t.grad.numpy()).all()
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    want_y, want_g = _float64_truth(name, kw, x64, g64, torch)
    if dtype == "float64":
        np.testing.assert_allclose(y.numpy(), want_y, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(t.grad.numpy(), want_g, rtol=1e-12, atol=1e-15)
        return
    # float32: each step rounds to 6e-8 of what it computes, and intermediate terms grow with |x|
    # (x**3 in GELU's tanh form), so the bound is relative to the value and to (1 + |x|) |g|.
    for got, want, scale in [(y.numpy(), want_y, 1 + np.abs(x64)), (t.grad.numpy(), want_g, (1 + np.abs(x64)) * np.abs(g64))]:
        err = np.abs(got - want)
        assert (err <= 4e-7 * (np.abs(want) + scale)).all(), x[np.argmax(err / (np.abs(want) + scale))]


@pytest.mark.parametrize("ours,name,kw", ACTIVATIONS, ids=IDS)
def test_nan_and_inf_give_pytorchs_values_and_gradients(ours, name, kw, torch):
    x = np.array([np.nan, np.inf, -np.inf, 1.0])
    t = ts.tensor(x, requires_grad=True)
    y = ours(t, **kw)
    y.backward(np.ones(4))
    tt = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.nn.functional, name)(tt, **kw)
    ty.backward(torch.ones(4, dtype=torch.float64))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-15)  # (NaN where PyTorch has NaN)
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-15)


def test_gelu_in_float32_keeps_its_digits_where_one_plus_erf_cancels(torch):
    """x Phi(x) for x in [-9, -3] in float32: within 2e-7 of the float64 value, relative (the
    erfc route); PyTorch's float32 1 + erf(x / sqrt 2) is off by up to 100% there."""
    x = np.linspace(-9, -3, 601).astype(np.float32).astype(np.float64)  # (float32's own values)
    want = x * np.array([math.erfc(-v / math.sqrt(2)) / 2 for v in x])
    ours = F.gelu(ts.tensor(x.astype(np.float32))).numpy().astype(np.float64)
    theirs = torch.nn.functional.gelu(torch.tensor(x, dtype=torch.float32)).numpy().astype(np.float64)
    assert np.max(np.abs(ours - want) / np.abs(want)) < 2e-7
    assert np.max(np.abs(theirs - want) / np.abs(want)) > 0.1  # (what the test would catch)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradient_by_central_differences(approximate):
    x = ts.tensor(R.uniform(-4, 4, (3, 5)), requires_grad=True)
    assert gradcheck(lambda a: F.gelu(a, approximate), x)


def test_the_kink_conventions_are_pytorchs(torch):
    """At 0: leaky ReLU's gradient is the slope, ELU's alpha (PyTorch's choices); softplus at its
    threshold takes the smooth branch (beta x > threshold is linear)."""
    for ours, name, kw, at in [(F.leaky_relu, "leaky_relu", {"negative_slope": 0.3}, 0.0),
                               (F.elu, "elu", {"alpha": 0.5}, 0.0),
                               (F.softplus, "softplus", {"beta": 2.0, "threshold": 5.0}, 2.5)]:
        t = ts.tensor([at], dtype=ts.float64, requires_grad=True)
        ours(t, **kw).sum().backward()
        tt = torch.tensor([at], dtype=torch.float64, requires_grad=True)
        getattr(torch.nn.functional, name)(tt, **kw).sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-15, err_msg=name)
    assert t.grad.numpy()[0] < 1  # (softplus: sigmoid(5), not the linear side's 1)


def test_modules_are_the_functional_forms():
    x = ts.tensor(R.standard_normal((4, 6)))
    pairs = [(nn.LeakyReLU(0.2), F.leaky_relu(x, 0.2)), (nn.ELU(0.7), F.elu(x, 0.7)),
             (nn.GELU("tanh"), F.gelu(x, "tanh")), (nn.GELU(), F.gelu(x)), (nn.SiLU(), F.silu(x)),
             (nn.Softplus(2.0, 3.0), F.softplus(x, 2.0, 3.0)), (nn.Softmax(dim=0), F.softmax(x, dim=0)),
             (nn.LogSoftmax(dim=1), F.log_softmax(x, dim=1))]
    for module, want in pairs:
        np.testing.assert_array_equal(module(x).numpy(), want.numpy())
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


def test_a_model_of_the_new_activations_trains():
    ts.manual_seed(0)
    x = R.standard_normal((64, 4))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 16), nn.SiLU(), nn.Linear(16, 16),
                          nn.LeakyReLU(0.1), nn.Linear(16, 16), nn.ELU(), nn.Linear(16, 2), nn.LogSoftmax(dim=1))
    model.double()
    opt = ts.optim.Adam(model.parameters(), lr=0.01)
    loss_fn, first = nn.NLLLoss(), None
    for _ in range(150):
        opt.zero_grad()
        loss = loss_fn(model(ts.tensor(x)), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


@pytest.mark.parametrize("call,message", [
    (lambda x: F.leaky_relu(x, float("nan")), "negative_slope must be a finite number"),
    (lambda x: F.elu(x, "1"), "alpha must be a finite number"),
    (lambda x: F.gelu(x, "erf"), "approximate must be 'none' or 'tanh'"),
    (lambda x: F.softplus(x, beta=0), "beta must not be 0"),
    (lambda x: F.softplus(x, threshold=math.nan), "threshold must be a number"),
    (lambda x: F.silu(ts.tensor([1, 2])), "silu takes floating-point input, got int64"),
    (lambda x: nn.GELU("fast"), "GELU: approximate must be"),
    (lambda x: nn.Softplus(beta=0), "Softplus: beta must not be 0"),
    (lambda x: nn.LeakyReLU(None), "LeakyReLU: negative_slope must be a finite number"),
])
def test_bad_activation_options_say_what_is_wrong(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(ts.tensor([1.0, -1.0]))


# -- losses -------------------------------------------------------------------------------------------
LOSSES = [  # (ours, PyTorch's by name, keyword arguments)
    (F.l1_loss, "l1_loss", {}),
    (F.huber_loss, "huber_loss", {}),
    (F.huber_loss, "huber_loss", {"delta": 0.3}),
    (F.smooth_l1_loss, "smooth_l1_loss", {}),
    (F.smooth_l1_loss, "smooth_l1_loss", {"beta": 0.25}),
    (F.smooth_l1_loss, "smooth_l1_loss", {"beta": 0.0}),
]


@pytest.mark.parametrize("ours,name,kw", LOSSES, ids=[f"{n}-{kw}" for _, n, kw in LOSSES])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_and_both_gradients_are_pytorchs(ours, name, kw, reduction, torch):
    x, t = R.standard_normal((5, 7)) * 2, R.standard_normal((5, 7))
    x[0, :3] = t[0, :3]  # d = 0 (abs' kink: gradient 0) ...
    x[1, :2] = t[1, :2] + kw.get("delta", kw.get("beta", 1.0))  # ... and d = delta (where the pieces meet)
    ox, ot = ts.tensor(x, requires_grad=True), ts.tensor(t, requires_grad=True)
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    y = ours(ox, ot, reduction=reduction, **kw)
    ty = getattr(torch.nn.functional, name)(tx, tt, reduction=reduction, **kw)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-15)
    g = R.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ot.grad.numpy(), tt.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kw", [{}, {"p": 2}, {"margin": 0.5}, {"weight": [0.5, 1.0, 2.0, 1.5]},
                                {"p": 2, "weight": [0.5, 1.0, 2.0, 1.5], "margin": 2.0}])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("one_sample", [False, True])
def test_multi_margin_loss_is_pytorchs(kw, reduction, one_sample, torch):
    x, y = np.round(R.standard_normal((6, 4)) * 4) / 4, np.array([0, 3, 1, 1, 2, 0])  # (quarters: exact sums)
    x[2, 0] = x[2, 1] - kw.get("margin", 1.0)  # a margin exactly at its kink: no violation, gradient 0
    if one_sample:
        x, y = x[2], np.array(1)
    ox, tx = ts.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    tkw = dict(kw, weight=torch.tensor(kw["weight"], dtype=torch.float64)) if "weight" in kw else kw
    out = F.multi_margin_loss(ox, y, reduction=reduction, **kw)
    tout = torch.nn.functional.multi_margin_loss(tx, torch.tensor(y), reduction=reduction, **tkw)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-13, atol=1e-15)
    g = R.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kw", [{}, {"p": 2}, {"weight": [1.0, 2.0, 0.5]}])
@pytest.mark.parametrize("row", [[np.inf, 0.0, 0.0], [-np.inf, 0.0, 0.0], [0.0, np.inf, 1.0]])
def test_multi_margin_loss_at_infinite_scores_is_pytorchs(kw, row, torch):
    x = np.array([row])
    ox, tx = ts.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    tkw = dict(kw, weight=torch.tensor(kw["weight"], dtype=torch.float64)) if "weight" in kw else kw
    out, tout = F.multi_margin_loss(ox, [0], **kw), torch.nn.functional.multi_margin_loss(tx, torch.tensor([0]), **tkw)
    out.backward()
    tout.backward()
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    np.testing.assert_array_equal(ox.grad.numpy(), tx.grad.numpy())


def test_multi_margin_loss_of_one_sample_takes_a_class_or_a_list_of_one(torch):
    x = np.array([0.5, 2.0, -1.0])
    for target in (1, [1]):
        out = F.multi_margin_loss(ts.tensor(x), target, reduction="none")
        tout = torch.nn.functional.multi_margin_loss(torch.tensor(x), torch.tensor(target), reduction="none")
        assert out.shape == tuple(tout.shape)
        np.testing.assert_allclose(out.numpy(), tout.numpy(), rtol=1e-15)


@pytest.mark.parametrize("dtype, beta, d", [("float32", 1e-30, 3e-20), ("float64", 1e-250, 1e-100),
                                             ("float64", 1e-310, 2.0), ("float32", 0.5, 0.25)])
def test_smooth_l1_loss_keeps_its_digits_for_a_tiny_beta(dtype, beta, d, torch):
    x = np.array([d, -d, 0.0], dtype=dtype)
    ox = ts.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    out = F.smooth_l1_loss(ox, np.zeros(3, dtype), "sum", beta=beta)
    tout = torch.nn.functional.smooth_l1_loss(tx, torch.zeros(3, dtype=tx.dtype), reduction="sum", beta=beta)
    out.backward()
    tout.backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-6)
    np.testing.assert_array_equal(ox.grad.numpy(), tx.grad.numpy())
    assert out.item() > 0


def test_multi_margin_loss_is_the_cs231n_hinge_over_the_classes():
    x, y = ts.tensor(R.standard_normal((5, 10))), R.integers(0, 10, 5)
    np.testing.assert_allclose(F.multi_margin_loss(x, y).numpy(), F.multiclass_hinge_loss(x, y).numpy() / 10,
                               rtol=1e-15)


def test_loss_modules_are_the_functional_forms(torch):
    x, t = ts.tensor(R.standard_normal((4, 3))), R.standard_normal((4, 3))
    p, b = ts.tensor(R.uniform(0.05, 0.95, (4, 3))), (R.random((4, 3)) > 0.5).astype(np.float64)
    y = np.array([2, 0, 1, 1])
    pairs = [(nn.L1Loss()(x, t), F.l1_loss(x, t)), (nn.HuberLoss("sum", 0.5)(x, t), F.huber_loss(x, t, "sum", 0.5)),
             (nn.SmoothL1Loss(beta=0.5)(x, t), F.smooth_l1_loss(x, t, beta=0.5)),
             (nn.MSELoss("none")(x, t), F.mse_loss(x, t, "none")),
             (nn.NLLLoss()(F.log_softmax(x, dim=1), y), F.cross_entropy(x, y)),
             (nn.BCELoss()(p, b), F.binary_cross_entropy(p, b)),
             (nn.BCEWithLogitsLoss("sum")(x, b), F.binary_cross_entropy_with_logits(x, b, "sum")),
             (nn.MultiMarginLoss(p=2, weight=[1.0, 2.0, 3.0])(x, y),
              F.multi_margin_loss(x, y, p=2, weight=[1.0, 2.0, 3.0]))]
    for got, want in pairs:
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    m = nn.MultiMarginLoss(weight=[1.0, 2.0, 3.0])
    assert list(m.state_dict()) == ["weight"]  # a buffer, as PyTorch's
    assert repr(nn.HuberLoss(delta=2.0)) == "HuberLoss(reduction='mean', delta=2.0)"


@pytest.mark.parametrize("call,message", [
    (lambda x: F.l1_loss(x, np.zeros(3)), r"l1_loss: input of shape \(2, 3\) and target of shape \(3,\) differ"),
    (lambda x: F.huber_loss(x, x.detach(), delta=0), "huber_loss: delta must be > 0"),
    (lambda x: F.huber_loss(x, x.detach(), delta=-1.0), "huber_loss: delta must be > 0"),
    (lambda x: F.smooth_l1_loss(x, x.detach(), beta=-1.0), "smooth_l1_loss: beta must be >= 0"),
    (lambda x: F.smooth_l1_loss(x, x.detach(), beta=float("nan")), "beta must be a finite number"),
    (lambda x: F.huber_loss(x, x.detach(), reduction="avg"), "reduction must be 'mean', 'sum' or 'none'"),
    (lambda x: F.multi_margin_loss(x, [0, 3]), "multi_margin_loss: class target 3 at index 1 is out of range for 3 classes"),
    (lambda x: F.multi_margin_loss(x, [0, 3], p=2), "multi_margin_loss: class target 3 at index 1 is out of range"),
    (lambda x: F.multi_margin_loss(x, [0, 1], p=3), "p must be 1 or 2"),
    (lambda x: F.multi_margin_loss(x, [0, 1], weight=[1.0, 2.0]), r"weight must have one entry per class, shape \(3,\)"),
    (lambda x: F.multi_margin_loss(x, [0.0, 1.0], p=2), "multi_margin_loss: class targets must be integers, got float64$"),
    (lambda x: F.multi_margin_loss(x, [0.0, 1.0]), "multi_margin_loss: class targets must be integers, got float64$"),
    (lambda x: F.multi_margin_loss(x, [0, 1, 2]), r"multi_margin_loss: input of shape \(2, 3\) need targets of shape \(2,\)"),
    (lambda x: F.multi_margin_loss(ts.tensor([[1, 2]]), [0]), "multi_margin_loss takes floating-point scores, got int64"),
    (lambda x: nn.NLLLoss(ts.tensor([1.0, 2.0])), "PyTorch's NLLLoss takes a class weight first, which this one does not"),
    (lambda x: nn.BCELoss(np.ones(2)), "PyTorch's BCELoss takes a weight first"),
    (lambda x: F.multi_margin_loss(x.reshape(1, 1, 6), [0]), r"shape \(N, C\) or \(C,\)"),
    (lambda x: nn.HuberLoss(delta=0.0), "HuberLoss: delta must be > 0"),
    (lambda x: nn.L1Loss(reduction="median"), "L1Loss: reduction must be"),
    (lambda x: nn.MultiMarginLoss(p=True), "MultiMarginLoss: p must be 1 or 2"),
])
def test_bad_loss_input_says_what_is_wrong(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(ts.tensor(R.standard_normal((2, 3)), requires_grad=True))
