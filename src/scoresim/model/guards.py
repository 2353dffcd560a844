"""Resource guards: refuse a run the machine cannot hold, before allocating anything.

A scenario that asks for more memory than the machine has does not fail
cleanly on its own: NumPy may get its arrays (pages are only committed when
touched), the run proceeds for minutes, and then the kernel's OOM killer ends
the process, or the machine swaps to a standstill. So `scoresim.run` first
estimates the peak memory of the run from the scenario alone, by arithmetic,
and refuses at once (exit code 2 at the command line) when the estimate
exceeds the memory available now, unless forced.

The estimate is a model of the whole process's peak resident set size, what
`/usr/bin/time -v` reports (runs/peak.py measures it that way):

    peak = the process + the largest of (building, a day, the output)

    the process    the interpreter, NumPy, pandas, pyarrow, numba and the compiled
                   kernels loaded from numba's cache: PROCESS_BYTES, measured (a
                   2,000 x 3 run of a built-in, whose own arrays are < 1 MiB), and
                   KERNEL_SECTION_BYTES for each optional module turned on
    resident, per person, from the arrays' dtypes (Simulation.memory_bytes)
        society     1 B group (uint8), 1 B per population attribute, 1 B region;
                    households: household (int32), role (uint8) and a block start
                    (int64) per household; ties: offsets (int64) and one int32 per
                    tie end (mean degree (degree_min + degree_max) / 2)
        standing   16 B score, false points, list end, status (4 x int32)
        dissent    24 B desired dissent, boldness, expressed dissent (float64)
        firms       4 B employer (int32), and per firm (per_person of them) its score,
                    legal representative (int64), list end, sector, flags
        other      20 B sanctions, filing delays, responses, redress, peer ratings
        the calendar of clocks, e + 2 B per entry (a uint32/uint64 code and a uint16
                    propensity level), for the pairs due within the horizon, and
                    two blocks a day of room (calendar.py)
    building   the society's build (ties: each person's draws, int32, the drawn ends
               by bucket, int64, and the draw offsets, int64, beside the final CSR),
               then the calendar, the first module built: the society, the standing
               rows, the clocks and one chunk of 2**20 people's first event days (int64
               code and day, uint16 level, the e-byte code, the horizon masks); the
               modules built after it (firms, dissent, sanctions...) are not there yet
    a day      the resident arrays, about 40 B per event of the busiest day, and
               the credit file's buffer of up to one row group (2**20 records,
               about 128 B each while they are written)
    the output the people table (about 75 B per person, 32 on the person
               backend) while Parquet encodes it (WRITER_BYTES: its buffers, from
               about 1e5 people on); with a credit file kept, the credit file's
               buffer, whose pages Arrow's pool keeps, and the replay
               (runs/wrongful.py reads records.parquet one row group at a time:
               REPLAY_GROUP_BYTES per record of a group, REPLAY_BYTES per kept
               record for the wrong subjects and the candidates' rows)

The person backend in blocks (lives.py) keeps for everyone only what a camera's
false match must read of anyone (the group, and the traits face recognition or
coverage vary by: 1 B each) and the false matches themselves (13 B each, found
before the first block, sorted: FALSE_MATCH_SORT_BYTES each while they are);
everything else is a block's: the standing rows and the people table made from
them while it is written (BLOCK_PERSON_BYTES per person of a block). When a run
fits whole it is not cut (`choose_block`); when it does not, the block is the
largest that fits in half the memory left, at most MAX_BLOCK people, so that
the rest stays free and a progress bar moves.

BENCHMARKS.md has the estimate beside measured peaks for a year of every
built-in at 2e5 and 1e6 people (benchmarks/memory_guard.py). Measured again on
2026-12-04 (second session), after the behaviour calendar stopped growing by half
on the first day (calendar.py: it was sized without room for a day's pushes) and
the dissent columns stopped being counted twice in the output, the credit file's
buffer counted in records rather than events and the optional modules' kernels
counted in the process (KERNEL_SECTIONS): all 32 within 0.92-1.11 of single
measurements. A run's peak is not one number: the same
command measured twice differs by up to 8% where a credit file is written on its
writer thread while the day loop goes on (pilot-city at 2e5 people with records
all: 561-637 MiB), so a case near either edge can fall outside on one run.
tests/test_guards.py checks the resident part
against a real Simulation's `memory_bytes()`, and (slow) the whole estimate
against measured peaks within 10%. The guard refuses a run only when the
estimate exceeds the memory available (no further margin): the estimate is
meant to err high by a few per cent, never by more than 10%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import psutil

from scoresim.scenario.loader import ScenarioError
from scoresim.scenario.schema import Scenario

MIB = 2**20
# The process itself, before its run allocates anything that grows with people. Measured
# (2026-12-03, 2 cores, Linux, Python 3.11, NumPy 2, numba 0.6x, pyarrow), warm cache:
#   the whole run: RSS (/proc/self/statm) of a process after a 2,000 x 3 `scoresim.run`
#     of a built-in: 270.9-272.1 MiB, day loop and person backend alike (numba's kernels
#     loaded; a run refused by its arguments peaks at 197 MiB, the imports alone);
#   building: VmHWM after `Simulation(resolve(NAME, agents=2000, days=3)).behaviour.calendar`
#     in a fresh process: 256-262 MiB (reference, no-system, nosedive, china-history):
#     only the society's and the calendar's kernels are loaded by then.
PROCESS_BYTES = 272 * MIB
BUILD_PROCESS_BYTES = 262 * MIB
# The day loop's optional modules load kernels of their own from numba's cache: after a
# 2,000 x 3 run, pilot-city's process (appeals, credit repair, opinion, responses, rewards,
# surveys) is 280.4 MiB, china's (firms, households, joint punishment, network, opinion,
# regions, schemes, surveys) 281.3, nosedive's (network, peer ratings, rewards) 275.7,
# against reference's 271.6 (2026-12-04); dissent's and a timeline's add none measurable.
KERNEL_SECTION_BYTES = int(1.25 * MIB)
KERNEL_SECTIONS = ("appeals", "credit_repair", "opinion", "responses", "rewards", "surveys",
                   "firms", "households", "joint_punishment", "network", "regions",
                   "schemes", "peer_rating")
# Parquet's writer (column encoders, zstd contexts, Arrow's memory pool): about 20 MiB
# for a tiny run (a fresh 2,000 x 3 run peaks at 279-295 MiB, /usr/bin/time -v), growing
# to about 44 MiB from some 1e5 people on (the output phase's peak above a warm process's
# RSS, less the people table, sampled in-process: 42-45 MiB at 2e5 and 1e6 people).
WRITER_BYTES = 20 * MIB
WRITER_GROWTH_BYTES = 24 * MIB
WRITER_PEOPLE = 100_000  # people at which the writer's buffers reach their full size
# Resident bytes per person, by module (see the module docstring).
SOCIETY_BYTES = 1
STANDING_BYTES = 16
MODULE_BYTES = 20  # the other modules' per-person arrays, all of them enabled
DISSENT_BYTES = 24  # dissent_choice: desire, boldness, action (float64 each)
HOUSEHOLD_BYTES = 4 + 1  # households.py: household (int32) and role (uint8) per person
HOUSEHOLD_START_BYTES = 8  # households.py: start (int64) per household
TIE_END_BYTES = 4  # ties.py: neighbours (int32), one per tie end
TIE_PERSON_BYTES = 8  # ties.py: offsets (int64) per person
# ties.py build_ties at its peak (_place): draw offsets and offsets (int64) per person;
# per tie end the draws (int32, half the ends), the drawn ends in buckets (int64, half
# the ends) and the final neighbours (int32)
TIE_BUILD_PERSON_BYTES = 8 + 8
TIE_BUILD_END_BYTES = 4 // 2 + 8 // 2 + 4
EMPLOYER_BYTES = 4  # firms.py: employer (int32) per person
FIRM_BYTES = 8 + 8 + 4 + 1 + 1 + 8  # firms.py: score, legal_rep (int64), listed_until, ...
# The calendar of clocks and the build.
CLOCK_PAYLOAD_BYTES = 2  # the pair's propensity level travels with each clock (uint16)
CALENDAR_SLACK = 1.01  # the calendar is allocated once, for the expected clocks (behaviour.py)
CALENDAR_BLOCK = 2048  # entries per block; each day may hold one part-filled block
BUILD_CHUNK = 1 << 20  # people whose first event days are drawn at once (behaviour.CHUNK)
# behaviour._first_days per pair of a chunk: int64 code and day, uint16 level; then
# the calendar's e-byte code (astype) and push's horizon mask (bool)
BUILD_PAIR_BYTES = 8 + 8 + 2 + 1
# A day and the output.
EVENT_BYTES = 40  # per event of the busiest day: events, observations, records
ROW_GROUP = 1 << 20  # records buffered before a row group is written (credit_file.ROW_GROUP)
RECORD_BUFFER_BYTES = 128
# per person, while the people table is built and written (beyond the resident arrays);
# measured as above: 45-47 B/person of the day loop's output phase at 1e6 people
OUTPUT_BYTES = 30
PERSON_OUTPUT_BYTES = 16  # the same, for the person backend (measured: 31-33 B/person in all)
OUTPUT_TRAIT_BYTES = 4  # more per population attribute (a categorical column, copied)
# The replay (runs/wrongful.py) reads records.parquet one row group at a time, twice: the
# first pass keeps the subjects of the wrong records, the second the candidates' rows (a few
# per cent of the records). Beside the credit file's buffer, whose pages Arrow's pool keeps
# through the output phase (RECORD_BUFFER_BYTES a buffered record), it holds one row group
# read back, REPLAY_GROUP_BYTES a record of it (its Arrow columns, 29 B, and Parquet's decode
# buffers), and REPLAY_BYTES per kept record: the wrong subjects and their sorted copies, the
# candidates' rows, and the heap the day loop's record arrays leave behind. Both fitted
# (2026-12-04) to the measured peaks of the four built-ins that keep a credit file
# (pilot-city and reference with records all, china and nosedive with a sample, at 2e5 and
# 1e6 people, two runs each): all within 8.5% (BENCHMARKS.md, issue 22). Before, every
# record's columns were read at once and widened to int64 (43 + 74 B a record: 3.3 GiB of
# pilot-city's peak at 1e6 people).
REPLAY_GROUP_BYTES = 52
REPLAY_BYTES = 6
PAGE = 4096  # each day with anything filed touches at least a page of each calendar
# The person backend in blocks.
FALSE_MATCH_BYTES = 8 + 4 + 1  # who is named (int64), the day (int32), the behaviour (uint8)
# while they are gathered: the found lists, their concatenation, the sort's order
# (int64) and the sorted copy
FALSE_MATCH_SORT_BYTES = 3 * FALSE_MATCH_BYTES + 8
FALSE_MATCH_SLACK = 1.1  # the count is Poisson-like; the mean is far above its spread
# per person of a block: the standing rows, and the people table built from them (id,
# the strided score and false points copied, grade and sanction flags and their
# temporaries) while Parquet encodes it: STANDING_BYTES + PERSON_OUTPUT_BYTES as for the
# person backend in memory, and 8 B more that Arrow's pool keeps between blocks (fitted:
# reference for a year at 1e7 people in blocks of 2**21 and 1e8 in blocks of 2**23 measured
# 436 and 813 MiB, estimated 423 and 713 without them; BENCHMARKS.md)
BLOCK_PERSON_BYTES = STANDING_BYTES + PERSON_OUTPUT_BYTES + 8
BLOCK_TRAIT_BYTES = OUTPUT_TRAIT_BYTES  # per population attribute, drawn for the block
BLOCK_ALIGN = 1 << 12  # a block is whole tasks of the person backend (lives.PEOPLE_PER_TASK)
MAX_BLOCK = 1 << 25  # 33.5M people (about 1.5 GiB at its peak): 42 blocks at 1.41e9
BLOCK_SHARE = 0.5  # of the memory left once the population's arrays are counted
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


def estimate_memory(scenario: Scenario, backend: str = "day",
                    block: int | None = None) -> MemoryEstimate:
    """The peak memory a run of `scenario` needs; arithmetic only, nothing is allocated.

    `backend` "person" (lives.py) keeps no calendar and no module arrays: the
    standing rows and the group while it runs, then the people table; with `block`,
    those of a block of that many people at a time (see the module docstring).
    `parts` names each term (bytes): the process, the society's arrays, the
    three phases beyond the process, the writer, the replay of the credit file.
    """
    n = scenario.agents
    writer = WRITER_BYTES + WRITER_GROWTH_BYTES * min(1.0, n / WRITER_PEOPLE)
    if backend == "person" and block is not None and block < n:
        whole = n * population_bytes(scenario)
        matches = false_matches(scenario)
        gathering = matches * FALSE_MATCH_SORT_BYTES
        traits = len(getattr(scenario.population, "attributes", None) or {})
        rows = block * (BLOCK_PERSON_BYTES + BLOCK_TRAIT_BYTES * traits)
        tail = min(block, 1 << 20) * BLOCK_PERSON_BYTES  # a row group's rows carried over
        blocks = matches * FALSE_MATCH_BYTES + rows + tail + writer
        process = PROCESS_BYTES
        total = process + whole + max(gathering, blocks)
        return MemoryEstimate(int(total), (whole + rows) / n,
                              {"process": process, "society": int(whole), "ties": 0,
                               "households": 0, "firms": 0, "building": int(whole),
                               "day": int(whole + max(gathering, blocks)),
                               "output": int(rows + tail + writer), "writer": int(writer),
                               "replay": 0, "calendars": 0,
                               "false_matches": int(matches * FALSE_MATCH_BYTES),
                               "block": int(rows + tail)})
    if backend == "person":
        people = n * (SOCIETY_BYTES + STANDING_BYTES)
        output = people + n * PERSON_OUTPUT_BYTES + writer
        process = PROCESS_BYTES
        return MemoryEstimate(int(process + output), people / n,
                              {"process": process, "society": n * SOCIETY_BYTES,
                               "ties": 0, "households": 0, "firms": 0,
                               "building": int(people), "day": int(people),
                               "output": int(output), "writer": int(writer), "replay": 0,
                               "calendars": 0})
    n_b = len(scenario.behaviours)
    e = clock_bytes(scenario)
    pending = pending_per_person(scenario)
    chunk = min(n, BUILD_CHUNK)
    capacity = n * pending * CALENDAR_SLACK + (2 * scenario.days + 18) * CALENDAR_BLOCK
    clocks = capacity * (e + CLOCK_PAYLOAD_BYTES)
    # population attributes (sex, age band...) are one uint8 each, drawn when first used
    traits = len(getattr(scenario.population, "attributes", None) or {})
    society = n * SOCIETY_BYTES * (1 + traits + (scenario.regions is not None))
    households = 0.0
    if scenario.households is not None:
        shares = scenario.households.size_shares
        mean_size = sum((k + 1) * s for k, s in enumerate(shares)) / max(sum(shares), 1e-12)
        households = n * (HOUSEHOLD_BYTES + HOUSEHOLD_START_BYTES / max(mean_size, 1.0))
    ties = ties_build = 0.0
    if scenario.network is not None:
        degree = (scenario.network.degree_min + scenario.network.degree_max) / 2
        ties = n * (TIE_PERSON_BYTES + TIE_END_BYTES * degree)
        ties_build = n * (TIE_BUILD_PERSON_BYTES + TIE_BUILD_END_BYTES * degree)
    firms = 0.0
    if scenario.firms is not None:
        firms = n * (EMPLOYER_BYTES + scenario.firms.per_person * FIRM_BYTES)
    people = (society + households + ties + firms
              + n * (STANDING_BYTES + MODULE_BYTES
                     + (DISSENT_BYTES if scenario.dissent is not None else 0)))
    resident = people + clocks

    # the society is built first (its ties' temporaries gone before the clocks exist), then
    # the calendar, first of the modules (engine.MODULES): its build temporaries meet the
    # society, the standing rows and the clocks, not the arrays of the modules built after
    # it (firms, dissent, sanctions...; counting them overstated pilot-city's build at 1e6
    # people by 12% and china's by 7%)
    before_modules = society + households + ties + n * STANDING_BYTES + clocks
    building = max(society + households + ties_build,
                   before_modules + chunk * n_b * (BUILD_PAIR_BYTES + e))
    daily_rate = sum(min(1.0, b.rate) for b in scenario.behaviours.values())
    busiest_day = n * daily_rate * 1.05 + 1000  # a day's count is Poisson-like: mean + slack
    kept = {"all": 1.0, "sample": scenario.records_sample, "none": 0.0}[scenario.records]
    # the records kept: the credit file's buffer holds up to a row group of them (not of
    # the events: counting events put nosedive with records sample at 1.09-1.11), and
    # the replay reads them all back
    replayed = n * scenario.days * records_per_person_day(scenario) * kept
    buffered = min(ROW_GROUP, replayed)
    day = resident + busiest_day * EVENT_BYTES + buffered * RECORD_BUFFER_BYTES
    # the calendar is released when the last day is done, before the outputs are built;
    # then the people table is written, and the kept credit file replayed (wrongful.py)
    # Arrow's memory pool keeps the pages of the credit file's buffer when its last row
    # group is written, so they stay resident through the output phase (china with records:
    # sample, whose whole credit file is one part-filled buffer, measured 0.84 of its peak
    # without them); the replay reads one row group at a time beside them
    replay = (buffered * RECORD_BUFFER_BYTES + min(ROW_GROUP, replayed) * REPLAY_GROUP_BYTES
              + replayed * REPLAY_BYTES) if kept else 0.0
    # the dissent columns (float64) go into the people table without a copy: `people`
    # counts them already (counting them again put dissent at 1e6 people at 1.12)
    output = people + n * (OUTPUT_BYTES + OUTPUT_TRAIT_BYTES * traits) + writer + replay
    calendars = N_CALENDARS * min(scenario.days, math.ceil(n * max(pending, 1.0))) * PAGE
    process = PROCESS_BYTES + KERNEL_SECTION_BYTES * sum(
        _section_on(scenario, name) for name in KERNEL_SECTIONS)
    parts = {"process": process, "society": int(society), "ties": int(ties),
             "households": int(households), "firms": int(firms),
             "building": int(building), "day": int(day), "output": int(output),
             "writer": int(writer), "replay": int(replay), "calendars": int(calendars)}
    # the society and the calendar are built before the day's and the output's kernels load
    total = max(BUILD_PROCESS_BYTES + building, process + max(day, output)) + calendars
    return MemoryEstimate(int(total), resident / n, parts)


def _section_on(scenario: Scenario, name: str) -> bool:
    """Whether a scenario's optional section is there and not its empty default."""
    value = getattr(scenario, name, None)
    if value is None or value == {} or value == []:
        return False
    field_info = type(scenario).model_fields.get(name)
    if field_info is None:
        return True
    default = field_info.get_default(call_default_factory=True)
    return value != default


