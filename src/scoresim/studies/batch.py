"""Many small runs as few tasks: members batched, the society built once per seed.

A sensitivity study is thousands of members that differ in a few numbers. Run
one Dask task (and one run folder) per member, as a sweep does, and each pays
a task's round trip, a folder's files and a society's build. Here a task is a
batch of members, run one after the other in the worker, in memory, keeping
only the outputs asked for. Members are sorted by seed, so a batch is mostly
of one seed, and what does not depend on the varied parameters is built once
and shared: the society (`Simulation(society=)`), when the parameters leave
the population, households, regions and network alone. A worker keeps the
last few societies it built, for the next batch of the same seed.

A member's outputs are those of `scoresim.run` with the same scenario and seed:
tests/test_sensitivity.py checks that a member built on a shared society is
byte-identical to one built alone.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from scoresim.model.backends import choose_backend
from scoresim.model.engine import Simulation
from scoresim.model.society import Society, society_key
from scoresim.runs.results import Results
from scoresim.scenario.loader import apply_overrides, validate
from scoresim.scenario.schema import Scenario
from scoresim.studies.outputs import Output

#: Societies a worker keeps for later batches (a few: a batch is mostly one seed).
KEEP_SOCIETIES = 4
_societies: OrderedDict[str, Society] = OrderedDict()


def shared_society(scenario: Scenario) -> Society:
    """The society of `scenario`'s people: built once per worker and key, then reused."""
    key = society_key(scenario)
    society = _societies.get(key)
    if society is None:
        society = Society.build(scenario, scenario.agents, scenario.seed)
        _societies[key] = society
        while len(_societies) > KEEP_SOCIETIES:
            _societies.popitem(last=False)
    else:
        _societies.move_to_end(key)
    return society


def simulate_member(scenario: Scenario, society: Society | None = None) -> Results:
    """One member in memory, no folder, no credit file kept: its Results (timeseries,
    people, breakdown), on the backend `scoresim.run` would choose."""
    t0 = time.perf_counter()
    backend = choose_backend(scenario, "auto", None)
    sim = Simulation(scenario, None, backend=backend, society=society)
    sim.run()
    manifest = {"scenario": {"name": scenario.name}, "agents": scenario.agents,
                "days": scenario.days, "seed": scenario.seed, "backend": backend,
                "wall_seconds": round(time.perf_counter() - t0, 4)}
    return Results(manifest, sim.timeseries(), pa.table({}), None, None,
                   breakdown=sim.breakdown_frame())


def run_batch(base: dict[str, Any], source: str, members: Sequence[tuple[Any, dict[str, Any]]],
              outputs: Sequence[Output], levels: Mapping[str, Sequence[str]],
              share_society: bool = True) -> list[dict[str, Any]]:
    """Run `members` ((key, overrides) pairs, overrides including the seed) on the base
    scenario data; one dict per member: its key, outputs and seconds."""
    rows = []
    for key, overrides in members:
        t0 = time.perf_counter()
        scenario = validate(apply_overrides(base, overrides), source,
                            overridden=list(overrides))
        results = simulate_member(scenario, shared_society(scenario) if share_society else None)
        summary = results.summary()
        values = {o.name: o.value(results.timeseries, summary, results.breakdown, levels)
                  for o in outputs}
        rows.append({"key": key, "outputs": values, "seconds": time.perf_counter() - t0})
    return rows
