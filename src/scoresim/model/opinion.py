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
import pandas as pd

from scoresim.model.module import Module, Today
from scoresim.model.random import stream_key, uniforms
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
        self.surveys = world.scenario.surveys
        self.rows: list[dict[str, Any]] = []
        self.seed = world.seed
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
        if self.surveys is not None and today.day in self.surveys.days:
            self.rows.append(field_survey(self.approval, self.surveys, self.seed, today.day))

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

    def tables(self) -> dict[str, pd.DataFrame]:
        if self.surveys is None:
            return {}
        return {"surveys": pd.DataFrame(self.rows, columns=list(SURVEY_COLUMNS))}

    def state(self) -> dict[str, np.ndarray]:
        return {"approval": self.approval, "n_wrongful": self.n_wrongful}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.approval = np.array(st["approval"], dtype=np.float64)
        self.n_wrongful = np.array(st["n_wrongful"], dtype=np.int64)

    @property
    def nbytes(self) -> int:
        return self.approval.nbytes * 2 + self.n_wrongful.nbytes


SURVEY_COLUMNS = ("day", "group", "n", "true_approval", "direct", "direct_se", "list",
                  "list_se", "falsification_gap")


def field_survey(approval: np.ndarray, sv: Any, seed: int, day: int) -> dict[str, Any]:
    """One survey: a keyed sample asked directly and by a list experiment (difference of means).

    Each respondent holds 'approve' with probability their approval (a keyed
    uniform); directly, a non-approver says 'approve' with probability
    sv.falsify; in the list experiment the treated half adds the sensitive item
    to the control items' count, truthfully (the count hides it).
    """
    n = approval.shape[0]
    people = np.arange(n, dtype=np.uint64)
    d = np.uint64(day)
    pick = uniforms(stream_key(seed, "surveys", "sample"), people, d)
    sample = np.argsort(pick, kind="stable")[: min(sv.sample, n)]
    counters = sample.astype(np.uint64)
    holds = uniforms(stream_key(seed, "surveys", "holds"), counters, d) < approval[sample]
    lie = uniforms(stream_key(seed, "surveys", "falsify"), counters, d) < sv.falsify
    said = holds | lie
    treated = uniforms(stream_key(seed, "surveys", "arm"), counters, d) < 0.5
    count = np.zeros(sample.shape[0])
    for j, p in enumerate(sv.control):
        count += uniforms(stream_key(seed, "surveys", f"item:{j}"), counters, d) < p
    count += treated & holds
    t, c = count[treated], count[~treated]
    m = sample.shape[0]
    direct = float(said.mean())
    lst = float(t.mean() - c.mean()) if len(t) > 1 and len(c) > 1 else float("nan")
    lse = (float(np.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c)))
           if len(t) > 1 and len(c) > 1 else float("nan"))
    return {"day": day, "group": "all", "n": m, "true_approval": float(holds.mean()),
            "direct": direct, "direct_se": float(np.sqrt(direct * (1 - direct) / m)),
            "list": lst, "list_se": lse, "falsification_gap": direct - lst}
