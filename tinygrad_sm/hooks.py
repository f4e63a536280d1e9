"""Gradient hooks: functions that see, and may replace, a tensor's gradient during backward(),
as PyTorch's Tensor.register_hook.

    h = hidden.register_hook(lambda g: print(g.abs().mean()))  # watch the gradient go by
    w.register_hook(lambda g: g.clip(-1, 1))                    # or change it (returned: used)
    h.remove()

A non-leaf tensor's hooks hang on the gate that made it, and run when that gate's output
gradient is complete (every consumer's share summed), before the gate's backward sees it; they
run even if the tensor itself is gone by then. A leaf's hooks run once per backward() with the
leaf's whole gradient from that pass, before it is added into .grad. Each hook gets a Tensor
whose array is read-only; what it returns (a Tensor or array of the same shape and dtype)
replaces the gradient for the hooks after it and for everything downstream, as does `g *= 2`
inside it (which gives the tensor a new array). retain_grad() keeps the hooked gradient.

A hook that raises stops backward() where it is: gradients already added into .grad stay, and
the graph's saved arrays are released, as after any error in a backward pass (PyTorch's is
partial too). Fix the hook and run the forward pass again.
"""
from __future__ import annotations

import itertools
import weakref
from typing import Any, Callable, Optional

import numpy as np

__all__ = ["RemovableHandle"]

Hook = Callable[[Any], Any]

_keys = itertools.count()

# id(leaf) -> (weak reference to the leaf, its hooks by key). An entry goes when its leaf does.
LEAF_HOOKS: dict[int, tuple[weakref.ref, dict[int, Hook]]] = {}


class RemovableHandle:
    """What register_hook returns: .remove() takes the hook off again (a second remove does
    nothing). Usable as a context manager, which removes the hook on leaving the block."""

    def __init__(self, hooks: dict[int, Hook], key: int) -> None:
        self._hooks: Optional[dict[int, Hook]] = hooks
        self.id = key

    def remove(self) -> None:
        if self._hooks is not None:
            self._hooks.pop(self.id, None)
            self._hooks = None

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class OutputWatch:
    """Hangs on a gate (Gate.watch): what backward does with the gradient of the gate's output
    tensor. Its hooks, and the tensor, if retain_grad() asked to keep .grad (weakly: a tensor no one
    holds has no .grad to read). shape and dtype are the output's, to check what a hook returns."""

    __slots__ = ("retain", "hooks", "shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.retain: Optional[weakref.ref] = None
        self.hooks: dict[int, Hook] = {}
        self.shape, self.dtype = shape, dtype

    def retained(self) -> Any:
        """The tensor that asked for retain_grad(), if it is still alive, else None."""
        return self.retain() if self.retain is not None else None


def add_hook(hooks: dict[int, Hook], hook: Hook) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"register_hook takes a function of the gradient, got {hook!r}")
    key = next(_keys)
    hooks[key] = hook
    return RemovableHandle(hooks, key)


def leaf_hooks(leaf: Any) -> dict[int, Hook]:
    """The hooks of `leaf` (a new, empty set on first use)."""
    entry = LEAF_HOOKS.get(id(leaf))
    if entry is None or entry[0]() is not leaf:
        key = id(leaf)
        entry = LEAF_HOOKS[key] = (weakref.ref(leaf, lambda _, key=key: LEAF_HOOKS.pop(key, None)), {})
    return entry[1]


def run_hooks(hooks: dict[int, Hook], g: Any, shape: tuple[int, ...], dtype: np.dtype, wrap: Callable) -> Any:
    """g after each hook in turn (in the order they were registered); g itself when none returns
    anything. `wrap` makes the read-only Tensor a hook receives."""
    for hook in list(hooks.values()):  # (a hook may remove itself)
        a = np.asarray(g)
        view = a.view()
        view.flags.writeable = False  # (g may be the seed the caller passed, or reach other inputs)
        given = wrap(view)
        out = hook(given)
        if out is None:
            if given.data is view:
                continue
            out = given.data  # (`g *= 2` in the hook gave the tensor a new array: that is the gradient now)
        new = np.asarray(getattr(out, "data", out))
        name = getattr(hook, "__name__", type(hook).__name__)
        if new.shape != shape:
            raise RuntimeError(f"hook {name} returned a gradient of shape {new.shape} for a tensor of shape "
                               f"{shape}; return one of the same shape, or None to leave it")
        if new.dtype != dtype:
            raise RuntimeError(f"hook {name} returned a {new.dtype} gradient for a {dtype} tensor; cast it "
                               f"(.astype) or return None to leave it")
        g = new
    return g
