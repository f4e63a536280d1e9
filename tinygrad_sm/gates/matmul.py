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
        need = self.needs_grad  # (empty when not recorded) dX needs W, dW needs X
        if need:
            self.save_for_backward(x if need[1] else None, w if need[0] else None)
        return np.matmul(x, w)

    def backward(self, g):
        x, w = self.saved
        need_x, need_w = self.needs_grad
        x_nd, w_nd = len(self.shapes[0]), len(self.shapes[1])  # (the unneeded operand is not kept)
        if x_nd == 2 and w_nd == 2:  # the common case, straight to BLAS
            gx = g @ w.T if need_x else None
            gw = x.T @ g if need_w else None
            return self.unbroadcast(gx, gw)
        # Promote 1-D operands to matrices, and g with them, then drop the added axis.
        x_1d, w_1d = x_nd == 1, w_nd == 1
        g2 = g[..., None] if w_1d else g
        g2 = g2[..., None, :] if x_1d else g2
        gx = gw = None
        if need_x:
            gx = g2 @ _swap(w[:, None] if w_1d else w)
            gx = gx[..., 0, :] if x_1d else gx
        if need_w:
            gw = _swap(x[None, :] if x_1d else x) @ g2
            gw = gw[..., :, 0] if w_1d else gw
        return self.unbroadcast(gx, gw)
