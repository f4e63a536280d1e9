"""Layers as in PyTorch: a Module owns Parameters and sub-modules, and knows how to list,
save and restore them.

    model = nn.MLP([784, 256, 10])            # Linear -> ReLU -> Linear
    loss = F.cross_entropy(model(x), y)
    loss.backward()

`import tinygrad_sm.nn.functional as F` gives the functional ops and losses, `nn.init` the
in-place initialisers (nn.init.kaiming_normal_(fc.weight), ...), `nn.utils` gradient clipping.
"""
from __future__ import annotations

import math
import sys
from collections import OrderedDict
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from . import creation
from . import dtypes as _dt
from . import functional, init
from . import grad_clip as utils
from . import hooks as _hooks
from . import module_hooks as _module_hooks
from ._checks import is_int, is_real
from .hooks import RemovableHandle
from .tensor import Tensor, _dtype_and_device, note_write

# `import tinygrad_sm.nn.functional as F`, `from tinygrad_sm.nn import init` and
# `nn.utils.clip_grad_norm_`, the PyTorch spellings, find those modules.
sys.modules[__name__ + ".functional"] = functional
sys.modules[__name__ + ".init"] = init
sys.modules[__name__ + ".utils"] = utils

__all__ = ["Parameter", "Module", "IncompatibleKeys", "Linear", "Identity", "CrossEntropyLoss", "MSELoss", "NLLLoss",
           "BCELoss", "BCEWithLogitsLoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "MultiMarginLoss", "ReLU", "LeakyReLU",
           "ELU", "GELU", "SiLU", "Softplus", "Softmax", "LogSoftmax", "Sigmoid", "Tanh", "Dropout", "Flatten", "Unflatten", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "MLP", "Conv2d", "ConvTranspose2d", "MaxPool2d", "MaxUnpool2d", "AdaptiveAvgPool2d",
           "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding", "RNN", "LSTM", "GRU", "functional", "init", "utils"]


class IncompatibleKeys(NamedTuple):
    """What load_state_dict(strict=False) skipped: parameters the state did not give, and keys
    of the state that name no parameter."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Parameter(Tensor):
    """A leaf tensor that a Module registers as one of its parameters (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data, requires_grad=requires_grad)