def population_bytes(scenario: Scenario) -> int:
    """Bytes per person a run in blocks keeps for everyone: what a false match reads of
    anyone (the group; each trait face recognition varies by, and the coverage trait)."""
    traits = {t for fr in scenario.face_recognition.values()
              for t in (*fr.fmr_multipliers, *fr.miss_multipliers) if t != "group"}
    traits |= {c.coverage_by for c in scenario.channels.values()
               if c.kind == "camera" and c.coverage_by not in (None, "group")}
    return SOCIETY_BYTES * (1 + len(traits))


def false_matches(scenario: Scenario) -> float:
    """The false matches a run makes (expected, with slack): camera acts seen, times the
    false-match rate of their profile over the groups (its other factors at their
    highest)."""
    per_day = 0.0
    shares = scenario.population.group_shares
    for name, b in scenario.behaviours.items():
        c = scenario.channels.get(b.channel) if b.channel else None
        if c is None or c.kind != "camera" or c.face_recognition is None:
            continue
        fr = scenario.face_recognition[c.face_recognition]
        worst = sum(s * f for s, f in zip(shares, fr.fmr, strict=False)) / max(sum(shares),
                                                                               1e-12)
        for factors in fr.fmr_multipliers.values():
            worst *= max(factors, default=1.0)
        per_day += min(1.0, b.rate) * c.capture_probability * _mean_coverage(scenario, c) * \
            min(1.0, worst) * _done_share(scenario, name)
    mean = scenario.agents * scenario.days * per_day
    return mean * FALSE_MATCH_SLACK + 6 * math.sqrt(mean) + 1024


