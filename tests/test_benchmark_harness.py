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

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def section(speed: str, speed_ok: str, copy: str, copy_ok: str, scaled_limit: str = "5.86",
            scaled_ok: str = "ok") -> str:
    """A run's markdown section with two target tables, shaped like the scripts' ones."""
    return f"""## Something (bench_x.py)

| framework | s |
|---|---|
| a | 1 |

| target | measured | wanted | verdict |
|---|---|---|---|
| speed ratio | {speed} | <= 0.25 | {speed_ok} |
| copy fraction | {copy} | >= 0.6 | {copy_ok} |

| target | measured | at most | verdict |
|---|---|---|---|
| us/op | 5.62 | 4 | MISSED |
| us/op, scaled | 5.62 | {scaled_limit} | {scaled_ok} |
"""


def run_py(code: str) -> object:
    script = f"import sys, json\nsys.path.insert(0, {str(BENCH)!r})\nsys.argv = ['x']\n" + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary_rows(runs: list[str]) -> dict[str, list[str]]:
    """run_all.summary over one section per run, as {target: [run 1, ..., median, wanted,
    verdict on the median, runs ok]}."""
    return run_py(f"""
        import run_all
        text = run_all.summary([[s] for s in {runs!r}])
        rows = [[c.strip() for c in line.strip('|').split('|')] for line in text.splitlines()
                if line.startswith('| ') and not line.startswith('| target')]
        print(json.dumps({{r[0]: r[1:] for r in rows}}))
    """)


def test_target_tables_are_read_with_their_direction_and_verdict() -> None:
    sec = section("0.241 (0.216-0.277)", "ok", "1,304 (np.copyto x 2)", "MISSED")
    got = run_py(f"import run_all\nprint(json.dumps(run_all.targets([{sec!r}])))")
    assert got == [["speed ratio", 0.241, "<= 0.25", True, False],
                   ["copy fraction", 1304.0, ">= 0.6", False, True],
                   ["us/op", 5.62, "<= 4", False, False],
                   ["us/op, scaled", 5.62, "<= 5.86", True, False]]


def test_summary_judges_the_median_not_the_mean() -> None:
    got = summary_rows([section("0.20", "ok", "0.59", "MISSED"),
                        section("0.26", "MISSED", "0.61", "ok"),
                        section("0.27", "MISSED", "0.62", "ok", scaled_limit="5.2", scaled_ok="MISSED")])
    # columns: run 1, run 2, run 3, median, wanted, verdict on the median, runs ok
    # (the mean of the speed ratios, 0.243, would pass; their median, 0.26, does not)
    assert got["speed ratio"] == ["0.2", "0.26", "0.27", "0.26", "<= 0.25", "MISSED", "1/3"]
    assert got["copy fraction"] == ["0.59", "0.61", "0.62", "0.61", ">= 0.6", "ok", "2/3"]
    assert got["us/op"] == ["5.62", "5.62", "5.62", "5.62", "<= 4", "MISSED", "0/3"]
    # a limit scaled to each run: each run's own limit is listed, and the median of
    # value / limit decides (0.96, 0.96, 1.08: ok)
    assert got["us/op, scaled"] == ["5.62", "5.62", "5.62", "5.62", "<= 5.86 / <= 5.86 / <= 5.2", "ok", "2/3"]


def test_summary_counts_a_failed_run_as_not_ok() -> None:
    got = summary_rows([section("0.24", "ok", "0.59", "MISSED"), "## bench_x.py\n\nFAILED (exit code 1)"])
    assert got["speed ratio"] == ["0.24", "-", "0.24", "<= 0.25", "ok", "1/2"]


def test_summary_with_a_target_no_run_could_measure() -> None:
    got = summary_rows([section("-", "-", "0.7", "ok"), section("-", "-", "0.7", "ok")])
    assert got["speed ratio"] == ["-", "-", "-", "<= 0.25", "-", "0/2"]


def test_a_nan_value_is_the_worst_value_not_an_unmeasured_one() -> None:
    # a diverged run prints nan: it counts against the target (inf for 'at most', -inf for
    # 'at least'); the median of two good runs and a nan one is still a good value
    got = summary_rows([section("nan", "MISSED", "nan", "MISSED"), section("0.20", "ok", "0.7", "ok"),
                        section("0.21", "ok", "0.8", "ok")])
    assert got["speed ratio"] == ["inf", "0.2", "0.21", "0.21", "<= 0.25", "ok", "2/3"]
    assert got["copy fraction"] == ["-inf", "0.7", "0.8", "0.7", ">= 0.6", "ok", "2/3"]
    got = summary_rows([section("nan", "MISSED", "0.7", "ok")] * 2)
    assert got["speed ratio"] == ["inf", "inf", "inf", "<= 0.25", "MISSED", "0/2"]


