"""The run registry: one DuckDB file that indexes every run and sweep, so SQL reaches them all.

A run folder is the record of one run; the registry is only an index over run
folders, so that "which runs had more than 500 wrongful bans, and what did their
timeseries look like" is one query instead of a script over directories. It
holds:

- `runs`: one row per registered run folder: scenario, parameters (the
  overrides that made it), seed, sizes, key outcomes (Results.summary()), and
  the folder. `outcomes` and `scenario_json` keep the full summary and the
  fully resolved scenario as JSON, so any parameter can be queried.
- `sweeps` and `sweep_members`: each sweep, and which run is which
  (grid point, arm, seed) of it.
- views over the Parquet files of the registered folders: `timeseries`,
  `people`, `records` (each with a run_id column) and `sweep_summaries` (with
  a sweep_id column).

DuckDB lets one process write a database file at a time (and readers take a
shared lock). So every operation opens the file, does its work in one
transaction, and closes it at once; a process that finds the file locked
waits and tries again with growing, jittered pauses. A crash mid-write rolls
the transaction back: the registry never holds half a registration. Only
finished run folders (with a manifest.json, which is written last, atomically)
are accepted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from scoresim.runs.columns import read_parquet
from scoresim.runs.folder import RunFolderError, check_replaceable
from scoresim.runs.layout import (
    DEFAULT_REGISTRY,
    MANIFEST,
    PEOPLE,
    RECORDS,
    SUMMARY_FILE,
    TIMESERIES,
)
from scoresim.runs.results import Results

#: Environment variable that replaces the default registry path of the command line.
REGISTRY_ENV = "SCORESIM_REGISTRY"
#: How long a process waits for another one's lock before it gives up, in seconds.
LOCK_TIMEOUT = 60.0

log = logging.getLogger(__name__)

# Key outcomes kept as their own columns (the rest of Results.summary() is in
# `outcomes`); names are those of Results.summary().
KEY_OUTCOMES: tuple[tuple[str, str], ...] = (
    ("mean_score", "DOUBLE"),
    ("n_travel_banned", "BIGINT"),
    ("n_wrongly_banned", "BIGINT"),
    ("n_dishonest", "BIGINT"),
    ("n_consumption_banned", "BIGINT"),
    ("n_media_suspended", "BIGINT"),
    ("total_records", "BIGINT"),
    ("total_false_records", "BIGINT"),
    ("total_events", "BIGINT"),
    ("total_speech_events", "BIGINT"),
    ("total_shamed", "BIGINT"),
    ("total_shamed_wrongly", "BIGINT"),
)

_RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR NOT NULL"),
    ("folder", "VARCHAR NOT NULL"),
    ("registered_at", "TIMESTAMP"),
    ("scenario", "VARCHAR"),
    ("seed", "BIGINT"),
    ("agents", "BIGINT"),
    ("days", "INTEGER"),
    ("records", "VARCHAR"),
    ("has_records", "BOOLEAN"),
    ("overrides", "JSON"),
    ("sweep_id", "VARCHAR"),
    ("arm", "VARCHAR"),
    ("scoresim_version", "VARCHAR"),
    ("started", "VARCHAR"),
    ("wall_seconds", "DOUBLE"),
    ("n_events", "BIGINT"),
    ("n_records_written", "BIGINT"),
    *KEY_OUTCOMES,
    ("outcomes", "JSON"),
    ("scenario_json", "JSON"),
)

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS runs ("
    + ", ".join(f"{name} {kind}" for name, kind in _RUN_COLUMNS) + ")",
    "CREATE TABLE IF NOT EXISTS sweeps (sweep_id VARCHAR NOT NULL, name VARCHAR, "
    "folder VARCHAR, registered_at TIMESTAMP, n_points INTEGER, n_arms INTEGER, "
    "n_seeds INTEGER, n_members INTEGER, spec JSON)",
    "CREATE TABLE IF NOT EXISTS sweep_members (sweep_id VARCHAR NOT NULL, point INTEGER, "
    "arm VARCHAR, seed BIGINT, run_id VARCHAR, parameters JSON)",
]


class RegistryError(RuntimeError):
    """The registry cannot be read or written; the message says which file and why."""


class QueryError(RegistryError):
    """The SQL given to the registry is not valid; the message is DuckDB's."""


class ViewsNotRefreshed(RegistryError):
    """The rows were registered, but the views over the runs' files could not be rebuilt."""


@dataclass
class RunEntry:
    """A finished run folder to register, with what the folder alone does not say."""

    folder: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    sweep_id: str | None = None
    arm: str | None = None
    summary: dict[str, Any] | None = None


def default_registry() -> Path:
    """$SCORESIM_REGISTRY if set, else ./runs/registry.duckdb."""
    return Path(os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)


