"""Optimizers with PyTorch's update rules, and a step-decay learning-rate schedule.

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

Each update runs in place through one fused kernel per parameter (tinygrad_sm.kernels).
"""
from __future__ import annotations

import sys
import types
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from . import kernels
from .tensor import Tensor, note_write

Params = Union[Iterable[Tensor], Iterable[dict]]

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "StepLR"]


class Optimizer:
    """Holds parameter groups (each a dict with "params" and its hyperparameters) and per-parameter
    state. Subclasses write `_update(p, state, group)`."""

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):  # (list() would iterate its rows)
            raise TypeError(f"{type(self).__name__} takes an iterable of tensors (or of parameter groups), "
                            f"got one Tensor; pass [t], or model.parameters()")
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
        unknown = set(g) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{name}: unknown option(s) {sorted(unknown)}")
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
            if k not in self.defaults:
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


def _check(name: str, value: float, low: float = 0.0, high: Optional[float] = None) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")


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


class StepLR:
    """Step decay: multiply every group's lr by gamma once every step_size epochs.
    Call scheduler.step() once per epoch, after the optimizer's steps."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        _check_step_size(step_size)
        _check("StepLR: gamma", gamma)
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0

    def step(self) -> None:
        """Multiply each group's current lr by gamma at every step_size-th epoch, and leave it alone
        otherwise (as PyTorch does): an lr set by hand, or restored with the optimizer's state,
        carries on from there instead of being reset to base * gamma**k."""
        self.last_epoch += 1
        if self.last_epoch % self.step_size == 0:
            for g in self.optimizer.param_groups:
                g["lr"] = g["lr"] * self.gamma

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma, "last_epoch": self.last_epoch,
                "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what state_dict() gave, step_size and gamma included (as PyTorch does; a state
        without them keeps this scheduler's). Checked whole before anything changes."""
        if not isinstance(state, Mapping):
            raise TypeError(f"StepLR.load_state_dict: expected a dict from state_dict(), got {type(state).__name__}")
        missing = [k for k in ("last_epoch", "base_lrs") if k not in state]
        if missing:
            raise ValueError(f"StepLR.load_state_dict: the state has no {' or '.join(map(repr, missing))}; "
                             "give it what StepLR.state_dict() returned")
        last, lrs = state["last_epoch"], state["base_lrs"]
        if isinstance(last, bool) or not isinstance(last, (int, np.integer)) or last < 0:
            raise ValueError(f"StepLR.load_state_dict: last_epoch must be an int >= 0, got {last!r}")
        groups = len(self.optimizer.param_groups)
        if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence) or len(lrs) != groups:
            raise ValueError(f"StepLR.load_state_dict: base_lrs must hold one lr per parameter group "
                             f"({groups}), got {lrs!r}")
        lrs = [float(x) for x in lrs]
        step_size, gamma = state.get("step_size", self.step_size), state.get("gamma", self.gamma)
        _check_step_size(step_size)
        _check("StepLR: gamma", gamma)
        self.step_size, self.gamma, self.last_epoch, self.base_lrs = int(step_size), float(gamma), int(last), lrs


def _check_step_size(step_size: Any) -> None:
    if isinstance(step_size, bool) or not isinstance(step_size, (int, np.integer)) or step_size < 1:
        raise ValueError(f"StepLR: step_size must be an int >= 1, got {step_size!r}")


# `optim.lr_scheduler.StepLR`, PyTorch's path to the schedule, finds it here too.
lr_scheduler = types.ModuleType(__name__ + ".lr_scheduler", "Learning-rate schedules, as PyTorch's "
                                "optim.lr_scheduler: StepLR.")
lr_scheduler.StepLR = StepLR  # type: ignore[attr-defined]
sys.modules[lr_scheduler.__name__] = lr_scheduler
