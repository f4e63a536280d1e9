"""Convolution, pooling, normalisation and embedding layers, as PyTorch's (nn.Conv2d, ...).
nn re-exports them; the Module machinery and the dense layers live in nn.py.

    model = nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),   # 28 -> 24 -> 12
                          nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),  # 12 -> 8 -> 4
                          nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np

from . import creation
from . import dtypes as _dt
from . import functional
from ._checks import is_int, is_real
from .gates.conv import AvgPool2d as AvgPoolGate
from .gates.conv import MaxPool2d as MaxPoolGate
from .gates.conv import pair
from .nn import INITS, Module, Parameter, _initial_weight
from .tensor import Tensor

__all__ = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "MaxUnpool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding"]

IntOrPair = Union[int, tuple[int, int]]


def _positive(layer: str, **sizes: Any) -> None:
    for name, v in sizes.items():
        if not is_int(v) or v < 1:
            raise ValueError(f"{layer}: {name} must be an int >= 1, got {v!r}")


def _divides(layer: str, groups: int, **channels: int) -> None:
    for name, v in channels.items():
        if v % groups:
            raise ValueError(f"{layer}: {name} ({v}) must be divisible by groups ({groups})")


class Conv2d(Module):
    """y = conv2d(x, weight, bias, stride, padding, dilation, groups): x (N, C_in, H, W) or (C_in, H, W),
    weight (C_out, C_in / groups, kh, kw), bias (C_out,). init as Linear's, with fan_in = C_in / groups * kh * kw
    ("kaiming", He's normal, by default; "uniform" is PyTorch's scale); the bias starts at zero."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: Union[IntOrPair, str] = 0, dilation: IntOrPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", init: str = "kaiming", std: float = 0.01,
                 dtype: _dt.DTypeLike = "float32", generator: creation.Seed = None) -> None:
        super().__init__()
        _positive("Conv2d", in_channels=in_channels, out_channels=out_channels, groups=groups)
        _divides("Conv2d", groups, in_channels=in_channels, out_channels=out_channels)
        if padding_mode != "zeros":
            raise ValueError("Conv2d: only padding_mode='zeros' is supported here")
        if init not in INITS:
            raise ValueError(f"Conv2d: init must be one of {INITS}, got {init!r}")
        k = pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride, self.dilation = pair(stride, "stride", "Conv2d", 1), pair(dilation, "dilation", "Conv2d", 1)
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding", "Conv2d", 0)
        if isinstance(padding, str) and padding not in ("valid", "same"):
            raise ValueError(f"Conv2d: padding must be a number, a pair, 'valid' or 'same', got {padding!r}")
        self.in_channels, self.out_channels, self.kernel_size, self.init = in_channels, out_channels, k, init
        self.groups = groups
        fan_in, fan_out = in_channels // groups * k[0] * k[1], out_channels // groups * k[0] * k[1]
        w = _initial_weight(init, (out_channels, in_channels // groups) + k, fan_in, fan_out, std, generator)
        self.weight = Parameter(w.astype(_dt.to_dtype(dtype)))
        self.bias = Parameter(np.zeros(out_channels, _dt.to_dtype(dtype))) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[-3] if x.ndim >= 3 else None
        if c != self.in_channels:
            raise ValueError(f"Conv2d({self.in_channels}, {self.out_channels}): input of shape {x.shape} needs "
                             f"{self.in_channels} channels in dim -3, as (N, C, H, W) or (C, H, W)")
        return functional.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class ConvTranspose2d(Module):
    """y = conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation): x
    (N, C_in, H, W) or (C_in, H, W), weight (C_in, C_out / groups, kh, kw) as PyTorch's, bias (C_out,).
    ConvTranspose2d(16, 8, 4, stride=2, padding=1) doubles the image's side: a decoder's upsampling.
    init as Conv2d's, with PyTorch's fan_in for this layout, weight.shape[1] * kh * kw; the bias
    starts at zero."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: IntOrPair = 0, output_padding: IntOrPair = 0, groups: int = 1, bias: bool = True,
                 dilation: IntOrPair = 1, padding_mode: str = "zeros", init: str = "kaiming", std: float = 0.01,
                 dtype: _dt.DTypeLike = "float32", generator: creation.Seed = None) -> None:
        super().__init__()
        name = "ConvTranspose2d"
        _positive(name, in_channels=in_channels, out_channels=out_channels, groups=groups)
        _divides(name, groups, in_channels=in_channels, out_channels=out_channels)
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported here")
        if init not in INITS:
            raise ValueError(f"{name}: init must be one of {INITS}, got {init!r}")
        k = pair(kernel_size, "kernel_size", name, 1)
        self.stride, self.dilation = pair(stride, "stride", name, 1), pair(dilation, "dilation", name, 1)
        self.padding, self.output_padding = pair(padding, "padding", name, 0), pair(output_padding, "output_padding", name, 0)
        if any(self.output_padding[i] >= max(self.stride[i], self.dilation[i]) for i in (0, 1)):
            raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller than the stride "
                             f"{self.stride} or the dilation {self.dilation}")
        self.in_channels, self.out_channels, self.kernel_size, self.init = in_channels, out_channels, k, init
        self.groups = groups
        fan_in, fan_out = out_channels // groups * k[0] * k[1], in_channels // groups * k[0] * k[1]
        w = _initial_weight(init, (in_channels, out_channels // groups) + k, fan_in, fan_out, std, generator)
        self.weight = Parameter(w.astype(_dt.to_dtype(dtype)))
        self.bias = Parameter(np.zeros(out_channels, _dt.to_dtype(dtype))) if bias else None

    def forward(self, x: Tensor, output_size: Optional[Sequence[int]] = None) -> Tensor:
        """output_size: the (..., H_out, W_out) wanted, where a stride > 1 leaves several possible
        (a decoder matching its encoder's odd sizes); it sets output_padding for this call."""
        c = x.shape[-3] if x.ndim >= 3 else None
        if c != self.in_channels:
            raise ValueError(f"ConvTranspose2d({self.in_channels}, {self.out_channels}): input of shape {x.shape} "
                             f"needs {self.in_channels} channels in dim -3, as (N, C, H, W) or (C, H, W)")
        extra = self.output_padding if output_size is None else self._output_padding(x.shape[-2:], output_size)
        return functional.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, extra,
                                           self.groups, self.dilation)

    def _output_padding(self, hw: Sequence[int], output_size: Sequence[int]) -> tuple[int, int]:
        size = tuple(output_size)[-2:]
        if len(size) != 2 or not all(is_int(v) for v in size):
            raise ValueError(f"ConvTranspose2d: output_size must end with two ints (H_out, W_out), got {output_size!r}")
        extra = []
        for i in (0, 1):
            least = ((hw[i] - 1) * self.stride[i] - 2 * self.padding[i]
                     + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            most = least + self.stride[i] - 1  # (PyTorch's range: output_padding < stride here)
            if not least <= size[i] <= most:
                raise ValueError(f"ConvTranspose2d: output_size {tuple(size)} cannot come from an input of "
                                 f"{tuple(hw)}: each side must be between {least} and {most} for side {i}")
            extra.append(size[i] - least)
        return extra[0], extra[1]

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        for name, none in (("padding", (0, 0)), ("dilation", (1, 1)), ("output_padding", (0, 0)), ("groups", 1)):
            if getattr(self, name) != none:
                s += f", {name}={getattr(self, name)}"
        return s + ("" if self.bias is not None else ", bias=False")


class MaxPool2d(Module):
    """F.max_pool2d as a layer: the largest value of each window (stride defaults to kernel_size)."""

    def __init__(self, kernel_size: IntOrPair, stride: Optional[IntOrPair] = None, padding: IntOrPair = 0,
                 dilation: IntOrPair = 1, return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.ceil_mode, self.return_indices = ceil_mode, return_indices
        MaxPoolGate(kernel_size, stride, padding, dilation, ceil_mode, return_indices)  # (checked now, not at the first batch)

    def forward(self, x: Tensor) -> Any:
        """The pooled x; (it, the winners' indices) with return_indices."""
        return functional.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                                     self.return_indices)

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return (f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}, dilation={self.dilation}, "
                f"ceil_mode={self.ceil_mode}")


class MaxUnpool2d(Module):
    """F.max_unpool2d as a layer: unpool(y, indices) puts each value of y back where
    MaxPool2d(..., return_indices=True) found it, zeros elsewhere (an upsampling that remembers
    where the maxima were, as in SegNet's decoder)."""

    def __init__(self, kernel_size: IntOrPair, stride: Optional[IntOrPair] = None, padding: IntOrPair = 0) -> None:
        super().__init__()
        for what, v, low in (("kernel_size", kernel_size, 1), ("stride", stride, 1), ("padding", padding, 0)):
            if v is not None:
                pair(v, what, "max_unpool2d", low)  # (checked now, not at the first batch)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Tensor, indices: Any, output_size: Optional[Sequence[int]] = None) -> Tensor:
        return functional.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        k = pair(self.kernel_size, "kernel_size", "max_unpool2d", 1)
        stride = k if self.stride is None else pair(self.stride, "stride", "max_unpool2d", 1)
        return f"kernel_size={k}, stride={stride}, padding={pair(self.padding, 'padding', 'max_unpool2d', 0)}"


class AvgPool2d(Module):
    """F.avg_pool2d as a layer: the mean of each window (padding counts as zeros unless
    count_include_pad=False)."""

    def __init__(self, kernel_size: IntOrPair, stride: Optional[IntOrPair] = None, padding: IntOrPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: Optional[int] = None) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override
        AvgPoolGate(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)  # (checked now)

    def forward(self, x: Tensor) -> Tensor:
        return functional.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                     self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}"  # (as PyTorch prints it)


class AdaptiveAvgPool2d(Module):
    """F.adaptive_avg_pool2d as a layer: AdaptiveAvgPool2d(1) averages each channel to one value
    (global average pooling), whatever the image's size."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        sizes = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size]
        if (len(sizes) != 2 and not isinstance(output_size, int)) or not all(
                v is None or (is_int(v) and v >= 1) for v in sizes) or output_size is None:
            raise ValueError(f"AdaptiveAvgPool2d: output_size must be an int >= 1 or a pair of them (None keeps "
                             f"a side), got {output_size!r}")
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return functional.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _BatchNorm(Module):
    """Per-channel normalisation over the batch (and spatial dims), as PyTorch's BatchNorm: while
    training, with the batch's statistics, moving running_mean / running_var toward them (momentum;
    None: the plain average of every batch so far); after model.eval(), with the running ones."""

    dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: _dt.DTypeLike = "float32") -> None:
        super().__init__()
        name = type(self).__name__
        _positive(name, num_features=num_features)
        if momentum is not None and (not is_real(momentum) or not 0 <= momentum <= 1):
            raise ValueError(f"{name}: momentum must be a number in [0, 1] or None, got {momentum!r}")
        dt = _dt.to_dtype(dtype)
        self.num_features, self.eps, self.momentum = num_features, functional._eps(name, eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dt)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dt)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dt)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self.dims or x.shape[1] != self.num_features:
            want = " or ".join(f"{d}-d" for d in self.dims)
            raise ValueError(f"{type(self).__name__}({self.num_features}): input must be {want} with "
                             f"{self.num_features} channels in dim 1, got shape {x.shape}")
        w, b, eps = self.weight, self.bias, self.eps
        if not self.training and self.running_mean is not None:
            return functional.batch_norm(x, self.running_mean, self.running_var, w, b, False, 0.0, eps)
        if not self.training:  # (no running statistics kept: the batch's, as PyTorch)
            return functional.batch_norm(x, None, None, w, b, True, 0.0, eps)
        functional._values_per_channel(type(self).__name__, x)  # (refused before anything is counted)
        momentum = self.momentum
        if self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            if momentum is None:  # (a cumulative average: batch k weighs 1/k)
                momentum = 1.0 / int(self.num_batches_tracked.data)
        return functional.batch_norm(x, self.running_mean, self.running_var, w, b, True, momentum, eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """_BatchNorm over (N, C) or (N, C, L) inputs."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """_BatchNorm over (N, C, H, W) inputs: one mean and variance per channel."""

    dims = (4,)


class LayerNorm(Module):
    """F.layer_norm over the last dims (normalized_shape) of each sample, with a learnt weight
    (ones) and bias (zeros) of that shape unless elementwise_affine=False (bias=False: no bias)."""

    def __init__(self, normalized_shape: Union[int, Sequence[int]], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, dtype: _dt.DTypeLike = "float32") -> None:
        super().__init__()
        shape = (normalized_shape,) if is_int(normalized_shape) else tuple(normalized_shape)
        _positive("LayerNorm", **{f"normalized_shape[{i}]": n for i, n in enumerate(shape)})
        if not shape:
            raise ValueError("LayerNorm: normalized_shape must name at least one dim")
        self.normalized_shape, self.eps = tuple(int(n) for n in shape), functional._eps("LayerNorm", eps)
        self.elementwise_affine = elementwise_affine
        dt = _dt.to_dtype(dtype)
        self.weight = Parameter(np.ones(self.normalized_shape, dt)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dt)) if elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class Embedding(Module):
    """A table of num_embeddings vectors of size embedding_dim, looked up by integer index:
    Embedding(n, d)(idx) has shape idx.shape + (d,). Rows start N(0, 1), as PyTorch's; the row
    padding_idx starts at zero and gets no gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None,
                 dtype: _dt.DTypeLike = "float32", generator: creation.Seed = None) -> None:
        super().__init__()
        _positive("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        if padding_idx is not None and (not is_int(padding_idx) or not -num_embeddings <= padding_idx < num_embeddings):
            raise ValueError(f"Embedding: padding_idx must be an int in [-{num_embeddings}, {num_embeddings}), "
                             f"got {padding_idx!r}")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = None if padding_idx is None else int(padding_idx) % num_embeddings
        w = creation._gen(generator).standard_normal((num_embeddings, embedding_dim))
        if self.padding_idx is not None:
            w[self.padding_idx] = 0
        self.weight = Parameter(w.astype(_dt.to_dtype(dtype)))

    def forward(self, idx: Any) -> Tensor:
        return functional.embedding(idx, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
