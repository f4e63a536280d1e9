"""Per-op overhead as instruction counts (callgrind): the figure that does not swing with the noise.

Runs bench_overhead.py's 1000-op chain under `valgrind --tool=callgrind` in fresh processes, once
with 2 and once with 32 chains, and divides the difference of the two totals by 30,000 ops (so
start-up and imports cancel out). Each figure is the median of --runs such pairs. The Python
garbage collector is off in the measured processes (--gc keeps it on): its passes come at
allocation counts that shift from run to run, and they moved the counts by ±1,000 per op.

    python benchmarks/overhead_instructions.py [--runs 3] [--gc] [--out FILE]

Needs valgrind (apt-get install valgrind). Run as a child (internal): --child ENGINE MODE CHAINS.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOW, HIGH = 2, 32


def child(engine: str, mode: str, chains: int) -> None:
    """Run `chains` chains of 1000 ops (forward only, or forward + backward) after two warm-ups."""
    sys.path.insert(0, str(HERE))
    import gc

    import numpy as np
    from bench_overhead import forward
    from common import TapeNode

    import tinygrad_sm as tg

    if os.environ.get("OVERHEAD_GC") != "1":
        gc.disable()
    tx = tg.Tensor(0.5, requires_grad=True)

    def tg_fwd() -> None:
        forward(tx)

    def tg_both() -> None:
        tx.grad = None
        forward(tx).backward()

    def tape_fwd() -> None:
        forward(TapeNode(np.array(0.5, np.float32)))

    def tape_both() -> None:
        forward(TapeNode(np.array(0.5, np.float32))).backward()

    run = {("tinygrad_sm", "forward"): tg_fwd, ("tinygrad_sm", "fwd+bwd"): tg_both,
           ("minimal tape", "forward"): tape_fwd, ("minimal tape", "fwd+bwd"): tape_both}[engine, mode]
    for _ in range(2 + chains):
        run()


def instructions(engine: str, mode: str, chains: int, gc_on: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONHASHSEED="0", OVERHEAD_GC="1" if gc_on else "0")
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out",
                            sys.executable, __file__, "--child", engine, mode, str(chains)],
                           env=env, capture_output=True, text=True, check=True)
    m = re.search(r"refs:\s*([\d,]+)", r.stderr)
    if m is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{r.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gc", action="store_true", help="leave the garbage collector on")
    ap.add_argument("--out", help="also write the markdown here")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    per_op: dict[tuple[str, str], float] = {}
    for engine in ("tinygrad_sm", "minimal tape"):
        for mode in ("forward", "fwd+bwd"):
            counts = [(instructions(engine, mode, HIGH, args.gc) - instructions(engine, mode, LOW, args.gc))
                      / ((HIGH - LOW) * 1000) for _ in range(args.runs)]
            per_op[engine, mode] = statistics.median(counts)
    tape = per_op["minimal tape", "fwd+bwd"]
    lines = ["## Per-op overhead in instructions (overhead_instructions.py)", "",
             f"callgrind, 1000-op chain of bench_overhead.py, median of {args.runs} runs, garbage "
             f"collector {'on' if args.gc else 'off'}.", "",
             "| engine | forward instr/op | fwd+bwd instr/op | x minimal tape |", "|---|---|---|---|"]
    for engine in ("tinygrad_sm", "minimal tape"):
        f, b = per_op[engine, "forward"], per_op[engine, "fwd+bwd"]
        lines.append(f"| {engine} | {f:,.0f} | {b:,.0f} | {b / tape:.3f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
