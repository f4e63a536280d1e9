"""tinygrad_sm.viz: the DOT picture of a graph, draw(), and the narrated backward pass."""
import os
import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import Gate, Tensor, viz
from tinygrad_sm.tensor import topological_order

EDGE = re.compile(r"^\s*(\w+) -> (\w+)")
NODE = re.compile(r"^\s*(\w+) \[.*label=\"(.*)\"\];$")


def scalars(**values):
    return [Tensor(v, dtype="float64", requires_grad=True, name=n) for n, v in values.items()]


def cs231n():
    x, y, z = scalars(x=-2.0, y=5.0, z=-4.0)
    f = (x + y) * z
    return f, (x, y, z)


def parse_dot(text):
    nodes = dict(m.groups() for m in map(NODE.match, text.splitlines()) if m)
    edges = [m.groups() for m in map(EDGE.match, text.splitlines()) if m]
    return nodes, edges


def small_net(seed=0):
    """A float64 graph with reuse, broadcasting, matmul, max, relu and the fused loss."""
    rng = np.random.default_rng(seed)
    x = Tensor(rng.normal(size=(5, 4)), name="x")
    w = Tensor(rng.normal(size=(4, 3)), requires_grad=True, name="w")
    b = Tensor(rng.normal(size=3), requires_grad=True, name="b")
    h = (x @ w + b).relu()
    z = h * w.sum(axis=0) + ts.maximum(h, b)  # w and b are used twice
    loss = ts.cross_entropy(z, np.array([0, 2, 1, 1, 0])) + (b * b).mean()
    return loss, (w, b)


# ------------------------------------------------------------------------------------------------
# to_dot
# ------------------------------------------------------------------------------------------------
def test_dot_of_the_cs231n_circuit_has_its_gates_leaves_and_data_flow_edges():
    f, (x, y, z) = cs231n()
    nodes, edges = parse_dot(viz.to_dot(f))
    gates = {k: v for k, v in nodes.items() if k.startswith("gate")}
    leaves = {k: v for k, v in nodes.items() if k.startswith("leaf")}
    assert len(gates) == 2 and len(leaves) == 3
    assert sorted(v.split("\\n")[0] for v in leaves.values()) == ["x", "y", "z"]
    add = next(k for k, v in gates.items() if v.startswith("Add"))
    mul = next(k for k, v in gates.items() if v.startswith("Mul"))
    name = {v.split("\\n")[0]: k for k, v in leaves.items()}
    assert edges == [(name["x"], add), (name["y"], add), (add, mul), (name["z"], mul)]
    assert "= 3" in gates[add] and "= -12" in gates[mul]  # values recomputed from the leaves
    assert "= -2" in leaves[name["x"]]


def test_dot_edges_are_in_data_flow_order():
    loss, _ = small_net()
    nodes, edges = parse_dot(viz.to_dot(loss))
    # a gate's outgoing edges come after all of its incoming edges
    first_out = {}
    last_in = {}
    for k, (src, dst) in enumerate(edges):
        first_out.setdefault(src, k)
        last_in[dst] = k
    for node, k in first_out.items():
        if node in last_in:
            assert last_in[node] < k, node
    n_gates = len(topological_order(loss.grad_fn))
    assert sum(1 for k in nodes if k.startswith("gate") and "_const" not in k) == n_gates


def test_dot_gradient_labels_only_when_asked():
    f, (x, y, z) = cs231n()
    assert "grad " not in viz.to_dot(f)
    trace = viz.trace_backward(f, echo=False)
    text = viz.to_dot(f, show_grad=True, trace=trace)
    nodes, _ = parse_dot(text)
    assert [v for v in nodes.values() if v.startswith("x\\n")][0].endswith("grad -4")
    assert [v for v in nodes.values() if v.startswith("z\\n")][0].endswith("grad 3")
    wire = re.findall(r"(\w+) -> (\w+) \[.*label=\"grad ([-\d.e]+)\"", text)
    assert sorted(float(g) for *_, g in wire) == [-4.0, -4.0, -4.0, 3.0]
    # without the trace, the leaves still show their .grad
    assert "grad -4" in viz.to_dot(f, show_grad=True) and "label=\"grad" not in viz.to_dot(f, show_grad=True)


