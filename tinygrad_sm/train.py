"""Training and evaluating the models of the seeds: softmax regression, MLPs and a linear SVM.

`fit(TrainConfig(...))` is what `tinygrad-sm train` runs: it builds the model, trains it with a
seeded batch order, evaluates each epoch, stops with a clear error if the loss goes NaN/inf, and
(given an output directory) writes the checkpoint, the metrics and the curves.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TextIO

import numpy as np

from . import _files, checkpoint, data, nn, optim
from . import functional as F
from ._checks import is_int, is_real
from .gates import GateError
from .grad_mode import no_grad
from .progress import ProgressBar
from .tensor import Tensor
from .viz import save_figure

MODELS = ("softmax", "mlp", "deep-mlp", "svm", "cnn")
"""The models `tinygrad-sm train --model` knows."""
OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad")
"""The optimizers `--optimizer` knows."""
SCHEDULES = ("constant", "step", "cosine", "onecycle")
"""--lr-schedule: constant; step (StepLR: lr times lr_gamma every lr_step epochs); cosine
(CosineAnnealingLR: half a cosine from lr to 0 over the run, an epoch at a time); onecycle
(OneCycleLR: up from lr/25 to lr over the first 30% of the steps, then down to lr/25e4, a batch at
a time; the momentum is left alone). TrainConfig.warmup puts epochs of linear warm-up before the
schedule (not onecycle, which warms up by itself)."""
SPANNING = ("cosine", "onecycle")
"""The schedules shaped by the run's length (TrainConfig.schedule_epochs, fixed when it starts)."""
ONE_LAYER = ("softmax", "svm")
"""The models that are one linear layer (no hidden layers)."""
HIDDEN = {"softmax": [], "svm": [], "mlp": [256], "deep-mlp": [512, 256, 128, 64], "cnn": [16, 32]}
"""Each model's default hidden layer sizes (`--hidden` overrides them for the MLPs), or for the
cnn the channels of its convolution blocks."""
CNN_KERNEL = 5
"""The cnn's blocks: a CNN_KERNEL x CNN_KERNEL convolution (padded to keep the image's size),
ReLU, and 2x2 max pooling, which halves it."""
IMAGE_SIDE = 28
"""Every dataset's images are 28x28 (the IDX reader checks it)."""


class RankFailed(RuntimeError):
    """Another process of a data-parallel run could not start (its own error says why)."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or inf; the message says at which step and which tensors."""


