"""Scores per scheme: the regions of a country as they are, never averaged across scales.

With regions, each city pilot keeps its own score on its own scale (Rongcheng
starts at 1,000, Fuzhou at 500, Hangzhou at 650 on a 1,000-point scale) and a
region without a pilot keeps none. A mean over everyone mixes incompatible
numbers, and the timeseries' grade columns count grade *positions*, which name
different grades in each scheme. So wherever a run has more than one scored
scheme, its scores and grades are told per scheme, from the final state of
each person, and the people without a score are counted as such.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

NO_SCHEME = "none"  # model/rulebook.Schemes' name for the regions without a pilot


def scored_schemes(scenario: dict[str, Any]) -> list[str]:
    """The schemes some region of the scenario uses, in the scenario's order."""
    regions = scenario.get("regions") or {}
    used = {r.get("scheme") for r in regions.values() if r.get("scheme")}
    return [s for s in (scenario.get("schemes") or {}) if s in used]


def several_scales(scenario: dict[str, Any]) -> bool:
    """Whether scores of this scenario live on more than one scale (no common mean)."""
    return len(scored_schemes(scenario)) > 1


def grade_names(scenario: dict[str, Any], scheme: str) -> list[str]:
    return [g["name"] for g in scenario["schemes"][scheme].get("grades", [])]


def _columns(people: pd.DataFrame | pa.Table, names: list[str]) -> pd.DataFrame:
    """Only the columns asked for (a people table of 100M rows is not converted whole)."""
    if isinstance(people, pa.Table):
        have = [n for n in names if n in people.column_names]
        return people.select(have).to_pandas()
    return people[[n for n in names if n in people.columns]]


def codes_of(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A column's integer codes (-1 for missing) and the names they stand for.

    Never `astype(str)` on a person column: a categorical made strings builds a
    fixed-width array and a Python string per person (some 200 B each at 1e6
    people, for two columns the largest step of a run's output phase, which the
    memory guard would have to count). The codes are what the categorical holds.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        return (column.cat.codes.to_numpy(dtype=np.int64),
                [str(c) for c in column.cat.categories])
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes.astype(np.int64, copy=False), [str(u) for u in uniques]


def code_of(names: list[str], name: str) -> int:
    """`name`'s code among `names`; -2 (matches no code, not even missing) if absent."""
    return names.index(name) if name in names else -2


def per_scheme(scenario: dict[str, Any], people: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """One row per scored scheme: people, mean, median, 5% and 95% of the final scores.

    Empty when the people table has no scheme or score column (a registry entry
    made from the timeseries alone).
    """
    cols = _columns(people, ["scheme", "score"])
    rows = []
    if {"scheme", "score"} <= set(cols.columns):
        scheme, names = codes_of(cols["scheme"])
        score = cols["score"].to_numpy(dtype=float)
        for s in scored_schemes(scenario):
            x = score[(scheme == code_of(names, s)) & np.isfinite(score)]
            q = np.percentile(x, [5, 50, 95]) if x.size else [np.nan] * 3
            rows.append({"scheme": s, "people": int(x.size),
                         "initial": scenario["schemes"][s].get("initial"),
                         "mean": float(x.mean()) if x.size else np.nan,
                         "p5": float(q[0]), "median": float(q[1]), "p95": float(q[2])})
    return pd.DataFrame(rows, columns=["scheme", "people", "initial", "mean", "p5", "median",
                                       "p95"])


def unscored(people: pd.DataFrame | pa.Table) -> int | None:
    """People without a score (they live where no scheme is kept); None if unknown."""
    cols = _columns(people, ["score"])
    if "score" not in cols:
        return None
    return int(cols["score"].isna().sum())


def summary_keys(scenario: dict[str, Any], people: pd.DataFrame | pa.Table) -> dict[str, Any]:
    """The summary's per-scheme keys: mean_score_<scheme> and n_grade_<scheme>_<grade>."""
    out: dict[str, Any] = {}
    cols = _columns(people, ["scheme", "grade"])
    table = per_scheme(scenario, people)
    for row in table.itertuples():
        out[f"mean_score_{row.scheme}"] = row.mean
    if {"scheme", "grade"} <= set(cols.columns) and len(table):
        scheme, schemes = codes_of(cols["scheme"])
        grade, grades = codes_of(cols["grade"])
        both = (scheme >= 0) & (grade >= 0)
        counts = np.bincount(scheme[both] * len(grades) + grade[both],
                             minlength=len(schemes) * len(grades))
        for s in scored_schemes(scenario):
            for g in grade_names(scenario, s):
                i, j = code_of(schemes, s), code_of(grades, g)
                out[f"n_grade_{s}_{g}"] = int(counts[i * len(grades) + j]) if min(i, j) >= 0 \
                    else 0
    return out
