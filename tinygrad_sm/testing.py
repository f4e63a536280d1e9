"""Check gradients: central differences against backward(), with reports that say what is wrong.

    from tinygrad_sm import Tensor
    from tinygrad_sm.testing import gradcheck
    x = Tensor(np.random.randn(3, 4), dtype="float64", requires_grad=True)
    gradcheck(lambda x: (x * x).tanh(), [x])     # True, or GradcheckError naming the element

Use float64: with float32 the rounding error of a central difference (~1e-7 / eps) swamps the
truncation error (~eps**2), and no eps gives a useful check.
"""
from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import numpy as np

from .gates.base import Domain, Values
from .grad_mode import no_grad
from .tensor import Tensor, topological_order

__all__ = [
    "GradcheckError", "GradcheckWarning", "numerical_grad", "gradcheck",
    "GateCase", "shapes", "broadcastable_shapes", "tensors", "class_targets", "gate_inputs", "Values",
]

Fn = Callable[..., Tensor]


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; the message lists the worst elements."""


class GradcheckWarning(UserWarning):
    """Gradient checking in float32 is too imprecise to trust."""


def _scalarize(out: Tensor, v: np.ndarray) -> float:
    """sum(out * v): the scalar whose gradient is the vector-Jacobian product with v."""
    return float(np.sum(out.data.astype(np.float64) * v))


def _output(fn: Fn, inputs: Sequence[Tensor], who: str) -> Tensor:
    """fn(*inputs) without recording, checked to be a Tensor."""
    with no_grad():
        out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"{who}: fn must return one Tensor, got {type(out).__name__} (for several "
                        "outputs, check each in its own call, or combine them: a.sum() + b.sum())")
    return out


def _evaluate(fn: Fn, inputs: Sequence[Tensor], v: np.ndarray) -> float:
    return _scalarize(_output(fn, inputs, "numerical_grad"), v)


def numerical_grad(fn: Fn, inputs: Sequence[Tensor], eps: float = 1e-6,
                   grad_output: Optional[np.ndarray] = None) -> list[Optional[np.ndarray]]:
    """Central differences (f(x+h) - f(x-h)) / 2h for every element of every input that requires grad.

    For a non-scalar output, f is sum(fn(...) * grad_output) (grad_output defaults to ones), so the
    result is the vector-Jacobian product that backward(grad_output) computes.
    Inputs are perturbed in place (one element at a time, any memory layout) and restored exactly.
    """
    if grad_output is None:
        grad_output = np.ones(_output(fn, inputs, "numerical_grad").shape)
    v = np.asarray(grad_output, dtype=np.float64)
    grads: list[Optional[np.ndarray]] = []
    for t in inputs:
        if not (isinstance(t, Tensor) and t.requires_grad):
            grads.append(None)
            continue
        data = t.data
        if data.size and not data.flags.writeable:
            raise ValueError("numerical_grad perturbs the inputs in place; this one is read-only "
                             "(a broadcast view?): pass a copy")
        g = np.zeros(t.shape, dtype=np.float64)
        for i in np.ndindex(t.shape):
            orig = data[i]
            data[i] = orig + eps
            f_plus = _evaluate(fn, inputs, v)
            data[i] = orig - eps
            f_minus = _evaluate(fn, inputs, v)
            data[i] = orig
            g[i] = (f_plus - f_minus) / (2 * eps)
        grads.append(g)
    return grads


def _fresh_leaves(inputs: Sequence[Tensor]) -> list[Tensor]:
    """Copies of the inputs, so checking never touches the caller's tensors or their .grad."""
    out = []
    for t in inputs:
        if isinstance(t, Tensor):
            c = Tensor._wrap(np.array(t.data, copy=True, order="C"))
            c.name = t.name
            if t.requires_grad:
                c.requires_grad_(True)
            out.append(c)
        else:
            out.append(t)
    return out


