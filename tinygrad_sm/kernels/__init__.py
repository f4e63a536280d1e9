"""Kernels for the hot paths, dispatched to a backend: "numba" (compiled, the default) or "numpy".

Every kernel has a plain NumPy version in `reference.py` (read that one) and a Numba version in
`numba_kernels.py`, tested to agree. Pick with the environment variable
TINYGRAD_SM_BACKEND=numba|numpy or at run time with `set_backend(name)`.

Numba is imported on the first kernel call, never at `import tinygrad_sm`, and compiles each
kernel on first use (cached on disk when it can be); `warmup()` compiles them ahead of time.
With NUMBA_DISABLE_JIT=1 (and no TINYGRAD_SM_BACKEND) the NumPy reference is the default.
"""
from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType
from typing import Any, Optional

import numpy as np

from . import reference

__all__ = [
    "set_backend", "get_backend", "warmup", "set_num_threads", "get_num_threads", "max_num_threads",
    "usable_cores",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy_forward", "cross_entropy_backward", "softmax_cross_entropy",
    "relu", "relu_backward", "normal_cdf", "linear_forward", "linear_backward", "sgd_step_", "adam_step_",
    "im2col", "col2im", "max_pool2d", "max_pool2d_backward",
]

BACKENDS = ("numba", "numpy")


def _parse(name: Any, where: str) -> str:
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise ValueError(f"{where}: backend must be one of {BACKENDS}, got {name!r}")
    return name.lower()


class _NumbaOnFirstUse:
    """Stands in for the numba backend until a kernel is first called, then imports it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_load_numba(explicit=False), name)


def _default_backend() -> str:
    """TINYGRAD_SM_BACKEND if set; else "numba", or "numpy" when NUMBA_DISABLE_JIT is set: numba's
    kernels would then run as Python loops (correct, and tested that way, but a training step
    takes seconds), and the NumPy reference computes the same at NumPy's speed."""
    name = os.environ.get("TINYGRAD_SM_BACKEND", "").strip()
    if name:  # (set but empty, as `TINYGRAD_SM_BACKEND= cmd` gives: the default)
        return _parse(name, "TINYGRAD_SM_BACKEND")
    return "numpy" if os.environ.get("NUMBA_DISABLE_JIT", "0").strip() not in ("", "0") else "numba"


_backend = _default_backend()
_impl: Any = reference if _backend == "numpy" else _NumbaOnFirstUse()
_numba_module: Optional[ModuleType] = None
_pending_threads: Optional[int] = None


def _load_numba(explicit: bool) -> ModuleType:
    """Import the numba backend; without numba installed, fall back to NumPy (or raise if asked)."""
    global _impl, _backend, _numba_module
    if _numba_module is None:
        try:
            from . import numba_kernels
        except ImportError as e:
            if explicit:
                raise ImportError(f"set_backend('numba'): numba is not importable ({e}); "
                                  "pip install numba, or use set_backend('numpy')") from e
            warnings.warn(f"tinygrad_sm: numba is not importable ({e}); using the NumPy kernels",
                          RuntimeWarning, stacklevel=3)
            _impl, _backend = reference, "numpy"
            return reference
        _numba_module = numba_kernels
        if _pending_threads is not None:  # (checked when set; again here, against numba's real pool)
            _check_threads(_pending_threads)
            numba_kernels.set_num_threads(_pending_threads)
    if _backend == "numba":
        _impl = _numba_module
    return _numba_module


def set_backend(name: str) -> None:
    """Use "numba" (compiled kernels) or "numpy" (the reference) from now on."""
    global _impl, _backend
    _backend = _parse(name, "set_backend")
    if _backend == "numba":
        try:
            _load_numba(explicit=True)
        except ImportError:  # (numba cannot be loaded, so the NumPy kernels are the ones that run,
            _impl, _backend = reference, "numpy"  # whatever the backend was before; say so)
            raise
    else:
        _impl = reference


def get_backend() -> str:
    """The kernel backend in use: "numba" or "numpy"."""
    return _backend


def warmup() -> None:
    """Compile every numba kernel now (float32 and float64), instead of on first use."""
    if _backend == "numba":
        loaded = _load_numba(explicit=False)
        if loaded is not reference:  # (numba not importable: the NumPy kernels need no compiling)
            loaded.warmup()


