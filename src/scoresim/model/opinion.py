"""Approval of the system: each person's, in [0, 1], moved by what the system does to them.

A scenario with an `opinion:` section gets this module. A person starts at
`opinion.base` plus the shifts of their trait levels (Kostka 2019: about 80%
approve, more among the wealthier, better educated, urban and older), and
each day, after scoring, approval relaxes towards that start, rises with the
positive records filed on them and falls with the negative ones, the more so
when a negative record is wrong (a wrongful sanction). It draws nothing, so
switching it on moves no other output of a run (no shared stream consumed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scoresim.model.module import Module, Today
from scoresim.model.world import World


def starting_approval(world: World) -> np.ndarray:
    """base plus every listed trait level's shift, clipped to [0, 1]."""
    o = world.scenario.opinion
    out = np.full(world.n, float(o.base))
    society = world.society
    for trait in sorted(o.by_trait):
        levels = society.levels[trait]
        codes = society.trait(trait)
        for level, shift in o.by_trait[trait].items():
            out[codes == levels.index(level)] += shift
    return np.clip(out, 0.0, 1.0)


class Opinion(Module):
    """Everyone's approval, updated daily from the records filed on them."""

    name = "opinion"
    section = "opinion"

    @classmethod
    def person_backend(cls, scenario) -> list[str]:
        return ["opinion: the person backend has no approval model (the day loop runs it)"]

    def __init__(self, world: World):
        super().__init__(world)
        o = world.scenario.opinion
        self.n = world.n
        self.o = o
        self.start = starting_approval(world)
        self.approval = self.start.copy()
        self.n_wrongful = np.zeros(self.n, dtype=np.int64)
        self.groups: list[tuple[str, np.ndarray]] = []
        society = world.society
        for trait in o.breakdown:
            codes = society.trait(trait)
            for k, level in enumerate(society.levels[trait]):
                self.groups.append((f"approval_{trait}_{level}", codes == k))

    def step(self, today: Today) -> None:
        """Relax towards the start; rewards raise, sanctions and wrongful ones lower."""
        o = self.o
        a = self.approval
        a += o.recovery * (self.start - a)
        filed = today.filed
        if filed is not None and len(filed.subject):
            pos = filed.points > 0
            neg = filed.points < 0
            wrong = neg & ~filed.correct
            change = np.zeros(self.n)
            np.add.at(change, filed.subject[pos], o.reward)
            np.add.at(change, filed.subject[neg], -o.sanction)
            np.add.at(change, filed.subject[wrong], -o.wrongful)
            np.add.at(self.n_wrongful, filed.subject[wrong], 1)
            a += change
        np.clip(a, 0.0, 1.0, out=a)

    def columns(self) -> list[str]:
        return ["approval", *(name for name, _ in self.groups)]

    def float_columns(self) -> tuple[str, ...]:
        return tuple(self.columns())

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        row["approval"] = float(self.approval.mean()) if self.n else float("nan")
        for name, mine in self.groups:
            row[name] = float(self.approval[mine].mean()) if mine.any() else float("nan")

    def people(self) -> dict[str, Any]:
        return {"approval": self.approval.copy(), "n_wrongful_records": self.n_wrongful.copy()}

    def state(self) -> dict[str, np.ndarray]:
        return {"approval": self.approval, "n_wrongful": self.n_wrongful}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.approval = np.array(st["approval"], dtype=np.float64)
        self.n_wrongful = np.array(st["n_wrongful"], dtype=np.int64)

    @property
    def nbytes(self) -> int:
        return self.approval.nbytes * 2 + self.n_wrongful.nbytes
