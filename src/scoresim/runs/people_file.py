"""people.parquet written block by block, byte for byte the file of the whole table at once.

A run in blocks (model/lives.py) finishes its people a block at a time and cannot
hold them all: at 1.4 billion people the table alone is some 45 GB. So each
block's rows are written as they come. `pq.write_table` of a whole table cuts it
into row groups of layout.table_row_group rows; the blocks are cut the same way, whatever their
size (a row group may take the tail of one block and the head of the next), so
the file is the same bytes as the one a run held in memory writes
(tests/test_blocks.py compares them). Memory: a block's table, and the tail of
the last one (under a row group).

The file is written under a hidden name in the run's staging folder, flushed to
disk and renamed to people.parquet when whole, so no file without its footer
ever has the name (the staging folder itself is renamed into place only when the
whole run is there, runs/folder.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scoresim.runs.columns import describe
from scoresim.runs.layout import PEOPLE, table_row_group


class PeopleFile:
    """people.parquet, written a block of rows at a time (`write`), whole on `close`."""

    def __init__(self, path: Path, people: int):
        self.path = Path(path)
        # rows per row group: what the run held in memory writes for its `people` rows
        # (results.py; tests/test_blocks.py checks the files are the same bytes)
        self.row_group = table_row_group(people)
        self.partial = self.path.with_name(f".{self.path.name}.writing")
        self._writer: pq.ParquetWriter | None = None
        self._tail: pa.Table | None = None  # rows not yet in a row group
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """The next block's rows (people in order)."""
        table = describe(table, PEOPLE)
        self.rows += table.num_rows
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.partial, table.schema, compression="zstd")
        if self._tail is not None:
            table = pa.concat_tables([self._tail, table])
        group = self.row_group
        whole = table.num_rows - table.num_rows % group
        for start in range(0, whole, group):
            self._writer.write_table(table.slice(start, group).combine_chunks(),
                                     row_group_size=group)
        # a copy of the tail, so that the block's own buffers go now
        self._tail = table.slice(whole).combine_chunks() if whole < table.num_rows else None

    def close(self) -> Path:
        """Write the last rows, flush the file to disk and give it its name."""
        if self._writer is None:
            raise ValueError("people.parquet: no rows were written")
        if self._tail is not None:
            self._writer.write_table(self._tail, row_group_size=self.row_group)
            self._tail = None
        self._writer.close()
        fd = os.open(self.partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(self.partial, self.path)
        return self.path

    def abandon(self) -> None:
        """A run that failed: close and remove the part written."""
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException):
                pass
        self.partial.unlink(missing_ok=True)


def count_unscored(path: Path) -> int | None:
    """People without a score in a people.parquet, read a row group at a time (a file of
    a run in blocks may not fit in memory whole); None without a score column."""
    f = pq.ParquetFile(path)
    if "score" not in f.schema_arrow.names:
        return None
    total = 0
    for batch in f.iter_batches(columns=["score"]):
        col = batch.column(0)
        total += col.null_count  # a missing score, or NaN (what a DataFrame's isna counts)
        if pa.types.is_floating(col.type):
            total += pc.sum(pc.is_nan(col)).as_py() or 0
    return total


def people_rows(path: Path) -> int:
    """The rows of a people.parquet, from its footer."""
    return pq.ParquetFile(path).metadata.num_rows
