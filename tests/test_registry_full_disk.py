"""The registry on a full disk: a finished run or sweep stands, with a clear warning, exit 0.

DuckDB's own writes cannot be made to fail on demand, so the registry's Python
steps that write (the rows, the commit, the views) are made to raise
OSError(ENOSPC), as a full disk makes them. Before, that was a traceback and exit 1
after the run had finished; each test here failed on that code.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.runs import registry as reg

SIZE = ["--agents", "400", "--days", "4", "--seed", "2"]


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def rows(path: Path) -> int:
    if not path.exists():
        return 0
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        return con.execute("SELECT count(*) FROM runs").fetchone()[0] if "runs" in tables else 0
    finally:
        con.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full") / "run"
    scoresim.run("reference", agents=400, days=4, seed=2, out=out)
    return out


@pytest.mark.parametrize("step", ["_upsert_runs", "_commit"])
def test_a_failed_write_or_commit_registers_nothing(folder, tmp_path, monkeypatch, step):
    registry = tmp_path / "registry.duckdb"
    monkeypatch.setattr(reg, step, full_disk)
    with pytest.raises(reg.RegistryError, match="nothing registered.*No space left"):
        reg.register_run(folder, registry)
    monkeypatch.undo()
    assert rows(registry) == 0  # rolled back
    reg.register_run(folder, registry)  # and the next try, with room, works
    assert rows(registry) == 1


def test_a_failed_view_refresh_keeps_the_registration(folder, tmp_path, monkeypatch):
    registry = tmp_path / "registry.duckdb"
    monkeypatch.setattr(reg, "_refresh_views", full_disk)
    with pytest.raises(reg.ViewsNotRefreshed, match="registered, but.*No space left"):
        reg.register_run(folder, registry)
    monkeypatch.undo()
    assert rows(registry) == 1
    assert reg.query("SELECT count(*) AS n FROM timeseries", registry).n[0] == 4


@pytest.mark.parametrize("step, said, registered", [
    ("_upsert_runs", "run not registered", 0),
    ("_refresh_views", "registered, but its views", 1),
])
def test_run_on_a_full_registry_disk_warns_and_exits_0(tmp_path, monkeypatch, step, said,
                                                       registered):
    registry, out = tmp_path / "registry.duckdb", tmp_path / "run"
    monkeypatch.setattr(reg, step, full_disk)
    result = CliRunner().invoke(app, ["run", "reference", *SIZE, "--out", str(out),
                                      "--registry", str(registry)])
    monkeypatch.undo()
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert "warning:" in result.output and said in result.output
    assert "No space left on device" in result.output
    assert ("registered as" in result.output) == bool(registered)
    assert rows(registry) == registered
    loaded = scoresim.load(out)  # the run folder is whole
    assert len(loaded.timeseries) == 4
    assert json.loads((out / "manifest.json").read_text())["agents"] == 400


def test_sweep_on_a_full_registry_disk_warns_and_exits_0(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("scenario: reference\nagents: 300\ndays: 3\nseeds: 1\n")
    registry, out = tmp_path / "registry.duckdb", tmp_path / "sweep"
    monkeypatch.setattr(reg, "_commit", full_disk)
    result = CliRunner().invoke(app, ["sweep", str(sweep), "--out", str(out), "--workers", "1",
                                      "--registry", str(registry), "-q"])
    monkeypatch.undo()
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert "sweep finished in" in result.output and "not registered" in result.output
    assert (out / "summary.parquet").is_file()
    assert rows(registry) == 0
