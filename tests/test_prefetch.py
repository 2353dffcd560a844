"""prefetch: a hint that changes no value, on the arrays and index types the kernels use."""

from __future__ import annotations

import numba as nb
import numpy as np
import pytest

from scoresim.model.prefetch import AHEAD, prefetch


@nb.njit
def _gather_sum(rows, people):
    """Sum of the rows of `people`, asking for each row AHEAD people early."""
    total = 0
    n = people.shape[0]
    for k in range(n):
        if k + AHEAD < n:
            prefetch(rows, people[k + AHEAD])
        total += rows[people[k]].sum() if rows.ndim == 2 else rows[people[k]]
    return total


@pytest.mark.parametrize("shape", [(1000,), (1000, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float64])
@pytest.mark.parametrize("index", [np.int64, np.int32, np.uint64])
def test_prefetch_changes_nothing(shape, dtype, index):
    rng = np.random.default_rng(7)
    rows = rng.integers(0, 100, shape).astype(dtype)
    people = rng.integers(0, shape[0], 500).astype(index)
    want = rows[people.astype(np.int64)].sum()
    assert _gather_sum(rows, people) == want


def test_prefetch_rejects_what_is_not_an_array_and_an_index():
    @nb.njit
    def bad(x):
        prefetch(x, 1.5)

    with pytest.raises(nb.core.errors.TypingError):
        bad(np.zeros(3))
