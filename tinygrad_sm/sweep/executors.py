"""Executors: where trials run (this process, a local process pool, or Dask)."""
from __future__ import annotations

import os
import sys
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Union

from ..kernels import usable_cores
from .space import SweepError

DASK_HINT = ('Dask is not installed: pip install "tinygrad-sm[distributed]" '
             '(or pip install "dask[distributed]")')
"""What to install when --dask is asked for without Dask."""


# -- executors: where trials run --------------------------------------------------------------------
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
"""Environment variables that set BLAS/OpenMP/Numba threads in each worker process."""


@contextmanager
def _thread_env(threads: int) -> Iterator[None]:
    """Set the BLAS/OpenMP/Numba thread variables for processes started inside the block (they
    read them when NumPy and Numba load, so it must be before the child imports them)."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: str(threads) for k in THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Sequential:
    """Trials one after another in this process."""

    def __init__(self, threads: Optional[int] = None) -> None:
        self.threads, self.description = threads, "sequential, in this process"

    def map(self, fn: Callable, jobs: list[tuple]) -> Iterator[tuple[int, Any]]:
        """(index, result) for each job, or (index, the exception) where fn raised: every executor's
        map reports a lost job this way, and the sweep decides what it means."""
        for i, args in enumerate(jobs):
            try:
                result = fn(*args)
            except Exception as e:  # noqa: BLE001  (Ctrl-C is not an Exception: it stops the sweep)
                result = e
            yield i, result

    def close(self) -> None:
        pass


class Processes:
    """--workers N: a local process pool (spawned, so each child reads its thread settings fresh)."""

    def __init__(self, n: int, threads: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        self.threads, self.description = threads, f"{n} local processes x {threads} thread(s)"
        self._env = _thread_env(threads)
        self._env.__enter__()  # kept while the pool may start processes
        self.pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))

    def map(self, fn: Callable, jobs: list[tuple]) -> Iterator[tuple[int, Any]]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool
        futures = {self.pool.submit(fn, *args): i for i, args in enumerate(jobs)}
        try:
            for fut in as_completed(futures):
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    raise
                except Exception as e:  # noqa: BLE001  (as Sequential.map)
                    result = e
                yield futures[fut], result
        except BrokenProcessPool as e:
            raise SweepError(f"a worker process died ({e}); the finished trials are saved; run the same "
                             "command with --resume to do the rest") from None
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._env.__exit__(None, None, None)


def _import_dask() -> Any:
    try:
        import dask
        import distributed
    except ImportError:
        raise SweepError(DASK_HINT) from None
    return dask, distributed


class Dask:
    """--dask local:N starts a LocalCluster of N worker processes; --dask tcp://HOST:PORT joins a
    running scheduler. A worker that dies mid-trial has its trial rescheduled by the scheduler."""

    def __init__(self, address: Optional[str] = None, threads: Optional[int] = None, client: Any = None) -> None:
        dask, dd = _import_dask()
        self.cluster, self.own = None, client is None
        self.host_threads: Optional[dict[str, int]] = None
        if client is not None:
            self.client, self.threads = client, threads
        elif address is not None and address.startswith("local:"):
            n = _positive_int(address[len("local:"):], "--dask local:N")
            self.threads = threads or max(1, usable_cores() // n)
            # Nannies start workers with these variables set before NumPy loads (and set them in
            # this process too, which _thread_env undoes).
            with _thread_env(self.threads), dask.config.set(
                    {"distributed.nanny.pre-spawn-environ": {k: str(self.threads) for k in THREAD_VARS}}):
                self.cluster = dd.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=40)
            self.client = dd.Client(self.cluster)
        elif address is not None:
            try:
                self.client = dd.Client(address, timeout="15s")
            except (OSError, ValueError) as e:  # (ValueError: an address Dask cannot parse)
                raise SweepError(f"cannot reach the Dask scheduler at {address} ({e}); start one with "
                                 "`dask scheduler` and join workers with `dask worker ADDRESS --nthreads 1`") from None
            self.threads = threads
        else:
            raise SweepError("Dask needs --dask local:N or --dask tcp://HOST:PORT")
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        if self.threads is None:  # a shared cluster: split each host's cores over its worker threads
            self.host_threads = {}
            for w in workers.values():
                self.host_threads[w["host"]] = self.host_threads.get(w["host"], 0) + w["nthreads"]
        self._check_workers()
        self.description = f"Dask at {self.client.scheduler.address}, {len(workers)} worker(s)"

    def _check_workers(self) -> None:
        """Every worker must import the same tinygrad_sm (trials are sent as references to it)."""
        import importlib.metadata as md
        try:
            versions = self.client.run(md.version, "tinygrad-sm")
        except md.PackageNotFoundError:
            raise SweepError("a Dask worker has no tinygrad-sm; pip install it on every worker machine") from None
        try:
            mine = md.version("tinygrad-sm")
        except md.PackageNotFoundError:  # (this side runs from a checkout, not installed)
            from .. import __version__ as mine
        other = {a: v for a, v in versions.items() if v != mine}
        if other:
            print(f"warning: Dask workers run other tinygrad-sm versions than this {mine}: {other}", file=sys.stderr)

    def map(self, fn: Callable, jobs: list[tuple]) -> Iterator[tuple[int, Any]]:
        _, dd = _import_dask()
        tag = uuid.uuid4().hex[:8]  # keys unique on a shared scheduler
        futures = [self.client.submit(fn, *args, key=f"tinygrad-sm-{fn.__name__}-{tag}-{i}", pure=False)
                   for i, args in enumerate(jobs)]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in dd.as_completed(futures):
                try:
                    yield index[fut.key], fut.result()
                except Exception as e:  # noqa: BLE001  e.g. KilledWorker: it took down workers repeatedly
                    yield index[fut.key], e
                fut.release()
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self.own:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def _positive_int(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise SweepError(f"{what}: need a positive integer, got {text!r}")
    return n


def make_executor(workers: int = 1, dask: Optional[str] = None, threads: Optional[int] = None,
                  client: Any = None) -> Union[Sequential, Processes, Dask]:
    """Workers x threads stays within the cores unless --threads says otherwise."""
    cores = usable_cores()
    if dask is not None or client is not None:
        if dask is not None and dask.startswith("local:"):
            n = _positive_int(dask[len("local:"):], "--dask local:N")
            if n > cores:
                print(f"warning: {n} Dask workers on {cores} cores: they will share cores", file=sys.stderr)
        return Dask(dask, threads, client)
    if workers > 1:
        if workers > cores:
            print(f"warning: --workers {workers} on {cores} cores: they will share cores", file=sys.stderr)
        return Processes(workers, threads or max(1, cores // workers))
    return Sequential(threads)
