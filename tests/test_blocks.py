"""A run in blocks (lives.py, issue 23) is the run held in memory, byte for byte.

The person backend can live its people a block at a time: the false matches are
found first, then each block is lived, settled and written out. Nothing of the
outputs may depend on the block: every file of the run folder but the manifest
(which says how long each part took, and the block) must be the same bytes,
for blocks that divide the population, that do not, and that are smaller than
one task of the person backend (lives.PEOPLE_PER_TASK).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.model import lives
from scoresim.model.guards import (
    BLOCK_ALIGN,
    MAX_BLOCK,
    ResourceError,
    check_memory,
    choose_block,
    estimate_memory,
)
from scoresim.runs.layout import TABLE_ROW_GROUP as ROW_GROUP
from scoresim.runs.layout import table_row_group
from scoresim.runs.simulate import resolve
from scoresim.scenario import ScenarioError
from tests.test_lives import BUSY


def files(folder: Path) -> dict[str, str]:
    """Every file of a run folder but manifest.json, by its bytes' digest."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.name != "manifest.json"}


def same_in_blocks(tmp_path: Path, name: str, agents: int, days: int, blocks: list[int],
                   sets: dict | None = None) -> scoresim.Results:
    """Run in memory, then in each block size, and check every output file is the same."""
    whole = scoresim.run(name, agents=agents, days=days, records="none", backend="person",
                         set=dict(sets or {}), out=tmp_path / "whole")
    assert "block_size" not in whole.manifest
    expected = files(tmp_path / "whole")
    assert {"people.parquet", "timeseries.parquet"} <= set(expected)
    for block in blocks:
        r = scoresim.run(name, agents=agents, days=days, records="none", backend="person",
                         set=dict(sets or {}), out=tmp_path / f"b{block}", block_size=block)
        assert r.manifest["block_size"] == block
        assert files(tmp_path / f"b{block}") == expected, f"block {block}"
        assert r.manifest["n_events"] == whole.manifest["n_events"]
        summary = {**whole.summary(), "wall_seconds": r.manifest["wall_seconds"]}
        assert json.dumps(r.summary(), sort_keys=True) == json.dumps(summary, sort_keys=True)
    return whole


def test_reference_in_blocks_is_the_run_in_memory(tmp_path) -> None:
    # 5,000 divides 20,000; 7,000 does not; 1,000 is under one task (4,096 people)
    whole = same_in_blocks(tmp_path, "reference", 20_000, 365, [5_000, 7_000, 1_000])
    assert whole.timeseries["n_false_records"].sum() > 0  # false matches across blocks


def test_busy_scheme_in_blocks_is_the_run_in_memory(tmp_path) -> None:
    # frequent false matches, listings that end, suspensions, shaming, rewards
    whole = same_in_blocks(tmp_path, "reference", 8_000, 300, [3_000, 4_096], BUSY)
    assert whole.timeseries["n_false_records"].sum() > 1_000


def test_china_list_and_no_system_in_blocks(tmp_path) -> None:
    same_in_blocks(tmp_path / "c", "china-list", 5_000, 1_500, [777])
    same_in_blocks(tmp_path / "n", "no-system", 10_000, 365, [3_000])


def test_false_matches_that_overflow_the_scan_are_found_apart(tmp_path, monkeypatch) -> None:
    whole = scoresim.run("reference", agents=6_000, days=200, records="none",
                         backend="person", set=dict(BUSY), out=tmp_path / "whole")
    monkeypatch.setattr(lives._Kernel, "false_match_capacity", lambda self, people, days: 3)
    scoresim.run("reference", agents=6_000, days=200, records="none", backend="person",
                 set=dict(BUSY), out=tmp_path / "b", block_size=2_500)
    assert files(tmp_path / "b") == files(tmp_path / "whole")
    assert whole.timeseries["n_false_records"].sum() > 3 * 2  # more than two tasks' room


