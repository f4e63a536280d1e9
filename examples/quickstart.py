"""Quickstart: the CS231n circuit by hand, then a two-layer net trained on a spiral.

    python examples/quickstart.py

The spiral (three interleaved arms, the classic CS231n toy set) is generated here, so this runs
anywhere in about a second. For real MNIST-format data, see `tinygrad-sm train` (README.md) and
examples/mlp_mnist.py.
"""
import time

import numpy as np

import tinygrad_sm as ts
from tinygrad_sm import Tensor


def circuit() -> None:
    x = Tensor(-2.0, requires_grad=True, name="x")
    y = Tensor(5.0, requires_grad=True, name="y")
    z = Tensor(-4.0, requires_grad=True, name="z")
    f = (x + y) * z  # add distributes, mul swaps
    f.backward()
    print(f"f = (x + y) * z = {f.item():g}")
    print(f"df/dx = {x.grad.item():g}, df/dy = {y.grad.item():g}, df/dz = {z.grad.item():g}")


def spiral(n_per_class: int = 100, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k in range(classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        theta = np.linspace(k * 4.0, (k + 1) * 4.0, n_per_class) + rng.normal(0, 0.2, n_per_class)
        xs.append(np.c_[r * np.sin(theta), r * np.cos(theta)])
        ys.append(np.full(n_per_class, k))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def train(steps: int = 2000, lr: float = 1.0, reg: float = 1e-3) -> float:
    X, y = spiral()
    ts.manual_seed(0)
    W1 = (0.5 * ts.randn(2, 100)).requires_grad_()
    b1 = ts.zeros(100, requires_grad=True)
    W2 = (0.1 * ts.randn(100, 3)).requires_grad_()
    b2 = ts.zeros(3, requires_grad=True)
    params = [W1, b1, W2, b2]
    x = Tensor(X)
    t0 = time.perf_counter()
    for step in range(steps):
        logits = (x @ W1 + b1).relu() @ W2 + b2
        loss = ts.cross_entropy(logits, y) + reg * ((W1 * W1).sum() + (W2 * W2).sum())
        for p in params:
            p.zero_grad()
        loss.backward()
        for p in params:  # plain SGD
            p.data -= lr * p.grad.data
        if step % 500 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}")
    with ts.no_grad():
        pred = ((x @ W1 + b1).relu() @ W2 + b2).argmax(axis=1).numpy()
    acc = float((pred == y).mean())
    print(f"training accuracy {acc:.1%} in {time.perf_counter() - t0:.1f} s")
    return acc


if __name__ == "__main__":
    circuit()
    train()
