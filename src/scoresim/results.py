"""Results and the run folder: the contract other tools build on.

A run folder holds `manifest.json`, `timeseries.parquet`, `people.parquet` and
(unless records are off) `records.parquet`. It is written into a hidden staging
folder beside its destination and renamed into place only when complete, so a
run that did not finish is never taken for one that did.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoresim.credit_file import RECORD_SCHEMA

MANIFEST = "manifest.json"
TIMESERIES = "timeseries.parquet"
PEOPLE = "people.parquet"
RECORDS = "records.parquet"
SANCTIONS = "sanctions.parquet"
BREAKDOWN = "breakdown.parquet"
# the society's tables (firms, their credit file, collateral sanctions), where a scenario has them
SOCIETY_TABLES = ("firms", "firm_records", "collateral")


class RunFolderError(OSError):
    """A run folder that cannot be written or read; the message says which and why."""


@dataclass
class Results:
    """What one run produced: DataFrames for analysis, and the files behind them."""

    manifest: dict[str, Any]
    timeseries: pd.DataFrame
    # the final state of each person: an Arrow table straight from the engine (written
    # as is, converted to a DataFrame only when read: at 100M people the conversion
    # costs seconds and gigabytes), or a DataFrame
    _people: pd.DataFrame | pa.Table
    records_path: Path | None = None
    folder: Path | None = None
    _records: pd.DataFrame | None = field(default=None, repr=False)
    breakdown: pd.DataFrame | None = field(default=None, repr=False)
    """Daily outcomes by trait level (day, dimension, value, counts); None unless asked for."""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def people(self) -> pd.DataFrame:
        """One row per person: final score, grade, sanctions and traits."""
        if isinstance(self._people, pa.Table):
            self._people = self._people.to_pandas()
        return self._people

    @people.setter
    def people(self, value: pd.DataFrame) -> None:
        self._people = value

    @property
    def firms(self) -> pd.DataFrame | None:
        return self.tables.get("firms")

    @property
    def collateral(self) -> pd.DataFrame | None:
        """One row per collateral sanction, with the person or firm whose record caused it."""
        return self.tables.get("collateral")

    @property
    def scenario(self) -> dict[str, Any]:
        return self.manifest["scenario"]

    @property
    def records(self) -> pd.DataFrame:
        """The credit file (read from Parquet on first use; it can be large)."""
        if self._records is None:
            if self.records_path is not None and self.records_path.exists():
                df = pq.read_table(self.records_path).to_pandas()
            else:
                df = RECORD_SCHEMA.empty_table().to_pandas()
            self._records = df
        return self._records

    @property
    def sanctions(self) -> pd.DataFrame:
        """Each sanction begun or ended (day, person, sanction, started), for kept files."""
        path = self.records_path.with_name(SANCTIONS) if self.records_path else None
        if path is None or not path.exists():
            return pd.DataFrame({"day": [], "person": [], "sanction": [], "started": []})
        return pq.read_table(path).to_pandas()

    def channel_quality(self) -> pd.DataFrame:
        """Precision and recall of each channel over the run (with metrics.channels)."""
        from scoresim.surveillance_metrics import channel_quality

        return channel_quality(self.timeseries)

    def summary(self) -> dict[str, Any]:
        """The key numbers of the last day, for tables and registries."""
        ts = self.timeseries
        last = {c: ts[c].iloc[-1].item() for c in ts.columns} if len(ts) else None
        out: dict[str, Any] = {
            "scenario": self.manifest["scenario"]["name"],
            "agents": self.manifest["agents"],
            "days": self.manifest["days"],
            "seed": self.manifest["seed"],
        }
        if last is not None:
            for col in ts.columns:
                if col.startswith("n_grade_") or col in (
                    "mean_score", "n_travel_banned", "n_wrongly_banned", "n_dishonest",
                    "n_consumption_banned", "n_media_suspended",
                ):
                    out[col] = last[col]
        for col in ("n_records", "n_false_records", "n_events", "n_speech_events",
                    "n_shamed", "n_shamed_wrongly", "n_delisted"):
            if col in ts:
                out[f"total_{col[2:]}"] = int(ts[col].sum())
        out["wall_seconds"] = self.manifest.get("wall_seconds")
        return out

    def save(self, folder: str | Path) -> Path:
        """Write the run folder atomically; refuses to replace a folder that holds anything."""
        folder = Path(folder)
        with staging(folder) as tmp:
            self._write_into(tmp)
        self.folder = folder
        if self.records_path is not None and (folder / RECORDS).exists():
            self.records_path = folder / RECORDS
        return folder

    def _write_into(self, tmp: Path) -> None:
        write_json(tmp / MANIFEST, self.manifest)
        pq.write_table(pa.Table.from_pandas(self.timeseries, preserve_index=False),
                       tmp / TIMESERIES, compression="zstd")
        people = self._people if isinstance(self._people, pa.Table) else \
            pa.Table.from_pandas(self._people, preserve_index=False)
        pq.write_table(people, tmp / PEOPLE, compression="zstd")
        if self.breakdown is not None:
            pq.write_table(pa.Table.from_pandas(self.breakdown, preserve_index=False),
                           tmp / BREAKDOWN, compression="zstd")
        for name, table in self.tables.items():
            pq.write_table(pa.Table.from_pandas(table, preserve_index=False),
                           tmp / f"{name}.parquet", compression="zstd")
        if self.records_path is not None:
            for name in (RECORDS, SANCTIONS):
                source = self.records_path.with_name(name)
                target = tmp / name
                if source.exists() and source.resolve() != target.resolve():
                    shutil.copyfile(source, target)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.summary().items())
        return f"<table><caption>scoresim run</caption>{rows}</table>"

    def plot(self) -> Any:
        """The run at a glance, as a plotly Figure: grade shares and sanctions, day by day."""
        from scoresim.report import overview_figure

        return overview_figure(self)


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str))


PARTIAL_MARK = ".partial-"  # a staging folder is named .<final name>.partial-<pid>-<random>


def is_partial(folder: Path) -> bool:
    """A staging folder: an unfinished run, or one whose process was killed."""
    return folder.name.startswith(".") and PARTIAL_MARK in folder.name


class staging:
    """A hidden folder beside `final` that is renamed to `final` only on success.

    The rename is the commit: `final` holds a whole run or does not exist. Files
    are flushed to disk (fsync) before it and the parent directory after it, so
    a crash of the machine does not leave a folder whose files are empty. On any
    failure the staging folder, and any parent folders this created, are
    removed; an OSError while writing (a full disk, a read-only folder) becomes
    a RunFolderError that says so.

    `unique`: `final` is only a suggestion (the CLI's default ./runs/<time>-<name>):
    when another run holds that name, even one finishing at the same moment in
    another process, the folder goes to `final-2`, `final-3`, ... instead.
    Without it, a taken `final` is an error and the new run is not kept. Either
    way an existing run is never replaced: rename(2) only ever replaces an empty
    directory. `self.final` is where the run went.
    """

    def __init__(self, final: Path, unique: bool = False):
        self.final = Path(final)
        self.unique = unique
        self.tmp: Path | None = None
        self._made: list[Path] = []

    def __enter__(self) -> Path:
        final = self.final
        parent = final.parent
        try:
            if final.exists() and not final.is_dir():
                raise RunFolderError(f"{final}: exists and is a file; choose another --out")
            if not self.unique and _taken(final):
                raise RunFolderError(
                    f"{final}: already exists and is not empty; choose another --out")
            self._made = _make_parents(parent)
            self.tmp = parent / f".{final.name}{PARTIAL_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self.tmp.mkdir()
        except RunFolderError:
            raise
        except OSError as exc:
            self._abandon()
            raise RunFolderError(f"{parent}: cannot create the run folder ({_why(exc)})") from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            self._abandon()
            if isinstance(exc, OSError) and not isinstance(exc, RunFolderError):
                raise RunFolderError(
                    f"{self.final}: cannot write the run folder ({_why(exc)}); nothing was kept"
                ) from None
            return
        try:
            _sync_tree(self.tmp)
            self.final = _commit(self.tmp, self.final, self.unique)
            _sync_dir(self.final.parent)
        except RunFolderError:
            self._abandon()
            raise
        except OSError as exc:
            self._abandon()
            raise RunFolderError(f"{self.final}: cannot finish the run folder ({_why(exc)}); "
                                 "nothing was kept") from None

    def _abandon(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        for folder in reversed(self._made):  # deepest first; only if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        self._made = []


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _taken(folder: Path) -> bool:
    try:
        return folder.is_dir() and any(folder.iterdir())
    except OSError:
        return True


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing ancestors; return those created, outermost first."""
    missing = []
    for p in [folder, *folder.parents]:
        if p.is_dir():
            break
        missing.append(p)
    made = []
    for p in reversed(missing):
        try:
            p.mkdir()
            made.append(p)
        except FileExistsError:
            if not p.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, f"{p} is a file, not a folder") from None
    return made


