"""Whether ops record a graph: `no_grad()` and `enable_grad()`, as context managers or decorators.

The switch is per thread, like PyTorch's, so a worker thread running inference does not turn
recording off for the thread that trains.
"""
from __future__ import annotations

import contextlib
import threading


class _Mode(threading.local):
    enabled = True


_mode = _Mode()


def is_grad_enabled() -> bool:
    """True when new ops record the graph needed for backward()."""
    return _mode.enabled


class _SetGrad(contextlib.ContextDecorator):
    _value: bool

    def __init__(self) -> None:
        self._prev: list[bool] = []  # a stack, so one instance can be nested or reused

    def __enter__(self) -> "_SetGrad":
        self._prev.append(_mode.enabled)
        _mode.enabled = self._value
        return self

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._prev.pop()


class no_grad(_SetGrad):
    """Ops inside record no graph: results have requires_grad=False and save nothing.

        with no_grad():
            preds = model(x)

    Also a decorator: `@no_grad()`.
    """

    _value = False


class enable_grad(_SetGrad):
    """Turn recording back on inside a `no_grad()` block."""

    _value = True
