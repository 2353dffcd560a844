"""Resource guards: refuse a run the machine cannot hold, before allocating anything.

A scenario that asks for more memory than the machine has does not fail
cleanly on its own: NumPy may get its arrays (pages are only committed when
touched), the run proceeds for minutes, and then the kernel's OOM killer ends
the process, or the machine swaps to a standstill. So `scoresim.run` first
estimates the peak memory of the run from the scenario alone, by arithmetic,
and refuses at once (exit code 2 at the command line) when the estimate
exceeds the memory available now, unless forced.

The estimate follows the engine's arrays (engine.py, Simulation.memory_bytes)
through the three phases of a run; the peak is the largest of them:

    resident, per person
        society          1 B   demographic group (uint8), and 1 B per population attribute
        standing        16 B   score, false points, list end, status (4 x int32)
        suspensions      4 B   end day of a media suspension (int32), when configured
    the calendar of clocks, e + 4 B per entry: the (person, behaviour) code (e = 4,
        uint32; 8 past 2**32 codes) and its log(1-p) carried along (float32)
        It reserves room for a whole chunk of 2**20 people's (person, behaviour)
        pairs before filing them, keeps the pairs whose next event falls inside
        the horizon (1 - (1 - rate)**days per behaviour: an upper bound by
        Jensen's inequality, the propensity having mean 1), and grows by half
        its size when full: capacity = chunk pairs + pending clocks of the other
        people, times 1.5 once it has grown.
    building       people's groups, the calendar while it grows (the old and the new
                   pool side by side: 1 + 1/1.5 times its capacity), and one chunk's
                   first event days (int64 codes and days, float32 log(1-p), and the
                   calendar's codes)
    a day          the resident arrays, about 40 B per event of the busiest day, and
                   the credit file's buffer of up to one row group (2**20 records,
                   about 96 B each while they are written)
    the output     the resident arrays and about 60 B per person (4 more per population
                   attribute): the people table, pandas' consolidated copy of it and its
                   Arrow table for Parquet
    and, at any size, 16 MiB for allocator arenas, threads and small tables.

Calibration: peak RSS above the process's RSS after a warm-up run (VmHWM in
/proc/self/status, reset between phases through /proc/self/clear_refs, and
getrusage for whole runs), built-in scenarios, 2 cores, Linux, NumPy 2, numba
0.6x, the engine whose clocks carry log(1-p) and whose standing rows are 16
bytes (pilot-city with six population attributes). B = bytes per person.

    scenario      agents  days  records      measured B   estimated B
    pilot-city    1e5     365   none         446          557
    pilot-city    1e5     365   all, saved   1015         1325
    pilot-city    1e6     365   none         361          379
    pilot-city    1e6     365   all, saved   361          379
    pilot-city    1e6      30   none         353          376
    pilot-city    2e6      30   none         267          296
    pilot-city    3e6      30   none         196          218
    reference     1e6     365   none         245          245

By phase at 3e6 people: building 196 B measured (213 estimated), resident
after the run 78 (95), the output 162 (179). Beyond a few million people the
chunk's fixed cost fades and the estimate tends to the output phase, resident
+ 60 B + 4 B per attribute per person: about 200 B for pilot-city over a year,
so 100 million people need about 18 GiB. The estimate errs high, by up to a
third at small sizes, the safe side for a refusal; `--force` is there when a
user knows better. tests/test_guards.py checks the resident part against a
real Simulation's `memory_bytes()`, so a change to the engine's arrays that
outgrows these constants fails a test; the slow tests there re-measure peaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import psutil

from scoresim.scenario.loader import ScenarioError
from scoresim.scenario.schema import Scenario

# Resident bytes per person, by module (see the module docstring).
SOCIETY_BYTES = 1
STANDING_BYTES = 16
SUSPENSION_BYTES = 4
# The calendar of clocks and the build.
CLOCK_PAYLOAD_BYTES = 4  # log(1-p) travels with each clock (float32)
BUILD_CHUNK = 1 << 20  # people whose first event days are drawn at once (behaviour.CHUNK)
CALENDAR_GROWTH = 1.5  # the pool grows by half its size when full
CALENDAR_COPY = 1 + 1 / CALENDAR_GROWTH  # old and new pool side by side while it grows
BUILD_PAIR_BYTES = 20  # int64 code, int64 day, float32 log(1-p) per pair of a chunk
# A day and the output.
EVENT_BYTES = 40  # per event of the busiest day: events, observations, records
ROW_GROUP = 1 << 20  # records buffered before a row group is written (credit_file.ROW_GROUP)
RECORD_BUFFER_BYTES = 96
OUTPUT_BYTES = 60  # per person, while the people table is built and written
OUTPUT_TRAIT_BYTES = 4  # more per population attribute (a categorical column, copied)
FIXED_BYTES = 16 * 2**20  # allocator arenas, worker threads, small tables, at any size
PAGE = 4096  # each day with anything filed touches at least a page of each calendar
N_CALENDARS = 2  # behaviour clocks, sanction reviews


class ResourceError(ScenarioError):
    """A scenario too large for this machine: an input the user can change (--agents),
    so it is reported like any other bad input (exit code 2), never attempted."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of a run, in bytes, from the scenario alone."""

    total: int
    resident_per_person: float  # what stays allocated through the run
    parts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return human_bytes(self.total)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def clock_bytes(scenario: Scenario) -> int:
    """Bytes of one calendar entry: a (person, behaviour) code as uint32 while it fits."""
    n_b = len(scenario.behaviours)
    # codes are person * n_b + b or person << ceil(log2 n_b) | b: take the larger
    codes = scenario.agents * max(n_b, 1 << max(1, (n_b - 1).bit_length()))
    return 4 if codes < 2**32 else 8


