"""Learning-rate schedules, as PyTorch's torch.optim.lr_scheduler (found as
tinygrad_sm.optim.lr_scheduler too, and each as optim.StepLR, ...).

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    for epoch in range(20):
        train_one_epoch(model, opt)
        sched.step()          # after the epoch's optimizer steps

Once an epoch: StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
LambdaLR, MultiplicativeLR, LinearLR, ConstantLR, PolynomialLR, ReduceLROnPlateau (step(metric)),
and the combinations SequentialLR (one after another) and ChainedScheduler (all at once). Once a
batch: OneCycleLR and CyclicLR (and CosineAnnealingWarmRestarts.step(epoch + i / batches)).
Each gives PyTorch's lrs step for step, and loads PyTorch's state_dict() as well as its own.
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from ._checks import is_int, is_real
from .optim import Optimizer, _check

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "CosineAnnealingWarmRestarts", "LambdaLR", "MultiplicativeLR", "LinearLR", "ConstantLR",
           "PolynomialLR", "SequentialLR", "ChainedScheduler", "OneCycleLR", "CyclicLR", "ReduceLROnPlateau"]



class LRScheduler:
    """A learning-rate schedule, PyTorch's way: call step() once per epoch, after the optimizer's
    steps; it sets every group's lr for the next epoch. Subclasses write `_next_lr(i, lr)`, group
    i's new lr from its current one (so an lr set by hand carries on from there, as in PyTorch),
    with last_epoch already advanced. base_lrs[i] is group i's lr when the optimizer's first
    schedule was made, which the group keeps as "initial_lr" (as in PyTorch, and saved with the
    optimizer's state), so that schedules combined (ChainedScheduler, SequentialLR) share one
    base. A group added to the optimizer later is scheduled from its own lr then (PyTorch leaves
    it out)."""

    _options: tuple[str, ...] = ()  # the schedule's settings, as state_dict() names them

    def __init__(self, optimizer: Optimizer, **options: Any) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} schedules an optimizer's lr, got a {type(optimizer).__name__}")
        for k, v in self._checked(options).items():
            setattr(self, k, v)
        self.optimizer = optimizer
        self.base_lrs: list[float] = [self._initial_lr(g) for g in optimizer.param_groups]
        self.last_epoch = 0

    def _initial_lr(self, group: dict[str, Any]) -> float:
        """The group's lr when its optimizer's first schedule was made (recorded now if this is it)."""
        return float(group.setdefault("initial_lr", group["lr"]))

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        """The settings in their stored form, or an error naming the bad one (nothing is set)."""
        return options

    def _next_lr(self, i: int, lr: float) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set each group's lr for it."""
        self.last_epoch += 1
        groups = self.optimizer.param_groups
        self.base_lrs.extend(self._initial_lr(g) for g in groups[len(self.base_lrs):])  # (groups added since)
        new = [self._next_lr(i, g["lr"]) for i, g in enumerate(groups)]  # (all first: a failure sets none)
        for g, lr in zip(groups, new):
            g["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """Each group's lr now."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def _lr_at_start(self, i: int) -> float:
        """Group i's lr at epoch 0 (SequentialLR restarts a schedule there): the base lr, unless the
        schedule scales it from the start."""
        return self.base_lrs[i]

    def _restart(self) -> None:
        """Back to epoch 0, each group's lr the schedule's first (PyTorch's step(0))."""
        groups = self.optimizer.param_groups
        self.base_lrs.extend(self._initial_lr(g) for g in groups[len(self.base_lrs):])
        self.last_epoch = 0
        new = [self._lr_at_start(i) for i in range(len(groups))]
        for g, lr in zip(groups, new):
            g["lr"] = lr

    def _begin(self) -> None:
        """Epoch 0 as the first schedule of a SequentialLR (the lrs back at the base first)."""
        self._restart()

    def state_dict(self) -> dict[str, Any]:
        """The settings, the epoch count and the base lrs (PyTorch's keys), for a checkpoint."""
        return {**{k: _copy_setting(getattr(self, k)) for k in self._options},
                "last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave, settings included (as PyTorch does; a state without
        them keeps this schedule's). Checked whole before anything changes."""
        name = type(self).__name__
        if not isinstance(state, Mapping):
            raise TypeError(f"{name}.load_state_dict: expected a dict from state_dict(), got {type(state).__name__}")
        state = self._from_pytorch(state)
        missing = [k for k in ("last_epoch", "base_lrs") if k not in state]
        if missing:
            raise ValueError(f"{name}.load_state_dict: the state has no {' or '.join(map(repr, missing))}; "
                             f"give it what {name}.state_dict() returned")
        last, lrs = state["last_epoch"], state["base_lrs"]
        if not is_int(last) or last < 0:
            raise ValueError(f"{name}.load_state_dict: last_epoch must be an int >= 0, got {last!r}")
        groups = len(self.optimizer.param_groups)
        if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence) or not 1 <= len(lrs) <= groups \
                or not all(is_real(x) for x in lrs):
            raise ValueError(f"{name}.load_state_dict: base_lrs must hold one lr per parameter group "
                             f"({groups}), got {lrs!r}")
        options = self._checked({k: state.get(k, getattr(self, k)) for k in self._options})
        self._fits(options, groups)
        for k, v in options.items():
            setattr(self, k, v)
        self.last_epoch, self.base_lrs = int(last), [float(x) for x in lrs]

    def _from_pytorch(self, state: Mapping[str, Any]) -> Mapping[str, Any]:
        """A state as this schedule's state_dict() gives it, from PyTorch's if it is one (the
        schedules whose keys differ say how); ours is left as it is."""
        return state

    def _fits(self, options: dict[str, Any], groups: int) -> None:
        """Refuse settings that do not fit the optimizer's `groups` parameter groups (a per-group list)."""

    def __repr__(self) -> str:
        opts = [f"{k}={getattr(self, k)!r}" for k in self._options] + [f"last_epoch={self.last_epoch}"]
        return f"{type(self).__name__}({', '.join(opts)})"


class StepLR(LRScheduler):
    """Step decay: lr *= gamma at every step_size-th epoch, and unchanged in between."""

    _options = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"step_size": _positive_int("StepLR: step_size", options["step_size"]),
                "gamma": _gamma("StepLR", options["gamma"])}

    def _next_lr(self, i: int, lr: float) -> float:
        return lr * self.gamma if self.last_epoch % self.step_size == 0 else lr


class MultiStepLR(LRScheduler):
    """lr *= gamma at each epoch named in milestones (once per time it is named, as PyTorch)."""

    _options = ("milestones", "gamma")

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1) -> None:
        super().__init__(optimizer, milestones=milestones, gamma=gamma)

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        ms = options["milestones"]
        if isinstance(ms, (str, bytes)) or not isinstance(ms, Iterable):
            raise TypeError(f"MultiStepLR: milestones is a list of epochs, got {ms!r}")
        ms = list(ms)
        if not all(is_int(m) and m >= 1 for m in ms):
            raise ValueError(f"MultiStepLR: milestones must be ints >= 1, got {ms!r}")
        return {"milestones": sorted(int(m) for m in ms), "gamma": _gamma("MultiStepLR", options["gamma"])}

    def _next_lr(self, i: int, lr: float) -> float:
        return lr * self.gamma ** self.milestones.count(self.last_epoch)


