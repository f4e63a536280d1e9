"""`tinygrad-sm sweep`: the search space, honest selection, failures, resume, and the same trial
results sequentially, in local processes and on a Dask LocalCluster (also with a worker killed)."""
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tinygrad_sm import sweep as S
from tinygrad_sm.data import IDXError
from tinygrad_sm import train as T
from tinygrad_sm.sweep import run as sweep_run

THREADS_1 = {k: "1" for k in S.THREAD_VARS}
# Three random trials of a small MLP on the embedded sample: lr and reg log-uniform.
SMALL = ["--model", "mlp", "--hidden", "16", "--epochs", "1", "--batch-size", "64", "--lr", "0.01:0.3",
         "--reg", "1e-5:1e-2", "--trials", "3", "--seed", "5", "--threads", "1", "--no-progress"]


def records(out, fmt="jsonl"):
    """The trials file's records in trial order (the file is in the order trials finished)."""
    return sorted(S.TrialLog(str(out), fmt, 1, []).read(), key=lambda r: r["trial"])


def comparable(rec):
    """A trial's result without what legitimately differs between runs (time, place)."""
    hist = [{k: v for k, v in h.items() if k != "seconds"} for h in rec["history"]]
    return rec["trial"], rec["status"], rec["key"], rec.get("params"), hist


def without_params(rec):  # a CSV row has the configuration in columns, not the params dict
    trial, status, key, _, hist = comparable(rec)
    return trial, status, key, hist


# -- the search space -----------------------------------------------------------------------------------
def test_integer_ranges_draw_every_integer_equally_often_ends_included():
    """Rounding a uniform draw gave 1 and 3 of 1:3 half the weight of 2; each integer now owns
    a whole unit (and log ranges a whole unit in log space)."""
    rng = np.random.default_rng(0)
    draws = [S.Range("epochs", 1.0, 3.0, log=False, integer=True).sample(rng) for _ in range(30000)]
    counts = np.bincount(draws)[1:]
    assert counts.sum() == 30000 and all(type(d) is int for d in draws[:10])
    assert np.all(np.abs(counts / 30000 - 1 / 3) < 0.015), counts
    logs = [S.Range("batch_size", 1.0, 3.0, log=True, integer=True).sample(rng) for _ in range(30000)]
    want = np.log([2 / 1, 3 / 2, 4 / 3]) / np.log(4)  # P(k) = log((k + 1) / k) / log(high + 1)
    assert np.all(np.abs(np.bincount(logs)[1:] / 30000 - want) < 0.015)
    with pytest.raises(S.SweepError, match="holds no integer"):
        S.Range("epochs", 1.2, 1.8, log=False, integer=True).sample(rng)


def test_hidden_sizes_apply_only_to_the_mlps_of_a_sweep():
    space = {"model": S.Choice(("softmax", "mlp")), "hidden": S.Choice(([64], [128]))}
    trials = S.SweepSpec(space).plan()
    assert [t.params for t in trials] == [{"model": "softmax"}, {"model": "mlp", "hidden": [64]},
                                          {"model": "mlp", "hidden": [128]}]
    assert trials[0].config["hidden"] is None and [t.id for t in trials] == [0, 1, 2]
    with pytest.raises(S.SweepError, match="every trial here is a one-layer model"):
        S.SweepSpec({"model": S.Choice(("softmax", "svm")), "hidden": S.Choice(([64], [128]))}).plan()


def test_dropout_applies_only_to_the_mlps_of_a_sweep():
    space = {"model": S.Choice(("svm", "mlp")), "dropout": S.Choice((0.0, 0.5))}
    trials = S.SweepSpec(space).plan()
    assert [t.params for t in trials] == [{"model": "svm"}, {"model": "mlp", "dropout": 0.0},
                                          {"model": "mlp", "dropout": 0.5}]
    assert trials[0].config["dropout"] == 0.0 and trials[2].config["dropout"] == 0.5
    with pytest.raises(S.SweepError, match="--dropout sets the hidden layers"):
        S.SweepSpec({"model": S.Choice(("softmax",)), "dropout": S.Choice((0.2,))}).plan()
    assert S.parse_cli_dim("dropout", ["0:0.5:3"]).grid() == pytest.approx([0, 0.25, 0.5])  # (uniform)


