"""Sanctions: the dishonest list, travel and consumption bans, suspended accounts, shaming.

A person's sanction status is a pure function of their standing and the day
(rulebook.status_of). It is cached per person in a small bit field and
re-derived only for people something happened to today (a record, a listing or
suspension falling due, or a change another module made to their standing),
so the daily counts of the sanctioned are kept incrementally and a day costs
its events, not its people.

"Wrongly banned" follows docs/reference-model.md: banned, but not banned on the
correctly attributed records alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numba as nb
import numpy as np
import pyarrow as pa

from scoresim.model.calendar import Calendar
from scoresim.model.module import Module, Today
from scoresim.model.prefetch import AHEAD, prefetch
from scoresim.model.rulebook import (
    BANNED,
    C_COLLATERAL,
    COLLATERAL,
    CONSUMPTION_BANNED,
    END_REPAID,
    END_SUSPENSION,
    LISTED,
    N_COUNTS,
    SANCTION_BITS,
    SANCTION_MASK,
    SCHOOL_BANNED,
    SUSPENDED,
    WRONGLY_BANNED,
    ListingRules,
    StatusRules,
    count,
    extends,
    listing_end,
    status_of,
    suspension_end,
)
from scoresim.model.standing import (
    FALSE_POINTS,
    LISTED_UNTIL,
    SCORE,
    STATUS,
    n_shards,
    order_by_shard,
)
from scoresim.model.streams import OpenStream
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario

LOG_SCHEMA = pa.schema(
    [
        ("day", pa.int32()),
        ("person", pa.int64()),
        ("sanction", pa.dictionary(pa.int8(), pa.string())),
        ("started", pa.bool_()),
    ]
)


class SanctionLog:
    """Each sanction begun or ended, per person and day: `sanctions.parquet`.

    Kept for the same people as the credit file (all, or the sampled files), so that
    a person's story can be told from records and sanctions alone.
    """

    def __init__(self, open_stream: OpenStream, keep: Callable[[np.ndarray], np.ndarray] | None):
        self.keep = keep
        self.names = pa.array(list(SANCTION_BITS), pa.string())
        self.bits = np.array(list(SANCTION_BITS.values()), dtype=np.int32)
        self.stream = open_stream("sanctions", LOG_SCHEMA, self._table)

    def note(self, day: int, people: np.ndarray, before: np.ndarray, after: np.ndarray) -> None:
        changed = np.flatnonzero((before ^ after) & SANCTION_MASK)
        if changed.shape[0] == 0:
            return
        people, before, after = people[changed].astype(np.int64), before[changed], after[changed]
        if self.keep is not None:
            kept = self.keep(people)
            people, before, after = people[kept], before[kept], after[kept]
        flips = ((before ^ after)[:, None] & self.bits[None, :]) != 0
        row, which = np.nonzero(flips)
        started = (after[row] & self.bits[which]) != 0
        chunk = (np.full(row.shape[0], day, np.int32), people[row], which.astype(np.int8), started)
        self.stream.append(chunk, row.shape[0])

    def _table(self, chunks: list) -> pa.Table:
        cols = [np.concatenate(c) for c in zip(*chunks, strict=True)]
        return pa.Table.from_arrays(
            [
                pa.array(cols[0]),
                pa.array(cols[1]),
                pa.DictionaryArray.from_arrays(pa.array(cols[2]), self.names),
                pa.array(cols[3]),
            ],
            schema=LOG_SCHEMA,
        )

    def close(self) -> None:
        self.stream.close()


class EndDays(NamedTuple):
    """The end days of sanctions a person's standing row does not hold (empty when unused)."""

    suspended_until: np.ndarray  # int32 per person, with media suspension
    true_listed_until: np.ndarray  # int32 per person, where listings can be wrongful
    collateral_until: np.ndarray  # int32 per person, with joint punishment
    collateral_kind: np.ndarray  # uint8 per person: rulebook.K_* bits


