"""The train CLI's cnn (two blocks of 5x5 conv, ReLU, 2x2 max pool; 16 and 32 channels; Linear),
one SGD-momentum step on real Fashion-MNIST batches: tinygrad_sm vs PyTorch, same weights, same
batches. No target: convolutions are not what the issue's targets are about; this shows where
tinygrad_sm stands on them, and that both do the same work (the losses after a few steps agree).

    python benchmarks/bench_cnn.py [--quick]
"""
from __future__ import annotations

import common  # noqa: I001 - first: pins thread counts before NumPy loads

from typing import Any, Callable

import numpy as np

CHANNELS = [16, 32]


def setups(batch: int, x: np.ndarray, y: np.ndarray) -> tuple[dict[str, Callable[[], Any]], dict[str, Callable[[], float]]]:
    """framework -> one training step on the next batch; and -> the loss of a fresh step (for the check)."""
    tg = common.tinygrad_setup()
    from tinygrad_sm import train as T

    model = T.build_model("cnn", [784, *CHANNELS, 10], seed=0)
    opt = tg.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x) - batch + 1, batch)]
    state = {"i": 0}

    def tg_step() -> float:
        xb, yb = batches[state["i"] % len(batches)]
        state["i"] += 1
        opt.zero_grad()
        loss = tg.cross_entropy(model(tg.Tensor(xb)), yb)
        loss.backward()
        opt.step()
        return float(loss.item())

    steps: dict[str, Callable[[], Any]] = {"tinygrad_sm": tg_step}
    losses: dict[str, Callable[[], float]] = {"tinygrad_sm": tg_step}
    torch = common.torch_or_none()
    if torch is not None:
        n = torch.nn
        tmodel = n.Sequential(n.Unflatten(1, (1, 28, 28)), n.Conv2d(1, 16, 5, padding=2), n.ReLU(), n.MaxPool2d(2),
                              n.Conv2d(16, 32, 5, padding=2), n.ReLU(), n.MaxPool2d(2), n.Flatten(),
                              n.Linear(32 * 7 * 7, 10))
        tmodel.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.02, momentum=0.9)
        tb = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in batches]
        tstate = {"i": 0}

        def torch_step() -> float:
            xb, yb = tb[tstate["i"] % len(tb)]
            tstate["i"] += 1
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tmodel(xb), yb)
            loss.backward()
            topt.step()
            return float(loss.item())

        steps["PyTorch"] = torch_step
        losses["PyTorch"] = torch_step
    return steps, losses


def main() -> None:
    args = common.parser(__doc__.split("\n")[0]).parse_args()
    x, y, _, _, source = common.load_fashion_mnist()
    x = x[:4096].astype(np.float32)
    y = y[:4096].astype(np.int64)
    repeats, target_s = (3, 0.1) if args.quick else (9, 0.4)
    rows, ratios, checks = [], [], []
    for batch in (64, 256):
        _, losses = setups(batch, x, y)  # (fresh models: the first steps from the same weights)
        first = {name: [f() for _ in range(5)] for name, f in losses.items()}
        if "PyTorch" in first:
            ours, theirs = first["tinygrad_sm"][-1], first["PyTorch"][-1]
            checks.append([batch, f"{ours:.5f}", f"{theirs:.5f}", f"{abs(ours - theirs):.1e}"])
        steps, _ = setups(batch, x, y)
        samples = common.interleaved_samples(steps, repeats=repeats, target_s=target_s, warmup=2)
        for name, v in samples.items():
            t = common.median(v)
            rows.append([batch, name, t * 1e3, batch / t])
        if "PyTorch" in samples:
            ratios.append([batch, common.spread(common.paired_ratio(samples["tinygrad_sm"], samples["PyTorch"]))])
    out = ["## A small CNN, one SGD step (bench_cnn.py)", "",
           f"The train CLI's `cnn` (784 -> 1x28x28 -> conv 5x5 16 -> ReLU -> max pool 2 -> conv 5x5 32 -> "
           f"ReLU -> max pool 2 -> Linear 1568-10), SGD momentum 0.9, on {source} batches; median of "
           f"{repeats} timings, frameworks taking turns, {common.THREADS} threads each. Informational: no "
           "target covers convolutions.", "",
           common.md_table(["batch", "framework", "ms/step", "samples/s"], rows), ""]
    if ratios:
        out += ["tinygrad_sm's time / PyTorch's, round by round (median [interquartile range]):", "",
                common.md_table(["batch", "tinygrad_sm / PyTorch time"], ratios), "",
                "The same work: the loss of the 5th step from the same weights and batches (float32).", "",
                common.md_table(["batch", "tinygrad_sm", "PyTorch", "|difference|"], checks)]
    common.emit("\n".join(out), args.out)


if __name__ == "__main__":
    main()
