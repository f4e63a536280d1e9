"""Tensor construction, attributes, dtype rules, conventions at kinks and ties, and error messages."""
import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import Tensor

from .helpers import leaf
from .test_gates import CASES


# -- construction and attributes ---------------------------------------------------------------
def test_float_data_defaults_to_float32_and_float64_on_request():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.zeros(3)).dtype == np.float64  # NumPy arrays keep their dtype, as in torch.tensor
    assert Tensor(np.zeros(3, dtype=np.float16)).dtype == np.float32
    assert Tensor([1.0], dtype="float64").dtype == np.float64
    assert Tensor([1.0], dtype=ts.float64).dtype == np.float64
    assert ts.from_numpy(np.zeros(3)).dtype == np.float64  # from_numpy keeps the array's dtype
    assert Tensor([1, 2]).dtype == np.int64
    assert Tensor([True]).dtype == np.bool_


def test_unsupported_dtypes_are_refused_clearly():
    with pytest.raises(TypeError, match="float32 or float64"):
        Tensor([1.0], dtype="float16")
    with pytest.raises(TypeError, match="cannot make a tensor"):
        Tensor(["a", "b"])


def test_tensor_copies_and_from_numpy_shares():
    a = np.array([1.0, 2.0], dtype=np.float32)
    t, s = ts.tensor(a), ts.from_numpy(a)
    a[0] = 9.0
    assert t.numpy()[0] == 1.0 and s.numpy()[0] == 9.0


def test_attributes():
    t = ts.randn(2, 3, requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and t.size() == (2, 3) and t.size(1) == 3
    assert t.numel() == 6 and t.dim() == 2 and len(t) == 2
    assert t.T.shape == (3, 2) and t.is_leaf and t.grad_fn is None and t.grad is None
    assert Tensor(3.5).item() == 3.5 and float(Tensor([2.0])) == 2.0
    with pytest.raises(ValueError, match="one element"):
        t.item()
    assert (t * 2).is_leaf is False


def test_repr_is_readable():
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.], dtype=float32)"
    x = Tensor([1.0], requires_grad=True, name="x")
    assert repr(x) == "Tensor([1.], dtype=float32, requires_grad=True, name='x')"
    assert repr(x * 2) == "Tensor([2.], dtype=float32, grad_fn=<MulConst>)"
    assert repr(x * x) == "Tensor([1.], dtype=float32, grad_fn=<Mul>)"


def test_constructors():
    assert ts.zeros(2, 3).numpy().tolist() == [[0, 0, 0], [0, 0, 0]]
    assert ts.ones((2,), dtype="float64").dtype == np.float64
    assert ts.full((2, 2), 7.0).numpy().sum() == 28.0
    assert ts.arange(4).dtype == np.int64 and ts.arange(0.0, 1.0, 0.25).dtype == np.float32
    np.testing.assert_array_equal(ts.eye(3).numpy(), np.eye(3))
    like = ts.zeros_like(Tensor([[1.0, 2.0]], dtype="float64"))
    assert like.shape == (1, 2) and like.dtype == np.float64
    assert ts.ones_like(Tensor([1, 2])).dtype == np.int64
    assert ts.randint(0, 10, (5,)).dtype == np.int64


def test_torch_tensors_shape_constructor_habit_gets_a_clear_error():
    with pytest.raises(TypeError, match=r"requires_grad must be True or False, got 3.*ts.zeros\(2, 3\)"):
        Tensor(2, 3)


def test_constructors_take_numpy_integer_sizes_and_arange_a_step_without_a_start():
    n = np.int64(3)
    assert ts.full(n, 2.0).shape == (3,) and ts.randint(0, 5, n).shape == (3,) and ts.zeros(n).shape == (3,)
    np.testing.assert_array_equal(ts.arange(5, step=2).numpy(), np.arange(0, 5, 2))  # as NumPy's
    np.testing.assert_array_equal(ts.arange(1.0, step=0.25).numpy(), [0.0, 0.25, 0.5, 0.75])


def test_random_constructors_are_seedable():
    ts.manual_seed(7)
    a = ts.randn(3, 2)
    ts.manual_seed(7)
    b = ts.randn(3, 2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(ts.rand(4, generator=1).numpy(), ts.rand(4, generator=1).numpy())
    assert a.dtype == np.float32 and ts.randn(2, dtype="float64").dtype == np.float64
    r = ts.rand(1000, generator=0).numpy()
    assert r.min() >= 0 and r.max() < 1


def test_numpy_interop():
    t = Tensor([1.0, 2.0])
    assert np.allclose(t, [1.0, 2.0])
    out = np.array([1.0, 1.0], dtype=np.float32) + leaf([1.0, 2.0])  # NumPy hands the op to the Tensor
    assert isinstance(out, Tensor) and out.requires_grad


# -- dtype rules ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,fn,ref,arrays", [c for c in CASES if c[0] != "cast"],
                         ids=[c[0] for c in CASES if c[0] != "cast"])
def test_float32_stays_float32_through_every_op_and_gradient(name, fn, ref, arrays):
    ins = [Tensor(a, dtype="float32", requires_grad=True) for a in arrays]
    out = fn(*ins)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in ins:
        assert t.grad.dtype == np.float32 and t.grad.shape == t.shape


def test_python_scalars_do_not_upcast():
    x = Tensor([1.0, 2.0])
    for y in (x * 2.0, 2.0 * x, x + 1, x / 3.0, x ** 2, 1.0 - x, x.maximum(0.5), x.clip(0.0, 1.0)):
        assert y.dtype == np.float32
    assert (Tensor([1, 2]) * 0.5).dtype == np.float64  # int tensors follow NumPy
    assert (Tensor([1, 2]) * 2).dtype == np.int64


