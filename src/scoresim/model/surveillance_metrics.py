"""What surveillance gets wrong, counted: errors by kind, channel quality, and who bears it.

Two tables, both kept from counts updated as events happen (never a scan over
people each day):

- daily columns joined to the timeseries: filed records by kind of error,
  records expired and pending, and (with `metrics: {channels: true}`) for
  every channel its true events, its records and its correct records on the
  day they were made, from which `Results.channel_quality()` gives precision
  (correct records / records) and recall (true events recorded correctly /
  true events);
- with `metrics: {breakdown: [group, sex, ...]}`, `breakdown.parquet`: one row
  per day, dimension and value (a trait and one of its levels), with records,
  wrongful records, travel bans, wrongful bans and shaming displays. Ban
  counts are stocks kept per level from the status changes the sanctions
  module reports, exactly as its own totals are kept.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import pandas as pd

from scoresim.model.module import Module, Today
from scoresim.model.observation import ERRORS, FALSE_MATCH
from scoresim.model.prefetch import AHEAD, prefetch
from scoresim.model.rulebook import BANNED, WRONGLY_BANNED
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario

BREAKDOWN_COLUMNS = ["n_people", "n_records", "n_wrongful_records", "n_false_match_records",
                     "n_travel_banned", "n_wrongly_banned", "n_shamed", "n_shamed_wrongly"]


# breakdown columns counted from records, and which record codes each one counts
# (code bit 1: wrongful, 2: false match, 4: shown)
RECORD_COLUMNS = [1, 2, 3, 6, 7]
CODE_COLUMNS = np.array([[1, (c & 1) != 0, (c & 2) != 0, (c & 4) != 0, (c & 5) == 5]
                         for c in range(8)], dtype=np.int64)
JOINT_MAX = 4096  # joint cells (product of the traits' levels) counted directly


class SurveillanceMetrics(Module):
    """Daily counts of errors by kind and, where asked, of each channel's quality."""

    name = "surveillance"

    def __init__(self, world: World):
        super().__init__(world)
        self.observation = world.module("observation")
        self.filing = world.module("credit_file").filing
        scenario = world.scenario
        self.channels = list(self.observation.channel_names) if scenario.metrics.channels else []

    def columns(self) -> list[str]:
        cols = [f"n_{e}_records" for e in ERRORS[1:]] + ["n_expired_records",
                                                         "n_pending_records"]
        for c in self.channels:
            cols += [f"n_true_events_{c}", f"n_seen_{c}", f"n_seen_correct_{c}"]
        return cols

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        filed, seen, events = today.filed, today.seen, today.events
        by_error = np.bincount(filed.error, minlength=len(ERRORS)) if len(filed) else \
            np.zeros(len(ERRORS), np.int64)
        for k, e in enumerate(ERRORS[1:], start=1):
            row[f"n_{e}_records"] = by_error[k]
        row["n_expired_records"] = today.n_expired
        row["n_pending_records"] = self.filing.n_pending
        if self.channels:
            n_c = len(self.channels)
            true = self.observation.true_events_by_channel(events)
            records = np.bincount(seen.channel, minlength=n_c)
            right = np.bincount(seen.channel, weights=seen.correct, minlength=n_c).astype(np.int64)
            for k, c in enumerate(self.channels):
                row[f"n_true_events_{c}"] = true[k]
                row[f"n_seen_{c}"] = records[k]
                row[f"n_seen_correct_{c}"] = right[k]


def channel_quality(timeseries: pd.DataFrame) -> pd.DataFrame:
    """Precision and recall of every channel over a run, from its daily channel columns."""
    names = [c[len("n_true_events_"):] for c in timeseries.columns
             if c.startswith("n_true_events_")]
    rows = []
    for c in names:
        true = int(timeseries[f"n_true_events_{c}"].sum())
        seen = int(timeseries[f"n_seen_{c}"].sum())
        right = int(timeseries[f"n_seen_correct_{c}"].sum())
        rows.append({"channel": c, "n_true_events": true, "n_records": seen,
                     "n_correct_records": right,
                     "precision": right / seen if seen else float("nan"),
                     "recall": right / true if true else float("nan")})
    return pd.DataFrame(rows, columns=["channel", "n_true_events", "n_records",
                                       "n_correct_records", "precision", "recall"])


