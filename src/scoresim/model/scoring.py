"""Scoring: rules that turn records into points, and scores into grades.

A score starts at the scheme's initial value and moves by each filed record's
points, without clamping. The part of a score that came from wrongly
attributed records (`false_points`) is kept beside it, so that every grade can
be compared with the grade the person would have had on true records alone.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from scoresim.model.observation import Records
from scoresim.model.standing import FALSE_POINTS, SCORE, n_shards, new_standing, order_by_shard
from scoresim.scenario.schema import Scenario


class Scoring:
    name = "scoring"

    def __init__(self, scenario: Scenario, n: int, region: np.ndarray | None = None,
                 blank: bool = False):
        scheme = scenario.scoring
        self.enabled = scheme is not None
        self.behaviour_names = list(scenario.behaviours)
        self.points = np.zeros(len(self.behaviour_names), dtype=np.int32)
        if scheme is None:
            self.initial = 0
            self.grade_names: list[str] = []
            self.thresholds = np.zeros(0, dtype=np.int64)
        else:
            for b, pts in scheme.points.items():
                self.points[self.behaviour_names.index(b)] = pts
            self.initial = scheme.initial
            self.grade_names = [g.name for g in scheme.grades]
            # ascending cut-offs of every grade but the bottom one
            self.thresholds = np.array(
                [g.min_score for g in reversed(scheme.grades[:-1])], dtype=np.int64
            )
        self.regional = RegionalSchemes(scenario, self, region)
        # blank: the person backend writes every row itself, so none is filled twice
        self.standing = np.empty((n, 4), np.int32) if blank else new_standing(n, self.initial)
        self.score_sum = np.zeros(n_shards(), dtype=np.int64)
        self.score_sum[0] = np.int64(self.initial) * n
        self.n_scored = n
        # per record of the day: did its points move its subject's grade or true grade?
        # Only those subjects' sanction status can have changed through their score.
        self.moved = np.zeros(0, dtype=np.bool_)
        if self.regional.scheme.shape[0]:
            self.standing[:, SCORE] = self.regional.initial[self.regional.scheme]
            self.score_sum[0] = self.standing[:, SCORE].sum(dtype=np.int64)
            # the mean score is over people whose region has a pilot (others keep 0)
            self.n_scored = int(self.regional.scored[self.regional.scheme].sum())

    @property
    def score(self) -> np.ndarray:
        return self.standing[:, SCORE]

    @property
    def false_points(self) -> np.ndarray:
        return self.standing[:, FALSE_POINTS]

    def step(self, records: Records) -> None:
        """Give today's records their points and add them to their subjects' scores."""
        if not self.enabled or len(records) == 0:
            return
        reg = self.regional
        self.moved = np.zeros(len(records), dtype=np.bool_)
        _apply_points(records.subject, records.behaviour, records.correct, reg.points,
                      reg.scheme, reg.thresholds, records.points, self.standing,
                      self.score_sum, self.moved)

    def withdraw(self, subject: np.ndarray, behaviour: np.ndarray, correct: np.ndarray) -> None:
        """Take expired records' points back out of their subjects' scores (and false points)."""
        if not self.enabled or subject.shape[0] == 0:
            return
        reg = self.regional
        _apply_points(subject, behaviour, correct, -reg.points, reg.scheme, reg.thresholds,
                      np.empty(subject.shape[0], dtype=np.int32), self.standing,
                      self.score_sum, np.zeros(subject.shape[0], dtype=np.bool_))

    def mean_score(self, n: int) -> float:
        if not self.enabled or self.n_scored == 0:
            return float("nan")
        return float(self.score_sum.sum()) / (n if self.n_scored == n else self.n_scored)

    @property
    def nbytes(self) -> int:
        return self.standing.nbytes + self.regional.nbytes


@nb.njit(inline="always", cache=True)
def grade_index(score, thresholds):
    """0 for the top grade; the number of cut-offs the score falls short of."""
    g = thresholds.shape[0]
    for t in range(thresholds.shape[0]):
        if score >= thresholds[t]:
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


@nb.njit(cache=True)
def _apply_points_shard(lo, hi, order, subject, behaviour, correct, points, scheme, thresholds,
                        rec_points, standing, moved):
    total = 0
    regional = scheme.shape[0] > 0
    for k in range(lo, hi):
        r = order[k]
        s = subject[r]
        sc = scheme[s] if regional else 0
        p = points[sc, behaviour[r]]
        rec_points[r] = p
        old = standing[s, SCORE]
        new = old + p
        standing[s, SCORE] = new
        moved_grade = grade_at(old, thresholds, sc) != grade_at(new, thresholds, sc)
        false_old = standing[s, FALSE_POINTS]
        if correct[r] and false_old == 0:
            moved[r] = moved_grade  # the true score is the score: so is the true grade
        else:
            false_new = false_old
            if not correct[r]:
                false_new = false_old + p
                standing[s, FALSE_POINTS] = false_new
            moved[r] = moved_grade or (grade_at(old - false_old, thresholds, sc)
                                       != grade_at(new - false_new, thresholds, sc))
        total += p
    return total


@nb.njit(parallel=True, cache=True)
def _apply_points(subject, behaviour, correct, points, scheme, thresholds, rec_points, standing,
                  score_sum, moved):
    """Each thread takes the records of its own people, so no row is touched twice at once.

    `points` is [scheme, behaviour]; `scheme` is the person's scheme, or empty when
    there is one region (then row 0). `moved[r]`: record r changed its subject's grade
    or true grade, so that person's status must be re-derived.
    """
    shards = score_sum.shape[0]
    order, starts = order_by_shard(subject, shards)
    for t in nb.prange(shards):
        score_sum[t] += _apply_points_shard(starts[t], starts[t + 1], order, subject, behaviour,
                                            correct, points, scheme, thresholds, rec_points,
                                            standing, moved)


_PAD = np.iinfo(np.int64).min  # a cut-off every score passes


class RegionalSchemes:
    """Each region's pilot scheme as tables indexed [scheme, ...].

    With one region (no `regions` section) there is one scheme, the scenario's
    `scoring`, and no per-person array: `scheme` is empty and kernels use row 0,
    so the single-region path reads the same memory as before. With regions,
    `scheme[p]` is person p's region's scheme; a region without a pilot has the
    last scheme, which scores nothing (its people only face the national list).
    """

    def __init__(self, scenario: Scenario, scoring: Scoring, region: np.ndarray | None):
        n_b = len(scoring.behaviour_names)
        if scenario.regions is None or region is None or scoring.enabled is False:
            self.names = ["scoring"]
            self.points = scoring.points.reshape(1, n_b)
            self.initial = np.array([scoring.initial], dtype=np.int32)
            self.thresholds = scoring.thresholds.reshape(1, -1)
            self.scored = np.ones(1, dtype=np.bool_)
            self.grade_names = [scoring.grade_names]
            self.travel_grade_names = [
                scenario.sanctions.travel_ban.grades if scenario.sanctions.travel_ban else []]
            self.scheme = np.zeros(0, dtype=np.uint8)
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
                self.points[i, scoring.behaviour_names.index(b)] = pts
            self.initial[i] = s.initial
            row = [g.min_score for g in reversed(s.grades[:-1])]
            self.thresholds[i, cuts - len(row):] = row
        of_region = np.array(
            [self.names.index(r.scheme) if r.scheme else k - 1 for r in scenario.regions.values()],
            dtype=np.uint8)
        self.of_region = of_region
        self.scheme = of_region[region]

    def travel_grades(self, slots: int) -> np.ndarray:
        """[scheme, grade position]: the grades each scheme bans from travel."""
        out = np.zeros((len(self.names), slots), dtype=np.bool_)
        for i, (names, banned) in enumerate(zip(self.grade_names, self.travel_grade_names,
                                                strict=True)):
            for g in banned:
                out[i, names.index(g)] = True
        return out

    def grade_name_of(self, grade: np.ndarray) -> np.ndarray:
        """Each person's grade under their own scheme, as a string array."""
        if self.scheme.shape[0] == 0:
            return np.asarray(self.grade_names[0], dtype=object)[grade]
        out = np.empty(grade.shape[0], dtype=object)
        for i, names in enumerate(self.grade_names):
            mine = self.scheme == i
            if not self.scored[i]:
                out[mine] = "none"
                continue
            out[mine] = np.asarray(names, dtype=object)[np.minimum(grade[mine], len(names) - 1)]
        return out

    @property
    def nbytes(self) -> int:
        return self.scheme.nbytes
