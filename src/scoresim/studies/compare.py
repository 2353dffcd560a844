"""Comparing two runs, paired by seed: what the system changed in what people really did.

With common random numbers a run with the system and its `no-system` twin
with the same seed give every person the same due events; the system can only
thin them (responses) or add acts done for points. So the ratio of realised
events, behaviour by behaviour, is the system's effect on behaviour, free of
the sampling noise two independent runs would have.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scoresim.runs.results import Results, load

PREFIX = "n_events_"


def _as_results(run: Results | str | Path) -> Results:
    return run if isinstance(run, Results) else load(run)


def _kind(name: str, spec: dict) -> str:
    """offence, rewarded, speech or for_points, from run a's scenario (b may have no scoring)."""
    b = spec["behaviours"].get(name, {})
    if b.get("motive") == "points":
        return "for_points"
    if b.get("speech"):
        return "speech"
    # a country of city pilots keeps its points in each scheme, not in `scoring`
    tables = [(spec.get("scoring") or {}).get("points") or {}] + [
        s.get("points") or {} for s in (spec.get("schemes") or {}).values()]
    points = [t.get(name, 0) for t in tables]
    return "offence" if any(p < 0 for p in points) else (
        "rewarded" if any(p > 0 for p in points) else "unscored")


def compare(run_a: Results | str | Path, run_b: Results | str | Path) -> pd.DataFrame:
    """Realised events of each behaviour in run a against run b (usually `no-system`).

    One row per behaviour in either run, then summary rows: `total_offences` (compliance:
    all behaviours with negative points in run a), `total_speech`, and
    `total_volunteering` (genuine and for points together, against genuine in b).
    Columns: kind, events_a, events_b, ratio (a / b), change (a - b) and
    `paired` (same seed and size, so the ratio is a paired comparison).
    """
    a, b = _as_results(run_a), _as_results(run_b)
    ta, tb = a.timeseries, b.timeseries
    spec = a.scenario
    names = [c[len(PREFIX):] for c in ta.columns if c.startswith(PREFIX)]
    names += [c[len(PREFIX):] for c in tb.columns
              if c.startswith(PREFIX) and c[len(PREFIX):] not in names]
    paired = (a.manifest["seed"] == b.manifest["seed"]
              and a.manifest["agents"] == b.manifest["agents"]
              and a.manifest["days"] == b.manifest["days"])

    def total(ts: pd.DataFrame, name: str) -> int:
        col = PREFIX + name
        return int(ts[col].sum()) if col in ts.columns else 0

    rows = [{"measure": n, "kind": _kind(n, spec), "events_a": total(ta, n),
             "events_b": total(tb, n)} for n in names]
    df = pd.DataFrame(rows)
    for measure, kinds, extra_a in (("total_offences", ("offence",), ()),
                                    ("total_speech", ("speech",), ()),
                                    ("total_volunteering", (), ("volunteering",))):
        sel = df["kind"].isin(kinds) if kinds else df["measure"].isin(extra_a)
        ea = int(df.loc[sel, "events_a"].sum())
        eb = int(df.loc[sel, "events_b"].sum())
        if measure == "total_volunteering":
            ea += int(df.loc[df["kind"] == "for_points", "events_a"].sum())
        rows.append({"measure": measure, "kind": "summary", "events_a": ea, "events_b": eb})
    df = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["ratio"] = np.where(df["events_b"] > 0, df["events_a"] / df["events_b"].clip(lower=1),
                               np.nan)
    df["change"] = df["events_a"] - df["events_b"]
    df["paired"] = paired
    return df.set_index("measure")