class ExponentialLR(LRScheduler):
    """lr *= gamma every epoch."""

    _options = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer, gamma=gamma)

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"gamma": _gamma("ExponentialLR", options["gamma"])}

    def _next_lr(self, i: int, lr: float) -> float:
        return lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the base lr down to eta_min over T_max epochs, then back up, and so on:
        lr(t) = eta_min + (base - eta_min) * (1 + cos(pi t / T_max)) / 2
    Taken one epoch at a time from the current lr, as PyTorch does (so an lr set by hand is
    annealed from where it is): lr' = eta_min + (lr - eta_min) * (1 + cos(pi t/T)) / (1 + cos(pi (t-1)/T)),
    and at the turn after each minimum, where that ratio is 0/0, lr' = lr + (base - eta_min)(1 - cos(pi/T))/2."""

    _options = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer, T_max=T_max, eta_min=eta_min)

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"T_max": _positive_int("CosineAnnealingLR: T_max", options["T_max"]),
                "eta_min": _check("CosineAnnealingLR: eta_min", options["eta_min"])}

    def _next_lr(self, i: int, lr: float) -> float:
        t, T, low = self.last_epoch, self.T_max, self.eta_min
        if (t - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lrs[i] - low) * (1 - math.cos(math.pi / T)) / 2
        return low + (lr - low) * (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter, 2017): half a cosine from the base lr down to eta_min over T_i
    epochs, then straight back up to the base lr (a warm restart), with T_i = T_0 at first and
    T_mult times longer after each restart:
        lr = eta_min + (base - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
    T_cur counts the epochs since the last restart. Call step() once an epoch, or step(epoch) with a
    fractional epoch after each batch (step(epoch + i / batches)), as with PyTorch's. The lr is a
    function of the epoch alone: one set by hand is replaced at the next step."""

    _options = ("T_0", "T_mult", "eta_min")

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0) -> None:
        super().__init__(optimizer, T_0=T_0, T_mult=T_mult, eta_min=eta_min)
        self.T_i: int = self.T_0
        self.T_cur: float = 0
        for g, lr in zip(optimizer.param_groups, self.base_lrs):  # (epoch 0: the base lr, as PyTorch's)
            g["lr"] = lr

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        name = "CosineAnnealingWarmRestarts"
        return {"T_0": _positive_int(f"{name}: T_0", options["T_0"]),
                "T_mult": _positive_int(f"{name}: T_mult", options["T_mult"]),
                "eta_min": _check(f"{name}: eta_min", options["eta_min"])}

    def _cycle_at(self, epoch: float) -> tuple[float, int]:
        """(T_cur, T_i) at `epoch`. Cycle n starts at T_0 (T_mult^n - 1) / (T_mult - 1) (at n T_0
        when T_mult is 1); n is found by a log, then checked against those starts in integers,
        so a restart's first epoch is never put at the end of the cycle before (PyTorch's log alone
        does that, e.g. at epoch 121 for T_0=1, T_mult=3)."""
        t0, m = self.T_0, self.T_mult
        if m == 1:
            n = int(epoch // t0)
            return epoch - n * t0, t0

        def start(k: int) -> int:
            return t0 * (m ** k - 1) // (m - 1)
        n = max(0, int(math.log(epoch / t0 * (m - 1) + 1, m)))
        while n > 0 and start(n) > epoch:
            n -= 1
        while start(n + 1) <= epoch:
            n += 1
        return epoch - start(n), t0 * m ** n

    def step(self, epoch: Optional[float] = None) -> None:
        """Advance one epoch, or go to `epoch` (a number >= 0; a fraction, after each batch)."""
        if epoch is None:
            t_cur, t_i, last = self.T_cur + 1, self.T_i, self.last_epoch + 1
            if t_cur >= t_i:
                t_cur, t_i = t_cur - t_i, t_i * self.T_mult
        else:
            if not is_real(epoch) or not math.isfinite(epoch) or epoch < 0:
                raise ValueError(f"CosineAnnealingWarmRestarts.step: epoch must be a number >= 0, got {epoch!r}")
            (t_cur, t_i), last = self._cycle_at(epoch), math.floor(epoch)
        groups = self.optimizer.param_groups
        self.base_lrs.extend(g["lr"] for g in groups[len(self.base_lrs):])  # (groups added since)
        self.T_cur, self.T_i, self.last_epoch = t_cur, t_i, last
        for i, g in enumerate(groups):
            g["lr"] = self.eta_min + (self.base_lrs[i] - self.eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2

    def _restart(self) -> None:
        self.T_cur, self.T_i = 0, self.T_0
        super()._restart()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "T_i": self.T_i, "T_cur": self.T_cur}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        t_i = state.get("T_i", self.T_i) if isinstance(state, Mapping) else None
        t_cur = state.get("T_cur", self.T_cur) if isinstance(state, Mapping) else None
        if isinstance(state, Mapping) and (not is_int(t_i) or t_i < 1 or not is_real(t_cur)
                                           or not 0 <= t_cur < t_i):
            raise ValueError(f"CosineAnnealingWarmRestarts.load_state_dict: T_i must be an int >= 1 and T_cur a "
                             f"number in [0, T_i), got {t_i!r} and {t_cur!r}")
        super().load_state_dict(state)  # (checks the rest, and the type, before anything is set)
        self.T_i, self.T_cur = int(t_i), t_cur


class _WithLambdas(LRScheduler):
    """A schedule driven by functions of the epoch: one for every group, or a list with one per
    group. The functions are not in state_dict() (a lambda does not pickle); a restored schedule
    keeps the ones it was built with."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]]) -> None:
        super().__init__(optimizer)
        name, groups = type(self).__name__, len(optimizer.param_groups)
        if callable(lr_lambda):
            self.lr_lambdas: Optional[list[Callable[[int], float]]] = None
            self._one = lr_lambda
        else:
            fns = list(lr_lambda) if isinstance(lr_lambda, Iterable) else [lr_lambda]
            if len(fns) != groups or not all(callable(f) for f in fns):
                raise TypeError(f"{name}: lr_lambda is a function of the epoch, or a list of {groups} "
                                f"(one per parameter group); got {lr_lambda!r}")
            self.lr_lambdas = fns

    def _factor(self, i: int, epoch: int) -> float:
        """Group i's function at `epoch`, checked: a finite number."""
        if self.lr_lambdas is None:
            f = self._one
        elif i < len(self.lr_lambdas):
            f = self.lr_lambdas[i]
        else:
            raise ValueError(f"{type(self).__name__} has {len(self.lr_lambdas)} lr_lambda(s), and the optimizer "
                             f"now has {len(self.optimizer.param_groups)} parameter groups")
        factor = f(epoch)
        if isinstance(factor, np.ndarray) and factor.ndim == 0:  # (a 0-d array, as NumPy maths gives)
            factor = factor[()]
        if not is_real(factor) or not math.isfinite(factor):
            raise ValueError(f"{type(self).__name__}: lr_lambda({epoch}) gave {factor!r}, not a finite number")
        return float(factor)


