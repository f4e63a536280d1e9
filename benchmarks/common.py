"""Shared helpers for the benchmark scripts: threads, data, timing, bandwidth, machine, tables.

Import this module FIRST in every script (before NumPy): it pins the BLAS / OpenMP / Numba
thread counts through environment variables, which those libraries read only when they load.
The count is `--threads N` on the command line, else $BENCH_THREADS, else every core.
"""
from __future__ import annotations

import os
import sys


def _threads_from_argv() -> int:
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))


THREADS = _threads_from_argv()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
# One OpenMP idle policy for every framework in the process: passive (idle threads sleep), the
# one tinygrad_sm sets for itself when its kernels load. PyTorch loads first in these scripts;
# left at its default (spinning idle threads), it would make tinygrad_sm's kernels run serially
# (see SPINNING_OPENMP in tinygrad_sm/kernels/numba_kernels.py). Set OMP_WAIT_POLICY yourself
# to measure with another policy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import gzip  # noqa: E402
import importlib  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any, Callable, Iterator, Optional, Sequence  # noqa: E402

import numpy as np  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
APT_HINT = "sudo apt-get install dataset-fashion-mnist"


# -- the floor of any autograd in Python ----------------------------------------------------
class TapeNode:
    """The floor the issue quotes: a minimal autograd tape over NumPy, with nothing but a value,
    its parents and a closure for each op's backward (no dtype or shape checks, no grad mode,
    no hooks, no graph release). What a real engine adds on top of it is its overhead.
    bench_overhead runs it on the 1000-op scalar chain, bench_matmul on one matmul's fwd+bwd.
    (In the chain, its values become NumPy scalars after the first op, as NumPy returns 0-d results; their
    arithmetic costs about a quarter of the same op on 0-d arrays, which a Tensor keeps.)"""

    __slots__ = ("value", "grad", "parents", "back")

    def __init__(self, value: Any, parents: tuple = (), back: Any = None) -> None:
        self.value, self.grad, self.parents, self.back = value, None, parents, back

    def __mul__(self, c: float) -> "TapeNode":
        return TapeNode(self.value * c, (self,), lambda g: (g * c,))

    def __add__(self, c: float) -> "TapeNode":
        return TapeNode(self.value + c, (self,), lambda g: (g,))

    def __matmul__(self, other: "TapeNode") -> "TapeNode":
        a, b = self.value, other.value
        return TapeNode(a @ b, (self, other), lambda g: (g @ b.T, a.T @ g))

    def relu(self) -> "TapeNode":
        v = np.maximum(self.value, 0)
        return TapeNode(v, (self,), lambda g: (np.where(v > 0, g, 0),))

    def backward(self, grad: Any = None) -> None:
        order, seen, stack = [], set(), [(self, False)]
        while stack:  # iterative depth-first topological sort
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node.parents)
        self.grad = np.ones_like(self.value) if grad is None else grad
        for node in reversed(order):
            if node.back is not None:
                for p, g in zip(node.parents, node.back(node.grad)):
                    p.grad = g if p.grad is None else p.grad + g


# -- optional frameworks -------------------------------------------------------------------
def optional(name: str) -> Optional[ModuleType]:
    """Import `name` if it is installed, else None (the comparison column is then skipped)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def torch_or_none() -> Optional[ModuleType]:
    """PyTorch with its intra-op thread pool set to THREADS, or None when not installed."""
    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(THREADS)
    return torch


def has_attr_path(module: str, attr: str) -> bool:
    """True when `module` imports and has `attr` (used to detect APIs still being written)."""
    mod = optional(module)
    return mod is not None and hasattr(mod, attr)


def tinygrad_setup(backend: Optional[str] = None) -> ModuleType:
    """Import tinygrad_sm, give it THREADS threads and (when given) select the kernel backend."""
    import tinygrad_sm

    if hasattr(tinygrad_sm, "set_num_threads"):
        tinygrad_sm.set_num_threads(THREADS)
    if backend is not None:
        set_backend(backend)
    return tinygrad_sm


def set_backend(name: str) -> None:
    """Switch tinygrad_sm's kernel backend ("numba" | "numpy")."""
    from tinygrad_sm import kernels

    if not hasattr(kernels, "set_backend"):
        raise RuntimeError("tinygrad_sm.kernels.set_backend is not there yet (only the NumPy kernels exist)")
    kernels.set_backend(name)


def backend_module(name: str) -> ModuleType:
    """The module holding backend `name`'s kernels (reference.py or numba_kernels.py)."""
    if name == "numpy":
        return importlib.import_module("tinygrad_sm.kernels.reference")
    if name == "numba":
        return importlib.import_module("tinygrad_sm.kernels.numba_kernels")
    raise ValueError(f"backend_module: unknown backend {name!r} (numba | numpy)")


