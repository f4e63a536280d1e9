"""Run every benchmark, each in its own process, and write benchmarks/RESULTS.md.

    python benchmarks/run_all.py            # the official run: a quiet machine, an estimated 3-5 minutes on 2 cores
    python benchmarks/run_all.py --quick    # smoke test of every script (writes the file marked as such)
    python benchmarks/run_all.py --only mlp,matmul --output /tmp/partial.md
"""
from __future__ import annotations

import common  # noqa: I001 - first: pins thread counts before NumPy loads

import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Start-up first, while nothing else has run; memory last (it starts its own processes).
SCRIPTS = {
    "startup": "bench_startup.py",
    "overhead": "bench_overhead.py",
    "softmax_ce": "bench_softmax_ce.py",
    "ce_anatomy": "ce_anatomy.py",
    "matmul": "bench_matmul.py",
    "mlp": "bench_mlp.py",
    "memory": "bench_memory.py",
    "distributed": "bench_distributed.py",  # its own options; an official run also --writes RESULTS_distributed.md
}


def main() -> None:
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--only", help=f"comma-separated subset of {','.join(SCRIPTS)}")
    p.add_argument("--output", type=Path, default=common.BENCH_DIR / "RESULTS.md")
    args = p.parse_args()
    names = args.only.split(",") if args.only else list(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        raise SystemExit(f"--only: unknown benchmark(s) {unknown}; choose from {list(SCRIPTS)}")
    extra = ["--threads", str(common.THREADS)] + (["--quick"] if args.quick else [])
    sections, commands, walls = [], [], []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name in names:
            script = SCRIPTS[name]
            out = Path(tmp) / f"{name}.md"
            if name == "distributed":  # MPI ranks split the cores themselves; a smoke run keeps the page
                args_d = ["--epochs", "2"] if args.quick else ["--write"]
                cmd = [sys.executable, str(common.BENCH_DIR / script), *args_d, "--out", str(out)]
                commands.append(" ".join(["python", f"benchmarks/{script}", *args_d]))
            else:
                cmd = [sys.executable, str(common.BENCH_DIR / script), *extra, "--out", str(out)]
                commands.append(" ".join(["python", f"benchmarks/{script}", *extra]))
            print(f"== {commands[-1]}", flush=True)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=common.REPO, stderr=subprocess.PIPE, text=True)
            sys.stderr.write(proc.stderr)
            walls.append((script, time.perf_counter() - t0))
            if proc.returncode != 0 or not out.exists():
                tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
                sections.append(f"## {script}\n\nFAILED (exit code {proc.returncode}):\n\n```\n{tail}\n```")
            elif name == "distributed":  # its page starts with a title: make it a section here
                text = out.read_text().rstrip().split("\n", 1)
                sections.append("## Data-parallel training over MPI (bench_distributed.py)\n"
                                + (text[1] if len(text) > 1 else "").replace("\n## ", "\n### "))
            else:
                sections.append(out.read_text().rstrip())
    total = time.perf_counter() - t_all
    info = common.machine_info()
    marker = ("> **Smoke run (`--quick`): small sizes and few repeats. These are NOT the official numbers.**"
              if args.quick else f"> Measured by `benchmarks/run_all.py` on {info['date']}.")
    doc = ["# tinygrad_sm benchmarks: results", "", marker, "",
           "## Machine", "", common.md_table(["", ""], list(info.items())), "",
           f"Thread counts for BLAS, OpenMP, Numba and PyTorch all pinned to {common.THREADS} "
           "(OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, NUMBA_NUM_THREADS, "
           "torch.set_num_threads).", "",
           "## Commands", "", "```bash", *commands, "```", "",
           common.md_table(["script", "wall seconds"], [[s, w] for s, w in walls] + [["total", total]]), "",
           *[s + "\n" for s in sections]]
    args.output.write_text("\n".join(doc).rstrip() + "\n")
    print(f"wrote {args.output} ({total:.0f} s)")


if __name__ == "__main__":
    main()