class Module:
    """Base class of layers and models: override `forward`; call the module to run it.

    Parameters and sub-modules assigned as attributes are registered, in assignment order,
    under dotted names ("layers.0.weight") used by state_dict and named_parameters. Tensors that
    are state but not parameters (running statistics, a fixed mask) go in with register_buffer.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)

    def __setstate__(self, state: dict) -> None:
        """Unpickled (or copied): a module pickled before buffers existed gets empty tables for them."""
        self.__dict__.update(state)
        self.__dict__.setdefault("_buffers", OrderedDict())
        self.__dict__.setdefault("_non_persistent", set())

    # -- registration ------------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning attributes (setting {name!r})")
        params, mods, bufs = self._parameters, self._modules, self.__dict__.get("_buffers", {})
        if isinstance(value, (Parameter, Module)):
            mine, other = (params, mods) if isinstance(value, Parameter) else (mods, params)
            other.pop(name, None)
            bufs.pop(name, None)
            self._non_persistent.discard(name)
            self.__dict__.pop(name, None)  # a plain value held before would hide it from __getattr__
            mine[name] = value  # (a name registered before keeps its place in the order)
        elif value is None and (name in params or name in mods):
            # (as PyTorch: the name keeps its place, so a layer or parameter put back later comes
            # back where it was in parameters(), state_dict() and an optimizer's saved state)
            (params if name in params else mods)[name] = None
        elif name in params:
            # (as PyTorch; else the parameter would quietly leave the model and its optimizer)
            what = "plain Tensor" if isinstance(value, Tensor) else type(value).__name__
            raise TypeError(f"cannot assign a {what} to the parameter {name!r} of "
                            f"{type(self).__name__}: wrap it in nn.Parameter(...), or change the values in "
                            f"place (with ts.no_grad(): self.{name} -= ..., or self.{name}.data[...] = ...); "
                            "None takes the parameter out")
        elif name in bufs:  # (a buffer takes another tensor, or None; as PyTorch)
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} to the buffer {name!r} of "
                                f"{type(self).__name__}: give a Tensor (ts.from_numpy(a)) or None")
            bufs[name] = value
        elif name in mods:  # (as PyTorch: the layer would quietly leave the model)
            raise TypeError(f"cannot assign a {type(value).__name__} to the sub-module {name!r} of "
                            f"{type(self).__name__}: give a Module, or None to take the layer out")
        else:
            params.pop(name, None)
            mods.pop(name, None)
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        for table in ("_parameters", "_modules", "_buffers"):
            d = self.__dict__.get(table)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        elif name in self.__dict__.get("_buffers", {}):
            del self._buffers[name]
            self._non_persistent.discard(name)
        else:
            object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        """Keep `tensor` as state of this module that is not a parameter: no gradient, no
        optimizer, but saved by state_dict (unless persistent=False), restored by
        load_state_dict and cast by to()/float()/double() when it holds floats. Reachable as
        self.<name>, as in PyTorch."""
        if "_buffers" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"register_buffer({name!r}, ...)")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: the name must be a non-empty string without '.', got {name!r}")
        if name in self._parameters or name in self._modules or (
                name not in self._buffers and (name in self.__dict__ or hasattr(type(self), name))):
            raise KeyError(f"register_buffer: {type(self).__name__} already has an attribute {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got a {type(tensor).__name__} "
                            "(wrap an array with ts.from_numpy(a))")
        self._buffers[name] = tensor
        (self._non_persistent.discard if persistent else self._non_persistent.add)(name)

    # -- running ------------------------------------------------------------------------------------
    def forward(self, *args: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # (made on the first registration; None in a module that has none, which costs __call__ one test)
    _forward_pre_hooks: Optional[dict[int, Callable[..., Any]]] = None
    _forward_hooks: Optional[dict[int, Callable[..., Any]]] = None
    _backward_pre_hooks: Optional[dict[int, Callable[..., Any]]] = None
    _backward_hooks: Optional[dict[int, Callable[..., Any]]] = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if (self._forward_pre_hooks is None and self._forward_hooks is None and self._backward_hooks is None
                and self._backward_pre_hooks is None):  # (no hook was ever registered: straight to forward)
            return self.forward(*args, **kwargs)
        for hook in list((self._forward_pre_hooks or {}).values()):
            new = hook(self, args)
            if new is not None:
                args = new if isinstance(new, tuple) else (new,)
        if self._backward_hooked():  # (between taps that watch its gradients: tinygrad_sm.module_hooks)
            return _module_hooks.hooked_call(self, args, kwargs, self._forward_hooked)
        return self._forward_hooked(args, kwargs)

    def _forward_hooked(self, args: tuple, kwargs: dict) -> Any:
        """forward(*args, **kwargs), then the forward hooks."""
        out = self.forward(*args, **kwargs)
        for hook in list((self._forward_hooks or {}).values()):
            new = hook(self, args, out)
            if new is not None:
                out = new
        return out

    def _backward_hooked(self) -> bool:
        return bool(self._backward_hooks or self._backward_pre_hooks)

    def register_forward_pre_hook(self, hook: Callable[["Module", tuple], Any]) -> RemovableHandle:
        """Call hook(module, args) before each forward, as PyTorch's: what it returns (a tuple,
        or one value) replaces the positional arguments; None leaves them. Returns a handle whose
        remove() takes the hook off."""
        if self._forward_pre_hooks is None:
            object.__setattr__(self, "_forward_pre_hooks", {})
        return _hooks.add_hook(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook: Callable[["Module", tuple, Any], Any]) -> RemovableHandle:
        """Call hook(module, args, output) after each forward, as PyTorch's: what it returns
        replaces the output; None leaves it. E.g. keep each layer's activations for a plot.
        Returns a handle whose remove() takes the hook off."""
        if self._forward_hooks is None:
            object.__setattr__(self, "_forward_hooks", {})
        return _hooks.add_hook(self._forward_hooks, hook)

    def register_full_backward_hook(self, hook: Callable[["Module", tuple, tuple], Any]) -> RemovableHandle:
        """Call hook(module, grad_input, grad_output) in each backward pass through this module, as
        PyTorch's: grad_output holds the gradients of its outputs, grad_input the module's own
        share of its (tensor) arguments' gradients (None for an argument that needs none); what
        the hook returns (a tuple like grad_input) replaces grad_input. E.g. watch each layer's
        gradient norm. Details, and what a replacement may change, in tinygrad_sm.module_hooks."""
        if self._backward_hooks is None:
            object.__setattr__(self, "_backward_hooks", {})
        return _hooks.add_hook(self._backward_hooks, hook)

    def register_full_backward_pre_hook(self, hook: Callable[["Module", tuple], Any]) -> RemovableHandle:
        """Call hook(module, grad_output) when the gradients of this module's outputs are known,
        before its own backward, as PyTorch's; what it returns (a tuple like grad_output)
        replaces grad_output."""
        if self._backward_pre_hooks is None:
            object.__setattr__(self, "_backward_pre_hooks", {})
        return _hooks.add_hook(self._backward_pre_hooks, hook)

    # -- walking the tree ---------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """(name, module) of the direct sub-modules, a module held under two names once."""
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "", _seen: Optional[set[int]] = None) -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) pairs, this module first, each module once even if shared."""
        seen = set() if _seen is None else _seen
        if id(self) in seen:
            return
        seen.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, seen)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def _named(self, table: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) of one table (_parameters or _buffers), each tensor once."""
        seen: set[int] = set()
        for mod_name, m in (self.named_modules(prefix) if recurse else [(prefix, self)]):
            for name, t in getattr(m, table).items():
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    yield (f"{mod_name}.{name}" if mod_name else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, each parameter once even if shared; recurse=False:
        this module's own parameters only."""
        return self._named("_parameters", prefix, recurse)  # type: ignore[return-value]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs, each buffer once even if shared."""
        return self._named("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Set requires_grad on every parameter (False freezes them); returns this module."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """fn(module) for every sub-module, children first, then for this module (as PyTorch's
        apply: e.g. to initialise every Linear's weights); returns this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes and gradients --------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode (True) or evaluation mode (False) for this module, then for each child
        through its own train(), as PyTorch does (so a child that overrides train() is obeyed)."""
        if not isinstance(mode, (bool, np.bool_)):
            raise ValueError(f"{type(self).__name__}.train: mode must be True or False, got {mode!r}")
        object.__setattr__(self, "training", bool(mode))
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def to(self, *args: Any, dtype: _dt.DTypeLike = None, device: Optional[str] = None) -> "Module":
        """Convert every parameter (and its gradient) to a float dtype, in place; returns the module.
        The Parameter objects stay the same, so an optimizer made before keeps them (its buffers
        follow at its next step). As PyTorch's: to(dtype), to("cpu"), to("cpu", dtype), to(device=,
        dtype=); "cpu" is the only device."""
        dtype = _dtype_and_device(args, dtype, device, f"{type(self).__name__}.to")
        if dtype is None:
            return self
        dt = _dt.to_dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: parameters must stay floating point, got {dt}")
        for p in self.parameters():
            p.data = p.data.astype(dt, copy=False)
            if p.grad is not None:
                p.grad = Tensor._wrap(p.grad.data.astype(dt, copy=False))
        for b in self.buffers():  # (float buffers only: a count stays an integer, as in PyTorch)
            if b.dtype.kind == "f":
                b.data = b.data.astype(dt, copy=False)
        return self

    def cpu(self) -> "Module":
        """The module itself: everything here lives on the CPU."""
        return self

    def float(self) -> "Module":
        return self.to(_dt.float32)

    def double(self) -> "Module":
        return self.to(_dt.float64)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: .grad = None (PyTorch's default), or filled with
        zeros in place with set_to_none=False."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0
                note_write(p.grad, "zero_grad(set_to_none=False)")

    # -- saving and restoring -------------------------------------------------------------------------
    def _every_parameter_name(self, prefix: str = "", buffers: bool = False) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, parameter) under every name it has: a layer used twice, twice. With
        buffers=True each module's persistent buffers follow its parameters (state_dict's order,
        PyTorch's)."""
        for name, p in self._parameters.items():
            if p is not None:
                yield (f"{prefix}.{name}" if prefix else name), p
        if buffers:
            for name, b in self._buffers.items():
                if b is not None and name not in self._non_persistent:
                    yield (f"{prefix}.{name}" if prefix else name), b
        for name, m in self._modules.items():
            if m is not None:
                yield from m._every_parameter_name(f"{prefix}.{name}" if prefix else name, buffers)

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter's and persistent buffer's values, by dotted name. One shared
        between layers is listed under each of its names, as in PyTorch (named_parameters lists
        it once)."""
        return OrderedDict((name, p.data.copy()) for name, p in self._every_parameter_name(buffers=True))

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> "IncompatibleKeys":
        """Copy values into the parameters, in place (optimizers keep working on them).

        strict=True (the default): every key must match a parameter and every parameter must be
        given. Shapes must always match; values are cast to each parameter's dtype.
        Returns the keys that did not match (both empty when strict), as PyTorch does.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict for {type(self).__name__}: expected a mapping of names to "
                            f"arrays (what state_dict() gives), got a {type(state).__name__}")
        if not isinstance(strict, (bool, np.bool_)):
            raise TypeError(f"load_state_dict: strict must be True or False, got {strict!r}")
        own = dict(self._every_parameter_name(buffers=True))
        params = {name for name, _ in self._every_parameter_name()}  # (a buffer may hold -inf: a mask)
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys: {', '.join(map(repr, missing))}")
            if unexpected:
                parts.append(f"unexpected keys: {', '.join(map(repr, unexpected))}")
            raise KeyError(f"load_state_dict for {type(self).__name__}: " + "; ".join(parts)
                           + " (pass strict=False to load the keys that match)")
        arrays = {}
        for name, value in state.items():
            if name not in own:
                continue
            arr = np.asarray(value.data if isinstance(value, Tensor) else value)
            p = own[name]
            if arr.shape != p.shape:
                raise ValueError(f"load_state_dict for {type(self).__name__}: {name} has shape {arr.shape} "
                                 f"in the state dict but {p.shape} in the model")
            if arr.dtype.kind not in "fiu" and not (arr.dtype.kind == "b" and p.dtype.kind == "b"):
                raise TypeError(f"load_state_dict: {name} has dtype {arr.dtype}, expected numbers")
            with np.errstate(over="ignore"):  # (checked below: 1e39 into float32 is inf)
                cast = arr.astype(p.dtype, copy=False)
            if name in params and cast.dtype.kind == "f" and not np.isfinite(cast).all():
                overflow = np.isfinite(arr).all() if arr.dtype.kind == "f" else True
                raise ValueError(f"load_state_dict: {name} contains NaN or inf"
                                 + (f" once cast to the parameter's {p.dtype}" if overflow else ""))
            arrays[name] = cast
        for name, arr in arrays.items():  # all checked first: a bad key changes nothing
            own[name].data[...] = arr
            note_write(own[name], f"load_state_dict (of {name})")
        return IncompatibleKeys(missing, unexpected)

    def __repr__(self) -> str:
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = [f"{type(self).__name__}("] + [f"  {line}" for line in extra.splitlines()]
        for name, m in self._modules.items():
            lines.append(f"  ({name}): " + repr(m).replace("\n", "\n  "))
        lines.append(")")
        return "\n".join(lines)

    def extra_repr(self) -> str:
        return ""


