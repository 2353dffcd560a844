"""Wrongful sanctions by cause and group: how many people, per 1,000 of each group.

"How many people are wrongly travel-banned because of face recognition, by
group?" is a count over wrongful.parquet (runs/wrongful.py: each wrongly
sanctioned person and sanction, with the kind of error that made the
difference), divided by the people of each group whose credit file the run
kept. Every sanction the scenario has and every cause it can produce is a row,
zeros included, so that "no false-match bans" is a row that says 0 rather
than a row that is missing.

One run has one draw of everything: its rates carry no interval (low and high
are NaN), and a difference between two groups of one run cannot be told from
noise. Given several runs (seeds of one scenario), each row is the mean over
the runs with a 95% Student t interval of that mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoresim.model.attribution import CAUSES, COLLATERAL, SANCTIONS, SCHOOL_BAN, SEVERAL, SHAMING
from scoresim.runs.results import Results, load
from scoresim.runs.wrongful import kept_people
from scoresim.studies.stats import t975

COLUMNS = ["sanction", "cause", "group", "people", "per_1000", "low", "high"]
Run = Results | str | Path


def _as_results(run: Run) -> Results:
    return run if isinstance(run, Results) else load(run)


def sanctions_of(scenario: dict[str, Any]) -> list[str]:
    """The sanctions a scenario can impose, in SANCTIONS' order."""
    s = scenario.get("sanctions") or {}
    jp = scenario.get("joint_punishment") or {}
    have = {"travel_ban": s.get("travel_ban") is not None,
            "dishonest_list": s.get("dishonest_list") is not None,
            "consumption_ban": s.get("consumption_ban") is not None
            or bool(jp.get("bind_legal_rep")),
            "media_suspension": s.get("media_suspension") is not None,
            SHAMING: s.get("shaming") is not None,
            SCHOOL_BAN: bool(jp.get("school_ban_children"))}
    if jp.get("bind_legal_rep") or jp.get("relative_points"):
        have["travel_ban"] = have["travel_ban"] or bool(jp.get("bind_legal_rep"))
    return [x for x in SANCTIONS if have[x]]


def causes_of(scenario: dict[str, Any]) -> list[str]:
    """The causes a scenario can produce, in CAUSES' order (several always)."""
    channels = (scenario.get("channels") or {}).values()
    have = {
        "false_match": any(c.get("kind") == "camera" and c.get("face_recognition")
                           for c in channels),
        "linkage": any((c.get("linkage_error") or 0) > 0 for c in channels),
        "false_flag": any(c.get("false_flag") for c in channels),
        "malicious_report": any(c.get("malicious_report") for c in channels),
        "fabricated": bool(scenario.get("abuse")),
        SEVERAL: True,
        COLLATERAL: bool(scenario.get("joint_punishment")),
    }
    return [c for c in CAUSES if have.get(c, False)]


def _one(results: Results) -> pd.DataFrame | None:
    """One run's table (people and per_1000, no interval); None without a credit file."""
    w = results.wrongful()
    if w is None:
        return None
    people = results.people_columns(("id", "group"))
    ids = people["id"].to_numpy() if "id" in people else np.arange(len(people))
    kept = kept_people(results.manifest, ids)
    n_groups = len(results.scenario.get("population", {}).get("group_shares", [])) or \
        int(people["group"].max()) + 1
    size = np.bincount(people["group"].to_numpy()[kept].astype(np.int64), minlength=n_groups)
    sanctions = sanctions_of(results.scenario)
    causes = causes_of(results.scenario)
    extra_s = sorted(set(w["sanction"].astype(str)) - set(sanctions))
    extra_c = sorted(set(w["cause"].astype(str)) - set(causes))
    grid = pd.MultiIndex.from_product([sanctions + extra_s, causes + extra_c,
                                       range(n_groups)], names=["sanction", "cause", "group"])
    counts = (w.assign(sanction=w["sanction"].astype(str), cause=w["cause"].astype(str),
                       group=w["group"].astype(np.int64))
              .groupby(["sanction", "cause", "group"])["person"].nunique())
    out = counts.reindex(grid, fill_value=0).rename("people").reset_index()
    denom = size[out["group"].to_numpy()].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["per_1000"] = np.where(denom > 0, out["people"] / denom * 1000.0, np.nan)
    out["low"] = np.nan
    out["high"] = np.nan
    out["people"] = out["people"].astype(np.int64)
    return out[COLUMNS]


