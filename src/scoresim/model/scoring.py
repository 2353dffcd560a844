"""Scoring: today's records give their points, and scores move.

A score starts at the scheme's initial value and moves by each filed record's
points, without clamping (rulebook.score_after). The part of a score that
came from wrongly attributed records (`false_points`) is kept beside it, so
that every grade can be compared with the grade the person would have had on
true records alone. A record that moves its subject's grade or true grade is
noted (`today.moved`): only those subjects' sanction status can have changed
through their score.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import pandas as pd

from scoresim.model.module import Module, Today
from scoresim.model.prefetch import AHEAD, prefetch
from scoresim.model.rulebook import GRADE_MASK, grade_at, score_after
from scoresim.model.standing import FALSE_POINTS, SCORE, order_by_shard
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario


class Scoring(Module):
    name = "scoring"

    def __init__(self, world: World):
        super().__init__(world)
        self.schemes = world.rules.schemes
        self.enabled = self.schemes.enabled
        # the scoring section's grades: with regions, they name the grade positions
        scoring = world.scenario.scoring
        self.grade_names: list[str] = [g.name for g in scoring.grades] if scoring else []
        self.standing = world.standing

    @classmethod
    def person_backend(cls, scenario: Scenario) -> list[str]:
        if scenario.regions is not None:
            return ["regions: each region's own scheme (the person backend runs one)"]
        return []

    def step(self, today: Today) -> None:
        """Give today's records their points and add them to their subjects' scores."""
        records = today.filed
        if not self.enabled or len(records) == 0:
            return
        sc = self.schemes
        today.moved = np.zeros(len(records), dtype=np.bool_)
        _apply_points(records.subject, records.behaviour, records.correct, sc.points,
                      sc.of_person, sc.thresholds, records.points, self.standing.rows,
                      self.standing.score_sum, today.moved)

    def withdraw(self, today: Today) -> None:
        """Take the points of today's expired records back out of their subjects' scores."""
        subject, behaviour, correct = today.expired
        if not self.enabled or subject.shape[0] == 0:
            return
        sc = self.schemes
        _apply_points(subject, behaviour, correct, -sc.points, sc.of_person, sc.thresholds,
                      np.empty(subject.shape[0], dtype=np.int32), self.standing.rows,
                      self.standing.score_sum, np.zeros(subject.shape[0], dtype=np.bool_))

    def mean_score(self) -> float:
        return self.standing.mean_score(self.world.n, self.enabled)

    def people(self) -> dict[str, Any]:
        n = self.standing.rows.shape[0]  # everyone, or a block of them (lives.py)
        if not self.enabled:
            return {"score": np.full(n, np.nan),
                    "grade": pd.Categorical.from_codes(np.full(n, -1, np.int8),
                                                       categories=["none"]),
                    "false_points": np.zeros(n, dtype=np.int32)}
        grade = (self.standing.status & GRADE_MASK)
        sc = self.schemes
        if sc.of_person.shape[0]:  # each scheme's own grade names; no score where no pilot
            return {"score": np.where(sc.scored[sc.of_person], self.standing.score, np.nan),
                    "grade": pd.Categorical(sc.grade_name_of(grade.astype(np.int64))),
                    "false_points": self.standing.false_points}
        return {"score": self.standing.score,
                "grade": pd.Categorical.from_codes(grade.astype(np.int8),
                                                   categories=self.grade_names),
                "false_points": self.standing.false_points}

    @property
    def nbytes(self) -> int:
        return self.schemes.nbytes


@nb.njit(cache=True)
def _apply_points_shard(lo, hi, order, subject, behaviour, correct, points, scheme, thresholds,
                        rec_points, standing, moved):
    total = 0
    regional = scheme.shape[0] > 0
    for k in range(lo, hi):
        if k + AHEAD < hi:  # the row of a record to come (prefetch.py)
            prefetch(standing, subject[order[k + AHEAD]])
        r = order[k]
        s = subject[r]
        sc = scheme[s] if regional else 0
        p = points[sc, behaviour[r]]
        rec_points[r] = p
        old = standing[s, SCORE]
        false_old = standing[s, FALSE_POINTS]
        new, false_new = score_after(old, false_old, p, correct[r])
        standing[s, SCORE] = new
        moved_grade = grade_at(old, thresholds, sc) != grade_at(new, thresholds, sc)
        if correct[r] and false_old == 0:
            moved[r] = moved_grade  # the true score is the score: so is the true grade
        else:
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
