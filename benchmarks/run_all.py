"""Run every benchmark, each in its own process, and write benchmarks/RESULTS.md.

    python benchmarks/run_all.py            # the official run: a quiet machine, about 5-6 minutes on 2 cores
    python benchmarks/run_all.py --runs 3   # three full passes; each target judged on their median
    python benchmarks/run_all.py --quick    # smoke test of every script (writes the file marked as such)
    python benchmarks/run_all.py --only mlp,matmul --output /tmp/partial.md
"""
from __future__ import annotations

import common  # noqa: I001 - first: pins thread counts before NumPy loads

import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple, Optional

# Start-up first, while nothing else has run; memory last (it starts its own processes).
SCRIPTS = {
    "startup": "bench_startup.py",
    "overhead": "bench_overhead.py",
    "softmax_ce": "bench_softmax_ce.py",
    "ce_anatomy": "ce_anatomy.py",
    "matmul": "bench_matmul.py",
    "mlp": "bench_mlp.py",
    "cnn": "bench_cnn.py",
    "memory": "bench_memory.py",
    "distributed": "bench_distributed.py",  # its own options; an official run also --writes RESULTS_distributed.md
}


def run_once(names: list[str], quick: bool, tmp: Path) -> tuple[list[str], list[str], list[tuple[str, float]]]:
    """Each benchmark in its own process: (markdown sections, commands, wall seconds per script)."""
    extra = ["--threads", str(common.THREADS)] + (["--quick"] if quick else [])
    sections, commands, walls = [], [], []
    for name in names:
        script = SCRIPTS[name]
        out = tmp / f"{name}.md"
        out.unlink(missing_ok=True)
        if name == "distributed":  # MPI ranks split the cores themselves; a smoke run keeps the page
            args_d = ["--epochs", "2"] if quick else ["--write"]
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
    return sections, commands, walls


# a number, or nan / inf (a diverged run's value: its verdict is MISSED, not "could not measure")
_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\b(?:nan|inf)\b")


def _number(cell: str) -> Optional[float]:
    m = _NUMBER.search(cell)
    return float(m.group().replace(",", "")) if m else None


class Target(NamedTuple):
    name: str
    value: Optional[float]  # None when the run could not measure it ('-')
    wanted: str  # as printed: '<= 0.25', '>= 0.6'
    ok: bool  # the script's own verdict
    higher_is_better: bool


def targets(sections: list[str]) -> list[Target]:
    """Every row of every target table in a run's sections.

    Target tables are the ones whose first column is 'target'; 'measured' is the first number of
    its cell (a round-by-round ratio's median, before its interquartile range), and the limit
    reads '>= x' or '<= x' under a 'wanted' heading, or a bare number under 'at most'.
    """
    found = []
    for text in sections:
        header: Optional[list[str]] = None
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
            if cells is None:
                header = None
            elif cells[0] == "target":
                header = cells
            elif header is not None and not set(line) <= set("|-"):
                row = dict(zip(header, cells))
                wanted = row["wanted"] if "wanted" in row else "<= " + row.get("at most", "?")
                value, higher = _number(row.get("measured", "")), wanted.startswith(">=")
                if value is not None and math.isnan(value):  # (a diverged run: the worst value)
                    value = -math.inf if higher else math.inf
                found.append(Target(row["target"], value, wanted, row.get("verdict") == "ok", higher))
    return found


