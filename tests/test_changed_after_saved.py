"""A parameter changed in place between a forward pass and its backward (an optimizer step, `p -= ...`
under no_grad, load_state_dict, item assignment): backward() refuses where a gate saved that array,
or a view of it, as PyTorch's does; and goes on where no gate needs the old values."""
import gc

import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import Tensor, nn, optim
from tinygrad_sm.tensor import _writes
from tinygrad_sm.viz import trace_backward

from .helpers import leaf


def _net():
    ts.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()


def _batch():
    rng = np.random.default_rng(1)
    return Tensor(rng.standard_normal((5, 3))), Tensor(rng.integers(0, 2, 5))


def _step(model, opt):
    opt.step()


def _minus_equals(model, opt):
    with ts.no_grad():
        model[2].weight -= 1.0


def _item_assignment(model, opt):
    with ts.no_grad():
        model[2].weight[0, 0] = 9.0


def _fill(model, opt):
    with ts.no_grad():
        model[2].weight.fill_(0.5)


def _load(model, opt):
    model.load_state_dict({k: v * 2 for k, v in model.state_dict().items()})


@pytest.mark.parametrize("change, how", [
    (_step, r"SGD\.step\(\)"), (_minus_equals, "`-=` under no_grad"),
    (_item_assignment, "item assignment under no_grad"), (_fill, r"fill_\(\) under no_grad"), (_load, r"load_state_dict \(of 2\.weight\)")])
def test_a_change_after_the_forward_pass_stops_backward_before_any_gradient_changes(change, how):
    model = _net()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _batch()
    ts.functional.cross_entropy(model(x), y).backward()  # gradients for opt.step() to use
    before = [p.grad.numpy().copy() for p in model.parameters()]
    loss = ts.functional.cross_entropy(model(x), y)
    change(model, opt)
    with pytest.raises(RuntimeError, match=f"the Linear gate saved a tensor \\(shape \\(2, 4\\), float64\\).*"
                                           f"{how} changed it in place after the gate was recorded"):
        loss.backward()
    for p, g in zip(model.parameters(), before):  # nothing was accumulated before the refusal
        np.testing.assert_array_equal(p.grad.numpy(), g)
    loss = ts.functional.cross_entropy(model(x), y)  # a new forward pass sees the new values: fine
    loss.backward()


def test_the_usual_loop_and_a_change_before_the_forward_pass_are_fine():
    model = _net()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = _batch()
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = ts.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[2] < losses[0]


def test_a_view_or_a_detached_alias_of_the_parameter_counts_too():
    """x @ w.T saved a view of w's array; x * w.detach() saved w's array through another tensor."""
    for make in (lambda a, w: (a @ w.T).sum(), lambda a, w: (a @ w.reshape(3, 2)).sum(),
                 lambda a, w: (a * w.detach()[0]).sum(), lambda a, w: (a[:, :1] * w[1:, :1]).sum()):
        a, w = leaf(np.ones((2, 3))), leaf(np.arange(6.0).reshape(2, 3))
        out = make(a, w)
        with ts.no_grad():
            w += 1
        with pytest.raises(RuntimeError, match="changed it in place after the gate was recorded"):
            out.backward()
        assert a.grad is None


def test_no_refusal_where_the_gradients_never_read_the_changed_array():
    """Add needs no values; c * w and x @ w with c and x constants need only c and x (mul swaps);
    ReLU and exp keep their own outputs. The gradients are those of the values at the forward pass,
    as in PyTorch, which accepts these too."""
    c = Tensor(np.array([2.0, 3.0]))
    cases = [
        (lambda w: (w + 1).sum(), [1.0, 1.0]),
        (lambda w: (c * w).sum(), [2.0, 3.0]),
        (lambda w: (c.reshape(1, 2) @ w.reshape(2, 1)).sum(), [2.0, 3.0]),
        (lambda w: (w * 1.5).relu().sum(), [1.5, 1.5]),
        (lambda w: w.exp().sum(), np.exp([1.0, 2.0])),
    ]
    for f, expected in cases:
        w = leaf([1.0, 2.0])
        out = f(w)
        with ts.no_grad():
            w -= 5
        out.backward()
        np.testing.assert_allclose(w.grad.numpy(), expected)


