"""Checkpoints: save a model (or any nest of dicts of arrays and plain values) to one .npz file,
atomically, and load it back with the structure and dtypes checked.

    ts.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "run.npz")
    ckpt = ts.load("run.npz")
    model.load_state_dict(ckpt["model"])

The file holds the arrays under "/"-joined keys plus a JSON description of the nest (for the
plain values and the key order), so it loads without pickle: loading a checkpoint never runs code.
"""
from __future__ import annotations

import json
import os
import zipfile
from collections import OrderedDict
from typing import Any, Union

import numpy as np

from . import _files

PathLike = Union[str, "os.PathLike[str]"]
"""A path as a string or a pathlib.Path."""
FORMAT = "tinygrad_sm.checkpoint/1"
"""The format tag stored in every checkpoint; load() refuses files with another."""
_TREE_KEY = "__tree__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be written or read, with the path and the reason."""


def _encodable(key: str) -> bool:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:  # (a lone surrogate, from a file name read with surrogateescape)
        return False
    return True


def _encode(obj: Any, prefix: str, arrays: dict[str, np.ndarray], where: str) -> Any:
    """Describe obj as JSON; arrays go into `arrays` and are referenced by key."""
    from .nn import Module
    from .tensor import Tensor
    if isinstance(obj, Module):
        obj = obj.state_dict()
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise CheckpointError(f"cannot save {where or 'the value'}: arrays of dtype {obj.dtype} are not supported")
        arrays[prefix] = obj
        return {"array": prefix}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if (not isinstance(k, str) or "/" in k or "\0" in k or not k or (not prefix and k == _TREE_KEY)
                    or not _encodable(k)):  # (a zip member's name ends at NUL, and is UTF-8)
                raise CheckpointError(f"cannot save {where or 'the dict'}: keys must be non-empty strings "
                                      f"without '/' or NUL, in UTF-8 (and not {_TREE_KEY!r} at the top), got {k!r}")
            items.append([k, _encode(v, f"{prefix}/{k}" if prefix else k, arrays, f"{where}[{k!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        return {"list" if isinstance(obj, list) else "tuple":
                [_encode(v, f"{prefix}/{i}", arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        if isinstance(obj, float) and not np.isfinite(obj):
            return {"float": repr(obj)}
        return {"value": obj}
    raise CheckpointError(f"cannot save {where or 'the value'}: {type(obj).__name__} is not an array, "
                          "a dict, a list or a plain value")



def _decode(node: Any, arrays: Any, path: str) -> Any:
    if "array" in node:
        key = node["array"]
        if key not in arrays:
            raise CheckpointError(f"{path}: array {key!r} is missing from the file (truncated or edited?)")
        return arrays[key]
    if "dict" in node:
        return OrderedDict((k, _decode(v, arrays, path)) for k, v in node["dict"])
    if "list" in node:
        return [_decode(v, arrays, path) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, path) for v in node["tuple"])
    if "float" in node:
        return float(node["float"])
    return node["value"]


def _write_npz(f: Any, arrays: dict[str, np.ndarray]) -> None:
    """What np.savez(f, **arrays) writes (one NAME.npy member per array, uncompressed), for any
    names: savez takes its keywords `file` and `allow_pickle` for its own arguments."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)


def save(obj: Any, path: PathLike) -> None:
    """Write a Module's state_dict, or a nest of dicts/lists of arrays and plain values, to `path`.

    The file appears whole or not at all: it is written to a temporary file in the same
    directory and renamed over `path` only once complete.
    """
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, "", arrays, "")
    meta = json.dumps({"format": FORMAT, "tree": tree})
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CheckpointError(f"cannot write checkpoint {path}: directory {directory} does not exist")
    try:
        with _files.replacing(path, prefix=".tmp-", suffix=".npz") as (f, _):
            _write_npz(f, {_TREE_KEY: np.array(meta), **arrays})
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {path} in {directory}: {e.strerror or e}") from e


def load(path: PathLike) -> Any:
    """Read a checkpoint written by save(); arrays come back as NumPy arrays with their dtypes."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise CheckpointError(f"{path} is empty (a write that was cut short?): not a readable checkpoint")
    if os.path.isfile(path) and not zipfile.is_zipfile(path):  # (np.load would take a .npy, or
        # suggest unpickling a JSON or PNG file)
        with open(path, "rb") as f:
            starts_as_zip = f.read(4) == b"PK\x03\x04"
        if starts_as_zip:
            raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated?): the zip "
                                  "archive has no end")
        raise CheckpointError(f"{path} is not a checkpoint: a checkpoint is an .npz file (a zip archive) "
                              "that tinygrad_sm's save() wrote")
    try:
        with np.load(path, allow_pickle=False) as z:
            # By the members' own names (NAME.npy, as save() writes them): NpzFile's z[key] tries
            # the name as given first, so z["w.npy"] would read the member of a key "w".
            members = [m for m in z.zip.namelist() if m.endswith(".npy")]
            tree = _TREE_KEY + ".npy"
            if tree not in members:
                raise CheckpointError(f"{path} is an .npz file but not a tinygrad_sm checkpoint (no {_TREE_KEY})")
            meta = json.loads(str(z[tree]))
            if not isinstance(meta, dict) or "tree" not in meta:
                raise CheckpointError(f"{path} is not a tinygrad_sm checkpoint ({_TREE_KEY} holds no tree)")
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path}: unknown checkpoint format {meta.get('format')!r}, expected {FORMAT}")
            arrays = {m[:-4]: z[m] for m in members if m != tree}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated?): {e}") from e
    try:
        return _decode(meta["tree"], arrays, path)
    except (AttributeError, TypeError, KeyError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: the checkpoint's {_TREE_KEY} is damaged ({type(e).__name__}: {e})") from None
