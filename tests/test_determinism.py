"""Same seed, same scenario, same version: identical output, bit for bit (DESIGN.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import scoresim
from scoresim.runs.layout import MANIFEST, PEOPLE, RECORDS, TIMESERIES

PARQUETS = (TIMESERIES, PEOPLE, RECORDS)
# What legitimately changes between two runs of the same thing: when and how fast.
VOLATILE = {"started", "wall_seconds", "timings"}
SIZE = {"agents": 10_000, "days": 100}


def _run_to(folder: Path, scenario: str, seed: int, **kwargs) -> Path:
    scoresim.run(scenario, seed=seed, records="all", out=folder, **SIZE, **kwargs)
    return folder


@pytest.fixture(scope="module", params=["reference", "pilot-city"])
def three_runs(request, tmp_path_factory) -> tuple[str, Path, Path, Path]:
    """Two runs with seed 3 and one with seed 4, each in its own run folder."""
    name = request.param
    base = tmp_path_factory.mktemp(f"determinism-{name}")
    return (name, _run_to(base / "a", name, 3), _run_to(base / "b", name, 3),
            _run_to(base / "c", name, 4))


def _frames(folder: Path) -> dict[str, pd.DataFrame]:
    run = scoresim.load(folder)
    return {TIMESERIES: run.timeseries, PEOPLE: run.people, RECORDS: run.records}


def test_same_seed_same_data(three_runs) -> None:
    _, a, b, _ = three_runs
    fa, fb = _frames(a), _frames(b)
    for name in PARQUETS:
        pd.testing.assert_frame_equal(fa[name], fb[name], check_exact=True, obj=name)
    assert len(fa[RECORDS]) > 10_000


def test_same_seed_same_bytes(three_runs) -> None:
    """Stronger than equal data: the files themselves, so checksums of run folders agree."""
    _, a, b, _ = three_runs
    files = sorted(p.name for p in a.glob("*.parquet"))  # whatever else the folder holds, too
    assert set(PARQUETS) <= set(files)
    assert files == sorted(p.name for p in b.glob("*.parquet"))
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_same_seed_same_manifest_but_for_timings(three_runs) -> None:
    _, a, b, _ = three_runs
    ma = json.loads((a / MANIFEST).read_text())
    mb = json.loads((b / MANIFEST).read_text())
    assert VOLATILE <= set(ma)
    assert {k: v for k, v in ma.items() if k not in VOLATILE} == {
        k: v for k, v in mb.items() if k not in VOLATILE
    }


def test_another_seed_differs(three_runs) -> None:
    _, a, _, c = three_runs
    fa, fc = _frames(a), _frames(c)
    # Different people (groups), different events, different outcomes.
    assert not fa[PEOPLE]["group"].equals(fc[PEOPLE]["group"])
    assert not fa[TIMESERIES]["n_events"].equals(fc[TIMESERIES]["n_events"])
    assert not fa[PEOPLE]["score"].equals(fc[PEOPLE]["score"])
    assert not fa[RECORDS].equals(fc[RECORDS])
    for name in PARQUETS:
        assert (a / name).read_bytes() != (c / name).read_bytes(), name


def test_keeping_records_does_not_change_the_run(three_runs, tmp_path) -> None:
    """Whether the credit file is written, sampled or dropped is bookkeeping, not simulation."""
    name, a, _, _ = three_runs
    full = _frames(a)
    for mode in ("none", "sample"):
        other = scoresim.run(name, seed=3, records=mode, **SIZE)
        pd.testing.assert_frame_equal(full[TIMESERIES], other.timeseries, check_exact=True)
        pd.testing.assert_frame_equal(full[PEOPLE], other.people, check_exact=True)
