"""Every example runs."""
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("script", ["quickstart.py", "custom_gate_property_test.py"])
def test_example_runs(script):
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_quickstart_learns_the_spiral():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import quickstart
    finally:
        sys.path.pop(0)
    assert quickstart.train(steps=600) > 0.9
