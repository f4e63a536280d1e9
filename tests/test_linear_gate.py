"""The fused linear layer gate: y = x @ w.T + b, optionally ReLU, in one gate."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_sm as ts
from tinygrad_sm import GateError, Tensor
from tinygrad_sm import kernels
from tinygrad_sm.gates import Linear
from tinygrad_sm.testing import gradcheck

from .helpers import leaf


@pytest.fixture(params=["numba", "numpy"])
def backend(request):
    before = kernels.get_backend()
    kernels.set_backend(request.param)
    yield request.param
    kernels.set_backend(before)


def away_from_zero(rng, *shape):
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("x_shape", [(5, 4), (4,), (2, 3, 4)])
def test_gradients_match_central_differences(backend, rng, relu, x_shape):
    x, w, b = (leaf(rng.standard_normal(s)) for s in (x_shape, (3, 4), (3,)))
    y = x.numpy() @ w.numpy().T + b.numpy()
    assert np.abs(y).min() > 1e-3  # no pre-activation at ReLU's kink
    assert gradcheck(lambda x, w, b: Linear.apply(x, w, b, relu=relu), [x, w, b])
    assert gradcheck(lambda x, w: Linear.apply(x, w, relu=relu), [x, w])


@pytest.mark.parametrize("relu", [False, True])
def test_equals_matmul_add_relu(backend, rng, relu):
    x, w, b = (rng.standard_normal(s) for s in [(6, 4), (3, 4), (3,)])
    a = [leaf(v) for v in (x, w, b)]
    c = [leaf(v) for v in (x, w, b)]
    fused = Linear.apply(*a, relu=relu)
    composed = c[0] @ c[1].T + c[2]
    composed = composed.relu() if relu else composed
    np.testing.assert_allclose(fused.numpy(), composed.numpy(), rtol=1e-12, atol=1e-14)
    g = rng.standard_normal(fused.shape)
    fused.backward(g)
    composed.backward(g)
    for s, t in zip(a, c):
        np.testing.assert_allclose(s.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-14)


@given(n=st.integers(1, 70), k=st.integers(1, 9), m=st.integers(1, 70), relu=st.booleans(),
       bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_float32_gradients_match_pytorch(torch, n, k, m, relu, bias, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(n, k), (m, k), (m,)][: 2 + bias]]
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = Linear.apply(*ours, relu=relu)
    ty = torch.nn.functional.linear(*theirs)
    ty = torch.relu(ty) if relu else ty
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    ty.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        assert a.grad.dtype == np.float32
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_only_the_needed_gradients_are_computed(rng):
    x = Tensor(rng.standard_normal((4, 3)))  # data: no gradient
    w, b = leaf(rng.standard_normal((2, 3))), leaf(rng.standard_normal(2))
    Linear.apply(x, w, b, relu=True).sum().backward()
    assert x.grad is None and w.grad is not None and b.grad is not None


def test_under_no_grad_nothing_is_recorded(rng):
    w = leaf(rng.standard_normal((2, 3)))
    with ts.no_grad():
        y = Linear.apply(Tensor(rng.standard_normal((4, 3))), w, relu=True)
    assert y.grad_fn is None and not y.requires_grad
    assert (y.numpy() >= 0).all()


def test_bad_shapes_are_named():
    x, w = Tensor(np.zeros((5, 4))), Tensor(np.zeros((3, 2)))
    with pytest.raises(GateError, match=r"linear: input of shape \(5, 4\) does not fit weight of shape "
                                        r"\(3, 2\): the input's last dimension must be in_features = 2"):
        Linear.apply(x, w)
    with pytest.raises(GateError, match=r"weight must have shape \(out_features, in_features\), got \(4,\)"):
        Linear.apply(x, Tensor(np.zeros(4)))
    with pytest.raises(GateError, match=r"linear: bias must have shape \(3,\) for weight of shape \(3, 4\), "
                                        r"got \(4,\)"):
        Linear.apply(x, Tensor(np.zeros((3, 4))), Tensor(np.zeros(4)))


def test_integer_input_takes_the_weights_dtype_as_matmul_does():
    """Integer pixels beside float32 weights: float32 through the layer (the model must not
    quietly run in float64), as x @ w.T gives."""
    w = ts.randn(2, 3, requires_grad=True)
    x = ts.Tensor(np.array([[1, 2, 3]], np.uint8))
    out = ts.functional.linear(x, w, activation="relu")
    assert out.dtype == np.float32 == (x @ w.T).dtype
    assert ts.nn.Linear(3, 2)(ts.Tensor(np.array([[1, 2, 3]]))).dtype == np.float32
    out.sum().backward()
    assert w.grad.dtype == np.float32
