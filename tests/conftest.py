"""Shared test set-up: Hypothesis profiles and the optional PyTorch comparison."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# ci: deterministic and quick (the README's test command and .ci/run use it);
# dev: explores many more examples. Pick with HYPOTHESIS_PROFILE=dev.
settings.register_profile("ci", derandomize=True, deadline=None, database=None, max_examples=40,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def torch():
    """PyTorch for side-by-side comparisons; the test skips where it is not installed."""
    return pytest.importorskip("torch", reason="PyTorch is not installed: it is only a comparison, never a "
                               "dependency (CPU wheel: pip install torch --index-url "
                               "https://download.pytorch.org/whl/cpu)")