def _analytic(fn: Fn, inputs: Sequence[Tensor], v: np.ndarray) -> list[Optional[np.ndarray]]:
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if not out.requires_grad:
        raise GradcheckError("gradcheck: the output does not require grad; no input reached it "
                             "through a differentiable op")
    # Other leaves that fn reaches (a layer's weights) must come out as they went in: backward
    # would add to their .grad. Their gradients are put back afterwards, in place, as they were.
    mine = {id(t) for t in inputs}
    gates = topological_order(out._gate) if out._gate is not None else []  # (fn may return a leaf)
    reached = {id(p) for g in gates for p in g.parents if isinstance(p, Tensor)} | {id(out)}
    if not any(id(t) in reached for t in inputs if isinstance(t, Tensor) and t.requires_grad):
        raise GradcheckError("gradcheck: none of the inputs reaches fn's output. gradcheck calls fn with "
                             "copies of the inputs: a fn that uses tensors of its own instead of its "
                             "arguments (lambda t: f(x)) checks nothing")
    others = {id(p): p for g in gates for p in g.parents if isinstance(p, Tensor) and id(p) not in mine}.values()
    kept = [(t, t.grad, None if t.grad is None else t.grad.data.copy()) for t in others]
    values = [(t, t.data.copy()) for t in others]  # (a backward may write into one: undone below)
    seed = np.array(v, dtype=out.dtype).reshape(out.shape)
    seed.flags.writeable = False  # a backward that writes into its upstream gradient fails here
    try:
        try:
            out.backward(seed)
        except ValueError as e:
            if "read-only" not in str(e):
                raise
            raise GradcheckError(
                "gradcheck: a backward() wrote into its upstream gradient g in place (g *= ..., "
                f"g[...] = ...: {e}). g may be shared: add hands the same array to both inputs, so "
                "the other input would get the changed values. Return a new array (g * ...) "
                "instead.") from e
        for t, before in values:
            if not np.array_equal(t.data, before, equal_nan=True):
                raise GradcheckError(
                    f"gradcheck: backward() changed a tensor fn uses{f' ({t.name!r})' if t.name else ''}, "
                    f"shape {t.shape}, in place (a backward writes into an array its forward saved, "
                    "e.g. w *= 3 on self.saved); it is put back as it was. Compute into a new array.")
        return [
            None if not (isinstance(t, Tensor) and t.requires_grad)
            else (np.zeros(t.shape) if t.grad is None else t.grad.data.astype(np.float64))
            for t in inputs
        ]
    finally:
        for t, grad, data in kept:
            if grad is not None:
                grad.data[...] = data
            t.grad = grad
        for t, before in values:
            if not np.array_equal(t.data, before, equal_nan=True):
                t.data[...] = before


def _label(i: int, t: Tensor) -> str:
    return f"input {i}" + (f" ({t.name!r})" if t.name else "") + f", shape {t.shape}"


def _report(i: int, t: Tensor, a: np.ndarray, n: np.ndarray, atol: float, rtol: float,
            worst: int = 5) -> Optional[str]:
    err = np.abs(a - n)
    bad = err > atol + rtol * np.abs(n)
    nan = ~(np.isfinite(a) & np.isfinite(n))  # (NaN or inf on either side checks nothing: a
    bad |= nan  # failure too; inf - inf would even pass as NaN compares false)
    if not bad.any():
        return None
    lines = [f"{_label(i, t)}: {int(bad.sum())} of {a.size} gradient elements disagree"
             + (f" ({int(nan.sum())} NaN or inf: is the function defined and smooth at these inputs?)"
                if nan.any() else "")]
    order = np.argsort(-np.where(bad, np.nan_to_num(err, nan=np.inf), -1).reshape(-1), kind="stable")
    lines.append(f"    {'index':<16}{'analytic':>14}{'numerical':>14}{'abs err':>12}{'rel err':>12}")
    for flat in order[:worst]:
        if not bad.reshape(-1)[flat]:
            break
        idx = np.unravel_index(flat, a.shape) if a.ndim else ()
        av, nv, e = a.reshape(-1)[flat], n.reshape(-1)[flat], err.reshape(-1)[flat]
        rel = e / max(abs(nv), 1e-300)
        lines.append(f"    {str(tuple(int(k) for k in idx)):<16}{av:>14.6g}{nv:>14.6g}{e:>12.3g}{rel:>12.3g}")
    return "\n".join(lines)


