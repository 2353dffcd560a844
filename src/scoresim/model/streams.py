"""What the engine streams out while it runs (the credit file, the sanctions log), as a protocol.

The model decides what goes into a stream (its rows, as an Arrow table); the
runs layer decides where it goes (a Parquet file of a run folder, part files
while checkpoints are kept). The engine is handed an `OpenStream` and never
names a file, so the model knows nothing of run folders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pyarrow as pa


class Stream(Protocol):
    """A growing table: rows are appended in chunks and written as they come."""

    n_rows: int

    def append(self, chunk: Any, n_rows: int) -> None: ...

    def checkpoint(self) -> dict[str, int]:
        """Make everything appended so far durable; return what a resumed run restores."""
        ...

    def restore(self, state: dict[str, int]) -> None: ...

    def close(self) -> None: ...


# open_stream(name, schema, to_table): a Stream of rows that to_table turns into tables
OpenStream = Callable[[str, pa.Schema, Callable[[list], pa.Table]], Stream]
