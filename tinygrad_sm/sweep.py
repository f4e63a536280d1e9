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
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import socket
import sys
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence, TextIO, Union

import numpy as np

from . import train as T
from .progress import ProgressBar

# The train options a sweep can search, in the order trials are drawn and printed.
FLOATS = ("lr", "reg", "weight_decay", "momentum", "lr_gamma")
INTS = ("epochs", "batch_size", "hidden", "lr_step", "seed")  # hidden: a list of ints
STRINGS = ("model", "optimizer", "dataset")
BOOLS = ("normalize",)
OPTIONS = ("model", "dataset", "normalize", "optimizer", "lr", "reg", "weight_decay", "momentum", "hidden",
           "batch_size", "epochs", "lr_step", "lr_gamma", "seed")
LOG_SCALE = ("lr", "reg", "weight_decay")  # ranges of these are log-uniform unless told otherwise
DASK_HINT = ('Dask is not installed: pip install "tinygrad-sm[distributed]" '
             '(or pip install "dask[distributed]")')


class SweepError(ValueError):
    """A sweep that cannot run as asked (bad space, clashing output directory, no scheduler)."""


# -- the search space ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """A list of values (a single value is a fixed option)."""

    values: tuple

    def grid(self) -> list:
        return list(self.values)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def to_json(self) -> Any:
        return list(self.values)


@dataclass(frozen=True)
class Range:
    """low..high, log-uniform when `log`; a grid takes `num` points (geometric when log)."""

    name: str
    low: float
    high: float
    log: bool
    num: Optional[int] = None
    integer: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise SweepError(f"{self.name}: a range needs low <= high, got {self.low}:{self.high}")
        if self.log and self.low <= 0:
            raise SweepError(f"{self.name}: a log-uniform range needs low > 0, got {self.low} "
                             f"(give log = false in a space file for a linear range)")
        if self.num is not None and self.num < 1:
            raise SweepError(f"{self.name}: a grid range needs at least 1 point, got {self.num}")

    def _cast(self, v: float) -> Any:
        return int(round(v)) if self.integer else float(v)

    def grid(self) -> list:
        if self.num is None:
            raise SweepError(f"{self.name}: grid search needs a number of points for a range, "
                             f"e.g. {self.low:g}:{self.high:g}:5 (or use --search random)")
        pts = np.geomspace(self.low, self.high, self.num) if self.log else np.linspace(self.low, self.high, self.num)
        return list(dict.fromkeys(self._cast(v) for v in pts))  # integer grids can repeat a point

    def sample(self, rng: np.random.Generator) -> Any:
        u = rng.uniform()
        v = (math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))) if self.log
             else self.low + u * (self.high - self.low))
        return self._cast(min(max(v, self.low), self.high))

    def to_json(self) -> Any:
        d: dict[str, Any] = {"low": self.low, "high": self.high, "log": self.log}
        return d if self.num is None else {**d, "num": self.num}


Dim = Union[Choice, Range]


def _convert(name: str, v: Any) -> Any:
    """One value of option `name`, checked and converted to its type."""
    try:
        if name == "hidden":
            if isinstance(v, str):
                v = [s for s in v.replace(" ", "").split(",") if s]
            if not isinstance(v, (list, tuple)) or not v:
                raise ValueError
            sizes = [int(s) for s in v]
            if any(s < 1 or s != float(f) for s, f in zip(sizes, v)):
                raise ValueError
            return sizes
        if name in INTS:
            if isinstance(v, float) and not v.is_integer():
                raise ValueError
            return int(v)
        if name in FLOATS:
            if isinstance(v, bool):
                raise ValueError
            return float(v)
        if name in BOOLS:
            if isinstance(v, str) and v.lower() in ("true", "false", "yes", "no", "1", "0"):
                return v.lower() in ("true", "yes", "1")
            if not isinstance(v, bool):
                raise ValueError
            return v
    except (TypeError, ValueError):
        kind = ("hidden sizes like 128,64" if name == "hidden" else "true or false" if name in BOOLS
                else "an integer" if name in INTS else "a number")
        raise SweepError(f"{name}: expected {kind}, got {v!r}") from None
    if not isinstance(v, str):
        raise SweepError(f"{name}: expected a name, got {v!r}")
    allowed = {"model": T.MODELS, "optimizer": T.OPTIMIZERS}.get(name)
    if allowed is not None and v not in allowed:
        raise SweepError(f"{name}: unknown value {v!r}; choose from {', '.join(allowed)}")
    return v