def test_dot_shapes_only_and_large_values_summarised():
    loss, _ = small_net()
    text = viz.to_dot(loss, values=False)
    assert 'label="MatMul\\n(5, 3) float64"' in text and 'label="CrossEntropy\\n() float64"' in text
    assert 'label="w\\n(4, 3) float64"' in text
    x = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True, name="x")
    text = viz.to_dot((x * 2).sum(axis=0), max_elements=4)
    assert 'label="x\\n= (3, 4) float64"' in text  # too many values for a picture
    assert 'label="Sum\\n= [24, 30, 36, 42]"' in text


def test_dot_names_kept_intermediates_and_quotes_odd_names():
    x, y = scalars(x=1.0, y=2.0)
    q = x * y
    q.name = 'say "hi"\\'
    f = q + x
    text = viz.to_dot(f, tensors=[q])
    assert 'Mul: say \\"hi\\"\\\\' in text


def test_dot_of_a_leaf_alone():
    (x,) = scalars(x=3.0)
    nodes, edges = parse_dot(viz.to_dot(x))
    assert list(nodes.values()) == ["x\\n= 3"] and edges == []


def test_to_dot_leaves_the_graph_usable():
    f, (x, y, z) = cs231n()
    viz.to_dot(f)  # recomputes values on copies of the gates
    f.backward()
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's dot program is not installed (apt-get install graphviz)")
def test_dot_output_is_valid_for_graphviz(tmp_path):
    loss, _ = small_net()
    trace = viz.trace_backward(loss, echo=False, retain_graph=True)
    for text in (viz.to_dot(loss), viz.to_dot(loss, show_grad=True, trace=trace)):
        done = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "<svg" in done.stdout
    out = viz.draw(loss, tmp_path / "net.svg")
    assert out == tmp_path / "net.svg" and "<svg" in out.read_text()