def gradcheck(fn: Fn, inputs: Union[Tensor, Sequence[Tensor]], *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, mode: str = "full", raise_exception: bool = True,
              seed: int = 0) -> bool:
    """Compare backward() with central differences for every input that requires grad.

    fn: any callable of tensors returning a tensor (scalar or not; a non-scalar output is checked
    through a random, non-uniform upstream gradient v, i.e. the vector-Jacobian product).
    mode="full" compares every element; mode="fast" compares one random directional derivative
    per input and, if that disagrees, runs the full comparison to explain where (quicker for
    large inputs, but one wrong element among hundreds can hide in the random direction).
    An element passes when |analytic - numerical| <= atol + rtol * |numerical|.
    Returns True; on a failure (a mismatch, or an input or upstream gradient written in place)
    raises GradcheckError, or returns False if raise_exception=False. A wrong call (no input
    requiring grad, fn returning no Tensor) raises either way.
    """
    try:
        return _gradcheck(fn, inputs, eps, atol, rtol, mode, seed)
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _changed(inputs: Sequence[Any], copies: Sequence[Any]) -> Optional[int]:
    """The index of the first tensor among `copies` whose values differ from its input's."""
    for i, (t, c) in enumerate(zip(inputs, copies)):
        if isinstance(t, Tensor) and not np.array_equal(t.data, c.data, equal_nan=True):
            return i
    return None


def _gradcheck(fn: Fn, inputs: Union[Tensor, Sequence[Tensor]], eps: float, atol: float, rtol: float,
               mode: str, seed: int) -> bool:
    if mode not in ("full", "fast"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'fast', got {mode!r}")
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)  # (one Tensor, as PyTorch takes it)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass Tensors with requires_grad=True")
    low = [i for i in checked if inputs[i].dtype != np.float64]
    if low:
        warnings.warn(f"gradcheck: input(s) {low} are {inputs[low[0]].dtype}; central differences need "
                      "float64 to be trusted (create them with dtype='float64')", GradcheckWarning,
                      stacklevel=3)
    rng = np.random.default_rng(seed)
    leaves = _fresh_leaves(inputs)
    out = _output(fn, leaves, "gradcheck")
    if (i := _changed(inputs, leaves)) is not None:
        raise GradcheckError(f"gradcheck: fn changed {_label(i, inputs[i])} in place (its forward writes "
                             "into its input, e.g. x -= x.max()); the caller's tensor would change too. "
                             "Compute into a new array (x = x - x.max()).")
    if not low and out.dtype != np.float64 and out.dtype.kind == "f" and eps < 1e-3:
        warnings.warn(f"gradcheck: fn returns {out.dtype} from float64 inputs; its rounding (~1e-7 relative) "
                      "swamps central differences. Keep the computation in float64 (or loosen eps, atol "
                      "and rtol, e.g. eps=2**-6)", GradcheckWarning, stacklevel=3)
    out_shape = out.shape
    v = rng.uniform(0.5, 1.5, size=out_shape) * rng.choice([-1.0, 1.0], size=out_shape)
    analytic = _analytic(fn, leaves, v)
    if (i := _changed(inputs, leaves)) is not None:
        raise GradcheckError(f"gradcheck: backward() changed {_label(i, inputs[i])} in place (a backward "
                             "writes into an array its forward saved, e.g. x *= 3 on self.saved); the "
                             "caller's tensor would change too. Compute into a new array (x * 3).")
    leaves = _fresh_leaves(inputs)

    if mode == "fast":
        ok = True
        for i in checked:
            u = rng.standard_normal(inputs[i].shape)
            flat = leaves[i].data
            orig = flat.copy()
            flat[...] = orig + eps * u
            f_plus = _evaluate(fn, leaves, v)
            flat[...] = orig - eps * u
            f_minus = _evaluate(fn, leaves, v)
            flat[...] = orig
            num = (f_plus - f_minus) / (2 * eps)
            ana = float(np.sum(analytic[i] * u))
            if not abs(ana - num) <= atol * np.sqrt(u.size) + rtol * abs(num):
                ok = False
                break
        if ok:
            return True
        # fall through to the full comparison, which says where it goes wrong

    numerical = numerical_grad(fn, leaves, eps=eps, grad_output=v)
    problems = [r for i in checked
                if (r := _report(i, inputs[i], analytic[i], numerical[i], atol, rtol)) is not None]
    if not problems:  # the element-wise comparison is the authority
        return True
    raise GradcheckError("gradcheck failed: backward() disagrees with central differences\n" + "\n".join(problems))


# ---------------------------------------------------------------------------------------------------
# Hypothesis strategies. Hypothesis is imported only when one of these is called, so gradcheck
# works without it and `import tinygrad_sm` never pulls it in.
# ---------------------------------------------------------------------------------------------------
def _hypothesis() -> tuple[Any, Any]:
    try:
        import hypothesis.extra.numpy as hnp
        import hypothesis.strategies as st
    except ImportError as e:  # pragma: no cover - exercised only without hypothesis
        raise ImportError("tinygrad_sm.testing's strategies need Hypothesis: "
                          "pip install hypothesis  (or: pip install 'tinygrad-sm[test]')") from e
    return st, hnp


