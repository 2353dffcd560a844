"""The wrongful replay reads the credit file by row group and gives what it always gave.

runs/wrongful.py reads records.parquet twice, one row group at a time (subject and
correctness to find the candidates, then only the candidates' rows), instead of
every record's columns at once. Its output must not move: three small runs with
plenty of wrongful records (a harsh pilot-city with shaming, china with joint
punishment and points taken through relatives, a sampled credit file) are pinned
in tests/pinned/wrongful_replay.json, computed by the one-pass replay before the
change; and the same credit file cut into many small row groups (each chunk with
its own dictionaries) must give the same table again.

Regenerate the pins (only for a change meant to move them, said in the commit):
`python tests/test_wrongful_replay.py` with the package on the path.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import scoresim
from scoresim.runs import wrongful
from scoresim.runs.layout import RECORDS, SANCTIONS

sys.path.insert(0, str(Path(__file__).parent))
from _shared import HARSH_PILOT  # noqa: E402

PINNED = Path(__file__).parent / "pinned" / "wrongful_replay.json"
MIXED = {**HARSH_PILOT, "channels.online_monitoring.false_flag.probability": 0.05,
         "scoring.points.criticizing_government": -120}
CASES = {
    "pilot-city-harsh": dict(scenario="pilot-city", agents=3_000, days=365, seed=4_242,
                             records="all", set=MIXED),
    "china-collateral": dict(scenario="china", agents=6_000, days=200, seed=3, records="all",
                             set={"behaviours.court_judgment_default.rate": 0.0005}),
    "pilot-city-sample": dict(scenario="pilot-city", agents=6_000, days=365, seed=11,
                              records="sample", set={**MIXED, "records_sample": 0.3}),
}


def rows(frame: pd.DataFrame) -> list[list]:
    """The wrongful table as plain rows, in its own order (the order is part of it)."""
    frame = frame[list(wrongful.SCHEMA.names)]
    def plain(v):
        v = v.item() if isinstance(v, np.generic) else v
        return v if isinstance(v, bool | int | float | str) else str(v)

    return [[plain(v) for v in row] for row in frame.itertuples(index=False)]


def digest(table: list[list]) -> str:
    return hashlib.sha256(json.dumps(table).encode()).hexdigest()


def _run(name: str, out: Path) -> scoresim.Results:
    args = dict(CASES[name])
    scenario = args.pop("scenario")
    return scoresim.run(scenario, out=out / name, **args)


def _compute(res: scoresim.Results, records_path: Path) -> pd.DataFrame:
    return wrongful.compute(res.manifest, records_path,
                            res.people_columns(("id", "group", "scheme")), res.collateral)


@pytest.fixture(scope="module")
def pinned() -> dict:
    return json.loads(PINNED.read_text())


@pytest.mark.parametrize("name", list(CASES))
def test_the_replay_gives_the_pinned_one_pass_table(name, pinned, tmp_path) -> None:
    res = _run(name, tmp_path)
    want = pinned[name]
    got = rows(wrongful.read(tmp_path / name / "wrongful.parquet"))
    assert len(want["head"]) > 0 and want["n_rows"] > 50  # the case has something to replay
    assert len(got) == want["n_rows"], (len(got), want["n_rows"])
    assert got[:len(want["head"])] == want["head"]
    assert digest(got) == want["sha256"], "the wrongful table moved from the one-pass replay"
    # and what the run wrote is what a replay of its folder gives again
    assert rows(_compute(res, tmp_path / name / RECORDS)) == got


def test_small_row_groups_give_the_same_table(tmp_path) -> None:
    res = _run("china-collateral", tmp_path)
    folder = tmp_path / "china-collateral"
    table = pq.read_table(folder / RECORDS)
    cut = tmp_path / "cut"
    cut.mkdir()
    # a few hundred row groups, each chunk's dictionaries only the values it holds and in
    # reverse first-seen order (so a value's code differs from group to group)
    chunks = []
    for batch in table.to_batches(max_chunksize=499):
        arrays = []
        for col, field in zip(batch.columns, table.schema, strict=True):
            if pa.types.is_dictionary(field.type):
                seen = col.cast(pa.string()).dictionary_encode()
                last = len(seen.dictionary) - 1
                codes = (last - seen.indices.to_numpy()).astype(np.int8)
                col = pa.DictionaryArray.from_arrays(
                    pa.array(codes), pa.array(seen.dictionary.to_pylist()[::-1], pa.string()))
            arrays.append(col)
        chunks.append(pa.RecordBatch.from_arrays(arrays, schema=table.schema))
    pq.write_table(pa.Table.from_batches(chunks, schema=table.schema), cut / RECORDS,
                   row_group_size=499)
    (cut / SANCTIONS).write_bytes((folder / SANCTIONS).read_bytes())
    assert pq.read_metadata(cut / RECORDS).num_row_groups > 100
    back = pq.read_table(cut / RECORDS)
    assert len({tuple(c.dictionary.to_pylist()) for c in back.column("behaviour").chunks}) > 1
    assert _plain(back).equals(_plain(table))  # the same records, differently encoded
    assert rows(_compute(res, cut / RECORDS)) == rows(res.wrongful())
    assert len(res.wrongful()) > 50


def _plain(table: pa.Table) -> pa.Table:
    """The table with its dictionary columns as strings, in one chunk (to compare values)."""
    cols = [c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(cols, names=table.column_names).combine_chunks()


def _pin() -> None:
    import tempfile

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            _run(name, Path(tmp))
            table = rows(wrongful.read(Path(tmp) / name / "wrongful.parquet"))
            out[name] = {"n_rows": len(table), "sha256": digest(table), "head": table[:40]}
            print(name, len(table), out[name]["sha256"][:12], flush=True)
    PINNED.parent.mkdir(exist_ok=True)
    lines = ["{"]
    for k, (name, pin) in enumerate(out.items()):  # a row a line: a diff names the rows
        head = ",\n".join("   " + json.dumps(r) for r in pin["head"])
        lines.append(f' {json.dumps(name)}: {{"n_rows": {pin["n_rows"]}, '
                     f'"sha256": {json.dumps(pin["sha256"])}, "head": [\n{head}\n ]}}'
                     + ("," if k < len(out) - 1 else ""))
    PINNED.write_text("\n".join(lines) + "\n}\n")


if __name__ == "__main__":
    _pin()