def run_id_for(folder: str | Path) -> str:
    """A run's id is derived from its folder, so registering a folder twice is one row."""
    return hashlib.sha256(_folder_key(folder).encode()).hexdigest()[:16]


def sweep_id_for(folder: str | Path) -> str:
    return "sw-" + hashlib.sha256(_folder_key(folder).encode()).hexdigest()[:13]


def _folder_key(folder: str | Path) -> str:
    return Path(folder).resolve().as_posix()


# --- writing -------------------------------------------------------------------------------


def register_run(folder: str | Path, registry: str | Path | None = None, *,
                 overrides: dict[str, Any] | None = None,
                 summary: dict[str, Any] | None = None) -> str:
    """Register one finished run folder (again, if it was); returns its run id."""
    entry = RunEntry(Path(folder), dict(overrides or {}), summary=summary)
    return register_runs([entry], registry)[0]


def register_runs(entries: Iterable[RunEntry], registry: str | Path | None = None) -> list[str]:
    """Register finished run folders in one transaction: all of them, or none."""
    rows = [_run_row(e) for e in entries]
    if not rows:
        return []
    with _writing(registry) as con:
        _upsert_runs(con, rows)
    return [r["run_id"] for r in rows]


def register_sweep(registry: str | Path | None, *, folder: str | Path, name: str,
                   spec: dict[str, Any], members: list[dict[str, Any]],
                   entries: Iterable[RunEntry] = (), n_points: int, n_arms: int,
                   n_seeds: int) -> str:
    """Register a sweep and its membership (and any runs not yet registered), atomically.

    `members` has one dict per (point, arm, seed): those keys, plus `folder` (the
    member's run folder) and `parameters` (what the point varied).
    """
    rows = [_run_row(e) for e in entries]
    sweep_id = sweep_id_for(folder)
    member_rows = pd.DataFrame({
        "sweep_id": [sweep_id] * len(members),
        "point": pd.array([m["point"] for m in members], dtype="Int32"),
        "arm": [m["arm"] for m in members],
        "seed": pd.array([m["seed"] for m in members], dtype="Int64"),
        "run_id": [run_id_for(m["folder"]) for m in members],
        "parameters": [_json(m.get("parameters", {})) for m in members],
    })
    sweep_row = pd.DataFrame([{
        "sweep_id": sweep_id, "name": name, "folder": _folder_key(folder),
        "registered_at": _now(), "n_points": n_points, "n_arms": n_arms, "n_seeds": n_seeds,
        "n_members": len({m["folder"] for m in members}), "spec": _json(spec),
    }])
    with _writing(registry) as con:
        if rows:
            _upsert_runs(con, rows)
        con.execute("DELETE FROM sweep_members WHERE sweep_id = ?", [sweep_id])
        con.execute("DELETE FROM sweeps WHERE sweep_id = ?", [sweep_id])
        _insert(con, "sweep_members", member_rows)
        _insert(con, "sweeps", sweep_row)
    return sweep_id


def _run_row(entry: RunEntry) -> dict[str, Any]:
    folder = Path(entry.folder).resolve()
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file() or not (folder / TIMESERIES).is_file():
        raise RegistryError(f"{folder}: not a finished run folder (no {MANIFEST} or "
                            f"{TIMESERIES}); nothing registered")
    try:
        manifest = json.loads(manifest_path.read_text())
        summary = entry.summary
        if summary is None:
            timeseries = read_parquet(folder / TIMESERIES)
            summary = Results(manifest, timeseries, pd.DataFrame()).summary()
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{folder}: unreadable run folder ({exc}); nothing registered") \
            from None
    summary = {k: _finite(v) for k, v in summary.items()}
    scenario = manifest.get("scenario", {})
    row: dict[str, Any] = {
        "run_id": run_id_for(folder),
        "folder": folder.as_posix(),
        "registered_at": _now(),
        "scenario": scenario.get("name"),
        "seed": manifest.get("seed"),
        "agents": manifest.get("agents"),
        "days": manifest.get("days"),
        "records": manifest.get("records"),
        "has_records": (folder / RECORDS).is_file(),
        "overrides": _json(entry.overrides),
        "sweep_id": entry.sweep_id,
        "arm": entry.arm,
        "scoresim_version": manifest.get("scoresim_version"),
        "started": manifest.get("started"),
        "wall_seconds": manifest.get("wall_seconds"),
        "n_events": manifest.get("n_events"),
        "n_records_written": manifest.get("n_records_written"),
        "outcomes": _json(summary),
        "scenario_json": _json(scenario),
    }
    for name, _ in KEY_OUTCOMES:
        row[name] = summary.get(name)
    return row


