"""An LSTM that reads each MNIST digit one row at a time: 28 steps of 28 pixels, then a linear layer
on the last step's output. A classic first sequence model; the digit is only known at the end.

    python examples/lstm_mnist_rows.py [--quick] [--dataset mnist-sample|mnist|fashion-mnist] [--epochs N]

Backpropagation through time is the ordinary backward pass over the unrolled 28 steps. The gradient
of the loss with respect to each row's input shows how far back the LSTM's memory reaches: printed at
the end for a few rows, it is of the same size for the first rows as for the last (the cell state
carries it across all 28 steps, where a plain RNN's tends to fade).
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import tinygrad_sm as ts
from tinygrad_sm import nn, optim
from tinygrad_sm.data import DataLoader, get_dataset


class RowReader(nn.Module):
    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.lstm = nn.LSTM(28, hidden, batch_first=True, generator=0)
        self.head = nn.Linear(hidden, 10)

    def forward(self, images: ts.Tensor) -> ts.Tensor:
        out, _ = self.lstm(images.reshape(-1, 28, 28))  # (N, 28 rows, hidden)
        return self.head(out[:, -1])                   # classify from the last row's output


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    correct = total = 0
    with ts.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(axis=1) == y).numpy().sum())
            total += len(y)
    return correct / total


def main(dataset: str = "mnist-sample", epochs: int = 3, batch_size: int = 64, lr: float = 0.005) -> dict:
    train = DataLoader(get_dataset(dataset, train=True), batch_size, shuffle=True, seed=0)
    test = DataLoader(get_dataset(dataset, train=False), 1000)
    ts.manual_seed(0)
    model = RowReader()
    print(model)
    opt = optim.Adam(model.parameters(), lr=lr)
    accuracies = []
    for epoch in range(epochs):
        for x, y in train:
            opt.zero_grad()
            loss = ts.cross_entropy(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # (the usual guard for recurrent nets)
            opt.step()
        accuracies.append(accuracy(model, test))
        print(f"epoch {epoch + 1}/{epochs}  loss {loss.item():.4f}  test accuracy {100 * accuracies[-1]:.2f}%")
    # How much each row of a batch of test digits moves the loss: d loss / d row, summed.
    x, y = next(iter(test))
    rows = ts.tensor(x.numpy().reshape(-1, 28, 28), requires_grad=True)
    ts.cross_entropy(model.head(model.lstm(rows)[0][:, -1]), y).backward()
    reach = np.abs(rows.grad.numpy()).sum(axis=(0, 2))
    print("gradient reaching each row (first, middle, last rows):",
          " ".join(f"row {r}: {reach[r]:.3g}" for r in (0, 7, 14, 21, 27)))
    return {"accuracies": accuracies, "reach": reach}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="one epoch")
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()
    quick = a.quick or os.environ.get("TINYGRAD_SM_QUICK") == "1"
    main(a.dataset, 1 if quick else a.epochs)
