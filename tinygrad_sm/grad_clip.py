"""Gradient clipping, as PyTorch's nn.utils: `nn.utils.clip_grad_norm_(model.parameters(), 1.0)`
between loss.backward() and opt.step().

Both scale or clip the parameters' .grad arrays in place and leave parameters without a
gradient alone.
"""
from __future__ import annotations

import math
from typing import Iterable, Union

import numpy as np

from ._checks import is_real
from .tensor import Tensor, note_write

Params = Union[Tensor, Iterable[Tensor]]
"""What the clipping functions take: one tensor, or several (model.parameters())."""


def _grads(parameters: Params, name: str) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: expects tensors (model.parameters()), got a {type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Params, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale every gradient by min(1, max_norm / (total + 1e-6)), where total is the norm of all
    the gradients together (as if they were one vector; norm_type inf: the largest magnitude).
    Returns total, a 0-d tensor in the gradients' (promoted) dtype. A NaN or inf total is an error with
    error_if_nonfinite=True; otherwise the gradients are scaled by NaN, as in PyTorch."""
    if norm_type == "inf":
        norm_type = math.inf
    if not is_real(max_norm) or not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be a number >= 0, got {max_norm!r}")
    if not is_real(norm_type) or not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be a number > 0 or 'inf', got {norm_type!r}")
    grads = _grads(parameters, "clip_grad_norm_")
    if not grads:
        return Tensor._wrap(np.array(0.0, np.float32))
    flat = [np.abs(g.data.astype(np.float64, copy=False)).ravel() for g in grads]
    if math.isinf(norm_type):
        total = max(float(f.max(initial=0.0)) for f in flat)
    else:
        total = float(sum(float((f ** norm_type).sum()) for f in flat) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of the gradients is {total}; "
                           "set error_if_nonfinite=False to scale by it anyway")
    coef = min(1.0, max_norm / (total + 1e-6)) if math.isfinite(total) else max_norm / (total + 1e-6)
    if coef != 1.0:
        for g in grads:
            g.data *= g.data.dtype.type(coef)
            note_write(g, "clip_grad_norm_")
    return Tensor._wrap(np.array(total, dtype=np.result_type(*(g.data.dtype for g in grads))))


def clip_grad_value_(parameters: Params, clip_value: float) -> None:
    """Clip every gradient element into [-clip_value, clip_value], in place."""
    if not is_real(clip_value) or not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be a number >= 0, got {clip_value!r}")
    for g in _grads(parameters, "clip_grad_value_"):
        np.clip(g.data, -clip_value, clip_value, out=g.data)
        note_write(g, "clip_grad_value_")