def test_momentum_and_the_step_schedule_apply_only_to_their_own_trials():
    """SGD's momentum means nothing to Adam, and lr_step nothing to the cosine schedule: those
    trials leave them out, once each, so the step schedule can be compared with the others."""
    space = {"optimizer": S.Choice(("sgd", "adam")), "momentum": S.Choice((0.0, 0.9)),
             "lr_schedule": S.Choice(("step", "cosine")), "lr_step": S.Choice((1, 2))}
    trials = S.SweepSpec(space).plan()
    params = [t.params for t in trials]
    assert len(trials) == 2 * 3 + 3  # sgd: 2 momenta x (step x 2 + cosine); adam: step x 2 + cosine
    assert {"optimizer": "adam", "lr_schedule": "cosine"} in params
    assert {"optimizer": "sgd", "momentum": 0.9, "lr_schedule": "step", "lr_step": 2} in params
    cosine = next(t for t in trials if t.params == {"optimizer": "adam", "lr_schedule": "cosine"})
    assert cosine.config["lr_step"] == 0  # (the default: no step schedule to check it against)
    with pytest.raises(S.SweepError, match="--momentum sets SGD's momentum; every trial here is another optimizer's"):
        S.SweepSpec({"optimizer": S.Choice(("adam", "rmsprop")), "momentum": S.Choice((0.0, 0.9))}).plan()
    with pytest.raises(S.SweepError, match="--lr-step sets the step schedule; every trial here is on another"):
        S.SweepSpec({"lr_schedule": S.Choice(("cosine",)), "lr_step": S.Choice((2,))}).plan()
    with pytest.raises(S.SweepError, match="--lr-gamma sets the step schedule's decay; every trial here is without"):
        S.SweepSpec({"lr_gamma": S.Choice((0.1, 0.5))}).plan()
    stepped = S.SweepSpec({"lr_step": S.Choice((0, 2)), "lr_gamma": S.Choice((0.1, 0.5))}).plan()
    assert [t.params for t in stepped] == [{"lr_step": 0}, {"lr_step": 2, "lr_gamma": 0.1},
                                           {"lr_step": 2, "lr_gamma": 0.5}]


def test_command_line_values_ranges_and_grids():
    assert S.parse_cli_dim("lr", ["0.1", "0.01"]) == S.parse_cli_dim("lr", ["0.1,0.01"]) == S.Choice((0.1, 0.01))
    assert S.parse_cli_dim("hidden", ["64", "128,64"]) == S.Choice(([64], [128, 64]))
    assert S.parse_cli_dim("model", ["mlp", "svm"]) == S.Choice(("mlp", "svm"))
    assert S.parse_cli_dim("normalize", ["true", "false"]) == S.Choice((True, False))
    r = S.parse_cli_dim("lr", ["1e-3:1e-1"])
    assert r.log and r.num is None
    assert np.allclose(S.parse_cli_dim("lr", ["1e-3:1e-1:3"]).grid(), [1e-3, 1e-2, 1e-1])
    assert S.parse_cli_dim("momentum", ["0:0.9:4"]).grid() == pytest.approx([0, 0.3, 0.6, 0.9])  # linear
    assert S.parse_cli_dim("batch_size", ["32:128:3"]).grid() == [32, 80, 128]
    for name, tokens, message in [
            ("lr", ["0.1:0.01"], "low <= high"), ("lr", ["0:1"], "log-uniform range needs low > 0"),
            ("epochs", ["1.5"], "expected an integer"), ("model", ["mpl"], "unknown value 'mpl'"),
            ("hidden", ["64,x"], "hidden sizes like 128,64"), ("lr", ["1:2:3:4"], "LOW:HIGH or LOW:HIGH:POINTS")]:
        with pytest.raises(S.SweepError, match=message):
            S.parse_cli_dim(name, tokens)


