"""The main job end to end: `tinygrad-sm train` / `eval` on the embedded sample, resume, divergence."""
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_sm as ts
from tinygrad_sm import cli
from tinygrad_sm import train as T


def run_cli(*args, capsys):
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_writes_checkpoint_metrics_and_curves(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli("train", "--model", "softmax", "--epochs", "2", "--batch-size", "128",
                              "--lr", "0.1", "--out", str(out), capsys=capsys)
    assert code == 0, stdout
    assert "softmax 784-10 on mnist-sample (4000 train / 1000 test)" in stdout
    assert "epoch   2/2" in stdout and "test acc" in stdout and "done in" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok" and len(metrics["history"]) == 2
    assert metrics["history"][-1]["test_accuracy"] > 0.80  # softmax regression learns the digits
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss,train_accuracy")
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    ck = ts.load(out / "checkpoint.npz")
    assert ck["epoch"] == 2 and ck["sizes"] == [784, 10] and ck["config"]["model"] == "softmax"


def test_curves_are_skipped_with_a_message_without_matplotlib(tmp_path, capsys, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure"):  # importing them now fails
        monkeypatch.setitem(sys.modules, name, None)
    code, stdout, _ = run_cli("train", "--model", "softmax", "--epochs", "1", "--out", str(tmp_path),
                              capsys=capsys)
    assert code == 0
    assert "curves.png skipped: matplotlib is not installed" in stdout
    assert not (tmp_path / "curves.png").exists() and (tmp_path / "metrics.json").exists()


def test_resume_continues_exactly(tmp_path, capsys):
    args = ["--model", "mlp", "--hidden", "32", "--batch-size", "256", "--lr", "0.05", "--seed", "3"]
    assert run_cli("train", *args, "--epochs", "2", "--out", str(tmp_path / "a"), capsys=capsys)[0] == 0
    assert run_cli("train", *args, "--epochs", "1", "--out", str(tmp_path / "b"), capsys=capsys)[0] == 0
    code, stdout, _ = run_cli("train", "--epochs", "2", "--resume", str(tmp_path / "b" / "checkpoint.npz"),
                              "--out", str(tmp_path / "b"), capsys=capsys)
    assert code == 0 and "epochs 2..2" in stdout
    a, b = ts.load(tmp_path / "a" / "checkpoint.npz"), ts.load(tmp_path / "b" / "checkpoint.npz")
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])
    assert [h["test_accuracy"] for h in a["history"]] == [h["test_accuracy"] for h in b["history"]]


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_a_schedule_over_the_run_follows_its_formula_and_resumes_exactly(schedule, tmp_path, capsys):
    """cosine and onecycle are shaped by the run's length, fixed when it starts: a run stopped
    after one of its three epochs and resumed ends where the uninterrupted run does; a resume
    past the schedule's end is refused."""
    args = ["--model", "softmax", "--batch-size", "500", "--lr", "0.1", "--lr-schedule", schedule, "--no-progress"]
    code, stdout, _ = run_cli("train", *args, "--epochs", "3", "--out", str(tmp_path / "a"), capsys=capsys)
    assert code == 0 and f"({schedule} over 3 epochs)" in stdout
    stopped = T.TrainConfig(model="softmax", batch_size=500, lr=0.1, lr_schedule=schedule, epochs=1,
                            schedule_epochs=3)  # (what a run of 3 epochs, interrupted after 1, holds)
    T.fit(stopped, out=str(tmp_path / "b"), progress=False, stream=io.StringIO())
    resumed = str(tmp_path / "b" / "checkpoint.npz")
    code, stdout, _ = run_cli("train", "--resume", resumed, "--epochs", "3", "--no-progress", capsys=capsys)
    assert code == 0 and "epochs 2..3" in stdout
    a, b = ts.load(tmp_path / "a" / "checkpoint.npz"), ts.load(resumed)
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])
    lrs = [h["lr"] for h in a["history"]]
    assert lrs == [h["lr"] for h in b["history"]]
    if schedule == "cosine":  # once an epoch: 0.1 (1 + cos(pi t / 3)) / 2
        assert lrs == pytest.approx([0.1 * (1 + np.cos(np.pi * t / 3)) / 2 for t in range(3)], rel=1e-12)
    else:  # once a batch, 8 a epoch (4000 samples): the lr at steps 0, 8 and 16 of 24
        opt = ts.optim.SGD([ts.zeros(1, requires_grad=True)], lr=0.1)
        ref = ts.optim.OneCycleLR(opt, max_lr=0.1, total_steps=24, cycle_momentum=False)
        want = []
        for step in range(24):
            if step % 8 == 0:
                want.append(opt.param_groups[0]["lr"])
            ref.step()
        assert lrs == pytest.approx(want, rel=1e-12) and lrs[0] == pytest.approx(0.1 / 25)
    code, _, err = run_cli("train", "--resume", resumed, "--epochs", "5", capsys=capsys)
    assert code == 2 and f"its {schedule} schedule spans 3 epochs" in err and "give --epochs 3 or less" in err


