"""Training must not leak or hoard: after a step, nothing of the previous step's graph stays alive.

The graph is a DAG of gates pointing at their parents; tensors point at the gate that made them,
and `retain_grad()` is a weak reference back. So plain reference counting frees a step's graph
as soon as its loss is dropped -- no reference cycles, no wait for the garbage collector.
"""
import contextlib
import gc
import tracemalloc
import weakref

import numpy as np

import tinygrad_sm as ts
from tinygrad_sm import Gate, Tensor
from tinygrad_sm.functional import cross_entropy


@contextlib.contextmanager
def gc_disabled():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def make_net(rng, n_in=2, hidden=32, classes=3):
    """Parameters of a 2-layer MLP, as plain leaf tensors."""
    return [Tensor(rng.standard_normal((n_in, hidden)) * 0.5, requires_grad=True),
            Tensor(np.zeros(hidden), requires_grad=True),
            Tensor(rng.standard_normal((hidden, classes)) * 0.5, requires_grad=True),
            Tensor(np.zeros(classes), requires_grad=True)]


def make_data(rng, n=64, classes=3):
    x = rng.standard_normal((n, 2))
    y = (np.arctan2(x[:, 1], x[:, 0]) // (2 * np.pi / classes)).astype(np.int64) % classes
    return Tensor(x), Tensor(y)


def train_step(params, x, y, lr=0.1, retain=False):
    """One SGD step from primitive ops; returns the loss (its graph already released)."""
    w1, b1, w2, b2 = params
    h = (x @ w1 + b1).relu()
    if retain:
        h.retain_grad()  # a weak reference from the gate back to h: must not keep anything alive
    loss = cross_entropy(h @ w2 + b2, y)
    loss.backward()
    for p in params:
        p.data -= lr * p.grad.data
        p.zero_grad()
    return loss


def graph_gates(loss):
    """Every gate of the graph behind `loss`."""
    seen, stack = [], [loss.grad_fn]
    while stack:
        g = stack.pop()
        if g not in seen:
            seen.append(g)
            stack.extend(p for p in g.parents if isinstance(p, Gate))
    return seen


def test_a_steps_graph_is_freed_by_reference_counting_alone():
    rng = np.random.default_rng(0)
    params, (x, y) = make_net(rng), make_data(rng)
    with gc_disabled():  # no collector: only cycle-free garbage can go
        loss = train_step(params, x, y, retain=True)
        gates = graph_gates(loss)
        assert {g.name for g in gates} >= {"MatMul", "Add", "ReLU", "CrossEntropy"}
        refs = [weakref.ref(g) for g in gates] + [weakref.ref(loss)]
        del gates
        loss = train_step(params, x, y, retain=True)  # step k+1 drops step k's loss
        alive = [r() for r in refs if r() is not None]
        assert alive == [], f"still alive after the next step: {alive}"
    assert all(p.is_leaf and p.grad is None for p in params)  # the update itself holds nothing


def test_intermediate_tensors_die_with_their_step():
    rng = np.random.default_rng(1)
    params, (x, y) = make_net(rng), make_data(rng)
    w1, b1, w2, b2 = params
    with gc_disabled():
        h = (x @ w1 + b1).relu()
        logits = h @ w2 + b2
        loss = cross_entropy(logits, y)
        refs = [weakref.ref(t) for t in (h, logits, loss)]
        inputs = {id(t.data) for t in (x, y, *params)}
        saved = [weakref.ref(a) for g in graph_gates(loss) for a in (g.saved or ())
                 if isinstance(a, np.ndarray) and id(a) not in inputs]
        assert len(saved) >= 3  # e.g. the ReLU output, the hidden layer for the 2nd matmul, log p
        loss.backward()
        assert all(g.saved is None for g in graph_gates(loss)), "backward() frees what gates saved"
        del h, logits, loss
        assert all(r() is None for r in refs)
        assert [r() for r in saved if r() is not None] == []


def test_training_leaves_no_cyclic_garbage():
    rng = np.random.default_rng(2)
    params, (x, y) = make_net(rng), make_data(rng)
    gc.collect()  # start from a clean slate
    flags = gc.get_debug()
    with gc_disabled():
        for _ in range(5):
            train_step(params, x, y, retain=True)
        try:
            gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the collector finds, to look at it
            gc.collect()
            ours = [o for o in gc.garbage if isinstance(o, (Gate, Tensor, np.ndarray))]
        finally:
            gc.set_debug(flags)
            gc.garbage.clear()
    assert ours == [], f"objects only the garbage collector could free: {ours[:5]}"


def test_memory_does_not_grow_across_training_steps():
    rng = np.random.default_rng(3)
    params, (x, y) = make_net(rng, hidden=64), make_data(rng, n=128)
    losses = []
    tracemalloc.start()
    try:
        for _ in range(10):  # warm up: caches, first-use allocations
            losses.append(train_step(params, x, y).item())
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        loss = train_step(params, x, y)
        _, peak = tracemalloc.get_traced_memory()
        one_step = peak - before  # what one step's graph and gradients take at their largest
        del loss
        for _ in range(50):
            losses.append(train_step(params, x, y).item())
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert losses[-1] < losses[0]  # it did train
    assert one_step > 50_000  # the bound below means something: a step allocates this much
    # 50 more steps may not keep even a tenth of one step's graph
    assert after - before < one_step / 10, f"grew by {after - before} bytes; one step takes {one_step}"


def test_no_grad_inference_keeps_nothing():
    rng = np.random.default_rng(4)
    params, (x, _) = make_net(rng), make_data(rng)
    w1, b1, w2, b2 = params
    with gc_disabled(), ts.no_grad():
        h = (x @ w1 + b1).relu()
        out = h @ w2 + b2
        assert out.grad_fn is None and h.grad_fn is None
        ref = weakref.ref(h)
        del h
        assert ref() is None
