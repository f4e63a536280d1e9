"""Check backprop against central differences, by hand, and see why the check needs float64.

    python examples/gradient_check_by_hand.py [--quick]

The numerical gradient of f at x nudges one element at a time:

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)

Its error has two parts. Truncation: the Taylor terms the formula drops, about h**2 |f'''| / 6
(one-sided differences (f(x + h) - f(x)) / h drop more: about h |f''| / 2). Rounding: f is
only known to the precision of its dtype, eps_mach * |f|, and dividing by 2h magnifies that
to about eps_mach |f| / h. The sum is smallest near h ~ eps_mach ** (1/3): around 1e-5 in
float64 (eps_mach 2.2e-16), where the relative error reaches ~1e-10; but around 5e-3 in
float32 (eps_mach 1.2e-7), where it is still ~1e-4, and for smaller h the rounding part takes
over and the "check" measures noise. So gradient checks run in float64.

The last part plants a bug in a gate's backward and shows the check catching it.
"""
from __future__ import annotations

import argparse
import os
from typing import Callable

import numpy as np

import tinygrad_sm as ts
from tinygrad_sm import Gate, Tensor


def make_problem(dtype: str, seed: int = 0, n: int = 8, d: int = 5, hidden: int = 6, classes: int = 3):
    """A two-layer tanh net with a cross-entropy loss: smooth, so no kink spoils the check."""
    rng = np.random.default_rng(seed)
    X = Tensor(rng.normal(size=(n, d)), dtype=dtype)
    y = rng.integers(0, classes, size=n)
    params = [Tensor(0.5 * rng.normal(size=shape), dtype=dtype, requires_grad=True)
              for shape in ((d, hidden), (hidden,), (hidden, classes))]

    def loss() -> Tensor:
        W1, b1, W2 = params
        return ts.cross_entropy((X @ W1 + b1).tanh() @ W2, y)

    return loss, params


def analytic(loss: Callable[[], Tensor], params: list[Tensor]) -> list[np.ndarray]:
    for p in params:
        p.zero_grad()
    loss().backward()
    return [p.grad.numpy().copy() for p in params]


def numerical(loss: Callable[[], Tensor], params: list[Tensor], h: float, central: bool = True) -> list[np.ndarray]:
    """Nudge every element of every parameter in place, and difference the loss."""
    grads = []
    with ts.no_grad():  # only values are needed: record no graph
        f0 = loss().item()
        for p in params:
            g = np.zeros(p.shape)
            flat = p.data.reshape(-1)  # a view: writing to it moves p
            for i in range(flat.size):
                old = flat[i]
                flat[i] = old + h
                f_plus = loss().item()
                if central:
                    flat[i] = old - h
                    g.flat[i] = (f_plus - loss().item()) / (2 * h)
                else:
                    g.flat[i] = (f_plus - f0) / h
                flat[i] = old  # restore exactly
            grads.append(g)
    return grads


def relative_error(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """||a - b|| / (||a|| + ||b||), the worst over the parameters: scale-free.

    (Element by element, |a_i - b_i| / (|a_i| + |b_i|) is the CS231n measure; it is dominated
    by the elements whose gradient is nearly 0, so the norm version is steadier to read.)
    """
    worst = 0.0
    for x, y in zip(a, b):
        x, y = x.astype(np.float64), y.astype(np.float64)
        denom = max(np.linalg.norm(x) + np.linalg.norm(y), 1e-300)
        worst = max(worst, float(np.linalg.norm(x - y) / denom))
    return worst


def sweep(steps: list[float], seed: int = 0) -> dict[str, list[float]]:
    """Relative error of the numerical gradient at each step size h, three ways."""
    out: dict[str, list[float]] = {"float64 central": [], "float64 one-sided": [], "float32 central": []}
    for dtype in ("float64", "float32"):
        loss, params = make_problem(dtype, seed)
        exact = analytic(loss, params)
        for h in steps:
            out[f"{dtype} central"].append(relative_error(exact, numerical(loss, params, h)))
            if dtype == "float64":
                out["float64 one-sided"].append(relative_error(exact, numerical(loss, params, h, central=False)))
    return out


class BuggySigmoid(Gate):
    """s = sigmoid(x), with a planted bug: backward forgets the (1 - s) factor."""

    def forward(self, x):
        s = 1 / (1 + np.exp(-x))
        self.save_for_backward(s)
        return s

    def backward(self, g):
        (s,) = self.saved
        return g * s  # should be g * s * (1 - s)


def catch_the_bug(seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    x = Tensor(rng.normal(size=(4, 3)), requires_grad=True)
    w = Tensor(rng.normal(size=(3,)))

    def loss() -> Tensor:
        return (BuggySigmoid.apply(x) * w).sum()

    return relative_error(analytic(loss, [x]), numerical(loss, [x], 1e-5))


def main(quick: bool = False) -> None:
    steps = [10.0 ** -k for k in (range(1, 11, 2) if quick else range(1, 11))]
    table = sweep(steps)
    print("Relative error of the numerical gradient (two-layer tanh net, cross-entropy loss):\n")
    print(f"  {'h':>7}" + "".join(f"{name:>20}" for name in table))
    for i, h in enumerate(steps):
        print(f"  {h:>7.0e}" + "".join(f"{errs[i]:>20.1e}" for errs in table.values()))
    best = {}
    for name, errs in table.items():
        k = int(np.argmin(errs))
        best[name] = errs[k]
        print(f"  best {name}: {errs[k]:.1e} at h = {steps[k]:.0e}")
    print(f"\n  Central differences in float64 get to {best['float64 central']:.0e}; one-sided ones only to "
          f"{best['float64 one-sided']:.0e}\n  (their error shrinks like h, not h**2). float32 stops at "
          f"{best['float32 central']:.0e} and gets worse as h shrinks\n  (rounding error / h); an error of 1 "
          "means the two nudged losses were equal in float32, so the\n  numerical gradient came out 0.")
    print(f"\nA sigmoid gate whose backward forgot (1 - s): relative error {catch_the_bug():.2f} "
          "(anything above ~1e-6 in float64 means a wrong gradient)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer step sizes (also: TINYGRAD_SM_QUICK=1)")
    args = ap.parse_args()
    main(quick=args.quick or os.environ.get("TINYGRAD_SM_QUICK") == "1")
