"""Where dataset files are looked for, and how missing ones are downloaded.

Search order for a dataset `name` ("mnist" or "fashion-mnist"):
  1. an explicit `root` (root/<name>/, then root itself),
  2. $TINYGRAD_SM_DATA/<name>/,
  3. the user cache: $XDG_CACHE_HOME/tinygrad_sm/<name>/ (default ~/.cache/tinygrad_sm/<name>/),
  4. system directories (Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist).
Each file may be stored gzip'd (train-images-idx3-ubyte.gz) or raw (train-images-idx3-ubyte).

Downloads stream into a temporary file in the target directory, are checked against SHA-256,
and only then renamed into place (os.replace), so a failed, interrupted or corrupted download
never leaves a file that a later run would pick up.
"""
from __future__ import annotations

import hashlib
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .. import _files
from ..progress import redraw

ENV_DATA = "TINYGRAD_SM_DATA"


@dataclass(frozen=True)
class Remote:
    """One file of a dataset: its name, and the SHA-256 of the .gz archive the mirrors serve and
    of the decompressed IDX content (a mirror that recompressed the archive still verifies)."""
    name: str
    gz_sha256: str
    sha256: str


# Hashes of the gz archives and of their decompressed contents. Sources are in docs/data.md;
# the Fashion-MNIST decompressed hashes were also recomputed from Debian's files.
REMOTES: dict[str, dict[str, Remote]] = {
    "mnist": {
        "train-images": Remote("train-images-idx3-ubyte",
                               "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                               "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        "train-labels": Remote("train-labels-idx1-ubyte",
                               "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                               "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        "test-images": Remote("t10k-images-idx3-ubyte",
                              "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                              "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        "test-labels": Remote("t10k-labels-idx1-ubyte",
                              "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                              "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    },
    "fashion-mnist": {
        "train-images": Remote("train-images-idx3-ubyte",
                               "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                               "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        "train-labels": Remote("train-labels-idx1-ubyte",
                               "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                               "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        "test-images": Remote("t10k-images-idx3-ubyte",
                              "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                              "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        "test-labels": Remote("t10k-labels-idx1-ubyte",
                              "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                              "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    },
}

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion-mnist": ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
}
# e.g. TINYGRAD_SM_MNIST_MIRRORS="http://host/a/ http://host/b/" (whitespace- or comma-separated)
MIRROR_ENV = {"mnist": "TINYGRAD_SM_MNIST_MIRRORS", "fashion-mnist": "TINYGRAD_SM_FASHION_MNIST_MIRRORS"}

SYSTEM_DIRS: dict[str, list[str]] = {
    "mnist": [],
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist"],   # Debian: dataset-fashion-mnist
}


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are in none of the searched directories (and were not downloaded)."""


class DownloadError(OSError):
    """Every mirror failed (network error, HTTP error, truncated body or checksum mismatch)."""


def cache_dir() -> Path:
    """The per-user cache: $XDG_CACHE_HOME/tinygrad_sm, else ~/.cache/tinygrad_sm."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tinygrad_sm"


def _home(path: os.PathLike | str) -> Path:
    """path with a leading ~ or ~user expanded where that user has a home (else left as it is)."""
    return Path(os.path.expanduser(os.fspath(path)))


def search_dirs(name: str, root: Optional[os.PathLike | str] = None) -> list[Path]:
    """The directories searched for dataset `name`, in order (see the module docstring)."""
    dirs: list[Path] = []
    if root is not None:
        dirs += [_home(root) / name, _home(root)]
    if os.environ.get(ENV_DATA):
        dirs.append(_home(os.environ[ENV_DATA]) / name)
    dirs.append(cache_dir() / name)
    dirs += [Path(d) for d in SYSTEM_DIRS.get(name, [])]
    return dirs


def download_dir(name: str, root: Optional[os.PathLike | str] = None) -> Path:
    """Where a download goes: root/<name>, else $TINYGRAD_SM_DATA/<name>, else the cache."""
    if root is not None:
        return _home(root) / name
    if os.environ.get(ENV_DATA):
        return _home(os.environ[ENV_DATA]) / name
    return cache_dir() / name


def find_file(directory: Path, base: str) -> Optional[Path]:
    """`base`.gz or `base` in directory (the .gz first), or None."""
    for candidate in (directory / (base + ".gz"), directory / base):
        if candidate.is_file():
            return candidate
    return None


def mirrors_for(name: str, mirrors: Optional[Sequence[str]] = None) -> list[str]:
    """The mirror base URLs to try: the argument, else the env variable, else the defaults."""
    if mirrors is None:
        env = os.environ.get(MIRROR_ENV[name], "").replace(",", " ").split()
        mirrors = env or MIRRORS[name]
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    mirrors = list(mirrors)
    if not mirrors or not all(isinstance(m, str) and m.strip() for m in mirrors):
        raise ValueError(f"mirrors must be one or more base URLs (strings), got {mirrors!r}")
    return [m if m.endswith("/") else m + "/" for m in mirrors]


class _Progress:
    """A one-line progress bar on stderr (a terminal only), redrawn when the percentage changes."""

    def __init__(self, label: str, total: Optional[int], enabled: bool) -> None:
        self.label, self.total, self.shown, self.drawn = label, total, -1, 0
        self.live = enabled and getattr(sys.stderr, "isatty", lambda: False)()

    def update(self, done: int) -> None:
        if not self.live:
            return
        if self.total:
            pct = min(100, done * 100 // self.total)
            if pct == self.shown:
                return
            self.shown = pct
            bar = "#" * (pct // 4) + "-" * (25 - pct // 4)
            text = f"{self.label} [{bar}] {pct:3d}% {_size(done)}/{_size(self.total)}"
        else:
            text = f"{self.label} {_size(done)}"
        self.drawn = redraw(sys.stderr, text, self.drawn)

    def close(self) -> None:
        if self.live:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB" if n >= 1000 else f"{n} bytes"


def _gunzip_sha256(path: str) -> tuple[Optional[str], int]:
    """(SHA-256 of the decompressed content of a gzip file, or None if it is not valid gzip;
    the number of bytes after the end of its gzip stream, which gzip readers refuse or read as
    more data)."""
    h, d, after = hashlib.sha256(), zlib.decompressobj(16 + zlib.MAX_WBITS), 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                if d.eof:
                    after += len(chunk)
                    continue
                h.update(d.decompress(chunk))
                after += len(d.unused_data)
        return (h.hexdigest() if d.eof else None), after
    except zlib.error:
        return None, 0


def download(url: str, dest: Path, remote: Remote, *, progress: bool = True, timeout: float = 30.0) -> Path:
    """Download `url` to `dest`, atomically, accepting it only if its SHA-256 matches `remote`.

    The body goes to a temporary file next to `dest`; it is renamed onto `dest` only after the
    whole body arrived (Content-Length checked) and the hash matched: the archive's hash, or
    for a .gz whose bytes differ (a recompressed copy) the hash of its decompressed content, with
    nothing after the gzip stream. On any failure the temporary file is removed and DownloadError
    says why. progress: a bar on a terminal, else one line once the file is in place.
    """
    import urllib.error
    import urllib.request
    from http.client import HTTPException

    dest.parent.mkdir(parents=True, exist_ok=True)
    with _files.replacing(str(dest), prefix=f".{dest.name}.", suffix=".part") as (out, tmp):
        h, done = hashlib.sha256(), 0
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                bar = _Progress(f"downloading {dest.name}", total, progress)
                try:
                    while chunk := resp.read(1 << 16):
                        out.write(chunk)
                        h.update(chunk)
                        done += len(chunk)
                        bar.update(done)
                finally:
                    bar.close()
            out.flush()
        except urllib.error.HTTPError as e:
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as e:  # (ValueError: not a
            reason = getattr(e, "reason", e)  # URL urllib can open, such as a bare path: the next mirror may be)
            raise DownloadError(f"{url}: {type(e).__name__}: {reason}") from None
        if total is not None and done != total:
            raise DownloadError(f"{url}: truncated download: got {done} of {total} bytes")
        got = h.hexdigest()
        if got != remote.gz_sha256:
            content, after = _gunzip_sha256(tmp)
            if content == remote.sha256 and after:
                raise DownloadError(f"{url}: {after} bytes follow the end of the gzip stream (whose "
                                    "content is right): not the file the checksums describe")
            if content != remote.sha256:
                raise DownloadError(f"{url}: SHA-256 mismatch: expected {remote.gz_sha256} (gz) or "
                                    f"{remote.sha256} (content), got {got}")
    if progress and not bar.live:  # (into a log: one line, for a file that is really there)
        sys.stderr.write(f"downloaded {dest.name} ({_size(done)})\n")
        sys.stderr.flush()
    return dest


def where_to_put(name: str, root: Optional[os.PathLike | str], files: Sequence[str]) -> str:
    """The part of an error message that says where the files may be placed by hand."""
    dirs = "\n".join(f"  {d}" for d in search_dirs(name, root))
    names = ", ".join(f"{f}.gz" for f in files)
    debian = (" On Debian or Ubuntu, `apt-get install dataset-fashion-mnist` puts them in "
              "/usr/share/datasets/fashion-mnist." if name == "fashion-mnist" else "")
    return (f"Searched, in order:\n{dirs}\nPut {names} (gzip'd or not) into one of them, "
            f"e.g. {download_dir(name, root)}, or set ${ENV_DATA}=DIR and use DIR/{name}/.{debian} "
            "The embedded sample works offline: dataset \"mnist-sample\".")
