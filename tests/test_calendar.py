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


def test_a_calendar_sized_for_its_entries_does_not_grow_as_they_are_refiled() -> None:
    """The behaviour calendar is allocated once for the clocks it will hold (behaviour.py,
    and the memory guard counts it so). Each day pops its entries and files each one's
    next day; with as many entries pending as it was sized for, the pool must not grow:
    growing copies the whole pool while the old one is alive, and keeps half again as
    much for the rest of the run (pilot-city at 2e5 people: 20 MiB of its peak)."""
    days, n = 365, 400_000
    rng = np.random.default_rng(5)
    # geometric waits, as the clocks' (rate 0.02 a day): most entries fall in the first days
    cal = Calendar(days, np.uint32, initial_entries=n, payload_dtype=np.uint16)
    entries = np.arange(n, dtype=np.uint32)
    cal.push(entries, rng.geometric(0.02, n).astype(np.int64) - 1,
             np.zeros(n, dtype=np.uint16))
    size = cal.pool.shape[0]
    for day in range(30):
        due, payload = cal.pop_with_payload(day)
        cal.push(due, day + rng.geometric(0.02, due.shape[0]).astype(np.int64), payload)
        assert cal.pool.shape[0] == size, f"the pool grew on day {day}"
