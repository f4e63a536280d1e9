"""DataLoader: mini-batches of (x, y) Tensors, gathered with one index array per batch."""
from __future__ import annotations

from typing import Any, Iterator, Optional

import numpy as np

from .. import creation
from .._checks import is_int
from ..tensor import Tensor
from .datasets import ArrayDataset, Subset, as_labels


class DataLoader:
    """Iterate over `dataset` in batches of (x, y) Tensors (x float32, y int64).

    DataLoader(dataset, batch_size=64, shuffle=False, seed=None, drop_last=False, flatten=False,
               by_item=None)

    With shuffle=True, epoch k visits the items in the order
    numpy.random.default_rng([seed, k]).permutation(len(dataset)): every epoch is reshuffled,
    and the same seed gives the same batches run after run (seed=None draws one from
    tinygrad_sm.manual_seed's generator, so that manual_seed(k) repeats the order, as in PyTorch).
    Each pass (`for x, y in loader`) is the next epoch; `set_epoch(k)` jumps to epoch k.
    flatten=True gives x of shape (B, 784) instead of (B, 28, 28). `len(loader)` is the number
    of batches. Without shuffling, batches of an in-memory dataset are read-only views of it.

    `dataset` is anything with __len__ and a __getitem__ that takes an int index array and
    returns (images, labels) arrays: the datasets in tinygrad_sm.data, Subset, your own. A
    PyTorch-style dataset, whose __getitem__ takes one int and returns one (x, y) pair (or a list
    of such pairs), works too: the loader then fetches a batch item by item and stacks it. Which
    way is found at the first batch, fetched both ways (index arrays are kept only if they give
    the same batch: a dataset that draws random augmentations, or counts its reads, should say
    with by_item=False or True instead).
    """

    def __init__(self, dataset: Any, batch_size: int = 64, shuffle: bool = False, seed: Optional[int] = None,
                 drop_last: bool = False, flatten: bool = False, by_item: Optional[bool] = None) -> None:
        if not is_int(batch_size) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if seed is not None and (not is_int(seed) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative int or None, got {seed!r}")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last), ("flatten", flatten)):
            if not isinstance(flag, (bool, np.bool_)):  # (bool("False") is True)
                raise ValueError(f"DataLoader: {name} must be True or False, got {flag!r}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last, self.flatten = bool(shuffle), bool(drop_last), bool(flatten)
        # without a seed, one from manual_seed's generator: a script that calls manual_seed first
        # gets the same batches each run, and two loaders still shuffle differently
        self.seed = int(seed) if seed is not None else int(creation._gen(None).integers(0, 1 << 63))
        self.epoch = 0
        if by_item is not None and not isinstance(by_item, bool):
            raise ValueError(f"DataLoader: by_item must be True, False or None, got {by_item!r}")
        self._by_item: Optional[bool] = by_item  # None: found at the first batch (index arrays, or one by one)

    def __len__(self) -> int:
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch `epoch` (its order depends only on seed and epoch)."""
        if not is_int(epoch) or epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be an int >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The item order of epoch `epoch`."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(n)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        # unshuffled in-memory datasets are sliced (views); everything else gets index arrays
        sliced = not self.shuffle and isinstance(self.dataset, ArrayDataset)
        order = None if sliced else self.order(epoch)
        b = self.batch_size
        for i in range(len(self)):
            if order is None:
                x, y = self.dataset[i * b:(i + 1) * b]
                x, y = _readonly(x), _readonly(y)
            else:
                x, y = self._gather(order[i * b:(i + 1) * b])
            yield self._wrap(x, y)

    def _gather(self, idx: np.ndarray) -> tuple[Any, Any]:
        """The items at idx. With one index array where that gives the batch the items would
        give one by one; else item by item, stacked (a PyTorch-style dataset whose __getitem__
        happens to take an array may still compute per item, e.g. normalise each image). Which
        one is decided at the first batch, by fetching it both ways; this library's datasets
        take index arrays."""
        if self._by_item is None:
            inner = self.dataset
            while isinstance(inner, Subset):  # (a Subset hands the index array on to what it wraps)
                inner = inner.dataset
            if isinstance(inner, ArrayDataset):
                self._by_item = False
        if self._by_item is not None:
            if self._by_item:
                return self._one_by_one(idx)
            x, y = self.dataset[idx]
            return _array(x), _array(y)  # (as the first batch was: a list of labels, a Tensor)
        try:
            got = self.dataset[idx]
            if not (isinstance(got, (tuple, list)) and len(got) == 2):  # (a dict would unpack its keys)
                raise TypeError(f"it gave a {type(got).__name__}, not an (images, labels) pair")
            whole: Optional[tuple[np.ndarray, np.ndarray]] = (_array(got[0]), _array(got[1]))
        except Exception as e:  # (a PyTorch dataset given an array may raise anything, even RuntimeError)
            whole, first = None, e
        try:
            items = self._one_by_one(idx)
        except Exception as e:
            if whole is None:
                raise TypeError(f"DataLoader: {type(self.dataset).__name__}[index array] failed ({first}), and so "
                                f"did taking one item at a time ({type(e).__name__}: {e}); a dataset needs "
                                "__getitem__ that takes an int index array and returns (images, labels), or "
                                "takes an int and returns one (image, label) pair") from e
            self._by_item = False
            return whole
        self._by_item = whole is None or not _same(whole, items)
        return items

    def _one_by_one(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pairs = [self.dataset[int(i)] for i in idx]
        if not pairs:
            return np.empty((0,)), np.empty((0,), np.int64)
        bad = next((p for p in pairs if not (isinstance(p, (tuple, list)) and len(p) == 2)), None)
        if bad is not None:
            raise TypeError(f"DataLoader: {type(self.dataset).__name__}[i] gave a {type(bad).__name__}; "
                            "an item must be an (image, label) pair")
        xs, ys = zip(*[(_array(p[0]), _array(p[1])) for p in pairs])
        return np.stack(xs), np.asarray(ys)

    def _wrap(self, x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y if y.dtype == np.int64 else as_labels(y, "DataLoader"))
        if self.flatten:
            x = x.reshape(len(x), -1)
        return Tensor._wrap(x), Tensor._wrap(y)

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"seed={self.seed}, drop_last={self.drop_last}, flatten={self.flatten})")


def _array(v: Any) -> np.ndarray:
    return v.data if isinstance(v, Tensor) else np.asarray(v)


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    """The same batch, values and shapes (NaN equal to NaN)."""
    try:
        return all(u.shape == v.shape and np.array_equal(u, v, equal_nan=u.dtype.kind in "fc")
                   for u, v in zip(a, b))
    except (TypeError, ValueError):
        return False


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view, so a batch sliced out of the dataset cannot be used to modify it."""
    v = np.asarray(a).view()
    v.flags.writeable = False
    return v