class GateCase(NamedTuple):
    """Inputs drawn for one gate: the arrays, the constructor arguments, and gradcheck options."""

    gate: type
    arrays: list[np.ndarray]
    attrs: dict[str, Any]
    check: dict[str, Any]

    def tensors(self, requires_grad: bool = True) -> list[Tensor]:
        """Fresh tensors for the float inputs (labels stay integer and never require grad)."""
        return [Tensor._wrap(a.copy()).requires_grad_(requires_grad and a.dtype.kind == "f")
                for a in self.arrays]

    def fn(self) -> Callable[..., Tensor]:
        """The gate as a function of tensors, for gradcheck."""
        return lambda *ts: self.gate.apply(*ts, **self.attrs)


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> Any:
    """Array shapes, e.g. (), (3,), (2, 4, 1)."""
    _, hnp = _hypothesis()
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(n: int = 2, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4) -> Any:
    """Tuples of n shapes that broadcast together, e.g. ((3, 1), (4,))."""
    st, hnp = _hypothesis()
    if n == 1:
        return shapes(min_dims, max_dims, min_side, max_side).map(lambda s: (s,))
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda b: tuple(b.input_shapes))


def _values(shape: tuple[int, ...], values: Values, dtype: Any) -> Any:
    """Strategy for one array of `shape` drawn from `values` (see gates.Values)."""
    st, hnp = _hypothesis()
    dtype = np.dtype(dtype)
    m = values.margin
    if values.grid is not None:  # the k with low <= k * grid + offset <= high
        grid, offset = values.grid, values.offset
        lo = int(np.ceil((values.low - offset) / grid))
        hi = int(np.floor((values.high - offset) / grid))
        if lo * grid + offset < values.low:  # (the division rounds: for -1.7 / 0.1 it gave a
            lo += 1  # point a hair below -1.7)
        if hi * grid + offset > values.high:
            hi -= 1
        n = int(np.prod(shape, dtype=np.int64))
        if lo > hi and not values.unique:
            raise ValueError(f"Values: no point of the grid {values.grid} lies in [{values.low}, {values.high}]")
        if not values.avoid:
            if values.unique and hi - lo + 1 < n:
                hi = lo + n  # widen the grid so every element can differ
            elements = st.integers(lo, hi)
        else:
            elements = st.sampled_from(_grid_points(lo, hi, n if values.unique else 0, values.grid,
                                                    values.offset, tuple(values.avoid), m))
        drawn = hnp.arrays(np.int64, shape, elements=elements, unique=values.unique)
        return drawn.map(lambda k: (k * values.grid + values.offset).astype(dtype))
    floats = st.floats(values.low, values.high, allow_nan=False, allow_infinity=False)

    def nudge(a: np.ndarray) -> np.ndarray:  # keep clear of kinks: move close values to p +- margin,
        for p in values.avoid:  # on their own side unless that leaves [low, high]
            up = np.where(a >= p, p + m <= values.high, p - m < values.low)
            a = np.where(np.abs(a - p) < m, np.where(up, p + m, p - m), a)
        return a

    def clear(a: np.ndarray) -> bool:  # (kinks less than two margins apart: a nudge can land near
        # the next one; p - m itself may round to a hair under m from p, which is clear enough)
        return all(not (np.abs(a - p) < m * (1 - 1e-9)).any() for p in values.avoid)

    if values.unique:  # element by element, so that Hypothesis keeps the final values apart (a nudge,
        # or rounding to float32, can make two equal; refusing whole arrays would refuse most draws)
        elements = floats.map(nudge).filter(clear).map(lambda v: float(dtype.type(v)))
        return hnp.arrays(dtype, shape, elements=elements, unique=True)
    return hnp.arrays(np.float64, shape, elements=floats).map(nudge).filter(clear).map(
        lambda a: a.astype(dtype))