def test_the_first_layer_of_a_model_keeps_no_weight_for_its_constant_input():
    """Linear and MatMul keep w only for dx: a step between forward and backward that changed only
    the first layer's weight is harmless (PyTorch: the same), the second layer's is not."""
    model = _net()
    x, y = _batch()
    loss = ts.functional.cross_entropy(model(x), y)
    with ts.no_grad():
        model[0].weight *= 2
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_retain_graph_then_a_step_then_a_second_backward_is_refused():
    w = leaf([[1.0, 2.0], [3.0, 4.0]])
    h = leaf([[1.0, -1.0]])
    out = (h @ w).sum()
    out.backward(retain_graph=True)
    opt = optim.Adam([w], lr=0.1)
    opt.step()
    with pytest.raises(RuntimeError, match=r"MatMul gate .*Adam\.step\(\) changed it"):
        out.backward()


def test_the_narrated_backward_checks_too():
    w, a = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    out = (a * w).sum()
    with ts.no_grad():
        w *= 2
    with pytest.raises(RuntimeError, match="the Mul gate saved a tensor"):
        trace_backward(out, echo=False)


def test_the_record_of_writes_keeps_no_array_alive():
    w = leaf([1.0, 2.0])
    with ts.no_grad():
        w += 1
    key = id(w.data)
    assert key in _writes
    del w
    gc.collect()
    assert key not in _writes


def test_a_written_grad_that_its_tensor_let_go_of_is_still_refused(torch):
    """The record lives as long as the array: a gate holds it after w.grad = None (or zero_grad)."""
    w = leaf([1.0, 2.0])
    (w * 3).sum().backward()
    g1 = (w * w.grad).sum()  # the Mul saves w.grad's array
    (w * 5).sum().backward()  # added to in place
    w.grad = None
    with pytest.raises(RuntimeError, match="the Mul gate saved a tensor .*adding into .grad"):
        g1.backward()
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    (tw * 3).sum().backward()
    tg1 = (tw * tw.grad).sum()
    (tw * 5).sum().backward()
    tw.grad = None
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tg1.backward()


def test_adding_into_an_existing_grad_keeps_no_more_memory_than_one_layers_gradient():
    """Gradients are added into .grad as they arrive (only a .grad that a gate of the graph saved
    waits for the end of the pass): a second backward must not hold every layer's gradient."""
    import tracemalloc
    model = nn.Sequential(*[nn.Linear(512, 512) for _ in range(4)])
    x = Tensor(np.ones((8, 512), np.float32))
    peaks = []
    for _ in range(2):
        out = model(x).sum()
        tracemalloc.start()
        out.backward()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    layer = 512 * 512 * 4  # (bytes of one weight's gradient; holding all four would take 4 of them)
    assert peaks[1] < 3 * layer, peaks  # (a layer's gradient, and the next one's while it is added)


def test_pytorch_refuses_and_accepts_the_same_cases(torch):
    """The parity the rules above claim: a saved weight (or a view of it) changed in place is an
    error in PyTorch too; a weight that only a constant's gradient would need is not."""
    a, w = torch.ones(2, 3, requires_grad=True), torch.ones(2, 3, requires_grad=True)
    out = (a @ w.T).sum()
    with torch.no_grad():
        w += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()
    c, w = torch.ones(2, 3), torch.ones(3, 2, requires_grad=True)
    out = (c @ w).sum()
    with torch.no_grad():
        w += 1
    out.backward()
    assert w.grad is not None


def test_a_gate_of_scalars_kept_a_copy_and_gives_the_gradient_at_the_forward_values():
    """Under Gate.scalars a 0-d input is saved as a NumPy scalar, a copy: nothing to refuse, and the
    second backward gives the same gradient as the first (docs/gates.md)."""
    w = leaf(3.0)
    out = w * w
    out.backward(retain_graph=True)
    with ts.no_grad():
        w += 1
    out.backward()
    assert w.grad.item() == 12.0  # 6 + 6: both at w = 3