def _upsert_runs(con: Any, rows: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(rows, columns=[name for name, _ in _RUN_COLUMNS])
    for name, kind in _RUN_COLUMNS:
        if kind.startswith(("BIGINT", "INTEGER")):
            frame[name] = pd.array(frame[name], dtype="Int64")
        elif kind.startswith("DOUBLE"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    con.register("scoresim_new_rows", frame)
    try:
        con.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM scoresim_new_rows)")
        con.execute("INSERT INTO runs BY NAME SELECT * FROM scoresim_new_rows")
    finally:
        con.unregister("scoresim_new_rows")


def _insert(con: Any, table: str, frame: pd.DataFrame) -> None:
    con.register("scoresim_new_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM scoresim_new_rows")
    finally:
        con.unregister("scoresim_new_rows")


# --- the views over the Parquet files -------------------------------------------------------


def _refresh_views(con: Any, temporary: bool) -> list[str]:
    """(Re)define the views over the files of the registered folders that still exist.

    The persistent views are rebuilt at each registration; a query builds
    temporary ones that shadow them, so a folder deleted since does not break it.
    A file that cannot be read (damaged by hand, say) is left out of the view
    rather than making every query over all runs fail.
    """
    kind = "TEMP VIEW" if temporary else "VIEW"
    used: list[str] = []
    runs = con.execute("SELECT run_id, folder FROM runs").fetchall()
    for view, filename, empty in (
        ("timeseries", TIMESERIES, "NULL::VARCHAR AS run_id, NULL::BIGINT AS day"),
        ("people", PEOPLE, "NULL::VARCHAR AS run_id, NULL::BIGINT AS id"),
        ("records", RECORDS, "NULL::VARCHAR AS run_id, NULL::BIGINT AS day"),
    ):
        files = [f"{folder}/{filename}" for _, folder in runs
                 if Path(folder, filename).is_file()]
        used += _create_view(con, kind, view, files, "runs", "run_id", "folder", filename,
                             empty)
    sweeps = con.execute("SELECT sweep_id, folder FROM sweeps").fetchall()
    files = [f"{folder}/{SUMMARY_FILE}" for _, folder in sweeps
             if Path(folder, SUMMARY_FILE).is_file()]
    used += _create_view(con, kind, "sweep_summaries", files, "sweeps", "sweep_id", "folder",
                         SUMMARY_FILE, "NULL::VARCHAR AS sweep_id")
    return used


def _create_view(con: Any, kind: str, view: str, files: list[str], table: str, key: str,
                 folder: str, filename: str, empty: str) -> list[str]:
    """Define one view; returns the files it reads."""
    import duckdb

    def create(paths: list[str]) -> None:
        if paths:
            body = (f"SELECT k.{key}, t.* EXCLUDE (filename) FROM read_parquet("
                    f"{_sql_list(paths)}, filename = true, union_by_name = true) AS t "
                    f"JOIN {table} AS k ON t.filename = k.{folder} || '/{filename}'")
        else:
            body = f"SELECT {empty} WHERE false"
        con.execute(f"CREATE OR REPLACE {kind} {view} AS {body}")

    try:
        create(files)
        return files
    except duckdb.Error:
        readable = []
        for path in files:
            try:
                con.execute(f"SELECT 1 FROM parquet_schema({_sql_list([path])[1:-1]})")
            except duckdb.Error:
                log.warning("%s: unreadable, left out of the %s view", path, view)
            else:
                readable.append(path)
        create(readable)
        return readable


def _sql_list(items: list[str]) -> str:
    return "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in items) + "]"


# --- reading -------------------------------------------------------------------------------


#: The statements `query` runs: reading only. Anything else (ATTACH, COPY, INSTALL, LOAD,
#: SET, CREATE, INSERT, EXPORT, PRAGMA ...) is refused before the registry is opened.
READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN")


def query(sql: str, registry: str | Path | None = None) -> pd.DataFrame:
    """Run SQL against the registry (read only) and return the answer as a DataFrame.

    Tables: runs, sweeps, sweep_members; views: timeseries, people, records
    (with run_id) and sweep_summaries (with sweep_id).

    Read only, and only the registry: SELECT and EXPLAIN statements only, on a
    read-only connection whose external access is off (no file but the
    registered runs' Parquet files can be read, none written, no extension
    installed or loaded, no other database attached) and whose configuration is
    locked, so no statement can turn any of it back on. Anything else is a
    QueryError saying so.
    """
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {str(exc).strip()}") from None
    if not statements:
        raise QueryError("SQL error: no statement given")
    for statement in statements:
        kind = statement.type.name
        if kind not in READ_ONLY_STATEMENTS:
            raise QueryError(f"refused: the registry is read only; `scoresim query` runs "
                             f"SELECT (and EXPLAIN) statements only, not {kind}")
    with _reading(registry, locked=True) as con:
        try:
            return con.execute(sql).df()
        except duckdb.PermissionException as exc:
            raise QueryError(f"refused: a query reads the registry and its runs' files "
                             f"only ({str(exc).strip()})") from None
        except duckdb.Error as exc:
            raise QueryError(f"SQL error: {str(exc).strip()}") from None


