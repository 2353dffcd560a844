"""The rulebook: how records become points, scores become grades, and standing becomes sanctions.

Every rule of the system is written here once: as small scalar functions,
compiled with numba and inlined where they are called, and the tables they
read, built from a scenario by `Rulebook`. The day-by-day engine (scoring.py,
sanctions.py), the person backend (lives.py), explain's replay of a credit
file (replay.py) and the report all call these and restate none of them: a
rule written twice drifts, and one copy already had (a replay that forgot the
extension of a repeat listing).

The functions take scalars and the few small tables they need, never a
person's arrays: the kernels that call them pass one person's numbers, so a
call costs a few instructions (numba counts references to arrays, and an
array passed per event would cost more than the event).

A person's standing is four numbers (standing.py): the score, the points of it
that came from wrongly attributed records (`false_points`), the day their
listing ends and their status bits. The status is a pure function of the
standing, the end days of their suspension and collateral sanctions, and the
day (`status_of`); everything a sanction does is read off those bits.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numba as nb
import numpy as np

from scoresim.model import portable_math
from scoresim.model.random import geometric_skip, stream_key, uniform
from scoresim.model.timeline import Timeline
from scoresim.scenario.schema import Scenario

# --- a person's status, as bits (status_of derives them) ------------------------------------
GRADE_MASK = 0b111  # the grade's position in its scheme, top grade 0
BANNED, WRONGLY_BANNED, LISTED, SUSPENDED, CONSUMPTION_BANNED = 8, 16, 32, 64, 128
# joint punishment: sanctioned only because of someone else's record
COLLATERAL, SCHOOL_BANNED = 256, 512
NO_SCORE = 1024  # lives in a region without a pilot: no grade, only the national list
# a timeline's switches (StatusRules.off): a pilot scheme k switched off is bit
# SCHEME_OFF << k of the day's off bits (never a status bit); its people are then scored
# by nobody, as in a region without a pilot
SCHEME_OFF = 1 << 16
# the kinds of collateral sanction (a person's collateral_kind bits)
K_CONSUMPTION, K_SCHOOL = 1, 2

# the sanctions a status carries, by the names the sanctions log gives them
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

# why a listing or suspension ends (the payload of a review falling due)
END_EXPIRY, END_REPAID, END_SUSPENSION = 1, 2, 3

# the daily counts of people by status: one slot per grade, then one per flag
N_GRADE_SLOTS = 8
C_BANNED, C_WRONGLY, C_LISTED, C_SUSPENDED, C_CONSUMPTION = range(8, 13)
C_COLLATERAL, C_SCHOOL = 13, 14
N_COUNTS = 15

_PAD = np.iinfo(np.int64).min  # a cut-off every score passes (schemes with fewer grades)


class StatusRules(NamedTuple):
    """What `status_of` reads: the grade cut-offs and which grades and listings ban."""

    thresholds: np.ndarray  # int64 [scheme, cut-off], ascending; shorter schemes padded
    scored: bool  # the scenario keeps scores at all
    list_enabled: bool  # the scenario has a dishonest list
    travel_grades: np.ndarray  # bool [scheme, grade position]: the grade bans travel
    travel_list: bool  # listed people are travel-banned
    consumption_list: bool  # listed people are consumption-banned
    scheme_scored: np.ndarray  # bool [scheme]: a region without a pilot scores nobody
    # the status bits a timeline switches off on each day (a ban switched off); empty
    # where no timeline switches a sanction
    off: np.ndarray  # int64 [day]


class ListingRules(NamedTuple):
    """What `listing_end` reads (SPC 2017: two years, 1 to 3 more for repeats, early on payment)."""

    durations: np.ndarray  # int64 [day]: the term of a listing made that day
    extend_lo: int
    extend_hi: int
    repeat_key: np.uint64
    repay: bool
    log_q_repay: float  # log(1 - daily repayment probability), as the scenario starts
    repay_key: np.uint64
    # a timeline changes the repayment rate from day repay_from (>= days: never); then
    # repay_cum[t] = sum of log(1 - rate on day s) over days s < t (length days + 1)
    repay_from: int
    repay_cum: np.ndarray


# --- the rules, as scalar functions ---------------------------------------------------------


@nb.njit(inline="always", cache=True)
def grade_index(score, cuts):
    """0 for the top grade; the number of ascending cut-offs `cuts` the score falls short of."""
    g = cuts.shape[0]
    for t in range(cuts.shape[0]):
        if score >= cuts[t]:
            g -= 1
    return g


@nb.njit(inline="always", cache=True)
def grade_at(score, thresholds, scheme):
    """grade_index(score, thresholds[scheme]), without making a view of the row per call."""
    g = thresholds.shape[1]
    for t in range(thresholds.shape[1]):
        if score >= thresholds[scheme, t]:
            g -= 1
    return g


@nb.njit(inline="always", cache=True)
def score_after(score, false_points, points, correct):
    """A record's points move the score; those of a wrong record are false points too."""
    return score + points, false_points + (0 if correct else points)