def test_a_grad_used_as_a_value_then_added_to_in_place_is_refused(torch):
    """A second backward adds into w.grad in place (and zero_grad(set_to_none=False) zeroes it):
    a graph that used w.grad as a value would see the new one. PyTorch refuses both."""
    for change in ("backward", "zero_grad"):
        w, x = leaf([1.0, 2.0]), Tensor(np.array([3.0, 4.0]))
        (w * x).sum().backward()
        loss2 = (w * w.grad).sum()  # Mul saved w.grad's array
        if change == "backward":
            (w * x).sum().backward()
        else:
            optim.SGD([w], lr=0.1).zero_grad(set_to_none=False)
        with pytest.raises(RuntimeError, match=r"the Mul gate saved a tensor .*(adding into \.grad|zero_grad)"):
            loss2.backward()
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    (tw * 3).sum().backward()
    tloss = (tw * tw.grad).sum()
    (tw * 3).sum().backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()


def test_cross_entropy_keeps_the_logits_only_for_the_targets_gradient():
    z = leaf(np.zeros((2, 3)))
    loss = ts.functional.cross_entropy(z, Tensor(np.array([0, 1])))
    z.grad = Tensor(np.ones((2, 3)))
    optim.SGD([z], lr=0.1).step()  # (PyTorch accepts this too: its gradient needs no logits)
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy()[0], 1 + (np.full(3, 1 / 3) - [1, 0, 0]) / 2)


def test_many_writes_beside_a_retained_graph_that_did_not_save_them():
    """A 400-gate trunk kept with retain_graph, and 60 heads, each stepped between backwards: the
    heads' arrays were saved only by graphs already done with, so nothing is refused; a head
    changed under a pending graph is."""
    rng = np.random.default_rng(0)
    ws = [leaf(rng.random((4, 4)) / 4) for _ in range(200)]
    h = leaf(rng.random((2, 4)))
    for w in ws:
        h = (h @ w).tanh()
    heads = [leaf(rng.random((4, 1))) for _ in range(60)]
    for hd in heads:
        (h @ hd).sum().backward(retain_graph=True)
        optim.SGD([hd], lr=0.01).step()
    assert all(w.grad is not None for w in ws)
    out = (h @ heads[0]).sum()
    with ts.no_grad():
        heads[0] *= 2
    with pytest.raises(RuntimeError, match="the MatMul gate saved a tensor .*`\\*=` under no_grad"):
        out.backward(retain_graph=True)


def test_a_grad_used_as_a_value_in_the_graph_that_adds_into_it(torch):
    """loss = (w * w.grad).sum() + (w * 5).sum(): the add into w.grad must wait until the Mul that
    saved it has used it (it used to see 3 + 5 = 8, not 3). PyTorch gives 3 + 5 = 8 per element."""
    w, tw = leaf([1.0, 2.0]), torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    (w * 3).sum().backward()
    (tw * 3).sum().backward()
    ((w * w.grad).sum() + (w * 5).sum()).backward()
    ((tw * tw.grad).sum() + (tw * 5).sum()).backward()
    np.testing.assert_array_equal(w.grad.numpy(), tw.grad.numpy())
    np.testing.assert_array_equal(w.grad.numpy(), [11.0, 11.0])
    v = leaf([1.0, 2.0])
    (v * 3).sum().backward()
    trace_backward((v * v.grad).sum() + (v * 5).sum(), echo=False)  # (the narrated pass: the same)
    np.testing.assert_array_equal(v.grad.numpy(), [11.0, 11.0])


def test_a_seed_that_is_a_leafs_grad_is_not_changed_under_the_pass():
    """x.backward(w.grad): the pass adds into w.grad while Add still hands the seed to x's branch.
    (PyTorch gives x.grad = [40, 80] here; the gradient of x*2 + w is 2 * seed = [20, 40].)"""
    w, x = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    w.grad = Tensor(np.array([10.0, 20.0]))
    (x * 2 + w).backward(w.grad)
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 40.0])
    np.testing.assert_array_equal(w.grad.numpy(), [20.0, 40.0])


NARRATE = pytest.mark.parametrize("narrate", [False, True], ids=["backward", "trace_backward"])


def _run(out, seed, narrate, **kw):
    trace_backward(out, seed, echo=False, **kw) if narrate else out.backward(seed, **kw)


