"""wrongful.parquet: every wrongly sanctioned person, each sanction, and what caused it.

Computed after the run from what the run folder holds, the way an auditor
would: the credit file (records.parquet), the sanctions log (to skip people
never sanctioned at all), the collateral table (joint punishment) and the
people (their group and scheme). Each candidate's file is replayed under the
run's rulebook by model/attribution.py, once as it was, once with only the
correct records, and once without each kind of error it holds.

Whose rows: the people whose credit files the run kept (all of them with
`records: all`; the sample with `records: sample`, and `people` in a table of
rates must then be the sample's). With `records: none` (and so on the person
backend, which keeps no credit file) there is nothing to replay: no
wrongful.parquet is written and `Results.wrongful()` is None; the timeseries
still counts the wrongly banned day by day (n_wrongly_banned).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoresim.model.attribution import (
    CAUSES,
    COLLATERAL,
    OWN_SANCTIONS,
    SANCTIONS,
    SCHOOL_BAN,
    Attributor,
    Entry,
    Wrongful,
    merge,
)
from scoresim.model.credit_file import kept_in_sample
from scoresim.model.observation import ERRORS
from scoresim.model.replay import NEVER, Filed
from scoresim.model.rulebook import Rulebook
from scoresim.runs.layout import SANCTIONS as SANCTIONS_FILE
from scoresim.runs.schemes import codes_of
from scoresim.scenario.schema import Scenario

# wrongful.parquet's columns and types, in order (runs/columns.py defines each)
SCHEMA = pa.schema([
    ("person", pa.int64()),
    ("group", pa.uint8()),
    ("sanction", pa.string()),
    ("cause", pa.string()),
    ("channel", pa.string()),
    ("points", pa.int64()),
    ("first_day", pa.int32()),
    ("days", pa.int32()),
    ("at_end", pa.bool_()),
    ("cause_person", pa.int64()),
    ("cause_firm", pa.int64()),
])
# collateral.parquet kinds that bind a person, and the sanctions they impose
COLLATERAL_BANS = {"school_ban": ((SCHOOL_BAN, 0),),
                   "legal_rep_ban": (("consumption_ban", OWN_SANCTIONS["consumption_ban"]),
                                     ("travel_ban", OWN_SANCTIONS["travel_ban"]))}
RELATIVE_POINTS = "relative_points"


def empty() -> pd.DataFrame:
    """A wrongful table with no rows (and every column, typed)."""
    return SCHEMA.empty_table().to_pandas()


def kept_people(manifest: dict[str, Any], people: np.ndarray) -> np.ndarray:
    """Whether each person's credit file is in records.parquet (so in wrongful.parquet)."""
    mode = manifest.get("records", "none")
    if mode == "all":
        return np.ones(people.shape[0], dtype=bool)
    if mode == "none":
        return np.zeros(people.shape[0], dtype=bool)
    share = float(manifest["scenario"].get("records_sample", 0.01))
    return kept_in_sample(int(manifest["seed"]), share, people)


