"""The behaviour clocks hand out each day's events in one canonical order."""

from __future__ import annotations

import numpy as np

import scoresim
from scoresim.model.behaviour import Events
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


def test_kept_events_are_the_boolean_selection():
    """Events.kept (one compiled pass) selects what actor[keep], behaviour[keep] select."""
    rng = np.random.default_rng(5)
    for n in (0, 1, 17, 1000):
        events = Events(3, rng.integers(0, 50, n).astype(np.int64),
                        rng.integers(0, 9, n).astype(np.uint8))
        keep = rng.random(n) < 0.4
        kept = events.kept(keep)
        assert kept.day == 3
        np.testing.assert_array_equal(kept.actor, events.actor[keep])
        np.testing.assert_array_equal(kept.behaviour, events.behaviour[keep])
        assert kept.actor.dtype == np.int64 and kept.behaviour.dtype == np.uint8
