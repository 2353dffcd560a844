"""The simulation: one society, its modules, and the day they go through in order.

Read `Simulation.step` to follow one simulated day top to bottom:

    behaviour    who really did what today
    observation  what the channels saw, with errors, each record keeping its truth
    credit file  the records filed under their subjects
    scoring      points and scores
    sanctions    lists, bans, suspensions, shaming; who is sanctioned wrongly
    metrics      the day's row

Each phase is timed, so a benchmark can say where a day's time goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from scoresim.behaviour import Behaviour
from scoresim.credit_file import CreditFile
from scoresim.firms import Firms
from scoresim.households import ROLE_NAMES
from scoresim.joint_punishment import JointPunishment
from scoresim.metrics import Metrics
from scoresim.observation import Observation
from scoresim.peer_rating import PeerRating
from scoresim.sanctions import (
    BANNED,
    C_COLLATERAL,
    C_SCHOOL,
    COLLATERAL,
    CONSUMPTION_BANNED,
    GRADE_MASK,
    LISTED,
    SCHOOL_BANNED,
    SUSPENDED,
    WRONGLY_BANNED,
    SanctionLog,
    Sanctions,
)
from scoresim.scenario.schema import Scenario
from scoresim.scoring import Scoring
from scoresim.society import Society

SANCTIONS_LOG = "sanctions.parquet"  # results.SANCTIONS
PHASES = ("behaviour", "observation", "credit_file", "scoring", "sanctions", "metrics")


class Simulation:
    """A scenario built on a synthetic society, ready to run day by day."""

    def __init__(self, scenario: Scenario, records_path: Path | None = None):
        self.scenario = scenario
        self.seed = scenario.seed
        self.n = scenario.agents
        self.days = scenario.days
        self.timings = dict.fromkeys(("build",) + PHASES, 0.0)
        t0 = time.perf_counter()
        self.society = Society.build(scenario, self.n, self.seed)
        self.behaviour = Behaviour(scenario, self.society, self.seed, self.days)
        self.observation = Observation(scenario, self.society, self.seed)
        self.credit_file = CreditFile(
            self.behaviour.names, self.observation.channel_names, scenario.records,
            scenario.records_sample, self.seed, records_path,
        )
        self.scoring = Scoring(scenario, self.n, self.society.region)
        self.sanctions = Sanctions(scenario, self.scoring, self.n, self.seed, self.days)
        if records_path is not None and scenario.records != "none":
            keep = self.credit_file.in_sample if scenario.records == "sample" else None
            self.sanctions.log = SanctionLog(records_path.with_name(SANCTIONS_LOG), keep)
        self.metrics = Metrics(scenario, self.scoring, self.sanctions, self.n, self.days,
                               self.behaviour.speech)
        # the society past the individual: firms, joint punishment, peer ratings (optional)
        self.timings["society"] = 0.0
        self.firms = Firms(scenario, self.society, self.seed, self.days) \
            if scenario.firms is not None else None
        self.joint = JointPunishment(scenario, self.society, self.scoring, self.sanctions,
                                     self.firms) if scenario.joint_punishment is not None else None
        self.peer_rating = PeerRating(scenario, self.society, self.scoring, self.seed) \
            if scenario.peer_rating is not None else None
        self.metrics.add_columns(self._society_columns())
        self.day = 0
        self.n_events = 0
        self.timings["build"] = time.perf_counter() - t0

    def step(self) -> None:
        """One day: all of it is drawn, observed and filed first, then judged, then counted."""
        day, clock, t = self.day, time.perf_counter, self.timings
        t0 = clock()
        events = self.behaviour.step(day)
        t1 = clock()
        seen = self.observation.step(events)
        t2 = clock()
        filed = self.credit_file.step(seen)
        t3 = clock()
        self.scoring.step(filed)
        t4 = clock()
        rated = self.peer_rating.step(day, filed) if self.peer_rating is not None else None
        self.sanctions.step(day, filed)
        if rated is not None:
            self.sanctions.refresh(day, rated)
        t5 = clock()
        self._society_step(day)
        t5b = clock()
        t["society"] += t5b - t5
        self.metrics.step(day, events, filed)
        self._society_metrics(day)
        self.credit_file.archive(filed)
        t6 = clock()
        for phase, a, b in zip(PHASES, (t0, t1, t2, t3, t4, t5b), (t1, t2, t3, t4, t5, t6),
                               strict=True):
            t[phase] += b - a
        self.n_events += len(events)
        self.day += 1

    def run(self, on_day: Callable[[int], None] | None = None) -> Simulation:
        while self.day < self.days:
            self.step()
            if on_day is not None:
                on_day(self.day)
        self.credit_file.close()
        if self.sanctions.log is not None:
            self.sanctions.log.close()
        return self

    def _society_step(self, day: int) -> None:
        """Firms' own events, then joint punishment of today's new listings."""
        listed_firms = self.firms.step(day) if self.firms is not None else np.zeros(0, np.int64)
        if self.joint is not None:
            self.joint.step(day, listed_firms)

    def _society_columns(self) -> list[str]:
        cols = ["n_collateral_sanctioned"]
        if self.joint is not None:
            cols.append("n_school_banned")
        if self.firms is not None:
            cols += ["n_firms_listed", "n_firms_trusted"]
        if self.peer_rating is not None:
            cols.append("n_peer_ratings")
        return cols

    def _society_metrics(self, day: int) -> None:
        t = self.metrics.table
        counts = self.sanctions.counts
        t["n_collateral_sanctioned"][day] = counts[C_COLLATERAL]
        if self.joint is not None:
            t["n_school_banned"][day] = counts[C_SCHOOL]
        if self.firms is not None:
            t["n_firms_listed"][day] = int(self.firms.listed(day).sum())
            t["n_firms_trusted"][day] = int(self.firms.trusted[self.firms.grade()].sum())
        if self.peer_rating is not None:
            t["n_peer_ratings"][day] = self.peer_rating.n_ratings

    def frames(self) -> dict[str, pd.DataFrame]:
        """The society's extra tables: firms.parquet, firm_records.parquet, collateral.parquet."""
        out: dict[str, pd.DataFrame] = {}
        if self.firms is not None:
            out["firms"] = self.firms.frame(self.day - 1)
            out["firm_records"] = self.firms.records_frame()
        if self.joint is not None:
            out["collateral"] = self.joint.frame()
        return out

    # what the run leaves behind -------------------------------------------------
    def timeseries(self) -> pd.DataFrame:
        return self.metrics.frame(self.day)

    def people(self) -> pd.DataFrame:
        """The final state of each person."""
        status = self.sanctions.status
        grade_names = self.scoring.grade_names
        cols: dict[str, object] = {
            "id": np.arange(self.n, dtype=np.int64),
            "group": self.society.group,
        }
        if self.scoring.enabled:
            cols["score"] = self.scoring.score
            cols["grade"] = pd.Categorical.from_codes(
                (status & GRADE_MASK).astype(np.int8), categories=grade_names
            ) if self.society.region is None else None  # regions: each scheme's own names
            cols["false_points"] = self.scoring.false_points
        else:
            cols["score"] = np.full(self.n, np.nan)
            cols["grade"] = pd.Categorical.from_codes(
                np.full(self.n, -1, np.int8), categories=["none"]
            )
            cols["false_points"] = np.zeros(self.n, dtype=np.int32)
        for name in self.society.trait_names[1:]:
            cols[name] = pd.Categorical.from_codes(
                self.society.trait(name).astype(np.int8), categories=self.society.levels[name]
            )
        cols["travel_banned"] = (status & BANNED) != 0
        cols["listed"] = (status & LISTED) != 0
        cols["wrongly_banned"] = (status & WRONGLY_BANNED) != 0
        cols["consumption_banned"] = (status & CONSUMPTION_BANNED) != 0
        cols["media_suspended"] = (status & SUSPENDED) != 0
        self._society_people(cols, status)
        return pd.DataFrame(cols)

    def _society_people(self, cols: dict[str, object], status: np.ndarray) -> None:
        """Household, region, employer and collateral columns, where the scenario has them."""
        soc = self.society
        reg = self.scoring.regional
        if soc.region is not None:
            cols["region"] = pd.Categorical.from_codes(soc.region.astype(np.int16),
                                                       categories=soc.region_names)
            cols["scheme"] = pd.Categorical.from_codes(reg.scheme.astype(np.int16),
                                                       categories=reg.names)
            if self.scoring.enabled:
                grade = (status & GRADE_MASK).astype(np.int64)
                cols["grade"] = pd.Categorical(reg.grade_name_of(grade))
                cols["score"] = np.where(reg.scored[reg.scheme], self.scoring.score, np.nan)
        if soc.households is not None:
            cols["household"] = soc.households.household
            cols["household_role"] = pd.Categorical.from_codes(
                soc.households.role.astype(np.int8), categories=ROLE_NAMES)
        if soc.ties is not None:
            cols["degree"] = soc.ties.degree().astype(np.int32)
        if self.firms is not None:
            cols["employer"] = self.firms.employer
        if self.joint is not None:
            cols["collateral"] = (status & COLLATERAL) != 0
            cols["school_banned"] = (status & SCHOOL_BANNED) != 0

    def memory_bytes(self) -> dict[str, int]:
        return {
            "society": self.society.nbytes,
            "behaviour": self.behaviour.nbytes,
            "scoring": self.scoring.nbytes,
            "sanctions": self.sanctions.nbytes,
            "firms": self.firms.nbytes if self.firms is not None else 0,
            "peer_rating": self.peer_rating.nbytes if self.peer_rating is not None else 0,
        }
