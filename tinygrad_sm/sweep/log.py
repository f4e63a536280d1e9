"""The results file: OUT/trials.jsonl or OUT/trials.csv."""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

from .. import _files
from .space import SweepError


def damaged(path: str, e: Exception) -> SweepError:
    """The error for a file of the sweep's that cannot be read back."""
    return SweepError(f"{path} is damaged ({type(e).__name__}: {e}); mend or delete it, or use a new --out")


def read_json(path: str) -> dict[str, Any]:
    """A JSON object the sweep wrote (sweep.json); SweepError if the file holds anything else."""
    try:
        with open(path) as f:
            doc = json.load(f)
        if not isinstance(doc, dict):
            raise ValueError(f"expected a JSON object, found {type(doc).__name__}")
        return doc
    except ValueError as e:  # (JSONDecodeError and UnicodeDecodeError too)
        raise damaged(path, e) from None


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
        try:
            text = data.decode()
            if self.fmt == "jsonl":
                records = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                records = [self._from_row(r) for r in csv.DictReader(io.StringIO(text))]
            for rec in records:  # (what resuming reads of each record)
                if not (isinstance(rec, dict) and isinstance(rec["trial"], int) and isinstance(rec["key"], str)):
                    raise ValueError(f"not a trial record: {rec!r:.80}")
        except (ValueError, KeyError, TypeError) as e:  # (JSONDecodeError and UnicodeDecodeError too)
            raise damaged(self.path, e) from None
        return records

    def append(self, rec: dict[str, Any]) -> None:
        new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        columns = self.columns if new or self.fmt == "jsonl" else self._widen_header()
        with open(self.path, "a", newline="") as f:
            if self.fmt == "jsonl":
                f.write(json.dumps(rec) + "\n")
            else:
                w = csv.DictWriter(f, columns, extrasaction="ignore")
                if new:
                    w.writeheader()
                w.writerow(self._to_row(rec))
            f.flush()
            os.fsync(f.fileno())

    def _widen_header(self) -> list[str]:
        """The columns of the CSV file already there, with any of this sweep's that it lacks added
        before `error`: a resumed sweep whose new trials train more epochs (or vary more options)
        needs more columns than the header written by the first run. The file is rewritten whole
        (atomically) when the header grows, so every row stays under its own column names."""
        with open(self.path, newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            missing = [c for c in self.columns if c not in header]
            if not missing:
                return header
            rows = list(reader)
        at = header.index("error") if "error" in header else len(header)
        header = header[:at] + missing + header[at:]
        with _files.replacing(self.path, "w") as (f, _):  # (csv's own \r\n line ends, as append writes)
            w = csv.DictWriter(f, header)
            w.writeheader()
            w.writerows(rows)
        return header

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
