"""Results: what one run produced, in memory, and the run folder it is written to and read from.

A run folder holds `manifest.json`, `timeseries.parquet`, `people.parquet` and
(unless records are off) `records.parquet`, with the optional tables beside
them (runs/layout.py names them all). It is written through a staging folder
(runs/folder.py), so a run that did not finish is never taken for one that did.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoresim.model.credit_file import RECORD_SCHEMA
from scoresim.model.surveillance_metrics import channel_quality
from scoresim.runs import wrongful as wrongful_table
from scoresim.runs.columns import describe, read_parquet
from scoresim.runs.folder import RunFolderError, is_partial, staging, write_json
from scoresim.runs.layout import (
    BREAKDOWN,
    MANIFEST,
    PEOPLE,
    RECORDS,
    SANCTIONS,
    SOCIETY_TABLES,
    TIMESERIES,
    WRONGFUL,
    society_table,
    table_row_group,
)
from scoresim.runs.people_file import count_unscored, people_rows
from scoresim.runs.plot import overview_figure
from scoresim.runs.schemes import several_scales, summary_keys, unscored


@dataclass
class Results:
    """What one run produced: DataFrames for analysis, and the files behind them."""

    manifest: dict[str, Any]
    timeseries: pd.DataFrame
    # the final state of each person: an Arrow table straight from the engine (written
    # as is, converted to a DataFrame only when read: at 100M people the conversion
    # costs seconds and gigabytes), or a DataFrame, or the people.parquet a run in
    # blocks wrote as it went (runs/people_file.py; read only when asked)
    _people: pd.DataFrame | pa.Table | Path
    records_path: Path | None = None
    folder: Path | None = None
    _records: pd.DataFrame | None = field(default=None, repr=False)
    breakdown: pd.DataFrame | None = field(default=None, repr=False)
    """Daily outcomes by trait level (day, dimension, value, counts); None unless asked for."""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    asked: dict[str, Any] | None = field(default=None, repr=False)
    """What the command that ran it asked to be done afterwards (registry, report), if any."""
    _finishing: Path | None = field(default=None, repr=False)  # runs/finish.py's step 6
    _wrongful: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def people(self) -> pd.DataFrame:
        """One row per person: final score, grade, sanctions and traits."""
        if isinstance(self._people, Path):
            self._people = read_parquet(self._people)
        if isinstance(self._people, pa.Table):
            self._people = self._people.to_pandas()
        return self._people

    @people.setter
    def people(self, value: pd.DataFrame) -> None:
        self._people = value

    def people_columns(self, columns: tuple[str, ...]) -> pd.DataFrame:
        """Some columns of people, without converting the whole table (it can be huge)."""
        if isinstance(self._people, Path):
            have = [c for c in columns if c in pq.ParquetFile(self._people).schema_arrow.names]
            return read_parquet(self._people, columns=have)
        if isinstance(self._people, pa.Table):
            have = [c for c in columns if c in self._people.column_names]
            return self._people.select(have).to_pandas()
        return self._people[[c for c in columns if c in self._people.columns]]

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

    def wrongful(self) -> pd.DataFrame | None:
        """Every wrongly sanctioned person and sanction, with the error that caused it.

        One row per person and sanction (wrongful.parquet; runs/columns.py defines the
        columns): `person, group, sanction, cause, channel, points`, and when it was
        wrongful. Read from the run folder, or computed from the credit file by replay
        (runs/wrongful.py) for a run in memory or a folder written before it existed.
        None when the run kept no credit file (records: none): there is nothing to trace.
        """
        if self._wrongful is None:
            path = self.folder / WRONGFUL if self.folder is not None else None
            if path is not None and path.is_file():
                self._wrongful = wrongful_table.read(path)
            elif self.records_path is None or self.manifest.get("records", "none") == "none":
                return None  # no credit file: nothing to trace (and no person column read)
            else:
                frame = wrongful_table.compute(self.manifest, self.records_path,
                                               self.people_columns(("id", "group", "scheme")),
                                               self.collateral)
                if frame is None:
                    return None
                self._wrongful = wrongful_table.read_frame(frame)
        return self._wrongful

    def channel_quality(self) -> pd.DataFrame:
        """Precision and recall of each channel over the run (with metrics.channels)."""
        return channel_quality(self.timeseries)

    def summary(self, wrongful: bool = True) -> dict[str, Any]:
        """The key numbers of the last day, for tables and registries.

        With `wrongful` (and a credit file kept), also the people wrongly sanctioned over
        the run per sanction (`wrongful_<sanction>`), in all (`wrongful_people`) and through
        joint punishment alone (`collateral_people`), from wrongful.parquet.
        """
        ts = self.timeseries
        last = ({c: ts[c].iloc[-1].item() for c in ts.columns if c != "date"} if len(ts)
                else None)
        out: dict[str, Any] = {
            "scenario": self.manifest["scenario"]["name"],
            "agents": self.manifest["agents"],
            "days": self.manifest["days"],
            "seed": self.manifest["seed"],
        }
        scales = several_scales(self.scenario)
        if last is not None:
            for col in ts.columns:
                if scales and (col == "mean_score" or col.startswith("n_grade_")):
                    continue  # a mean across scales, grade positions across schemes
                if col.startswith("n_grade_") or col in (
                    "mean_score", "n_travel_banned", "n_wrongly_banned", "n_dishonest",
                    "n_consumption_banned", "n_media_suspended",
                ):
                    out[col] = last[col]
        if scales:
            people = self.people_columns(("scheme", "grade", "score")) if isinstance(
                self._people, Path) else self._people
            out.update(summary_keys(self.scenario, people))
        if self.scenario.get("scoring") is not None:
            n = count_unscored(self._people) if isinstance(self._people, Path) else \
                unscored(self._people)
            if n:
                out["n_unscored"] = n
        for col in ("n_records", "n_false_records", "n_events", "n_speech_events",
                    "n_shamed", "n_shamed_wrongly", "n_delisted"):
            if col in ts:
                out[f"total_{col[2:]}"] = int(ts[col].sum())
        if last is not None and "n_collateral_sanctioned" in ts:
            out["n_collateral_sanctioned"] = last["n_collateral_sanctioned"]
        if wrongful:
            out.update(self._wrongful_summary())
        out["wall_seconds"] = self.manifest.get("wall_seconds")
        return out

    def _wrongful_summary(self) -> dict[str, int]:
        """People wrongly sanctioned over the run, per sanction (and through joint punishment
        alone), where the run kept a credit file to tell."""
        if self.records_path is None and self._wrongful is None and (
                self.folder is None or not (self.folder / WRONGFUL).is_file()):
            return {}
        w = self.wrongful()
        if w is None:
            return {}
        out = {f"wrongful_{s}": int(w.loc[w["sanction"] == s, "person"].nunique())
               for s in w["sanction"].cat.categories if (w["sanction"] == s).any()}
        collateral = w["cause"] == "collateral"
        out["wrongful_people"] = int(w["person"].nunique())
        out["collateral_people"] = int(w.loc[collateral, "person"].nunique())
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
        """Every file, manifest.json last: a folder with a manifest holds the whole run."""
        self._write_files(tmp)
        write_json(tmp / MANIFEST, self.manifest)

    def _write_files(self, tmp: Path) -> None:
        """Every file of the run folder but manifest.json."""
        def write(table: pa.Table, name: str) -> None:  # with each column's meaning
            pq.write_table(describe(table, name), tmp / name, compression="zstd",
                           row_group_size=table_row_group(table.num_rows))

        write(pa.Table.from_pandas(self.timeseries, preserve_index=False), TIMESERIES)
        if isinstance(self._people, Path):  # written block by block (a run in blocks)
            if self._people.resolve() != (tmp / PEOPLE).resolve():
                shutil.copyfile(self._people, tmp / PEOPLE)
        else:
            people = self._people if isinstance(self._people, pa.Table) else \
                pa.Table.from_pandas(self._people, preserve_index=False)
            write(people, PEOPLE)
        if self.breakdown is not None:
            write(pa.Table.from_pandas(self.breakdown, preserve_index=False), BREAKDOWN)
        for name, table in self.tables.items():
            write(pa.Table.from_pandas(table, preserve_index=False), society_table(name))
        wrongful = self.wrongful()
        if wrongful is not None:
            write(wrongful_table.as_table(wrongful), WRONGFUL)
        if self.records_path is not None:
            for name in (RECORDS, SANCTIONS):
                source = self.records_path.with_name(name)
                target = tmp / name
                if source.exists() and source.resolve() != target.resolve():
                    shutil.copyfile(source, target)

    def __repr__(self) -> str:
        """A few lines, not the manifest: what ran, where it is, what it holds."""
        m = self.manifest
        ts = self.timeseries
        n_people = (self._people.num_rows if isinstance(self._people, pa.Table) else
                    people_rows(self._people) if isinstance(self._people, Path) else
                    len(self._people))
        head = (f"Results({m['scenario']['name']}: {m['agents']:,} people x {m['days']:,} "
                f"days, seed {m['seed']}, backend {m.get('backend', 'day')}, "
                f"{m.get('wall_seconds') or 0:.1f} s)")
        lines = [head, f"  folder: {self.folder if self.folder is not None else '(in memory)'}",
                 f"  timeseries: {len(ts):,} days x {len(ts.columns)} columns; people: "
                 f"{n_people:,} rows",
                 f"  records: {m.get('records', 'none')}, {m.get('n_records_written', 0):,} "
                 "rows written"]
        extra = [n for n, t in (("breakdown", self.breakdown), *self.tables.items())
                 if t is not None]
        if extra:
            lines.append(f"  tables: {', '.join(extra)}")
        s = self.summary(wrongful=False)  # a repr does not replay credit files
        keys = [k for k in ("mean_score", "n_travel_banned", "n_wrongly_banned",
                            "total_records", "total_false_records") if k in s]
        lines.append("  last day: " + ", ".join(
            f"{k} {s[k]:,.2f}" if isinstance(s[k], float) else f"{k} {s[k]:,}" for k in keys))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.summary().items())
        return f"<table><caption>scoresim run</caption>{rows}</table>"

    def plot(self) -> Any:
        """The run at a glance, as a plotly Figure: grade shares and sanctions, day by day."""
        return overview_figure(self)


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
    return _read(folder)


def verify(folder: str | Path) -> dict[str, Any]:
    """Refuse a folder that is not a whole run folder; return its manifest.

    Whole: a scoresim manifest, every file it promises, and each Parquet file
    ending with its footer (a file cut short by a crash has none). Cheap: no
    table is read.
    """
    folder = Path(folder)
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
    for path in sorted(folder.glob("*.parquet")):
        try:
            pq.read_metadata(path)  # a whole file ends with its footer
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise RunFolderError(f"{path}: unreadable ({exc})") from None
    return manifest


def _read(folder: Path) -> Results:
    manifest = verify(folder)
    records = folder / RECORDS
    try:
        timeseries = read_parquet(folder / TIMESERIES)
        people = read_parquet(folder / PEOPLE)
        breakdown = (read_parquet(folder / BREAKDOWN)
                     if (folder / BREAKDOWN).is_file() else None)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise RunFolderError(f"{folder}: unreadable run folder ({exc})") from None
    tables = {}
    for name in SOCIETY_TABLES:
        path = folder / society_table(name)
        if path.is_file():
            try:
                tables[name] = read_parquet(path)
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise RunFolderError(f"{folder}: unreadable {path.name} ({exc})") from None
    return Results(manifest, timeseries, people, records if records.exists() else None, folder,
                   breakdown=breakdown, tables=tables)
