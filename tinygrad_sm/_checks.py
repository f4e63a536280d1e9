"""Type tests for arguments, shared so every function refuses the same things: a bool is not a
number here (True as a size or a rate is a mistake), a NumPy scalar is."""
from __future__ import annotations

from typing import Any

import numpy as np


def is_int(v: Any) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_real(v: Any) -> bool:
    """A Python or NumPy int or float, not a bool."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))

