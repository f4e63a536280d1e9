"""Files that appear whole or not at all: written to a temporary file beside the target, then
renamed over it (os.replace is atomic within a directory) only once complete."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional


def umask() -> int:
    """The process's umask (read by setting it and setting it back: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_beside(directory: str, prefix: str, suffix: str) -> tuple[int, str]:
    """A new temporary file in `directory`: (fd, path). mkstemp makes it 0600; it gets the mode
    open() would give instead, so the renamed file is as readable as any other the user writes
    (a dataset in a shared directory, a checkpoint)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~umask())
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


@contextmanager
def replacing(path: str, mode: str = "wb", prefix: Optional[str] = None,
              suffix: str = ".tmp") -> Iterator[tuple[IO[Any], str]]:
    """`with replacing(path) as (f, tmp): f.write(...)`: f writes a temporary file beside `path`
    (named tmp), renamed onto `path` when the block ends; if the block raises (or Ctrl-C), the
    temporary file is removed and `path` is as it was."""
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = temp_beside(directory, f".{name}." if prefix is None else prefix, suffix)
    try:
        try:
            f = os.fdopen(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        with f:
            yield f, tmp
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:  # (gone already, or not ours to remove: the first error is the one to see)
            pass
        raise


def write_text(path: str, text: str) -> None:
    """Write `text` to `path` atomically; on any error nothing is left behind and `path` is as it was."""
    with replacing(path, "w") as (f, _):
        f.write(text)
