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
        dissent         24 B   desired dissent, boldness, expressed dissent (float64), with dissent:
        other modules   20 B   sanctions (status bits, suspension ends), filing delays,
                               responses, redress, firms, peer ratings: a few bytes each
                               where enabled (16 B for pilot-city, which enables most)
    the calendar of clocks, e + 2 B per entry: the (person, behaviour) code (e = 4,
        uint32; 8 past 2**32 codes) and the pair's propensity level (uint16). It is
        allocated once, for the pairs whose next event falls inside the horizon
        (1 - (1 - rate)**days per behaviour: an upper bound by Jensen's inequality,
        the propensity having mean 1), plus a block of 2,048 entries per day.
    building       the resident arrays and one chunk of 2**20 people's first event
                   days (int64 codes and days, uint16 levels, the masks of those
                   inside the horizon, and the calendar's codes)
    a day          the resident arrays, about 40 B per event of the busiest day, and
                   the credit file's buffer of up to one row group (2**20 records,
                   about 128 B each while they are written)
    the output     the calendar is released after the last day; the other resident
                   arrays and about 75 B per person (4 more per population attribute):
                   the people table, pandas' consolidated copy and its Arrow table
    and, at any size, 16 MiB for allocator arenas, threads and small tables.

Calibration: peak RSS above the process's RSS after a warm-up run (VmHWM in
/proc/self/status, reset between phases through /proc/self/clear_refs, and
getrusage for whole runs), built-in scenarios, 2 cores, Linux, NumPy 2, numba
0.6x, the engine of the working tree of issue 10 (clocks carry a uint16
propensity level, the calendar is released before the outputs; pilot-city has
15 behaviours and six population attributes). B = bytes per person.

    scenario      agents  days  records      measured B   estimated B
    pilot-city    1e5     365   none          430          768
    pilot-city    1e5     365   all, saved   1279         1729
    pilot-city    1e6     365   none          401          520
    pilot-city    1e6      30   none          367          477
    pilot-city    3e6      30   none          200          211
    reference     1e6     365   none          196          280

By phase at 3e6 people: building 200 B measured (206 estimated), the output
142 (142). At 1e5 people the fixed costs (16 MiB, a page per day and
calendar) dominate, at 1e6 one chunk's first event days; beyond a few
million people the estimate tends to the larger of the output phase and
the resident arrays plus a day: about 140 B per person for pilot-city over
a year, so 100 million people need about 13 GiB. The estimate errs high, by
up to a third from a million people up, the safe side for a refusal;
`--force` is there when a user knows better.

The engine's memory changed three times while this was written (a
propensity cache, then log(1-p) carried in the calendar, then a 2-byte
level). tests/test_guards.py checks the resident part against a real
Simulation's `memory_bytes()`, so a change that outgrows these constants
fails a test: update them from `memory_bytes()` and re-run the slow tests
there, which re-measure peaks.
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
MODULE_BYTES = 20  # the other modules' per-person arrays, all of them enabled
DISSENT_BYTES = 24  # dissent_choice: desire, boldness, action (float64 each)
# The calendar of clocks and the build.
CLOCK_PAYLOAD_BYTES = 2  # the pair's propensity level travels with each clock (uint16)
CALENDAR_SLACK = 1.01  # the calendar is allocated once, for the expected clocks (behaviour.py)
CALENDAR_BLOCK = 2048  # entries per block; each day may hold one part-filled block
BUILD_CHUNK = 1 << 20  # people whose first event days are drawn at once (behaviour.CHUNK)
BUILD_PAIR_BYTES = 22  # int64 code and day, uint16 level, horizon masks, per pair of a chunk
# A day and the output.
EVENT_BYTES = 40  # per event of the busiest day: events, observations, records
ROW_GROUP = 1 << 20  # records buffered before a row group is written (credit_file.ROW_GROUP)
RECORD_BUFFER_BYTES = 128
OUTPUT_BYTES = 75  # per person, while the people table is built and written
PERSON_OUTPUT_BYTES = 32  # the same, for the person backend (Arrow columns, no DataFrame)
OUTPUT_TRAIT_BYTES = 4  # more per population attribute (a categorical column, copied)
FIXED_BYTES = 16 * 2**20  # allocator arenas, worker threads, small tables, at any size
PAGE = 4096  # each day with anything filed touches at least a page of each calendar
N_CALENDARS = 4  # behaviour clocks, sanction reviews, filing delays, appeals


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