@dataclass
class TrainConfig:
    """Everything that decides a training run (a run is a pure function of this)."""

    model: str = "mlp"
    dataset: str = "mnist-sample"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    optimizer: str = "sgd"
    weight_decay: float = 0.0
    reg: float = 0.0                       # L2 penalty reg * sum(W**2) on the weights (the SVM's)
    hidden: Optional[list[int]] = None     # hidden sizes; None: the model's default
    lr_step: int = 0                       # StepLR every lr_step epochs (0: constant lr)
    lr_gamma: float = 0.1
    lr_schedule: Optional[str] = None      # one of SCHEDULES; None: "step" if lr_step else "constant"
    schedule_epochs: Optional[int] = None  # cosine/onecycle: the epochs the schedule spans (set at the start)
    warmup: int = 0                        # epochs of linear warm-up first: lr/(warmup+1), 2 lr/(warmup+1), ... lr
    seed: int = 0
    data_root: Optional[str] = None
    normalize: bool = False                # standardise pixels with the training set's mean/std
    dropout: float = 0.0                   # drop probability after each hidden layer, while training
    val_fraction: float = 0.0              # > 0: hold out a validation split and never touch test
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not is_int(v):
                raise ValueError(f"{name} must be an integer, got {v!r}")
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        for name in ("lr", "momentum", "weight_decay", "reg", "lr_gamma"):
            v = getattr(self, name)
            if not is_real(v):
                raise ValueError(f"{name} must be a number, got {v!r}")
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
        d = self.dropout
        if not is_real(d) or not 0 <= d < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {d!r}")
        if d and self.model in ONE_LAYER:
            raise ValueError(f"dropout drops hidden units, and the {self.model} model is one linear layer with "
                             "none (use --model mlp or deep-mlp)")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.hidden is not None and (not isinstance(self.hidden, (list, tuple))
                                        or not all(map(is_int, self.hidden))):
            raise ValueError(f"hidden sizes must be a list of integers, got {self.hidden!r}")
        if self.hidden is not None and any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be positive, got {self.hidden}")
        if self.hidden is not None and not self.hidden and self.model in ("mlp", "deep-mlp", "cnn"):
            what = "convolution block's channels" if self.model == "cnn" else "hidden size"
            raise ValueError(f"the {self.model} model needs at least one {what} (or use --model softmax)")
        if self.model == "cnn" and self.hidden and IMAGE_SIDE >> len(self.hidden) == 0:
            raise ValueError(_too_many_blocks(len(self.hidden), IMAGE_SIDE))
        if self.hidden and self.model in ONE_LAYER:
            raise ValueError(f"hidden sizes (--hidden) are for the mlp, deep-mlp and cnn models; the {self.model} "
                             "model is one linear layer and has none (use --model mlp for hidden layers)")
        for name in ("seed", "lr_step", "warmup"):
            v = getattr(self, name)
            if not is_int(v) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        self._check_schedule()
        data.check_name(self.dataset)

    def schedule(self) -> str:
        """The lr schedule's name (one of SCHEDULES)."""
        return self.lr_schedule or ("step" if self.lr_step else "constant")

    def _check_schedule(self) -> None:
        if self.lr_schedule is not None and self.lr_schedule not in SCHEDULES:
            raise ValueError(f"unknown lr schedule {self.lr_schedule!r}; choose one of {', '.join(SCHEDULES)}")
        kind = self.schedule()
        if kind == "step" and not self.lr_step:
            raise ValueError("the step schedule needs lr_step (--lr-step N: lr times lr_gamma every N epochs)")
        if kind != "step" and self.lr_step:
            raise ValueError(f"lr_step (--lr-step) is for the step schedule, not {kind}")
        n = self.schedule_epochs
        if n is not None and (not is_int(n) or n < 1):
            raise ValueError(f"schedule_epochs must be an integer >= 1, got {n!r}")
        if n is not None and kind in SPANNING and n < self.epochs:
            raise ValueError(f"the {kind} schedule spans {n} epochs and would end before epoch {self.epochs}; "
                             f"schedule_epochs must be >= epochs")
        w = self.warmup
        if w and kind == "onecycle":
            raise ValueError("the onecycle schedule warms up by itself (its first 30% of steps); drop the warm-up "
                             "(--warmup)")

    def sizes(self, n_in: int = 784, n_out: int = 10) -> list[int]:
        hidden = HIDDEN[self.model] if self.hidden is None or self.model in ONE_LAYER else self.hidden
        return [n_in, *hidden, n_out]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if k in names}
        return cls(**kw)


def build_model(model: str, sizes: list[int], seed: int, dropout: float = 0.0) -> nn.Module:
    """Softmax regression and the SVM are one Linear layer (small normal init, as in the seeds);
    the MLPs use He init for their ReLU layers, and Dropout(dropout) after each when it is > 0.
    The cnn reads each row of sizes[0] pixels as a square image, runs a block (CNN_KERNEL
    convolution, ReLU, 2x2 max pooling) per channel count in sizes[1:-1], then a Linear layer
    (after Dropout(dropout) when it is > 0)."""
    gen = np.random.default_rng(seed)
    if model in ("softmax", "svm"):
        return nn.Sequential(nn.Linear(sizes[0], sizes[-1], init="normal", std=0.01, generator=gen))
    if model == "cnn":
        return _cnn(sizes, gen, dropout)
    return nn.MLP(sizes, init="kaiming", generator=gen, dropout=dropout)


def _cnn(sizes: list[int], gen: np.random.Generator, dropout: float) -> nn.Sequential:
    side = math.isqrt(sizes[0])
    if side * side != sizes[0]:
        raise ValueError(f"the cnn model reads each sample as a square image; {sizes[0]} pixels are not one")
    layers: list[nn.Module] = [nn.Unflatten(1, (1, side, side))]
    channels = 1
    for c in sizes[1:-1]:
        if side < 2:
            raise ValueError(_too_many_blocks(len(sizes) - 2, math.isqrt(sizes[0])))
        layers += [nn.Conv2d(channels, c, CNN_KERNEL, padding=CNN_KERNEL // 2, generator=gen), nn.ReLU(),
                   nn.MaxPool2d(2)]
        channels, side = c, side // 2
    layers.append(nn.Flatten())
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(channels * side * side, sizes[-1], generator=gen))
    return nn.Sequential(*layers)