def compute(manifest: dict[str, Any], records_path: Path | None, people: pd.DataFrame,
            collateral: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """wrongful.parquet's rows for a run (None when it kept no credit file)."""
    if records_path is None or not Path(records_path).exists() or \
            manifest.get("records", "none") == "none":
        return None
    scenario = Scenario.model_validate(manifest["scenario"])
    days = int(manifest["days"])
    rules = Rulebook(scenario, int(manifest["seed"]))
    attributor = Attributor(rules, days)
    names = list(scenario.behaviours)
    index = {b: k for k, b in enumerate(names)}

    table = _read(Path(records_path), index)
    wrong_subjects = np.unique(table["subject"][~table["correct"]])
    sanctioned = _ever_sanctioned(Path(records_path).with_name(SANCTIONS_FILE))
    shamed = np.zeros(0, dtype=np.int64)
    if rules.shaming and len(table["subject"]):
        shame = rules.shown(table["behaviour_idx"], table["filed"]) & ~table["correct"]
        shamed = np.unique(table["subject"][shame])
    candidates = wrong_subjects if sanctioned is None else np.union1d(
        np.intersect1d(wrong_subjects, sanctioned), shamed)

    spans, points = _collateral(collateral)
    bound = np.array(sorted({p for p, _ in spans}), dtype=np.int64)
    relatives = np.array(sorted(points), dtype=np.int64)
    involved = np.union1d(bound, relatives)
    if involved.shape[0]:
        involved = involved[kept_people(manifest, involved)]
    candidates = np.union1d(candidates, involved)
    if candidates.shape[0] == 0:
        return empty()

    # each candidate's records, in filing order
    sel = np.flatnonzero(np.isin(table["subject"], candidates))
    order = sel[np.lexsort((sel, table["filed"][sel], table["subject"][sel]))]
    subj = table["subject"][order]
    starts = np.searchsorted(subj, candidates, side="left")
    ends = np.searchsorted(subj, candidates, side="right")
    inert = _inert_behaviour(rules)

    group = people["group"].to_numpy()
    ids = people["id"].to_numpy() if "id" in people else np.arange(len(people))
    pos = np.empty(int(ids.max()) + 1 if len(ids) else 0, dtype=np.int64)
    pos[ids] = np.arange(len(ids))
    scheme_of = None
    if "scheme" in people:  # each person's scheme index, from the column's codes
        codes, names = codes_of(people["scheme"])
        scheme_of = np.array([rules.schemes.names.index(n) for n in names],
                             dtype=np.int64)[codes] if names else codes
    cols = {k: table[k][order] for k in ("filed", "behaviour_idx", "points", "correct",
                                         "expires", "appeal")}
    for k in ("error", "channel"):  # names for the candidates' rows only (few of them)
        cols[k] = table[k + "_names"][table[k][order]]
    rows: list[tuple[int, Wrongful]] = []
    for p, lo, hi in zip(candidates.tolist(), starts.tolist(), ends.tolist(), strict=True):
        entries = [Entry(Filed(int(cols["filed"][k]), int(cols["behaviour_idx"][k]),
                               int(cols["points"][k]), bool(cols["correct"][k]),
                               int(cols["expires"][k]), bool(cols["appeal"][k])),
                         str(cols["error"][k]), str(cols["channel"][k]))
                   for k in range(lo, hi)]
        if inert is not None and p in points:
            entries = _with_points(entries, points[p], inert)
        scheme = int(scheme_of[pos[p]]) if scheme_of is not None else 0
        mine, actual = attributor.attribute(entries, p, scheme)
        by_sanction = {w.sanction: w for w in mine}
        for kind, binds in COLLATERAL_BANS.items():
            mine_spans = spans.get((p, kind))
            if not mine_spans:
                continue
            for sanction, bit in binds:
                w = attributor.collateral(sanction, bit, mine_spans, actual)
                if w is None:
                    continue
                own = by_sanction.get(sanction)
                by_sanction[sanction] = w if own is None else merge(own, w)
        for s in SANCTIONS:
            w = by_sanction.get(s)
            if w is None:
                continue
            if w.cause == COLLATERAL and w.cause_person < 0 and p in points:
                w = replace(w, cause_person=points[p][0][2])  # the relative's listing
            rows.append((p, w))
    if not rows:
        return empty()
    person = np.array([p for p, _ in rows], dtype=np.int64)
    frame = pd.DataFrame({
        "person": person,
        "group": group[pos[person]].astype(np.uint8),
        "sanction": [w.sanction for _, w in rows],
        "cause": [w.cause for _, w in rows],
        "channel": [w.channel for _, w in rows],
        "points": np.array([w.points for _, w in rows], dtype=np.int64),
        "first_day": np.array([w.first_day for _, w in rows], dtype=np.int32),
        "days": np.array([w.days for _, w in rows], dtype=np.int32),
        "at_end": np.array([w.at_end for _, w in rows], dtype=bool),
        "cause_person": np.array([w.cause_person for _, w in rows], dtype=np.int64),
        "cause_firm": np.array([w.cause_firm for _, w in rows], dtype=np.int64),
    })
    return frame


def as_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as wrongful.parquet's Arrow table (its schema, whatever pandas inferred)."""
    frame = frame[list(SCHEMA.names)].copy()
    for col in ("sanction", "cause", "channel"):
        frame[col] = frame[col].astype(str)
    return pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)


def read(path: Path) -> pd.DataFrame:
    """wrongful.parquet, with sanction and cause as ordered categories (tables keep order)."""
    return read_frame(pq.read_table(path).to_pandas())


