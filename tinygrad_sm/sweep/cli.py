"""The command: `tinygrad-sm sweep` options, the spec they make, and main()."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from .. import train as T
from .log import damaged, read_json
from .run import run_sweep
from .space import OPTIONS, Range, SweepError, load_space_file, parse_cli_dim
from .trials import SweepSpec


# -- the command ----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `tinygrad-sm sweep` (search space, search, executors, output)."""
    p = argparse.ArgumentParser(
        prog="tinygrad-sm sweep",
        description="Hyperparameter search over train options, scored on a validation split carved from the "
                    "training set; the winner is evaluated on test once, at the end.",
        epilog="Each option takes values (--lr 0.01 0.1 or --lr 0.01,0.1), a range (--lr 1e-4:1e-1, "
               "log-uniform for lr, reg and weight-decay) or a range with grid points (--lr 1e-4:1e-1:4). "
               "--hidden takes alternatives like --hidden 64 128,64. A --space file (TOML or JSON) takes "
               "the same options: lr = {low = 1e-4, high = 1e-1}, momentum = [0.0, 0.9], hidden = [[64], [128, 64]].")
    s = p.add_argument_group("search space (any train option; unset ones keep train's defaults)")
    d = T.TrainConfig()
    helps = {"model": f"{' | '.join(T.MODELS)} (default {d.model})", "dataset": f"default {d.dataset}",
             "optimizer": f"{' | '.join(T.OPTIMIZERS)} (default {d.optimizer})",
             "lr_schedule": f"{' | '.join(T.SCHEDULES)} (default: step with --lr-step, else constant)",
             "hidden": "hidden sizes, alternatives separated by spaces: 64 128,64",
             "seed": "training seed of the trials (default: --seed)",
             "reg": "L2 penalty reg * sum(W**2) (default 0; 1e-4 for svm)",
             "normalize": "standardise the pixels: true or false; give both (false true) to compare them "
                          "(default false)"}
    for name in OPTIONS:
        flag = "--train-seed" if name == "seed" else f"--{name.replace('_', '-')}"
        s.add_argument(flag, dest=f"opt_{name}", nargs="+", metavar="V",
                       help=helps.get(name, f"default {getattr(d, name)}"))
    s.add_argument("--space", metavar="FILE", help="a TOML or JSON file of options (the command line wins)")
    g = p.add_argument_group("search")
    g.add_argument("--search", choices=("grid", "random"), default=None,
                   help="default: random when a range has no grid points or --trials is given, else grid")
    g.add_argument("--trials", type=int, default=None, help="random search: how many trials (default 10)")
    g.add_argument("--seed", type=int, default=0, help="seeds the draws and the validation split (default 0)")
    g.add_argument("--val-fraction", type=float, default=0.1, help="held out of the training set (default 0.1)")
    g.add_argument("--data-root", default=None, help="directory holding the dataset files (on every worker)")
    e = p.add_argument_group("where trials run")
    e.add_argument("--workers", type=int, default=1, help="local worker processes (default 1: in this process)")
    e.add_argument("--dask", metavar="ADDRESS", help="local:N (a LocalCluster of N processes) or tcp://HOST:8786")
    e.add_argument("--threads", type=int, default=None,
                   help="BLAS/Numba threads per worker process (default: cores / workers); "
                        "in this process (no --workers/--dask) only Numba's")
    o = p.add_argument_group("output")
    o.add_argument("--out", default=os.path.join("runs", "sweep"), help="default: %(default)s")
    o.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="trials file format (default jsonl)")
    o.add_argument("--resume", action="store_true", help="skip the trials already in --out")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def spec_from_args(a: argparse.Namespace) -> SweepSpec:
    """The SweepSpec the parsed arguments ask for (the saved one for a bare `--resume`)."""
    given = {n: getattr(a, f"opt_{n}") for n in OPTIONS if getattr(a, f"opt_{n}") is not None}
    spec_path = os.path.join(a.out, "sweep.json")
    if a.resume and not given and a.space is None and os.path.exists(spec_path):
        try:  # `sweep --out DIR --resume`: the saved sweep
            spec = SweepSpec.from_dict(read_json(spec_path))
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, SweepError):
                raise
            raise damaged(spec_path, e) from None
        spec.trials = a.trials or spec.trials
        return spec
    space = load_space_file(a.space) if a.space else {}
    space.update({n: parse_cli_dim(n, v) for n, v in given.items()})
    search = a.search or ("random" if a.trials is not None or
                          any(isinstance(d, Range) and d.num is None for d in space.values()) else "grid")
    if search == "grid" and a.trials is not None:
        raise SweepError("--trials is for --search random; a grid runs every combination")
    return SweepSpec(space, search, a.trials if a.trials is not None else (10 if search == "random" else 0),
                     a.seed, a.val_fraction, a.data_root)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run `tinygrad-sm sweep` with `argv`; returns the exit code (0 ok, 1 no trial finished, 2 bad usage)."""
    a = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if a.dask and a.workers != 1:
            raise SweepError("give either --workers (local processes) or --dask, not both")
        if a.workers < 1 or (a.threads is not None and a.threads < 1):
            raise SweepError("--workers and --threads must be positive")
        result = run_sweep(spec_from_args(a), a.out, workers=a.workers, dask=a.dask, threads=a.threads,
                           resume=a.resume, fmt=a.format, progress=not a.no_progress)
    except SweepError as e:
        print(f"tinygrad-sm sweep: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0 if result.best is not None else 1
