"""The public checking toolkit: gradcheck, numerical_grad and the Hypothesis strategies."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_sm as ts
from tinygrad_sm import Gate, Tensor
from tinygrad_sm.testing import (
    GradcheckError, GradcheckWarning, Values, broadcastable_shapes, class_targets, gradcheck, numerical_grad,
    shapes, tensors,
)

from .helpers import leaf


class Softplus(Gate):
    """y = log(1 + e**x);  dy/dx = sigmoid(x)"""

    def forward(self, x):
        self.save_for_backward(x)
        return np.logaddexp(0, x)

    def backward(self, g):
        (x,) = self.saved
        return g / (1 + np.exp(-x))


class WrongSoftplus(Softplus):
    def backward(self, g):
        (x,) = self.saved
        return g / (1 + np.exp(x))  # sign slip: sigmoid(-x)


def test_numerical_grad_is_central_differences():
    x = leaf([1.0, 2.0, -1.5])
    (g,) = numerical_grad(lambda x: (x ** 3).sum(), [x])
    np.testing.assert_allclose(g, 3 * x.numpy() ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0, -1.5])  # restored exactly


def test_numerical_grad_of_a_non_scalar_is_the_vector_jacobian_product():
    x = leaf([1.0, 2.0])
    v = np.array([2.0, -1.0])
    (g,) = numerical_grad(lambda x: x * x, [x], grad_output=v)
    np.testing.assert_allclose(g, v * 2 * x.numpy(), rtol=1e-8)


def test_gradcheck_passes_a_custom_gate_with_scalar_and_non_scalar_output():
    x = leaf(np.linspace(-2, 2, 7))
    assert gradcheck(Softplus.apply, [x])
    assert gradcheck(lambda x: Softplus.apply(x).sum(), [x])
    assert gradcheck(Softplus.apply, [x], mode="fast")


def test_gradcheck_names_the_input_and_the_elements():
    x = leaf(np.array([[0.5, -1.0], [2.0, 1.5]]), name="x")
    with pytest.raises(GradcheckError) as err:
        gradcheck(WrongSoftplus.apply, [x])
    msg = str(err.value)
    assert "input 0 ('x'), shape (2, 2)" in msg
    assert "analytic" in msg and "numerical" in msg and "abs err" in msg and "rel err" in msg
    assert "(1, 0)" in msg  # x = 2.0 has the largest missing term


def test_fast_mode_falls_back_to_the_full_report():
    x = leaf(np.linspace(-2, 2, 5), name="x")
    with pytest.raises(GradcheckError, match=r"input 0 \('x'\), shape \(5,\)"):
        gradcheck(WrongSoftplus.apply, [x], mode="fast")
    assert gradcheck(WrongSoftplus.apply, [x], mode="fast", raise_exception=False) is False


def test_gradcheck_leaves_the_callers_tensors_alone():
    x = leaf([1.0, 2.0])
    gradcheck(lambda x: x * x, [x])
    assert x.grad is None
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


def test_gradcheck_warns_about_float32():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(GradcheckWarning, match="float64"):
        ok = gradcheck(lambda x: x * 2, [x], raise_exception=False)
    assert not ok  # and rightly so: float32 rounding swamps a step of 1e-6


def test_gradcheck_needs_something_to_check():
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda x: x * 2, [Tensor([1.0])])
    with pytest.raises(ValueError, match="mode"):
        gradcheck(lambda x: x * 2, [leaf([1.0])], mode="quick")


def test_importing_the_library_does_not_import_hypothesis():
    code = "import sys, tinygrad_sm, tinygrad_sm.testing; sys.exit('hypothesis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@given(shapes(min_dims=1, max_dims=2))
def test_shapes_strategy(s):
    assert 1 <= len(s) <= 2 and all(1 <= n <= 4 for n in s)


@given(broadcastable_shapes(3))
def test_broadcastable_shapes_strategy(ss):
    assert len(ss) == 3
    np.broadcast_shapes(*ss)  # raises if they do not broadcast


@given(tensors(shape=(3, 2), min_value=-1, max_value=1))
def test_tensors_strategy(t):
    assert t.shape == (3, 2) and t.dtype == np.float64 and t.requires_grad
    assert (np.abs(t.numpy()) <= 1).all()


@given(tensors(shape=3), tensors(shape=[2, 3]), tensors(shape=shapes(min_dims=2, max_dims=2)))
def test_tensors_take_a_shape_as_hypothesis_does(a, b, c):
    assert a.shape == (3,) and b.shape == (2, 3) and c.ndim == 2


@given(tensors(dtype=np.float32, values=Values(avoid=(0.0,), margin=0.25)))
def test_tensors_keep_away_from_kinks(t):
    assert t.dtype == np.float32
    assert (np.abs(t.numpy()) >= 0.25 - 1e-6).all()


@given(tensors(values=Values(-1.0, 3.0, avoid=(-0.95, 0.0, 0.15, 3.0), margin=0.1)))
def test_kinks_are_avoided_inside_the_range_even_close_together(t):
    a = t.numpy()
    assert ((-1.0 <= a) & (a <= 3.0)).all()
    for p in (-0.95, 0.0, 0.15, 3.0):
        assert (np.abs(a - p) >= 0.1 - 1e-12).all()


@given(class_targets(6, 4))
def test_class_targets_strategy(y):
    assert y.shape == (6,) and y.dtype == np.int64 and ((0 <= y) & (y < 4)).all()


@given(tensors(values=Values(-4.0, 4.0)))
def test_a_users_property_test_in_a_few_lines(x):
    assert gradcheck(Softplus.apply, [x])


def test_gradcheck_takes_any_memory_layout_and_empty_inputs():
    fortran = ts.from_numpy(np.asfortranarray(np.random.default_rng(0).standard_normal((3, 4))))
    fortran.requires_grad_(True)
    for inputs in ([leaf(np.random.default_rng(1).standard_normal((4, 3)).T)], [fortran],
                   [leaf(np.zeros((0, 3))), leaf(np.ones(3))]):
        fn = (lambda a: a.tanh()) if len(inputs) == 1 else (lambda a, b: a * b)
        assert gradcheck(fn, inputs)
    ng = numerical_grad(lambda t: (t * t).sum(), [fortran])[0]
    np.testing.assert_allclose(ng, 2 * fortran.numpy(), atol=1e-6)


def test_gradcheck_leaves_the_grad_of_other_tensors_as_it_was():
    layer = ts.nn.Linear(3, 2, dtype="float64")
    x = leaf(np.random.default_rng(0).standard_normal((4, 3)))
    assert gradcheck(layer, [x]) and layer.weight.grad is None and layer.bias.grad is None
    layer.weight.grad = Tensor(np.ones((2, 3)))
    before = layer.weight.grad
    assert gradcheck(layer, [x], mode="fast")
    assert layer.weight.grad is before and (before.numpy() == 1).all()
    assert x.grad is None


def test_gradcheck_of_a_function_that_returns_its_input():
    x = leaf([1.0, -2.0])
    assert gradcheck(lambda a: a, [x]) and gradcheck(lambda a: a.astype("float64"), [x])


# -- found by review on 2026-12-02 ------------------------------------------------------------------
class _Square(Gate):
    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, g):
        (x,) = self.saved
        return g * 2 * x


class _SquareInPlaceBackward(_Square):
    def backward(self, g):
        (x,) = self.saved
        g *= 2 * x  # the bug: g may be shared (add hands one array to both inputs)
        return g


class _ShiftInPlaceForward(Gate):
    def forward(self, x):
        x -= x.max()  # the bug: writes into the caller's array
        return x * 1.0

    def backward(self, g):
        return g


def test_gradcheck_catches_a_backward_that_writes_into_its_upstream_gradient():
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match="wrote into its upstream gradient g in place"):
        gradcheck(_SquareInPlaceBackward.apply, [x])
    with pytest.raises(GradcheckError, match="wrote into its upstream gradient g in place"):
        gradcheck(lambda a: _SquareInPlaceBackward.apply(a) + _SquareInPlaceBackward.apply(a), [x])
    assert gradcheck(lambda a: _Square.apply(a) + _Square.apply(a), [x])


def test_gradcheck_catches_a_forward_that_writes_into_its_input():
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"fn changed input 0, shape \(3,\) in place"):
        gradcheck(_ShiftInPlaceForward.apply, [x])
    np.testing.assert_array_equal(x.numpy(), [0.5, -1.0, 2.0])  # (gradcheck works on copies)


def test_gradcheck_fails_where_the_gradients_are_nan_and_names_that():
    class WrongSqrt(Gate):
        def forward(self, x):
            self.save_for_backward(x)
            return np.sqrt(x)

        def backward(self, g):
            (x,) = self.saved
            return g * 7 / np.sqrt(x)  # 14x too large

    x = Tensor(np.array([-1.0, -2.0, -0.5]), requires_grad=True)
    with np.errstate(invalid="ignore"), pytest.raises(GradcheckError, match=r"3 NaN or inf: is the function defined"):
        gradcheck(WrongSqrt.apply, [x])


def test_gradcheck_warns_when_a_float64_check_goes_through_float32():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    with pytest.warns(GradcheckWarning, match="returns float32 from float64 inputs"):
        gradcheck(lambda t: t.float().tanh(), [x], raise_exception=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(lambda t: t.float().tanh(), [x], eps=2 ** -6, atol=1e-3, rtol=1e-2)


def test_gradcheck_says_fn_must_return_one_tensor():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    for bad in (lambda a: (a * 2, a * 3), lambda a: 1.5):
        with pytest.raises(TypeError, match="fn must return one Tensor, got"):
            gradcheck(bad, [x])
        with pytest.raises(TypeError, match="fn must return one Tensor, got"):
            numerical_grad(bad, [x])


@given(st.data())
def test_grid_values_keep_away_from_kinks_too(data):
    a = data.draw(tensors(shape=(3, 3), values=Values(-1.0, 1.0, grid=0.25, avoid=(0.0, 0.5)))).numpy()
    assert np.all(np.abs(a) >= 0.1) and np.all(np.abs(a - 0.5) >= 0.1)
    b = data.draw(tensors(shape=(6,), values=Values(-0.5, 0.5, grid=0.25, unique=True, avoid=(0.0,)))).numpy()
    assert len(set(b.tolist())) == 6 and 0.0 not in b.tolist()


@given(tensors(shape=(6, 6), values=Values(0.4, 0.6, avoid=(0.5,))))
def test_values_on_the_margins_edge_count_as_clear(x):
    """0.6 - 0.5 rounds to a hair under 0.1: a draw nudged there must not be thrown away (a
    range this narrow used to fail Hypothesis's health check)."""
    assert np.all(np.abs(x.numpy() - 0.5) >= 0.1 * (1 - 1e-9))


def test_a_range_given_twice_is_an_error():
    with pytest.raises(ValueError, match="give the range in values=Values"):
        tensors(min_value=0.5, max_value=5, values=Values(avoid=(1.0,)))


def test_a_gate_with_slots_can_be_copied_and_its_values_drawn(tmp_path):
    import copy
    import pickle

    class Slotted(Gate):
        __slots__ = ("k",)

        def __init__(self, k=2.0):
            self.k = k

        def forward(self, x):
            return x * self.k

        def backward(self, g):
            return g * self.k

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = Slotted.apply(x, k=3.0)
    c = copy.copy(y.grad_fn)
    assert c.k == 3.0 and c.seq > y.grad_fn.seq
    assert copy.deepcopy(y.grad_fn).k == 3.0
    from tinygrad_sm.viz import to_dot
    assert 'label="Slotted\\n= [3, 6]"' in to_dot(y)  # (recomputed through a copy of the gate)
    Slotted.__qualname__ = "Slotted"  # (picklable by name for the round trip below)
    globals()["Slotted"] = Slotted
    assert pickle.loads(pickle.dumps(y)).grad_fn.k == 3.0


def test_gradcheck_refuses_a_fn_that_ignores_its_arguments():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match="none of the inputs reaches fn's output"):
        gradcheck(lambda t: (x * 3).sum(), [x])
    assert gradcheck(lambda t: t, [x])  # (the input itself is a fine output)


