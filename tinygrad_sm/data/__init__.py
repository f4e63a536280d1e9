"""Datasets and mini-batches: MNIST, Fashion-MNIST, an embedded MNIST sample, and DataLoader.

    from tinygrad_sm.data import get_dataset, DataLoader
    train = get_dataset("mnist-sample", train=True)      # offline: 4,000 digits in the package
    for x, y in DataLoader(train, batch_size=64, shuffle=True, seed=0, flatten=True):
        ...                                              # x (64, 784) float32, y (64,) int64

Full datasets ("mnist", "fashion-mnist") are read from local IDX files or downloaded; see
docs/data.md for where files are looked for and how downloads are verified.
"""
from .datasets import (
    DATASETS, ArrayDataset, FashionMNIST, MNIST, MNISTSample, Subset, check_name, get_dataset,
    train_val_split,
)
from .fetch import DatasetNotFoundError, DownloadError, cache_dir, search_dirs
from .idx import IDXError, read_idx
from .loader import DataLoader

__all__ = [
    "read_idx", "IDXError", "MNIST", "FashionMNIST", "MNISTSample", "ArrayDataset", "get_dataset",
    "DATASETS", "check_name", "Subset", "train_val_split", "DataLoader", "DatasetNotFoundError", "DownloadError",
    "search_dirs", "cache_dir",
]
