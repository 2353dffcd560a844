"""One run on Dask: the person backend's blocks as Dask tasks (issue 23).

A run in blocks (model/lives.py) is two kinds of work, each a function of the
scenario and a range of people alone: finding the false matches the acts of a
slice of the people make, and living a block of people with the false matches
that name them. Every draw is keyed by (seed, purpose, person, day), so either
gives the same numbers in any process. Each worker builds the scenario's
Simulation once (its society and clocks: a few bytes a person), does the slices
and blocks it is handed, and sends back what is gathered or summed here: the
false matches (few: about one per 100 people a year in `reference`, 13 bytes
each) and a block's day counts (integer sums, the same in any order). It writes
the block's rows of people.parquet itself, one Parquet file a block, into the
run's staging folder (people.parquet.parts/part-00000.parquet, ...: a
partitioned dataset), and they are joined here, in block order, into
people.parquet by runs/people_file.py, the same bytes the run in this process
writes. So the run folder is the local run's byte for byte (tests/
test_cluster_run.py), but for manifest.json, which also says how the run was
computed (`block_size`, `dask_workers`) and how long it took.

The clusters are the sweeps' (studies/cluster.py): a LocalCluster of one
process per core by default, or any scheduler by address (dask-jobqueue's on a
batch system). The workers must reach the run folder: a LocalCluster always
does; a scheduler elsewhere needs the run folder on a file system its workers
share, as a sweep's members do.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scoresim.model.backends import choose_backend
from scoresim.model.engine import Simulation
from scoresim.model.guards import BLOCK_ALIGN, check_memory, choose_block
from scoresim.model.lives import Blocks
from scoresim.runs import simulate
from scoresim.runs.columns import describe
from scoresim.runs.layout import PEOPLE, PEOPLE_PARTS, people_part
from scoresim.runs.results import Results
from scoresim.scenario import Scenario, ScenarioError, load_scenario
from scoresim.studies.cluster import (
    HEALTH_CHECK_SECONDS,
    WorkerWatch,
    client,
    hold_numba_threads,
    usable_cores,
)

#: By default a run on Dask is cut into this many blocks per worker (fewer where the
#: memory guard cuts smaller ones), so that a worker that is done early takes another.
BLOCKS_PER_WORKER = 2


def person_backend_on_dask(scenario: Scenario, backend: str = "auto",
                           checkpoint_every: int | None = None) -> None:
    """Refuse, saying why, a run on Dask of a scenario the person backend cannot run.

    Only the person backend's blocks are independent of each other; the day loop
    needs every person's day before the next day, and does not spread."""
    why = "a run on Dask (--dask, --scheduler, --workers) lives the person backend's blocks"
    if backend == "day":
        raise ScenarioError(scenario.name, f"{why}; --backend day cannot run on Dask",
                            field="scheduler")
    try:
        choose_backend(scenario, "person", checkpoint_every)
    except ScenarioError as exc:
        raise ScenarioError(scenario.name, f"{why}, and {exc.detail}", field="scheduler") \
            from None