class Sanctions(Module):
    name = "sanctions"

    def __init__(self, world: World):
        super().__init__(world)
        scenario, n = world.scenario, world.n
        rules = world.rules
        self.rules = rules
        self.list_trigger = rules.list_trigger
        self.media_trigger = rules.media_trigger
        self.shame_trigger = rules.shame_trigger
        self.shaming = rules.shaming
        self.imposing = rules.imposing
        s = scenario.sanctions
        errs = rules.tracks_true_listing
        joint = scenario.joint_punishment is not None
        self.ends = EndDays(
            suspended_until=np.zeros(n if s.media_suspension is not None else 0, dtype=np.int32),
            true_listed_until=np.zeros(n if errs else 0, dtype=np.int32),
            collateral_until=np.zeros(n if joint else 0, dtype=np.int32),
            collateral_kind=np.zeros(n if joint else 0, dtype=np.uint8),
        )
        self.log: SanctionLog | None = None
        if world.open_stream is not None and scenario.records != "none":
            credit_file = world.module("credit_file")
            keep = credit_file.in_sample if scenario.records == "sample" else None
            self.log = SanctionLog(world.open_stream, keep)
        # who to look at again on which day, and why (the end of a listing or suspension)
        self.reviews = Calendar(world.days, np.uint32 if n < 2**32 else np.uint64,
                                payload_dtype=np.int8)
        self.n_newly_listed = 0
        self.n_repaid = 0
        self.counts_by_shard = np.zeros((n_shards(), N_COUNTS), dtype=np.int64)
        self.delisted_by_shard = np.zeros(n_shards(), dtype=np.int64)
        self.n_shamed = 0
        self.n_shamed_wrongly = 0
        self._switch_days = set(rules.switch_days.tolist())
        if world.backend != "person":  # the person backend derives each status as it lives
            _init_status(self.standing, self.counts_by_shard, rules.status,
                         rules.schemes.of_person, self.ends)

    @property
    def standing(self) -> np.ndarray:
        """The standing rows (read each time: a run in blocks moves them block by block)."""
        return self.world.standing.rows

    @property
    def status(self) -> np.ndarray:
        return self.standing[:, STATUS]

    @property
    def suspended_until(self) -> np.ndarray:
        return self.ends.suspended_until

    @property
    def counts(self) -> np.ndarray:
        return self.counts_by_shard.sum(axis=0)

    @property
    def n_delisted(self) -> int:
        return int(self.delisted_by_shard.sum())

    @classmethod
    def person_backend(cls, scenario: Scenario) -> list[str]:
        s = scenario.sanctions
        cameras = {n for n, c in scenario.channels.items() if c.kind == "camera"}
        imposing = list(s.dishonest_list.triggers if s.dishonest_list else [])
        imposing += s.media_suspension.triggers if s.media_suspension else []
        return [f"sanctions: {t} lists or suspends on camera evidence (wrongful listings)"
                for t in imposing if scenario.behaviours[t].channel in cameras]

    def on_change(self, today: Today, paths: list[str]) -> None:
        """A ban switched off or on today (rulebook.StatusRules.off): everyone's status is
        re-derived, once, before the day's records; nobody is re-derived on other days."""
        if today.day in self._switch_days:
            self.refresh(today, np.arange(self.standing.shape[0], dtype=np.int64))

    def step(self, today: Today) -> None:
        """Lists, suspensions and shaming from today's records; then re-derive who is banned:
        those whose listing or suspension ends today, those today's records touched, those
        whose records expired, and those other modules changed (`today.rejudge`)."""
        day, records = today.day, today.filed
        self.n_shamed = self.n_shamed_wrongly = self.n_newly_listed = 0
        if len(records):
            imposing = np.flatnonzero(self.imposing[records.behaviour])
            if imposing.shape[0]:
                lr = self.rules.listing
                who, when, why, self.n_newly_listed = _impose(
                    day, records.subject[imposing], records.behaviour[imposing],
                    records.correct[imposing], self.list_trigger, lr, self.standing,
                    self.ends.true_listed_until, self.media_trigger, self.rules.media_duration,
                    self.ends.suspended_until)
                self.reviews.push(who, when, why)
            if self.rules.shaming_on(day):
                shown = self.shame_trigger[records.behaviour]
                self.n_shamed = int(shown.sum())
                self.n_shamed_wrongly = int((shown & ~records.correct).sum())
        # what falls due first: listings and suspensions ending today
        due, why = self.reviews.pop_with_payload(day)
        self.n_repaid = 0
        expired = today.expired[0] if today.expired is not None else due[:0]
        # a record can change its subject's status only by moving their grade (or true
        # grade), or by listing or suspending them: the others need no second look
        moved = today.moved
        if moved is not None and moved.shape[0] == len(records) and len(records):
            judged = records.subject[moved | self.imposing[records.behaviour]]
        else:
            judged = records.subject
        for people in (due, judged, expired):
            self.refresh(today, people)
        # repaid: the listing in force ended today, and it ended by repayment (a review
        # still in the calendar from an earlier, extended listing or suspension ends nothing)
        if due.shape[0]:
            ends_today = self.standing[due.astype(np.int64), LISTED_UNTIL] == day
            self.n_repaid = int(np.count_nonzero(ends_today & (why == END_REPAID)))
        self.rejudge(today)

    def rejudge(self, today: Today) -> None:
        """Re-derive the status of the people other modules changed today, in their order."""
        for people in today.rejudge:
            self.refresh(today, people)
        today.rejudge.clear()

    def refresh(self, today: Today, people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Re-derive the status of `people` (their state changed); note what flipped."""
        before = np.empty(people.shape[0], dtype=np.int32)
        after = np.empty(people.shape[0], dtype=np.int32)
        if people.shape[0]:
            _refresh(people, today.day, self.standing, self.counts_by_shard,
                     self.delisted_by_shard, self.rules.status, self.rules.schemes.of_person,
                     self.ends, before, after)
            today.changes.append((people, before, after))
            if self.log is not None:
                self.log.note(today.day, people, before, after)
        return before, after

    def bind_collateral(self, people: np.ndarray, until: np.ndarray, kind: int) -> None:
        """Joint punishment: bind `people` by collateral sanction `kind` until `until`."""
        if people.shape[0] == 0:
            return
        e = self.ends
        np.maximum.at(e.collateral_until, people, until.astype(np.int32))
        e.collateral_kind[people] |= np.uint8(kind)
        self.reviews.push(people, e.collateral_until[people].astype(np.int64))

    def columns(self) -> list[str]:
        return ["n_collateral_sanctioned"]

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        """People sanctioned only through someone else's record (joint punishment)."""
        row["n_collateral_sanctioned"] = self.counts[C_COLLATERAL]

    def people(self) -> dict[str, Any]:
        status = self.status
        return {"travel_banned": (status & BANNED) != 0, "listed": (status & LISTED) != 0,
                "wrongly_banned": (status & WRONGLY_BANNED) != 0,
                "consumption_banned": (status & CONSUMPTION_BANNED) != 0,
                "media_suspended": (status & SUSPENDED) != 0}

    def collateral_people(self) -> dict[str, Any]:
        status = self.status
        return {"collateral": (status & COLLATERAL) != 0,
                "school_banned": (status & SCHOOL_BANNED) != 0}

    def state(self) -> dict[str, np.ndarray]:
        reviews = self.reviews.state()
        st = {"reviews_" + k: v for k, v in reviews.items()}
        st.update({"counts": self.counts, "delisted": np.array(self.n_delisted),
                   "suspended_until": self.ends.suspended_until,
                   "true_listed_until": self.ends.true_listed_until})
        if self.log is not None:
            done = self.log.stream.checkpoint()
            st["log_stream"] = np.array([done["n_rows"], done["n_parts"]])
        return st

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.reviews.restore({k[len("reviews_"):]: v for k, v in st.items()
                              if k.startswith("reviews_")})
        self.counts_by_shard[:] = 0
        self.counts_by_shard[0] = st["counts"]
        self.delisted_by_shard[:] = 0
        self.delisted_by_shard[0] = st["delisted"]
        self.ends.suspended_until[:] = st["suspended_until"]
        self.ends.true_listed_until[:] = st["true_listed_until"]
        if self.log is not None and "log_stream" in st:
            n_rows, n_parts = st["log_stream"]
            self.log.stream.restore({"n_rows": n_rows, "n_parts": n_parts})

    def close(self) -> None:
        if self.log is not None:
            self.log.close()

    @property
    def nbytes(self) -> int:
        e = self.ends
        return (e.suspended_until.nbytes + self.reviews.nbytes + e.collateral_until.nbytes
                + e.collateral_kind.nbytes + e.true_listed_until.nbytes)


@nb.njit(cache=True)
def _impose(day, subject, behaviour, correct, list_trigger, lr: ListingRules, standing,
            true_listed_until, media_trigger, media_duration, suspended_until):
    """Today's listings and suspensions; returns the reviews to file (who, when, why)."""
    n = subject.shape[0]
    who = np.empty(2 * n, dtype=np.int64)
    when = np.empty(2 * n, dtype=np.int64)
    why = np.empty(2 * n, dtype=np.int8)
    m = 0
    newly_listed = 0
    for r in range(n):
        s = subject[r]
        b = behaviour[r]
        if list_trigger[b]:
            until, reason = listing_end(s, day, standing[s, LISTED_UNTIL], lr.durations,
                                        lr.extend_lo, lr.extend_hi, lr.repeat_key, lr.repay,
                                        lr.log_q_repay, lr.repay_key, lr.repay_from,
                                        lr.repay_cum)
            if correct[r] and true_listed_until.shape[0] > 0 and \
                    extends(until, true_listed_until[s]):
                true_listed_until[s] = until
            if standing[s, LISTED_UNTIL] <= day:
                newly_listed += 1
            if extends(until, standing[s, LISTED_UNTIL]):
                standing[s, LISTED_UNTIL] = until
                who[m] = s
                when[m] = until
                why[m] = reason
                m += 1
        if media_duration > 0 and media_trigger[b]:
            until = suspension_end(day, media_duration)
            if extends(until, suspended_until[s]):
                suspended_until[s] = until
                who[m] = s
                when[m] = until
                why[m] = END_SUSPENSION
                m += 1
    return who[:m], when[:m], why[:m], newly_listed


@nb.njit(cache=True)
def status_of_person(p, day, standing, rules: StatusRules, of_person, ends: EndDays):
    """rulebook.status_of for person p: their standing row and end days, read here once."""
    sc = np.int64(of_person[p]) if of_person.shape[0] > 0 else np.int64(0)
    listed_until = standing[p, LISTED_UNTIL]
    true_listed = (ends.true_listed_until[p] if ends.true_listed_until.shape[0] > 0
                   else listed_until)
    suspended = ends.suspended_until[p] if ends.suspended_until.shape[0] > 0 else 0
    c_until, c_kind = 0, 0
    if ends.collateral_until.shape[0] > 0:
        c_until, c_kind = ends.collateral_until[p], ends.collateral_kind[p]
    return status_of(day, standing[p, SCORE], standing[p, FALSE_POINTS], listed_until,
                     true_listed, suspended, c_until, c_kind, sc, rules)


@nb.njit(parallel=True, cache=True)
def _init_status(standing, counts_by_shard, rules, of_person, ends):
    shards = counts_by_shard.shape[0]
    n = standing.shape[0]
    per = (n + shards - 1) // shards
    for t in nb.prange(shards):
        for p in range(t * per, min(n, (t + 1) * per)):
            st = status_of_person(p, 0, standing, rules, of_person, ends)
            standing[p, STATUS] = st
            count(st, counts_by_shard[t], 1, rules.scored)


@nb.njit(inline="always", cache=True)
def _prefetch_person(p, standing, ends: EndDays):
    """The rows status_of_person reads, asked for ahead (prefetch.py)."""
    prefetch(standing, p)
    if ends.true_listed_until.shape[0] > 0:
        prefetch(ends.true_listed_until, p)
    if ends.suspended_until.shape[0] > 0:
        prefetch(ends.suspended_until, p)
    if ends.collateral_until.shape[0] > 0:
        prefetch(ends.collateral_until, p)
        prefetch(ends.collateral_kind, p)


@nb.njit(cache=True)
def _refresh_shard(lo, hi, order, people, day, standing, counts, rules, of_person, ends, before,
                   after):
    delisted = 0
    for j in range(lo, hi):
        if j + AHEAD < hi:  # the rows of a person to come (prefetch.py)
            _prefetch_person(np.int64(people[order[j + AHEAD]]), standing, ends)
        k = order[j]
        p = np.int64(people[k])
        old = standing[p, STATUS]
        st = status_of_person(p, day, standing, rules, of_person, ends)
        before[k] = old
        after[k] = st
        if st != old:
            count(old, counts, -1, rules.scored)
            count(st, counts, 1, rules.scored)
            standing[p, STATUS] = st
            if (old & LISTED) and not (st & LISTED):
                delisted += 1
    return delisted


@nb.njit(parallel=True, cache=True)
def _refresh(people, day, standing, counts_by_shard, delisted_by_shard, rules, of_person, ends,
             before, after):
    """Re-derive the status of `people` (duplicates allowed); keep the counts in step.

    Each thread takes the people of its own shard, so no row is touched twice at once
    and the counts (integers, summed over shards) do not depend on the schedule.
    """
    shards = counts_by_shard.shape[0]
    order, starts = order_by_shard(people, shards)
    for t in nb.prange(shards):
        delisted_by_shard[t] += _refresh_shard(starts[t], starts[t + 1], order, people, day,
                                               standing, counts_by_shard[t], rules, of_person,
                                               ends, before, after)
