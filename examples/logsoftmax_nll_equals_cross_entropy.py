"""Cross-entropy is log-softmax followed by the negative log-likelihood, in values and in gradients.

    python examples/logsoftmax_nll_equals_cross_entropy.py [--quick]

The exercise: why is PyTorch's CrossEntropyLoss the same as LogSoftmax + NLLLoss? Write the
loss of one row with logits z and target class y:

    log softmax(z)_k = z_k - log sum_j e^{z_j}            (log-softmax)
    nll(logp, y)     = -logp_y                            (pick the target, negate)
    so  CE(z, y)     = log sum_j e^{z_j} - z_y            (one formula, no probabilities)

and its gradient is dCE/dz_k = softmax(z)_k - [k == y]: p - y. Below, the same batch goes
through three graphs (primitive ops, log_softmax + nll_loss, the fused cross_entropy gate);
all three give the same loss and the same gradient, and that gradient is (p - onehot(y)) / N.
Then the logits are scaled up until the primitive version breaks, and the other two do not.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import tinygrad_sm as ts
from tinygrad_sm import Tensor, viz


def by_hand(z: Tensor, y: np.ndarray) -> Tensor:
    """Softmax, log and the pick, each a primitive op, as one first writes it: without the max
    shift (seven gates; docs/backprop.md's version shifts by the row max first, eight)."""
    e = z.exp()
    p = e / e.sum(axis=1, keepdims=True)
    return -p.log()[np.arange(len(y)), y].mean()


def two_gates(z: Tensor, y: np.ndarray) -> Tensor:
    return ts.nll_loss(ts.log_softmax(z, axis=1), y)


def fused(z: Tensor, y: np.ndarray) -> Tensor:
    return ts.cross_entropy(z, y)


WAYS = {"primitive ops": by_hand, "log_softmax + nll_loss": two_gates, "cross_entropy (fused)": fused}


def loss_and_grad(way, logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, int]:
    """The loss, dloss/dlogits and how many gates the graph had."""
    z = Tensor(logits, requires_grad=True)
    loss = way(z, y)
    trace = viz.trace_backward(loss, echo=False)  # same as loss.backward(), and counts the gates
    return loss.item(), z.grad.numpy(), len(trace)


def compare(n: int = 8, c: int = 5, scale: float = 1.0, seed: int = 0) -> dict[str, dict[str, float]]:
    """Each way's loss and gradient against the closed forms logsumexp(z) - z_y and (p - y)/N."""
    rng = np.random.default_rng(seed)
    logits = scale * rng.normal(size=(n, c))
    y = rng.integers(0, c, size=n)
    m = logits.max(axis=1, keepdims=True)  # NumPy reference, shifted so it cannot overflow
    lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
    want_loss = float(np.mean(lse - logits[np.arange(n), y]))
    p = np.exp(logits - lse[:, None])
    want_grad = (p - np.eye(c)[y]) / n
    out = {}
    with np.errstate(all="ignore"):  # the primitive version overflows on purpose at large scale
        for name, way in WAYS.items():
            loss, grad, gates = loss_and_grad(way, logits, y)
            out[name] = {"loss": loss, "loss_error": abs(loss - want_loss),
                         "grad_error": float(np.max(np.abs(grad - want_grad))), "gates": gates}
    return out


def show(results: dict[str, dict[str, float]]) -> None:
    print(f"  {'':<24}{'loss':>14}{'|loss - ref|':>14}{'max |grad - (p-y)/N|':>22}{'gates':>7}")
    for name, r in results.items():
        print(f"  {name:<24}{r['loss']:>14.8g}{r['loss_error']:>14.2e}{r['grad_error']:>22.2e}{r['gates']:>7}")


def main(quick: bool = False) -> None:
    n = 4 if quick else 64
    print(f"A batch of {n} rows, 5 classes, float64 logits ~ N(0, 1):")
    show(compare(n))
    print("\nThe fused gate in one narrated step (2 rows, 3 classes):")
    z = Tensor(np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]]), requires_grad=True, name="z")
    loss = ts.cross_entropy(z, np.array([0, 2]))
    loss.name = "CE"
    viz.trace_backward(loss)
    print("\nThe same batch with logits scaled by 1000 (scores far apart, as after bad training):")
    big = compare(n, scale=1000.0)
    show(big)
    print("  In the primitive version e^z overflows to inf (inf/inf is NaN) or a probability underflows\n"
          "  to 0 (its log is -inf): the loss is inf or NaN, and NaN reaches the gradient. log_softmax\n"
          "  and the fused gate subtract the row's max first, so nothing overflows, and the log of a\n"
          "  probability that underflowed to 0 is never taken.")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smaller batch (also: TINYGRAD_SM_QUICK=1)")
    args = ap.parse_args()
    main(quick=args.quick or os.environ.get("TINYGRAD_SM_QUICK") == "1")
