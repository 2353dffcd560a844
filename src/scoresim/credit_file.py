"""The credit file: every record filed under its subject, kept with its truth.

The file is the audit trail. Scores, grades and sanctions must be explainable
from it alone, so it is streamed to `records.parquet` in row groups as the run
goes (never held whole in memory): all of it, the whole files of a random
sample of people, or none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from scoresim.observation import Records
from scoresim.parquet_stream import ParquetStream
from scoresim.random import stream_key, uniforms

RECORD_SCHEMA = pa.schema(
    [
        ("day", pa.int32()),
        ("subject", pa.int64()),
        ("behaviour", pa.dictionary(pa.int8(), pa.string())),
        ("channel", pa.dictionary(pa.int8(), pa.string())),
        ("points", pa.int32()),
        ("true_actor", pa.int64()),
        ("correct", pa.bool_()),
    ]
)


class CreditFile:
    """Files each day's records and streams the kept ones to Parquet."""

    name = "credit_file"

    def __init__(self, behaviour_names: list[str], channel_names: list[str], mode: str,
                 sample_share: float, seed: int, path: Path | None, parts: bool = False):
        self.behaviour_names = pa.array(behaviour_names, pa.string())
        self.channel_names = pa.array(channel_names or [""], pa.string())
        self.mode = mode if path is not None else "none"
        self.sample_share = sample_share
        self.sample_key = stream_key(seed, "credit_file", "sample")
        self.path = path
        self.stream = (ParquetStream(path, RECORD_SCHEMA, self._table, parts)
                       if self.mode != "none" else None)

    @property
    def n_written(self) -> int:
        return self.stream.n_rows if self.stream is not None else 0

    def in_sample(self, people: np.ndarray) -> np.ndarray:
        """Whether each person's whole file is kept under records: sample."""
        return uniforms(self.sample_key, people.astype(np.int64), np.uint64(0)) < self.sample_share

    def step(self, records: Records) -> Records:
        """File today's records. Delays and expiry come in here when channels report late."""
        return records

    def archive(self, records: Records) -> None:
        if self.stream is None or len(records) == 0:
            return
        if self.mode == "sample":
            keep = self.in_sample(records.subject)
            records = Records(records.day, records.subject[keep], records.true_actor[keep],
                              records.behaviour[keep], records.channel[keep],
                              records.correct[keep], records.points[keep])
        self.stream.append(records, len(records))

    def _table(self, batch: list[Records]) -> pa.Table:
        cat = np.concatenate
        day = cat([np.full(len(r), r.day, dtype=np.int32) for r in batch])
        return pa.Table.from_arrays(
            [
                pa.array(day),
                pa.array(cat([r.subject for r in batch])),
                pa.DictionaryArray.from_arrays(
                    pa.array(cat([r.behaviour for r in batch]).astype(np.int8)),
                    self.behaviour_names,
                ),
                pa.DictionaryArray.from_arrays(
                    pa.array(cat([r.channel for r in batch]).astype(np.int8)), self.channel_names
                ),
                pa.array(cat([r.points for r in batch])),
                pa.array(cat([r.true_actor for r in batch])),
                pa.array(cat([r.correct for r in batch])),
            ],
            schema=RECORD_SCHEMA,
        )

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
