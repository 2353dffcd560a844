"""The simulation: one society, its modules, and the plan of the day they go through in order.

A day, top to bottom (PLAN below is that list, and the engine loops over it):

    behaviour    who really did what today
    dissent      each person's best dissent under the authority's policy; speech thinned to it
    response     the aware hold back: deterrence, chilled speech, acts for points
    observation  what the channels saw, with errors, each record keeping its truth;
                 captures dodged; records fabricated against targets
    credit file  the records filed under their subjects (late ones when due)
    scoring      points and scores
    redress      each record's way out decided (expiry, repair, appeal); today's
                 expiries and withdrawals leave the score; downgrades by hand
    sanctions    peer ratings; lists, bans, suspensions, shaming; who is sanctioned
                 wrongly; everyone whose standing moved is judged again
    society      firms' own events; joint punishment of today's listings
    response     experience: perceived risk, awareness spreading
    metrics      the day's row (every module's columns); breakdowns; the credit file kept

Every box is a module of one shape (module.py). A step names its phase (for
the timings), the module and the method; steps of modules the scenario does
not have are left out when the plan is built, so `Simulation.plan` is exactly
what a run does. Modules hand each other the day's data (`Today`), never
their private fields.

Two backends compute this (backends.py): the day loop below, and the person
backend (lives.py), which lives each person's whole run at once where people
do not interact, with the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from scoresim.model.abuse import Abuse
from scoresim.model.behaviour import Behaviour
from scoresim.model.credit_file import CreditFile
from scoresim.model.dissent_choice import DissentChoice
from scoresim.model.firms import Firms
from scoresim.model.joint_punishment import JointPunishment
from scoresim.model.lives import Spread, run_lives
from scoresim.model.metrics import Metrics, Table
from scoresim.model.module import Module, Today
from scoresim.model.observation import Observation
from scoresim.model.opinion import Opinion
from scoresim.model.peer_rating import PeerRating
from scoresim.model.redress import Redress
from scoresim.model.response import Response
from scoresim.model.sanctions import Sanctions
from scoresim.model.scoring import Scoring
from scoresim.model.society import Society
from scoresim.model.streams import OpenStream
from scoresim.model.surveillance_metrics import Breakdown, SurveillanceMetrics
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario

# Every module, in the order they are built (a module may ask for those before it).
# The calendar of clocks (behaviour) comes first: building it takes temporaries of a
# million people x behaviours, and the peak is lower before the other arrays exist.
MODULES: tuple[type[Module], ...] = (
    Behaviour, Observation, CreditFile, Scoring, Sanctions, Metrics, SurveillanceMetrics,
    Breakdown, Response, DissentChoice, Redress, Abuse, Firms, JointPunishment, PeerRating,
    Opinion,
)


@dataclass(frozen=True)
class Step:
    phase: str  # what its time counts as (timings)
    module: str
    method: str
    what: str
    after: str | None = None  # a module whose work this step finishes (dropped without it)


# The plan of the day. Steps run in this order; those of absent modules are dropped.
PLAN: tuple[Step, ...] = (
    Step("behaviour", "behaviour", "step", "who really did what today"),
    Step("response", "dissent", "step", "each person's best dissent under the authority's "
         "policy (a new round: the authority may move); critical speech thinned to it"),
    Step("response", "response", "thin", "aware people forgo some acts"),
    Step("observation", "observation", "step", "what the channels recorded, with errors"),
    Step("observation", "response", "avoid", "captures dodged, leavers unseen"),
    Step("observation", "abuse", "fabricate", "records made up against targets"),
    Step("credit_file", "credit_file", "step", "today's records filed (late ones when due)"),
    Step("scoring", "scoring", "step", "points and scores"),
    Step("redress", "redress", "decide", "each negative or wrong record's way out"),
    Step("redress", "credit_file", "expire", "records whose window ends today"),
    Step("redress", "scoring", "withdraw", "expired records' points leave the score"),
    Step("redress", "redress", "step", "repaired and appealed records withdrawn"),
    Step("redress", "abuse", "downgrade_by_hand", "targets downgraded by hand"),
    Step("sanctions", "peer_rating", "step", "ratings along ties"),
    Step("sanctions", "sanctions", "step", "lists, suspensions, shaming; status re-derived"),
    Step("society", "firms", "step", "firms' own events and blacklist"),
    Step("society", "joint_punishment", "step", "today's listings reach families and firms"),
    Step("society", "sanctions", "rejudge", "the status of those it reached",
         after="joint_punishment"),
    Step("response", "response", "learn", "perceived risk and awareness"),
    Step("metrics", "opinion", "step", "approval moved by the day's records"),
    Step("metrics", "engine", "measure", "the day's row: every module's columns"),
    Step("metrics", "breakdown", "step", "outcomes by trait level"),
    Step("metrics", "credit_file", "archive", "today's records into the credit file"),
)
PHASES = ("behaviour", "observation", "credit_file", "scoring", "sanctions", "metrics")
# phases of modules a scenario may leave off, timed apart
OPTIONAL_PHASES = ("response", "redress", "society")
# the timeseries, in this order of the modules' columns
TIMESERIES = ("metrics", "behaviour", "response", "dissent", "redress", "abuse", "sanctions",
              "joint_punishment", "firms", "peer_rating", "surveillance",
              "opinion", "observation")


class Simulation:
    """A scenario built on a synthetic society, ready to run day by day."""

    def __init__(self, scenario: Scenario, open_stream: OpenStream | None = None,
                 backend: str = "day", *, modules: tuple[type[Module], ...] = MODULES,
                 plan: tuple[Step, ...] = PLAN, timeseries: tuple[str, ...] = TIMESERIES,
                 society: Society | None = None, block: int | None = None):
        """`open_stream` receives the credit file and sanctions log as they are written
        (runs/ gives it a run folder's files); without one, neither is kept.

        `modules`, `plan` and `timeseries` default to this file's; a study may pass its
        own (a module of its own, a step for it, its columns' place) without editing it.

        `society`: a Society built for this scenario's people, shared by many runs that
        vary only what the society does not depend on (a sensitivity study's members of
        one seed); the run's outputs are byte-identical to those of a run that builds its
        own. None builds one.

        `block`: the person backend lives the people in blocks of this many (lives.py),
        so that memory grows with the block, not with the population; `run` then hands
        each block's rows of people.parquet to its `people_out`. None (or n and more):
        everyone at once. The outputs are the same bytes for any block.
        """
        if block is not None and backend != "person":
            raise ValueError("block: only the person backend lives people in blocks")
        self.block = block if block is not None and block < scenario.agents else None
        self.scenario = scenario
        self.backend = backend
        self.n = scenario.agents
        self.days = scenario.days
        self.timings = dict.fromkeys(("build",) + PHASES + OPTIONAL_PHASES, 0.0)
        t0 = time.perf_counter()
        self.world = world = World(scenario, open_stream, backend, society, self.block)
        self.society = world.society
        for cls in modules:
            if cls.enabled(scenario):
                world.modules[cls.name] = cls(world)
        self.modules = world.modules
        self.plan = [step for step in plan
                     if (step.module == "engine" or step.module in self.modules)
                     and (step.after is None or step.after in self.modules)]
        self._bound = [(s.phase, self._measure if s.module == "engine"
                        else getattr(self.modules[s.module], s.method)) for s in self.plan]
        self.table = Table(self.days)
        for name in timeseries:
            if name in self.modules:
                m = self.modules[name]
                self.table.add(m.columns(), m.float_columns())
        self._measured = [self.modules[name] for name in timeseries if name in self.modules]
        self.day = 0
        self.n_events = 0
        self.timings["build"] = time.perf_counter() - t0

    # the modules every scenario has, by name
    @property
    def behaviour(self) -> Behaviour:
        return self.modules["behaviour"]

    @property
    def observation(self) -> Observation:
        return self.modules["observation"]

    @property
    def credit_file(self) -> CreditFile:
        return self.modules["credit_file"]

    @property
    def scoring(self) -> Scoring:
        return self.modules["scoring"]

    @property
    def sanctions(self) -> Sanctions:
        return self.modules["sanctions"]

    @property
    def metrics(self) -> Metrics:
        return self.modules["metrics"]

    @property
    def surveillance(self) -> SurveillanceMetrics:
        return self.modules["surveillance"]

    def describe_plan(self) -> str:
        """The plan of the day, as the run does it: one line a step."""
        return "\n".join(f"{k + 1:>2}. {s.phase:<12} {s.module}.{s.method}: {s.what}"
                         for k, s in enumerate(self.plan))

    def step(self) -> Today:
        """One day: all of it is drawn, observed and filed first, then judged, then counted."""
        today = Today(self.day)
        clock = time.perf_counter
        timings = self.timings
        changed = self.world.timeline.changes_on(self.day)
        if changed:  # a timeline change starts today: every module hears of it first
            t0 = clock()
            for module in self.modules.values():
                module.on_change(today, changed)
            timings["behaviour"] += clock() - t0
        for phase, run in self._bound:
            t0 = clock()
            run(today)
            timings[phase] += clock() - t0
        self.n_events += len(today.events)
        self.day += 1
        return today

    def _measure(self, today: Today) -> None:
        row: dict[str, Any] = {}
        for module in self._measured:
            module.measure(today, row)
        self.table.write(today.day, row)

    def run(self, on_day: Callable[[int], None] | None = None,
            checkpoint_every: int | None = None,
            checkpoint: Callable[[dict[str, np.ndarray]], None] | None = None,
            people_out: Callable[[pa.Table], None] | None = None,
            on_block: Callable[[int], None] | None = None,
            on_scan: Callable[[int], None] | None = None,
            spread: Spread | None = None) -> Simulation:
        """Run to the end; every `checkpoint_every` days hand `checkpoint` the state to keep.

        In blocks (`block`), `people_out` receives people.parquet's rows block after block,
        in order, and `on_block(k)` is called when k blocks are done; before the first,
        `on_scan(k)` as k of lives.SCAN_STEPS slices of the people have had their false
        matches found. `spread`: where the blocks are computed (lives.Spread: on Dask
        workers, studies/cluster_run.py); None: here.
        """
        if spread is not None and self.block is None:
            raise ValueError("spread: only a run in blocks computes its work elsewhere")
        if self.backend == "person" and self.block is not None:
            if people_out is None:
                raise ValueError("a run in blocks needs people_out for its people's rows")

            def block_done(lo: int, hi: int, people: pa.Table | None) -> None:
                t0 = time.perf_counter()  # timed apart (within "lives")
                people_out(people if people is not None else self.people_table(lo, hi))
                self.timings["people"] = self.timings.get("people", 0.0) + \
                    time.perf_counter() - t0

            run_lives(self, on_day, self.block, block_done, on_block, on_scan, spread)
        elif self.backend == "person":
            run_lives(self, on_day)
        while self.day < self.days:
            self.step()
            if on_day is not None:
                on_day(self.day)
            if checkpoint_every and self.day % checkpoint_every == 0 and self.day < self.days:
                checkpoint(self.state())
        self.credit_file.close()
        self.sanctions.close()
        if self.day >= self.days:
            # the clocks are spent: free the calendar (most of a run's memory) before the
            # run's outputs are built, so that the two never stand in memory together
            self.behaviour.release()
        return self

    # checkpoints ------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Everything a resumed run needs that cannot be rebuilt from the scenario."""
        st: dict[str, np.ndarray] = {
            "day": np.array(self.day), "n_events": np.array(self.n_events),
            "timings": np.array([self.timings[k] for k in self.timings]),
        }
        for key, value in self.world.standing.state().items():
            st[f"standing:{key}"] = value
        for col, values in self.table.state(self.day).items():
            st[f"metric:{col}"] = values
        for name, module in self.modules.items():
            for key, value in module.state().items():
                st[f"{name}:{key}"] = value
        return st

    def restore(self, st: dict[str, np.ndarray]) -> None:
        """Continue from a `state()` taken earlier (the runs layer reads and writes it)."""
        self.day, self.n_events = int(st["day"]), int(st["n_events"])
        for k, v in zip(list(self.timings), st["timings"], strict=True):
            self.timings[k] = float(v)

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in st.items() if k.startswith(prefix)}

        self.world.standing.restore(part("standing:"))
        self.table.restore(part("metric:"), self.day)
        for name, module in self.modules.items():
            module.restore(part(f"{name}:"))

    # what the run leaves behind -------------------------------------------------
    def timeseries(self) -> pd.DataFrame:
        ts = self.table.frame(self.day)
        origin = self.scenario.origin
        if origin is not None:  # the date of each day, after the day (runs/columns.py)
            dates = np.datetime64(origin, "D") + ts["day"].to_numpy().astype("timedelta64[D]")
            ts.insert(1, "date", pd.Series(dates.astype("datetime64[s]"), index=ts.index))
        return ts

    def breakdown_frame(self) -> pd.DataFrame | None:
        """Daily outcomes by trait level, for scenarios that ask (metrics.breakdown)."""
        breakdown = self.modules.get("breakdown")
        return breakdown.frame(self.day) if breakdown is not None else None

    def frames(self) -> dict[str, pd.DataFrame]:
        """The society's extra tables: firms.parquet, firm_records.parquet, collateral.parquet."""
        out: dict[str, pd.DataFrame] = {}
        for module in self.modules.values():
            out.update(module.tables())
        return out

    def _people_columns(self, lo: int = 0, hi: int | None = None) -> dict[str, object]:
        """people.parquet's columns: the person, their standing and sanctions, then what
        the scenario's other modules and the society add, in that order.

        lo..hi: a block of people, while the standing holds that block's rows (a run in
        blocks, lives.py; its modules' people() read the standing alone)."""
        soc = self.society
        hi = self.n if hi is None else hi
        cols: dict[str, object] = {"id": np.arange(lo, hi, dtype=np.int64),
                                   "group": soc.group[lo:hi]}
        cols.update(self.scoring.people())
        cols.update(soc.trait_columns(lo, hi))
        cols.update(self.sanctions.people())
        for name in ("response", "abuse"):
            if name in self.modules:
                cols.update(self.modules[name].people())
        cols.update(soc.people(self.world.rules.schemes, lo, hi))
        named = {"scoring", "sanctions", "response", "abuse", "firms", "joint_punishment"}
        for name in ("firms", "joint_punishment"):
            if name in self.modules:
                cols.update(self.modules[name].people())
        for name, module in self.modules.items():  # any other module's, in build order
            if name not in named:
                cols.update(module.people())
        return cols

    def people_table(self, lo: int = 0, hi: int | None = None) -> pa.Table:
        """people() as an Arrow table: numeric columns without a copy, nothing consolidated
        (of people lo..hi-1: see _people_columns)."""
        return pa.table({k: pa.array(v) for k, v in self._people_columns(lo, hi).items()})

    def people(self) -> pd.DataFrame:
        """The final state of each person."""
        return pd.DataFrame(self._people_columns())

    def memory_bytes(self) -> dict[str, int]:
        out = {"society": self.society.nbytes, "standing": self.world.standing.nbytes}
        for name, module in self.modules.items():
            out[name] = module.nbytes
        return out