def test_people_file_row_groups_span_blocks(tmp_path) -> None:
    # more people than one row group: the blocks (30,000, not dividing the row group's
    # 65,536) are cut into the row groups the run held in memory writes
    n = ROW_GROUP + 5_000
    same_in_blocks(tmp_path, "reference", n, 3, [30_000])
    meta = pq.ParquetFile(tmp_path / "b30000" / "people.parquet").metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [ROW_GROUP, 5_000]


def test_a_run_in_blocks_kept_in_memory_reads_its_people_back() -> None:
    whole = scoresim.run("reference", agents=9_000, days=100, records="none")
    r = scoresim.run("reference", agents=9_000, days=100, records="none", block_size=4_096)
    assert r.people.equals(whole.people)
    assert r.people_columns(("id", "score")).equals(whole.people_columns(("id", "score")))
    assert "9,000 rows" in repr(r)


# ------------------------------------------------------------------ the memory guard
def test_the_guard_keeps_runs_that_fit_whole_and_cuts_those_that_do_not() -> None:
    s = resolve("reference", agents=1_410_000_000, days=365, records="none")
    assert choose_block(s, "person", available=2**50) is None  # fits: not cut
    with pytest.raises(ResourceError):  # whole, it does not fit in 22 GiB
        check_memory(s, backend="person", available=22 * 2**30)
    block = choose_block(s, "person", available=22 * 2**30)
    assert block is not None and block % BLOCK_ALIGN == 0 and block <= MAX_BLOCK
    check_memory(s, backend="person", available=22 * 2**30, block=block)  # no refusal
    est = estimate_memory(s, "person", block)
    # the population's own arrays (1 B each) and the false matches, not 16 B per person
    assert est.parts["society"] == s.agents
    assert est.total < 22 * 2**30 < estimate_memory(s, "person").total
    # too little memory for even the smallest block: refused, saying so
    with pytest.raises(ResourceError, match="block"):
        check_memory(s, backend="person", available=2 * 2**30,
                     block=choose_block(s, "person", available=2 * 2**30))


def test_a_block_size_is_refused_where_the_day_loop_runs() -> None:
    s = resolve("reference", agents=10_000, days=10)  # records: all, the day loop
    with pytest.raises(ScenarioError, match="only the person backend"):
        choose_block(s, "day", 4_096)
    assert choose_block(resolve(s, records="none"), "person", 20_000) is None  # everyone
    with pytest.raises(ScenarioError, match="only the person backend"):
        scoresim.run("reference", agents=10_000, days=10, block_size=4_096)


def test_the_day_loops_refusal_names_the_person_backend() -> None:
    s = resolve("reference", agents=1_410_000_000, days=365)  # records: all
    with pytest.raises(ResourceError, match="--records none"):
        check_memory(s, backend="day", available=22 * 2**30)


# ------------------------------------------------------------------ the command line
def test_run_in_blocks_at_the_command_line_shows_blocks_and_time_left(tmp_path) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", "reference", "--agents", "20000", "--days", "50",
                                   "--records", "none", "--block-size", "5000",
                                   "--registry", "none", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "in blocks of 5,000" in res.output and "4/4 blocks" in res.output
    assert "false matches: 64/64 slices of the people" in res.output
    assert json.loads((out / "manifest.json").read_text())["block_size"] == 5_000
    whole = tmp_path / "whole"
    res = CliRunner().invoke(app, ["run", "reference", "--agents", "20000", "--days", "50",
                                   "--records", "none", "--registry", "none", "--out",
                                   str(whole)])
    assert res.exit_code == 0, res.output
    assert files(out) == files(whole)


def test_row_groups_are_65536_rows_until_a_table_would_have_more_than_1024() -> None:
    assert table_row_group(1) == table_row_group(ROW_GROUP * 1024) == ROW_GROUP
    for rows in (ROW_GROUP * 1024 + 1, 10**9, 1_410_000_000):
        group = table_row_group(rows)
        assert group % ROW_GROUP == 0 and group > ROW_GROUP
        assert -(-rows // group) <= 1024  # at most 1,024 groups in the footer
        assert -(-rows // (group - ROW_GROUP)) > 1024  # and no smaller multiple would do
