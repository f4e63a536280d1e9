"""tinygrad_sm.data: IDX reading, dataset search and download, the embedded sample, DataLoader."""
import gzip
import hashlib
import io
import os
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm.data import (
    DataLoader, DatasetNotFoundError, DownloadError, FashionMNIST, IDXError, MNIST, MNISTSample, Subset,
    get_dataset, read_idx, search_dirs, train_val_split,
)
from tinygrad_sm.data import datasets as dsmod
from tinygrad_sm.data import fetch
from tinygrad_sm.data.datasets import ArrayDataset

# IDX dtype codes, written independently of the reader under test
CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
         np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
NAMES = {"train-images": "train-images-idx3-ubyte", "train-labels": "train-labels-idx1-ubyte",
         "test-images": "t10k-images-idx3-ubyte", "test-labels": "t10k-labels-idx1-ubyte"}
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(arr: np.ndarray, code=None) -> bytes:
    be = arr.astype(arr.dtype.newbyteorder(">"))
    code = CODES[be.dtype] if code is None else code
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + be.tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = False, code=None) -> Path:
    data = idx_bytes(arr, code)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_split(d: Path, split: str, n: int, seed: int, gz: bool = True):
    """A fake MNIST split (uint8 images, labels 0..9) in d; returns (images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    d.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    write_idx(d / (NAMES[f"{split}-images"] + ext), images, gz)
    write_idx(d / (NAMES[f"{split}-labels"] + ext), labels, gz)
    return images, labels


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No test sees the user's cache, env variables, system datasets or the internet."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for var in ("TINYGRAD_SM_DATA", *fetch.MIRROR_ENV.values()):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(fetch, "SYSTEM_DIRS", {"mnist": [], "fashion-mnist": []})
    monkeypatch.setattr(fetch, "MIRRORS", {k: ("http://127.0.0.1:9/",) for k in fetch.MIRRORS})


# ---------------------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, rng, dtype, shape, gz):
    arr = (rng.standard_normal(shape) * 100).astype(dtype)
    out = read_idx(write_idx(tmp_path / "a.idx", arr, gz))
    assert out.shape == shape and out.dtype == arr.dtype.newbyteorder("=")
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable


def test_idx_empty_dimension(tmp_path):
    out = read_idx(write_idx(tmp_path / "e.idx", np.zeros((0, 28, 28), np.uint8)))
    assert out.shape == (0, 28, 28)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_bad_magic(tmp_path, gz):
    data = b"\x01" + idx_bytes(np.zeros(4, np.uint8))[1:]
    p = tmp_path / "m.idx"
    p.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(IDXError, match=r"m\.idx: bad IDX magic number 0x01000801"):
        read_idx(p)


def test_idx_unknown_dtype_code(tmp_path):
    p = write_idx(tmp_path / "c.idx", np.zeros(4, np.uint8), code=0x0A)
    with pytest.raises(IDXError, match=r"c\.idx: unknown IDX dtype code 0x0A \(expected one of 0x08"):
        read_idx(p)


def test_idx_zero_dimensions(tmp_path):
    (tmp_path / "z.idx").write_bytes(bytes([0, 0, 8, 0]))
    with pytest.raises(IDXError, match="0 dimensions"):
        read_idx(tmp_path / "z.idx")


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_payload(tmp_path, gz):
    data = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))[:-7]
    p = tmp_path / "t.idx"
    p.write_bytes(gzip.compress(data) if gz else data)
    msg = r"t\.idx: truncated.*(3, 4, 5).*60 bytes"
    with pytest.raises(IDXError, match=msg):
        read_idx(p)


def test_idx_truncated_payload_reports_bytes_got(tmp_path):
    data = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))[:-7]
    p = tmp_path / "t.gz"
    p.write_bytes(gzip.compress(data))
    with pytest.raises(IDXError, match=r"needs 60 bytes of data after the 16-byte header, got 53"):
        read_idx(p)


@pytest.mark.parametrize("cut", [0, 1, 3, 6, 9])
def test_idx_truncated_header(tmp_path, cut):
    p = tmp_path / "h.idx"
    p.write_bytes(idx_bytes(np.zeros((2, 2), np.uint8))[:cut])
    with pytest.raises(IDXError, match=r"h\.idx: .*(too short|truncated header)"):
        read_idx(p)


def test_idx_huge_header_is_rejected_without_allocating(tmp_path):
    # a header promising 4e9 x 4e9 bytes; gzip'd so the size check, not the read, must catch it
    p = tmp_path / "big.gz"
    p.write_bytes(gzip.compress(bytes([0, 0, 8, 2]) + struct.pack(">2I", 4_000_000_000, 4_000_000_000)))
    with pytest.raises(IDXError, match=r"big\.gz: truncated: header promises shape"):
        read_idx(p)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_extra_bytes(tmp_path, gz):
    data = idx_bytes(np.zeros((2, 3), np.uint8)) + b"\x00" * 5
    p = tmp_path / "x.idx"
    p.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(IDXError, match=r"x\.idx: 5 extra bytes after the 6 bytes of data"):
        read_idx(p)


def test_idx_gzip_garbage(tmp_path):
    p = tmp_path / "g.gz"
    p.write_bytes(b"\x1f\x8b" + bytes(range(200)))
    with pytest.raises(IDXError, match=r"g\.gz: corrupt gzip data"):
        read_idx(p)


def test_idx_gzip_cut_in_half(tmp_path, rng):
    comp = gzip.compress(idx_bytes(rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)))
    p = tmp_path / "half.gz"
    p.write_bytes(comp[:len(comp) // 2])
    with pytest.raises(IDXError, match=r"half\.gz: (corrupt gzip data|truncated)"):
        read_idx(p)


# ------------------------------------------------------------- dataset-level content checks
def test_images_labels_count_mismatch(tmp_path):
    d = tmp_path / "r" / "mnist"
    write_split(d, "train", 10, seed=0)
    write_idx(d / (NAMES["train-labels"] + ".gz"), np.zeros(9, np.uint8), gz=True)
    with pytest.raises(IDXError, match=r"has 10 images but .*train-labels-idx1-ubyte\.gz has 9 labels"):
        MNIST(root=tmp_path / "r", download=False)


def test_label_out_of_range(tmp_path):
    d = tmp_path / "r" / "mnist"
    write_split(d, "test", 10, seed=0)
    labels = np.zeros(10, np.uint8)
    labels[[4, 7]] = [10, 255]
    write_idx(d / (NAMES["test-labels"] + ".gz"), labels, gz=True)
    with pytest.raises(IDXError, match=r"label 10 at index 4 is out of range 0\.\.9 \(2 such labels\)"):
        MNIST(root=tmp_path / "r", train=False, download=False)


def test_wrong_image_shape_and_dtype(tmp_path):
    d = tmp_path / "r" / "mnist"
    write_split(d, "train", 4, seed=0)
    write_idx(d / (NAMES["train-images"] + ".gz"), np.zeros((4, 28, 27), np.uint8), gz=True)
    with pytest.raises(IDXError, match=r"expected uint8 images of shape \(N, 28, 28\), got uint8 \(4, 28, 27\)"):
        MNIST(root=tmp_path / "r", download=False)
    write_idx(d / (NAMES["train-images"] + ".gz"), np.zeros((4, 28, 28), ">f4"), gz=True)
    with pytest.raises(IDXError, match=r"got float32 \(4, 28, 28\)"):
        MNIST(root=tmp_path / "r", download=False)


def test_normalize_arguments(tmp_path):
    for bad in [(0.5, 0.0), (0.5, -1.0), (float("nan"), 1.0), (0.1, float("inf")), "yes", (1, 2, 3)]:
        with pytest.raises(ValueError, match="MNISTSample: normalize"):
            MNISTSample(normalize=bad)
    x = MNISTSample(train=True).images
    z = MNISTSample(train=True, normalize=(0.5, 0.25)).images
    np.testing.assert_allclose(z, (x - 0.5) / 0.25, rtol=1e-6, atol=1e-6)
    d = tmp_path / "r" / "mnist"
    write_split(d, "train", 5, seed=0)
    with pytest.raises(ValueError, match="MNIST: normalize"):
        MNIST(root=tmp_path / "r", download=False, normalize=(0, 0))


# ---------------------------------------------------------------------------- search order
def test_search_order(tmp_path, monkeypatch):
    dirs = {"root": tmp_path / "root" / "fashion-mnist", "env": tmp_path / "env" / "fashion-mnist",
            "cache": tmp_path / "xdg" / "tinygrad_sm" / "fashion-mnist", "system": tmp_path / "sys"}
    data = {k: write_split(d, "train", 6 + i, seed=i) for i, (k, d) in enumerate(dirs.items())}
    monkeypatch.setenv("TINYGRAD_SM_DATA", str(tmp_path / "env"))
    monkeypatch.setitem(fetch.SYSTEM_DIRS, "fashion-mnist", [str(dirs["system"])])
    assert search_dirs("fashion-mnist", tmp_path / "root") == [
        dirs["root"], tmp_path / "root", dirs["env"], dirs["cache"], dirs["system"]]

    def check(which, root=None):
        ds = FashionMNIST(root=root, download=False)
        assert ds.images_path.parent == dirs[which]
        np.testing.assert_array_equal(ds.labels, data[which][1])
        np.testing.assert_array_equal(ds.images, data[which][0] / np.float32(255))

    check("root", tmp_path / "root")
    check("env")
    monkeypatch.delenv("TINYGRAD_SM_DATA")
    check("cache")
    for f in dirs["cache"].iterdir():
        f.unlink()
    check("system")


def test_root_itself_and_raw_files(tmp_path):
    images, labels = write_split(tmp_path / "flat", "test", 7, seed=3, gz=False)
    ds = MNIST(root=tmp_path / "flat", train=False, download=False)
    assert ds.images_path == tmp_path / "flat" / NAMES["test-images"]
    np.testing.assert_array_equal(ds.labels, labels)
    assert len(ds) == 7 and ds.images.dtype == np.float32 and ds.labels.dtype == np.int64


def test_half_a_split_in_a_directory_is_skipped(tmp_path, monkeypatch):
    # the root has only the images file; the pair must come from one directory (the env one)
    write_split(tmp_path / "root" / "mnist", "train", 5, seed=0)
    (tmp_path / "root" / "mnist" / (NAMES["train-labels"] + ".gz")).unlink()
    _, labels = write_split(tmp_path / "env" / "mnist", "train", 8, seed=1)
    monkeypatch.setenv("TINYGRAD_SM_DATA", str(tmp_path / "env"))
    ds = MNIST(root=tmp_path / "root", download=False)
    np.testing.assert_array_equal(ds.labels, labels)


def test_not_found_says_where_to_put_files(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        FashionMNIST(root=tmp_path / "nowhere", download=False)
    msg = str(e.value)
    for d in search_dirs("fashion-mnist", tmp_path / "nowhere"):
        assert str(d) in msg
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert "TINYGRAD_SM_DATA" in msg


# -------------------------------------------------------------------------------- download
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status, body, declared = self.server.routes.get(self.path, (404, b"no such file", None))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if declared is None else declared))
        self.end_headers()
        self.wfile.write(body)   # declared > len(body): the connection closes early

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes = {}
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.routes
    httpd.shutdown()
    httpd.server_close()


def serve_split(routes, prefix, monkeypatch, n=9, seed=0):
    """Serve a generated train split under prefix/ and make REMOTES["mnist"] trust it."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
              "train-labels": rng.integers(0, 10, n).astype(np.uint8)}
    remotes = dict(fetch.REMOTES["mnist"])
    for key, arr in arrays.items():
        raw = idx_bytes(arr)
        gz = gzip.compress(raw, mtime=0)
        routes[f"{prefix}/{NAMES[key]}.gz"] = (200, gz, None)
        remotes[key] = fetch.Remote(NAMES[key], hashlib.sha256(gz).hexdigest(), hashlib.sha256(raw).hexdigest())
    monkeypatch.setitem(fetch.REMOTES, "mnist", remotes)
    return arrays


