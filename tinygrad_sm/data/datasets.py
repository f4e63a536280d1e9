"""In-memory image datasets: MNIST, Fashion-MNIST, the embedded 5,000-digit MNIST sample,
and Subset / train_val_split to carve out a validation set."""
from __future__ import annotations

import difflib
import functools
import math
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import fetch
from .idx import IDXError, read_idx

Normalize = Union[bool, tuple[float, float], None]
Index = Union[int, slice, np.ndarray, Sequence[int]]

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
SAMPLE_FILE = "mnist_5k.npz"


def _check_normalize(normalize: Normalize, default: tuple[float, float], who: str) -> Optional[tuple[float, float]]:
    """None (keep [0, 1]), the dataset's own (mean, std) for True, or a validated (mean, std)."""
    if normalize is None or normalize is False:
        return None
    if normalize is True:
        return default
    try:
        mean, std = (float(v) for v in normalize)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{who}: normalize must be False, True or a (mean, std) pair of numbers, "
                         f"got {normalize!r}") from None
    if not (math.isfinite(mean) and math.isfinite(std)) or std <= 0:
        raise ValueError(f"{who}: normalize=(mean, std) needs a finite mean and a finite std > 0, "
                         f"got mean={mean}, std={std}")
    return mean, std


def _to_float(images: np.ndarray, stats: Optional[tuple[float, float]]) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1] (k/255 correctly rounded), then (x - mean) / std."""
    x = np.divide(images, np.float32(255), dtype=np.float32)
    if stats is not None:
        x -= np.float32(stats[0])
        x /= np.float32(stats[1])
    return x


def as_labels(y: Any, where: str) -> np.ndarray:
    """Class labels as int64. Floats must be whole numbers: 1.7 is an error, not class 1."""
    a = np.asarray(y)
    if a.dtype.kind in "iub":
        return a.astype(np.int64, copy=False)
    if a.dtype.kind == "f":
        whole = np.isfinite(a) & (a == np.round(a))
        if not whole.all():
            raise ValueError(f"{where}: class labels must be whole numbers, got {a[~whole][:3].tolist()}")
        return a.astype(np.int64)
    raise ValueError(f"{where}: class labels must be integers, got an array of {a.dtype}")


class ArrayDataset:
    """Images (N, 28, 28) float32 and labels (N,) int64 held in memory.

    `ds[idx]` returns (images[idx], labels[idx]) for an int, a slice or an index array.
    """

    name = "arrays"
    classes: list[str] = []

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: Optional[list[str]] = None) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{type(self).__name__}: {len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = as_labels(labels, type(self).__name__)
        if classes is not None:
            self.classes = list(classes)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: Index) -> tuple[np.ndarray, Any]:
        return self.images[idx], self.labels[idx]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n={len(self)}, images={self.images.shape} "
                f"{self.images.dtype}, classes={len(self.classes)})")


def _find_or_download(name: str, keys: tuple[str, str], root: Optional[os.PathLike | str], download: bool,
                      mirrors: Optional[Sequence[str]], progress: bool) -> tuple[Path, Path]:
    """Paths of the split's images and labels file: both from the first directory that has both,
    else downloaded into fetch.download_dir()."""
    remotes = [fetch.REMOTES[name][k] for k in keys]
    for d in fetch.search_dirs(name, root):
        found = [fetch.find_file(d, r.name) for r in remotes]
        if all(found):
            return found[0], found[1]   # type: ignore[return-value]
    bases = [r.name for r in remotes]
    if not download:
        raise fetch.DatasetNotFoundError(
            f"{name}: {' and '.join(bases)} not found (download=False).\n"
            + fetch.where_to_put(name, root, bases))
    dest = fetch.download_dir(name, root)
    paths = []
    for r in remotes:
        have = fetch.find_file(dest, r.name)
        if have is None:
            have = _download_one(name, r, dest / (r.name + ".gz"), root, mirrors, progress, bases)
        paths.append(have)
    return paths[0], paths[1]


def _download_one(name: str, remote: fetch.Remote, dest: Path, root: Optional[os.PathLike | str],
                  mirrors: Optional[Sequence[str]], progress: bool, bases: list[str]) -> Path:
    errors = []
    for base in fetch.mirrors_for(name, mirrors):
        try:
            return fetch.download(base + dest.name, dest, remote, progress=progress)
        except fetch.DownloadError as e:
            errors.append(f"  {e}")
    raise fetch.DownloadError(f"{name}: could not download {dest.name}:\n" + "\n".join(errors)
                              + "\n" + fetch.where_to_put(name, root, bases))


def _load_idx_pair(images_path: Path, labels_path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check an images file and a labels file."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IDXError(f"{images_path}: expected uint8 images of shape (N, 28, 28), got "
                       f"{images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IDXError(f"{labels_path}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise IDXError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    bad = np.flatnonzero(labels >= n_classes)
    if len(bad):
        raise IDXError(f"{labels_path}: label {labels[bad[0]]} at index {bad[0]} is out of range "
                       f"0..{n_classes - 1} ({len(bad)} such labels)")
    return images, labels


class MNIST(ArrayDataset):
    """The MNIST handwritten digits: 60,000 train / 10,000 test images, 28x28, classes "0".."9".

    MNIST(root=None, train=True, download=True, normalize=False, *, mirrors=None, progress=True)

    Files are looked for in root, $TINYGRAD_SM_DATA, the user cache and system directories
    (tinygrad_sm.data.search_dirs) and downloaded, SHA-256 checked, when missing and download is
    true. `normalize`: False keeps [0, 1]; True uses the dataset's usual (mean, std); or give
    your own (mean, std). `mirrors` (base URLs) overrides the download locations.
    """

    name = "mnist"
    classes = MNIST_CLASSES
    mean_std = (0.1307, 0.3081)   # the figures PyTorch's MNIST example uses (train split)

    def __init__(self, root: Optional[os.PathLike | str] = None, train: bool = True, download: bool = True,
                 normalize: Normalize = False, *, mirrors: Optional[Sequence[str]] = None,
                 progress: bool = True) -> None:
        stats = _check_normalize(normalize, self.mean_std, type(self).__name__)
        keys = ("train-images", "train-labels") if train else ("test-images", "test-labels")
        self.images_path, self.labels_path = _find_or_download(self.name, keys, root, download, mirrors, progress)
        images, labels = _load_idx_pair(self.images_path, self.labels_path, len(self.classes))
        self.train = train
        super().__init__(_to_float(images, stats), labels)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: MNIST's format and sizes, ten kinds of clothing.

    Same arguments as MNIST. Debian's dataset-fashion-mnist package
    (/usr/share/datasets/fashion-mnist) is found without a download.
    """

    name = "fashion-mnist"
    classes = FASHION_CLASSES
    mean_std = (0.2860, 0.3530)   # of the 60,000 train images (computed from Debian's files)


