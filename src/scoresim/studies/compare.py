"""Comparing two runs, paired by seed: what the system changed in what people did and suffered.

With common random numbers a run with the system and its `no-system` twin
with the same seed give every person the same due events; the system can only
thin them (responses) or add acts done for points. So the ratio of realised
events, behaviour by behaviour, is the system's effect on behaviour, free of
the sampling noise two independent runs would have.

Beyond events, the comparison covers what happened to people: sanctions on
the last day, wrongful sanctions by cause and group (wrongful.parquet), and
collateral sanctions (joint punishment), each by group too. When the two runs
have the same seed and size they hold the same synthetic people, so each
person's outcome in run a is set against their own in run b: the difference is
the sum of the per-person differences, and its 95% interval comes from their
spread (a paired t interval). Given several runs a side (seeds), the runs are
paired seed by seed and the interval is over the seeds. Two single runs that
are not paired carry no interval: one draw each cannot tell a difference
from noise. Event totals have no per-person record in a run folder, so a
single pair gives them no interval either; several seeds do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from scoresim.runs.columns import read_parquet
from scoresim.runs.layout import PEOPLE
from scoresim.runs.results import Results, load
from scoresim.runs.wrongful import empty as empty_wrongful
from scoresim.studies.attribution import causes_of, sanctions_of
from scoresim.studies.stats import mean_interval, t975

PREFIX = "n_events_"
#: people.parquet flags compared person by person, and the section they belong to
FLAGS = (("travel_banned", "sanctions"), ("listed", "sanctions"),
         ("consumption_banned", "sanctions"), ("media_suspended", "sanctions"),
         ("wrongly_banned", "wrongful"), ("collateral", "collateral"),
         ("school_banned", "collateral"))
COLUMNS = ["section", "kind", "unit", "a", "b", "difference", "low", "high", "ratio",
           "change", "events_a", "events_b", "paired", "seeds"]
Run = Results | str | Path


def _as_results(run: Run) -> Results:
    return run if isinstance(run, Results) else load(run)


def _points(name: str, spec: dict) -> list[int]:
    """A behaviour's points in every scheme of the scenario (one without regions)."""
    out = []
    scoring = spec.get("scoring") or {}
    if name in (scoring.get("points") or {}):
        out.append(scoring["points"][name])
    for scheme in (spec.get("schemes") or {}).values():
        if name in (scheme.get("points") or {}):
            out.append(scheme["points"][name])
    return out


def _kind(name: str, spec: dict) -> str:
    """offence, rewarded, speech or for_points, from run a's scenario (b may have no scoring).

    With regions every pilot has its own scheme: a behaviour that loses points in any
    of them is an offence there, one that only gains is rewarded.
    """
    b = spec["behaviours"].get(name, {})
    if b.get("motive") == "points":
        return "for_points"
    if b.get("speech"):
        return "speech"
    points = _points(name, spec)
    if any(p < 0 for p in points):
        return "offence"
    return "rewarded" if any(p > 0 for p in points) else "unscored"


def _events(a: Results, b: Results, spec: dict) -> list[dict[str, Any]]:
    ta, tb = a.timeseries, b.timeseries
    names = [c[len(PREFIX):] for c in ta.columns if c.startswith(PREFIX)]
    names += [c[len(PREFIX):] for c in tb.columns
              if c.startswith(PREFIX) and c[len(PREFIX):] not in names]

    def total(ts: pd.DataFrame, name: str) -> int:
        col = PREFIX + name
        return int(ts[col].sum()) if col in ts.columns else 0

    rows = [{"measure": n, "section": "events", "kind": _kind(n, spec), "unit": "events",
             "a": total(ta, n), "b": total(tb, n)} for n in names]
    for measure, section, kinds, extra in (("total_offences", "compliance", ("offence",), ()),
                                           ("total_speech", "speech", ("speech",), ()),
                                           ("total_volunteering", "events", (),
                                            ("volunteering",))):
        sel = [r for r in rows[:len(names)]
               if (r["kind"] in kinds if kinds else r["measure"] in extra)]
        ea, eb = sum(r["a"] for r in sel), sum(r["b"] for r in sel)
        if measure == "total_volunteering":
            ea += sum(r["a"] for r in rows[:len(names)] if r["kind"] == "for_points")
        rows.append({"measure": measure, "section": section, "kind": "summary",
                     "unit": "events", "a": ea, "b": eb})
    return rows


