"""The picture: OUT/sweep.png, validation accuracy over the options the sweep varies."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..viz import save_figure
from .space import LOG_SCALE


# -- the picture ----------------------------------------------------------------------------------------
PLOT_AXES = ("lr", "reg", "weight_decay", "momentum", "batch_size", "epochs", "lr_gamma", "lr_step", "dropout")
"""Numeric options sweep.png can put on its axes, in order of preference (lr x reg first)."""


def plot_sweep(records: list[dict[str, Any]], varied: list[str], path: str) -> bool:
    """Validation accuracy over lr x reg (or the first two numeric options the sweep varies): a
    heatmap of cells for a grid, coloured points for a random search; failed trials are grey
    crosses. False (nothing written) without matplotlib or without a numeric option varied."""
    axes = [a for a in PLOT_AXES if a in varied]
    if not axes or not records:
        return False
    try:
        from matplotlib.figure import Figure  # (not pyplot: the caller's backend stays as it was)
    except ImportError:
        return False
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    x = axes[0]
    y = axes[1] if len(axes) > 1 else None
    # (a value the trial's params leave out is its config's: a one-layer trial's dropout is 0)
    records = [{**r, "params": {**r.get("config", {}), **r["params"]}} for r in records]
    ok = [r for r in records if r["status"] == "ok"]
    bad = [r for r in records if r["status"] != "ok"]
    xs = sorted({r["params"][x] for r in records})
    ys = sorted({r["params"][y] for r in records}) if y else []
    grid = y is not None and len(xs) * len(ys) <= 400 and len(records) >= len(xs) * len(ys) * 0.5 and len(xs) < 25
    if grid:  # best accuracy of each (x, y) cell over the other options
        acc = np.full((len(ys), len(xs)), np.nan)
        for r in ok:
            i, j = ys.index(r["params"][y]), xs.index(r["params"][x])
            acc[i, j] = np.fmax(acc[i, j], 100 * r["val_accuracy"])
        im = ax.imshow(acc, origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(xs)), [f"{v:.3g}" for v in xs], rotation=45)
        ax.set_yticks(range(len(ys)), [f"{v:.3g}" for v in ys])
        for i in range(len(ys)):
            for j in range(len(xs)):
                ax.text(j, i, "failed" if np.isnan(acc[i, j]) else f"{acc[i, j]:.1f}", ha="center", va="center",
                        color="white", fontsize=8)
    else:
        def coords(rs: list[dict[str, Any]]) -> tuple[list, list]:
            return [r["params"][x] for r in rs], [r["params"][y] if y else 0 for r in rs]
        cx, cy = coords(ok)
        im = ax.scatter(cx, cy if y else [100 * r["val_accuracy"] for r in ok],
                        c=[100 * r["val_accuracy"] for r in ok], cmap="viridis", s=60)
        if bad:
            bx, by = coords(bad)
            ax.scatter(bx, by, marker="x", color="grey", label="diverged / failed")
            ax.legend(loc="best", fontsize=8)
        if x in LOG_SCALE:
            ax.set_xscale("log")
        if y in LOG_SCALE:
            ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y or "validation accuracy (%)")
    fig.colorbar(im, ax=ax, label="validation accuracy (%)")
    ax.set_title(f"validation accuracy over {x}" + (f" x {y}" if y else ""))
    fig.tight_layout()
    save_figure(fig, path)
    return True
