"""Redress: the ways a record leaves a person's score. Expiry, credit repair and appeals.

Credit repair follows the rules in force from 2026-04-01 (docs/facts.md): a
negative entry is published for a window that depends on how serious it is
(minor at most 3 months; general 3 months to 1 year; serious 1 to 3 years)
and expires at its end; a person who corrects the conduct may apply for
repair once the shortest window has passed and is answered within 10 working
days and decided within 3 (about 18 calendar days). Paid "repair" courses
existed: a share of applicants pay for one, at their own approval rate and cost.

Appeals contest wrongly attributed records, and win with a probability that
depends on the evidence: a camera false match can be shown to be someone
else's face, a wrong register entry (an informant's report) much less often,
and a record fabricated by the authority hardly ever. A won appeal removes
the record's points (and ends a listing it caused) and the person's sanction
status is re-derived.

Every outcome of a record is decided when it is filed, by draws keyed by
(seed, "redress", purpose) and counter (subject, day, behaviour): its fate
does not depend on anything that happens later, so deciding early changes no
distribution. Each negative record then has at most one withdrawal, on the
earliest of its expiry, repair and won appeal, filed in a calendar of due
withdrawals: a day costs the records leaving on it, not the people.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba as nb
import numpy as np

from scoresim.model.calendar import Calendar
from scoresim.model.module import Module, Today, interactions
from scoresim.model.observation import (
    BY_APPEAL,
    BY_NEVER,
    BY_PAID_REPAIR,
    BY_REPAIR,
    BY_WINDOW,
)
from scoresim.model.random import event_counter, name_ids, stream_key, uniform
from scoresim.model.rulebook import listing_after_appeal
from scoresim.model.standing import FALSE_POINTS, LISTED_UNTIL, SCORE
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario

EXPIRED, REPAIRED, PAID_REPAIR, APPEAL_WON = 1, 2, 3, 4
# a way out (0: none) as records.parquet's expires_by names it
EXPIRES_BY_OF_REASON = np.array([BY_NEVER, BY_WINDOW, BY_REPAIR, BY_PAID_REPAIR, BY_APPEAL],
                                dtype=np.uint8)
NEVER = 1 << 40
INT32_NEVER = np.iinfo(np.int32).max  # records.parquet's expires_day of a record for good
# an entry: person << 26 | record day (16 bits) << 10 | behaviour (6 bits) << 4
#           | reason << 1 | correct
P_SHIFT, D_SHIFT, B_SHIFT = 26, 10, 4

COLUMNS = ("n_appeals_filed", "n_appeals_won", "n_repair_applications", "n_repairs",
           "n_paid_repairs", "repair_cost", "n_records_expired", "n_wrong_records_cleared",
           "wrong_record_days_to_clear")


class RepairRules(NamedTuple):
    """Credit repair (the rules in force from 2026-04-01), as the kernels read it."""

    on: bool
    minor_max: int  # a penalty of at most this many points is minor
    serious_min: int  # a penalty of at least this many points is serious
    min_days: np.ndarray  # int64 [minor, general, serious]: earliest day repair takes effect
    max_days: np.ndarray  # int64 [class]: the publication window
    apply: np.ndarray  # float64 [class]: probability of applying
    processing: int  # application to decision, days
    approve: float
    cost: float
    paid_share: float  # share of applicants who pay for a course
    paid_approve: float
    paid_cost: float


class AppealRules(NamedTuple):
    """Appeals of wrongly attributed records: success depends on the evidence."""

    on: bool
    file: float
    notice: int
    decision: int
    win_false_match: float
    win_register: float
    win_fabricated: float


class Redress(Module):
    """Decides each negative or wrong record's way out when it is filed; withdraws it when due."""

    name = "redress"

    @classmethod
    def enabled(cls, scenario: Scenario) -> bool:
        return scenario.credit_repair is not None or scenario.appeals is not None

    @classmethod
    def person_backend(cls, scenario: Scenario) -> list[str]:
        why = []
        for name, present in (("credit_repair", scenario.credit_repair),
                              ("appeals", scenario.appeals)):
            if present is not None:
                why += interactions(name)
        return why

    def __init__(self, world: World):
        super().__init__(world)
        scenario, seed, days = world.scenario, world.seed, world.days
        cr, ap = scenario.credit_repair, scenario.appeals
        self.days = days
        self.schemes = world.rules.schemes
        self.standing = world.standing
        self.behaviour_id = name_ids(list(scenario.behaviours))
        self.list_trigger = world.rules.list_trigger
        chans = list(scenario.channels.values())
        self.camera = np.array([c.kind == "camera" for c in chans] or [False], dtype=np.bool_)
        classes = (cr.minor, cr.general, cr.serious) if cr is not None else ()
        self.repair = RepairRules(
            on=cr is not None,
            minor_max=cr.minor_max_points if cr else 0,
            serious_min=cr.serious_min_points if cr else 0,
            min_days=np.array([c.min_days for c in classes] or [0, 0, 0], dtype=np.int64),
            max_days=np.array([c.max_days for c in classes] or [0, 0, 0], dtype=np.int64),
            apply=np.array([c.apply_probability for c in classes] or [0, 0, 0], np.float64),
            processing=cr.processing_days if cr else 0,
            approve=float(cr.approve_probability) if cr else 0.0,
            cost=float(cr.cost) if cr else 0.0,
            paid_share=float(cr.paid_share) if cr else 0.0,
            paid_approve=float(cr.paid_approve_probability) if cr else 0.0,
            paid_cost=float(cr.paid_cost) if cr else 0.0,
        )
        self.appeal = AppealRules(
            on=ap is not None, file=float(ap.file_probability) if ap else 0.0,
            notice=ap.notice_days if ap else 0, decision=ap.decision_days if ap else 0,
            win_false_match=float(ap.win_false_match) if ap else 0.0,
            win_register=float(ap.win_register) if ap else 0.0,
            win_fabricated=float(ap.win_fabricated) if ap else 0.0)
        self.keys = RedressKeys(*(stream_key(seed, "redress", w) for w in (
            "repair-apply", "repair-paid", "repair-approve", "appeal-file", "appeal-win")))
        self.withdrawals = Calendar(days, np.uint64)
        # A record the credit file put in a category named minor, general or serious is
        # repaired as that class; one without a category is classed by its points.
        names = ["none", *scenario.credit_file.categories]
        classes_of = {"minor": 0, "general": 1, "serious": 2}
        self.class_of_category = np.array([classes_of.get(c, -1) for c in names], dtype=np.int64)
        # per-day tallies of what was decided ahead (indexed by the day it happens)
        self.ahead = np.zeros((3, days + 1), dtype=np.float64)  # filed, applications, cost
        self.today = dict.fromkeys(COLUMNS, 0)

    def columns(self) -> list[str]:
        return list(COLUMNS)

    def float_columns(self) -> tuple[str, ...]:
        return ("repair_cost",)

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        row.update(self.today)

    def state(self) -> dict[str, np.ndarray]:
        st = {f"withdrawals_{k}": v for k, v in self.withdrawals.state().items()}
        st["ahead"] = self.ahead
        return st

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.withdrawals.restore({"entries": st["withdrawals_entries"],
                                  "days": st["withdrawals_days"]})
        self.ahead[:] = st["ahead"]

    def decide(self, today: Today) -> None:
        """Decide the way out of today's negative and wrong records.

        The credit file's own expiry (records.expires) is one of the ways out, so that a
        record leaves the score once, on the earliest of them: each record's `expires`
        becomes the day it stops counting, and redress alone withdraws the negative ones.
        """
        records = today.filed
        if len(records) == 0:
            return
        expires = (records.expires.astype(np.int64) if records.expires is not None
                   else np.full(len(records), NEVER, dtype=np.int64))
        category = (records.category.astype(np.int64) if records.category is not None
                    else np.zeros(len(records), dtype=np.int64))
        codes, when, out_day, out_reason = _decide(
            today.day, records.subject, records.true_actor, records.behaviour, self.behaviour_id,
            records.channel, records.correct, records.points, expires, category,
            self.class_of_category, self.camera, self.repair, self.appeal, self.keys,
            self.ahead, self.days)
        self.withdrawals.push(codes, when)
        records.expires = np.minimum(out_day, INT32_NEVER).astype(np.int32)
        decided = out_reason >= 0
        records.expires_by = np.where(decided, EXPIRES_BY_OF_REASON[np.maximum(out_reason, 0)],
                                      records.expires_by).astype(np.uint8)
        today.by_redress = records.points < 0

    def step(self, today: Today) -> None:
        """Withdraw the records due today; their subjects are judged again."""
        day = today.day
        due = self.withdrawals.pop(day)
        sc = self.schemes
        people, tally = _withdraw(day, due, sc.points, sc.of_person, self.list_trigger,
                                  self.standing.rows, self.standing.score_sum)
        today.rejudge.append(people)
        t = self.today
        t["n_appeals_filed"] = int(self.ahead[0, day])
        t["n_repair_applications"] = int(self.ahead[1, day])
        t["repair_cost"] = float(self.ahead[2, day])
        t["n_records_expired"] = int(tally[EXPIRED])
        t["n_repairs"] = int(tally[REPAIRED] + tally[PAID_REPAIR])
        t["n_paid_repairs"] = int(tally[PAID_REPAIR])
        t["n_appeals_won"] = int(tally[APPEAL_WON])
        t["n_wrong_records_cleared"] = int(tally[5])
        t["wrong_record_days_to_clear"] = int(tally[6])
        today.n_expired += t["n_records_expired"]

    @property
    def nbytes(self) -> int:
        return self.withdrawals.nbytes