def parse_cli_dim(name: str, tokens: Sequence[str]) -> Dim:
    """`--lr 0.01 0.1` or `--lr 0.01,0.1` (values), `--lr 1e-4:1e-1` (range), `--lr 1e-4:1e-1:4`
    (range with 4 grid points); `--hidden 64 128,64` (two alternatives: [64] and [128, 64])."""
    parts = list(tokens) if name == "hidden" else [p for t in tokens for p in t.split(",") if p.strip()]
    if not parts:
        raise SweepError(f"--{name.replace('_', '-')}: no value given")
    if len(parts) == 1 and ":" in parts[0] and name not in STRINGS + BOOLS and name != "hidden":
        bits = parts[0].split(":")
        if len(bits) not in (2, 3):
            raise SweepError(f"--{name.replace('_', '-')}: a range is LOW:HIGH or LOW:HIGH:POINTS, got {parts[0]!r}")
        try:
            low, high = float(bits[0]), float(bits[1])
            num = int(bits[2]) if len(bits) == 3 else None
        except ValueError:
            raise SweepError(f"--{name.replace('_', '-')}: cannot read the range {parts[0]!r}") from None
        return Range(name, low, high, name in LOG_SCALE, num, integer=name in INTS)
    return Choice(tuple(_convert(name, p) for p in parts))


def parse_file_dim(name: str, v: Any) -> Dim:
    """A space file's entry: a value, a list of values, or {low, high[, log][, num]}."""
    if isinstance(v, dict):
        unknown = set(v) - {"low", "high", "log", "num"}
        if unknown or not {"low", "high"} <= set(v) or name in STRINGS + BOOLS or name == "hidden":
            raise SweepError(f"{name}: a range is {{low = .., high = .., log = true|false, num = N}}, got {v!r}")
        return Range(name, float(v["low"]), float(v["high"]), bool(v.get("log", name in LOG_SCALE)),
                     None if v.get("num") is None else int(v["num"]), integer=name in INTS)
    if name == "hidden":  # [64, 32] is one architecture; [[64], [128, 64]] two alternatives
        alts = v if isinstance(v, list) and v and all(isinstance(a, list) for a in v) else [v]
        return Choice(tuple(_convert(name, a) for a in alts))
    return Choice(tuple(_convert(name, a) for a in (v if isinstance(v, list) else [v])))


