"""A new module is one class and one step of the plan: the protocol, tried by adding one.

The module here is a sanction of its own: a curfew for anyone with two or more
negative records filed on one day, for CURFEW_DAYS days. It is written in this
file only; the run gets it by passing the engine's module list, plan and column
order with it added. It must appear in the plan, fill its timeseries column,
add its people column, survive a checkpoint, and change nothing else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import scoresim
from scoresim.model import engine
from scoresim.model.engine import MODULES, PLAN, TIMESERIES, Simulation, Step
from scoresim.model.module import Module, Today
from scoresim.model.world import World

CURFEW_DAYS = 30


class Curfew(Module):
    """Two or more negative records on one day: under curfew for CURFEW_DAYS days."""

    name = "curfew"
    interacts = True  # it needs a day's records of everyone at once

    def __init__(self, world: World):
        super().__init__(world)
        self.until = np.zeros(world.n, dtype=np.int32)

    def step(self, today: Today) -> None:
        filed = today.filed
        bad = filed.subject[filed.points < 0]
        people, n = np.unique(bad, return_counts=True)
        self.until[people[n >= 2]] = today.day + CURFEW_DAYS

    def columns(self) -> list[str]:
        return ["n_curfewed"]

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        row["n_curfewed"] = int(np.count_nonzero(self.until > today.day))

    def people(self) -> dict[str, Any]:
        return {"curfewed": self.until >= self.world.days}

    def state(self) -> dict[str, np.ndarray]:
        return {"until": self.until}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.until[:] = st["until"]

    @property
    def nbytes(self) -> int:
        return self.until.nbytes


def _plan_with_curfew() -> tuple[Step, ...]:
    """The engine's plan, with the curfew's step right after the sanctions'."""
    k = next(i for i, s in enumerate(PLAN) if (s.module, s.method) == ("sanctions", "step"))
    step = Step("sanctions", "curfew", "step", "two bad records in a day: a curfew")
    return PLAN[:k + 1] + (step,) + PLAN[k + 1:]


WITH = {"modules": MODULES + (Curfew,), "plan": _plan_with_curfew(),
        "timeseries": TIMESERIES + ("curfew",)}


def _scenario():
    return scoresim.resolve("pilot-city", agents=6_000, days=80, seed=11, records="none")


def test_a_module_of_ones_own_joins_the_plan_and_its_outputs() -> None:
    sim = Simulation(_scenario(), **WITH)
    assert "curfew.step" in sim.describe_plan()
    sim.run()
    ts, people = sim.timeseries(), sim.people()
    plain = Simulation(_scenario()).run()
    # its column and its people column, and nothing else changed
    assert ts["n_curfewed"].sum() > 0
    pd.testing.assert_frame_equal(ts.drop(columns="n_curfewed"), plain.timeseries())
    pd.testing.assert_frame_equal(people.drop(columns="curfewed"), plain.people())
    assert people["curfewed"].sum() == ts["n_curfewed"].iloc[-1]
    assert sim.memory_bytes()["curfew"] == 6_000 * 4


def test_its_column_counts_what_the_day_did() -> None:
    """Recount the curfews from each day's filed records, independently of the module."""
    sim = Simulation(_scenario(), **WITH)
    until = np.zeros(sim.n, dtype=np.int64)
    counts = []
    for _ in range(sim.days):
        today = sim.step()
        bad = pd.Series(today.filed.subject[today.filed.points < 0]).value_counts()
        until[bad[bad >= 2].index.to_numpy()] = today.day + CURFEW_DAYS
        counts.append(int((until > today.day).sum()))
    assert sum(counts) > 0
    assert sim.timeseries()["n_curfewed"].tolist() == counts


def test_its_state_survives_a_checkpoint() -> None:
    first = Simulation(_scenario(), **WITH)
    for _ in range(40):
        first.step()
    second = Simulation(_scenario(), **WITH)
    second.restore(first.state())
    first.run()
    second.run()
    pd.testing.assert_frame_equal(first.timeseries(), second.timeseries())
    pd.testing.assert_frame_equal(first.people(), second.people())


def test_the_engines_own_lists_are_left_as_they_were() -> None:
    assert Curfew not in engine.MODULES and "curfew" not in engine.TIMESERIES
