"""The machinery sweeps, calibrations and sensitivity studies share: Dask clients, progress, locks.

Members run as Dask tasks: on a LocalCluster sized to the machine by default
(one process per core, one thread each, numba held to one thread per worker),
or on any scheduler by address, which is how a study reaches an HPC batch
system through dask-jobqueue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from scoresim.runs.folder import RunFolderError
from scoresim.scenario import ScenarioError

#: How long a local cluster may have no workers before a study gives up (seconds).
NO_WORKERS_TIMEOUT = 120.0

log = logging.getLogger(__name__)


class NoWorkersError(RuntimeError):
    """The local cluster lost all its workers (killed, out of memory?)."""


@contextlib.contextmanager
def progress_bar(progress: bool | Callable[[int, int], None], title: str, unit: str, total: int
                 ) -> Iterator[Callable[[int], None]]:
    """An `advance(n)` for work of `total` items: a rich bar, a callback, or nothing."""
    if callable(progress):
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            progress(done[0], total)

        yield advance
        return
    if not progress:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    # the title is the sweep's name, written by the user: shown as written, never markup
    with Progress(TextColumn(title, markup=False, style="bold"), BarColumn(),
                  MofNCompleteColumn(), TextColumn(unit, markup=False), TimeElapsedColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(unit, total=total)
        yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def client(scheduler: Any, workers: int | None, n_todo: int, threads: int = 1
           ) -> Iterator[Any]:
    """A Dask client: on a new LocalCluster (`threads`: numba threads a worker), at an
    address, or on a given client/cluster."""
    from distributed import Client

    if scheduler is None:
        with main_not_rerun():
            cluster = local_cluster(workers or max(1, min(usable_cores(), n_todo)), threads)
            try:
                with Client(cluster) as client:
                    yield client
            finally:
                cluster.close()
    elif isinstance(scheduler, Client):
        yield scheduler
    elif isinstance(scheduler, str):
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ScenarioError("--scheduler", f"cannot reach a Dask scheduler at "
                                f"'{scheduler}' ({type(exc).__name__}: {exc})") from None
        with client:
            yield client
    else:
        with Client(scheduler) as client:  # a cluster object (LocalCluster, SLURMCluster ...)
            yield client


@contextlib.contextmanager
def main_not_rerun() -> Iterator[None]:
    """Keep the caller's script from running again in each worker process.

    Dask starts local workers with multiprocessing's spawn, which re-imports
    the parent's main module in every child: a script that calls
    `scoresim.sweep(...)` at its top level, without `if __name__ ==
    "__main__":`, would run the whole script again in each worker, and start
    a sweep there, until the nannies fail to start. The workers only run
    scoresim's own functions, so the main module is hidden from spawn (its
    `__file__` and `__spec__`, which spawn reads to find it) while the local
    cluster lives, and put back after. Notebooks and `python -c` have no
    main file to hide.
    """
    import sys

    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__")
             if main is not None and k in main.__dict__}
    if main is None or (saved.get("__spec__") is None and "__file__" not in saved):
        yield
        return
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.update(saved)


#: Set by local_cluster in each worker process: the numba threads one member may use.
WORKER_THREADS_ENV = "SCORESIM_WORKER_THREADS"


def local_cluster(n_workers: int, threads: int = 1) -> Any:
    """A LocalCluster of `n_workers` processes with one thread each, numba held to one
    thread per worker (`threads`: that many): members run side by side instead of
    fighting over cores."""
    from distributed import LocalCluster

    # `env` is set in each worker process only; the nanny's pre-spawn environment would
    # also change this process's, and numba refuses a thread count that changes under it.
    # NUMBA_NUM_THREADS sizes the pool where numba is imported after `env` is applied;
    # hold_numba_threads, in every task, holds the member to one thread either way.
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                        dashboard_address=":0", silence_logs=logging.ERROR,
                        env={"NUMBA_NUM_THREADS": str(threads),
                             WORKER_THREADS_ENV: str(threads),
                             "OMP_WAIT_POLICY": "PASSIVE"})


def hold_numba_threads() -> None:
    """Called first in every task a study runs on a worker (members, trials).

    A worker process may have imported numba before Dask applied the cluster's
    `env` (a preload, the parent's main module, a plugin): numba's pool then has
    as many threads as cores, while NUMBA_NUM_THREADS says 1. Once a cached
    parallel kernel has started the pool, the next compile (a kernel not in the
    cache yet) rereads the environment and fails with "Cannot set
    NUMBA_NUM_THREADS to a different value once the threads have been launched",
    on every re-run too, since the kernel that failed is never cached. So the
    environment is made to say what the pool really has (a reread changes
    nothing), and the member is held to WORKER_THREADS_ENV threads with
    numba.set_num_threads (per thread: this task's), which needs no new pool.
    """
    import numba

    pool = numba.config.NUMBA_NUM_THREADS
    os.environ["NUMBA_NUM_THREADS"] = str(pool)
    want = os.environ.get(WORKER_THREADS_ENV, "").strip()
    if want.isdigit() and int(want) >= 1:
        numba.set_num_threads(min(int(want), pool))


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class WorkerWatch:
    """Notices a cluster without workers. Dask waits for workers forever, which is right
    for a batch system still queueing jobs, but a local cluster whose worker processes
    were all killed (out of memory, say) would leave the sweep hanging."""

    def __init__(self, client: Any, own_cluster: bool,
                 kept: str = "finished members are kept; re-run to go on"):
        self.client, self.own_cluster = client, own_cluster
        self.kept = kept  # what is left of the work, in the error's words
        self.since: float | None = None
        self.warned = False

    def check(self) -> None:
        try:
            n_workers = len(self.client.scheduler_info().get("workers", {}))
        except Exception:  # noqa: BLE001 - the next wait says what is wrong
            return
        if n_workers:
            self.since = None
            return
        now = time.monotonic()
        self.since = self.since or now
        idle = now - self.since
        if self.own_cluster and idle > NO_WORKERS_TIMEOUT:
            raise NoWorkersError(f"the local cluster has had no workers for {idle:.0f} s (killed, "
                                 f"out of memory?); {self.kept}")
        if not self.own_cluster and idle > NO_WORKERS_TIMEOUT and not self.warned:
            log.warning("no Dask workers for %.0f s; waiting for the scheduler to get some",
                        idle)
            self.warned = True


@contextlib.contextmanager
def exclusive(folder: Path, lock_name: str, what: str) -> Iterator[None]:
    """One study process per folder: a second would undo or interleave the first's work."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; run one study per folder
        yield
        return
    # never through a link, never truncating: the lock file only has to exist
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(folder / lock_name, flags, 0o644)
    except OSError as exc:
        raise RunFolderError(f"{folder / lock_name}: cannot open the lock file "
                             f"({exc.strerror}; a symbolic link?)") from None
    with os.fdopen(fd, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(f"{folder}: another {what} is running in this folder") \
                from None
        except OSError:
            pass  # a file system without locks (some NFS): carry on
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)


#: seconds without a finished future before the workers' health is checked
HEALTH_CHECK_SECONDS = 5.0


def drain(pending: Any, on_done: Callable[[Any], None], watch: WorkerWatch,
          error: type[Exception], futures: list[Any]) -> None:
    """Hand each finished future of `pending` (a distributed.as_completed) to `on_done`
    until none is left, checking the workers whenever none has finished for
    HEALTH_CHECK_SECONDS, so a study whose workers all died fails with `error` instead
    of waiting for ever; on the way out (done, failed or interrupted) every future in
    `futures` is cancelled. One loop for sweeps and sensitivity studies; `on_done` may
    add futures to `pending` and `futures`."""
    try:
        quiet_since = time.monotonic()
        while not pending.is_empty():
            if pending.has_ready():
                for future in pending.next_batch(block=False):
                    on_done(future)
                quiet_since = time.monotonic()
                continue
            time.sleep(0.02)  # as_completed cannot wait with a timeout
            if time.monotonic() - quiet_since > HEALTH_CHECK_SECONDS:
                try:
                    watch.check()
                except NoWorkersError as exc:
                    raise error(str(exc)) from None
                quiet_since = time.monotonic()
    finally:
        for f in futures:
            f.cancel()
