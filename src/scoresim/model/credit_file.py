"""The credit file: every record filed under its subject, kept with its truth.

The file is the audit trail. Scores, grades and sanctions must be explainable
from it alone, so it is streamed to `records.parquet` in row groups as the run
goes (never held whole in memory): all of it, the whole files of a random
sample of people, or none.

Each row keeps its truth (true actor, correct, the kind of error behind it)
and its life in the file: the day it was made, the day it was filed (later
for channels that file late), its category and the first day it no longer
counts (`expires_day`, 2147483647 for never) and why it stops counting then
(`expires_by`: its publication window, repair, paid repair or a won appeal:
a won appeal against a record that listed its subject also ends the listing,
which is why explain needs to know). A person's score is the initial
score plus the points of their records with `expires_day` after the day
asked about: an expired record stays in the file, as in a real audit trail.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from scoresim.model.filing import Filing
from scoresim.model.module import Module, Today
from scoresim.model.observation import ERRORS, EXPIRES_BY, Records
from scoresim.model.random import stream_key, uniforms
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario

RECORD_SCHEMA = pa.schema(
    [
        ("day", pa.int32()),
        ("subject", pa.int64()),
        ("behaviour", pa.dictionary(pa.int8(), pa.string())),
        ("channel", pa.dictionary(pa.int8(), pa.string())),
        ("points", pa.int32()),
        ("true_actor", pa.int64()),
        ("correct", pa.bool_()),
        ("filed_day", pa.int32()),
        ("error", pa.dictionary(pa.int8(), pa.string())),
        ("category", pa.dictionary(pa.int8(), pa.string())),
        ("expires_day", pa.int32()),
        ("expires_by", pa.dictionary(pa.int8(), pa.string())),
    ]
)


def kept_in_sample(seed: int, share: float, people: np.ndarray) -> np.ndarray:
    """Whether each person's whole file is kept under `records: sample` (a keyed draw, so
    explain and the report can tell whose files a run kept without the run)."""
    key = stream_key(seed, "credit_file", "sample")
    return uniforms(key, np.asarray(people, dtype=np.int64), np.uint64(0)) < share


class CreditFile(Module):
    """Files each day's records (late ones when due), retires expired ones, keeps the file."""

    name = "credit_file"

    def __init__(self, world: World):
        super().__init__(world)
        scenario = world.scenario
        self.behaviour_names = pa.array(list(scenario.behaviours), pa.string())
        self.channel_names = pa.array(list(scenario.channels) or [""], pa.string())
        self.mode = scenario.records if world.open_stream is not None else "none"
        self.sample_share = scenario.records_sample
        self.seed = world.seed
        self.stream = (world.open_stream("records", RECORD_SCHEMA, self._table)
                       if self.mode != "none" else None)
        self.filing = Filing(scenario, world.days, world.module("observation").delays)
        self.error_names = pa.array(ERRORS, pa.string())
        self.expires_by_names = pa.array(EXPIRES_BY, pa.string())
        self.category_names = pa.array(self.filing.category_names, pa.string())

    @classmethod
    def person_backend(cls, scenario: Scenario) -> list[str]:
        if any(c.expires_after_days for c in scenario.credit_file.categories.values()):
            return ["credit_file: record expiry"]
        return []

    def in_sample(self, people: np.ndarray) -> np.ndarray:
        """Whether each person's whole file is kept under records: sample."""
        return kept_in_sample(self.seed, self.sample_share, people)

    @property
    def n_written(self) -> int:
        return self.stream.n_rows if self.stream is not None else 0

    def step(self, today: Today) -> None:
        """Today's filed records: late ones wait for their day, each gets its expiry day."""
        today.filed = self.filing.file(today.seen)

    def expire(self, today: Today) -> None:
        """File today's records under the day they stop counting; take out today's."""
        self.filing.schedule_expiry(today.filed, today.by_redress)
        today.expired = self.filing.expire(today.day)
        today.n_expired += today.expired[0].shape[0]

    def archive(self, today: Today) -> None:
        """Today's filed records into the credit file (records.parquet), for those kept."""
        records = today.filed
        if self.stream is None or len(records) == 0:
            return
        if self.mode == "sample":
            records = records.take(self.in_sample(records.subject))
        self.stream.append(records, len(records))

    def state(self) -> dict[str, np.ndarray]:
        st = self.filing.state()
        if self.stream is not None:
            done = self.stream.checkpoint()
            st["stream"] = np.array([done["n_rows"], done["n_parts"]])
        return st

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.filing.restore(st)
        if self.stream is not None and "stream" in st:
            n_rows, n_parts = st["stream"]
            self.stream.restore({"n_rows": n_rows, "n_parts": n_parts})

    @property
    def nbytes(self) -> int:
        return self.filing.nbytes

    def _table(self, b: list[Records]) -> pa.Table:
        cat = np.concatenate
        day = cat([r.made for r in b]).astype(np.int32, copy=False)
        filed = cat([np.full(len(r), r.day, dtype=np.int32) for r in b])
        category = cat([r.category if r.category is not None else np.zeros(len(r), np.int8)
                        for r in b])
        expires = cat([r.expires if r.expires is not None
                       else np.full(len(r), np.iinfo(np.int32).max, np.int32) for r in b])
        expires_by = cat([r.expires_by if r.expires_by is not None
                          else np.zeros(len(r), np.uint8) for r in b])
        return pa.Table.from_arrays(
            [
                pa.array(day),
                pa.array(cat([r.subject for r in b])),
                pa.DictionaryArray.from_arrays(
                    pa.array(cat([r.behaviour for r in b]).astype(np.int8)), self.behaviour_names
                ),
                pa.DictionaryArray.from_arrays(
                    pa.array(cat([r.channel for r in b]).astype(np.int8)), self.channel_names
                ),
                pa.array(cat([r.points for r in b])),
                pa.array(cat([r.true_actor for r in b])),
                pa.array(cat([r.correct for r in b])),
                pa.array(filed),
                pa.DictionaryArray.from_arrays(
                    pa.array(cat([r.error for r in b]).astype(np.int8)), self.error_names),
                pa.DictionaryArray.from_arrays(
                    pa.array(category.astype(np.int8)), self.category_names),
                pa.array(expires.astype(np.int32, copy=False)),
                pa.DictionaryArray.from_arrays(
                    pa.array(expires_by.astype(np.int8)), self.expires_by_names),
            ],
            schema=RECORD_SCHEMA,
        )

    def close(self) -> None:
        """Finish the file; an empty one is still written so readers find the schema."""
        if self.stream is not None:
            self.stream.close()
