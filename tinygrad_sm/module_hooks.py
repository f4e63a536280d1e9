"""Module backward hooks, as PyTorch's register_full_backward_hook and
register_full_backward_pre_hook (Module's methods; this is how they work).

    def show(module, grad_input, grad_output):
        print(type(module).__name__, grad_output[0].abs().mean())
    layer.register_full_backward_hook(show)

A module with such hooks runs its forward between two sets of taps: each tensor argument that
requires grad goes in through an identity gate (BackwardHookTap), and each tensor it returns (one,
or the tensors of a tuple) comes out through another. The gradient arriving at an output tap is the
module's grad_output; the gradient leaving an input tap, the module's own share of its input's
gradient, is grad_input. Every gate the forward records comes after the input taps and before the
output taps, so backward() reaches the output taps first (the pre-hooks run there, and may replace
grad_output) and the input taps last, when the module's part of the pass is done (the hooks run
there, and may replace grad_input). A hook gets read-only Tensors (None where there is no
gradient: an argument that is no tensor or needs none).

A replacement must leave alone any gradient that has already gone on: with several outputs
(inputs), only the one whose tap the pass is at, the last to arrive, can still change; changing
another is an error that says so. A hook that returns nothing changes nothing.

A tap the pass never reaches (an output no loss used, an input the forward ignored) sends no
word: a call still waiting when the pass ends runs its hooks then, as PyTorch's do: with None
for an output's gradient that never came and zeros for an input's, unless none of its outputs
got a gradient (then none run).
The hooks are the module's when it ran forward (one added later, or removed, counts from the
next forward on, as in PyTorch). A pass that ends with an error leaves no call half-counted. A
hook may run a backward() of its own: its end leaves the outer pass's waiting calls alone.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import numpy as np

from .gates.base import Gate
from .grad_mode import is_grad_enabled
from .tensor import PASS_DEPTH, PASS_END, Tensor

__all__ = ["BackwardHookTap"]


class BackwardHookTap(Gate):
    """y = x, dy/dx = 1: where a module's backward hooks watch its gradients go by."""

    def forward(self, x):
        return x.view()  # (the same values; the gradient is what the tap is for)

    def backward(self, g):
        return g