@functools.lru_cache(maxsize=1)
def _sample_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from importlib.resources import as_file, files
    with as_file(files("tinygrad_sm") / "_sample" / SAMPLE_FILE) as path:
        with np.load(path, allow_pickle=False) as z:
            arrays = z["images"], z["labels"], z["is_test"]
    for a in arrays:
        a.flags.writeable = False    # shared by every MNISTSample through the cache
    return arrays


class MNISTSample(ArrayDataset):
    """5,000 real MNIST training digits (500 per class) shipped inside the package: works offline.

    MNISTSample(train=True, normalize=False): a fixed stratified split, 4,000 train (400 per
    class) / 1,000 test (100 per class), drawn once with a seed by tools/make_mnist_sample.py
    and stored in the file, so it never depends on NumPy's random streams. All 5,000 come from
    MNIST's training set (see docs/data.md).
    """

    name = "mnist-sample"
    classes = MNIST_CLASSES
    mean_std = (0.1307, 0.3081)   # full MNIST's figures; the sample's own are within 0.005

    def __init__(self, train: bool = True, normalize: Normalize = False) -> None:
        stats = _check_normalize(normalize, self.mean_std, type(self).__name__)
        images, labels, is_test = _sample_arrays()
        keep = ~is_test if train else is_test
        self.train = train
        super().__init__(_to_float(images[keep], stats), labels[keep])


