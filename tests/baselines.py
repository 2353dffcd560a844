"""Stored baselines: what every built-in scenario gives at a small size, pinned across versions.

Covasim's tests/test_baselines.py and Starsim's diff_sims are the anchors. For
each built-in scenario (and each backend that can run it) a small run is
written to a run folder, and two things are kept in tests/baselines/:

- a digest of every column of every output file, and of its column names in
  order (and of the manifest, less
  what is about when and how fast it ran), so that any number that moves, in
  any file, is caught;
- a table of headline sums (each timeseries column's sum, each people
  column's sum or level counts, the credit file's row count, points and
  error counts), so that a failure says which numbers moved and by how much.

Digests are taken of the decoded column values, not of the Parquet bytes, so
they do not depend on the pyarrow version that wrote the file.

A commit that moves any number regenerates the baselines and says which
numbers moved and why:

    python tests/baselines.py            # regenerate every baseline
    python tests/baselines.py reference  # only those of one scenario
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FOLDER = Path(__file__).parent / "baselines"
AGENTS = 20_000
DAYS = 200
SEED = 20_261_202
# What legitimately differs between two runs of the same thing, or between versions
# that compute the same numbers: when it ran, how fast, on what, and memory layout.
VOLATILE = ("started", "wall_seconds", "timings", "platform", "memory_bytes",
            "scoresim_version")


@dataclass(frozen=True)
class Case:
    scenario: str
    backend: str  # "day" or "person"
    records: str  # the person backend keeps no credit file

    @property
    def key(self) -> str:
        return f"{self.scenario}@{self.backend}"

    @property
    def path(self) -> Path:
        return FOLDER / f"{self.key}.json"


def cases() -> list[Case]:
    """Every built-in scenario on the day engine, and on the person backend where it runs."""
    from scoresim.model.lives import reasons_not_eligible
    from scoresim.scenario import builtin_names, load_scenario

    out = []
    for name in builtin_names():
        out.append(Case(name, "day", "all"))
        if not reasons_not_eligible(load_scenario(name)):
            out.append(Case(name, "person", "none"))
    return out


def run_case(case: Case, folder: Path) -> Path:
    import scoresim

    scoresim.run(case.scenario, agents=AGENTS, days=DAYS, seed=SEED, records=case.records,
                 backend=case.backend, out=folder)
    return folder


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _column_bytes(column: pa.ChunkedArray) -> bytes:
    """The decoded values of a column, as bytes that do not depend on how it was stored."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    values = column.to_numpy(zero_copy_only=False)
    if values.dtype == object:
        return json.dumps([None if v is None else str(v) for v in values.tolist()]).encode()
    return str(values.dtype).encode() + b"|" + np.ascontiguousarray(values).tobytes()


def _number(value: Any) -> Any:
    """A JSON-safe number: NaN and infinities as text, numpy scalars as Python ones."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def _headline(name: str, table: pa.Table) -> dict[str, Any]:
    """Sums of numeric and boolean columns, level counts of text columns."""
    stem = name.removesuffix(".parquet")
    out: dict[str, Any] = {f"{stem}.rows": table.num_rows}
    for col in table.column_names:
        column = table.column(col)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            if name == "timeseries.parquet":
                continue
            counts = column.value_counts().to_pylist() if len(column) else []
            if len(counts) > 64:  # an identifier-like text column: its digest is enough
                continue
            for c in sorted(counts, key=lambda c: str(c["values"])):
                out[f"{stem}.{col}[{c['values']}]"] = c["counts"]
            continue
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype.kind in "biuf":
            total = values.astype(np.float64).sum() if values.dtype.kind == "f" else \
                int(values.astype(np.int64).sum())
            out[f"{stem}.{col}.sum"] = _number(total)
    return out


def measure(folder: Path) -> dict[str, Any]:
    """Digests of every output and the headline sums of a run folder."""
    digests: dict[str, str] = {}
    headline: dict[str, Any] = {}
    manifest = json.loads((folder / "manifest.json").read_text())
    for key in VOLATILE:
        manifest.pop(key, None)
    digests["manifest.json"] = _digest(json.dumps(manifest, sort_keys=True).encode())
    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path)
        digests[f"{path.name}:columns"] = _digest(json.dumps(table.column_names).encode())
        for col in table.column_names:
            digests[f"{path.name}:{col}"] = _digest(_column_bytes(table.column(col)))
        headline.update(_headline(path.name, table))
    return {"digests": digests, "headline": headline}


def compute(case: Case) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="scoresim-baseline-") as tmp:
        folder = run_case(case, Path(tmp) / "run")
        got = measure(folder)
    return {"scenario": case.scenario, "backend": case.backend, "records": case.records,
            "agents": AGENTS, "days": DAYS, "seed": SEED, **got}


def differences(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What moved, one line each: headline numbers with both values, then changed digests."""
    lines = []
    old_h, new_h = stored["headline"], now["headline"]
    for k in sorted(set(old_h) | set(new_h)):
        a, b = old_h.get(k, "(absent)"), new_h.get(k, "(absent)")
        if a != b:
            lines.append(f"  {k}: {a} -> {b}")
    old_d, new_d = stored["digests"], now["digests"]
    for k in sorted(set(old_d) | set(new_d)):
        if k not in new_d:
            lines.append(f"  {k}: no longer written")
        elif k not in old_d:
            lines.append(f"  {k}: new")
        elif old_d[k] != new_d[k]:
            lines.append(f"  {k}: values changed")
    return lines


def write(case: Case, data: dict[str, Any]) -> None:
    FOLDER.mkdir(exist_ok=True)
    case.path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def main(argv: list[str]) -> int:
    wanted = set(argv)
    chosen = [c for c in cases() if not wanted or c.scenario in wanted]
    if wanted - {c.scenario for c in chosen}:
        print(f"no such built-in scenario: {', '.join(sorted(wanted))}", file=sys.stderr)
        return 2
    for case in chosen:
        data = compute(case)
        moved = differences(json.loads(case.path.read_text()), data) if case.path.exists() \
            else ["  (new baseline)"]
        write(case, data)
        print(f"{case.key}: {'unchanged' if not moved else f'{len(moved)} changes'}")
        for line in moved[:40]:
            print(line)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main(sys.argv[1:]))