def leftovers(d: Path):
    return sorted(p.name for p in d.rglob("*")) if d.exists() else []


def test_download_success(tmp_path, server, monkeypatch, capfd):
    url, routes = server
    arrays = serve_split(routes, "/m", monkeypatch)
    ds = MNIST(root=tmp_path / "r", mirrors=[url + "/m"])
    np.testing.assert_array_equal(ds.labels, arrays["train-labels"])
    np.testing.assert_array_equal(ds.images, arrays["train-images"] / np.float32(255))
    assert leftovers(tmp_path / "r") == ["mnist", NAMES["train-images"] + ".gz", NAMES["train-labels"] + ".gz"]
    err = capfd.readouterr().err  # (not a terminal: one line a file, no redrawn bar)
    assert [l.split(" (")[0] for l in err.splitlines()] == [f"downloaded {NAMES[k]}.gz"
                                                           for k in ("train-images", "train-labels")]
    assert err.splitlines()[1].endswith(" bytes)")  # (9 labels and a header: 17 bytes, gzipped)
    assert "\r" not in err
    # second time: found locally, the server is not asked again
    routes.clear()
    MNIST(root=tmp_path / "r", mirrors=[url + "/m"], progress=False)


def test_download_goes_to_cache_and_mirror_env(tmp_path, server, monkeypatch):
    url, routes = server
    serve_split(routes, "/env", monkeypatch)
    monkeypatch.setenv("TINYGRAD_SM_MNIST_MIRRORS", f"{url}/missing, {url}/env")
    MNIST(progress=False)     # first mirror 404s, the second serves
    assert (tmp_path / "xdg" / "tinygrad_sm" / "mnist" / (NAMES["train-images"] + ".gz")).is_file()


