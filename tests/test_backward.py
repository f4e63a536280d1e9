"""The backward engine: accumulation, freeing, retain_graph, no_grad, deep graphs, custom gates."""
import gc
import threading
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_sm as ts
from tinygrad_sm import Gate, GateError, Tensor

from tinygrad_sm.tensor import topological_order

from .helpers import leaf


def test_cs231n_example():
    x, y, z = Tensor(-2.0, requires_grad=True), Tensor(5.0, requires_grad=True), Tensor(-4.0, requires_grad=True)
    f = (x + y) * z
    f.backward()
    assert f.item() == -12.0
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


def test_sigmoid_circuit_matches_hand_derivation():
    w0, x0, w1, x1, w2 = (leaf(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
    f = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())
    f.backward()
    s = 1 / (1 + np.exp(-1.0))  # w0*x0 + w1*x1 + w2 = 1
    ds = s * (1 - s)
    assert np.isclose(f.item(), s)
    np.testing.assert_allclose([w0.grad.item(), x0.grad.item(), w1.grad.item(), x1.grad.item(), w2.grad.item()],
                               [-1 * ds, 2 * ds, -2 * ds, -3 * ds, ds], rtol=1e-12)


def test_value_used_twice_gets_both_gradients():
    x = leaf(3.0)
    (x * x).backward()
    assert x.grad.item() == 6.0
    a = leaf([1.0, 2.0])
    b = a * 2
    (b + b * a).sum().backward()  # d/da (2a + 2a^2) = 2 + 4a
    np.testing.assert_allclose(a.grad.numpy(), [6.0, 10.0])


def test_leaf_gradients_accumulate_until_zero_grad():
    x = leaf([1.0, -2.0])
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_second_backward_raises_and_retain_graph_allows_it():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])  # the failed call added nothing

    y = leaf([1.0, 2.0])
    loss = (y * y).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(y.grad.numpy(), [4.0, 8.0])


def test_backward_frees_saved_values_but_keeps_the_graph():
    x = leaf(np.ones((3, 3)))
    h = (x * 2).exp()
    loss = h.sum()
    exp_gate = h.grad_fn
    assert exp_gate.saved is not None
    loss.backward()
    assert exp_gate.saved is None and exp_gate.released
    # the structure is still there to inspect
    assert loss.grad_fn.name == "Sum"
    assert loss.grad_fn.parents[0] is exp_gate
    assert exp_gate.parents[0].name == "MulConst"  # x * 2: a number makes the one-input gate
    assert exp_gate.parents[0].parents[0] is x


def test_graph_does_not_keep_intermediate_tensors_alive():
    x = leaf(np.ones(1000))
    h = x * 2
    ref = weakref.ref(h)
    loss = (h + 1).sum()
    del h
    gc.collect()
    assert ref() is None  # only what gates saved can outlive the tensor, and backward frees that
    loss.backward()


