"""Redress: the ways a record leaves a person's score. Expiry, credit repair and appeals.

Credit repair follows the rules in force from 2026-04-01 (FACTS.md): a
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

import numba as nb
import numpy as np

from scoresim.model.calendar import Calendar
from scoresim.model.observation import Records
from scoresim.model.random import event_counter, name_ids, stream_key, uniform
from scoresim.model.standing import FALSE_POINTS, LISTED_UNTIL, SCORE
from scoresim.scenario.schema import Scenario

EXPIRED, REPAIRED, PAID_REPAIR, APPEAL_WON = 1, 2, 3, 4
NEVER = 1 << 40
# an entry: person << 26 | record day (16 bits) << 10 | behaviour (6 bits) << 4
#           | reason << 1 | correct
P_SHIFT, D_SHIFT, B_SHIFT = 26, 10, 4

COLUMNS = ("n_appeals_filed", "n_appeals_won", "n_repair_applications", "n_repairs",
           "n_paid_repairs", "repair_cost", "n_records_expired", "n_wrong_records_cleared",
           "wrong_record_days_to_clear")


class Redress:
    """Decides each negative or wrong record's way out when it is filed; withdraws it when due."""

    name = "redress"

    def __init__(self, scenario: Scenario, points: np.ndarray, list_trigger: np.ndarray,
                 seed: int, days: int):
        cr, ap = scenario.credit_repair, scenario.appeals
        self.enabled = cr is not None or ap is not None
        self.days = days
        self.points = points
        self.behaviour_id = name_ids(list(scenario.behaviours))
        self.list_trigger = list_trigger
        chans = list(scenario.channels.values())
        self.camera = np.array([c.kind == "camera" for c in chans] or [False], dtype=np.bool_)
        # repair: [on, minor_max, serious_min, min x3, max x3, apply x3, processing, approve,
        #          cost, paid_share, paid_approve, paid_cost]
        rp = np.zeros(18, dtype=np.float64)
        if cr is not None:
            rp[0:3] = 1.0, cr.minor_max_points, cr.serious_min_points
            for k, c in enumerate((cr.minor, cr.general, cr.serious)):
                rp[3 + k], rp[6 + k], rp[9 + k] = c.min_days, c.max_days, c.apply_probability
            rp[12:18] = (cr.processing_days, cr.approve_probability, cr.cost, cr.paid_share,
                         cr.paid_approve_probability, cr.paid_cost)
        # appeals: [on, file, notice, decision, win_false_match, win_register, win_fabricated]
        ap_p = np.zeros(7, dtype=np.float64)
        if ap is not None:
            ap_p[:] = (1.0, ap.file_probability, ap.notice_days, ap.decision_days,
                       ap.win_false_match, ap.win_register, ap.win_fabricated)
        self.repair_params, self.appeal_params = rp, ap_p
        self.keys = np.array([stream_key(seed, "redress", w) for w in (
            "repair-apply", "repair-paid", "repair-approve", "appeal-file", "appeal-win")],
            dtype=np.uint64)
        self.withdrawals = Calendar(days if self.enabled else 1, np.uint64)
        # A record the credit file put in a category named minor, general or serious is
        # repaired as that class; one without a category is classed by its points.
        names = ["none", *scenario.credit_file.categories]
        classes = {"minor": 0, "general": 1, "serious": 2}
        self.class_of_category = np.array([classes.get(c, -1) for c in names], dtype=np.int64)
        # per-day tallies of what was decided ahead (indexed by the day it happens)
        self.ahead = np.zeros((3, days + 1), dtype=np.float64)  # filed, applications, cost
        self.today = dict.fromkeys(COLUMNS, 0)

    def state(self) -> dict[str, np.ndarray]:
        st = {f"withdrawals_{k}": v for k, v in self.withdrawals.state().items()}
        st["ahead"] = self.ahead
        return st

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.withdrawals.restore({"entries": st["withdrawals_entries"],
                                  "days": st["withdrawals_days"]})
        self.ahead[:] = st["ahead"]

    def file(self, day: int, records: Records) -> np.ndarray | None:
        """Decide the way out of today's negative and wrong records.

        The credit file's own expiry (records.expires) is one of the ways out, so that a
        record leaves the score once, on the earliest of them. Returns the day each
        record stops counting (NEVER where it never does), or None when redress is off.
        """
        if not self.enabled or len(records) == 0:
            return None
        expires = (records.expires.astype(np.int64) if records.expires is not None
                   else np.full(len(records), NEVER, dtype=np.int64))
        category = (records.category.astype(np.int64) if records.category is not None
                    else np.zeros(len(records), dtype=np.int64))
        codes, when, out_day = _decide(
            day, records.subject, records.true_actor, records.behaviour, self.behaviour_id,
            records.channel,
            records.correct, records.points, expires, category, self.class_of_category,
            self.camera, self.repair_params, self.appeal_params, self.keys, self.ahead,
            self.days)
        self.withdrawals.push(codes, when)
        return out_day

    def step(self, day: int, standing: np.ndarray, score_sum: np.ndarray) -> np.ndarray:
        """Withdraw the records due today; return the people whose status must be re-derived."""
        if not self.enabled:
            return np.zeros(0, dtype=np.int64)
        due = self.withdrawals.pop(day)
        people, tally = _withdraw(day, due, self.points, self.list_trigger, standing, score_sum)
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
        return people


