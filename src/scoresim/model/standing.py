"""A person's standing in the system: score, false points, list end, sanction status.

These four numbers are what every record touches. They are kept together, one
16-byte row per person, so that judging a record costs one cache line rather
than one per array: at ten million people the rows do not fit in cache, and
the cost of a day is the cost of its memory misses.
"""

from __future__ import annotations

import numba as nb
import numpy as np

SCORE, FALSE_POINTS, LISTED_UNTIL, STATUS = 0, 1, 2, 3
N_COLUMNS = 4


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
