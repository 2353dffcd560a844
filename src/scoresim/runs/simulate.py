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
from scoresim.model.guards import check_memory
from scoresim.runs.checkpoint import (
    checkpointed_staging,
    drop_checkpoints,
    find_checkpoint,
    load_state,
    read_run_meta,
    save_state,
    write_run_meta,
)
from scoresim.runs.folder import attach_cleanup, scratch_folder, staging
from scoresim.runs.layout import RECORDS
from scoresim.runs.parquet_stream import drop_parts, folder_streams
from scoresim.runs.results import Results
from scoresim.scenario import Scenario, load_scenario


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
    """
    sets = dict(set or {})
    sets.update({k.replace("__", "."): v for k, v in overrides.items()})
    resolved = resolve(scenario, agents=agents, days=days, seed=seed, records=records,
                       overrides=sets)
    if checkpoint_every is not None and out is None:
        raise ValueError("checkpoint_every needs an out folder to keep the checkpoints in")
    backend = choose_backend(resolved, backend, checkpoint_every)
    check_memory(resolved, force=force, backend=backend)
    if out is not None:
        stage = (checkpointed_staging(Path(out), unique=unique) if checkpoint_every
                 else staging(Path(out), unique=unique))
        with stage as tmp:
            results = _simulate(resolved, tmp, on_day, checkpoint_every, backend=backend)
            results._write_into(tmp)
            drop_parts(tmp)
            drop_checkpoints(tmp)
        results.folder = stage.final
        if results.records_path is not None:
            results.records_path = stage.final / RECORDS
        return results
    tmp = scratch_folder()
    try:
        results = _simulate(resolved, tmp, on_day, backend=backend)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed run leaves no scratch behind
        raise
    attach_cleanup(results, tmp)
    return results


def resume(folder: str | Path, on_day: Callable[[int], None] | None = None) -> Results:
    """Finish a run that was interrupted after a checkpoint (see `run(checkpoint_every=)`).

    The output is identical to that of an uninterrupted run with the same settings.
    """
    final = Path(folder)
    tmp = find_checkpoint(final)
    meta = read_run_meta(tmp)
    scenario = load_scenario(meta["scenario"])
    with checkpointed_staging(final, adopt=tmp) as tmp:
        results = _simulate(scenario, tmp, on_day, meta["checkpoint_every"], resume_from=tmp,
                            started=meta["started"])
        results._write_into(tmp)
        drop_parts(tmp)
        drop_checkpoints(tmp)
    results.folder = final
    if results.records_path is not None:
        results.records_path = final / RECORDS
    return results


def _simulate(scenario: Scenario, folder: Path, on_day, checkpoint_every: int | None = None,
              resume_from: Path | None = None, started: str | None = None,
              backend: str = "day") -> Results:
    started = started or datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    records_path = folder / RECORDS if scenario.records != "none" else None
    sim = Simulation(scenario, folder_streams(folder, parts=bool(checkpoint_every)),
                     backend=backend)
    if resume_from is not None:
        sim.restore(load_state(resume_from))
    elif checkpoint_every:
        write_run_meta(folder, scenario, checkpoint_every, started)
    sim.run(on_day, checkpoint_every, lambda state: save_state(folder, state))
    wall = time.perf_counter() - t0
    manifest = {
        "scoresim_version": __version__,
        "scenario": scenario.model_dump(mode="json"),
        "seed": scenario.seed,
        "agents": scenario.agents,
        "days": scenario.days,
        "records": scenario.records,
        "backend": backend,
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
    return Results(manifest, sim.timeseries(), sim.people_table(), records_path, None,
                   breakdown=sim.breakdown_frame(), tables=sim.frames())