@np.errstate(over="ignore")  # 3e38 * 1.5 is inf, in float32 as in NumPy
def test_a_number_operand_records_a_constant_gate_with_the_same_result():
    x = Tensor(np.array([-0.0, 0.5, -2.0, 3e38], np.float32), requires_grad=True)
    cases = ((x + 0.25, x.data + np.float32(0.25), "AddConst"), (0.25 + x, x.data + np.float32(0.25), "AddConst"),
             (x - 3, x.data - np.float32(3), "AddConst"), (x * 1.5, x.data * np.float32(1.5), "MulConst"),
             (-2 * x, x.data * np.float32(-2), "MulConst"), (x * x, x.data * x.data, "Mul"))
    for y, ref, op in cases:
        assert y.grad_fn.name == op and y.dtype == np.float32
        np.testing.assert_array_equal(y.numpy(), ref)  # bit for bit, inf included (3e38 * 1.5)
    # the sign of zero survives: -0.0 - 0.0 is -0.0, -0.0 + 0.0 is +0.0, -0.0 * 1 stays -0.0
    assert np.signbit((x - 0.0).data[0]) and not np.signbit((x + 0.0).data[0]) and np.signbit((x * 1).data[0])
    assert np.signbit((x - 0).data[0])  # an int zero too: -0.0 - 0 is -0.0 in NumPy
    assert not np.signbit((x * -0.0).data[2]) and np.signbit((x * -0.0).data[1])
    assert np.isnan((x * float("nan")).data).all() and np.isnan((x + float("nan")).data).all()
    ((x * 3.0 + 1) * -0.5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(4, -1.5, np.float32))
    # the constants are shared NumPy scalars (immutable) of the tensor's dtype, never of another
    x64 = Tensor([1.0], dtype="float64", requires_grad=True)
    c32, c64 = (x * 0.1).grad_fn.c, (x64 * 0.1).grad_fn.c
    assert type(c32) is np.float32 and type(c64) is np.float64
    assert (x * 0.1).grad_fn.c is c32 and (x64 * 0.1).numpy()[0] == 0.1
    # integer tensors keep NumPy's promotion (no constant gate: they never record a graph)
    assert (Tensor([1, 2]) + 0.5).dtype == np.float64 and (Tensor([1, 2]) - 1).dtype == np.int64


def test_mixing_float32_and_float64_follows_numpy():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    c = a * b
    assert c.dtype == np.float64
    c.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])


# -- conventions at kinks and ties ----------------------------------------------------------------
def grad_of(fn, values):
    x = leaf(values)
    fn(x).sum().backward()
    return x.grad.numpy()


def test_relu_and_abs_have_zero_gradient_at_zero():
    np.testing.assert_array_equal(grad_of(lambda x: x.relu(), [-1.0, 0.0, 2.0]), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(grad_of(lambda x: x.abs(), [-1.0, 0.0, 2.0]), [-1.0, 0.0, 1.0])


def test_binary_maximum_and_minimum_split_ties_in_half():
    x, y = leaf([1.0, 2.0, 3.0]), leaf([1.0, 5.0, 0.0])
    ts.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(y.grad.numpy(), [0.5, 1.0, 0.0])
    x, y = leaf([1.0, 2.0]), leaf([1.0, 5.0])
    ts.minimum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 1.0])


def test_max_reduction_shares_gradient_equally_among_tied_winners():
    np.testing.assert_array_equal(grad_of(lambda x: x.max(), [3.0, 1.0, 3.0, 3.0]), [1 / 3, 0, 1 / 3, 1 / 3])
    np.testing.assert_array_equal(grad_of(lambda x: x.max(axis=1), [[2.0, 2.0], [1.0, 0.0]]), [[0.5, 0.5], [1, 0]])
    np.testing.assert_array_equal(grad_of(lambda x: x.min(axis=0), [[2.0, 2.0], [2.0, 0.0]]), [[0.5, 0], [0.5, 1]])


def test_clip_passes_the_gradient_at_its_bounds():
    np.testing.assert_array_equal(grad_of(lambda x: x.clip(0.0, 1.0), [-0.5, 0.0, 0.5, 1.0, 1.5]), [0, 1, 1, 1, 0])


def test_sqrt_and_pow_at_zero():
    with np.errstate(divide="ignore"):
        assert np.isinf(grad_of(lambda x: x.sqrt(), [0.0]))[0]
    np.testing.assert_array_equal(grad_of(lambda x: x ** 0, [0.0, 2.0]), [0.0, 0.0])
    x, y = leaf([0.0]), leaf([2.0])
    (x ** y).sum().backward()
    assert y.grad.item() == 0.0 and x.grad.item() == 0.0
    x, y = leaf([0.0, 2.0]), leaf([0.0, 0.0])  # x**0 is 1 for every x: dz/dx = 0, also at x = 0
    (x ** y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, np.log(2.0)])


def test_log_of_a_negative_number_is_nan_like_numpy():
    with np.errstate(invalid="ignore"):
        assert np.isnan(Tensor([-1.0]).log().item())


# -- non-differentiable ops -------------------------------------------------------------------------
def test_comparisons_and_argmax_give_non_differentiable_tensors():
    x = leaf([1.0, 3.0, 2.0])
    for c in (x < 2, x > 2, x == 3, x <= 2, x >= 2, x != 1):
        assert c.dtype == np.bool_ and not c.requires_grad
    assert (x > 1.5).tolist() == [False, True, True]
    am = x.argmax()
    assert am.item() == 1 and am.dtype == np.int64 and not am.requires_grad
    assert Tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(axis=1).tolist() == [1, 0]
    assert Tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(dim=0, keepdim=True).shape == (1, 2)


def test_pytorch_style_dim_and_keepdim_aliases():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    assert x.mean(dim=0).tolist() == [1.5, 2.5, 3.5]
    with pytest.raises(TypeError, match="axis or dim"):
        x.sum(axis=0, dim=1)


def test_getitem_accepts_tensors_and_repeats_accumulate():
    x = leaf([1.0, 2.0, 3.0])
    idx = Tensor([0, 0, 2, 0])
    x[idx].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])
    x = leaf([1.0, 2.0, 3.0])
    x[x.numpy() > 1.5].sum().backward()  # boolean mask
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0])


# -- clear errors ---------------------------------------------------------------------------------------
def test_mismatched_shapes_name_the_op_and_both_shapes():
    with pytest.raises(ValueError, match=r"Add.*\(3, ?4\).*\(5, ?\)"):
        Tensor(np.ones((3, 4))) + Tensor(np.ones(5))
    with pytest.raises(ValueError, match=r"Mul.*\(2, ?3\).*\(3, ?2\)"):
        leaf(np.ones((2, 3))) * Tensor(np.ones((3, 2)))


