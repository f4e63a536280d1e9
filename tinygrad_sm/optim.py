"""Optimizers with PyTorch's update rules, and learning-rate schedules.

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

Each update runs in place through one fused kernel per parameter (tinygrad_sm.kernels).
"""
from __future__ import annotations

import bisect
import difflib
import math
import sys
import types
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from . import kernels
from ._checks import is_int, is_real
from .tensor import Tensor, note_write

Params = Union[Iterable[Tensor], Iterable[dict]]

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR",
           "CosineAnnealingLR", "LambdaLR", "LinearLR", "ConstantLR", "SequentialLR", "OneCycleLR",
           "ReduceLROnPlateau"]


class Optimizer:
    """Holds parameter groups (each a dict with "params" and its hyperparameters) and per-parameter
    state. Subclasses write `_update(p, state, group)`."""

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):  # (list() would iterate its rows)
            raise TypeError(f"{type(self).__name__} takes an iterable of tensors (or of parameter groups), "
                            f"got one Tensor; pass [t], or model.parameters()")
        if isinstance(params, (set, frozenset)):
            raise TypeError(_UNORDERED.format(type(self).__name__))
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}  # keyed by the parameter's position
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add parameters with options of their own (the others from the defaults), as PyTorch's:
        e.g. layers unfrozen part way through fine-tuning. A parameter may be in one group only;
        the group is checked whole before it is added."""
        name = type(self).__name__
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{name}: a parameter group is a dict with 'params' (and options), got {param_group!r}")
        g = param_group
        if isinstance(g["params"], (set, frozenset)):
            raise TypeError(_UNORDERED.format(name))
        ps = [g["params"]] if isinstance(g["params"], Tensor) else list(g["params"])  # (as PyTorch)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for p in ps:  # (a leaf that does not require grad, frozen, is kept and skipped: no .grad)
            if not isinstance(p, Tensor) or not p.is_leaf:
                what = (f"a non-leaf Tensor {p.shape} (computed from others)" if isinstance(p, Tensor)
                        else f"a {type(p).__name__}")
                raise TypeError(f"{name} optimises leaf tensors (parameters), got {what}")
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter appears twice (in two groups, or twice in one)")
            seen.add(id(p))
        unknown = sorted(k for k in g if _misspelt_option(k, g[k], self.defaults))
        if unknown:
            close = {k: difflib.get_close_matches(str(k), list(self.defaults), n=1) for k in unknown}
            hints = "".join(f"; {k!r}: did you mean {c[0]!r}?" for k, c in close.items() if c)
            raise TypeError(f"{name}: unknown option(s) {unknown}{hints} (a group may also carry labels "
                            "of your own, such as 'name': 'head', that are not numbers or flags)")
        group = {**self.defaults, **g, "params": ps}
        self._check_group(group)  # (the defaults too: each group holds them unless it overrides)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Refuse hyperparameters the update rule cannot use (checked per group, so a group's own
        lr is checked as the default is). Subclasses add their own options' checks."""
        if "lr" in group:
            _check("lr", group["lr"])

    def _params(self) -> Iterable[tuple[int, Tensor, dict[str, Any]]]:
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                yield i, p, group
                i += 1

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients before the next backward (they accumulate otherwise)."""
        for _, p, _ in self._params():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0
                note_write(p.grad, "zero_grad(set_to_none=False)")

    def step(self) -> None:
        """Update every parameter that has a gradient. Every parameter is checked before the first
        is updated: a step that fails changes nothing, so fixing the cause and stepping again
        does not step some parameters twice."""
        how = f"{type(self).__name__}.step()"
        todo = [(i, p, group) for i, p, group in self._params() if p.grad is not None]
        for i, p, _ in todo:
            self._check_param(i, p)
        for i, p, group in todo:
            state = self.state.setdefault(i, {})
            for name, v in state.items():  # buffers follow a parameter converted since they were
                if type(v) is np.ndarray and v.dtype is not p.data.dtype:  # made (model.double())
                    state[name] = v.astype(p.data.dtype)
            self._update(p, state, group)
            note_write(p, how)

    def _check_param(self, i: int, p: Tensor) -> None:
        name = type(self).__name__
        if type(p.data) is not np.ndarray:  # (p.data = some_tensor, a PyTorch habit)
            raise TypeError(f"{name}: parameter {i}'s .data is a {type(p.data).__name__}, not a NumPy "
                            "array; assign arrays to .data (p.data = t.numpy(), or p.data[...] = values)")
        g = p.grad.data
        if not isinstance(g, np.ndarray) or g.shape != p.data.shape or g.dtype != p.data.dtype:
            got = f"{g.shape} {g.dtype}" if isinstance(g, np.ndarray) else type(g).__name__
            raise ValueError(f"{name}.step(): parameter {i} is {p.data.shape} {p.data.dtype} but its .grad "
                             f"is {got}; a gradient must match its parameter (nothing was updated)")
        if not p.data.flags.writeable:
            raise ValueError(f"{name}.step(): parameter {i} is read-only; give it a writable array "
                             "(p.data = p.data.copy()); nothing was updated")

    def _update(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- saving and resuming -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters per group and each parameter's state (copied), by position."""
        groups = []
        i = 0
        for g in self.param_groups:
            n = len(g["params"])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": list(range(i, i + n))})
            i += n
        state = {str(k): {name: (v.copy() if isinstance(v, np.ndarray) else v) for name, v in s.items()}
                 for k, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave, checking it fits these parameters."""
        groups = state_dict.get("param_groups")
        if groups is None or "state" not in state_dict:
            raise KeyError("optimizer state dict needs 'state' and 'param_groups'")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"optimizer state has {len(groups)} parameter group(s), this optimizer has "
                             f"{len(self.param_groups)}")
        params = [p for _, p, _ in self._params()]
        for g, mine in zip(groups, self.param_groups):
            if len(g["params"]) != len(mine["params"]):
                raise ValueError(f"optimizer state has a group of {len(g['params'])} parameters where this "
                                 f"optimizer has {len(mine['params'])}")
        new_state: dict[int, dict[str, Any]] = {}
        for key, s in state_dict["state"].items():
            i = int(key)
            if not 0 <= i < len(params):
                raise ValueError(f"optimizer state names parameter {i}, but there are {len(params)}")
            entry = {}
            for name, v in s.items():
                # An array is a buffer like the parameter, except Adam's step count, which a
                # checkpoint file (or PyTorch) stores as a 0-d array.
                if isinstance(v, np.ndarray) and name != "step":
                    if v.shape != params[i].shape:
                        raise ValueError(f"optimizer state {name!r} of parameter {i} has shape {v.shape}, "
                                         f"the parameter has {params[i].shape}")
                    v = v.astype(params[i].dtype)
                elif isinstance(v, np.ndarray):
                    v = v.item()
                entry[name] = v
            new_state[i] = entry
        merged = [self._loaded_group(g, mine) for g, mine in zip(groups, self.param_groups)]
        for mine, group in zip(self.param_groups, merged):
            mine.update(group)
        self.state = new_state

    # PyTorch's options that this library does not have, with the values that mean "off": a state
    # dict from PyTorch may carry them; any other value asks for behaviour it would not get.
    # (initial_lr is what PyTorch's schedulers record; it changes no update.)
    _TORCH_OFF: dict[str, tuple[Any, ...]] = {"foreach": (None, False), "fused": (None, False),
                                             "capturable": (False,), "differentiable": (False,),
                                             "maximize": (False,)}

    def _loaded_group(self, g: Mapping[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
        """The options of a saved group, checked as the constructor checks them."""
        name = type(self).__name__
        off = {**self._TORCH_OFF, **self._torch_off()}
        group = {}
        for k, v in g.items():
            if k in ("params", "initial_lr"):
                continue
            if k in off and k not in self.defaults:
                if not any(v is o or (type(v) is type(o) and v == o) for o in off[k]):
                    raise ValueError(f"optimizer state has {k}={v!r}, which {name} does not implement")
                continue
            if k not in self.defaults and _misspelt_option(k, v, self.defaults):
                raise ValueError(f"optimizer state has option {k!r}, which {name} does not have "
                                 "(a state dict of another optimizer?)")
            group[k] = v
        merged = {**mine, **group}
        self._check_group(merged)  # (which also puts values in their form, e.g. betas as a tuple)
        return {k: merged[k] for k in group}

    def _torch_off(self) -> dict[str, tuple[Any, ...]]:
        return {}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.param_groups[0].items() if k != "params")
        return f"{type(self).__name__}({opts})"


_UNORDERED = ("{}: parameters in a set have no fixed order, and the optimizer's state is kept by "
              "position; pass a list (e.g. list(model.parameters()))")


def _misspelt_option(key: Any, value: Any, options: Mapping[str, Any]) -> bool:
    """A group key that is no option of the optimizer's but holds an option-like value (a number,
    a bool, a tuple or list of numbers): a misspelling, refused. Other keys, e.g. 'name': 'head',
    are labels of the user's, kept as PyTorch keeps them; 'initial_lr' is the lr PyTorch's
    schedules start from."""
    if key in options or key in ("params", "initial_lr"):
        return False
    return isinstance(value, (bool, np.bool_, int, float, np.number)) or (
        isinstance(value, (tuple, list)) and bool(value) and all(isinstance(x, (int, float, np.number)) for x in value))


def _check(name: str, value: float, low: float = 0.0, high: Optional[float] = None) -> float:
    """`value` as a float, once it is a finite number in [low, high) (TypeError or ValueError, naming it)."""
    if not is_real(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return float(value)


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule:
        d = g + weight_decay * p
        buf = momentum * buf + (1 - dampening) * d     (buf = d on the first step)
        d = d + momentum * buf if nesterov else buf
        p -= lr * d
    """

    def __init__(self, params: Params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        _check("momentum", group["momentum"])
        _check("dampening", group["dampening"])
        if group["dampening"] > 1:
            raise ValueError(f"dampening must be in [0, 1], got {group['dampening']}")
        _check("weight_decay", group["weight_decay"])
        if not isinstance(group["nesterov"], (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")

    def _update(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        buf = None
        first = False
        if group["momentum"]:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = np.zeros_like(p.data)
                first = True
        kernels.sgd_step_(p.data, p.grad.data, buf, lr=group["lr"], momentum=group["momentum"],
                          dampening=group["dampening"], weight_decay=group["weight_decay"],
                          nesterov=group["nesterov"], first=first)
        if first:  # (kept once the step has been taken: a step that raised leaves no state behind)
            state["momentum_buffer"] = buf


class Adam(Optimizer):
    """Adam (Kingma and Ba), PyTorch's rule, with L2 weight decay added to the gradient:
        g = g + weight_decay * p
        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g**2
        p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)
    """

    decoupled = False

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        betas = group["betas"]
        if isinstance(betas, np.ndarray):  # (as a checkpoint file gives them back)
            betas = betas.tolist()
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        _check("beta1", betas[0], 0.0, 1.0)
        _check("beta2", betas[1], 0.0, 1.0)
        group["betas"] = tuple(betas)
        _check("eps", group["eps"])
        _check("weight_decay", group["weight_decay"])

    def _torch_off(self) -> dict[str, tuple[Any, ...]]:
        return {"amsgrad": (False,), "decoupled_weight_decay": (self.decoupled,)}

    def _update(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        fresh = "step" not in state
        m = np.zeros_like(p.data) if fresh else state["exp_avg"]
        v = np.zeros_like(p.data) if fresh else state["exp_avg_sq"]
        step = 1 if fresh else state["step"] + 1
        b1, b2 = group["betas"]
        kernels.adam_step_(p.data, p.grad.data, m, v, step=step, lr=group["lr"], beta1=b1, beta2=b2,
                           eps=group["eps"], weight_decay=group["weight_decay"], decoupled=self.decoupled)
        state.update(step=step, exp_avg=m, exp_avg_sq=v)  # (after the step: one that raised counts not)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p *= 1 - lr * weight_decay
    before the Adam step, instead of adding weight_decay * p to the gradient."""

    decoupled = True

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), PyTorch's rule: each parameter's step is divided by a running
    root mean square of its gradients, so steep and flat directions move at similar speeds.
        g = g + weight_decay * p
        v = alpha v + (1 - alpha) g**2                 (centered: also m = alpha m + (1 - alpha) g)
        d = g / (sqrt(v) + eps)                        (centered: sqrt(v - m**2))
        buf = momentum * buf + d; p -= lr * buf        (without momentum: p -= lr * d)
    Plain NumPy in place (no fused kernel)."""

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        _check("alpha", group["alpha"])  # (>= 0, as PyTorch checks: a state dict of its loads here)
        _check("eps", group["eps"])
        _check("weight_decay", group["weight_decay"])
        _check("momentum", group["momentum"])
        if not isinstance(group["centered"], (bool, np.bool_)):
            raise TypeError(f"centered must be True or False, got {group['centered']!r}")

    def _torch_off(self) -> dict[str, tuple[Any, ...]]:
        return {"capturable": (False,)}

    def _update(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        x, g = p.data, p.grad.data
        alpha, wd, mom = group["alpha"], group["weight_decay"], group["momentum"]
        if wd:
            g = g + wd * x
        v = state.setdefault("square_avg", np.zeros_like(x))
        v *= alpha
        v += (1 - alpha) * (g * g)
        if group["centered"]:
            m = state.setdefault("grad_avg", np.zeros_like(x))
            m *= alpha
            m += (1 - alpha) * g
            avg = np.sqrt(v - m * m)
        else:
            avg = np.sqrt(v)
        avg += group["eps"]
        d = g / avg
        if mom > 0:
            buf = state.setdefault("momentum_buffer", np.zeros_like(x))
            buf *= mom
            buf += d
            d = buf
        x -= group["lr"] * d
        state["step"] = state.get("step", 0) + 1


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan and Singer), PyTorch's rule: each parameter's step is divided by the
    root of the sum of all its squared gradients so far, so often-updated directions slow down.
        g = g + weight_decay * p
        s = s + g**2                                   (s starts at initial_accumulator_value)
        p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)
    Plain NumPy in place (no fused kernel)."""

    def __init__(self, params: Params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _check(name, group[name])

    def _torch_off(self) -> dict[str, tuple[Any, ...]]:
        return {"fused": (None, False)}

    def _update(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        x, g = p.data, p.grad.data
        if group["weight_decay"]:
            g = g + group["weight_decay"] * x
        total = state.setdefault("sum", np.full_like(x, group["initial_accumulator_value"]))
        total += g * g
        step = state.get("step", 0) + 1
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        x -= clr * (g / (np.sqrt(total) + group["eps"]))
        state.update(step=step, sum=total)


class LRScheduler:
    """A learning-rate schedule, PyTorch's way: call step() once per epoch, after the optimizer's
    steps; it sets every group's lr for the next epoch. Subclasses write `_next_lr(i, lr)`, group
    i's new lr from its current one (so an lr set by hand carries on from there, as in PyTorch),
    with last_epoch already advanced; base_lrs[i] is the group's lr when the schedule began. A
    group added to the optimizer later is scheduled from its own lr then (PyTorch leaves it out)."""

    _options: tuple[str, ...] = ()  # the schedule's settings, as state_dict() names them

    def __init__(self, optimizer: Optimizer, **options: Any) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} schedules an optimizer's lr, got a {type(optimizer).__name__}")
        for k, v in self._checked(options).items():
            setattr(self, k, v)
        self.optimizer = optimizer
        self.base_lrs: list[float] = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        """The settings in their stored form, or an error naming the bad one (nothing is set)."""
        return options

    def _next_lr(self, i: int, lr: float) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set each group's lr for it."""
        self.last_epoch += 1
        groups = self.optimizer.param_groups
        self.base_lrs.extend(g["lr"] for g in groups[len(self.base_lrs):])  # (groups added since)
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
        self.base_lrs.extend(g["lr"] for g in groups[len(self.base_lrs):])
        self.last_epoch = 0
        new = [self._lr_at_start(i) for i in range(len(groups))]
        for g, lr in zip(groups, new):
            g["lr"] = lr

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


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch): a function of the epoch count (one for every group, or a
    list with one per group), e.g. a linear warm-up. The functions are not in state_dict()."""

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]]) -> None:
        super().__init__(optimizer)
        groups = len(optimizer.param_groups)
        if callable(lr_lambda):
            self.lr_lambdas: Optional[list[Callable[[int], float]]] = None
            self._one = lr_lambda
        else:
            fns = list(lr_lambda) if isinstance(lr_lambda, Iterable) else [lr_lambda]
            if len(fns) != groups or not all(callable(f) for f in fns):
                raise TypeError(f"LambdaLR: lr_lambda is a function of the epoch, or a list of {groups} "
                                f"(one per parameter group); got {lr_lambda!r}")
            self.lr_lambdas = fns
        self.last_epoch = -1
        self.step()  # (epoch 0's lr is base * lr_lambda(0), as in PyTorch)

    def _next_lr(self, i: int, lr: float) -> float:
        if self.lr_lambdas is None:
            f = self._one
        elif i < len(self.lr_lambdas):
            f = self.lr_lambdas[i]
        else:
            raise ValueError(f"LambdaLR has {len(self.lr_lambdas)} lr_lambda(s), and the optimizer now has "
                             f"{len(self.optimizer.param_groups)} parameter groups")
        return self.base_lrs[i] * self._factor(f, self.last_epoch)

    def _lr_at_start(self, i: int) -> float:
        f = self._one if self.lr_lambdas is None else self.lr_lambdas[i]
        return self.base_lrs[i] * self._factor(f, 0)

    @staticmethod
    def _factor(f: Callable[[int], float], epoch: int) -> float:
        factor = f(epoch)
        if isinstance(factor, np.ndarray) and factor.ndim == 0:  # (a 0-d array, as NumPy maths gives)
            factor = factor[()]
        if not is_real(factor) or not math.isfinite(factor):
            raise ValueError(f"LambdaLR: lr_lambda({epoch}) gave {factor!r}, not a finite number")
        return float(factor)


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


class SequentialLR(LRScheduler):
    """Schedules one after another: schedulers[k] runs from epoch milestones[k-1] on, restarted
    there from its own first lr, as PyTorch's. SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5),
    CosineAnnealingLR(opt, T_max=45)], milestones=[5]) warms up for 5 epochs, then anneals. Every
    schedule starts from the optimizer's lrs when the first was made."""

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]) -> None:
        super().__init__(optimizer)
        scheds = list(schedulers)
        if not scheds or not all(isinstance(s, LRScheduler) for s in scheds):
            raise TypeError(f"SequentialLR: schedulers must be a non-empty list of schedules, got {schedulers!r}")
        for s in scheds:
            if s.optimizer is not optimizer:
                raise ValueError("SequentialLR: every schedule must schedule the optimizer it is given")
            if isinstance(s, (ReduceLROnPlateau, OneCycleLR, SequentialLR)):
                raise TypeError(f"SequentialLR: {type(s).__name__} cannot be one of its schedules here")
        miles = list(milestones)
        if len(miles) != len(scheds) - 1 or not all(is_int(m) and m >= 1 for m in miles) or miles != sorted(set(miles)):
            raise ValueError(f"SequentialLR: milestones must be {len(scheds) - 1} increasing ints >= 1 (one "
                             f"fewer than the schedules), got {milestones!r}")
        self.schedulers, self.milestones = scheds, [int(m) for m in miles]
        start = list(scheds[0].base_lrs)
        for s in scheds:
            s.base_lrs = list(start)
        for g, lr in zip(optimizer.param_groups, start):
            g["lr"] = lr
        self.base_lrs = list(start)
        scheds[0]._restart()  # (the first schedule's epoch 0)

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
        return {"milestones": list(self.milestones), "last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs),
                "_schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave: into schedules of the same kinds, in the same order."""
        inner = state.get("_schedulers") if isinstance(state, Mapping) else None
        if not isinstance(inner, Sequence) or len(inner) != len(self.schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: the state must hold {len(self.schedulers)} schedules' "
                             "states under '_schedulers', as state_dict() gives")
        if list(state.get("milestones", self.milestones)) != self.milestones:
            raise ValueError(f"SequentialLR.load_state_dict: the state's milestones {state.get('milestones')} are "
                             f"not this schedule's {self.milestones}")
        saved = [s.state_dict() for s in self.schedulers]  # (to put back if one refuses: all or none)
        mine = super().state_dict()
        try:
            LRScheduler.load_state_dict(self, state)
            for s, st in zip(self.schedulers, inner):
                s.load_state_dict(st)
        except (TypeError, ValueError):
            for s, st in zip(self.schedulers, saved):
                s.load_state_dict(st)
            LRScheduler.load_state_dict(self, mine)
            raise

    def __repr__(self) -> str:
        inner = ", ".join(repr(s) for s in self.schedulers)
        return f"SequentialLR([{inner}], milestones={self.milestones}, last_epoch={self.last_epoch})"


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


# `optim.lr_scheduler.StepLR` and the rest, PyTorch's paths to the schedules, find them here too.
SCHEDULERS = ("LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR",
              "LinearLR", "ConstantLR", "SequentialLR", "OneCycleLR", "ReduceLROnPlateau")
lr_scheduler = types.ModuleType(__name__ + ".lr_scheduler", "Learning-rate schedules, as PyTorch's "
                                "optim.lr_scheduler: " + ", ".join(SCHEDULERS) + ".")
for _name in SCHEDULERS:
    setattr(lr_scheduler, _name, globals()[_name])
sys.modules[lr_scheduler.__name__] = lr_scheduler