def _too_many_blocks(blocks: int, side: int) -> str:
    return (f"the cnn model's {blocks} blocks halve a {side}-pixel image to nothing; give fewer channel "
            "counts (--hidden)")


def seed_dropout(model: nn.Module, seed: int, epoch: int, rank: int = 0) -> None:
    """Give every Dropout layer the masks of (seed, epoch, rank): a resumed run draws the ones the
    uninterrupted run drew, and each rank of a data-parallel run its own."""
    gen = np.random.default_rng([seed, epoch, 1 + rank])  # ([seed, epoch] orders the batches)
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.generator = gen


def loss_fn(cfg: TrainConfig, model: nn.Module) -> Callable[[Tensor, Tensor], Tensor]:
    """The run's loss(scores, labels): cross-entropy, or the hinge loss for the SVM, plus
    cfg.reg * sum(W**2) over the weights (not the biases) when cfg.reg > 0."""
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]

    def loss(out: Tensor, y: Tensor) -> Tensor:
        base = F.multiclass_hinge_loss(out, y) if cfg.model == "svm" else F.cross_entropy(out, y)
        return base + F.l2_penalty(weights, cfg.reg) if cfg.reg else base

    return loss


def make_schedule(cfg: TrainConfig, opt: optim.Optimizer, steps_per_epoch: int) -> Optional[optim.LRScheduler]:
    """The run's lr schedule on `opt` (None: a constant lr). fit() steps it after each epoch, or
    after each batch for onecycle; cosine and onecycle span cfg.schedule_epochs (else cfg.epochs).
    A warm-up (cfg.warmup epochs, LinearLR) goes first, in a SequentialLR with the schedule, which
    starts when it ends (cosine then anneals over the rest of its span; a warm-up as long as the run
    leaves it none, and the run ends with the lr still rising)."""
    kind, span, w = cfg.schedule(), cfg.schedule_epochs or cfg.epochs, cfg.warmup
    main: Optional[optim.LRScheduler] = None
    if kind == "step":
        main = optim.StepLR(opt, cfg.lr_step, cfg.lr_gamma)
    elif kind == "cosine":
        main = optim.CosineAnnealingLR(opt, T_max=max(1, span - w))
    elif kind == "onecycle":
        return optim.OneCycleLR(opt, max_lr=cfg.lr, total_steps=span * steps_per_epoch, cycle_momentum=False)
    if not w:
        return main
    warm = optim.LinearLR(opt, start_factor=1.0 / (w + 1), end_factor=1.0, total_iters=w)
    return warm if main is None else optim.SequentialLR(opt, [warm, main], milestones=[w])


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> optim.Optimizer:
    """SGD (with cfg.momentum), Adam, RMSprop or Adagrad over the model's parameters, as the config
    says (the momentum is SGD's: RMSprop runs without)."""
    if cfg.optimizer == "adam":
        return optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return optim.RMSprop(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adagrad":
        return optim.Adagrad(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


@dataclass
class Split:
    """One split of a dataset as flat arrays, ready for training: x (N, pixels), y (N,)."""

    x: np.ndarray  # (N, 784) float32
    y: np.ndarray  # (N,) int64
    name: str
    n_classes: int = 0  # the dataset's number of classes; 0: as many as the labels show

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"the {self.name} split has {len(self.x)} samples but {len(self.y)} labels")
        self.y = data.datasets.as_labels(self.y, f"the {self.name} split")


def _flat(ds: Any, name: str) -> Split:
    if len(ds) == 0:
        raise ValueError(f"the {name} split of the dataset is empty: nothing to train on or to evaluate")
    x, y = ds[np.arange(len(ds))]
    return Split(np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32), y, name,
                 len(getattr(ds, "classes", [])))


def load_splits(cfg: TrainConfig, progress: bool = True) -> tuple[Split, Split]:
    """(train, eval): eval is the test split, or a seeded validation split when val_fraction > 0.
    progress: show downloads (on a terminal; one line each into a log)."""
    train = data.get_dataset(cfg.dataset, train=True, root=cfg.data_root, normalize=cfg.normalize,
                             progress=progress)
    if cfg.val_fraction > 0:
        tr, val = data.train_val_split(train, cfg.val_fraction, seed=cfg.seed)
        return _flat(tr, "train"), _flat(val, "val")
    test = data.get_dataset(cfg.dataset, train=False, root=cfg.data_root, normalize=cfg.normalize,
                            progress=progress)
    return _flat(train, "train"), _flat(test, "test")


