"""The search space: the train options a sweep can search, and their values or ranges."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from .. import train as T

# The train options a sweep can search, in the order trials are drawn and printed.
FLOATS = ("lr", "reg", "weight_decay", "momentum", "lr_gamma", "dropout")
"""Options whose values are floats."""
INTS = ("epochs", "batch_size", "hidden", "lr_step", "warmup", "seed")  # hidden: a list of ints
"""Options whose values are integers (hidden: a list of them, one per hidden layer)."""
STRINGS = ("model", "optimizer", "dataset", "lr_schedule")
"""Options whose values are names (model, optimizer, dataset, lr schedule)."""
BOOLS = ("normalize",)
"""Options that are true or false."""
OPTIONS = ("model", "dataset", "normalize", "optimizer", "lr", "reg", "weight_decay", "momentum", "hidden",
           "dropout", "batch_size", "epochs", "lr_schedule", "lr_step", "lr_gamma", "warmup", "seed")
"""Every train option a sweep can search, in the order trials are drawn and printed."""
LOG_SCALE = ("lr", "reg", "weight_decay")  # ranges of these are log-uniform unless told otherwise
"""Options whose ranges are log-uniform unless the range says log = false."""


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
        if self.integer:  # each integer k in [low, high] owns [k, k + 1): rounding would give the
            lo, hi = math.ceil(self.low), math.floor(self.high)  # two ends half the weight of the rest
            if hi < lo:
                raise SweepError(f"{self.name}: the range {self.low:g}:{self.high:g} holds no integer")
            v = (math.exp(math.log(lo) + u * (math.log(hi + 1) - math.log(lo))) if self.log
                 else lo + u * (hi + 1 - lo))
            return min(max(math.floor(v), lo), hi)
        v = (math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))) if self.log
             else self.low + u * (self.high - self.low))
        return self._cast(min(max(v, self.low), self.high))

    def to_json(self) -> Any:
        d: dict[str, Any] = {"low": self.low, "high": self.high, "log": self.log}
        return d if self.num is None else {**d, "num": self.num}


Dim = Union[Choice, Range]
"""One searched option: a Choice of values or a Range."""


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
    allowed = {"model": T.MODELS, "optimizer": T.OPTIMIZERS, "dataset": tuple(T.data.DATASETS),
               "lr_schedule": T.SCHEDULES}.get(name)
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
    """A Choice or Range back from its form in sweep.json."""
    if isinstance(v, dict):
        return Range(name, float(v["low"]), float(v["high"]), bool(v["log"]), v.get("num"), integer=name in INTS)
    return Choice(tuple(_convert(name, a) for a in v))