def test_mlp_targets_pair_the_epochs_round_by_round() -> None:
    # a slow spell in round 2 hits both frameworks. Paired: 1.1, 0.909, 1.2 -> 1.1; the ratio of
    # the medians would be 1.2 / 1.0, and the ratio the wrong way round 0.909
    got = run_py("""
        import bench_mlp
        rows = {"tinygrad_sm": {"times": [1.1, 3.0, 1.2]}, "numpy": {"times": [1.0, 3.3, 1.0]}}
        print(json.dumps([bench_mlp._paired(rows, "numpy"), bench_mlp._paired(rows, "torch")]))
    """)
    assert abs(got[0][0] - 1.1) < 1e-12 and got[0][1] < 1.1 < got[0][2]
    assert got[1] is None


SAME_WORK = """
    import numpy as np, bench_mlp, run_all
    torch = __import__("common").torch_or_none()
    if torch is None:
        print(json.dumps(None)); raise SystemExit
    bench_mlp.CONFIGS["tiny"] = dict(title="tiny", sizes=[12, 8, 3], batch=16, lr=0.1, momentum=0.5)
    bench_mlp.SHORT["tiny"] = "tiny"
    rng = np.random.default_rng(0)
    x, xt = rng.random((96, 12), np.float32), rng.random((40, 12), np.float32)
    data = (x, rng.integers(0, 3, 96), xt, rng.integers(0, 3, 40))
    {patch}
    res = bench_mlp.run_config("tiny", list(bench_mlp.FRAMEWORKS), data, 1, None, 1, None)
    text = bench_mlp.section([res], {{}}, "random", type("A", (), {{"repeats": 1}}))
    t = [t for t in run_all.targets([text]) if "float64" in t.name]
    print(json.dumps([[x.name, x.value, x.ok] for x in t] + [res["float64"]["numpy"]["max_dw"]]))
"""


def same_work(patch: str = "") -> list:
    """The tiny config's float64 target rows, and the NumPy net's distance from PyTorch."""
    got = run_py(SAME_WORK.format(patch=patch))
    if got is None:
        pytest.skip("PyTorch is not installed (pip install the CPU wheel to run this)")
    return got


def test_the_float64_epoch_shows_the_same_work() -> None:
    (name, value, ok), (name2, diff, ok2), numpy_dw = same_work()
    assert name == "tiny, one epoch in float64: tinygrad_sm max abs dW vs PyTorch"
    assert name2 == "tiny, one epoch in float64: tinygrad_sm test predictions != PyTorch's"
    assert value < 1e-12 and ok and diff == 0 and ok2 and numpy_dw < 1e-12


def test_the_float64_epoch_catches_a_net_that_does_less_work() -> None:
    # tinygrad_sm skipping the epoch's last batch: its float64 weights end far from PyTorch's
    patch = """
    epoch = bench_mlp.TinygradNet.train_epoch
    bench_mlp.TinygradNet.train_epoch = lambda self, x, y, b: epoch(self, x, y, b[:-1])"""
    (name, value, ok), _, numpy_dw = same_work(patch)
    assert value > 1e-4 and not ok and numpy_dw < 1e-12


def test_the_float64_targets_show_unmeasured_when_pytorch_is_missing() -> None:
    got = run_py("""
        import bench_mlp, run_all
        row = {"sec": 1.0, "times": [1.0], "acc": 0.5, "pred_diff": None, "max_dw": None, "max_dw_numpy": None}
        res = {"config": "mlp64", "title": "t", "batches": 1, "rows": {"tinygrad_sm": row, "numpy": row},
               "same_work": True}
        text = bench_mlp.section([res], {"torch": "PyTorch not installed"}, "x", type("A", (), {"repeats": 1}))
        print(json.dumps([[t.name, t.value, t.ok] for t in run_all.targets([text]) if "float64" in t.name]))
    """)
    assert got == [["MLP batch 64, one epoch in float64: tinygrad_sm max abs dW vs PyTorch", None, False],
                   ["MLP batch 64, one epoch in float64: tinygrad_sm test predictions != PyTorch's", None, False]]


def test_interleaved_timing_collects_one_functions_cyclic_garbage_before_the_next_is_timed() -> None:
    # "cyclic" leaves reference cycles behind (as micrograd's graphs do); with the collector's
    # automatic runs off, only interleaved_samples can free them. "check" looks on each call
    # whether every cycle made so far is gone: not while it is calibrated (right after cyclic's
    # calibration, untimed), then in every timed block, each started after a collection.
    seen = run_py("""
        import gc, common
        alive, seen = [0], []
        class Node:
            def __del__(self):
                alive[0] -= 1
        def cyclic():
            n = Node(); n.me = n
            alive[0] += 1
        def check():
            seen.append(alive[0] == 0)
        gc.disable()
        common.interleaved_samples({"cyclic": cyclic, "check": check}, repeats=4, target_s=0.002, warmup=0)
        print(json.dumps(seen))
    """)
    assert seen[0] is False  # (calibration: cyclic's garbage still there)
    first_clean = seen.index(True)
    assert all(seen[first_clean:])
