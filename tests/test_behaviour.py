"""The behaviour clocks hand out each day's events in one canonical order."""

from __future__ import annotations

import numpy as np

import scoresim
from scoresim.model.engine import Simulation


def test_each_day_s_events_come_in_person_order() -> None:
    """Sorted by person, then behaviour: the order later phases rely on for locality, and
    one that does not depend on when each entry was filed in the calendar."""
    scenario = scoresim.resolve("pilot-city", agents=20_000, days=30, seed=5, records="none")
    sim = Simulation(scenario)
    n_events = 0
    for day in range(30):
        events = sim.step().events
        key = events.actor * 64 + events.behaviour
        assert (np.diff(key) > 0).all(), f"day {day}: events out of order"
        n_events += len(events)
    assert n_events > 20_000 * 30 * 0.1
