"""Metrics: the day's row, and the table of rows that becomes timeseries.parquet.

Each module names its columns (Module.columns) and puts its values into the
day's row (Module.measure); the engine collects them in one table, in the
order engine.TIMESERIES gives. This module fills the headline columns, read
from counts the other modules keep incrementally: docs/reference-model.md's daily
metrics first, under exactly those names. Column names are a public
interface: add columns, never rename them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scoresim.model.module import Module, Today
from scoresim.model.rulebook import (
    BANNED,
    C_BANNED,
    C_CONSUMPTION,
    C_LISTED,
    C_SUSPENDED,
    C_WRONGLY,
    CONSUMPTION_BANNED,
)
from scoresim.model.world import World

BAN_BITS = {"travel_ban": BANNED, "consumption_ban": CONSUMPTION_BANNED}


class Table:
    """The timeseries as it fills: one array per column, one entry per day."""

    def __init__(self, days: int):
        self.days = days
        self.columns: dict[str, np.ndarray] = {}

    def add(self, columns: list[str], floats: tuple[str, ...] = ()) -> None:
        for c in columns:
            if c in self.columns:
                raise ValueError(f"timeseries column {c} named twice")
            self.columns[c] = np.zeros(self.days, dtype=np.float64 if c in floats else np.int64)

    def write(self, day: int, row: dict[str, Any]) -> None:
        for c, v in row.items():
            self.columns[c][day] = v

    def __getitem__(self, column: str) -> np.ndarray:
        return self.columns[column]

    def frame(self, days_done: int) -> pd.DataFrame:
        return pd.DataFrame({c: v[:days_done] for c, v in self.columns.items()})

    def state(self, days_done: int) -> dict[str, np.ndarray]:
        return {c: v[:days_done] for c, v in self.columns.items()}

    def restore(self, st: dict[str, np.ndarray], days_done: int) -> None:
        for c, v in self.columns.items():
            v[:days_done] = st[c]


class Metrics(Module):
    """The headline columns: scores, grades, bans, records, events, shaming, the list's flows."""

    name = "metrics"

    def __init__(self, world: World):
        super().__init__(world)
        scenario = world.scenario
        self.scoring = world.module("scoring")
        self.sanctions = world.module("sanctions")
        self.speech = np.array([b.speech for b in scenario.behaviours.values()], dtype=np.bool_)
        self.grade_names = self.scoring.grade_names
        names = list(scenario.behaviours)
        # behaviours a ban stops (a ticket purchase by a banned person is blocked)
        self.blockable = [name for name, b in scenario.behaviours.items() if b.blocked_by]
        self.block_index = [(names.index(name), BAN_BITS[scenario.behaviours[name].blocked_by])
                            for name in self.blockable]
        self.rewards = [(r.name, [self.grade_names.index(g) for g in r.grades])
                        for r in scenario.rewards]
        self._delisted_before = 0

    def columns(self) -> list[str]:
        return ["day", "mean_score"] + [f"n_grade_{g}" for g in self.grade_names] + [
            "n_travel_banned", "n_dishonest", "n_wrongly_banned", "n_records",
            "n_false_records", "n_events", "n_speech_events", "n_consumption_banned",
            "n_media_suspended", "n_shamed", "n_shamed_wrongly", "n_delisted",
            "n_newly_listed", "n_repaid",
        ] + [f"n_blocked_{name}" for name in self.blockable] + [
            f"n_rewarded_{name}" for name, _ in self.rewards
        ]

    def float_columns(self) -> tuple[str, ...]:
        return ("mean_score",)

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        events, records, sanctions = today.events, today.filed, self.sanctions
        row["day"] = today.day
        row["mean_score"] = self.scoring.mean_score()
        row.update(self.stock_columns(sanctions.counts))  # summed over shards once a day
        row["n_records"] = len(records)
        row["n_false_records"] = len(records) - int(records.correct.sum())
        row["n_events"] = len(events)
        per_behaviour = events.per_behaviour(self.speech.shape[0])
        row["n_speech_events"] = int(per_behaviour[self.speech].sum())
        row["n_shamed"] = sanctions.n_shamed
        row["n_shamed_wrongly"] = sanctions.n_shamed_wrongly
        delisted = sanctions.n_delisted
        row["n_delisted"] = delisted - self._delisted_before
        self._delisted_before = delisted
        row["n_newly_listed"] = sanctions.n_newly_listed
        row["n_repaid"] = sanctions.n_repaid
        status = sanctions.status[events.actor] if self.block_index and len(events) else None
        for (b, bit), name in zip(self.block_index, self.blockable, strict=True):
            hit = 0
            if status is not None:  # the ban as it stands at the end of the day
                hit = int(np.count_nonzero((events.behaviour == b) & ((status & bit) != 0)))
            row[f"n_blocked_{name}"] = hit

    def stock_columns(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        """The columns read from the sanctions counts: grades, bans, lists, rewards.

        `counts` is one day's counts (rulebook.N_COUNTS) or a day-by-count table;
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

    def state(self) -> dict[str, np.ndarray]:
        return {"delisted_before": np.array(self._delisted_before)}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self._delisted_before = int(st["delisted_before"])