class Breakdown(Module):
    """Daily outcomes per level of each asked-for trait, kept incrementally."""

    name = "breakdown"

    @classmethod
    def enabled(cls, scenario: Scenario) -> bool:
        return bool(scenario.metrics.breakdown)

    @classmethod
    def person_backend(cls, scenario: Scenario) -> list[str]:
        return ["metrics.breakdown: kept day by day only"]

    def __init__(self, world: World):
        super().__init__(world)
        scenario, society, days = world.scenario, world.society, world.days
        sanctions = world.module("sanctions")
        self.dims = list(scenario.metrics.breakdown)
        self.traits = [society.trait(d) for d in self.dims]
        self.levels = [society.levels[d] for d in self.dims]
        self.offset = np.cumsum([0] + [len(v) for v in self.levels])
        n_cells = int(self.offset[-1])
        sizes = [len(v) for v in self.levels]
        n_joint = int(np.prod(sizes)) if sizes else 1
        if n_joint <= JOINT_MAX:
            # one number per person for all traits together: a record is then one count
            # in a small table, and the levels of each trait are summed out once a day
            self.joint = np.zeros(society.n, dtype=np.uint8 if n_joint <= 256 else np.uint16)
            self.margin = np.zeros((n_cells, n_joint), dtype=np.int64)
            stride = 1
            for k in reversed(range(len(self.traits))):
                self.joint += (self.traits[k].astype(np.int64) * stride).astype(self.joint.dtype)
                level = (np.arange(n_joint) // stride) % sizes[k]
                self.margin[self.offset[k] + level, np.arange(n_joint)] = 1
                stride *= sizes[k]
            self.cells = None
        else:  # too many combinations: each person's level of every trait side by side
            wide = np.uint8 if all(n <= 256 for n in sizes) else np.uint16
            self.cells = np.ascontiguousarray(np.stack(self.traits, axis=1).astype(wide))
            self.joint = None
        self.shame = sanctions.shame_trigger if sanctions.shaming else None
        self.rules = sanctions.rules
        self.table = np.zeros((days, n_cells, len(BREAKDOWN_COLUMNS)), dtype=np.int64)
        self.in_level = np.zeros(n_cells, dtype=np.int64)  # people per trait level
        self.banned = np.zeros(n_cells, dtype=np.int64)
        self.wrongly = np.zeros(n_cells, dtype=np.int64)
        status = sanctions.status
        for k, tr in enumerate(self.traits):  # once, at the start: who is in which level
            lo, n_lv = self.offset[k], len(self.levels[k])
            self.in_level[lo:lo + n_lv] = np.bincount(tr, minlength=n_lv)
            self.banned[lo:lo + n_lv] = np.bincount(tr, weights=(status & BANNED) != 0,
                                                    minlength=n_lv).astype(np.int64)
            self.wrongly[lo:lo + n_lv] = np.bincount(
                tr, weights=(status & WRONGLY_BANNED) != 0, minlength=n_lv).astype(np.int64)

    def note(self, people: np.ndarray, before: np.ndarray, after: np.ndarray) -> None:
        """Status changes of re-judged people move the stocks of their levels."""
        flips = (before ^ after) & (BANNED | WRONGLY_BANNED)
        changed = np.flatnonzero(flips)
        if changed.shape[0] == 0:
            return
        who = people[changed].astype(np.int64)
        b, a = before[changed], after[changed]
        d_ban = ((a & BANNED) != 0).astype(np.int64) - ((b & BANNED) != 0)
        d_wrong = ((a & WRONGLY_BANNED) != 0).astype(np.int64) - ((b & WRONGLY_BANNED) != 0)
        for k, tr in enumerate(self.traits):
            cell = self.offset[k] + tr[who]
            np.add.at(self.banned, cell, d_ban)
            np.add.at(self.wrongly, cell, d_wrong)

    def step(self, today: Today) -> None:
        """Today's status changes move the stocks of their levels; then today's records."""
        for people, before, after in today.changes:
            self.note(people, before, after)
        day, filed = today.day, today.filed
        row = self.table[day]
        row[:, 0] = self.in_level
        row[:, 4] = self.banned
        row[:, 5] = self.wrongly
        row[:, [1, 2, 3, 6, 7]] = 0
        if len(filed) == 0:
            return
        shame = self.shame if self.shame is not None and self.rules.shaming_on(day) \
            else np.zeros(0, np.bool_)
        if self.joint is not None:
            by_code = _count_joint(filed.subject, filed.correct, filed.error, filed.behaviour,
                                   shame, self.joint, self.margin.shape[1],
                                   nb.get_num_threads())
            row[:, RECORD_COLUMNS] = self.margin @ by_code @ CODE_COLUMNS
            return
        row += _count_filed(filed.subject, filed.correct, filed.error, filed.behaviour, shame,
                            self.cells, self.offset.astype(np.int64), row.shape[0],
                            row.shape[1], nb.get_num_threads())

    def state(self) -> dict[str, np.ndarray]:
        return {"table": self.table, "people": self.in_level, "banned": self.banned,
                "wrongly": self.wrongly}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        for name, attr in (("table", "table"), ("people", "in_level"), ("banned", "banned"),
                           ("wrongly", "wrongly")):
            getattr(self, attr)[:] = st[name]

    def frame(self, days_done: int) -> pd.DataFrame:
        n_cells = self.table.shape[1]
        dims = np.concatenate([[d] * len(v) for d, v in zip(self.dims, self.levels, strict=True)])
        values = np.concatenate([list(v) for v in self.levels])
        out = pd.DataFrame({
            "day": np.repeat(np.arange(days_done, dtype=np.int32), n_cells),
            "dimension": pd.Categorical(np.tile(dims, days_done), categories=self.dims),
            "value": np.tile(values, days_done).astype(str),
        })
        flat = self.table[:days_done].reshape(days_done * n_cells, -1)
        for j, c in enumerate(BREAKDOWN_COLUMNS):
            out[c] = flat[:, j]
        return out


@nb.njit(parallel=True, cache=True)
def _count_joint(subject, correct, error, behaviour, shame, joint, n_joint, threads):
    """Today's filed records by joint cell and by code (wrong, false match, shown).

    Each thread counts its own slice into its own table; the tables are integers
    summed at the end, so the result does not depend on the schedule.
    """
    n = subject.shape[0]
    tables = np.zeros((threads, n_joint, 8), dtype=np.int64)
    per = (n + threads - 1) // threads
    for t in nb.prange(threads):
        _count_joint_slice(t * per, min(n, (t + 1) * per), subject, correct, error, behaviour,
                           shame, joint, tables[t])
    return tables.sum(axis=0)


@nb.njit(cache=True)
def _count_joint_slice(lo, hi, subject, correct, error, behaviour, shame, joint, table):
    shaming = shame.shape[0] > 0
    for r in range(lo, hi):
        if r + AHEAD < hi:  # the cell of a subject to come (prefetch.py)
            prefetch(joint, subject[r + AHEAD])
        code = (1 - np.int64(correct[r])) | (np.int64(error[r] == FALSE_MATCH) << 1)
        if shaming and shame[behaviour[r]]:
            code |= 4
        table[joint[subject[r]], code] += 1


@nb.njit(parallel=True, cache=True)
def _count_filed(subject, correct, error, behaviour, shame, cells, offset, n_cells, n_cols,
                 threads):
    """Today's filed records by level of each trait: all, wrongful, false matches, shown.

    Each thread counts its own slice of the records into its own table; the tables
    are integers summed at the end, so the result does not depend on the schedule.
    """
    n = subject.shape[0]
    tables = np.zeros((threads, n_cells, n_cols), dtype=np.int64)
    per = (n + threads - 1) // threads
    for t in nb.prange(threads):
        _count_slice(t * per, min(n, (t + 1) * per), subject, correct, error, behaviour,
                     shame, cells, offset, tables[t])
    return tables.sum(axis=0)


@nb.njit(cache=True)
def _count_slice(lo, hi, subject, correct, error, behaviour, shame, cells, offset, row):
    for r in range(lo, hi):
        if r + AHEAD < hi:  # the cells of a subject to come (prefetch.py)
            prefetch(cells, subject[r + AHEAD])
        s = subject[r]
        wrong = not correct[r]
        false_match = error[r] == FALSE_MATCH
        shown = shame.shape[0] > 0 and shame[behaviour[r]]
        for k in range(cells.shape[1]):
            c = offset[k] + cells[s, k]
            row[c, 1] += 1
            if wrong:
                row[c, 2] += 1
            if false_match:
                row[c, 3] += 1
            if shown:
                row[c, 6] += 1
                if wrong:
                    row[c, 7] += 1


def empty_breakdown() -> pd.DataFrame:
    cols: dict[str, object] = {"day": pd.Series([], dtype=np.int32),
                               "dimension": pd.Series([], dtype=str),
                               "value": pd.Series([], dtype=str)}
    cols.update({c: pd.Series([], dtype=np.int64) for c in BREAKDOWN_COLUMNS})
    return pd.DataFrame(cols)