DATASETS = {"mnist-sample": MNISTSample, "mnist": MNIST, "fashion-mnist": FashionMNIST}
"""The dataset names get_dataset() and `tinygrad-sm train --dataset` accept, and their classes."""


def check_name(name: str) -> None:
    """Raise ValueError, with the nearest valid name, unless get_dataset() knows `name`."""
    if name not in DATASETS:
        close = difflib.get_close_matches(str(name), DATASETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown dataset {name!r}{hint}; valid names: "
                         + ", ".join(repr(n) for n in DATASETS))


def get_dataset(name: str, train: bool = True, root: Optional[os.PathLike | str] = None,
                download: bool = True, **kwargs: Any) -> ArrayDataset:
    """A dataset by name: "mnist-sample" (embedded; root, download, mirrors and progress are
    ignored), "mnist" or "fashion-mnist". Extra keyword arguments (normalize, mirrors, progress)
    go to the class."""
    check_name(name)
    if name == "mnist-sample":  # (nothing to find or download: drop what only that needs)
        return MNISTSample(train=train, **{k: v for k, v in kwargs.items() if k not in ("mirrors", "progress")})
    return DATASETS[name](root=root, train=train, download=download, **kwargs)


class Subset:
    """The items of `dataset` at `indices` (in that order), as a dataset of its own."""

    def __init__(self, dataset: Any, indices: Union[np.ndarray, Sequence[int]]) -> None:
        idx = np.asarray(indices)
        if idx.size == 0:
            idx = idx.astype(np.int64)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"Subset: indices must be a 1-D array of integers, got {idx.dtype} {idx.shape}")
        n = len(dataset)
        bad = np.flatnonzero((idx < 0) | (idx >= n))
        if len(bad):
            raise IndexError(f"Subset: index {idx[bad[0]]} (position {bad[0]}) is out of range for a "
                             f"dataset of length {n}")
        self.dataset, self.indices = dataset, idx.astype(np.int64)
        self.classes = list(getattr(dataset, "classes", []))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, idx: Index) -> tuple[np.ndarray, Any]:
        return self.dataset[self.indices[idx]]

    @functools.cached_property
    def images(self) -> np.ndarray:
        return self.dataset.images[self.indices]

    @functools.cached_property
    def labels(self) -> np.ndarray:
        return self.dataset.labels[self.indices]

    def __repr__(self) -> str:
        return f"Subset(n={len(self)} of {self.dataset!r})"


def train_val_split(dataset: Any, val_fraction: float = 0.1, seed: int = 0) -> tuple[Subset, Subset]:
    """Split into (train, val) Subsets, stratified: each class gives round(val_fraction * its
    count) items to val, chosen by a Generator seeded with `seed`. Indices stay in dataset order."""
    if not (isinstance(val_fraction, (int, float, np.integer, np.floating)) and not isinstance(val_fraction, bool)
            and 0 < val_fraction < 1):
        raise ValueError(f"train_val_split: val_fraction must be in (0, 1), got {val_fraction!r}")
    labels = np.asarray(dataset.labels)
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        is_val[rng.permutation(members)[:round(val_fraction * len(members))]] = True
    n_val = int(is_val.sum())
    if n_val == 0 or n_val == len(labels):
        raise ValueError(f"train_val_split: val_fraction={val_fraction} of {len(labels)} items leaves "
                         f"{'no validation' if n_val == 0 else 'no training'} items")
    return Subset(dataset, np.flatnonzero(~is_val)), Subset(dataset, np.flatnonzero(is_val))