@pytest.mark.parametrize("schedule, extra", [("constant", []), ("step", ["--lr-step", "1", "--lr-gamma", "0.5"]),
                                             ("cosine", [])])
def test_a_warm_up_goes_before_the_schedule_and_resumes_exactly(schedule, extra, tmp_path, capsys):
    """--warmup 2: lr/3 and 2 lr/3 in the first two epochs, then the schedule from lr (cosine over
    the rest of the run); a run stopped inside the warm-up and resumed ends as the whole one."""
    args = ["--model", "softmax", "--batch-size", "500", "--lr", "0.3", "--lr-schedule", schedule, *extra,
            "--warmup", "2", "--no-progress"]
    code, stdout, _ = run_cli("train", *args, "--epochs", "5", "--out", str(tmp_path / "a"), capsys=capsys)
    assert code == 0 and {"constant": "(2 warm-up epochs)", "step": "(2 warm-up epochs, then x0.5 every 1 epochs)",
                          "cosine": "(2 warm-up epochs, then cosine over the remaining 3 epochs)"}[schedule] in stdout
    lrs = [h["lr"] for h in ts.load(tmp_path / "a" / "checkpoint.npz")["history"]]
    after = {"constant": [0.3, 0.3, 0.3], "step": [0.3, 0.15, 0.075],
             "cosine": [0.3 * (1 + np.cos(np.pi * t / 3)) / 2 for t in range(3)]}[schedule]
    assert lrs == pytest.approx([0.1, 0.2] + after, rel=1e-12)
    stopped = T.TrainConfig(model="softmax", batch_size=500, lr=0.3, lr_schedule=schedule, warmup=2, epochs=1,
                            lr_step=1 if extra else 0, lr_gamma=0.5 if extra else 0.1,
                            schedule_epochs=5 if schedule == "cosine" else None)  # (a 5-epoch run stopped after 1)
    T.fit(stopped, out=str(tmp_path / "b"), progress=False, stream=io.StringIO())
    resumed = str(tmp_path / "b" / "checkpoint.npz")
    assert run_cli("train", "--resume", resumed, "--epochs", "5", "--no-progress", capsys=capsys)[0] == 0
    a, b = ts.load(tmp_path / "a" / "checkpoint.npz"), ts.load(resumed)
    assert [h["lr"] for h in b["history"]] == lrs
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_a_warm_up_as_long_as_the_run_is_all_of_it_and_says_so(schedule, tmp_path, capsys):
    """(A sweep may draw one: the run is a warm-up alone, not an error.)"""
    code, stdout, _ = run_cli("train", "--model", "softmax", "--batch-size", "500", "--lr", "0.4", "--epochs", "2",
                              "--warmup", "3", "--lr-schedule", schedule, "--no-progress", "--out", str(tmp_path),
                              capsys=capsys)
    assert code == 0 and "(3 warm-up epochs: the whole run, the lr never reaches 0.4)" in stdout
    assert [h["lr"] for h in ts.load(tmp_path / "checkpoint.npz")["history"]] == pytest.approx([0.1, 0.2], rel=1e-12)


def test_the_cnn_learns_the_digits_resumes_exactly_and_evaluates(tmp_path, capsys):
    args = ["--model", "cnn", "--hidden", "4,8", "--batch-size", "128", "--lr", "0.05", "--seed", "1"]
    assert run_cli("train", *args, "--epochs", "2", "--dropout", "0.1", "--out", str(tmp_path / "a"),
                   capsys=capsys)[0] == 0
    assert run_cli("train", *args, "--epochs", "1", "--dropout", "0.1", "--out", str(tmp_path / "b"),
                   capsys=capsys)[0] == 0
    code, stdout, _ = run_cli("train", "--epochs", "2", "--resume", str(tmp_path / "b" / "checkpoint.npz"),
                              capsys=capsys)
    assert code == 0 and "cnn 784-4-8-10" in stdout
    a, b = ts.load(tmp_path / "a" / "checkpoint.npz"), ts.load(tmp_path / "b" / "checkpoint.npz")
    assert list(a["model"]) == ["1.weight", "1.bias", "4.weight", "4.bias", "9.weight", "9.bias"]
    assert a["model"]["1.weight"].shape == (4, 1, 5, 5) and a["model"]["9.weight"].shape == (10, 8 * 7 * 7)
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])
    assert a["history"][-1]["test_accuracy"] > 0.85  # (two epochs of 4000 digits; chance is 0.1)
    code, stdout, _ = run_cli("eval", "--checkpoint", str(tmp_path / "a" / "checkpoint.npz"), capsys=capsys)
    assert code == 0 and f"{100 * a['history'][-1]['test_accuracy']:.2f}%" in stdout