def backends_available() -> tuple[list[str], dict[str, str]]:
    """Kernel backends that import here, and why any other cannot run (named in the report)."""
    from tinygrad_sm import kernels

    names = ["numba", "numpy"] if hasattr(kernels, "set_backend") else ["numpy"]
    ok, why = [], {}
    for name in names:
        try:
            backend_module(name)
            ok.append(name)
        except Exception as e:  # noqa: BLE001 - a backend under construction must not sink the rest
            why[f"{name} backend"] = f"{type(e).__name__}: {e}"
    return ok, why


# -- data ----------------------------------------------------------------------------------
def _read_idx_gz(path: Path) -> np.ndarray:
    """A minimal IDX reader (fallback while tinygrad_sm.data does not exist)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {raw[:4]!r})")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims}, file holds {data.size} bytes")
    return data.reshape(dims)


def _fallback_split(train: bool) -> tuple[np.ndarray, np.ndarray]:
    stem = "train" if train else "t10k"
    images = DEBIAN_FASHION / f"{stem}-images-idx3-ubyte.gz"
    labels = DEBIAN_FASHION / f"{stem}-labels-idx1-ubyte.gz"
    if not images.exists():
        raise SystemExit(f"Fashion-MNIST not found at {DEBIAN_FASHION}; install it: {APT_HINT}")
    x = _read_idx_gz(images).astype(np.float32)
    x /= 255  # in place: no second 190 MB temporary in the peak-memory figure
    return x, _read_idx_gz(labels).astype(np.int64)


def load_fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """(x_train (60000, 784) f32 in [0, 1], y_train int64, x_test, y_test, where it came from).

    Reads Debian's dataset-fashion-mnist through tinygrad_sm.data when that module exists (every
    framework then pays the same loader), else through the small IDX reader above.
    """
    data = optional("tinygrad_sm.data")
    if data is not None and hasattr(data, "FashionMNIST"):
        out = []
        for train in (True, False):
            try:
                ds = data.FashionMNIST(train=train, download=False)
            except Exception:  # noqa: BLE001 - a different default root: point it at Debian's copy
                ds = data.FashionMNIST(root=str(DEBIAN_FASHION), train=train, download=False)
            x = np.ascontiguousarray(ds.images, dtype=np.float32).reshape(len(ds), -1)
            out += [x, np.asarray(ds.labels, dtype=np.int64)]
        source = "tinygrad_sm.data.FashionMNIST(download=False)"
    else:
        out = [*_fallback_split(True), *_fallback_split(False)]
        out[0], out[2] = out[0].reshape(len(out[0]), -1), out[2].reshape(len(out[2]), -1)
        source = f"benchmarks/common.py IDX reader ({DEBIAN_FASHION})"
    return out[0], out[1], out[2], out[3], source


# -- timing --------------------------------------------------------------------------------
def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def calibrate(fn: Callable[[], Any], target_s: float) -> int:
    """Calls per measurement so that one measurement lasts about target_s (at least 1)."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target_s / 4 or n >= 1 << 20:
            return max(1, int(n * target_s / max(dt, 1e-9)))
        n *= 4


