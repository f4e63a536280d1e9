"""2-D convolution, transposed convolution and pooling over (N, C, H, W) inputs, as PyTorch's
conv2d, conv_transpose2d, max_pool2d and avg_pool2d. All work on windows: im2col (a column per
window) and col2im (its way back) for the convolutions (the transposed one runs them the other way
round), and max pooling, are kernels (tinygrad_sm.kernels: Numba, with the NumPy reference beside
them); average pooling uses NumPy's sliding windows directly.

    out_size = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    (pooling with ceil_mode: rounded up, as long as the last window starts inside the input or
    its left padding)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import kernels
from .._checks import is_int
from ..kernels.reference import add_windows, windows
from .base import Domain, Gate, GateError, Values

Pair = tuple[int, int]

COLUMN_BYTES = 1 << 23
"""About how many bytes of unrolled windows a convolution makes at a time (see Conv2d._blocks).
On the 2-core development machine, 8 MiB blocks made the cnn's step at batch 256 25% quicker
than one block for the whole batch, and left batch 64 as it was; 2 MiB blocks slowed batch 64."""


def pair(v: Any, name: str, op: str, low: int) -> Pair:
    """An int or a pair of ints (height, width), each >= low, as a pair."""
    vs = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(vs) != 2 or not all(is_int(a) and a >= low for a in vs):
        raise GateError(f"{op}: {name} must be an int >= {low} or a pair of them, got {v!r}")
    return int(vs[0]), int(vs[1])


def out_size(n: int, k: int, s: int, p: int, d: int, ceil: bool = False) -> int:
    span = n + 2 * p - d * (k - 1) - 1
    if not ceil:
        return span // s + 1
    o = -(-span // s) + 1
    return o - 1 if (o - 1) * s >= n + p else o  # (a last window that would start in the right padding)


def _gmm(a: np.ndarray, b: np.ndarray, groups: int, ta: bool = False, tb: bool = False) -> np.ndarray:
    """(a.T if ta else a) @ (b.T if tb else b) for each of `groups` groups of rows of a and of b
    (a grouped convolution's block-diagonal product), as one batched product; rows stacked back."""
    if groups == 1:
        return (a.T if ta else a) @ (b.T if tb else b)
    a3, b3 = a.reshape(groups, -1, a.shape[-1]), b.reshape(groups, -1, b.shape[-1])
    r = np.matmul(a3.transpose(0, 2, 1) if ta else a3, b3.transpose(0, 2, 1) if tb else b3)
    return r.reshape(-1, r.shape[-1])


def _groups(v: Any, op: str) -> int:
    if not is_int(v) or v < 1:
        raise GateError(f"{op}: groups must be an int >= 1, got {v!r}")
    return int(v)


def _check_4d(op: str, x: np.ndarray) -> None:
    if x.ndim != 4:
        raise GateError(f"{op}: input must have shape (N, C, H, W), got {x.shape} "
                        "(one image: x.unsqueeze(0) or x[None])")


class _Windowed(Gate):
    """Shared by the three gates: the geometry, checked and kept."""

    op = ""
    ceil_mode = False

    def _geometry(self, x: np.ndarray, k: Pair) -> Pair:
        _check_4d(self.op, x)
        h, w = x.shape[2:]
        out = (out_size(h, k[0], self.stride[0], self.padding[0], self.dilation[0], self.ceil_mode),
               out_size(w, k[1], self.stride[1], self.padding[1], self.dilation[1], self.ceil_mode))
        if out[0] < 1 or out[1] < 1:
            raise GateError(f"{self.op}: the input's {h}x{w} (padding {self.padding}) is smaller than the "
                            f"kernel's {k[0]}x{k[1]} (dilation {self.dilation}); the output would be empty")
        return out


class Conv2d(_Windowed):
    """y[n, o, i, j] = b[o] + sum over c, p, q of w[o, c, p, q] * xp[n, c, i*s + p*d, j*s + q*d]
    (xp: x padded with zeros). x is (N, C, H, W), w is (O, C, kh, kw), b is (O,) or left out.

    A convolution is a matmul on windows: each window of x unrolled into a column (im2col) gives
    X (C*kh*kw, N*Ho*Wo), and y = W @ X + b with W = w as (O, C*kh*kw). So backward is matmul's,
    mul swaps: dW = G @ X.T, dX = W.T @ G, whose columns go back to the windows they came from
    (adding where windows overlap); db sums G over everything but the channel.
    groups: the channels split into groups convolved apart (w is (O, C/groups, kh, kw)), each
    group's rows of W times its rows of X: one batched product, block-diagonal."""

    domain = Domain("conv2d", (Values(), Values(), Values()))
    op = "conv2d"

    def __init__(self, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1):
        self.stride, self.padding = pair(stride, "stride", "conv2d", 1), pair(padding, "padding", "conv2d", 0)
        self.dilation = pair(dilation, "dilation", "conv2d", 1)
        self.groups = _groups(groups, "conv2d")

    def _geo(self, k: Pair, out: Pair) -> tuple[Pair, Pair, Pair, Pair, Pair]:
        return tuple(k), self.stride, self.padding, self.dilation, tuple(out)

    @staticmethod
    def _blocks(xshape: tuple[int, ...], k: Pair, out: Pair, itemsize: int) -> list[tuple[int, int]]:
        """Images a block at a time, [i, j), so that a block's unrolled windows (COLUMN_BYTES or
        less) are still in cache when the product reads them. A whole batch's are kh*kw times the
        input: at batch 256 the cnn's second layer's would be 80 MB."""
        per_image = xshape[1] * k[0] * k[1] * out[0] * out[1] * itemsize
        step = max(1, COLUMN_BYTES // max(per_image, 1))
        return [(i, min(i + step, xshape[0])) for i in range(0, xshape[0], step)]

    def forward(self, x, w, b=None):
        if w.ndim != 4:
            raise GateError(f"conv2d: weight must have shape (out_channels, in_channels, kh, kw), got {w.shape}")
        _check_4d("conv2d", x)
        g = self.groups
        if x.shape[1] != w.shape[1] * g:
            raise GateError(f"conv2d: input of shape {x.shape} has {x.shape[1]} channels, weight of shape "
                            f"{w.shape} expects {w.shape[1] * g}" + (f" ({g} groups of {w.shape[1]})" if g > 1 else ""))
        if w.shape[0] % g:
            raise GateError(f"conv2d: weight of shape {w.shape} has {w.shape[0]} output channels, which {g} groups "
                            "cannot share equally")
        if b is not None and b.shape != (w.shape[0],):
            raise GateError(f"conv2d: bias must have shape ({w.shape[0]},) for weight of shape {w.shape}, got {b.shape}")
        for name, a in (("input", x), ("bias", b)):
            if a is not None and a.dtype != w.dtype:
                raise GateError(f"conv2d: {name} is {a.dtype} but the weight is {w.dtype}; convert one of them")
        k = w.shape[2:]
        out = self._geometry(x, k)
        o, wm = w.shape[0], w.reshape(w.shape[0], -1)
        x = np.ascontiguousarray(x)  # (a block of images is then a view)
        y = np.empty((x.shape[0], o) + tuple(out), dtype=np.result_type(x, w))
        for i, j in self._blocks(x.shape, k, out, y.itemsize):
            yb = _gmm(wm, kernels.im2col(x[i:j], *self._geo(k, out)), g)  # (O, images*Ho*Wo)
            if b is not None:
                yb += b[:, None]
            y[i:j] = yb.reshape(o, j - i, out[0], out[1]).transpose(1, 0, 2, 3)
        need = self.needs_grad
        if need:
            self.save_for_backward(x if need[1] else None, w if need[0] else None)
        return y

    def backward(self, g):
        x, w = self.saved
        need = tuple(self.needs_grad) + (False,) * (3 - len(self.needs_grad))
        xshape, wshape = self.shapes[0], self.shapes[1]
        k, out, o = wshape[2:], g.shape[2:], wshape[0]
        gw = np.zeros((o, math.prod(wshape[1:])), dtype=g.dtype) if need[1] else None
        gx = np.empty(xshape, dtype=g.dtype) if need[0] else None
        # The windows are unrolled again, from x: kept from the forward pass, they would hold kh*kw
        # copies of x until now.
        for i, j in self._blocks(xshape, k, out, g.itemsize):
            gm = np.ascontiguousarray(g[i:j].transpose(1, 0, 2, 3)).reshape(o, -1)  # (O, images*Ho*Wo), as yb
            if need[1]:
                gw += _gmm(gm, kernels.im2col(x[i:j], *self._geo(k, out)), self.groups, tb=True)
            if need[0]:
                cols = _gmm(w.reshape(o, -1), gm, self.groups, ta=True)
                gx[i:j] = kernels.col2im(cols, (j - i,) + tuple(xshape[1:]), *self._geo(k, out))
        gw = None if gw is None else gw.reshape(wshape)
        gb = g.sum(axis=(0, 2, 3)) if need[2] else None
        return self.unbroadcast(gx, gw, gb)[:len(self.needs_grad)]


class ConvTranspose2d(_Windowed):
    """Transposed convolution (PyTorch's conv_transpose2d): conv2d's input gradient run forward.
    x is (N, C_in, H, W), w is (C_in, C_out, kh, kw), b is (C_out,) or left out. Each input pixel
    scatters w[c] times its value into a window of the output, stride apart; overlaps add up:

        cols = W.T @ X      W = w as (C_in, C_out*kh*kw), X = x as (C_in, N*H*W)
        y = col2im(cols) + b    (Ho = (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1)

    It is Conv2d's backward with the roles swapped, so its backward is Conv2d's forward: the
    windows of g unrolled, G = im2col(g), give dX = W @ G and dW = X @ G.T; db sums g over all
    but the channel. groups: w is (C_in, C_out/groups, kh, kw), each group apart, as in Conv2d."""

    domain = Domain("conv_transpose2d", (Values(), Values(), Values()))
    op = "conv_transpose2d"

    def __init__(self, stride: Any = 1, padding: Any = 0, output_padding: Any = 0, dilation: Any = 1,
                 groups: int = 1):
        self.groups = _groups(groups, self.op)
        self.stride, self.padding = pair(stride, "stride", self.op, 1), pair(padding, "padding", self.op, 0)
        self.output_padding = pair(output_padding, "output_padding", self.op, 0)
        self.dilation = pair(dilation, "dilation", self.op, 1)
        for i in (0, 1):
            if self.output_padding[i] >= max(self.stride[i], self.dilation[i]):
                raise GateError(f"{self.op}: output_padding {self.output_padding} must be smaller than the "
                                f"stride {self.stride} or the dilation {self.dilation}")

    def _geo(self, k: Pair, hw: Pair) -> tuple[Pair, Pair, Pair, Pair, Pair]:
        return tuple(k), self.stride, self.padding, self.dilation, tuple(hw)  # (the windows of the output)

    def forward(self, x, w, b=None):
        if w.ndim != 4:
            raise GateError(f"{self.op}: weight must have shape (in_channels, out_channels, kh, kw), got {w.shape}")
        _check_4d(self.op, x)
        g = self.groups
        if x.shape[1] != w.shape[0]:
            raise GateError(f"{self.op}: input of shape {x.shape} has {x.shape[1]} channels, weight of shape "
                            f"{w.shape} expects {w.shape[0]} (its first dimension)")
        if w.shape[0] % g:
            raise GateError(f"{self.op}: weight of shape {w.shape} has {w.shape[0]} input channels, which {g} "
                            "groups cannot share equally")
        if b is not None and b.shape != (w.shape[1] * g,):
            raise GateError(f"{self.op}: bias must have shape ({w.shape[1] * g},) for weight of shape {w.shape}"
                            + (f" and {g} groups" if g > 1 else "") + f", got {b.shape}")
        for name, a in (("input", x), ("bias", b)):
            if a is not None and a.dtype != w.dtype:
                raise GateError(f"{self.op}: {name} is {a.dtype} but the weight is {w.dtype}; convert one of them")
        (c, o), k, hw = (w.shape[0], w.shape[1] * g), w.shape[2:], x.shape[2:]
        size = tuple((hw[i] - 1) * self.stride[i] - 2 * self.padding[i] + self.dilation[i] * (k[i] - 1)
                     + self.output_padding[i] + 1 for i in (0, 1))
        if size[0] < 1 or size[1] < 1:
            raise GateError(f"{self.op}: a {hw[0]}x{hw[1]} input with padding {self.padding} gives an empty "
                            f"{size[0]}x{size[1]} output; use less padding")
        wm = w.reshape(c, -1)
        y = np.empty((x.shape[0], o) + size, dtype=w.dtype)
        for i, j in Conv2d._blocks((x.shape[0], o) + tuple(hw), k, hw, y.itemsize):
            xm = x[i:j].transpose(1, 0, 2, 3).reshape(c, -1)  # (C_in, images*H*W)
            y[i:j] = kernels.col2im(_gmm(wm, xm, g, ta=True), (j - i, o) + size, *self._geo(k, hw))
        if b is not None:
            y += b[:, None, None]
        need = self.needs_grad
        if need:
            self.save_for_backward(x if need[1] else None, w if need[0] else None)
        return y

    def backward(self, g):
        x, w = self.saved
        need = tuple(self.needs_grad) + (False,) * (3 - len(self.needs_grad))
        xshape, wshape = self.shapes[0], self.shapes[1]
        (c, o), k, hw = (wshape[0], wshape[1] * self.groups), wshape[2:], xshape[2:]
        g = np.ascontiguousarray(g)
        gw = np.zeros((c, math.prod(wshape[1:])), dtype=g.dtype) if need[1] else None
        gx = np.empty(xshape, dtype=g.dtype) if need[0] else None
        for i, j in Conv2d._blocks((xshape[0], o) + tuple(hw), k, hw, g.itemsize):
            gcols = kernels.im2col(g[i:j], *self._geo(k, hw))  # (C_out*kh*kw, images*H*W)
            if need[1]:
                gw += _gmm(x[i:j].transpose(1, 0, 2, 3).reshape(c, -1), gcols, self.groups, tb=True)
            if need[0]:
                gx[i:j] = _gmm(w.reshape(c, -1), gcols, self.groups).reshape(c, j - i, hw[0], hw[1]).transpose(1, 0, 2, 3)
        gw = None if gw is None else gw.reshape(wshape)
        gb = g.sum(axis=(0, 2, 3)) if need[2] else None
        return self.unbroadcast(gx, gw, gb)[:len(self.needs_grad)]


class MaxPool2d(_Windowed):
    """y[n, c, i, j] = the largest x in window (i, j) (padding counts as -inf).
    max routes: the whole gradient of a window goes to its winner, the first largest in the
    window's row-major order when several tie (as PyTorch picks one); overlapping windows add up.
    ceil_mode: the output size rounded up, the last windows running past the input's end."""

    domain = Domain("pool2d", (Values(grid=0.25, unique=True),))  # no ties
    op = "max_pool2d"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 ceil_mode: bool = False, return_indices: bool = False):
        self.kernel = pair(kernel_size, "kernel_size", self.op, 1)
        self.stride = self.kernel if stride is None else pair(stride, "stride", self.op, 1)
        self.padding, self.dilation = pair(padding, "padding", self.op, 0), pair(dilation, "dilation", self.op, 1)
        self.ceil_mode = _flag(ceil_mode, "ceil_mode", self.op)
        self.return_indices = _flag(return_indices, "return_indices", self.op)
        if self.padding[0] * 2 > self.kernel[0] or self.padding[1] * 2 > self.kernel[1]:
            raise GateError(f"{self.op}: padding {self.padding} is more than half the kernel {self.kernel}")

    def forward(self, x):
        out = self._geometry(x, self.kernel)
        y, arg = kernels.max_pool2d(x, self.kernel, self.stride, self.padding, self.dilation, out)
        if self.needs_grad:
            self.save_for_backward(arg)
        if self.return_indices:  # (F.max_pool2d takes them from here: the winners' places)
            self.indices = arg
        return y

    def backward(self, g):
        (arg,) = self.saved
        return kernels.max_pool2d_backward(g, arg, self.shapes[0])


def _flag(v: Any, name: str, op: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise GateError(f"{op}: {name} must be True or False, got {v!r}")
    return bool(v)


class AvgPool2d(_Windowed):
    """y[n, c, i, j] = the sum of window (i, j) / its divisor: kh * kw (padding counted as zeros,
    PyTorch's count_include_pad=True), the number of the input's own elements in the window
    (count_include_pad=False), or divisor_override. ceil_mode: the output size rounded up; a
    window running past the padded input counts only what it covers. Each element of a window
    gets g / divisor (add distributes, then the division scales); overlapping windows add up."""

    domain = Domain("pool2d")
    op = "avg_pool2d"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: Any = None):
        self.kernel = pair(kernel_size, "kernel_size", self.op, 1)
        self.stride = self.kernel if stride is None else pair(stride, "stride", self.op, 1)
        self.padding, self.dilation = pair(padding, "padding", self.op, 0), (1, 1)
        self.ceil_mode = _flag(ceil_mode, "ceil_mode", self.op)
        self.count_include_pad = _flag(count_include_pad, "count_include_pad", self.op)
        if divisor_override is not None and (not is_int(divisor_override) or divisor_override < 1):
            raise GateError(f"{self.op}: divisor_override must be an int >= 1 or None, got {divisor_override!r}")
        self.divisor_override = divisor_override
        if self.padding[0] * 2 > self.kernel[0] or self.padding[1] * 2 > self.kernel[1]:
            raise GateError(f"{self.op}: padding {self.padding} is more than half the kernel {self.kernel}")

    def _layout(self, hw: tuple[int, ...], out: Pair) -> tuple[tuple[int, int], tuple[int, int]]:
        """(the padded side, the padding after it) per dimension: ceil_mode's last windows may run
        past the padding, so the right side gets what they need more."""
        (p0, p1), (k0, k1), (s0, s1) = self.padding, self.kernel, self.stride
        right = (p0 + max(0, (out[0] - 1) * s0 + k0 - (hw[0] + 2 * p0)),
                 p1 + max(0, (out[1] - 1) * s1 + k1 - (hw[1] + 2 * p1)))
        return (hw[0] + p0 + right[0], hw[1] + p1 + right[1]), right

    def _divisor(self, hw: tuple[int, ...], out: Pair, dtype: np.dtype) -> np.ndarray:
        """Each window's divisor, (Ho, Wo): the count of what it covers of the counted region (the
        input, and its padding when count_include_pad) from a mask of ones over that region."""
        if self.divisor_override is not None:
            return np.full(out, self.divisor_override, dtype=dtype)
        (p0, p1), size, _ = self.padding, *self._layout(hw, out)
        mask = np.zeros((1, 1) + size, dtype=dtype)
        if self.count_include_pad:
            mask[..., :hw[0] + 2 * p0, :hw[1] + 2 * p1] = 1
        else:
            mask[..., p0:p0 + hw[0], p1:p1 + hw[1]] = 1
        return windows(mask, self.kernel, self.stride, (1, 1), out).sum(axis=(-2, -1))[0, 0]

    def forward(self, x):
        out = self._geometry(x, self.kernel)
        hw = x.shape[2:]
        _, right = self._layout(hw, out)
        xp = np.pad(x, ((0, 0), (0, 0), (self.padding[0], right[0]), (self.padding[1], right[1])))
        total = windows(xp, self.kernel, self.stride, (1, 1), out).sum(axis=(-2, -1), dtype=x.dtype)
        return total / self._divisor(hw, out, x.dtype)

    def backward(self, g):
        n, c, h, w = self.shapes[0]
        out = g.shape[2:]
        size, _ = self._layout((h, w), out)
        share = (g / self._divisor((h, w), out, g.dtype))[..., None, None]
        gwin = np.broadcast_to(share, g.shape + tuple(self.kernel))
        gp = add_windows(gwin, (n, c) + size, self.stride, (1, 1))
        return gp[:, :, self.padding[0]:self.padding[0] + h, self.padding[1]:self.padding[1] + w]


class AdaptiveAvgPool2d(Gate):
    """y[n, c, i, j] = the mean of x over rows floor(i H / Ho) .. ceil((i + 1) H / Ho) - 1 and the
    columns likewise: windows that tile the input as evenly as the sizes allow (neighbours share a
    row or column where the sizes do not divide; an output larger than the input repeats
    windows), whatever its size. output_size (1, 1) is global average
    pooling. Each element of a window gets g / the window's size; overlaps add up."""

    domain = Domain("adaptive_pool2d")
    op = "adaptive_avg_pool2d"

    def __init__(self, output_size: Any):
        self.output_size = pair(output_size, "output_size", self.op, 1)

    @staticmethod
    def _bounds(n: int, m: int) -> list[tuple[int, int]]:
        return [(i * n // m, -(-(i + 1) * n // m)) for i in range(m)]

    def forward(self, x):
        _check_4d(self.op, x)
        (h, w), (ho, wo) = x.shape[2:], self.output_size
        if h % ho == 0 and w % wo == 0:  # (equal windows side by side: one reshape and a mean)
            return x.reshape(x.shape[:2] + (ho, h // ho, wo, w // wo)).mean(axis=(3, 5), dtype=x.dtype)
        y = np.empty(x.shape[:2] + (ho, wo), dtype=x.dtype)
        for i, (r0, r1) in enumerate(self._bounds(h, ho)):
            for j, (c0, c1) in enumerate(self._bounds(w, wo)):
                y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3), dtype=x.dtype)
        return y

    def backward(self, g):
        shape = self.shapes[0]
        (h, w), (ho, wo) = shape[2:], self.output_size
        if h % ho == 0 and w % wo == 0:
            share = g[:, :, :, None, :, None] / g.dtype.type((h // ho) * (w // wo))
            return np.broadcast_to(share, shape[:2] + (ho, h // ho, wo, w // wo)).reshape(shape)
        gx = np.zeros(shape, dtype=g.dtype)
        for i, (r0, r1) in enumerate(self._bounds(h, ho)):
            for j, (c0, c1) in enumerate(self._bounds(w, wo)):
                gx[:, :, r0:r1, c0:c1] += (g[:, :, i, j] / g.dtype.type((r1 - r0) * (c1 - c0)))[:, :, None, None]
        return gx

class MaxUnpool2d(Gate):
    """max_pool2d's partial inverse: y is zeros of size (N, C, H, W), with each x[n, c, i, j] put at
    indices[n, c, i, j], a flat index into y's (H, W) plane (what max_pool2d(return_indices=True)
    gives). Where several indices point at one place, the last x in row-major order is kept.
    The gradient picks: dx[n, c, i, j] = g[n, c] at indices[n, c, i, j] for each x that was kept,
    0 for one written over (PyTorch's gives those g too: the gradient of a forward they lost)."""

    domain = Domain("unpool2d")
    op = "max_unpool2d"

    def __init__(self, indices: Any, output_size: Any):
        self.indices = np.asarray(indices)  # (read by forward and let go: backward keeps its own places)
        self.size = pair(output_size, "output_size", self.op, 1)

    def forward(self, x):
        _check_4d(self.op, x)
        idx, (h, w) = self.__dict__.pop("indices"), self.size
        if idx.shape != x.shape or idx.dtype.kind not in "iu":
            raise GateError(f"{self.op}: indices must be integers of the input's shape {x.shape}, got "
                            f"{idx.dtype} of shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= h * w):
            bad = int(idx.min() if idx.min() < 0 else idx.max())
            raise GateError(f"{self.op}: index {bad} is out of range for an output of {h}x{w} ({h * w} places "
                            "per channel); give the output_size the pooling started from")
        planes = x.shape[0] * x.shape[1]
        flat = (idx.reshape(planes, x.shape[2] * x.shape[3]) + (np.arange(planes) * (h * w))[:, None]).ravel()  # (y as 1-D)
        # the last x written to each place: the first of each in the reversed order
        _, first = np.unique(flat[::-1], return_index=True)
        kept = None if first.size == flat.size else np.sort(flat.size - 1 - first)
        y = np.zeros(planes * h * w, dtype=x.dtype)
        xs = x.ravel()
        if kept is None:
            y[flat] = xs
        else:
            y[flat[kept]] = xs[kept]
        if self.needs_grad:
            self.save_for_backward(flat, kept)
        return y.reshape(x.shape[:2] + (h, w))

    def backward(self, g):
        flat, kept = self.saved
        picked = g.ravel()[flat]
        if kept is not None:  # (an x written over had no say in y)
            gx = np.zeros_like(picked)
            gx[kept] = picked[kept]
            picked = gx
        return picked.reshape(self.shapes[0])
