"""The tables of docs/opinion.md, from a run folder or a sweep folder.

    python examples/opinion/tables.py run RUN_DIR       # last survey, every group
    python examples/opinion/tables.py sweep SWEEP_DIR   # last survey's gap, every member

A row's gap SE is sqrt(direct_se^2 + list_se^2), which ignores the covariance of
the two estimates taken from the same respondents (a rough, usually generous SE).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def last_survey(run: Path) -> pd.DataFrame:
    """The run's last survey, one row per group, with the gap's SE."""
    s = pd.read_parquet(run / "surveys.parquet")
    s = s[s["day"] == s["day"].max()].copy()
    s["gap_se"] = np.hypot(s["direct_se"], s["list_se"])
    return s[["day", "group", "n", "true_approval", "direct", "direct_se", "list", "list_se",
              "falsification_gap", "gap_se"]]


def gap_table(folder: Path) -> pd.DataFrame:
    """One row per sweep member: its varied parameters and its last survey's gap (all)."""
    members = pd.read_parquet(folder / "members.parquet")
    varied = [c for c in members.columns if "." in c]
    rows = []
    for _, m in members.iterrows():
        s = last_survey(folder / "members" / str(m["member"]))
        row = s[s["group"] == "all"].iloc[0]
        rows.append({**{c.split(".")[-1]: m[c] for c in varied},
                     **{k: row[k] for k in ("true_approval", "direct", "list", "list_se",
                                            "falsification_gap", "gap_se")}})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    kind, folder = sys.argv[1], Path(sys.argv[2])
    out = last_survey(folder) if kind == "run" else gap_table(folder)
    if kind == "run":
        manifest = json.loads((folder / "manifest.json").read_text())
        print(f"{manifest['scenario']['name']}: {manifest['agents']:,} people, "
              f"{manifest['days']} days, seed {manifest['seed']}")
    print(out.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
