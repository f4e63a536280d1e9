"""Write a gate, then property-test it with tinygrad_sm.testing in a dozen lines.

    python examples/custom_gate_property_test.py      (or: pytest examples/custom_gate_property_test.py)

Needs Hypothesis: pip install "tinygrad-sm[test]" (or pip install hypothesis).
"""
import numpy as np

try:
    from hypothesis import given, settings
except ImportError:  # pragma: no cover - the message is the point
    raise SystemExit('this example needs Hypothesis: pip install "tinygrad-sm[test]"') from None

from tinygrad_sm import Gate, Values
from tinygrad_sm.testing import gradcheck, tensors


class Swish(Gate):
    """y = x * s with s = sigmoid(x).  dy/dx = s + x * s * (1 - s)."""

    def forward(self, x):
        s = 1 / (1 + np.exp(-x))
        self.save_for_backward(x, s)
        return x * s

    def backward(self, g):
        x, s = self.saved
        return g * (s + x * s * (1 - s))


class Hinge(Gate):
    """y = max(0, 1 - x).  dy/dx = -1 where x < 1, else 0 (a kink at x = 1: tests keep away)."""

    def forward(self, x):
        self.save_for_backward(x)
        return np.maximum(0, 1 - x)

    def backward(self, g):
        (x,) = self.saved
        return -g * (x < 1)


@settings(max_examples=50, deadline=None)
@given(tensors(values=Values(-6.0, 6.0)))
def test_swish(x):
    assert gradcheck(Swish.apply, [x])


@settings(max_examples=50, deadline=None)
@given(tensors(values=Values(-3.0, 3.0, avoid=(1.0,))))
def test_hinge(x):
    assert gradcheck(Hinge.apply, [x])


if __name__ == "__main__":
    test_swish()
    test_hinge()
    print("Swish and Hinge pass 50 random gradient checks each.")