@functools.lru_cache(maxsize=64)
def _grid_points(lo: int, hi: int, n: int, grid: float, offset: float, avoid: tuple[float, ...],
                 margin: float) -> tuple[int, ...]:
    """The k in [lo, hi] whose k * grid + offset is a margin from every kink, widened upwards to
    at least n of them (so that n elements can all differ)."""
    def allowed(k: int) -> bool:
        return all(abs(k * grid + offset - p) >= margin * (1 - 1e-9) for p in avoid)

    ks = [k for k in range(lo, hi + 1) if allowed(k)]
    while len(ks) < n:
        hi += 1
        if allowed(hi):
            ks.append(hi)
    if not ks:
        raise ValueError(f"Values: no point of the grid {grid} (offset {offset}) in [{lo * grid + offset}, "
                         f"{hi * grid + offset}] is {margin} away from {avoid}")
    return tuple(ks)


def tensors(shape: Any = None, dtype: Any = np.float64, min_value: Optional[float] = None,
            max_value: Optional[float] = None, requires_grad: bool = True, values: Optional[Values] = None) -> Any:
    """Tensors of the given shape (an int, a tuple or list, a strategy of shapes, or None for a
    drawn one) with values in [min_value, max_value] (default [-3, 3]).

    Pass `values=Values(-1, 2, avoid=(0.0,))` and the like to keep away from kinks and ties; the
    range then goes in the Values, not in min_value/max_value.
    """
    st, _ = _hypothesis()
    if values is not None and (min_value is not None or max_value is not None):
        raise ValueError("tensors: give the range in values=Values(low, high, ...) or as min_value/max_value, "
                         f"not both (got min_value={min_value}, max_value={max_value} and {values})")
    vals = values or Values(-3.0 if min_value is None else min_value, 3.0 if max_value is None else max_value)
    if shape is None:
        shape_st = shapes()
    elif isinstance(shape, (int, np.integer, tuple, list)):  # one fixed shape, as Hypothesis takes it
        shape_st = st.just((int(shape),) if isinstance(shape, (int, np.integer)) else tuple(map(int, shape)))
    else:
        shape_st = shape
    return shape_st.flatmap(lambda s: _values(s, vals, dtype)).map(
        lambda a: Tensor._wrap(a).requires_grad_(requires_grad))


def class_targets(n: int, num_classes: int) -> Any:
    """Integer class labels: an int64 array of shape (n,) with values in [0, num_classes)."""
    st, hnp = _hypothesis()
    return hnp.arrays(np.int64, (n,), elements=st.integers(0, num_classes - 1))


def gate_inputs(gate: type, dtype: Any = np.float64) -> Any:
    """Valid inputs for `gate`, drawn from the gate's own declared `domain` (a GateCase)."""
    st, _ = _hypothesis()
    domain: Optional[Domain] = getattr(gate, "domain", None)
    if domain is None:
        raise ValueError(f"{gate.__name__} declares no test domain; give it `domain = Domain(...)`")
    draw_case = _KINDS.get(domain.kind)
    if draw_case is None:
        raise ValueError(f"{gate.__name__}: unknown domain kind {domain.kind!r}")

    @st.composite
    def case(draw: Any) -> GateCase:
        arrays, attrs = draw_case(draw, domain, np.dtype(dtype), gate)
        return GateCase(gate, arrays, {**attrs, **domain.attrs}, dict(domain.check))  # (fixed ones win)

    return case()


def _v(domain: Domain, i: int) -> Values:
    return domain.values[min(i, len(domain.values) - 1)]


def _elementwise(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    shp = draw(broadcastable_shapes(len(d.values)))
    return [draw(_values(s, _v(d, i), dt)) for i, s in enumerate(shp)], {}


def _axes(draw: Any, ndim: int) -> Any:
    st, _ = _hypothesis()
    if ndim == 0:
        return None
    return draw(st.one_of(
        st.none(), st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)))


