"""Every example runs (on its small setting), and the claims the backprop examples print hold."""
import importlib.util
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
# Examples read TINYGRAD_SM_QUICK=1 (or --quick) for a small setting, so this stays fast.
QUICK_ENV = {**os.environ, "TINYGRAD_SM_QUICK": "1"}


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs(script):
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True,
                          timeout=300, env=QUICK_ENV)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_quickstart_learns_the_spiral():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import quickstart
    finally:
        sys.path.pop(0)
    assert quickstart.train(steps=600) > 0.9


def test_cross_entropy_is_log_softmax_plus_nll():
    ex = load_example("logsoftmax_nll_equals_cross_entropy")
    results = ex.compare(n=16, c=7, seed=3)
    for name, r in results.items():
        assert r["loss_error"] < 1e-12 and r["grad_error"] < 1e-15, name
    assert results["cross_entropy (fused)"]["gates"] == 1
    assert results["log_softmax + nll_loss"]["gates"] == 2
    big = ex.compare(n=16, c=7, scale=1000.0, seed=3)
    assert math.isnan(big["primitive ops"]["loss"])  # the naive chain overflows ...
    for name in ("log_softmax + nll_loss", "cross_entropy (fused)"):  # ... the stable ones do not
        assert big[name]["loss_error"] <= 1e-12 * big[name]["loss"] and big[name]["grad_error"] < 1e-15


def test_gradient_check_by_hand():
    ex = load_example("gradient_check_by_hand")
    rng = np.random.default_rng(0)
    from tinygrad_sm import Tensor
    x = Tensor(rng.normal(size=(3, 2)), requires_grad=True)
    (num,) = ex.numerical(lambda: (x * x * x).sum(), [x], 1e-5)
    # central differences of x**3 are off by exactly h**2 (the x**3 term), plus rounding
    np.testing.assert_allclose(num, 3 * x.numpy() ** 2, rtol=0, atol=2e-10)

    steps = [1e-1, 1e-3, 1e-5, 1e-7, 1e-9]
    table = ex.sweep(steps)
    f64, one_sided, f32 = (np.array(table[k]) for k in ("float64 central", "float64 one-sided", "float32 central"))
    assert f64.min() < 1e-8  # float64 central differences confirm backprop
    assert one_sided.min() > 10 * f64.min()  # one-sided differences are less accurate
    assert f32.min() > 100 * f64.min()  # float32 cannot check as tightly ...
    assert f32[steps.index(1e-7)] > 100 * f32.min()  # ... and blows up as h shrinks
    assert ex.catch_the_bug() > 1e-2  # a wrong backward is caught


def test_softmax_regression_primitive_and_fused_agree_and_learn():
    ex = load_example("softmax_regression_from_scratch")
    data = ex.load(quick=True)
    X, y = data[0][:64], data[1][:64]
    diff = ex.compare_gradients(X, y)
    assert diff["loss"] < 1e-12 and diff["dW"] < 1e-14 * max(1.0, diff["dW scale"]) and diff["db"] < 1e-14
    assert ex.gates_after_scores(ex.cross_entropy_fused) == 1
    assert ex.gates_after_scores(ex.cross_entropy_from_primitives) > 1
    accs, _ = ex.train(ex.cross_entropy_fused, data, epochs=1)
    assert accs[0] > 0.7  # 1,000 digits, one epoch: far above the 10% of guessing


def test_svm_stops_learning_from_satisfied_margins_softmax_never_does():
    ex = load_example("svm_vs_softmax")
    svm, acc_svm = ex.train("svm", epochs=1)
    soft, acc_soft = ex.train("softmax", epochs=1)
    assert acc_svm > 0.8 and acc_soft > 0.8
    assert ex.still_learning(svm, "svm") < 0.5
    assert ex.still_learning(soft, "softmax") == 1.0


def test_mlp_example_learns():
    assert load_example("mlp_mnist").main(epochs=1) > 0.85


def test_the_cnn_example_learns_and_its_hooks_see_every_step():
    ex = load_example("cnn_mnist")
    r = ex.main(epochs=1)
    assert r["accuracy"] > 0.85  # (one epoch on 4,000 digits; chance is 0.1)
    steps = -(-4000 // 64)
    assert len(r["grad_norms"]) == steps and all(np.isfinite(r["grad_norms"]))
    assert set(r["active"]) == {"2", "6"}  # (the two ReLUs, seen at every training step, not in evaluation)
    assert all(len(v) == steps and 0 < min(v) <= max(v) < 1 for v in r["active"].values())
    assert set(r["upstream"]) == {"0", "4", "10"}  # (the backward hooks: two convolutions and the linear layer)
    assert all(len(v) == steps and np.isfinite(v).all() and min(v) > 0 for v in r["upstream"].values())


def test_the_autoencoder_reconstructs_better_than_the_mean_image():
    ex = load_example("autoencoder_mnist")
    r = ex.main(epochs=1)  # (the 4,000 images of the embedded sample: 63 steps)
    assert r["losses"][-1] < 0.5 * r["baseline"]
    assert ex.make_model()(__import__("tinygrad_sm").zeros(2, 784)).shape == (2, 784)


def test_the_lstm_reads_digits_row_by_row_and_its_gradient_reaches_the_first_rows():
    ex = load_example("lstm_mnist_rows")
    r = ex.main(epochs=1)
    assert r["accuracies"][-1] > 0.5  # (one epoch of the embedded sample; chance is 0.1)
    assert r["reach"][0] > 0.05 * r["reach"].max()  # (the first row still moves the loss)
