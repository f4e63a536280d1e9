"""The Tensor, and backward(): the reverse walk over the graph of gates.

A Tensor wraps a NumPy array. When an op runs on tensors that require grad, its gate is
recorded as the result's `grad_fn`; the gate remembers its parents (the gates that made its
inputs, or the leaf tensors themselves). backward() sorts those gates topologically, then visits
them from the output back to the leaves, handing each its upstream gradient and adding (+=)
what it returns into its parents' gradients.
"""
from __future__ import annotations

import bisect
import itertools
import math
import sys
import weakref
from operator import attrgetter
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Sequence, Union

import numpy as np
from numpy.lib import array_utils as _array_utils

from . import dtypes as _dt
from . import gates as G
from . import hooks as _hooks
from ._checks import is_int
from .gates import base as _base
from .gates import movement as _movement
from .gates.base import Gate, GateError, _new
from .gates.activations import ReLU
from .gates.elementwise import AddConst, MulConst
from .gates.reduce import normalize_axis
from .grad_mode import _mode

Scalar = Union[int, float, bool]
"""A Python number."""
ArrayLike = Union["Tensor", np.ndarray, Scalar, Sequence[Any]]
"""What ops take as an operand: a Tensor, a NumPy array, a number or nested sequences of numbers."""
AxisLike = Union[None, int, tuple[int, ...]]
"""An axis argument: None (all axes), one axis, or a tuple of them; negative counts from the end."""


class _Size(int):
    """Number of elements, like NumPy's `a.size`; call it, `t.size()`, for the shape as in PyTorch."""

    _shape: tuple[int, ...]

    def __new__(cls, shape: tuple[int, ...]) -> "_Size":
        obj = int.__new__(cls, int(np.prod(shape, dtype=np.int64)))
        obj._shape = shape
        return obj

    def __call__(self, dim: Optional[int] = None) -> Union[tuple[int, ...], int]:
        return self._shape if dim is None else self._shape[dim]


def _axis(axis: AxisLike, dim: AxisLike) -> AxisLike:
    """Accept NumPy's `axis` or PyTorch's `dim`."""
    if dim is not None:
        if axis is not None:
            raise TypeError("give axis or dim, not both")
        return dim
    return axis


def _reduce_axis(axis: AxisLike, dim: AxisLike) -> AxisLike:
    """The axes of a reduction: as _axis, except that an empty dim, () or [], means every dim,
    as in PyTorch's reductions (NumPy's axis=() means none)."""
    ax = _axis(axis, dim)  # (refuses both)
    return None if isinstance(dim, (tuple, list)) and not dim else ax


def _last_axis(axis: Optional[int], dim: Optional[int]) -> int:
    """One axis given as `axis` or `dim`; the last by default."""
    ax = _axis(axis, dim)
    return -1 if ax is None else ax


