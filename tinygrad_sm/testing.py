"""Check gradients: central differences against backward(), with reports that say what is wrong.

    from tinygrad_sm import Tensor
    from tinygrad_sm.testing import gradcheck
    x = Tensor(np.random.randn(3, 4), dtype="float64", requires_grad=True)
    gradcheck(lambda x: (x * x).tanh(), [x])     # True, or GradcheckError naming the element

Use float64: with float32 the rounding error of a central difference (~1e-7 / eps) swamps the
truncation error (~eps**2), and no eps gives a useful check.
"""
from __future__ import annotations

import warnings
from typing import Callable, Optional, Sequence

import numpy as np

from .grad_mode import no_grad
from .tensor import Tensor

__all__ = ["GradcheckError", "GradcheckWarning", "numerical_grad", "gradcheck"]

Fn = Callable[..., Tensor]


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; the message lists the worst elements."""


class GradcheckWarning(UserWarning):
    """Gradient checking in float32 is too imprecise to trust."""


def _scalarize(out: Tensor, v: np.ndarray) -> float:
    """sum(out * v): the scalar whose gradient is the vector-Jacobian product with v."""
    return float(np.sum(out.data.astype(np.float64) * v))


def _evaluate(fn: Fn, inputs: Sequence[Tensor], v: np.ndarray) -> float:
    with no_grad():
        return _scalarize(fn(*inputs), v)


def numerical_grad(fn: Fn, inputs: Sequence[Tensor], eps: float = 1e-6,
                   grad_output: Optional[np.ndarray] = None) -> list[Optional[np.ndarray]]:
    """Central differences (f(x+h) - f(x-h)) / 2h for every element of every input that requires grad.

    For a non-scalar output, f is sum(fn(...) * grad_output) (grad_output defaults to ones), so the
    result is the vector-Jacobian product that backward(grad_output) computes.
    Inputs are perturbed in place and restored exactly.
    """
    if grad_output is None:
        with no_grad():
            grad_output = np.ones(fn(*inputs).shape)
    v = np.asarray(grad_output, dtype=np.float64)
    grads: list[Optional[np.ndarray]] = []
    for t in inputs:
        if not (isinstance(t, Tensor) and t.requires_grad):
            grads.append(None)
            continue
        flat = t.data.reshape(-1)  # a view: perturbing it perturbs the tensor
        if not np.shares_memory(flat, t.data):
            raise ValueError("numerical_grad needs inputs with contiguous data")
        g = np.zeros(t.data.size, dtype=np.float64)
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            f_plus = _evaluate(fn, inputs, v)
            flat[i] = orig - eps
            f_minus = _evaluate(fn, inputs, v)
            flat[i] = orig
            g[i] = (f_plus - f_minus) / (2 * eps)
        grads.append(g.reshape(t.shape))
    return grads


def _fresh_leaves(inputs: Sequence[Tensor]) -> list[Tensor]:
    """Copies of the inputs, so checking never touches the caller's tensors or their .grad."""
    out = []
    for t in inputs:
        if isinstance(t, Tensor):
            c = Tensor._wrap(np.array(t.data, copy=True))
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
    out.backward(v.astype(out.dtype).reshape(out.shape))
    return [
        None if not (isinstance(t, Tensor) and t.requires_grad)
        else (np.zeros(t.shape) if t.grad is None else t.grad.data.astype(np.float64))
        for t in inputs
    ]


def _label(i: int, t: Tensor) -> str:
    return f"input {i}" + (f" ({t.name!r})" if t.name else "") + f", shape {t.shape}"


def _report(i: int, t: Tensor, a: np.ndarray, n: np.ndarray, atol: float, rtol: float,
            worst: int = 5) -> Optional[str]:
    err = np.abs(a - n)
    bad = err > atol + rtol * np.abs(n)
    bad |= np.isnan(a) != np.isnan(n)
    if not bad.any():
        return None
    lines = [f"{_label(i, t)}: {int(bad.sum())} of {a.size} gradient elements disagree"]
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


def gradcheck(fn: Fn, inputs: Sequence[Tensor], *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, mode: str = "full", raise_exception: bool = True,
              seed: int = 0) -> bool:
    """Compare backward() with central differences for every input that requires grad.

    fn: any callable of tensors returning a tensor (scalar or not; a non-scalar output is checked
    through a random, non-uniform upstream gradient v, i.e. the vector-Jacobian product).
    mode="full" compares every element; mode="fast" compares one random directional derivative
    per input and, if that disagrees, runs the full comparison to explain where.
    An element passes when |analytic - numerical| <= atol + rtol * |numerical|.
    Returns True; on a mismatch raises GradcheckError (or returns False if raise_exception=False).
    """
    if mode not in ("full", "fast"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'fast', got {mode!r}")
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass Tensors with requires_grad=True")
    low = [i for i in checked if inputs[i].dtype != np.float64]
    if low:
        warnings.warn(f"gradcheck: input(s) {low} are {inputs[low[0]].dtype}; central differences need "
                      "float64 to be trusted (create them with dtype='float64')", GradcheckWarning,
                      stacklevel=2)
    rng = np.random.default_rng(seed)
    leaves = _fresh_leaves(inputs)
    with no_grad():
        out_shape = fn(*leaves).shape
    v = rng.uniform(0.5, 1.5, size=out_shape) * rng.choice([-1.0, 1.0], size=out_shape)
    analytic = _analytic(fn, leaves, v)
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
    msg = "gradcheck failed: backward() disagrees with central differences\n" + "\n".join(problems)
    if raise_exception:
        raise GradcheckError(msg)
    return False
