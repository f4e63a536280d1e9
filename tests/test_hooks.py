"""Tensor.register_hook: gradient hooks, as PyTorch's (tinygrad_sm/hooks.py); module forward and
backward hooks (nn.py, tinygrad_sm/module_hooks.py)."""
import contextlib
import gc
import warnings

import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import hooks


def _program(lib, x0, record):
    """y = x*x, hooked (scaled by 10) and retained; x is used twice, and hooked (recorded)."""
    x = lib.tensor(x0, requires_grad=True)
    x.register_hook(lambda g: record.append(("x", g.detach().numpy().copy())))
    y = x * x
    y.register_hook(lambda g: record.append(("y", g.detach().numpy().copy())))
    y.register_hook(lambda g: g * 10)
    y.register_hook(lambda g: record.append(("y after", g.detach().numpy().copy())))
    y.retain_grad()
    ((y * 2).sum() + (x * 3).sum()).backward()
    return x, y


def test_hooks_see_and_replace_gradients_as_pytorchs(torch):
    x0 = np.array([1.0, -2.0, 3.0])
    ours, theirs = [], []
    x, y = _program(ts, x0, ours)
    tx, ty = _program(torch, x0, theirs)
    assert [k for k, _ in ours] == [k for k, _ in theirs] == ["y", "y after", "x"]
    for (_, a), (_, b) in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())  # 40x + 3: the hooked gradient
    np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())  # retain_grad keeps the hooked one


def test_a_leaf_used_twice_is_hooked_once_with_its_whole_gradient():
    x = ts.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append(g.numpy().copy()))
    (x * 3 + x * x).sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [5.0, 7.0])


def test_a_hook_on_a_tensor_no_one_holds_still_runs():
    x = ts.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def layer(v):
        h = v * 2
        h.register_hook(lambda g: seen.append(g.numpy().copy()))
        return h.exp()  # (h itself is gone when this returns)

    out = layer(x).sum()
    gc.collect()
    out.backward()
    np.testing.assert_allclose(seen[0], np.exp([2.0, 4.0]), rtol=1e-6)


def test_remove_and_the_handle_as_a_context_manager_take_the_hook_off():
    x = ts.tensor([1.0], requires_grad=True)
    calls = []
    h = x.register_hook(lambda g: calls.append(1))
    with x.register_hook(lambda g: g * 0) as h0:
        (x * 2).sum().backward()
    assert x.grad.numpy().tolist() == [0.0] and calls == [1]
    h0.remove()  # (a second remove does nothing)
    h.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.numpy().tolist() == [2.0] and calls == [1]


def test_a_leaf_hook_runs_at_each_backward_and_grad_accumulates_the_hooked_gradients():
    x = ts.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 0.5)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])  # 2 * (2x * 0.5)
    x.backward(ts.tensor([4.0, 4.0]))  # (backward from the leaf itself: hooked too)
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 6.0])


def test_a_hook_gets_a_read_only_gradient_and_what_it_returns_is_copied_into_grad():
    x = ts.tensor([1.0, 2.0], requires_grad=True)
    mine = np.array([7.0, 7.0], np.float32)

    def writes(g):
        g.data[0] = 99.0

    h = x.register_hook(writes)
    with pytest.raises(ValueError, match="read-only"):
        (x * 2).sum().backward()
    h.remove()
    x.grad = None
    x.register_hook(lambda g: mine)
    (x * 2).sum().backward()
    mine[:] = 0  # (the user's array: .grad is not it)
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 7.0])


@pytest.mark.parametrize("ret, match", [
    (lambda g: g.sum(), r"hook <lambda> returned a gradient of shape \(\) for a tensor of shape \(2,\)"),
    (lambda g: g.double(), "returned a float64 gradient for a float32 tensor"),
])
def test_a_hook_that_returns_the_wrong_shape_or_dtype_is_named(ret, match):
    x = ts.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.register_hook(ret)
    with pytest.raises(RuntimeError, match=match):
        y.sum().backward()


def test_register_hook_needs_a_tensor_that_gets_a_gradient_and_a_function():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ts.tensor([1.0]).register_hook(print)
    with ts.no_grad():
        y = ts.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.register_hook(print)
    with pytest.raises(TypeError, match="a function of the gradient"):
        ts.tensor([1.0], requires_grad=True).register_hook(3)


def test_hooks_after_an_in_place_op_stay_with_the_old_value_and_retain_grad_follows_as_pytorch(torch):
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        seen = []
        y.register_hook(lambda g: seen.append(g.detach().numpy().copy()))
        y.retain_grad()
        y *= x  # (y is now 3x * x)
        y.sum().backward()
        return seen, y.grad.numpy(), x.grad.numpy()
    (s, yg, xg), (ts_, tyg, txg) = run(ts), run(torch)
    np.testing.assert_array_equal(s[0], ts_[0])
    np.testing.assert_array_equal(yg, tyg)
    np.testing.assert_array_equal(xg, txg)


