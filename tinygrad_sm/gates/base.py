"""The gate base class: one differentiable op, its forward value and its local gradient rule.

A gate sees NumPy arrays only. `forward(*xs)` computes the output and saves what backward needs
with `save_for_backward`; `backward(g)` receives the upstream gradient dL/dout and returns one
local contribution dL/dx_i per input (or None for an input that takes no gradient). The engine
in tensor.py walks the graph and accumulates those contributions with `+=`.

Write your own gate by subclassing:

    class Cube(Gate):
        '''y = x**3;  dy/dx = 3 x**2'''
        def forward(self, x):
            self.save_for_backward(x)
            return x ** 3
        def backward(self, g):
            (x,) = self.saved
            return g * 3 * x ** 2

    y = Cube.apply(t)
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Sequence, Union

import numpy as np

from ..grad_mode import _mode

if TYPE_CHECKING:  # pragma: no cover
    from ..tensor import Tensor

Grad = Optional[np.ndarray]


class GateError(ValueError):
    """Bad input to a gate, with a message that already names the op and the shapes."""


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the dimensions that broadcasting added or stretched, giving `shape`.

    If x of shape (3, 1) was broadcast to (2, 3, 4), every element of x was used 2 * 4 times,
    so its gradient is the sum of those uses: sum over axis 0 (added) and axis 2 (stretched).
    """
    if grad.shape == shape:
        return grad
    gs = grad.shape
    lead = len(gs) - len(shape)
    axes = list(range(lead))  # the added dimensions, then the stretched ones
    for i, n in enumerate(shape):  # (one pass: this runs for every broadcasting op's backward)
        if lead < 0 or n != gs[lead + i]:  # (lead < 0: more dimensions than the gradient has)
            if lead < 0 or n != 1:
                raise ValueError(f"a gradient of shape {gs} is not one for an input of shape {shape}: "
                                 f"{shape} does not broadcast to {gs}")
            axes.append(lead + i)
    return grad.sum(axis=tuple(axes), keepdims=True).reshape(shape)


@dataclass(frozen=True)
class Values:
    """Where one input's values are drawn from when the gate is tested.

    low, high  the range;
    avoid      points to keep at least `margin` away from (kinks: ReLU at 0, clip bounds);
    grid       draw from the grid k * grid + offset instead (two inputs on grids with different
               offsets never tie: how max/min gates are kept away from ties);
    unique     no two elements of the input are equal (ties in a max reduction).
    """

    low: float = -3.0
    high: float = 3.0
    avoid: tuple[float, ...] = ()
    margin: float = 0.1
    grid: Optional[float] = None
    offset: float = 0.0
    unique: bool = False


@dataclass(frozen=True)
class Domain:
    """How to test a gate: the shape of its inputs (`kind`), their values, fixed constructor
    arguments, and gradcheck options. `tinygrad_sm.testing.gate_inputs(gate)` draws from it.

    kind: "elementwise" (inputs broadcast together: as many inputs as `values` has entries, so a
    two-input gate gives two, `(Values(), Values())`), "reduce" (axis/keepdims drawn), "matmul",
    "reshape", "permute", "expand", "getitem", "concat", "stack", "softmax" (an axis drawn),
    "classification" (logits and targets; `targets` is "class" or "any" to allow probabilities
    too; the gate's __init__ is given `reduction=` drawn from mean/sum/none, and
    `label_smoothing=` if it takes one), "linear" (x, w and maybe b of a linear layer, and
    `relu=` drawn), "conv2d" (x, w and maybe b, with stride, padding and dilation drawn),
    "conv_transpose2d" (the same, w of shape (C_in, C_out, kh, kw), and output_padding drawn),
    "adaptive_pool2d" (x, and an output_size up to one more than x's sides) or
    "pool2d" (x, with kernel_size, stride, padding, and those of dilation, ceil_mode,
    count_include_pad and divisor_override the gate takes, drawn)
    "gather" (x, with dim and an integer index array drawn) or "unpool2d" (x, with integer
    indices into an output plane of a drawn output_size, repeats included).
    values: one Values per input (the last one serves the inputs after it, except for
    "elementwise", where it sets the number of inputs).
    attrs: fixed constructor arguments; check: options for gradcheck (eps, atol, rtol).
    """

    kind: str
    values: tuple[Values, ...] = (Values(),)
    attrs: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)
    targets: str = "any"


_ONE_TRUE = (True,)
_ONE_0D = ((),)  # `shapes` of a one-input gate on a 0-d input
_ONE_DTYPE: dict[np.dtype, tuple[np.dtype]] = {}  # `dtypes` of a one-input gate, by dtype


