"""Numba kernels (work in progress: falls back to the NumPy reference for now)."""
import numba

from .reference import (  # noqa: F401
    adam_step_, cross_entropy_backward, cross_entropy_forward, linear_backward, linear_forward,
    log_softmax, log_softmax_backward, relu, relu_backward, sgd_step_, softmax, softmax_backward,
    softmax_cross_entropy,
)


def warmup() -> None:
    pass


def set_num_threads(n: int) -> None:
    numba.set_num_threads(n)


def get_num_threads() -> int:
    return numba.get_num_threads()
