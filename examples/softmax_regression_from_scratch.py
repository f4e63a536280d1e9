"""Softmax regression on MNIST digits: written from primitive ops, then with the fused gate.

    python examples/softmax_regression_from_scratch.py [--quick]

The model is one linear layer, scores z = X W + b with W of shape (784, 10), and the loss is
the mean cross-entropy of softmax(z) against the labels. Written from scratch it is a chain
of small gates: matmul, add, shift by the row max, exp, sum, log, subtract, pick the target
column (indexing), mean, negate; backprop walks back through every one of them, and the
softmax Jacobian is never formed. The fused CrossEntropy gate does the same in one step,
with the gradient (softmax(z) - onehot(y)) / N written down directly.

This script checks that the two give the same gradients (float64, to rounding error), times
one training step of each (float32), then trains both from the same start with plain SGD on
the 4,000-digit sample that ships with tinygrad_sm and reports test accuracy. The notes this
project grew from quote about 92% for softmax regression on the full 60,000-digit MNIST.
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import numpy as np

import tinygrad_sm as ts
from tinygrad_sm import Tensor
from tinygrad_sm.data import get_dataset
from tinygrad_sm.tensor import topological_order

Loss = Callable[[Tensor, np.ndarray], Tensor]  # (scores (N, 10), labels (N,)) -> mean loss


def cross_entropy_from_primitives(z: Tensor, y: np.ndarray) -> Tensor:
    # Subtracting each row's max changes no probability but keeps exp from overflowing. The max
    # is taken as a constant (detach): its gradient would be sum(p - y) = 0 anyway.
    z = z - z.max(axis=1, keepdims=True).detach()
    log_p = z - z.exp().sum(axis=1, keepdims=True).log()  # log softmax
    return -log_p[np.arange(len(y)), y].mean()  # pick each row's target, average, negate


def cross_entropy_fused(z: Tensor, y: np.ndarray) -> Tensor:
    return ts.cross_entropy(z, y)  # one gate: dL/dz = (softmax(z) - onehot(y)) / N


LOSSES: dict[str, Loss] = {"primitive ops": cross_entropy_from_primitives, "fused cross_entropy": cross_entropy_fused}


def model(X: Tensor, W: Tensor, b: Tensor) -> Tensor:
    return X @ W + b  # (N, 10) class scores


def load(quick: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train, test = get_dataset("mnist-sample", train=True), get_dataset("mnist-sample", train=False)
    Xtr, ytr = train.images.reshape(len(train), -1), train.labels
    Xte, yte = test.images.reshape(len(test), -1), test.labels
    if quick:  # a random quarter, so every class is there
        keep = np.random.default_rng(0).permutation(len(ytr))[:1000]
        Xtr, ytr = Xtr[keep], ytr[keep]
    return Xtr, ytr, Xte, yte


def init(dtype: str, seed: int = 0) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(seed)
    W = Tensor(0.01 * rng.standard_normal((784, 10)), dtype=dtype, requires_grad=True, name="W")
    b = Tensor(np.zeros(10), dtype=dtype, requires_grad=True, name="b")
    return W, b


def gradients(loss: Loss, X: np.ndarray, y: np.ndarray, dtype: str = "float64") -> tuple[float, np.ndarray, np.ndarray]:
    W, b = init(dtype)
    L = loss(model(Tensor(X, dtype=dtype), W, b), y)
    L.backward()
    return L.item(), W.grad.numpy(), b.grad.numpy()


def compare_gradients(X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    (la, dWa, dba), (lb, dWb, dbb) = (gradients(f, X, y) for f in LOSSES.values())
    return {"loss": abs(la - lb), "dW": float(np.max(np.abs(dWa - dWb))), "db": float(np.max(np.abs(dba - dbb))),
            "dW scale": float(np.max(np.abs(dWb)))}


def median_time(fn: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats + 3):  # the first few warm caches (and compile kernels, with numba)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[3:]))


def loss_time(loss: Loss, X: np.ndarray, y: np.ndarray, repeats: int) -> float:
    """Median seconds for the loss and its backward alone, from fixed float32 scores."""
    W, b = init("float32", seed=1)
    z = Tensor(model(Tensor(X), W, b).numpy(), requires_grad=True)
    return median_time(lambda: loss(z, y).backward(), repeats)


def step_time(loss: Loss, X: np.ndarray, y: np.ndarray, repeats: int) -> float:
    """Median seconds for a whole SGD step (forward, backward, update) on one float32 batch."""
    W, b = init("float32")
    x = Tensor(X)

    def step() -> None:
        W.zero_grad(), b.zero_grad()
        loss(model(x, W, b), y).backward()
        W.data -= 0.1 * W.grad.data
        b.data -= 0.1 * b.grad.data

    return median_time(step, repeats)


def gates_after_scores(loss: Loss) -> int:
    z = Tensor(np.zeros((2, 10)), requires_grad=True)
    return len(topological_order(loss(z, np.array([0, 1])).grad_fn))


def accuracy(X: np.ndarray, y: np.ndarray, W: Tensor, b: Tensor) -> float:
    with ts.no_grad():
        return float((model(Tensor(X), W, b).argmax(axis=1).numpy() == y).mean())


def train(loss: Loss, data, epochs: int, lr: float = 0.5, batch: int = 64) -> tuple[list[float], float]:
    """Plain minibatch SGD from the shared start; returns test accuracy per epoch and the time."""
    Xtr, ytr, Xte, yte = data
    W, b = init("float32")
    accs, t0 = [], time.perf_counter()
    for epoch in range(epochs):
        order = np.random.default_rng(epoch).permutation(len(ytr))  # same batches for both losses
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            W.zero_grad(), b.zero_grad()
            loss(model(Tensor(Xtr[idx]), W, b), ytr[idx]).backward()
            W.data -= lr * W.grad.data
            b.data -= lr * b.grad.data
        accs.append(accuracy(Xte, yte, W, b))
    return accs, time.perf_counter() - t0


def main(quick: bool = False) -> dict[str, object]:
    data = load(quick)
    Xtr, ytr = data[0], data[1]
    print(f"{len(ytr)} training digits, {len(data[3])} test digits, 784 pixels in [0, 1]\n")

    diff = compare_gradients(Xtr[:256], ytr[:256])
    print("Same gradients? (float64, 256 digits, the same W and b)")
    print(f"  |loss difference| {diff['loss']:.1e}, max |dW difference| {diff['dW']:.1e} "
          f"(largest |dW| {diff['dW scale']:.1e}), max |db difference| {diff['db']:.1e}\n")

    repeats = 20 if quick else 200
    X, y = Xtr[:128], ytr[:128]
    print(f"Time on 128 digits (float32, median of {repeats} runs):")
    print(f"  {'':<20} {'loss + backward':>16} {'whole SGD step':>15} {'gates in the loss':>18}")
    times = {}
    for name, f in LOSSES.items():
        times[name] = (loss_time(f, X, y, repeats), step_time(f, X, y, repeats))
        print(f"  {name:<20} {times[name][0] * 1e3:13.3f} ms {times[name][1] * 1e3:12.3f} ms "
              f"{gates_after_scores(f):>18}")
    (lp, sp), (lf, sf) = times.values()
    print(f"  the fused loss is {lp / lf:.1f}x as fast as the primitive one; the whole step {sp / sf:.2f}x "
          "(the matmul\n  and its backward are the same in both; on a busy machine BLAS threads can "
          "dominate the step)\n")

    epochs = 1 if quick else 5
    print(f"Training both with SGD (lr 0.5, batch 64, {epochs} epoch(s)), test accuracy per epoch:")
    accs = {}
    for name, f in LOSSES.items():
        accs[name], seconds = train(f, data, epochs)
        print(f"  {name:<20} " + "  ".join(f"{a:.1%}" for a in accs[name]) + f"   ({seconds:.1f} s)")
    return {"diff": diff, "times": times, "accuracy": accs}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 digits, one epoch (also: TINYGRAD_SM_QUICK=1)")
    args = ap.parse_args()
    main(quick=args.quick or os.environ.get("TINYGRAD_SM_QUICK") == "1")
