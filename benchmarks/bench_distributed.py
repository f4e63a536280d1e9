"""Data-parallel MLP training over MPI: one epoch with 1 rank vs 2 ranks, and what the Allreduce costs.

    python benchmarks/bench_distributed.py [--epochs 10] [--batch-sizes 64,512] [--write]

Runs `mpiexec -n K` for K = 1 and 2 with the cores split fairly (K ranks x cores/K BLAS and
Numba threads each; also 1 rank x 1 thread for reference), trains the default MLP (784-256-10)
on the embedded MNIST sample with a global batch B (each rank B/K), and reports the fastest and
the median training time of an epoch (the first is a warm-up; evaluation is not timed; other
jobs on a shared machine only ever add time, so the fastest epoch is the steadier figure), the time per step
spent in the gradient Allreduce (which includes waiting for the slower rank), and a
barrier-synchronised Allreduce of several sizes, from which a latency + bytes/bandwidth model
is fitted. --write puts the tables in
benchmarks/RESULTS_distributed.md.
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def worker(epochs: int, batch: int) -> None:
    """One rank of `mpiexec -n K python bench_distributed.py --worker ...`; rank 0 prints JSON."""
    import numpy as np
    from mpi4py import MPI

    from tinygrad_sm import distributed
    from tinygrad_sm import train as T

    class Timed(distributed.MPIHooks):
        """Times the training part of each epoch: from its first shard() to epoch_totals()."""

        def __init__(self) -> None:
            super().__init__()
            self.epoch_s: list[float] = []
            self.epoch_comm: list[float] = []
            self._t0 = None

        def shard(self, idx):  # type: ignore[override]
            if self._t0 is None:
                self._t0, self._c0 = time.perf_counter(), self.comm_seconds
            return super().shard(idx)

        def epoch_totals(self, seen, loss_sum, correct):  # type: ignore[override]
            self.epoch_s.append(time.perf_counter() - self._t0)
            self.epoch_comm.append(self.comm_seconds - self._c0)
            self._t0 = None
            return super().epoch_totals(seen, loss_sum, correct)

    hooks = Timed()
    hooks.set_threads(int(os.environ["NUMBA_NUM_THREADS"]))
    cfg = T.TrainConfig(model="mlp", epochs=epochs, batch_size=batch, lr=0.05, seed=0)
    run = T.fit(cfg, progress=False, stream=io.StringIO(), hooks=hooks)
    steps_per_epoch = hooks.steps // epochs

    # Allreduce alone (after a barrier, so no waiting for a slower rank), at several sizes
    comm, sizes, pure = MPI.COMM_WORLD, [2, 2_500, 25_000, hooks.grad_bytes // 4, 2_000_000], {}
    for n in sizes:
        buf = np.ones(n, np.float32)
        times = []
        for _ in range(30):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            times.append(time.perf_counter() - t0)
        pure[4 * n] = statistics.median(times)
    if comm.rank == 0:
        print(json.dumps({"ranks": comm.size, "threads": int(os.environ["NUMBA_NUM_THREADS"]), "batch": batch,
                          "steps_per_epoch": steps_per_epoch, "epoch_s": hooks.epoch_s,
                          "epoch_comm_s": hooks.epoch_comm, "grad_bytes": hooks.grad_bytes, "allreduce_s": pure,
                          "test_accuracy": run.history[-1]["test_accuracy"]}))


def run_ranks(k: int, threads: int, epochs: int, batch: int) -> dict:
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit("mpiexec not found: pip install mpi4py mpich")
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS})
    p = subprocess.run([mpiexec, "-n", str(k), sys.executable, str(HERE), "--worker", "--epochs", str(epochs),
                        "--batch", str(batch)], capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0:
        raise SystemExit(f"mpiexec -n {k} failed:\n{p.stdout}\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def fit_latency_bandwidth(points: dict) -> tuple[float, float]:
    """t = a + bytes / bw over the measured sizes, least squares in relative error (so the small
    sizes, which set the latency, count as much as the large ones)."""
    import numpy as np
    x = np.array([float(b) for b in points])
    t = np.array(list(points.values()))
    a, slope = np.linalg.lstsq(np.stack([np.ones_like(x), x], 1) / t[:, None], np.ones_like(t), rcond=None)[0]
    return float(a), float(1 / slope) if slope > 0 else float("inf")


def _fastest(r: dict) -> tuple[float, float, float]:
    """(fastest epoch, its Allreduce time, median epoch), over the epochs after the warm-up."""
    i = min(range(1, len(r["epoch_s"])), key=lambda j: r["epoch_s"][j])
    return r["epoch_s"][i], r["epoch_comm_s"][i], statistics.median(r["epoch_s"][1:])


def report(results: list[dict], cores: int) -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    lines = [
        "# Data-parallel training over MPI: measured figures",
        "",
        f"`python benchmarks/bench_distributed.py --write`, {datetime.date.today()}, {platform.node()}: "
        f"{cores} cores ({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
        f"MPICH via the `mpich` wheel, shared memory between ranks. Load average when run: "
        f"{', '.join(f'{v:.1f}' for v in load)} (the machine was shared with other jobs: figures are noisy).",
        "",
        "MLP 784-256-10 (203,530 float32 parameters, 814 KB of gradient a step) on the embedded MNIST sample "
        "(4,000 training digits), SGD, global batch B split over the ranks; threads per rank = cores / ranks "
        "(BLAS and Numba), plus 1 rank x 1 thread for reference; speed-up is against 1 rank with every core. "
        "Epoch times over the epochs after the first, training only: the fastest (other jobs only add "
        "time) and the median; speed-up and Allreduce from the fastest epoch.",
        "",
        "| global batch | ranks x threads | steps/epoch | fastest epoch (s) | median epoch (s) | speed-up "
        "| Allreduce per step (ms) | share of the epoch |",
        "| ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    base = {}
    for r in results:
        ep, comm, med = _fastest(r)
        base.setdefault(r["batch"], ep)
        lines.append(f"| {r['batch']} | {r['ranks']} x {r['threads']} | {r['steps_per_epoch']} | {ep:.3f} | "
                     f"{med:.3f} | "
                     f"{base[r['batch']] / ep:.2f}x | {1e3 * comm / r['steps_per_epoch']:.3f} | "
                     f"{100 * comm / ep:.0f}% |")
    two = [r for r in results if r["ranks"] == 2]
    if two:
        pts = two[-1]["allreduce_s"]
        a, bw = fit_latency_bandwidth({int(b): t for b, t in pts.items()})
        lines += ["", "Allreduce alone between 2 ranks (after a barrier, median of 30):", "",
                  "| buffer | time (us) | bytes moved per rank (2(k-1)/k x buffer) / time |",
                  "| ---: | ---: | ---: |"]
        for b, t in sorted(((int(b), t) for b, t in pts.items())):
            lines.append(f"| {b:,} B | {1e6 * t:.1f} | {b / t / 1e9:.2f} GB/s |")
        lines += ["", f"Fit t = a + bytes / bw: a = {1e6 * a:.1f} us, bw = {bw / 1e9:.2f} GB/s "
                      "(shared memory on one machine; a network is slower, see docs/scaling.md)."]
    lines += ["", "Notes: the Allreduce per step of the first table is measured inside training, so it includes "
                  "waiting for the slower rank (MPICH busy-polls while it waits); the second table is the "
                  "communication alone."]
    one = {(r["batch"], r["threads"]): _fastest(r)[0] for r in results if r["ranks"] == 1}
    if any(one.get((b, 1), 1e9) < t for (b, th), t in one.items() if th > 1):
        lines.append("One rank with one thread beat one rank with every core: with other jobs on the machine, "
                     "BLAS's extra threads wait for cores more than they help.")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-sizes", default="64,512")
    ap.add_argument("--write", action="store_true", help="write benchmarks/RESULTS_distributed.md")
    ap.add_argument("--out", type=Path, help="also write the page to this file (smoke runs: not --write)")
    a = ap.parse_args()
    if a.worker:
        return worker(a.epochs, a.batch)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    results = []
    # 1 rank with every core (the fair baseline), 1 rank x 1 thread (what one rank's share of the
    # machine does alone), 2 ranks sharing the cores
    for batch in (int(b) for b in a.batch_sizes.split(",")):
        for k, threads in ((1, cores), (1, 1), (2, max(1, cores // 2))):
            r = run_ranks(k, threads, a.epochs, batch)
            results.append(r)
            ep, comm, _ = _fastest(r)
            print(f"batch {batch}, {k} rank(s) x {r['threads']} threads: epoch {ep:.3f} s, "
                  f"Allreduce {1e3 * comm / r['steps_per_epoch']:.3f} ms/step", flush=True)
    text = report(results, cores)
    print(text)
    if a.write:
        (HERE.parent / "RESULTS_distributed.md").write_text(text)
    if a.out is not None:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