def load_space_file(path: str) -> dict[str, Dim]:
    """A TOML or JSON file of train options (dashes or underscores), each a value, a list or a range."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise SweepError(f"cannot read the space file {path}: {e.strerror}") from None
    if path.endswith(".json"):
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as e:
            raise SweepError(f"{path} is not valid JSON: {e}") from None
    else:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ImportError:
                raise SweepError(f"reading {path} needs Python 3.11+ or `pip install tomli`; "
                                 "or write the space as JSON") from None
        try:
            doc = tomllib.loads(raw.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise SweepError(f"{path} is not valid TOML: {e}") from None
    if not isinstance(doc, dict):
        raise SweepError(f"{path}: expected a table of options, got {type(doc).__name__}")
    space = {}
    for key, v in doc.items():
        name = key.replace("-", "_")
        if name not in OPTIONS:
            raise SweepError(f"{path}: {key!r} is not a train option a sweep can search; "
                             f"options: {', '.join(o.replace('_', '-') for o in OPTIONS)}")
        space[name] = parse_file_dim(name, v)
    return space


def dim_from_json(name: str, v: Any) -> Dim:
    if isinstance(v, dict):
        return Range(name, float(v["low"]), float(v["high"]), bool(v["log"]), v.get("num"), integer=name in INTS)
    return Choice(tuple(_convert(name, a) for a in v))


# -- a sweep and its trials ------------------------------------------------------------------------
@dataclass
class Trial:
    id: int
    params: dict[str, Any]   # the values of the options the sweep varies
    config: dict[str, Any]   # the whole TrainConfig, as a dict

    @property
    def key(self) -> str:
        """A short hash of the configuration: a resumed sweep checks its records against it."""
        return hashlib.sha1(json.dumps(self.config, sort_keys=True).encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "params": self.params, "config": self.config}


@dataclass
class SweepSpec:
    """Everything that decides a sweep's trials (saved as OUT/sweep.json)."""

    space: dict[str, Dim]
    search: str = "grid"          # grid | random
    trials: int = 0               # random search: how many
    seed: int = 0                 # draws, the validation split, and each trial's seed unless searched
    val_fraction: float = 0.1
    data_root: Optional[str] = None

    def check(self) -> None:
        if self.search not in ("grid", "random"):
            raise SweepError(f"search must be grid or random, got {self.search!r}")
        if self.search == "random" and self.trials < 1:
            raise SweepError(f"random search needs --trials >= 1, got {self.trials}")
        if not 0 < self.val_fraction < 1:
            raise SweepError(f"--val-fraction must be in (0, 1): trials are scored on a validation split "
                             f"carved from the training set, never on test; got {self.val_fraction}")

    def varied(self) -> list[str]:
        return [n for n in OPTIONS if n in self.space and
                (isinstance(self.space[n], Range) or len(self.space[n].values) > 1)]

    def plan(self) -> list[Trial]:
        """The trials, in order; each trial's configuration is checked before anything runs."""
        self.check()
        names = [n for n in OPTIONS if n in self.space]
        if self.search == "grid":
            combos = [dict(zip(names, vals)) for vals in itertools.product(*(self.space[n].grid() for n in names))]
        else:
            combos = []
            for i in range(self.trials):
                rng = np.random.default_rng([self.seed, i])
                combos.append({n: self.space[n].sample(rng) for n in names})
        varied = set(self.varied())
        trials = []
        for i, values in enumerate(combos):
            cfg = T.TrainConfig(seed=self.seed, val_fraction=self.val_fraction, data_root=self.data_root)
            for n, v in values.items():
                setattr(cfg, n, list(v) if n == "hidden" else v)
            if "reg" not in values and cfg.model == "svm":
                cfg.reg = 1e-4  # as `tinygrad-sm train` does
            try:
                cfg.check()
            except ValueError as e:
                raise SweepError(f"trial {i} ({_fmt_params(values)}): {e}") from None
            trials.append(Trial(i, {n: v for n, v in values.items() if n in varied}, cfg.to_dict()))
        return trials

    def to_dict(self) -> dict[str, Any]:
        return {"space": {n: d.to_json() for n, d in self.space.items()}, "search": self.search,
                "trials": self.trials, "seed": self.seed, "val_fraction": self.val_fraction,
                "data_root": self.data_root}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SweepSpec":
        space = {n: dim_from_json(n, v) for n, v in d["space"].items()}
        return cls(space, d["search"], int(d["trials"]), int(d["seed"]), float(d["val_fraction"]), d.get("data_root"))


def _fmt_params(params: dict[str, Any]) -> str:
    def one(v: Any) -> str:
        return ",".join(map(str, v)) if isinstance(v, list) else (f"{v:.3g}" if isinstance(v, float) else str(v))
    return " ".join(f"{k}={one(v)}" for k, v in params.items()) or "(no options varied)"


# -- one trial: runs wherever the executor puts it ------------------------------------------------------
_SPLITS: dict[tuple, tuple[T.Split, T.Split]] = {}  # per process: every trial shares the same split


def _splits(cfg: T.TrainConfig, val_fraction: float, seed: int) -> tuple[T.Split, T.Split]:
    """(train, val) for this trial's data options; the split's seed is the sweep's, not the trial's."""
    key = (cfg.dataset, cfg.data_root, getattr(cfg, "normalize", None), val_fraction, seed)
    if key not in _SPLITS:
        _SPLITS[key] = T.load_splits(dataclasses.replace(cfg, val_fraction=val_fraction, seed=seed))
    return _SPLITS[key]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _where() -> str:
    """Who runs this trial: the Dask worker's address, else host:pid."""
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _set_threads(threads: Optional[int]) -> int:
    """Threads for the numba kernels of this thread (numba's setting is per thread)."""
    from . import kernels
    if threads is not None:
        limit = int(os.environ.get("NUMBA_NUM_THREADS", _cores()))
        kernels.set_num_threads(max(1, min(threads, limit)))
    return kernels.get_num_threads()