@nb.njit(inline="always", cache=True)
def repay_day(u, day, log_q_repay, repay_from, repay_cum):
    """The day a person listed on `day` pays, for uniform u: the geometric draw at the
    scenario's rate, or, where that falls on or after a change of the rate (repay_from),
    the same u inverted through the changed daily rates (a memoryless clock: the same
    day wherever the change comes later, the new rates' law from the change on)."""
    paid = day + 1 + geometric_skip(u, log_q_repay)
    if paid < repay_from:
        return paid
    start = max(day + 1, repay_from)
    days = repay_cum.shape[0] - 1
    if start >= days:
        return paid
    # what the days before the change used up of log(u), at the scenario's rate
    budget = math.log(u) - ((start - day - 1) * log_q_repay if start > day + 1 else 0.0)
    if repay_cum[days] - repay_cum[start] >= budget:
        return np.int64(days) + (1 << 30)  # not within the run
    lo, hi = start, days - 1  # the first T with repay_cum[T + 1] - repay_cum[start] < budget
    while lo < hi:
        mid = (lo + hi) // 2
        if repay_cum[mid + 1] - repay_cum[start] < budget:
            hi = mid
        else:
            lo = mid + 1
    return np.int64(lo)


@nb.njit(inline="always", cache=True)
def listing_end(s, day, listed_until, durations, extend_lo, extend_hi, repeat_key, repay,
                log_q_repay, repay_key, repay_from, repay_cum):
    """When a listing of person s made on `day` ends, and why (END_EXPIRY or END_REPAID).

    A repeat while listed is extended by extend_lo..extend_hi days (1 to 3 years,
    SPC 2017); with repayment, the person may pay and leave earlier. The draws are
    keyed by (person, day), so every caller draws the same. The term is the one in
    force on the day of the listing (durations[day]); the repayment rate may change
    on later days (repay_day).
    """
    until = day + durations[day]
    reason = END_EXPIRY
    if listed_until > day and extend_hi > 0:
        span = extend_hi - extend_lo + 1
        u = uniform(repeat_key, np.uint64(s), np.uint64(day))
        until += extend_lo + min(np.int64(u * span), span - 1)
    if repay:
        u = uniform(repay_key, np.uint64(s), np.uint64(day))
        paid = repay_day(u, day, log_q_repay, repay_from, repay_cum)
        if paid < until:
            until, reason = paid, END_REPAID
    return until, reason


@nb.njit(inline="always", cache=True)
def suspension_end(day, duration):
    """A media suspension from a record of `day` runs `duration` days (the Liu Hu case)."""
    return day + duration


@nb.njit(inline="always", cache=True)
def extends(until, current):
    """A new end day replaces the current one only if it is later: sanctions never shorten."""
    return until > current


@nb.njit(inline="always", cache=True)
def listing_after_appeal(listed_until, day):
    """A won appeal against a record that listed its subject ends the listing that day."""
    return min(listed_until, day)


@nb.njit(inline="always", cache=True)
def repaid_today(reason, listed_until, day):
    """A listing ended today by repayment: the listing in force ends today, for that reason."""
    return reason == END_REPAID and listed_until == day