@pytest.mark.parametrize("bad", ["/srv/mnist", "http://[::1", "ftp-ish:nothing"])
def test_a_mirror_urllib_cannot_open_is_one_failed_mirror_not_the_end_of_the_search(
        tmp_path, server, monkeypatch, bad):
    url, routes = server
    serve_split(routes, "/m", monkeypatch)
    MNIST(root=tmp_path / "r", mirrors=[bad, url + "/m"], progress=False)  # (the second one serves)
    assert (tmp_path / "r" / "mnist" / (NAMES["train-images"] + ".gz")).is_file()
    with pytest.raises(DownloadError) as e:
        MNIST(root=tmp_path / "r2", mirrors=[bad], progress=False)
    assert bad in str(e.value) and leftovers(tmp_path / "r2" / "mnist") == []


def test_download_accepts_recompressed_archive(tmp_path, server, monkeypatch):
    # a mirror that re-gzipped the file (as Debian did) has another archive hash, same content
    url, routes = server
    serve_split(routes, "/m", monkeypatch)
    for path, (status, body, declared) in list(routes.items()):
        routes[path] = (status, gzip.compress(gzip.decompress(body), compresslevel=1, mtime=12345), None)
    MNIST(root=tmp_path / "r", mirrors=url + "/m", progress=False)