class LambdaLR(_WithLambdas):
    """lr = base_lr * lr_lambda(epoch): a function of the epoch count (one for every group, or a
    list with one per group), e.g. a linear warm-up. The functions are not in state_dict()."""

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]]) -> None:
        super().__init__(optimizer, lr_lambda)
        self.last_epoch = -1
        self.step()  # (epoch 0's lr is base * lr_lambda(0), as in PyTorch)

    def _next_lr(self, i: int, lr: float) -> float:
        return self.base_lrs[i] * self._factor(i, self.last_epoch)

    def _lr_at_start(self, i: int) -> float:
        return self.base_lrs[i] * self._factor(i, 0)


class MultiplicativeLR(_WithLambdas):
    """lr *= lr_lambda(epoch) at every epoch after the first (one function for every group, or a
    list with one per group): MultiplicativeLR(opt, lambda e: 0.95) is ExponentialLR(opt, 0.95).
    It carries on from an lr set by hand. The functions are not in state_dict()."""

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]]) -> None:
        super().__init__(optimizer, lr_lambda)

    def _next_lr(self, i: int, lr: float) -> float:
        return lr * self._factor(i, self.last_epoch)

    def _lr_at_start(self, i: int) -> float:
        # (no closed form: restarted in a SequentialLR, it goes on from the lr it finds, as PyTorch's)
        return self.optimizer.param_groups[i]["lr"] * self._factor(i, 0)

    def _begin(self) -> None:
        groups = self.optimizer.param_groups  # (first in a SequentialLR: the base lr, not multiplied yet)
        self.base_lrs.extend(self._initial_lr(g) for g in groups[len(self.base_lrs):])
        self.last_epoch = 0
        for g, lr in zip(groups, self.base_lrs):
            g["lr"] = lr