def interleaved_samples(fns: dict[str, Callable[[], Any]], repeats: int = 7, target_s: float = 0.05,
                        warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each function in each round, timed in turns (A B C, B C A, ...).

    Each function is warmed up (JIT compiles, caches, allocator) and calibrated first; those
    calls are not timed. Taking turns spreads any slow spell of a busy machine over all of them.
    Each timed block starts from a collected heap: garbage in reference cycles (micrograd's graph
    is one) left by one function is not collected, at its cost, while another one is timed.
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    loops = {name: calibrate(fns[name], target_s) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn, n = fns[name], loops[name]
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return samples


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int = 7, target_s: float = 0.05,
                warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each function, timed in turns (see interleaved_samples)."""
    return {name: median(s) for name, s in interleaved_samples(fns, repeats, target_s, warmup).items()}


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Median, 25th and 75th percentile of a[i] / b[i] over the rounds of interleaved_samples.

    Each round times a and b a moment apart, so a slow spell of the machine that lasts longer
    than a round divides out; the ratio of the two medians does not have that property.
    """
    q = np.percentile(np.asarray(a) / np.asarray(b), [50, 25, 75])
    return float(q[0]), float(q[1]), float(q[2])


def spread(q: tuple[float, float, float]) -> str:
    """'0.970 (0.940-1.010)': a paired ratio with its interquartile range."""
    return f"{q[0]:.3f} ({q[1]:.3f}-{q[2]:.3f})"


# -- memory bandwidth ----------------------------------------------------------------------
_numba_copy: Optional[Callable[..., None]] = None


def _parallel_copy() -> Optional[Callable[..., None]]:
    """A Numba prange copy over `parts` contiguous slices (one per Numba thread), or None
    without Numba. Plain loads and stores in a compiled loop: on the 2-core VM the fastest way
    to copy 256 MB in most runs (see RESULTS.md)."""
    global _numba_copy
    if _numba_copy is None:
        try:
            import numba
        except ImportError:
            return None

        @numba.njit(parallel=True)
        def copy(dst: np.ndarray, src: np.ndarray, parts: int) -> None:
            n = src.shape[0]
            for k in numba.prange(parts):
                lo, hi = k * n // parts, (k + 1) * n // parts
                dst[lo:hi] = src[lo:hi]

        _numba_copy = copy
    return _numba_copy


@contextlib.contextmanager
def copy_ways(dst: np.ndarray, src: np.ndarray, threads: int = THREADS
              ) -> Iterator[dict[str, Callable[[], Any]]]:
    """Every way this process has of copying src into dst, as calls to time (arrays of the same
    shape and dtype, C-contiguous):

      copy: np.copyto            one call, one thread
      copy: np.copyto x N        the arrays cut into `threads` slices, each copied from a Python
                                 thread of a pool started once (np.copyto drops the GIL)
      copy: numba prange x N     the same slices copied by a compiled loop on Numba's threads

    A copy bandwidth is the best of them: a floor set by a slow way of copying would flatter
    every kernel measured against it.
    """
    d, s = dst.reshape(-1), src.reshape(-1)
    ways: dict[str, Callable[[], Any]] = {"copy: np.copyto": lambda: np.copyto(d, s)}
    if threads == 1:
        yield ways
        return
    bounds = np.linspace(0, s.size, threads + 1).astype(int)
    parts = [(d[a:b], s[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    with ThreadPoolExecutor(threads) as pool:
        ways[f"copy: np.copyto x {threads}"] = lambda: list(pool.map(lambda p: np.copyto(*p), parts))
        par = _parallel_copy()
        if par is not None:
            par(d, s, threads)  # (compiles)
            ways[f"copy: numba prange x {threads}"] = lambda: par(d, s, threads)
        yield ways


def copy_bandwidths(nbytes: int, threads: int = THREADS, repeats: int = 7) -> dict[str, float]:
    """GB/s (read + write = 2 * nbytes moved) of each of copy_ways for float32 arrays of nbytes,
    timed in turns."""
    n = max(nbytes // 4, threads)
    src = np.random.default_rng(0).random(n, dtype=np.float32)
    with copy_ways(np.empty_like(src), src, threads) as ways:
        secs = interleaved(ways, repeats=repeats, target_s=0.05)
    return {way: 2 * n * 4 / sec / 1e9 for way, sec in secs.items()}


# -- machine and report --------------------------------------------------------------------
def _lscpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _simd() -> str:
    """The widest SIMD the CPU offers (the exp-bound kernels run twice as many lanes with AVX-512)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    found = [name for name in ("avx512f", "avx2", "fma", "avx", "sse4_2") if name in flags]
    return "+".join(found) + ("" if "avx512f" in found else " (no AVX-512)") if found else "unknown"


def machine_info() -> dict[str, str]:
    versions = {}
    for name in ("numpy", "torch", "numba", "micrograd"):
        mod = optional(name)
        versions[name] = getattr(mod, "__version__", "installed") if mod else "not installed"
    import tinygrad_sm

    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": _lscpu_model(),
        "simd": _simd(),
        "cores": str(os.cpu_count()),
        "threads used": str(THREADS),
        "python": platform.python_version(),
        "numpy": versions["numpy"],
        "torch": versions["torch"],
        "numba": versions["numba"],
        "micrograd": versions["micrograd"],
        "tinygrad_sm": getattr(tinygrad_sm, "__version__", "?"),
    }


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None or b == 0 else a / b


def verdict(value: Optional[float], target: float, higher_is_better: bool = False) -> str:
    """'ok' / 'MISSED' against a target, '-' when there is nothing to compare."""
    if value is None:
        return "-"
    good = value >= target if higher_is_better else value <= target
    return "ok" if good else "MISSED"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="smoke test: small sizes, few repeats")
    p.add_argument("--threads", type=int, default=THREADS,
                   help="threads for BLAS, OpenMP, Numba and PyTorch (default: all cores)")
    p.add_argument("--out", type=Path, help="also write the markdown section to this file")
    return p


def emit(section: str, out: Optional[Path]) -> None:
    """Print a markdown section and, with --out, write it to a file (run_all.py collects these)."""
    print(section, flush=True)
    if out is not None:
        out.write_text(section + "\n")
