"""`tinygrad-sm sweep`: hyperparameter search over any `train` option, on this machine or on Dask.

    tinygrad-sm sweep --model mlp --hidden 64 128 --epochs 2 --lr 1e-3:1e-1 --reg 1e-5:1e-2 \\
        --trials 20 --workers 2 --out runs/sweep
    tinygrad-sm sweep --space space.toml --dask tcp://scheduler:8786 --out runs/sweep

How a sweep stays honest and repeatable:
- Trials are scored on a seeded validation split carved from the training set (--val-fraction);
  the test set is read once, after the search, to evaluate the winner.
- A trial is a pure function of its configuration: its seed and the validation split are part
  of it, never the executor, so sequential, --workers and Dask runs give the same numbers (to the
  bit when each trial gets as many BLAS threads; OpenBLAS sums in another order with more).
- Random search draws trial i from a generator seeded with (seed, i): asking for more --trials
  later keeps the first ones, so `--resume --trials 40` extends a sweep of 20.
- Each finished trial is appended to OUT/trials.jsonl (or .csv) at once; --resume skips them.

The files of this package:
- space.py: the options a sweep can search (FLOATS, INTS, ...), SweepError, Choice and Range,
  and reading them from the command line or a TOML/JSON space file.
- trials.py: Trial and SweepSpec (which trials a sweep runs), and run_trial / evaluate_on_test,
  the functions executors send to worker processes.
- executors.py: where trials run: Sequential, Processes (--workers), Dask (--dask), make_executor.
- log.py: TrialLog, OUT/trials.jsonl or .csv, appended as each trial finishes.
- run.py: run_sweep (plan, resume, run, pick the winner, test it once) and SweepResult.
- plot.py: plot_sweep, OUT/sweep.png.
- cli.py: the command's options (build_parser, spec_from_args) and main.
"""
from .cli import build_parser, main, spec_from_args
from .executors import DASK_HINT, THREAD_VARS, Dask, Processes, Sequential, make_executor
from .log import TrialLog
from .plot import PLOT_AXES, plot_sweep
from .run import SweepResult, rank_key, run_sweep
from .space import (BOOLS, FLOATS, INTS, LOG_SCALE, OPTIONS, STRINGS, Choice, Dim, Range, SweepError, dim_from_json,
                    load_space_file, parse_cli_dim, parse_file_dim)
from .trials import _SPLITS, SweepSpec, Trial, evaluate_on_test, run_trial

# sorted as docs/api.md lists them; _SPLITS (the per-process split cache) is importable but not public
__all__ = ["BOOLS", "build_parser", "Choice", "Dask", "DASK_HINT", "Dim", "dim_from_json", "evaluate_on_test",
           "FLOATS", "INTS", "load_space_file", "LOG_SCALE", "main", "make_executor", "OPTIONS", "parse_cli_dim",
           "parse_file_dim", "PLOT_AXES", "plot_sweep", "Processes", "Range", "rank_key", "run_sweep", "run_trial",
           "Sequential", "spec_from_args", "STRINGS", "SweepError", "SweepResult", "SweepSpec", "THREAD_VARS",
           "Trial", "TrialLog"]