def _dask_threads(host_threads: Optional[dict[str, int]]) -> Optional[int]:
    """On a Dask worker of a shared cluster: the cores of this host split over all worker threads on it."""
    if not host_threads:
        return None
    try:
        from distributed import get_worker
        w = get_worker()
    except (ImportError, ValueError):
        return None
    busy = host_threads.get(_host(w.address), w.state.nthreads)
    return max(1, _cores() // max(busy, 1))


def _host(address: str) -> str:
    return address.split("://")[-1].rsplit(":", 1)[0]


def run_trial(trial: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration and score it on the validation split: the record for trials.jsonl.
    Never raises for a bad trial: divergence and errors become status "diverged" / "failed"."""
    worker = _where()
    threads = _set_threads(job.get("threads") or _dask_threads(job.get("host_threads")))
    rec: dict[str, Any] = {"trial": trial["id"], "key": Trial(**trial).key, "status": "ok", "error": None,
                           "params": trial["params"], "config": trial["config"], "history": [],
                           "val_accuracy": None, "val_loss": None, "seconds": None, "worker": worker,
                           "threads": threads}
    t0 = time.perf_counter()
    try:
        cfg = T.TrainConfig.from_dict(trial["config"])
        splits = _splits(cfg, job["val_fraction"], job["split_seed"])
        run = T.fit(cfg, splits=splits, progress=False, stream=io.StringIO())
        rec["history"] = run.history
        rec["val_accuracy"], rec["val_loss"] = run.history[-1]["val_accuracy"], run.history[-1]["val_loss"]
    except T.TrainingDiverged as e:
        rec.update(status="diverged", error=str(e), history=list(getattr(e, "history", None) or []))
    except Exception as e:  # noqa: BLE001  a trial that raises is recorded, and the sweep goes on
        rec.update(status="failed", error=f"{type(e).__name__}: {e}",
                   traceback="".join(traceback.format_exception(type(e), e, e.__traceback__, limit=-4)))
    rec["seconds"] = time.perf_counter() - t0
    return rec


def evaluate_on_test(trial: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """Train the chosen configuration again (a trial is a pure function of it, so this is the
    selected model) and evaluate it once on the test split."""
    _set_threads(job.get("threads") or _dask_threads(job.get("host_threads")))
    cfg = T.TrainConfig.from_dict(trial["config"])
    run = T.fit(cfg, splits=_splits(cfg, job["val_fraction"], job["split_seed"]), progress=False,
                stream=io.StringIO())
    _, test = T.load_splits(dataclasses.replace(cfg, val_fraction=0.0))
    ev = T.evaluate(run.model, test, T.loss_fn(cfg, run.model))
    return {"accuracy": ev["accuracy"], "loss": ev["loss"], "n": len(test.y),
            "val_accuracy_again": run.history[-1]["val_accuracy"], "worker": _where()}


# -- executors: where trials run --------------------------------------------------------------------
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@contextmanager
def _thread_env(threads: int) -> Iterator[None]:
    """Set the BLAS/OpenMP/Numba thread variables for processes started inside the block (they
    read them when NumPy and Numba load, so it must be before the child imports them)."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: str(threads) for k in THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Sequential:
    """Trials one after another in this process."""

    def __init__(self, threads: Optional[int] = None) -> None:
        self.threads, self.description = threads, "sequential, in this process"

    def map(self, fn: Callable, jobs: list[tuple]) -> Iterator[tuple[int, Any]]:
        for i, args in enumerate(jobs):
            yield i, fn(*args)

    def close(self) -> None:
        pass


class Processes:
    """--workers N: a local process pool (spawned, so each child reads its thread settings fresh)."""

    def __init__(self, n: int, threads: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        self.threads, self.description = threads, f"{n} local processes x {threads} thread(s)"
        self._env = _thread_env(threads)
        self._env.__enter__()  # kept while the pool may start processes
        self.pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))

    def map(self, fn: Callable, jobs: list[tuple]) -> Iterator[tuple[int, Any]]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool
        futures = {self.pool.submit(fn, *args): i for i, args in enumerate(jobs)}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        except BrokenProcessPool as e:
            raise SweepError(f"a worker process died ({e}); the finished trials are saved; run the same "
                             "command with --resume to do the rest") from None
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._env.__exit__(None, None, None)


def _import_dask() -> Any:
    try:
        import dask
        import distributed
    except ImportError:
        raise SweepError(DASK_HINT) from None
    return dask, distributed


class Dask:
    """--dask local:N starts a LocalCluster of N worker processes; --dask tcp://HOST:PORT joins a
    running scheduler. A worker that dies mid-trial has its trial rescheduled by the scheduler."""

    def __init__(self, address: Optional[str] = None, threads: Optional[int] = None, client: Any = None) -> None:
        dask, dd = _import_dask()
        self.cluster, self.own = None, client is None
        self.host_threads: Optional[dict[str, int]] = None
        if client is not None:
            self.client, self.threads = client, threads
        elif address is not None and address.startswith("local:"):
            n = _positive_int(address[len("local:"):], "--dask local:N")
            self.threads = threads or max(1, _cores() // n)
            # Nannies start workers with these variables set before NumPy loads (and set them in
            # this process too, which _thread_env undoes).
            with _thread_env(self.threads), dask.config.set(
                    {"distributed.nanny.pre-spawn-environ": {k: str(self.threads) for k in THREAD_VARS}}):
                self.cluster = dd.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=40)
            self.client = dd.Client(self.cluster)
        elif address is not None:
            try:
                self.client = dd.Client(address, timeout="15s")
            except OSError as e:
                raise SweepError(f"cannot reach the Dask scheduler at {address} ({e}); start one with "
                                 "`dask scheduler` and join workers with `dask worker ADDRESS --nthreads 1`") from None
            self.threads = threads
        else:
            raise SweepError("Dask needs --dask local:N or --dask tcp://HOST:PORT")
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        if self.threads is None:  # a shared cluster: split each host's cores over its worker threads
            self.host_threads = {}
            for w in workers.values():
                self.host_threads[w["host"]] = self.host_threads.get(w["host"], 0) + w["nthreads"]
        self._check_workers()
        self.description = f"Dask at {self.client.scheduler.address}, {len(workers)} worker(s)"

    def _check_workers(self) -> None:
        """Every worker must import the same tinygrad_sm (trials are sent as references to it)."""
        import importlib.metadata as md
        try:
            versions = self.client.run(md.version, "tinygrad-sm")
        except md.PackageNotFoundError:
            raise SweepError("a Dask worker has no tinygrad-sm; pip install it on every worker machine") from None
        mine = md.version("tinygrad-sm")
        other = {a: v for a, v in versions.items() if v != mine}
        if other:
            print(f"warning: Dask workers run other tinygrad-sm versions than this {mine}: {other}", file=sys.stderr)

    def map(self, fn: Callable, jobs: list[tuple]) -> Iterator[tuple[int, Any]]:
        _, dd = _import_dask()
        tag = uuid.uuid4().hex[:8]  # keys unique on a shared scheduler
        futures = [self.client.submit(fn, *args, key=f"tinygrad-sm-{fn.__name__}-{tag}-{i}", pure=False)
                   for i, args in enumerate(jobs)]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in dd.as_completed(futures):
                try:
                    yield index[fut.key], fut.result()
                except Exception as e:  # noqa: BLE001  e.g. KilledWorker: it took down workers repeatedly
                    yield index[fut.key], e
                fut.release()
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self.own:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def _positive_int(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise SweepError(f"{what}: need a positive integer, got {text!r}")
    return n


def make_executor(workers: int = 1, dask: Optional[str] = None, threads: Optional[int] = None,
                  client: Any = None) -> Union[Sequential, Processes, Dask]:
    """Workers x threads stays within the cores unless --threads says otherwise."""
    cores = _cores()
    if dask is not None or client is not None:
        if dask is not None and dask.startswith("local:"):
            n = _positive_int(dask[len("local:"):], "--dask local:N")
            if n > cores:
                print(f"warning: {n} Dask workers on {cores} cores: they will share cores", file=sys.stderr)
        return Dask(dask, threads, client)
    if workers > 1:
        if workers > cores:
            print(f"warning: --workers {workers} on {cores} cores: they will share cores", file=sys.stderr)
        return Processes(workers, threads or max(1, cores // workers))
    return Sequential(threads)


# -- the results file ---------------------------------------------------------------------------------
class TrialLog:
    """OUT/trials.jsonl (one JSON record a line) or OUT/trials.csv (one row a trial), appended and
    flushed to disk as each trial finishes."""

    def __init__(self, out: str, fmt: str, max_epochs: int, config_names: list[str]) -> None:
        if fmt not in ("jsonl", "csv"):
            raise SweepError(f"--format must be jsonl or csv, got {fmt!r}")
        self.fmt, self.path = fmt, os.path.join(out, f"trials.{fmt}")
        epoch_cols = [f"{m}_{e}" for e in range(1, max_epochs + 1)
                      for m in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")]
        self.columns = (["trial", "key", "status", "val_accuracy", "val_loss", "seconds", "worker", "threads"]
                        + config_names + epoch_cols + ["error"])

    def read(self) -> list[dict[str, Any]]:
        """The records written so far; a last line cut off by a crash is dropped (and cut from the file)."""
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            data = data[:data.rfind(b"\n") + 1]
            with open(self.path, "r+b") as f:
                f.truncate(len(data))
        text = data.decode()
        if self.fmt == "jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        rows = list(csv.DictReader(io.StringIO(text)))
        return [self._from_row(r) for r in rows]

    def append(self, rec: dict[str, Any]) -> None:
        new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        with open(self.path, "a", newline="") as f:
            if self.fmt == "jsonl":
                f.write(json.dumps(rec) + "\n")
            else:
                w = csv.DictWriter(f, self.columns, extrasaction="ignore")
                if new:
                    w.writeheader()
                w.writerow(self._to_row(rec))
            f.flush()
            os.fsync(f.fileno())

    def _to_row(self, rec: dict[str, Any]) -> dict[str, Any]:
        row = {k: rec.get(k) for k in ("trial", "key", "status", "val_accuracy", "val_loss", "seconds", "worker",
                                       "threads", "error")}
        for k, v in rec["config"].items():
            row[k] = ",".join(map(str, v)) if isinstance(v, list) else v
        for h in rec["history"]:
            for m in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
                row[f"{m}_{h['epoch']}"] = repr(h[m])
        return row

    @staticmethod
    def _from_row(row: dict[str, str]) -> dict[str, Any]:
        num = lambda s: float(s) if s not in ("", None) else None  # noqa: E731
        history, e = [], 1
        while row.get(f"val_accuracy_{e}"):
            history.append({"epoch": e, **{m: float(row[f"{m}_{e}"]) for m in
                                           ("train_loss", "train_accuracy", "val_loss", "val_accuracy")}})
            e += 1
        return {"trial": int(row["trial"]), "key": row["key"], "status": row["status"], "error": row["error"] or None,
                "val_accuracy": num(row["val_accuracy"]), "val_loss": num(row["val_loss"]),
                "seconds": num(row["seconds"]), "worker": row["worker"],
                "threads": int(row["threads"]) if row["threads"] else None, "history": history}


# -- the sweep ----------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    records: list[dict[str, Any]]   # one per trial, in trial order
    best: Optional[dict[str, Any]]  # best.json's content (None when no trial finished)
    out: str


def rank_key(rec: dict[str, Any]) -> tuple:
    """Best first: higher validation accuracy (last epoch), then lower validation loss, then earlier trial."""
    return (-rec["val_accuracy"], rec["val_loss"], rec["trial"])


def run_sweep(spec: SweepSpec, out: str, *, workers: int = 1, dask: Optional[str] = None,
              threads: Optional[int] = None, client: Any = None, resume: bool = False, fmt: str = "jsonl",
              progress: bool = True, stream: Optional[TextIO] = None) -> SweepResult:
    """Run every trial of `spec` not yet in OUT, then evaluate the winner on test once."""
    stream = stream if stream is not None else sys.stdout
    trials = spec.plan()
    os.makedirs(out, exist_ok=True)
    spec_path = os.path.join(out, "sweep.json")
    names = [f for f in trials[0].config if f != "extra"] if trials else []
    log = TrialLog(out, fmt, max((t.config["epochs"] for t in trials), default=1), names)
    done = _previous(spec, spec_path, log, trials, resume)
    pending = [t for t in trials if t.id not in done]
    job = {"val_fraction": spec.val_fraction, "split_seed": spec.seed}

    executor = make_executor(workers, dask, threads, client)
    T._atomic_text(spec_path, json.dumps(spec.to_dict(), indent=2))  # once it can run
    job["threads"] = executor.threads
    job["host_threads"] = getattr(executor, "host_threads", None)
    print(f"sweep: {len(trials)} trials ({spec.search}{', ' + str(len(done)) + ' already done' if done else ''}) "
          f"over {', '.join(spec.varied()) or 'nothing'}; scored on a {spec.val_fraction:g} validation split "
          f"of the training set; {executor.description}; results in {log.path}", file=stream)
    records = dict(done)
    bar = ProgressBar(len(trials), "sweep", enabled=progress, unit=" trials")
    bar.n = len(done)
    best = _best(records.values())
    try:
        for i, rec in executor.map(run_trial, [(t.to_dict(), job) for t in pending]):
            t = pending[i]
            if isinstance(rec, BaseException):  # the executor lost the trial for good
                rec = {"trial": t.id, "key": t.key, "status": "failed", "error": f"{type(rec).__name__}: {rec}",
                       "params": t.params, "config": t.config, "history": [], "val_accuracy": None,
                       "val_loss": None, "seconds": None, "worker": None, "threads": None}
            log.append(rec)
            records[t.id] = rec
            best = _best(records.values())
            _say(bar, stream, _trial_line(rec, len(records), len(trials)))
            bar.update(1, **({"best val acc": f"{100 * best['val_accuracy']:.2f}%"} if best else {}))
        bar.close()
        result = _finish(spec, out, trials, records, executor, job, stream)
    except KeyboardInterrupt:
        bar.close()
        print(f"\ninterrupted: {len(records)} of {len(trials)} trials are saved in {log.path}; "
              "run the same command with --resume to finish", file=stream)
        raise
    finally:
        executor.close()
    return result


def _previous(spec: SweepSpec, spec_path: str, log: TrialLog, trials: list[Trial],
              resume: bool) -> dict[int, dict[str, Any]]:
    """The finished trials of an earlier run of this sweep (resume), checked against the plan."""
    have = log.read()
    if not resume:
        if have or os.path.exists(spec_path):
            raise SweepError(f"{os.path.dirname(spec_path) or '.'} already holds a sweep: add --resume to "
                             "continue it, or choose another --out")
        return {}
    if os.path.exists(spec_path):
        with open(spec_path) as f:
            old = json.load(f)
        mine = spec.to_dict()
        diff = [k for k in mine if k != "trials" and old.get(k) != mine[k]]
        if diff:
            raise SweepError(f"--resume: this command's {', '.join(diff)} differ from the sweep in {spec_path}; "
                             "give the same options (or only --out and --resume to reuse them)")
    by_id = {t.id: t for t in trials}
    done = {}
    for rec in have:
        t = by_id.get(rec["trial"])
        if t is None:
            continue  # a trial of a larger earlier --trials: kept in the file, not in this sweep
        if rec["key"] != t.key:
            raise SweepError(f"--resume: trial {t.id} in {log.path} has another configuration than this "
                             "sweep's; use a new --out")
        rec.setdefault("params", t.params)
        rec.setdefault("config", t.config)
        done[t.id] = rec
    return done


def _best(records: Any) -> Optional[dict[str, Any]]:
    ok = [r for r in records if r["status"] == "ok"]
    return min(ok, key=rank_key) if ok else None


def _trial_line(rec: dict[str, Any], done: int, total: int) -> str:
    head = f"[{done:>{len(str(total))}}/{total}] trial {rec['trial']:<3} {rec['status']:<8}"
    where = f"({rec['seconds']:.1f} s on {rec['worker']})" if rec.get("seconds") is not None else f"({rec['worker']})"
    if rec["status"] == "ok":
        return (f"{head} val acc {100 * rec['val_accuracy']:6.2f}%  val loss {rec['val_loss']:.4f}  "
                f"{_fmt_params(rec['params'])}  {where}")
    return f"{head} {_fmt_params(rec['params'])}  {where}: {rec['error']}"


def _say(bar: ProgressBar, stream: Any, line: str) -> None:
    if bar.live:  # clear the bar's line first, so the message does not land on top of it
        bar.stream.write("\r" + " " * len(bar.line()) + "\r")
        bar.stream.flush()
    print(line, file=stream, flush=True)


def _finish(spec: SweepSpec, out: str, trials: list[Trial], records: dict[int, dict[str, Any]],
            executor: Any, job: dict[str, Any], stream: Any) -> SweepResult:
    recs = [records[t.id] for t in trials if t.id in records]
    counts = {s: sum(r["status"] == s for r in recs) for s in ("ok", "diverged", "failed")}
    ok = sorted((r for r in recs if r["status"] == "ok"), key=rank_key)
    print(f"\n{counts['ok']} ok, {counts['diverged']} diverged, {counts['failed']} failed", file=stream)
    best: Optional[dict[str, Any]] = None
    if ok:
        print("best by validation accuracy:", file=stream)
        for r in ok[:5]:
            print(f"  trial {r['trial']:<3}  val acc {100 * r['val_accuracy']:6.2f}%  "
                  f"val loss {r['val_loss']:.4f}  {_fmt_params(r['params'])}", file=stream)
        win = ok[0]
        trial = next(t for t in trials if t.id == win["trial"])
        (_, test), = executor.map(evaluate_on_test, [(trial.to_dict(), job)])
        if isinstance(test, BaseException):
            raise SweepError(f"evaluating the winner on test failed: {test}")
        if test["val_accuracy_again"] != win["val_accuracy"]:
            print(f"warning: training trial {win['trial']} again gave validation accuracy "
                  f"{test['val_accuracy_again']} instead of {win['val_accuracy']} (a different number of BLAS "
                  "threads sums in another order)", file=sys.stderr)
        best = {"trial": win["trial"], "params": win["params"], "config": trial.config,
                "selected_by": "validation accuracy at the last epoch (ties: lower validation loss, then the "
                               "earlier trial); the test set was not read during the search",
                "val_accuracy": win["val_accuracy"], "val_loss": win["val_loss"],
                "test": {"accuracy": test["accuracy"], "loss": test["loss"], "n": test["n"]},
                "trials": counts}
        print(f"winner: trial {win['trial']} ({_fmt_params(win['params'])}): validation accuracy "
              f"{100 * win['val_accuracy']:.2f}%; test accuracy {100 * test['accuracy']:.2f}% "
              f"(evaluated once, after the search, on {test['n']} test samples)", file=stream)
    else:
        print("no trial finished: no winner (see the errors above)", file=stream)
    T._atomic_text(os.path.join(out, "best.json"), json.dumps(best if best else {"trial": None, "trials": counts},
                                                              indent=2))
    plotted = plot_sweep(recs, spec.varied(), os.path.join(out, "sweep.png"))
    print(f"wrote best.json{', sweep.png' if plotted else ''} to {out}/", file=stream)
    return SweepResult(recs, best, out)


# -- the picture ----------------------------------------------------------------------------------------
PLOT_AXES = ("lr", "reg", "weight_decay", "momentum", "batch_size", "epochs", "lr_gamma", "lr_step")


def plot_sweep(records: list[dict[str, Any]], varied: list[str], path: str) -> bool:
    """Validation accuracy over lr x reg (or the first two numeric options the sweep varies): a
    heatmap of cells for a grid, coloured points for a random search; failed trials are grey
    crosses. False (nothing written) without matplotlib or without a numeric option varied."""
    axes = [a for a in PLOT_AXES if a in varied]
    if not axes or not records:
        return False
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ok = [r for r in records if r["status"] == "ok"]
    bad = [r for r in records if r["status"] != "ok"]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    x = axes[0]
    y = axes[1] if len(axes) > 1 else None
    xs = sorted({r["params"][x] for r in records})
    ys = sorted({r["params"][y] for r in records}) if y else []
    grid = y is not None and len(xs) * len(ys) <= 400 and len(records) >= len(xs) * len(ys) * 0.5 and len(xs) < 25
    if grid:  # best accuracy of each (x, y) cell over the other options
        acc = np.full((len(ys), len(xs)), np.nan)
        for r in ok:
            i, j = ys.index(r["params"][y]), xs.index(r["params"][x])
            acc[i, j] = np.fmax(acc[i, j], 100 * r["val_accuracy"])
        im = ax.imshow(acc, origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(xs)), [f"{v:.3g}" for v in xs], rotation=45)
        ax.set_yticks(range(len(ys)), [f"{v:.3g}" for v in ys])
        for i in range(len(ys)):
            for j in range(len(xs)):
                ax.text(j, i, "failed" if np.isnan(acc[i, j]) else f"{acc[i, j]:.1f}", ha="center", va="center",
                        color="white", fontsize=8)
    else:
        def coords(rs: list[dict[str, Any]]) -> tuple[list, list]:
            return [r["params"][x] for r in rs], [r["params"][y] if y else 0 for r in rs]
        cx, cy = coords(ok)
        im = ax.scatter(cx, cy if y else [100 * r["val_accuracy"] for r in ok],
                        c=[100 * r["val_accuracy"] for r in ok], cmap="viridis", s=60)
        if bad:
            bx, by = coords(bad)
            ax.scatter(bx, by, marker="x", color="grey", label="diverged / failed")
            ax.legend(loc="best", fontsize=8)
        if x in LOG_SCALE:
            ax.set_xscale("log")
        if y in LOG_SCALE:
            ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y or "validation accuracy (%)")
    fig.colorbar(im, ax=ax, label="validation accuracy (%)")
    ax.set_title(f"validation accuracy over {x}" + (f" x {y}" if y else ""))
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return True


# -- the command ----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
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
             "hidden": "hidden sizes, alternatives separated by spaces: 64 128,64",
             "seed": "training seed of the trials (default: --seed)",
             "reg": "L2 penalty reg * sum(W**2) (default 0; 1e-4 for svm)",
             "normalize": "standardise the pixels: true, false, or both (default false)"}
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
    given = {n: getattr(a, f"opt_{n}") for n in OPTIONS if getattr(a, f"opt_{n}") is not None}
    spec_path = os.path.join(a.out, "sweep.json")
    if a.resume and not given and a.space is None and os.path.exists(spec_path):
        with open(spec_path) as f:  # `sweep --out DIR --resume`: the saved sweep
            spec = SweepSpec.from_dict(json.load(f))
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