def _reduce(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    s = draw(shapes())
    return [draw(_values(s, _v(d, 0), dt))], {"axis": _axes(draw, len(s)), "keepdims": draw(st.booleans())}


def _matmul(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    n, k, m, b = (draw(st.integers(1, 4)) for _ in range(4))
    form = draw(st.sampled_from(["mm", "vm", "mv", "vv", "bmm", "bm", "broadcast"]))
    sx, sw = {"mm": ((n, k), (k, m)), "vm": ((k,), (k, m)), "mv": ((n, k), (k,)), "vv": ((k,), (k,)),
              "bmm": ((b, n, k), (b, k, m)), "bm": ((b, n, k), (k, m)),
              "broadcast": ((1, n, k), (b, k, m))}[form]
    return [draw(_values(sx, _v(d, 0), dt)), draw(_values(sw, _v(d, 1), dt))], {}


def _reshape(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    s = draw(shapes())
    dims = [n for n in s]
    target = draw(st.permutations(dims)) if dims else []
    target = list(target) + [1] * draw(st.integers(0, 1))
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return [draw(_values(s, _v(d, 0), dt))], {"shape": tuple(target)}


def _permute(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    s = draw(shapes())
    return [draw(_values(s, _v(d, 0), dt))], {"axes": tuple(draw(st.permutations(range(len(s)))))}


def _expand(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    s = draw(shapes(max_dims=2))
    target = tuple(draw(st.integers(1, 3)) if n == 1 else n for n in s)
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return [draw(_values(s, _v(d, 0), dt))], {"shape": lead + target}


def _getitem(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, hnp = _hypothesis()
    s = draw(shapes(min_dims=1))
    n0 = s[0]
    form = draw(st.sampled_from(["int", "slice", "slices", "array", "pairs"]))
    if form == "int":
        index: Any = draw(st.integers(-n0, n0 - 1))
    elif form == "slice":
        index = slice(draw(st.integers(0, n0 - 1)), None, draw(st.integers(1, 2)))
    elif form == "slices":
        index = tuple(slice(None, None, draw(st.sampled_from([1, -1, 2]))) for _ in s)
    elif form == "array":  # repeats allowed: their gradients must add up
        index = draw(hnp.arrays(np.int64, draw(st.integers(1, 6)), elements=st.integers(0, n0 - 1)))
    else:
        k = draw(st.integers(1, 5))
        index = tuple(draw(hnp.arrays(np.int64, k, elements=st.integers(0, n - 1))) for n in s[:2])
    return [draw(_values(s, _v(d, 0), dt))], {"index": index}


def _concat(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    s = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(s), len(s) - 1))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        si = list(s)
        si[axis] = draw(st.integers(1, 3))
        parts.append(draw(_values(tuple(si), _v(d, 0), dt)))
    return parts, {"axis": axis}


def _stack(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    s = draw(shapes())
    axis = draw(st.integers(-len(s) - 1, len(s)))
    return [draw(_values(s, _v(d, 0), dt)) for _ in range(draw(st.integers(1, 3)))], {"axis": axis}


def _softmax(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    s = draw(shapes(min_dims=1))
    return [draw(_values(s, _v(d, 0), dt))], {"axis": draw(st.integers(-len(s), len(s) - 1))}


def _classification(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, hnp = _hypothesis()
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 5))
    logits = draw(_values((n, c), _v(d, 0), dt))
    if d.targets == "any" and draw(st.booleans()):
        raw = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0.05, 1.0)))
        target = (raw / raw.sum(axis=1, keepdims=True)).astype(dt)
    else:
        target = draw(class_targets(n, c))
    attrs: dict[str, Any] = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
    if "label_smoothing" in inspect.signature(gate.__init__).parameters:
        attrs["label_smoothing"] = draw(st.sampled_from([0.0, 0.1]))
    return [logits, target], attrs


def _linear(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    lead = draw(st.sampled_from([(), (n,), (2, n)]))  # x of shape (in,), (N, in) or (2, N, in)
    arrays = [draw(_values(lead + (k,), _v(d, 0), dt)), draw(_values((m, k), _v(d, 1), dt))]
    if draw(st.booleans()):
        arrays.append(draw(_values((m,), _v(d, 2), dt)))
    relu = draw(st.booleans())
    if relu:  # keep every pre-activation clear of ReLU's kink, or test this draw without ReLU
        x, w = (a.astype(np.float64) for a in arrays[:2])
        y = x @ w.T + (arrays[2] if len(arrays) == 3 else 0)
        relu = bool(np.all(np.abs(y) >= 0.1))
    return arrays, {"relu": relu}


def _side(draw: Any, k: int, padding: int, dilation: int) -> int:
    """An input side that leaves at least one output position."""
    st, _ = _hypothesis()
    least = max(1, dilation * (k - 1) + 1 - 2 * padding)
    return draw(st.integers(least, least + 3))


def _conv2d(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    groups = draw(st.sampled_from([1, 1, 2]))
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)) * groups, draw(st.integers(1, 3)) * groups
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    hw = tuple(_side(draw, k[i], padding[i], dilation[i]) for i in (0, 1))
    arrays = [draw(_values((n, c) + hw, _v(d, 0), dt)), draw(_values((o, c // groups) + k, _v(d, 1), dt))]
    if draw(st.booleans()):
        arrays.append(draw(_values((o,), _v(d, 2), dt)))
    attrs = {"stride": stride, "padding": padding, "dilation": dilation}
    return arrays, {**attrs, "groups": groups} if groups > 1 else attrs


def _conv_transpose2d(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    groups = draw(st.sampled_from([1, 1, 2]))
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)) * groups, draw(st.integers(1, 3)) * groups
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    out_pad = tuple(draw(st.integers(0, max(stride[i], dilation[i]) - 1)) for i in (0, 1))
    hw = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    # padding crops the output: keep at least one row and column of it
    full = tuple((hw[i] - 1) * stride[i] + dilation[i] * (k[i] - 1) + out_pad[i] + 1 for i in (0, 1))
    padding = tuple(draw(st.integers(0, min(2, (full[i] - 1) // 2))) for i in (0, 1))
    arrays = [draw(_values((n, c) + hw, _v(d, 0), dt)), draw(_values((c, o // groups) + k, _v(d, 1), dt))]
    if draw(st.booleans()):
        arrays.append(draw(_values((o,), _v(d, 2), dt)))
    attrs = {"stride": stride, "padding": padding, "output_padding": out_pad, "dilation": dilation}
    return arrays, {**attrs, "groups": groups} if groups > 1 else attrs


def _pool2d(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    attrs: dict[str, Any] = {"kernel_size": k, "padding": (draw(st.integers(0, k[0] // 2)),
                                                           draw(st.integers(0, k[1] // 2)))}
    if draw(st.booleans()):
        attrs["stride"] = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (1, 1)
    if "dilation" in inspect.signature(gate.__init__).parameters and attrs["padding"] == (0, 0):
        # (dilated windows over padding can hold padding only: -inf for max, as in PyTorch)
        dilation = attrs["dilation"] = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    takes = inspect.signature(gate.__init__).parameters
    for flag in ("ceil_mode", "count_include_pad"):
        if flag in takes:
            attrs[flag] = draw(st.booleans())
    if "divisor_override" in takes and draw(st.booleans()):
        attrs["divisor_override"] = draw(st.integers(1, 5))
    hw = tuple(_side(draw, k[i], attrs["padding"][i], dilation[i]) for i in (0, 1))
    return [draw(_values((n, c) + hw, _v(d, 0), dt))], attrs


def _adaptive_pool2d(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, _ = _hypothesis()
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    out = (draw(st.integers(1, shape[2] + 1)), draw(st.integers(1, shape[3] + 1)))  # (larger: windows repeat)
    return [draw(_values(shape, _v(d, 0), dt))], {"output_size": out}


def _unpool2d(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, hnp = _hypothesis()
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    # any places in the output plane, repeats included (the last x to a place is kept, the others
    # get no gradient)
    indices = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, size[0] * size[1] - 1)))
    return [draw(_values(shape, _v(d, 0), dt))], {"indices": indices, "output_size": size}


def _gather(draw: Any, d: Domain, dt: np.dtype, gate: type) -> tuple[list, dict]:
    st, hnp = _hypothesis()
    s = draw(shapes(min_dims=1))
    dim = draw(st.integers(-len(s), len(s) - 1))
    # index: no larger than x along the other dims, any length along dim; repeats allowed (their
    # gradients must add up)
    ishape = tuple(draw(st.integers(1, 4)) if i == dim % len(s) else draw(st.integers(1, n)) for i, n in enumerate(s))
    index = draw(hnp.arrays(np.int64, ishape, elements=st.integers(0, s[dim] - 1)))
    return [draw(_values(s, _v(d, 0), dt))], {"dim": dim, "index": index}


_KINDS: dict[str, Callable[..., tuple[list, dict]]] = {
    "elementwise": _elementwise, "reduce": _reduce, "matmul": _matmul, "reshape": _reshape,
    "permute": _permute, "expand": _expand, "getitem": _getitem, "concat": _concat, "stack": _stack,
    "softmax": _softmax, "classification": _classification, "linear": _linear,
    "conv2d": _conv2d, "conv_transpose2d": _conv_transpose2d, "pool2d": _pool2d,
    "adaptive_pool2d": _adaptive_pool2d, "gather": _gather, "unpool2d": _unpool2d,
}