def set_num_threads(n: int) -> None:
    """Threads for the parallel numba kernels (at most NUMBA_NUM_THREADS, which numba reads at start).
    As in numba, the count belongs to the calling thread; other threads keep theirs."""
    global _pending_threads
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: need a positive integer, got {n!r}")
    _check_threads(n)  # (now, also before numba is imported: not at the first kernel)
    if _numba_module is None and _backend == "numba":
        _load_numba(explicit=False)  # now, so that the count is set in this thread
    if _numba_module is not None:
        _numba_module.set_num_threads(int(n))
    else:
        _pending_threads = int(n)  # (the NumPy backend: applied if numba is loaded later)


def get_num_threads() -> int:
    """Threads the parallel numba kernels use (what set_num_threads or NUMBA_NUM_THREADS set)."""
    if _numba_module is not None:
        return _numba_module.get_num_threads()
    return _pending_threads or max_num_threads()


def max_num_threads() -> int:
    """The most threads set_num_threads accepts: the size of numba's thread pool, or what it will be
    when numba is imported (NUMBA_NUM_THREADS, else the CPUs this process may run on: numba's own
    rule, worked out without importing numba)."""
    numba = sys.modules.get("numba")
    if numba is not None:  # (imported, by us or anyone: its pool size is fixed)
        return numba.config.NUMBA_NUM_THREADS
    try:
        n = int(os.environ.get("NUMBA_NUM_THREADS", ""))
    except ValueError:
        n = 0
    return n if n > 0 else usable_cores()


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask, which a container or taskset narrows;
    os.cpu_count() where there is none). Sweeps and MPI ranks split these among themselves."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # (no sched_getaffinity on macOS or Windows)
        return max(1, os.cpu_count() or 1)


def _check_threads(n: int) -> None:
    limit = max_num_threads()
    if n > limit:
        raise ValueError(f"set_num_threads: {n} threads asked for, but numba starts with at most {limit} "
                         "(set NUMBA_NUM_THREADS before the first kernel runs to allow more)")


# -- the kernels (see reference.py for what each computes) -----------------------------------------
def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a 2-D array: p = exp(z - max) / sum(exp(z - max))."""
    return _impl.softmax(z)


def softmax_backward(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Softmax's input gradient from its output p and the upstream g: p * (g - sum(g * p))."""
    return _impl.softmax_backward(p, g)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of a 2-D array: z - max - log(sum(exp(z - max)))."""
    return _impl.log_softmax(z)


def log_softmax_backward(logp: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Log-softmax's input gradient from its output and g: g - exp(logp) * sum(g)."""
    return _impl.log_softmax_backward(logp, g)


def _check_classes(op: str, target: np.ndarray, c: int) -> None:
    """Class targets are integers in [0, c): a float 1.5 would be cast, a -1 would wrap around."""
    if target.ndim != 1:
        return
    if target.dtype.kind not in "iu":
        raise ValueError(f"{op}: class targets must be integers, got {target.dtype}")
    if target.size and (target.min() < 0 or target.max() >= c):
        bad = target[(target < 0) | (target >= c)][:3].tolist()
        raise ValueError(f"{op}: class targets must be in [0, {c}), got {bad}")


