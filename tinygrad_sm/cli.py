"""The `tinygrad-sm` command (also `python -m tinygrad_sm`).

    tinygrad-sm train [--model mlp] [--dataset mnist-sample] [--epochs 10] ... [--out runs/mlp]
    tinygrad-sm eval --checkpoint runs/mlp/checkpoint.npz [--dataset fashion-mnist]
    tinygrad-sm explain "(x + y) * z" --vars x=-2,y=5,z=-4
    tinygrad-sm sweep --model mlp --lr 1e-3:1e-1 --reg 1e-5:1e-2 --trials 20 [--dask local:2]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any, Iterator, Optional, Sequence

from . import train as T

EPILOG = "Datasets: mnist-sample (5,000 real MNIST digits shipped in the package, works offline), " \
         "mnist, fashion-mnist (looked for on disk, else downloaded)."


def _train_parser(sub: argparse._SubParsersAction) -> None:
    d = T.TrainConfig()
    p = sub.add_parser("train", help="train a model and write its checkpoint, metrics and curves",
                       description="Train softmax regression, an MLP, a linear SVM or a small CNN.", epilog=EPILOG)
    p.add_argument("--model", choices=T.MODELS, default=d.model,
                   help="softmax: 784-10; mlp: 784-256-10; deep-mlp: 784-512-256-128-64-10; svm: linear, "
                        "hinge loss; cnn: two blocks of 5x5 convolution, ReLU and 2x2 max pooling (16 and "
                        "32 channels), then a linear layer (default: %(default)s)")
    p.add_argument("--dataset", default=d.dataset, help="mnist-sample | mnist | fashion-mnist (default: %(default)s)")
    p.add_argument("--data-root", default=None, help="directory holding the dataset files")
    p.add_argument("--normalize", action="store_true", help="standardise pixels with the dataset's standard mean and std (docs/data.md)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"the total number of epochs (default: {d.epochs}; with --resume, the run's own)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate (default: %(default)s)")
    p.add_argument("--momentum", type=float, default=d.momentum, help="SGD's momentum (the other optimizers run without; default: %(default)s)")
    p.add_argument("--optimizer", choices=T.OPTIMIZERS, default=d.optimizer, help="default: %(default)s")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay,
                   help="optimizer weight decay (default: %(default)s)")
    p.add_argument("--reg", type=float, default=None,
                   help="L2 penalty reg * sum(W**2) added to the loss (default: 1e-4 for svm, else 0)")
    p.add_argument("--hidden", default=None,
                   help="hidden sizes for mlp/deep-mlp, e.g. 512,128; for cnn, each block's channels, e.g. 8,16")
    p.add_argument("--dropout", type=float, default=d.dropout,
                   help="mlp/deep-mlp: drop each hidden unit with this probability while training; cnn: "
                        "each input of the last linear layer (default: %(default)s)")
    p.add_argument("--lr-schedule", choices=T.SCHEDULES, default=None,
                   help="constant; step (--lr-step N: lr times --lr-gamma every N epochs); cosine (down to 0 over "
                        "the run); onecycle (up to --lr over 30%% of the steps, then down) (default: step with "
                        "--lr-step, else constant)")
    p.add_argument("--lr-step", type=int, default=0, help="multiply lr by --lr-gamma every N epochs (0: never)")
    p.add_argument("--warmup", type=int, default=d.warmup, metavar="N",
                   help="N epochs of linear warm-up first, from lr/(N+1) up to --lr; then the schedule starts "
                        "(not with onecycle, which warms up by itself; default: %(default)s)")
    p.add_argument("--lr-gamma", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=d.seed, help="default: %(default)s")
    p.add_argument("--out", default=None,
                   help="output directory (default: runs/MODEL-DATASET, or the checkpoint's with --resume)")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT",
                   help="go on from a checkpoint of an earlier run, with that run's settings: only --epochs "
                        "(the new total), --out, --data-root and --no-progress apply")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI: run as `mpiexec -n K tinygrad-sm train --distributed ...`")
    p.set_defaults(parser=p)


def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy and confusion matrix of a checkpoint", epilog=EPILOG)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", default=None, help="default: the dataset the model was trained on")
    p.add_argument("--data-root", default=None)
    p.add_argument("--split", choices=("test", "train"), default="test")


def _absolute(path: Optional[str]) -> Optional[str]:
    """A data root as an absolute path (~ expanded): the checkpoint keeps it, and eval or --resume
    may run from another working directory."""
    return None if path is None else os.path.abspath(os.path.expanduser(path))


def _parse_hidden(text: Optional[str]) -> Optional[list[int]]:
    if text is None:
        return None
    try:
        return [int(h) for h in text.split(",") if h.strip()]
    except ValueError:
        raise ValueError(f"--hidden takes sizes like 512,128, got {text!r}") from None


# what --resume takes from the command line (the rest comes from the checkpoint)
_RESUME_OPTIONS = {"help", "resume", "epochs", "out", "data_root", "no_progress", "distributed", "parser"}


class Terminated(KeyboardInterrupt):
    """SIGTERM (a job scheduler's time limit, `kill`): stops a run the way Ctrl-C does, so that its
    metrics are written to agree with its last checkpoint."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # (signals go to the main thread)
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise Terminated()

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def cmd_train(a: argparse.Namespace) -> int:
    hooks = None
    if a.distributed:
        from . import distributed
        hooks = distributed.mpi_hooks()
    try:
        return _train(a, hooks)
    except Exception as e:
        if hooks is not None and not hooks.checked_in:  # failed before fit's check-in (a bad option,
            hooks.ready(e)  # a missing checkpoint): meet the other ranks there, so they stop too
        if not isinstance(e, (ValueError, OSError, KeyError, T.RankFailed)):
            raise
        if hooks is not None:
            hooks.exit_code = 2  # (main() says why and returns 2)
        # Bad options (the same on every rank) or a rank that could not start (every rank stops
        # at the check-in): the main rank says why, once. An error in training is the rank's own.
        if hooks is not None and not hooks.is_main and not hooks.started:
            return 2
        raise


def _train(a: argparse.Namespace, hooks: Any) -> int:
    main = hooks is None or hooks.is_main
    epochs = a.epochs if a.epochs is not None else T.TrainConfig.epochs
    if a.resume and a.epochs is None:  # the run's own total (fit() takes cfg.epochs as the new one)
        epochs = T.load_run(a.resume)[1].epochs
    cfg = T.TrainConfig(model=a.model, dataset=a.dataset, epochs=epochs, batch_size=a.batch_size, lr=a.lr,
                        momentum=a.momentum, optimizer=a.optimizer, weight_decay=a.weight_decay,
                        reg=a.reg if a.reg is not None else (1e-4 if a.model == "svm" else 0.0),
                        hidden=_parse_hidden(a.hidden), lr_step=a.lr_step, lr_gamma=a.lr_gamma,
                        lr_schedule=a.lr_schedule, warmup=a.warmup, seed=a.seed,
                        data_root=_absolute(a.data_root), normalize=a.normalize, dropout=a.dropout)
    if a.resume:  # the run goes on with its own settings, into its own directory unless told
        given = _given(a.parser, a.argv) if hasattr(a, "argv") else set()
        ignored = [act.option_strings[0] for act in a.parser._actions
                   if act.dest not in _RESUME_OPTIONS
                   and (act.dest in given or getattr(a, act.dest, None) != act.default)]
        if ignored and main:
            print(f"note: --resume goes on with the checkpoint's settings; ignoring {', '.join(ignored)}",
                  file=sys.stderr)
    out = a.out or (os.path.dirname(a.resume) or "." if a.resume else os.path.join("runs", f"{cfg.model}-{cfg.dataset}"))
    t0 = time.perf_counter()
    try:  # (not across MPI ranks: a rank waiting inside an MPI call would never see the exception,
        # and SIGTERM's default, to end the process, is what ends a job there)
        with _sigterm_as_interrupt() if hooks is None else contextlib.nullcontext():
            run = T.fit(cfg, out=out, resume=a.resume, progress=not a.no_progress, hooks=hooks)
    except T.TrainingDiverged as e:
        if hooks is not None and not hooks.is_main:  # every rank stops; the main one says why
            return 3
        print(f"error: {e}\nmetrics up to the last finished epoch are in {out}/metrics.json", file=sys.stderr)
        return 3
    except KeyboardInterrupt as e:
        if hooks is not None:  # (how this rank ends the job: see distributed.MPIHooks)
            hooks.exit_code = 143 if isinstance(e, Terminated) else 130
            if not hooks.is_main:
                hooks.abort_grace = 2.0
        if hooks is None or hooks.is_main:
            saved = getattr(e, "saved_epoch", None)
            if not hasattr(e, "saved_epoch"):  # (while setting up: nothing was written)
                what = "before training started: nothing was written"
            elif saved:
                what = (f"after epoch {saved}: {out}/ holds its checkpoint and metrics; go on with "
                        f"`tinygrad-sm train --resume {os.path.join(out, 'checkpoint.npz')} --epochs N`")
            else:
                what = f"before an epoch of this run ended: no checkpoint was written ({out}/metrics.json says so)"
            print(f"\n{'terminated' if isinstance(e, Terminated) else 'interrupted'} {what}", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    if hooks is not None and not hooks.is_main:
        return 0
    last = run.history[-1] if run.history else {}
    held = "val" if "val_accuracy" in last else "test"
    files = ["checkpoint.npz", "metrics.json", "metrics.csv"]
    plot = os.path.exists(os.path.join(out, "curves.png"))
    print(f"done in {time.perf_counter() - t0:.1f} s (training {run.seconds:.1f} s): "
          f"{held} accuracy {100 * last.get(f'{held}_accuracy', float('nan')):.2f}%")
    print(f"wrote {', '.join(files + (['curves.png'] if plot else []))} to {out}/")
    if not plot:
        print("curves.png skipped: matplotlib is not installed (pip install \"tinygrad-sm[plot]\")")
    return 0


def _given(parser: argparse.ArgumentParser, args: Sequence[str]) -> set[str]:
    """The options the command line gives, at their default value too (`--lr 0.1` when 0.1 is
    the default). argparse fills in a default only where the namespace has no value yet: a
    marker in every place shows which ones the command line filled."""
    marker = object()
    ns = argparse.Namespace(**{act.dest: marker for act in parser._actions if act.dest != argparse.SUPPRESS})
    parser.parse_known_args(list(args), namespace=ns)
    return {dest for dest, value in vars(ns).items() if value is not marker}


def _asks_distributed(args: Sequence[str]) -> bool:
    """Whether a train command line asks for --distributed, as argparse reads it (which takes
    an abbreviation such as --dist), though the rest of it was refused."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--distributed", action="store_true")
    try:
        return p.parse_known_args(list(args))[0].distributed
    except SystemExit:  # (an ambiguous abbreviation)
        return False


def _check_in_refused() -> None:
    """A rank whose command line argparse refused joins the ranks' check-in with that error, so
    that every rank stops (rank 0 says which rank could not start); then argparse's exit goes on."""
    try:
        from . import distributed
        distributed.MPIHooks().ready(ValueError("its command line was refused (see that rank's usage message)"))
    except Exception:  # (no MPI, or not under mpiexec: nothing to tell)
        pass


def cmd_eval(a: argparse.Namespace) -> int:
    state, cfg = T.load_run(a.checkpoint)
    cfg.dataset = a.dataset or cfg.dataset
    cfg.data_root = _absolute(a.data_root) or cfg.data_root
    cfg.val_fraction = 0.0
    from . import data
    ds = data.get_dataset(cfg.dataset, train=a.split == "train", root=cfg.data_root, normalize=cfg.normalize)
    split = T._flat(ds, a.split)
    w = state["model"]
    sizes = [int(s) for s in state["sizes"]]
    if split.x.shape[1] != sizes[0]:
        raise ValueError(f"the model takes {sizes[0]} inputs but {cfg.dataset} images have {split.x.shape[1]} pixels")
    model = T.build_model(cfg.model, sizes, cfg.seed, cfg.dropout)
    T.load_state(a.checkpoint, "model", model, w)
    ev = T.evaluate(model, split)
    n_classes = sizes[-1]
    if split.n_classes > n_classes or split.y.max() >= n_classes:
        raise ValueError(f"the model tells {n_classes} classes apart but {cfg.dataset} has "
                         f"{max(split.n_classes, int(split.y.max()) + 1)}")
    cm = T.confusion_matrix(split.y, ev["pred"], n_classes)
    names = list(getattr(ds, "classes", []))[:n_classes]
    names += [str(i) for i in range(len(names), n_classes)]  # (a model with more classes than names)
    print(f"{cfg.model} {'-'.join(map(str, sizes))} from {a.checkpoint} on {cfg.dataset} {a.split} "
          f"({len(split.y)} samples): accuracy {100 * ev['accuracy']:.2f}%")
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(5, len(str(cm.max())) + 1)
    print(" " * 14 + "".join(f"{j:>{width}}" for j in range(n_classes)) + "   recall")
    for i in range(n_classes):
        recall = cm[i, i] / cm[i].sum() if cm[i].sum() else float("nan")
        name = names[i] if names[i] != str(i) else ""  # (digits are named by their index already)
        print(f"{i:>2} {name[:11]:<11}" + "".join(f"{v:>{width}}" for v in cm[i]) + f"   {100 * recall:5.1f}%")
    return 0


def cmd_explain(argv: Sequence[str]) -> int:
    from . import explain
    return explain.main(list(argv))


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["explain"]:  # explain and sweep have their own argument parsers
        return cmd_explain(argv[1:])
    if argv[:1] == ["sweep"]:
        from . import sweep
        return sweep.main(argv[1:])
    parser = argparse.ArgumentParser(prog="tinygrad-sm", description="tinygrad_sm: train, evaluate, explain.")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _eval_parser(sub)
    sub.add_parser("explain", help="narrate the backward pass of a scalar expression (see explain --help)")
    sub.add_parser("sweep", help="hyperparameter search, locally or on Dask (see sweep --help)")
    try:
        a = parser.parse_args(argv)
    except SystemExit as e:
        if e.code and argv[:1] == ["train"] and _asks_distributed(argv[1:]):  # (the other ranks
            _check_in_refused()  # would wait for this one at the check-in for ever)
        raise
    a.argv = argv[1:]  # (the command's own arguments: --resume names the options it ignores)
    try:
        return cmd_train(a) if a.command == "train" else cmd_eval(a)
    except (ValueError, OSError, KeyError, T.RankFailed) as e:  # bad options, missing or corrupt data: say it
        text = e.args[0] if isinstance(e, KeyError) and e.args else e  # (str() of a KeyError adds quotes)
        print(f"tinygrad-sm {a.command}: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
