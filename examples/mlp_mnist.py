"""An MLP on MNIST digits with tinygrad_sm's nn and optim: the PyTorch habits, line for line.

    python examples/mlp_mnist.py [--quick] [--dataset mnist-sample|mnist|fashion-mnist] [--epochs N]

The model is 784-256-10 (Linear, ReLU, Linear); the loss is the fused softmax-cross-entropy;
the optimizer is SGD with momentum. The default data is the 4,000 + 1,000 real MNIST digits that
ship inside tinygrad_sm, so it runs offline. The notes this project grew from report about 97.7%
for this MLP on the full MNIST; on the small sample expect about 94-95%.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import tinygrad_sm as ts
import tinygrad_sm.nn.functional as F
from tinygrad_sm import nn, optim
from tinygrad_sm.data import DataLoader, get_dataset


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    correct = total = 0
    with ts.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(axis=1) == y).numpy().sum())
            total += len(y)
    return correct / total


def main(dataset: str = "mnist-sample", epochs: int = 5, batch_size: int = 64, lr: float = 0.05) -> float:
    train = DataLoader(get_dataset(dataset, train=True), batch_size, shuffle=True, seed=0, flatten=True)
    test = DataLoader(get_dataset(dataset, train=False), 1000, flatten=True)

    ts.manual_seed(0)
    model = nn.MLP([784, 256, 10])
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    print(model)

    for epoch in range(epochs):
        t0, total = time.perf_counter(), 0.0
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
        print(f"epoch {epoch + 1}: train loss {total / len(train.dataset):.4f}, "
              f"test accuracy {100 * accuracy(model, test):.2f}% ({time.perf_counter() - t0:.2f} s)")
    acc = accuracy(model, test)
    first = model[0].weight.numpy()
    print(f"final test accuracy {100 * acc:.2f}%; first-layer weights {first.shape}, "
          f"mean |w| {np.abs(first).mean():.4f}")
    return acc


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one epoch (also TINYGRAD_SM_QUICK=1)")
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()
    quick = a.quick or os.environ.get("TINYGRAD_SM_QUICK") == "1"
    main(a.dataset, epochs=1 if quick else a.epochs)
