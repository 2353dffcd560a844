"""The world every module is built in: the scenario, the society, the rules, the shared standing.

A module's constructor takes the World and nothing else. It reads the scenario
(its own section and the facts it depends on), the society, the rulebook's
tables, and the standing: the four numbers per person that scoring, redress,
abuse, peer ratings, joint punishment and sanctions all move (standing.py).
A module that needs another one asks for it by name (`world.module(name)`),
so every dependency is visible where it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scoresim.model.rulebook import Rulebook
from scoresim.model.society import Society, society_key
from scoresim.model.standing import Standing
from scoresim.model.streams import OpenStream
from scoresim.model.timeline import Timeline
from scoresim.scenario.schema import Scenario

if TYPE_CHECKING:
    from scoresim.model.module import Module


class World:
    """What a run's modules share, built once per run."""

    def __init__(self, scenario: Scenario, open_stream: OpenStream | None, backend: str,
                 society: Society | None = None, block: int | None = None):
        """`society`: one already built for this scenario's people (same seed, size and
        society inputs, see `society_key`), shared by the members of a study instead of
        each building its own; it is read, never written, by a run. None builds one.
        `block`: the person backend lives the people in blocks of this many (lives.py);
        the standing then holds one block's rows."""
        self.scenario = scenario
        self.seed = scenario.seed
        self.n = scenario.agents
        self.days = scenario.days
        # "day": the day loop; "person": lives.py, which writes every standing row itself
        self.backend = backend
        self.open_stream = open_stream
        # the scenario's dated changes, as every module reads them (timeline.py)
        self.timeline = Timeline(scenario)
        if society is None:
            society = Society.build(scenario, self.n, self.seed)
        elif society.key != society_key(scenario):
            raise ValueError("the society given was built for other people (another seed, size "
                             "or population) than this scenario's")
        self.society = society
        self.rules = Rulebook(scenario, self.seed, self.society.region)
        self.block = block
        self.standing = Standing(self.n, self.rules.schemes, blank=backend == "person",
                                 block=block)
        self.modules: dict[str, Module] = {}

    def module(self, name: str) -> Module | None:
        """The module called `name`, if the scenario has it (built before the asker)."""
        return self.modules.get(name)