class HookedCall:
    """One call of a module that has backward hooks: its taps, and the gradients they have seen
    in the backward pass under way (cleared after the hooks run, for a retain_graph pass again)."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.pre_hooks = list((module._backward_pre_hooks or {}).values())  # (as they are now: PyTorch's rule)
        self.hooks = list((module._backward_hooks or {}).values())
        self.grad_input: list[Any] = []
        self.grad_output: list[Any] = []
        self.inputs_tapped = self.outputs_tapped = 0
        self.depth = 0  # (how deep in nested backward passes its gradients began to arrive)
        self.input_types: dict[int, tuple[tuple[int, ...], np.dtype]] = {}  # (the tapped inputs')
        self._reset()

    def _reset(self) -> None:
        """Ready for a pass (another, with retain_graph)."""
        self.grad_input = [None] * len(self.grad_input)
        self.grad_output = [None] * len(self.grad_output)
        self.inputs_seen = self.outputs_seen = 0
        self.pre_done = False
        _PENDING.pop(id(self), None)

    # -- the taps, set in __call__ -------------------------------------------------------------
    def tap_inputs(self, args: tuple) -> tuple:
        self.grad_input = [None] * len(args)
        new = list(args)
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and a.requires_grad:
                new[i] = self._tap(a, functools.partial(self._input_arrived, i))
                self.input_types[i] = (a.shape, a.dtype)
                self.inputs_tapped += 1
        return tuple(new)

    def tap_outputs(self, out: Any) -> Any:
        one = isinstance(out, Tensor)
        outs = [out] if one else list(out) if isinstance(out, tuple) else None
        if outs is None:
            raise TypeError(f"{type(self.module).__name__} has backward hooks, which need its forward to return "
                            f"a Tensor or a tuple (of Tensors and other things), not a {type(out).__name__}")
        self.grad_output = [None] * len(outs)
        for i, o in enumerate(outs):
            if isinstance(o, Tensor) and o.requires_grad:
                outs[i] = self._tap(o, functools.partial(self._output_arrived, i))
                self.outputs_tapped += 1
        return outs[0] if one else tuple(outs)

    @staticmethod
    def _tap(t: Tensor, hook: Callable[[Tensor], Any]) -> Tensor:
        tapped = BackwardHookTap.apply(t)
        tapped.register_hook(hook)
        return tapped

    # -- the pass, in the taps' tensor hooks ---------------------------------------------------------
    def _output_arrived(self, i: int, g: Tensor) -> Optional[np.ndarray]:
        self._waiting()
        self.grad_output[i] = g
        self.outputs_seen += 1
        if self.outputs_seen < self.outputs_tapped:
            return None
        mine = self._pre_hooks(i)
        if not self.inputs_tapped:  # (nothing of the input needs a gradient: the hooks run now)
            self._hooks(None)
        return mine

    def _input_arrived(self, i: int, g: Tensor) -> Optional[np.ndarray]:
        self._waiting()
        if not self.outputs_seen:  # (no output got a gradient: no hook runs, as in PyTorch)
            return None
        if not self.pre_done:  # (an output whose gradient never came: the pre-hooks run now)
            self._pre_hooks(None)
        self.grad_input[i] = g
        self.inputs_seen += 1
        if self.inputs_seen < self.inputs_tapped:
            return None
        return self._hooks(i)

    def _waiting(self) -> None:
        """This call has begun to see its gradients: the end of its pass must hear of it."""
        if id(self) not in _PENDING:
            self.depth = PASS_DEPTH[0]  # (a hook's own backward() inside the pass ends first)
            _PENDING[id(self)] = self
            if _end_of_pass not in PASS_END:
                PASS_END.append(_end_of_pass)

    def _at_end(self, ok: bool) -> None:
        """The pass is over with this call's hooks still waiting: run them, with None for the
        gradients that never came (when it ended well and an output got one), and reset."""
        try:
            if ok and self.outputs_seen:
                if not self.pre_done:
                    self._pre_hooks(None)
                for i, (shape, dtype) in self.input_types.items():  # (an input no gradient reached:
                    if self.grad_input[i] is None:  # zeros, as PyTorch's hook gets)
                        self.grad_input[i] = Tensor._wrap(np.zeros(shape, dtype))
                self._hooks(None)
        finally:
            self._reset()

    def _pre_hooks(self, at: Optional[int]) -> Any:
        """Run the backward pre-hooks on grad_output; the new array for output `at`, if one changed it."""
        self.pre_done = True
        kept = None
        for hook in self.pre_hooks:
            new = hook(self.module, tuple(self.grad_output))
            if new is not None:
                r = self._replace(self.grad_output, new, at, "grad_output", "backward pre-hook", hook)
                kept = r if r is not None else kept
        return kept

    def _hooks(self, at: Optional[int]) -> Any:
        """Run the backward hooks; the new array for input `at`, if one changed it. Then ready for
        another pass."""
        kept = None
        try:
            for hook in self.hooks:
                new = hook(self.module, tuple(self.grad_input), tuple(self.grad_output))
                if new is not None:
                    r = self._replace(self.grad_input, new, at, "grad_input", "backward hook", hook)
                    kept = r if r is not None else kept
        finally:
            self._reset()
        return kept

    def _replace(self, grads: list[Any], new: Any, at: Optional[int], what: str, kind: str, hook: Any) -> Any:
        """Put what a hook returned in place of `grads` (checked); the new array at `at`, or None."""
        name = f"{type(self.module).__name__}'s {kind} {getattr(hook, '__name__', type(hook).__name__)}"
        new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
        if len(new) != len(grads):
            raise RuntimeError(f"{name} returned {len(new)} gradient(s) for a {what} of {len(grads)}")
        out = None
        for j, (old, g) in enumerate(zip(grads, new)):
            if g is old:
                continue
            if old is None:
                raise RuntimeError(f"{name} returned a gradient for {what}[{j}], which has none")
            a = np.zeros(old.shape, old.dtype) if g is None else np.asarray(getattr(g, "data", g))
            if a.shape != old.shape or a.dtype != old.dtype:
                raise RuntimeError(f"{name} returned a {a.dtype} gradient of shape {a.shape} for {what}[{j}], "
                                   f"which is {old.dtype} of shape {old.shape}")
            if j != at:
                raise RuntimeError(f"{name} changed {what}[{j}], whose gradient has already gone on through the "
                                   f"pass (only {what}[{at}], the last to arrive, can still change)"
                                   if at is not None else f"{name} changed {what}[{j}], which nothing uses now")
            grads[j] = Tensor._wrap(a)
            out = a
        return out


# The calls whose hooks wait on a gradient in the pass under way, by id; _end_of_pass runs or
# forgets them when it ends (tensor.PASS_END holds it while there are any).
_PENDING: dict[int, HookedCall] = {}


def _end_of_pass(ok: bool) -> None:
    calls = [c for c in _PENDING.values() if c.depth >= PASS_DEPTH[0]]  # (this pass's, not an outer one's)
    for c in calls:
        del _PENDING[id(c)]
    if not _PENDING and _end_of_pass in PASS_END:
        PASS_END.remove(_end_of_pass)
    errors = []
    for call in calls:
        try:
            call._at_end(ok)
        except Exception as e:  # (the others still run, and reset; the first error is raised)
            errors.append(e)
    if errors:
        raise errors[0]


def hooked_call(module: Any, args: tuple, kwargs: dict, run: Callable[[tuple, dict], Any]) -> Any:
    """module(*args, **kwargs) between taps, when it has backward hooks and a graph is recorded."""
    if not is_grad_enabled():
        return run(args, kwargs)
    call = HookedCall(module)
    return call.tap_outputs(run(call.tap_inputs(args), kwargs))