def test_space_files_in_toml_and_json_say_the_same(tmp_path):
    (tmp_path / "s.toml").write_text('model = "mlp"\nlr = {low = 1e-3, high = 1e-1}\nmomentum = [0.0, 0.9]\n'
                                     'hidden = [[64], [128, 64]]\n'
                                     'weight-decay = {low = 0.0, high = 0.1, log = false}\n')
    (tmp_path / "s.json").write_text(json.dumps({"model": "mlp", "lr": {"low": 1e-3, "high": 1e-1},
                                                 "momentum": [0.0, 0.9], "hidden": [[64], [128, 64]],
                                                 "weight_decay": {"low": 0.0, "high": 0.1, "log": False}}))
    toml, js = S.load_space_file(str(tmp_path / "s.toml")), S.load_space_file(str(tmp_path / "s.json"))
    assert toml == js
    assert toml["lr"].log and not toml["weight_decay"].log and toml["hidden"] == S.Choice(([64], [128, 64]))
    (tmp_path / "bad.toml").write_text("learning_rate = 0.1\n")
    with pytest.raises(S.SweepError, match="'learning_rate' is not a train option"):
        S.load_space_file(str(tmp_path / "bad.toml"))


def test_random_search_is_seeded_log_uniform_and_extends_as_a_prefix():
    space = {"lr": S.Range("lr", 1e-4, 1e-1, log=True), "momentum": S.Choice((0.0, 0.9)),
             "hidden": S.Choice(([32],))}
    plan = S.SweepSpec(space, "random", trials=400, seed=1).plan()
    lrs = np.array([t.params["lr"] for t in plan])
    assert ((1e-4 <= lrs) & (lrs <= 1e-1)).all()
    # log-uniform: each decade gets about a third of the draws (uniform would put 90% in the last)
    per_decade = np.histogram(np.log10(lrs), bins=[-4, -3, -2, -1])[0] / len(lrs)
    assert np.all(np.abs(per_decade - 1 / 3) < 0.08), per_decade
    assert set(t.params["momentum"] for t in plan) == {0.0, 0.9} and "hidden" not in plan[0].params
    assert plan[0].config["hidden"] == [32] and plan[0].config["seed"] == 1 and plan[0].config["val_fraction"] == 0.1
    again = S.SweepSpec(space, "random", trials=10, seed=1).plan()
    assert [t.config for t in again] == [t.config for t in plan[:10]]  # more --trials keeps the first ones
    other = S.SweepSpec(space, "random", trials=10, seed=2).plan()
    assert [t.config for t in other] != [t.config for t in again]


def test_grid_is_every_combination_and_bad_configurations_stop_before_anything_runs():
    grid = S.SweepSpec({"lr": S.Choice((0.1, 0.01)), "reg": S.Range("reg", 1e-4, 1e-2, True, 3),
                        "model": S.Choice(("svm",))}, "grid").plan()
    assert len(grid) == 6 and len({t.key for t in grid}) == 6
    assert grid[0].params == {"lr": 0.1, "reg": pytest.approx(1e-4)} and grid[0].config["model"] == "svm"
    with pytest.raises(S.SweepError, match="grid search needs a number of points"):
        S.SweepSpec({"lr": S.Range("lr", 1e-3, 1e-1, True)}, "grid").plan()
    with pytest.raises(S.SweepError, match="trial 1 .*batch_size must be >= 1"):
        S.SweepSpec({"batch_size": S.Choice((8, 0))}, "grid").plan()
    with pytest.raises(S.SweepError, match="never on test"):
        S.SweepSpec({}, "grid", val_fraction=0.0).plan()


