"""Look at backprop: the graph as a Graphviz picture, and a narrated backward pass.

    from tinygrad_sm import Tensor, viz
    x, y, z = (Tensor(v, dtype="float64", requires_grad=True, name=n) for v, n in ((-2, "x"), (5, "y"), (-4, "z")))
    f = (x + y) * z
    trace = viz.trace_backward(f)          # prints each gate's rule and what it sends back
    viz.draw(f, "circuit.svg", show_grad=True, trace=trace)  # values on nodes, gradients on wires

The graph keeps gates and leaves, not the intermediate tensors, so the value a gate produced
is not stored on it. To show values, this module finds them in order:
  1. `gate.viz_output` / `gate.viz_inputs` (arrays), set by whoever built the graph
     (`tinygrad_sm.explain` does);
  2. intermediate tensors you pass as `tensors=` (their values, and their names as labels);
  3. recomputing: each gate's forward is run again, on a copy of the gate, from its inputs'
     values, i.e. from the leaves' *current* data (after an optimizer step, the new values; a
     gate whose forward draws random numbers would draw new ones).
An input that needs no gradient (a constant such as the 1 in 1 + e**-x, or a batch of data) is
not on the graph: its value, and everything computed from it, is known only through 1 or 2;
otherwise the picture and the trace show its shape.
"""
from __future__ import annotations

import copy
import inspect
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, TextIO, Union

import numpy as np

from ._files import replacing, write_text
from .gates.base import Gate, GateError
from .tensor import (_LeafGrads, Tensor, _leaf_self_grad, _seed_apart_from_grads, _watched, as_a_pass,
                     check_graph, topological_order)

# One sentence per library gate: the local gradient rule in words. `{attr}` fields are filled
# from the gate's attributes (exponent, reduction, ...). Gates not listed here, your own
# included, are described by the first line of their docstring.
RULES: dict[str, str] = {
    "Add": "add distributes: each input gets the upstream gradient unchanged (summed over broadcast dims)",
    "AddConst": "add a constant ({c:g}): the input gets the upstream gradient unchanged",
    "Sub": "subtract: the first input gets the upstream gradient, the second its negative",
    "Neg": "negate: the input gets minus the upstream gradient",
    "Mul": "mul swaps: each input gets the upstream gradient times the other input",
    "MulConst": "scale by a constant c = {c:g}: the input gets c * the upstream gradient",
    "Div": "divide z = a / b: a gets g / b, b gets -g * a / b**2",
    "PowScalar": "power rule z = x**c with c = {exponent:g}: x gets g * c * x**(c - 1)",
    "Pow": "power z = a**b: a gets g * b * a**(b - 1), b gets g * z * ln(a)",
    "Exp": "exp: the input gets the upstream gradient times the output e**x",
    "Log": "log: the input gets the upstream gradient divided by the input (d ln x = 1/x)",
    "Sqrt": "sqrt: the input gets g / (2 sqrt(x))",
    "Abs": "abs: the input gets g * sign(x) (0 at x == 0)",
    "Cast": "cast: the gradient passes through, cast back to the input's dtype",
    "Maximum": "max routes: the whole upstream gradient goes to the larger input (half each on a tie)",
    "Minimum": "min routes: the whole upstream gradient goes to the smaller input (half each on a tie)",
    "Where": "where routes by its condition: the first input gets the upstream gradient where the "
             "condition holds, the second elsewhere",
    "ReLU": "ReLU gates: the upstream gradient passes where the input was > 0 and is blocked elsewhere",
    "Sigmoid": "sigmoid: the input gets g * s * (1 - s), from the output s",
    "Tanh": "tanh: the input gets g * (1 - t**2), from the output t",
    "Clip": "clip: the gradient passes inside [lo, hi] and is blocked outside",
    "Dropout": "dropout gates (p = {p:g}): the gradient passes, times 1 / (1 - p), where the input "
               "was kept, and is blocked where it was dropped",
    "Sum": "sum distributes: every summed element gets the upstream gradient",
    "Mean": "mean: every averaged element gets the upstream gradient divided by the count",
    "Max": "max routes: the upstream gradient goes to the largest element (shared on ties)",
    "Min": "min routes: the upstream gradient goes to the smallest element (shared on ties)",
    "LogSumExp": "logsumexp: each element gets g * softmax(x)",
    "Reshape": "reshape: the gradient is reshaped back to the input's shape",
    "Permute": "permute: the gradient's axes are put back in the input's order",
    "Expand": "expand: the gradient is summed over the broadcast dimensions",
    "Concat": "concat: each input gets its own slice of the upstream gradient",
    "Stack": "stack: each input gets its slice of the upstream gradient along the new axis",
    "GetItem": "indexing: the upstream gradient is scattered back into zeros shaped like the input "
               "(an element picked twice gets both)",
    "MatMul": "matmul, mul swaps for matrices: dX = G W^T, dW = X^T G",
    "Softmax": "softmax: dx = p * (g - sum(g * p)), the Jacobian diag(p) - p p^T applied to g",
    "LogSoftmax": "log-softmax: dx = g - softmax(x) * sum(g)",
    "CrossEntropy": "softmax-CE gives p - y: the logits get (softmax(z) - onehot(y)) / N for "
                    "reduction='mean' (this gate: reduction={reduction!r})",
    "NLLLoss": "NLL picks: each row's target log-probability gets -1 (/ N for the mean), "
               "every other entry 0",
    "Linear": "fused linear y = x W^T + b (relu={relu}): ReLU gates G first where fused, then "
              "dx = G W, dW = G^T x, db = G summed over the rows",
    "MultiClassHinge": "hinge: each violated margin sends +g to its class score and -g to the true "
                       "class's score; satisfied margins send nothing (max routes)",
    "BCEWithLogits": "sigmoid-BCE gives p - t: the logits get sigmoid(z) - t",
    "BinaryCrossEntropy": "BCE on probabilities: p gets g * (p - t) / (p (1 - p))",
}
"""Each library gate's gradient rule in words, as the narrated backward pass prints it."""

