"""Metrics: the day's row, read from counts the other modules keep incrementally.

Column names are a public interface (REFERENCE_MODEL.md's daily metrics come
first, under exactly those names); add columns, never rename them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoresim.model.behaviour import Events
from scoresim.model.observation import Records
from scoresim.model.sanctions import (
    BANNED,
    C_BANNED,
    C_CONSUMPTION,
    C_LISTED,
    C_SUSPENDED,
    C_WRONGLY,
    CONSUMPTION_BANNED,
    Sanctions,
)
from scoresim.model.scoring import Scoring
from scoresim.scenario.schema import Scenario

BAN_BITS = {"travel_ban": BANNED, "consumption_ban": CONSUMPTION_BANNED}


class Metrics:
    name = "metrics"

    def __init__(self, scenario: Scenario, scoring: Scoring, sanctions: Sanctions, n: int,
                 days: int, speech: np.ndarray):
        self.n = n
        self.scoring = scoring
        self.sanctions = sanctions
        self.speech = speech
        self.grade_names = scoring.grade_names
        # behaviours a ban stops (a ticket purchase by a banned person is blocked)
        self.blockable = [name for name, b in scenario.behaviours.items() if b.blocked_by]
        self.block_index = [(list(scenario.behaviours).index(name),
                             BAN_BITS[scenario.behaviours[name].blocked_by])
                            for name in self.blockable]
        self.rewards = [(r.name, [scoring.grade_names.index(g) for g in r.grades])
                        for r in scenario.rewards]
        cols = ["day", "mean_score"] + [f"n_grade_{g}" for g in self.grade_names] + [
            "n_travel_banned", "n_dishonest", "n_wrongly_banned", "n_records",
            "n_false_records", "n_events", "n_speech_events", "n_consumption_banned",
            "n_media_suspended", "n_shamed", "n_shamed_wrongly", "n_delisted",
            "n_newly_listed", "n_repaid",
        ] + [f"n_blocked_{name}" for name in self.blockable] + [
            f"n_rewarded_{name}" for name, _ in self.rewards
        ]
        self.columns = cols
        self.table = {c: np.zeros(days, dtype=np.float64 if c == "mean_score" else np.int64)
                      for c in cols}
        self._delisted_before = 0
        self._sources: list[tuple[list[str], object]] = []

    def add_columns(self, columns: list[str], row=None, floats: tuple[str, ...] = ()) -> None:
        """Columns another module fills: `row()` gives the day's value of each, by name;
        without `row`, the module writes into `table` itself (society: collateral, firms)."""
        for c in columns:
            self.table[c] = np.zeros(self.table["day"].shape[0],
                                     dtype=np.float64 if c in floats else np.int64)
        self.columns += list(columns)
        if row is not None:
            self._sources.append((list(columns), row))

    def step(self, day: int, events: Events, records: Records) -> None:
        t = self.table
        counts = self.sanctions.counts  # summed over shards once a day
        t["day"][day] = day
        t["mean_score"][day] = self.scoring.mean_score(self.n)
        for col, value in self.stock_columns(counts).items():
            t[col][day] = value
        t["n_records"][day] = len(records)
        t["n_false_records"][day] = len(records) - int(records.correct.sum())
        t["n_events"][day] = len(events)
        per_behaviour = events.per_behaviour(self.speech.shape[0])
        t["n_speech_events"][day] = int(per_behaviour[self.speech].sum())
        t["n_shamed"][day] = self.sanctions.n_shamed
        t["n_shamed_wrongly"][day] = self.sanctions.n_shamed_wrongly
        delisted = self.sanctions.n_delisted
        t["n_delisted"][day] = delisted - self._delisted_before
        self._delisted_before = delisted
        t["n_newly_listed"][day] = self.sanctions.n_newly_listed
        t["n_repaid"][day] = self.sanctions.n_repaid
        if self.block_index and len(events):
            status = self.sanctions.status[events.actor]
            for (b, bit), name in zip(self.block_index, self.blockable, strict=True):
                hit = (events.behaviour == b) & ((status & bit) != 0)
                t[f"n_blocked_{name}"][day] = int(np.count_nonzero(hit))
        for columns, row in self._sources:
            values = row()
            for c in columns:
                t[c][day] = values[c]

    def stock_columns(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        """The columns read from the sanctions counts: grades, bans, lists, rewards.

        `counts` is one day's counts (sanctions.N_COUNTS) or a day-by-count table;
        the person backend (lives.py) fills a whole run's columns with it at once.
        """
        cols = {f"n_grade_{name}": counts[..., g] for g, name in enumerate(self.grade_names)}
        cols["n_travel_banned"] = counts[..., C_BANNED]
        cols["n_dishonest"] = counts[..., C_LISTED]
        cols["n_wrongly_banned"] = counts[..., C_WRONGLY]
        cols["n_consumption_banned"] = counts[..., C_CONSUMPTION]
        cols["n_media_suspended"] = counts[..., C_SUSPENDED]
        for name, grades in self.rewards:
            cols[f"n_rewarded_{name}"] = counts[..., grades].sum(axis=-1)
        return cols

    def frame(self, days_done: int) -> pd.DataFrame:
        return pd.DataFrame({c: v[:days_done] for c, v in self.table.items()})
