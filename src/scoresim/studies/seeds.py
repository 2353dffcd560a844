"""Every headline with its interval over seeds (`scoresim run --seeds K`).

One run's numbers are one draw: 62 people wrongly banned could be 50 or 75
with another seed. K runs that differ only in their seed give each headline
(the `Results.summary()` numbers, and where the scenario keeps a breakdown by
group, the rates per 1,000 of each group and their gap) a mean, a standard
deviation and a 95% interval of the mean (Student t over the K seeds), so a
difference between groups that the interval spans reads as what it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scoresim.runs.results import Results
from scoresim.studies.outputs import Output
from scoresim.studies.sweep import t975

#: Per-group rates shown with the headlines (where the run keeps a breakdown by group).
GROUP_RATES = ("wrongful_travel_ban_per_1000", "wrongful_shaming_per_1000")
NOT_HEADLINES = ("scenario", "agents", "days", "seed", "wall_seconds")
SEED_COLUMNS = ["measure", "n", "mean", "std", "ci_low", "ci_high"]


def headlines(results: Results) -> dict[str, float]:
    """One run's headline numbers: its summary and, with a group breakdown, group rates."""
    out = {k: float(v) for k, v in results.summary().items()
           if k not in NOT_HEADLINES and isinstance(v, int | float) and not isinstance(v, bool)}
    bd = results.breakdown
    if bd is not None and len(bd) and (bd["dimension"].astype(str) == "group").any():
        levels = sorted(set(bd[bd["dimension"].astype(str) == "group"]["value"].astype(str)))
        for rate in GROUP_RATES:
            for g in levels:
                o = Output(f"{rate}@group={g}", rate, "rate", None, None, "group", g)
                out[o.name] = o.value(results.timeseries, {}, bd, {"group": levels})
            if len(levels) > 1:
                o = Output(f"{rate}_gap", rate, "gap", None, None, "group")
                out[o.name] = o.value(results.timeseries, {}, bd, {"group": levels})
    return out


def seed_intervals(runs: Sequence[Results]) -> pd.DataFrame:
    """measure, n, mean, std, ci_low, ci_high over the runs (one per seed)."""
    table = pd.DataFrame([headlines(r) for r in runs])
    rows = []
    for measure in table.columns:
        x = table[measure].dropna().to_numpy(dtype=np.float64)
        n = len(x)
        mean = float(np.mean(x)) if n else float("nan")
        std = float(np.std(x, ddof=1)) if n > 1 else float("nan")
        half = t975(n - 1) * std / np.sqrt(n) if n > 1 else float("nan")
        rows.append({"measure": measure, "n": n, "mean": mean, "std": std,
                     "ci_low": mean - half, "ci_high": mean + half})
    return pd.DataFrame(rows, columns=SEED_COLUMNS)