def test_matmul_inner_dimension_error():
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 6\).*inner dimensions 4 and 5"):
        Tensor(np.ones((3, 4))) @ Tensor(np.ones((5, 6)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        Tensor(2.0) @ Tensor(np.ones(3))


def test_shape_op_errors():
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*6 elements.*\(4, 2\)"):
        Tensor(np.ones((2, 3))).reshape(4, 2)
    with pytest.raises(ValueError, match=r"expand.*\(2, 3\).*\(4, 3\)"):
        Tensor(np.ones((2, 3))).expand(4, 3)
    with pytest.raises(ValueError, match="squeeze.*size 3"):
        Tensor(np.ones((2, 3))).squeeze(1)
    with pytest.raises(ValueError, match="cat"):
        ts.cat([Tensor(np.ones((2, 3))), Tensor(np.ones((3, 3)))], axis=1)
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        Tensor(np.ones((2, 3))).sum(axis=2)
    with pytest.raises(IndexError, match="GetItem"):
        Tensor(np.ones(3))[5]


# -- PyTorch's rules at the edges (dims, dtypes, empty and 0-d tensors) ---------------------------
def test_softmax_methods_take_dim_as_well_as_axis():
    x = Tensor([[1.0, 2.0], [3.0, 5.0]])
    for f in (Tensor.softmax, Tensor.log_softmax, ts.softmax, ts.log_softmax):
        np.testing.assert_array_equal(f(x, dim=0).numpy(), f(x, 0).numpy())
        np.testing.assert_array_equal(f(x).numpy(), f(x, dim=-1).numpy())
        assert not np.array_equal(f(x, dim=0).numpy(), f(x).numpy())
        with pytest.raises(TypeError, match="axis or dim"):
            f(x, 0, dim=1)
    np.testing.assert_array_equal(ts.logsumexp(x, dim=1).numpy(), x.logsumexp(axis=1).numpy())
    assert ts.logsumexp(x, dim=0, keepdim=True).shape == (1, 2)


@pytest.mark.parametrize("dim", [None, 0, -1])
def test_softmax_of_a_0d_tensor_is_one_along_dim_0_or_minus_1(dim):
    """PyTorch's rule: a 0-d tensor is one element along dim 0 (or -1); softmax 1, log_softmax 0,
    and the gradient through either is 0."""
    for f, want in ((Tensor.softmax, 1.0), (Tensor.log_softmax, 0.0)):
        x = Tensor(2.5, requires_grad=True)
        y = f(x) if dim is None else f(x, dim=dim)
        assert y.shape == () and y.item() == want
        y.backward()
        assert x.grad.item() == 0.0
    with pytest.raises(np.exceptions.AxisError):
        Tensor(2.5).softmax(dim=1)


@pytest.mark.parametrize("op", [lambda a, b: a * b, lambda a, b: b * a, lambda a, b: a - b,
                                lambda a, b: b / a, lambda a, b: a ** b, lambda a, b: b ** a,
                                lambda a, b: a.maximum(b), lambda a, b: ts.minimum(b, a)])
def test_a_float32_tensor_beside_an_integer_one_stays_float32(op):
    a = Tensor([1.5, 2.0], requires_grad=True)
    for b in (Tensor([1, 2]), np.array([1, 2]), Tensor([True, False])):
        out = op(a, b)
        assert out.dtype == np.float32  # NumPy alone would give float64 for int64
        out.sum().backward()
        assert a.grad.dtype == np.float32
        a.grad = None
    assert (Tensor([1, 2]) * Tensor([3, 4])).dtype == np.int64  # integers alone stay integers


def test_a_numpy_float64_exponent_keeps_float32():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x ** np.float64(2.0)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_flatten_checks_its_dims():
    x = Tensor(np.ones((2, 3, 4)))
    assert x.flatten(1).shape == (2, 12) and x.flatten(0, 1).shape == (6, 4)
    assert x.flatten(-2, -1).shape == (2, 12) and x.flatten(1, 1).shape == (2, 3, 4)
    assert Tensor(1.0).flatten().shape == (1,) and Tensor(1.0).flatten(0, -1).shape == (1,)
    with pytest.raises(ValueError, match="start_dim 2 comes after end_dim 1"):
        x.flatten(2, 1)
    with pytest.raises(np.exceptions.AxisError, match="flatten: axis 5"):
        x.flatten(5)
    with pytest.raises(np.exceptions.AxisError, match="flatten: axis 1"):
        Tensor(1.0).flatten(1)


def test_squeeze_checks_its_dims_and_takes_dim_0_of_a_0d_tensor():
    x = Tensor(np.ones((3, 1)))
    assert x.squeeze(-1).shape == (3,) and x.squeeze(1).shape == (3,)
    with pytest.raises(np.exceptions.AxisError, match="squeeze: axis 5"):
        x.squeeze(5)  # (not wrapped around to axis 1)
    assert Tensor(1.0).squeeze(0).shape == () and Tensor(1.0).squeeze(-1).shape == ()
    with pytest.raises(np.exceptions.AxisError, match="squeeze: axis 1"):
        Tensor(1.0).squeeze(1)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
def test_reducing_a_0d_tensor_over_dim_0_gives_it_back(name):
    x = leaf(2.5)
    for axis in (0, -1, (0,)):
        out = getattr(x, name)(axis=axis)
        assert out.shape == () and out.item() == pytest.approx(2.5)
        assert getattr(x, name)(axis=axis, keepdims=True).shape == ()
    out.backward()
    assert x.grad.item() == pytest.approx(1.0)
    with pytest.raises(np.exceptions.AxisError, match="axis 1"):
        getattr(x, name)(axis=1)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_along_a_dim_give_values_and_indices_as_in_pytorch(name, torch):
    data = np.array([[1.0, 5.0, 5.0, 2.0], [7.0, 0.0, 3.0, 0.0], [4.0, 4.0, 4.0, 9.0]])
    for args, kw in (((1,), {}), ((), {"dim": 0}), ((-1, True), {}), ((), {"dim": 1, "keepdim": True})):
        x, tx = leaf(data), torch.tensor(data, requires_grad=True)
        got, want = getattr(x, name)(*args, **kw), getattr(tx, name)(*args, **kw)
        values, indices = got  # (unpacks, as PyTorch's pair does)
        np.testing.assert_array_equal(values.numpy(), want.values.detach().numpy())
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        assert indices.dtype == np.int64 and not indices.requires_grad
        values.sum().backward()
        want.values.sum().backward()  # (PyTorch sends it all to its chosen index; this splits ties)
        assert x.grad.numpy().sum() == pytest.approx(tx.grad.numpy().sum()) == values.size
    x = leaf(data)
    assert getattr(x, name)().shape == () and getattr(x, name)(axis=1).shape == (3,)  # values only
    np.testing.assert_array_equal(getattr(x, "a" + name)(1).numpy(), getattr(x, name)(axis=1).numpy())
    np.testing.assert_array_equal(getattr(x, name)(Tensor(np.full(4, 3.0))).numpy(),
                                  getattr(np, name + "imum")(data, 3.0))
    with pytest.raises(TypeError, match="one dim as an int"):
        getattr(x, name)((0, 1))


def test_max_over_a_non_empty_axis_of_an_empty_tensor_is_empty():
    x = leaf(np.zeros((0, 3)))
    m = x.max(axis=1)
    assert m.shape == (0,)
    m.sum().backward()
    assert x.grad.shape == (0, 3)
    for f in (lambda: x.max(axis=0), lambda: x.max(), lambda: x.min(0)):
        with pytest.raises(ValueError, match="empty"):
            f()


@pytest.mark.parametrize("shape", [(3, 0), (0, 3), (0,)])
def test_softmax_of_an_empty_tensor_is_empty(shape):
    for f in (Tensor.softmax, Tensor.log_softmax):
        x = leaf(np.zeros(shape))
        y = f(x)
        assert y.shape == shape
        (y * 2.0).sum().backward()
        assert x.grad.shape == shape


def test_an_empty_list_index_selects_nothing():
    x = leaf(np.arange(6.0).reshape(3, 2))
    y = x[[]]
    assert y.shape == (0, 2)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 2)))