class RedressKeys(NamedTuple):
    repair_apply: np.uint64
    repair_paid: np.uint64
    repair_approve: np.uint64
    appeal_file: np.uint64
    appeal_win: np.uint64


@nb.njit(cache=True)
def _decide(day, subject, true_actor, behaviour, behaviour_id, channel, correct, points, expires,
            category, class_of_category, camera, rp: RepairRules, ap: AppealRules,
            keys: RedressKeys, ahead, days):
    n = subject.shape[0]
    codes = np.empty(n, dtype=np.uint64)
    when = np.empty(n, dtype=np.int64)
    out_day = expires.copy()
    out_reason = np.full(n, -1, dtype=np.int64)  # -1: left as the credit file has it
    m = 0
    for r in range(n):
        pts = points[r]
        wrong = not correct[r]
        if pts >= 0:
            continue
        s = subject[r]
        b = behaviour[r]
        ctr = event_counter(day, behaviour_id[b])
        out = expires[r]
        reason = EXPIRED if out < NEVER else 0
        if rp.on:
            pen = -pts
            k = class_of_category[category[r]]
            if k < 0:
                k = 0 if pen <= rp.minor_max else (2 if pen >= rp.serious_min else 1)
            out = min(out, day + rp.max_days[k])
            reason = EXPIRED
            if uniform(keys.repair_apply, np.uint64(s), ctr) < rp.apply[k]:
                apply_day = day + rp.min_days[k]
                paid = uniform(keys.repair_paid, np.uint64(s), ctr) < rp.paid_share
                if apply_day < days:
                    ahead[1, apply_day] += 1.0
                    ahead[2, apply_day] += rp.paid_cost if paid else rp.cost
                approve = rp.paid_approve if paid else rp.approve
                decided = apply_day + rp.processing
                if decided < out and uniform(keys.repair_approve, np.uint64(s), ctr) < approve:
                    out = decided
                    reason = PAID_REPAIR if paid else REPAIRED
        if ap.on and wrong and uniform(keys.appeal_file, np.uint64(s), ctr) < ap.file:
            filed = day + ap.notice
            if filed < days:
                ahead[0, filed] += 1.0
            if true_actor[r] < 0:
                win = ap.win_fabricated
            elif camera[channel[r]]:
                win = ap.win_false_match
            else:
                win = ap.win_register
            decided = filed + ap.decision
            if decided < out and uniform(keys.appeal_win, np.uint64(s), ctr) < win:
                out = decided
                reason = APPEAL_WON
        out_day[r] = out
        out_reason[r] = reason
        if out >= days:
            continue
        codes[m] = ((np.uint64(s) << np.uint64(P_SHIFT)) | (np.uint64(day) << np.uint64(D_SHIFT))
                    | (np.uint64(b) << np.uint64(B_SHIFT)) | (np.uint64(reason) << np.uint64(1))
                    | np.uint64(0 if wrong else 1))
        when[m] = out
        m += 1
    return codes[:m], when[:m], out_day, out_reason


