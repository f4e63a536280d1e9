"""Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip'd.

An IDX file is: two zero bytes, a dtype code, the number of dimensions d, then d big-endian
uint32 sizes, then the values (big-endian, row-major). Anything that does not fit that layout
exactly - wrong magic, unknown dtype, too few or too many bytes, broken gzip - raises IDXError
naming the file and what was expected.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from typing import Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

# IDX dtype code -> NumPy dtype (big-endian, as stored)
IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"
# deflate cannot expand data by more than ~1032x, so a header promising more than this many
# bytes per compressed byte is corrupt; checking it first avoids allocating gigabytes for it
_MAX_DEFLATE_RATIO = 1100


class IDXError(ValueError):
    """A file that is not a valid IDX file (or whose contents do not fit the dataset)."""


def _read_exact(f, n: int) -> bytes:
    data = f.read(n)
    return data if data is not None else b""


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (gzip'd or not; detected from the content) into a native-endian array.

    Raises IDXError, naming the file, on a bad magic number, an unknown dtype code, a payload
    shorter or longer than the header's sizes promise, or a corrupt gzip stream.
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        gz = raw.read(2) == _GZIP_MAGIC
    size_on_disk = os.path.getsize(path)
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            return _parse(f, path, size_on_disk, gz)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise IDXError(f"{path}: corrupt gzip data ({type(e).__name__}: {e})") from None


def _parse(f, path: str, size_on_disk: int, gz: bool) -> np.ndarray:
    magic = _read_exact(f, 4)
    if len(magic) < 4:
        raise IDXError(f"{path}: file too short for an IDX header (expected 4 magic bytes, got "
                       f"{len(magic)})")
    if magic[0] != 0 or magic[1] != 0:
        raise IDXError(f"{path}: bad IDX magic number 0x{magic.hex()} (expected 0x0000 then a "
                       "dtype code and the number of dimensions, e.g. 0x00000803 for images)")
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXError(f"{path}: unknown IDX dtype code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise IDXError(f"{path}: IDX header says 0 dimensions (expected at least 1)")
    dims_raw = _read_exact(f, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise IDXError(f"{path}: truncated header: {ndim} dimensions need {4 * ndim} bytes of "
                       f"sizes, got {len(dims_raw)}")
    shape = struct.unpack(f">{ndim}I", dims_raw)
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize   # Python ints: no overflow
    header = 4 + 4 * ndim
    ceiling = size_on_disk * _MAX_DEFLATE_RATIO if gz else size_on_disk - header
    if expected > ceiling:
        raise IDXError(f"{path}: truncated: header promises shape {shape} of {dtype.name} = "
                       f"{expected} bytes of data, but "
                       + (f"the gzip file of {size_on_disk} bytes cannot hold that much" if gz else
                          f"the file has {size_on_disk - header} bytes after its {header}-byte header"))
    buf = np.empty(expected, dtype=np.uint8)
    view, got = memoryview(buf), 0
    while got < expected:
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    if got < expected:
        raise IDXError(f"{path}: truncated: shape {shape} of {dtype.name} needs {expected} bytes "
                       f"of data after the {header}-byte header, got {got}")
    extra = len(_read_exact(f, 1 << 16))
    if extra:
        raise IDXError(f"{path}: {extra}{'+' if extra == 1 << 16 else ''} extra bytes after the "
                       f"{expected} bytes of data that shape {shape} of {dtype.name} needs")
    arr = buf.view(dtype).reshape(shape)
    return arr if dtype.itemsize == 1 else arr.astype(dtype.newbyteorder("="))