def test_cat_and_stack_give_integer_tensors_the_floats_dtype():
    f, i = leaf(np.ones(2), dtype="float32"), Tensor([3, 4])
    for out in (ts.cat([f, i]), ts.stack([i, f]), ts.cat([f, Tensor([True, False])])):
        assert out.dtype == np.float32
        out.sum().backward()
        assert f.grad.dtype == np.float32
    assert ts.cat([i, i]).dtype == np.int64


def test_flatten_and_mean_of_empty_tensors():
    x = leaf(np.zeros((0, 3, 4)))
    assert x.flatten(1).shape == (0, 12) and x.flatten().shape == (0,)
    with np.errstate(all="raise"):
        m = x.mean(axis=0)
        np.testing.assert_array_equal(m.numpy(), np.full((3, 4), np.nan))
        m.sum().backward()
        assert x.grad.shape == (0, 3, 4)
        assert np.isnan(x.mean().item()) and x.mean(axis=1).shape == (0, 4)
        assert Tensor(np.zeros((0, 2), np.int64)).mean().dtype == np.float64


def test_pytorch_names_clone_t_to_cpu_and_masks(torch):
    x = leaf(np.array([[1.0, -0.0], [3.0, 4.0]]))
    c = x.clone()
    assert c.data is not x.data and np.signbit(c.numpy()[0, 1]) and c.requires_grad
    (c * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 2.0))
    ints = Tensor([1, 2])
    assert ints.clone().data is not ints.data and ints.clone().dtype == np.int64
    np.testing.assert_array_equal(x.t().numpy(), x.numpy().T)
    assert Tensor([1.0, 2.0]).t().shape == (2,)
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        Tensor(np.ones((2, 2, 2))).t()
    assert x.to("cpu") is x and x.cpu() is x and x.to("float64") is x
    v = np.array([-1.0, 0.5, 2.0, 3.0])
    a, ta = Tensor(v), torch.tensor(v)
    for mine, theirs in ((a > 0) & (a < 2.5), (ta > 0) & (ta < 2.5)), ((a < 0) | (a > 2), (ta < 0) | (ta > 2)), \
            (~(a > 0), ~(ta > 0)), ((a > 0) ^ (a > 1), (ta > 0) ^ (ta > 1)):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    with pytest.raises(TypeError, match="compare first"):
        a & a
    y = x * 3
    y.backward(gradient=np.ones((2, 2)))
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 5.0))


def test_set_grad_enabled_as_a_call_and_as_a_block():
    with ts.set_grad_enabled(False):
        assert not ts.is_grad_enabled()
        with ts.set_grad_enabled(True):
            assert (leaf(1.0) * 2).requires_grad
        assert not ts.is_grad_enabled()
    assert ts.is_grad_enabled()
    ts.set_grad_enabled(False)  # (a plain call sets it, as in PyTorch)
    try:
        assert not (leaf(1.0) * 2).requires_grad
    finally:
        ts.set_grad_enabled(True)
    assert ts.is_grad_enabled()


def test_amax_of_no_dims_reduces_all_and_max_refuses_a_bool_dim_and_to_takes_device():
    x = Tensor([[5.0, 5.0, 1.0]])
    assert x.amax(()).item() == 5.0 and x.amin(()).item() == 1.0  # (as torch.amax(dim=()))
    with pytest.raises(TypeError, match="one dim as an int"):
        x.max(True)
    assert x.to(device="cpu") is x and x.to("float64", device="cpu").dtype == np.float64
    with pytest.raises(ValueError, match="CPU only"):
        x.to(device="cuda")
    assert ts.nn.Linear(2, 2).cpu().weight.dtype == np.float32


def test_set_grad_enabled_reentered_and_as_a_decorator():
    ctx = ts.set_grad_enabled(False)
    with ctx:
        assert not ts.is_grad_enabled()
    assert ts.is_grad_enabled()
    with ctx:  # (the same object again: off again)
        assert not (leaf(1.0) * 2).requires_grad
    assert ts.is_grad_enabled()

    @ts.set_grad_enabled(False)
    def predict():
        return (leaf(1.0) * 2).requires_grad

    assert ts.is_grad_enabled() and predict() is False and ts.is_grad_enabled()
    with pytest.raises(TypeError, match="True or False"):
        ts.set_grad_enabled(None)
    assert ts.is_grad_enabled()


def test_an_empty_dim_reduces_every_dim_as_in_pytorch_and_to_takes_device_and_dtype(torch):
    data = np.array([[5.0, 5.0, 1.0], [2.0, 7.0, 0.0]])
    x, tx = Tensor(data), torch.tensor(data)
    for empty in ((), []):
        assert x.amax(empty).item() == tx.amax(dim=empty).item()
        assert x.amin(empty).item() == tx.amin(dim=empty).item()
        assert x.sum(dim=empty).item() == pytest.approx(tx.sum(dim=empty).item())
        assert x.mean(dim=empty).item() == pytest.approx(tx.mean(dim=empty).item())
    assert x.sum(axis=()).shape == (2, 3)  # (NumPy's spelling keeps NumPy's meaning: nothing reduced)
    assert Tensor(np.zeros((2, 1, 3))).squeeze(dim=()).shape == (2, 1, 3)  # (not a reduction: nothing)
    assert x.to("cpu", "float32").dtype == x.to(device="cpu", dtype="float32").dtype == np.float32
    net = ts.nn.Linear(2, 2)
    assert net.to(device="cpu") is net and net.to("cpu", "float64").weight.dtype == np.float64
    with pytest.raises(ValueError, match="CPU only"):
        net.to("cuda")