def test_download_checksum_mismatch_leaves_nothing(tmp_path, server, monkeypatch):
    url, routes = server
    serve_split(routes, "/m", monkeypatch)
    path = f"/m/{NAMES['train-images']}.gz"
    body = bytearray(gzip.decompress(routes[path][1]))
    body[-1] ^= 1   # one pixel differs
    routes[path] = (200, gzip.compress(bytes(body)), None)
    with pytest.raises(DownloadError, match=r"SHA-256 mismatch: expected [0-9a-f]{64} \(gz\)") as e:
        MNIST(root=tmp_path / "r", mirrors=[url + "/m"], progress=False)
    assert "Searched, in order" in str(e.value)
    assert leftovers(tmp_path / "r" / "mnist") == []


@pytest.mark.parametrize("status", [404, 500])
@pytest.mark.parametrize("failing", ["train-images", "train-labels"])
def test_download_http_error_leaves_nothing(tmp_path, server, monkeypatch, status, failing):
    url, routes = server
    serve_split(routes, "/m", monkeypatch)
    routes[f"/m/{NAMES[failing]}.gz"] = (status, b"oops", None)
    with pytest.raises(DownloadError, match=rf"{NAMES[failing]}\.gz: HTTP {status}"):
        MNIST(root=tmp_path / "r", mirrors=[url + "/m"], progress=False)
    # only a complete, verified file may stay (the images, when the labels failed); no .part file
    expected = [] if failing == "train-images" else [NAMES["train-images"] + ".gz"]
    assert leftovers(tmp_path / "r" / "mnist") == expected


