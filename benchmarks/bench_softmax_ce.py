"""Fused softmax-cross-entropy, forward + backward, float32: tinygrad_sm vs PyTorch, and vs memory copy.

One call = mean cross-entropy loss of (N, C) logits against integer classes, then dL/dlogits.
Rows:
  tinygrad_sm           F.cross_entropy(z, y).backward() on a Tensor (what a user runs)
  kernels (B)           backend B's cross_entropy_forward + cross_entropy_backward, called directly
  kernels fused (B)     backend B's softmax_cross_entropy (loss and gradient in one pass), if it has one
  PyTorch               torch.nn.functional.cross_entropy(z, y).backward()

Effective GB/s counts the least any forward + backward must move: read the logits once and
write the gradient once, 2 * N * C * 4 bytes. A copy also reads and writes N * C * 4 bytes, so
"of copy" = (time to copy the logits) / (time of the call): 100% would be copy speed. The copy
is np.copyto of an array of the same size, the faster of 1 thread and THREADS threads (each
thread copies its own slice), measured in the same run.

    python benchmarks/bench_softmax_ce.py [--quick]
"""
from __future__ import annotations

import common  # noqa: I001 - first: pins thread counts before NumPy loads

from typing import Any, Callable

import numpy as np

SHAPES = [(64, 10), (256, 10), (1024, 1000), (4096, 1000)]
QUICK_SHAPES = [(64, 10), (1024, 1000)]


def variants(z: np.ndarray, y: np.ndarray, backends: list[str]
             ) -> tuple[dict[str, Callable[[], Any]], dict[str, Callable[[], np.ndarray]]]:
    """Name -> timed call, and name -> call returning the gradient (checked against PyTorch's)."""
    tg = common.tinygrad_setup()
    import tinygrad_sm.functional as F
    n = len(y)
    calls: dict[str, Callable[[], Any]] = {}
    grads: dict[str, Callable[[], np.ndarray]] = {}

    zt, yt = tg.Tensor(z, requires_grad=True), tg.from_numpy(y)

    def tensor_call() -> Any:
        zt.grad = None
        F.cross_entropy(zt, yt).backward()
        return zt.grad

    calls["tinygrad_sm"] = tensor_call
    grads["tinygrad_sm"] = lambda: tensor_call().numpy()
    row_g = np.full(n, 1.0 / n, dtype=z.dtype)  # d mean / d row loss
    for backend in backends:
        mod = common.backend_module(backend)  # called directly: no switching inside the timed call

        def split(m: Any = mod) -> np.ndarray:
            _, logp = m.cross_entropy_forward(z, y, 0.0)
            return m.cross_entropy_backward(logp, y, row_g, 0.0)

        calls[f"kernels ({backend})"] = grads[f"kernels ({backend})"] = split
        if hasattr(mod, "softmax_cross_entropy"):
            def fused(m: Any = mod) -> np.ndarray:
                return m.softmax_cross_entropy(z, y, 0.0, 1.0 / n)[1]

            calls[f"kernels fused ({backend})"] = grads[f"kernels fused ({backend})"] = fused

    torch = common.torch_or_none()
    if torch is not None:
        zp, yp = torch.tensor(z, requires_grad=True), torch.from_numpy(y)

        def torch_call() -> Any:
            zp.grad = None
            torch.nn.functional.cross_entropy(zp, yp).backward()
            return zp.grad

        calls["PyTorch"] = torch_call
        grads["PyTorch"] = lambda: torch_call().numpy()
    return calls, grads




def main() -> None:
    args = common.parser(__doc__.split("\n")[0]).parse_args()
    shapes = QUICK_SHAPES if args.quick else SHAPES
    repeats, target_s = (3, 0.01) if args.quick else (15, 0.05)
    rng = np.random.default_rng(0)
    big = 256 << 20
    copies = {"large array": common.copy_bandwidths(big)}
    machine = max(copies["large array"].values())
    out = ["## Fused softmax-cross-entropy, forward + backward, float32 (bench_softmax_ce.py)", "",
           f"Median of {repeats} timings, variants taking turns, warm-up excluded. Effective GB/s = "
           "2 * N * C * 4 bytes (read logits, write gradient) / time; 'of copy' = copy time of the "
           "logits / call time, the copy measured at the same size in this run (the best of the "
           "ways of copying in the table below). The time ratio in the targets is the median of "
           "the ratios round by round (interquartile range in brackets). The best copy of a "
           f"{big >> 20} MB array ({common.THREADS} threads), which no cache holds: {machine:.1f} GB/s. "
           "The issue's floor is that bandwidth (the machine's memory); the (4096, 1000) logits and "
           "their gradient (32 MB) can sit in a large L3 cache in part, where a copy of the same "
           "size runs faster, so the targets give both fractions.", ""]
    backends, broken = common.backends_available()
    if broken:
        out += ["Not run: " + "; ".join(f"{k} ({v})" for k, v in broken.items()) + ".", ""]
    rows, targets = [], []
    for n, c in shapes:
        z = (rng.standard_normal((n, c)) * 3).astype(np.float32)
        y = rng.integers(0, c, n).astype(np.int64)
        calls, grads = variants(z, y, backends)
        ref = grads["PyTorch"]() if "PyTorch" in grads else None
        errs = {k: (None if ref is None else float(np.max(np.abs(g() - ref)))) for k, g in grads.items()}
        samples = common.interleaved_samples(calls, repeats=repeats, target_s=target_s)
        times = {k: common.median(v) for k, v in samples.items()}
        copies[f"({n}, {c})"] = common.copy_bandwidths(n * c * 4)
        copy = max(copies[f"({n}, {c})"].values())
        moved = 2 * n * c * 4
        for name, sec in times.items():
            gbs = moved / sec / 1e9
            rows.append([f"({n}, {c})", name, sec * 1e6, gbs, f"{100 * gbs / copy:.0f}%",
                         common.ratio(sec, times.get("PyTorch")),
                         None if errs[name] is None else f"{errs[name]:.1e}"])
        if (n, c) == (4096, 1000):
            q = common.paired_ratio(samples["tinygrad_sm"], samples["PyTorch"]) if "PyTorch" in samples else None
            gbs = moved / times["tinygrad_sm"] / 1e9
            targets += [["(4096, 1000) tinygrad_sm / PyTorch time", q and common.spread(q), "<= 0.25",
                         common.verdict(q and q[0], 0.25)],
                        ["(4096, 1000) tinygrad_sm fraction of the copy bandwidth of a 256 MB array",
                         gbs / machine, ">= 0.6", common.verdict(gbs / machine, 0.6, higher_is_better=True)],
                        ["(4096, 1000) tinygrad_sm fraction of the copy bandwidth (same size)", gbs / copy,
                         ">= 0.6", common.verdict(gbs / copy, 0.6, higher_is_better=True)]]
    out.append(common.md_table(["shape", "variant", "us/call", "eff. GB/s", "of copy", "x PyTorch",
                                "max abs grad diff vs PyTorch"], rows))
    ways = list(next(iter(copies.values())))
    out += ["", "Copy bandwidth, GB/s, by way of copying (see benchmarks/common.py: copy_bandwidths):", "",
            common.md_table(["array", *ways], [[k, *(v[w] for w in ways)] for k, v in copies.items()])]
    if targets:
        out += ["", common.md_table(["target", "measured", "wanted", "verdict"], targets)]
    common.emit("\n".join(out), args.out)


if __name__ == "__main__":
    main()
