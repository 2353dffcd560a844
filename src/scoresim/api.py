"""The Python API: everything the command line does, callable from a notebook."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numba
import numpy as np

from scoresim import __version__
from scoresim.engine import Simulation
from scoresim.results import (
    RECORDS,
    Results,
    attach_cleanup,
    scratch_folder,
    staging,
)
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
    **overrides: Any,
) -> Results:
    """Run a scenario and return its Results; with `out`, also write the run folder.

    Dotted overrides go in `set={"scoring.points.jaywalking": -10}`, or as keyword
    arguments with `__` for the dots: `scoring__points__jaywalking=-10`.
    """
    sets = dict(set or {})
    sets.update({k.replace("__", "."): v for k, v in overrides.items()})
    resolved = resolve(scenario, agents=agents, days=days, seed=seed, records=records,
                       overrides=sets)
    if out is not None:
        with staging(Path(out)) as tmp:
            results = _simulate(resolved, tmp, on_day)
            results._write_into(tmp)
        results.folder = Path(out)
        if results.records_path is not None:
            results.records_path = Path(out) / RECORDS
        return results
    tmp = scratch_folder()
    results = _simulate(resolved, tmp, on_day)
    attach_cleanup(results, tmp)
    return results


def _simulate(scenario: Scenario, folder: Path, on_day) -> Results:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    records_path = folder / RECORDS if scenario.records != "none" else None
    sim = Simulation(scenario, records_path=records_path)
    sim.run(on_day)
    wall = time.perf_counter() - t0
    manifest = {
        "scoresim_version": __version__,
        "scenario": scenario.model_dump(mode="json"),
        "seed": scenario.seed,
        "agents": scenario.agents,
        "days": scenario.days,
        "records": scenario.records,
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
    return Results(manifest, sim.timeseries(), sim.people(), records_path, None,
                   tables=sim.frames())