def test_hooks_in_a_graph_of_scalars_and_in_the_trace():
    a = ts.tensor(2.0, requires_grad=True)
    b = a * 3 + 1
    b.register_hook(lambda g: g * 2)
    (b * b).backward()
    assert a.grad.item() == 2 * 7 * 2 * 3
    a.grad = None
    c = (a * 3 + 1)
    c.register_hook(lambda g: g * 2)
    (c * c).backward(trace=True)
    assert a.grad.item() == 84.0


def test_a_leaf_hook_entry_goes_with_its_leaf():
    x = ts.tensor([1.0], requires_grad=True)
    x.register_hook(lambda g: None)
    key = id(x)
    assert key in hooks.LEAF_HOOKS
    del x
    gc.collect()
    assert key not in hooks.LEAF_HOOKS


# -- module forward hooks ----------------------------------------------------------------------------
def test_forward_hooks_see_and_replace_inputs_and_outputs_as_pytorchs(torch):
    w0 = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    x0 = np.random.default_rng(1).normal(size=(2, 4)).astype(np.float32)
    results = []
    for lib in (ts, torch):
        lin = lib.nn.Linear(4, 3, bias=False)
        with lib.no_grad():
            lin.weight[...] = lib.tensor(w0)
        seen = []
        pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
        lin.register_forward_hook(lambda m, args, out: seen.append((type(m).__name__, out.detach().numpy().copy())))
        lin.register_forward_hook(lambda m, args, out: out + 1)
        a = lin(lib.tensor(x0)).detach().numpy()
        pre.remove()
        b = lin(lib.tensor(x0)).detach().numpy()
        results.append((a, b, seen))
    (a, b, seen), (ta, tb, tseen) = results
    np.testing.assert_allclose(a, ta, rtol=1e-6, atol=1e-6)  # (float32: sums in another order)
    np.testing.assert_allclose(b, tb, rtol=1e-6, atol=1e-6)
    assert [n for n, _ in seen] == [n for n, _ in tseen] == ["Linear", "Linear"]
    np.testing.assert_allclose(seen[0][1], tseen[0][1], rtol=1e-6, atol=1e-6)


def test_forward_hooks_collect_every_layers_activations_and_come_off():
    model = ts.nn.MLP([4, 5, 3])
    acts = {}
    handles = [m.register_forward_hook(lambda m, args, out, name=name: acts.__setitem__(name, out.shape))
               for name, m in model.named_modules() if name]
    model(ts.ones(2, 4))
    assert set(acts) == {name for name, _ in model.named_modules() if name}  # (every layer's fired)
    assert all(shape[0] == 2 for shape in acts.values())
    for h in handles:
        h.remove()
    acts.clear()
    model(ts.ones(2, 4))
    assert acts == {}
    with pytest.raises(TypeError, match="a function"):
        model.register_forward_hook("not a function")


def test_an_in_place_change_of_the_gradient_in_a_hook_is_the_new_gradient_as_in_pytorch(torch):
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        y.register_hook(lambda g: g.mul_(10) if lib is torch else g.__imul__(10))  # (`g *= 10`)
        x.register_hook(lambda g: g.add_(1) if lib is torch else g.__iadd__(1))
        (y * y).sum().backward()
        return x.grad.numpy()
    np.testing.assert_array_equal(run(ts), run(torch))


def test_the_trace_reports_the_gradients_the_hooks_left():
    from tinygrad_sm import viz
    x = ts.tensor([1.0, 1.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    trace = viz.trace_backward((x * 3).sum(), echo=False)
    np.testing.assert_array_equal(trace.leaf_grads[0][1], [30.0, 30.0])
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 30.0])
    x.grad = None
    trace = viz.trace_backward(x, ts.tensor([1.0, 2.0]), echo=False)  # (backward from the leaf itself)
    np.testing.assert_array_equal(trace.leaf_grads[0][1], [10.0, 20.0])


