"""Running a scenario: resolved, simulated, and written to its run folder (or kept in memory).

The Python API (`scoresim.run`, `scoresim.resume`) and the command line both
come here; sweeps and calibrations run their members through it too.
"""

from __future__ import annotations

import platform
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numba
import numpy as np

from scoresim._version import __version__
from scoresim.model.backends import choose_backend
from scoresim.model.engine import Simulation
from scoresim.model.guards import check_memory, choose_block
from scoresim.model.lives import Spread
from scoresim.runs.checkpoint import (
    checkpointed_staging,
    find_interrupted,
    load_state,
    read_meta,
    save_state,
    write_run_meta,
)
from scoresim.runs.finish import complete, finishing_folder, release, settle
from scoresim.runs.folder import RunFolderError, attach_cleanup, scratch_folder, staging
from scoresim.runs.layout import CHECKPOINT, PEOPLE, RECORDS, RUN_META, STATE
from scoresim.runs.parquet_stream import folder_streams
from scoresim.runs.people_file import PeopleFile
from scoresim.runs.results import Results, load, verify
from scoresim.scenario import Scenario, ScenarioError, load_scenario


def resolve(
    scenario: str | Path | dict | Scenario = "pilot-city",
    *,
    agents: int | None = None,
    days: int | None = None,
    seed: int | None = None,
    records: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Scenario:
    """The fully resolved scenario a run would use (sizes and overrides applied)."""
    sets = dict(overrides or {})
    for key, value in (("agents", agents), ("days", days), ("seed", seed), ("records", records)):
        if value is not None:
            sets[key] = value
    return load_scenario(scenario, sets)


def run(
    scenario: str | Path | dict | Scenario = "pilot-city",
    *,
    agents: int | None = None,
    days: int | None = None,
    seed: int | None = None,
    records: str | None = None,
    out: str | Path | None = None,
    set: dict[str, Any] | None = None,  # noqa: A002 - mirrors the CLI's --set
    on_day: Callable[[int], None] | None = None,
    force: bool = False,
    unique: bool = False,
    checkpoint_every: int | None = None,
    backend: str = "auto",
    asked: dict[str, Any] | None = None,
    block_size: int | None = None,
    on_block: Callable[[int], None] | None = None,
    on_scan: Callable[[int], None] | None = None,
    spread: Callable[[Path], Spread] | None = None,
    **overrides: Any,
) -> Results:
    """Run a scenario and return its Results; with `out`, also write the run folder.

    Dotted overrides go in `set={"scoring.points.jaywalking": -10}`, or as keyword
    arguments with `__` for the dots: `scoring__points__jaywalking=-10`.
    A scenario whose estimated memory exceeds what the machine has available is
    refused before anything is allocated (guards.ResourceError), unless `force`.
    With `unique`, a taken `out` is not an error: the run goes to `out-2`, `out-3`,
    ... and `Results.folder` says where.
    `backend`: "day" (the day-by-day engine), "person" (lives.py: each person's whole
    run at once; the same numbers, for scenarios without interactions and with
    records off) or "auto" (the person backend wherever it can run the scenario).
    `block_size`: the person backend lives this many people at a time (lives.py), so
    that memory grows with the block and not with the population; by default
    (None) everyone at once where the run fits in memory, else the block the memory
    guard chooses (guards.choose_block). The outputs are the same bytes either way.
    `on_block(k)` is called as k blocks are done (`on_day` otherwise), and before the
    first block `on_scan(k)` as k of lives.SCAN_STEPS slices of the people have had
    their false matches found.
    `spread`: for a run in blocks, given the staging folder, where its blocks are computed
    (lives.Spread; studies/cluster_run.py puts them on Dask workers, which write their
    people's rows into that folder); None: here.
    `asked`: what the caller will do with the finished run (the command line: the
    registry, the --set overrides, --report). A checkpointed run keeps it in its
    checkpoint until the caller says it is done (`finished(results)`), so that
    `resume` does it when the process was killed first.
    """
    sets = dict(set or {})
    sets.update({k.replace("__", "."): v for k, v in overrides.items()})
    resolved = resolve(scenario, agents=agents, days=days, seed=seed, records=records,
                       overrides=sets)
    if checkpoint_every is not None and out is None:
        raise ValueError("checkpoint_every needs an out folder to keep the checkpoints in")
    backend = choose_backend(resolved, backend, checkpoint_every)
    block = choose_block(resolved, backend, block_size)
    check_memory(resolved, force=force, backend=backend, block=block)
    if out is not None and checkpoint_every:
        stage = checkpointed_staging(Path(out), unique=unique)
        with stage as tmp:
            results = _simulate(resolved, tmp, on_day, checkpoint_every, backend=backend,
                                asked=asked)
            complete(results, tmp)
        return _placed(results, stage.final, finishing_folder(tmp), asked)
    if out is not None:
        plain = staging(Path(out), unique=unique)
        with plain as tmp:
            results = _simulate(resolved, tmp, on_day, backend=backend, block=block,
                                on_block=on_block, on_scan=on_scan, spread=spread)
            results._write_into(tmp)
        return _placed(results, plain.final, None, asked)
    tmp = scratch_folder()
    try:
        results = _simulate(resolved, tmp, on_day, backend=backend, block=block,
                            on_block=on_block, on_scan=on_scan, spread=spread)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed run leaves no scratch behind
        raise
    attach_cleanup(results, tmp)
    return results


def resume(folder: str | Path, on_day: Callable[[int], None] | None = None, *,
           defer_finish: bool = False) -> Results:
    """Finish a run that was interrupted after a checkpoint (see `run(checkpoint_every=)`).

    The output is identical to that of an uninterrupted run with the same settings.
    A run killed while finishing is carried on from the step it reached
    (runs/finish.py), without computing anything again. `Results.asked` is what
    the run was asked to do afterwards (the command line's registry and report);
    with `defer_finish` the caller does it and then calls `finished(results)`, and
    until then a kill leaves it for the next resume to do.
    A destination filled while the run was down, or a damaged checkpoint, is
    refused (RunFolderError) before anything is computed, and nothing is deleted.
    """
    final = Path(folder)
    found = find_interrupted(final)
    where = found.checkpoint
    meta = read_meta(where) if where is not None and (where / RUN_META).exists() else None
    if found.staging is None:  # renamed into place; only the caller's steps were left
        results = load(found.final)
    elif found.complete:  # every file written; only the finishing steps are left
        verify(found.staging)
        results = load(settle(found.staging, final))
    else:
        if meta is None:
            raise RunFolderError(f"{found.staging / CHECKPOINT / RUN_META}: missing; the "
                                 "checkpoint is damaged; nothing was deleted")
        scenario = _scenario_of(meta, found.staging)
        state = load_state(found.staging)
        with checkpointed_staging(final, adopt=found.staging) as tmp:
            results = _simulate(scenario, tmp, on_day, meta["checkpoint_every"],
                                resume_from=state, started=meta["started"])
            complete(results, tmp)
        results = _placed(results, final, None, None)
    side = found.finishing if found.staging is None else finishing_folder(found.staging)
    results = _placed(results, results.folder or final, side, meta["asked"] if meta else None)
    if not defer_finish:
        finished(results)
    return results


def finished(results: Results) -> None:
    """The caller's own steps after a run (registry, report) are done: drop what kept them."""
    release(results._finishing)
    results._finishing = None


def _placed(results: Results, final: Path, finishing: Path | None,
            asked: dict[str, Any] | None) -> Results:
    """`results` pointing at its run folder; the finishing checkpoint kept only if asked."""
    results.folder = final
    if isinstance(results._people, Path):  # written into the staging folder, now renamed
        results._people = final / PEOPLE
    if results.records_path is not None:
        results.records_path = final / RECORDS
    results.asked = asked or None
    results._finishing = finishing
    if results.asked is None:
        finished(results)  # nothing left to do after the run
    return results


def _scenario_of(meta: dict[str, Any], staging_folder: Path) -> Scenario:
    try:
        return load_scenario(meta["scenario"])
    except ScenarioError as exc:
        raise RunFolderError(f"{staging_folder / CHECKPOINT / RUN_META}: its scenario is not "
                             f"valid ({exc}); the checkpoint is damaged; nothing was deleted"
                             ) from None


def _simulate(scenario: Scenario, folder: Path, on_day, checkpoint_every: int | None = None,
              resume_from: dict[str, np.ndarray] | None = None, started: str | None = None,
              backend: str = "day", asked: dict[str, Any] | None = None,
              block: int | None = None,
              on_block: Callable[[int], None] | None = None,
              on_scan: Callable[[int], None] | None = None,
              spread: Callable[[Path], Spread] | None = None) -> Results:
    started = started or datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    records_path = folder / RECORDS if scenario.records != "none" else None
    sim = Simulation(scenario, folder_streams(folder, parts=bool(checkpoint_every)),
                     backend=backend, block=block)
    if resume_from is not None:
        try:
            sim.restore(resume_from)
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise RunFolderError(
                f"{folder / CHECKPOINT / STATE}: does not fit the scenario of its run.json "
                f"({type(exc).__name__}: {exc}); the checkpoint is damaged; nothing was deleted"
            ) from None
    elif checkpoint_every:
        write_run_meta(folder, scenario, checkpoint_every, started, asked)
    people_file = PeopleFile(folder / PEOPLE, sim.n) if sim.block is not None else None
    where = spread(folder) if spread is not None and sim.block is not None else None
    try:
        sim.run(on_day, checkpoint_every, lambda state: save_state(folder, state),
                people_out=people_file.write if people_file is not None else None,
                on_block=on_block, on_scan=on_scan, spread=where)
        people = people_file.close() if people_file is not None else sim.people_table()
    except BaseException:
        if people_file is not None:
            people_file.abandon()
        raise
    wall = time.perf_counter() - t0
    manifest = {
        "scoresim_version": __version__,
        "scenario": scenario.model_dump(mode="json"),
        "seed": scenario.seed,
        "agents": scenario.agents,
        "days": scenario.days,
        "records": scenario.records,
        "backend": backend,
        **({"block_size": sim.block} if sim.block is not None else {}),
        **(where.manifest if where is not None else {}),
        "n_events": sim.n_events,
        "n_records_written": sim.credit_file.n_written,
        "started": started,
        "wall_seconds": round(wall, 4),
        "timings": {k: round(v, 4) for k, v in sim.timings.items()},
        "memory_bytes": sim.memory_bytes(),
        "platform": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "machine": platform.machine(),
        },
    }
    return Results(manifest, sim.timeseries(), people, records_path, None,
                   breakdown=sim.breakdown_frame(), tables=sim.frames())
