"""Small helpers shared by the tests."""
import numpy as np

import tinygrad_sm as ts


def leaf(a, dtype="float64", name=None):
    """A float64 leaf that requires grad (gradient checks need float64)."""
    return ts.Tensor(np.asarray(a), dtype=dtype, requires_grad=True, name=name)


def randn(rng, *shape, dtype="float64"):
    return leaf(rng.standard_normal(shape), dtype=dtype)