@NARRATE
@pytest.mark.parametrize("how", ["the-grad", "a-view-of-it", "its-base", "the-base-of-a-view-grad"])
def test_a_seed_sharing_memory_with_a_leafs_grad_is_used_as_it_was(narrate, how):
    """x.backward(w.grad), or a seed that shares w.grad's memory some other way: the pass adds into
    w.grad while gates still hand the seed on, so the seed is copied first (and only then)."""
    w, x = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    buf = np.array([10.0, 20.0])
    w.grad = ts.from_numpy(buf[:]) if how == "the-base-of-a-view-grad" else Tensor(buf)
    seed = {"the-grad": w.grad, "a-view-of-it": w.grad.data[:], "its-base": w.grad.data,
            "the-base-of-a-view-grad": buf}[how]
    _run(x * 2 + w, seed, narrate)
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 40.0])
    np.testing.assert_array_equal(w.grad.numpy(), [20.0, 40.0])


@NARRATE
def test_a_seed_that_is_a_retained_tensors_grad_is_used_as_it_was(narrate):
    x = leaf([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    y.backward(np.ones(2), retain_graph=True)
    _run(y, y.grad, narrate)
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 2.0])


@NARRATE
def test_a_seed_that_is_one_leafs_grad_is_not_added_into_before_another_leafs_sum(narrate):
    """Two leaves wait for the end of the pass (w.grad saved by a gate, v.grad the seed): the add
    into v.grad must not reach w's sum."""
    w, v, x = leaf([1.0, 2.0]), leaf([3.0, 4.0]), leaf([5.0, 6.0])
    v.grad, w.grad = Tensor(np.array([10.0, 20.0])), Tensor(np.array([1.0, 1.0]))
    _run((v + w) + x * w.grad, v.grad, narrate, retain_graph=True)
    np.testing.assert_array_equal(v.grad.numpy(), [20.0, 40.0])
    np.testing.assert_array_equal(w.grad.numpy(), [11.0, 21.0])


def test_a_seed_apart_from_every_grad_is_not_copied():
    """(A copy of a large seed costs about what a matmul's backward takes over NumPy's.)"""
    seen = []

    class Spy(ts.Gate):
        def forward(self, x):
            return x * 1.0

        def backward(self, g):
            seen.append(g)
            return g * 1.0

    seed = np.array([1.0, 1.0])
    Spy.apply(leaf([1.0, 2.0])).backward(seed)
    assert seen[0] is seed


def test_trace_backward_defers_exactly_what_backward_does():
    """A leaf whose .grad this pass made must not be deferred (the rounding would differ)."""
    e = 2.0 ** -53
    results = []
    for narrate in (False, True):
        w, x, a = leaf([1.0]), leaf([3.0]), leaf([2.0])
        w.grad = Tensor(np.array([1.0]))
        loss = (w * e).sum() + (w * e).sum() + (x * w.grad).sum() + (a * a).sum()
        trace_backward(loss, echo=False) if narrate else loss.backward()
        results.append([t.grad.numpy().tobytes() for t in (w, x, a)])
    assert results[0] == results[1]


def test_a_parameter_that_is_a_view_is_followed_through_its_memory():
    """The write record follows the memory's owner: a gate saved another view of it (w.T), and the
    tensor let go of the written view, yet the saved values did change."""
    buf = np.arange(8.0)
    w = ts.from_numpy(buf[:4].reshape(2, 2))
    w.requires_grad_(True)
    x = leaf([[1.0, 2.0]])
    out = (x @ w.T).sum()
    with ts.no_grad():
        w -= 1
    w.data = w.data.copy()
    with pytest.raises(RuntimeError, match="changed it in place after the gate was recorded"):
        out.backward()


def test_a_memmap_parameter_is_checked_too(tmp_path):
    arr = np.memmap(tmp_path / "w.bin", dtype=np.float64, mode="w+", shape=(2,))
    arr[:] = [1.0, 2.0]
    w = ts.from_numpy(arr)
    w.requires_grad_(True)
    x = leaf([3.0, 4.0])
    out = (x * w).sum()
    with ts.no_grad():
        w -= 1
    with pytest.raises(RuntimeError, match="changed it in place after the gate was recorded"):
        out.backward()
