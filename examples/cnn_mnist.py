"""A small CNN on MNIST digits, written as a PyTorch user would: Conv2d, BatchNorm2d, MaxPool2d,
Dropout, a cosine learning-rate schedule, and hooks that watch the network while it trains.

    python examples/cnn_mnist.py [--quick] [--dataset mnist-sample|mnist|fashion-mnist] [--epochs N]

The hooks are the point for a student: a forward hook on each ReLU records how many of its units
were active (a dead layer shows up as 0%), a gradient hook on the first convolution's weight
records the gradient's norm at every step (exploding or vanishing gradients show up there first),
and a backward hook on each convolution and linear layer records the norm of the gradient that
reaches its output (grad_output), so you can watch it change from layer to layer.
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


def make_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),   # 28 -> 14
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),  # 14 -> 7
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(16 * 7 * 7, 10))


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()  # (BatchNorm uses its running statistics, Dropout keeps everything)
    correct = total = 0
    with ts.no_grad():
        for x, y in loader:
            correct += int((model(x.reshape(-1, 1, 28, 28)).argmax(axis=1) == y).numpy().sum())
            total += len(y)
    model.train()
    return correct / total


def main(dataset: str = "mnist-sample", epochs: int = 3, batch_size: int = 64, lr: float = 0.05) -> dict:
    train = DataLoader(get_dataset(dataset, train=True), batch_size, shuffle=True, seed=0)
    test = DataLoader(get_dataset(dataset, train=False), 1000)

    ts.manual_seed(0)
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    print(model)

    active: dict[str, list[float]] = {}  # ReLU name -> fraction of units > 0, per training step
    grad_norms: list[float] = []  # the first convolution's weight gradient, per step

    def record(m: nn.Module, args: tuple, out: ts.Tensor, name: str) -> None:
        if m.training:  # (the hooks fire in accuracy()'s eval passes too: those are not steps)
            active.setdefault(name, []).append(float((out.numpy() > 0).mean()))

    for name, layer in model.named_modules():
        if isinstance(layer, nn.ReLU):
            layer.register_forward_hook(lambda m, args, out, name=name: record(m, args, out, name))
    model[0].weight.register_hook(lambda g: grad_norms.append(float(np.linalg.norm(g.numpy()))))
    upstream: dict[str, list[float]] = {}  # layer name -> norm of dL/d(its output), per step
    for name, layer in model.named_modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            layer.register_full_backward_hook(
                lambda m, grad_input, grad_output, name=name:
                upstream.setdefault(name, []).append(float(np.linalg.norm(grad_output[0].numpy()))))

    acc = 0.0
    for epoch in range(epochs):
        t0, total = time.perf_counter(), 0.0
        for x, y in train:
            loss = F.cross_entropy(model(x.reshape(-1, 1, 28, 28)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
        sched.step()
        acc = accuracy(model, test)
        print(f"epoch {epoch + 1}: train loss {total / len(train.dataset):.4f}, test accuracy "
              f"{100 * acc:.2f}%, next lr {sched.get_last_lr()[0]:.4f} ({time.perf_counter() - t0:.1f} s)")
    for name, fractions in active.items():
        print(f"ReLU {name}: {100 * np.mean(fractions[-20:]):.0f}% of units active (last 20 steps)")
    print(f"conv 0 weight gradient norm: first step {grad_norms[0]:.3f}, last {grad_norms[-1]:.3f}")
    for name in sorted(upstream, key=int):  # (in the forward order; backward fills them last layer first)
        print(f"{type(model[int(name)]).__name__} {name}: gradient reaching its output "
              f"{np.mean(upstream[name][-20:]):.4f} (last 20 steps)")
    print(f"final test accuracy {100 * acc:.2f}%")
    return {"accuracy": acc, "active": active, "grad_norms": grad_norms, "upstream": upstream}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one epoch (also TINYGRAD_SM_QUICK=1)")
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()
    quick = a.quick or os.environ.get("TINYGRAD_SM_QUICK") == "1"
    main(a.dataset, epochs=1 if quick else a.epochs)
