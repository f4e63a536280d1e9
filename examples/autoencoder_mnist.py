"""A convolutional autoencoder on MNIST digits: Conv2d down to a 16x7x7 code, ConvTranspose2d back up.

    python examples/autoencoder_mnist.py [--quick] [--dataset mnist-sample|mnist|fashion-mnist] [--epochs N]

The encoder halves the image twice with stride-2 convolutions (28 -> 14 -> 7); the decoder doubles it
twice with stride-2 transposed convolutions (7 -> 14 -> 28), each the gradient of a convolution run
forward. The loss is binary cross-entropy between the pixels (in [0, 1]) and the decoder's logits.
It prints the reconstruction loss each epoch beside that of the best constant guess (the mean image),
and one test digit with its reconstruction, drawn in characters.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import tinygrad_sm as ts
import tinygrad_sm.nn.functional as F
from tinygrad_sm import nn, optim
from tinygrad_sm.data import ArrayDataset, DataLoader, get_dataset


def make_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),                            # 28 -> 14
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),                           # 14 -> 7: the code
        nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),                  # 7 -> 14
        nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Flatten())                # 14 -> 28: logits


def reconstruction_loss(model: nn.Module, x: np.ndarray) -> float:
    with ts.no_grad():
        return F.binary_cross_entropy_with_logits(model(ts.tensor(x)), x).item()


def draw(*images: np.ndarray) -> str:
    """28x28 images in [0, 1] side by side, darker characters for brighter pixels."""
    shades = " .:-=+*#%@"
    rows = []
    for r in range(0, 28, 2):  # (every other row: characters are about twice as tall as wide)
        rows.append("   ".join("".join(shades[min(9, int(v * 10))] for v in img.reshape(28, 28)[r]) for img in images))
    return "\n".join(rows)


def main(dataset: str = "mnist-sample", epochs: int = 3, batch_size: int = 64, lr: float = 0.01,
         limit: int = 0) -> dict:
    train_set, test_set = get_dataset(dataset, train=True), get_dataset(dataset, train=False)
    x_train = train_set.images[:limit or None].reshape(-1, 784)  # (pixels in [0, 1])
    x_test = test_set.images[:1000].reshape(-1, 784)
    loader = DataLoader(ArrayDataset(x_train, np.zeros(len(x_train), np.int64)), batch_size, shuffle=True, seed=0)
    ts.manual_seed(0)
    model = make_model()
    print(model)
    opt = optim.Adam(model.parameters(), lr=lr)
    mean_image = np.broadcast_to(x_train.mean(axis=0).clip(1e-4, 1 - 1e-4), x_test.shape)
    baseline = F.binary_cross_entropy(ts.tensor(mean_image), x_test).item()
    losses = []
    for epoch in range(epochs):
        for xb, _ in loader:
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(xb), xb)
            loss.backward()
            opt.step()
        losses.append(reconstruction_loss(model, x_test))
        print(f"epoch {epoch + 1}/{epochs}  test reconstruction loss {losses[-1]:.4f}  "
              f"(the mean image: {baseline:.4f})")
    with ts.no_grad():
        again = model(ts.tensor(x_test[:1])).sigmoid().numpy()
    print("a test digit and its reconstruction:\n" + draw(x_test[0], again[0]))
    return {"losses": losses, "baseline": baseline}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="one epoch")
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()
    quick = a.quick or os.environ.get("TINYGRAD_SM_QUICK") == "1"
    main(a.dataset, 1 if quick else a.epochs)