def test_python_floats_beside_a_float64_tensor_stay_exact():
    """Lists and tuples of Python floats take the tensor's dtype, read once as float64: beside a
    float64 tensor, 0.1 must not pass through float32 on the way."""
    x = Tensor(np.zeros(2), requires_grad=True)
    np.testing.assert_array_equal((x + [0.1, 0.2]).numpy(), [0.1, 0.2])
    np.testing.assert_array_equal((x * (0.1, 0.3)).numpy(), [0.0, 0.0])
    loss = ts.functional.mse_loss(x, [0.1, 0.2], reduction="sum")
    loss.backward()
    assert loss.item() == (0.1 ** 2 + 0.2 ** 2)
    np.testing.assert_array_equal(x.grad.numpy(), [-0.2, -0.4])
    np.testing.assert_array_equal(ts.cat([x, [0.1]]).numpy(), [0.0, 0.0, 0.1])
    np.testing.assert_array_equal(ts.stack([x, [0.1, 0.7]])[1].numpy(), [0.1, 0.7])
    f = Tensor(np.zeros(2, np.float32))
    assert (f + [0.1, 0.2]).dtype == np.float32 and ts.cat([f, [0.1]]).dtype == np.float32


def test_iterating_gives_rows_and_a_0d_tensor_refuses(torch):
    rows = list(ts.arange(6.0).reshape(2, 3))
    assert [r.numpy().tolist() for r in rows] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(Tensor(2.5))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(torch.tensor(2.5))  # (PyTorch's words)


def test_logsumexp_with_an_empty_dim_reduces_every_dim_as_the_method_does():
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3)))
    for dim in ((), []):
        assert ts.functional.logsumexp(x, dim=dim).shape == () == x.logsumexp(dim=dim).shape
        np.testing.assert_allclose(ts.functional.logsumexp(x, dim=dim).item(), np.log(np.exp(x.numpy()).sum()))


def test_max_and_min_send_the_gradient_to_a_nan_as_pytorch_does(torch):
    a = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])
    for op in ("max", "min"):
        t, tt = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        getattr(t, op)().backward()
        getattr(tt, op)().backward()
        np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())
        t, tt = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        getattr(t, op)(1)[0].sum().backward()
        getattr(tt, op)(1)[0].sum().backward()
        np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())


def test_like_functions_follow_the_float32_rule_for_python_floats():
    assert ts.zeros_like([1.0, 2.0]).dtype == np.float32 == ts.ones_like([[1.5]]).dtype
    assert ts.zeros_like(np.zeros(2)).dtype == np.float64 and ts.ones_like([1, 2]).dtype == np.int64


@pytest.mark.parametrize("index", [((0, 0),), (slice(None), (1, 1)), (range(2), 0), ((1, 0, 1), [2, 2, 0])],
                         ids=["tuple", "slice-tuple", "range", "tuple-list"])
def test_an_index_holding_a_tuple_or_range_adds_the_gradients_of_repeated_elements(index, torch):
    """NumPy reads a tuple or range inside an index as an integer array: an element picked twice
    gets both gradients, as with a list."""
    data = np.arange(12.0).reshape(3, 4)
    x, tx = leaf(data), torch.tensor(data, requires_grad=True)
    g = np.random.default_rng(0).standard_normal(data[index].shape)
    x[index].backward(g)
    tindex = tuple(list(i) if isinstance(i, (tuple, range)) else i for i in index)
    tx[tindex].backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_clip_takes_tensor_bounds_that_need_no_gradient_and_refuses_the_others():
    x = leaf([-1.0, 0.5, 3.0])
    lo = Tensor(np.zeros(3))
    np.testing.assert_array_equal(x.clamp(min=lo, max=1.0).numpy(), [0.0, 0.5, 1.0])
    with pytest.raises(TypeError, match="the min bound requires grad.*x.maximum\\(lo\\).minimum\\(hi\\)"):
        x.clip(min=leaf([0.0, 0.0, 0.0]))
    with pytest.raises(ts.GateError, match=r"would change the input's shape \(3,\) to \(2, 3\)"):
        x.clip(min=np.zeros((2, 3)))


def test_grad_takes_a_matching_tensor_or_none(torch):
    """A NumPy array as .grad used to take no gradient (backward's adds went into a view of it)."""
    x = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="grad must be a Tensor or None, got a ndarray"):
        x.grad = np.zeros(2)
    with pytest.raises(ValueError, match=r"assigned grad is \(3,\) float64, but the tensor is \(2,\) float64"):
        x.grad = Tensor(np.zeros(3))
    with pytest.raises(ValueError, match="assigned grad is"):
        x.grad = Tensor(np.zeros(2, np.float32))
    x.grad = Tensor(np.array([10.0, 20.0]))
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [12.0, 22.0])
    x.grad = None
    assert x.grad is None


def test_format_index_and_in_as_pytorch(torch):
    loss = Tensor(np.float32(1.23456))
    assert f"{loss:.3f}" == f"{torch.tensor(1.23456):.3f}" == "1.235"
    assert f"{Tensor([1.0, 2.0])}" == str(Tensor([1.0, 2.0]))
    names = ["cat", "dog", "cow"]
    assert names[Tensor(np.array([0.1, 0.9, 0.3])).argmax()] == "dog"
    assert list(range(Tensor(np.array(3)))) == [0, 1, 2]
    with pytest.raises(TypeError, match="only a one-element integer tensor can be an index"):
        names[Tensor(1.0)]
    assert 2 in Tensor(np.array([[1, 2]])) and 5 not in Tensor(np.array([[1, 2]]))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # (NumPy's note on np.matrix)
