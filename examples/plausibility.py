"""The simulated column of docs/plausibility.md, from one run folder.

    scoresim run pilot-city --agents 20000 --days 365 --out runs/plausibility-pilot-city
    python examples/plausibility.py runs/plausibility-pilot-city

Prints each headline outcome as a share of people, a rate per person-year, or a
count per listed person, so that runs of any size compare with public figures.
"""

from __future__ import annotations

import sys

import scoresim


def outcomes(folder: str) -> list[tuple[str, str]]:
    res = scoresim.load(folder)
    ts, n = res.timeseries, int(res.manifest["agents"])
    years = int(res.manifest["days"]) / 365
    last = ts.iloc[-1]

    def share(col: str) -> str:
        return f"{last[col] / n * 100:.3f}% of people" if col in ts else "not in this run"

    def per_year(col: str) -> str:
        return (f"{ts[col].sum() / n / years:.4f} per person a year" if col in ts
                else "not in this run")

    rows = [
        ("on the dishonest list (last day)", share("n_dishonest")),
        ("newly listed", per_year("n_newly_listed")),
        ("travel-banned (last day)", share("n_travel_banned")),
        ("of them only by a low grade",
         f"{(last['n_travel_banned'] - last['n_dishonest']) / n * 100:.3f}% of people"
         if "n_dishonest" in ts else "not in this run"),
        ("social media suspended (last day)", share("n_media_suspended")),
        ("critical posts", per_year("n_events_criticizing_government")),
        ("jaywalking records shown on screens", per_year("n_shamed")),
        ("shown wrongly", per_year("n_shamed_wrongly")),
        ("aware of the system (first day)",
         f"{ts['n_aware'].iloc[0] / n * 100:.1f}% of people" if "n_aware" in ts else
         "not in this run"),
        ("aware of the system (last day)", share("n_aware")),
        ("wrongly travel-banned (last day)", share("n_wrongly_banned")),
    ]
    return rows


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        print(folder)
        for what, value in outcomes(folder):
            print(f"  {what}: {value}")
