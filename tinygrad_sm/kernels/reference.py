"""Plain NumPy kernels: the reference every fast kernel is tested against.

All work along the last axis of a 2-D (N, C) array of logits, shifting each row by its max so
exp never overflows (logits of +-1e4 stay finite).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log p = z - max(z) - log(sum(exp(z - max(z)))) along the last axis."""
    if z.size == 0:  # (no rows, or rows of no classes: max() would have nothing to reduce)
        return np.empty_like(z)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """p = exp(z - max(z)) / sum(exp(z - max(z))) along the last axis."""
    if z.size == 0:
        return np.empty_like(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """dL/dz = p * (g - sum(g * p)) along the last axis (the softmax Jacobian times g)."""
    return p * (g - (g * p).sum(axis=-1, keepdims=True))


def log_softmax_backward(logp: np.ndarray, g: np.ndarray) -> np.ndarray:
    """dL/dz = g - softmax(z) * sum(g) along the last axis."""
    return g - np.exp(logp) * g.sum(axis=-1, keepdims=True)


def smoothed(target: np.ndarray, c: int, label_smoothing: float) -> np.ndarray:
    """The (N, C) target distribution: (1 - e) * target + e / C."""
    return target if not label_smoothing else (1 - label_smoothing) * target + label_smoothing / c


def cross_entropy_forward(
    z: np.ndarray, target: np.ndarray, label_smoothing: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row loss and log-softmax of (N, C) logits.

    target is either (N,) integer classes or (N, C) probabilities. With smoothing e the target
    distribution is (1 - e) * target + e / C, as in PyTorch.
    Returns (loss of shape (N,), log p of shape (N, C)).
    """
    logp = log_softmax(z)
    return loss_from_log_softmax(logp, target, label_smoothing).astype(z.dtype, copy=False), logp


def loss_from_log_softmax(logp: np.ndarray, target: np.ndarray, label_smoothing: float = 0.0) -> np.ndarray:
    """Per-row cross-entropy from log p (N, C): -log p[target], or -sum(t * log p) for
    probabilities, with the target smoothed by label_smoothing."""
    n, c = logp.shape
    if target.ndim == 1:  # class indices: loss = -log p[target]
        loss = -logp[np.arange(n), target]
        if label_smoothing == 1:  # (the target's term has weight 0, also where its log p is -inf)
            loss = -logp.sum(axis=1) / c
        elif label_smoothing:
            loss = (1 - label_smoothing) * loss - (label_smoothing / c) * logp.sum(axis=1)
        return loss
    return -(smoothed(target, c, label_smoothing) * logp).sum(axis=1)


def cross_entropy_backward(
    logp: np.ndarray, target: np.ndarray, g: np.ndarray, label_smoothing: float = 0.0
) -> np.ndarray:
    """dL/dz = (softmax(z) * sum(t) - t) * g per row, t the (smoothed) target distribution.

    g is the upstream gradient of each row's loss, shape (N,) (for reduction='mean' the caller
    passes 1/N in every row, giving the familiar (p - y) / N).
    """
    n, c = logp.shape
    grad = np.exp(logp)
    if target.ndim == 1:
        grad[np.arange(n), target] -= 1 - label_smoothing
        if label_smoothing:
            grad -= label_smoothing / c
    else:  # d/dz of -sum(t * log p) is p * sum(t) - t (sum(t) is 1 for a distribution)
        t = smoothed(target, c, label_smoothing)
        grad = grad * t.sum(axis=1, keepdims=True) - t
    grad *= g[:, None]
    return grad


def softmax_cross_entropy(
    z: np.ndarray, target: np.ndarray, label_smoothing: float = 0.0, grad_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Fused forward and backward: per-row loss and grad_scale * dloss_i/dz_i, in one go.

    With t the (smoothed) target distribution and s = sum(t) per row (1 for a proper distribution):
    loss = -sum(t * log p), dloss/dz = p * s - t. Saving this gradient in forward means backward
    only has to scale it.
    """
    n, c = z.shape
    if target.ndim == 1 and target.size and (target.min() < 0 or target.max() >= c):
        bad = int(np.count_nonzero((target < 0) | (target >= c)))  # (NumPy would wrap -1 around)
        raise ValueError(f"softmax_cross_entropy: {bad} class target(s) outside 0..{c - 1}")
    loss, logp = cross_entropy_forward(z, target, label_smoothing)
    grad = np.exp(logp)
    if target.ndim == 1:
        grad[np.arange(n), target] -= 1 - label_smoothing
        if label_smoothing:
            grad -= label_smoothing / c
    else:
        t = smoothed(target, c, label_smoothing)
        grad = grad * t.sum(axis=1, keepdims=True) - t
    if grad_scale != 1.0:
        grad *= grad_scale
    return loss, grad.astype(z.dtype, copy=False)


# -- ReLU -----------------------------------------------------------------------------------------
_ZEROS: dict[np.dtype, np.ndarray] = {}


def zero(dtype: np.dtype) -> np.ndarray:
    """A read-only 0-d zero of `dtype`. On tiny arrays, NumPy spends more time converting a
    Python 0 to an array than computing (np.maximum(x, 0) takes twice as long as with this)."""
    z = _ZEROS.get(dtype)
    if z is None:
        z = _ZEROS[dtype] = np.zeros((), dtype)
        z.flags.writeable = False
    return z


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0) elementwise (NaN stays NaN; -0.0 gives 0.0, as np.maximum(x, 0) does)."""
    if isinstance(x, np.generic):  # a NumPy scalar (Gate.scalars): a branch costs less than a ufunc
        return x if x > 0 or x != x else zero(x.dtype)[()]
    return np.maximum(x, zero(x.dtype))


def relu_backward(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """ReLU gates: g where the output y > 0, else 0 (relu'(0) = 0)."""
    z = zero(g.dtype)
    return np.where(y > z, g, z)


SQRT_HALF = math.sqrt(0.5)


def _phi_scalar(v: float) -> float:
    return math.erfc(v * -SQRT_HALF) * 0.5


_PHI = np.frompyfunc(_phi_scalar, 1, 1)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x), the standard normal CDF, elementwise: erfc(-x / sqrt 2) / 2, not (1 + erf(x / sqrt 2)) / 2,
    which cancels to nothing for x << 0 (Phi(-8) = 6.2e-16 to full precision here). NumPy has no
    erfc; this is the C library's, through math.erfc, all in float64 (x / sqrt 2 too: erfc
    magnifies an error in its argument 2 z**2 times) and rounded to x's dtype once."""
    return np.asarray(_PHI(np.asarray(x, dtype=np.float64)), dtype=np.float64).astype(x.dtype, copy=False)


