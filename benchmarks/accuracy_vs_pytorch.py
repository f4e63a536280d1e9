"""The documented Fashion-MNIST results, side by side with PyTorch (issue #5).

For each headline run of docs/training.md, train it with `tinygrad-sm train`'s own code
(`tinygrad_sm.train.fit`) and with PyTorch from the same initial weights, the same (normalised)
pixels, the same batch order and the same optimiser, learning-rate schedule and epochs; print
both test accuracies and their difference. Target: within 0.5 points.

    python benchmarks/accuracy_vs_pytorch.py            # the two headline runs, 10 epochs each (~2 min)
    python benchmarks/accuracy_vs_pytorch.py --quick    # 1 epoch each, on the embedded sample
"""
from __future__ import annotations

import common  # noqa: I001 - first: pins thread counts before NumPy loads

import os
import time
from typing import Any

import numpy as np

from tinygrad_sm import train as T

# The commands of docs/training.md's Fashion-MNIST table that carry a target.
RUNS: dict[str, dict[str, Any]] = {
    "softmax, Adam": dict(model="softmax", optimizer="adam", lr=0.001),
    "mlp, normalised, SGD + step decay": dict(model="mlp", normalize=True, lr=0.02, lr_step=5, lr_gamma=0.2),
}


def torch_run(torch: Any, cfg: T.TrainConfig, train: T.Split, test: T.Split) -> float:
    """The same run in PyTorch: test accuracy after the last epoch."""
    sizes = cfg.sizes(train.x.shape[1], int(train.y.max()) + 1)
    init = T.build_model(cfg.model, sizes, cfg.seed)  # the weights fit() starts from
    layers: list[Any] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    with torch.no_grad():
        for q, p in zip(net.parameters(), init.parameters()):
            q.copy_(torch.from_numpy(p.data))
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma) if cfg.lr_step else None
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    for epoch in range(cfg.epochs):
        order = torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(len(train.y)))
        for b in range(0, len(order), cfg.batch_size):
            idx = order[b:b + cfg.batch_size]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        if sched is not None:
            sched.step()
    with torch.no_grad():
        return float((net(torch.from_numpy(test.x)).argmax(1).numpy() == test.y).mean())


def main() -> None:
    args = common.parser(__doc__.split("\n")[0]).parse_args()
    torch = common.torch_or_none()
    if torch is None:
        raise SystemExit("PyTorch is not installed: this comparison needs it")
    dataset, epochs = ("mnist-sample", 1) if args.quick else ("fashion-mnist", 10)
    rows = []
    for name, opts in RUNS.items():
        cfg = T.TrainConfig(dataset=dataset, epochs=epochs, **opts)
        train, test = T.load_splits(cfg)
        t0 = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            ours = T.fit(cfg, stream=quiet, progress=False, splits=(train, test)).history[-1]["test_accuracy"]
        t1 = time.perf_counter()
        theirs = torch_run(torch, cfg, train, test)
        t2 = time.perf_counter()
        diff = 100 * (ours - theirs)
        rows.append([name, f"{100 * ours:.2f}%", f"{100 * theirs:.2f}%", f"{diff:+.2f}",
                     "ok" if abs(diff) <= 0.5 else "MISSED", t1 - t0, t2 - t1])
    out = ["## Test accuracy side by side with PyTorch (accuracy_vs_pytorch.py)", "",
           f"{dataset}, {epochs} epoch(s), batch 64, seed 0: the same initial weights, pixels, batch order, "
           "optimiser and schedule in both; the commands are those of docs/training.md.", "",
           common.md_table(["run", "tinygrad_sm", "PyTorch", "difference (points)", "within 0.5",
                            "tinygrad_sm s", "PyTorch s"], rows)]
    common.emit("\n".join(out), args.out)


if __name__ == "__main__":
    main()