def test_from_numpy_of_an_ndarray_subclass_computes_as_an_ndarray():
    m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    t = ts.from_numpy(m)
    np.testing.assert_array_equal((t * t).numpy(), [[1.0, 4.0], [9.0, 16.0]])  # elementwise, not m @ m
    assert t.sum(1).shape == (2,)
    m[0, 0] = 5.0
    assert t.numpy()[0, 0] == 5.0  # (memory still shared)
    np.testing.assert_array_equal((Tensor([[1.0, 1.0], [1.0, 1.0]], dtype="float64") * m).numpy(),
                                  [[5.0, 2.0], [3.0, 4.0]])


def test_zero_and_fill_on_a_leaf_that_requires_grad_name_themselves():
    with pytest.raises(RuntimeError, match=r"^zero_\(\) is not recorded"):
        leaf([1.0]).zero_()
    with pytest.raises(RuntimeError, match=r"^fill_\(\) is not recorded"):
        leaf([1.0]).fill_(2.0)


def test_big_endian_arrays_keep_their_dtype_and_values():
    """A '>f8' array (from a file written elsewhere) is float64 data: it used to become float32."""
    a = np.array([1.5, 2.25, 1e300], dtype=">f8")
    for t in (ts.Tensor(a), ts.tensor(a), ts.Tensor(a, dtype=">f8")):
        assert t.dtype == np.float64 and t.data.dtype.isnative
        np.testing.assert_array_equal(t.data, [1.5, 2.25, 1e300])
    assert ts.Tensor(np.array([3, 4], dtype=">i4")).dtype == np.int32
    with pytest.raises(TypeError, match="not in this machine's byte order.*ts.tensor"):
        ts.from_numpy(a)  # (sharing its memory would mean keeping the foreign order)


def test_a_big_endian_array_as_the_other_operand_works_as_a_native_one():
    x = ts.Tensor(np.ones((1, 3)), requires_grad=True)
    be = np.arange(3.0).reshape(3, 1).astype(">f8")
    np.testing.assert_array_equal((x @ be).numpy(), (x @ be.astype("f8")).numpy())
    np.testing.assert_array_equal((ts.Tensor(np.ones(2, np.float32)) * np.ones(2, ">f4")).numpy(), [1, 1])


def test_int_and_bool_convert_as_in_pytorch(torch):
    x = np.array([[1.7, -2.7], [0.0, -0.0], [3.0, 1e-30]], np.float32)
    for name, dtype in (("int", np.int32), ("bool", np.bool_), ("long", np.int64)):
        got, want = getattr(ts.Tensor(x), name)(), getattr(torch.from_numpy(x), name)().numpy()
        assert got.dtype == dtype == want.dtype
        np.testing.assert_array_equal(got.numpy(), want)
    assert not ts.Tensor(x, requires_grad=True).int().requires_grad


def test_assigning_requires_grad_is_checked_as_requires_grad_is():
    ints = ts.tensor([1, 2, 3])
    with pytest.raises(TypeError, match="only float tensors can require grad; this one is int64"):
        ints.requires_grad = True  # (the flag used to be kept, then dropped by the first op)
    assert ints.requires_grad is False
    w = ts.tensor([1.0, 2.0])
    w.requires_grad = True
    y = w * w
    with pytest.raises(RuntimeError, match="switched off on a leaf"):
        y.requires_grad = False
    y.requires_grad = True  # (already so: nothing to change, as in PyTorch)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])
    w.requires_grad = np.bool_(False)
    assert w.requires_grad is False and not (w * 2.0).requires_grad


def test_requires_grad_takes_a_bool_only():
    t = ts.tensor([1.0])
    for bad in ("False", None, 1):
        with pytest.raises(TypeError, match="requires_grad must be True or False"):
            t.requires_grad = bad
        with pytest.raises(TypeError, match="requires_grad must be True or False"):
            t.requires_grad_(bad)
    assert t.requires_grad is False


def test_a_tensor_pickled_when_requires_grad_was_a_plain_slot_still_loads():
    import copyreg
    import pickle
    for flag in (False, True):  # (the state an older tinygrad_sm pickled: the slot under its old name)
        old = {"data": np.array([1.0, 2.0]), "_grad": None, "requires_grad": flag, "_gate": None, "name": "w"}
        t = copyreg.__newobj__(ts.Tensor)
        t.__setstate__((None, old))
        assert t.requires_grad is flag and t.name == "w" and t.grad is None
        back = pickle.loads(pickle.dumps(t))
        assert back.requires_grad is flag and np.array_equal(back.numpy(), [1.0, 2.0])
    p = pickle.loads(pickle.dumps(ts.nn.Parameter(np.ones(2))))
    assert type(p) is ts.nn.Parameter and p.requires_grad


def test_where_and_masked_fill_route_the_gradient_as_pytorch(torch):
    rng = np.random.default_rng(0)
    xa, ya = rng.normal(size=(2, 3)), rng.normal(size=(3,))
    x, y = ts.tensor(xa, requires_grad=True), ts.tensor(ya, requires_grad=True)
    tx, ty = torch.tensor(xa, requires_grad=True), torch.tensor(ya, requires_grad=True)
    v = rng.normal(size=(2, 3))
    for fn in (lambda w, a, b: w.where(a > 0, a, b), lambda w, a, b: w.where(a > 0, 2.5, b),
               lambda w, a, b: a.masked_fill(a < 0, -1.0) * 2):
        (fn(ts, x, y) * ts.tensor(v)).sum().backward()
        (fn(torch, tx, ty) * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-15)
    inf = ts.tensor([np.inf, 1.0], requires_grad=True)
    ts.where(ts.tensor([False, True]), inf, 0.0).sum().backward()  # (an inf not chosen spoils nothing)
    np.testing.assert_array_equal(inf.grad.numpy(), [0.0, 1.0])
    with pytest.raises(TypeError, match=r"where: the condition must be bool \(a comparison"):
        ts.where(ts.tensor([1.0, 0.0]), x[0, :2], 0.0)
    with pytest.raises(ValueError, match=r"where: the condition of shape \(4,\) and the inputs of shapes \(2, 3\)"):
        ts.where(np.ones(4, bool), x, 0.0)


