"""Peak resident memory of the MLP benchmark, one framework per process, under /usr/bin/time -v.

Each framework trains MLP 784-256-10 (batch 64, one epoch) alone in a fresh process
(`bench_mlp.py --config mlp64 --only X --repeats 1`), so the figure is the whole process's peak:
interpreter, imports, the Fashion-MNIST arrays (same loader for all) and training. The hand NumPy
run is the floor: data plus the arithmetic, nothing else. Target: tinygrad_sm <= PyTorch.

    python benchmarks/bench_memory.py
"""
from __future__ import annotations

import common  # noqa: I001 - first: pins thread counts before NumPy loads

import os
import re
import subprocess
import sys
from typing import Optional

import bench_mlp

TIME = "/usr/bin/time"


def peak_rss_mb(framework: str, quick: bool) -> tuple[Optional[float], str]:
    """Max RSS in MB of one bench_mlp run, and the command (or the reason it did not run)."""
    cmd = [TIME, "-v", sys.executable, str(common.BENCH_DIR / "bench_mlp.py"), "--config", "mlp64",
           "--only", framework, "--repeats", "1", "--threads", str(common.THREADS)]
    if quick:
        cmd.append("--quick")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:  # the child's own last stderr line comes before time's report
        own = proc.stderr.split("\tCommand being timed:")[0].strip().splitlines()
        return None, f"{framework} failed: {own[-1] if own else proc.returncode}"
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if m is None:
        return None, "no 'Maximum resident set size' line in /usr/bin/time -v output"
    return int(m.group(1)) / 1024, " ".join(["/usr/bin/time -v python benchmarks/bench_mlp.py", *cmd[4:]])


def main() -> None:
    args = common.parser(__doc__.split("\n")[0]).parse_args()
    if not os.path.exists(TIME):
        raise SystemExit(f"{TIME} not found: sudo apt-get install time")
    wanted = list(bench_mlp.FRAMEWORKS)
    frameworks, skipped = bench_mlp.available(wanted)
    rss, cmds = {}, {}
    for fw in frameworks:
        rss[fw], cmds[fw] = peak_rss_mb(fw, args.quick)
    rows = [[fw, None if rss[fw] is None else f"{rss[fw]:.0f}", common.ratio(rss[fw], rss.get("torch")),
             common.ratio(rss[fw], rss.get("numpy"))] for fw in frameworks]
    out = ["## Memory: peak RSS of the MLP benchmark (bench_memory.py)", "",
           "MLP 784-256-10, batch 64, one epoch" + (" (--quick: 60 steps)" if args.quick else "")
           + "; one framework per process; `Maximum resident set size` from `/usr/bin/time -v` "
           "(whole process: interpreter, imports, data, training).", "",
           common.md_table(["framework", "peak RSS (MB)", "x PyTorch", "x NumPy floor"], rows)]
    if skipped:
        out += ["", "Not run: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + "."]
    tg = common.ratio(rss.get("tinygrad_sm"), rss.get("torch"))
    out += ["", common.md_table(["target", "measured", "at most", "verdict"],
                                [["peak RSS tinygrad_sm / PyTorch", tg, 1.0, common.verdict(tg, 1.0)]])]
    out += ["", "Commands:", ""] + [f"    {c}" for c in cmds.values()]
    common.emit("\n".join(out), args.out)


if __name__ == "__main__":
    main()
