"""Data-parallel training over MPI (tinygrad_sm.distributed), run for real with `mpiexec -n 2`.

The MPI side of each test is this file run as a script under mpiexec (see the bottom); pytest
starts it with a timeout, so a job that hangs fails the test instead of stalling the suite.
"""
import io
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from tinygrad_sm import train as T
from tinygrad_sm.cli import main as cli_main

HERE = os.path.abspath(__file__)
BATCH = 63  # 200 samples: batches of 63, 63, 63, 11, split 31/32 and 5/6 over two ranks: uneven shards
CASES = {
    "mlp-sgd": dict(model="mlp", hidden=[16], optimizer="sgd", lr=0.1, momentum=0.9, reg=1e-3),
    "softmax-adam": dict(model="softmax", optimizer="adam", lr=0.01, weight_decay=1e-3),
    "svm-sgd": dict(model="svm", optimizer="sgd", lr=0.05, momentum=0.0, reg=1e-3),
}


def splits(nan_row=None):
    """A small seeded 5-class problem a linear model can learn (so the parameters really move)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, 5))
    x = rng.normal(size=(250, 20)).astype(np.float32)
    y = (x @ w + 0.5 * rng.normal(size=(250, 5))).argmax(axis=1).astype(np.int64)
    if nan_row is not None:
        x[nan_row] = np.nan
    return T.Split(x[:200], y[:200], "train"), T.Split(x[200:], y[200:], "test")


def config(case):
    return T.TrainConfig(epochs=2, batch_size=BATCH, seed=3, **CASES[case])


def test_each_rank_draws_its_own_dropout_masks_and_the_same_ones_again():
    # (in one process: all a rank changes here is where the masks come from)
    class Rank(T.Hooks):
        def __init__(self, rank):
            self.rank = rank

    cfg = T.TrainConfig(epochs=1, batch_size=BATCH, seed=3, model="mlp", hidden=[16], dropout=0.5)
    quiet = dict(splits=splits(), progress=False, stream=io.StringIO())
    w = {r: T.fit(cfg, hooks=Rank(r), **quiet).model.state_dict()["0.weight"] for r in (0, 1)}
    np.testing.assert_array_equal(T.fit(cfg, **quiet).model.state_dict()["0.weight"], w[0])  # (rank 0 by default)
    assert not np.array_equal(w[0], w[1])


# -- pytest side ------------------------------------------------------------------------------------
def _mpiexec():
    found = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if found is None or pytest.importorskip("mpi4py") is None:
        pytest.skip('mpiexec is not installed (pip install "tinygrad-sm[mpi]": mpi4py and mpich)')
    return found


def mpirun(n, *args, timeout=90):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1", TINYGRAD_SM_MPI_EXIT_TIMEOUT="20", PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    p = subprocess.run([_mpiexec(), "-n", str(n), sys.executable, *args], capture_output=True, text=True,
                       timeout=timeout, env=env)
    return p, time.perf_counter() - t0


def test_two_ranks_end_where_one_process_with_the_whole_batch_ends(tmp_path):
    p, _ = mpirun(2, HERE, "equivalence", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    for case in CASES:
        single = T.fit(config(case), splits=splits(), progress=False, stream=io.StringIO())
        init = T.build_model(single.config.model, single.config.sizes(20, 5), single.config.seed).state_dict()
        dist = np.load(tmp_path / f"{case}.npz")
        assert dist["ranks_agree"], f"{case}: the two ranks ended with different parameters"
        # 2 epochs of 4 steps: one Allreduce per step over one flat buffer, not one per parameter
        assert dist["allreduce_calls"] == 8 and dist["grad_bytes"] == 4 * sum(v.size for v in init.values())
        for name, want in single.model.state_dict().items():
            got = dist[name]
            assert np.abs(want - init[name]).max() > 1e-3  # it trained
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"{case}: {name}")
    gl = np.load(tmp_path / "global_loss.npz")
    assert gl["mean"] == pytest.approx(5 / 3) and np.isnan(gl["nan_anywhere"])
    # The same check catches a plain average of the ranks' gradients, which is wrong on the uneven
    # shards (31/32 and 5/6): the weighting by n_local / n_global is what makes the match.
    naive = np.load(tmp_path / "mlp-sgd-naive.npz")
    single = T.fit(config("mlp-sgd"), splits=splits(), progress=False, stream=io.StringIO())
    worst = max(np.abs(naive[k] - v).max() / (np.abs(v).max()) for k, v in single.model.state_dict().items())
    assert worst > 1e-3


def test_start_gives_every_rank_rank_0s_buffers_and_refuses_ranks_with_other_buffers(tmp_path):
    p, _ = mpirun(2, HERE, "buffers", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    said = np.load(tmp_path / "buffers.npz")
    assert said["agree"] and said["moved"]  # (rank 1's own running_mean was replaced by rank 0's)
    assert "different models" in str(said["mismatch"]) and "running_var" in str(said["mismatch"])


def test_a_rank_that_raises_aborts_the_whole_job_with_its_error():
    p, seconds = mpirun(2, HERE, "raise")
    assert p.returncode != 0
    assert "RuntimeError: rank 1 was told to fail at step 3" in p.stderr
    assert "[rank 1 of 2] fails; aborting the job" in p.stderr
    # the error comes first, in the line that says so: the traceback after it may be cut short
    # when mpiexec kills the job
    assert "[rank 1 of 2] fails; aborting the job: RuntimeError: rank 1 was told to fail at step 3" in p.stderr
    assert "rank 0 finished" not in p.stdout  # rank 0 was stopped, not left waiting or let finish
    assert seconds < 60


def test_a_rank_whose_loss_goes_nan_alone_does_not_hang_the_others():
    # One NaN sample: only the rank whose shard holds it sees a NaN loss. It stops (as the CLI does:
    # print the error, exit 3) while the other rank waits in the step's Allreduce.
    p, seconds = mpirun(2, HERE, "diverge")
    assert p.returncode != 0
    assert "training diverged" in p.stderr
    assert "rank 0 finished" not in p.stdout
    assert seconds < 60
    # each rank names the whole batch's loss (what they stopped on), not its own shard's
    losses = [line.split("the loss is ")[1].split(";")[0] for line in p.stderr.splitlines() if "the loss is" in line]
    assert losses and set(losses) == {"nan"}, p.stderr


def test_train_cli_distributed_writes_once_from_rank_0(tmp_path):
    out = tmp_path / "run"
    p, _ = mpirun(2, "-m", "tinygrad_sm", "train", "--distributed", "--model", "softmax", "--epochs", "1",
                  "--batch-size", "100", "--lr", "0.1", "--out", str(out), "--no-progress")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("done in") == 1 and p.stdout.count("epoch   1/1") == 1
    assert "4000 train / 1000 test" in p.stdout
    metrics = (out / "metrics.json").read_text()
    assert '"status": "ok"' in metrics and (out / "checkpoint.npz").exists()
    assert sorted(f.name for f in out.iterdir() if not f.name.endswith(".png")) == [
        "checkpoint.npz", "metrics.csv", "metrics.json"]


def test_a_rank_that_cannot_start_stops_every_rank_and_the_error_is_said_once(tmp_path):
    # Only rank 0 writes files, so only rank 0 finds the output directory unusable: the other
    # rank must not wait for it in the first broadcast.
    (tmp_path / "file").write_text("not a directory")
    p, seconds = mpirun(2, "-m", "tinygrad_sm", "train", "--distributed", "--model", "softmax", "--epochs", "1",
                        "--out", str(tmp_path / "file" / "run"), "--no-progress", timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.count("error:") == 1 and "Not a directory" in p.stderr and "Traceback" not in p.stderr
    assert seconds < 60
    p, _ = mpirun(2, "-m", "tinygrad_sm", "train", "--distributed", "--batch-size", "0", "--out", str(tmp_path))
    assert p.returncode == 2 and p.stderr.count("batch_size must be >= 1") == 1


def mpirun_each(*commands, timeout=90):
    """One rank per command (MPI's `-n 1 A : -n 1 B` form): ranks that got different options."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1", TINYGRAD_SM_MPI_EXIT_TIMEOUT="20", PYTHONUNBUFFERED="1")
    argv = [_mpiexec()]
    for i, c in enumerate(commands):
        flag = [] if any(a.startswith("--dist") for a in c) else ["--distributed"]  # (or as the command spells it)
        argv += ([":"] if i else []) + ["-n", "1", sys.executable, "-m", "tinygrad_sm", "train", *flag,
                                        "--no-progress", *c]
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    return p, time.perf_counter() - t0


@pytest.mark.parametrize("bad, said", [
    (["--hidden", "16,x"], "rank 1 of 2 could not start: ValueError: --hidden takes sizes like"),
    (["--resume", "/nonexistent/checkpoint.npz"], "rank 1 of 2 could not start: CheckpointError: checkpoint "
                                                  "/nonexistent/checkpoint.npz does not exist"),
    (["--epochs", "abc"], "rank 1 of 2 could not start: ValueError: its command line was refused"),
    (["--epochs", "abc", "--dist"], "rank 1 of 2 could not start: ValueError: its command line was refused"),
])
def test_a_rank_that_fails_before_the_check_in_stops_every_rank(tmp_path, bad, said):
    """Options are parsed, and a checkpoint read for its epochs, before train.fit's check-in: a
    rank failing there must still meet the others, or they wait for it for ever."""
    common = ["--model", "mlp", "--hidden", "8", "--epochs", "1", "--out", str(tmp_path / "run")]
    good = common if bad[0] != "--resume" else []
    if bad[0] == "--resume":
        assert cli_main(["train", *common, "--no-progress"]) == 0
        good = ["--resume", str(tmp_path / "run" / "checkpoint.npz")]
    p, seconds = mpirun_each(good, common + bad if bad[0] != "--resume" else bad, timeout=120)
    assert p.returncode != 0 and said in p.stderr, p.stdout + p.stderr
    assert seconds < 60


def test_ranks_given_different_options_stop_before_training(tmp_path):
    common = ["--model", "softmax", "--epochs", "1", "--out", str(tmp_path / "run")]
    p, seconds = mpirun_each(common + ["--batch-size", "64"], common + ["--batch-size", "128"], timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.count("rank 1 of 2 got other train options than rank 0 (batch_size: [128] against [64])") == 1
    assert seconds < 60


def test_ctrl_c_on_one_rank_while_it_sets_up_stops_every_rank():
    p, seconds = mpirun(2, HERE, "setup-interrupted", timeout=120)
    assert "rank 1 stopped: KeyboardInterrupt" in p.stdout
    assert "rank 0 stopped: RankFailed: rank 1 of 2 could not start: KeyboardInterrupt" in p.stdout
    assert seconds < 60


def test_an_error_in_training_on_another_rank_is_printed_by_that_rank(tmp_path):
    # Rank 1 alone gets NaN logits mid-epoch (its shard holds a NaN pixel): its own error is the
    # one to see, before the job is aborted.
    p, _ = mpirun(2, HERE, "nan-data", str(tmp_path), timeout=120)
    assert p.returncode != 0
    assert "cross_entropy: logits contain nan" in p.stderr
    assert "[rank 1 of 2] left in the middle of an epoch" in p.stderr


@pytest.mark.parametrize("mode, code, said", [
    ("save-fails", 2, "tinygrad-sm train: error: No space left on device"),
    ("interrupted-between-epochs", 130, "interrupted after epoch 1"),
])
def test_rank_0_stopping_between_epochs_ends_the_job_at_once(tmp_path, mode, code, said):
    """Rank 1 is already in epoch 3's first Allreduce when rank 0 stops while saving epoch 2: rank 0
    used to wait for it at exit until the timeout (120 s by default), then end with status 1."""
    p, seconds = mpirun(2, HERE, mode, str(tmp_path), timeout=120)
    assert p.returncode == code, p.stdout + p.stderr
    assert said in p.stderr and "[rank 0 of 2] left between epochs" in p.stderr
    assert seconds < 15  # (the exit timeout is 20 s here)
    if code == 130:
        assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "interrupted"


def test_a_global_batch_smaller_than_the_ranks_leaves_a_shard_empty(tmp_path):
    p, _ = mpirun(2, "-m", "tinygrad_sm", "train", "--distributed", "--model", "softmax", "--epochs", "1",
                  "--batch-size", "1", "--lr", "0.01", "--out", str(tmp_path), "--no-progress", timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert '"status": "ok"' in (tmp_path / "metrics.json").read_text()


def test_logits_that_overflow_on_every_rank_are_a_divergence_said_once(tmp_path):
    p, _ = mpirun(2, "-m", "tinygrad_sm", "train", "--distributed", "--model", "mlp", "--hidden", "8",
                  "--lr", "1e20", "--epochs", "2", "--batch-size", "100", "--out", str(tmp_path), "--no-progress")
    assert p.returncode == 3, p.stdout + p.stderr
    assert p.stderr.count("training diverged") == 1 and "aborting" not in p.stderr
    assert '"status": "diverged"' in (tmp_path / "metrics.json").read_text()


def test_without_mpi4py_the_error_says_how_to_get_it(monkeypatch):
    from tinygrad_sm import distributed
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r'pip install "tinygrad-sm\[mpi\]"'):
        distributed.mpi_hooks()


def test_the_abort_line_names_the_error_in_one_line():
    from tinygrad_sm.distributed import _one_line

    class Unprintable(Exception):
        def __str__(self):
            raise ValueError("no")

    assert _one_line(RuntimeError, RuntimeError("first\nsecond")) == "RuntimeError: first"
    assert _one_line(KeyboardInterrupt, KeyboardInterrupt()) == "KeyboardInterrupt"
    assert _one_line(Unprintable, Unprintable()) == "Unprintable: <str() of the exception failed>"


# -- MPI side: `mpiexec -n 2 python tests/test_distributed.py MODE [OUT]` ------------------------------------
def _main(mode, out=None):
    from mpi4py import MPI

    from tinygrad_sm import distributed

    comm = MPI.COMM_WORLD
    quiet = dict(progress=False, stream=io.StringIO())

    if mode == "equivalence":
        class Scrambled(distributed.MPIHooks):
            def start(self, model):  # rank 1 starts elsewhere: the broadcast must fix it
                if self.rank == 1:
                    for p in model.parameters():
                        p.data += 1.0
                super().start(model)

        class Naive(distributed.MPIHooks):
            def after_backward(self, model, n_local, n_global):  # a plain mean of the ranks' gradients
                super().after_backward(model, n_global // self.size, n_global)

        # the global loss that lets every rank take the same stop-on-divergence decision
        h = distributed.MPIHooks()
        n = comm.rank + 1  # rank 0: 1 sample with loss 1; rank 1: 2 samples with loss 2
        mean = h.global_loss(float(n), n, 3)
        nan_anywhere = h.global_loss(float("nan") if comm.rank == 1 else 1.0, n, 3)
        if comm.rank == 0:
            np.savez(os.path.join(out, "global_loss.npz"), mean=mean, nan_anywhere=nan_anywhere)

        runs = [(case, Scrambled()) for case in CASES] + [("mlp-sgd-naive", Naive())]
        for name, h in runs:
            run = T.fit(config(name.replace("-naive", "")), splits=splits(), hooks=h, **quiet)
            state = run.model.state_dict()
            digest = b"".join(v.tobytes() for v in state.values())
            agree = len(set(comm.allgather(digest))) == 1
            if comm.rank == 0:
                np.savez(os.path.join(out, f"{name}.npz"), ranks_agree=agree, allreduce_calls=h.allreduce_calls,
                         grad_bytes=h.grad_bytes, **state)
    elif mode == "buffers":
        from tinygrad_sm import nn

        def model():
            m = nn.Sequential(nn.Linear(3, 4, generator=comm.rank), nn.BatchNorm1d(4))
            m[1].running_mean.data += comm.rank  # (rank 1's differs)
            return m

        m = model()
        before = m.state_dict()["1.running_mean"].copy()
        distributed.MPIHooks().start(m)
        digest = b"".join(v.tobytes() for v in m.state_dict().values())
        agree = len(set(comm.allgather(digest))) == 1
        moved = comm.allgather(bool(np.any(before != m.state_dict()["1.running_mean"])))[1]
        odd = model()
        if comm.rank == 1:
            odd[1].running_var = None  # (a buffer taken out on one rank only)
        try:
            distributed.MPIHooks().start(odd)
            mismatch = "no error"
        except ValueError as e:
            mismatch = str(e)
        if comm.rank == 0:
            np.savez(os.path.join(out, "buffers.npz"), agree=agree, moved=moved, mismatch=mismatch)
    elif mode == "raise":
        class Failing(distributed.MPIHooks):
            def after_backward(self, model, n_local, n_global):
                if self.rank == 1 and self.steps == 2:
                    raise RuntimeError("rank 1 was told to fail at step 3")
                super().after_backward(model, n_local, n_global)

        hooks = Failing()
        hooks.install_guards()  # what mpi_hooks() does: a failing rank aborts the job
        T.fit(config("mlp-sgd"), splits=splits(), hooks=hooks, **quiet)
    elif mode == "nan-data":  # the CLI's path, with rank 1's data holding a NaN pixel
        from tinygrad_sm import cli
        real = T.load_splits

        def load_splits(cfg, progress=True):
            train, held = real(cfg, progress)
            if comm.rank == 1:
                train.x[:, 0] = np.nan
            return train, held

        T.load_splits = load_splits
        return cli.main(["train", "--distributed", "--model", "softmax", "--epochs", "1", "--no-progress",
                         "--out", out])
    elif mode == "setup-interrupted":  # Ctrl-C reaches rank 1 alone while it loads its data
        real = T.load_splits

        def load_splits(cfg, progress=True):
            if comm.rank == 1:
                raise KeyboardInterrupt
            return real(cfg, progress)

        T.load_splits = load_splits
        try:
            T.fit(config("mlp-sgd"), hooks=distributed.mpi_hooks(), **quiet)
        except (KeyboardInterrupt, T.RankFailed) as e:
            print(f"rank {comm.rank} stopped: {type(e).__name__}: {e}")
            return 2
    elif mode in ("save-fails", "interrupted-between-epochs"):  # rank 0 stops as it saves epoch 2
        from tinygrad_sm import cli
        real = T.save_run

        def save_run(out, cfg, sizes, model, opt, sched, epoch, history):
            if epoch == 2:
                raise OSError("No space left on device") if mode == "save-fails" else KeyboardInterrupt
            return real(out, cfg, sizes, model, opt, sched, epoch, history)

        T.save_run = save_run  # (only rank 0 writes: rank 1 goes on into epoch 3)
        return cli.main(["train", "--distributed", "--model", "softmax", "--epochs", "3", "--no-progress",
                         "--out", out])
    elif mode == "diverge":
        try:  # the hinge loss of a NaN sample is NaN (cross-entropy would raise on NaN logits first)
            T.fit(config("svm-sgd"), splits=splits(nan_row=37), hooks=distributed.mpi_hooks(), **quiet)
        except T.TrainingDiverged as e:  # what `tinygrad-sm train` does: say it and exit 3
            print(f"error: {e}", file=sys.stderr)
            return 3
    print(f"rank {comm.rank} finished")
    return 0


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:]))