def test_method_spellings_of_the_operators():
    x = ts.tensor([1.0, -2.0], requires_grad=True)
    y = x.add(x, alpha=2).sub(1.0, alpha=3).mul(2.0).div(4.0).neg()  # -((3x - 3) * 2 / 4)
    np.testing.assert_allclose(y.numpy(), -(3 * np.array([1.0, -2.0]) - 3) / 2)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.5, -1.5])
    assert [t.numpy().tolist() for t in (x.eq(1.0), x.ne(1.0), x.lt(0), x.le(1), x.gt(0), x.ge(-2))] == [
        [True, False], [False, True], [False, True], [True, True], [True, False], [True, True]]
    assert x.contiguous() is x
    with pytest.raises(ValueError):  # (a list is one operand, not a Python sequence to repeat)
        ts.tensor([1.0]).add([1.0, 2.0, 3.0, 4.0], alpha=3).sub((1.0, 2.0), alpha=2)
    np.testing.assert_array_equal(ts.tensor([1.0, 1.0]).add((1.0, 2.0), alpha=3).numpy(), [4.0, 7.0])


def test_masked_fill_keeps_the_tensors_dtype_as_pytorch(torch):
    m = np.array([True, False, True])
    for data, value in (([1, 2, 3], 1.5), ([True, False, True], 0), ([1.0, 2.0, 3.0], ts.tensor(np.float64(7.0)))):
        ours = ts.tensor(data).masked_fill(ts.tensor(m), value)
        v = torch.tensor(value.item()) if isinstance(value, ts.Tensor) else value
        theirs = torch.tensor(data).masked_fill(torch.tensor(m), v)
        assert ours.dtype == theirs.numpy().dtype
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_where_catches_its_condition_changed_before_backward():
    class Masked(ts.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mask", ts.tensor([True, False]))

    m = Masked()
    x = ts.tensor([1.0, 2.0], requires_grad=True)
    y = ts.where(m.mask, x, 0.0)
    m.load_state_dict({"mask": np.array([False, True])})  # (in place, into the array where kept)
    with pytest.raises(RuntimeError, match="the Where gate saved a tensor"):
        y.sum().backward()


def test_creation_functions_take_pytorchs_signatures(torch):
    assert ts.randint(10, (5,)).shape == tuple(torch.randint(10, (5,)).shape) == (5,)
    assert ts.randint(3, 7, (2, 2), generator=0).numpy().min() >= 3
    assert ts.randint(0, 4, size=(3,)).dtype == np.int64
    with pytest.raises(TypeError, match=r"randint takes \(high, size\) or \(low, high, size\)"):
        ts.randint(10)
    x = ts.zeros(2, 3, dtype="float64")
    assert ts.randn_like(x).dtype == np.float64 and ts.rand_like(x).shape == (2, 3)
    assert ts.rand_like(ts.tensor([1, 2])).dtype == np.float32  # (an integer tensor: the default float)
    assert sorted(ts.randperm(6, generator=1).numpy().tolist()) == list(range(6))
    np.testing.assert_allclose(ts.linspace(-1, 1, 5).numpy(), torch.linspace(-1, 1, 5).numpy())
    assert ts.tensor([1, 2], dtype=ts.long).dtype == np.int64 and ts.tensor([1], dtype=ts.float).dtype == np.float32
    assert (ts.double, ts.int, ts.bool) == (np.float64, np.int32, np.bool_)
    assert ts.is_tensor(ts.nn.Parameter(np.ones(1))) and not ts.is_tensor(np.ones(1))
    with ts.inference_mode():
        assert not (ts.ones(1, requires_grad=True) * 2).requires_grad
    namespace: dict = {}
    exec("from tinygrad_sm import *", namespace)
    assert "float" not in namespace and "int" not in namespace  # (`import *` leaves the builtins alone)


@pytest.mark.parametrize("kw", [{}, dict(dim=1), dict(dim=(0, 2), keepdim=True), dict(dim=-1, unbiased=False),
                                dict(dim=1, correction=0)])
def test_var_and_std_and_their_gradients_are_pytorchs(kw, torch):
    a = np.random.default_rng(0).normal(size=(3, 4, 5))
    for name in ("var", "std"):
        x, t = ts.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        v, tv = getattr(x, name)(**kw), getattr(t, name)(**kw)
        v.sum().backward()
        tv.sum().backward()
        assert v.shape == tuple(tv.shape)
        np.testing.assert_allclose(v.numpy(), tv.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_var_takes_pytorchs_positional_order(torch):
    a = np.random.default_rng(1).normal(size=(2, 3, 4))
    for args in ((1, False), (1, True, True), (2,)):
        np.testing.assert_allclose(ts.tensor(a).var(*args).numpy(), torch.tensor(a).var(*args).numpy(), rtol=1e-12)
        assert ts.tensor(a).std(*args).shape == tuple(torch.tensor(a).std(*args).shape)
    with pytest.raises(TypeError, match="unbiased comes second"):
        ts.tensor(a).var(False)


def test_split_and_chunk_give_pytorchs_pieces_and_gradients(torch):
    a = np.arange(24.0).reshape(2, 12)
    for call in (lambda x: x.split(5, 1), lambda x: x.split([2, 3, 7], dim=1), lambda x: x.chunk(5, 1),
                 lambda x: x.chunk(2, 0), lambda x: x.split(1, -1)):
        x, t = ts.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        ours, theirs = call(x), call(t)
        assert [p.shape for p in ours] == [tuple(p.shape) for p in theirs]
        sum((p * (i + 1)).sum() for i, p in enumerate(ours)).backward()
        sum((p * (i + 1)).sum() for i, p in enumerate(theirs)).backward()
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    with pytest.raises(ValueError, match=r"split: sizes \[2, 3\] do not add up to dim 1's 12"):
        ts.tensor(a).split([2, 3], 1)
    with pytest.raises(ValueError, match="chunks must be an int >= 1"):
        ts.tensor(a).chunk(0)


def test_std_of_equal_values_has_pytorchs_zero_gradient_and_var_std_refuse_integers(torch):
    a = np.array([[2.0, 2.0, 2.0], [1.0, -1.0, 3.0]])  # (row 0 constant: std 0)
    for kw in ({}, dict(dim=1), dict(dim=1, correction=0)):
        x, t = ts.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        x.std(**kw).sum().backward()
        t.std(**kw).sum().backward()
        assert np.isfinite(x.grad.numpy()).all()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-15)
    x = ts.tensor(np.ones(3, np.float32), requires_grad=True)
    x.std().backward()
    assert x.grad.dtype == np.float32 and not x.grad.numpy().any()
    for name in ("var", "std"):
        with pytest.raises(TypeError, match=r"floating-point tensors, this one is int64.*x\.float\(\)"):
            getattr(ts.arange(5), name)()


def test_chunk_of_an_empty_dim_and_split_by_non_int_sizes_are_pytorchs(torch):
    for n, chunks in ((0, 3), (0, 1), (6, 4), (7, 3)):
        ours, theirs = ts.zeros(n, 2).chunk(chunks), torch.zeros(n, 2).chunk(chunks)
        assert [p.shape for p in ours] == [tuple(p.shape) for p in theirs]
    with pytest.raises(TypeError, match="split: give a piece size"):
        ts.zeros(5).split(2.5)
    with pytest.raises(TypeError, match=r"split: the sizes must be ints, got \[2\.0, 3\.0\]"):
        ts.zeros(5).split([2.0, 3.0])
    with pytest.raises(TypeError, match="split: the sizes must be ints"):
        ts.zeros(5).split([True, 4])
    assert [p.shape for p in ts.zeros(5).split(np.int64(2))] == [(2,), (2,), (1,)]


def test_prod_cumsum_gather_repeat_and_their_gradients_are_pytorchs(torch):
    a = np.random.default_rng(3).normal(size=(3, 4, 2))
    a[1, 2, 0] = 0.0  # (one zero: its gradient is the product of the others, theirs 0 in that slice)
    a[2, :2, 1] = 0.0  # (two zeros in one slice: every gradient of that slice is 0)
    idx = np.array([[[0, 1], [3, 3], [2, 0]], [[1, 1], [0, 2], [3, 1]]])
    calls = [lambda x, lib: x.prod(), lambda x, lib: x.prod(1), lambda x, lib: x.prod(-1, keepdim=True),
             lambda x, lib: x.cumsum(1), lambda x, lib: x.cumsum(-1),
             lambda x, lib: x.gather(1, idx if lib is ts else torch.tensor(idx)),
             lambda x, lib: x.repeat(2, 1, 3), lambda x, lib: x.repeat(2, 1, 1, 2)]
    for call in calls:
        x, t = ts.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        y, ty = call(x, ts), call(t, torch)
        assert y.shape == tuple(ty.shape)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
        g = np.random.default_rng(4).normal(size=y.shape)
        y.backward(g)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_sort_topk_argsort_give_pytorchs_values_indices_and_gradients(torch):
    a = np.array([[3.0, 1.0, 2.0, 5.0], [0.5, -1.0, 4.0, 2.5]])
    for call in (lambda x: x.sort(), lambda x: x.sort(0, descending=True), lambda x: x.topk(2),
                 lambda x: x.topk(1, dim=0, largest=False), lambda x: x.sort(dim=1, descending=True)):
        x, t = ts.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        (v, i), (tv, ti) = call(x), call(t)
        np.testing.assert_array_equal(v.numpy(), tv.detach().numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        assert i.dtype == np.int64 and not i.requires_grad
        g = np.arange(v.data.size, dtype=np.float64).reshape(v.shape) + 1
        v.backward(g)
        tv.backward(torch.tensor(g))
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    ties = ts.tensor([2.0, 1.0, 2.0, 1.0])
    assert ties.argsort().numpy().tolist() == [1, 3, 0, 2]  # (stable: equal values keep their order)
    assert ties.argsort(descending=True).numpy().tolist() == [0, 2, 1, 3]
    assert ties.sort(descending=True).values.numpy().tolist() == [2.0, 2.0, 1.0, 1.0]


@pytest.mark.parametrize("call, err, match", [
    (lambda x: x.gather(1, np.array([[4]])), ValueError, "index 4 is out of range for dim 1 of size 4"),
    (lambda x: x.gather(1, np.array([0, 1])), ValueError, "index must be integers with the input's 2 dimensions"),
    (lambda x: x.gather(0, np.zeros((1, 5), np.int64)), ValueError, "larger than the input"),
    (lambda x: x.gather(1, np.array([[0.5]])), ValueError, "must be integers"),
    (lambda x: x.gather(1, np.array([[-1]])), ValueError, "index -1 is out of range for dim 1 of size 4"),
    (lambda x: x.sum().sort(dim=3), np.exceptions.AxisError, "argsort: axis 3 is out of bounds"),
    (lambda x: x.cumsum(2), np.exceptions.AxisError, "cumsum: axis 2 is out of bounds"),
    (lambda x: x.repeat(2), ValueError, "a count >= 0 for each of the tensor's 2 dimensions"),
    (lambda x: x.topk(5), ValueError, r"k must be an int in \[0, 4\]"),
])
def test_bad_gathers_cumsums_repeats_and_topks_are_named(call, err, match):
    with pytest.raises(err, match=match):
        call(ts.zeros(3, 4))


def test_the_new_ops_on_empty_0_d_integer_and_nan_tensors_are_pytorchs(torch):
    x, t = ts.zeros(3, 0, requires_grad=True), torch.zeros(3, 0, requires_grad=True)
    y, ty = x.prod(1), t.prod(1)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())  # (the product of nothing is 1)
    y.sum().backward()
    assert x.grad.shape == (3, 0)
    for a in (np.array([True, False, True, True]), np.array([2 ** 31 - 1, 1], np.int32), np.array([200, 100], np.uint8)):
        ours, theirs = ts.tensor(a).cumsum(0), torch.tensor(a).cumsum(0)
        assert ours.dtype == np.int64 and ours.numpy().tolist() == theirs.numpy().tolist()
    assert ts.tensor(True).cumsum(0).dtype == np.int64
    s = ts.tensor(5.0, requires_grad=True)
    np.testing.assert_array_equal(s.gather(0, np.array(0)).numpy(), torch.tensor(5.0).gather(0, torch.tensor(0)).numpy())
    assert ts.tensor(True).sort().values.dtype == np.bool_
    a = np.array([[3.0, np.nan, 1.0, 3.0, -np.inf], [0.5, 1.0, 2.0, 2.0, np.inf]])  # (NaN sorts last, ties stable)
    for call in (lambda x: x.sort(stable=True), lambda x: x.sort(descending=True, stable=True),
                 lambda x: x.topk(5, largest=False), lambda x: x.argsort(dim=0, stable=True)):
        ours, theirs = call(ts.tensor(a)), call(torch.tensor(a))
        for o, t in zip(*((ours, theirs) if isinstance(ours, tuple) else ((ours,), (theirs,)))):
            np.testing.assert_array_equal(o.numpy(), t.numpy())
    v, i = ts.tensor(a).topk(0)
    assert v.shape == i.shape == (2, 0) == tuple(torch.tensor(a).topk(0).values.shape)