Array = np.ndarray
"""The array type the records hold (NumPy's)."""


class _Blank(dict):
    """format_map helper: a field the gate lacks prints as '?' instead of raising."""

    def __missing__(self, key: str) -> str:
        return "?"


def rule_for(gate: Gate) -> str:
    """The gate's backward rule in words: from RULES for library gates, else its docstring."""
    cls = type(gate)
    text = RULES.get(cls.__name__) if cls.__module__.startswith("tinygrad_sm.") else None
    if text is not None:
        try:
            return text.format_map(_Blank(vars(gate)))
        except (ValueError, TypeError):  # an attribute of an unexpected type for the format spec
            return text
    doc = inspect.getdoc(cls)
    if doc and cls.__doc__:  # cls.__doc__: a docstring of its own, not Gate's
        return doc.strip().splitlines()[0]
    return f"{cls.__name__}: no rule recorded (give the gate a docstring)"


# ---------------------------------------------------------------------------------------------
# Formatting arrays
# ---------------------------------------------------------------------------------------------
def summarize(a: Optional[Array], max_elements: int = 6, digits: int = 4, stats: bool = True) -> str:
    """A short text for an array: its values when small, else its shape, dtype and statistics."""
    if a is None:
        return "?"
    a = np.asarray(a)
    fmt = f"{{:.{digits}g}}"
    if a.size == 1:
        return fmt.format(a.item()) if a.dtype.kind in "fiub" else str(a.item())
    if a.size <= max_elements:
        text = np.array2string(a, separator=", ", formatter={"float_kind": fmt.format}, max_line_width=10**6)
        return text.replace("\n", "")  # one line: rows of a small matrix side by side
    head = f"{a.shape} {a.dtype}"
    if not stats or a.dtype.kind not in "fiu" or a.size == 0:
        return head
    with np.errstate(all="ignore"):  # (inf - inf in a mean: NaN, said as such)
        parts = (("mean", a.mean(dtype=np.float64)), ("min", a.min()), ("max", a.max()))
    return head + ", " + ", ".join(f"{k} {fmt.format(float(v))}" for k, v in parts)


def _unique(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """(label, value) pairs with repeated labels numbered (w, w#2, ...), so none is lost as a key."""
    seen: dict[str, int] = {}
    out = []
    for name, v in pairs:
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name}#{seen[name]}", v))
    return out