def cross_entropy_forward(z: np.ndarray, target: np.ndarray,
                          label_smoothing: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-row cross-entropy loss and log p (kept for backward); class or probability targets."""
    _check_classes("cross_entropy_forward", target, z.shape[-1])
    return _impl.cross_entropy_forward(z, target, label_smoothing)


def cross_entropy_backward(logp: np.ndarray, target: np.ndarray, g: np.ndarray,
                           label_smoothing: float = 0.0) -> np.ndarray:
    """The logits' gradient of the per-row cross-entropy from log p and the upstream g (N,): g * (p - t)."""
    _check_classes("cross_entropy_backward", target, logp.shape[-1])
    return _impl.cross_entropy_backward(logp, target, g, label_smoothing)


def softmax_cross_entropy(z: np.ndarray, target: np.ndarray, label_smoothing: float = 0.0,
                          grad_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Fused: per-row loss and the logits' gradient (softmax(z) - target) * grad_scale in one pass."""
    if target.ndim == 1 and target.dtype.kind not in "iu":  # (the range is checked in the kernels)
        raise ValueError(f"softmax_cross_entropy: class targets must be integers, got {target.dtype}")
    return _impl.softmax_cross_entropy(z, target, label_smoothing, grad_scale)


# One kernel for both backends (np.maximum is already one vectorised pass), bound here without a
# dispatching call: ReLU is the most frequent op of a graph of scalars.
relu = reference.relu


def relu_backward(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """ReLU's input gradient from its output y: g where y > 0, else 0."""
    if isinstance(y, np.generic) and isinstance(g, np.generic):  # NumPy scalars, as in relu
        return g if y > 0 else reference.zero(g.dtype)[()]
    return _impl.relu_backward(y, g)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x), the standard normal CDF (GELU's), elementwise: erfc(-x / sqrt 2) / 2 evaluated in
    float64 and rounded to x's dtype once."""
    return _impl.normal_cdf(x)


def linear_forward(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray] = None,
                   relu: bool = False) -> np.ndarray:
    """y = x @ w.T (+ b), with the ReLU fused when relu=True (BLAS for the product)."""
    return _impl.linear_forward(x, w, b, relu)


def linear_backward(x: np.ndarray, w: np.ndarray, y: np.ndarray, g: np.ndarray, relu: bool = False,
                    need: tuple[bool, bool, bool] = (True, True, True)) -> tuple[Any, Any, Any]:
    """The gradients (dx, dw, db) of linear_forward for upstream g, masked by y > 0 when relu=True;
    `need` says which to compute (None for the others)."""
    return _impl.linear_backward(x, w, y, g, relu, need)


def _check_like(op: str, p: np.ndarray, **others: Optional[np.ndarray]) -> None:
    """Before anything is written: the parameter and its buffers can be written, and the buffers
    and the gradient match it (a step that fails halfway would leave the optimizer's state ahead)."""
    if not p.flags.writeable:
        raise ValueError(f"{op}: the parameter is read-only; give it a writable array (a copy)")
    for name, a in others.items():
        if a is not None and name != "g" and not a.flags.writeable:
            raise ValueError(f"{op}: {name} is read-only; give it a writable array (a copy)")
    for name, a in others.items():
        if a is not None and (a.shape != p.shape or a.dtype != p.dtype):
            raise ValueError(f"{op}: {name} must match the parameter, shape {p.shape} {p.dtype}; "
                             f"got {a.shape} {a.dtype}")


def sgd_step_(p: np.ndarray, g: np.ndarray, buf: Optional[np.ndarray], *, lr: float,
              momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
              nesterov: bool = False, first: bool = False) -> None:
    """In-place SGD step (PyTorch's rule; see reference.sgd_step_)."""
    if momentum and buf is None:
        raise ValueError("sgd_step_: momentum != 0 needs a momentum buffer, got buf=None")
    _check_like("sgd_step_", p, g=g, buf=buf if momentum else None)
    _impl.sgd_step_(p, g, buf, lr=lr, momentum=momentum, dampening=dampening,
                    weight_decay=weight_decay, nesterov=nesterov, first=first)


def adam_step_(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, *, step: int, lr: float,
               beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
               weight_decay: float = 0.0, decoupled: bool = False) -> None:
    """In-place Adam/AdamW step (PyTorch's rule; see reference.adam_step_)."""
    if step < 1:
        raise ValueError(f"adam_step_: step counts from 1, got {step}")
    _check_like("adam_step_", p, g=g, m=m, v=v)
    _impl.adam_step_(p, g, m, v, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                     weight_decay=weight_decay, decoupled=decoupled)


# -- windows of images (geometry: kernel, stride, padding, dilation and the output size, each a
# (rows, columns) pair; see reference.py) ---------------------------------------------------------------
Pair = tuple[int, int]


def im2col(x: np.ndarray, k: Pair, s: Pair, p: Pair, d: Pair, out: Pair) -> np.ndarray:
    """Every window of x (N, C, H, W) as a column of (C*kh*kw, N*Ho*Wo); padding reads as 0."""
    return _impl.im2col(x, k, s, p, d, out)


def col2im(cols: np.ndarray, xshape: tuple[int, ...], k: Pair, s: Pair, p: Pair, d: Pair, out: Pair) -> np.ndarray:
    """im2col backwards: the columns' gradients added back into an (N, C, H, W) array of xshape."""
    return _impl.col2im(cols, xshape, k, s, p, d, out)


def max_pool2d(x: np.ndarray, k: Pair, s: Pair, p: Pair, d: Pair, out: Pair) -> tuple[np.ndarray, np.ndarray]:
    """(each window's largest value, its flat index in the (H, W) image, -1 if none)."""
    return _impl.max_pool2d(x, k, s, p, d, out)


def max_pool2d_backward(g: np.ndarray, arg: np.ndarray, xshape: tuple[int, ...]) -> np.ndarray:
    """Each window's gradient added to its winner."""
    return _impl.max_pool2d_backward(g, arg, xshape)