def _shape_arg(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept f(2, 3) and f((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _arithmetic(const_gate: type[Gate], gate: type[Gate], reflected: bool = False,
                negate: bool = False) -> Callable[["Tensor", ArrayLike], "Tensor"]:
    """A binary operator of Tensor (__add__, __mul__, ...): `gate` on the two operands, the other
    one lifted to a tensor (first when `reflected`: 2 + t is __radd__). A Python number with a
    float tensor records the one-input `const_gate` instead (AddConst, MulConst), with the number
    (negated for `negate`: t - c is t + (-c)) as a NumPy scalar of the tensor's dtype: half the
    work of the two-input gate. This is the path of every `t * 2`, so it is written out here
    rather than in a few small functions."""
    def operator(self: "Tensor", other: ArrayLike) -> "Tensor":
        if type(other) is float or type(other) is int:
            dtype = self.data.dtype
            if dtype.kind == "f":
                if negate:  # (as a float: -0 is +0 as an int, and -0.0 - 0 must stay -0.0)
                    other = -float(other)
                known = _CONSTS.get(dtype)
                c = None if known is None else known.get(other)
                g = _new(const_gate)  # const_gate(c), less the call of its __init__
                g.c = _const(other, dtype) if c is None else c
                return g.run1(self)
        return gate().run(_operands(self, other, reflected))  # (gate.apply, one call less)
    return operator


def _dtype_and_device(args: tuple[Any, ...], dtype: Any, device: Optional[str], name: str) -> Any:
    """The dtype of a to(...) call (None: unchanged), checking that any device named is the CPU."""
    for a in args:
        if isinstance(a, str) and a in ("cpu", "cuda", "mps") or (isinstance(a, str) and a.startswith("cuda:")):
            device = a
        elif dtype is None:
            dtype = a
        else:
            raise TypeError(f"{name}: give one dtype and at most one device, got {args!r}")
    if device is not None and device != "cpu":
        raise ValueError(f"{name}(device={device!r}): tinygrad_sm runs on the CPU only")
    return dtype


class ValuesIndices(NamedTuple):
    """What x.max(dim) and x.min(dim) give, as in PyTorch: `values, indices = x.max(1)`."""

    values: "Tensor"
    indices: "Tensor"


class Tensor:
    """An n-dimensional array that can record the graph of ops that made it.

    Tensor(data, requires_grad=False, dtype=None, name=None)

    Python floats become float32 unless `dtype` says otherwise; NumPy float32/float64 arrays
    keep their dtype (as with torch.tensor). Integer and bool data keep their dtype and never
    require grad. The data is copied; use `from_numpy` to share memory with an array.
    """

    __slots__ = ("data", "_grad", "_requires_grad", "_gate", "name", "__weakref__")
    __array_ufunc__ = None  # make NumPy hand `array + tensor` to Tensor.__radd__
    __hash__ = object.__hash__  # == is elementwise, identity stays the hash

    data: np.ndarray
    grad: Optional["Tensor"]
    _gate: Optional[Gate]
    name: Optional[str]

    def __init__(self, data: ArrayLike, requires_grad: bool = False, dtype: _dt.DTypeLike = None,
                 name: Optional[str] = None) -> None:
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"Tensor(data, requires_grad=False, dtype=None): requires_grad must be True or False, "
                            f"got {requires_grad!r} (Tensor(2, 3) is not a shape here, as it is in torch.Tensor: "
                            f"use ts.zeros(2, 3) or ts.randn(2, 3))")
        if isinstance(data, Tensor):
            data = data.data
        self.data = _dt.as_array(data, dtype)
        self._grad = None
        self._gate = None
        self.name = name
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, arr: np.ndarray, requires_grad: bool = False, gate: Optional[Gate] = None) -> "Tensor":
        """Fast internal constructor: no conversion, no copy (`gate` is the op that made it)."""
        t = object.__new__(cls)
        t.data = arr
        t._grad = None
        t._requires_grad = requires_grad
        t._gate = gate
        t.name = None
        return t

    # -- what it is ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape, a tuple of ints (the NumPy array's)."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of the values."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions (0 for a scalar)."""
        return self.data.ndim

    @property
    def size(self) -> _Size:
        """Both habits: `t.size` is the number of elements, an int (NumPy's `a.size`), and
        `t.size()` is the shape, `t.size(1)` one dimension's length (PyTorch's)."""
        return _Size(self.data.shape)

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.data.ndim

    @property
    def grad_fn(self) -> Optional[Gate]:
        """The gate that made this tensor (None for leaves and tensors made without grad)."""
        return self._gate

    @property
    def is_leaf(self) -> bool:
        return self._gate is None

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator["Tensor"]:
        """The tensor's rows (x[0], x[1], ...), each recorded as x[i] is."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor (use .item() for its value)")
        return (self[i] for i in range(len(self.data)))

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", threshold=200)
        extra = [f"dtype={self.data.dtype}"]
        if self._gate is not None:
            extra.append(f"grad_fn=<{self._gate.name}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return f"Tensor({body}, {', '.join(extra)})"

    # -- to NumPy / Python -----------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def item(self) -> Scalar:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __format__(self, spec: str) -> str:
        """f"{loss:.4f}" formats a one-element tensor's value; others as str() (no spec)."""
        if self.data.size == 1 and spec:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __index__(self) -> int:
        """A one-element integer tensor as an index: names[t.argmax()]."""
        if self.data.size != 1 or self.data.dtype.kind not in "iub":
            raise TypeError(f"only a one-element integer tensor can be an index, this one is "
                            f"{self.shape} {self.dtype}")
        return int(self.data.item())

    def __contains__(self, value: Any) -> bool:
        """value in t: whether any element equals value."""
        return bool(np.any(self.data == (value.data if isinstance(value, Tensor) else value)))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use .any() or .all() on t.numpy()")
        return bool(self.data.item())

    # -- gradient bookkeeping ------------------------------------------------------------------
    @property
    def grad(self) -> Optional["Tensor"]:
        """dL/dthis, summed over the backward passes since it was last None."""
        return self._grad

    @grad.setter
    def grad(self, value: Optional["Tensor"]) -> None:
        # (checked as PyTorch checks it: a NumPy array here would take no gradient, backward's
        # adds going into a view of it that is thrown away)
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad must be a Tensor or None, got a {type(value).__name__}; wrap an "
                                "array with ts.from_numpy(a) (or ts.tensor(a) for a copy)")
            if value.shape != self.shape or value.dtype != self.dtype:
                raise ValueError(f"assigned grad is {value.shape} {value.dtype}, but the tensor is "
                                 f"{self.shape} {self.dtype}; a gradient must match its tensor")
        self._grad = value

    @property
    def requires_grad(self) -> bool:
        """Whether backward() computes a gradient for this tensor (set by hand on leaves only;
        a result of ops on tensors that require grad requires it too)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)  # (checked there: floats only, leaves only when switching off)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        """Set requires_grad in place (on leaves); returns self."""
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"requires_grad must be True or False, got {flag!r}")
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require grad; this one is {self.data.dtype} "
                            "(integer tensors hold labels and never do)")
        if not flag and self._gate is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use detach()")
        self._requires_grad = bool(flag)
        return self

    def __setstate__(self, state: Any) -> None:
        """Unpickled (or copied): the attributes back in their slots. A Tensor pickled while
        requires_grad was a plain slot brings it under that name; it goes into _requires_grad."""
        attrs, slots = state if isinstance(state, tuple) else (state, None)
        for name, value in {**(attrs or {}), **(slots or {})}.items():
            object.__setattr__(self, "_requires_grad" if name == "requires_grad" else name, value)

    def detach(self) -> "Tensor":
        """The same data (shared), cut from the graph: requires_grad=False, no grad_fn."""
        return Tensor._wrap(self.data)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets .grad to None, like PyTorch's default)."""
        self.grad = None

    def retain_grad(self) -> "Tensor":
        """Keep .grad on this non-leaf tensor after backward() (leaves always keep theirs)."""
        if self._gate is not None:
            self._watch().retain = weakref.ref(self)
        elif not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        return self

    def register_hook(self, hook: Callable[["Tensor"], Optional[Any]]) -> _hooks.RemovableHandle:
        """Call hook(grad) each time backward() computes this tensor's gradient, as PyTorch's:
        grad is a read-only Tensor; a Tensor (or array) of the same shape and dtype returned from
        the hook replaces the gradient (None leaves it). For a leaf, the hook sees the pass's whole
        gradient before it goes into .grad. Returns a handle; handle.remove() takes the hook off.
        Details in tinygrad_sm.hooks."""
        if not self.requires_grad:
            raise RuntimeError("register_hook on a tensor that does not require grad: no gradient will "
                               "reach it (set requires_grad=True on the leaf, or compute it outside no_grad())")
        table = _hooks.leaf_hooks(self) if self._gate is None else self._watch().hooks
        return _hooks.add_hook(table, hook)

    def _watch(self) -> _hooks.OutputWatch:
        """The gate's watch over this (its output) tensor, made on first use."""
        gate = self._gate
        if gate.watch is None:
            gate.watch = _hooks.OutputWatch(self.shape, self.dtype)
        return gate.watch

    def backward(self, grad: Optional[ArrayLike] = None, retain_graph: bool = False,
                 trace: bool = False, *, gradient: Optional[ArrayLike] = None) -> Any:
        """Backpropagate from this tensor: add dself/dleaf (times `grad`) into every leaf's .grad.

        `grad` is dL/dself; it may be left out only for a one-element tensor (a loss).
        Gradients accumulate across calls until zero_grad(). The graph's saved arrays are freed,
        so a second backward() through it raises, unless the first used retain_graph=True.
        trace=True narrates the pass gate by gate as it runs (tinygrad_sm.viz.trace_backward) and
        returns its Trace; the gradients are the same. `gradient=` is PyTorch's name for `grad`.
        """
        if gradient is not None:
            if grad is not None:
                raise TypeError("backward(): give grad or gradient, not both")
            grad = gradient
        if trace:
            from .viz import trace_backward  # (viz imports this module)
            return trace_backward(self, grad, retain_graph=retain_graph)
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: no input had "
                               "requires_grad=True, or it was computed under no_grad()")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a one-element output, this one has "
                                   f"shape {self.shape}; reduce it first (loss.sum()) or pass grad=dL/dthis")
            seed = np.array(1, dtype=self.dtype).reshape(self.shape)  # (np.ones: 3x the cost)
            run_backward(self, seed, retain_graph, own_seed=True)
            return
        seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
        if seed.shape != self.shape:
            raise ValueError(f"backward(): grad has shape {seed.shape} but the tensor has shape {self.shape}")
        run_backward(self, seed if seed.dtype is self.data.dtype else seed.astype(self.dtype, copy=False),
                     retain_graph)

    # -- arithmetic (binary ops broadcast like NumPy) ------------------------------------------
    __add__ = _arithmetic(AddConst, G.Add)
    __radd__ = _arithmetic(AddConst, G.Add, reflected=True)
    __sub__ = _arithmetic(AddConst, G.Sub, negate=True)  # x - c == x + (-c) exactly
    __mul__ = _arithmetic(MulConst, G.Mul)
    __rmul__ = _arithmetic(MulConst, G.Mul, reflected=True)

    def __rsub__(self, other: ArrayLike) -> "Tensor":
        return G.Sub.apply(*_operands(self, other, reflected=True))

    def __truediv__(self, other: ArrayLike) -> "Tensor":
        return G.Div.apply(*_operands(self, other))

    def __rtruediv__(self, other: ArrayLike) -> "Tensor":
        return G.Div.apply(*_operands(self, other, reflected=True))

    # PyTorch's method spellings of the operators
    def add(self, other: ArrayLike, *, alpha: float = 1) -> "Tensor":
        """self + alpha * other."""
        return self + (other if alpha == 1 else _lift(other, self) * alpha)

    def sub(self, other: ArrayLike, *, alpha: float = 1) -> "Tensor":
        """self - alpha * other."""
        return self - (other if alpha == 1 else _lift(other, self) * alpha)

    def mul(self, other: ArrayLike) -> "Tensor":
        return self * other

    def div(self, other: ArrayLike) -> "Tensor":
        return self / other

    def neg(self) -> "Tensor":
        return -self

    def contiguous(self) -> "Tensor":
        """The tensor itself: results here are whole arrays (PyTorch code calls this before view)."""
        return self

    # -- in place: x += y, x -= y, x *= y, x /= y ------------------------------------------------
    def _inplace(self, other: ArrayLike, ufunc: Any, out_of_place: Callable[["Tensor", Any], "Tensor"],
                 symbol: str) -> "Tensor":
        """x op= y changes the tensor x itself, as in PyTorch: every name for x sees the result, and
        `with no_grad(): p -= lr * p.grad` updates a parameter. x keeps its shape and dtype.
        - Recording, with x or y requiring grad: x becomes the recorded x op y, a new node (the
          old value stays in the graph, which differentiates through the op as usual); but a leaf
          x that requires grad refuses, as in PyTorch (its gradient would be for a value that no
          longer exists).
        - Otherwise: a leaf x that requires grad (a parameter, under no_grad) changes in its own
          array, so optimizers and views see it (do it after backward, as an optimizer step does:
          a backward through a graph that saved the array refuses, see check_graph). Any other x
          gets a new array, so that no gate's saved array changes under it (and views of x keep
          the old values)."""
        if _mode.enabled and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            if self.requires_grad and self._gate is None:
                raise RuntimeError(f"a leaf tensor that requires grad cannot be changed in place (x {symbol}= ...) "
                                   f"while the graph is recorded; do it under `with ts.no_grad():` (as an SGD "
                                   f"step does), or write x = x {symbol} ...")
            if self.dtype.kind != "f":
                raise TypeError(f"x {symbol}= y: x is {self.dtype} and y requires grad; the result would be a "
                                f"float, which x cannot hold")
            r = out_of_place(self, other)
            if r.shape != self.shape:
                raise ValueError(f"x {symbol}= y: the result has shape {r.shape}, x has {self.shape} (an in-place "
                                 "op cannot change x's shape)")
            if r.dtype != self.dtype:
                r = r.astype(self.dtype)
            old = self._gate
            self.data, self._gate, self._requires_grad = r.data, r._gate, True
            if old is not None and old.watch is not None and old.watch.retained() is self:
                old.watch.retain = None  # (retain_grad follows the tensor; its hooks stay with the old
                self._watch().retain = weakref.ref(self)  # value, as in PyTorch)
            return self
        o = other.data if isinstance(other, Tensor) else other
        if self.requires_grad and self._gate is None:
            ufunc(self.data, o, out=self.data, casting="same_kind")
            note_write(self, f"`{symbol}=` under no_grad")
        else:
            out = np.empty_like(self.data)
            ufunc(self.data, o, out=out, casting="same_kind")
            self.data = out
        return self

    def __iadd__(self, other: ArrayLike) -> "Tensor":
        return self._inplace(other, np.add, Tensor.__add__, "+")

    def __isub__(self, other: ArrayLike) -> "Tensor":
        return self._inplace(other, np.subtract, Tensor.__sub__, "-")

    def __imul__(self, other: ArrayLike) -> "Tensor":
        return self._inplace(other, np.multiply, Tensor.__mul__, "*")

    def __itruediv__(self, other: ArrayLike) -> "Tensor":
        return self._inplace(other, np.true_divide, Tensor.__truediv__, "/")

    def __ipow__(self, other: ArrayLike) -> "Tensor":
        return self._inplace(other, np.power, Tensor.__pow__, "**")

    def __neg__(self) -> "Tensor":
        return G.Neg.apply(self)

    def __pos__(self) -> "Tensor":
        return self

    def __pow__(self, other: ArrayLike) -> "Tensor":
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            # (a np.float64 is a float too: as a Python float it keeps a float32 base float32)
            return G.PowScalar.apply(self, exponent=other if type(other) is int else float(other))
        return G.Pow.apply(*_operands(self, other))

    def __rpow__(self, other: ArrayLike) -> "Tensor":
        return G.Pow.apply(*_operands(self, other, reflected=True))

    def __matmul__(self, other: ArrayLike) -> "Tensor":
        return G.MatMul().run(_operands(self, other))  # (MatMul.apply, one call less)

    def __rmatmul__(self, other: ArrayLike) -> "Tensor":
        return G.MatMul().run(_operands(self, other, reflected=True))

    def matmul(self, other: ArrayLike) -> "Tensor":
        return self @ other

    def __abs__(self) -> "Tensor":
        return G.Abs.apply(self)

    # -- comparisons: not differentiable, give bool tensors ---------------------------------------
    def _compare(self, other: ArrayLike, op: Any) -> "Tensor":
        o = other.data if isinstance(other, Tensor) else other
        try:
            return Tensor._wrap(np.asarray(op(self.data, o)))
        except ValueError as e:
            raise ValueError(f"{op.__name__}: {e} (shapes {self.shape} and {np.shape(o)})") from None

    def __lt__(self, other: ArrayLike) -> "Tensor":
        return self._compare(other, np.less)

    def __le__(self, other: ArrayLike) -> "Tensor":
        return self._compare(other, np.less_equal)

    def __gt__(self, other: ArrayLike) -> "Tensor":
        return self._compare(other, np.greater)

    def __ge__(self, other: ArrayLike) -> "Tensor":
        return self._compare(other, np.greater_equal)

    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def masked_fill(self, mask: ArrayLike, value: Any) -> "Tensor":
        """value where mask (bool) holds, self elsewhere, in self's dtype (as PyTorch: 1.5 into an
        integer tensor is 1); self's gradient passes where it is kept."""
        from .functional import where  # (functional imports this module)
        v = value if isinstance(value, Tensor) and value.dtype == self.dtype else Tensor._wrap(
            np.asarray(value.data if isinstance(value, Tensor) else value).astype(self.dtype))
        if v.data.ndim:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {v.shape}")
        return where(mask, v, self)

    def eq(self, other: Any) -> "Tensor":
        return self == other

    def ne(self, other: Any) -> "Tensor":
        return self != other

    def lt(self, other: ArrayLike) -> "Tensor":
        return self < other

    def le(self, other: ArrayLike) -> "Tensor":
        return self <= other

    def gt(self, other: ArrayLike) -> "Tensor":
        return self > other

    def ge(self, other: ArrayLike) -> "Tensor":
        return self >= other

    # -- logic on bool (or integer) tensors: masks; not differentiable ----------------------------
    def _masks_only(self, other: ArrayLike, op: Any) -> None:
        if self.dtype.kind == "f" or (isinstance(other, Tensor) and other.dtype.kind == "f"):
            raise TypeError(f"{op.__name__} takes bool or integer tensors (masks), not {self.dtype}; "
                            "compare first, e.g. (x > 0) & (x < 1)")

    def _logic(self, other: ArrayLike, op: Any) -> "Tensor":
        self._masks_only(other, op)
        return self._compare(other, op)

    def __and__(self, other: ArrayLike) -> "Tensor":
        return self._logic(other, np.bitwise_and)

    def __or__(self, other: ArrayLike) -> "Tensor":
        return self._logic(other, np.bitwise_or)

    def __xor__(self, other: ArrayLike) -> "Tensor":
        return self._logic(other, np.bitwise_xor)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __iand__(self, other: ArrayLike) -> "Tensor":
        self._masks_only(other, np.bitwise_and)
        return self._inplace(other, np.bitwise_and, Tensor.__and__, "&")

    def __ior__(self, other: ArrayLike) -> "Tensor":
        self._masks_only(other, np.bitwise_or)
        return self._inplace(other, np.bitwise_or, Tensor.__or__, "|")

    def __ixor__(self, other: ArrayLike) -> "Tensor":
        self._masks_only(other, np.bitwise_xor)
        return self._inplace(other, np.bitwise_xor, Tensor.__xor__, "^")

    def __invert__(self) -> "Tensor":
        if self.dtype.kind == "f":
            raise TypeError(f"~ takes bool or integer tensors (masks), not {self.dtype}")
        return Tensor._wrap(np.asarray(np.invert(self.data)))

    def argmax(self, axis: Optional[int] = None, keepdims: bool = False, *, dim: Optional[int] = None,
               keepdim: Optional[bool] = None) -> "Tensor":
        """Index of the largest value (first one on ties), as an int64 tensor."""
        ax = _axis(axis, dim)
        return Tensor._wrap(np.asarray(np.argmax(self.data, axis=ax, keepdims=bool(keepdim or keepdims))))

    def argmin(self, axis: Optional[int] = None, keepdims: bool = False, *, dim: Optional[int] = None,
               keepdim: Optional[bool] = None) -> "Tensor":
        ax = _axis(axis, dim)
        return Tensor._wrap(np.asarray(np.argmin(self.data, axis=ax, keepdims=bool(keepdim or keepdims))))

    # -- elementwise functions ------------------------------------------------------------------
    def exp(self) -> "Tensor":
        return G.Exp.apply(self)

    def log(self) -> "Tensor":
        return G.Log.apply(self)

    def sqrt(self) -> "Tensor":
        return G.Sqrt.apply(self)

    def abs(self) -> "Tensor":
        return G.Abs.apply(self)

    def relu(self) -> "Tensor":
        return ReLU().run1(self)  # (apply's call without its argument packing: a frequent op)

    def sigmoid(self) -> "Tensor":
        return G.Sigmoid.apply(self)

    def tanh(self) -> "Tensor":
        return G.Tanh.apply(self)

    def pow(self, exponent: ArrayLike) -> "Tensor":
        return self ** exponent

    def maximum(self, other: ArrayLike) -> "Tensor":
        return G.Maximum.apply(*_operands(self, other))

    def minimum(self, other: ArrayLike) -> "Tensor":
        return G.Minimum.apply(*_operands(self, other))

    def clip(self, min: Optional[ArrayLike] = None, max: Optional[ArrayLike] = None) -> "Tensor":  # noqa: A002
        """Each element held within [min, max]; the bounds are numbers, arrays or tensors that need
        no gradient (x.maximum(lo).minimum(hi) sends gradients to tensor bounds too)."""
        if min is None and max is None:
            raise ValueError("clip: give min, max or both")
        return G.Clip.apply(self, lo=_clip_bound(min, "min"), hi=_clip_bound(max, "max"))

    clamp = clip

    def astype(self, dtype: _dt.DTypeLike) -> "Tensor":
        """Convert to another dtype; float-to-float casts are differentiable."""
        dt = _dt.to_dtype(dtype)
        if dt == self.dtype:
            return self
        if dt.kind == "f" and self.dtype.kind == "f":
            return G.Cast.apply(self, dtype=dt)
        return Tensor._wrap(self.data.astype(dt))

    def to(self, *args: Any, dtype: _dt.DTypeLike = None, device: Optional[str] = None) -> "Tensor":
        """astype, PyTorch's spelling: to(dtype), to("cpu"), to("cpu", dtype), to(device=, dtype=).
        "cpu" is the only device."""
        dt = _dtype_and_device(args, dtype, device, "to")
        return self if dt is None else self.astype(dt)

    def cpu(self) -> "Tensor":
        """The tensor itself: everything here lives on the CPU."""
        return self

    def clone(self) -> "Tensor":
        """A copy of the data that stays in the graph: the gradient passes through unchanged."""
        return G.MulConst.apply(self, c=self.data.dtype.type(1)) if self.dtype.kind == "f" else Tensor._wrap(self.data.copy())

    def t(self) -> "Tensor":
        """The transpose of a matrix (a 0-d or 1-d tensor is returned as it is), as PyTorch's t()."""
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with at most 2 dimensions, got {self.ndim}; use transpose(d0, d1)")
        return self.transpose() if self.ndim == 2 else self

    def float(self) -> "Tensor":
        return self.astype(_dt.float32)

    def double(self) -> "Tensor":
        return self.astype(_dt.float64)

    def long(self) -> "Tensor":
        return self.astype(_dt.int64)

    def int(self) -> "Tensor":
        """int32, as PyTorch's .int(): floats are truncated toward zero (no gradient)."""
        return self.astype(_dt.int32)

    def bool(self) -> "Tensor":
        """True where nonzero (NaN included), as PyTorch's .bool() (no gradient)."""
        return self.astype(_dt.bool_)

    # -- reductions -------------------------------------------------------------------------------
    def sum(self, axis: AxisLike = None, keepdims: bool = False, *, dim: AxisLike = None,
            keepdim: Optional[bool] = None) -> "Tensor":
        return G.Sum.apply(self, axis=_reduce_axis(axis, dim), keepdims=bool(keepdim or keepdims))

    def mean(self, axis: AxisLike = None, keepdims: bool = False, *, dim: AxisLike = None,
             keepdim: Optional[bool] = None) -> "Tensor":
        return G.Mean.apply(self, axis=_reduce_axis(axis, dim), keepdims=bool(keepdim or keepdims))

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: AxisLike = None,
            keepdims: Optional[bool] = None) -> Any:
        """As in PyTorch: x.max() is the largest value; x.max(dim) (or dim=) is the pair
        (values, indices) along that dim, the index of the first largest on ties; x.max(other)
        is maximum(x, other). x.max(axis=...) is NumPy's: the values only (as amax(dim)).
        The gradient goes to the largest element (split evenly between tied ones)."""
        return self._extreme(G.Max, np.argmax, self.maximum, dim, keepdim, axis, keepdims)

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: AxisLike = None,
            keepdims: Optional[bool] = None) -> Any:
        """As max, for the smallest: x.min(), x.min(dim) -> (values, indices), x.min(other),
        x.min(axis=...) -> values."""
        return self._extreme(G.Min, np.argmin, self.minimum, dim, keepdim, axis, keepdims)

    def amax(self, dim: AxisLike = None, keepdim: bool = False) -> "Tensor":
        """The largest values over dim (an int, a tuple, or None or () for all), without the indices."""
        return G.Max.apply(self, axis=_reduce_axis(None, dim), keepdims=bool(keepdim))

    def amin(self, dim: AxisLike = None, keepdim: bool = False) -> "Tensor":
        """The smallest values over dim, without the indices."""
        return G.Min.apply(self, axis=_reduce_axis(None, dim), keepdims=bool(keepdim))

    def _extreme(self, gate: Any, arg: Any, elementwise: Any, dim: Any, keepdim: bool, axis: AxisLike,
                 keepdims: Optional[bool]) -> Any:
        if isinstance(dim, (Tensor, np.ndarray)):  # x.max(other): elementwise, as torch.max(x, other)
            return elementwise(dim)
        keep = bool(keepdim or keepdims)
        if dim is None:  # (the whole tensor, or NumPy's axis=: values only)
            return gate.apply(self, axis=axis, keepdims=keep)
        if axis is not None:
            raise TypeError("give axis or dim, not both")
        if not is_int(dim):
            raise TypeError(f"{gate.__name__.lower()}(dim) takes one dim as an int, as in PyTorch, got {dim!r}; "
                            f"use a{gate.__name__.lower()}(dims) for several")
        values = gate.apply(self, axis=int(dim), keepdims=keep)
        d = int(dim) if self.ndim else None  # (a 0-d tensor: its one element, index 0)
        indices = np.asarray(arg(self.data, axis=d, keepdims=keep and d is not None))
        return ValuesIndices(values, Tensor._wrap(indices.astype(np.int64, copy=False)))

    def prod(self, dim: AxisLike = None, keepdim: bool = False) -> "Tensor":
        """The product over dim (None: all; an int, or a tuple of them), as PyTorch's prod. The
        gradient of each element is the product of the others, exact where some are 0."""
        return G.Prod.apply(self, axis=_reduce_axis(None, dim), keepdims=bool(keepdim))

    def cumsum(self, dim: int) -> "Tensor":
        """Running sums along dim, as PyTorch's: out[i] = x[0] + ... + x[i]."""
        if not is_int(dim):
            raise TypeError(f"cumsum(dim) takes one dim as an int, got {dim!r}")
        normalize_axis(dim, self.ndim, op="cumsum")  # (a clear error for a dim out of range)
        if self.ndim == 0:  # (one element: its own running sum, in cumsum's dtype)
            return G.CumSum.apply(self.reshape(1), axis=0).reshape(())
        return G.CumSum.apply(self, axis=int(dim))

    def gather(self, dim: int, index: ArrayLike) -> "Tensor":
        """out[i][j][k] = self[i][index[i][j][k]][k] for dim=1 (and so on), as PyTorch's gather:
        index holds integers, has this tensor's number of dimensions, and is no larger along the
        others. The gradient goes back to the picked elements (summed where one is picked twice)."""
        idx = index.data if isinstance(index, Tensor) else np.asarray(index)
        if not is_int(dim):
            raise TypeError(f"gather(dim, index) takes one dim as an int, got {dim!r}")
        normalize_axis(dim, self.ndim, op="gather")
        if self.ndim == 0:  # (as PyTorch: a 0-d index into the one element)
            if np.ndim(idx) != 0:
                raise ValueError(f"gather: a 0-d tensor takes a 0-d index, got shape {np.shape(idx)}")
            return G.Gather.apply(self.reshape(1), dim=0, index=np.reshape(idx, 1)).reshape(())
        return G.Gather.apply(self, dim=int(dim), index=idx)

    def repeat(self, *sizes: Any) -> "Tensor":
        """Tile: repeat(2, 3) stacks 2 copies along dim 0 and 3 along dim 1, as PyTorch's repeat
        (not NumPy's repeat, which is repeat_interleave). Built from reshape and expand, so the
        gradient of each element sums its copies'."""
        reps = _shape_arg(sizes)
        if len(reps) < self.ndim or not all(is_int(r) and r >= 0 for r in reps):
            raise ValueError(f"repeat: give a count >= 0 for each of the tensor's {self.ndim} dimensions (or "
                             f"more, which add leading ones), got {reps}")
        shape = (1,) * (len(reps) - self.ndim) + self.shape
        spread = self.reshape(tuple(d for n in shape for d in (1, n)))  # (1, n0, 1, n1, ...)
        tiled = spread.expand(tuple(d for r, n in zip(reps, shape) for d in (r, n)))
        return tiled.reshape(tuple(r * n for r, n in zip(reps, shape)))

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> "Tensor":
        """The indices that sort dim (int64; no gradient). Sorting is always stable here: equal
        values keep their order (descending too)."""
        if not is_int(dim):
            raise TypeError(f"argsort(dim) takes one dim as an int, got {dim!r}")
        d = normalize_axis(dim, self.ndim, op="argsort")
        if self.ndim == 0:
            return Tensor._wrap(np.zeros((), np.int64))
        d = d[0]
        data = self.data
        if descending:  # (stable from the largest down: sort the reversed axis, then map back)
            flipped = np.flip(data, d)
            order = np.flip(np.argsort(flipped, axis=d, kind="stable"), d)
            return Tensor._wrap((data.shape[d] - 1 - order).astype(np.int64, copy=False))
        return Tensor._wrap(np.argsort(data, axis=d, kind="stable").astype(np.int64, copy=False))

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> ValuesIndices:
        """(values, indices) sorted along dim, as PyTorch's sort; the values' gradient goes back
        to where each came from (a gather)."""
        idx = self.argsort(dim, descending)
        return ValuesIndices(self.gather(dim, idx) if self.ndim else self.reshape(()), idx)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:  # noqa: A002
        """(values, indices) of the k largest (or smallest) along dim, largest first, as PyTorch's."""
        d = normalize_axis(dim, max(self.ndim, 1), op="topk")[0]
        n = self.shape[d] if self.ndim else 1
        if not is_int(k) or not 0 <= k <= n:
            raise ValueError(f"topk: k must be an int in [0, {n}] for dim {dim} of shape {self.shape}, got {k!r}")
        idx = self.argsort(dim, descending=largest)
        if self.ndim:
            idx = Tensor._wrap(np.take(idx.data, np.arange(k), axis=d))
        elif k == 0:  # (as PyTorch: none of the one element)
            return ValuesIndices(self.reshape(1)[:0], Tensor._wrap(np.zeros(0, np.int64)))
        return ValuesIndices(self.gather(dim, idx) if self.ndim else self.reshape(()), idx)

    def var(self, dim: AxisLike = None, unbiased: Optional[bool] = None, keepdim: bool = False, *,
            correction: float = 1) -> "Tensor":
        """Variance over dim (None: all), sum((x - mean)**2) / (n - correction), as PyTorch's:
        correction=1 (unbiased) by default, unbiased=False is correction=0. Built from ops, so
        its gradient is theirs."""
        if unbiased is not None:
            correction = 1 if unbiased else 0
        if isinstance(dim, (bool, np.bool_)):
            raise TypeError("var/std: dim is an int or a tuple of ints; unbiased comes second, as in "
                            "PyTorch: x.var(1, False)")
        if self.dtype.kind != "f":
            raise TypeError(f"var/std take floating-point tensors, this one is {self.dtype}; "
                            "convert it first (x.float() or x.double())")
        axes = _reduce_axis(None, dim)
        d = self - self.mean(axis=axes, keepdims=True)
        n = self.data.size if axes is None else math.prod(
            self.shape[a] for a in ((axes,) if isinstance(axes, (int, np.integer)) else axes))
        return (d * d).sum(axis=axes, keepdims=bool(keepdim)) / max(n - correction, 0)

    def std(self, dim: AxisLike = None, unbiased: Optional[bool] = None, keepdim: bool = False, *,
            correction: float = 1) -> "Tensor":
        """The square root of var(...), with the same arguments (PyTorch's order: dim, unbiased,
        keepdim). Where the values are all equal the gradient is 0, as PyTorch's."""
        return G.StdSqrt.apply(self.var(dim, unbiased, keepdim, correction=correction))

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple["Tensor", ...]:
        """Pieces along dim, as PyTorch's: an int is each piece's size (the last may be smaller),
        a list gives the sizes. Each piece is a slice of self (its gradient goes back there)."""
        n = self.shape[dim]
        if is_int(split_size_or_sections):
            size = int(split_size_or_sections)
            if size < 1:
                raise ValueError(f"split: the piece size must be >= 1, got {size}")
            sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
        else:
            if isinstance(split_size_or_sections, (str, bytes)) or not isinstance(split_size_or_sections, Iterable):
                raise TypeError(f"split: give a piece size (an int) or a list of sizes, got {split_size_or_sections!r}")
            sizes = list(split_size_or_sections)
            if not all(is_int(k) for k in sizes):
                raise TypeError(f"split: the sizes must be ints, got {sizes!r}")
            sizes = [int(k) for k in sizes]
            if sum(sizes) != n or any(k < 0 for k in sizes):
                raise ValueError(f"split: sizes {sizes} do not add up to dim {dim}'s {n}")
        lead = (slice(None),) * (dim % self.ndim)
        starts = np.cumsum([0, *sizes])
        return tuple(self[(*lead, slice(int(a), int(b)))] for a, b in zip(starts[:-1], starts[1:]))

    def chunk(self, chunks: int, dim: int = 0) -> tuple["Tensor", ...]:
        """At most `chunks` pieces of equal size along dim (the last may be smaller), as PyTorch's."""
        if not is_int(chunks) or chunks < 1:
            raise ValueError(f"chunk: chunks must be an int >= 1, got {chunks!r}")
        n = self.shape[dim]
        if n == 0:  # (as PyTorch: `chunks` empty pieces)
            return self.split([0] * int(chunks), dim)
        return self.split(-(-n // int(chunks)), dim)

    def logsumexp(self, axis: AxisLike = None, keepdims: bool = False, *, dim: AxisLike = None,
                  keepdim: Optional[bool] = None) -> "Tensor":
        return G.LogSumExp.apply(self, axis=_reduce_axis(axis, dim), keepdims=bool(keepdim or keepdims))

    # -- shape ------------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> "Tensor":
        return G.Reshape.apply(self, shape=_shape_arg(shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        """Merge dims start_dim..end_dim into one (all of them by default)."""
        axes = normalize_axis((start_dim, end_dim), self.ndim, unique=False, op="flatten")  # (checks the range)
        if self.ndim == 0:
            return self.reshape(1)
        s, e = axes
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                             f"for a tensor of shape {self.shape}")
        merged = int(np.prod(self.shape[s:e + 1], dtype=np.int64))  # (not -1: a 0 in the shape)
        return self.reshape(self.shape[:s] + (merged,) + self.shape[e + 1:])

    def permute(self, *axes: Any) -> "Tensor":
        return G.Permute.apply(self, axes=_shape_arg(axes))

    def transpose(self, dim0: Optional[int] = None, dim1: Optional[int] = None) -> "Tensor":
        """Swap two axes; with no arguments reverse them all (like .T)."""
        axes = list(range(self.ndim))[::-1]
        if dim0 is not None:
            axes = list(range(self.ndim))
            d1 = dim1 if dim1 is not None else -1
            axes[dim0], axes[d1] = axes[d1], axes[dim0]
        return G.Permute.apply(self, axes=tuple(axes))

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def expand(self, *shape: Any) -> "Tensor":
        """Broadcast to a larger shape without copying; -1 keeps a dimension."""
        target = _shape_arg(shape)
        lead = len(target) - self.ndim
        target = tuple(self.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(target))
        return G.Expand.apply(self, shape=target)

    broadcast_to = expand

    def squeeze(self, axis: AxisLike = None, *, dim: AxisLike = None) -> "Tensor":
        ax = _axis(axis, dim)
        shape = self.shape
        if ax is None:
            return self.reshape(tuple(n for n in shape if n != 1))
        axes = set(normalize_axis(ax, self.ndim, op="squeeze"))  # (0-d: axis 0 or -1, and no axes)
        for a in axes:
            if shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {shape} has size {shape[a]}, not 1")
        return self.reshape(tuple(n for i, n in enumerate(shape) if i not in axes))

    def unsqueeze(self, axis: Optional[int] = None, *, dim: Optional[int] = None) -> "Tensor":
        ax = _axis(axis, dim)
        if ax is None:
            raise TypeError("unsqueeze needs an axis")
        return self.reshape(np.expand_dims(self.data, ax).shape)

    def __getitem__(self, index: Any) -> "Tensor":
        return G.GetItem.apply(self, index=_index(index))

    def __setitem__(self, index: Any, value: ArrayLike) -> None:
        """x[index] = value, as in place as x op= y (see _inplace): a parameter under no_grad
        changes in its own array, any other tensor gets a new one. Not recorded for backward:
        while the graph is recorded it is refused where x or value requires grad."""
        self._assign(index, value, "item assignment")

    def _assign(self, index: Any, value: ArrayLike, how: str) -> None:
        v = value.data if isinstance(value, Tensor) else value
        if _mode.enabled and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
            what = "x[index] = value" if how == "item assignment" else how
            raise RuntimeError(f"{what} is not recorded for backward: do it under `with ts.no_grad():` "
                               "where no gradient should flow through it, or build the result from ops "
                               "(e.g. x * keep + value * (1 - keep) with a 0/1 mask)")
        idx = _index(index)
        if self.requires_grad and self._gate is None:
            self.data[idx] = v
            note_write(self, f"{how} under no_grad")
        else:
            new = self.data.copy()
            new[idx] = v
            self.data = new

    # -- PyTorch's in-place methods: the same as the operators and item assignment above -----------
    def add_(self, other: ArrayLike) -> "Tensor":
        return self.__iadd__(other)

    def sub_(self, other: ArrayLike) -> "Tensor":
        return self.__isub__(other)

    def mul_(self, other: ArrayLike) -> "Tensor":
        return self.__imul__(other)

    def div_(self, other: ArrayLike) -> "Tensor":
        return self.__itruediv__(other)

    def fill_(self, value: float) -> "Tensor":
        """Every element set to value, in place (not recorded: see __setitem__)."""
        self._assign(..., value, "fill_()")
        return self

    def zero_(self) -> "Tensor":
        self._assign(..., 0, "zero_()")
        return self

    # -- softmax family -----------------------------------------------------------------------------
    def softmax(self, axis: Optional[int] = None, *, dim: Optional[int] = None) -> "Tensor":
        """Along axis (or dim; the last by default)."""
        return G.Softmax.apply(self, axis=_last_axis(axis, dim))

    def log_softmax(self, axis: Optional[int] = None, *, dim: Optional[int] = None) -> "Tensor":
        """Along axis (or dim; the last by default)."""
        return G.LogSoftmax.apply(self, axis=_last_axis(axis, dim))


def _clip_bound(v: Any, name: str) -> Any:
    if isinstance(v, Tensor):
        if v.requires_grad:
            raise TypeError(f"clip: the {name} bound requires grad, and clip sends no gradient to its "
                            "bounds; use x.maximum(lo).minimum(hi), which does")
        return v.data
    return v


def _index(index: Any) -> Any:
    """Turn tensors and lists inside an index into arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):  # ([] is an empty index, not an empty float array)
        return np.asarray(index) if index else np.empty(0, np.intp)
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    return index


_CONSTS: dict[np.dtype, dict[Union[int, float], np.generic]] = {}


def _const(x: Union[int, float], dtype: np.dtype) -> np.generic:
    """A Python number as a NumPy scalar of `dtype`, for the constant gates (NumPy computes with
    it as with a number of that dtype, and quicker than with a Python float or a 0-d array).

    Remembered (up to 4096 per dtype): a loop that adds the same 0.5 a thousand times converts
    it once (_arithmetic looks there first). Zeros and NaN are not remembered: 0.0 == -0.0 as
    keys, and NaN != NaN."""
    c = dtype.type(x)
    if x and x == x:
        known = _CONSTS.setdefault(dtype, {})
        if len(known) >= 4096:
            known.clear()
        known[x] = c
    return c


def _lift(x: ArrayLike, like: Tensor) -> Tensor:
    """Turn the other operand of a binary op into a constant tensor.

    Python scalars, and lists of Python floats, take a float tensor's dtype (2.0 * float32 stays
    float32, float64 @ [[1.0]] stays float64); arrays keep theirs.
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (int, float)):
        dt = like.data.dtype
        if dt.kind != "f":
            dt = _dt.scalar_dtype(dt, x)
        return Tensor._wrap(np.array(x, dt))  # np.array(x, dt) is twice as fast as np.asarray(x, dtype=dt)
    if isinstance(x, np.ndarray):
        a = x if type(x) is np.ndarray else np.asarray(x)  # (np.matrix: see from_numpy)
        if not a.dtype.isnative:  # ('>f8' from a file: the same values, in this machine's order)
            a = a.astype(a.dtype.newbyteorder("="))
        return Tensor._wrap(a)
    dt = like.data.dtype
    if dt.kind == "f" and not isinstance(x, np.generic):  # Python floats: no dtype of their own to
        raw = np.asarray(x)  # keep; read as float64 (exact) and rounded once to the tensor's dtype
        if raw.dtype.kind == "f":
            return Tensor._wrap(raw if raw.dtype == dt else raw.astype(dt))
    return Tensor._wrap(_dt.as_array(x, copy=False))


def _operands(t: Tensor, other: ArrayLike, reflected: bool = False) -> tuple[Tensor, Tensor]:
    """The two operands of a binary op as tensors, `other` first when `reflected` (2 - t).

    An integer or bool operand beside a float one takes the float's dtype, as in PyTorch
    (float32 * int64 stays float32, where NumPy would give float64); it cannot require grad, so
    the cast loses nothing.
    """
    o = other if type(other) is Tensor else _lift(other, t)
    a, b = t.data.dtype, o.data.dtype
    if a is not b and a.kind != b.kind:  # (builtin dtypes are singletons: `is` first, it is cheaper)
        t, o = _one_kind([t, o])
    return (o, t) if reflected else (t, o)


def _one_kind(ts: list[Tensor]) -> list[Tensor]:
    """Integer and bool tensors among float ones take the floats' dtype (the rule of _operands,
    for any number of tensors: cat, stack)."""
    floats = [t.data.dtype for t in ts if t.data.dtype.kind == "f"]
    if not floats or len(floats) == len(ts):
        return ts
    dt = np.result_type(*floats)
    return [t if t.data.dtype.kind == "f" else Tensor._wrap(t.data.astype(dt)) for t in ts]


_base._tensor[0] = Tensor


# ---------------------------------------------------------------------------------------------------
# The backward pass
# ---------------------------------------------------------------------------------------------------
_SEQ = attrgetter("seq")


def topological_order(root: Gate) -> list[Gate]:
    """Gates reachable from `root`, each after all the gates feeding it (parents first).

    A gate is recorded after the gates that made its inputs, so the order of recording (Gate.seq)
    is a topological order: find the reachable gates (depth first, with an explicit stack, so a
    100,000-gate chain is fine), then sort them by it. Quicker than sorting by the search itself,
    which must visit each gate twice (before and after its parents).
    """
    found = {root}  # gates hash by identity, as in the grads dict below
    stack = [root]
    while stack:
        for p in stack.pop().parents:
            if isinstance(p, Gate) and p not in found:
                found.add(p)
                stack.append(p)
    return sorted(found, key=_SEQ)


# -- writes into a parameter's own array ---------------------------------------------------------
# A parameter changed in place (an optimizer step, `p -= ...` under no_grad, load_state_dict) keeps
# its array, and a gate recorded before the change may have saved that array (or a view of it) for
# its backward, which would then quietly use the new values. Each such write is stamped with the
# gate counter, so backward() can tell the writes that came after a gate was recorded. The record
# lives as long as the array (not the tensor): a gate may hold the array after the tensor let go
# of it (w.grad = None after a write into it).
# id(the array that owns the memory) -> (stamp, how, (name, shape, dtype), weakref to it, the
# written range where that was a view of it, else None)
_writes: dict[int, tuple[int, str, tuple[Any, ...], "weakref.ref[np.ndarray]", Optional[tuple[int, int]]]] = {}
_last_write = [-1]


def _forget_write(key: int) -> Callable[[Any], None]:
    return lambda _ref: _writes.pop(key, None)


def note_write(t: Tensor, how: str) -> None:
    """Record that t's own array was just changed in place, and by what (`how` goes into the error
    message). The optimizers, `p -= ...` under no_grad and load_state_dict call it; so should an
    optimizer of your own that writes into p.data, so that a pending backward() that saved p's
    array refuses instead of using the new values (see check_graph)."""
    a = t.data
    if not isinstance(a, np.ndarray):
        return
    owner, bounds = a, None  # (the record follows the memory's owner: a view may die before it)
    if a.base is not None:
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        bounds = _byte_bounds(a)  # (the view's own range, while it can still be read)
    key = id(owner)
    entry = _writes.get(key)
    ref = entry[3] if entry is not None and entry[3]() is owner else weakref.ref(owner, _forget_write(key))
    stamp = _last_write[0] = _base._next_seq()
    _writes[key] = (stamp, how, (t.name, a.shape, a.dtype), ref, bounds)


def _saved_over(gates: Iterable[Gate], regions: list[tuple[Any, ...]]) -> Iterator[tuple[Gate, tuple[Any, ...]]]:
    """(gate, region) for every array a gate saved that shares memory with a region: regions are
    (first byte, last byte + 1, ...) sorted by first byte; with the running maximum of their ends,
    a saved array is looked up among them by bisection, not compared with each."""
    starts = [r[0] for r in regions]
    reach = list(itertools.accumulate((r[1] for r in regions), max))
    for gate in gates:
        for a in gate.saved or ():
            if not isinstance(a, np.ndarray) or not a.size:
                continue
            lo, hi = _byte_bounds(a)
            j = bisect.bisect_left(starts, hi) - 1  # the regions that start before a ends...
            while j >= 0 and reach[j] > lo:  # ...and, going back, may end after it starts
                if regions[j][1] > lo:
                    yield gate, regions[j]
                j -= 1


def check_graph(order: list[Gate]) -> None:
    """Before backward() touches anything: every gate in `order` (sorted by seq) still has its saved
    values, and none of the arrays they saved was changed in place after the gate was recorded."""
    for gate in order:
        if gate.released:
            raise RuntimeError(
                f"backward() through a graph a second time: the {gate.name} gate's saved values were "
                "freed by the first backward(). Call the first backward(retain_graph=True) to "
                "backpropagate through the same graph again.")
    if not order or _last_write[0] < order[0].seq:  # (the usual case: no write since the graph began)
        return
    regions = sorted((*(bounds or _byte_bounds(a)), stamp, how, who)
                     for stamp, how, who, ref, bounds in list(_writes.values())
                     if stamp > order[0].seq and (a := ref()) is not None and a.size)
    if not regions:
        return
    latest = max(r[2] for r in regions)  # (sorted by seq: a gate recorded after every write is fine)
    for gate, (_, _, stamp, how, (name, shape, dtype)) in _saved_over(
            itertools.takewhile(lambda g: g.seq < latest, order), regions):
        if stamp > gate.seq:
            what = f"{name!r}, " if name else ""
            raise RuntimeError(
                f"backward(): the {gate.name} gate saved a tensor ({what}shape {shape}, {dtype}) for its "
                f"gradient, and {how} changed it in place after the gate was recorded; the gradient would "
                "use the new values. Call backward() before the change (loss.backward() before "
                "opt.step()), or run the forward pass again after it.")


def _held_grads(order: list[Gate]) -> set[int]:
    """The leaves (by id) whose present .grad array a gate of this graph saved as a value
    ((w * w.grad).sum() + ...): backward adds into those at the end of the pass."""
    leaves = {id(p): p for g in order for p in g.parents
              if isinstance(p, Tensor) and p.grad is not None and isinstance(p.grad.data, np.ndarray)
              and not _held_by_its_tensor_alone(p.grad)}  # (else no gate, nor a view, can hold it)
    if not leaves:
        return set()
    if any(p.grad.data.base is not None for p in leaves.values()):  # (a .grad that is a view: by memory)
        regions = sorted((*_byte_bounds(p.grad.data), key) for key, p in leaves.items() if p.grad.data.size)
        return {region[2] for _, region in _saved_over(order, regions)} if regions else set()
    owners = {id(p.grad.data): key for key, p in leaves.items()}  # (else by the array that owns a saved one)
    held = set()
    for g in order:
        for a in g.saved or ():
            while isinstance(a, np.ndarray):
                if id(a) in owners:
                    held.add(owners[id(a)])
                    break
                a = a.base
    return held


def _held_by_its_tensor_alone(t: Tensor) -> bool:
    """Nothing but t refers to t.data (no gate saved it, no view of it exists): CPython's count."""
    return sys.getrefcount(t.data) <= _ALONE_REFS


def _calibrate_alone_refs() -> int:
    """What _held_by_its_tensor_alone counts for an array only its tensor holds; -1 (never alone)
    where one more holder does not count as one more reference (not CPython)."""
    if sys.implementation.name != "cpython":
        return -1
    t = Tensor._wrap(np.empty(1))
    alone = sys.getrefcount(t.data)
    holder = [t.data]
    held = sys.getrefcount(t.data)
    del holder
    return alone if held == alone + 1 else -1


def _byte_bounds(a: np.ndarray) -> tuple[int, int]:
    """The addresses [first, last byte + 1) of a's memory (what np.may_share_memory compares)."""
    return _array_utils.byte_bounds(a)


_LEAF_HOOKS = _hooks.LEAF_HOOKS  # (one dict, changed in place: a module global is the quickest to read)


def _watched(watch: _hooks.OutputWatch, g: Any) -> Any:
    """A gate's output gradient after the output tensor's hooks, kept as its .grad if it asked."""
    if watch.hooks:
        g = _hooks.run_hooks(watch.hooks, g, watch.shape, watch.dtype, Tensor._wrap)
    kept = watch.retained()
    if kept is not None:
        _accumulate(kept, np.asarray(g))
    return g


def _leaf_self_grad(leaf: Tensor, seed: np.ndarray) -> np.ndarray:
    """backward() from a leaf: its gradient is the seed (after its hooks), which it returns."""
    entry = _hooks.LEAF_HOOKS.get(id(leaf))
    if entry is not None and entry[1]:
        seed = _hooks.run_hooks(entry[1], seed, leaf.shape, leaf.dtype, Tensor._wrap)
    _accumulate(leaf, seed)
    return seed


def _accumulate(t: Tensor, g: np.ndarray, owned: bool = False, note: bool = True) -> None:
    """t.grad += g, creating t.grad on first use: g itself when `owned` (no one else holds it),
    else a copy (g may be the user's array, or reach other inputs too). An add into an existing
    .grad is a write in place (note_write), unless the caller knows it needs no note."""
    if t._grad is None:
        t._grad = Tensor._wrap(g if owned else np.array(g, dtype=t.data.dtype))  # (a gate's gradient: no check)
        return
    d = t._grad.data
    if d.ndim == 0:  # (in place on a 0-d array, a scalar add and store cost 1/8 of `+=`)
        d[()] = d[()] + g
    else:
        d += g
    if note:  # (a pending graph may have used .grad as a value)
        note_write(t._grad, "backward() adding into .grad")


class _LeafGrads:
    """Adds one backward pass's gradients into the leaves' .grad (backward() and viz.trace_backward
    share it, so both add in the same order, to the same bits). A .grad this pass made (or already
    noted as written) is added into as gradients arrive. A .grad from before the pass is too,
    unless a gate of this graph saved it as a value ((w * w.grad).sum() + ...): that leaf's sum
    waits for finish(), when the graph is done with every saved array."""

    __slots__ = ("order", "noted", "held", "later", "hooked")

    def __init__(self, order: list[Gate]) -> None:
        self.order = order
        self.noted: set[int] = set()
        self.held: Optional[set[int]] = None  # (found when first needed)
        self.later: dict[int, list[Any]] = {}  # id(leaf) -> [leaf, sum, whether the sum is ours]
        self.hooked: dict[int, list[Any]] = {}  # the same for leaves with hooks: summed, hooked at finish()

    def add(self, leaf: Tensor, g: Any, owned: bool = False) -> None:
        """leaf.grad += g (g itself becomes a new .grad when `owned`: no one else holds it)."""
        if not leaf._requires_grad:  # (frozen after the forward: no .grad, as in PyTorch)
            return
        key = id(leaf)
        if _LEAF_HOOKS and key in _LEAF_HOOKS and _LEAF_HOOKS[key][1]:
            _sum_into(self.hooked, key, leaf, g)  # (its hooks see the pass's whole gradient, once)
            return
        if leaf._grad is None:  # its first gradient: _accumulate's first case, written out (one call less)
            leaf._grad = Tensor._wrap(g if owned else np.array(g, dtype=leaf.data.dtype))
            self.noted.add(key)
            return
        if key in self.noted:
            _accumulate(leaf, g, note=False)  # (no gate can hold a .grad this pass made)
            return
        if self.held is None:
            self.held = _held_grads(self.order)
        if key not in self.held:
            _accumulate(leaf, g)
            self.noted.add(key)
            return
        _sum_into(self.later, key, leaf, g)

    def finish(self) -> dict[int, Any]:
        """Add what waited; returns the hooked leaves' gradients as their hooks left them (by id)."""
        for leaf, g, _ in self.later.values():
            _accumulate(leaf, g)
        hooked = {}
        for key, (leaf, g, _) in self.hooked.items():
            entry = _hooks.LEAF_HOOKS.get(key)
            if entry is not None:
                g = _hooks.run_hooks(entry[1], g, leaf.shape, leaf.dtype, Tensor._wrap)
            _accumulate(leaf, g)  # (a copy when g is not ours: the hook's, or a gate's)
            hooked[key] = g
        return hooked


def _sum_into(sums: dict[int, list[Any]], key: int, leaf: Tensor, g: Any) -> None:
    """sums[key] = [leaf, the gradients so far added up, whether that sum is a new array of ours]."""
    entry = sums.get(key)
    if entry is None:
        sums[key] = [leaf, g, False]
    elif entry[2]:
        entry[1] += g
    else:  # (the first was g itself, which others may hold: a new array from here on)
        entry[1:] = [entry[1] + g, True]


def _calibrate_sole_refs() -> int:
    """What sys.getrefcount(gi) says in run_backward for a gradient array held only by the tuple
    the gate returned and the loop's local `gi`, measured the same way here; -1 (never adopt,
    always copy) where one more holder does not count as one more reference."""
    if sys.implementation.name != "cpython":
        return -1
    counts = []
    for extra in (0, 1):
        in_grads = (np.empty(1),)
        holder = [in_grads[0]] * extra
        i = 0
        gi = in_grads[i]
        counts.append(sys.getrefcount(gi))
        del holder
    sole, held = counts
    return sole if held == sole + 1 else -1


_ALONE_REFS = _calibrate_alone_refs()
_GetItem = _movement.GetItem  # (its backward is done in run_backward: see _add_slice) ...
_GETITEM_BACKWARD = _GetItem.backward  # (... unless someone has replaced it: theirs runs then)

# A leaf keeps a gradient array as its .grad without a copy when no one else holds it (the count
# below) and it owns its memory: a weight's gradient is the largest array of a training step, and
# copying it costs about as much as the SGD update. Anything else is copied.
_SOLE_REFS = _calibrate_sole_refs()


def _check_grad(gate: Gate, i: int, g: Any) -> np.ndarray:
    """A gradient returned by gate.backward for input i must match that input exactly.

    Called only when the quick test in run_backward (ndarray, same shape, same dtype) fails.
    """
    if type(g) is not np.ndarray:
        g = np.asarray(g)
    if g.shape != gate.shapes[i]:
        raise GateError(f"{gate.name}.backward returned a gradient of shape {g.shape} for input {i}, "
                        f"which has shape {gate.shapes[i]}; return one gradient per input with that "
                        "input's shape (self.unbroadcast(...) sums over broadcast dimensions)")
    if g.dtype != gate.dtypes[i]:
        raise GateError(f"{gate.name}.backward returned a {g.dtype} gradient for input {i}, which is "
                        f"{gate.dtypes[i]}; cast it with .astype(...) or use self.unbroadcast(...)")
    return g


def _seed_apart_from_grads(order: list[Gate], seed: np.ndarray) -> np.ndarray:
    """The seed, or a copy of it where it shares memory with a .grad this pass may add into (a
    leaf's, or a retained tensor's: x.backward(w.grad)), which would change it while gates still
    hand it on. Copied only then: for a large output the copy costs about as much time as a
    matmul's backward takes over NumPy's own."""
    for gate in order:
        for t in gate.parents:
            if isinstance(t, Tensor) and t._grad is not None and np.may_share_memory(t._grad.data, seed):
                return _copy_seed(seed)
        if gate.watch is not None:
            kept = gate.watch.retained()
            if kept is not None and kept._grad is not None and np.may_share_memory(kept._grad.data, seed):
                return _copy_seed(seed)
    return seed


def _copy_seed(seed: np.ndarray) -> np.ndarray:
    copy = seed.copy()
    copy.flags.writeable = seed.flags.writeable  # (a read-only seed stays read-only, so that a
    return copy  # gate writing into its g fails, as gradcheck relies on)


PASS_END: list[Callable[[bool], None]] = []
"""Called at the end of each backward pass with whether it ended well, while not empty:
tinygrad_sm.module_hooks puts itself here while a module's backward hooks wait for a gradient
that may not come (an output no loss used), to run them then, or to forget them after an error."""


PASS_DEPTH = [0]
"""How many backward passes are under way: more than one when a hook runs a backward() of its own."""


def end_pass(ok: bool) -> None:
    """Tell each of PASS_END that a backward pass is over (ok: it ended without an error)."""
    for f in list(PASS_END):
        f(ok)


def as_a_pass(run: Callable[..., Any], *args: Any) -> Any:
    """run(*args), a backward pass (backward() or viz.trace_backward), then PASS_END told how it
    ended (while PASS_DEPTH still counts it)."""
    PASS_DEPTH[0] += 1
    ok = False
    try:
        out = run(*args)
        ok = True
    finally:
        try:
            if PASS_END:
                end_pass(ok)
        finally:
            PASS_DEPTH[0] -= 1
    return out


def run_backward(root: Tensor, seed: np.ndarray, retain_graph: bool = False,
                 own_seed: bool = False) -> None:
    """Send `seed` (dL/droot) back through the graph, accumulating into leaf .grad. `own_seed`:
    the seed is a new array of backward()'s own, no .grad's memory."""
    as_a_pass(_backward_pass, root, seed, retain_graph, own_seed)


def _backward_pass(root: Tensor, seed: np.ndarray, retain_graph: bool, own_seed: bool) -> None:
    if root._gate is None:  # a leaf: its gradient with respect to itself
        _leaf_self_grad(root, seed)
        return
    order = topological_order(root._gate)
    check_graph(order)
    if not own_seed:
        seed = _seed_apart_from_grads(order, seed)
    # dL/d(output of each gate) so far: an array, or a NumPy scalar between `scalars` gates
    grads: dict[Gate, Any] = {root._gate: seed}
    ours: set[Gate] = set()  # the gates whose grads[...] array this pass made, so can add into in place
    slices: dict[int, list[Any]] = {}  # id(leaf) -> [leaf, its gradient from x[index] gates, summed]
    leaves = _LeafGrads(order)
    for gate in reversed(order):  # outputs before inputs
        g = grads.pop(gate, None)
        if g is not None:
            if gate.watch is not None:  # (hooks on the output tensor, retain_grad)
                g = _watched(gate.watch, g)
            if type(g) is np.ndarray:
                if gate.scalars and g.ndim == 0:
                    g = g[()]
                elif (type(gate) is _GetItem and gate.parents[0] is not None and g.dtype is gate.dtypes[0]
                      and _GetItem.backward is _GETITEM_BACKWARD):
                    # x[index]: g added into x's whole gradient where the index points, in place, not
                    # scattered into a zero array of x's size first: T slices of x (an RNN's steps)
                    # then cost T slices' work, not T times x's.
                    _add_slice(gate, g, grads, ours, slices)
                    if not retain_graph:
                        gate.released = True
                    continue
            elif not gate.scalars:
                g = np.asarray(g)
            in_grads = gate.backward(g)
        if not retain_graph:
            gate.saved = None
            gate.released = True
        if g is None:
            continue
        if type(in_grads) is not tuple:
            if type(in_grads) is list:
                in_grads = tuple(in_grads)
            else:
                # One gradient: the commonest case of all, a one-input gate whose input is another
                # gate's output, reaching it first: handled here, without the general loop below.
                parent = gate.parents[0] if len(gate.parents) == 1 else None
                if (isinstance(parent, Gate) and parent not in grads
                        and (type(in_grads) is np.ndarray or isinstance(in_grads, np.generic))
                        and in_grads.dtype is gate.dtypes[0] and in_grads.shape == gate.shapes[0]):
                    grads[parent] = in_grads
                    if ours:  # (it may alias g, or another gate's array)
                        ours.discard(parent)
                    continue
                in_grads = (in_grads,)
        parents, shapes, dtypes = gate.parents, gate.shapes, gate.dtypes
        if len(in_grads) != len(parents):
            raise GateError(f"{gate.name}.backward returned {len(in_grads)} gradient(s) for "
                            f"{len(parents)} input(s)")
        i = -1
        for parent in parents:  # a plain loop: for one or two inputs, range/zip cost more than the work
            i += 1
            gi = in_grads[i]
            if parent is None or gi is None:
                continue
            # Quick test first (dtype by identity: NumPy's builtin dtypes are singletons);
            # _check_grad does the exact test and names the gate when it fails.
            if type(gi) is not np.ndarray and not isinstance(gi, np.generic):
                gi = np.asarray(gi)  # a Python number (NumPy scalars stay: see Gate.scalars)
            if gi.dtype is not dtypes[i] or gi.shape != shapes[i]:
                gi = _check_grad(gate, i, gi)
            if isinstance(parent, Gate):
                prev = grads.get(parent)
                if prev is None:
                    grads[parent] = gi
                    if ours:  # (gi may alias g, or another gate's array)
                        ours.discard(parent)
                elif parent in ours and type(prev) is np.ndarray:  # (NumPy scalars add to a new one)
                    prev += gi
                else:
                    grads[parent] = prev + gi  # (a new array, ours to add into from here on)
                    ours.add(parent)
            elif parent._grad is not None:  # a leaf that has a gradient: add to it
                leaves.add(parent, gi)
            else:  # a leaf's first gradient: keep gi itself if no one else holds it
                if type(gi) is not np.ndarray:
                    gi = np.asarray(gi)  # (a NumPy scalar: the new array is gi's alone)
                owned = sys.getrefcount(gi) <= _SOLE_REFS and gi.flags.owndata and gi.flags.writeable
                leaves.add(parent, gi, owned)
    for leaf, total in slices.values():  # (the x[index] gradients of each leaf, as one)
        if leaf._grad is not None:
            leaves.add(leaf, total)
        else:
            leaves.add(leaf, total, True)
    leaves.finish()


def _add_slice(gate: Gate, g: np.ndarray, grads: dict[Gate, Any], ours: set[Gate],
               slices: dict[int, list[Any]]) -> None:
    """The backward of x[index] (a GetItem gate) without a zero array per gate: g is added into
    x's gradient so far at index, in an array of this pass's own (made on the first slice)."""
    parent, shape, dtype = gate.parents[0], gate.shapes[0], gate.dtypes[0]
    if isinstance(parent, Gate):
        total = grads.get(parent)
        if total is None:
            total = grads[parent] = np.zeros(shape, dtype=dtype)
        elif parent not in ours:  # (someone else's array, or a NumPy scalar: copied once)
            total = grads[parent] = np.array(total, dtype=dtype)
        ours.add(parent)
    else:
        entry = slices.get(id(parent))
        if entry is None:
            entry = slices[id(parent)] = [parent, np.zeros(shape, dtype=dtype)]
        total = entry[1]
    _movement.add_at_index(total, gate.index, g)