def test_download_interrupted_leaves_nothing(tmp_path, server, monkeypatch):
    url, routes = server
    serve_split(routes, "/m", monkeypatch)

    def interrupt(self, done):
        raise KeyboardInterrupt
    monkeypatch.setattr(fetch._Progress, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        MNIST(root=tmp_path / "r", mirrors=[url + "/m"])
    assert leftovers(tmp_path / "r" / "mnist") == []


def test_download_truncated_leaves_nothing(tmp_path, server, monkeypatch):
    url, routes = server
    serve_split(routes, "/m", monkeypatch)
    path = f"/m/{NAMES['train-images']}.gz"
    body = routes[path][1]
    routes[path] = (200, body[:len(body) // 2], len(body))
    with pytest.raises(DownloadError, match=rf"truncated download: got {len(body) // 2} of {len(body)} bytes"):
        MNIST(root=tmp_path / "r", mirrors=[url + "/m"], progress=False)
    assert leftovers(tmp_path / "r" / "mnist") == []


def test_offline_error_lists_dirs_and_files(tmp_path):
    with pytest.raises(DownloadError) as e:
        FashionMNIST(root=tmp_path / "r", train=False, progress=False)   # mirror: closed port
    msg = str(e.value)
    assert "http://127.0.0.1:9/t10k-images-idx3-ubyte.gz" in msg
    for d in search_dirs("fashion-mnist", tmp_path / "r"):
        assert str(d) in msg
    assert "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in msg
    assert leftovers(tmp_path / "r" / "fashion-mnist") == []


# ---------------------------------------------------------------------------------- sample
def test_sample_shapes_classes_and_split():
    tr, te = MNISTSample(train=True), MNISTSample(train=False)
    assert tr.images.shape == (4000, 28, 28) and te.images.shape == (1000, 28, 28)
    assert tr.images.dtype == np.float32 and tr.labels.dtype == np.int64
    assert 0.0 <= tr.images.min() and tr.images.max() == 1.0
    assert np.array_equal(np.bincount(tr.labels, minlength=10), [400] * 10)
    assert np.array_equal(np.bincount(te.labels, minlength=10), [100] * 10)
    both = np.concatenate([tr.labels, te.labels])
    assert np.array_equal(np.bincount(both), [500] * 10)
    rows = {x.tobytes() for x in np.concatenate([tr.images, te.images])}
    assert len(rows) == 5000   # no image in both splits (and none repeated)
    assert tr.classes == [str(d) for d in range(10)]
    # the digits look like digits: ink covers some 10-25% of each image, never nothing
    ink = (tr.images > 0.5).mean(axis=(1, 2))
    assert ink.min() > 0.02 and 0.08 < ink.mean() < 0.25


def test_sample_is_deterministic_and_stats():
    a, b = MNISTSample(), MNISTSample()
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    # the documented normalisation figures are within 0.005 of the sample's own
    assert abs(a.images.mean() - MNISTSample.mean_std[0]) < 0.005
    assert abs(a.images.std() - MNISTSample.mean_std[1]) < 0.005
    z = MNISTSample(normalize=True).images
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02


def test_sample_file_is_small():
    f = Path(dsmod.__file__).parent.parent / "_sample" / dsmod.SAMPLE_FILE
    assert f.stat().st_size < 1_000_000


def test_get_dataset():
    ds = get_dataset("mnist-sample", train=False)
    assert isinstance(ds, MNISTSample) and len(ds) == 1000
    x, y = ds[np.array([0, 5])]
    assert x.shape == (2, 28, 28) and y.shape == (2,)
    x, y = ds[3]
    assert x.shape == (28, 28) and int(y) == ds.labels[3]
    with pytest.raises(ValueError, match=r"unknown dataset 'fashion_mnist' \(did you mean 'fashion-mnist'\?\); "
                                         r"valid names: 'mnist-sample', 'mnist', 'fashion-mnist'"):
        get_dataset("fashion_mnist")


def test_get_dataset_full_with_root(tmp_path):
    _, labels = write_split(tmp_path / "mnist", "test", 4, seed=2)
    ds = get_dataset("mnist", train=False, root=tmp_path, download=False)
    np.testing.assert_array_equal(ds.labels, labels)


# ------------------------------------------------------------------------ subset and split
def test_train_val_split_stratified_and_deterministic():
    ds = MNISTSample()
    tr, va = train_val_split(ds, val_fraction=0.2, seed=7)
    assert len(tr) == 3200 and len(va) == 800
    assert np.array_equal(np.bincount(va.labels, minlength=10), [80] * 10)
    assert np.intersect1d(tr.indices, va.indices).size == 0
    assert np.array_equal(np.union1d(tr.indices, va.indices), np.arange(4000))
    tr2, va2 = train_val_split(ds, val_fraction=0.2, seed=7)
    assert np.array_equal(va.indices, va2.indices)
    _, va3 = train_val_split(ds, val_fraction=0.2, seed=8)
    assert not np.array_equal(va.indices, va3.indices)
    x, y = va[np.array([0, 1])]
    np.testing.assert_array_equal(x, ds.images[va.indices[:2]])
    np.testing.assert_array_equal(va.images, ds.images[va.indices])
    for bad in (0, 1, -0.1, 1.5, "0.2"):
        with pytest.raises(ValueError, match="val_fraction"):
            train_val_split(ds, val_fraction=bad)


def test_subset_errors():
    ds = MNISTSample(train=False)
    with pytest.raises(IndexError, match=r"index 1000 \(position 1\) is out of range for a dataset of length 1000"):
        Subset(ds, [3, 1000])
    with pytest.raises(IndexError, match="index -1"):
        Subset(ds, [-1])
    with pytest.raises(ValueError, match="1-D array of integers"):
        Subset(ds, [0.5])


# ------------------------------------------------------------------------------ DataLoader
def counting_dataset(n: int) -> ArrayDataset:
    """Item i has label i and every pixel equal to i / n: batches show which items they hold."""
    images = np.repeat((np.arange(n, dtype=np.float32) / n)[:, None, None], 28 * 28).reshape(n, 28, 28)
    return ArrayDataset(images, np.arange(n))


def test_loader_covers_every_index_once_per_epoch():
    ds = counting_dataset(103)
    dl = DataLoader(ds, batch_size=10, shuffle=True, seed=3)
    assert len(dl) == 11
    orders = []
    for _ in range(3):
        batches = list(dl)
        assert [len(y) for _, y in batches] == [10] * 10 + [3]
        seen = np.concatenate([y.data for _, y in batches])
        assert np.array_equal(np.sort(seen), np.arange(103))
        for x, y in batches:   # images travel with their labels
            np.testing.assert_array_equal(x.data, ds.images[y.data])
        orders.append(seen)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])


def test_loader_takes_a_pytorch_style_dataset_and_a_list_of_pairs():
    """__getitem__(int) -> one (x, y) pair, as in PyTorch: fetched item by item and stacked, the
    same batches as the in-memory dataset with the same seed."""
    ds = counting_dataset(23)

    class OneAtATime:
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            if not isinstance(i, int):
                raise RuntimeError("one int at a time")  # (PyTorch tensors raise RuntimeError)
            return ts.Tensor(ds.images[i]), int(ds.labels[i])

    want = [(x.numpy(), y.numpy()) for x, y in DataLoader(ds, batch_size=5, shuffle=True, seed=4)]
    pairs = list(zip(ds.images, ds.labels))
    for other in (OneAtATime(), pairs):
        got = [(x.numpy(), y.numpy()) for x, y in DataLoader(other, batch_size=5, shuffle=True, seed=4)]
        assert len(got) == len(want)
        for (x, y), (wx, wy) in zip(got, want):
            np.testing.assert_array_equal(x, wx.astype(np.float32))
            np.testing.assert_array_equal(y, wy)
            assert x.dtype == np.float32 and y.dtype == np.int64

    class Neither:
        def __len__(self):
            return 4

        def __getitem__(self, i):
            if not isinstance(i, int):
                raise TypeError("one int at a time")
            return 7  # (one number: no image, no label)

    with pytest.raises(TypeError, match=r"failed \(one int at a time\), and so did taking one item at a time"):
        next(iter(DataLoader(Neither(), batch_size=2)))


def test_a_dataset_that_takes_arrays_but_computes_per_item_is_fetched_item_by_item():
    """Normalising each image in __getitem__ (a PyTorch habit) must not turn into normalising
    the whole batch because indexing with an array happens not to fail."""
    x = np.random.default_rng(0).uniform(0, 255, (6, 2, 2)).astype(np.float32)

    class PerImage:
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            img = x[i]
            return (img - img.mean()) / img.std(), 0

    got = next(iter(DataLoader(PerImage(), batch_size=3)))[0].numpy()
    want = np.stack([(img - img.mean()) / img.std() for img in x[:3]])
    np.testing.assert_allclose(got, want, rtol=1e-6)

    class ArraysToo:  # (index arrays give the same batch: they are kept)
        calls = []

        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            self.calls.append(np.ndim(i))
            return x[i], np.zeros(np.shape(i), np.int64)

    loader = DataLoader(ArraysToo(), batch_size=2)
    batches = list(loader)
    assert len(batches) == 3 and ArraysToo.calls.count(1) == 3  # one array per batch after the first check
    ArraysToo.calls.clear()
    assert len(list(DataLoader(ArraysToo(), batch_size=2, by_item=False))) == 3 and ArraysToo.calls == [1, 1, 1]
    for inner in (PerImage(), ArraysToo()):  # (a Subset hands the array on: what it wraps decides)
        sub = Subset(inner, [0, 1, 2])
        got = next(iter(DataLoader(sub, batch_size=3)))[0].numpy()
        if isinstance(inner, PerImage):
            np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match="by_item must be"):
        DataLoader(PerImage(), by_item="yes")