def test_backward_on_a_non_scalar_needs_grad():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    with pytest.raises(RuntimeError, match=r"one-element output.*shape \(3,\)"):
        y.backward()
    y.backward(grad=np.array([1.0, 0.5, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, -6.0])


def test_backward_grad_argument_must_match_the_shape():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        y.backward(np.ones(3))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


def test_backward_on_a_leaf_sets_its_own_gradient():
    x = leaf(2.0)
    x.backward()
    assert x.grad.item() == 1.0


def test_gradients_are_not_aliased_and_inputs_not_mutated():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    g = np.array([1.0, -1.0])
    g_copy = g.copy()
    (x + y).backward(g)
    assert x.grad.data is not y.grad.data
    assert not np.shares_memory(x.grad.data, g)
    x.grad.data[0] = 100.0
    assert y.grad.data[0] == 1.0
    np.testing.assert_array_equal(g, g_copy)
    (x + y).backward(g)
    np.testing.assert_array_equal(g, g_copy)  # accumulation happened in x.grad, not in g


def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with ts.no_grad():
        y = x * 2
        assert not ts.is_grad_enabled()
        with ts.enable_grad():
            z = x * 2
    assert ts.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @ts.no_grad()
    def predict(t):
        return t * 3

    assert not predict(x).requires_grad
    assert ts.is_grad_enabled()


def test_no_grad_is_per_thread():
    seen = []
    started, release = threading.Event(), threading.Event()

    def worker():
        with ts.no_grad():
            started.set()
            release.wait(5)
        seen.append(ts.is_grad_enabled())

    t = threading.Thread(target=worker)
    t.start()
    started.wait(5)
    assert (leaf(1.0) * 2).requires_grad  # this thread still records
    release.set()
    t.join()
    assert seen == [True]


def test_one_decorated_function_in_two_threads_restores_each_threads_own_mode():
    """The saved state belongs to each call (and thread), not to the decorator's one instance:
    A enters with grad on, B with grad off, B enters and A leaves in between."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    after = {}

    @ts.no_grad()
    def work(first, then):
        first.set()
        then.wait(5)
        return ts.is_grad_enabled()

    def thread_a():
        assert not work(a_in, b_in)
        after["A"] = ts.is_grad_enabled()
        a_out.set()

    def thread_b():
        a_in.wait(5)
        with ts.no_grad():
            assert not work(b_in, a_out)
            after["B inside its no_grad"] = ts.is_grad_enabled()
        after["B"] = ts.is_grad_enabled()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert after == {"A": True, "B inside its no_grad": False, "B": True}


def test_a_decorated_generator_runs_every_step_in_the_mode_and_keeps_its_return_value():
    @ts.no_grad()
    def gen(x):
        got = yield ts.is_grad_enabled(), (x * 2).requires_grad
        yield got, ts.is_grad_enabled(), (x * 2).requires_grad
        return "done"

    x = leaf([1.0])
    g = gen(x)
    assert next(g) == (False, False)
    assert ts.is_grad_enabled()  # (back on between the steps)
    assert g.send("sent") == ("sent", False, False)
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done" and ts.is_grad_enabled()

    @ts.enable_grad
    def inner():  # (without the brackets, as PyTorch allows)
        yield ts.is_grad_enabled()

    with ts.no_grad():
        assert list(inner()) == [True] and not ts.is_grad_enabled()

    g = gen(x)
    next(g)
    with pytest.raises(KeyError):
        g.throw(KeyError("thrown in"))
    assert ts.is_grad_enabled()
    with pytest.raises(TypeError, match="takes no arguments, or the function"):
        ts.no_grad(3)


def test_in_place_arithmetic_follows_pytorch():
    a = ts.zeros(3)
    b = a
    a += 1
    a *= 4
    a /= 2
    a -= 1
    np.testing.assert_array_equal(b.numpy(), [1.0, 1.0, 1.0])  # b is a: one tensor changed in place
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad cannot be changed in place \(x -= "):
        w -= 1
    with ts.no_grad():
        w -= 1
    assert w.is_leaf and w.requires_grad and w.numpy().tolist() == [0.0, 1.0]
    y = w * 3  # a result in the graph: += records a new node, and the gradient flows through it
    saved = y
    y += w
    assert y is saved and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 4.0])
    w.grad = None
    z = w * 2
    loss = (z * z).sum()  # (a graph that saved z's values)
    with ts.no_grad():
        z += 100  # a result gets a new array: what the graph saved is left alone
    assert z.numpy().tolist() == [100.0, 102.0]
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 8.0])  # 8 w, at w = [0, 1]
    with pytest.raises(Exception, match="Cannot cast"):
        ints = Tensor(np.array([1, 2]))
        ints /= 2  # (int64 cannot hold the quotient, as in PyTorch)


def test_in_place_into_a_tensor_that_needs_no_grad_records_when_the_other_side_does(torch):
    """total = zeros(); total += w * 2 (a PyTorch habit): total joins the graph, as in PyTorch."""
    w, tw = leaf([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    acc, tacc = ts.zeros(3, dtype="float64"), torch.zeros(3, dtype=torch.float64)
    acc += w * 2
    tacc += tw * 2
    assert acc.requires_grad and tacc.requires_grad
    (acc * acc).sum().backward()
    (tacc * tacc).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy())


def test_in_place_keeps_shape_dtype_and_retain_grad_and_never_changes_a_saved_array():
    w = leaf([1.0, 2.0])
    y = w * 1
    with pytest.raises(ValueError, match=r"result has shape \(3, 2\), x has \(2,\)"):
        y += np.ones((3, 2))
    with ts.no_grad(), pytest.raises(ValueError, match="non-broadcastable output"):
        y += np.ones((3, 2))
    f = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True) * 1
    f += Tensor(np.array([1.0, 1.0]))  # (float64 beside it: x keeps float32, as in PyTorch)
    assert f.dtype == np.float32
    y = w * 3
    y.retain_grad()
    y *= 2
    (y * y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [12.0, 24.0])  # (the retained gradient follows y)
    x, v = Tensor([2.0, 2.0]), leaf([1.0, 1.0])
    out = (x * v).sum()  # Mul saved x's array
    x += 100  # (no grad needed: a new array for x)
    out.backward()
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 2.0])
    mask = Tensor([True, False])
    alias = mask
    mask &= Tensor([False, False])
    assert alias is mask and not alias.numpy().any()
    p = leaf([2.0, 3.0])
    with ts.no_grad():
        p **= 2
    assert p.numpy().tolist() == [4.0, 9.0] and p.is_leaf


def test_item_assignment_and_the_in_place_methods(torch):
    x, tx = Tensor([-1.0, 2.0, -3.0]), torch.tensor([-1.0, 2.0, -3.0])
    alias = x
    x[x < 0] = 0
    tx[tx < 0] = 0
    np.testing.assert_array_equal(alias.numpy(), tx.numpy())
    x.add_(1).mul_(2).sub_(1).div_(2)
    tx.add_(1).mul_(2).sub_(1).div_(2)
    np.testing.assert_array_equal(x.numpy(), tx.numpy())
    assert x.fill_(7).numpy().tolist() == [7.0] * 3 and x.zero_() is x and not x.numpy().any()
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"x\[index\] = value is not recorded"):
        w[0] = 5.0
    y = w * 2
    with pytest.raises(RuntimeError, match="not recorded"):
        y.zero_()
    with pytest.raises(RuntimeError, match="not recorded"):
        Tensor([1.0, 2.0])[0] = w[0]  # (a value that requires grad, too)
    with ts.no_grad():
        w[0] = 5.0  # a parameter under no_grad: in its own array
        w.mul_(2)
    assert w.is_leaf and w.numpy().tolist() == [10.0, 4.0]
    x, v = Tensor([2.0, 2.0]), leaf([1.0, 1.0])
    out = (x * v).sum()
    x[0] = 100.0  # (a new array: the one Mul saved is unchanged)
    out.backward()
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 2.0])


def test_detach_shares_data_and_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])  # no gradient flowed through d


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.integers(0, 10**6)),
                min_size=1, max_size=30))
def test_topological_order_of_random_graphs(steps):
    """Each step combines two earlier values (or a value with itself), so gates share inputs and
    some are left out of the final graph. The order must hold exactly the gates that feed the
    root, once each, every one after the gates that make its inputs; and backward through it
    must agree with the same graph's derivative, computed alongside by the chain rule."""
    x = leaf(0.7)
    values = [(x, 0.7, 1.0)]  # (tensor, value, d value / dx)
    for op, i, j in steps:
        (a, va, da), (b, vb, db) = values[i % len(values)], values[j % len(values)]
        if op == 0:  # (every value stays in [0, 1]: nothing overflows)
            values.append(((a + b) * 0.5, (va + vb) * 0.5, (da + db) * 0.5))
        elif op == 1:
            values.append((a * b, va * vb, da * vb + va * db))
        else:
            values.append((a * 0.5, va * 0.5, da * 0.5))
    root, value, slope = values[-1]
    if root.grad_fn is None:  # the root is x itself
        return
    reachable, stack = set(), [root.grad_fn]
    while stack:
        g = stack.pop()
        if g not in reachable:
            reachable.add(g)
            stack.extend(p for p in g.parents if isinstance(p, Gate))
    order = topological_order(root.grad_fn)
    assert len(order) == len(set(order)) and set(order) == reachable
    position = {g: k for k, g in enumerate(order)}
    for g in order:
        assert all(position[p] < position[g] for p in g.parents if isinstance(p, Gate))
    root.backward()
    assert np.isclose(root.item(), value) and np.isclose(x.grad.item(), slope, rtol=1e-12, atol=0)


def test_a_graph_pickled_in_one_process_goes_on_in_another():
    """Gates are ordered by when they were recorded, and each process counts from 0: a graph
    recorded here (after many other gates) and extended in a fresh process must still be
    backpropagated in order there."""
    import pickle
    import subprocess
    import sys
    x = leaf([1.0, 2.0])
    for _ in range(50):
        x * 2.0
    y = (x * 3.0) * x
    child = ("import pickle, sys\n"
             "x, y = pickle.loads(sys.stdin.buffer.read())\n"
             "(y * 2.0).sum().backward()\n"
             "print(x.grad.numpy().tolist())")
    r = subprocess.run([sys.executable, "-c", child], input=pickle.dumps((x, y)), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().strip() == "[12.0, 24.0]"  # d/dx 2 * 3x * x = 12x


def test_deep_chain_has_no_recursion_limit():
    x = leaf(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    del y
    gc.collect()  # tearing down a 100,000-gate chain must not overflow the C stack either


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    assert (x * 1).grad is None


def test_requires_grad_only_for_floats():
    with pytest.raises(TypeError, match="int64.*labels"):
        Tensor([1, 2, 3], requires_grad=True)
    labels = Tensor([1, 2, 3])
    assert labels.dtype == np.int64 and not labels.requires_grad


class Square(Gate):
    """y = x**2; dy/dx = 2x"""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, g):
        (x,) = self.saved
        return 2 * x * g


def test_custom_gate_works_and_records():
    x = leaf([1.0, -3.0])
    y = Square.apply(x)
    assert y.grad_fn.name == "Square"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -6.0])


