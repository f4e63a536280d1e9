"""A linear multiclass SVM against softmax regression on the same digits (CS231n's comparison).

    python examples/svm_vs_softmax.py [--quick]

Both are the same linear score function s = W x + b; only the loss differs:
- SVM (hinge): L_i = sum over wrong classes j of max(0, s_j - s_y + 1). Once the true class wins
  by the margin, the example contributes nothing: the max gate routes no gradient.
- Softmax: L_i = -log softmax(s)_y. It is never satisfied: every example keeps pushing, with the
  gradient p - y.
Both add the L2 penalty reg * sum(W**2). The script trains both from the same start, prints their
test accuracies, and shows the difference above on one example: how many training digits still
send any gradient at the end.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import tinygrad_sm as ts
import tinygrad_sm.nn.functional as F
from tinygrad_sm import nn, optim
from tinygrad_sm.data import DataLoader, get_dataset


def train(loss_name: str, epochs: int, reg: float = 1e-4, lr: float = 0.05) -> tuple[nn.Module, float]:
    data = get_dataset("mnist-sample", train=True)
    test = get_dataset("mnist-sample", train=False)
    model = nn.Linear(784, 10, init="normal", std=0.01, generator=0)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = F.multiclass_hinge_loss if loss_name == "svm" else F.cross_entropy
    for _ in range(epochs):
        for x, y in DataLoader(data, 64, shuffle=True, seed=0, flatten=True):
            loss = loss_fn(model(x), y) + F.l2_penalty([model.weight], reg)
            opt.zero_grad()
            loss.backward()
            opt.step()
    x, y = test[np.arange(len(test))]
    with ts.no_grad():
        acc = float((model(ts.Tensor(x.reshape(len(x), -1))).numpy().argmax(1) == y).mean())
    return model, acc


def still_learning(model: nn.Module, loss_name: str) -> float:
    """Fraction of training digits whose loss gradient is not zero."""
    data = get_dataset("mnist-sample", train=True)
    x, y = data[np.arange(len(data))]
    s = ts.Tensor(x.reshape(len(x), -1), requires_grad=True)
    scores = model(s)
    loss = (F.multiclass_hinge_loss if loss_name == "svm" else F.cross_entropy)(scores, y, reduction="none")
    loss.sum().backward()
    return float((np.abs(s.grad.numpy()).sum(axis=1) > 0).mean())


def main(epochs: int = 5) -> dict[str, float]:
    results = {}
    for name in ("svm", "softmax"):
        model, acc = train(name, epochs)
        active = still_learning(model, name)
        results[name] = acc
        print(f"{name:>8}: test accuracy {100 * acc:.2f}%; training digits still sending a gradient: "
              f"{100 * active:.1f}%")
    return results


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one epoch (also TINYGRAD_SM_QUICK=1)")
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()
    main(1 if a.quick or os.environ.get("TINYGRAD_SM_QUICK") == "1" else a.epochs)