def test_loader_is_deterministic_per_seed_and_epoch():
    ds = counting_dataset(50)
    a = DataLoader(ds, batch_size=8, shuffle=True, seed=11)
    b = DataLoader(ds, batch_size=8, shuffle=True, seed=11)
    for _ in range(2):   # epochs 0 and 1 agree between two loaders with the same seed
        assert np.array_equal(np.concatenate([y.data for _, y in a]), np.concatenate([y.data for _, y in b]))
    b.set_epoch(1)        # epoch k's order depends only on (seed, k)
    assert np.array_equal(np.concatenate([y.data for _, y in b]), a.order(1))
    assert np.array_equal(a.order(1), np.random.default_rng([11, 1]).permutation(50))
    c = DataLoader(ds, batch_size=8, shuffle=True, seed=12)
    assert not np.array_equal(np.concatenate([y.data for _, y in c]), a.order(0))


def test_a_loader_without_a_seed_follows_manual_seed_as_in_pytorch():
    ds = counting_dataset(50)

    def epochs():
        loader = DataLoader(ds, batch_size=8, shuffle=True)
        return [np.concatenate([y.data for _, y in loader]) for _ in range(2)]

    ts.manual_seed(7)
    first = epochs()
    ts.manual_seed(7)
    again = epochs()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])  # (each epoch still reshuffles)
    assert not np.array_equal(epochs()[0], first[0])  # (the next loader draws another seed)


