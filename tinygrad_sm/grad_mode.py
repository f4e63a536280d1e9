"""Whether ops record a graph: `no_grad()` and `enable_grad()`, as context managers or decorators.

The switch is per thread, like PyTorch's, so a worker thread running inference does not turn
recording off for the thread that trains.
"""
from __future__ import annotations

import functools
import inspect
import threading
from typing import Any, Callable, Generator, Optional


class _Mode(threading.local):
    enabled = True


_mode = _Mode()


def is_grad_enabled() -> bool:
    """True when new ops record the graph needed for backward()."""
    return _mode.enabled


class _SetGrad:
    """Sets the switch to `_value` inside `with`, and around every call of a decorated function
    (each call, and each thread, with its own saved state: one decorated function may run in
    several threads at once). A decorated generator runs each of its steps with the switch set,
    not just the call that creates it."""

    _value: bool

    def __new__(cls, func: Optional[Callable[..., Any]] = None) -> Any:
        self = super().__new__(cls)
        if func is None:
            return self
        if not callable(func):
            raise TypeError(f"{cls.__name__}() takes no arguments, or the function to decorate "
                            f"(@{cls.__name__} or @{cls.__name__}()); got {func!r}")
        return self(func)  # `@no_grad` without the brackets, as PyTorch allows

    def __init__(self, func: Optional[Callable[..., Any]] = None) -> None:
        self._saved = threading.local()  # each thread's stack of values to restore

    def __enter__(self) -> "_SetGrad":
        stack = self._saved.__dict__.setdefault("stack", [])
        stack.append(_mode.enabled)
        _mode.enabled = self._value
        return self

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._saved.stack.pop()

    def _fresh(self) -> "_SetGrad":
        """A new context like this one, for one call of a decorated function."""
        return type(self)()

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        cls = self._fresh  # (a fresh context for every call)
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def steps(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                gen = func(*args, **kwargs)
                try:
                    with cls():
                        item = next(gen)
                    while True:
                        try:
                            sent = yield item
                        except GeneratorExit:
                            with cls():
                                gen.close()
                            raise
                        except BaseException as e:  # thrown in: passed on to gen, inside the mode
                            with cls():
                                item = gen.throw(e)
                        else:
                            with cls():
                                item = gen.send(sent)
                except StopIteration as done:  # gen returned: so does this one, with its value
                    return done.value
            return steps

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            with cls():
                return func(*args, **kwargs)
        return call


class _Switch(_SetGrad):
    """The switch set to a value given per instance (what a @set_grad_enabled(mode) call uses)."""

    def __new__(cls, value: bool) -> "_Switch":
        return object.__new__(cls)

    def __init__(self, value: bool) -> None:
        super().__init__()
        self._value = value

    def _fresh(self) -> "_Switch":
        return _Switch(self._value)


class set_grad_enabled:
    """Recording on (True) or off (False), as PyTorch's: a plain call switches it for this
    thread at once; `with set_grad_enabled(mode):` puts back, at the block's end, what it was
    before the call; `@set_grad_enabled(mode)` switches it only inside the function.

        with set_grad_enabled(is_train):
            out = model(x)
    """

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled takes True or False, got {mode!r}")
        self.mode, self._prev = mode, _mode.enabled
        _mode.enabled = mode

    def __enter__(self) -> "set_grad_enabled":
        _mode.enabled = self.mode  # (again: the same object may be entered twice)
        return self

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._prev

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        _mode.enabled = self._prev  # (the call that made this decorator switched it: undone)
        return _Switch(self.mode)(func)


class no_grad(_SetGrad):
    """Ops inside record no graph: results have requires_grad=False and save nothing.

        with no_grad():
            preds = model(x)

    Also a decorator: `@no_grad()` or `@no_grad`.
    """

    _value = False


class enable_grad(_SetGrad):
    """Turn recording back on inside a `no_grad()` block."""

    _value = True
