"""A sweep's definition and its trials, and one trial: runs wherever the executor puts it."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import os
import socket
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from .. import kernels
from .. import train as T
from .space import OPTIONS, Dim, Range, SweepError, dim_from_json

# Options that shape only some trials: a trial they do not apply to is the same whatever they are
# (a grid holds it once). Each: (does it apply to a trial's values, what it sets, what a trial is
# when it does not).
_HIDDEN = (lambda v: v.get("model", "mlp") not in T.ONE_LAYER, "the hidden layers of mlp, deep-mlp and cnn",
           "a one-layer model (softmax, svm)")
_STEP = (lambda v: v.get("lr_schedule") in (None, "step"), "the step schedule", "on another schedule")
_GAMMA = (lambda v: v.get("lr_schedule") == "step" or (v.get("lr_schedule") is None and bool(v.get("lr_step"))),
          "the step schedule's decay", "without the step schedule (no --lr-step)")
APPLIES: dict[str, tuple[Callable[[dict[str, Any]], bool], str, str]] = {
    "hidden": _HIDDEN, "dropout": _HIDDEN,
    "momentum": (lambda v: v.get("optimizer", "sgd") == "sgd", "SGD's momentum", "another optimizer's"),
    "lr_step": _STEP, "lr_gamma": _GAMMA,
    "warmup": (lambda v: v.get("lr_schedule") != "onecycle", "the warm-up before the schedule",
               "on the onecycle schedule (which warms up by itself)"),
}
# Train options added after sweeps were first recorded: a trial's key leaves them out while they
# are at their default, so a sweep written before them still resumes (its trials' keys hold).
KEY_SKIPS_DEFAULT = {"dropout": 0.0, "lr_schedule": None, "schedule_epochs": None, "warmup": 0}


# -- a sweep and its trials ------------------------------------------------------------------------
@dataclass
class Trial:
    """One trial: its id, the values of the options the sweep varies, and the whole train configuration."""
    id: int
    params: dict[str, Any]   # the values of the options the sweep varies
    config: dict[str, Any]   # the whole TrainConfig, as a dict

    @property
    def key(self) -> str:
        """A short hash of the configuration: a resumed sweep checks its records against it."""
        cfg = {k: v for k, v in self.config.items() if not (k in KEY_SKIPS_DEFAULT and v == KEY_SKIPS_DEFAULT[k])}
        return hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]

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
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SweepError(f"--seed must be an integer >= 0, got {self.seed!r}")
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
        for name, (applies, what, other) in APPLIES.items():
            if name in self.space and not any(applies(v) for v in combos):
                raise SweepError(f"--{name.replace('_', '-')} sets {what}; every trial here is {other}, so it "
                                 "would only repeat the same trial")
        trials, seen = [], set()
        for values in combos:
            moot = [n for n in values if n in APPLIES and not APPLIES[n][0](values)]
            if moot:  # (e.g. hidden sizes of a softmax trial, the momentum of an Adam one: left out)
                values = {n: v for n, v in values.items() if n not in moot}
                if self.search == "grid":
                    key = json.dumps(values, sort_keys=True, default=str)
                    if key in seen:
                        continue
                    seen.add(key)
            i = len(trials)
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


def _where() -> str:
    """Who runs this trial: the Dask worker's address, else host:pid."""
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _set_threads(threads: Optional[int]) -> int:
    """Threads for the numba kernels of this thread (numba's setting is per thread)."""
    if threads is not None:
        kernels.set_num_threads(max(1, min(threads, kernels.max_num_threads())))
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
    return max(1, kernels.usable_cores() // max(busy, 1))


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
