"""Where the fused softmax-cross-entropy kernel's time goes, at (4096, 1000) float32.

Times, in the same interleaved rounds, the kernel and simpler loops that move the same data:

  copy                  the fastest of common.copy_ways: read the logits, write as many bytes
  2*z row by row        a prange loop over row blocks writing 2 * z: the kernel's memory traffic
  max, then z - max     the kernel's first pass (integer row max) and one write pass
  kernel, 1 thread      the serial kernel, on one core
  kernel                the kernel as tinygrad_sm calls it (parallel over row blocks)
  kernel, 1 thread, 64 rows in cache
                        the serial kernel over the first 64 rows again and again (256 KB of logits
                        and gradient, in L2): its arithmetic alone

If the kernel took about as long as the row-by-row write, memory would bound it; the gap between
the two is its arithmetic (exp, sum, scale) that the other core does not hide. The last column
compares the kernels per element and per thread: in cache, streaming alone, streaming beside a
second thread.

    python benchmarks/ce_anatomy.py [--threads N] [--quick]
"""
from __future__ import annotations

import common  # noqa: I001 - first: pins thread counts before NumPy loads

import numba
import numpy as np
from numba import prange

from tinygrad_sm.kernels import numba_kernels as nk
from tinygrad_sm.kernels.numba_kernels import _row_max32


@numba.njit(parallel=True)
def twice_by_rows(z: np.ndarray, out: np.ndarray, blocks: int) -> None:
    n, c = z.shape
    for k in prange(blocks):
        for i in range(k * n // blocks, (k + 1) * n // blocks):
            zr, orow = z[i], out[i]
            for j in range(c):
                orow[j] = zr[j] * np.float32(2.0)


@numba.njit(parallel=True)
def max_then_shift(z: np.ndarray, out: np.ndarray, blocks: int) -> None:
    n, c = z.shape
    for k in prange(blocks):
        for i in range(k * n // blocks, (k + 1) * n // blocks):
            zr, orow = z[i], out[i]
            m = _row_max32(zr)
            for j in range(c):
                orow[j] = zr[j] - m


def main() -> None:
    args = common.parser(__doc__.split("\n")[0]).parse_args()
    repeats, target_s = (3, 0.02) if args.quick else (15, 0.05)
    n, c = 4096, 1000
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((n, c)) * 3).astype(np.float32)
    y = rng.integers(0, c, n).astype(np.int64)
    out = np.empty_like(z)
    loss = np.empty(n, np.float32)
    blocks = 8 * common.THREADS  # as the kernel splits its rows
    serial = nk._CE_CLASS32[0]
    bits = nk._bits(z)
    few = 64
    zs, ys, outs, losss = z[:few].copy(), y[:few].copy(), out[:few].copy(), loss[:few].copy()
    bits_s = nk._bits(zs)
    calls = {
        "2*z row by row": lambda: twice_by_rows(z, out, blocks),
        "max, then z - max": lambda: max_then_shift(z, out, blocks),
        "kernel, 1 thread": lambda: serial(z, bits, y, 0.0, 1.0 / n, loss, out, 1),
        "kernel": lambda: nk.softmax_cross_entropy(z, y, 0.0, 1.0 / n),
        f"kernel, 1 thread, {few} rows in cache": lambda: serial(zs, bits_s, ys, 0.0, 1.0 / few, losss, outs, 1),
    }
    per_thread = {"kernel, 1 thread": n * c, "kernel": n * c / common.THREADS,
                  f"kernel, 1 thread, {few} rows in cache": few * c}  # elements each thread does
    with common.copy_ways(np.empty_like(z), z) as ways:
        samples = common.interleaved_samples({**ways, **calls}, repeats=repeats, target_s=target_s)
    times = {k: common.median(v) for k, v in samples.items()}
    best = min(ways, key=times.get)
    rows = [["copy (" + best.removeprefix("copy: ") + ")", times[best] * 1e6, 1.0, None]]
    for k in calls:
        rows.append([k, times[k] * 1e6,
                     common.spread(common.paired_ratio(samples[k], samples[best])) if "cache" not in k else None,
                     times[k] / per_thread[k] * 1e9 if k in per_thread else None])
    text = [f"## Fused cross-entropy at ({n}, {c}) float32: where the time goes (ce_anatomy.py)", "",
            f"Median of {repeats} timings taking turns, {common.THREADS} threads; 'x copy' is the "
            "median of the round-by-round ratios to the fastest copy (interquartile range in brackets).",
            "", common.md_table(["loop", "us/call", "x copy", "ns per element per thread"], rows)]
    common.emit("\n".join(text), args.out)


if __name__ == "__main__":
    main()