def dask_block(scenario: Scenario, workers: int, block_size: int | None = None) -> int | None:
    """The block of a run on `workers` Dask workers; None where it is one block (it then
    runs in this process).

    `block_size` given: that. Otherwise BLOCKS_PER_WORKER blocks a worker, in whole tasks
    of the person backend, or the memory guard's block where that is smaller."""
    if block_size is not None:
        return choose_block(scenario, "person", block_size)
    n = scenario.agents
    share = -(-n // (BLOCKS_PER_WORKER * max(1, workers)))
    aligned = -(-share // BLOCK_ALIGN) * BLOCK_ALIGN
    block = aligned if aligned < n else share
    fit = choose_block(scenario, "person")
    block = min(block, fit) if fit is not None else block
    return block if block < n else None


def workers_of(dask_client: Any) -> int:
    """The workers a client's scheduler has now (at least 1: a batch system's may come)."""
    return max(1, len(dask_client.scheduler_info().get("workers", {})))


@contextlib.contextmanager
def connected(scheduler: Any = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask client for one run: a new LocalCluster of `workers` processes (one per core
    by default, each with the cores left to it for numba's threads: a run's blocks are
    all the work there is), or the scheduler at an address, or a given client or cluster."""
    if workers is not None and scheduler is not None:
        raise ScenarioError("--workers", "sizes the local cluster only; the scheduler given "
                            "has its own workers")
    cores = usable_cores()
    workers = workers or cores
    with client(scheduler, workers, 1 << 30, threads=max(1, cores // workers)) as c:
        yield c


def run_on_dask(scenario: str | Path | dict | Scenario = "pilot-city", *,
                scheduler: Any = None, workers: int | None = None,
                agents: int | None = None, days: int | None = None, seed: int | None = None,
                records: str | None = None, set: dict[str, Any] | None = None,  # noqa: A002
                backend: str = "auto", block_size: int | None = None, force: bool = False,
                dask_client: Any = None, own_cluster: bool = False,
                **run_args: Any) -> Results:
    """`scoresim.run` with the person backend's blocks as tasks on Dask workers.

    The same arguments as `run` (but checkpoints: the person backend has none), and
    `scheduler` (an address, a client or a cluster; None: a new LocalCluster of
    `workers` processes, one per core by default), or `dask_client`, a client already
    connected (`own_cluster`: to a local cluster made for this run, whose workers all
    gone end it, where another cluster's are waited for). The run folder is the one
    `run` writes here, byte for byte (but the manifest's timings, `block_size` and
    `dask_workers`). A scenario the person backend cannot run is refused (ScenarioError)
    before any cluster is started.
    """
    resolved = simulate.resolve(scenario, agents=agents, days=days, seed=seed,
                                records=records, overrides=dict(set or {}))
    person_backend_on_dask(resolved, backend)
    # before any cluster: a run this machine cannot hold even in blocks is refused here
    check_memory(resolved, force=force, backend="person",
                 block=choose_block(resolved, "person", block_size))
    with contextlib.ExitStack() as stack:
        c = dask_client if dask_client is not None else \
            stack.enter_context(connected(scheduler, workers))
        own = own_cluster or (dask_client is None and scheduler is None)
        n_workers = workers_of(c)
        block = dask_block(resolved, n_workers, block_size)
        try:
            return simulate.run(resolved, backend="person", block_size=block, force=force,
                                spread=lambda folder: DaskSpread(c, resolved, block, folder,
                                                                 n_workers, own), **run_args)
        finally:
            with contextlib.suppress(Exception):  # a scheduler that lives on keeps no build
                c.run(_forget)


class DaskSpread:
    """A run in blocks' work as Dask tasks (model/lives.Spread), its people's rows written
    by the workers into `folder`/people.parquet.parts and read back here in order."""

    def __init__(self, dask_client: Any, scenario: Scenario, block: int, folder: Path,
                 workers: int, own_cluster: bool = False):
        self.client = dask_client
        # a cluster of our own whose workers are all gone ends the run, not waits for ever
        self.watch = WorkerWatch(dask_client, own_cluster, "nothing of the run was kept")
        self.scenario = scenario.model_dump(mode="json")
        self.block = block
        self.parts = Path(folder) / PEOPLE_PARTS
        self.manifest: dict[str, Any] = {"dask_workers": workers}
        self.token = uuid.uuid4().hex[:12]

    def _submit(self, fn: Any, name: str, *args: Any) -> Any:
        # pure=False: a task is never taken for another run's; retries: a lost worker's
        # task is done again elsewhere, with the same numbers (and the same part file)
        return self.client.submit(fn, self.scenario, self.block, *args, pure=False,
                                  retries=2, key=f"scoresim-{name}-{self.token}")

    def _result(self, future: Any) -> Any:
        """The future's result, checking the workers while it has none."""
        while True:
            try:
                return future.result(timeout=HEALTH_CHECK_SECONDS)
            except TimeoutError:
                self.watch.check()

    def scan(self, slices: list[tuple[int, int]]
             ) -> Iterator[tuple[tuple[int, int], tuple[np.ndarray, ...]]]:
        # all submitted at once, so waiting for them in order loses no time
        futures = [self._submit(_scan, f"scan-{lo}", lo, hi) for lo, hi in slices]
        try:
            for where, future in zip(slices, futures, strict=True):
                yield where, self._result(future)
        finally:
            for future in futures:
                future.cancel()

    def blocks(self, bounds: list[tuple[int, int]], named: list[tuple]
               ) -> Iterator[tuple[tuple[np.ndarray, ...], pa.Table]]:
        self.parts.mkdir()
        futures = [self._submit(_live, f"block-{b}", lo, hi, *matches,
                                str(self.parts / people_part(b)))
                   for b, ((lo, hi), matches) in enumerate(zip(bounds, named, strict=True))]
        try:
            for b, future in enumerate(futures):  # in block order, as people.parquet is
                counts, schema = self._result(future)
                part = self.parts / people_part(b)
                # the block's table as the worker made it: Parquet gives a dictionary's
                # large strings back as strings, which people.parquet's footer would show
                people = pq.read_table(part).cast(schema)
                futures[b] = None  # its counts are in hand: nothing to cancel
                yield counts, people
                part.unlink()  # its rows are in people.parquet now
            self.parts.rmdir()
        finally:  # failed or interrupted: the staging folder, parts and all, is removed
            for future in futures:
                if future is not None:
                    future.cancel()


# --- what runs on the workers ---------------------------------------------------------------

# The Simulation a worker process built, by scenario and block: the run's tasks reuse it.
_BUILT: dict[str, Blocks] = {}


def _work(scenario: dict[str, Any], block: int) -> Blocks:
    hold_numba_threads()
    key = f"{block}:{json.dumps(scenario, sort_keys=True)}"
    work = _BUILT.get(key)
    if work is None:
        _BUILT.clear()  # one run's build at a time
        work = Blocks(Simulation(load_scenario(scenario), backend="person", block=block))
        _BUILT[key] = work
    return work


def _forget() -> None:
    """Drop the build of the run that just ended (a worker that lives on)."""
    _BUILT.clear()


def _scan(scenario: dict[str, Any], block: int, lo: int, hi: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The false matches made by the acts of tasks lo..hi-1 (lives.Blocks.scan)."""
    return _work(scenario, block).scan(lo, hi)


def _live(scenario: dict[str, Any], block: int, lo: int, hi: int, who: np.ndarray,
          day: np.ndarray, beh: np.ndarray, part: str
          ) -> tuple[tuple[np.ndarray, ...], pa.Schema]:
    """Live and settle people lo..hi-1, write their rows of people.parquet to `part`, and
    return the block's day counts (lives.Blocks.live) and the rows' Arrow schema."""
    work = _work(scenario, block)
    counts = work.live(lo, hi, who, day, beh)
    path = Path(part)
    # under a name of this attempt's own: a task done twice (a worker thought lost) never
    # writes over a file being read
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    people = describe(work.sim.people_table(lo, hi), PEOPLE)
    pq.write_table(people, tmp, compression="zstd", row_group_size=max(1, people.num_rows))
    os.replace(tmp, path)
    return counts, people.schema