def json_safe(obj: Any) -> Any:
    """obj with each inf, -inf and NaN float written as the string "Infinity", "-Infinity" or
    "NaN" (JavaScript's names): JSON has no such numbers, and json.dumps would write bare
    Infinity and NaN, which standard parsers refuse."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def _jsonable(a: Optional[Array], max_elements: int) -> Any:
    """Arrays for JSON: the values when small, a summary dictionary otherwise."""
    if a is None:
        return None
    a = np.asarray(a)
    if a.size <= max_elements:
        return a.tolist()
    out: dict[str, Any] = {"shape": list(a.shape), "dtype": str(a.dtype)}
    if a.dtype.kind in "fiu" and a.size:
        with np.errstate(all="ignore"):  # (a float32 mean in float64: no overflow past the max)
            out.update(mean=float(a.mean(dtype=np.float64)), min=float(a.min()), max=float(a.max()))
    return out


# ---------------------------------------------------------------------------------------------
# What the graph is: nodes, labels and (where they can be found) values
# ---------------------------------------------------------------------------------------------
def _forward_order(root: Gate) -> list[Gate]:
    """Gates feeding `root`, parents first, visiting each gate's inputs left to right.

    The engine's topological_order (the order the gates were recorded in) is also valid; this one
    numbers the gates as the expression reads, from the output down (w0 * x0 before w1 * x1 in
    w0 * x0 + w1 * x1, however the code computed them). Iterative, for deep graphs.
    """
    order: list[Gate] = []
    done: set[int] = set()
    stack: list[tuple[Gate, int]] = [(root, 0)]  # (gate, next input to visit)
    on_stack = {id(root)}
    while stack:
        gate, i = stack[-1]
        if i < len(gate.parents):
            stack[-1] = (gate, i + 1)
            p = gate.parents[i]
            if isinstance(p, Gate) and id(p) not in done and id(p) not in on_stack:
                stack.append((p, 0))
                on_stack.add(id(p))
            continue
        stack.pop()
        on_stack.discard(id(gate))
        done.add(id(gate))
        order.append(gate)
    return order


class _Graph:
    """The gates reachable from a tensor, their labels, shapes and forward values."""

    def __init__(self, root: Tensor, tensors: Iterable[Tensor] = (), values: bool = True) -> None:
        if not isinstance(root, Tensor):
            raise TypeError(f"viz: expected a Tensor, got {type(root).__name__}")
        self.root = root
        self.gates: list[Gate] = _forward_order(root._gate) if root._gate is not None else []
        self.index = {id(g): i for i, g in enumerate(self.gates)}
        self.leaves: list[Tensor] = []
        self.leaf_index: dict[int, int] = {}  # by identity: Tensor's == is elementwise
        for g in self.gates:
            for p in g.parents:
                if isinstance(p, Tensor) and id(p) not in self.leaf_index:
                    self.leaf_index[id(p)] = len(self.leaves)
                    self.leaves.append(p)
        # Intermediate tensors the caller kept: names and values for the gates that made them.
        self.named: dict[int, Tensor] = {id(t._gate): t for t in tensors if t._gate is not None}
        # A gate's output shape and dtype, as recorded by the gates that consumed it.
        self.out_type: dict[int, tuple[tuple[int, ...], np.dtype]] = {}
        if root._gate is not None:
            self.named[id(root._gate)] = root
            self.out_type[id(root._gate)] = (root.shape, root.dtype)
        for g in self.gates:
            for p, shape, dtype in zip(g.parents, g.shapes, g.dtypes):
                if isinstance(p, Gate):
                    self.out_type[id(p)] = (shape, dtype)
        self.out_value: dict[int, Optional[Array]] = {}
        if values:
            self._fill_values()

    def _fill_values(self) -> None:
        """Each gate's output: given (viz_output, a kept tensor) or recomputed from its inputs."""
        for g in self.gates:
            known = getattr(g, "viz_output", None)
            if known is None and id(g) in self.named:
                known = self.named[id(g)].data
            if known is None:
                ins = [self.input_value(g, i) for i in range(len(g.parents))]
                if all(v is not None for v in ins):
                    try:
                        with np.errstate(all="ignore"):
                            known = np.asarray(copy.copy(g).forward(*ins))  # a copy: keep g.saved
                    except Exception:  # a user gate that cannot run twice: show the shape only
                        known = None
            self.out_value[id(g)] = known

    def input_value(self, gate: Gate, i: int) -> Optional[Array]:
        p = gate.parents[i]
        if isinstance(p, Tensor):  # (a copy: the trace shows the values of the pass, not an
            return p.data.copy()   # optimizer step's after it)
        if isinstance(p, Gate):
            return self.out_value.get(id(p))
        kept = getattr(gate, "viz_inputs", None)
        return kept[i] if kept is not None and i < len(kept) else None

    def label(self, node: Union[Gate, Tensor]) -> str:
        """Leaves: their name (or leaf#k); gates: the name of the tensor they made, or Op#k."""
        if isinstance(node, Tensor):
            if node.name:
                return node.name
            k = self.leaf_index.get(id(node))
            return "tensor" if k is None else f"leaf#{k + 1}"
        t = self.named.get(id(node))
        if t is not None and t.name:
            return t.name
        return f"{node.name}#{self.index[id(node)] + 1}"

    def input_label(self, gate: Gate, i: int) -> str:
        p = gate.parents[i]
        return "constant" if p is None else self.label(p)