def list_runs(registry: str | Path | None = None) -> pd.DataFrame:
    """Every registered run, newest first, with its sweep's name and its key outcomes."""
    return query(
        "SELECT r.run_id, strftime(r.registered_at, '%Y-%m-%d %H:%M') AS registered, "
        "r.scenario, r.seed, r.agents, r.days, s.name AS sweep, r.arm, r.overrides, "
        "r.mean_score, r.n_travel_banned, r.folder FROM runs AS r "
        "LEFT JOIN sweeps AS s USING (sweep_id) ORDER BY r.registered_at DESC, r.folder",
        registry)


# --- connections ---------------------------------------------------------------------------


@contextmanager
def _writing(registry: str | Path | None) -> Iterator[Any]:
    """A connection in a transaction that commits on leaving; the views are then rebuilt.

    What goes wrong while writing (a full disk: DuckDB's IOException or an OSError,
    at any statement or at the commit) rolls the transaction back and is a
    RegistryError saying nothing was registered; the run folders are never
    touched. A failure to rebuild the views after the commit is a
    ViewsNotRefreshed: the rows are registered, and `query` builds its own views.
    """
    path = Path(registry) if registry is not None else default_registry()
    try:
        check_replaceable(path, "registry")  # DuckDB would write through a link or a FIFO
    except RunFolderError as exc:
        raise RegistryError(str(exc)) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(f"{path}: cannot create its folder ({exc.strerror})") from None
    import duckdb

    try:
        with _connect(path, read_only=False) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for statement in _SCHEMA:
                    con.execute(statement)
                yield con
                _commit(con)
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error, OSError):
                    con.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error | OSError):
                    raise RegistryError(f"{path}: nothing registered ({_reason(exc)})") \
                        from None
                raise
            # outside the transaction, so that an unreadable file cannot undo a registration
            try:
                _refresh_views(con, temporary=False)
            except (duckdb.Error, OSError) as exc:
                raise ViewsNotRefreshed(
                    f"{path}: registered, but its views over the runs' files were not "
                    f"rebuilt ({_reason(exc)}); `scoresim query` builds its own") from None
    except duckdb.Error as exc:  # closing the file (a last write) on a full disk
        raise RegistryError(f"{path}: {_reason(exc)}") from None


def _commit(con: Any) -> None:
    con.execute("COMMIT")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip() or type(exc).__name__


@contextmanager
def _reading(registry: str | Path | None, locked: bool = False) -> Iterator[Any]:
    """A read-only connection with the views defined; `locked`: also shut off from every
    file but the registry and the files its views read (see `query`)."""
    import duckdb

    path = Path(registry) if registry is not None else default_registry()
    if not path.is_file():
        raise RegistryError(f"{path}: no registry here (a run or sweep creates it)")
    with _connect(path, read_only=True) as con:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        if "runs" not in tables:
            raise RegistryError(f"{path}: not a scoresim registry (no runs table)")
        try:
            files = _refresh_views(con, temporary=True)
        except duckdb.Error as exc:
            raise RegistryError(f"{path}: cannot read the runs' files "
                                f"({str(exc).strip()})") from None
        if locked:
            _lock_down(con, files)
        yield con


def _lock_down(con: Any, files: list[str]) -> None:
    """No file but `files` (and the open registry) readable, nothing written or loaded, and
    the settings locked so that no statement can change them back."""
    con.execute(f"SET allowed_paths = {_sql_list(files)}")
    for setting in ("autoinstall_known_extensions", "autoload_known_extensions",
                    "enable_external_access"):
        con.execute(f"SET {setting} = false")
    con.execute("SET lock_configuration = true")


@contextmanager
def _connect(path: Path, read_only: bool, timeout: float = LOCK_TIMEOUT) -> Iterator[Any]:
    """Open the database, waiting (with jittered exponential backoff) while another
    process holds it."""
    import duckdb

    deadline = time.monotonic() + timeout
    pause = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.Error as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise RegistryError(f"{path}: cannot open the registry ({text.strip()})") \
                    from None
            if time.monotonic() + pause > deadline:
                raise RegistryError(f"{path}: still locked by another process after "
                                    f"{timeout:.0f} s; try again later") from None
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 1.0)
    try:
        yield con
    finally:
        con.close()


# --- small helpers -------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(value: Any) -> str:
    return json.dumps(_clean(value), default=str)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return _finite(value)