def pending_per_person(scenario: Scenario) -> float:
    """Expected (person, behaviour) clocks due within the horizon, at their most (day 0)."""
    d = scenario.days
    total = 0.0
    for b in scenario.behaviours.values():
        if b.rate <= 0.0:
            continue
        total += 1.0 if b.rate >= 1.0 else -math.expm1(d * math.log1p(-b.rate))
    return total


def estimate_memory(scenario: Scenario) -> MemoryEstimate:
    """The peak memory a run of `scenario` needs; arithmetic only, nothing is allocated."""
    n = scenario.agents
    n_b = len(scenario.behaviours)
    e = clock_bytes(scenario)
    pending = pending_per_person(scenario)
    chunk = min(n, BUILD_CHUNK)
    capacity = (chunk * n_b + (n - chunk) * pending) * (CALENDAR_GROWTH if n > chunk else 1.0)
    # population attributes (sex, age band...) are one uint8 each, drawn when first used
    traits = len(getattr(scenario.population, "attributes", None) or {})
    early = n * SOCIETY_BYTES * (1 + traits)
    later = n * (STANDING_BYTES
                 + (SUSPENSION_BYTES if scenario.sanctions.media_suspension else 0))
    clocks = capacity * (e + CLOCK_PAYLOAD_BYTES)
    resident = early + later + clocks

    building = early + clocks * (CALENDAR_COPY if n > chunk else 1.0) \
        + chunk * n_b * (BUILD_PAIR_BYTES + e)
    daily_rate = sum(min(1.0, b.rate) for b in scenario.behaviours.values())
    busiest_day = n * daily_rate * 1.05 + 1000  # a day's count is Poisson-like: mean + slack
    kept = {"all": 1.0, "sample": scenario.records_sample, "none": 0.0}[scenario.records]
    buffered = min(ROW_GROUP, busiest_day * kept * scenario.days)
    day = resident + busiest_day * EVENT_BYTES + buffered * RECORD_BUFFER_BYTES
    output = resident + n * (OUTPUT_BYTES + OUTPUT_TRAIT_BYTES * traits)
    calendars = N_CALENDARS * min(scenario.days, math.ceil(n * max(pending, 1.0))) * PAGE
    parts = {"building": int(building), "day": int(day), "output": int(output),
             "calendars": int(calendars)}
    total = max(building, day, output) + calendars + FIXED_BYTES
    return MemoryEstimate(int(total), resident / n, parts)


def available_memory() -> int:
    """Memory the system can give now without swapping (psutil's `available`)."""
    return int(psutil.virtual_memory().available)


def check_memory(scenario: Scenario, *, force: bool = False,
                 available: int | None = None) -> MemoryEstimate:
    """Refuse a scenario whose estimated peak exceeds the memory available, unless forced.

    Called before the Simulation is built, so a refusal costs milliseconds and
    writes nothing.
    """
    estimate = estimate_memory(scenario)
    free = available_memory() if available is None else int(available)
    if estimate.total > free and not force:
        raise ResourceError(
            f"scenario '{scenario.name}'",
            f"{scenario.agents:,} people for {scenario.days:,} days need about {estimate} "
            f"of memory, and {human_bytes(free)} is available; use fewer agents "
            "(--agents), or --force to try anyway",
            field="agents",
        )
    return estimate