# ---------------------------------------------------------------------------------------------
# The narrated backward pass
# ---------------------------------------------------------------------------------------------
@dataclass
class InputRecord:
    """One input of a gate during backward: what it was and the gradient it was sent."""

    index: int
    kind: str  # "gate" (made by another gate), "leaf" or "constant" (needs no gradient)
    label: str
    shape: tuple[int, ...]
    dtype: np.dtype
    value: Optional[Array]
    grad: Optional[Array]  # the gradient this gate sent to it (None: none was needed)


@dataclass
class GateRecord:
    """One gate visited by backward: its inputs, the upstream gradient, its rule, what it sent."""

    step: int
    op: str
    label: str
    rule: str
    shape: tuple[int, ...]
    value: Optional[Array]  # the gate's forward output, where it could be found
    upstream: Optional[Array]  # dL/d(output); None when no gradient reached this gate
    inputs: list[InputRecord]
    gate: Gate = field(repr=False, compare=False)

    def to_dict(self, max_elements: int = 6) -> dict[str, Any]:
        """This gate's step as plain data (arrays cut to max_elements), for JSON."""
        return {
            "step": self.step, "op": self.op, "label": self.label, "rule": self.rule,
            "shape": list(self.shape), "value": _jsonable(self.value, max_elements),
            "upstream": _jsonable(self.upstream, max_elements),
            "inputs": [{"index": r.index, "kind": r.kind, "label": r.label, "shape": list(r.shape),
                        "dtype": str(r.dtype), "value": _jsonable(r.value, max_elements),
                        "grad": _jsonable(r.grad, max_elements)} for r in self.inputs],
        }

    def text(self, root_label: str = "L", max_elements: int = 6) -> str:
        """This gate's step as the lines trace_backward prints (rule, upstream, what it sends)."""
        s = lambda a: summarize(a, max_elements, digits=6)  # noqa: E731
        unknown = lambda shape: "?" if shape == () else f"? {shape}"  # noqa: E731
        ins = "   ".join(f"{r.label} = {s(r.value)}" if r.value is not None
                         else f"{r.label} {r.shape} {r.dtype}" if r.kind == "constant"
                         else f"{r.label} = {unknown(r.shape)}" for r in self.inputs)
        out = s(self.value) if self.value is not None else unknown(self.shape)
        lines = [f"[{self.step}] {self.op} -> {self.label} = {out}",
                 f"    inputs    {ins}",
                 f"    upstream  d{root_label}/d({self.label}) = {s(self.upstream)}",
                 f"    rule      {self.rule}"]
        sent = [f"{s(r.grad)} -> {r.label}" for r in self.inputs if r.grad is not None]
        why = "no gradient reached this gate" if self.upstream is None else "no input needs a gradient"
        lines.append("    sends     " + ("   ".join(sent) if sent else f"nothing ({why})"))
        return "\n".join(lines)