class LinearLR(LRScheduler):
    """lr = base_lr * a factor that moves in a straight line from start_factor to end_factor over
    total_iters epochs, then stays: the usual warm-up (LinearLR(opt, 0.1, 1.0, 5)), often first in
    a SequentialLR. Stepped as PyTorch's, from the current lr: lr' = lr (1 + (end - start) /
    (total start + (t - 1) (end - start)))."""

    _options = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        super().__init__(optimizer, start_factor=start_factor, end_factor=end_factor, total_iters=total_iters)
        self.last_epoch = -1
        self.step()  # (epoch 0: base_lr * start_factor)

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        start, end = options["start_factor"], options["end_factor"]
        if not is_real(start) or not 0 < start <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start!r}")
        if not is_real(end) or not 0 <= end <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end!r}")
        return {"start_factor": float(start), "end_factor": float(end),
                "total_iters": _positive_int("LinearLR: total_iters", options["total_iters"])}

    def _next_lr(self, i: int, lr: float) -> float:
        t, n, a, b = self.last_epoch, self.total_iters, self.start_factor, self.end_factor
        if t == 0:
            return lr * a
        if t > n:
            return lr
        return lr * (1.0 + (b - a) / (n * a + (t - 1) * (b - a)))

    def _lr_at_start(self, i: int) -> float:
        return self.base_lrs[i] * self.start_factor


class ConstantLR(LRScheduler):
    """lr = base_lr * factor for the first total_iters epochs, then base_lr."""

    _options = ("factor", "total_iters")

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5) -> None:
        super().__init__(optimizer, factor=factor, total_iters=total_iters)
        self.last_epoch = -1
        self.step()  # (epoch 0: base_lr * factor)

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        factor = options["factor"]
        if not is_real(factor) or not 0 < factor <= 1:
            raise ValueError(f"ConstantLR: factor must be in (0, 1], got {factor!r}")
        return {"factor": float(factor), "total_iters": _positive_int("ConstantLR: total_iters", options["total_iters"])}

    def _next_lr(self, i: int, lr: float) -> float:
        if self.last_epoch == 0:
            return lr * self.factor
        return lr / self.factor if self.last_epoch == self.total_iters else lr

    def _lr_at_start(self, i: int) -> float:
        return self.base_lrs[i] * self.factor


class PolynomialLR(LRScheduler):
    """lr = base_lr * (1 - t / total_iters) ** power at epoch t, down to 0 at total_iters, where it
    stays (power 1: a straight line). Stepped as PyTorch's, from the current lr:
    lr' = lr * ((1 - t/T) / (1 - (t-1)/T)) ** power."""

    _options = ("total_iters", "power")

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0) -> None:
        super().__init__(optimizer, total_iters=total_iters, power=power)

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"total_iters": _positive_int("PolynomialLR: total_iters", options["total_iters"]),
                "power": _check("PolynomialLR: power", options["power"])}

    def _next_lr(self, i: int, lr: float) -> float:
        t, n = self.last_epoch, self.total_iters
        if t > n:
            return lr
        return lr * ((1.0 - t / n) / (1.0 - (t - 1) / n)) ** self.power