def test_dropout_trains_differently_repeats_with_its_seed_and_resumes_exactly(tmp_path, capsys):
    args = ["--model", "mlp", "--hidden", "32", "--batch-size", "256", "--lr", "0.05", "--seed", "3"]
    for name, extra, epochs in (("plain", [], 2), ("a", ["--dropout", "0.3"], 2), ("again", ["--dropout", "0.3"], 2),
                                ("b", ["--dropout", "0.3"], 1)):
        code, stdout, _ = run_cli("train", *args, *extra, "--epochs", str(epochs), "--out", str(tmp_path / name),
                                  capsys=capsys)
        assert code == 0 and ("dropout=0.3" in stdout) == bool(extra)
    code, stdout, _ = run_cli("train", "--epochs", "2", "--resume", str(tmp_path / "b" / "checkpoint.npz"),
                              capsys=capsys)
    assert code == 0 and "epochs 2..2" in stdout and "dropout=0.3" in stdout
    runs = {k: ts.load(tmp_path / k / "checkpoint.npz") for k in ("plain", "a", "again", "b")}
    assert list(runs["a"]["model"]) == ["0.weight", "0.bias", "3.weight", "3.bias"]  # (Linear ReLU Dropout Linear)
    for k in runs["a"]["model"]:
        np.testing.assert_array_equal(runs["a"]["model"][k], runs["again"]["model"][k])
        np.testing.assert_array_equal(runs["a"]["model"][k], runs["b"]["model"][k])
    assert not np.array_equal(runs["a"]["model"]["0.weight"], runs["plain"]["model"]["0.weight"])
    # evaluation runs with dropout off: eval of the checkpoint gives the accuracy training recorded
    trained = runs["a"]["history"][-1]["test_accuracy"]
    code, stdout, _ = run_cli("eval", "--checkpoint", str(tmp_path / "a" / "checkpoint.npz"), capsys=capsys)
    assert code == 0 and f"accuracy {100 * trained:.2f}%" in stdout


def test_eval_prints_accuracy_and_confusion_matrix(tmp_path, capsys):
    assert run_cli("train", "--model", "svm", "--epochs", "1", "--out", str(tmp_path), capsys=capsys)[0] == 0
    trained = json.loads((tmp_path / "metrics.json").read_text())["history"][-1]["test_accuracy"]
    code, stdout, _ = run_cli("eval", "--checkpoint", str(tmp_path / "checkpoint.npz"), capsys=capsys)
    assert code == 0
    assert f"accuracy {100 * trained:.2f}%" in stdout
    rows = [l for l in stdout.splitlines() if l[:2].strip().isdigit()]
    assert len(rows) == 10
    assert all(len(r.split()) == 12 for r in rows)  # the class (digits are not named twice), 10 counts, recall
    counts = [[int(v) for v in r.split()[1:11]] for r in rows]
    assert sum(map(sum, counts)) == 1000 and all(sum(r) == 100 for r in counts)  # 100 test digits a class


def test_logits_that_overflow_are_a_divergence_not_bad_data(tmp_path, capsys):
    code, _, err = run_cli("train", "--model", "mlp", "--hidden", "8", "--lr", "1e20", "--epochs", "2",
                           "--batch-size", "100", "--out", str(tmp_path), capsys=capsys)
    assert code == 3 and "training diverged at step" in err
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "diverged"


def test_divergence_stops_with_step_and_tensor_named(tmp_path, capsys):
    # The seeds' lab report: a large L2 coefficient makes W *= (1 - 2 lr reg) < -1 each step: NaN.
    code, stdout, err = run_cli("train", "--model", "softmax", "--lr", "1", "--reg", "1000", "--epochs", "2",
                                "--out", str(tmp_path), capsys=capsys)
    assert code == 3
    assert "training diverged at step" in err and "(epoch 1, batch" in err
    assert "0.weight" in err  # the tensor that went non-finite is named
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "diverged"