def read_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A wrongful table with sanction and cause as ordered categories (as `read` gives)."""
    frame = frame.copy()
    for col, order in (("sanction", SANCTIONS), ("cause", CAUSES)):
        values = frame[col].astype(str)
        extra = sorted(set(values) - set(order))
        frame[col] = pd.Categorical(values, categories=list(order) + extra)
    return frame


def _read(path: Path, index: dict[str, int]) -> dict[str, np.ndarray]:
    """The credit file's columns the replay needs, as arrays (behaviour as its index).

    `channel` and `error` are codes into `channel_names` and `error_names` (object
    arrays of the strings): only the candidates' few rows need the strings, and an
    object array of every record (tens of millions at a million people) cost more
    time than the replay."""
    names = pq.ParquetFile(path).schema_arrow.names
    want = ["day", "subject", "behaviour", "channel", "points", "correct"] + [
        c for c in ("filed_day", "error", "expires_day", "expires_by") if c in names]
    t = pq.read_table(path, columns=want)
    n = t.num_rows

    def codes(col: str) -> tuple[np.ndarray, list[str]]:
        arr = t.column(col).combine_chunks()
        if not pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_encode()
        return (arr.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                arr.dictionary.to_pylist())

    def plain(col: str) -> np.ndarray:
        return t.column(col).to_numpy()

    b_codes, b_names = codes("behaviour")
    c_codes, c_names = codes("channel")
    out = {"subject": plain("subject").astype(np.int64),
           "filed": plain("filed_day" if "filed_day" in names else "day").astype(np.int64),
           "points": plain("points").astype(np.int64),
           "correct": plain("correct").astype(bool),
           "channel": c_codes, "channel_names": np.asarray(c_names or [""], dtype=object)}
    lut = np.array([index[b] for b in b_names] or [0], dtype=np.int64)
    out["behaviour_idx"] = lut[b_codes] if n else np.zeros(0, np.int64)
    out["expires"] = plain("expires_day").astype(np.int64) if "expires_day" in names else \
        np.full(n, NEVER, np.int64)
    if "expires_by" in names:
        e_codes, e_names = codes("expires_by")
        out["appeal"] = np.asarray([x == "appeal" for x in e_names] or [False])[e_codes] \
            if n else np.zeros(0, bool)
    else:
        out["appeal"] = np.zeros(n, dtype=bool)
    if "error" in names:
        r_codes, r_names = codes("error")
        out["error"], out["error_names"] = r_codes, np.asarray(r_names or [""], dtype=object)
    else:  # an older file: wrong, of an unknown kind
        out["error"] = (~out["correct"]).astype(np.int64)
        out["error_names"] = np.asarray([ERRORS[0], "unknown"], dtype=object)
    return out


def _ever_sanctioned(path: Path) -> np.ndarray | None:
    """People the sanctions log shows under any sanction of their own file at some point."""
    if not path.exists():
        return None
    t = pq.read_table(path, columns=["person", "sanction", "started"]).to_pandas()
    hit = t["started"].to_numpy(dtype=bool) & t["sanction"].astype(str).isin(
        list(OWN_SANCTIONS)).to_numpy()
    return np.unique(t["person"].to_numpy()[hit]).astype(np.int64)


def _collateral(frame: pd.DataFrame | None
                ) -> tuple[dict[tuple[int, str], list[tuple[int, int, int, int]]],
                           dict[int, list[tuple[int, int, int]]]]:
    """Collateral bans by (person, kind) as (day, until, cause_person, cause_firm), and
    points taken through relatives by person as (day, points, cause_person)."""
    spans: dict[tuple[int, str], list[tuple[int, int, int, int]]] = {}
    points: dict[int, list[tuple[int, int, int]]] = {}
    if frame is None or not len(frame):
        return spans, points
    kind = frame["kind"].astype(str).to_numpy()
    cols = [frame[c].to_numpy().astype(np.int64) for c in
            ("day", "person", "cause_person", "cause_firm", "until", "points")]
    for k, day, person, cp, cf, until, pts in zip(kind, *cols, strict=True):
        if person < 0:
            continue
        if k in COLLATERAL_BANS:
            spans.setdefault((int(person), k), []).append((int(day), int(until), int(cp),
                                                          int(cf)))
        elif k == RELATIVE_POINTS:
            points.setdefault(int(person), []).append((int(day), int(pts), int(cp)))
    return spans, points


def _inert_behaviour(rules: Rulebook) -> int | None:
    """A behaviour whose records list, suspend and shame nobody: the replay files points
    taken through a relative under it (they move the score, nothing else)."""
    busy = rules.list_trigger | rules.media_trigger | rules.shame_trigger
    free = np.flatnonzero(~busy)
    return int(free[0]) if free.shape[0] else None


def _with_points(entries: list[Entry], taken: list[tuple[int, int, int]], inert: int
                 ) -> list[Entry]:
    """The file with the points taken through relatives merged in on their days.

    Joint punishment runs after the day's scoring, so they come after that day's records.
    """
    extra = [Entry(Filed(day, inert, pts, True), COLLATERAL, "joint_punishment")
             for day, pts, _ in taken]
    merged = entries + extra
    return sorted(merged, key=lambda e: e.filed.day)  # stable: a day's records keep order