# -- the linear layer: y = x @ w.T + b, optionally followed by ReLU -------------------------------
def linear_forward(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray] = None,
                   relu: bool = False) -> np.ndarray:
    """x (N, in), w (out, in), b (out,) -> y (N, out). The product goes to BLAS."""
    y = x @ w.T
    if b is not None:
        y += b
    if relu:
        np.maximum(y, 0, out=y)
    return y


def linear_backward(
    x: np.ndarray, w: np.ndarray, y: np.ndarray, g: np.ndarray, relu: bool = False,
    need: tuple[bool, bool, bool] = (True, True, True),
) -> tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
    """(dx, dw, db) for y = [relu](x @ w.T + b), given the output y and dL/dy = g.

    ReLU gates first: gm = g where y > 0. Then the matrix form of mul swaps:
    dx = gm @ w, dw = gm.T @ x, db = sum of gm over rows. `need` skips what no one wants.
    """
    gm = relu_backward(y, g) if relu else g
    dx = gm @ w if need[0] else None
    dw = gm.T @ x if need[1] else None
    db = gm.sum(axis=0) if need[2] else None
    return dx, dw, db


# -- optimiser updates, in place (PyTorch's rules) -------------------------------------------------
def sgd_step_(p: np.ndarray, g: np.ndarray, buf: Optional[np.ndarray], *, lr: float,
              momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
              nesterov: bool = False, first: bool = False) -> None:
    """p -= lr * d, with d = g + wd * p, through the momentum buffer when momentum != 0.

    buf = d on the first step, else momentum * buf + (1 - dampening) * d;
    d = d + momentum * buf (Nesterov) or buf. g is not modified.
    """
    d = g + weight_decay * p if weight_decay else g
    if momentum:
        if first:
            buf[...] = d
        else:
            buf *= momentum
            buf += (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    p -= lr * d


def adam_step_(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, *, step: int, lr: float,
               beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
               weight_decay: float = 0.0, decoupled: bool = False) -> None:
    """One Adam (decoupled=False) or AdamW (decoupled=True) step, updating p, m and v in place.

    m and v are running means of g and g**2; dividing by 1 - beta**step removes their bias
    towards the zeros they start from. `step` counts from 1.
    """
    if weight_decay and decoupled:
        p *= 1 - lr * weight_decay
    elif weight_decay:
        g = g + weight_decay * p
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g  # (in this order, as PyTorch's addcmul: g * g alone overflows float32 sooner)
    bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
    p -= (lr / bc1) * m / (np.sqrt(v) / math.sqrt(bc2) + eps)


# -- windows of images: convolution (im2col, col2im) and max pooling -----------------------------------
# Geometry for all of them: kernel k, stride s, padding p, dilation d, each a pair (rows, columns),
# and out = (Ho, Wo), the output's size. Window (i, j) covers input rows i*s0 + a*d0 - p0 (a < k0)
# and columns j*s1 + b*d1 - p1 (b < k1); positions outside the input are padding.
Pair = tuple[int, int]


def windows(xp: np.ndarray, k: Pair, s: Pair, d: Pair, out: Pair) -> np.ndarray:
    """A view (N, C, Ho, Wo, k0, k1) of every window of an already padded (N, C, Hp, Wp) array."""
    span = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    v = np.lib.stride_tricks.sliding_window_view(xp, span, axis=(2, 3))
    return v[:, :, :s[0] * (out[0] - 1) + 1:s[0], :s[1] * (out[1] - 1) + 1:s[1], ::d[0], ::d[1]]


def add_windows(gw: np.ndarray, padded_shape: tuple[int, ...], s: Pair, d: Pair) -> np.ndarray:
    """windows() backwards: window gradients (N, C, Ho, Wo, k0, k1) added into a zero array of the
    padded input's shape where each came from (overlapping windows add up); one strided add per
    kernel offset."""
    out = np.zeros(padded_shape, dtype=gw.dtype)
    ho, wo, kh, kw = gw.shape[2:]
    for a in range(kh):
        for b in range(kw):
            r, c = a * d[0], b * d[1]
            out[:, :, r:r + s[0] * (ho - 1) + 1:s[0], c:c + s[1] * (wo - 1) + 1:s[1]] += gw[:, :, :, :, a, b]
    return out


def pad2d(x: np.ndarray, p: Pair, fill: float = 0.0) -> np.ndarray:
    if p == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)


