"""Start-up costs: `import tinygrad_sm`, and the first training step with a cold and a warm Numba cache.

Every measurement runs in a fresh Python process:
  import        seconds spent in `import tinygrad_sm` (and whether it imported numba: it must not)
  first step    MLP 784-256-10, one batch of 64 (forward, cross-entropy, backward, SGD step),
                timed from just after the import; then the second step, for the steady state
Numba's cache lives in NUMBA_CACHE_DIR: "cold" is a fresh empty directory (every kernel compiles),
"warm" reuses the directory a previous process filled (kernels load from disk). PyTorch's import
and first step are shown for scale.

    python benchmarks/bench_startup.py [--quick]
"""
from __future__ import annotations

import common  # noqa: I001 - first: pins thread counts before NumPy loads

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Optional

# What runs inside each fresh process: a bare interpreter (not even NumPy imported yet), so the
# import time is what a user's script pays. Thread counts come through the inherited environment.
CHILD = r"""
import sys, time, json, os
kind = sys.argv[1]
what, fw = kind.split("-", 1)
threads = int(os.environ["OMP_NUM_THREADS"])
t0 = time.perf_counter()
if fw == "torch":
    import torch
    torch.set_num_threads(threads)
else:
    import tinygrad_sm
out = {"import_s": time.perf_counter() - t0, "numba_imported": "numba" in sys.modules}
if what == "step":
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.random((64, 784), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    t0 = time.perf_counter()
    if fw == "torch":
        model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        xb, yb, ce = torch.from_numpy(x), torch.from_numpy(y), torch.nn.functional.cross_entropy
    else:
        import tinygrad_sm.functional as F
        from tinygrad_sm import nn, optim
        if hasattr(tinygrad_sm, "set_num_threads"):
            tinygrad_sm.set_num_threads(threads)
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        opt = optim.SGD(model.parameters(), lr=0.05)
        xb, yb, ce = tinygrad_sm.from_numpy(x), tinygrad_sm.from_numpy(y), F.cross_entropy
    times = []
    for _ in range(2):
        loss = ce(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
    out.update(first_step_s=times[0], second_step_s=times[1])
print(json.dumps(out))
"""


# -- the driver ----------------------------------------------------------------------------
def spawn(kind: str, env: Optional[dict[str, str]] = None) -> dict[str, Any]:
    cmd = [sys.executable, "-c", CHILD, kind]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def med(runs: list[dict[str, Any]], key: str) -> float:
    return common.median([r[key] for r in runs])


def main() -> None:
    args = common.parser(__doc__.split("\n")[0]).parse_args()
    n = 1 if args.quick else 5
    has_torch = common.optional("torch") is not None
    spawn("import-tinygrad_sm")  # fills the OS file cache and __pycache__; not counted
    imports = {"tinygrad_sm": [spawn("import-tinygrad_sm") for _ in range(n)]}
    if has_torch:
        spawn("import-torch")
        imports["PyTorch"] = [spawn("import-torch") for _ in range(n)]
    numba_at_import = any(r["numba_imported"] for r in imports["tinygrad_sm"])

    steps: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-numba-cache-") as tmp:
        for i in range(1 if args.quick else 2):  # cold: a new, empty cache directory each time
            cold = os.path.join(tmp, f"cold{i}")
            steps.setdefault("tinygrad_sm, numba, cold cache", []).append(
                spawn("step-tinygrad_sm", {"NUMBA_CACHE_DIR": cold, "TINYGRAD_SM_BACKEND": "numba"}))
        warm = os.path.join(tmp, "cold0")  # filled by the first cold run
        steps["tinygrad_sm, numba, warm cache"] = [
            spawn("step-tinygrad_sm", {"NUMBA_CACHE_DIR": warm, "TINYGRAD_SM_BACKEND": "numba"}) for _ in range(n)]
    steps["tinygrad_sm, numpy backend"] = [
        spawn("step-tinygrad_sm", {"TINYGRAD_SM_BACKEND": "numpy"}) for _ in range(n)]
    if has_torch:
        steps["PyTorch"] = [spawn("step-torch") for _ in range(n)]

    out = ["## Start-up (bench_startup.py)", "",
           f"Each figure is the median over {n} fresh processes (cold cache: "
           f"{1 if args.quick else 2}), after one untimed process that warms the OS file cache.", "",
           common.md_table(["import", "seconds"], [[k, med(v, "import_s")] for k, v in imports.items()]), "",
           f"`import tinygrad_sm` imports numba: {'YES (it should not)' if numba_at_import else 'no'}.", "",
           common.md_table(["first training step, MLP 784-256-10, batch 64", "import s", "first step s",
                            "second step s"],
                           [[k, med(v, "import_s"), med(v, "first_step_s"), med(v, "second_step_s")]
                            for k, v in steps.items()])]
    common.emit("\n".join(out), args.out)


if __name__ == "__main__":
    main()
