"""The run registry: SQL over many runs, idempotent registration, safe under concurrency."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.runs.registry import (
    QueryError,
    RegistryError,
    list_runs,
    query,
    register_run,
    register_runs,
    run_id_for,
)
from scoresim.runs.registry import RunEntry as Entry

SEEDS = (1, 2, 3)
DAYS = 10


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("runs")
    folders = []
    for seed in SEEDS:
        folder = base / f"reference-{seed}"
        scoresim.run("reference", agents=500, days=DAYS, seed=seed, records="all", out=folder)
        folders.append(folder)
    return folders


@pytest.fixture
def registry(tmp_path) -> Path:
    return tmp_path / "registry.duckdb"


def test_queries_reach_every_run_and_its_timeseries(run_folders, registry):
    for folder, seed in zip(run_folders, SEEDS, strict=True):
        register_run(folder, registry, overrides={"seed": seed})
    assert query("SELECT count(*) AS n FROM runs", registry).n[0] == 3
    joined = query(
        "SELECT r.seed, count(*) AS days, sum(t.n_events) AS events, max(t.day) AS last "
        "FROM runs AS r JOIN timeseries AS t USING (run_id) GROUP BY r.seed ORDER BY r.seed",
        registry)
    assert list(joined.seed) == list(SEEDS)
    assert set(joined.days) == {DAYS} and set(joined["last"]) == {DAYS - 1}
    for folder, events in zip(run_folders, joined.events, strict=True):
        assert events == scoresim.load(folder).timeseries.n_events.sum()
    people = query("SELECT run_id, count(*) AS n FROM people GROUP BY run_id", registry)
    assert set(people.n) == {500}
    records = query("SELECT count(*) AS n FROM records", registry).n[0]
    assert records == sum(len(scoresim.load(f).records) for f in run_folders)
    # key outcomes as columns, the full summary and scenario as JSON
    row = query("SELECT mean_score, outcomes->>'n_grade_AAA' AS aaa, "
                "scenario_json->'scoring'->'points'->>'jaywalking' AS jay, overrides "
                "FROM runs WHERE seed = 2", registry).iloc[0]
    summary = scoresim.load(run_folders[1]).summary()
    assert row.mean_score == pytest.approx(summary["mean_score"])
    assert int(row.aaa) == summary["n_grade_AAA"] and row.jay == "-5"
    assert json.loads(row.overrides) == {"seed": 2}


def test_registering_again_is_one_row_and_unfinished_folders_are_refused(run_folders, registry,
                                                                           tmp_path):
    first = register_run(run_folders[0], registry)
    assert register_run(run_folders[0], registry) == first == run_id_for(run_folders[0])
    half = tmp_path / "half"
    shutil.copytree(run_folders[1], half)
    (half / "manifest.json").unlink()  # what a run that never finished would look like
    with pytest.raises(RegistryError, match="not a finished run folder"):
        register_runs([Entry(run_folders[2]), Entry(half)], registry)
    assert list(query("SELECT run_id FROM runs", registry).run_id) == [first]


def test_deleted_or_damaged_run_folders_do_not_break_the_registry(run_folders, registry,
                                                                   tmp_path):
    copies = []
    for folder in run_folders:
        copies.append(tmp_path / folder.name)
        shutil.copytree(folder, copies[-1])
    register_runs([Entry(f) for f in copies[:2]], registry)
    shutil.rmtree(copies[0])
    assert query("SELECT count(DISTINCT run_id) AS n FROM timeseries", registry).n[0] == 1
    assert len(list_runs(registry)) == 2  # still listed: the index says what was run
    (copies[1] / "timeseries.parquet").write_bytes(b"damaged")
    assert query("SELECT count(*) AS n FROM timeseries", registry).n[0] == 0
    register_run(copies[2], registry)  # registering still works, and reaches the new run
    assert query("SELECT count(*) AS n FROM timeseries", registry).n[0] == DAYS
    assert len(list_runs(registry)) == 3


def test_queries_are_read_only_and_errors_are_clear(run_folders, registry):
    register_run(run_folders[0], registry)
    with pytest.raises(QueryError, match="read only"):
        query("DELETE FROM runs", registry)
    with pytest.raises(QueryError, match="SQL error"):
        query("SELECT nothing FROM nowhere", registry)
    assert query("SELECT count(*) AS n FROM runs", registry).n[0] == 1
    with pytest.raises(RegistryError, match="no registry here"):
        query("SELECT 1", registry.with_name("absent.duckdb"))


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from scoresim.runs.registry import register_run
    registry, *folders = sys.argv[1:]
    print("ready", flush=True)
    for folder in folders:
        register_run(Path(folder), registry)
""")


def test_two_processes_registering_at_once(run_folders, registry, tmp_path):
    folders = []
    for i in range(8):
        folders.append(tmp_path / f"copy-{i}")
        shutil.copytree(run_folders[i % 3], folders[-1])
    register_run(run_folders[0], registry)
    # hold the write lock while both writers start, so that both must wait and retry
    holder = duckdb.connect(str(registry))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(registry),
                               *map(str, folders[k::2])], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for k in (0, 1)]
    for p in procs:
        line = p.stdout.readline().strip()
        assert line == "ready", p.communicate(timeout=60)[1]
    time.sleep(0.5)
    # both writers have been trying for a while, and neither has written anything
    assert holder.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    holder.close()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    runs = query("SELECT folder FROM runs", registry)
    assert len(runs) == 9 and runs.folder.is_unique
    assert query("SELECT count(*) AS n FROM timeseries", registry).n[0] == 9 * DAYS


def test_command_line_run_registers_and_runs_and_query_print(tmp_path, registry, monkeypatch):
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "reference", "--agents", "300", "--days", "5",
                                 "--out", str(out), "--registry", str(registry), "-q",
                                 "--set", "scoring.points.jaywalking=-7"])
    assert result.exit_code == 0, result.output
    run_id = run_id_for(out)
    assert run_id in result.output
    listed = runner.invoke(app, ["runs", "--registry", str(registry)])
    assert listed.exit_code == 0 and run_id in listed.output and "1 run in" in listed.output
    answer = runner.invoke(app, ["query", "SELECT overrides, days FROM runs",
                                 "--registry", str(registry), "--csv"])
    assert answer.exit_code == 0
    assert answer.output.splitlines()[1] == '"{""scoring.points.jaywalking"": -7}",5'
    bad = runner.invoke(app, ["query", "SELEC 1", "--registry", str(registry)])
    assert bad.exit_code == 2 and "SQL error" in bad.output and "Traceback" not in bad.output
    # the environment variable sets the default; 'none' registers nothing
    monkeypatch.setenv("SCORESIM_REGISTRY", str(tmp_path / "env.duckdb"))
    result = runner.invoke(app, ["run", "reference", "--agents", "300", "--days", "5",
                                 "--out", str(tmp_path / "run2"), "-q"])
    assert result.exit_code == 0 and (tmp_path / "env.duckdb").is_file()
    result = runner.invoke(app, ["run", "reference", "--agents", "300", "--days", "5",
                                 "--out", str(tmp_path / "run3"), "-q", "--registry", "none"])
    assert result.exit_code == 0 and not (tmp_path / "none").exists()
    assert query("SELECT count(*) AS n FROM runs", tmp_path / "env.duckdb").n[0] == 1
