"""Scoring: rules that turn records into points, and scores into grades.

A score starts at the scheme's initial value and moves by each filed record's
points, without clamping. The part of a score that came from wrongly
attributed records (`false_points`) is kept beside it, so that every grade can
be compared with the grade the person would have had on true records alone.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from scoresim.observation import Records
from scoresim.scenario.schema import Scenario
from scoresim.standing import FALSE_POINTS, SCORE, n_shards, new_standing


class Scoring:
    name = "scoring"

    def __init__(self, scenario: Scenario, n: int):
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
        self.standing = new_standing(n, self.initial)
        self.score_sum = np.zeros(n_shards(), dtype=np.int64)
        self.score_sum[0] = np.int64(self.initial) * n

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
        _apply_points(records.subject, records.behaviour, records.correct, self.points,
                      records.points, self.standing, self.score_sum)

    def withdraw(self, subject: np.ndarray, behaviour: np.ndarray, correct: np.ndarray) -> None:
        """Take expired records' points back out of their subjects' scores (and false points)."""
        if not self.enabled or subject.shape[0] == 0:
            return
        _apply_points(subject, behaviour, correct, -self.points,
                      np.empty(subject.shape[0], dtype=np.int32), self.standing, self.score_sum)

    def grade_of(self, score: np.ndarray) -> np.ndarray:
        """Grade index (0 = top grade) of each score."""
        n_grades = len(self.grade_names)
        return (n_grades - 1 - np.searchsorted(self.thresholds, score, side="right")).astype(
            np.uint8
        )

    def mean_score(self, n: int) -> float:
        return float(self.score_sum.sum()) / n if self.enabled else float("nan")

    @property
    def nbytes(self) -> int:
        return self.standing.nbytes


@nb.njit(inline="always", cache=True)
def grade_index(score, thresholds):
    """0 for the top grade; the number of cut-offs the score falls short of."""
    g = thresholds.shape[0]
    for t in range(thresholds.shape[0]):
        if score >= thresholds[t]:
            g -= 1
    return g


@nb.njit(cache=True)
def _apply_points_shard(t, shards, subject, behaviour, correct, points, rec_points, standing):
    total = 0
    for r in range(subject.shape[0]):
        s = subject[r]
        if s % shards != t:
            continue
        p = points[behaviour[r]]
        rec_points[r] = p
        standing[s, SCORE] += p
        if not correct[r]:
            standing[s, FALSE_POINTS] += p
        total += p
    return total


@nb.njit(parallel=True, cache=True)
def _apply_points(subject, behaviour, correct, points, rec_points, standing, score_sum):
    """Each thread takes the records of its own people, so no row is touched twice at once."""
    shards = score_sum.shape[0]
    for t in nb.prange(shards):
        score_sum[t] += _apply_points_shard(t, shards, subject, behaviour, correct, points,
                                            rec_points, standing)