# -- running sweeps --------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the diverging trials
def test_diverging_and_raising_trials_are_recorded_and_the_sweep_goes_on(tmp_path, capsys, monkeypatch):
    # lr=100 with reg=10 makes softmax regression's loss overflow (diverged); the MLP at lr=100 is
    # made to raise as it starts (failed). The sweep records both and goes on.
    real = T.make_optimizer

    def make_optimizer(cfg, model):
        if cfg.model == "mlp" and cfg.lr == 100:
            raise RuntimeError("this trial was told to fail")
        return real(cfg, model)

    monkeypatch.setattr(T, "make_optimizer", make_optimizer)  # (trials run in this process)
    code = S.main(["--model", "softmax", "mlp", "--hidden", "16", "--epochs", "1", "--lr", "0.05", "100",
                   "--reg", "10", "--momentum", "0", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    recs = {(r["params"]["model"], r["params"]["lr"]): r for r in records(tmp_path)}
    assert len(recs) == 4
    assert recs[("softmax", 0.05)]["status"] == "ok" and recs[("mlp", 0.05)]["status"] == "ok"
    div, failed = recs[("softmax", 100)], recs[("mlp", 100)]
    assert div["status"] == "diverged" and "training diverged at step" in div["error"]
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: this trial was told to fail"
    assert "1 diverged, 1 failed" in out
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["trials"] == {"ok": 2, "diverged": 1, "failed": 1}
    ok = [r for r in recs.values() if r["status"] == "ok"]
    assert best["trial"] == max(ok, key=lambda r: r["val_accuracy"])["trial"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_runs_only_the_unfinished_trials(tmp_path, monkeypatch, fmt):
    args = ["--model", "softmax", "--epochs", "1", "--lr", "0.01", "0.05", "0.2", "--out", str(tmp_path),
            "--format", fmt, "--no-progress"]
    assert S.main(args) == 0
    full = records(tmp_path, fmt)
    path = tmp_path / f"trials.{fmt}"
    lines = path.read_text().splitlines(keepends=True)
    keep = 2 if fmt == "csv" else 1  # the header and trial 0, then half of the next line: a crash mid-write
    path.write_text("".join(lines[:keep]) + lines[keep][:25])
    calls = []
    real = S.run_trial
    # run_sweep looks run_trial up in its own module, tinygrad_sm.sweep.run
    monkeypatch.setattr(sweep_run, "run_trial", lambda t, job: calls.append(t["id"]) or real(t, job))
    assert S.main(args) == 2  # without --resume an existing sweep is not overwritten
    assert S.main(args + ["--resume"]) == 0
    assert sorted(calls) == [1, 2]
    again = records(tmp_path, fmt)
    assert [r["trial"] for r in again] == [0, 1, 2]
    assert [without_params(r) for r in again] == [without_params(r) for r in full]
    # a resumed sweep must be the same sweep
    assert S.main(args[:4] + ["0.3"] + args[6:] + ["--resume"]) == 2


def test_a_resumed_csv_sweep_whose_new_trials_train_longer_widens_the_header(tmp_path):
    """The first run's header had columns for 1 epoch; a resumed run's trials train 2. Every row
    must still read back under its own columns (before: epoch 2's numbers landed in `error`)."""
    def rec(trial, epochs):
        hist = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5, "val_loss": 2.0 / e,
                 "val_accuracy": 0.25 * e} for e in range(1, epochs + 1)]
        return {"trial": trial, "key": f"k{trial}", "status": "ok", "error": None, "val_accuracy": hist[-1]["val_accuracy"],
                "val_loss": hist[-1]["val_loss"], "seconds": 1.0, "worker": "w", "threads": 1,
                "config": {"epochs": epochs, "lr": 0.1}, "history": hist}

    S.TrialLog(str(tmp_path), "csv", 1, ["epochs", "lr"]).append(rec(0, 1))
    later = S.TrialLog(str(tmp_path), "csv", 2, ["epochs", "lr"])
    later.append(rec(1, 2))
    later.append(rec(2, 1))
    got = records(tmp_path, "csv")
    assert [(r["trial"], len(r["history"]), r["error"]) for r in got] == [(0, 1, None), (1, 2, None), (2, 1, None)]
    assert got[1]["history"][1]["val_accuracy"] == 0.5 and got[1]["history"][1]["train_loss"] == 0.5
    header = (tmp_path / "trials.csv").read_text().splitlines()[0].split(",")
    assert header[-1] == "error" and "val_accuracy_2" in header
    assert sorted(os.listdir(tmp_path)) == ["trials.csv"]  # (rewritten in place, nothing left beside it)


def test_the_test_set_is_read_once_after_the_search(tmp_path, monkeypatch):
    reads = []
    real = T.load_splits
    monkeypatch.setattr(T, "load_splits", lambda cfg: reads.append(cfg.val_fraction) or real(cfg))
    S._SPLITS.clear()
    assert S.main(["--model", "softmax", "--epochs", "1", "--lr", "0.02", "0.1", "--out", str(tmp_path),
                   "--no-progress"]) == 0
    assert reads == [0.1, 0.0]  # the validation split (cached for every trial), then test for the winner
    best = json.loads((tmp_path / "best.json").read_text())
    assert 0.5 < best["test"]["accuracy"] <= 1 and best["test"]["n"] == 1000
    assert "the test set was not read during the search" in best["selected_by"]


def test_a_test_split_that_fails_to_load_is_a_clean_error_and_resume_evaluates_again(tmp_path, monkeypatch,
                                                                                      capsys):
    """evaluate_on_test raising (a damaged test file) went past the executor as a traceback."""
    real = T.load_splits

    def no_test(cfg):
        if cfg.val_fraction == 0.0:
            raise IDXError("t10k-images-idx3-ubyte.gz: the file is shorter than its header says")
        return real(cfg)

    monkeypatch.setattr(T, "load_splits", no_test)
    S._SPLITS.clear()
    args = ["--model", "softmax", "--epochs", "1", "--lr", "0.02", "0.1", "--out", str(tmp_path), "--no-progress"]
    assert S.main(args) == 2
    err = capsys.readouterr().err
    assert "evaluating the winner, trial" in err and "shorter than its header says" in err
    assert "--resume" in err and "Traceback" not in err
    assert len(records(tmp_path)) == 2 and not (tmp_path / "best.json").exists()
    monkeypatch.setattr(T, "load_splits", real)  # the data fixed: --resume runs no trial, evaluates
    monkeypatch.setattr(sweep_run, "run_trial", lambda t, job: pytest.fail("a trial ran again"))
    assert S.main(args + ["--resume"]) == 0
    assert json.loads((tmp_path / "best.json").read_text())["test"]["n"] == 1000


def test_same_trial_results_sequentially_in_processes_and_on_dask(tmp_path):
    """A trial is a pure function of its configuration: with the same threads per trial, the three
    executors give bit-identical histories and the same winner and test accuracy."""
    seq = tmp_path / "seq"
    env = dict(os.environ, **THREADS_1)
    p = subprocess.run([sys.executable, "-m", "tinygrad_sm", "sweep", *SMALL, "--out", str(seq)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "sequential, in this process" in p.stdout
    runs = {"sequential": seq}
    assert S.main(SMALL + ["--workers", "2", "--out", str(tmp_path / "proc")]) == 0
    runs["processes"] = tmp_path / "proc"
    try:
        import distributed  # noqa: F401
    except ImportError:
        pass  # Dask is optional; CI installs it
    else:
        assert S.main(SMALL + ["--dask", "local:2", "--out", str(tmp_path / "dask")]) == 0
        runs["dask"] = tmp_path / "dask"
    results = {name: [comparable(r) for r in records(out)] for name, out in runs.items()}
    want = results["sequential"]
    assert len(want) == 3 and all(r[1] == "ok" for r in want)
    assert len({r[3]["lr"] for r in want}) == 3
    for name, got in results.items():
        assert got == want, name
    winners = {name: json.loads((out / "best.json").read_text()) for name, out in runs.items()}
    assert len({(w["trial"], w["test"]["accuracy"], w["test"]["loss"]) for w in winners.values()}) == 1
    workers = {r["worker"] for r in records(runs["processes"])}
    assert len(workers) >= 1 and all(w.split(":")[-1] != str(os.getpid()) for w in workers)
    if _has_matplotlib():
        assert (seq / "sweep.png").read_bytes()[:4] == b"\x89PNG"


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("args, match", [
    (["--dataset", "cifar"], "dataset: unknown value 'cifar'"),
    (["--seed", "-1"], "--seed must be an integer >= 0"),
    (["--train-seed", "-3"], "seed must be an integer >= 0"),
    (["--normalize", "maybe"], "normalize: expected true or false"),
    (["--lr-schedule", "warm"], "lr_schedule: unknown value 'warm'; choose from constant, step, cosine, onecycle"),
    (["--lr-schedule", "step", "cosine"], "the step schedule needs lr_step"),
])
def test_bad_options_stop_before_any_trial_runs(tmp_path, capsys, monkeypatch, args, match):
    monkeypatch.setattr(sweep_run, "run_trial", lambda t, job: pytest.fail("a trial ran"))
    assert S.main(["--lr", "0.1", "--out", str(tmp_path / "s"), "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_normalize_takes_both_values_as_its_help_says(capsys):
    with pytest.raises(SystemExit):
        S.main(["--help"])
    assert "give both (false true) to compare" in " ".join(capsys.readouterr().out.split())
    spec = S.SweepSpec({"normalize": S.parse_cli_dim("normalize", ["false", "true"])}, "grid")
    assert [t.config["normalize"] for t in spec.plan()] == [False, True]


@pytest.mark.parametrize("damage", ["trials", "sweep", "sweep-list"])
def test_resuming_a_damaged_sweep_says_which_file(tmp_path, capsys, damage):
    args = ["--model", "softmax", "--epochs", "1", "--lr", "0.05", "--out", str(tmp_path), "--no-progress"]
    assert S.main(args) == 0
    if damage == "trials":
        (tmp_path / "trials.jsonl").write_text('{"trial": 0, "key": "x"}\nnot json\n')
    elif damage == "sweep":
        (tmp_path / "sweep.json").write_text("{ not json")
    else:
        (tmp_path / "sweep.json").write_text("[1]")  # JSON, but not a sweep
    capsys.readouterr()
    for resume in (args + ["--resume"], ["--out", str(tmp_path), "--resume", "--no-progress"]):
        assert S.main(resume) == 2
        err = capsys.readouterr().err
        assert f"{damage.split('-')[0]}.json" in err and "is damaged" in err and "Traceback" not in err


def test_an_unreadable_dask_address_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("distributed", reason="Dask is not installed (pip install \"tinygrad-sm[distributed]\")")
    assert S.main(["--lr", "0.1", "--dask", "foo", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "cannot reach the Dask scheduler at foo" in capsys.readouterr().err


def test_without_dask_the_error_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert S.main(["--lr", "0.1", "--dask", "local:2", "--out", str(tmp_path)]) == 2
    assert 'pip install "tinygrad-sm[distributed]"' in capsys.readouterr().err


def test_a_killed_dask_worker_has_its_trial_rescheduled(tmp_path):
    dd = pytest.importorskip("distributed", reason="Dask is not installed (pip install \"tinygrad-sm[distributed]\")")
    import dask
    with dask.config.set({"distributed.nanny.pre-spawn-environ": THREADS_1}):
        cluster = dd.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40)
    client = dd.Client(cluster)
    try:
        # trials of about a second each, so that the kill lands in the middle of one
        spec = S.SweepSpec({"model": S.Choice(("mlp",)), "hidden": S.Choice(([128],)), "epochs": S.Choice((3,)),
                            "batch_size": S.Choice((32,)), "lr": S.Choice((0.01, 0.02, 0.05, 0.1))}, "grid")
        done = {}
        sweep = threading.Thread(target=lambda: done.update(result=S.run_sweep(
            spec, str(tmp_path), client=client, threads=1, progress=False, stream=io.StringIO())))
        sweep.start()
        pids = client.run(os.getpid)
        victim, busy = None, []
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            for addr, keys in client.processing().items():
                if any("run_trial" in str(k) for k in keys):
                    victim, busy = addr, [str(k) for k in keys]
                    break
            time.sleep(0.02)
        assert victim is not None, "no trial started"
        time.sleep(0.3)  # well inside the trial
        os.kill(pids[victim], signal.SIGKILL)
        sweep.join(timeout=120)
        assert not sweep.is_alive()
        recs = records(tmp_path)
        assert sorted(r["trial"] for r in recs) == [0, 1, 2, 3]  # every trial exactly once
        assert all(r["status"] == "ok" for r in recs), [r["error"] for r in recs]
        lost = [int(k.rsplit("-", 1)[1]) for k in busy]
        assert any(r["worker"] != victim for r in recs if r["trial"] in lost)  # finished elsewhere
        # the scheduler saw the worker die with the trial in progress, and ran it again
        story = [ev for k in busy for ev in client.story(k) if ev[0] == "scheduler"]
        assert any(ev[2:4] == ("processing", "released") for ev in story), story
        assert pids[victim] not in client.run(os.getpid).values()
        assert done["result"].best is not None
    finally:
        client.close()
        cluster.close()


def test_the_dask_version_check_works_from_a_checkout_that_is_not_installed(monkeypatch, capsys):
    """The client side may run from a source checkout (PYTHONPATH): its version comes from the
    package then, and workers on another version are named."""
    import importlib.metadata as md

    from tinygrad_sm.sweep import executors

    def not_installed(name):
        raise md.PackageNotFoundError(name)

    class Client:
        def run(self, fn, *args):
            return {"tcp://w1": ts_version, "tcp://w2": "0.0.9"}

    ts_version = __import__("tinygrad_sm").__version__
    monkeypatch.setattr(md, "version", not_installed)
    ex = object.__new__(executors.Dask)
    ex.client = Client()
    ex._check_workers()
    err = capsys.readouterr().err
    assert f"other tinygrad-sm versions than this {ts_version}" in err and "tcp://w2" in err and "tcp://w1" not in err


def _half_or_raise(x):
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x / 2


@pytest.mark.parametrize("make", [lambda: S.executors.Sequential(), lambda: S.executors.Processes(2, 1)])
def test_every_executor_hands_back_a_jobs_exception_instead_of_raising_it(make):
    ex = make()
    try:
        got = dict(ex.map(_half_or_raise, [(4,), (-1,), (6,)]))
    finally:
        ex.close()
    assert got[0] == 2 and got[2] == 3
    assert isinstance(got[1], ValueError) and str(got[1]) == "negative: -1"


def test_a_trials_key_holds_for_sweeps_recorded_before_dropout_and_lr_schedule_existed():
    new = S.SweepSpec({"lr": S.Choice((0.01,))}).plan()[0]
    before = dict(new.config)
    for name in ("dropout", "lr_schedule", "schedule_epochs", "warmup"):
        del before[name]  # (a config as sweeps wrote it before the options)
    old = S.Trial(new.id, new.params, before)
    assert new.key == old.key
    assert S.Trial(new.id, new.params, {**new.config, "dropout": 0.3}).key != new.key
    assert S.Trial(new.id, new.params, {**new.config, "lr_schedule": "cosine"}).key != new.key
    assert S.Trial(new.id, new.params, {**new.config, "warmup": 2}).key != new.key


def test_a_warm_up_applies_to_every_schedule_but_onecycle():
    trials = S.SweepSpec({"lr_schedule": S.Choice(("constant", "onecycle")), "warmup": S.Choice((0, 2))},
                         search="grid").plan()
    params = [t.params for t in trials]
    assert params == [{"lr_schedule": "constant", "warmup": 0}, {"lr_schedule": "constant", "warmup": 2},
                      {"lr_schedule": "onecycle"}]  # (onecycle warms up by itself: once, without it)
    with pytest.raises(S.SweepError, match="--warmup sets the warm-up before the schedule; every trial here is on "
                                           "the onecycle schedule"):
        S.SweepSpec({"lr_schedule": S.Choice(("onecycle",)), "warmup": S.Choice((1,))}).plan()


def test_sweep_png_can_put_dropout_on_an_axis_beside_one_layer_trials(tmp_path):
    pytest.importorskip("matplotlib")
    from tinygrad_sm.sweep.plot import plot_sweep
    cfg = T.TrainConfig().to_dict()
    records = [{"status": "ok", "val_accuracy": 0.8, "params": {"model": "mlp", "dropout": d}, "config": {**cfg, "dropout": d}}
               for d in (0.0, 0.5)]
    records.append({"status": "ok", "val_accuracy": 0.7, "params": {"model": "softmax"},
                    "config": {**cfg, "model": "softmax"}})
    assert plot_sweep(records, ["model", "dropout"], str(tmp_path / "s.png"))
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