def choose_block(scenario: Scenario, backend: str, block_size: int | None = None,
                 available: int | None = None) -> int | None:
    """The people the person backend lives at once: None for everyone (the run in memory).

    `block_size` given: that many (None when it is everyone). Otherwise None where the
    whole run fits in the memory available, and else the largest block (whole tasks of
    BLOCK_ALIGN people, at most MAX_BLOCK) whose estimate leaves half the memory free
    that the population's arrays and the false matches leave. Any block gives the same
    outputs, byte for byte; only memory and time differ.
    """
    n = scenario.agents
    if block_size is not None:
        if block_size < 1:
            raise ScenarioError(f"scenario '{scenario.name}'", "block size: expected at least 1 "
                                f"person, got {block_size}", field="block_size")
        if backend != "person":
            raise ScenarioError(f"scenario '{scenario.name}'", "block size: only the person "
                                "backend lives people in blocks; this run uses the day loop "
                                "(--backend person, --records none)", field="block_size")
        return None if block_size >= n else int(block_size)
    if backend != "person":
        return None
    free = available_memory() if available is None else int(available)
    if estimate_memory(scenario, backend).total <= free:
        return None
    fixed = estimate_memory(scenario, backend, block=0).total
    traits = len(getattr(scenario.population, "attributes", None) or {})
    per = BLOCK_PERSON_BYTES + BLOCK_TRAIT_BYTES * traits
    room = max(0.0, (free - fixed) * BLOCK_SHARE)
    block = min(MAX_BLOCK, int(room // per) // BLOCK_ALIGN * BLOCK_ALIGN)
    block = max(BLOCK_ALIGN, block)
    return None if block >= n else block


def records_per_person_day(scenario: Scenario) -> float:
    """Expected records per person and day, before the share of files kept."""
    total = 0.0
    flagged = {c.false_flag.behaviour: c.false_flag.probability
               for c in scenario.channels.values() if c.false_flag is not None}
    reported = {c.malicious_report.behaviour: c.malicious_report.probability
                for c in scenario.channels.values() if c.malicious_report is not None}
    for name, b in scenario.behaviours.items():
        if b.channel is None or b.channel not in scenario.channels:
            continue
        c = scenario.channels[b.channel]
        if name in flagged or name in reported:
            p = c.record_probability * flagged.get(name, reported.get(name, 0.0))
        elif c.kind == "camera":
            fr = scenario.face_recognition[c.face_recognition]
            p = c.capture_probability * _mean_coverage(scenario, c) * min(
                1.0, fr.tmr + max(fr.fmr, default=0.0))
        else:
            p = c.record_probability
        total += min(1.0, b.rate) * p * _done_share(scenario, name)
    return total


def _done_share(scenario: Scenario, name: str) -> float:
    """The share of a behaviour's base rate that people act on (model/response.py).

    Acts done for the points (`motive: points`) are done only by aware, motivated
    people, at a rate that grows with the points on offer: pilot-city's
    volunteering_for_points is 1.6% of its base rate, so counting it whole
    overstated that scenario's credit file by 40% (and the replay's memory with
    it). Awareness is taken at its initial share: it grows only with sanctions,
    which touch few people in a year. Deterrence and avoidance thin other acts
    by a few per cent and are left out (the estimate errs high there).
    """
    r = scenario.responses
    b = scenario.behaviours[name]
    if r is None or b.motive != "points":
        return 1.0
    gv = r.gamified_virtue
    points = float(scenario.scoring.points.get(name, 0)) if scenario.scoring else 0.0
    if gv is None or points <= 0.0:
        return 0.0
    return r.awareness.initial_share * gv.motivated_share * min(
        1.0, points / gv.points_for_full_rate)


def _mean_coverage(scenario: Scenario, channel) -> float:
    if channel.coverage_by is None:
        return 1.0
    if channel.coverage_by == "group":
        shares = scenario.population.group_shares
    else:
        shares = scenario.population.attributes[channel.coverage_by].shares
    return sum(s * c for s, c in zip(shares, channel.coverage, strict=True))


def available_memory() -> int:
    """Memory the system can give now without swapping (psutil's `available`)."""
    return int(psutil.virtual_memory().available)


def check_memory(scenario: Scenario, *, force: bool = False,
                 available: int | None = None, backend: str = "day",
                 block: int | None = None) -> MemoryEstimate:
    """Refuse a scenario whose estimated peak exceeds the memory available, unless forced.

    Called before the Simulation is built, so a refusal costs milliseconds and
    writes nothing. `block`: the person backend's block (choose_block).
    """
    estimate = estimate_memory(scenario, backend, block)
    free = available_memory() if available is None else int(available)
    if estimate.total > free and not force:
        how = "use fewer agents (--agents)"
        if block is not None:
            how += " or a smaller --block-size"
        elif backend == "day" and scenario.records != "none":
            how += (" or --records none (the person backend, where it can run the scenario, "
                    "then lives the people in blocks that fit)")
        raise ResourceError(
            f"scenario '{scenario.name}'",
            f"{scenario.agents:,} people for {scenario.days:,} days need about {estimate} "
            f"of memory{f' in blocks of {block:,} people' if block is not None else ''}, "
            f"and {human_bytes(free)} is available; {how}, or --force to try anyway",
            field="agents",
        )
    return estimate


#: What one Dask worker process holds beyond the process of a `scoresim run`, which each
#: member's estimate already counts (PROCESS_BYTES): distributed and its worker state.
#: The 400 MiB of a worker (interpreter to distributed, not re-measured) less PROCESS_BYTES.
WORKER_PROCESS_BYTES = 400 * MIB - PROCESS_BYTES


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
            f"{human_bytes(free)} is available; use fewer --workers or fewer agents, or "
            "--force to try anyway",
            field="agents",
        )
    return need