def test_custom_gate_with_wrong_gradient_shape_is_named():
    class BadShape(Gate):
        def forward(self, x):
            return x.sum()

        def backward(self, g):
            return np.ones(3)

    with pytest.raises(GateError, match=r"BadShape\.backward.*shape \(3,\).*input 0.*shape \(2, 2\)"):
        BadShape.apply(leaf(np.ones((2, 2)))).backward()


def test_custom_gate_with_wrong_gradient_dtype_is_named():
    class BadDtype(Gate):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return (g * 2).astype(np.float64)

    x = Tensor([1.0, 2.0], requires_grad=True)  # float32
    with pytest.raises(GateError, match=r"BadDtype\.backward.*float64.*float32"):
        BadDtype.apply(x).sum().backward()


def test_custom_gate_with_wrong_number_of_gradients_is_named():
    class TooMany(Gate):
        def forward(self, x):
            return x * 1

        def backward(self, g):
            return g, g

    with pytest.raises(GateError, match="TooMany.*2 gradient.*1 input"):
        TooMany.apply(leaf([1.0])).sum().backward()


def test_gate_without_backward_says_so():
    class NoBackward(Gate):
        def forward(self, x):
            return x * 1

    with pytest.raises(NotImplementedError, match="NoBackward must define backward"):
        NoBackward.apply(leaf([1.0])).sum().backward()


