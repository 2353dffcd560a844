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
from scoresim.studies.outputs import GROUP_RATES, group_rates
from scoresim.studies.sweep import t975

__all__ = ["GROUP_RATES", "SEED_COLUMNS", "headlines", "seed_intervals"]
NOT_HEADLINES = ("scenario", "agents", "days", "seed", "wall_seconds")
SEED_COLUMNS = ["measure", "n", "mean", "std", "ci_low", "ci_high"]


def headlines(results: Results) -> dict[str, float]:
    """One run's headline numbers: its summary and, with a group breakdown, group rates."""
    out = {k: float(v) for k, v in results.summary().items()
           if k not in NOT_HEADLINES and isinstance(v, int | float) and not isinstance(v, bool)}
    out.update(group_rates(results))
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
