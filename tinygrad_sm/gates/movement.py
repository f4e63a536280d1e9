"""Shape gates: they move values around without changing them, so backward moves the
gradient back the same way (reshape back, permute back, sum what was copied, scatter what
was picked)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Domain, Gate, GateError


class Reshape(Gate):
    """z = x viewed with a new shape (also flatten, squeeze, unsqueeze).  dz/dx reshapes g back."""

    domain = Domain("reshape")

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x):
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise GateError(f"reshape: cannot view a tensor of shape {x.shape} ({x.size} elements) "
                            f"as shape {tuple(self.shape)}") from None

    def backward(self, g):
        return g.reshape(self.shapes[0])


class Permute(Gate):
    """z = x with its axes reordered (transpose, .T).  dz/dx applies the inverse permutation to g."""

    domain = Domain("permute")

    def __init__(self, axes: tuple[int, ...]):
        self.axes = axes

    def forward(self, x):
        if sorted(a % max(x.ndim, 1) for a in self.axes) != list(range(x.ndim)):
            raise GateError(f"permute: {tuple(self.axes)} is not a permutation of the {x.ndim} axes "
                            f"of a tensor of shape {x.shape}")
        return np.transpose(x, self.axes)

    def backward(self, g):
        return np.transpose(g, np.argsort([a % g.ndim for a in self.axes]))


class Expand(Gate):
    """z = x broadcast to a larger shape (copies without copying).  Every copy of an element
    sends its gradient back, so dz/dx sums g over the broadcast dimensions."""

    domain = Domain("expand")

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def forward(self, x):
        try:
            return np.broadcast_to(x, self.shape)
        except ValueError:
            raise GateError(f"expand: cannot broadcast shape {x.shape} to {tuple(self.shape)}") from None

    def backward(self, g):
        return self.unbroadcast(g)[0]


class Concat(Gate):
    """z = the inputs joined along an existing axis.  dz/dx_i is x_i's slice of g."""

    domain = Domain("concat")

    def __init__(self, axis: int = 0):
        self.axis = axis

    def forward(self, *xs):
        try:
            return np.concatenate(xs, axis=self.axis)
        except ValueError as e:
            raise GateError(f"cat: cannot join shapes {[x.shape for x in xs]} along axis {self.axis}: {e}") from None

    def backward(self, g):
        bounds = np.cumsum([s[self.axis] for s in self.shapes])[:-1]
        return self.unbroadcast(*np.split(g, bounds, axis=self.axis))  # unbroadcast casts dtypes


class Stack(Gate):
    """z = the inputs stacked along a new axis.  dz/dx_i is g's i-th slice along that axis."""

    domain = Domain("stack")

    def __init__(self, axis: int = 0):
        self.axis = axis

    def forward(self, *xs):
        try:
            return np.stack(xs, axis=self.axis)
        except ValueError as e:
            raise GateError(f"stack: cannot stack shapes {[x.shape for x in xs]}: {e}") from None

    def backward(self, g):
        return self.unbroadcast(*np.moveaxis(g, self.axis, 0))


_BASIC = (int, np.integer, slice, type(None), type(Ellipsis))


def _is_advanced(index: Any) -> bool:
    """Whether NumPy reads some item of the index as an array (an array, a list, a tuple inside
    the index, a range, a bool), which may pick an element more than once."""
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (bool, np.bool_)) or not isinstance(i, _BASIC) for i in items)


class GetItem(Gate):
    """z = x[index]: basic slicing or integer-array indexing.  dz/dx scatters g back into a
    zero tensor of x's shape; an element picked twice gets both gradients (np.add.at adds
    repeated indices instead of overwriting them)."""

    domain = Domain("getitem")

    def __init__(self, index: Any):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, g):
        gx = np.zeros(self.shapes[0], dtype=g.dtype)
        add_at_index(gx, self.index, g)
        return gx


def add_at_index(total: np.ndarray, index: Any, g: np.ndarray) -> None:
    """total[index] += g, an element picked twice getting both (np.add.at for array indices; basic
    slices never repeat an element). The engine calls this for GetItem directly, adding each slice's
    gradient into one array for x, instead of a zero array per slice (see tensor.run_backward)."""
    if _is_advanced(index):
        np.add.at(total, index, g)
    else:
        total[index] += g


def gather_index(index: np.ndarray, dim: int) -> tuple[np.ndarray, ...]:
    """The full index of x.gather(dim, index): index itself along dim, and along every other
    axis d the positions 0..index.shape[d]-1 (broadcast: no array of x's size is made)."""
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


class Gather(Gate):
    """z[..., i, ...] = x[..., index[..., i, ...], ...] along dim (PyTorch's gather: index has
    x's number of dimensions, and is no larger than x along the others).  dz/dx scatters g back
    to the picked places, adding where one is picked twice (np.add.at)."""

    domain = Domain("gather")

    def __init__(self, dim: int, index: np.ndarray):
        self.dim, self.index = dim, np.array(index, copy=True)  # (the caller may change theirs before backward)

    def forward(self, x):
        idx = np.asarray(self.index)
        if idx.ndim != x.ndim or idx.dtype.kind not in "iu":
            raise GateError(f"gather: index must be integers with the input's {x.ndim} dimensions, "
                            f"got {idx.dtype} of shape {idx.shape}")
        d = self.dim % max(x.ndim, 1)
        if any(idx.shape[a] > x.shape[a] for a in range(x.ndim) if a != d):
            raise GateError(f"gather: index of shape {idx.shape} is larger than the input {x.shape} "
                            f"along a dimension other than dim {self.dim}")
        if idx.size and (idx.min() < 0 or idx.max() >= x.shape[d]):  # (negative ones too, as PyTorch)
            raise GateError(f"gather: index {int(idx.max() if idx.max() >= x.shape[d] else idx.min())} is "
                            f"out of range for dim {self.dim} of size {x.shape[d]}")
        self.full = gather_index(idx, d)
        return x[self.full]

    def backward(self, g):
        gx = np.zeros(self.shapes[0], dtype=g.dtype)
        np.add.at(gx, self.full, g)
        return gx
