"""Optimizers with PyTorch's update rules (the learning-rate schedules, in lr_scheduler.py, are
found here too: optim.StepLR, optim.lr_scheduler.StepLR).

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

Each update runs in place through one fused kernel per parameter (tinygrad_sm.kernels).
"""
from __future__ import annotations

import difflib
import sys
from typing import Any, Iterable, Mapping, Optional, Union

import numpy as np

from . import kernels
from ._checks import is_real
from .tensor import Tensor, note_write

Params = Union[Iterable[Tensor], Iterable[dict]]

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]


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
            if "initial_lr" not in group:  # (as PyTorch's: the saved groups replace these, schedules' record too)
                mine.pop("initial_lr", None)
        self.state = new_state

    # PyTorch's options that this library does not have, with the values that mean "off": a state
    # dict from PyTorch may carry them; any other value asks for behaviour it would not get.
    # (initial_lr is the lr a group's first schedule started from: kept for the schedules made
    # after the load; it changes no update.)
    _TORCH_OFF: dict[str, tuple[Any, ...]] = {"foreach": (None, False), "fused": (None, False),
                                             "capturable": (False,), "differentiable": (False,),
                                             "maximize": (False,)}

    def _loaded_group(self, g: Mapping[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
        """The options of a saved group, checked as the constructor checks them."""
        name = type(self).__name__
        off = {**self._TORCH_OFF, **self._torch_off()}
        group = {}
        for k, v in g.items():
            if k == "params":
                continue
            if k == "initial_lr":
                if not is_real(v) or not np.isfinite(v):
                    raise ValueError(f"optimizer state has initial_lr={v!r}; it must be a number")
                group[k] = float(v)
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


# The schedules live in lr_scheduler.py; PyTorch's two paths to them, optim.lr_scheduler.StepLR and
# optim.StepLR, both find them. (Imported last: lr_scheduler needs Optimizer, defined above.)
from . import lr_scheduler  # noqa: E402
from .lr_scheduler import *  # noqa: E402,F401,F403

__all__ += lr_scheduler.__all__
sys.modules[__name__ + ".lr_scheduler"] = lr_scheduler