@nb.njit(inline="always", cache=True)
def status_of(day, score, false_points, listed_until, true_listed_until, suspended_until,
              collateral_until, collateral_kind, scheme, r):
    """The status bits of a person on `day`, from their standing; `r` is StatusRules.

    `true_listed_until` is when the listing from correct records alone ends (the
    listing itself where only courts list). Absent sanctions pass 0 as their end day.
    Wrongly banned (docs/reference-model.md): banned, but not banned on the correctly
    attributed records alone: the true score (score - false_points) and the true
    listing.
    """
    st = 0
    listed = False
    n_off = r.off.shape[0]
    off = r.off[min(max(day, 0), n_off - 1)] if n_off else 0
    if r.list_enabled and listed_until > day and not off & LISTED:
        listed = True
        st |= LISTED
        if r.consumption_list:
            st |= CONSUMPTION_BANNED
    if suspended_until > day and not off & SUSPENDED:
        st |= SUSPENDED
    if r.scored and r.scheme_scored[scheme] and not (off >> scheme) & SCHEME_OFF:
        g = grade_at(score, r.thresholds, scheme)
        st |= g
        if r.travel_grades[scheme, g] or (r.travel_list and listed):
            st |= BANNED
            g_true = grade_at(score - false_points, r.thresholds, scheme)
            truly_listed = true_listed_until > day
            if not (r.travel_grades[scheme, g_true] or (r.travel_list and truly_listed)):
                st |= WRONGLY_BANNED
    else:
        if r.scored:
            st |= NO_SCORE
        if r.travel_list and listed:
            st |= BANNED
            if not true_listed_until > day:
                st |= WRONGLY_BANNED
    st &= ~off  # a ban a timeline switched off: lifted from everyone while it is off
    if collateral_until > day:
        own = st & (BANNED | LISTED | CONSUMPTION_BANNED)
        if collateral_kind & K_CONSUMPTION:
            st |= CONSUMPTION_BANNED | BANNED
        if collateral_kind & K_SCHOOL:
            st |= SCHOOL_BANNED
        if own == 0:
            st |= COLLATERAL
    return st


@nb.njit(inline="always", cache=True)
def count(st, counts, sign, scored):
    """Add (sign=1) or take away (sign=-1) one person of status `st` from the daily counts."""
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


# --- the tables, from a scenario ------------------------------------------------------------


class Schemes:
    """Each pilot scheme's points, initial score, grades and banned grades, as tables.

    With one region (no `regions` section) there is one scheme, the scenario's
    `scoring`, and no per-person array: `of_person` is empty and kernels use row 0,
    so the single-region path reads the same memory as before. With regions,
    `of_person[p]` is person p's region's scheme; a region without a pilot has the
    last scheme, which scores nothing (its people only face the national list).
    """

    def __init__(self, scenario: Scenario, region: np.ndarray | None = None):
        names = list(scenario.behaviours)
        n_b = len(names)
        scoring = scenario.scoring
        self.enabled = scoring is not None
        tb = scenario.sanctions.travel_ban
        if scenario.regions is None or scoring is None:
            self.names = ["scoring"]
            self.points = np.zeros((1, n_b), dtype=np.int32)
            cuts = [g.min_score for g in reversed(scoring.grades[:-1])] if scoring else []
            self.thresholds = np.array(cuts, dtype=np.int64).reshape(1, -1)
            self.initial = np.array([scoring.initial if scoring else 0], dtype=np.int32)
            self.scored = np.ones(1, dtype=np.bool_)
            self.grade_names = [[g.name for g in scoring.grades] if scoring else []]
            self.travel_grade_names = [tb.grades if tb else []]
            for b, pts in (scoring.points.items() if scoring else ()):
                self.points[0, names.index(b)] = pts
            self.of_person = np.zeros(0, dtype=np.uint8)
            return
        schemes = list(scenario.schemes.values())
        self.names = list(scenario.schemes) + ["none"]
        k = len(self.names)
        self.points = np.zeros((k, n_b), dtype=np.int32)
        self.initial = np.zeros(k, dtype=np.int32)
        cuts = max([len(s.grades) - 1 for s in schemes] + [0])
        self.thresholds = np.full((k, cuts), _PAD, dtype=np.int64)
        self.scored = np.ones(k, dtype=np.bool_)
        self.scored[-1] = False
        self.grade_names = [[g.name for g in s.grades] for s in schemes] + [["none"]]
        self.travel_grade_names = [list(s.travel_ban_grades) for s in schemes] + [[]]
        for i, s in enumerate(schemes):
            for b, pts in s.points.items():
                self.points[i, names.index(b)] = pts
            self.initial[i] = s.initial
            row = [g.min_score for g in reversed(s.grades[:-1])]
            self.thresholds[i, cuts - len(row):] = row
        self.of_region = np.array(
            [self.names.index(r.scheme) if r.scheme else k - 1 for r in scenario.regions.values()],
            dtype=np.uint8)
        # per person where the society is given; explain and the report judge one person
        # at a time and pass that person's scheme instead
        self.of_person = self.of_region[region] if region is not None else \
            np.zeros(0, dtype=np.uint8)

    def travel_grades(self, slots: int = N_GRADE_SLOTS) -> np.ndarray:
        """[scheme, grade position]: the grades each scheme bans from travel."""
        out = np.zeros((len(self.names), slots), dtype=np.bool_)
        for i, (names, banned) in enumerate(zip(self.grade_names, self.travel_grade_names,
                                                strict=True)):
            for g in banned:
                out[i, names.index(g)] = True
        return out

    def grade_name_of(self, grade: np.ndarray) -> np.ndarray:
        """Each person's grade under their own scheme, as a string array."""
        if self.of_person.shape[0] == 0:
            return np.asarray(self.grade_names[0], dtype=object)[grade]
        out = np.empty(grade.shape[0], dtype=object)
        for i, names in enumerate(self.grade_names):
            mine = self.of_person == i
            if not self.scored[i]:
                out[mine] = "none"
                continue
            out[mine] = np.asarray(names, dtype=object)[np.minimum(grade[mine], len(names) - 1)]
        return out

    @property
    def nbytes(self) -> int:
        return self.of_person.nbytes