def test_a_grid_with_no_point_in_its_range_says_so():
    from tinygrad_sm.testing import _values
    with pytest.raises(ValueError, match=r"no point of the grid 1.0 lies in \[0.1, 0.2\]"):
        _values((3,), Values(0.1, 0.2, grid=1.0), np.float64)  # (what tensors() draws through)


def test_gradcheck_takes_one_tensor_as_pytorch_does():
    assert gradcheck(lambda t: (t * t).sum(), leaf([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: Tensor(t.data.copy(), requires_grad=True).sum() + (t * 0).sum(),
                  leaf([[1.0, 2.0], [3.0, 4.0]]))


def test_a_gate_returning_several_outputs_is_told_at_the_forward():
    class Two(Gate):
        def forward(self, x):
            return x * 2, x * 3

        def backward(self, g):
            return g

    with pytest.raises(ts.GateError, match="Two.forward returned a tuple of 2; a gate has one output"):
        Two.apply(leaf([1.0, 2.0, 3.0]))


@given(st.data())
def test_unique_keeps_the_elements_apart_without_a_grid_too(data):
    a = data.draw(tensors(shape=(8,), values=Values(-3.0, 3.0, unique=True))).numpy()
    assert np.unique(a).size == a.size
    # a nudge off a kink moves every close value to the same p + margin: still apart
    b = data.draw(tensors(shape=(8,), values=Values(-1.0, 1.0, unique=True, avoid=(0.0,)))).numpy()
    assert np.unique(b).size == b.size and np.all(np.abs(b) >= 0.1 * (1 - 1e-9))
    c = data.draw(tensors(shape=(8,), dtype=np.float32, values=Values(0.0, 1e-6, unique=True))).numpy()
    assert np.unique(c).size == c.size  # (apart after rounding to float32 as well)


@given(st.data())
def test_an_offset_grid_stays_inside_its_range(data):
    a = data.draw(tensors(shape=(5,), values=Values(0.0, 2.0, grid=0.5, offset=-0.25))).numpy()
    assert np.all((a >= 0.0) & (a <= 2.0))
    b = data.draw(tensors(shape=(5,), values=Values(0.0, 1.0, grid=0.5, offset=0.25,
                                                    avoid=(0.75,), margin=0.1))).numpy()
    assert np.all(b == 0.25)  # (0.75 is a kink; 1.25 is out of range)


@given(st.data())
def test_a_domains_fixed_arguments_win_over_drawn_ones(data):
    from tinygrad_sm import Domain
    from tinygrad_sm.testing import gate_inputs

    class MeanOnlyLoss(Gate):
        domain = Domain("classification", attrs={"reduction": "mean"})

    class LastAxisSoftmax(Gate):
        domain = Domain("softmax", attrs={"axis": -1})

    assert data.draw(gate_inputs(MeanOnlyLoss)).attrs["reduction"] == "mean"
    assert data.draw(gate_inputs(LastAxisSoftmax)).attrs["axis"] == -1


def test_unbroadcast_refuses_a_gradient_that_is_not_the_inputs_and_names_the_gate():
    class ForgotTranspose(Gate):  # y = x.T, so dx = g.T
        def forward(self, x):
            return x.T.copy()

        def backward(self, g):
            return self.unbroadcast(g)  # (2, 3) for a (3, 2) input: same size, wrong shape

    class WrongSize(Gate):
        def forward(self, x):
            return 2 * x

        def backward(self, g):
            return self.unbroadcast(np.ones(3))

    x = Tensor(np.zeros((3, 2)), requires_grad=True)
    with pytest.raises(ts.GateError, match=r"ForgotTranspose.backward, input 0: .*\(2, 3\).*\(3, 2\)"):
        ForgotTranspose.apply(x).backward(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ts.GateError, match=r"WrongSize.backward, input 0: .*\(3,\).*\(2,\)"):
        WrongSize.apply(Tensor(np.ones(2), requires_grad=True)).sum().backward()
    assert x.grad is None


def test_unbroadcast_still_sums_over_broadcast_dimensions():
    from tinygrad_sm.gates.base import unbroadcast
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(unbroadcast(g, (3, 1)), g.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(unbroadcast(g, ()), g.sum())
    with pytest.raises(ValueError, match=r"\(4, 3\) does not broadcast to \(2, 3, 4\)"):
        unbroadcast(g, (4, 3))


def test_raise_exception_false_returns_false_for_every_failure_it_would_raise():
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    assert gradcheck(_SquareInPlaceBackward.apply, [x], raise_exception=False) is False
    assert gradcheck(_ShiftInPlaceForward.apply, [x], raise_exception=False) is False
    assert gradcheck(lambda t: (x * 3).sum(), [x], raise_exception=False) is False
    assert gradcheck(WrongSoftplus.apply, [x], raise_exception=False) is False
    with pytest.raises(ValueError, match="no input requires grad"):  # (a wrong call still raises)
        gradcheck(lambda t: t * 2, [Tensor([1.0])], raise_exception=False)


def test_gradcheck_catches_a_backward_that_writes_into_a_saved_input():
    class CubeSpoilsX(Gate):
        def forward(self, x):
            self.save_for_backward(x)
            return x ** 3

        def backward(self, g):
            (x,) = self.saved
            x *= 3.0  # the right gradient, g * 3x^2, through a changed x
            return g * x ** 2 / 3.0

    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"backward\(\) changed input 0, shape \(3,\) in place"):
        gradcheck(CubeSpoilsX.apply, [x])
    np.testing.assert_array_equal(x.numpy(), [0.5, -1.0, 2.0])


def test_gradcheck_fails_where_both_gradients_are_infinite():
    class Blowup(Gate):  # infinite on both sides, with the same sign: inf - inf used to pass
        def forward(self, x):
            return x * 1e300

        def backward(self, g):
            return g * np.inf

    x = Tensor(np.array([0.5, 1.0]), requires_grad=True)
    with np.errstate(over="ignore", invalid="ignore"), \
            pytest.raises(GradcheckError, match=r"2 of 2 .* \(2 NaN or inf: is the function defined"):
        gradcheck(Blowup.apply, [x], eps=1e10)


def test_gradchecks_warnings_point_at_the_callers_line():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(GradcheckWarning) as record:
        gradcheck(lambda x: x * 2, [x], raise_exception=False)
    assert record[0].filename == __file__


@given(st.data())
def test_unique_draws_large_inputs_without_throwing_most_away(data):
    """Uniqueness used to be a filter over whole arrays, after the nudge off the kinks: from about
    16 elements on, Hypothesis gave up (FailedHealthCheck)."""
    for dtype in (np.float64, np.float32):
        a = data.draw(tensors(shape=(4, 4, 4), dtype=dtype,
                              values=Values(-3.0, 3.0, avoid=(0.0, 1.0), unique=True))).numpy()
        assert a.dtype == dtype and np.unique(a).size == a.size
        assert np.all(np.abs(a) >= 0.1 * (1 - 1e-6)) and np.all(np.abs(a - 1) >= 0.1 * (1 - 1e-6))


@given(st.data())
def test_grid_points_stay_inside_the_range_where_the_division_rounds(data):
    a = data.draw(tensors(shape=(6,), values=Values(-1.7, 1.7, grid=0.1))).numpy()
    assert np.all((a >= -1.7) & (a <= 1.7))


def test_gradcheck_catches_a_backward_that_writes_into_a_tensor_fn_uses_and_puts_it_back():
    class ScaleSpoilsW(Gate):  # y = x * w; its backward spoils the saved w
        def forward(self, x, w):
            self.save_for_backward(x, w)
            return x * w

        def backward(self, g):
            x, w = self.saved
            w *= 3.0
            return g * w / 3.0, g * x

    w = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, name="w")  # (a layer's weight, say)
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"backward\(\) changed a tensor fn uses \('w'\), shape \(3,\)"):
        gradcheck(lambda t: ScaleSpoilsW.apply(t, w), [x])
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0, 3.0])
    assert w.grad is None
