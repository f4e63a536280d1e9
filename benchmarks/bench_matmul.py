"""Square float32 matmul, n = 256..2048: GFLOP/s of tinygrad_sm vs NumPy (and PyTorch).

  forward       C = A @ B                               2 n^3 flops
  fwd+bwd       C = A @ B, then dA = G @ B.T, dB = A.T @ G   6 n^3 flops
tinygrad_sm runs Tensor code (`a @ b`, `c.backward(g)`); NumPy runs the same products by hand, so
the ratio shows what the Tensor layer costs on top of the BLAS call. Target: >= 0.95x NumPy.
fwd+bwd also runs the minimal tape of bench_overhead (common.TapeNode): what any autograd written
in Python costs on top of the products, for reading the tinygrad_sm figure beside it.

    python benchmarks/bench_matmul.py [--quick]
"""
from __future__ import annotations

import common  # noqa: I001 - first: pins thread counts before NumPy loads

from typing import Any, Callable

import numpy as np

SIZES = [256, 512, 1024, 2048]
QUICK_SIZES = [256, 512]


def variants(n: int) -> dict[str, dict[str, Callable[[], Any]]]:
    """mode -> framework -> call."""
    tg = common.tinygrad_setup()
    rng = np.random.default_rng(n)
    a, b, g = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(3))
    ta, tb, tg_g = tg.Tensor(a, requires_grad=True), tg.Tensor(b, requires_grad=True), tg.Tensor(g)
    ca, cb = tg.Tensor(a), tg.Tensor(b)
    na, nb = common.TapeNode(a), common.TapeNode(b)

    def tg_fb() -> Any:
        ta.grad = tb.grad = None
        (ta @ tb).backward(tg_g)

    def np_fb() -> Any:
        a @ b  # the forward product is computed (and discarded) as in every framework
        return g @ b.T, a.T @ g

    def tape_fb() -> Any:
        na.grad = nb.grad = None
        (na @ nb).backward(g)

    modes: dict[str, dict[str, Callable[[], Any]]] = {
        "forward": {"tinygrad_sm": lambda: ca @ cb, "NumPy": lambda: a @ b},
        "fwd+bwd": {"tinygrad_sm": tg_fb, "NumPy": np_fb, "minimal tape": tape_fb},
    }
    torch = common.torch_or_none()
    if torch is not None:
        pa, pb, pg = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(g)
        qa, qb = pa.clone().requires_grad_(), pb.clone().requires_grad_()

        def torch_fb() -> Any:
            qa.grad = qb.grad = None
            (qa @ qb).backward(pg)

        modes["forward"]["PyTorch"] = lambda: pa @ pb
        modes["fwd+bwd"]["PyTorch"] = torch_fb
    return modes


def main() -> None:
    args = common.parser(__doc__.split("\n")[0]).parse_args()
    sizes = QUICK_SIZES if args.quick else SIZES
    repeats, target_s = (3, 0.02) if args.quick else (15, 0.05)
    rows, targets, floors = [], [], []
    for n in sizes:
        for mode, calls in variants(n).items():
            samples = common.interleaved_samples(calls, repeats=repeats, target_s=target_s, warmup=1)
            times = {k: common.median(v) for k, v in samples.items()}
            flops = (2 if mode == "forward" else 6) * n ** 3
            gf = {k: flops / t / 1e9 for k, t in times.items()}
            for name in calls:
                rows.append([n, mode, name, times[name] * 1e3, gf[name], common.ratio(gf[name], gf["NumPy"])])
            # (GFLOP/s ratio = NumPy's time / tinygrad_sm's, round by round)
            q = common.paired_ratio(samples["NumPy"], samples["tinygrad_sm"])
            targets.append([f"n={n} {mode}: tinygrad_sm / NumPy GFLOP/s", common.spread(q), ">= 0.95",
                            common.verdict(q[0], 0.95, higher_is_better=True)])
            if "minimal tape" in calls:  # (context, not a target: the same ratio for a bare tape)
                q = common.paired_ratio(samples["NumPy"], samples["minimal tape"])
                floors.append([f"n={n} {mode}", common.spread(q)])
    out = ["## Matmul, float32, square (bench_matmul.py)", "",
           f"Median of {repeats} timings, frameworks taking turns, warm-up excluded; "
           f"{common.THREADS} BLAS threads for everyone. A target's figure is the median of the "
           "ratios of the two frameworks' timings round by round (each pair measured a moment "
           "apart), with the interquartile range of those ratios in brackets.", "",
           common.md_table(["n", "mode", "framework", "ms/call", "GFLOP/s", "x NumPy GFLOP/s"], rows), "",
           common.md_table(["target", "measured", "wanted", "verdict"], targets), "",
           "For scale, the minimal tape of bench_overhead (common.TapeNode: a value, its parents "
           "and a closure per op; no checks, no graph release) measured the same way. Between "
           "the BLAS calls any autograd in Python runs its own code, with the caches the "
           "products just filled: at n=256 that costs a bare tape a few percent of NumPy's "
           "time as well.", "",
           common.md_table(["minimal tape / NumPy GFLOP/s", "measured"], floors)]
    common.emit("\n".join(out), args.out)


if __name__ == "__main__":
    main()