# -- module backward hooks (tinygrad_sm.module_hooks) --------------------------------------------------
def _twin_nets(torch):
    """A small CNN, ours and PyTorch's, with the same float64 weights."""
    nn, tnn = ts.nn, torch.nn
    ours = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, dtype="float64"), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(12, 4, dtype="float64"), nn.ReLU(), nn.Linear(4, 2, dtype="float64"))
    theirs = tnn.Sequential(tnn.Conv2d(1, 3, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                            tnn.Linear(12, 4), tnn.ReLU(), tnn.Linear(4, 2)).double()
    with torch.no_grad():
        for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            q.copy_(torch.from_numpy(p.numpy()))
    return ours, theirs


def _as_arrays(grads):
    return [None if g is None else np.array(g.detach().numpy() if hasattr(g, "detach") else g.numpy()) for g in grads]


@pytest.mark.parametrize("input_grad", [True, False])
def test_module_backward_hooks_see_pytorchs_grad_input_and_grad_output(input_grad, torch):
    ours, theirs = _twin_nets(torch)
    seen = {"ours": [], "theirs": []}
    for key, net in (("ours", ours), ("theirs", theirs)):
        for m in net:
            m.register_full_backward_pre_hook(lambda m, go, key=key: seen[key].append(("pre", type(m).__name__, _as_arrays(go))))
            m.register_full_backward_hook(
                lambda m, gi, go, key=key: seen[key].append(("full", type(m).__name__, _as_arrays(gi), _as_arrays(go))))
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4))
    xo, xt = ts.tensor(x, requires_grad=input_grad), torch.tensor(x, requires_grad=input_grad)
    with pytest.warns(UserWarning) if not input_grad else contextlib.nullcontext():  # (PyTorch's note: no input needs one)
        (theirs(xt) ** 2).sum().backward()
    (ours(xo) ** 2).sum().backward()
    assert [r[:2] for r in seen["ours"]] == [r[:2] for r in seen["theirs"]]
    assert len(seen["ours"]) == 2 * 7
    for a, b in zip(seen["ours"], seen["theirs"]):
        for ga, gb in zip(a[2:], b[2:]):
            assert len(ga) == len(gb)
            for u, v in zip(ga, gb):
                assert (u is None) == (v is None), a[:2]
                if u is not None:
                    np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14, err_msg=str(a[:2]))


def test_module_backward_hooks_replace_gradients_as_pytorchs(torch):
    """A pre-hook doubles the last layer's grad_output; a hook halves the first ReLU's grad_input."""
    ours, theirs = _twin_nets(torch)
    for net in (ours, theirs):
        net[6].register_full_backward_pre_hook(lambda m, go: tuple(g * 2 for g in go))
        net[1].register_full_backward_hook(lambda m, gi, go: tuple(None if g is None else g * 0.5 for g in gi))
    x = np.random.default_rng(1).standard_normal((2, 1, 4, 4))
    xo, xt = ts.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (ours(xo) ** 2).sum().backward()
    (theirs(xt) ** 2).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, err_msg=name)


class _Product(ts.nn.Module):
    def forward(self, a, scale, b):
        return a * b * scale, a + b