class Rulebook:
    """Every rule's table for one scenario (and seed: the keys of the draws rules make).

    `region`: each person's region, where the scenario has regions (their scheme
    follows from it); explain and the report, which judge one person at a time,
    pass none and read the single scheme of scenarios without regions.
    """

    def __init__(self, scenario: Scenario, seed: int, region: np.ndarray | None = None):
        names = list(scenario.behaviours)
        s = scenario.sanctions
        self.behaviour_names = names
        self.schemes = Schemes(scenario, region)
        # the scoring section's points per behaviour (zeros without one): what an act is
        # felt to cost, and the single scheme's points where there are no regions
        self.scoring_points = np.zeros(len(names), dtype=np.int32)
        for b, pts in (scenario.scoring.points.items() if scenario.scoring else ()):
            self.scoring_points[names.index(b)] = pts

        def mask(triggers: list[str]) -> np.ndarray:
            m = np.zeros(len(names), dtype=np.bool_)
            for t in triggers:
                m[names.index(t)] = True
            return m

        dl, ms, tb = s.dishonest_list, s.media_suspension, s.travel_ban
        self.list_trigger = mask(dl.triggers if dl else [])
        self.media_trigger = mask(ms.triggers if ms else [])
        self.media_duration = ms.duration_days if ms else 0
        self.shaming = s.shaming is not None
        self.shame_trigger = mask(s.shaming.triggers if s.shaming else [])
        timeline = Timeline(scenario)
        # bool [day]: shaming shows that day's filed records (a timeline's switch; empty
        # where none switches it, and then it is on every day)
        on = timeline.daily("sanctions.shaming.enabled")
        self.shame_on = (on >= 0.5) if on is not None else np.zeros(0, dtype=np.bool_)
        rates = timeline.daily("sanctions.dishonest_list.repayment_rate")
        repay = bool(dl and (dl.repayment_rate > 0 or (rates is not None and rates.max() > 0)))
        durations = timeline.daily("sanctions.dishonest_list.duration_days")
        if durations is None:
            durations = np.full(scenario.days, dl.duration_days if dl else 0)
        if rates is None:
            repay_from, repay_cum = np.iinfo(np.int64).max, np.zeros(1)
        else:
            repay_from = min(start for _, start, _ in
                             timeline.layers("sanctions.dishonest_list.repayment_rate"))
            with np.errstate(divide="ignore"):
                log_q = portable_math.log1p(-np.minimum(rates, 1.0 - 1e-12))
            repay_cum = np.concatenate([[0.0], np.cumsum(log_q)])
        self.listing = ListingRules(
            durations=durations.astype(np.int64),
            extend_lo=dl.repeat_extension_days[0] if dl else 0,
            extend_hi=dl.repeat_extension_days[1] if dl else 0,
            repeat_key=stream_key(seed, "sanctions", "repeat-extension"),
            repay=repay,
            log_q_repay=(math.log1p(-dl.repayment_rate) if repay and dl.repayment_rate < 1
                         else -math.inf),
            repay_key=stream_key(seed, "sanctions", "repayment"),
            repay_from=int(repay_from), repay_cum=repay_cum.astype(np.float64),
        )
        # A listing from a wrongly attributed record is a wrongful listing. Where every
        # trigger is recorded by a channel that never errs (courts), the true listing is
        # the listing and nobody needs a second end day.
        triggers = dl.triggers if dl else []
        self.tracks_true_listing = any(
            scenario.behaviours[t].channel is not None
            and scenario.channels[scenario.behaviours[t].channel].kind == "camera"
            for t in triggers
        ) or bool(scenario.abuse and scenario.abuse.fabricated_behaviour in triggers)
        # bans a timeline switches off and on (scenario/timeline.py): the bits lifted on
        # each day, and the days the switches flip (everyone's status is re-derived then)
        off = np.zeros(scenario.days, dtype=np.int64)
        switched = [(f"sanctions.{name}.enabled", bits) for name, bits in (
            ("travel_ban", BANNED | WRONGLY_BANNED), ("consumption_ban", CONSUMPTION_BANNED),
            ("dishonest_list", LISTED), ("media_suspension", SUSPENDED))]
        if scenario.regions is not None and scenario.scoring is not None:
            switched += [(f"schemes.{name}.enabled", SCHEME_OFF << k)
                         for k, name in enumerate(self.schemes.names[:-1])]
        for path, bits in switched:
            on = timeline.daily(path)
            if on is not None:
                off[on < 0.5] |= bits
        self.switch_days = (np.flatnonzero(np.diff(off)) + 1).astype(np.int64)
        if not off.any():
            off = np.zeros(0, dtype=np.int64)
        travel = self.schemes.travel_grades()
        if tb is None:
            travel[:] = False
        self.status = StatusRules(
            thresholds=self.schemes.thresholds,
            scored=self.schemes.enabled,
            list_enabled=dl is not None,
            travel_grades=travel,
            travel_list=bool(tb and tb.dishonest_list),
            consumption_list=bool(s.consumption_ban and s.consumption_ban.dishonest_list),
            scheme_scored=self.schemes.scored,
            off=off,
        )

    def shaming_on(self, day: int) -> bool:
        """Whether the screens show the records filed on `day`."""
        return self.shaming and (self.shame_on.shape[0] == 0 or bool(self.shame_on[day]))

    def shown(self, behaviour: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Which records (their behaviour index and filing day) the screens showed."""
        out = self.shame_trigger[behaviour] if self.shaming else np.zeros(len(behaviour), bool)
        if self.shame_on.shape[0]:
            out = out & self.shame_on[np.minimum(day, self.shame_on.shape[0] - 1)]
        return out

    @property
    def imposing(self) -> np.ndarray:
        """Behaviours whose records list or suspend their subject."""
        return self.list_trigger | self.media_trigger

    def listing_end(self, person: int, day: int, listed_until: int) -> tuple[int, int]:
        """`listing_end` for one listing (explain's replay calls this from Python)."""
        r = self.listing
        until, reason = listing_end(person, day, listed_until, r.durations, r.extend_lo,
                                    r.extend_hi, r.repeat_key, r.repay, r.log_q_repay,
                                    r.repay_key, r.repay_from, r.repay_cum)
        return int(until), int(reason)

    def status_bits(self, day: int, score: int, false_points: int, listed_until: int,
               true_listed_until: int, suspended_until: int = 0, collateral_until: int = 0,
               collateral_kind: int = 0, scheme: int = 0) -> int:
        """`status_of` for one person (explain's replay calls this from Python)."""
        return int(_status_py(day, score, false_points, listed_until, true_listed_until,
                              suspended_until, collateral_until, collateral_kind, scheme,
                              self.status))


@nb.njit(cache=True)
def _status_py(day, score, false_points, listed_until, true_listed_until, suspended_until,
               collateral_until, collateral_kind, scheme, r):
    return status_of(day, score, false_points, listed_until, true_listed_until,
                     suspended_until, collateral_until, collateral_kind, scheme, r)


def grade_name(rules: Rulebook, score: int, scheme: int = 0) -> str | None:
    """The grade a score has under a scheme (None where the scenario keeps no score)."""
    if not rules.schemes.enabled:
        return None
    g = int(_grade_py(np.int64(score), rules.schemes.thresholds, np.int64(scheme)))
    return rules.schemes.grade_names[scheme][g]


@nb.njit(cache=True)
def _grade_py(score, thresholds, scheme):
    return grade_at(score, thresholds, scheme)


def grade_indices(rules: Rulebook, scores: np.ndarray, scheme: int = 0) -> np.ndarray:
    """The grade positions of many scores under one scheme (0: the top grade)."""
    cuts = np.ascontiguousarray(rules.schemes.thresholds[scheme])
    return grades_of(scores, cuts)


def cut_offs(grades: list[Any]) -> np.ndarray:
    """A scheme's ascending cut-offs (int64) from its grades, highest min_score first."""
    return np.array([g.min_score for g in reversed(grades[:-1])], dtype=np.int64)


def grades_of(scores: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """grade_index of many scores (people's or firms'), compared as int64: 0 the top grade."""
    return _grade_indices(np.asarray(scores, dtype=np.int64),
                          np.ascontiguousarray(cuts, dtype=np.int64))


@nb.njit(cache=True)
def _grade_indices(scores, cuts):
    out = np.empty(scores.shape[0], dtype=np.int64)
    for k in range(scores.shape[0]):
        out[k] = grade_index(scores[k], cuts)
    return out
