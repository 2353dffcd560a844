"""The calendar files entries under their days and gives them back in filing order."""

from __future__ import annotations

import numpy as np

from scoresim.model.calendar import Calendar


def test_a_day_gives_back_what_was_filed_under_it_in_order() -> None:
    """Against a plain dictionary of lists: the calendar's blocks change nothing."""
    days = 25
    rng = np.random.default_rng(11)
    cal = Calendar(days, np.uint64, payload_dtype=np.uint16)
    expected: dict[int, list[int]] = {d: [] for d in range(days)}
    for n in (10, 40_000, 1, 90_000, 500):
        entries = rng.integers(0, 2**40, n).astype(np.uint64)
        when = rng.integers(0, days + 3, n).astype(np.int64)
        cal.push(entries, when, (entries % 4096).astype(np.uint16))
        for e, d in zip(entries.tolist(), when.tolist(), strict=True):
            if d < days:
                expected[d].append(e)
    for d in range(days):
        got, payload = cal.pop_with_payload(d)
        assert got.tolist() == expected[d]
        np.testing.assert_array_equal(payload, (got % 4096).astype(np.uint16))
        assert cal.count[d] == 0