def test_a_module_of_two_inputs_and_two_outputs_gets_every_gradient_and_may_change_the_last(torch):
    """Several inputs: grad_input covers the positional arguments (None for a number); the hook
    runs when the last of them arrives, which the pass reaches last (the first argument), and only
    that one can still change; the others have gone on already, and changing one is an error."""
    a, b = np.array([1.0, -2.0]), np.array([3.0, 0.5])
    m, seen = _Product(), []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append((_as_arrays(gi), _as_arrays(go))))
    ta, tb = ts.tensor(a, requires_grad=True), ts.tensor(b, requires_grad=True)
    p, s = m(ta, 2.0, tb)
    (p.sum() * 3 + (s * s).sum()).backward()
    (gi, go), = seen
    np.testing.assert_array_equal(go[0], [3.0, 3.0])
    np.testing.assert_array_equal(go[1], 2 * (a + b))
    assert gi[1] is None
    np.testing.assert_array_equal(gi[0], 3 * b * 2 + 2 * (a + b))
    np.testing.assert_array_equal(gi[2], 3 * a * 2 + 2 * (a + b))
    m2 = _Product()
    m2.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0, None, gi[2]))
    ta, tb = ts.tensor(a, requires_grad=True), ts.tensor(b, requires_grad=True)
    m2(ta, 2.0, tb)[0].sum().backward()
    np.testing.assert_array_equal(ta.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(tb.grad.numpy(), 2 * a)
    m3 = _Product()
    m3.register_full_backward_hook(lambda mod, gi, go: (gi[0], None, gi[2] * 0))
    with pytest.raises(RuntimeError, match=r"changed grad_input\[2\], whose gradient has already gone on"):
        m3(ts.tensor(a, requires_grad=True), 2.0, ts.tensor(b, requires_grad=True))[0].sum().backward()


def test_module_backward_hooks_come_off_stay_out_of_no_grad_and_run_again_with_retain_graph():
    lin, calls = ts.nn.Linear(3, 2), []
    handle = lin.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    x = ts.randn(4, 3, requires_grad=True)
    out = lin(x).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert len(calls) == 2
    with ts.no_grad():
        assert lin(x).grad_fn is None
    handle.remove()
    lin(x).sum().backward()
    assert len(calls) == 2
    bad = ts.nn.Linear(3, 2)
    bad.register_full_backward_hook(lambda m, gi, go: (gi[0][:, :1],))
    with pytest.raises(RuntimeError, match=r"returned a float32 gradient of shape \(4, 1\) for grad_input\[0\], "
                                           r"which is float32 of shape \(4, 3\)"):
        bad(x).sum().backward()


def test_a_hooked_relu_in_a_sequential_runs_alone_so_its_hook_fires():
    net = ts.nn.Sequential(ts.nn.Linear(3, 4), ts.nn.ReLU())
    seen = []
    net[1].register_full_backward_hook(lambda m, gi, go: seen.append(type(m).__name__))
    net(ts.randn(2, 3)).sum().backward()
    assert seen == ["ReLU"]


class _Tanh2(ts.nn.Module):
    def forward(self, a, b):  # (b is ignored: its tap gets no gradient)
        return a.tanh()


@pytest.mark.parametrize("case", ["gru, out unused", "lstm, only h", "second input unused"])
def test_module_hooks_run_when_pytorchs_do_when_part_of_the_module_gets_no_gradient(case, torch):
    class TorchTanh2(torch.nn.Module):
        def forward(self, a, b):
            return a.tanh()
    make = {"gru, out unused": (lambda L: L.nn.GRU(3, 4, batch_first=True, dtype=L.float64), False,
                                lambda o: o[1][-1] ** 2),
            "lstm, only h": (lambda L: L.nn.LSTM(3, 4, batch_first=True, dtype=L.float64), True,
                             lambda o: o[1][0] ** 2),
            "second input unused": (lambda L: _Tanh2() if L is ts else TorchTanh2(), True, lambda o: o * 2)}[case]
    logs = []
    for lib in (ts, torch):
        log = []
        m = make[0](lib)
        m.register_full_backward_pre_hook(lambda m, go: log.append(("pre", [g is None for g in go])))
        m.register_full_backward_hook(lambda m, gi, go: log.append(("full", [g is None for g in gi],
                                                                    [g is None for g in go])))
        x = lib.tensor(np.random.default_rng(0).standard_normal((2, 4, 3)), requires_grad=make[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (PyTorch's note when no input needs a gradient)
            out = m(x, lib.ones(2, 4, 3, dtype=lib.float64, requires_grad=True)) if "input" in case else m(x)
            make[2](out).sum().backward()
        logs.append(log)
    assert logs[0] == logs[1]


def test_module_hooks_are_the_ones_at_forward_and_a_failed_pass_leaves_nothing_half_counted():
    a, b = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    m, seen = _Product(), []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(_as_arrays(gi)))
    ta, tb = ts.tensor(a, requires_grad=True), ts.tensor(b, requires_grad=True)
    p, _ = m(ta, 1.0, tb)
    late = m.register_full_backward_hook(lambda mod, gi, go: seen.append("late"))  # (after forward: not this call's)

    def fail(mod, gi, go):
        raise ValueError("a hook that fails")
    m._backward_hooks.clear()  # (nor does removing them all change what this call runs)
    late.remove()
    p.sum().backward(retain_graph=True)
    assert len(seen) == 1
    m2 = _Product()
    m2.register_full_backward_hook(fail)
    p2, _ = m2(ts.tensor(a, requires_grad=True), 1.0, ts.tensor(b, requires_grad=True))
    with pytest.raises(ValueError, match="a hook that fails"):
        p2.sum().backward(retain_graph=True)
    with pytest.raises(ValueError, match="a hook that fails"):  # (the second pass counts from zero again)
        (p2 * 10).sum().backward(retain_graph=True)
    from tinygrad_sm import module_hooks
    from tinygrad_sm.tensor import PASS_END
    assert not module_hooks._PENDING and not PASS_END


def test_a_backward_inside_a_hook_leaves_the_outer_pass_waiting_calls_alone():
    """The second input of _Tanh2 gets no gradient, so its hooks wait for the end of the pass; a
    leaf hook (run at the end of that pass) runs a backward() of its own first: its end must not
    run the outer call's hooks, which come after it, once."""
    events = []
    m = _Tanh2()
    m.register_full_backward_hook(lambda mod, gi, go: events.append("module hook"))
    x = ts.tensor([0.5, -0.2], requires_grad=True)

    def inner(g):
        y = ts.tensor([1.0], requires_grad=True)
        (y * 3).sum().backward()
        events.append("inner backward")
    x.register_hook(inner)
    m(x, ts.tensor([1.0, 1.0], requires_grad=True)).sum().backward()
    assert events == ["inner backward", "module hook"]
    from tinygrad_sm import module_hooks
    from tinygrad_sm.tensor import PASS_DEPTH, PASS_END
    assert not module_hooks._PENDING and not PASS_END and PASS_DEPTH == [0]
