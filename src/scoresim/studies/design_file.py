"""Explicit designs: a CSV or Parquet file, one row per parameter set, columns by dotted path.

A design made elsewhere (SALib, scipy.stats.qmc, EMA Workbench, a spreadsheet)
runs as is: `scoresim sweep --design FILE`, or `design_file:` in a sweep file.
Each row is one point of the sweep; each column a dotted scenario path as
`--set` takes it. Numbers stay numbers (a column of whole numbers gives whole
numbers); a text cell is read as a YAML scalar, so `true` is a yes and
`[0.8, 0.2]` a list. Errors name the file, the column and the row (rows
numbered from 1, the header not counted).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoresim.scenario.loader import DOTTED_PATH, ScenarioError, read_yaml

#: More rows than any sweep can run (sweep.MAX_MEMBERS) are refused as they are read.
MAX_ROWS = 100_000
RESERVED = ("seed", "agents", "days", "records")


def read_design(path: str | Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The design's columns (dotted paths) and one dict per row: path -> value."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ScenarioError(source, "no such design file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=None, keep_default_na=True, nrows=MAX_ROWS + 1)
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            raise ScenarioError(source, f"a design is a .csv or .parquet file, not "
                                f"'{path.suffix or path.name}'")
    except ScenarioError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        kind = "CSV" if suffix == ".csv" else "Parquet"
        raise ScenarioError(source, f"not a readable {kind} design ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own kinds for a bad file
        raise ScenarioError(source, f"not a readable design ({type(exc).__name__})") from None
    if len(frame) > MAX_ROWS:
        raise ScenarioError(source, f"more than {MAX_ROWS:,} rows")
    if frame.shape[1] == 0:
        raise ScenarioError(source, "no columns: the header names the dotted paths varied")
    if len(frame) == 0:
        raise ScenarioError(source, "no rows: one row per parameter set")
    columns = [str(c) for c in frame.columns]
    for c in columns:
        if c.startswith("Unnamed:") or not DOTTED_PATH.fullmatch(c):
            raise ScenarioError(source, f"'{c}' is not a dotted path like "
                                "scoring.points.jaywalking", field=f"column '{c}'")
        if c in RESERVED:
            raise ScenarioError(source, f"'{c}' is set by the sweep (seeds, agents, days, "
                                "records), not by a design", field=f"column '{c}'")
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise ScenarioError(source, f"'{dup}' is given twice", field=f"column '{dup}'")
    rows: list[dict[str, Any]] = []
    for i, record in enumerate(frame.itertuples(index=False, name=None), start=1):
        row = {}
        for c, value in zip(columns, record, strict=True):
            row[c] = _value(value, source, c, i)
        rows.append(row)
    return columns, rows


def _value(value: Any, source: str, column: str, row: int) -> Any:
    where = f"column '{column}', row {row}"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ScenarioError(source, f"{where}: empty (every row gives every column)",
                            field=f"column '{column}'")
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        if not math.isfinite(float(value)):
            raise ScenarioError(source, f"{where}: expected a finite number, got {value}",
                                field=f"column '{column}'")
        return float(value)
    if isinstance(value, str):
        parsed, _ = read_yaml(value, f"{source}, {where}")
        return parsed
    if isinstance(value, np.ndarray | list):  # a Parquet list column
        return [_value(v, source, column, row) for v in value]
    raise ScenarioError(source, f"{where}: cannot use a {type(value).__name__}",
                        field=f"column '{column}'")