def test_backward_skips_inputs_that_need_no_gradient():
    x = Tensor(np.ones((4, 3)))  # data, no grad
    w = leaf(np.ones((3, 2)))
    out = x @ w
    assert out.grad_fn.needs_grad == (False, True)
    out.sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 2), 4.0))


def test_gradients_equal_to_the_input_dtype_but_not_identical_pass_the_check():
    # The engine's quick check compares dtypes by identity; an equal dtype object must still pass.
    noted = np.dtype("float64", metadata={"note": "equal to float64, a different object"})
    assert noted == np.float64 and noted is not np.dtype(np.float64)

    class Noted(Gate):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return (g * 2).astype(noted)

    x = leaf([1.0, 2.0])
    Noted.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_gradients_that_are_not_arrays_are_converted():
    class PlainFloat(Gate):
        def forward(self, x):
            return x * 3

        def backward(self, g):
            return float(g) * 3  # a Python float for a 0-d float64 input

    x = leaf(2.0)
    PlainFloat.apply(x).backward()
    assert x.grad.item() == 3.0 and x.grad.dtype == np.float64


def test_unbroadcast_sums_casts_and_passes_fitting_gradients_through():
    class Pair(Gate):
        def forward(self, x, y):
            return x + y

        def backward(self, g):
            return self.unbroadcast(g, g)

    x = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    y = leaf(np.ones(3))  # float64, broadcast over the rows
    out = Pair.apply(x, y)
    g = np.arange(6.0).reshape(2, 3)  # float64, as the output
    gx, gy = out.grad_fn.unbroadcast(g, g)
    assert gx.dtype == np.float32 and gx.shape == (2, 3)
    np.testing.assert_array_equal(gy, [3.0, 5.0, 7.0])
    row = g[0]
    same = out.grad_fn.unbroadcast(None, row)
    assert same[0] is None and same[1] is row  # already fits: no copy


