"""Data-parallel SGD over MPI: `mpiexec -n K tinygrad-sm train --distributed ...`.

Every rank builds the same model and reads the same data. Rank 0 broadcasts the initial
parameters; each step, every rank takes its slice of the global batch (--batch-size is the
global batch), computes its gradients, and the ranks sum them, each weighted by its share of the
batch (n_local / n_global), with one Allreduce over one flat buffer; then every rank takes the
same optimizer step. So K ranks end where one process with the whole batch would, up to float32
rounding; only rank 0 prints and writes files.

A rank that fails must not leave the others waiting in an Allreduce for ever: an uncaught error,
or a rank that leaves in the middle of an epoch (the CLI catches a divergence and returns),
calls MPI Abort, which ends every rank of the job after the error is printed.

Needs mpi4py and an MPI: `pip install "tinygrad-sm[mpi]"` (mpi4py and mpich, which brings mpiexec).
"""
from __future__ import annotations

import atexit
import math
import os
import sys
import time
from typing import Any, Optional

import numpy as np

from . import nn
from .tensor import Tensor, note_write
from .train import Hooks, RankFailed

MPI_HINT = ('data-parallel training needs mpi4py and an MPI library: pip install "tinygrad-sm[mpi]" '
            '(or pip install mpi4py mpich, which also brings mpiexec)')