@dataclass
class Trace:
    """The records of one narrated backward pass, in backward order (output first)."""

    root_label: str
    root_value: Array
    seed: Array
    records: list[GateRecord]
    leaf_grads: list[tuple[str, Array]]  # each leaf's gradient from this pass alone

    def __iter__(self) -> Iterator[GateRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> GateRecord:
        return self.records[i]

    def text(self, max_elements: int = 6) -> str:
        """The whole narration: header, one block per gate, the leaves' gradients."""
        return "\n".join([self.header(max_elements)] + [r.text(self.root_label, max_elements) for r in self.records]
                         + [self.footer(max_elements)])

    def header(self, max_elements: int = 6) -> str:
        """The narration's first line: the output, its value and the seed gradient."""
        L = self.root_label
        return (f"backward from {L} = {summarize(self.root_value, max_elements, 6)}, "
                f"seed d{L}/d{L} = {summarize(self.seed, max_elements, 6)}")

    def footer(self, max_elements: int = 6) -> str:
        """The narration's last lines: each leaf's gradient."""
        if not self.leaf_grads:
            return "no leaf needs a gradient"
        return "leaf gradients: " + ", ".join(
            f"d{self.root_label}/d{name} = {summarize(g, max_elements, 6)}" for name, g in self.leaf_grads)

    def to_dict(self, max_elements: int = 6) -> dict[str, Any]:
        """The trace as plain data (arrays cut to max_elements): root, seed, gates, leaf gradients."""
        return {"root": self.root_label, "value": _jsonable(self.root_value, max_elements),
                "seed": _jsonable(self.seed, max_elements),
                "steps": [r.to_dict(max_elements) for r in self.records],
                "leaf_grads": {name: _jsonable(g, max_elements) for name, g in _unique(self.leaf_grads)}}

    def to_json(self, max_elements: int = 6, **kwargs: Any) -> str:
        """to_dict() as JSON (no NaN/inf literals: those become strings); kwargs go to json.dumps."""
        return json.dumps(json_safe(self.to_dict(max_elements)), allow_nan=False, **kwargs)

    def edge_grads(self) -> dict[tuple[int, int], Array]:
        """(id(gate), input index) -> the gradient sent along that wire."""
        return {(id(r.gate), i.index): i.grad for r in self.records for i in r.inputs if i.grad is not None}


def _seed(root: Tensor, grad: Any) -> Array:
    """dL/droot, checked as Tensor.backward checks it."""
    if not root.requires_grad:
        raise RuntimeError("trace_backward() on a tensor that does not require grad: no input had "
                           "requires_grad=True, or it was computed under no_grad()")
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"trace_backward() without a gradient needs a one-element output, this one has "
                               f"shape {root.shape}; reduce it first (loss.sum()) or pass grad=dL/dthis")
        return np.ones(root.shape, dtype=root.dtype)
    seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
    if seed.shape != root.shape:
        raise ValueError(f"trace_backward(): grad has shape {seed.shape} but the tensor has shape {root.shape}")
    return seed.astype(root.dtype, copy=False)


def _checked(gate: Gate, i: int, g: Any) -> Array:
    """The engine's rule: a gradient has its input's exact shape and dtype."""
    g = np.asarray(g)
    if g.shape != gate.shapes[i]:
        raise GateError(f"{gate.name}.backward returned a gradient of shape {g.shape} for input {i}, "
                        f"which has shape {gate.shapes[i]}")
    if g.dtype != gate.dtypes[i]:
        raise GateError(f"{gate.name}.backward returned a {g.dtype} gradient for input {i}, which is "
                        f"{gate.dtypes[i]}")
    return g


def trace_backward(root: Tensor, grad: Any = None, *, retain_graph: bool = False,
                   tensors: Iterable[Tensor] = (), echo: bool = True, file: Optional[TextIO] = None,
                   max_elements: int = 6) -> Trace:
    """Run backward from `root` like root.backward(grad, retain_graph), narrating every gate.

    Leaves end with the same .grad as after root.backward(). For each gate, in backward order,
    the trace records its inputs, the upstream gradient, its rule in words and the gradient
    sent to each input; with echo=True it prints them as it goes (to `file`, default stdout).
    Arrays with more than `max_elements` elements are summarised (shape, mean, min, max).
    `tensors`: intermediate tensors you kept, so their names and values label their gates.
    """
    return as_a_pass(_trace_backward, root, grad, retain_graph, tensors, echo, file, max_elements)


