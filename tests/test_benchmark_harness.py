"""The benchmark harness's bookkeeping: how run_all.py reads the target tables and judges them
over several runs, and how bench_mlp.py pairs epochs. No timing here (benchmarks are run by hand).

The scripts import benchmarks/common.py, which pins thread counts through environment variables
on import; so each check runs in its own interpreter and reports back as JSON.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"

SECTION_A = """## Something (bench_x.py)

| framework | s |
|---|---|
| a | 1 |

| target | measured | wanted | verdict |
|---|---|---|---|
| speed ratio | 0.241 (0.216-0.277) | <= 0.25 | ok |
| copy fraction | 0.59 | >= 0.6 | MISSED |

| target | measured | at most | verdict |
|---|---|---|---|
| us/op | 5.62 | 4 | MISSED |
| us/op, scaled | 5.62 | 5.86 | ok |
"""


def run_py(code: str) -> object:
    script = f"import sys, json\nsys.path.insert(0, {str(BENCH)!r})\nsys.argv = ['x']\n" + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_target_tables_are_read_with_their_direction() -> None:
    got = run_py(f"import run_all\nprint(json.dumps(run_all.targets([{SECTION_A!r}])))")
    assert got == [["speed ratio", 0.241, "<= 0.25", False], ["copy fraction", 0.59, ">= 0.6", True],
                   ["us/op", 5.62, "<= 4", False], ["us/op, scaled", 5.62, "<= 5.86", False]]


def test_summary_judges_the_median_of_the_runs() -> None:
    # run 2: the speed ratio misses and the copy fraction passes; run 3: the scaled limit is tighter
    run2 = SECTION_A.replace("0.241 (0.216-0.277)", "0.262").replace("| 0.59 |", "| 0.61 |")
    run3 = SECTION_A.replace("| 5.62 | 5.86 |", "| 5.62 | 5.2 |").replace("| 0.59 |", "| 0.62 |")
    got = run_py(f"""
        import run_all
        text = run_all.summary([[{SECTION_A!r}], [{run2!r}], [{run3!r}]])
        rows = [[c.strip() for c in line.strip('|').split('|')] for line in text.splitlines()
                if line.startswith('| ') and not line.startswith('| target')]
        print(json.dumps({{r[0]: r[1:] for r in rows}}))
    """)
    # columns: run 1, run 2, run 3, median, wanted, verdict on the median, runs ok
    assert got["speed ratio"] == ["0.241", "0.262", "0.241", "0.241", "<= 0.25", "ok", "2/3"]
    assert got["copy fraction"] == ["0.59", "0.61", "0.62", "0.61", ">= 0.6", "ok", "2/3"]
    assert got["us/op"] == ["5.62", "5.62", "5.62", "5.62", "<= 4", "MISSED", "0/3"]
    # each run on its own limit; the median of value / limit decides (0.96, 0.96, 1.08)
    assert got["us/op, scaled"] == ["5.62", "5.62", "5.62", "5.62", "<= 5.86 / <= 5.2", "ok", "2/3"]


def test_summary_marks_a_target_missing_from_a_failed_run() -> None:
    got = run_py(f"""
        import run_all
        text = run_all.summary([[{SECTION_A!r}], ['## bench_x.py\\n\\nFAILED (exit code 1)']])
        print(json.dumps([l for l in text.splitlines() if l.startswith('| copy fraction')]))
    """)
    assert got == ["| copy fraction | 0.59 | - | 0.59 | >= 0.6 | MISSED | 0/1 |"]


def test_mlp_targets_pair_the_epochs_round_by_round() -> None:
    # a slow spell in round 2 hits both frameworks: the paired ratio ignores it, and a ratio
    # of medians would not
    got = run_py("""
        import bench_mlp
        rows = {"tinygrad_sm": {"times": [1.0, 3.0, 1.1]}, "numpy": {"times": [1.0, 3.3, 1.0]}}
        print(json.dumps([bench_mlp._paired(rows, "numpy"), bench_mlp._paired(rows, "torch")]))
    """)
    assert got[0][0] == 1.0 and got[0][1] < 1.0 < got[0][2]
    assert got[1] is None
