"""Matrix product for 1-D, 2-D and batched (..., n, k) @ (..., k, m) inputs."""
from __future__ import annotations

import numpy as np

from .base import Domain, Gate, GateError, Values


def _swap(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


class MatMul(Gate):
    """Z = X @ W.  The matrix form of mul swaps: dZ/dX = G @ W^T and dZ/dW = X^T @ G.
    A 1-D operand is treated as a row (left) or column (right) vector, as in NumPy."""

    domain = Domain("matmul", (Values(), Values()))

    def forward(self, x, w):
        if x.ndim == 0 or w.ndim == 0:
            raise GateError(f"matmul: both operands need at least 1 dimension, got shapes {x.shape} and {w.shape}")
        kx, kw = x.shape[-1], w.shape[0] if w.ndim == 1 else w.shape[-2]
        if kx != kw:
            raise GateError(f"matmul: shapes {x.shape} and {w.shape} are not aligned: "
                            f"inner dimensions {kx} and {kw} differ")
        if x.dtype != w.dtype and x.dtype.kind == "f" and w.dtype.kind == "f":  # (as PyTorch: float64
            # beside float32 weights would otherwise quietly run the whole model in float64)
            raise GateError(f"matmul: operands are {x.dtype} and {w.dtype}; convert one of them "
                            "(.float() or .double())")
        self.save_for_backward(x, w)
        return np.matmul(x, w)

    def backward(self, g):
        x, w = self.saved
        if x.ndim == 2 and w.ndim == 2:  # the common case, straight to BLAS
            gx = g @ w.T if self.needs_grad[0] else None
            gw = x.T @ g if self.needs_grad[1] else None
            return self.unbroadcast(gx, gw)
        # Promote 1-D operands to matrices, and g with them, then drop the added axis.
        x2 = x[None, :] if x.ndim == 1 else x
        w2 = w[:, None] if w.ndim == 1 else w
        g2 = g[..., None] if w.ndim == 1 else g
        g2 = g2[..., None, :] if x.ndim == 1 else g2
        gx = gw = None
        if self.needs_grad[0]:
            gx = g2 @ _swap(w2)
            gx = gx[..., 0, :] if x.ndim == 1 else gx
        if self.needs_grad[1]:
            gw = _swap(x2) @ g2
            gw = gw[..., :, 0] if w.ndim == 1 else gw
        return self.unbroadcast(gx, gw)
