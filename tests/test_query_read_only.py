"""`scoresim query` is read only: it cannot attach, copy, install, load, read other files,
or turn any of that back on. Before, a query could ATTACH another DuckDB file READ_WRITE
and delete its rows, overwrite any file with COPY TO and read any file with read_csv or
read_text; each refusal below failed on that code."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.runs.registry import QueryError, query, register_run


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("ro")
    scoresim.run("reference", agents=500, days=5, seed=1, records="all", out=base / "run")
    path = base / "registry.duckdb"
    register_run(base / "run", path)
    return path


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE precious AS SELECT range AS x FROM range(10)")
    con.close()
    return path


def refused(sql: str, registry: Path, *expected: str) -> str:
    result = CliRunner().invoke(app, ["query", sql, "--registry", str(registry)])
    assert result.exit_code == 2, (sql, result.output, result.exception)
    assert "Traceback" not in result.output
    assert "refused" in result.output, result.output
    for text in expected:
        assert text in result.output, result.output
    with pytest.raises(QueryError, match="refused"):
        query(sql, registry)
    return result.output


def test_ordinary_queries_still_answer(registry) -> None:
    assert query("SELECT count(*) AS n FROM runs", registry).n[0] == 1
    assert query("SELECT max(day) AS d FROM timeseries", registry).d[0] == 4
    assert len(query("SELECT * FROM records LIMIT 3", registry)) <= 3
    assert len(query("SHOW TABLES", registry)) >= 3
    folder = query("SELECT folder FROM runs", registry).folder[0]
    own = query(f"SELECT count(*) AS n FROM read_parquet('{folder}/timeseries.parquet')",
                registry)
    assert own.n[0] == 5  # a registered run's own files stay readable


def test_attach_another_database_is_refused(registry, victim) -> None:
    refused(f"ATTACH '{victim}' AS o (READ_WRITE)", registry, "ATTACH")
    refused(f"SELECT 1; ATTACH '{victim}' AS o; DELETE FROM o.precious", registry)
    con = duckdb.connect(str(victim), read_only=True)
    assert con.execute("SELECT count(*) FROM precious").fetchone()[0] == 10
    con.close()


def test_copy_and_export_write_nothing(registry, tmp_path) -> None:
    target = tmp_path / "overwritten.csv"
    target.write_text("keep me\n")
    refused(f"COPY (SELECT 1) TO '{target}'", registry, "COPY")
    refused(f"EXPORT DATABASE '{tmp_path / 'dump'}'", registry)
    assert target.read_text() == "keep me\n" and not (tmp_path / "dump").exists()


@pytest.mark.parametrize("fn", ["read_csv", "read_text", "read_blob", "read_json", "glob",
                                "sniff_csv", "read_parquet"])
def test_file_reading_functions_reach_no_other_file(registry, tmp_path, fn) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a,b\n1,2\n")
    output = refused(f"SELECT * FROM {fn}('{secret}')", registry)
    assert "1,2" not in output


def test_extensions_settings_and_writes_are_refused(registry) -> None:
    for sql in ("INSTALL httpfs", "LOAD httpfs", "SET enable_external_access = true",
                "SET lock_configuration = false", "PRAGMA enable_profiling",
                "CREATE TABLE t AS SELECT 1", "DELETE FROM runs", "CHECKPOINT",
                "CALL pragma_version()"):
        refused(sql, registry)
    assert query("SELECT count(*) AS n FROM runs", registry).n[0] == 1
