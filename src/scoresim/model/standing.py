"""A person's standing in the system: score, false points, list end, sanction status.

These four numbers are what every record touches. They are kept together, one
16-byte row per person, so that judging a record costs one cache line rather
than one per array: at ten million people the rows do not fit in cache, and
the cost of a day is the cost of its memory misses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba as nb
import numpy as np

if TYPE_CHECKING:
    from scoresim.model.rulebook import Schemes

SCORE, FALSE_POINTS, LISTED_UNTIL, STATUS = 0, 1, 2, 3
N_COLUMNS = 4


class Standing:
    """Every person's row, and the sum of scores kept per thread shard (for the mean score).

    `blank`: the person backend writes every row itself, so none is filled twice.
    `block`: the person backend in blocks (lives.py) keeps the rows of one block of
    this many people at a time, not everyone's (blank, like theirs).
    """

    def __init__(self, n: int, schemes: Schemes, blank: bool = False, block: int | None = None):
        initial = int(schemes.initial[0])
        if block is not None:
            self.rows = np.empty((block, N_COLUMNS), np.int32)
        else:
            self.rows = np.empty((n, N_COLUMNS), np.int32) if blank else new_standing(n, initial)
        self.score_sum = np.zeros(n_shards(), dtype=np.int64)
        self.score_sum[0] = np.int64(initial) * n
        self.initial = initial
        self.n_scored = n
        if schemes.of_person.shape[0]:  # regions: each person starts at their scheme's score
            if block is not None:  # the person backend runs one scheme (Scoring.person_backend)
                raise ValueError("a standing in blocks has one scheme, not one per region")
            self.rows[:, SCORE] = schemes.initial[schemes.of_person]
            self.score_sum[0] = self.rows[:, SCORE].sum(dtype=np.int64)
            # the mean score is over people whose region has a pilot (others keep theirs)
            self.n_scored = int(schemes.scored[schemes.of_person].sum())

    @property
    def score(self) -> np.ndarray:
        return self.rows[:, SCORE]

    @property
    def false_points(self) -> np.ndarray:
        return self.rows[:, FALSE_POINTS]

    @property
    def listed_until(self) -> np.ndarray:
        return self.rows[:, LISTED_UNTIL]

    @property
    def status(self) -> np.ndarray:
        return self.rows[:, STATUS]

    def mean_score(self, n: int, enabled: bool) -> float:
        if not enabled or self.n_scored == 0:
            return float("nan")
        return float(self.score_sum.sum()) / (n if self.n_scored == n else self.n_scored)

    def state(self) -> dict[str, np.ndarray]:
        return {"rows": self.rows, "score_sum": np.array(self.score_sum.sum())}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.rows[:] = st["rows"]
        self.score_sum[:] = 0
        self.score_sum[0] = st["score_sum"]

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes


def new_standing(n: int, initial_score: int) -> np.ndarray:
    rows = np.zeros((n, N_COLUMNS), dtype=np.int32)
    rows[:, SCORE] = initial_score
    return rows


def n_shards() -> int:
    """Records are split among threads by person, so no two threads touch one row."""
    return max(1, nb.get_num_threads())


@nb.njit(cache=True)
def order_by_shard(people, shards):
    """Indices of `people` grouped by shard (person % shards), each group in its order.

    A thread then walks its own group without testing every entry: a branch that
    fails at random half the time stalls the memory loads the loop waits on.
    """
    n = people.shape[0]
    starts = np.zeros(shards + 1, dtype=np.int64)
    for k in range(n):
        starts[np.int64(people[k]) % shards + 1] += 1
    for t in range(shards):
        starts[t + 1] += starts[t]
    pos = starts[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for k in range(n):
        t = np.int64(people[k]) % shards
        order[pos[t]] = k
        pos[t] += 1
    return order, starts
