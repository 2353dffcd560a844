"""The person backend: each person's whole run at once, instead of everyone's day at once.

The day-by-day engine (engine.py) walks the calendar: every day it gathers the
day's events of everyone, observes them, scores them and re-derives who is
sanctioned. That order is the only one possible once people react to each other
(responses, redress, joint punishment, peer ratings). Without those, people are
independent but for one thing: a camera's false match files one person's act in
another person's file. Then the same run can be computed person by person: the
clocks of one person's behaviours are merged in day order, each event is
observed, the person's records are scored as they come, and each change of
status is added to that day's counts. Everything one person touches stays in
cache, nothing waits for a calendar, and the threads share nothing but their
own count tables.

False matches are handled in two passes. The first pass lives every life with
the records that people's own acts produce, and collects the false matches each
camera made (who was named, on which day, for what). The second pass takes the
people named by someone else's act, subtracts their first life from the counts
and lives it again with the extra records merged in. Every draw is keyed by
(seed, purpose, person, day), exactly as in the day-by-day engine, so the
results are not just the same in distribution: they are the same numbers
(tests/test_lives.py checks every column of both run outputs).

A population larger than memory is lived in blocks (`run_lives(block=)`,
`_in_blocks`): a false match may name anyone, so all of them are found first
(`_scan_false_matches`, living nobody), then each block is lived and its named
people settled as in the second pass; memory grows with the block and the false
matches, and the outputs are the same bytes (tests/test_blocks.py). That work, a
slice's scan and a block's lives (`Blocks`), depends on the scenario and the range
of people alone, so it can be done in other processes (`Spread`: Dask workers,
studies/cluster_run.py) and gathered here, with the same bytes.

`reasons_not_eligible` says which scenarios this backend can run; `auto` (the
default) uses it where it can and the day-by-day engine everywhere else.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numba as nb
import numpy as np

from scoresim.model.behaviour import level_of
from scoresim.model.observation import CAMERA, ERRORS, FALSE_MATCH, TRUE_EVENT
from scoresim.model.observation.camera import in_view, recognise
from scoresim.model.random import event_counter, geometric_skip, uniform
from scoresim.model.rate_layers import survives
from scoresim.model.rulebook import (
    C_COLLATERAL,
    END_EXPIRY,
    LISTED,
    N_COUNTS,
    StatusRules,
    count,
    extends,
    grade_index,
    listing_end,
    repaid_today,
    score_after,
    status_of,
    suspension_end,
)
from scoresim.model.standing import FALSE_POINTS, LISTED_UNTIL, SCORE, STATUS

if TYPE_CHECKING:
    import pyarrow as pa

    from scoresim.model.engine import Simulation

PEOPLE_PER_TASK = 1 << 12  # people per unit of parallel work
SCAN_STEPS = 64  # a run in blocks finds its false matches in this many slices (on_scan)
# per-day record columns (the last 2 x channels: records and correct records per channel)
R_RECORDS, R_FALSE, R_FALSE_MATCH, R_SHAMED, R_SHAMED_WRONGLY = range(5)
R_NEWLY_LISTED, R_DELISTED, R_REPAID = range(5, 8)
N_R = 8
NEVER_DAY = np.iinfo(np.int64).max


def run_lives(sim: Simulation, on_day: Callable[[int], None] | None = None,
              block: int | None = None,
              block_done: Callable[[int, int, pa.Table | None], None] | None = None,
              on_block: Callable[[int], None] | None = None,
              on_scan: Callable[[int], None] | None = None,
              spread: Spread | None = None) -> None:
    """Run the whole horizon of `sim` person by person and fill its tables and standing.

    `block`: live the people in blocks of this many (None, or n and more: all at once),
    so that the standing rows, and the people table made from them, are those of one
    block at a time. Then `sim.world.standing.rows` holds a block's rows (person lo's
    first), `block_done(lo, hi, people)` is called once they are final (`people`: the
    block's rows of people.parquet where they were made elsewhere, else None), and
    `on_block(k)` when k blocks are done (without it, `on_day` gets the share of days
    they stand for); before them `on_scan(k)` as k of SCAN_STEPS slices of the people
    have had their false matches found. `spread`: where the blocks' work is done
    (Spread; None: here).
    The counts are sums over people, so any block size gives the same tables.
    """
    t0 = time.perf_counter()
    k = _Kernel(sim)
    n, days = sim.n, sim.days
    acc = _count_tables(nb.config.NUMBA_NUM_THREADS, days, k)
    cnt, ssum, ev, rec = acc
    if block is None or block >= n:
        t1 = _in_memory(sim, k, acc, on_day)
        lives, false_matches = t1 - t0, time.perf_counter() - t1
    else:  # the false matches are found first, then the blocks lived and settled
        t1 = _in_blocks(sim, k, acc, block, block_done, on_block, on_day, on_scan, spread)
        false_matches, lives = t1 - t0, time.perf_counter() - t1
    t2 = time.perf_counter()
    _fill_tables(sim, k, cnt.sum(axis=0), ssum.sum(axis=0), ev.sum(axis=0), rec.sum(axis=0))
    sim.n_events = int(ev.sum())
    sim.day = days
    t3 = time.perf_counter()
    sim.timings["lives"] = lives
    sim.timings["false_matches"] = false_matches
    sim.timings["metrics"] += t3 - t2
    if on_day is not None:
        on_day(days)


def _match_buffers(tasks: int, cap: int) -> tuple[np.ndarray, ...]:
    """Per task of a slice, room for `cap` false matches (who is named, the day, the
    behaviour), how many were noted, and where a task whose room ran out stopped."""
    return (np.empty((tasks, cap), dtype=np.int64), np.empty((tasks, cap), dtype=np.int32),
            np.empty((tasks, cap), dtype=np.uint8), np.zeros(tasks, dtype=np.int64),
            np.full(tasks, -1, dtype=np.int64))


def _in_memory(sim: Simulation, k: _Kernel, acc: tuple, on_day) -> float:
    """Everyone at once: the first pass notes the false matches, the second settles them.
    Returns when the first pass ended (perf_counter)."""
    n, days = sim.n, sim.days
    standing = sim.world.standing.rows
    # first pass, in slices so that a progress bar moves; each slice in parallel
    tasks = (n + PEOPLE_PER_TASK - 1) // PEOPLE_PER_TASK
    per_slice = max(1, tasks // 20)
    cap = k.false_match_capacity(PEOPLE_PER_TASK, days)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for lo in range(0, tasks, per_slice):
        hi = min(tasks, lo + per_slice)
        fm_who, fm_day, fm_b, fm_n, fm_stop = _match_buffers(hi - lo, cap)
        _first_pass(lo, hi, 0, n, 0, days, k.clocks, k.observe, k.rules, acc, standing,
                    fm_who, fm_day, fm_b, fm_n, fm_stop)
        _collect(found, lo, fm_who, fm_day, fm_b, fm_n, fm_stop, n, days, k)
        if on_day is not None:
            on_day(int(days * hi / tasks))
    t1 = time.perf_counter()
    # second pass: the people someone else's act was filed under live again with it
    _settle(*_gathered(found), 0, days, k, acc, standing)
    return t1


def _in_blocks(sim: Simulation, k: _Kernel, acc: tuple, block: int, block_done,
               on_block, on_day, on_scan, spread: Spread | None = None) -> float:
    """Block after block, each lived and settled before the next; returns when the
    false matches were found.

    A camera's false match may name anyone, in a block lived long before or not yet
    lived. So the false matches are found first, on their own (without living
    anyone: a camera act's draws need only the actor), and kept, sorted by whom they
    name: they are rare (events x false-match rate), far fewer than people. Then each
    block is lived (its counts added, nothing noted) and its people named by someone
    else's act live again with those records, exactly as in the second pass of a run
    in memory; then its rows are final.

    `spread` says where the slices of the scan and the blocks are computed (here, in
    this process, without one; on Dask workers, studies/cluster_run.py): each gives
    back the same arrays wherever it ran, and the counts are integer sums, so the
    tables are the same whatever the order the work was done in.
    """
    n, days = sim.n, sim.days
    here = _Here(Blocks(sim, k), acc) if spread is None else None
    spread = here if here is not None else spread
    tasks = (n + PEOPLE_PER_TASK - 1) // PEOPLE_PER_TASK
    per_slice = -(-tasks // SCAN_STEPS)
    slices = [(lo, min(tasks, lo + per_slice)) for lo in range(0, tasks, per_slice)]
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    scanned = 0
    for (lo, hi), matches in spread.scan(slices):  # in the order they are done
        found.append(matches)
        scanned += hi - lo
        if on_scan is not None:
            on_scan(SCAN_STEPS * scanned // tasks)
    who, day, beh = _gathered(found)
    del found
    t1 = time.perf_counter()
    n_blocks = (n + block - 1) // block
    bounds = [(b * block, min(n, (b + 1) * block)) for b in range(n_blocks)]
    cuts = np.searchsorted(who, [lo for lo, _ in bounds] + [n])
    named = [(who[g0:g1], day[g0:g1], beh[g0:g1]) for g0, g1 in zip(cuts[:-1], cuts[1:],
                                                                    strict=True)]
    if on_block is not None:
        on_block(0)
    for b, (counts, people) in enumerate(spread.blocks(bounds, named)):  # in block order
        if counts is not None:  # lived elsewhere: its counts, summed over its threads
            for table, part in zip(acc, counts, strict=True):
                table[0] += part
        if block_done is not None:
            block_done(*bounds[b], people)
        if on_block is not None:
            on_block(b + 1)
        elif on_day is not None:
            on_day(int(days * (b + 1) / n_blocks))
    if here is not None:  # the last block's rows, as they end
        sim.world.standing.rows = here.work.rows[:n - (n_blocks - 1) * block]
    return t1


class Spread(Protocol):
    """Where a run in blocks computes its work (studies/cluster_run.py: on Dask workers).

    `scan(slices)`: per slice (lo, hi) of tasks of PEOPLE_PER_TASK people, the false
    matches their acts make, as `Blocks.scan` finds them, yielded with the slice in the
    order the slices are done. `blocks(bounds, named)`: per block (lo, hi) of people, with
    the false matches naming its people, `Blocks.live`'s counts and the block's rows of
    people.parquet, yielded in block order; (None, None) where the block was lived into
    this run's own tables and standing (then its rows are read from there).
    `manifest`: what the run's manifest.json records of where it was computed.
    """

    manifest: dict[str, Any]

    def scan(self, slices: list[tuple[int, int]]) -> Iterator[tuple[tuple[int, int], tuple]]:
        ...

    def blocks(self, bounds: list[tuple[int, int]], named: list[tuple]
               ) -> Iterator[tuple[tuple | None, pa.Table | None]]:
        ...


class Blocks:
    """The two kinds of work of a run in blocks, on one Simulation built with `block`.

    Every draw is keyed by (seed, purpose, person, day), so the work gives the same
    numbers in any process that built the same scenario: that is what lets the blocks
    of one run be lived on other machines (studies/cluster_run.py).
    """

    def __init__(self, sim: Simulation, kernel: _Kernel | None = None):
        self.sim = sim
        self.k = kernel if kernel is not None else _Kernel(sim)
        self.rows = sim.world.standing.rows  # room for one block's rows

    def scan(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The false matches made by the acts of tasks lo..hi-1 (PEOPLE_PER_TASK people
        each), living nobody, in no order: the run sorts them all once (`_gathered`)."""
        sim, k = self.sim, self.k
        cap = k.false_match_capacity(PEOPLE_PER_TASK, sim.days)
        fm_who, fm_day, fm_b, fm_n, fm_stop = _match_buffers(hi - lo, cap)
        _scan_false_matches(lo, hi, sim.n, sim.days, k.clocks, k.observe, fm_who, fm_day, fm_b,
                            fm_n, fm_stop)
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        _collect(found, lo, fm_who, fm_day, fm_b, fm_n, fm_stop, sim.n, sim.days, k)
        return _joined(found)

    def live(self, lo: int, hi: int, who: np.ndarray, day: np.ndarray, beh: np.ndarray,
             acc: tuple | None = None) -> tuple[np.ndarray, ...] | None:
        """Live people lo..hi-1 and settle those of them named by someone else's act
        (who/day/beh: those false matches, sorted), adding their counts to `acc`.

        Without `acc`, into tables of its own, returned summed over threads (cnt, ssum,
        ev, rec). Afterwards the standing holds the block's rows (person lo's first),
        so that `sim.people_table(lo, hi)` makes its rows of people.parquet.
        """
        sim, k, days = self.sim, self.k, self.sim.days
        own = acc is None
        if own:
            acc = _count_tables(nb.config.NUMBA_NUM_THREADS, days, k)
        view = self.rows[:hi - lo]
        block_tasks = (hi - lo + PEOPLE_PER_TASK - 1) // PEOPLE_PER_TASK
        # nothing is noted (fm_stop >= 0): the false matches are known already
        _first_pass(0, block_tasks, lo, hi, lo, days, k.clocks, k.observe, k.rules, acc, view,
                    np.empty((block_tasks, 0), dtype=np.int64),
                    np.empty((block_tasks, 0), dtype=np.int32),
                    np.empty((block_tasks, 0), dtype=np.uint8),
                    np.zeros(block_tasks, dtype=np.int64), np.zeros(block_tasks, dtype=np.int64))
        _settle(who, day, beh, lo, days, k, acc, view)
        sim.world.standing.rows = view
        return tuple(table.sum(axis=0) for table in acc) if own else None


class _Here:
    """The Spread of a run in blocks computed in this process, into its own tables."""

    def __init__(self, work: Blocks, acc: tuple):
        self.work, self.acc = work, acc
        self.manifest: dict[str, Any] = {}

    def scan(self, slices: list[tuple[int, int]]) -> Iterator[tuple[tuple[int, int], tuple]]:
        for lo, hi in slices:
            yield (lo, hi), self.work.scan(lo, hi)

    def blocks(self, bounds: list[tuple[int, int]], named: list[tuple]
               ) -> Iterator[tuple[None, None]]:
        standing = self.work.sim.world.standing
        for (lo, hi), (who, day, beh) in zip(bounds, named, strict=True):
            self.work.live(lo, hi, who, day, beh, self.acc)
            yield None, None  # the block's rows are final while the caller writes them
            standing.rows = self.work.rows


def _count_tables(threads: int, days: int, k: _Kernel) -> tuple[np.ndarray, ...]:
    """Per thread, the day counts a life adds to: statuses, score sums, acts, records."""
    return (np.zeros((threads, days + 1, N_COUNTS), dtype=np.int64),
            np.zeros((threads, days + 1), dtype=np.int64),
            np.zeros((threads, days + 1, k.n_b), dtype=np.int64),
            np.zeros((threads, days + 1, N_R + 2 * k.n_c + k.n_b), dtype=np.int64))


def _collect(found: list, lo: int, fm_who, fm_day, fm_b, fm_n, fm_stop, n: int, days: int,
             k: _Kernel) -> None:
    """Each task's false matches, and those its buffer had no room for, found on their own."""
    for t in range(fm_n.shape[0]):
        m = fm_n[t]
        found.append((fm_who[t, :m].copy(), fm_day[t, :m].copy(), fm_b[t, :m].copy()))
        if fm_stop[t] >= 0:  # the task's buffer ran out: find the rest on their own
            end = min(n, (lo + t + 1) * PEOPLE_PER_TASK)
            found.append(_false_matches(fm_stop[t], end, days, k.clocks, k.observe))


def _joined(found: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The false matches of `found`'s parts in one (who, day, behaviour) triple, unsorted."""
    who = np.concatenate([f[0] for f in found]) if found else np.zeros(0, np.int64)
    day = np.concatenate([f[1] for f in found]) if found else np.zeros(0, np.int32)
    beh = np.concatenate([f[2] for f in found]) if found else np.zeros(0, np.uint8)
    return who, day, beh


def _gathered(found: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All false matches, sorted by whom they name, then day and behaviour."""
    who, day, beh = _joined(found)
    order = np.lexsort((beh, day, who))
    return who[order], day[order], beh[order]


def _settle(who: np.ndarray, day: np.ndarray, beh: np.ndarray, base: int, days: int,
            k: _Kernel, acc: tuple, standing: np.ndarray) -> None:
    """The second pass over the people in `who` (sorted), whose rows start at `base`."""
    starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]]) if who.shape[0] else \
        np.zeros(0, np.int64)
    ends = np.r_[starts[1:], who.shape[0]].astype(np.int64)
    first_of = starts.astype(np.int64)
    _second_pass(first_of, ends, who[first_of], day.astype(np.int64), beh, days, k.clocks,
                 k.observe, k.rules, acc, standing, base)


def block_bits(sim: Simulation) -> np.ndarray:
    """Per behaviour, the status bit of the ban that stops it (0: none stops it)."""
    bits = np.zeros(sim.behaviour.n_behaviours, dtype=np.int64)
    for b, bit in sim.metrics.block_index:
        bits[b] = bit
    return bits


class LifeRules(NamedTuple):
    """The rulebook's tables for one scheme, as a life reads them (flat: numba's parallel
    loops take tuples of arrays and scalars, not tuples of tuples)."""

    points: np.ndarray  # int64 [behaviour]
    initial: int
    scored: bool
    cuts: np.ndarray  # int64: the scheme's ascending grade cut-offs
    # status of every (era, grade, true grade, listed, suspended), by rulebook.status_of;
    # an era is a stretch of days with the same bans switched off (one era without)
    status_table: np.ndarray
    era_of: np.ndarray  # int64 [day] (empty: one era)
    switch_days: np.ndarray  # int64, ascending: the days the era changes (everyone re-derived)
    list_trigger: np.ndarray  # bool [behaviour]
    list_durations: np.ndarray  # the rest: rulebook.ListingRules' fields
    extend_lo: int
    extend_hi: int
    repeat_key: np.uint64
    repay: bool
    log_q_repay: float
    repay_key: np.uint64
    repay_from: int
    repay_cum: np.ndarray
    media_trigger: np.ndarray  # bool [behaviour]
    media_duration: int
    media: bool  # the scenario suspends accounts at all
    shame_trigger: np.ndarray  # bool [behaviour]
    shame_on: np.ndarray  # bool [day]: the screens show that day's records (empty: always)
    block_bit: np.ndarray  # int64 [behaviour]: the ban that stops it (metrics.BAN_BITS)


class _Kernel:
    """The scenario's tables, as the named tuples the compiled kernels take."""

    def __init__(self, sim: Simulation):
        beh, obs, rules = sim.behaviour, sim.observation, sim.world.rules
        self.n_b = beh.n_behaviours
        self.n_c = len(obs.channel_names)
        self.clocks = beh.clocks
        self.observe = obs.channels
        lr = rules.listing
        media = rules.media_duration > 0
        cuts = rules.status.thresholds[0].copy()
        off = rules.status.off
        eras, era_of = np.unique(off, return_inverse=True) if off.shape[0] else \
            (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64))
        era_of = np.asarray(era_of, dtype=np.int64).reshape(-1)
        self.rules = LifeRules(
            points=rules.schemes.points[0].astype(np.int64),
            initial=int(rules.schemes.initial[0]), scored=rules.schemes.enabled, cuts=cuts,
            status_table=np.stack([_status_table(cuts, rules.status._replace(
                off=np.array([v], dtype=np.int64)), media) for v in eras]),
            era_of=era_of, switch_days=rules.switch_days,
            list_trigger=rules.list_trigger & rules.status.list_enabled,
            list_durations=lr.durations, extend_lo=lr.extend_lo, extend_hi=lr.extend_hi,
            repeat_key=lr.repeat_key, repay=lr.repay, log_q_repay=lr.log_q_repay,
            repay_key=lr.repay_key, repay_from=lr.repay_from, repay_cum=lr.repay_cum,
            media_trigger=rules.media_trigger,
            media_duration=int(rules.media_duration), media=media,
            shame_trigger=(rules.shame_trigger if rules.shaming
                           else np.zeros_like(rules.shame_trigger)),
            shame_on=rules.shame_on,
            block_bit=block_bits(sim))

    def false_match_capacity(self, people: int, days: int) -> int:
        """Room for a task's false matches: far above the mean; overflow is handled anyway."""
        rates, t = self.clocks.rates, self.observe
        per_day = 0.0
        for b in range(self.n_b):
            c = t.channel_of[b]
            if c >= 0 and t.kind[c] == CAMERA and t.profile_of[c] >= 0:
                per_day += (min(1.0, float(rates[b])) * t.p_of[b]
                            * float(t.fmr[t.profile_of[c]].max()))
        mean = people * days * per_day
        return int(min(1 << 20, 2 * mean + 6 * math.sqrt(mean) + 256))


# Numba counts references to arrays: unpacking a tuple of arrays or passing arrays to a
# helper costs two atomic operations per array, which per event cost more than the event.
# So the per-event helpers take scalars and the few arrays they need, and the tuples are
# unpacked once per call of _lives (thousands of people), never per person or event.


@nb.njit(inline="always", cache=True)
def _next_day(i, d, key, log_q):
    """The day of the next act after one on day d (d = -1: the first), for clock `key`."""
    u = uniform(key, np.uint64(i), np.uint64(d + 1))
    return d + 1 + geometric_skip(u, log_q)


@nb.njit(inline="always", cache=True)
def _observed(i, bid, d, c, p, camera, seen_key, match_key, f, tmr, fmr, cell, pick_key):
    """Whom channel c files person i's act of day d under: i, someone else, or -1.

    `bid` is the act's behaviour's name_id, which keys the draws.

    `p` is the chance it is seen at all (capture and coverage, or recording).
    The same draws as observation._observe_chunk, so both backends see the same acts.
    """
    ctr = event_counter(d, bid)
    if uniform(seen_key, np.uint64(i), ctr) >= p:
        return -1
    if camera:
        u = uniform(match_key, np.uint64(i), ctr)
        return recognise(i, f, u, tmr, fmr, cell, pick_key, ctr)
    return i


@nb.njit(cache=True)
def _status_table(cuts, r: StatusRules, media):
    """rulebook.status_of for every (grade, true grade, listed, suspended).

    In the scenarios this backend runs (one scheme, no collateral, listings only on
    evidence that is never wrong), status depends on nothing else; the table is
    filled by the rulebook's own rule, so the two backends cannot disagree.
    """
    n_g = cuts.shape[0] + 1
    table = np.zeros((n_g, n_g, 2, 2), dtype=np.int32)
    # a score in each grade: at the top cut-off, or one below each cut-off
    reps = np.empty(n_g, dtype=np.int64)
    reps[0] = cuts[-1] if cuts.shape[0] else 0
    for k in range(cuts.shape[0]):
        reps[n_g - 1 - k] = cuts[k] - 1
    for a in range(n_g):
        for b in range(n_g):
            for listed in range(2):
                for suspended in range(2):
                    g = grade_index(reps[a], cuts)
                    g_true = grade_index(reps[b], cuts)
                    table[g, g_true, listed, suspended] = status_of(
                        0, reps[a], reps[a] - reps[b], listed, listed,
                        suspended if media else 0, 0, 0, 0, r)
    return table


@nb.njit(cache=True)
def _lives(lo, hi, who, starts, ends, inc_day, inc_b, days, clocks, observe, rules, acc, t,
           sign, first, standing, base, fm_who, fm_day, fm_b, fm_cap, fm_stop):
    """Live people lo..hi-1 (or who[lo..hi-1], with their records starts..ends in inc_*).

    Each life runs in day order: the person's behaviour clocks merged, each act
    observed, own records scored as they come, someone else's records (false
    matches) merged in by day, and the status re-derived on each day that
    touched it. Its counts are added, times `sign`, to thread t's tables. With
    `first`, also count the acts and the records they made (whoever they were
    filed under) and note the false matches in fm_*; once those are full,
    fm_stop[0] is the first person whose false matches were not all noted (fm_stop[0] >= 0
    on entry: none are noted). Person i's standing row is standing[i - base] (a block's
    rows start at its first person). Returns how many were noted.
    """
    # unpacked once per call (thousands of people), never per person or event
    points, initial, scored, list_trigger = rules.points, rules.initial, rules.scored, \
        rules.list_trigger
    list_durations, extend_lo, extend_hi, repeat_key = rules.list_durations, \
        rules.extend_lo, rules.extend_hi, rules.repeat_key
    repay, list_log_q, repay_key = rules.repay, rules.log_q_repay, rules.repay_key
    repay_from, repay_cum = rules.repay_from, rules.repay_cum
    media_trigger, media_duration, media = rules.media_trigger, rules.media_duration, \
        rules.media
    shame_trigger, block_bit = rules.shame_trigger, rules.block_bit
    shame_on = rules.shame_on
    timed_shame = shame_on.shape[0] > 0
    cnt, ssum, ev, rec = acc
    channel_of, p_of, kind, profile_of = observe.channel_of, observe.p_of, observe.kind, \
        observe.profile_of
    tmr, fmr, cell, pick_key = observe.tmr, observe.fmr, observe.cell, observe.pick_key
    coverage, region, covered = observe.coverage, observe.region, observe.covered
    seen_keys, match_keys, behaviour_id = observe.seen_keys, observe.match_keys, \
        observe.behaviour_id
    p_day = observe.p_day
    timed_p = p_day.shape[0] > 0
    rates, propensity_keys = clocks.rates, clocks.propensity_keys
    lay = clocks
    n_b = rates.shape[0]
    # the clocks are slots (rate_layers.py): behaviour b's layer j is slot (b << lbits) | j
    lbits, slot_keys, slot_table, slot_start = lay.lbits, lay.slot_keys, lay.slot_table, \
        lay.slot_start
    row_of, n_layers, layer_start, layer_rate = lay.row_of, lay.n_layers, lay.layer_start, \
        lay.layer_rate
    mult, e_max, boost_keys, thin_keys = lay.mult, lay.e_max, lay.boost_keys, lay.thin_keys
    thin_from = lay.thin_from
    n_s = slot_keys.shape[0]
    lmask = (1 << lbits) - 1
    # per behaviour, the scalars an event needs (no array lookups through tuples per event)
    chan = np.empty(n_b, dtype=np.int64)
    camera = np.zeros(n_b, dtype=np.bool_)
    seen_key = np.zeros(n_b, dtype=np.uint64)
    match_key = np.zeros(n_b, dtype=np.uint64)
    profile = np.zeros(n_b, dtype=np.int64)
    for b in range(n_b):
        c = channel_of[b]
        chan[b] = c
        if c >= 0:
            camera[b] = kind[c] == CAMERA
            seen_key[b] = seen_keys[c]
            match_key[b] = match_keys[c]
            profile[b] = profile_of[c]
    nxt = np.empty(n_s, dtype=np.int64)
    log_q = np.empty(n_s, dtype=np.float64)
    lev = np.zeros(n_s, dtype=np.int64)  # the person's propensity level of each slot
    # the slots whose clocks ever run, ascending: with a timeline most layer slots are
    # empty (a behaviour whose rate never changes, a change that only lowers a rate), and
    # the loops below, once per act, look at these only (lowest slot first, as before)
    n_act = 0
    act = np.empty(n_s, dtype=np.int64)
    for sl in range(n_s):
        if slot_start[sl] < days:
            act[n_act] = sl
            n_act += 1
    row = np.zeros((1, 4), dtype=np.int32)
    susp = np.zeros(1, dtype=np.int32)
    cuts, status_table = rules.cuts, rules.status_table
    era_of, switch_days = rules.era_of, rules.switch_days
    timed_era = era_of.shape[0] > 0
    n_sw = switch_days.shape[0]
    blocked = np.zeros(n_b, dtype=np.int64)  # today's acts that a ban may have stopped
    blocked_col = rec.shape[2] - n_b
    cnt_t = cnt[t]
    ssum_t = ssum[t]
    ev_t = ev[t]
    rec_t = rec[t]
    fm_at = 0
    for g in range(lo, hi):
        if who.shape[0] > 0:
            i = who[g]
            ilo, ihi = starts[g], ends[g]
        else:
            i, ilo, ihi = g, 0, 0
        fm_base = fm_at  # where this person's false matches start, if they do not all fit
        for sl in range(n_s):
            if slot_start[sl] >= days:
                nxt[sl] = NEVER_DAY
                continue
            lev[sl] = level_of(propensity_keys[sl >> lbits], i)
            log_q[sl] = slot_table[sl, lev[sl]]
            nxt[sl] = _next_day(i, slot_start[sl] - 1, slot_keys[sl], log_q[sl])
        row[0, SCORE] = initial
        row[0, FALSE_POINTS] = 0
        row[0, LISTED_UNTIL] = 0
        susp[0] = 0
        g = grade_index(initial, cuts)
        status = status_table[era_of[0] if timed_era else 0, g, g, 0, 0]
        sw = 0  # the next day a ban is switched (switch_days[sw]), if any
        count(status, cnt_t[0], sign, scored)
        list_reason = END_EXPIRY
        k = ilo
        cur = -1
        while True:
            # the next day anything happens: an act, a record filed by someone else's act,
            # or the end of a listing or suspension
            d = NEVER_DAY
            for a in range(n_act):
                d = min(d, nxt[act[a]])
            if k < ihi and inc_day[k] < d:
                d = inc_day[k]
            lu = np.int64(row[0, LISTED_UNTIL])
            if cur < lu < d:
                d = lu
            su = np.int64(susp[0])
            if media and cur < su < d:
                d = su
            while sw < n_sw and switch_days[sw] <= cur:
                sw += 1
            if sw < n_sw and switch_days[sw] < d:
                d = switch_days[sw]
            if d >= days:
                break
            cur = d
            touched = lu == d or (media and su == d) or (sw < n_sw and switch_days[sw] == d)
            day_points = 0
            any_blocked = False
            last_b = -1  # the behaviour of today's last act (a pair acts once a day)
            while True:
                # today's next act, lowest slot first; found without a branch per
                # clock (which clock fires is a coin toss the processor cannot predict)
                next_d = NEVER_DAY
                sl = 0
                for a in range(n_act):
                    ss = act[a]
                    x = nxt[ss]
                    less = x < next_d
                    next_d = x if less else next_d
                    sl = ss if less else sl
                if next_d != d:
                    break
                nxt[sl] = _next_day(i, d, slot_keys[sl], log_q[sl])
                b = sl >> lbits
                r = row_of[b]
                if r >= 0:  # a changed rate: does this layer's act stand
                    if b == last_b:
                        continue
                    j = sl & lmask
                    # a base-clock act stands until some layer lowers the rate
                    if (j > 0 or d >= thin_from[r]) and not survives(
                            i, b, j, d, lev[sl], row_of, n_layers, layer_start, layer_rate,
                            mult, e_max, boost_keys, thin_keys):
                        continue
                    last_b = b
                if first:
                    ev_t[d, b] += 1
                if block_bit[b]:
                    blocked[b] += 1
                    any_blocked = True
                c = chan[b]
                if c < 0:
                    continue
                p = p_day[d, b] if timed_p else p_of[b]
                if camera[b] and covered:  # camera.in_view, written out
                    p = p * coverage[c, region[i]]
                s = _observed(i, behaviour_id[b], d, c, p, camera[b], seen_key[b],
                              match_key[b], profile[b], tmr, fmr, cell, pick_key)
                if s < 0:
                    continue
                if first:
                    rec_t[d, R_RECORDS] += 1
                    rec_t[d, N_R + 2 * c] += 1
                    if s == i:
                        rec_t[d, N_R + 2 * c + 1] += 1
                    else:
                        rec_t[d, R_FALSE] += 1
                        rec_t[d, R_FALSE_MATCH] += 1
                    if shame_trigger[b] and (not timed_shame or shame_on[d]):
                        rec_t[d, R_SHAMED] += 1
                        if s != i:
                            rec_t[d, R_SHAMED_WRONGLY] += 1
                    if s != i and fm_stop[0] < 0:
                        if fm_at < fm_cap:
                            fm_who[fm_at] = s
                            fm_day[fm_at] = d
                            fm_b[fm_at] = b
                            fm_at += 1
                        else:  # full: this person's and later ones' are found apart
                            fm_stop[0] = i
                            fm_at = fm_base
                if s != i:
                    continue
                touched = True
                if scored:
                    row[0, SCORE], row[0, FALSE_POINTS] = score_after(
                        row[0, SCORE], row[0, FALSE_POINTS], points[b], True)
                    day_points += points[b]
                if list_trigger[b]:
                    until, reason = listing_end(i, d, row[0, LISTED_UNTIL], list_durations,
                                                extend_lo, extend_hi, repeat_key, repay,
                                                list_log_q, repay_key, repay_from, repay_cum)
                    if row[0, LISTED_UNTIL] <= d:
                        rec_t[d, R_NEWLY_LISTED] += sign
                    if extends(until, row[0, LISTED_UNTIL]):
                        row[0, LISTED_UNTIL] = min(until, 2**31 - 1)
                        list_reason = reason
                if media and media_trigger[b]:
                    until = suspension_end(d, media_duration)
                    if extends(until, susp[0]):
                        susp[0] = min(until, 2**31 - 1)
            while k < ihi and inc_day[k] == d:  # someone else's act, filed under i
                touched = True
                if scored:
                    pts = points[inc_b[k]]
                    row[0, SCORE], row[0, FALSE_POINTS] = score_after(
                        row[0, SCORE], row[0, FALSE_POINTS], pts, False)
                    day_points += pts
                k += 1
            if touched:  # the end of a day that touched the person
                ssum_t[d] += sign * day_points
                score = row[0, SCORE]
                g = grade_index(score, cuts)
                g_true = grade_index(score - row[0, FALSE_POINTS], cuts)
                era = era_of[d] if timed_era else 0
                st = status_table[era, g, g_true, 1 if row[0, LISTED_UNTIL] > d else 0,
                                  1 if media and susp[0] > d else 0]
                if st != status:
                    count(status, cnt_t[d], -sign, scored)
                    count(st, cnt_t[d], sign, scored)
                    if (status & LISTED) and not (st & LISTED):
                        rec_t[d, R_DELISTED] += sign
                        if repaid_today(list_reason, row[0, LISTED_UNTIL], d):
                            rec_t[d, R_REPAID] += sign
                    status = st
            if any_blocked:  # metrics.Metrics: the ban as it stands at the end of the day
                for b in range(n_b):
                    if blocked[b]:
                        if status & block_bit[b]:
                            rec_t[d, blocked_col + b] += sign * blocked[b]
                        blocked[b] = 0
        if sign > 0:
            standing[i - base, SCORE] = row[0, SCORE]
            standing[i - base, FALSE_POINTS] = row[0, FALSE_POINTS]
            standing[i - base, LISTED_UNTIL] = row[0, LISTED_UNTIL]
            standing[i - base, STATUS] = status
    return fm_at


@nb.njit(parallel=True, cache=True)
def _first_pass(lo, hi, first_person, end, base, days, clocks, observe, rules, acc, standing,
                fm_who, fm_day, fm_b, fm_n, fm_stop):
    """Tasks lo..hi-1 of people first_person..end-1, PEOPLE_PER_TASK a task, in parallel."""
    none64 = np.zeros(0, dtype=np.int64)
    none8 = np.zeros(0, dtype=np.uint8)
    cap = fm_who.shape[1]
    for task in nb.prange(hi - lo):
        start = first_person + (lo + task) * PEOPLE_PER_TASK
        fm_n[task] = _lives(start, min(end, start + PEOPLE_PER_TASK), none64, none64, none64,
                            none64, none8, days, clocks, observe, rules, acc,
                            nb.get_thread_id(), 1, True, standing, base, fm_who[task],
                            fm_day[task], fm_b[task], cap, fm_stop[task:task + 1])


@nb.njit(cache=True)
def _false_matches_into(lo, hi, days, clocks, observe, who, day, beh, m, stop):
    """The false matches made from the acts of people lo..hi-1, found on their own.

    Written into who/day/beh from position m on; returns the position after the last.
    When they are full, stop[0] is the first person whose false matches were not all
    written, and the position returned is where that person's began.
    """
    o = observe
    channel_of, kind = o.channel_of, o.kind
    rates, propensity_keys = clocks.rates, clocks.propensity_keys
    lay = clocks
    lbits = lay.lbits
    per = 1 << lbits
    nxt = np.empty(per, dtype=np.int64)
    log_q = np.empty(per, dtype=np.float64)
    size = who.shape[0]
    for i in range(lo, hi):
        m_person = m
        for b in range(rates.shape[0]):
            c = channel_of[b]
            if c < 0 or kind[c] != CAMERA:
                continue
            level = level_of(propensity_keys[b], i)
            for j in range(per):  # the behaviour's clocks: its base and its rate changes
                sl = (b << lbits) | j
                nxt[j] = NEVER_DAY
                if lay.slot_start[sl] < days:
                    log_q[j] = lay.slot_table[sl, level]
                    nxt[j] = _next_day(i, lay.slot_start[sl] - 1, lay.slot_keys[sl], log_q[j])
            view = in_view(i, c, o.coverage, o.region, o.covered)
            while True:
                d = NEVER_DAY
                for j in range(per):
                    d = min(d, nxt[j])
                if d >= days:
                    break
                acted = False
                for j in range(per):
                    if nxt[j] != d:
                        continue
                    sl = (b << lbits) | j
                    nxt[j] = _next_day(i, d, lay.slot_keys[sl], log_q[j])
                    if not acted and survives(i, b, j, d, level, lay.row_of, lay.n_layers,
                                              lay.layer_start, lay.layer_rate, lay.mult,
                                              lay.e_max, lay.boost_keys, lay.thin_keys):
                        acted = True
                if not acted:
                    continue
                p = (o.p_day[d, b] if o.p_day.shape[0] else o.p_of[b]) * view
                s = _observed(i, o.behaviour_id[b], d, c, p, True, o.seen_keys[c],
                              o.match_keys[c], o.profile_of[c], o.tmr, o.fmr, o.cell, o.pick_key)
                if s >= 0 and s != i:
                    if m == size:
                        stop[0] = i
                        return m_person
                    who[m] = s
                    day[m] = d
                    beh[m] = b
                    m += 1
    return m


@nb.njit(cache=True)
def _false_matches(lo, hi, days, clocks, observe):
    """The false matches made from the acts of people lo..hi-1, found on their own."""
    size = 1024
    who = np.empty(size, dtype=np.int64)
    day = np.empty(size, dtype=np.int32)
    beh = np.empty(size, dtype=np.uint8)
    stop = np.full(1, -1, dtype=np.int64)
    m = 0
    while True:
        m = _false_matches_into(lo, hi, days, clocks, observe, who, day, beh, m, stop)
        if stop[0] < 0:
            return who[:m], day[:m], beh[:m]
        lo = stop[0]  # full: grow, and go on from the person who did not fit
        stop[0] = -1
        size *= 2
        who2 = np.empty(size, dtype=np.int64)
        day2 = np.empty(size, dtype=np.int32)
        beh2 = np.empty(size, dtype=np.uint8)
        who2[:m] = who[:m]
        day2[:m] = day[:m]
        beh2[:m] = beh[:m]
        who, day, beh = who2, day2, beh2


@nb.njit(parallel=True, cache=True)
def _scan_false_matches(lo, hi, n, days, clocks, observe, fm_who, fm_day, fm_b, fm_n, fm_stop):
    """The false matches of tasks lo..hi-1 (PEOPLE_PER_TASK people each), in parallel,
    without living anyone: what a run in blocks needs before its first block."""
    for task in nb.prange(hi - lo):
        start = (lo + task) * PEOPLE_PER_TASK
        fm_n[task] = _false_matches_into(start, min(n, start + PEOPLE_PER_TASK), days, clocks,
                                         observe, fm_who[task], fm_day[task], fm_b[task], 0,
                                         fm_stop[task:task + 1])


@nb.njit(parallel=True, cache=True)
def _second_pass(starts, ends, who, day, beh, days, clocks, observe, rules, acc, standing,
                 base):
    """Take back the first lives of the people in `who`, then live them with their records."""
    none64 = np.zeros(0, dtype=np.int64)
    none32 = np.zeros(0, dtype=np.int32)
    none8 = np.zeros(0, dtype=np.uint8)
    stop = np.zeros(1, dtype=np.int64)
    groups = starts.shape[0]
    tasks = (groups + 255) // 256
    for task in nb.prange(tasks):
        lo, hi = task * 256, min(groups, (task + 1) * 256)
        t = nb.get_thread_id()
        _lives(lo, hi, who, starts, starts, day, beh, days, clocks, observe, rules, acc, t, -1,
               False, standing, base, none64, none32, none8, 0, stop)
        _lives(lo, hi, who, starts, ends, day, beh, days, clocks, observe, rules, acc, t, 1,
               False, standing, base, none64, none32, none8, 0, stop)


def _fill_tables(sim: Simulation, k: _Kernel, cnt: np.ndarray, ssum: np.ndarray,
                 ev: np.ndarray, rec: np.ndarray) -> None:
    """Write the day-by-day table the day engine would have written, column by column."""
    days = sim.days
    counts = np.cumsum(cnt[:days], axis=0)
    standing = sim.world.standing
    score_sum = np.int64(standing.initial) * sim.n + np.cumsum(ssum[:days])
    r = rec[:days]
    e = ev[:days]
    t = sim.table
    filled: set[str] = set()

    def put(col: str, values) -> None:
        t[col][:days] = values
        filled.add(col)

    put("day", np.arange(days))
    if sim.scoring.enabled:
        put("mean_score", score_sum.astype(np.float64) / sim.n)
    else:
        put("mean_score", np.full(days, np.nan))
    for col, values in sim.metrics.stock_columns(counts).items():
        put(col, values)
    put("n_records", r[:, R_RECORDS])
    put("n_false_records", r[:, R_FALSE])
    put("n_events", e.sum(axis=1))
    put("n_speech_events", e[:, sim.behaviour.speech].sum(axis=1))
    put("n_shamed", r[:, R_SHAMED])
    put("n_shamed_wrongly", r[:, R_SHAMED_WRONGLY])
    put("n_delisted", r[:, R_DELISTED])
    put("n_newly_listed", r[:, R_NEWLY_LISTED])
    put("n_repaid", r[:, R_REPAID])
    blocked_col = N_R + 2 * k.n_c
    for (b, _), name in zip(sim.metrics.block_index, sim.metrics.blockable, strict=True):
        put(f"n_blocked_{name}", r[:, blocked_col + b])
    for b, name in enumerate(sim.behaviour.names):
        put(f"n_events_{name}", e[:, b])
    put("n_collateral_sanctioned", counts[:, C_COLLATERAL])
    for kind in ERRORS[1:]:
        put(f"n_{kind}_records", r[:, R_FALSE_MATCH] if kind == ERRORS[FALSE_MATCH] else 0)
    put("n_expired_records", 0)
    put("n_pending_records", 0)
    obs = sim.observation
    for c, name in enumerate(sim.surveillance.channels):
        sees = (obs.channel_of == c) & (obs.mode == TRUE_EVENT)
        put(f"n_true_events_{name}", e[:, sees].sum(axis=1))
        put(f"n_seen_{name}", r[:, N_R + 2 * c])
        put(f"n_seen_correct_{name}", r[:, N_R + 2 * c + 1])
    missing = [c for c in t.columns if c not in filled]
    if missing:  # a column the day engine has and this backend does not: never silently 0
        raise RuntimeError(f"person backend: no values for timeseries columns {missing}")
    final = counts[-1] if days else np.zeros(N_COUNTS, np.int64)
    sim.sanctions.counts_by_shard[:] = 0
    sim.sanctions.counts_by_shard[0] = final
    standing.score_sum[:] = 0
    standing.score_sum[0] = score_sum[-1] if days else np.int64(standing.initial) * sim.n