def test_loader_drop_last_and_shapes():
    ds = counting_dataset(103)
    dl = DataLoader(ds, batch_size=10, shuffle=True, seed=0, drop_last=True, flatten=True)
    assert len(dl) == 10
    batches = list(dl)
    assert len(batches) == 10
    for x, y in batches:
        assert isinstance(x, ts.Tensor) and isinstance(y, ts.Tensor)
        assert x.shape == (10, 784) and x.dtype == np.float32
        assert y.shape == (10,) and y.dtype == np.int64
        assert not x.requires_grad
    seen = np.concatenate([y.data for _, y in batches])
    assert len(np.unique(seen)) == 100
    assert np.array_equal(np.sort(np.concatenate([seen, np.setdiff1d(np.arange(103), seen)])), np.arange(103))
    assert len(DataLoader(ds, batch_size=200)) == 1 and len(DataLoader(ds, batch_size=200, drop_last=True)) == 0


def test_loader_unshuffled_is_in_order_and_read_only():
    ds = counting_dataset(25)
    batches = list(DataLoader(ds, batch_size=10))
    assert [y.data.tolist() for _, y in batches] == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
    x = batches[0][0].data
    assert x.shape == (10, 28, 28) and np.shares_memory(x, ds.images)
    with pytest.raises(ValueError, match="read-only"):
        x[0, 0, 0] = 5.0


def test_loader_on_subset_and_sample():
    tr, va = train_val_split(MNISTSample(train=False), 0.1, seed=0)
    seen = np.concatenate([y.data for _, y in DataLoader(va, batch_size=32)])
    np.testing.assert_array_equal(seen, va.labels)
    x, y = next(iter(DataLoader(tr, batch_size=64, shuffle=True, seed=0, flatten=True)))
    assert x.shape == (64, 784) and y.shape == (64,)


def test_loader_bad_arguments():
    ds = counting_dataset(5)
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        DataLoader(ds, shuffle=True, seed=-3)
    for name in ("shuffle", "drop_last", "flatten"):  # (bool("False") is True)
        with pytest.raises(ValueError, match=f"{name} must be True or False, got 'False'"):
            DataLoader(ds, **{name: "False"})
    with pytest.raises(ValueError, match="epoch must be an int >= 0"):
        DataLoader(ds).set_epoch(-1)


@pytest.mark.parametrize("by_item", [None, False])
def test_a_dataset_giving_labels_as_a_list_works_for_every_batch(by_item):
    images, labels = np.arange(40.0).reshape(10, 4), np.arange(10) % 3

    class ListLabels:
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return images[i], ([int(v) for v in labels[i]] if not np.isscalar(i) else int(labels[i]))

    ys = [y.numpy() for _, y in DataLoader(ListLabels(), batch_size=4, by_item=by_item)]
    np.testing.assert_array_equal(np.concatenate(ys), labels)


@pytest.mark.parametrize("mirrors", [[], [None], [""], ["http://a/", 3]])
def test_mirrors_must_be_urls(mirrors):
    with pytest.raises(ValueError, match="mirrors must be one or more base URLs"):
        fetch.mirrors_for("mnist", mirrors)


# ------------------------------------------------------------- real Fashion-MNIST (Debian)
@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.setitem(fetch.SYSTEM_DIRS, "fashion-mnist", [str(DEBIAN_FASHION)])
    tr = FashionMNIST(train=True, download=False)
    te = FashionMNIST(train=False, download=False)
    assert tr.images_path.parent == DEBIAN_FASHION
    assert tr.images.shape == (60000, 28, 28) and te.images.shape == (10000, 28, 28)
    assert np.array_equal(np.bincount(tr.labels), [6000] * 10)
    assert np.array_equal(np.bincount(te.labels), [1000] * 10)
    assert len(tr.classes) == 10
    assert abs(tr.images.mean() - FashionMNIST.mean_std[0]) < 1e-4
    assert abs(tr.images.std() - FashionMNIST.mean_std[1]) < 1e-4
    # the content hashes recorded for downloads match this independent copy
    for key, remote in fetch.REMOTES["fashion-mnist"].items():
        content = gzip.decompress((DEBIAN_FASHION / (remote.name + ".gz")).read_bytes())
        assert hashlib.sha256(content).hexdigest() == remote.sha256, key


