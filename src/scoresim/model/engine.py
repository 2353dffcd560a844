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

import numpy as np
import pandas as pd
import pyarrow as pa

from scoresim.model.abuse import COLUMNS as ABUSE_COLUMNS
from scoresim.model.abuse import Abuse
from scoresim.model.behaviour import Behaviour
from scoresim.model.credit_file import CreditFile
from scoresim.model.filing import NEVER, Filing
from scoresim.model.firms import Firms
from scoresim.model.households import ROLE_NAMES
from scoresim.model.joint_punishment import JointPunishment
from scoresim.model.lives import run_lives
from scoresim.model.metrics import Metrics
from scoresim.model.observation import Observation
from scoresim.model.peer_rating import PeerRating
from scoresim.model.redress import COLUMNS as REDRESS_COLUMNS
from scoresim.model.redress import Redress
from scoresim.model.response import RISK_ONE, Response
from scoresim.model.sanctions import (
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
from scoresim.model.scoring import Scoring
from scoresim.model.society import Society
from scoresim.model.streams import OpenStream
from scoresim.model.surveillance_metrics import Breakdown, SurveillanceMetrics
from scoresim.model.ties import ties_of
from scoresim.scenario.schema import Scenario

PHASES = ("behaviour", "observation", "credit_file", "scoring", "sanctions", "metrics")
# phases of modules a scenario may leave off, timed apart
OPTIONAL_PHASES = ("response", "redress")


class Simulation:
    """A scenario built on a synthetic society, ready to run day by day."""

    def __init__(self, scenario: Scenario, open_stream: OpenStream | None = None,
                 backend: str = "day"):
        """`open_stream` receives the credit file and sanctions log as they are written
        (runs/ gives it a run folder's files); without one, neither is kept."""
        self.scenario = scenario
        # "day": the day loop below; "person": lives.py, each person's run at once
        self.backend = backend
        self.seed = scenario.seed
        self.n = scenario.agents
        self.days = scenario.days
        self.timings = dict.fromkeys(("build",) + PHASES + OPTIONAL_PHASES, 0.0)
        t0 = time.perf_counter()
        self.society = Society.build(scenario, self.n, self.seed)
        self.behaviour = Behaviour(scenario, self.society, self.seed, self.days)
        if backend == "day":
            # built now, before the other modules' arrays exist: building it takes
            # temporaries of a million people x behaviours, and the peak is lower first
            self.behaviour.calendar  # noqa: B018
        self.observation = Observation(scenario, self.society, self.seed)
        self.filing = Filing(scenario, self.days, self.observation.delays)
        self.credit_file = CreditFile(
            self.behaviour.names, self.observation.channel_names, scenario.records,
            scenario.records_sample, self.seed, open_stream, filing=self.filing,
        )
        blank = backend == "person"
        self.scoring = Scoring(scenario, self.n, self.society.region, blank)
        self.sanctions = Sanctions(scenario, self.scoring, self.n, self.seed, self.days, blank)
        if open_stream is not None and scenario.records != "none":
            keep = self.credit_file.in_sample if scenario.records == "sample" else None
            self.sanctions.log = SanctionLog(open_stream, keep)
        self.metrics = Metrics(scenario, self.scoring, self.sanctions, self.n, self.days,
                               self.behaviour.speech)
        self.surveillance = SurveillanceMetrics(scenario, self.observation, self.days)
        self.breakdown = (Breakdown(scenario, self.society, self.sanctions, self.days)
                          if scenario.metrics.breakdown else None)
        self._add_adaptation(scenario)
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
        day, clock = self.day, time.perf_counter
        marks = [("start", clock())]

        def done(phase: str) -> None:
            marks.append((phase, clock()))

        events = self.behaviour.step(day)
        done("behaviour")
        events = self.response.thin(events)  # with responses off, every due event happens
        done("response")
        seen = self.response.avoid(self.observation.step(events))
        seen = self.abuse.fabricate(day, seen)
        done("observation")
        filed = self.credit_file.step(seen)
        done("credit_file")
        self.scoring.step(filed)
        done("scoring")
        # the ways out of today's records: redress (repair, appeals, expiry) where it is on,
        # else the credit file's own expiry; a record leaves the score once
        out_day = self.redress.file(day, filed)
        by_redress = None
        if out_day is not None:
            filed.expires = np.minimum(out_day, NEVER).astype(np.int32)
            by_redress = filed.points < 0
        self.filing.schedule_expiry(filed, by_redress)
        expired = self.filing.expire(day)  # (subject, behaviour, correct) of records expiring
        self.scoring.withdraw(*expired)
        withdrawn = self.redress.step(day, self.scoring.standing, self.scoring.score_sum)
        by_hand = self.abuse.downgrade_by_hand(day, self.scoring.standing, self.scoring.score_sum)
        done("redress")
        rated = self.peer_rating.step(day, filed) if self.peer_rating is not None else None
        self.sanctions.step(day, filed, expired[0])
        self.sanctions.refresh(day, withdrawn)
        self.sanctions.refresh(day, by_hand)
        if rated is not None:
            self.sanctions.refresh(day, rated)
        done("sanctions")
        self._society_step(day)  # firms, then joint punishment of today's listings
        done("society")
        self.response.learn(day, events, filed, self.sanctions.status)
        done("response")
        self._events_today = events.per_behaviour(len(self.behaviour.names))
        self.metrics.step(day, events, filed)
        n_expired = expired[0].shape[0] + (self.redress.today["n_records_expired"]
                                           if self.redress.enabled else 0)
        self.surveillance.step(day, events, seen, filed, n_expired, self.filing.n_pending)
        if self.breakdown is not None:
            self.breakdown.step(day, filed)
        self.abuse.measure(events, self.behaviour.speech, self.scoring.standing)
        self._society_metrics(day)
        self.credit_file.archive(filed)
        done("metrics")
        for (_, a), (phase, b) in zip(marks[:-1], marks[1:], strict=True):
            self.timings[phase] += b - a
        self.n_events += len(events)
        self.day += 1

    def _add_adaptation(self, scenario: Scenario) -> None:
        """Responses, redress and abuse: each off, allocating nothing per person, unless asked."""
        names = self.behaviour.names
        self.response = Response(
            scenario, self.society, self.seed, self.scoring.points,
            self.sanctions.list_trigger | self.sanctions.media_trigger,
            self.sanctions.shame_trigger, ties_of(self.society))
        self.redress = Redress(scenario, self.scoring.points, self.sanctions.list_trigger,
                               self.seed, self.days)
        self.abuse = Abuse(scenario, self.society, self.seed, self.observation.channel_of)
        per_behaviour = [f"n_events_{b}" for b in names]
        self._events_today = np.zeros(len(names), dtype=np.int64)
        self.metrics.add_columns(per_behaviour, lambda: dict(
            zip(per_behaviour, self._events_today.tolist(), strict=True)))
        if self.response.enabled:
            self.metrics.add_columns(["n_aware", "n_left_region"], lambda: {
                "n_aware": self.response.n_aware, "n_left_region": self.response.n_left})
        if self.redress.enabled:
            self.metrics.add_columns(list(REDRESS_COLUMNS), lambda: self.redress.today,
                                     floats=("repair_cost",))
        if self.abuse.enabled:
            self.metrics.add_columns(list(ABUSE_COLUMNS), lambda: self.abuse.today,
                                     floats=("targeted_mean_score",))

    def run(self, on_day: Callable[[int], None] | None = None,
            checkpoint_every: int | None = None,
            checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None) -> Simulation:
        """Run to the end; every `checkpoint_every` days hand `checkpoint` the state to keep."""
        if self.backend == "person":
            run_lives(self, on_day)
        while self.day < self.days:
            self.step()
            if on_day is not None:
                on_day(self.day)
            if checkpoint_every and self.day % checkpoint_every == 0 and self.day < self.days:
                checkpoint(self.state())
        self.credit_file.close()
        if self.sanctions.log is not None:
            self.sanctions.log.close()
        if self.day >= self.days:
            # the clocks are spent: free the calendar (most of a run's memory) before the
            # run's outputs are built, so that the two never stand in memory together
            self.behaviour.release()
        return self

    # checkpoints ------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Everything a resumed run needs that cannot be rebuilt from the scenario."""
        cal = self.behaviour.calendar.state()  # entries, days and payloads
        reviews = self.sanctions.reviews.state()
        st: dict[str, np.ndarray] = {
            "day": np.array(self.day), "n_events": np.array(self.n_events),
            "timings": np.array([self.timings[k] for k in self.timings]),
            "calendar_entries": cal["entries"], "calendar_days": cal["days"],
            "calendar_payload": cal["payload"],
            "standing": self.scoring.standing, "score_sum": np.array(self.scoring.score_sum.sum()),
            "suspended_until": self.sanctions.suspended_until,
            "true_listed_until": self.sanctions.true_listed_until,
            "review_entries": reviews["entries"], "review_days": reviews["days"],
            "review_payload": reviews["payload"],
            "counts": self.sanctions.counts, "delisted": np.array(self.sanctions.n_delisted),
            "delisted_before": np.array(self.metrics._delisted_before),
        }
        for col, values in self.metrics.table.items():
            st[f"metric:{col}"] = values[: self.day]
        for name, module in self._stateful().items():
            for key, value in module.state().items():
                st[f"{name}:{key}"] = value
        streams = {"records": self.credit_file.stream,
                   "sanctions": self.sanctions.log.stream if self.sanctions.log else None}
        for name, stream in streams.items():
            if stream is not None:
                done = stream.checkpoint()
                st[f"stream:{name}"] = np.array([done["n_rows"], done["n_parts"]])
        return st

    def _stateful(self) -> dict[str, object]:
        """Modules that keep their own state(), restore() pair for checkpoints."""
        modules = {"filing": self.filing, "surveillance": self.surveillance,
                   "breakdown": self.breakdown, "response": self.response,
                   "redress": self.redress, "firms": self.firms, "joint": self.joint,
                   "peer_rating": self.peer_rating}
        return {k: m for k, m in modules.items() if m is not None}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        """Continue from a `state()` taken earlier (the runs layer reads and writes it)."""
        self.day, self.n_events = int(st["day"]), int(st["n_events"])
        for k, v in zip(list(self.timings), st["timings"], strict=True):
            self.timings[k] = float(v)
        self.behaviour.calendar.restore({"entries": st["calendar_entries"],
                                         "days": st["calendar_days"],
                                         "payload": st["calendar_payload"]})
        self.scoring.standing[:] = st["standing"]
        self.scoring.score_sum[:] = 0
        self.scoring.score_sum[0] = st["score_sum"]
        self.sanctions.suspended_until[:] = st["suspended_until"]
        self.sanctions.true_listed_until[:] = st["true_listed_until"]
        self.sanctions.reviews.restore({"entries": st["review_entries"],
                                        "days": st["review_days"],
                                        "payload": st["review_payload"]})
        self.sanctions.counts_by_shard[:] = 0
        self.sanctions.counts_by_shard[0] = st["counts"]
        self.sanctions.delisted_by_shard[:] = 0
        self.sanctions.delisted_by_shard[0] = st["delisted"]
        self.metrics._delisted_before = int(st["delisted_before"])
        for col, values in self.metrics.table.items():
            values[: self.day] = st[f"metric:{col}"]
        for name, module in self._stateful().items():
            prefix = f"{name}:"
            module.restore({k[len(prefix):]: v for k, v in st.items() if k.startswith(prefix)})
        streams = {"records": self.credit_file.stream,
                   "sanctions": self.sanctions.log.stream if self.sanctions.log else None}
        for name, stream in streams.items():
            if stream is not None and f"stream:{name}" in st:
                n_rows, n_parts = st[f"stream:{name}"]
                stream.restore({"n_rows": n_rows, "n_parts": n_parts})

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
        return self.surveillance.join(self.metrics.frame(self.day))

    def breakdown_frame(self) -> pd.DataFrame | None:
        """Daily outcomes by trait level, for scenarios that ask (metrics.breakdown)."""
        return self.breakdown.frame(self.day) if self.breakdown is not None else None

    def _people_columns(self) -> dict[str, object]:
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
        if self.response.enabled:
            cols["aware"] = self.response.aware
            cols["left_region"] = self.response.left_region
            cols["risk_multiplier"] = self.response.risk.astype(np.float32) / RISK_ONE
        if self.abuse.enabled:
            cols["targeted"] = np.isin(cols["id"], self.abuse.targets)
        self._society_people(cols, status)
        return cols

    def people_table(self) -> pa.Table:
        """people() as an Arrow table: numeric columns without a copy, nothing consolidated."""
        return pa.table({k: pa.array(v) for k, v in self._people_columns().items()})

    def people(self) -> pd.DataFrame:
        """The final state of each person."""
        return pd.DataFrame(self._people_columns())

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
            "filing": self.filing.nbytes,
            "response": self.response.nbytes,
            "redress": self.redress.withdrawals.nbytes if self.redress.enabled else 0,
            "firms": self.firms.nbytes if self.firms is not None else 0,
            "peer_rating": self.peer_rating.nbytes if self.peer_rating is not None else 0,
        }
