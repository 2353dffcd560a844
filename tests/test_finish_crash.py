"""Finishing a run: no kill at any step loses data, and a resumed run is the same bytes.

Issue 19. The finishing steps of a checkpointed run (runs/finish.py, named in
runs/crash.py) are each killed with SIGKILL in a `python -m scoresim run`
subprocess (SCORESIM_KILL_AT, a test hook); `scoresim resume` must then give
the uninterrupted run folder byte for byte, or refuse (exit 2) and delete
nothing.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import scoresim
from scoresim.runs import parquet_stream

SMALL = {"agents": 5_000, "days": 60}


def row_groups(path: Path) -> list[int]:
    meta = pq.read_metadata(path)
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def test_checkpointed_records_are_the_same_bytes(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 15: same row groups (whole ROW_GROUP ones, then the rest), same bytes."""
    monkeypatch.setattr(parquet_stream, "ROW_GROUP", 4_000)  # many groups from a small run
    plain = scoresim.run("reference", **SMALL, out=tmp_path / "plain")
    ckpt = scoresim.run("reference", **SMALL, out=tmp_path / "ckpt", checkpoint_every=7)
    for name in ("records.parquet", "sanctions.parquet"):
        groups = row_groups(plain.folder / name)
        if name == "records.parquet":  # several groups, or the test would mean nothing
            assert len(groups) > 3
        assert all(g == 4_000 for g in groups[:-1]) and 0 < groups[-1] <= 4_000, groups
        assert row_groups(ckpt.folder / name) == groups, name
        assert (ckpt.folder / name).read_bytes() == (plain.folder / name).read_bytes(), name
