"""tinygrad_sm: a small, fast, honest autograd framework on NumPy.

    from tinygrad_sm import Tensor
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad          # Tensor([2., 4.], dtype=float32)
"""
from . import functional, gates
from .creation import (
    arange, eye, from_numpy, full, linspace, manual_seed, ones, ones_like, rand, rand_like, randint, randn,
    randn_like, randperm, tensor, zeros, zeros_like,
)
from .dtypes import bool_, float32, float64, int32, int64
from .functional import (
    argsort, cat, concatenate, cross_entropy, cumsum, exp, gather, log, log_softmax, logsumexp, matmul, maximum,
    minimum, nll_loss, prod, relu, sigmoid, softmax, sort, sqrt, stack, tanh, topk, where,
)
from .gates import Domain, Gate, GateError, Values
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor
from . import nn, optim  # noqa: E402  (after Tensor: they build on it)
from .checkpoint import CheckpointError, load, save
from .kernels import get_num_threads, set_num_threads, warmup

inference_mode = no_grad  # (PyTorch's faster no_grad; here they are the same)

# PyTorch's dtype names: ts.tensor(y, dtype=ts.long). (Not in __all__: `import *` keeps the builtins.)
float, double, long, int, bool = float32, float64, int64, int32, bool_  # noqa: A001


def is_tensor(obj: object) -> bool:
    """Whether obj is a Tensor (a Parameter is one)."""
    return isinstance(obj, Tensor)

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Gate", "GateError", "Domain", "Values", "gates", "functional",
    "tensor", "from_numpy", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand", "randint",
    "arange", "eye", "manual_seed", "randn_like", "rand_like", "randperm", "linspace", "is_tensor", "inference_mode",
    "float32", "float64", "int32", "int64", "bool_",
    "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "relu", "sigmoid", "tanh", "exp", "log", "sqrt", "maximum", "minimum", "matmul", "cat", "concatenate",
    "stack", "softmax", "log_softmax", "logsumexp", "cross_entropy", "nll_loss", "where",
    "prod", "cumsum", "gather", "sort", "argsort", "topk",
    "nn", "optim", "save", "load", "CheckpointError", "warmup", "set_num_threads", "get_num_threads",
]
