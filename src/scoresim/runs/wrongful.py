"""wrongful.parquet: every wrongly sanctioned person, each sanction, and what caused it.

Computed after the run from what the run folder holds, the way an auditor
would: the credit file (records.parquet), the sanctions log (to skip people
never sanctioned at all), the collateral table (joint punishment) and the
people (their group and scheme). Each candidate's file is replayed under the
run's rulebook by model/attribution.py, once as it was, once with only the
correct records, and once without each kind of error it holds.

The credit file is read twice, one row group at a time, and never whole: first
`subject` and `correct` alone, to find the candidates (people with a wrong
record, those of them ever sanctioned or shown wrongly on a screen, and those
bound by joint punishment), then only the candidates' rows. Holding every
record's columns at once (tens of millions at a million people) was most of
the replay's time and the run's peak memory (BENCHMARKS.md, issue 22).

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

    records = pq.ParquetFile(Path(records_path))
    wrong_subjects, shamed = _wrong(records, rules, index)
    sanctioned = _ever_sanctioned(Path(records_path).with_name(SANCTIONS_FILE))
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

    # each candidate's records, in filing order (the file's order within a day)
    table = _candidate_rows(records, candidates, index)
    order = np.lexsort((np.arange(table["subject"].shape[0]), table["filed"],
                        table["subject"]))
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
    # as Python lists: the loop below reads each value once, as a Python int or bool
    cols = {k: table[k][order].tolist() for k in ("filed", "behaviour_idx", "points",
                                                  "correct", "expires", "appeal")}
    for k in ("error", "channel"):  # names for the candidates' rows only (few of them)
        cols[k] = table[k + "_names"][table[k][order]].tolist()
    rows: list[tuple[int, Wrongful]] = []
    for p, lo, hi in zip(candidates.tolist(), starts.tolist(), ends.tolist(), strict=True):
        entries = [Entry(Filed(cols["filed"][k], cols["behaviour_idx"][k], cols["points"][k],
                               cols["correct"][k], cols["expires"][k], cols["appeal"][k]),
                         cols["error"][k], cols["channel"][k])
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


def _filed_column(names: list[str]) -> str:
    """The column of the day a record was filed (an older file has only the day made)."""
    return "filed_day" if "filed_day" in names else "day"


def _codes(table: pa.Table, col: str) -> tuple[np.ndarray, list[str]]:
    """A dictionary column of one row group as its codes and its values (that group's)."""
    arr = table.column(col).combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    return arr.indices.to_numpy(zero_copy_only=False), arr.dictionary.to_pylist()


def _wrong(records: pq.ParquetFile, rules: Rulebook, index: dict[str, int]
           ) -> tuple[np.ndarray, np.ndarray]:
    """The first pass, one row group at a time: the people with a wrong record, and those
    of them a shaming screen showed a wrong record of.

    Only `subject` and `correct` are read (and, where shaming is on, the behaviour and
    filing day), and only the wrong rows are kept: the file is never held whole."""
    filed_col = _filed_column(records.schema_arrow.names)
    wanted = ["subject", "correct"] + (["behaviour", filed_col] if rules.shaming else [])
    wrong: list[np.ndarray] = []
    shown: list[np.ndarray] = []
    for g in range(records.num_row_groups):
        t = records.read_row_group(g, columns=wanted)
        bad = ~t.column("correct").to_numpy().astype(bool, copy=False)
        subject = t.column("subject").to_numpy()[bad].astype(np.int64, copy=False)
        wrong.append(subject)
        if rules.shaming and subject.shape[0]:
            codes, names = _codes(t, "behaviour")
            lut = np.array([index[b] for b in names] or [0], dtype=np.int64)
            filed = t.column(filed_col).to_numpy()[bad].astype(np.int64, copy=False)
            shown.append(subject[rules.shown(lut[codes[bad]], filed)])
    none = np.zeros(0, dtype=np.int64)
    return (np.unique(np.concatenate(wrong)) if wrong else none,
            np.unique(np.concatenate(shown)) if shown else none)


def _candidate_rows(records: pq.ParquetFile, candidates: np.ndarray, index: dict[str, int]
                    ) -> dict[str, np.ndarray]:
    """The second pass: the candidates' records (their columns the replay needs), in the
    file's order, read one row group at a time.

    Each group's rows of other people are dropped as soon as it is read, so the replay
    holds one row group and the candidates' rows (a few per cent of the records), in
    the file's own dtypes: nothing is widened but the behaviour index and the codes.
    `channel` and `error` are codes into `channel_names` and `error_names` (object
    arrays of the strings), the same codes whatever each row group's dictionary."""
    names = records.schema_arrow.names
    filed_col = _filed_column(names)
    wanted = ["subject", "correct", filed_col, "behaviour", "channel", "points"] + [
        c for c in ("error", "expires_day", "expires_by") if c in names]
    vocab: dict[str, dict[str, int]] = {"channel": {}, "error": {}}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (
        "subject", "filed", "points", "correct", "behaviour_idx", "channel", "error",
        "expires", "appeal")}

    def global_codes(t: pa.Table, col: str, keep: np.ndarray) -> np.ndarray:
        codes, values = _codes(t, col)
        seen = vocab[col]
        lut = np.array([seen.setdefault(v, len(seen)) for v in values] or [0], dtype=np.int64)
        return lut[codes[keep]]

    for g in range(records.num_row_groups):
        t = records.read_row_group(g, columns=wanted)
        keep = np.flatnonzero(np.isin(t.column("subject").to_numpy(), candidates,
                                      kind="table"))
        if not keep.shape[0]:
            continue
        parts["subject"].append(t.column("subject").to_numpy()[keep])
        parts["filed"].append(t.column(filed_col).to_numpy()[keep])
        parts["points"].append(t.column("points").to_numpy()[keep])
        correct = t.column("correct").to_numpy()[keep].astype(bool, copy=False)
        parts["correct"].append(correct)
        codes, values = _codes(t, "behaviour")
        lut = np.array([index[b] for b in values] or [0], dtype=np.int64)
        parts["behaviour_idx"].append(lut[codes[keep]])
        parts["channel"].append(global_codes(t, "channel", keep))
        if "error" in names:
            parts["error"].append(global_codes(t, "error", keep))
        else:  # an older file: wrong, of an unknown kind
            parts["error"].append((~correct).astype(np.int64))
        parts["expires"].append(t.column("expires_day").to_numpy()[keep]
                                if "expires_day" in names else np.full(keep.shape[0], NEVER,
                                                                       np.int64))
        if "expires_by" in names:
            codes, values = _codes(t, "expires_by")
            appeal = np.asarray([v == "appeal" for v in values] or [False])
            parts["appeal"].append(appeal[codes[keep]])
        else:
            parts["appeal"].append(np.zeros(keep.shape[0], dtype=bool))
    dtypes = {"subject": np.int64, "filed": np.int64, "points": np.int64, "correct": bool,
              "behaviour_idx": np.int64, "channel": np.int64, "error": np.int64,
              "expires": np.int64, "appeal": bool}
    out = {k: np.concatenate(v) if v else np.zeros(0, dtypes[k]) for k, v in parts.items()}
    out["channel_names"] = np.asarray(list(vocab["channel"]) or [""], dtype=object)
    out["error_names"] = (np.asarray(list(vocab["error"]) or [""], dtype=object)
                          if "error" in names else
                          np.asarray([ERRORS[0], "unknown"], dtype=object))
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