def _commit(tmp: Path, final: Path, unique: bool) -> Path:
    """Rename `tmp` to `final`, or with `unique` to the first free `final-k`."""
    def names():
        yield final
        if unique:
            for k in range(2, 1000):
                yield final.with_name(f"{final.name}-{k}")
            yield final.with_name(f"{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")

    for target in names():
        try:
            os.rename(tmp, target)  # replaces an empty directory, never a full one
            return target
        except OSError as exc:
            taken = exc.errno in (errno.ENOTEMPTY, errno.EEXIST) or (
                exc.errno == errno.ENOTDIR and target.exists() and not target.is_dir())
            if not taken:
                raise
            if not unique:
                raise RunFolderError(
                    f"{final}: another run was written there first; choose another --out "
                    "(this run was not kept)"
                ) from None
    raise RunFolderError(f"{final}: no free name for the run folder beside it")


def _sync_tree(folder: Path) -> None:
    """Flush every file and folder under `folder` to disk, innermost first."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(Path(root))


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some systems cannot open a directory; the rename still happened
    try:
        os.fsync(fd)
    except OSError:
        pass  # directories cannot be fsynced on every file system
    finally:
        os.close(fd)


def scratch_folder() -> Path:
    """A private temporary folder for a run kept only in memory, removed with its Results."""
    return Path(tempfile.mkdtemp(prefix="scoresim-"))


def attach_cleanup(results: Results, folder: Path) -> None:
    weakref.finalize(results, shutil.rmtree, folder, True)


def load(folder: str | Path) -> Results:
    """Read a run folder back; refuse anything that is not a finished run.

    A staging folder (an interrupted or killed run) and a folder missing any
    file the manifest promises are refused, so a run that did not finish is
    never taken for one that did.
    """
    folder = Path(folder)
    if is_partial(folder):
        raise RunFolderError(f"{folder}: an unfinished run (its process stopped before the "
                             "run folder was complete); it can be deleted")
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: no such run folder")
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise RunFolderError(f"{folder}: not a run folder (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{folder}: unreadable {MANIFEST} ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("scenario"), dict):
        raise RunFolderError(f"{folder}: {MANIFEST} is not a scoresim manifest")
    needed = [TIMESERIES, PEOPLE]
    if manifest.get("records", "none") != "none":
        needed.append(RECORDS)
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise RunFolderError(f"{folder}: incomplete run folder (missing {', '.join(missing)})")
    records = folder / RECORDS
    try:
        timeseries = pq.read_table(folder / TIMESERIES).to_pandas()
        people = pq.read_table(folder / PEOPLE).to_pandas()
        if records.exists():
            pq.read_metadata(records)  # a whole file ends with its footer
        breakdown = (pq.read_table(folder / BREAKDOWN).to_pandas()
                     if (folder / BREAKDOWN).is_file() else None)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise RunFolderError(f"{folder}: unreadable run folder ({exc})") from None
    tables = {}
    for name in SOCIETY_TABLES:
        path = folder / f"{name}.parquet"
        if path.is_file():
            try:
                tables[name] = pq.read_table(path).to_pandas()
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise RunFolderError(f"{folder}: unreadable {path.name} ({exc})") from None
    return Results(manifest, timeseries, people, records if records.exists() else None, folder,
                   breakdown=breakdown, tables=tables)
