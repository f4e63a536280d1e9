"""The gates: every differentiable op, each a small class with forward and backward side by side.

    elementwise.py  add distributes, mul swaps, maximum and where route, exp, log, pow, ...
    activations.py  ReLU gates; leaky ReLU, ELU, GELU, SiLU, softplus, sigmoid, tanh, clip, dropout
    reduce.py       sum, mean, prod, max/min (route to the winners), logsumexp, cumsum
    movement.py     reshape, permute, expand, cat, stack, indexing and gather (scatter-add back)
    matmul.py       matrix product (the matrix form of mul swaps)
    conv.py         2-D convolution (a matmul on unrolled windows), its transpose, max and average pooling
                    (and adaptive average pooling)
    softmax.py      softmax, log_softmax, fused softmax-cross-entropy, nll_loss
    losses.py       multiclass SVM hinge, binary cross-entropy (on probabilities or logits), Huber, smooth L1
"""
from .activations import ELU, GELU, Clip, Dropout, LeakyReLU, ReLU, Sigmoid, SiLU, Softplus, Tanh
from .base import Domain, Gate, GateError, Values, unbroadcast
from .conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d, MaxUnpool2d
from .elementwise import (Abs, Add, AddConst, Cast, Div, Exp, Log, Maximum, Minimum, Mul, MulConst, Neg,
                          Pow, PowScalar, Sqrt, StdSqrt, Sub, Where)
from .losses import BCEWithLogits, BinaryCrossEntropy, Huber, MultiClassHinge, SmoothL1
from .linear import Linear
from .matmul import MatMul
from .movement import Concat, Expand, Gather, GetItem, Permute, Reshape, Stack
from .reduce import CumSum, LogSumExp, Max, Mean, Min, Prod, Sum
from .softmax import CrossEntropy, LogSoftmax, NLLLoss, Softmax

__all__ = [
    "Gate", "GateError", "Domain", "Values", "unbroadcast",
    "Add", "AddConst", "Sub", "Neg", "Mul", "MulConst", "Div", "Pow", "PowScalar", "Exp", "Log", "Sqrt", "StdSqrt", "Abs", "Cast",
    "Maximum", "Minimum", "Where", "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Softplus", "Sigmoid", "Tanh", "Clip",
    "Dropout",
    "Sum", "Mean", "Prod", "Max", "Min", "LogSumExp", "CumSum",
    "Reshape", "Permute", "Expand", "Concat", "Stack", "GetItem", "Gather",
    "MatMul", "Linear", "Conv2d", "ConvTranspose2d", "MaxPool2d", "MaxUnpool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Softmax", "LogSoftmax", "CrossEntropy", "NLLLoss", "MultiClassHinge", "BCEWithLogits",
    "BinaryCrossEntropy", "Huber", "SmoothL1",
]