INITS = ("normal", "kaiming", "xavier", "uniform")


def _initial_weight(init: str, shape: tuple[int, ...], fan_in: int, fan_out: int, std: float,
                   generator: creation.Seed) -> np.ndarray:
    """A weight drawn as `init` says (one of INITS; see Linear), in float64."""
    rng = creation._gen(generator)
    if init == "normal":
        return rng.normal(0.0, std, shape)
    if init == "kaiming":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    a = np.sqrt(6.0 / (fan_in + fan_out)) if init == "xavier" else 1 / np.sqrt(fan_in)
    return rng.uniform(-a, a, shape)


class Linear(Module):
    """y = x @ weight.T + bias, weight of shape (out_features, in_features) as in PyTorch.

    init: "normal"  N(0, std**2), std=0.01 by default (the seeds' choice);
          "kaiming" N(0, 2 / in_features) (He et al., for ReLU nets);
          "xavier"  U(-a, a), a = sqrt(6 / (in + out)) (Glorot and Bengio);
          "uniform" U(-k, k), k = 1 / sqrt(in_features) (PyTorch's default).
    The bias starts at zero. `generator` (a seed or np.random.Generator) makes it reproducible;
    without it, tinygrad_sm.manual_seed's generator is used.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "kaiming",
                 std: float = 0.01, dtype: _dt.DTypeLike = "float32", generator: creation.Seed = None) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not is_int(v):
                raise TypeError(f"Linear: {name} must be an int, got {v!r}")
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: sizes must be positive, got in_features={in_features}, "
                             f"out_features={out_features}")
        if init not in INITS:
            raise ValueError(f"Linear: init must be one of {INITS}, got {init!r}")
        self.in_features, self.out_features, self.init = in_features, out_features, init
        w = _initial_weight(init, (out_features, in_features), in_features, out_features, std, generator)
        self.weight = Parameter(w.astype(_dt.to_dtype(dtype)))
        self.bias = Parameter(np.zeros(out_features, _dt.to_dtype(dtype))) if bias else None

    def forward(self, x: Tensor, activation: Optional[str] = None) -> Tensor:
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): input of shape {x.shape} "
                             f"needs a last dimension of {self.in_features}")
        return functional.linear(x, self.weight, self.bias, activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Gives its input back (a placeholder layer)."""

    def forward(self, x: Tensor) -> Tensor:
        return x