@pytest.mark.parametrize("args, match", [
    (["--dataset", "cifar"], "unknown dataset"),
    (["--epochs", "0"], "epochs must be >= 1"),
    (["--lr", "nan"], "lr must be a finite number"),
    (["--resume", "/nonexistent/ck.npz"], "does not exist"),
    (["--seed", "-1"], "seed must be an integer >= 0"),
    (["--lr-step", "-2"], "lr_step must be an integer >= 0"),
    (["--hidden", "abc"], "--hidden takes sizes like 512,128"),
    (["--hidden", ","], "needs at least one hidden size"),
    (["--model", "softmax", "--hidden", "64"], "the softmax model is one linear layer"),
    (["--model", "svm", "--hidden", "64,32"], "the svm model is one linear layer"),
    (["--dropout", "1"], "dropout must be a number in [0, 1), got 1.0"),
    (["--dropout", "nan"], "dropout must be a number in [0, 1)"),
    (["--model", "softmax", "--dropout", "0.2"], "dropout drops hidden units, and the softmax model is one"),
    (["--model", "cnn", "--hidden", ","], "needs at least one convolution block's channels"),
    (["--model", "cnn", "--hidden", "2,2,2,2,2,2"], "6 blocks halve a 28-pixel image to nothing"),
    (["--lr-schedule", "step"], "the step schedule needs lr_step (--lr-step N"),
    (["--lr-schedule", "cosine", "--lr-step", "2"], "lr_step (--lr-step) is for the step schedule, not cosine"),
    (["--lr-schedule", "onecycle", "--warmup", "2"], "the onecycle schedule warms up by itself"),
    (["--warmup", "-1"], "warmup must be an integer >= 0, got -1"),
])
def test_bad_options_give_a_clear_error_and_no_traceback(args, match, tmp_path, capsys):
    code, _, err = run_cli("train", *args, "--out", str(tmp_path / "new"), capsys=capsys)
    assert code == 2
    assert "error:" in err and "Traceback" not in err
    assert match.lower() in err.lower()
    assert not (tmp_path / "new").exists()  # checked before anything is written


def test_a_one_layer_run_saved_with_hidden_sizes_still_loads(tmp_path, capsys):
    """Before hidden sizes were refused for softmax and svm, such a run saved them (unused)."""
    assert run_cli("train", "--model", "softmax", "--epochs", "1", "--out", str(tmp_path), capsys=capsys)[0] == 0
    path = tmp_path / "checkpoint.npz"
    state = ts.load(path)
    state["config"]["hidden"] = [64]
    ts.save(state, path)
    with pytest.raises(ValueError, match="one linear layer"):
        T.TrainConfig(model="softmax", hidden=[64]).check()
    _, cfg = T.load_run(str(path))
    assert cfg.model == "softmax" and cfg.hidden is None
    assert run_cli("eval", "--checkpoint", str(path), capsys=capsys)[0] == 0