def _trace_backward(root: Tensor, grad: Any, retain_graph: bool, tensors: Iterable[Tensor], echo: bool,
                    file: Optional[TextIO], max_elements: int) -> Trace:
    """trace_backward's pass (it adds the end of the pass for module hooks)."""
    seed = _seed(root, grad)
    out = file if file is not None else sys.stdout
    graph = _Graph(root, tensors)
    root_label = root.name or "L"
    trace = Trace(root_label, root.data.copy(), seed, [], [])
    if echo:
        print(trace.header(max_elements), file=out)
    if root._gate is None:  # a leaf: its gradient with respect to itself
        trace.leaf_grads.append((graph.label(root), np.asarray(_leaf_self_grad(root, seed))))
        if echo:
            print(trace.footer(max_elements), file=out)
        return trace
    order = topological_order(root._gate)  # the engine's order, so sums happen as in backward()
    check_graph(order)
    if grad is not None:  # (else the seed is _seed's own new array)
        seed = _seed_apart_from_grads(order, seed)
    grads: dict[int, Array] = {id(root._gate): seed}
    leaf_sum: dict[int, Array] = {}
    leaves = _LeafGrads(order)
    for step, gate in enumerate(reversed(order), 1):
        g = grads.pop(id(gate), None)
        in_grads: Any = None
        if g is not None:
            if gate.watch is not None:  # (hooks on the output tensor, retain_grad: as backward() does)
                g = _watched(gate.watch, g)
            in_grads = gate.backward(g)
        if not retain_graph:
            gate.saved = None
            gate.released = True
        sent: list[Optional[Array]] = [None] * len(gate.parents)
        if g is not None:
            if type(in_grads) is not tuple:
                in_grads = tuple(in_grads) if isinstance(in_grads, list) else (in_grads,)
            if len(in_grads) != len(gate.parents):
                raise GateError(f"{gate.name}.backward returned {len(in_grads)} gradient(s) for "
                                f"{len(gate.parents)} input(s)")
            for i, (parent, gi) in enumerate(zip(gate.parents, in_grads)):
                if parent is None or gi is None:
                    continue
                gi = sent[i] = _checked(gate, i, gi)
                if isinstance(parent, Gate):
                    prev = grads.get(id(parent))
                    grads[id(parent)] = gi if prev is None else prev + gi
                else:
                    leaves.add(parent, gi)  # (as backward() does)
                    prev = leaf_sum.get(id(parent))
                    leaf_sum[id(parent)] = np.array(gi) if prev is None else prev + gi
        rec = GateRecord(
            step=step, op=gate.name, label=graph.label(gate), rule=rule_for(gate),
            shape=graph.out_type[id(gate)][0], value=graph.out_value.get(id(gate)), upstream=g,
            inputs=[InputRecord(i, "constant" if p is None else "gate" if isinstance(p, Gate) else "leaf",
                                graph.input_label(gate, i), gate.shapes[i], gate.dtypes[i],
                                graph.input_value(gate, i), sent[i])
                    for i, p in enumerate(gate.parents)],
            gate=gate)
        trace.records.append(rec)
        if echo:
            print(rec.text(root_label, max_elements), file=out)
    for key, g in leaves.finish().items():  # (what a leaf's hooks made of its sum)
        leaf_sum[key] = np.array(g)
    trace.leaf_grads = [(graph.label(t), leaf_sum[id(t)]) for t in graph.leaves if id(t) in leaf_sum]
    if echo:
        print(trace.footer(max_elements), file=out)
    return trace


