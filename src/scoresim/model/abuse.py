"""Abuse: an authority that targets chosen people, and whether an auditor could tell.

Liu Hu, an investigative journalist, was put on the dishonest list after
accusing officials of corruption (docs/facts.md). Here an authority picks its
targets, either by a trait (e.g. occupation: journalist) or as the people
most inclined to a behaviour (e.g. the most outspoken critics of the
government), and then downgrades them by hand and/or fabricates records
against them. Fabricated records go through the same credit file, scoring,
sanctions and appeals as any other (with `true_actor = -1`: nobody did it),
so their harm is measured the same way.

`audit` asks what an outside auditor who sees only the published daily
aggregates (timeseries.parquet) could detect: a robust z-score of each
column's day-to-day change against its usual variation.
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np
import pandas as pd

from scoresim.model.module import Module, Today
from scoresim.model.observation import FABRICATED, Records
from scoresim.model.random import propensity_z, stream_key
from scoresim.model.rulebook import BANNED, LISTED
from scoresim.model.standing import FALSE_POINTS, SCORE, STATUS
from scoresim.model.world import World

COLUMNS = ("n_targeted", "targeted_mean_score", "n_targeted_banned", "n_targeted_listed",
           "n_targeted_speech_events")


class Abuse(Module):
    """The targets, and what is done to them on which day."""

    name = "abuse"

    section = "abuse"
    interacts = True

    def __init__(self, world: World):
        super().__init__(world)
        scenario, society, seed = world.scenario, world.society, world.seed
        a = scenario.abuse
        self.standing = world.standing
        self.speech = np.array([b.speech for b in scenario.behaviours.values()], dtype=np.bool_)
        self.today = dict.fromkeys(COLUMNS, 0)
        names = list(scenario.behaviours)
        if a.target == "trait":
            level = society.levels[a.trait].index(a.level)
            self.targets = np.flatnonzero(society.trait(a.trait) == level)[:a.count]
        else:
            key = stream_key(seed, "society", f"propensity:{a.behaviour}")
            z = _propensity_z(key, society.n)  # the multiplier is increasing in z
            k = min(a.count, society.n)
            top = np.argpartition(-z, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
            self.targets = np.sort(top)
        self.targets = self.targets.astype(np.int64)
        self.start = a.start_day
        self.downgrade = a.downgrade_points
        self.fabricated = names.index(a.fabricated_behaviour) if a.fabricated_behaviour else -1
        channel_of = world.module("observation").channel_of
        self.fab_channel = int(channel_of[self.fabricated]) if self.fabricated >= 0 else -1
        self.every = a.fabricate_every_days
        # spread over days, so that no single day shows a jump an auditor could see
        self.phase = np.arange(self.targets.shape[0], dtype=np.int64) % a.spread_days

    def _due(self, day: int, every: int) -> np.ndarray:
        """Targets acted on today: target k from start_day + phase[k], then every `every` days."""
        since = day - self.start - self.phase
        return self.targets[(since >= 0) & (since % every == 0)]

    def fabricate(self, today: Today) -> None:
        """Today's records plus those fabricated against the targets."""
        day = today.day
        if self.fabricated < 0 or self.fab_channel < 0 or day < self.start:
            return
        due = self._due(day, self.every)
        k = due.shape[0]
        if k == 0:
            return
        made_up = Records(
            day, due.astype(np.int64), np.full(k, -1, np.int64),
            np.full(k, self.fabricated, np.uint8), np.full(k, self.fab_channel, np.uint8),
            np.zeros(k, np.bool_), np.zeros(k, np.int32),
            error=np.full(k, FABRICATED, np.uint8),
        )
        today.seen = Records.concat(day, [today.seen, made_up])

    def downgrade_by_hand(self, today: Today) -> None:
        """Take points off each target on its first day; they are judged again."""
        day = today.day
        if self.downgrade == 0 or day < self.start:
            return
        standing, score_sum = self.standing.rows, self.standing.score_sum
        due = self.targets[self.phase == day - self.start]
        standing[due, SCORE] += self.downgrade
        standing[due, FALSE_POINTS] += self.downgrade
        score_sum[0] += np.int64(self.downgrade) * due.shape[0]
        today.rejudge.append(due)

    def columns(self) -> list[str]:
        return list(COLUMNS)

    def float_columns(self) -> tuple[str, ...]:
        return ("targeted_mean_score",)

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        """What the day did to the targets: measured on the day itself, from its events."""
        events, standing = today.events, self.standing.rows
        t = self.targets
        st = standing[t, STATUS]
        said = events.actor[self.speech[events.behaviour]] if len(events) else np.zeros(0, np.int64)
        pos = np.searchsorted(t, said)
        hit = (pos < t.shape[0]) & (t[np.minimum(pos, max(t.shape[0] - 1, 0))] == said) \
            if t.shape[0] else np.zeros(said.shape[0], np.bool_)
        row.update({
            "n_targeted": int(t.shape[0]),
            "targeted_mean_score": float(standing[t, SCORE].mean()) if t.shape[0] else math.nan,
            "n_targeted_banned": int(((st & BANNED) != 0).sum()),
            "n_targeted_listed": int(((st & LISTED) != 0).sum()),
            "n_targeted_speech_events": int(hit.sum()),
        })

    def people(self) -> dict[str, Any]:
        return {"targeted": np.isin(np.arange(self.world.n, dtype=np.int64), self.targets)}


@nb.njit(parallel=True, cache=True)
def _propensity_z(key, n):
    z = np.empty(n, dtype=np.float64)
    for i in nb.prange(n):
        z[i] = propensity_z(key, np.uint64(i))
    return z


def audit(timeseries: pd.DataFrame, columns: list[str] | None = None,
          threshold: float = 5.0) -> pd.DataFrame:
    """What an auditor who sees only the published aggregates could flag.

    For each column, the day-to-day changes are compared with their own usual
    spread (median and 1.4826 x median absolute deviation, robust to the spike
    being looked for); the largest robust z-score and its day are reported, and
    `flagged` says whether it passes `threshold`. Run it on a paired run without
    abuse to see the false-alarm level.
    """
    if columns is None:
        columns = [c for c in ("mean_score", "n_dishonest", "n_travel_banned", "n_grade_D",
                               "n_grade_C", "n_media_suspended", "n_wrongly_banned")
                   if c in timeseries.columns]
    rows = []
    for c in columns:
        x = timeseries[c].to_numpy(dtype=np.float64)
        d = np.diff(x)
        if d.shape[0] < 3:
            rows.append({"column": c, "max_z": math.nan, "day": -1, "flagged": False})
            continue
        med = np.median(d)
        mad = 1.4826 * np.median(np.abs(d - med))
        scale = mad if mad > 0 else max(np.std(d), 1e-12)
        if np.issubdtype(timeseries[c].dtype, np.integer):
            scale = max(scale, 1.0)  # a count moves by whole people: one is never a signal
        z = np.abs(d - med) / scale
        k = int(np.argmax(z))
        rows.append({"column": c, "max_z": float(z[k]), "day": int(timeseries["day"].iloc[k + 1]),
                     "flagged": bool(z[k] > threshold)})
    return pd.DataFrame(rows)
