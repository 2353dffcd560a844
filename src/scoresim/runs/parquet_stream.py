"""Streaming a growing table to Parquet without holding it in memory.

The credit file and the sanctions log grow by a few hundred thousand rows a
day at city scale. Rows are buffered and written in fixed-size row groups.
When a run keeps checkpoints, rows go to numbered part files instead, each
closed (so complete on disk) at a checkpoint; a resumed run drops the parts
written after its checkpoint, and the parts are joined into the one final
file at the end, in the same fixed row groups, so the result does not depend
on where the run was interrupted.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scoresim.model.streams import OpenStream
from scoresim.runs.layout import PARTS_SUFFIX, STREAMS

ROW_GROUP = 1 << 20


class ParquetStream:
    def __init__(self, path: Path, schema: pa.Schema,
                 to_table: Callable[[list], pa.Table], parts: bool = False):
        self.path = Path(path)
        self.schema = schema
        self.to_table = to_table
        self.parts_dir = self.path.with_name(self.path.name + PARTS_SUFFIX) if parts else None
        self._writer: pq.ParquetWriter | None = None
        self._pending: list = []
        self._pending_rows = 0
        self.n_rows = 0
        self.n_parts = 0

    def append(self, chunk, n_rows: int) -> None:
        if n_rows == 0:
            return
        self._pending.append(chunk)
        self._pending_rows += n_rows
        if self._pending_rows >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        table = self.to_table(self._pending)
        self._pending, self._pending_rows = [], 0
        if self._writer is None:
            target = self.path
            if self.parts_dir is not None:
                self.parts_dir.mkdir(exist_ok=True)
                target = self.parts_dir / f"part-{self.n_parts:05d}.parquet"
                self.n_parts += 1
            self._writer = pq.ParquetWriter(target, self.schema, compression="zstd")
        self._writer.write_table(table, row_group_size=ROW_GROUP)
        self.n_rows += table.num_rows

    def checkpoint(self) -> dict[str, int]:
        """Make everything so far durable in closed part files; return what to resume from."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return {"n_rows": self.n_rows, "n_parts": self.n_parts}

    def restore(self, state: dict[str, int]) -> None:
        self.n_rows, self.n_parts = int(state["n_rows"]), int(state["n_parts"])
        if self.parts_dir is not None and self.parts_dir.exists():
            for part in self.parts_dir.glob("part-*.parquet"):
                if int(part.stem.split("-")[1]) >= self.n_parts:
                    part.unlink()  # written after the checkpoint: redone on resume

    def close(self) -> None:
        """Finish the file; an empty table still gets a file so readers find the schema."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.parts_dir is not None:
            self._join_parts()
        elif not self.path.exists():
            pq.write_table(self.schema.empty_table(), self.path)

    def _join_parts(self) -> None:
        parts = sorted(self.parts_dir.glob("part-*.parquet")) if self.parts_dir.exists() else []
        with pq.ParquetWriter(self.path, self.schema, compression="zstd") as writer:
            buffered: list[pa.Table] = []
            rows = 0
            for part in parts:
                for batch in pq.ParquetFile(part).iter_batches(batch_size=ROW_GROUP):
                    buffered.append(pa.Table.from_batches([batch], schema=self.schema))
                    rows += batch.num_rows
                    if rows >= ROW_GROUP:
                        writer.write_table(pa.concat_tables(buffered), row_group_size=ROW_GROUP)
                        buffered, rows = [], 0
            if buffered:
                writer.write_table(pa.concat_tables(buffered), row_group_size=ROW_GROUP)
        shutil.rmtree(self.parts_dir, ignore_errors=True)


def folder_streams(folder: Path, parts: bool = False) -> OpenStream:
    """The engine's streams as the files of a run folder (runs/layout.py's STREAMS)."""
    def open_stream(name: str, schema: pa.Schema, to_table: Callable[[list], pa.Table]
                    ) -> ParquetStream:
        return ParquetStream(folder / STREAMS[name], schema, to_table, parts)

    return open_stream