def estimate_memory(scenario: Scenario, backend: str = "day") -> MemoryEstimate:
    """The peak memory a run of `scenario` needs; arithmetic only, nothing is allocated.

    `backend` "person" (lives.py) keeps no calendar and no module arrays: the
    standing rows and the group while it runs, then the people table.
    """
    n = scenario.agents
    if backend == "person":
        people = n * (SOCIETY_BYTES + STANDING_BYTES)
        output = people + n * PERSON_OUTPUT_BYTES
        return MemoryEstimate(int(output + FIXED_BYTES), people / n,
                              {"building": int(people), "day": int(people),
                               "output": int(output), "calendars": 0})
    n_b = len(scenario.behaviours)
    e = clock_bytes(scenario)
    pending = pending_per_person(scenario)
    chunk = min(n, BUILD_CHUNK)
    capacity = n * pending * CALENDAR_SLACK + (scenario.days + 18) * CALENDAR_BLOCK
    clocks = capacity * (e + CLOCK_PAYLOAD_BYTES)
    # population attributes (sex, age band...) are one uint8 each, drawn when first used
    traits = len(getattr(scenario.population, "attributes", None) or {})
    people = n * (SOCIETY_BYTES * (1 + traits) + STANDING_BYTES + MODULE_BYTES
                  + (DISSENT_BYTES if scenario.dissent is not None else 0))
    resident = people + clocks

    building = resident + chunk * n_b * (BUILD_PAIR_BYTES + e)
    daily_rate = sum(min(1.0, b.rate) for b in scenario.behaviours.values())
    busiest_day = n * daily_rate * 1.05 + 1000  # a day's count is Poisson-like: mean + slack
    kept = {"all": 1.0, "sample": scenario.records_sample, "none": 0.0}[scenario.records]
    buffered = min(ROW_GROUP, busiest_day * kept * scenario.days)
    day = resident + busiest_day * EVENT_BYTES + buffered * RECORD_BUFFER_BYTES
    # the calendar is released when the last day is done, before the outputs are built
    output = people + n * (OUTPUT_BYTES + OUTPUT_TRAIT_BYTES * traits
                           + (DISSENT_BYTES if scenario.dissent is not None else 0))
    calendars = N_CALENDARS * min(scenario.days, math.ceil(n * max(pending, 1.0))) * PAGE
    parts = {"building": int(building), "day": int(day), "output": int(output),
             "calendars": int(calendars)}
    total = max(building, day, output) + calendars + FIXED_BYTES
    return MemoryEstimate(int(total), resident / n, parts)


def available_memory() -> int:
    """Memory the system can give now without swapping (psutil's `available`)."""
    return int(psutil.virtual_memory().available)


def check_memory(scenario: Scenario, *, force: bool = False,
                 available: int | None = None, backend: str = "day") -> MemoryEstimate:
    """Refuse a scenario whose estimated peak exceeds the memory available, unless forced.

    Called before the Simulation is built, so a refusal costs milliseconds and
    writes nothing.
    """
    estimate = estimate_memory(scenario, backend)
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


#: Resident memory of one Dask worker process before its member allocates anything: the
#: interpreter, numpy, numba's compiled kernels, pyarrow, pandas and distributed.
WORKER_PROCESS_BYTES = 400 * 2**20


def check_sweep_memory(estimates: list[MemoryEstimate], workers: int, *,
                       available: int | None = None, what: str = "sweep") -> int:
    """Refuse a sweep whose members, `workers` at a time, would not fit in memory.

    Run before any worker starts or any folder is made: the largest `workers`
    member estimates at once, plus each worker process's own memory, against
    the memory available now. Returns the bytes needed.
    """
    if not estimates:
        return 0
    workers = max(1, min(workers, len(estimates)))
    largest = sorted((e.total for e in estimates), reverse=True)[:workers]
    need = sum(largest) + workers * WORKER_PROCESS_BYTES
    free = available_memory() if available is None else int(available)
    if need > free:
        raise ResourceError(
            what,
            f"{workers} member{'s' * (workers != 1)} at once need about {human_bytes(need)} "
            f"of memory (the largest member about {human_bytes(largest[0])}, plus "
            f"{human_bytes(WORKER_PROCESS_BYTES)} per worker process), and "
            f"{human_bytes(free)} is available; use fewer --workers or fewer agents",
            field="agents",
        )
    return need