def test_draw_without_graphviz_writes_dot_and_says_how_to_render(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    f, _ = cs231n()
    out = viz.draw(f, tmp_path / "circuit.png")
    assert out == tmp_path / "circuit.dot" and out.read_text().startswith("digraph")
    assert not (tmp_path / "circuit.png").exists()
    err = capsys.readouterr().err
    assert f"dot -Tpng {out} -o {tmp_path / 'circuit.png'}" in err and "install Graphviz" in err


@pytest.mark.parametrize("script, match", [("sleep 30", "took more than 0.5 s"),
                                           ("echo half a picture; echo broken >&2; exit 3", "dot failed.*broken")])
def test_draw_with_a_dot_that_hangs_or_fails_says_so_and_leaves_the_old_picture(tmp_path, monkeypatch,
                                                                                 script, match):
    fake = tmp_path / "dot"
    fake.write_text(f"#!/bin/sh\ncat > /dev/null\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(viz.shutil, "which", lambda name: str(fake))
    monkeypatch.setattr(viz, "DOT_TIMEOUT", 0.5)
    (tmp_path / "pic").mkdir()
    old = tmp_path / "pic" / "g.svg"
    old.write_text("<svg>the old picture</svg>")
    f, _ = cs231n()
    with pytest.raises(RuntimeError, match=match):
        viz.draw(f, old)
    assert old.read_text() == "<svg>the old picture</svg>"
    assert os.listdir(tmp_path / "pic") == ["g.svg"]  # no half-written picture beside it


def test_draw_into_a_missing_directory_names_the_picture_not_a_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: "/bin/true")  # (a dot that is never reached)
    f, _ = cs231n()
    with pytest.raises(FileNotFoundError, match=r"cannot write .*nodir/g\.svg: the directory .*nodir does not exist"):
        viz.draw(f, tmp_path / "nodir" / "g.svg")


def test_draw_dot_suffix_and_bad_suffix(tmp_path):
    f, _ = cs231n()
    assert viz.draw(f, tmp_path / "g.dot").read_text() == viz.to_dot(f)
    with pytest.raises(ValueError, match=r"draw: cannot tell the picture format from .*g\.jpeg"):
        viz.draw(f, tmp_path / "g.jpeg")


# ------------------------------------------------------------------------------------------------
# trace_backward
# ------------------------------------------------------------------------------------------------
def test_trace_leaves_the_same_grads_as_backward():
    loss, (w, b) = small_net(seed=1)
    viz.trace_backward(loss, echo=False)
    loss2, (w2, b2) = small_net(seed=1)
    loss2.backward()
    assert np.array_equal(w.grad.numpy(), w2.grad.numpy())
    assert np.array_equal(b.grad.numpy(), b2.grad.numpy())


def test_backward_with_trace_true_narrates_and_returns_the_trace(capsys):
    f, (x, y, z) = cs231n()
    trace = f.backward(trace=True)
    assert isinstance(trace, viz.Trace) and [r.op for r in trace.records] == ["Mul", "Add"]
    assert [x.grad.item(), y.grad.item(), z.grad.item()] == [-4.0, -4.0, 3.0]
    out = capsys.readouterr().out
    assert "Mul" in out and "swaps" in out
    with pytest.raises(RuntimeError, match="second time"):
        f.backward(trace=True)  # the graph was freed, as by a plain backward()
    assert f.backward.__doc__ and "trace=True" in f.backward.__doc__


def test_trace_records_follow_backward_order_and_add_up():
    loss, (w, b) = small_net(seed=2)
    order = list(reversed(topological_order(loss.grad_fn)))
    trace = viz.trace_backward(loss, echo=False)
    assert [r.gate for r in trace] == order
    assert [r.step for r in trace] == list(range(1, len(order) + 1))
    assert trace[0].upstream == 1.0 and trace.seed == 1.0
    # each gate's upstream gradient is the sum of what its consumers sent it
    sent = {}
    for r in trace:
        for i in r.inputs:
            if i.grad is not None:
                key = id(r.gate.parents[i.index])
                sent[key] = sent.get(key, 0) + i.grad
    for r in trace[1:]:
        np.testing.assert_allclose(r.upstream, sent[id(r.gate)], rtol=1e-12, atol=0)
    for leaf in (w, b):
        np.testing.assert_allclose(leaf.grad.numpy(), sent[id(leaf)], rtol=1e-12, atol=0)
    assert dict(trace.leaf_grads).keys() == {"w", "b"}


def test_trace_of_the_cs231n_circuit_narrates_each_gate(capsys):
    f, (x, y, z) = cs231n()
    f.name = "f"
    trace = viz.trace_backward(f)
    mul, add = trace.records
    assert (mul.op, add.op) == ("Mul", "Add")
    assert [i.label for i in mul.inputs] == ["Add#1", "z"]
    assert mul.inputs[0].value == 3.0 and mul.inputs[1].value == -4.0
    assert [float(i.grad) for i in mul.inputs] == [-4.0, 3.0]  # mul swaps: g * other input
    assert add.upstream == -4.0 and [float(i.grad) for i in add.inputs] == [-4.0, -4.0]
    assert "mul swaps" in mul.rule and "add distributes" in add.rule
    out = capsys.readouterr().out
    assert "[1] Mul -> f = -12" in out and "sends     -4 -> Add#1   3 -> z" in out
    assert "df/dx = -4, df/dy = -4, df/dz = 3" in out
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


@pytest.mark.parametrize("build, op, words", [
    (lambda a, b: ts.maximum(a, b).sum(), "Maximum", "max routes"),
    (lambda a, b: (a - b).relu().sum(), "ReLU", "ReLU gates"),
    (lambda a, b: ts.cross_entropy(a.reshape(2, 3) * b.reshape(2, 3), np.array([1, 2])), "CrossEntropy", "p - y"),
    (lambda a, b: (a.reshape(2, 3) @ b.reshape(3, 2)).sum(), "MatMul", "dX = G W^T, dW = X^T G"),
    (lambda a, b: (a ** 2).sum() + b.sum(), "PowScalar", "c = 2"),
])
def test_rules_in_words(build, op, words):
    rng = np.random.default_rng(0)
    a = Tensor(rng.normal(size=6), requires_grad=True)
    b = Tensor(rng.normal(size=6), requires_grad=True)
    trace = viz.trace_backward(build(a, b), echo=False)
    rec = next(r for r in trace if r.op == op)
    assert words in rec.rule


class Cube(Gate):
    """y = x**3;  dy/dx = 3 x**2.

    More text that is not the rule."""

    def forward(self, x):
        self.save_for_backward(x)
        return x ** 3

    def backward(self, g):
        (x,) = self.saved
        return g * 3 * x ** 2


class Add(Gate):  # a user gate that shares a library gate's name, without a docstring
    def forward(self, x):
        return x + 1

    def backward(self, g):
        return g


def test_user_gates_are_described_by_their_docstring():
    (x,) = scalars(x=2.0)
    trace = viz.trace_backward(Add.apply(Cube.apply(x)), echo=False)
    assert trace[1].rule == "y = x**3;  dy/dx = 3 x**2."
    assert trace[0].rule.startswith("Add: no rule recorded")
    assert x.grad.item() == 12.0


def test_trace_summarises_large_tensors():
    loss, _ = small_net()
    trace = viz.trace_backward(loss, echo=False)
    mm = next(r for r in trace if r.op == "MatMul")
    assert re.search(r"upstream  dL/d\(MatMul#\d+\) = \(5, 3\) float64, mean -?[\d.e-]+, min", mm.text())
    d = mm.to_dict()
    assert d["upstream"]["shape"] == [5, 3] and set(d["upstream"]) == {"shape", "dtype", "mean", "min", "max"}
    assert d["inputs"][1]["label"] == "w" and d["inputs"][1]["grad"]["shape"] == [4, 3]
    bb = next(r for r in trace if r.op == "Mul" and r.shape == (3,))  # b * b: small enough to list
    assert bb.to_dict(max_elements=3)["inputs"][0]["value"] == bb.inputs[0].value.tolist()
    assert isinstance(bb.to_dict(max_elements=2)["inputs"][0]["value"], dict)
    assert viz.summarize(np.arange(4.0)) == "[0, 1, 2, 3]"
    assert viz.summarize(np.zeros((3, 3))) == "(3, 3) float64, mean 0, min 0, max 0"


def test_trace_json_round_trips():
    import json
    f, _ = cs231n()
    d = json.loads(viz.trace_backward(f, echo=False).to_json())
    assert [s["op"] for s in d["steps"]] == ["Mul", "Add"]
    assert d["leaf_grads"] == {"x": -4.0, "y": -4.0, "z": 3.0}


def test_trace_frees_the_graph_unless_retained():
    f, (x, _, _) = cs231n()
    viz.trace_backward(f, echo=False, retain_graph=True)
    viz.trace_backward(f, echo=False)
    assert x.grad.item() == -8.0  # accumulated twice, as backward() does
    with pytest.raises(RuntimeError, match="a second time"):
        f.backward()


def test_trace_with_an_explicit_gradient_and_retain_grad():
    rng = np.random.default_rng(3)
    a = Tensor(rng.normal(size=(2, 3)), requires_grad=True)
    h = (a * 2).exp()
    h.retain_grad()
    y = h.sum(axis=1)
    seed = np.array([1.0, -2.0])
    viz.trace_backward(y, grad=seed, echo=False)
    a2 = Tensor(a.numpy().copy(), requires_grad=True)
    h2 = (a2 * 2).exp()
    h2.retain_grad()
    h2.sum(axis=1).backward(seed)
    assert np.array_equal(a.grad.numpy(), a2.grad.numpy())
    assert np.array_equal(h.grad.numpy(), h2.grad.numpy())
    with pytest.raises(RuntimeError, match="one-element output"):
        viz.trace_backward((a * 2).sum(axis=1), echo=False)
    with pytest.raises(ValueError, match=r"grad has shape \(3,\)"):
        viz.trace_backward((a * 2).sum(axis=1), grad=np.ones(3), echo=False)


def test_trace_on_a_tensor_without_grad_or_a_leaf():
    with pytest.raises(RuntimeError, match="does not require grad"):
        viz.trace_backward(Tensor(1.0), echo=False)
    (x,) = scalars(x=2.0)
    trace = viz.trace_backward(x, echo=False)
    assert len(trace) == 0 and x.grad.item() == 1.0


def test_constants_are_unknown_unless_the_builder_says():
    w, x = scalars(w=2.0, x=-1.0)
    one = np.array(1.0)  # an array operand becomes a constant input (a number, a constant gate)
    s = 1 / (one + (-(w * x)).exp())
    trace = viz.trace_backward(s, echo=False, retain_graph=True)
    div = trace[0]
    assert div.inputs[0].kind == "constant" and div.inputs[0].value is None
    assert div.inputs[1].value is None  # 1 + e**-x: one input is a constant nobody recorded
    exp = next(r for r in trace if r.op == "Exp")
    np.testing.assert_allclose(exp.value, np.exp(2.0))  # everything from the leaves is recomputed
    # the viz_inputs / viz_output protocol fills the gaps
    plus = s.grad_fn.parents[1]
    plus.viz_inputs = (np.array(1.0), np.array(np.exp(2.0)))
    s.grad_fn.viz_inputs = (np.array(1.0), None)
    trace = viz.trace_backward(s, echo=False)
    assert trace[0].inputs[0].value == 1.0
    np.testing.assert_allclose(trace[0].inputs[1].value, 1 + np.exp(2.0))
    assert 'label="1"' in viz.to_dot(s)  # the constant's value in the picture


def test_a_number_in_an_op_is_kept_by_its_constant_gate():
    (w,) = scalars(w=2.0)
    s = (w * 3.0 + 1) * -0.5
    trace = viz.trace_backward(s, echo=False)
    assert [r.op for r in trace] == ["MulConst", "AddConst", "MulConst"]
    assert "c = -0.5" in trace[0].rule and "(1)" in trace[1].rule
    np.testing.assert_allclose(trace[1].inputs[0].value, 6.0)  # recomputed: nothing is unknown
    assert w.grad.item() == -1.5


def test_deep_graphs_need_no_recursion():
    x = Tensor(np.ones(2), requires_grad=True, name="x")
    y = x
    for _ in range(1500):  # 3,000 gates: deeper than Python's recursion limit
        y = y.tanh() + x
    trace = viz.trace_backward(y.sum(), echo=False, retain_graph=True)
    assert len(trace) == 3001
    nodes, edges = parse_dot(viz.to_dot(y.sum()))
    assert len(edges) == 1500 * 3 + 1  # tanh: one input, add: two, sum: one
    g = x.grad.numpy().copy()
    x.zero_grad()
    y.sum().backward()
    assert np.array_equal(g, x.grad.numpy())


def test_every_library_gate_has_a_rule_and_every_rule_a_gate():
    library = {cls.__name__: cls for cls in Gate.registry
               if cls.__module__.startswith("tinygrad_sm.gates") and not cls.__name__.startswith("_")}
    assert set(viz.RULES) <= set(library)  # no rule for a gate that does not exist (typos)
    for name, cls in library.items():
        rule = viz.rule_for(object.__new__(cls))  # attributes left unset show as '?'
        assert rule and "no rule recorded" not in rule, name


def test_weight_templates_writes_a_png_and_checks_the_shape(tmp_path):
    pytest.importorskip("matplotlib")
    w = np.random.default_rng(0).standard_normal((10, 784))
    out = viz.weight_templates(w, tmp_path / "t.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"weight of shape \(10, 100\)"):
        viz.weight_templates(w[:, :100], tmp_path / "bad.png")


def test_weight_templates_wants_one_title_per_row(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install \"tinygrad-sm[plot]\")")
    from tinygrad_sm.viz import weight_templates
    with pytest.raises(ValueError, match="2 titles for 3 rows"):
        weight_templates(np.ones((3, 784)), tmp_path / "w.png", titles=["a", "b"])
    assert not (tmp_path / "w.png").exists()
    weight_templates(np.ones((3, 784)), tmp_path / "w.png", titles=[])  # (none: each row's index)
    weight_templates(np.ones((3, 784)), tmp_path / "w.png", titles=list("abcd"))  # (more: ignored)


def test_a_kept_trace_shows_the_values_of_its_pass_after_an_optimizer_step():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")
    loss = (w * Tensor(np.array([3.0, 4.0]))).sum()
    trace = viz.trace_backward(loss, echo=False)
    before = trace.to_json()
    ts.optim.SGD([w], lr=0.5).step()
    assert trace.to_json() == before


def test_leaf_gradients_of_leaves_with_one_name_are_all_in_the_json():
    w1 = Tensor(np.array(3.0), requires_grad=True, name="w")
    w2 = Tensor(np.array(2.0), requires_grad=True, name="w")
    trace = viz.trace_backward(w1 * w2 * w2, echo=False)
    assert sorted(trace.to_dict()["leaf_grads"].values()) == [4.0, 12.0]


def test_summaries_of_large_float32_values_do_not_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = viz.summarize(np.full(10, 3e38, np.float32), 6)
        assert "mean 3e+38" in text
        assert "mean nan" in viz.summarize(np.array([np.inf, -np.inf] * 5, np.float32), 6)


def test_save_figure_writes_whole_files_with_a_temporary_name_of_its_own(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    bystander = tmp_path / "x.png.tmp.png"  # (the name the old fixed temporary file took)
    bystander.write_text("keep me")
    out = viz.save_figure(fig, tmp_path / "x.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and bystander.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png", "x.png.tmp.png"]
    with pytest.raises(FileNotFoundError, match="directory .*missing does not exist"):
        viz.save_figure(fig, tmp_path / "missing" / "y.png")