@nb.njit(cache=True)
def _decide(day, subject, true_actor, behaviour, behaviour_id, channel, correct, points, expires,
            category, class_of_category, camera, rp, ap, keys, ahead, days):
    n = subject.shape[0]
    codes = np.empty(n, dtype=np.uint64)
    when = np.empty(n, dtype=np.int64)
    out_day = expires.copy()
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
        if rp[0] > 0.0:
            pen = -pts
            k = class_of_category[category[r]]
            if k < 0:
                k = 0 if pen <= rp[1] else (2 if pen >= rp[2] else 1)
            out = min(out, day + int(rp[6 + k]))
            reason = EXPIRED
            if uniform(keys[0], np.uint64(s), ctr) < rp[9 + k]:
                apply_day = day + int(rp[3 + k])
                paid = uniform(keys[1], np.uint64(s), ctr) < rp[15]
                if apply_day < days:
                    ahead[1, apply_day] += 1.0
                    ahead[2, apply_day] += rp[17] if paid else rp[14]
                approve = rp[16] if paid else rp[13]
                decided = apply_day + int(rp[12])
                if decided < out and uniform(keys[2], np.uint64(s), ctr) < approve:
                    out = decided
                    reason = PAID_REPAIR if paid else REPAIRED
        if ap[0] > 0.0 and wrong and uniform(keys[3], np.uint64(s), ctr) < ap[1]:
            filed = day + int(ap[2])
            if filed < days:
                ahead[0, filed] += 1.0
            if true_actor[r] < 0:
                win = ap[6]
            elif camera[channel[r]]:
                win = ap[4]
            else:
                win = ap[5]
            decided = filed + int(ap[3])
            if decided < out and uniform(keys[4], np.uint64(s), ctr) < win:
                out = decided
                reason = APPEAL_WON
        out_day[r] = out
        if out >= days:
            continue
        codes[m] = ((np.uint64(s) << np.uint64(P_SHIFT)) | (np.uint64(day) << np.uint64(D_SHIFT))
                    | (np.uint64(b) << np.uint64(B_SHIFT)) | (np.uint64(reason) << np.uint64(1))
                    | np.uint64(0 if wrong else 1))
        when[m] = out
        m += 1
    return codes[:m], when[:m], out_day


@nb.njit(cache=True)
def _withdraw(day, due, points, list_trigger, standing, score_sum):
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
        pts = points[b]
        standing[s, SCORE] -= pts
        score_sum[0] -= pts
        if not correct:
            standing[s, FALSE_POINTS] -= pts
            tally[5] += 1
            tally[6] += day - rday
        if reason == APPEAL_WON and list_trigger[b] and standing[s, LISTED_UNTIL] > day:
            standing[s, LISTED_UNTIL] = day
        tally[reason] += 1
        people[k] = s
    return people, tally