def test_resume_goes_on_in_the_checkpoints_directory_with_its_settings(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("train", "--model", "softmax", "--epochs", "1", "--out", "sm", capsys=capsys)[0] == 0
    assert run_cli("train", "--hidden", "16", "--epochs", "1", capsys=capsys)[0] == 0  # runs/mlp-mnist-sample
    other = (tmp_path / "runs" / "mlp-mnist-sample" / "checkpoint.npz").read_bytes()
    code, stdout, err = run_cli("train", "--resume", "sm/checkpoint.npz", "--epochs", "2", "--lr", "0.5",
                                "--batch-size", "32", capsys=capsys)
    assert code == 0 and "wrote checkpoint.npz" in stdout and "to sm/" in stdout
    assert "ignoring --batch-size, --lr" in err  # said, not silently dropped
    assert ts.load("sm/checkpoint.npz")["epoch"] == 2
    d = T.TrainConfig()  # options given at their default values are ignored all the same: said too
    code, _, err = run_cli("train", "--resume", "sm/checkpoint.npz", "--model", d.model, "--lr", str(d.lr),
                           "--dataset", d.dataset, capsys=capsys)
    assert code == 0 and "ignoring --model, --dataset, --lr" in err
    assert (tmp_path / "runs" / "mlp-mnist-sample" / "checkpoint.npz").read_bytes() == other
    monkeypatch.chdir(tmp_path / "sm")  # a checkpoint in the current directory: "."
    assert run_cli("train", "--resume", "checkpoint.npz", "--epochs", "3", capsys=capsys)[0] == 0
    assert ts.load("checkpoint.npz")["epoch"] == 3


def write_mnist_files(root, labels_of_split=None, n=(300, 100)):
    """Fake MNIST IDX files under root/mnist (labels 0..9 unless given)."""
    import gzip
    import struct
    d = root / "mnist"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, count, stem in (("train", n[0], "train"), ("test", n[1], "t10k")):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = (rng.integers(0, 10, count) if labels_of_split is None else
                  rng.choice(labels_of_split, count)).astype(np.uint8)
        for kind, arr, code in (("images-idx3", images, 0x08), ("labels-idx1", labels, 0x08)):
            head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
            (d / f"{stem}-{kind}-ubyte.gz").write_bytes(gzip.compress(head + arr.tobytes()))


def test_eval_reads_the_data_root_the_run_used_and_classes_come_from_the_dataset(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TINYGRAD_SM_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("TINYGRAD_SM_MNIST_MIRRORS", "http://127.0.0.1:9/")  # no download may succeed
    write_mnist_files(tmp_path / "data", labels_of_split=[1, 2, 3])
    out = tmp_path / "run"
    code, stdout, err = run_cli("train", "--model", "softmax", "--dataset", "mnist", "--data-root",
                                str(tmp_path / "data"), "--epochs", "1", "--out", str(out), capsys=capsys)
    assert code == 0, err
    assert "softmax 784-10 on mnist" in stdout  # 10 classes, though only 1, 2 and 3 occur
    code, stdout, err = run_cli("eval", "--checkpoint", str(out / "checkpoint.npz"), capsys=capsys)
    assert code == 0, err
    assert "on mnist test (100 samples)" in stdout


def test_eval_of_a_model_with_fewer_classes_than_the_data_says_so(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.random((64, 784), dtype=np.float32)
    y = rng.integers(0, 4, 64)
    cfg = T.TrainConfig(model="softmax", epochs=1)
    T.fit(cfg, out=str(tmp_path), splits=(T.Split(x, y, "train"), T.Split(x, y, "test")), progress=False,
          stream=open(os.devnull, "w"))
    assert ts.load(tmp_path / "checkpoint.npz")["sizes"] == [784, 4]
    code, _, err = run_cli("eval", "--checkpoint", str(tmp_path / "checkpoint.npz"), capsys=capsys)
    assert code == 2 and "the model tells 4 classes apart but mnist-sample has 10" in err


def test_an_empty_dataset_is_a_clear_error(tmp_path, capsys):
    write_mnist_files(tmp_path / "data", n=(0, 0))
    code, _, err = run_cli("train", "--dataset", "mnist", "--data-root", str(tmp_path / "data"),
                           "--out", str(tmp_path / "run"), capsys=capsys)
    assert code == 2 and "the train split of the dataset is empty" in err


def test_resuming_from_a_checkpoint_that_is_not_a_run_names_what_is_missing(tmp_path, capsys):
    ts.save({"config": T.TrainConfig().to_dict(), "sizes": [784, 10], "model": {}, "epoch": 1}, tmp_path / "ck.npz")
    code, _, err = run_cli("train", "--resume", str(tmp_path / "ck.npz"), capsys=capsys)
    assert code == 2 and "not of a training run to go on from (no optimizer)" in err


def test_python_dash_m_runs_the_cli(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tinygrad_sm", "train", "--model", "softmax", "--epochs", "1",
                        "--no-progress", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "test acc" in r.stdout and os.path.exists(tmp_path / "checkpoint.npz")


def test_same_hyperparameters_in_pytorch_reach_the_same_accuracy(torch):
    """Same initial weights, same batch order, same SGD: both frameworks end within 0.5 points."""
    cfg = T.TrainConfig(model="mlp", epochs=2, batch_size=64, lr=0.05, momentum=0.9, seed=0)
    train, test = T.load_splits(cfg)
    run = T.fit(cfg, stream=open(os.devnull, "w"), progress=False, splits=(train, test))
    ours = run.history[-1]["test_accuracy"]

    init = T.build_model("mlp", [784, 256, 10], cfg.seed)  # the same initial weights fit() started from
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    with torch.no_grad():
        for q, p in zip(net.parameters(), init.parameters()):
            q.copy_(torch.from_numpy(p.data))
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    for epoch in range(cfg.epochs):
        order = torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(len(train.y)))
        for b in range(0, len(order), cfg.batch_size):
            idx = order[b:b + cfg.batch_size]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    with torch.no_grad():
        theirs = (net(torch.from_numpy(test.x)).argmax(1).numpy() == test.y).mean()
    assert abs(ours - theirs) <= 0.005, (ours, theirs)
    assert ours > 0.85


def test_ctrl_c_keeps_the_last_epoch_and_says_how_to_go_on(tmp_path, capsys, monkeypatch):
    real, calls = T._step, []

    def step(*args, **kw):  # stop at the 70th batch (63 batches an epoch): in epoch 2
        calls.append(1)
        if len(calls) == 70:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(T, "_step", step)
    code, _, err = run_cli("train", "--model", "softmax", "--epochs", "3", "--out", str(tmp_path), capsys=capsys)
    assert code == 130 and "Traceback" not in err
    assert "interrupted after epoch 1" in err and f"--resume {tmp_path / 'checkpoint.npz'}" in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and [h["epoch"] for h in metrics["history"]] == [1]
    assert ts.load(tmp_path / "checkpoint.npz")["epoch"] == 1
    calls[:] = [1] * 68  # the next run stops at its second batch
    code, _, err = run_cli("train", "--model", "softmax", "--out", str(tmp_path / "first"), capsys=capsys)
    assert code == 130 and "before an epoch of this run ended: no checkpoint was written" in err
    assert not (tmp_path / "first" / "checkpoint.npz").exists()
    calls[:] = [1] * 68  # resumed into another directory, stopped before its first epoch ends
    code, _, err = run_cli("train", "--resume", str(tmp_path / "checkpoint.npz"), "--epochs", "3",
                           "--out", str(tmp_path / "more"), capsys=capsys)
    assert code == 130 and "no checkpoint was written" in err and "--resume" not in err
    assert not (tmp_path / "more" / "checkpoint.npz").exists()
    metrics = json.loads((tmp_path / "more" / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1]  # what the checkpoint it went on from holds


def test_a_new_run_that_stops_before_its_first_checkpoint_takes_the_earlier_runs_files_away(
        tmp_path, capsys, monkeypatch):
    """The directory never holds one run's metrics beside another run's checkpoint (which
    --resume and eval would take for this run's); going on from its own checkpoint keeps it."""
    out = tmp_path / "run"
    assert run_cli("train", "--model", "softmax", "--epochs", "1", "--out", str(out), capsys=capsys)[0] == 0
    assert (out / "checkpoint.npz").exists() and (out / "metrics.csv").exists()
    code, _, err = run_cli("train", "--model", "mlp", "--hidden", "8", "--lr", "1e20", "--epochs", "2",
                           "--batch-size", "100", "--out", str(out), capsys=capsys)
    assert code == 3 and "diverged" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["history"] == [] and metrics["config"]["model"] == "mlp"
    assert sorted(os.listdir(out)) == ["metrics.json"]

    assert run_cli("train", "--model", "softmax", "--epochs", "1", "--out", str(out), capsys=capsys)[0] == 0
    saved = (out / "checkpoint.npz").read_bytes()
    monkeypatch.setattr(T, "_step", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt()))
    code, _, err = run_cli("train", "--resume", str(out / "checkpoint.npz"), "--epochs", "2", capsys=capsys)
    assert code == 130 and "no checkpoint was written" in err
    assert (out / "checkpoint.npz").read_bytes() == saved  # the run's own, which it went on from
    assert [h["epoch"] for h in json.loads((out / "metrics.json").read_text())["history"]] == [1]
    assert (out / "metrics.csv").exists()


def test_a_resumed_run_with_no_epoch_left_puts_its_checkpoint_beside_its_metrics(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("train", "--model", "softmax", "--epochs", "1", "--out", str(a), capsys=capsys)[0] == 0
    assert run_cli("train", "--model", "mlp", "--hidden", "8", "--epochs", "1", "--out", str(b), capsys=capsys)[0] == 0
    assert run_cli("train", "--resume", str(a / "checkpoint.npz"), "--epochs", "1", "--out", str(b),
                   capsys=capsys)[0] == 0
    metrics = json.loads((b / "metrics.json").read_text())
    ck = ts.load(b / "checkpoint.npz")
    assert metrics["config"]["model"] == ck["config"]["model"] == "softmax" and ck["epoch"] == 1
    for k, v in ts.load(a / "checkpoint.npz")["model"].items():
        np.testing.assert_array_equal(ck["model"][k], v)


def test_ctrl_c_while_setting_up_writes_nothing_and_says_so(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "load_splits", interrupted)
    code, _, err = run_cli("train", "--model", "softmax", "--out", str(tmp_path / "run"), capsys=capsys)
    assert code == 130 and "interrupted before training started: nothing was written" in err
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_resume_takes_a_new_data_root(tmp_path, capsys):
    write_mnist_files(tmp_path / "d1")
    write_mnist_files(tmp_path / "d2")
    args = ["--model", "softmax", "--dataset", "mnist", "--epochs", "1", "--out", str(tmp_path / "run")]
    assert run_cli("train", *args, "--data-root", str(tmp_path / "d1"), capsys=capsys)[0] == 0
    (tmp_path / "d1").rename(tmp_path / "gone")  # the data moved
    code, _, err = run_cli("train", "--resume", str(tmp_path / "run" / "checkpoint.npz"), "--epochs", "2",
                           "--data-root", str(tmp_path / "d2"), capsys=capsys)
    assert code == 0, err
    assert "ignoring" not in err
    assert ts.load(tmp_path / "run" / "checkpoint.npz")["config"]["data_root"] == str(tmp_path / "d2")


@pytest.mark.parametrize("command", ["eval", "resume"])
@pytest.mark.parametrize("damage, match", [
    ({"config": 5}, "config is damaged"),
    ({"config": {"epochs": "many"}}, "config is damaged"),
    ({"config": {"model": "softmax", "batch_size": 1.5}}, "batch_size must be an integer"),
    ({"config": {"model": "softmax", "lr": [1]}}, "lr must be a number"),
    ({"sizes": None}, "no sizes"),
    ({"sizes": 5}, "layer sizes are damaged"),
    ({"sizes": []}, "layer sizes are damaged"),
    ({"model": 5}, "model state is damaged"),
    ({"model": [1, 2]}, "model state is damaged"),
    ({"model": {"0.weight": np.zeros((10, 784)), "0.bias": np.zeros(10, bool)}}, "model state does not fit"),
    ({"model": {"0.weight": np.zeros((3, 3))}}, "model state does not fit"),
])
def test_a_damaged_run_checkpoint_is_a_one_line_error(tmp_path, capsys, command, damage, match):
    assert run_cli("train", "--model", "softmax", "--epochs", "1", "--out", str(tmp_path), capsys=capsys)[0] == 0
    state = dict(ts.load(tmp_path / "checkpoint.npz"))
    state.update({k: v for k, v in damage.items() if v is not None})
    for k in [k for k, v in damage.items() if v is None]:
        del state[k]
    ts.save(state, tmp_path / "bad.npz")
    args = (["eval", "--checkpoint"] if command == "eval" else ["train", "--resume"]) + [str(tmp_path / "bad.npz")]
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2 and match in err and "Traceback" not in err
    assert "error: '" not in err  # (no quotes around a KeyError's message)


def test_a_damaged_optimizer_state_is_a_one_line_error_on_resume(tmp_path, capsys):
    assert run_cli("train", "--model", "softmax", "--epochs", "1", "--out", str(tmp_path), capsys=capsys)[0] == 0
    for bad, match in ((5, "optimizer state is damaged"), ({"state": {}}, "optimizer state does not fit")):
        state = dict(ts.load(tmp_path / "checkpoint.npz"))
        state["optimizer"] = bad
        ts.save(state, tmp_path / "bad.npz")
        code, _, err = run_cli("train", "--resume", str(tmp_path / "bad.npz"), "--epochs", "2", capsys=capsys)
        assert code == 2 and match in err and "Traceback" not in err


def test_a_blow_up_on_an_epochs_last_step_is_a_divergence_and_takes_the_earlier_runs_files_away(
        tmp_path, capsys):
    """5,000 samples in one batch: the first step's update is the epoch's last, and the weights it
    leaves overflow first in the held-out evaluation (which used to report bad data, exit 2)."""
    assert run_cli("train", "--model", "softmax", "--epochs", "1", "--out", str(tmp_path), capsys=capsys)[0] == 0
    code, _, err = run_cli("train", "--model", "softmax", "--batch-size", "5000", "--lr", "1e38", "--epochs", "2",
                           "--out", str(tmp_path), capsys=capsys)
    assert code == 3, err
    assert "training diverged at step 1 (epoch 1, batch 1): its update left the model" in err
    assert "RuntimeWarning" not in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["config"]["lr"] == 1e38
    assert not (tmp_path / "checkpoint.npz").exists()  # the earlier run's, which is not this run's


def test_the_metrics_follow_the_checkpoint_every_epoch(tmp_path, capsys, monkeypatch):
    """Whatever stops a run (a failed write here; SIGTERM, a crash), its directory never shows an
    earlier run's metrics beside this run's checkpoint: both are written after every epoch."""
    assert run_cli("train", "--model", "softmax", "--epochs", "1", "--out", str(tmp_path), capsys=capsys)[0] == 0
    real, calls = T.checkpoint.save, []

    def save(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise T.checkpoint.CheckpointError("disk full")
        return real(*args, **kw)

    monkeypatch.setattr(T.checkpoint, "save", save)
    code, _, err = run_cli("train", "--model", "mlp", "--hidden", "16", "--epochs", "3", "--out", str(tmp_path),
                           capsys=capsys)
    assert code == 2 and "disk full" in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    ck = ts.load(tmp_path / "checkpoint.npz")
    assert metrics["status"] == "running" and metrics["config"]["model"] == ck["config"]["model"] == "mlp"
    assert [h["epoch"] for h in metrics["history"]] == [1] and ck["epoch"] == 1
    assert not (tmp_path / "curves.png").exists()  # (the earlier run's)


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path, capsys, monkeypatch):
    import signal
    real, calls = T._step, []

    def step(*args, **kw):  # a scheduler's time limit in epoch 2 (63 batches an epoch)
        calls.append(1)
        if len(calls) == 70:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kw)

    monkeypatch.setattr(T, "_step", step)
    before = signal.getsignal(signal.SIGTERM)
    code, _, err = run_cli("train", "--model", "softmax", "--epochs", "3", "--out", str(tmp_path), capsys=capsys)
    assert code == 143 and "terminated after epoch 1" in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and [h["epoch"] for h in metrics["history"]] == [1]
    assert signal.getsignal(signal.SIGTERM) is before  # the handler was only there for the run


def test_resume_keeps_the_runs_own_total_and_refuses_fewer_epochs_than_it_holds(tmp_path, capsys):
    assert run_cli("train", "--model", "softmax", "--epochs", "2", "--out", str(tmp_path / "a"),
                   capsys=capsys)[0] == 0
    ck = str(tmp_path / "a" / "checkpoint.npz")
    code, _, err = run_cli("train", "--resume", ck, "--epochs", "1", "--out", str(tmp_path / "b"), capsys=capsys)
    assert code == 2 and "already holds 2 epochs, more than the 1 asked for; --epochs is the new total" in err
    assert not (tmp_path / "b" / "metrics.json").exists()
    code, stdout, _ = run_cli("train", "--resume", ck, "--out", str(tmp_path / "c"), capsys=capsys)
    assert code == 0 and "no epoch left to train (the checkpoint holds all 2)" in stdout
    assert json.loads((tmp_path / "c" / "metrics.json").read_text())["config"]["epochs"] == 2
    state = dict(ts.load(ck))
    state["config"] = {**state["config"], "epochs": 3}  # a run of 3 epochs stopped after 2
    ts.save(state, tmp_path / "stopped.npz")
    code, stdout, _ = run_cli("train", "--resume", str(tmp_path / "stopped.npz"), "--out", str(tmp_path / "d"),
                              capsys=capsys)
    assert code == 0 and "epochs 3..3" in stdout


def test_the_lr_column_is_the_rate_each_epoch_trained_with(tmp_path, capsys):
    assert run_cli("train", "--model", "softmax", "--epochs", "3", "--lr", "0.01", "--lr-step", "1",
                   "--lr-gamma", "0.5", "--out", str(tmp_path), capsys=capsys)[0] == 0
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    assert [h["lr"] for h in history] == [0.01, 0.005, 0.0025]


def test_eval_of_a_model_with_more_classes_than_the_dataset_names(tmp_path, capsys):
    x = np.random.default_rng(0).random((60, 784)).astype(np.float32)
    y = np.arange(60) % 12
    T.fit(T.TrainConfig(model="softmax", epochs=1), out=str(tmp_path), progress=False,
          splits=(T.Split(x, y, "train"), T.Split(x, y, "test")), stream=open(os.devnull, "w"))
    code, stdout, err = run_cli("eval", "--checkpoint", str(tmp_path / "checkpoint.npz"), capsys=capsys)
    assert code == 0, err
    rows = [l for l in stdout.splitlines() if l[:2].strip().isdigit()]
    assert len(rows) == 12 and rows[11].split()[0] == "11"


def test_drawing_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    """fit() in a notebook must not switch pyplot to Agg (plt.show() would then show nothing)."""
    mpl = pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install \"tinygrad-sm[plot]\")")
    import matplotlib.pyplot as plt
    from tinygrad_sm.viz import weight_templates
    before = mpl.get_backend()
    plt.switch_backend("svg")
    try:
        history = [{"epoch": e, "train_loss": 1.0 / e, "test_loss": 1.2 / e, "train_accuracy": 0.5,
                    "test_accuracy": 0.4} for e in (1, 2)]
        assert T.plot_curves(history, str(tmp_path / "c.png"))
        weight_templates(np.ones((2, 784)), tmp_path / "w.png")
        assert mpl.get_backend() == "svg"
        assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "w.png").stat().st_size
    finally:
        plt.switch_backend(before)


def test_out_that_is_a_file_and_a_relative_data_root(tmp_path, capsys, monkeypatch):
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli("train", "--model", "softmax", "--epochs", "1", "--out", str(tmp_path / "afile"),
                           capsys=capsys)
    assert code == 2 and "is a file; give --out a directory" in err
    write_mnist_files(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    assert run_cli("train", "--model", "softmax", "--dataset", "mnist", "--data-root", "d", "--epochs", "1",
                   "--out", "run", capsys=capsys)[0] == 0
    assert ts.load(tmp_path / "run" / "checkpoint.npz")["config"]["data_root"] == str(tmp_path / "d")
    monkeypatch.chdir(tmp_path / "run")  # eval from elsewhere still finds the data
    code, _, err = run_cli("eval", "--checkpoint", "checkpoint.npz", capsys=capsys)
    assert code == 0, err


def test_ctrl_c_while_the_last_curves_are_drawn_is_an_interrupt_after_the_last_epoch(
        tmp_path, capsys, monkeypatch):
    """The final write (metrics and curves.png) used to run outside the interrupt handling: the
    message said nothing was written, beside a checkpoint holding every epoch."""
    real, calls = T.plot_curves, []

    def interrupted_once(*args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(T, "plot_curves", interrupted_once)
    code, _, err = run_cli("train", "--model", "softmax", "--epochs", "2", "--out", str(tmp_path), capsys=capsys)
    assert code == 130 and "interrupted after epoch 2" in err and "nothing was written" not in err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert ts.load(tmp_path / "checkpoint.npz")["epoch"] == 2


def test_a_diverged_run_records_its_seconds(tmp_path, capsys):
    code, _, err = run_cli("train", "--model", "mlp", "--hidden", "8", "--lr", "1e20", "--epochs", "2",
                           "--batch-size", "100", "--out", str(tmp_path), capsys=capsys)
    assert code == 3 and "diverged" in err
    seconds = json.loads((tmp_path / "metrics.json").read_text())["seconds"]
    assert isinstance(seconds, float) and seconds > 0
