"""Checkpoints: a run killed with SIGKILL resumes and ends identical to an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from _shared import run_and_resume

import scoresim
from scoresim.runs.checkpoint import CHECKPOINT
from scoresim.runs.folder import RunFolderError

TABLES = ("timeseries", "people", "records", "sanctions")


def assert_same_run(a: scoresim.Results, b: scoresim.Results) -> None:
    """The same run folder content, table by table (Arrow's equality: fast on millions)."""
    for table in TABLES:
        left = pq.read_table(Path(a.folder) / f"{table}.parquet")
        right = pq.read_table(Path(b.folder) / f"{table}.parquet")
        assert left.num_rows == right.num_rows, table
        assert left.equals(right), table


def test_checkpointed_run_equals_plain_run(tmp_path: Path) -> None:
    plain = scoresim.run("pilot-city", agents=5_000, days=40, out=tmp_path / "plain")
    ckpt = scoresim.run("pilot-city", agents=5_000, days=40, out=tmp_path / "ckpt",
                        checkpoint_every=3)
    assert_same_run(plain, ckpt)
    assert not (tmp_path / "ckpt" / CHECKPOINT).exists()
    assert not list(tmp_path.glob(".ckpt*"))  # the staging folder became the run folder


def test_sigkill_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    args = ["reference", "--agents", "150000", "--days", "365", "--checkpoint-every", "25"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scoresim", "run", *args, "--out", str(tmp_path / "a"), "-q"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    state = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(tmp_path.glob(f".a.partial-*/{CHECKPOINT}/state.npz"))
        if found:
            state = found[0]
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed: make it longer"
    assert state is not None, proc.stderr.read().decode() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "a").exists()
    with np.load(state) as z:
        stopped_at = int(z["day"])
    assert 0 < stopped_at < 365

    resumed = scoresim.resume(tmp_path / "a")
    whole = scoresim.run("reference", agents=150_000, days=365, out=tmp_path / "b")
    assert_same_run(resumed, whole)
    again = scoresim.load(tmp_path / "a")
    assert_same_run(again, whole)
    for name in ("timeseries.parquet", "people.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert not list(tmp_path.glob(".a.partial-*"))


def test_resume_refuses_without_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="no checkpoint"):
        scoresim.resume(tmp_path / "never")
    scoresim.run("reference", agents=500, days=3, out=tmp_path / "done")
    with pytest.raises(RunFolderError, match="finished"):
        scoresim.resume(tmp_path / "done")


def test_cli_resume_reports_clean_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from scoresim.cli import app

    result = CliRunner().invoke(app, ["resume", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "no checkpoint" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", ["china", "nosedive"])
def test_restore_mid_run_covers_the_society(name: str, tmp_path: Path) -> None:
    """Firms, joint punishment and peer ratings resume too: same tables, same people."""
    from scoresim.runs.simulate import resolve

    first, second = run_and_resume(resolve(name, agents=8_000, days=80), 35, tmp_path)
    pd.testing.assert_frame_equal(first.timeseries(), second.timeseries())
    pd.testing.assert_frame_equal(first.people(), second.people())
    for key, table in first.frames().items():
        pd.testing.assert_frame_equal(table.reset_index(drop=True),
                                      second.frames()[key].reset_index(drop=True), obj=key)