class _Combined(LRScheduler):
    """Schedules of one optimizer run together (SequentialLR, ChainedScheduler): checked, and
    saved and restored with their own states."""

    _refused: tuple[type, ...] = ()

    def _take(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler]) -> list[LRScheduler]:
        name = type(self).__name__
        scheds = list(schedulers) if isinstance(schedulers, Iterable) else []
        if not scheds or not all(isinstance(s, LRScheduler) for s in scheds):
            raise TypeError(f"{name}: schedulers must be a non-empty list of schedules, got {schedulers!r}")
        for s in scheds:
            if s.optimizer is not optimizer:
                raise ValueError(f"{name}: every schedule must schedule the optimizer it is given (or the first one's)")
            if isinstance(s, self._refused):
                raise TypeError(f"{name}: {type(s).__name__} cannot be one of its schedules here")
        return scheds

    def state_dict(self) -> dict[str, Any]:
        """The epoch count, the base lrs and each schedule's own state."""
        return {**super().state_dict(), "_schedulers": [s.state_dict() for s in self.schedulers]}

    def _from_pytorch(self, state: Mapping[str, Any]) -> Mapping[str, Any]:
        state = dict(state)
        state.setdefault("base_lrs", list(self.base_lrs))  # (PyTorch's keeps them in the schedules only)
        if "last_epoch" not in state:  # (PyTorch's ChainedScheduler counts no epochs: its schedules do)
            counts = [st.get("last_epoch", 0) for st in state.get("_schedulers") or () if isinstance(st, Mapping)]
            state["last_epoch"] = max([c for c in counts if is_int(c)] + [0])
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave: into schedules of the same kinds, in the same order;
        all of them or, when one refuses, none."""
        name = type(self).__name__
        inner = state.get("_schedulers") if isinstance(state, Mapping) else None
        if not isinstance(inner, Sequence) or len(inner) != len(self.schedulers):
            raise ValueError(f"{name}.load_state_dict: the state must hold {len(self.schedulers)} schedules' "
                             "states under '_schedulers', as state_dict() gives")
        # (PyTorch's SequentialLR keeps a schedule whose turn has not come at last_epoch -1; here it
        # is restarted at its milestone whatever it holds)
        inner = [dict(st, last_epoch=0) if isinstance(st, Mapping) and st.get("last_epoch") == -1 else st
                 for st in inner]
        saved = [s.state_dict() for s in self.schedulers]  # (to put back if one refuses)
        mine = LRScheduler.state_dict(self)
        try:
            LRScheduler.load_state_dict(self, state)
            for s, st in zip(self.schedulers, inner):
                s.load_state_dict(st)
        except (TypeError, ValueError):
            for s, st in zip(self.schedulers, saved):
                s.load_state_dict(st)
            LRScheduler.load_state_dict(self, mine)
            raise


class SequentialLR(_Combined):
    """Schedules one after another: schedulers[k] runs from epoch milestones[k-1] on, restarted
    there from its own first lr, as PyTorch's. SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5),
    CosineAnnealingLR(opt, T_max=45)], milestones=[5]) warms up for 5 epochs, then anneals. Every
    schedule starts from the optimizer's lrs when its first schedule was made."""

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]) -> None:
        super().__init__(optimizer)
        scheds = self._take(optimizer, schedulers)
        miles = list(milestones)
        if len(miles) != len(scheds) - 1 or not all(is_int(m) and m >= 1 for m in miles) or miles != sorted(set(miles)):
            raise ValueError(f"SequentialLR: milestones must be {len(scheds) - 1} increasing ints >= 1 (one "
                             f"fewer than the schedules), got {milestones!r}")
        self.schedulers, self.milestones = scheds, [int(m) for m in miles]
        start = list(self.base_lrs)
        for s in scheds:
            s.base_lrs = list(start)
        for g, lr in zip(optimizer.param_groups, start):
            g["lr"] = lr
        scheds[0]._begin()  # (the first schedule's epoch 0)

    def step(self) -> None:
        """Advance one epoch: the schedule whose turn it is steps, or starts if its turn begins."""
        self.last_epoch += 1
        k = bisect.bisect_right(self.milestones, self.last_epoch)
        if k > 0 and self.milestones[k - 1] == self.last_epoch:
            self.schedulers[k]._restart()
        else:
            self.schedulers[k].step()

    def state_dict(self) -> dict[str, Any]:
        """The milestones, the epoch count, the base lrs and each schedule's own state."""
        return {"milestones": list(self.milestones), **super().state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave: into schedules of the same kinds, in the same order."""
        if isinstance(state, Mapping) and "_milestones" in state and "milestones" not in state:  # (PyTorch's name)
            state = {**state, "milestones": state["_milestones"]}
        if isinstance(state, Mapping) and list(state.get("milestones", self.milestones)) != self.milestones:
            raise ValueError(f"SequentialLR.load_state_dict: the state's milestones {state.get('milestones')} are "
                             f"not this schedule's {self.milestones}")
        super().load_state_dict(state)

    def __repr__(self) -> str:
        inner = ", ".join(repr(s) for s in self.schedulers)
        return f"SequentialLR([{inner}], milestones={self.milestones}, last_epoch={self.last_epoch})"


class ChainedScheduler(_Combined):
    """Several schedules at once: step() steps each of them in turn, so that their changes add up:
    ChainedScheduler([ConstantLR(opt, 0.1, total_iters=2), ExponentialLR(opt, 0.9)]) scales the
    decaying lr by 0.1 for two epochs. As PyTorch's, a schedule that sets the lr outright (LambdaLR,
    CosineAnnealingWarmRestarts, ...) replaces what the ones before it in the list did; the
    optimizer is the schedules' (give it or not)."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optional[Optimizer] = None) -> None:
        scheds = list(schedulers) if isinstance(schedulers, Iterable) else schedulers
        if optimizer is None and scheds and isinstance(scheds[0], LRScheduler):
            optimizer = scheds[0].optimizer
        self.schedulers = self._take(optimizer, scheds)
        super().__init__(optimizer)

    def step(self) -> None:
        """Advance one epoch: every schedule steps, in the list's order."""
        self.last_epoch += 1
        for s in self.schedulers:
            s.step()

    def __repr__(self) -> str:
        inner = ", ".join(repr(s) for s in self.schedulers)
        return f"ChainedScheduler([{inner}], last_epoch={self.last_epoch})"


