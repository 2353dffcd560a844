"""Sanctions: the dishonest list, travel and consumption bans, suspended accounts, shaming.

A person's sanction status is a pure function of their state (score, false
points, list and suspension end days) and the day. It is cached per person in
a small bit field and re-derived only for people something happened to today
(a record, or a listing or suspension falling due), so the daily counts of the
sanctioned are kept incrementally and a day costs its events, not its people.

"Wrongly banned" follows REFERENCE_MODEL.md: banned, but not banned on the
correctly attributed records alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba as nb
import numpy as np
import pyarrow as pa

from scoresim.model.calendar import Calendar
from scoresim.model.observation import Records
from scoresim.model.random import geometric_skip, stream_key, uniform
from scoresim.model.scoring import Scoring, grade_at
from scoresim.model.standing import (
    FALSE_POINTS,
    LISTED_UNTIL,
    SCORE,
    STATUS,
    n_shards,
    order_by_shard,
)
from scoresim.model.streams import OpenStream
from scoresim.scenario.schema import Scenario

# why a review falls due
END_EXPIRY, END_REPAID, END_SUSPENSION = 1, 2, 3
# status bits
GRADE_MASK = 0b111
BANNED, WRONGLY_BANNED, LISTED, SUSPENDED, CONSUMPTION_BANNED = 8, 16, 32, 64, 128
# joint punishment (joint_punishment.py): sanctioned only because of someone else's record
COLLATERAL, SCHOOL_BANNED = 256, 512
NO_SCORE = 1024  # lives in a region without a pilot: no grade, only the national list
# kinds of collateral sanction (collateral_kind bits)
K_CONSUMPTION, K_SCHOOL = 1, 2
# counts layout: one slot per grade, then one per flag
N_GRADE_SLOTS = 8
C_BANNED, C_WRONGLY, C_LISTED, C_SUSPENDED, C_CONSUMPTION = range(8, 13)
C_COLLATERAL, C_SCHOOL = 13, 14
N_COUNTS = 15


SANCTION_BITS = {
    "travel_ban": BANNED,
    "wrongful_travel_ban": WRONGLY_BANNED,
    "dishonest_list": LISTED,
    "consumption_ban": CONSUMPTION_BANNED,
    "media_suspension": SUSPENDED,
    "school_ban": SCHOOL_BANNED,
    "collateral": COLLATERAL,
}
SANCTION_MASK = sum(SANCTION_BITS.values())
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


class Sanctions:
    name = "sanctions"

    def __init__(self, scenario: Scenario, scoring: Scoring, n: int, seed: int, days: int,
                 blank: bool = False):
        s = scenario.sanctions
        names = list(scenario.behaviours)
        n_b = len(names)
        self.n = n
        self.scoring = scoring
        self.standing = scoring.standing

        def mask(triggers: list[str]) -> np.ndarray:
            m = np.zeros(n_b, dtype=np.bool_)
            for t in triggers:
                m[names.index(t)] = True
            return m

        dl = s.dishonest_list
        self.list_enabled = dl is not None
        self.list_trigger = mask(dl.triggers if dl else [])
        self.list_duration = dl.duration_days if dl else 0
        self.repay = bool(dl and dl.repayment_rate > 0)
        self.list_log_q = (
            math.log1p(-dl.repayment_rate) if self.repay and dl.repayment_rate < 1 else -math.inf
        )
        self.repeat_extension = np.array(dl.repeat_extension_days if dl else (0, 0), np.int64)
        self.repeat_key = stream_key(seed, "sanctions", "repeat-extension")
        ms = s.media_suspension
        self.media_trigger = mask(ms.triggers if ms else [])
        self.media_duration = ms.duration_days if ms else 0
        self.shame_trigger = mask(s.shaming.triggers if s.shaming else [])
        self.shaming = s.shaming is not None
        self.imposing = self.list_trigger | self.media_trigger

        tb = s.travel_ban
        regional = scoring.regional
        self.travel_grades = regional.travel_grades(N_GRADE_SLOTS)
        if tb is None:
            self.travel_grades[:] = False
        self.travel_list = bool(tb and tb.dishonest_list)
        self.consumption_list = bool(s.consumption_ban and s.consumption_ban.dishonest_list)

        self.suspended_until = np.zeros(n if ms is not None else 0, dtype=np.int32)
        # A listing from a wrongly attributed record is a wrongful listing. Where every
        # trigger is recorded by a channel that never errs (courts), the true listing is
        # the listing and no array is needed.
        errs = any(
            scenario.behaviours[t].channel is not None
            and scenario.channels[scenario.behaviours[t].channel].kind == "camera"
            for t in (dl.triggers if dl else [])
        ) or bool(
            scenario.abuse and scenario.abuse.fabricated_behaviour in (dl.triggers if dl else [])
        )
        self.true_listed_until = np.zeros(n if errs else 0, dtype=np.int32)
        joint = scenario.joint_punishment is not None
        self.collateral_until = np.zeros(n if joint else 0, dtype=np.int32)
        self.collateral_kind = np.zeros(n if joint else 0, dtype=np.uint8)
        self.changes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.repay_key = stream_key(seed, "sanctions", "repayment")
        # who to look at again on which day, and why (the end of a listing or suspension)
        self.reviews = Calendar(days, np.uint32 if n < 2**32 else np.uint64, payload_dtype=np.int8)
        self.n_newly_listed = 0
        self.n_repaid = 0
        self.counts_by_shard = np.zeros((n_shards(), N_COUNTS), dtype=np.int64)
        self.delisted_by_shard = np.zeros(n_shards(), dtype=np.int64)
        self.n_shamed = 0
        self.n_shamed_wrongly = 0
        self.log: SanctionLog | None = None
        # called with (day, people, before, after) for every re-derivation (breakdowns)
        self.watchers: list[Callable[[int, np.ndarray, np.ndarray, np.ndarray], None]] = []
        if not blank:  # the person backend derives each status as it lives each life
            _init_status(self.standing, self.counts_by_shard, self._rules())

    @property
    def status(self) -> np.ndarray:
        return self.standing[:, STATUS]

    @property
    def listed_until(self) -> np.ndarray:
        return self.standing[:, LISTED_UNTIL]

    @property
    def counts(self) -> np.ndarray:
        return self.counts_by_shard.sum(axis=0)

    @property
    def n_delisted(self) -> int:
        return int(self.delisted_by_shard.sum())

    def _rules(self):
        reg = self.scoring.regional
        return (
            reg.thresholds,
            self.scoring.enabled,
            self.list_enabled,
            self.suspended_until,
            self.true_listed_until,
            self.travel_grades,
            self.travel_list,
            self.consumption_list,
            reg.scheme,
            reg.scored,
            self.collateral_until,
            self.collateral_kind,
        )

    def step(self, day: int, records: Records, expired: np.ndarray | None = None) -> None:
        """Lists, suspensions and shaming from today's records; then re-derive who is banned."""
        self.n_shamed = self.n_shamed_wrongly = self.n_newly_listed = 0
        self.changes = []
        if len(records):
            imposing = np.flatnonzero(self.imposing[records.behaviour])
            if imposing.shape[0]:
                who, when, why, self.n_newly_listed = _impose(
                    day,
                    records.subject[imposing],
                    records.behaviour[imposing],
                    records.correct[imposing],
                    self.list_trigger,
                    self.list_duration,
                    self.repay,
                    self.list_log_q,
                    self.repay_key,
                    self.standing,
                    self.true_listed_until,
                    self.media_trigger,
                    self.media_duration,
                    self.suspended_until,
                    self.repeat_extension,
                    self.repeat_key,
                )
                self.reviews.push(who, when, why)
            if self.shaming:
                shown = self.shame_trigger[records.behaviour]
                self.n_shamed = int(shown.sum())
                self.n_shamed_wrongly = int((shown & ~records.correct).sum())
        # what falls due first: listings and suspensions ending today
        due, why = self.reviews.pop_with_payload(day)
        self.n_repaid = 0
        also = expired if expired is not None else due[:0]  # subjects of expired records
        # a record can change its subject's status only by moving their grade (or true
        # grade), or by listing or suspending them: the others need no second look
        moved = self.scoring.moved
        if moved.shape[0] == len(records) and len(records):
            judged = records.subject[moved | self.imposing[records.behaviour]]
        else:
            judged = records.subject
        for people in (due, judged, also):
            self.refresh(day, people)
        # repaid: the listing in force ended today, and it ended by repayment (a review
        # still in the calendar from an earlier, extended listing or suspension ends nothing)
        if due.shape[0]:
            ends_today = self.standing[due.astype(np.int64), LISTED_UNTIL] == day
            self.n_repaid = int(np.count_nonzero(ends_today & (why == END_REPAID)))

    def refresh(self, day: int, people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Re-derive the status of `people` (their state changed); note what flipped.

        Other modules (redress, abuse, peer ratings, joint punishment) call this for the
        people whose score or sanctions they changed; `changes` keeps the day's flips.
        """
        before = np.empty(people.shape[0], dtype=np.int32)
        after = np.empty(people.shape[0], dtype=np.int32)
        if people.shape[0]:
            _refresh(
                people,
                day,
                self.standing,
                self.counts_by_shard,
                self.delisted_by_shard,
                self._rules(),
                before,
                after,
            )
            self.changes.append((people, before, after))
            if self.log is not None:
                self.log.note(day, people, before, after)
            for watch in self.watchers:
                watch(day, people, before, after)
        return before, after

    @property
    def nbytes(self) -> int:
        return (
            self.suspended_until.nbytes
            + self.reviews.nbytes
            + self.collateral_until.nbytes
            + self.collateral_kind.nbytes
        )


@nb.njit(inline="always", cache=True)
def listing_end(s, day, listed_until, duration, extend_lo, extend_hi, repeat_key, repay,
                log_q_repay, repay_key):
    """When a listing of person s made on `day` ends, and why (END_EXPIRY or END_REPAID).

    A repeat while listed is extended by extend_lo..extend_hi days (1 to 3 years,
    SPC 2017); with repayment, the person may pay and leave earlier. Scalars only:
    both backends call it per listing, and arrays passed to it would be counted.
    """
    until = day + duration
    reason = END_EXPIRY
    if listed_until > day and extend_hi > 0:
        span = extend_hi - extend_lo + 1
        u = uniform(repeat_key, np.uint64(s), np.uint64(day))
        until += extend_lo + min(np.int64(u * span), span - 1)
    if repay:
        u = uniform(repay_key, np.uint64(s), np.uint64(day))
        paid = day + 1 + geometric_skip(u, log_q_repay)
        if paid < until:
            until, reason = paid, END_REPAID
    return until, reason


@nb.njit(cache=True)
def _impose(
    day,
    subject,
    behaviour,
    correct,
    list_trigger,
    list_duration,
    repay,
    list_log_q,
    repay_key,
    standing,
    true_listed_until,
    media_trigger,
    media_duration,
    suspended_until,
    repeat_extension,
    repeat_key,
):
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
            until, reason = listing_end(s, day, standing[s, LISTED_UNTIL], list_duration,
                                        repeat_extension[0], repeat_extension[1], repeat_key,
                                        repay, list_log_q, repay_key)
            if correct[r] and true_listed_until.shape[0] > 0 and until > true_listed_until[s]:
                true_listed_until[s] = until
            if standing[s, LISTED_UNTIL] <= day:
                newly_listed += 1
            if until > standing[s, LISTED_UNTIL]:
                standing[s, LISTED_UNTIL] = until
                who[m] = s
                when[m] = until
                why[m] = reason
                m += 1
        if media_duration > 0 and media_trigger[b]:
            until = day + media_duration
            if until > suspended_until[s]:
                suspended_until[s] = until
                who[m] = s
                when[m] = until
                why[m] = END_SUSPENSION
                m += 1
    return who[:m], when[:m], why[:m], newly_listed


@nb.njit(cache=True)
def _status_of(p, day, standing, rules):
    """The status bits of person p on `day`; `rules` is Sanctions._rules(), in its order."""
    (thresholds, scored, list_enabled, suspended_until, true_listed_until, travel_grades,
     travel_list, consumption_list, scheme, scheme_scored, collateral_until,
     collateral_kind) = rules
    st = 0
    sc = np.int64(scheme[p]) if scheme.shape[0] > 0 else np.int64(0)
    listed = False
    if list_enabled and standing[p, LISTED_UNTIL] > day:
        listed = True
        st |= LISTED
        if consumption_list:
            st |= CONSUMPTION_BANNED
    if suspended_until.shape[0] > 0 and suspended_until[p] > day:
        st |= SUSPENDED
    if scored and scheme_scored[sc]:
        score = standing[p, SCORE]
        g = grade_at(score, thresholds, sc)
        st |= g
        banned = travel_grades[sc, g] or (travel_list and listed)
        if banned:
            st |= BANNED
            g_true = grade_at(score - standing[p, FALSE_POINTS], thresholds, sc)
            truly_listed = listed
            if true_listed_until.shape[0] > 0:
                truly_listed = true_listed_until[p] > day
            if not (travel_grades[sc, g_true] or (travel_list and truly_listed)):
                st |= WRONGLY_BANNED
    else:
        if scored:
            st |= NO_SCORE
        if travel_list and listed:
            st |= BANNED
            if true_listed_until.shape[0] > 0 and not true_listed_until[p] > day:
                st |= WRONGLY_BANNED
    if collateral_until.shape[0] > 0 and collateral_until[p] > day:
        own = st & (BANNED | LISTED | CONSUMPTION_BANNED)
        kind = collateral_kind[p]
        if kind & K_CONSUMPTION:
            st |= CONSUMPTION_BANNED | BANNED
        if kind & K_SCHOOL:
            st |= SCHOOL_BANNED
        if own == 0:
            st |= COLLATERAL
    return st


@nb.njit(inline="always", cache=True)
def _count(st, counts, sign, scored):
    if scored and not (st & NO_SCORE):
        counts[st & GRADE_MASK] += sign
    if st & BANNED:
        counts[C_BANNED] += sign
    if st & WRONGLY_BANNED:
        counts[C_WRONGLY] += sign
    if st & LISTED:
        counts[C_LISTED] += sign
    if st & SUSPENDED:
        counts[C_SUSPENDED] += sign
    if st & CONSUMPTION_BANNED:
        counts[C_CONSUMPTION] += sign
    if st & COLLATERAL:
        counts[C_COLLATERAL] += sign
    if st & SCHOOL_BANNED:
        counts[C_SCHOOL] += sign


@nb.njit(parallel=True, cache=True)
def _init_status(standing, counts_by_shard, rules):
    scored = rules[1]
    shards = counts_by_shard.shape[0]
    n = standing.shape[0]
    per = (n + shards - 1) // shards
    for t in nb.prange(shards):
        for p in range(t * per, min(n, (t + 1) * per)):
            st = _status_of(p, 0, standing, rules)
            standing[p, STATUS] = st
            _count(st, counts_by_shard[t], 1, scored)


@nb.njit(cache=True)
def _refresh_shard(lo, hi, order, people, day, standing, counts, rules, before, after):
    scored = rules[1]
    delisted = 0
    for j in range(lo, hi):
        k = order[j]
        p = np.int64(people[k])
        old = standing[p, STATUS]
        st = _status_of(p, day, standing, rules)
        before[k] = old
        after[k] = st
        if st != old:
            _count(old, counts, -1, scored)
            _count(st, counts, 1, scored)
            standing[p, STATUS] = st
            if (old & LISTED) and not (st & LISTED):
                delisted += 1
    return delisted


@nb.njit(parallel=True, cache=True)
def _refresh(people, day, standing, counts_by_shard, delisted_by_shard, rules, before, after):
    """Re-derive the status of `people` (duplicates allowed); keep the counts in step.

    Each thread takes the people of its own shard, so no row is touched twice at once
    and the counts (integers, summed over shards) do not depend on the schedule.
    """
    shards = counts_by_shard.shape[0]
    order, starts = order_by_shard(people, shards)
    for t in nb.prange(shards):
        delisted_by_shard[t] += _refresh_shard(starts[t], starts[t + 1], order, people, day,
                                               standing, counts_by_shard[t], rules, before,
                                               after)
