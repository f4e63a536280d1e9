"""The sweep: run every trial not yet done, record it, pick the winner, evaluate it on test once."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Optional, TextIO

from .. import _files
from .. import train as T
from ..progress import ProgressBar
from .executors import make_executor
from .log import TrialLog, read_json
from .plot import plot_sweep
from .space import SweepError
from .trials import SweepSpec, Trial, _fmt_params, evaluate_on_test, run_trial


# -- the sweep ----------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """What run_sweep returns: every trial's record, the winner (best.json) and the output directory."""
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
    _files.write_text(spec_path, json.dumps(spec.to_dict(), indent=2))  # once it can run
    job["threads"] = executor.threads
    job["host_threads"] = getattr(executor, "host_threads", None)
    print(f"sweep: {len(trials)} trials ({spec.search}{', ' + str(len(done)) + ' already done' if done else ''}) "
          f"over {', '.join(spec.varied()) or 'nothing'}; scored on a {spec.val_fraction:g} validation split "
          f"of the training set; {executor.description}; results in {log.path}", file=stream)
    records = dict(done)
    bar = ProgressBar(len(trials), "sweep", enabled=progress, unit=" trials", initial=len(done))
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
        old = read_json(spec_path)
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
    bar.clear()  # first, so that the message does not land on top of the bar
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
            raise SweepError(f"evaluating the winner, trial {win['trial']}, on test failed: "
                             f"{type(test).__name__}: {test}. The trials are saved: run the same command "
                             "with --resume to evaluate it again")
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
    _files.write_text(os.path.join(out, "best.json"), json.dumps(best if best else {"trial": None, "trials": counts},
                                                              indent=2))
    plotted = plot_sweep(recs, spec.varied(), os.path.join(out, "sweep.png"))
    trials_file = next((f for f in ("trials.jsonl", "trials.csv") if os.path.exists(os.path.join(out, f))), None)
    files = ["sweep.json", *([trials_file] if trials_file else []), "best.json", *(["sweep.png"] if plotted else [])]
    print(f"wrote {', '.join(files)} to {out}/", file=stream)
    return SweepResult(recs, best, out)
