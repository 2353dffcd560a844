"""Sweeps too big for memory, and runs or sweeps too big for the disk, are refused first.

Before, a sweep too big for memory was refused by each worker (exit 1, worker
tracebacks, a sweep folder left behind), and nothing estimated a run folder's
size against the free space. Each test here failed on that code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.model import guards
from scoresim.runs import size
from scoresim.runs.simulate import resolve

SWEEP = "scenario: reference\nagents: 200000\ndays: 30\nseeds: 4\nrecords: none\n"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_a_sweep_too_big_for_memory_is_refused_before_any_worker(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP)
    member = guards.estimate_memory(resolve("reference", agents=200_000, days=30,
                                            records="none"), "person").total
    # room for one member at a time, not two
    monkeypatch.setattr(guards, "available_memory",
                        lambda: member + guards.WORKER_PROCESS_BYTES + 2**20)
    result = invoke("sweep", sweep, "--out", tmp_path / "sw", "--workers", "2",
                    "--registry", "none")
    assert result.exit_code == 2, (result.output, result.exception)
    assert "2 members at once need about" in result.output and "--workers" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "sw").exists()  # no folder left behind


def test_a_run_too_big_for_the_disk_is_refused_before_it_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(size, "free_space", lambda folder: 10_000)
    out = tmp_path / "run"
    result = invoke("run", "reference", "--agents", "300", "--days", "2", "--out", out,
                    "--registry", "none")
    assert result.exit_code == 2, (result.output, result.exception)
    assert "on disk" in result.output and "is free there" in result.output
    assert not out.exists()
    result = invoke("run", "reference", "--agents", "300", "--days", "2", "--out", out,
                    "--registry", "none", "--force", "-q")
    assert result.exit_code == 0 and (out / "manifest.json").is_file()


def test_a_sweep_too_big_for_the_disk_is_refused(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP)
    monkeypatch.setattr(size, "free_space", lambda folder: 10_000)
    result = invoke("sweep", sweep, "--out", tmp_path / "sw", "--registry", "none")
    assert result.exit_code == 2 and "is free there" in result.output, result.output
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("name", ["reference", "pilot-city"])
def test_the_folder_estimate_bounds_a_real_folder(tmp_path, name) -> None:
    out = tmp_path / name
    scoresim.run(name, agents=5000, days=40, seed=3, records="all", out=out)
    written = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    estimated = size.folder_size(resolve(name, agents=5000, days=40, records="all"))
    # an upper bound, not far: the fixed allowance (manifest, small tables) dominates here
    assert written <= estimated <= 4 * written + size.FOLDER_FIXED_BYTES, (written, estimated)


def test_free_space_looks_at_the_nearest_folder_that_exists(tmp_path) -> None:
    assert size.free_space(tmp_path / "not" / "yet" / "there") > 0


def test_force_runs_a_sweep_the_guards_would_refuse(tmp_path, monkeypatch):
    """As for `run`: --force skips the sweep's memory and disk checks, and each member's own
    memory check in its worker (before, a sweep had no way past the guards)."""
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("scenario: reference\nagents: 500\ndays: 3\nseeds: 2\nrecords: none\n")
    monkeypatch.setattr(guards, "available_memory", lambda: 1 << 16)
    monkeypatch.setattr(size, "free_space", lambda folder: 10_000)
    args = ["sweep", sweep, "--workers", "1", "--registry", "none", "-q"]
    refused = invoke(*args, "--out", tmp_path / "refused")
    assert refused.exit_code == 2 and "--force" in refused.output, refused.output
    assert not (tmp_path / "refused").exists()
    forced = invoke(*args, "--out", tmp_path / "forced", "--force")
    assert forced.exit_code == 0, (forced.output, forced.exception)
    assert len(list((tmp_path / "forced" / "members").glob("*/manifest.json"))) == 2