class Dropout(Module):
    """Zeroes each element with probability p while the module trains (model.train(), the
    default), scaling the others by 1 / (1 - p); the identity after model.eval().
    inplace=True is accepted for PyTorch code and changes nothing but memory (a new tensor).
    The masks come from `generator`: an np.random.Generator, a seed (which starts one), or None
    (manual_seed's)."""

    def __init__(self, p: float = 0.5, inplace: bool = False, generator: creation.Seed = None) -> None:
        super().__init__()
        if isinstance(generator, (bool, np.bool_)):
            raise TypeError("Dropout: generator is a seed (an int) or an np.random.Generator, not a bool")
        self.p, self.inplace = functional._dropout_p(p), inplace
        self.generator = None if generator is None else creation._gen(generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def forward(self, x: Tensor) -> Tensor:
        return functional.dropout(x, self.p, self.training, self.inplace, generator=self.generator)


class CrossEntropyLoss(Module):
    """F.cross_entropy as a module: CrossEntropyLoss(reduction="mean", label_smoothing=0.0)(logits, target)."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return functional.cross_entropy(logits, target, reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"


class _Loss(Module):
    """A loss as a module: the reduction ("mean", "sum" or "none") is checked when it is made."""

    _torch_first = ""  # (what PyTorch's takes as its first argument, where that is not the reduction)

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(reduction, str) or reduction not in ("mean", "sum", "none"):
            hint = (f" (PyTorch's {name} takes {self._torch_first} first, which this one does not: "
                    "give reduction= by name)" if self._torch_first and not isinstance(reduction, str) else "")
            raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}{hint}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """F.mse_loss as a module: MSELoss(reduction="mean")(prediction, target)."""

    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        return functional.mse_loss(prediction, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """F.nll_loss as a module: NLLLoss()(log_probs, target); after LogSoftmax it is cross-entropy."""

    _torch_first = "a class weight"

    def forward(self, log_probs: Tensor, target: Any) -> Tensor:
        return functional.nll_loss(log_probs, target, reduction=self.reduction)


class BCELoss(_Loss):
    """F.binary_cross_entropy as a module: BCELoss()(probabilities, target)."""

    _torch_first = "a weight"

    def forward(self, probabilities: Tensor, target: Any) -> Tensor:
        return functional.binary_cross_entropy(probabilities, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """F.binary_cross_entropy_with_logits as a module: BCEWithLogitsLoss()(logits, target)."""

    _torch_first = "a weight"

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return functional.binary_cross_entropy_with_logits(logits, target, reduction=self.reduction)


class L1Loss(_Loss):
    """F.l1_loss as a module: mean absolute error."""

    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        return functional.l1_loss(prediction, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """F.huber_loss as a module: HuberLoss(reduction="mean", delta=1.0)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        functional.finite_numbers("HuberLoss", delta=delta)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be > 0, got {delta!r}")
        self.delta = delta

    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        return functional.huber_loss(prediction, target, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, delta={self.delta}"


class SmoothL1Loss(_Loss):
    """F.smooth_l1_loss as a module: SmoothL1Loss(reduction="mean", beta=1.0)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        functional.finite_numbers("SmoothL1Loss", beta=beta)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be >= 0, got {beta!r}")
        self.beta = beta

    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        return functional.smooth_l1_loss(prediction, target, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, beta={self.beta}"


class MultiMarginLoss(_Loss):
    """F.multi_margin_loss as a module: PyTorch's multiclass SVM loss (divided by the number of
    classes; tinygrad_sm's multiclass_hinge_loss, the CS231n form, is not)."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Optional[Any] = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if p not in (1, 2) or isinstance(p, bool):
            raise ValueError(f"MultiMarginLoss: p must be 1 or 2, got {p!r}")
        functional.finite_numbers("MultiMarginLoss", margin=margin)
        self.p, self.margin = p, margin
        self.register_buffer("weight", weight if weight is None or isinstance(weight, Tensor) else Tensor(weight))

    def forward(self, scores: Tensor, target: Any) -> Tensor:
        return functional.multi_margin_loss(scores, target, p=self.p, margin=self.margin, weight=self.weight,
                                            reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"p={self.p}, margin={self.margin}, reduction={self.reduction!r}"


class ReLU(Module):
    """max(x, 0) elementwise. inplace=True is accepted for PyTorch code and changes nothing but
    memory: the result is a new tensor with the same values (the input is left as it is)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""

    def forward(self, x: Tensor) -> Tensor:
        return functional.relu(x)


class Sigmoid(Module):
    """1 / (1 + e**-x) elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return functional.sigmoid(x)


class Tanh(Module):
    """tanh(x) elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return functional.tanh(x)


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x (F.leaky_relu)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        functional.finite_numbers("LeakyReLU", negative_slope=negative_slope)
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        return functional.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x where x > 0, else alpha * (e**x - 1) (F.elu)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        functional.finite_numbers("ELU", alpha=alpha)
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x: Tensor) -> Tensor:
        return functional.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """x * Phi(x), Phi the standard normal CDF; approximate="tanh" for the tanh form (F.gelu)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return functional.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x), also called swish (F.silu)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return functional.silu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softplus(Module):
    """log(1 + e**(beta x)) / beta, linear above the threshold (F.softplus)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        functional.finite_numbers("Softplus", beta=beta)
        if not is_real(threshold) or threshold != threshold:
            raise ValueError(f"Softplus: threshold must be a number, got {threshold!r}")
        if beta == 0:
            raise ValueError("Softplus: beta must not be 0 (it divides)")
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        return functional.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """Softmax along dim (F.softmax): Softmax(dim=1) turns rows of logits into probabilities."""

    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return functional.softmax(x, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log-softmax along dim (F.log_softmax); with NLLLoss it gives cross-entropy."""

    def forward(self, x: Tensor) -> Tensor:
        return functional.log_softmax(x, dim=self.dim)


class Flatten(Module):
    """Merge dimensions start_dim..end_dim (by default all but the batch dimension)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension dim into unflattened_size, as PyTorch's: Unflatten(1, (1, 28, 28)) turns
    rows of 784 pixels into (N, 1, 28, 28) images."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not is_int(dim):
            raise TypeError(f"Unflatten: dim must be an int, got {dim!r}")
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"Unflatten: unflattened_size is a tuple of sizes, e.g. (1, 28, 28), got {unflattened_size!r}")
        size = tuple(unflattened_size)
        if not size or not all(is_int(n) and (n >= 1 or n == -1) for n in size) or size.count(-1) > 1:
            raise ValueError(f"Unflatten: unflattened_size must be positive ints (one may be -1), got {unflattened_size!r}")
        self.dim, self.unflattened_size = dim, size

    def forward(self, x: Tensor) -> Tensor:
        d = self.dim % x.ndim if -x.ndim <= self.dim < x.ndim else None
        if d is None:
            raise ValueError(f"Unflatten: dim {self.dim} is out of range for an input of shape {x.shape}")
        known = math.prod(n for n in self.unflattened_size if n != -1)
        if (x.shape[d] % known if -1 in self.unflattened_size else x.shape[d] != known):
            raise ValueError(f"Unflatten: dim {self.dim} of the input {x.shape} has {x.shape[d]} elements, "
                             f"which do not make {self.unflattened_size}")
        return x.reshape(x.shape[:d] + self.unflattened_size + x.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Sequential(Module):
    """Modules applied in order. A Linear followed by a ReLU runs as one fused gate
    (same result, one pass over the activations instead of two)."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):  # Sequential(OrderedDict(name=module))
            named = [(str(k), m, f"{k!r}") for k, m in modules[0].items()]
        else:
            named = [(str(i), m, f"argument {i}") for i, m in enumerate(modules)]
        for name, m, what in named:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: {what} is a {type(m).__name__}, not a Module")
            if not name or "." in name:  # (state_dict keys join names with dots)
                raise KeyError(f"Sequential: module name {name!r} must be non-empty and contain no '.'")
            setattr(self, name, m)

    def __getitem__(self, i: Union[int, slice]) -> Module:
        """The i-th module; a slice gives a Sequential of those modules, under their own names
        (so its state_dict keys are the ones they have here)."""
        if isinstance(i, slice):
            part = Sequential()
            for name, m in list(self._modules.items())[i]:
                setattr(part, name, m)
            return part
        return self._modules[self._key(i)]

    def __setitem__(self, i: int, module: Module) -> None:
        """Replace the i-th module, in its place."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: a {type(module).__name__} is not a Module")
        setattr(self, self._key(i), module)

    def _key(self, i: int) -> str:
        names = list(self._modules)
        if not -len(names) <= i < len(names):
            raise IndexError(f"Sequential: index {i} is out of range for {len(names)} module(s)")
        return names[i]

    def __len__(self) -> int:
        return len(self._modules)

    def append(self, module: Module) -> "Sequential":
        """Add a layer at the end (under the next number); returns the Sequential."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append takes a Module, got {type(module).__name__}")
        taken = [int(k) for k in self._modules if k.isdigit()]  # (a slice keeps its modules' names)
        setattr(self, str(max(taken) + 1 if taken else len(self)), module)
        return self

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def forward(self, x: Tensor) -> Tensor:
        mods = list(self._modules.values())
        i = 0
        while i < len(mods):
            m = mods[i]
            if type(m) is Linear and i + 1 < len(mods) and type(mods[i + 1]) is ReLU and not (
                    _hooked(m) or _hooked(mods[i + 1])):  # (a hooked layer runs alone: its hooks see its own output)
                x = m(x, activation="relu")
                i += 2
            else:
                x = m(x)
                i += 1
        return x


def _hooked(m: Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks) or m._backward_hooked()


class ModuleList(Module):
    """A list of modules, registered under "0", "1", ... (so their parameters are the list's and
    are in its state_dict), as PyTorch's. It has no forward: iterate over it in yours."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self.extend(modules)

    def append(self, module: Module) -> "ModuleList":
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList takes Modules, got {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i: Union[int, slice]) -> Any:
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return ModuleList(mods[i])
        return mods[i]

    def __setitem__(self, i: int, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList takes Modules, got {type(module).__name__}")
        setattr(self, list(self._modules)[i], module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


def _key(container: Module, key: Any, table: dict[str, Any]) -> str:
    """A container's key: a name a module attribute could have (it is one, in state_dict's dotted
    names), and not one the container already has for something else (a method, `training`)."""
    name = type(container).__name__
    if not isinstance(key, str) or not key or "." in key:
        raise KeyError(f"{name}: keys are non-empty strings without '.', got {key!r}")
    if key not in table and (key in container.__dict__ or hasattr(type(container), key)):
        raise KeyError(f"{name}: {key!r} is already an attribute of the {name} (a method, or its own "
                       "state); choose another key")
    return key


class ModuleDict(Module):
    """Modules by name, registered under those names (so their parameters are the dict's and are in
    its state_dict as "name.weight"), in insertion order, as PyTorch's. It has no forward."""

    def __init__(self, modules: Optional[Union[Mapping[str, Module], Iterable[tuple[str, Module]]]] = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict takes Modules, got {type(module).__name__} for {key!r}")
        setattr(self, _key(self, key, self._modules), module)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def pop(self, key: str) -> Module:
        return self._modules.pop(key)

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules: Union[Mapping[str, Module], Iterable[tuple[str, Module]]]) -> None:
        for key, module in (modules.items() if isinstance(modules, Mapping) else modules):
            self[key] = module