@nb.njit(cache=True)
def _withdraw(day, due, points, of_person, list_trigger, standing, score_sum):
    """Take today's due records out of their subjects' scores (their scheme's points)."""
    n = due.shape[0]
    people = np.empty(n, dtype=np.int64)
    tally = np.zeros(7, dtype=np.int64)  # by reason; 5: wrong records cleared; 6: their days
    for k in range(n):
        c = due[k]
        s = np.int64(c >> np.uint64(P_SHIFT))
        rday = np.int64((c >> np.uint64(D_SHIFT)) & np.uint64(0xFFFF))
        b = np.int64((c >> np.uint64(B_SHIFT)) & np.uint64(63))
        reason = np.int64((c >> np.uint64(1)) & np.uint64(7))
        correct = (c & np.uint64(1)) != 0
        pts = points[of_person[s] if of_person.shape[0] > 0 else 0, b]
        standing[s, SCORE] -= pts
        score_sum[0] -= pts
        if not correct:
            standing[s, FALSE_POINTS] -= pts
            tally[5] += 1
            tally[6] += day - rday
        if reason == APPEAL_WON and list_trigger[b]:
            standing[s, LISTED_UNTIL] = listing_after_appeal(standing[s, LISTED_UNTIL], day)
        tally[reason] += 1
        people[k] = s
    return people, tally