def test_leaves_keep_fresh_gradients_without_copies_and_never_an_array_someone_else_holds():
    """A leaf's first gradient is the gate's own new array when no one else holds it (no copy);
    anything still referenced elsewhere (saved for a retained graph, returned twice) is copied,
    so later accumulation into .grad cannot change it."""
    import tinygrad_sm.functional as F
    rng = np.random.default_rng(0)
    z = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = np.array([0, 2, 1, 1])
    loss = F.cross_entropy(z, y)
    loss.backward(retain_graph=True)  # the gradient stays saved in the gate: z.grad is a copy
    first = z.grad.numpy().copy()
    loss.backward()  # accumulates into z.grad; the saved gradient must not have changed
    np.testing.assert_allclose(z.grad.numpy(), 2 * first, rtol=1e-15)

    kept = []

    class KeepsIt(Gate):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            out = g * 2
            kept.append(out)  # someone else holds it
            return out

    x = leaf([1.0, 2.0])
    KeepsIt.apply(x).sum().backward()
    assert x.grad.data is not kept[0]
    KeepsIt.apply(x).sum().backward()
    np.testing.assert_array_equal(kept[0], [2.0, 2.0])  # untouched by the second accumulation
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])

    made = []

    class Fresh(Gate):
        def forward(self, x):
            return x * 3

        def backward(self, g):
            out = g * 3
            made.append(id(out))
            return out

    w = leaf([1.0, 1.0, 1.0])
    Fresh.apply(w).sum().backward()
    assert id(w.grad.data) == made[0]  # adopted, not copied
    s = leaf([1.0, 2.0])
    (s + s).sum().backward()  # Add returns one array for both inputs: the first is a copy
    np.testing.assert_array_equal(s.grad.numpy(), [2.0, 2.0])


def test_a_leaf_frozen_after_the_forward_gets_no_gradient():
    """As in PyTorch: requires_grad_(False) before backward() keeps .grad None (and so an
    optimizer leaves the tensor alone), also beside a leaf that still requires grad."""
    w = ts.Tensor(np.ones(3), requires_grad=True)
    v = ts.Tensor(np.full(3, 2.0), requires_grad=True)
    opt = ts.optim.SGD([w, v], lr=0.1)
    loss = (w * w * v).sum()
    w.requires_grad_(False)
    loss.backward()
    assert w.grad is None
    np.testing.assert_array_equal(v.grad.numpy(), [1.0, 1.0, 1.0])
    opt.step()
    np.testing.assert_array_equal(w.numpy(), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("leaf_parent", [True, False])
def test_slices_of_one_tensor_add_their_gradients_as_pytorchs(leaf_parent, torch):
    """x[t] for every t (an RNN's steps), array indices that repeat, a single element, and x used
    whole besides: backward adds the slices' gradients into one array for x (run_backward's
    GetItem path), which must give what scattering each into zeros gives, and PyTorch."""
    rng = np.random.default_rng(3)
    a, w = rng.standard_normal((6, 4, 3)), rng.standard_normal(3)
    ours, theirs = ts.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    results = []
    for lib, x0 in ((ts, ours), (torch, theirs)):
        x = x0 if leaf_parent else x0 * 2.0
        ww = lib.tensor(w)
        total = sum(((x[t] * ww).tanh().sum() * (t + 1) for t in range(6)), lib.tensor(0.0, dtype=lib.float64))
        idx = np.array([0, 2, 2, 5])
        total = total + (x[idx] ** 2).sum() + x[1, 2, 0] * 3.0 + (x * x).sum() * 0.1 + x[::2, 1:].sum()
        total.backward()
        results.append(x0.grad.numpy() if lib is ts else x0.grad.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-14)


def test_a_slice_gradient_reaches_a_hooked_leaf_once_and_twice_with_retain_graph():
    x = ts.tensor(np.arange(4.0), requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    y = x[0] * 2 + x[1:3].sum() + x[[3, 3]].sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 1.0, 1.0, 2.0])
    assert len(seen) == 1  # (the hook sees the pass's whole gradient, once)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 2.0, 2.0, 4.0])
