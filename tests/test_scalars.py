"""Gates marked `scalars` get NumPy scalars for 0-d inputs and gradients (Gate.scalars): the
results must be the ones the array path gives, bit for bit, and what users see stays arrays."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_sm import Gate, Tensor
from tinygrad_sm.testing import gradcheck

SCALAR_GATES = [g for g in Gate.registry if g.scalars and g.__module__.startswith("tinygrad_sm.gates")]
SPECIAL = [0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-45, -3e38]


def test_the_operator_gates_take_the_scalar_path():
    names = {g.__name__ for g in SCALAR_GATES}
    assert {"AddConst", "MulConst", "Neg", "ReLU", "Add", "Sub", "Mul", "Div", "Exp", "Log", "Sqrt",
            "Abs", "Tanh"} <= names


def _run(op, x0, w0, shape):
    """op on leaves holding x0 and w0 with `shape`, then backward with upstream gradient 0.75."""
    x = Tensor(np.full(shape, x0), requires_grad=True)
    w = Tensor(np.full(shape, w0), requires_grad=True)
    y = op(x, w)
    y.backward(np.full(shape, 0.75, dtype=y.dtype))
    return [t.data for t in (y, x.grad, w.grad) if t is not None]  # (w.grad: None if w is unused)


OPS = {
    "t + c": lambda t, w: t + 0.1,
    "c + t": lambda t, w: 0.1 + t,
    "t - c": lambda t, w: t - 3,
    "t * c": lambda t, w: t * 1.001,
    "c * t": lambda t, w: -2.5 * t,
    "-t": lambda t, w: -t,
    "relu": lambda t, w: t.relu(),
    "t + w": lambda t, w: t + w,
    "t - w": lambda t, w: t - w,
    "t * w": lambda t, w: t * w,
    "t / w": lambda t, w: t / w,
    "functions": lambda t, w: (t.abs() + 1.0).sqrt().log() * t.tanh() + (t * 0.01).exp(),
    "chain": lambda t, w: ((t * 1.001 + 0.001).relu() * w - 0.5).relu() * 2 + t * t,
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OPS))
@given(x=st.one_of(st.sampled_from(SPECIAL), st.floats(-1e6, 1e6)),
       w=st.one_of(st.sampled_from(SPECIAL), st.floats(-1e3, 1e3)))
def test_0d_results_and_gradients_equal_the_array_path_bit_for_bit(dtype, name, x, w):
    x0, w0 = dtype(x), dtype(w)
    with np.errstate(all="ignore"):
        got = _run(OPS[name], x0, w0, ())
        want = _run(OPS[name], x0, w0, (1,))
    assert len(got) == len(want)
    for g, ref in zip(got, want):
        assert type(g) is np.ndarray and g.shape == () and g.dtype == dtype
        ref = ref.reshape(())
        if np.isnan(ref):  # (a NaN's sign and payload carry no meaning and differ between code paths)
            assert np.isnan(g)
        else:  # the same bits: -0.0 and infinities included
            assert g.tobytes() == ref.tobytes()


def test_users_see_arrays_a_leaf_gradient_they_can_change_and_retained_gradients():
    x = Tensor(0.5, requires_grad=True)
    h = (x * 3.0).relu()
    h.retain_grad()
    y = -(h + 1.0)
    y.backward()
    assert type(y.data) is np.ndarray and type(h.grad.data) is np.ndarray
    assert h.grad.item() == -1.0 and x.grad.item() == -3.0 and x.grad.dtype == np.float32
    x.grad.data += 1.0  # the leaf's gradient is its own, writeable array
    assert x.grad.item() == -2.0


def test_a_scalar_gradient_reaches_an_array_gate_as_an_array():
    seen = []

    class Spy(Gate):
        """y = 2x, recording the type of the gradient it gets."""

        def forward(self, x):
            return x * 2

        def backward(self, g):
            seen.append(type(g))
            return g * 2

    x = Tensor(1.5, dtype="float64", requires_grad=True)
    Spy.apply(x * 3.0).relu().backward()
    assert seen == [np.ndarray] and x.grad.item() == 6.0


def test_a_user_gate_can_ask_for_scalars():
    seen = []

    class Cube(Gate):
        """y = x**3;  dy/dx = 3 x**2"""
        scalars = True

        def forward(self, x):
            seen.append(type(x))
            self.save_for_backward(x)
            return x * x * x

        def backward(self, g):
            (x,) = self.saved
            seen.append(type(g))
            return g * 3 * x * x

    x = Tensor(2.0, dtype="float64", requires_grad=True)
    y = Cube.apply(x)
    y.backward()
    assert seen == [np.float64, np.float64]
    assert type(y.data) is np.ndarray and y.item() == 8.0 and x.grad.item() == 12.0
    a = Tensor(np.array([2.0, -1.0]), requires_grad=True)  # arrays stay arrays
    Cube.apply(a).sum().backward()
    assert seen[2:] == [np.ndarray, np.ndarray]
    np.testing.assert_array_equal(a.grad.numpy(), [12.0, 3.0])
    assert gradcheck(Cube.apply, [Tensor(np.float64(0.7), requires_grad=True)])


def test_a_wrong_scalar_gradient_is_still_caught():
    class Wrong(Gate):
        """Returns a float64 gradient for a float32 input."""
        scalars = True

        def forward(self, x):
            return x * 2

        def backward(self, g):
            return np.float64(g) * 2

    x = Tensor(1.0, requires_grad=True)
    with pytest.raises(ValueError, match=r"Wrong\.backward returned a float64 gradient for input 0"):
        Wrong.apply(x).backward()


def test_a_0d_leaf_gradient_accumulates_in_place_across_backward_calls():
    x = Tensor(np.float32(-0.5), requires_grad=True)
    (x * x + x).backward()  # 2x + 1 = 0.0
    first = x.grad.data
    assert first.item() == 0.0
    (x * 3.0).backward()
    (x * x).backward()  # 0 + 3 - 1
    assert x.grad.data is first and x.grad.item() == 2.0 and first.dtype == np.float32


def test_the_flag_is_not_inherited_a_subclass_that_writes_into_arrays_still_works():
    from tinygrad_sm.gates import ReLU

    class LeakyReLU(ReLU):
        """y = x (x > 0) or 0.1 x; writes into its arrays, so it must not get scalars."""

        def forward(self, x):
            self.save_for_backward(x)
            y = x.copy()
            y[x < 0] *= 0.1
            return y

        def backward(self, g):
            (x,) = self.saved
            gx = g.copy()
            gx[x < 0] *= 0.1
            return gx

    assert ReLU.scalars and not LeakyReLU.scalars
    x = Tensor(np.array(-2.0), requires_grad=True)
    y = LeakyReLU.apply(x)
    y.backward()
    assert y.item() == -0.2 and x.grad.item() == np.float64(0.1)


@pytest.mark.filterwarnings("error")
def test_0d_integer_tensors_wrap_around_as_arrays_do():
    """Integers stay arrays: NumPy checks integer scalars for overflow, and would warn."""
    a = Tensor(np.array(2**62))
    assert (a + a).item() == -(2**63) and (a * 4).item() == 0
    assert (-Tensor(np.array(-2**63))).item() == -(2**63)
