"""Streaming a growing table to Parquet without holding it in memory.

The credit file and the sanctions log grow by a few hundred thousand rows a
day at city scale. Rows are buffered and written in row groups of exactly
ROW_GROUP rows (the last one holds the rest), each written from one contiguous
table: the file's bytes depend only on its rows, not on how they arrived. When
a run keeps checkpoints, rows go to numbered part files instead, each closed
(so complete on disk) at a checkpoint; a resumed run overwrites the parts
written after its checkpoint, and the parts are joined into the one final
file at the end in the same row groups, so a checkpointed, killed and resumed
run writes the same bytes as an uninterrupted one. The parts are deleted only
once the whole run folder is complete (runs/finish.py), so that a run killed
while finishing still has them.

A row group is encoded and written on a writer thread while the run goes on
(pyarrow releases the GIL while it encodes, compresses and writes): at most one
group is in flight, it is waited for before the next one starts and before the
file is closed or synced, so the order of writes (and of the crash-safe steps
that follow them: close, fsync, rename, delete the parts) is what it was, and an
error of the writer is raised in the run.

The encoding is chosen for what the columns hold (measured on pilot-city's credit
file, BENCHMARKS.md, issue 22). The person-id columns (int64: about as many
distinct values as rows) are delta-encoded (DELTA_BINARY_PACKED), not dictionary
encoded, which built a hash table only to fall back to plain pages: less than
half the time, 18% smaller, faster to read. The dictionary columns (behaviour,
channel, ...) carry no min/max statistics, a quarter of the writer's time, of no
use to a reader (every row group holds nearly every value). Every other column
keeps dictionary pages and statistics. The values read back are the same
whatever the encoding: the columns, types, values and row order are the file's
interface, its pages are not.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scoresim.model.streams import OpenStream
from scoresim.runs.crash import crash_point
from scoresim.runs.folder import RunFolderError
from scoresim.runs.layout import PARTS_SUFFIX, STREAMS

ROW_GROUP = 1 << 20


class _RowGroups:
    """Tables in, row groups of exactly ROW_GROUP rows out (the last one: the rest)."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = path
        self.schema = schema
        self.writer: pq.ParquetWriter | None = None
        self._tables: list[pa.Table] = []
        self.rows = 0
        self._thread: ThreadPoolExecutor | None = None
        self._writing: Future | None = None

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._tables.append(table)
        self.rows += table.num_rows
        while self.rows >= ROW_GROUP:
            self._write(ROW_GROUP)

    def finish(self) -> None:
        """Write what is left as the last group and close the file (an empty file has none)."""
        try:
            if self.rows:
                self._write(self.rows)
            self._wait()
        finally:
            if self._thread is not None:
                self._thread.shutdown(wait=True)
                self._thread = None
        if self.writer is None:
            self._open()
        assert self.writer is not None
        self.writer.close()
        self.writer = None

    def _open(self) -> None:
        ids = [f.name for f in self.schema if pa.types.is_int64(f.type)]
        self.writer = pq.ParquetWriter(
            self.path, self.schema, compression="zstd",
            use_dictionary=[f.name for f in self.schema if f.name not in ids],
            column_encoding=dict.fromkeys(ids, "DELTA_BINARY_PACKED"),
            write_statistics=[f.name for f in self.schema
                              if not pa.types.is_dictionary(f.type)])

    def _write(self, n: int) -> None:
        table = pa.concat_tables(self._tables) if len(self._tables) > 1 else self._tables[0]
        rest = table.slice(n)
        if self.writer is None:
            self._open()
        self._wait()  # one group in flight at most: the buffer stays one group
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="row-groups")
        self._writing = self._thread.submit(self._encode, table.slice(0, n))
        self._tables = [rest] if rest.num_rows else []
        self.rows -= n

    def _encode(self, table: pa.Table) -> None:
        """On the writer thread: one contiguous chunk per column (the pages then do not
        depend on how the rows arrived), encoded and written as one row group."""
        assert self.writer is not None
        self.writer.write_table(table.combine_chunks(), row_group_size=ROW_GROUP)

    def _wait(self) -> None:
        """Until the group in flight is written (its error, if any, raised here)."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()


class ParquetStream:
    def __init__(self, path: Path, schema: pa.Schema,
                 to_table: Callable[[list], pa.Table], parts: bool = False):
        self.path = Path(path)
        self.schema = schema
        self.to_table = to_table
        self.parts_dir = parts_dir(self.path) if parts else None
        self._groups: _RowGroups | None = None
        self._pending: list = []
        self._pending_rows = 0
        self.n_rows = 0
        self.n_parts = 0

    def append(self, chunk, n_rows: int) -> None:
        if n_rows == 0:
            return
        self._pending.append(chunk)
        self._pending_rows += n_rows
        self.n_rows += n_rows
        buffered = self._groups.rows if self._groups is not None else 0
        if self._pending_rows + buffered >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = self.to_table(self._pending)
        self._pending, self._pending_rows = [], 0
        if self._groups is None:
            target = self.path
            if self.parts_dir is not None:
                self.parts_dir.mkdir(exist_ok=True)
                target = self.parts_dir / part_name(self.n_parts)
                self.n_parts += 1
            self._groups = _RowGroups(target, self.schema)
        self._groups.add(table)

    def checkpoint(self) -> dict[str, int]:
        """Make everything so far durable in closed part files; return what to resume from."""
        self._flush()
        if self._groups is not None:
            self._groups.finish()
            _fsync(self._groups.path)
            self._groups = None
        return {"n_rows": self.n_rows, "n_parts": self.n_parts}

    def restore(self, state: dict[str, int]) -> None:
        """Continue after the checkpoint's parts; later ones are overwritten, never joined.

        Nothing is deleted here: a resume that fails (a corrupt checkpoint) leaves the
        folder as it found it.
        """
        self.n_rows, self.n_parts = int(state["n_rows"]), int(state["n_parts"])

    def close(self) -> None:
        """Finish the file; an empty table still gets a file so readers find the schema."""
        self._flush()
        if self.parts_dir is None:
            if self._groups is None:
                self._groups = _RowGroups(self.path, self.schema)
            self._groups.finish()
            self._groups = None
            return
        if self._groups is not None:
            self._groups.finish()
            self._groups = None
        self._join_parts()

    def _join_parts(self) -> None:
        """Parts 0 .. n_parts-1 into the final file; the parts stay until the folder is done."""
        assert self.parts_dir is not None
        parts = [self.parts_dir / part_name(i) for i in range(self.n_parts)]
        missing = [p.name for p in parts if not p.is_file()]
        if missing:
            raise RunFolderError(f"{self.parts_dir}: part files missing ({', '.join(missing)}); "
                                 "the credit file cannot be joined")
        groups = _RowGroups(self.path, self.schema)
        groups._open()  # the file exists from here on: a kill below leaves half of it
        for i, part in enumerate(parts):
            for batch in pq.ParquetFile(part).iter_batches(batch_size=ROW_GROUP):
                groups.add(pa.Table.from_batches([batch], schema=self.schema))
            if i == 0:
                crash_point("join")
        groups.finish()
        joined = pq.read_metadata(self.path).num_rows
        if joined != self.n_rows:
            raise RunFolderError(f"{self.path}: the joined parts hold {joined:,} rows, the run "
                                 f"wrote {self.n_rows:,}")


def part_name(i: int) -> str:
    return f"part-{i:05d}.parquet"


def parts_dir(path: Path) -> Path:
    """The folder of a stream's part files while a checkpointed run goes on."""
    return path.with_name(path.name + PARTS_SUFFIX)


def drop_parts(folder: Path) -> None:
    """Delete the part files of a folder's streams (once the joined files are safe)."""
    for name in STREAMS.values():
        where = parts_dir(folder / name)
        if not where.is_dir():
            continue
        for part in sorted(where.iterdir()):
            part.unlink()
            crash_point("delete-parts")
        where.rmdir()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def folder_streams(folder: Path, parts: bool = False) -> OpenStream:
    """The engine's streams as the files of a run folder (runs/layout.py's STREAMS)."""
    def open_stream(name: str, schema: pa.Schema, to_table: Callable[[list], pa.Table]
                    ) -> ParquetStream:
        return ParquetStream(folder / STREAMS[name], schema, to_table, parts)

    return open_stream