def _as_parameter(container: str, value: Any) -> Parameter:
    """A Parameter stays itself (shared, as PyTorch's); a Tensor becomes one over the same array."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):  # (requires grad whatever the tensor did, as nn.Parameter(t) in PyTorch)
        p = Parameter._wrap(value.data)
        p.requires_grad_(True)  # (which refuses integer tensors, as PyTorch)
        return p
    raise TypeError(f"{container} holds Parameters (or Tensors, made Parameters), got {type(value).__name__}")


class ParameterList(Module):
    """Parameters registered under "0", "1", ... (in parameters() and state_dict), as PyTorch's:
    e.g. one weight per step of a loop the model runs itself."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        super().__init__()
        self.extend(values)

    def append(self, value: Any) -> "ParameterList":
        setattr(self, str(len(self)), _as_parameter("ParameterList", value))
        return self

    def extend(self, values: Iterable[Any]) -> "ParameterList":
        for v in values:
            self.append(v)
        return self

    def __getitem__(self, i: Union[int, slice]) -> Any:
        params = list(self._parameters.values())
        return ParameterList(params[i]) if isinstance(i, slice) else params[i]

    def __setitem__(self, i: int, value: Any) -> None:
        setattr(self, list(self._parameters)[i], _as_parameter("ParameterList", value))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): Parameter containing: {p.dtype} of shape {p.shape}" for k, p in self._parameters.items())