class OneCycleLR(LRScheduler):
    """The one-cycle policy, as PyTorch's: step() after every batch (not every epoch). The lr
    rises from max_lr / div_factor to max_lr over the first pct_start of total_steps, then falls
    to max_lr / div_factor / final_div_factor (three_phase: back to the start first, then down);
    "cos" or "linear" in between. With cycle_momentum, the momentum (SGD) or beta1 (Adam) moves
    the other way, between max_momentum and base_momentum. total_steps, or epochs *
    steps_per_epoch; a step past the end is an error. Each phase is a pure function of the
    step count, so the schedule does not carry on from an lr set by hand."""

    _options = ("total_steps", "max_lrs", "pct_start", "anneal_strategy", "div_factor", "final_div_factor",
                "three_phase", "cycle_momentum", "base_momentum", "max_momentum")

    def __init__(self, optimizer: Optimizer, max_lr: Union[float, Sequence[float]], total_steps: Optional[int] = None,
                 epochs: Optional[int] = None, steps_per_epoch: Optional[int] = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False) -> None:
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = _positive_int("OneCycleLR: epochs", epochs) * _positive_int("OneCycleLR: steps_per_epoch",
                                                                                      steps_per_epoch)
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * n
        super().__init__(optimizer, total_steps=total_steps, max_lrs=max_lrs, pct_start=pct_start,
                         anneal_strategy=anneal_strategy, div_factor=div_factor, final_div_factor=final_div_factor,
                         three_phase=three_phase, cycle_momentum=cycle_momentum, base_momentum=base_momentum,
                         max_momentum=max_momentum)
        self._fits({"max_lrs": self.max_lrs}, n)
        if cycle_momentum and not all("momentum" in g or "betas" in g for g in optimizer.param_groups):
            raise ValueError("OneCycleLR: cycle_momentum needs an optimizer with momentum (SGD) or betas (Adam)")
        for g, top in zip(optimizer.param_groups, self.max_lrs):  # (PyTorch's sets it to its lowest lr)
            g["initial_lr"] = top / self.div_factor
        self.last_epoch = -1
        self.step()  # (step 0: the lowest lr, the highest momentum)

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        name = "OneCycleLR"
        pct = _check(f"{name}: pct_start", options["pct_start"], 0.0, 1.0 + 1e-12)
        if options["anneal_strategy"] not in ("cos", "linear"):
            raise ValueError(f"{name}: anneal_strategy is 'cos' or 'linear', got {options['anneal_strategy']!r}")
        for k in ("three_phase", "cycle_momentum"):
            if not isinstance(options[k], (bool, np.bool_)):
                raise TypeError(f"{name}: {k} must be True or False, got {options[k]!r}")
        for k in ("div_factor", "final_div_factor"):
            if _check(f"{name}: {k}", options[k]) <= 0:
                raise ValueError(f"{name}: {k} must be > 0, got {options[k]}")
        return {"total_steps": _positive_int(f"{name}: total_steps", options["total_steps"]),
                "max_lrs": [_check(f"{name}: max_lr", v) for v in options["max_lrs"]], "pct_start": pct,
                "anneal_strategy": options["anneal_strategy"], "div_factor": float(options["div_factor"]),
                "final_div_factor": float(options["final_div_factor"]), "three_phase": bool(options["three_phase"]),
                "cycle_momentum": bool(options["cycle_momentum"]),
                "base_momentum": _check(f"{name}: base_momentum", options["base_momentum"]),
                "max_momentum": _check(f"{name}: max_momentum", options["max_momentum"])}

    def _fits(self, options: dict[str, Any], groups: int) -> None:
        if len(options["max_lrs"]) != groups:
            raise ValueError(f"OneCycleLR: max_lr has {len(options['max_lrs'])} values for {groups} parameter groups")

    def _phases(self, i: int) -> list[tuple[float, float, float, float, float]]:
        """(last step of the phase, lr from, lr to, momentum from, momentum to), in order."""
        T, top = self.total_steps, self.max_lrs[i]
        low = top / self.div_factor
        least = low / self.final_div_factor
        m_lo, m_hi = self.base_momentum, self.max_momentum
        up = float(self.pct_start * T) - 1
        if self.three_phase:
            return [(up, low, top, m_hi, m_lo), (2 * up, top, low, m_lo, m_hi), (T - 1, low, least, m_hi, m_hi)]
        return [(up, low, top, m_hi, m_lo), (T - 1, top, least, m_lo, m_hi)]

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, i: int) -> tuple[float, float]:
        """Group i's (lr, momentum) at step last_epoch."""
        t, begin = self.last_epoch, 0.0
        phases = self._phases(i)
        for k, (end, lr0, lr1, m0, m1) in enumerate(phases):
            if t <= end or k == len(phases) - 1:
                # (a phase of no steps, e.g. pct_start * total_steps == 1, is over at once: PyTorch
                # divides by its zero length)
                pct = (t - begin) / (end - begin) if end != begin else 1.0
                return self._anneal(lr0, lr1, pct), self._anneal(m0, m1, pct)
            begin = end
        raise AssertionError("unreachable")

    def step(self) -> None:
        """Advance one batch and set every group's lr (and momentum) for the next."""
        if self.last_epoch + 1 > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {self.last_epoch + 1} times, past its total_steps "
                             f"({self.total_steps}); give a larger total_steps (or epochs * steps_per_epoch)")
        self.last_epoch += 1
        groups = self.optimizer.param_groups
        if len(groups) != len(self.max_lrs):
            raise ValueError(f"OneCycleLR: max_lr has {len(self.max_lrs)} values, and the optimizer now has "
                             f"{len(groups)} parameter groups")
        for i, g in enumerate(groups):
            lr, m = self._at(i)
            g["lr"] = lr
            if self.cycle_momentum:
                if "betas" in g:
                    g["betas"] = (m, g["betas"][1])
                else:
                    g["momentum"] = m


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith, 2017), as PyTorch's: step() after every batch. The lr climbs
    from base_lr to max_lr in step_size_up batches and comes back down in step_size_down (as many by
    default), cycle after cycle, while with cycle_momentum the momentum (SGD's, or Adam's beta1)
    goes the other way, from max_momentum to base_momentum. The height of a cycle, by mode:
    "triangular" the same every cycle, "triangular2" half the last one's, "exp_range" times
    gamma ** (batch count); or scale_fn(x) of your own, x the cycle (from 1; scale_mode="cycle")
    or the batch count (scale_mode="iterations"). base_lr, max_lr and the momenta may be one per
    group. The lr is a function of the batch count alone; scale_fn is not in state_dict()."""

    _options = ("max_lrs", "total_size", "step_ratio", "mode", "gamma", "scale_mode", "cycle_momentum",
                "base_momentums", "max_momentums")

    def __init__(self, optimizer: Optimizer, base_lr: Union[float, Sequence[float]], max_lr: Union[float, Sequence[float]],
                 step_size_up: float = 2000, step_size_down: Optional[float] = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Optional[Callable[[float], float]] = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum: Union[float, Sequence[float]] = 0.8,
                 max_momentum: Union[float, Sequence[float]] = 0.9) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"CyclicLR schedules an optimizer's lr, got a {type(optimizer).__name__}")
        groups = optimizer.param_groups
        up = _check("CyclicLR: step_size_up", step_size_up)
        down = up if step_size_down is None else _check("CyclicLR: step_size_down", step_size_down)
        if up <= 0:
            raise ValueError(f"CyclicLR: step_size_up must be > 0, got {step_size_up}")
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"CyclicLR: scale_fn is a function of the cycle or batch count, got {scale_fn!r}")
        if scale_fn is None and mode in self._MODES:
            scale_mode = self._MODES[mode]  # (each mode has its own, as in PyTorch)
        per_group = {k: _per_group(f"CyclicLR: {k}", v, len(groups))
                     for k, v in (("base_lr", base_lr), ("max_lr", max_lr), ("base_momentum", base_momentum),
                                  ("max_momentum", max_momentum))}
        base = [_check("CyclicLR: base_lr", v) for v in per_group["base_lr"]]
        options = self._checked(dict(max_lrs=per_group["max_lr"], total_size=up + down, step_ratio=up / (up + down),
                                     mode=mode, gamma=gamma, scale_mode=scale_mode, cycle_momentum=cycle_momentum,
                                     base_momentums=per_group["base_momentum"],
                                     max_momentums=per_group["max_momentum"]))
        if cycle_momentum and not all("momentum" in g or "betas" in g for g in groups):
            raise ValueError("CyclicLR: cycle_momentum needs an optimizer with momentum (SGD, RMSprop) or betas "
                             "(Adam); give cycle_momentum=False")
        before = [dict(g) for g in groups]
        try:
            for g, lr in zip(groups, base):  # (before the base class sees them, as in PyTorch)
                g["lr"] = lr
            super().__init__(optimizer, **options)
            self.base_lrs = list(base)
            self.scale_fn = scale_fn
            self.last_epoch = -1
            self.step()  # (batch 0: base_lr, max_momentum)
        except (TypeError, ValueError, ArithmeticError):  # (a scale_fn that fails: the groups as they were)
            for g, old in zip(groups, before):
                g.clear()
                g.update(old)
            raise

    _MODES = {"triangular": "cycle", "triangular2": "cycle", "exp_range": "iterations"}

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        name = "CyclicLR"
        if options["mode"] not in self._MODES:
            raise ValueError(f"{name}: mode is one of {', '.join(map(repr, self._MODES))}, got {options['mode']!r}")
        if options["scale_mode"] not in ("cycle", "iterations"):
            raise ValueError(f"{name}: scale_mode is 'cycle' or 'iterations', got {options['scale_mode']!r}")
        if not isinstance(options["cycle_momentum"], (bool, np.bool_)):
            raise TypeError(f"{name}: cycle_momentum must be True or False, got {options['cycle_momentum']!r}")
        total = _check(f"{name}: total_size", options["total_size"])
        ratio = _check(f"{name}: step_ratio", options["step_ratio"], 0.0, 1.0 + 1e-12)
        if total <= 0 or ratio <= 0:
            raise ValueError(f"{name}: the cycle must rise for at least part of a batch, got total_size {total} "
                             f"and step_ratio {ratio}")
        lists = {k: [_check(f"{name}: {k[:-1]}", v) for v in options[k]]  # (named as the arguments are)
                 for k in ("max_lrs", "base_momentums", "max_momentums")}
        return {**lists, "total_size": total, "step_ratio": ratio, "mode": options["mode"],
                "gamma": _gamma(name, options["gamma"]), "scale_mode": options["scale_mode"],
                "cycle_momentum": bool(options["cycle_momentum"])}

    def _fits(self, options: dict[str, Any], groups: int) -> None:
        for k in ("max_lrs", "base_momentums", "max_momentums"):
            if len(options[k]) != groups:
                raise ValueError(f"CyclicLR: {k} has {len(options[k])} values for {groups} parameter groups")

    def _height(self) -> float:
        """Where in its cycle the batch count is, as a fraction of the cycle's height (0 at the
        bottom, 1 at the top), times the mode's (or scale_fn's) factor."""
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        frac = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        at = cycle if self.scale_mode == "cycle" else t
        if self.scale_fn is not None:
            factor = self.scale_fn(at)
            if isinstance(factor, np.ndarray) and factor.ndim == 0:
                factor = factor[()]
            if not is_real(factor) or not math.isfinite(factor):
                raise ValueError(f"CyclicLR: scale_fn({at}) gave {factor!r}, not a finite number")
        elif self.mode == "triangular":
            factor = 1.0
        elif self.mode == "triangular2":
            factor = 1 / (2.0 ** (at - 1))
        else:
            factor = self.gamma ** at
        return frac * float(factor)

    def step(self) -> None:
        """Advance one batch and set every group's lr (and momentum) for the next."""
        groups = self.optimizer.param_groups
        if len(groups) != len(self.max_lrs):
            raise ValueError(f"CyclicLR: max_lr has {len(self.max_lrs)} values, and the optimizer now has "
                             f"{len(groups)} parameter groups")
        self.last_epoch += 1
        h = self._height()
        for i, g in enumerate(groups):
            g["lr"] = self.base_lrs[i] + (self.max_lrs[i] - self.base_lrs[i]) * h
            if self.cycle_momentum:
                m = self.max_momentums[i] - (self.max_momentums[i] - self.base_momentums[i]) * h
                if "betas" in g:
                    g["betas"] = (m, g["betas"][1])
                else:
                    g["momentum"] = m