def _person_flags(res: Results) -> tuple[pd.DataFrame, int]:
    """Each person's outcomes as 0/1 columns (flags, wrongful by sanction and cause), and
    how many groups; people in id order."""
    if res.folder is not None and (Path(res.folder) / PEOPLE).is_file():
        names = pq.read_schema(Path(res.folder) / PEOPLE).names
        cols = [c for c in ("id", "group", *(f for f, _ in FLAGS)) if c in names]
        people = read_parquet(Path(res.folder) / PEOPLE, columns=cols)
    else:
        people = res.people_columns(("id", "group", *(f for f, _ in FLAGS)))
    people = people.sort_values("id").reset_index(drop=True)
    out = pd.DataFrame({"group": people["group"].to_numpy().astype(np.int64)})
    for flag, _ in FLAGS:
        if flag in people:
            out[flag] = people[flag].to_numpy().astype(np.int8)
    w = res.wrongful()
    if w is None and not sanctions_of(res.scenario):
        w = empty_wrongful()  # a run without sanctions sanctions nobody wrongly
    if w is not None:
        n = len(people)
        spec = res.scenario
        for sanction in sanctions_of(spec):
            for cause in causes_of(spec) + sorted(
                    set(w["cause"].astype(str)) - set(causes_of(spec))):
                hit = w.loc[(w["sanction"].astype(str) == sanction)
                            & (w["cause"].astype(str) == cause), "person"].to_numpy()
                col = np.zeros(n, dtype=np.int8)
                col[hit[hit < n]] = 1
                out[f"wrongful_{sanction}_by_{cause}"] = col
        anyone = np.zeros(n, dtype=np.int8)
        anyone[w["person"].to_numpy()] = 1
        out["wrongful_people"] = anyone
        coll = np.zeros(n, dtype=np.int8)
        coll[w.loc[w["cause"].astype(str) == "collateral", "person"].to_numpy()] = 1
        out["collateral_people"] = coll
    groups = int(out["group"].max()) + 1 if len(out) else 0
    return out, groups


def _section(measure: str) -> str:
    if measure == "collateral_people" or measure.endswith("_by_collateral"):
        return "collateral"
    if measure.startswith("wrongful"):
        return "wrongful"
    return dict(FLAGS).get(measure, "sanctions")


def _people(a: Results, b: Results, paired: bool) -> list[dict[str, Any]]:
    fa, ga = _person_flags(a)
    fb, gb = _person_flags(b)
    for f, other in ((fa, fb), (fb, fa)):
        # a wrongful outcome one side's scenario cannot produce is 0 there, if it traced any
        if "wrongful_people" in f:
            for c in other.columns:
                if c.startswith("wrongful_") and c not in f:
                    f[c] = np.int8(0)
    measures = [c for c in fa.columns if c != "group"]
    measures += [c for c in fb.columns if c != "group" and c not in measures]
    rows = []
    for m in measures:
        for g in [None, *range(max(ga, gb))]:
            row: dict[str, Any] = {"measure": m if g is None else f"{m}_group_{g}",
                                   "section": _section(m), "kind": "people", "unit": "people"}
            xa = _pick(fa, m, g)
            xb = _pick(fb, m, g)
            row["a"] = float(xa.sum()) if xa is not None else np.nan
            row["b"] = float(xb.sum()) if xb is not None else np.nan
            if paired and xa is not None and xb is not None and len(fa) == len(fb):
                mask = np.ones(len(fa), dtype=bool) if g is None else \
                    (fa["group"].to_numpy() == g)
                d = fa[m].to_numpy()[mask].astype(np.float64) - \
                    fb[m].to_numpy()[mask].astype(np.float64)
                row["low"], row["high"] = _paired_total(d)
            if not (np.isnan(row["a"]) and np.isnan(row["b"])):
                rows.append(row)
    return rows


def _pick(flags: pd.DataFrame, m: str, g: int | None) -> np.ndarray | None:
    if m not in flags:
        return None
    x = flags[m].to_numpy()
    return x if g is None else x[flags["group"].to_numpy() == g]


def _paired_total(d: np.ndarray) -> tuple[float, float]:
    """The 95% interval of the total of per-person differences (a paired t interval)."""
    n = d.shape[0]
    if n < 2:
        return np.nan, np.nan
    total = float(d.sum())
    sd = float(d.std(ddof=1))
    half = t975(n - 1) * sd * np.sqrt(n)
    return total - half, total + half


