"""Results and the run folder: the contract other tools build on.

A run folder holds `manifest.json`, `timeseries.parquet`, `people.parquet` and
(unless records are off) `records.parquet`. It is written into a hidden staging
folder beside its destination and renamed into place only when complete, so a
run that did not finish is never taken for one that did.
"""

from __future__ import annotations

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


class RunFolderError(OSError):
    """A run folder that cannot be written or read; the message says which and why."""


@dataclass
class Results:
    """What one run produced: DataFrames for analysis, and the files behind them."""

    manifest: dict[str, Any]
    timeseries: pd.DataFrame
    people: pd.DataFrame
    records_path: Path | None = None
    folder: Path | None = None
    _records: pd.DataFrame | None = field(default=None, repr=False)

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
        pq.write_table(pa.Table.from_pandas(self.people, preserve_index=False),
                       tmp / PEOPLE, compression="zstd")
        if self.records_path is not None and self.records_path.exists():
            target = tmp / RECORDS
            if self.records_path.resolve() != target.resolve():
                shutil.copyfile(self.records_path, target)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.summary().items())
        return f"<table><caption>scoresim run</caption>{rows}</table>"


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str))


class staging:
    """A hidden folder beside `final` that is renamed to `final` only on success."""

    def __init__(self, final: Path):
        self.final = Path(final)
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        final = self.final
        if final.exists() and (not final.is_dir() or any(final.iterdir())):
            raise RunFolderError(f"{final}: already exists and is not empty; choose another --out")
        parent = final.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.tmp = parent / f".{final.name}.partial-{uuid.uuid4().hex[:8]}"
            self.tmp.mkdir()
        except OSError as exc:
            raise RunFolderError(f"{parent}: cannot create the run folder ({exc.strerror})") from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        try:
            if self.final.exists():
                self.final.rmdir()  # empty, checked on entry
            os.replace(self.tmp, self.final)
        except OSError as exc:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise RunFolderError(f"{self.final}: cannot finish the run folder ({exc.strerror})") \
                from None


def scratch_folder() -> Path:
    """A private temporary folder for a run kept only in memory, removed with its Results."""
    return Path(tempfile.mkdtemp(prefix="scoresim-"))


def attach_cleanup(results: Results, folder: Path) -> None:
    weakref.finalize(results, shutil.rmtree, folder, True)


def load(folder: str | Path) -> Results:
    """Read a run folder back."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise RunFolderError(f"{folder}: not a run folder (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
        timeseries = pq.read_table(folder / TIMESERIES).to_pandas()
        people = pq.read_table(folder / PEOPLE).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise RunFolderError(f"{folder}: unreadable run folder ({exc})") from None
    records = folder / RECORDS
    return Results(manifest, timeseries, people, records if records.exists() else None, folder)