def crop2d(xp: np.ndarray, p: Pair) -> np.ndarray:
    return xp[:, :, p[0]:xp.shape[2] - p[0], p[1]:xp.shape[3] - p[1]]


def im2col(x: np.ndarray, k: Pair, s: Pair, p: Pair, d: Pair, out: Pair) -> np.ndarray:
    """Every window of x (N, C, H, W) unrolled into a column: (C*k0*k1, N*Ho*Wo), rows in (c, a, b)
    order, columns in (n, i, j) order; padding reads as 0. (Windows as columns: the convolution
    is then W (O, C*k0*k1) @ cols, whose rows are the output channels.)"""
    win = windows(pad2d(x, p), k, s, d, out)  # (N, C, Ho, Wo, k0, k1)
    return win.transpose(1, 4, 5, 0, 2, 3).reshape(x.shape[1] * k[0] * k[1], x.shape[0] * out[0] * out[1])


def col2im(cols: np.ndarray, xshape: tuple[int, ...], k: Pair, s: Pair, p: Pair, d: Pair, out: Pair) -> np.ndarray:
    """im2col backwards: each column's gradient added back into (N, C, H, W) where the window came
    from (overlapping windows add up; what falls in the padding is dropped)."""
    n, c, h, w = xshape
    gwin = cols.reshape(c, k[0], k[1], n, out[0], out[1]).transpose(3, 0, 4, 5, 1, 2)
    return crop2d(add_windows(gwin, (n, c, h + 2 * p[0], w + 2 * p[1]), s, d), p)


def max_pool2d(x: np.ndarray, k: Pair, s: Pair, p: Pair, d: Pair, out: Pair) -> tuple[np.ndarray, np.ndarray]:
    """(y, arg): each window's largest value, and where it is, as a flat index into its (H, W)
    image (-1 for a window that covers only padding, whose y is -inf). The winner is the first
    largest in the window's row-major order; a NaN wins over any number, the last of several
    (PyTorch's rule: a value replaces the best if it is larger, or NaN)."""
    n, c, h, w = x.shape
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min  # (integer images pool too)
    # (ceil_mode: the last windows may run past the padding on the right; they read -inf there too)
    more = [max(0, s[i] * (out[i] - 1) + d[i] * (k[i] - 1) + 1 - (x.shape[2 + i] + 2 * p[i])) for i in (0, 1)]
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0] + more[0]), (p[1], p[1] + more[1])), constant_values=low)
    best = np.full((n, c) + tuple(out), low, dtype=x.dtype)
    arg = np.full((n, c) + tuple(out), -1, dtype=np.int64)
    rows0, cols0 = np.arange(out[0]) * s[0] - p[0], np.arange(out[1]) * s[1] - p[1]
    for a in range(k[0]):  # one vectorised pass per kernel offset, in the window's row-major order
        rows = rows0 + a * d[0]
        for b in range(k[1]):
            cols = cols0 + b * d[1]
            v = xp[:, :, a * d[0]:a * d[0] + s[0] * (out[0] - 1) + 1:s[0],
                   b * d[1]:b * d[1] + s[1] * (out[1] - 1) + 1:s[1]]
            inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
            take = inside & ((arg < 0) | (v > best) | np.isnan(v))
            best = np.where(take, v, best)
            arg = np.where(take, rows[:, None] * w + cols[None, :], arg)
    return best, arg


def max_pool2d_backward(g: np.ndarray, arg: np.ndarray, xshape: tuple[int, ...]) -> np.ndarray:
    """max routes: each window's g added to its winner (arg from max_pool2d)."""
    n, c, h, w = xshape
    gx = np.zeros((n * c, h * w), dtype=g.dtype)
    a2, g2 = arg.reshape(n * c, arg[0, 0].size if n * c else 0), g.reshape(n * c, g[0, 0].size if n * c else 0)
    hit = a2 >= 0
    np.add.at(gx, (np.nonzero(hit)[0], a2[hit]), g2[hit])
    return gx.reshape(xshape)