"""What to install when mpi4py is missing."""
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""The environment variables that set the BLAS/OpenMP thread counts of a rank."""
EXIT_TIMEOUT_S = float(os.environ.get("TINYGRAD_SM_MPI_EXIT_TIMEOUT", "120"))
"""How long a rank that finished (or stopped between epochs) waits for the others at exit before
it decides they are stuck and aborts the job (TINYGRAD_SM_MPI_EXIT_TIMEOUT, seconds)."""
_ABORT_GRACE_S = 0.2  # seconds between a failing rank's last words and MPI_Abort


def _one_line(kind: type, value: BaseException) -> str:
    """'RuntimeError: the first line of its message', for an error of any kind."""
    try:
        text = str(value)
    except Exception:  # (an exception's __str__ may itself fail)
        text = "<str() of the exception failed>"
    first = text.splitlines()[0] if text.strip() else ""
    return f"{kind.__name__}: {first}" if first else kind.__name__


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"{MPI_HINT} ({e})") from None
    return MPI


class MPIHooks(Hooks):
    """The train.fit hooks for K ranks of an MPI communicator (COMM_WORLD by default)."""

    def __init__(self, comm: Any = None) -> None:
        self.MPI = _mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.is_main = self.rank == 0
        # ranks on this machine share its cores
        self.local_size = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED, key=self.rank).Get_size()
        self.steps = 0
        self.allreduce_calls = 0        # gradient Allreduce calls (one per step)
        self.comm_seconds = 0.0         # time inside them (includes waiting for the slowest rank)
        self.grad_bytes = 0             # size of the flat gradient buffer
        self._params: list[Any] = []
        self._buf: Optional[np.ndarray] = None
        self._started = self._mid_epoch = self._stopped_together = self._aborting = self._done = False
        self.checked_in = False  # ready() was called: every rank has met (or will meet) here
        # How a rank that stops early ends the job (the CLI sets them: 130 after Ctrl-C, 2 after a
        # bad option or an unwritable output). An interrupted rank other than 0 waits longer, so
        # that rank 0, interrupted too, can write its metrics and say how to go on first.
        self.exit_code, self.abort_grace = 1, _ABORT_GRACE_S

    # -- the hooks -----------------------------------------------------------------------------------
    def ready(self, error: Optional[BaseException], config: Optional[dict[str, Any]] = None) -> None:
        """Every rank says whether its set-up worked (options, data, output directory, checkpoint:
        a failure on one rank alone, e.g. data missing on one machine, would leave the others
        waiting in start()). If any failed, all stop: a failing rank raises its own error (fit does),
        the others RankFailed naming the first failing rank's. Then the ranks compare their
        settings (all but the data root, which may differ between machines, and the free-form
        `extra`): ranks that train
        differently would end up in different collective calls and wait for each other for ever."""
        self.checked_in = True
        same = None if config is None else {k: v for k, v in config.items() if k not in ("data_root", "extra")}
        said = self.comm.allgather((None if error is None else _one_line(type(error), error), same))
        first = next(((r, msg) for r, (msg, _) in enumerate(said) if msg is not None), None)
        if first is not None:
            if error is None:
                raise RankFailed(f"rank {first[0]} of {self.size} could not start: {first[1]}")
            return
        other = next((r for r, (_, c) in enumerate(said) if c != said[0][1]), None)
        if other is not None and (said[0][1] is None or said[other][1] is None):
            raise ValueError(f"rank {other} of {self.size} checked in {'without' if said[other][1] is None else 'with'} "
                             "train options where rank 0 did not: every rank must check in the same way")
        if other is not None:
            keys = sorted(k for k in set(said[0][1]) | set(said[other][1])
                          if said[0][1].get(k) != said[other][1].get(k))
            raise ValueError(f"rank {other} of {self.size} got other train options than rank 0 ({', '.join(keys)}: "
                             f"{[said[other][1].get(k) for k in keys]} against {[said[0][1].get(k) for k in keys]}); "
                             "every rank must get the same options")

    def start(self, model: nn.Module) -> None:
        """Rank 0's parameters and buffers (BatchNorm's running statistics, ...) go to every rank:
        they start equal even if the ranks built them differently. (Buffers are not kept equal
        after that: each rank's running statistics follow its own shards; rank 0's are saved.)"""
        self._params = list(model.parameters())
        dtypes = {p.data.dtype for p in self._params}
        if len(dtypes) != 1:
            raise TypeError(f"distributed training needs parameters of one dtype, got {sorted(map(str, dtypes))}")
        total = sum(p.data.size for p in self._params)
        buffers = [(name, b) for name, b in model.named_buffers() if b is not None]
        layout = (total, str(next(iter(dtypes))), tuple((n, b.shape, str(b.dtype)) for n, b in buffers))
        said = self.comm.allgather(layout)
        if len(set(said)) != 1:
            raise ValueError(f"the ranks built different models: (parameters, dtype, buffers) per rank = {said}; "
                             "every rank must get the same train options")
        for name, b in buffers:
            if not (b.data.flags.c_contiguous and b.data.flags.writeable):
                b.data = np.ascontiguousarray(b.data).copy()
            self.comm.Bcast(b.data, root=0)
            note_write(b, f"the broadcast of rank 0's buffer {name}")
        self._buf = np.empty(total, dtype=next(iter(dtypes)))
        self.grad_bytes = self._buf.nbytes
        self._pack(p.data for p in self._params)
        self.comm.Bcast(self._buf, root=0)
        for p, flat in self._unpack():
            p.data[...] = flat
            note_write(p, "the broadcast of rank 0's parameters")
        self._started = True

    def shard(self, idx: np.ndarray) -> np.ndarray:
        """Rank r's contiguous slice of the global batch; the slices differ in size by at most 1."""
        self._mid_epoch = True
        n = len(idx)
        return idx[n * self.rank // self.size:n * (self.rank + 1) // self.size]

    def after_backward(self, model: nn.Module, n_local: int, n_global: int) -> None:
        """grad = sum over ranks of (n_local / n_global) * local mean gradient: the mean over the
        global batch, also for the last, unevenly split batch. One Allreduce per step."""
        assert self._buf is not None, "start() must run before the first step"
        w = n_local / n_global
        self._pack(None if p.grad is None else p.grad.data for p in self._params)
        if w != 1.0:
            self._buf *= self._buf.dtype.type(w)
        t0 = time.perf_counter()
        self.comm.Allreduce(self.MPI.IN_PLACE, self._buf, op=self.MPI.SUM)
        self.comm_seconds += time.perf_counter() - t0
        self.allreduce_calls += 1
        self.steps += 1
        for p, flat in self._unpack():
            if p.grad is None:
                p.grad = Tensor._wrap(flat.copy())
            else:
                p.grad.data[...] = flat
                note_write(p.grad, "the gradients' all-reduce")

    def epoch_totals(self, seen: int, loss_sum: float, correct: int) -> tuple[int, float, int]:
        totals = np.array([seen, loss_sum, correct], dtype=np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, totals, op=self.MPI.SUM)
        self._mid_epoch = False
        return int(totals[0]), float(totals[1]), int(totals[2])

    def done(self) -> None:
        self._done = True

    def global_loss(self, value: float, n_local: int, n_global: int) -> float:
        """The loss over the global batch, the same number on every rank (NaN if any rank's is
        NaN), so that every rank takes the same stop-on-divergence decision. (For fit() to call
        before its finiteness check; see docs/scaling.md.)"""
        total = self.comm.allreduce(value * n_local / n_global, op=self.MPI.SUM)
        if not math.isfinite(total):
            self._stopped_together = True
        return total

    # -- flat buffer ----------------------------------------------------------------------------------
    def _pack(self, arrays: Any) -> None:
        assert self._buf is not None
        o = 0
        for p, a in zip(self._params, arrays):
            n = p.data.size
            if a is None:  # a parameter that got no gradient contributes zeros
                self._buf[o:o + n] = 0
            else:
                self._buf[o:o + n] = a.reshape(-1)
            o += n

    def _unpack(self) -> Any:
        assert self._buf is not None
        o = 0
        for p in self._params:
            n = p.data.size
            yield p, self._buf[o:o + n].reshape(p.data.shape)
            o += n

    # -- threads and failures -------------------------------------------------------------------------
    def set_threads(self, threads: Optional[int] = None) -> int:
        """Numba threads per rank: this machine's cores split over the ranks on it. NumPy's BLAS
        reads its thread count when it loads, before this runs: start the job with
        OMP_NUM_THREADS set (see docs/scaling.md); rank 0 says so when it is not set."""
        from . import kernels
        cores = kernels.usable_cores()
        n = threads or max(1, cores // self.local_size)
        kernels.set_num_threads(min(n, kernels.max_num_threads()))
        if self.is_main and self.local_size > 1 and not any(v in os.environ for v in THREAD_VARS):
            print(f"note: {self.local_size} ranks share this machine's {cores} cores, but NumPy's BLAS "
                  f"may start a thread per core in each; run as OMP_NUM_THREADS={n} mpiexec ...", file=sys.stderr)
        return n

    def abort(self, code: int = 1) -> None:
        self._aborting = True  # MPICH's Abort may return to Python's exit: no second message then
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(self.abort_grace)  # let mpiexec pass on what was just written before it kills the job
        self.comm.Abort(code)

    def install_guards(self) -> None:
        """Make a failing rank end the whole job instead of leaving the others in a collective."""
        if self.size == 1:
            return
        previous = sys.excepthook

        def excepthook(kind: type, value: BaseException, tb: Any) -> None:
            try:  # the error itself in the first line: when the job is killed, mpiexec may not have
                # passed on the whole traceback yet (seen once in CI: cut after its first frame)
                sys.stderr.write(f"[rank {self.rank} of {self.size}] fails; aborting the job: "
                                 f"{_one_line(kind, value)}\n")
                previous(kind, value, tb)
            finally:
                self.abort(1)

        sys.excepthook = excepthook
        atexit.register(self._at_exit)  # runs before mpi4py's own exit handler (registered earlier)

    def _at_exit(self) -> None:
        if not self._started or self._stopped_together or self._aborting:
            return
        if not self._done:  # stopped early (an error, Ctrl-C), in an epoch or between two: the others
            # wait, or will, in a step's Allreduce that this rank never joins
            where = "in the middle of an epoch" if self._mid_epoch else "between epochs"
            why = "interrupted" if self.exit_code in (130, 143) else "see its error above"
            sys.stderr.write(f"[rank {self.rank} of {self.size}] left {where} ({why}); aborting the job\n")
            self.abort(self.exit_code)
        # Finished: meet the others (rank 0 may still be writing), but do not wait for ever.
        req = self.comm.Ibarrier()
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while not req.Test():
            if time.monotonic() > deadline:
                sys.stderr.write(f"[rank {self.rank} of {self.size}] the other ranks did not finish within "
                                 f"{EXIT_TIMEOUT_S:g} s of this one; aborting the job\n")
                self.abort(1)
            time.sleep(0.005)

    @property
    def started(self) -> bool:
        """Whether training began (every rank checked in and got rank 0's parameters)."""
        return self._started

    def stats(self) -> dict[str, float]:
        """Communication figures for the benchmark and the logs."""
        return {"ranks": self.size, "steps": self.steps, "allreduce_calls": self.allreduce_calls,
                "grad_bytes": self.grad_bytes, "comm_seconds": self.comm_seconds,
                "comm_ms_per_step": 1e3 * self.comm_seconds / max(self.steps, 1)}


def mpi_hooks(comm: Any = None, threads: Optional[int] = None) -> MPIHooks:
    """The hooks `tinygrad-sm train --distributed` passes to train.fit: data-parallel over the
    ranks of `comm` (COMM_WORLD), threads set per rank, and a failing rank aborting the job."""
    hooks = MPIHooks(comm)
    hooks.set_threads(threads)
    hooks.install_guards()
    return hooks