def _one_dtype(dt: np.dtype) -> tuple[np.dtype]:
    one = _ONE_DTYPE[dt] = (dt,)
    return one
_new = object.__new__
# Numbers the gates in the order they are recorded. A gate is recorded after the gates that made
# its inputs, so sorting by this number gives a topological order (see tensor.topological_order).
_next_seq = itertools.count().__next__
_tensor: list[Any] = [None]  # the Tensor class, filled in by tensor.py (avoids a circular import)


def _several_outputs(gate: "Gate", out: Any) -> None:
    raise GateError(f"{gate.name}.forward returned a {type(out).__name__} of {len(out)}; a gate has one "
                    "output, an array: write one gate per output")


class Gate:
    """Base class of every differentiable op. Subclass it and write `forward` and `backward`.

    Filled in by `apply` when a graph is recorded:
      parents     for each input: the Gate that made it, the leaf Tensor itself, or None
                  (the input needs no gradient);
      needs_grad  for each input: whether it needs a gradient (backward may skip the others);
      shapes, dtypes  of the inputs, which the gradients must match;
      saved       what forward kept for backward; freed by backward() unless retain_graph=True.
      seq         when it was recorded: after every gate that feeds it.
    """

    registry: ClassVar[list[type["Gate"]]] = []
    # How the property suite tests this gate; every gate in the library declares one.
    domain: ClassVar[Optional[Domain]] = None
    # True for a gate whose forward and backward work on NumPy scalars as well as on arrays
    # (arithmetic operators, comparisons, NumPy's math functions): 0-d float inputs (when all of
    # them are) then reach forward, and a 0-d gradient reaches backward, as NumPy scalars.
    # Not inherited: a subclass says so itself. Arithmetic on those is about 8x cheaper than
    # on 0-d arrays, which is most of the cost of an op in a graph of scalars (a CS231n circuit).
    # Results are the same bit for bit: a float32 scalar computes in float32 as a 0-d array does.
    scalars: ClassVar[bool] = False

    parents: tuple[Any, ...] = ()
    needs_grad: tuple[bool, ...] = ()
    shapes: tuple[tuple[int, ...], ...] = ()
    dtypes: tuple[np.dtype, ...] = ()
    saved: Optional[tuple[Any, ...]] = None
    released: bool = False
    watch: Any = None  # hooks.OutputWatch: the output tensor's gradient hooks and retain_grad()
    seq: int = -1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Gate.registry.append(cls)
        if "scalars" not in cls.__dict__:  # not inherited: a subclass may write into its arrays
            cls.scalars = False

    # -- the two methods a gate writes -------------------------------------------------------
    def forward(self, *xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.name} must define forward(self, *arrays)")

    def backward(self, grad: np.ndarray) -> Union[Grad, Sequence[Grad]]:
        raise NotImplementedError(f"{self.name} must define backward(self, grad)")

    # -- helpers for gates -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return type(self).__name__

    def save_for_backward(self, *things: Any) -> None:
        """Keep arrays (or anything) for backward; backward() frees them when it is done."""
        self.saved = things

    def unbroadcast(self, *grads: Grad) -> tuple[Grad, ...]:
        """Fit each input's gradient to that input: sum over broadcast dims, cast to its dtype.
        A gradient of a shape the input does not broadcast to is a GateError naming the gate."""
        fitted, shapes, dtypes = [], self.shapes, self.dtypes
        for g in grads:  # a plain loop: for one or two items, zip() costs more than the work
            i = len(fitted)
            if g is not None and (g.dtype is not dtypes[i] or g.shape != shapes[i]):  # else it fits
                try:
                    g = unbroadcast(g, shapes[i]).astype(dtypes[i], copy=False)
                except ValueError as e:  # (a backward's bug: say whose)
                    raise GateError(f"{self.name}.backward, input {i}: {e}") from None
            fitted.append(g)
        return tuple(fitted)

    # -- building the graph --------------------------------------------------------------------
    @classmethod
    def apply(cls, *inputs: "Tensor", **attrs: Any) -> "Tensor":
        """Run the gate forward on tensors and, if any input requires grad, record it in the graph.

        Keyword arguments go to the gate's __init__ (axis, reduction, ...).
        """
        gate = cls(**attrs) if attrs else cls()
        if len(inputs) == 1:
            return gate.run1(inputs[0])
        return gate.run(inputs)

    def run1(self, t: "Tensor") -> "Tensor":
        """apply() for a gate already made, on one input: the path most ops take, so it does as
        little as it can (Tensor's arithmetic with a Python number calls it directly)."""
        Tensor = _tensor[0]
        if type(t) is not Tensor and not isinstance(t, Tensor):
            raise TypeError(f"{self.name}.apply takes Tensors, got {type(t).__name__}")
        x = t.data
        dt = x.dtype
        record = t._requires_grad and _mode.enabled
        if record:
            sh = x.shape
            # (shared tuples where they can be: fewer objects for the garbage collector to count)
            self.needs_grad, self.shapes = _ONE_TRUE, ((sh,) if sh else _ONE_0D)
            self.dtypes = _ONE_DTYPE.get(dt) or _one_dtype(dt)
            p = t._gate
            self.parents = (t,) if p is None else (p,)  # the gate that made the input, or the leaf
            self.seq = _next_seq()
        try:  # (as in _forward, written out: this is the path of most ops)
            out = self.forward(x[()] if self.scalars and x.ndim == 0 and dt.kind == "f" else x)
        except GateError:
            raise
        except (ValueError, IndexError) as e:
            raise type(e)(f"{self.name}: {e} (input shape: {x.shape})") from e
        if type(out) is not np.ndarray:  # NumPy gives 0-d results as scalars (np.float32)
            if type(out) is tuple or type(out) is list:  # (np.asarray would stack several outputs)
                _several_outputs(self, out)
            out = np.asarray(out)
        r = _new(Tensor)
        r.data, r._grad, r.name = out, None, None
        if record:
            out_dt = out.dtype
            if out_dt is not dt and out_dt.kind != "f":  # (same dtype as the float input: fine)
                raise GateError(f"{self.name}: a differentiable gate must return floats, got {out_dt}")
            r._requires_grad, r._gate = True, self
        else:
            r._requires_grad, r._gate = False, None
        return r

    def run(self, inputs: Sequence["Tensor"]) -> "Tensor":
        """apply() for a gate already made, on any number of inputs."""
        Tensor = _tensor[0]
        arrays, needs_grad, parents, shapes, dtypes = [], [], [], [], []
        record = False
        all_0d = self.scalars
        for t in inputs:  # (one plain loop: for two inputs, comprehensions and zip cost more)
            if type(t) is not Tensor and not isinstance(t, Tensor):
                raise TypeError(f"{self.name}.apply takes Tensors, got {type(t).__name__}")
            a = t.data
            arrays.append(a)
            shapes.append(a.shape)
            dtypes.append(a.dtype)
            if t._requires_grad:  # the gate that made the input, or the leaf itself
                record = True
                needs_grad.append(True)
                parents.append(t if t._gate is None else t._gate)
            else:  # (None: it needs no gradient)
                needs_grad.append(False)
                parents.append(None)
            if all_0d and (shapes[-1] or a.dtype.kind != "f"):
                all_0d = False
        # (scalars only when every input is a 0-d float: a scalar beside an array is no quicker,
        # and NumPy checks integer scalars for overflow where it lets arrays wrap around)
        given = [a[()] for a in arrays] if all_0d else arrays
        if not (record and _mode.enabled):
            return Tensor._wrap(self._forward(given))
        self.needs_grad, self.shapes, self.dtypes = tuple(needs_grad), tuple(shapes), tuple(dtypes)
        out = self._forward(given)
        if out.dtype.kind != "f":
            raise GateError(f"{self.name}: a differentiable gate must return floats, got {out.dtype}")
        self.parents, self.seq = tuple(parents), _next_seq()
        return Tensor._wrap(out, True, self)

    def _forward(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """forward(*arrays) as an ndarray, with the input shapes added to a ValueError's message."""
        try:
            out = self.forward(*arrays)
        except GateError:
            raise
        except (ValueError, IndexError) as e:
            shapes_text = ", ".join(str(a.shape) for a in arrays)
            raise type(e)(f"{self.name}: {e} (input shapes: {shapes_text})") from e
        if type(out) is not np.ndarray:  # NumPy gives 0-d results as scalars (np.float32)
            if isinstance(out, (tuple, list)):  # (np.asarray would stack several outputs)
                _several_outputs(self, out)
            out = np.asarray(out)
        return out

    def __setstate__(self, state: Any) -> None:
        """Unpickled (or copied): a new `seq` from this process's counter, which may be behind
        the one the gate was recorded with. Pickle restores a gate's parents before the gate, so
        the new numbers keep them in recording order, after every gate recorded here so far.
        (A subclass with __slots__ pickles as (its __dict__, its slots).)"""
        attrs, slots = state if isinstance(state, tuple) else (state, None)
        self.__dict__.update(attrs or {})
        for name, value in (slots or {}).items():
            setattr(self, name, value)
        if "seq" in (attrs or {}) or "seq" in (slots or {}):
            self.seq = _next_seq()

    def __repr__(self) -> str:
        state = "released" if self.released else "live"
        return f"<{self.name} gate, {len(self.parents)} input(s), {state}>"
