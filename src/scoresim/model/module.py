"""One shape for every box of the day, and the day's data that flows between them.

Every stage of a simulated day (behaviour, response, observation, credit file,
scoring, redress, sanctions, the society's firms and joint punishment, metrics)
is a `Module`:

    name             what the plan calls it (engine.PLAN), the key of its state
    section          the scenario section that switches it on (None: always on);
                     enabled(s) says whether scenario `s` has it (others are not built)
    __init__(world)  its per-person state and tables, from the World: the scenario,
                     the society, the standing every module shares, the other modules
    steps            what it does on a day: methods taking the day (`Today`), named
                     in the plan; each reads and writes fields of the day, never
                     another module's privates
    columns()        the timeseries columns it fills (in `measure`), by name
    people()         the people.parquet columns it adds, at the end of the run
    tables()         the extra tables it writes (firms.parquet, collateral.parquet ...)
    state(), restore(st)   everything a resumed run needs, for checkpoints
    nbytes           its memory
    person_backend(s)      why the person backend cannot run it (empty: it can); a
                     module whose people depend on each other's days sets `interacts`
    on_change(today, paths)  called before the day's plan on each day a timeline change
                     starts (paths: what it sets); a module reads a changing value for
                     the day from world.timeline (value, daily), so ramps need no call

A module talks to the others through the day's data (`Today`): what happened
today (events, records seen, records filed, records expiring), who must be
judged again, whose status flipped. The plan says in which order; the data
says what flows. There is no other channel between modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from scoresim.scenario.schema import Scenario

if TYPE_CHECKING:
    from scoresim.model.behaviour import Events
    from scoresim.model.observation import Records
    from scoresim.model.world import World


@dataclass
class Today:
    """The day's data, filled in as the plan goes: what each step leaves for the later ones."""

    day: int
    events: Events | None = None  # behaviour: who really did what (responses thin it)
    seen: Records | None = None  # observation: what the channels recorded, with errors
    filed: Records | None = None  # credit file: today's records, late ones included
    moved: np.ndarray | None = None  # scoring: per filed record, did it move a grade
    # redress: per filed record, whether its way out is redress's to decide (then it
    # leaves the score through redress only, never twice)
    by_redress: np.ndarray | None = None
    # the records that stop counting today: (subject, behaviour, correct)
    expired: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    n_expired: int = 0  # records that left the score today, every way out
    # people whose standing another module changed today, for sanctions to judge again
    rejudge: list[np.ndarray] = field(default_factory=list)
    # every re-derivation of status today: (people, status before, status after)
    changes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    listed_firms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


class Module:
    """The shape every box of the day has (see the module docstring); defaults do nothing."""

    name: ClassVar[str]
    section: ClassVar[str | None] = None
    interacts: ClassVar[bool] = False

    @classmethod
    def enabled(cls, scenario: Scenario) -> bool:
        return cls.section is None or getattr(scenario, cls.section) is not None

    @classmethod
    def person_backend(cls, scenario: Scenario) -> list[str]:
        """Why the person backend cannot run this module in `scenario` (empty: it can)."""
        return interactions(cls.section or cls.name) if cls.interacts else []

    def __init__(self, world: World) -> None:
        self.world = world

    def on_change(self, today: Today, paths: list[str]) -> None:
        """A timeline change starts today, setting `paths` (model/timeline.py)."""

    def columns(self) -> list[str]:
        return []

    def float_columns(self) -> tuple[str, ...]:
        """Those of columns() that hold fractions rather than counts."""
        return ()

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        """Put the day's value of each of columns() into `row`."""

    def people(self) -> dict[str, Any]:
        return {}

    def tables(self) -> dict[str, pd.DataFrame]:
        return {}

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        pass

    @property
    def nbytes(self) -> int:
        return 0


def interactions(name: str) -> list[str]:
    """The usual reason a module keeps the person backend away: people interact."""
    return [f"{name}: people then depend on each other's days"]
