"""Joint punishment and joint rewards: sanctions that reach past the person who was listed.

"The trustworthy benefit everywhere, the untrustworthy are restricted
everywhere" (State Council Guofa [2016] No. 33). When a person is put on the
dishonest list, the scenario may bar the children of their household from
high-fee private schools while they stay listed (SPC consumption ban), take
points off their relatives' scores, and take credit points off their employer.
When a firm is blacklisted, its legal representative is bound by the
consumption ban (and its travel part) for as long as the firm stays listed.

Every collateral sanction is logged with the record that caused it: the
person (`cause_person`) or firm (`cause_firm`) whose listing reached this
person or firm. Nothing here is drawn at random; it follows from listings.
A firm listed again extends what binds its representative; a person's listing
extended while they are still listed (a second default within two years, rare)
does not yet extend their children's school ban.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scoresim.model.households import CHILD, HEAD, PARTNER
from scoresim.model.module import Module, Today
from scoresim.model.rulebook import C_SCHOOL, K_CONSUMPTION, K_SCHOOL, LISTED
from scoresim.model.standing import LISTED_UNTIL, SCORE
from scoresim.model.world import World

KINDS = ["school_ban", "relative_points", "employer_points", "legal_rep_ban"]
SCHOOL, RELATIVE, EMPLOYER, LEGAL_REP = range(4)


class JointPunishment(Module):
    name = "joint_punishment"

    section = "joint_punishment"
    interacts = True

    def __init__(self, world: World):
        super().__init__(world)
        self.cfg = world.scenario.joint_punishment
        self.society = world.society
        self.standing = world.standing
        self.sanctions = world.module("sanctions")
        self.firms = world.module("firms")
        self._log: list[tuple[np.ndarray, ...]] = []

    def step(self, today: Today) -> None:
        """Reach the relatives, employers and representatives of today's new listings."""
        day, listed_firms = today.day, today.listed_firms
        people = _newly_listed(today.changes)
        hh = self.society.households
        touched: list[np.ndarray] = []
        if people.shape[0] and hh is not None:
            member, cause = _household_of(people, hh.household, hh.start)
            keep = member != cause
            member, cause = member[keep], cause[keep]
            if self.cfg.school_ban_children:
                # children of the listed head or partner (a listed grandparent's grandchildren
                # are not theirs to pay for)
                parent_role = hh.role[cause]
                mine = (hh.role[member] == CHILD) & ((parent_role == HEAD) |
                                                     (parent_role == PARTNER))
                kids, why = member[mine], cause[mine]
                until = self.standing.rows[why, LISTED_UNTIL]
                self.sanctions.bind_collateral(kids, until, K_SCHOOL)
                self._note(day, SCHOOL, kids, -1, why, -1, until, 0)
                touched.append(kids)
            pts = self.cfg.relative_points
            if pts:
                rel = member
                np.add.at(self.standing.rows[:, SCORE], rel, pts)
                self.standing.score_sum[0] += np.int64(pts) * rel.shape[0]
                self._note(day, RELATIVE, rel, -1, cause, -1, np.full(rel.shape[0], -1), pts)
                touched.append(rel)
        if people.shape[0] and self.firms is not None and self.cfg.employer_points:
            emp = self.firms.employer[people]
            has = emp >= 0
            self.firms.penalise(emp[has], self.cfg.employer_points)
            self._note(day, EMPLOYER, -1, emp[has], people[has], -1,
                       np.full(int(has.sum()), -1), self.cfg.employer_points)
        if listed_firms.shape[0] and self.firms is not None and self.cfg.bind_legal_rep:
            reps = self.firms.legal_rep[listed_firms].astype(np.int64)
            until = self.firms.listed_until[listed_firms]
            self.sanctions.bind_collateral(reps, until, K_CONSUMPTION)
            self._note(day, LEGAL_REP, reps, -1, -1, listed_firms, until, 0)
            touched.append(reps)
        if touched:
            today.rejudge.append(np.concatenate(touched).astype(np.int64))

    def columns(self) -> list[str]:
        return ["n_school_banned"]

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        row["n_school_banned"] = self.sanctions.counts[C_SCHOOL]

    def people(self) -> dict[str, Any]:
        return self.sanctions.collateral_people()

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"collateral": self.frame()}

    def _note(self, day, kind, person, firm, cause_person, cause_firm, until, points) -> None:
        n = [np.size(a) for a in (person, firm, cause_person, cause_firm, until)
             if np.ndim(a) > 0][0]
        if n == 0:
            return

        def col(a, dtype):
            return np.broadcast_to(np.asarray(a, dtype=dtype), (n,)).copy()

        self._log.append((col(day, np.int32), col(kind, np.int8), col(person, np.int64),
                          col(firm, np.int64), col(cause_person, np.int64),
                          col(cause_firm, np.int64), col(until, np.int32), col(points, np.int32)))

    def state(self) -> dict[str, np.ndarray]:
        """The collateral log so far, and who is under which collateral sanction until when."""
        ends = self.sanctions.ends
        st = {"until": ends.collateral_until, "kind": ends.collateral_kind}
        if self._log:
            for j, col in enumerate(zip(*self._log, strict=True)):
                st[f"log_{j}"] = np.concatenate(col)
        return st

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.sanctions.ends.collateral_until[:] = st["until"]
        self.sanctions.ends.collateral_kind[:] = st["kind"]
        cols = [st[f"log_{j}"] for j in range(len([k for k in st if k.startswith("log_")]))]
        self._log = [tuple(cols)] if cols else []

    def frame(self) -> pd.DataFrame:
        """collateral.parquet: one row per collateral sanction, with its cause."""
        names = ["day", "kind", "person", "firm", "cause_person", "cause_firm", "until", "points"]
        if not self._log:
            cols = [np.zeros(0, d) for d in (np.int32, np.int8, np.int64, np.int64, np.int64,
                                             np.int64, np.int32, np.int32)]
        else:
            cols = [np.concatenate(c) for c in zip(*self._log, strict=True)]
        df = pd.DataFrame(dict(zip(names, cols, strict=True)))
        df["kind"] = pd.Categorical.from_codes(df["kind"].to_numpy(), KINDS)
        return df


def _newly_listed(changes: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """The people whose status gained the listing bit in today's re-derivations."""
    out = [people[((before & LISTED) == 0) & ((after & LISTED) != 0)]
           for people, before, after in changes]
    return np.unique(np.concatenate(out)).astype(np.int64) if out else np.zeros(0, np.int64)


def _household_of(people: np.ndarray, household: np.ndarray, start: np.ndarray):
    """Every member of each person's household, paired with that person."""
    h = household[people]
    lo, hi = start[h], start[h + 1]
    sizes = hi - lo
    cause = np.repeat(people, sizes)
    first = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    member = first + np.arange(cause.shape[0])
    return member.astype(np.int64), cause
