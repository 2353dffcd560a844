"""The credit file: every record filed under its subject, kept with its truth.

The file is the audit trail. Scores, grades and sanctions must be explainable
from it alone, so it is streamed to `records.parquet` in row groups as the run
goes (never held whole in memory): all of it, the whole files of a random
sample of people, or none.

Each row keeps its truth (true actor, correct, the kind of error behind it)
and its life in the file: the day it was made, the day it was filed (later
for channels that file late), its category and the first day it no longer
counts (`expires_day`, 2147483647 for never). A person's score is the initial
score plus the points of their records with `expires_day` after the day
asked about: an expired record stays in the file, as in a real audit trail.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from scoresim.model.filing import NO_CATEGORY, Filing
from scoresim.model.observation import ERRORS, Records
from scoresim.model.random import stream_key, uniforms
from scoresim.model.streams import OpenStream

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
    ]
)


def kept_in_sample(seed: int, share: float, people: np.ndarray) -> np.ndarray:
    """Whether each person's whole file is kept under `records: sample` (a keyed draw, so
    explain and the report can tell whose files a run kept without the run)."""
    key = stream_key(seed, "credit_file", "sample")
    return uniforms(key, np.asarray(people, dtype=np.int64), np.uint64(0)) < share


class CreditFile:
    """Files each day's records and streams the kept ones to Parquet."""

    name = "credit_file"

    def __init__(self, behaviour_names: list[str], channel_names: list[str], mode: str,
                 sample_share: float, seed: int, open_stream: OpenStream | None,
                 filing: Filing | None = None):
        self.behaviour_names = pa.array(behaviour_names, pa.string())
        self.channel_names = pa.array(channel_names or [""], pa.string())
        self.mode = mode if open_stream is not None else "none"
        self.sample_share = sample_share
        self.seed = seed
        self.stream = (open_stream("records", RECORD_SCHEMA, self._table)
                       if self.mode != "none" else None)
        self.filing = filing
        self.error_names = pa.array(ERRORS, pa.string())
        self.category_names = pa.array(filing.category_names if filing else [NO_CATEGORY],
                                       pa.string())

    def in_sample(self, people: np.ndarray) -> np.ndarray:
        """Whether each person's whole file is kept under records: sample."""
        return kept_in_sample(self.seed, self.sample_share, people)

    @property
    def n_written(self) -> int:
        return self.stream.n_rows if self.stream is not None else 0

    def step(self, records: Records) -> Records:
        """Today's filed records: late ones wait for their day, each gets its expiry day."""
        if self.filing is None:
            return records
        return self.filing.file(records)

    def archive(self, records: Records) -> None:
        if self.stream is None or len(records) == 0:
            return
        if self.mode == "sample":
            records = records.take(self.in_sample(records.subject))
        self.stream.append(records, len(records))

    def _table(self, b: list[Records]) -> pa.Table:
        cat = np.concatenate
        day = cat([r.made for r in b]).astype(np.int32, copy=False)
        filed = cat([np.full(len(r), r.day, dtype=np.int32) for r in b])
        category = cat([r.category if r.category is not None else np.zeros(len(r), np.int8)
                        for r in b])
        expires = cat([r.expires if r.expires is not None
                       else np.full(len(r), np.iinfo(np.int32).max, np.int32) for r in b])
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
            ],
            schema=RECORD_SCHEMA,
        )

    def close(self) -> None:
        """Finish the file; an empty one is still written so readers find the schema."""
        if self.stream is not None:
            self.stream.close()
