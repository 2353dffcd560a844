"""One person's credit file replayed under the rulebook: their standing and status, day by day.

The credit file is the audit trail: every score, grade and sanction of a person
must follow from their records (records.parquet) under the scenario's rules.
This replays one person's records through the rulebook's own functions, in the
order the day engine applies them on each day:

    1. the points of the records filed today (rulebook.score_after), in filing order;
    2. the records that stop counting today (expiry, repair, a won appeal) leave the
       score; a won appeal against a listing record ends the listing that day
       (rulebook.listing_after_appeal);
    3. today's listings and suspensions (rulebook.listing_end, suspension_end,
       extends), in filing order;
    4. the status of the day (rulebook.status_of).

So explain's story and the report tell what the engine did, not a retelling of
it; tests/test_explain.py checks the two agree person by person, with repeat
listings, repayment, repair and appeals. Sanctions that reach a person through
someone else's record (joint punishment) are not in their own file and are not
replayed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scoresim.model.rulebook import (
    END_EXPIRY,
    Rulebook,
    extends,
    listing_after_appeal,
    score_after,
    suspension_end,
)

NEVER = 2**31 - 1
APPEAL_ENDED = 4  # a listing ended by a won appeal (beside rulebook.END_EXPIRY, END_REPAID)


@dataclass(frozen=True)
class Filed:
    """One record of a person's file, as the replay needs it."""

    day: int  # the day it was filed: the day it starts to count
    behaviour: int  # its behaviour's index in the scenario
    points: int
    correct: bool
    expires: int = NEVER  # the first day it no longer counts
    appeal: bool = False  # it stops counting because an appeal against it was won


@dataclass(frozen=True)
class Day:
    """A person's standing and status at the end of a day on which something changed."""

    day: int
    status: int  # rulebook status bits
    score: int
    false_points: int
    listed_until: int
    listed_on: int  # the day the listing in force was made (-1: never listed)
    listed_by: int  # the behaviour of the record that made it (-1: none)
    list_reason: int  # how it ends: END_EXPIRY, END_REPAID or APPEAL_ENDED
    suspended_until: int
    suspended_on: int
    suspended_by: int


def replay(records: Sequence[Filed], rules: Rulebook, person: int, days: int,
           scheme: int = 0) -> list[Day]:
    """Every day of the run on which `person`'s standing or status could change, in order.

    `records` in the order they were filed (records.parquet's order within a day).
    """
    filed: dict[int, list[Filed]] = {}
    leaving: dict[int, list[Filed]] = {}
    for r in records:
        filed.setdefault(r.day, []).append(r)
        if r.expires < days:
            leaving.setdefault(r.expires, []).append(r)
    score = int(rules.schemes.initial[scheme])
    false_points = 0
    lu = true_lu = 0
    listed_on = listed_by = -1
    reason = END_EXPIRY
    su = 0
    suspended_on = suspended_by = -1
    track_true = rules.tracks_true_listing
    list_trigger, media_trigger = rules.list_trigger, rules.media_trigger
    duration = rules.media_duration
    pending = sorted(set(filed) | set(leaving))
    out: list[Day] = []
    seen: set[int] = set()
    while pending:
        day = pending.pop(0)
        if day in seen or day >= days:
            continue
        seen.add(day)
        for r in filed.get(day, ()):  # 1. today's records give their points
            score, false_points = (int(x) for x in score_after(score, false_points, r.points,
                                                               r.correct))
        for r in leaving.get(day, ()):  # 2. records that stop counting today
            score, false_points = (int(x) for x in score_after(score, false_points, -r.points,
                                                               r.correct))
            if r.appeal and list_trigger[r.behaviour] and lu > day:
                lu = int(listing_after_appeal(lu, day))
                reason = APPEAL_ENDED
        for r in filed.get(day, ()):  # 3. today's listings and suspensions
            if list_trigger[r.behaviour]:
                until, why = rules.listing_end(person, day, lu)
                if r.correct and track_true and extends(until, true_lu):
                    true_lu = until
                if extends(until, lu):
                    lu, reason, listed_on, listed_by = until, why, day, r.behaviour
                    _push(pending, until)
            if duration and media_trigger[r.behaviour]:
                until = int(suspension_end(day, duration))
                if extends(until, su):
                    su, suspended_on, suspended_by = until, day, r.behaviour
                    _push(pending, su)
        status = rules.status_bits(day, score, false_points, lu, true_lu if track_true else lu,
                              su, 0, 0, scheme)
        out.append(Day(day, status, score, false_points, lu, listed_on, listed_by, reason,
                       su, suspended_on, suspended_by))
    return out


def _push(pending: list[int], day: int) -> None:
    """Visit `day` too (the day a listing or suspension ends), keeping the days in order."""
    if day not in pending:
        pending.append(day)
        pending.sort()


def status_on(timeline: list[Day], day: int) -> Day | None:
    """The entry in force on `day` (None before the first)."""
    current = None
    for d in timeline:
        if d.day > day:
            break
        current = d
    return current