class ReduceLROnPlateau(LRScheduler):
    """Cut the lr when a metric stops improving, as PyTorch's: call step(metric) once per epoch
    (e.g. with the validation loss). After more than `patience` epochs in a row without an
    improvement, every group's lr is multiplied by factor (not below min_lr; a cut smaller than
    eps is skipped), and `cooldown` epochs pass before bad epochs count again. An improvement
    beats the best so far by threshold: relatively (best * (1 -+ threshold)) or absolutely
    (best -+ threshold) as threshold_mode says, - for mode "min", + for "max". A NaN is no
    improvement."""

    _options = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps")

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: Union[float, Sequence[float]] = 0.0, eps: float = 1e-8) -> None:
        super().__init__(optimizer, mode=mode, factor=factor, patience=patience, threshold=threshold,
                         threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr, eps=eps)
        self._fits({"min_lr": self.min_lr}, len(optimizer.param_groups))
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        name = "ReduceLROnPlateau"
        if options["mode"] not in ("min", "max") or options["threshold_mode"] not in ("rel", "abs"):
            raise ValueError(f"{name}: mode is 'min' or 'max' and threshold_mode 'rel' or 'abs', got "
                             f"{options['mode']!r} and {options['threshold_mode']!r}")
        factor = _check(f"{name}: factor", options["factor"])
        if factor >= 1:
            raise ValueError(f"{name}: factor must be below 1 (it multiplies the lr), got {factor}")
        for k in ("patience", "cooldown"):
            if not is_int(options[k]) or options[k] < 0:
                raise ValueError(f"{name}: {k} must be an int >= 0, got {options[k]!r}")
        lows = options["min_lr"]
        low = ([_check(f"{name}: min_lr", v) for v in lows] if isinstance(lows, (list, tuple))
               else _check(f"{name}: min_lr", lows))
        return {"mode": options["mode"], "factor": factor, "patience": int(options["patience"]),
                "threshold": _check(f"{name}: threshold", options["threshold"]),
                "threshold_mode": options["threshold_mode"], "cooldown": int(options["cooldown"]),
                "min_lr": low, "eps": _check(f"{name}: eps", options["eps"])}

    def _initial_lr(self, group: dict[str, Any]) -> float:
        return float(group["lr"])  # (it reads no base lr, and records none: as PyTorch's)

    def _fits(self, options: dict[str, Any], groups: int) -> None:
        if isinstance(options["min_lr"], list) and len(options["min_lr"]) != groups:
            raise ValueError(f"ReduceLROnPlateau: min_lr has {len(options['min_lr'])} values for {groups} "
                             "parameter groups")

    def _better(self, value: float) -> bool:
        t, best = self.threshold, self.best
        if self.mode == "min":
            return value < (best * (1 - t) if self.threshold_mode == "rel" else best - t)
        return value > (best * (1 + t) if self.threshold_mode == "rel" else best + t)

    def step(self, metrics: Any = None) -> None:  # type: ignore[override]
        """One epoch's metric (a number, or a one-element Tensor/array such as the loss)."""
        if metrics is None:
            raise TypeError("ReduceLROnPlateau.step(metric) needs the metric it watches (e.g. the validation loss)")
        value = float(metrics.item() if hasattr(metrics, "item") else metrics)
        self.last_epoch += 1
        if self._better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # (bad epochs in a cooldown do not count)
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            groups = self.optimizer.param_groups
            if isinstance(self.min_lr, list) and len(self.min_lr) != len(groups):
                raise ValueError(f"ReduceLROnPlateau: min_lr has {len(self.min_lr)} values, and the optimizer now "
                                 f"has {len(groups)} parameter groups")
            for i, g in enumerate(groups):
                low = self.min_lr[i] if isinstance(self.min_lr, list) else self.min_lr
                new = max(g["lr"] * self.factor, low)
                if g["lr"] - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best": self.best, "num_bad_epochs": self.num_bad_epochs,
                "cooldown_counter": self.cooldown_counter}

    def _from_pytorch(self, state: Mapping[str, Any]) -> Mapping[str, Any]:
        state = dict(state)
        if "min_lrs" in state and "min_lr" not in state:  # (PyTorch's: one per group, always a list)
            state["min_lr"] = list(state["min_lrs"])
        state.setdefault("base_lrs", list(self.base_lrs))  # (PyTorch's keeps none: nothing here reads them)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        counts = {k: state.get(k, getattr(self, k)) if isinstance(state, Mapping) else None
                  for k in ("num_bad_epochs", "cooldown_counter")}
        best = state.get("best", self.best) if isinstance(state, Mapping) else None
        if isinstance(state, Mapping) and (not all(is_int(v) and v >= 0 for v in counts.values())
                                           or not is_real(best) or math.isnan(best)):
            raise ValueError(f"ReduceLROnPlateau.load_state_dict: best must be a number and num_bad_epochs, "
                             f"cooldown_counter ints >= 0, got {best!r}, {counts}")
        super().load_state_dict(state)  # (checks the rest, and the type, before anything is set)
        self.best = float(best)
        self.num_bad_epochs, self.cooldown_counter = int(counts["num_bad_epochs"]), int(counts["cooldown_counter"])


def _positive_int(name: str, value: Any) -> int:
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _gamma(name: str, value: Any) -> float:
    return _check(f"{name}: gamma", value)


def _copy_setting(v: Any) -> Any:
    return list(v) if isinstance(v, list) else v


def _per_group(name: str, value: Any, groups: int) -> list[Any]:
    """One value per parameter group: a list or tuple of that many, or one value for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"{name} has {len(value)} values for {groups} parameter groups")
        return list(value)
    return [value] * groups


SequentialLR._refused = (ReduceLROnPlateau, OneCycleLR, CyclicLR, _Combined)
ChainedScheduler._refused = (ReduceLROnPlateau,)