class ParameterDict(Module):
    """Parameters by name (in parameters() and state_dict under those names), in insertion order."""

    def __init__(self, parameters: Optional[Union[Mapping[str, Any], Iterable[tuple[str, Any]]]] = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, _key(self, key, self._parameters), _as_parameter("ParameterDict", value))

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def keys(self) -> Iterable[str]:
        return self._parameters.keys()

    def values(self) -> Iterable[Parameter]:
        return self._parameters.values()

    def items(self) -> Iterable[tuple[str, Parameter]]:
        return self._parameters.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self._parameters.get(key, default)

    def pop(self, key: str) -> Parameter:
        return self._parameters.pop(key)

    def clear(self) -> None:
        self._parameters.clear()

    def update(self, parameters: Union[Mapping[str, Any], Iterable[tuple[str, Any]]]) -> None:
        for key, value in (parameters.items() if isinstance(parameters, Mapping) else parameters):
            self[key] = value

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): Parameter containing: {p.dtype} of shape {p.shape}" for k, p in self._parameters.items())


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


class MLP(Sequential):
    """A multilayer perceptron from a list of sizes: MLP([784, 256, 10]) is
    Linear(784, 256) -> ReLU -> Linear(256, 10) (no activation after the last layer).
    dropout=p > 0 adds Dropout(p) after each hidden activation (active in train(), not in eval()).
    Layer keyword arguments (init, std, dtype, generator) go to every Linear."""

    def __init__(self, sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0,
                 **linear_kwargs: Any) -> None:
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got {list(sizes)}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        p = functional._dropout_p(dropout)
        gen = creation._gen(linear_kwargs.pop("generator", None))  # one stream for all layers
        layers: list[Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(a, b, generator=gen, **linear_kwargs))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
                if p > 0:
                    layers.append(Dropout(p))
        super().__init__(*layers)
        self.sizes = list(sizes)


# Convolution, pooling, normalisation and embedding layers (they build on Module, above).
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d,  # noqa: E402
                     ConvTranspose2d, Embedding, LayerNorm, MaxPool2d, MaxUnpool2d)
from .recurrent import GRU, LSTM, RNN  # noqa: E402