def wrongful_by_cause(results: Run | Sequence[Run]) -> pd.DataFrame | None:
    """People wrongly sanctioned, by sanction, cause and group, and per 1,000 of the group.

    `results`: one run (Results or run folder), or several (seeds of one scenario).
    Columns: sanction, cause, group, people (mean over the runs when several),
    per_1000 (of the group's people whose credit file was kept: everyone with
    records: all), low and high (the 95% interval of the mean over runs; NaN for
    one run). Also `seeds`: how many runs each row rests on. None when no run kept
    a credit file (records: none), since then nothing can be traced to a cause.
    """
    runs = [results] if isinstance(results, Results | str | Path) else list(results)
    frames = [f for f in (_one(_as_results(r)) for r in runs) if f is not None]
    if not frames:
        return None
    if len(frames) == 1:
        out = frames[0]
        out["seeds"] = 1
        return out
    long = pd.concat([f.assign(_run=k) for k, f in enumerate(frames)], ignore_index=True)
    keys = ["sanction", "cause", "group"]
    order = long.drop_duplicates(keys)[keys]
    # a row one run's scenario cannot have (a cause it has no channel for) is 0 there
    full = pd.MultiIndex.from_tuples(
        [(*k, r) for k in order.itertuples(index=False) for r in range(len(frames))],
        names=[*keys, "_run"])
    long = long.set_index([*keys, "_run"]).reindex(full)
    long[["people", "per_1000"]] = long[["people", "per_1000"]].fillna(0.0)
    long = long.reset_index()
    g = long.groupby(keys, sort=False)
    stats = g.agg(people=("people", "mean"), per_1000=("per_1000", "mean"),
                  sd=("per_1000", "std"), seeds=("_run", "nunique")).reset_index()
    stats = order.merge(stats, on=keys, how="left")
    half = np.array([t975(int(n) - 1) for n in stats["seeds"]]) * stats["sd"].to_numpy() \
        / np.sqrt(np.maximum(stats["seeds"].to_numpy(), 1))
    stats["low"] = stats["per_1000"] - half
    stats["high"] = stats["per_1000"] + half
    return stats[COLUMNS + ["seeds"]].reset_index(drop=True)


def outputs(results: Results) -> dict[str, float]:
    """A run's wrongful sanctions as sweep outputs: `wrongful_<sanction>_by_<cause>` (people)
    and `wrongful_<sanction>_by_<cause>_group_<group>` (people of the group), every
    sanction and cause of the scenario; nothing without a credit file."""
    table = _one(results)
    if table is None:
        return {}
    out: dict[str, float] = {}
    for (sanction, cause), rows in table.groupby(["sanction", "cause"], sort=False):
        out[f"wrongful_{sanction}_by_{cause}"] = float(rows["people"].sum())
        for g, n in zip(rows["group"].tolist(), rows["people"].tolist(), strict=True):
            out[f"wrongful_{sanction}_by_{cause}_group_{g}"] = float(n)
    return out


def table_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows worth printing: the causes that sanctioned someone, one column per group.

    For the command line: sanction, cause, then `group G` cells as "people (per 1,000)"
    or, over several seeds, "per 1,000 [low, high]".
    """
    keep = table.groupby(["sanction", "cause"], sort=False)["people"].transform("sum") > 0
    part = table[keep]
    several = "seeds" in part and (part["seeds"] > 1).any()
    rows = []
    for (sanction, cause), g in part.groupby(["sanction", "cause"], sort=False):
        row: dict[str, Any] = {"sanction": sanction, "cause": cause}
        for r in g.itertuples():
            if several:
                row[f"group {r.group}"] = (f"{r.per_1000:.2f} [{r.low:.2f}, {r.high:.2f}]"
                                           if np.isfinite(r.low) else f"{r.per_1000:.2f}")
            else:
                rate = "-" if not np.isfinite(r.per_1000) else f"{r.per_1000:.2f}"
                row[f"group {r.group}"] = f"{int(r.people):,} ({rate})"
        rows.append(row)
    return pd.DataFrame(rows)