def test_download_progress_redraws_on_a_terminal_only(tmp_path, server, monkeypatch):
    url, routes = server
    serve_split(routes, "/m", monkeypatch)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    MNIST(root=tmp_path / "r", mirrors=[url + "/m"])
    assert "\rdownloading train-images-idx3-ubyte.gz [" in term.getvalue() and "100%" in term.getvalue()
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    serve_split(routes, "/m", monkeypatch, seed=1)
    MNIST(root=tmp_path / "r2", mirrors=[url + "/m"], progress=False)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("tail", [b"junk after the end", "member"])
def test_download_with_bytes_after_the_gzip_stream_is_refused(tmp_path, server, monkeypatch, tail):
    """Its content hash would match (the first gzip member is the right one), but gzip readers
    refuse the file or read more data from it: it must not be kept."""
    url, routes = server
    serve_split(routes, "/m", monkeypatch)
    path = f"/m/{NAMES['train-images']}.gz"
    good = routes[path][1]
    routes[path] = (200, good + (gzip.compress(b"more") if tail == "member" else tail), None)
    with pytest.raises(DownloadError, match="bytes follow the end of the gzip stream"):
        MNIST(root=tmp_path / "r", mirrors=[url + "/m"], progress=False)
    assert leftovers(tmp_path / "r" / "mnist") == []


def test_downloaded_files_get_the_usual_mode(tmp_path, server, monkeypatch):
    url, routes = server
    serve_split(routes, "/m", monkeypatch)
    old = os.umask(0o022)
    try:
        MNIST(root=tmp_path / "r", mirrors=[url + "/m"], progress=False)
    finally:
        os.umask(old)
    for f in (tmp_path / "r" / "mnist").iterdir():
        assert f.stat().st_mode & 0o777 == 0o644, f  # (mkstemp alone gives 0600)


def test_the_sample_ignores_download_options():
    a = get_dataset("mnist-sample", progress=False, mirrors=["http://127.0.0.1:9/"], download=False)
    assert len(a) == len(get_dataset("mnist-sample"))


def test_labels_that_are_not_whole_numbers_are_refused_not_truncated():
    from tinygrad_sm.data import ArrayDataset, DataLoader, train_val_split
    from tinygrad_sm.train import Split
    with pytest.raises(ValueError, match=r"ArrayDataset: class labels must be whole numbers, got \[0.5, 1.7\]"):
        ArrayDataset(np.zeros((2, 28, 28)), [0.5, 1.7])
    assert ArrayDataset(np.zeros((2, 28, 28)), [0.0, 3.0]).labels.tolist() == [0, 3]  # whole floats are fine

    class Pairs:  # a PyTorch-style dataset with float labels
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.full(3, i, np.float32), [0.0, 1.0, 2.5, 3.0][i]

    with pytest.raises(ValueError, match=r"DataLoader: class labels must be whole numbers, got \[2.5\]"):
        list(DataLoader(Pairs(), batch_size=4))
    with pytest.raises(ValueError, match="has 3 samples but 2 labels"):
        Split(np.zeros((3, 4), np.float32), np.zeros(2, np.int64), "train")
    with pytest.raises(ValueError, match="whole numbers"):
        Split(np.zeros((1, 4), np.float32), np.array([np.nan]), "train")
    ds = ArrayDataset(np.zeros((20, 28, 28)), np.arange(20) % 2)
    train, val = train_val_split(ds, np.float32(0.2))  # (a NumPy float is a fraction too)
    assert len(val) == 4


def test_data_roots_expand_a_home_and_leave_other_tildes_alone(tmp_path, monkeypatch):
    from tinygrad_sm.data import fetch
    monkeypatch.setenv("HOME", str(tmp_path))
    assert fetch.search_dirs("mnist", "~/d")[0] == tmp_path / "d" / "mnist"
    monkeypatch.chdir(tmp_path)
    odd = "~nosuchuser_xyz/data"  # (a directory really named so: searched as a relative path)
    assert fetch.search_dirs("mnist", odd)[0] == Path(odd) / "mnist"
    monkeypatch.setenv("TINYGRAD_SM_DATA", odd)
    assert fetch.download_dir("mnist", None) == Path(odd) / "mnist"


def test_a_dataset_of_dicts_is_told_what_an_item_must_be():
    class Dicts:
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {"x": np.zeros(3), "y": 1}

    with pytest.raises(TypeError, match=r"an item must be an \(image, label\) pair"):
        next(iter(DataLoader(Dicts(), batch_size=2)))