# ---------------------------------------------------------------------------------------------
# Graphviz
# ---------------------------------------------------------------------------------------------
def _q(text: str) -> str:
    """A DOT double-quoted string (newlines become DOT's centred line breaks)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_SYMMETRIC = {"Add", "Mul", "Maximum", "Minimum"}  # gates whose input order does not matter


def to_dot(tensor: Tensor, *, show_grad: bool = False, trace: Optional[Trace] = None,
           tensors: Iterable[Tensor] = (), values: bool = True, max_elements: int = 4,
           max_name: int = 20, rankdir: str = "LR") -> str:
    """The graph that made `tensor`, as Graphviz DOT text.

    Nodes: one box per gate (op name, the tensor it made, its value or shape), one ellipse per
    leaf (its name and value), a small note per constant input. Edges run from each input to
    the gate that used it, written in data-flow order (inputs before the gates they feed).
    show_grad: after backward, label each leaf with its .grad and, when `trace` (from
    trace_backward) is given, each wire with the gradient that flowed back along it.
    values=False skips recomputing values (shapes only). A gate's label carries the name of
    the tensor it made when that name is at most `max_name` characters (pictures stay narrow).
    """
    graph = _Graph(tensor, tensors, values=values)
    fmt = lambda a: summarize(a, max_elements, stats=False)  # noqa: E731
    wires = trace.edge_grads() if (show_grad and trace is not None) else {}
    lines = ["digraph tinygrad_sm {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=11];', '  edge [fontname="Helvetica", fontsize=10];']
    ids: dict[int, str] = {}
    for k, leaf in enumerate(graph.leaves):
        ids[id(leaf)] = f"leaf{k + 1}"
        text = (f"{graph.label(leaf)}\n= {fmt(leaf.data)}" if values or leaf.data.size == 1
                else f"{graph.label(leaf)}\n{leaf.shape} {leaf.dtype}")
        if show_grad:
            text += f"\ngrad {fmt(leaf.grad.data) if leaf.grad is not None else 'None'}"
        lines.append(f"  {ids[id(leaf)]} [shape=ellipse, style=filled, fillcolor=\"#e8f0fe\", label={_q(text)}];")
    if tensor._gate is None:  # a leaf (or constant) alone
        text = f"{graph.label(tensor)}\n= {fmt(tensor.data)}"
        if show_grad and tensor.grad is not None:
            text += f"\ngrad {fmt(tensor.grad.data)}"
        lines.append(f"  leaf1 [shape=ellipse, label={_q(text)}];")
        return "\n".join(lines + ["}"]) + "\n"
    edges: list[str] = []
    for k, gate in enumerate(graph.gates):
        gid = ids[id(gate)] = f"gate{k + 1}"
        for i, p in enumerate(gate.parents):
            if p is None:
                cid = f"{gid}_const{i}"
                v = graph.input_value(gate, i)
                text = fmt(v) if (values and v is not None) else f"constant\n{gate.shapes[i]} {gate.dtypes[i]}"
                lines.append(f"  {cid} [shape=note, fontsize=9, color=gray50, fontcolor=gray30, label={_q(text)}];")
                src = cid
            else:
                src = ids[id(p)]
            attrs = []
            if len(gate.parents) > 1 and gate.name not in _SYMMETRIC:  # which input is which matters
                attrs.append(f"headlabel={_q(str(i))}")
            g = wires.get((id(gate), i))
            if g is not None:
                attrs += [f"label={_q('grad ' + fmt(g))}", "fontcolor=firebrick"]
            edges.append(f"  {src} -> {gid}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
        shape, dtype = graph.out_type[id(gate)]
        name = graph.label(gate)
        short = name.startswith(gate.name + "#") or len(name) > max_name
        title = gate.name if short else f"{gate.name}: {name}"
        v = graph.out_value.get(id(gate))
        text = f"{title}\n= {fmt(v)}" if (values and v is not None) else f"{title}\n{shape} {dtype}"
        extra = ", peripheries=2" if gate is tensor._gate else ""
        lines.append(f"  {gid} [shape=box, style=\"rounded,filled\", fillcolor=\"#fff4e0\"{extra}, label={_q(text)}];")
    return "\n".join(lines + edges + ["}"]) + "\n"


_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
DOT_TIMEOUT = 120.0
"""Seconds draw() gives Graphviz's dot to lay out a graph (a few thousand nodes can take minutes)."""