def summary(runs: list[list[str]]) -> str:
    """One table: each target's value in every run, their median and the verdict on the median."""
    per_run = [{t.name: t for t in targets(sections)} for sections in runs]
    names = list(dict.fromkeys(name for ts in per_run for name in ts))
    rows, scaled = [], False
    for name in names:
        hits = [ts[name] for ts in per_run if name in ts]
        measured = [t for t in hits if t.value is not None]
        limits = [_number(t.wanted) for t in measured]
        higher = hits[0].higher_is_better
        if len(set(limits)) <= 1:  # one limit: judge the median value against it
            med = common.median([t.value for t in measured]) if measured else None
            verdict = common.verdict(med, limits[0], higher) if measured and limits[0] is not None else "-"
            wanted = hits[0].wanted
        else:  # a limit scaled to each run: judge the median of value / limit
            scaled = True
            med = common.median([t.value for t in measured])
            verdict = "-"  # (value / limit says nothing when a limit is not positive)
            if all(lim is not None and lim > 0 for lim in limits):
                verdict = common.verdict(common.median([t.value / lim for t, lim in zip(measured, limits)]),
                                         1.0, higher)
            wanted = " / ".join(ts[name].wanted if name in ts else "-" for ts in per_run)
        rows.append([name, *[_fmt(ts[name].value) if name in ts else None for ts in per_run],
                     _fmt(med), wanted, verdict, f"{sum(t.ok for t in hits)}/{len(runs)}"])
    note = (" Where a target's limit is scaled to each run (one limit per run under 'wanted'), the "
            "verdict is on the median of value / limit, and 'median' shows the values' median."
            if scaled else "")
    return "\n".join([
        f"## Targets over {len(runs)} runs", "",
        f"`run_all.py --runs {len(runs)}` ran every benchmark {len(runs)} times, one full pass after the "
        "other. This machine's speed drifts within the hour, and a target whose value sits near its "
        "limit can pass in one run and miss in the next: the verdict here is on the median of the runs, "
        "and 'runs ok' counts the runs whose own verdict was ok (a run that failed or could not "
        f"measure the target counts as not ok).{note} The sections below are the last run's.", "",
        common.md_table(["target", *[f"run {i + 1}" for i in range(len(runs))], "median", "wanted",
                         "verdict (median)", "runs ok"], rows)])


def _fmt(v: Optional[float]) -> Optional[str]:
    return None if v is None else f"{v:.4g}"


def main() -> None:
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--only", help=f"comma-separated subset of {','.join(SCRIPTS)}")
    p.add_argument("--runs", type=int, default=1,
                   help="run everything this many times and judge each target on the median (default 1)")
    p.add_argument("--output", type=Path, default=common.BENCH_DIR / "RESULTS.md")
    args = p.parse_args()
    names = args.only.split(",") if args.only else list(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        raise SystemExit(f"--only: unknown benchmark(s) {unknown}; choose from {list(SCRIPTS)}")
    if args.runs < 1:
        raise SystemExit(f"--runs must be at least 1, got {args.runs}")
    t_all = time.perf_counter()
    runs, walls_all = [], []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for i in range(args.runs):
            if args.runs > 1:
                print(f"=== run {i + 1} of {args.runs}", flush=True)
            sections, commands, walls = run_once(names, args.quick, Path(tmp))
            runs.append(sections)
            walls_all.append(walls)
    total = time.perf_counter() - t_all
    info = common.machine_info()
    marker = ("> **Smoke run (`--quick`): small sizes and few repeats. These are NOT the official numbers.**"
              if args.quick else f"> Measured by `benchmarks/run_all.py` on {info['date']}.")
    run_cols = [f"run {i + 1}" for i in range(args.runs)] if args.runs > 1 else ["wall seconds"]
    wall_rows = [[s, *[w[j][1] for w in walls_all]] for j, (s, _) in enumerate(walls_all[0])]
    wall_rows.append(["total", *[sum(x for _, x in w) for w in walls_all]])
    doc = ["# tinygrad_sm benchmarks: results", "", marker, "",
           "## Machine", "", common.md_table(["", ""], list(info.items())), "",
           f"Thread counts for BLAS, OpenMP, Numba and PyTorch all pinned to {common.THREADS} "
           "(OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, NUMBA_NUM_THREADS, "
           "torch.set_num_threads).", "",
           "## Commands", "", "```bash",
           *([" ".join(["python benchmarks/run_all.py", f"--runs {args.runs}",
                        *(["--quick"] if args.quick else []), *([f"--only {args.only}"] if args.only else [])])
              + "   # which runs these:"] if args.runs > 1 else []),
           *commands, "```", "",
           common.md_table(["script", *run_cols], wall_rows), ""]
    if args.runs > 1:
        doc += [summary(runs), ""]
    doc += [s + "\n" for s in runs[-1]]
    args.output.write_text("\n".join(doc).rstrip() + "\n")
    print(f"wrote {args.output} ({total:.0f} s)")


if __name__ == "__main__":
    main()