def evaluate(model: nn.Module, split: Split, loss: Optional[Callable] = None,
             batch_size: int = 2000) -> dict[str, Any]:
    """Loss, accuracy and predictions over a whole split, without recording a graph."""
    model.eval()
    preds, total = [], 0.0
    with no_grad():
        for i in range(0, len(split.y), batch_size):
            out = model(Tensor._wrap(split.x[i:i + batch_size]))
            if loss is not None:
                total += float(loss(out, Tensor._wrap(split.y[i:i + batch_size])).data) * len(out.data)
            preds.append(out.data.argmax(axis=1))
    model.train()
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    acc = float((pred == split.y).mean()) if len(pred) else float("nan")
    return {"loss": total / max(len(split.y), 1), "accuracy": acc, "pred": pred}


def confusion_matrix(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """cm[i, j] = how many samples of true class i were predicted as j."""
    return np.bincount(y * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _diverged(step: int, epoch: int, batch: int, value: Optional[float], model: nn.Module) -> TrainingDiverged:
    """The error for a run whose loss at `step` was `value` (None: the step's loss was finite, but
    its update left the weights unable to give a finite loss)."""
    bad = [name for name, p in model.named_parameters() if not np.isfinite(p.data).all()]
    bad_grads = [name for name, p in model.named_parameters()
                 if p.grad is not None and not np.isfinite(p.grad.data).all()]
    if bad or bad_grads:
        where = (f"parameters with NaN/inf: {', '.join(bad)}" if bad else
                 f"gradients with NaN/inf: {', '.join(bad_grads)}")
    else:
        name, p = max(model.named_parameters(), key=lambda np_: float(np.abs(np_[1].data).max()))
        where = (f"the parameters are finite but the loss overflowed; the largest is {name} "
                 f"(|value| up to {float(np.abs(p.data).max()):.3g})")
    what = f"the loss is {value}" if value is not None else "its update left the model unable to give a finite loss"
    return TrainingDiverged(f"training diverged at step {step} (epoch {epoch}, batch {batch}): {what}; {where}. "
                            "Lower the learning rate or the regularisation strength.")


def _evaluate_after_epoch(model: nn.Module, held: Split, loss: Callable,
                          diverged: Callable[[Optional[float]], TrainingDiverged]) -> dict[str, Any]:
    """evaluate(), except that weights the epoch's last update made non-finite (or so large that
    the held-out logits overflow) are a divergence, as they are at any other step, not bad data."""
    if not all(np.isfinite(p.data).all() for p in model.parameters()):
        raise diverged(None)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            ev = evaluate(model, held, loss)
    except GateError:
        if not np.isfinite(held.x).all():  # the data's fault
            raise
        raise diverged(None) from None
    if not math.isfinite(ev["loss"]):
        raise diverged(None)
    return ev


class Hooks:
    """Where data-parallel training (tinygrad_sm.distributed) plugs into fit(); the defaults are
    one process doing everything."""

    is_main = True  # only the main process prints and writes files
    rank = 0  # this process's number among those training together

    def ready(self, error: Optional[BaseException], config: Optional[dict[str, Any]] = None) -> None:
        """After setting up, before start(): `error` is what this process's set-up raised (it is
        raised again after this returns), or None; `config` the run's settings once set up.
        Processes that must start together agree here."""

    def start(self, model: nn.Module) -> None:
        """Before the first step (e.g. broadcast the initial parameters)."""

    def shard(self, idx: np.ndarray) -> np.ndarray:
        """This process's part of a global batch of indices."""
        return idx

    def after_backward(self, model: nn.Module, n_local: int, n_global: int) -> None:
        """Between backward() and step() (e.g. average the gradients across processes)."""

    def global_loss(self, value: float, n_local: int, n_global: int) -> float:
        """The batch's loss over every process, so all of them take the same NaN decision."""
        return value

    def epoch_totals(self, seen: int, loss_sum: float, correct: int) -> tuple[int, float, int]:
        """The epoch's training totals over every process."""
        return seen, loss_sum, correct

    def done(self) -> None:
        """fit() finished, its files written: this process will join no more collective calls.
        (A process that leaves without it stopped early, and the others cannot wait for it.)"""


@dataclass
class Run:
    """What fit() returns: the trained model, its optimizer, and one record per epoch."""

    config: TrainConfig
    model: nn.Module
    optimizer: optim.Optimizer
    history: list[dict[str, Any]]
    seconds: float
    status: str = "ok"


def _step(model: nn.Module, loss: Callable[[Tensor, Tensor], Tensor], opt: optim.Optimizer, hooks: Hooks,
          x: np.ndarray, y: np.ndarray, n_global: int,
          diverged: Callable[[float], TrainingDiverged]) -> tuple[float, int]:
    """One SGD step on a batch (this process's shard of it): forward, NaN check, backward, update.
    Returns the batch's mean loss and how many it classified right. An empty shard (a last batch
    smaller than the number of processes) still joins the gradient average, with zeros."""
    value, right = 0.0, 0
    opt.zero_grad()
    if len(y):
        out = None
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # a non-finite loss is reported below
                out = model(Tensor._wrap(x))
                lt = loss(out, Tensor._wrap(y))
        except GateError:  # e.g. cross_entropy refusing NaN/inf logits: bad data, or divergence?
            grown = (not all(np.isfinite(p.data).all() for p in model.parameters())
                     or (out is not None and not np.isfinite(out.data).all() and np.isfinite(x).all()))
            if not grown:  # finite weights on finite data, and still refused: the data is at fault
                raise
            value = float("nan")  # the weights (or the logits they make) overflowed: diverged, below
        else:
            value = float(lt.data)
            right = int((out.data.argmax(axis=1) == y).sum())
    whole = hooks.global_loss(value, len(y), n_global)  # the whole batch's loss: every process decides alike
    if not math.isfinite(whole):
        raise diverged(whole)
    if len(y):
        lt.backward()
    hooks.after_backward(model, len(y), n_global)
    opt.step()
    return value, right


def load_run(path: str, need: tuple[str, ...] = ()) -> tuple[dict[str, Any], TrainConfig]:
    """A checkpoint that save_run wrote, and its TrainConfig; CheckpointError if it is not one
    (or lacks what the caller `need`s besides the config, the layer sizes and the model)."""
    state = checkpoint.load(path)
    missing = [k for k in ("config", "sizes", "model", *need) if not isinstance(state, dict) or k not in state]
    if missing:
        raise checkpoint.CheckpointError(f"{path} is a checkpoint but not of a training run"
                                         f"{' to go on from' if need else ''} (no {', '.join(missing)})")
    try:
        cfg = TrainConfig.from_dict(state["config"])
        if cfg.model in ONE_LAYER:  # (runs from before hidden sizes were refused for these models)
            cfg.hidden = None
        cfg.check()
    except (AttributeError, TypeError, ValueError) as e:
        raise checkpoint.CheckpointError(f"{path}: the training run's config is damaged ({e})") from None
    sizes = state["sizes"]
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(is_int(n) and n >= 1 for n in sizes):
        raise checkpoint.CheckpointError(f"{path}: the run's layer sizes are damaged (got {sizes!r})")
    for part in ("model", *need):
        if part in ("model", "optimizer") and not isinstance(state[part], dict):
            raise checkpoint.CheckpointError(f"{path}: the run's {part} state is damaged (a "
                                             f"{type(state[part]).__name__}, not a dict)")
    return state, cfg


def load_state(path: str, what: str, target: Any, state: Any) -> None:
    """target.load_state_dict(state) for a run's model or optimizer, a CheckpointError naming the
    checkpoint if the state does not fit (a damaged or edited file)."""
    try:
        target.load_state_dict(state)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        text = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise checkpoint.CheckpointError(f"{path}: the run's {what} state does not fit its model ({text})") from None


def _prepare(cfg: TrainConfig, out: Optional[str], resume: Optional[str], progress: bool,
             splits: Optional[tuple[Split, Split]]) -> tuple[Any, ...]:
    """Everything fit() needs before the first step, all that can fail on one process alone:
    (config, first epoch, history so far, train and held-out splits, layer sizes, model,
    optimizer, schedule or None, loss)."""
    state = None
    if resume is not None:
        state, run_cfg = load_run(resume, ("optimizer", "epoch"))
        span = run_cfg.schedule_epochs
        if run_cfg.schedule() in SPANNING and span is not None and cfg.epochs > span:
            raise ValueError(f"{resume}: its {run_cfg.schedule()} schedule spans {span} epochs, set when the run "
                             f"started, so it cannot go on to epoch {cfg.epochs}; give --epochs {span} or less "
                             "(or start a new run)")
        run_cfg.epochs = cfg.epochs
        run_cfg.data_root = cfg.data_root or run_cfg.data_root  # (where the data is, not how to train)
        cfg = run_cfg
    if cfg.schedule() in SPANNING and cfg.schedule_epochs is None:
        cfg = dataclasses.replace(cfg, schedule_epochs=cfg.epochs)  # (fixed from here on, resumes included)
    cfg.check()
    if out is not None:
        if os.path.exists(out) and not os.path.isdir(out):
            raise NotADirectoryError(f"the output directory {out} is a file; give --out a directory")
        os.makedirs(out, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise PermissionError(f"cannot write to the output directory {out}")
    train, held = splits if splits is not None else load_splits(cfg, progress)
    n_classes = train.n_classes or int(max(train.y.max(initial=0), held.y.max(initial=0))) + 1
    sizes = cfg.sizes(train.x.shape[1], n_classes)
    model = build_model(cfg.model, sizes, cfg.seed, cfg.dropout)
    opt = make_optimizer(cfg, model)
    sched = make_schedule(cfg, opt, -(-len(train.y) // cfg.batch_size))
    start_epoch, history = 0, []
    if state is not None:
        load_state(resume, "model", model, state["model"])
        load_state(resume, "optimizer", opt, state["optimizer"])
        if sched is not None and "scheduler" in state:
            load_state(resume, "scheduler", sched, state["scheduler"])
        try:
            start_epoch = int(state["epoch"])
            history = [dict(h) for h in state.get("history", [])]
        except (TypeError, ValueError) as e:
            raise checkpoint.CheckpointError(f"{resume}: its epoch or history is damaged ({e})") from None
        if cfg.epochs < start_epoch:
            raise ValueError(f"{resume} already holds {start_epoch} epochs, more than the {cfg.epochs} asked for; "
                             f"--epochs is the new total: give more than {start_epoch} to train on")
    return cfg, start_epoch, history, train, held, sizes, model, opt, sched, loss_fn(cfg, model)


def fit(cfg: TrainConfig, out: Optional[str] = None, resume: Optional[str] = None,
        stream: Optional[TextIO] = None, progress: bool = True, splits: Optional[tuple[Split, Split]] = None,
        hooks: Optional[Hooks] = None) -> Run:
    """Train as `cfg` says, printing a progress bar and one line per epoch to `stream`.

    out: a directory for checkpoint.npz, metrics.json, metrics.csv and curves.png.
    resume: a checkpoint from an earlier run; training goes on from its last epoch exactly as if
    it had not stopped (same batch order, same optimizer state).
    Raises TrainingDiverged (after saving the metrics so far) if the loss becomes NaN/inf.
    hooks: see Hooks (data-parallel training); only hooks.is_main prints and writes.
    """
    hooks = hooks if hooks is not None else Hooks()
    stream = stream if stream is not None else sys.stdout
    if not hooks.is_main:
        stream, progress, out = io.StringIO(), False, None  # (its few lines are dropped with it)
    try:
        cfg, start_epoch, history, train, held, sizes, model, opt, sched, loss = _prepare(
            cfg, out, resume, progress, splits)
    except BaseException as e:  # (Ctrl-C too)
        hooks.ready(e)  # every process stops here: the others would wait for this one for ever
        raise
    hooks.ready(None, cfg.to_dict())
    hooks.start(model)
    print(f"{cfg.model} {'-'.join(map(str, sizes))} on {cfg.dataset} ({len(train.y)} train / {len(held.y)} "
          f"{held.name}), {cfg.optimizer} lr={cfg.lr:g}"
          + (f" momentum={cfg.momentum:g}" if cfg.optimizer == "sgd" else "")
          + (f" weight_decay={cfg.weight_decay:g}" if cfg.weight_decay else "")
          + (f" reg={cfg.reg:g}" if cfg.reg else "")
          + (f" dropout={cfg.dropout:g}" if cfg.dropout else "")
          + _schedule_words(cfg)
          + f", batch {cfg.batch_size}, "
          + (f"epochs {start_epoch + 1}..{cfg.epochs}" if start_epoch < cfg.epochs else
             f"no epoch left to train (the checkpoint holds all {cfg.epochs})")
          + f", seed {cfg.seed}", file=stream)

    t0 = time.perf_counter()
    status = "ok"
    saved: Optional[int] = None  # the last epoch of this run written to out/checkpoint.npz
    n = len(train.y)
    steps_per_epoch = -(-n // cfg.batch_size)
    per_batch = isinstance(sched, optim.OneCycleLR)  # (the others step once an epoch)
    try:
        for epoch in range(start_epoch, cfg.epochs):
            te = time.perf_counter()
            # The batch order of epoch e depends only on (seed, e): a resumed run sees the same order.
            order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
            seed_dropout(model, cfg.seed, epoch, hooks.rank)
            bar = ProgressBar(steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", enabled=progress)
            seen = correct = 0
            loss_sum = 0.0
            lr = opt.param_groups[0]["lr"]  # the rate of the epoch's first step
            for b in range(steps_per_epoch):
                batch = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                idx = hooks.shard(batch)
                step = epoch * steps_per_epoch + b + 1
                value, right = _step(model, loss, opt, hooks, train.x[idx], train.y[idx], len(batch),
                                     lambda v: _diverged(step, epoch + 1, b + 1, v, model))
                if per_batch:
                    sched.step()
                seen += len(idx)
                loss_sum += value * len(idx)
                correct += right
                bar.update(1, loss=loss_sum / seen if seen else float("nan"))  # (a shard may be empty)
            bar.close()
            seen, loss_sum, correct = hooks.epoch_totals(seen, loss_sum, correct)
            if sched is not None and not per_batch:
                sched.step()
            ev = _evaluate_after_epoch(model, held, loss,
                                       lambda v: _diverged(step, epoch + 1, steps_per_epoch, v, model))
            rec = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                   f"{held.name}_loss": ev["loss"], f"{held.name}_accuracy": ev["accuracy"],
                   "lr": lr, "seconds": time.perf_counter() - te}
            history.append(rec)
            print(f"epoch {epoch + 1:>3}/{cfg.epochs}  train loss {rec['train_loss']:.4f}  "
                  f"train acc {100 * rec['train_accuracy']:.2f}%  {held.name} loss {ev['loss']:.4f}  "
                  f"{held.name} acc {100 * ev['accuracy']:.2f}%  ({rec['seconds']:.2f} s)", file=stream)
            if out is not None:  # the metrics so far beside the checkpoint, whatever stops the run next
                save_run(out, cfg, sizes, model, opt, sched, epoch + 1, history)
                saved = epoch + 1
                write_metrics(out, cfg, history, "running", time.perf_counter() - t0, plot=False)
        seconds = time.perf_counter() - t0
        if out is not None:  # (inside the try: Ctrl-C while the curves are drawn is an interrupt too)
            if saved is None and not _holds(out, resume):  # resumed with no epoch left to train: the
                save_run(out, cfg, sizes, model, opt, sched, start_epoch, history)  # run it went on from
            write_metrics(out, cfg, history, status, seconds)
        hooks.done()
    except TrainingDiverged as e:
        e.history = list(history)  # the finished epochs, for whoever catches it (sweeps record them)
        status = "diverged"
        if out is not None:
            if saved is None:
                _drop_other_checkpoint(out, resume)
            write_metrics(out, cfg, history, status, time.perf_counter() - t0)
        raise
    except KeyboardInterrupt as e:  # Ctrl-C: the metrics agree with what the checkpoint holds
        e.saved_epoch = saved  # type: ignore[attr-defined]  # (None: no epoch of this run was saved)
        if out is not None:
            if saved is None:
                _drop_other_checkpoint(out, resume)
            kept = [h for h in history if h["epoch"] <= (saved or start_epoch)]
            write_metrics(out, cfg, kept, "interrupted", time.perf_counter() - t0)
        raise
    return Run(cfg, model, opt, history, seconds, status)


def _schedule_words(cfg: TrainConfig) -> str:
    kind, words, w = cfg.schedule(), [], cfg.warmup
    span = cfg.schedule_epochs or cfg.epochs
    if w:
        words.append(f"{w} warm-up epoch{'s' if w > 1 else ''}")
        if w >= span if kind in SPANNING else w >= cfg.epochs:
            return f" ({words[0]}: the whole run, the lr never reaches {cfg.lr:g})"
    if kind == "step":
        words.append(f"x{cfg.lr_gamma:g} every {cfg.lr_step} epochs")
    elif kind in SPANNING:
        words.append(f"{kind} over the remaining {span - w} epochs" if w else f"{kind} over {span} epochs")
    return f" ({', then '.join(words)})" if words else ""


def _holds(out: str, resume: Optional[str]) -> bool:
    """out/checkpoint.npz is the checkpoint this run went on from."""
    try:
        return resume is not None and os.path.samefile(os.path.join(out, "checkpoint.npz"), resume)
    except OSError:
        return False


def _drop_other_checkpoint(out: str, resume: Optional[str]) -> None:
    """Remove out/checkpoint.npz unless it is the one this run went on from. Called when a run
    stops before saving a checkpoint of its own and is about to write its metrics: a checkpoint
    left there by an earlier run in the same directory would sit beside metrics that describe
    another run, and `--resume` or `eval` would pick it up as this run's."""
    if not _holds(out, resume):
        with contextlib.suppress(OSError):  # (none there; or not removable, and the error being
            os.remove(os.path.join(out, "checkpoint.npz"))  # reported matters more)


def save_run(out: str, cfg: TrainConfig, sizes: list[int], model: nn.Module, opt: optim.Optimizer, sched: Optional[optim.LRScheduler],
             epoch: int, history: list[dict[str, Any]]) -> str:
    """Write out/checkpoint.npz: config, layer sizes, epoch, model, optimizer (and schedule) state,
    history — everything `--resume` and `tinygrad-sm eval` need. Returns its path."""
    path = os.path.join(out, "checkpoint.npz")
    state: dict[str, Any] = {"config": cfg.to_dict(), "sizes": sizes, "epoch": epoch, "model": model.state_dict(),
                             "optimizer": opt.state_dict(), "history": history}
    if sched is not None:
        state["scheduler"] = sched.state_dict()
    checkpoint.save(state, path)
    return path


def write_metrics(out: str, cfg: TrainConfig, history: list[dict[str, Any]], status: str,
                  seconds: Optional[float] = None, plot: bool = True) -> list[str]:
    """metrics.json (config, status, curves), metrics.csv (one row per epoch) and curves.png
    (only with plot=True; an older curves.png is removed either way)."""
    written = []
    doc = {"config": cfg.to_dict(), "status": status, "seconds": seconds, "history": history}
    _files.write_text(os.path.join(out, "metrics.json"), json.dumps(doc, indent=2))
    written.append("metrics.json")
    if history:
        cols = list(history[0])
        lines = [",".join(cols)] + [",".join(f"{h[c]:.6g}" if isinstance(h[c], float) else str(h[c])
                                             for c in cols) for h in history]
        _files.write_text(os.path.join(out, "metrics.csv"), "\n".join(lines) + "\n")
        written.append("metrics.csv")
        if plot and plot_curves(history, os.path.join(out, "curves.png")):
            written.append("curves.png")
    for name in ("metrics.csv", "curves.png"):  # an earlier run's, in the same directory: not this run's
        if name not in written:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(out, name))
    return written


def plot_curves(history: list[dict[str, Any]], path: str) -> bool:
    """Loss and accuracy per epoch, side by side; False (and nothing written) without matplotlib."""
    try:
        from matplotlib.figure import Figure  # (not pyplot: the caller's backend stays as it was)
    except ImportError:
        return False
    held = "val" if "val_accuracy" in history[0] else "test"
    ep = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.5))
    a, b = fig.subplots(1, 2)
    a.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    a.plot(ep, [h[f"{held}_loss"] for h in history], "s-", label=held)
    a.set(xlabel="epoch", ylabel="loss", title="loss")
    b.plot(ep, [100 * h["train_accuracy"] for h in history], "o-", label="train")
    b.plot(ep, [100 * h[f"{held}_accuracy"] for h in history], "s-", label=held)
    b.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    return True