def draw(tensor: Tensor, path: Union[str, os.PathLike], **to_dot_args: Any) -> Path:
    """Render the graph of `tensor` to `path` (.svg, .png, .pdf, or .dot for the text only).

    Needs Graphviz's `dot` program for pictures; without it this writes `path` with the suffix
    .dot instead, prints how to render it, and returns that path. Keyword arguments go to to_dot.
    """
    path = Path(path)
    text = to_dot(tensor, **to_dot_args)
    suffix = path.suffix.lower()
    if suffix == ".dot" or suffix == ".gv":
        write_text(str(path), text)  # (whole or not at all)
        return path
    if suffix not in _FORMATS:
        raise ValueError(f"draw: cannot tell the picture format from {str(path)!r}; "
                         f"use one of {', '.join(_FORMATS)} or .dot")
    exe = shutil.which("dot")
    if exe is None:
        dot_path = path.with_suffix(".dot")
        replaced = dot_path.exists()
        write_text(str(dot_path), text)
        print(f"draw: Graphviz's `dot` program was not found, so the graph was written as {dot_path}"
              + (" (replacing the file of that name)" if replaced else "") + ". "
              f"Render it with:  dot -T{_FORMATS[suffix]} {dot_path} -o {path}\n"
              "(install Graphviz: apt install graphviz, brew install graphviz, or conda install graphviz)",
              file=sys.stderr)
        return dot_path
    if not path.parent.is_dir():  # (else the error would name replacing's temporary file)
        raise FileNotFoundError(f"draw: cannot write {path}: the directory {path.parent} does not exist")
    with replacing(str(path)) as (f, _):  # the picture appears whole or not at all
        try:
            done = subprocess.run([exe, f"-T{_FORMATS[suffix]}"], input=text.encode(), stdout=f,
                                  stderr=subprocess.PIPE, timeout=DOT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"draw: Graphviz's dot took more than {DOT_TIMEOUT:g} s to lay out this graph "
                               f"({text.count(' -> ')} edges) and was stopped; draw a smaller graph, or write "
                               f"the .dot file and render it yourself") from None
        if done.returncode != 0:
            raise RuntimeError(f"draw: dot failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}")
    return path


def weight_templates(weight: Any, path: Union[str, os.PathLike], image_shape: tuple[int, int] = (28, 28),
                     titles: Optional[Sequence[str]] = None, columns: int = 5) -> Path:
    """Save each row of a linear layer's weight (out, in) as a small image: what each class's
    score looks for (red: pixels that raise it, blue: pixels that lower it). Needs matplotlib."""
    try:
        from matplotlib.figure import Figure  # (not pyplot: the caller's backend stays as it was)
    except ImportError:
        raise ImportError("weight_templates needs matplotlib: pip install \"tinygrad-sm[plot]\"") from None
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != image_shape[0] * image_shape[1]:
        raise ValueError(f"weight_templates: weight of shape {w.shape} does not hold (out, {image_shape[0]}x"
                         f"{image_shape[1]}) images")
    if titles and len(titles) < len(w):  # (more are ignored; none gives each row its index)
        raise ValueError(f"weight_templates: {len(titles)} titles for {len(w)} rows of the weight")
    rows = -(-len(w) // columns)
    fig = Figure(figsize=(1.6 * columns, 1.8 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(w):
            lim = float(np.percentile(np.abs(w[i]), 99)) or 1.0  # a few extreme pixels must not wash it out
            ax.imshow(w[i].reshape(image_shape), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(titles[i] if titles else str(i), fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig: Any, path: Union[str, os.PathLike]) -> Path:
    """Write a matplotlib figure to `path` atomically (a temporary file, then a rename: no
    half-written picture is left where the old one was) and close it if pyplot made it."""
    out = Path(path)
    try:
        if not out.parent.is_dir():  # (else the error would name the temporary file)
            raise FileNotFoundError(f"cannot write {out}: directory {out.parent} does not exist")
        # (a temporary name of its own, beside the picture: two writers never share one)
        with replacing(str(out), "wb", suffix=out.suffix or ".png") as (f, _):
            fig.savefig(f, format=(out.suffix[1:] or "png").lower(), dpi=100)
    finally:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:  # (a Figure made without pyplot needs no closing)
            plt.close(fig)
    return out