def _pair(a: Results, b: Results) -> pd.DataFrame:
    paired = (a.manifest["seed"] == b.manifest["seed"]
              and a.manifest["agents"] == b.manifest["agents"]
              and a.manifest["days"] == b.manifest["days"])
    rows = _events(a, b, a.scenario) + _people(a, b, paired)
    df = pd.DataFrame(rows)
    for col in ("low", "high"):
        if col not in df:
            df[col] = np.nan
    df["difference"] = df["a"] - df["b"]
    df["paired"] = paired
    return df


def compare(run_a: Run | Sequence[Run], run_b: Run | Sequence[Run]) -> pd.DataFrame:
    """Run a against run b (usually `no-system`): events, compliance, speech, sanctions,
    wrongful sanctions by cause and group, collateral sanctions.

    One row per measure, indexed by `measure`:
      - events of each behaviour, then `total_offences` (compliance: behaviours that
        lose points in run a's scoring, or in any of its schemes), `total_speech` and
        `total_volunteering` (genuine and for points together, against genuine in b);
      - people on the last day under each sanction (people.parquet's flags), wrongly
        banned, under collateral sanctions; people ever wrongly sanctioned by sanction
        and cause (`wrongful_<sanction>_by_<cause>`, from wrongful.parquet, NaN for a
        run without a credit file), and through joint punishment (`collateral_people`);
        each also by group (`..._group_<g>`).
    Columns: section, kind, unit, a, b, difference (a - b), low and high (its 95%
    interval: paired person by person for one pair of runs with the same seed and
    size, over seeds for several; NaN where that cannot be told), ratio (a / b),
    change (a - b, as before), events_a and events_b (a and b for events, as before),
    paired (same seed and size), seeds (pairs of runs).

    `run_a` and `run_b` may each be several runs (seeds): they are paired seed by seed
    (in the order given where seeds repeat), and every value is the mean over pairs.
    """
    side_a = [run_a] if isinstance(run_a, Results | str | Path) else list(run_a)
    side_b = [run_b] if isinstance(run_b, Results | str | Path) else list(run_b)
    if len(side_a) != len(side_b) or not side_a:
        raise ValueError(f"compare: {len(side_a)} runs against {len(side_b)}; give as many "
                         "on each side (one per seed)")
    a_runs = [_as_results(r) for r in side_a]
    b_runs = [_as_results(r) for r in side_b]
    b_by_seed = {r.manifest["seed"]: r for r in b_runs}
    if len(b_by_seed) == len(b_runs) and all(r.manifest["seed"] in b_by_seed for r in a_runs):
        b_runs = [b_by_seed[r.manifest["seed"]] for r in a_runs]
    frames = [_pair(a, b) for a, b in zip(a_runs, b_runs, strict=True)]
    if len(frames) == 1:
        df = frames[0]
        df["seeds"] = 1
    else:
        df = _over_seeds(frames)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["ratio"] = np.where(df["b"] > 0, df["a"] / df["b"].clip(lower=1e-300), np.nan)
    df["change"] = df["difference"]
    events = df["unit"] == "events"
    integral = len(frames) == 1
    for side in ("a", "b"):
        values = df[side].where(events)
        df[f"events_{side}"] = values.round().astype("Int64") if integral else values
    if integral:
        df.loc[events, "change"] = df.loc[events, "change"].astype(np.int64)
    return df.set_index("measure")[COLUMNS]


def _over_seeds(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Mean a, b and difference over pairs of runs, the difference's interval over them."""
    keys = list(dict.fromkeys(m for f in frames for m in f["measure"]))
    first = {}
    for f in frames:
        for r in f.itertuples():
            first.setdefault(r.measure, r)
    rows = []
    for m in keys:
        vals = [f.set_index("measure").loc[m] for f in frames if m in set(f["measure"])]
        a = [float(v["a"]) for v in vals]
        b = [float(v["b"]) for v in vals]
        d = [x - y for x, y in zip(a, b, strict=True) if np.isfinite(x - y)]
        mean_d, lo, hi = mean_interval(d)
        r = first[m]
        rows.append({"measure": m, "section": r.section, "kind": r.kind, "unit": r.unit,
                     "a": float(np.nanmean(a)) if a else np.nan,
                     "b": float(np.nanmean(b)) if b else np.nan,
                     "difference": mean_d, "low": lo, "high": hi,
                     "paired": all(bool(v["paired"]) for v in vals), "seeds": len(d)})
    return pd.DataFrame(rows)
