"""Kernels for the hot paths. Each has a plain NumPy reference in `reference.py`;
the gates call them through this module so a faster backend can slot in beside it."""
from .reference import (  # noqa: F401
    cross_entropy_backward,
    cross_entropy_forward,
    log_softmax,
    log_softmax_backward,
    softmax,
    softmax_backward,
)
