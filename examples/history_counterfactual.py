"""docs/history.md's counterfactual: china-history without the 2019 credit-repair expansion.

Each seed runs the history twice, as built and with the `credit-repair` change
setting the repayment rate back to the rate in force before it (joint
punishment's), so the pair is the same history up to 2019-06-30 and differs
after it only through repayment. Differences are paired per seed, scaled to
China's 1.41 billion people, and summarised by their mean and a t interval
over seeds (the seeds are the replicates; nothing else is assumed).

    python examples/history_counterfactual.py --agents 100000 --seeds 5
"""

from __future__ import annotations

import argparse
import datetime as dt

import numpy as np
from scipy import stats

import scoresim
from scoresim.scenario.loader import load_scenario

CHINA = 1.41e9
REPAIR = "credit-repair"
BEFORE = "joint-punishment"
RATE = "sanctions.dishonest_list.repayment_rate"


def change_index(scenario, name: str) -> int:
    """The entry's position, found by its name: positions move when entries are added."""
    return next(i for i, c in enumerate(scenario.timeline) if c.name == name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()

    scenario = load_scenario("china-history")
    repair = change_index(scenario, REPAIR)
    before = scenario.timeline[change_index(scenario, BEFORE)].set[RATE]
    origin = scenario.origin
    day = {"2023-12-04": (dt.date(2023, 12, 4) - origin).days,
           "2024-01-01": (dt.date(2024, 1, 1) - origin).days,
           "2024-12-31": (dt.date(2024, 12, 31) - origin).days,
           "change": (scenario.timeline[repair].date - origin).days}
    scale = CHINA / args.agents
    rows = {"left the list by payment in 2024": [], "on the list on 2023-12-04": []}
    for seed in range(1, args.seeds + 1):
        a = scoresim.run("china-history", agents=args.agents, seed=seed, records="none")
        b = scoresim.run("china-history", agents=args.agents, seed=seed, records="none",
                         set={f"timeline.{repair}.set.{RATE}": before})
        ta, tb = a.timeseries.set_index("day"), b.timeseries.set_index("day")
        assert ta.loc[: day["change"] - 1].equals(tb.loc[: day["change"] - 1]), \
            "the pair must be the same history before the change"
        paid = slice(day["2024-01-01"], day["2024-12-31"])
        rows["left the list by payment in 2024"].append(
            (ta.loc[paid, "n_repaid"].sum() - tb.loc[paid, "n_repaid"].sum()) * scale)
        rows["on the list on 2023-12-04"].append(
            (ta.loc[day["2023-12-04"], "n_dishonest"] - tb.loc[day["2023-12-04"], "n_dishonest"])
            * scale)
    print(f"credit-repair (timeline.{repair}) against its rate set back to {before:g} a day; "
          f"{args.agents:,} people, seeds 1..{args.seeds}; with the reform minus without, "
          f"scaled to {CHINA:.3g} people")
    print("| measure | per seed | mean | 95% interval over seeds |")
    print("| --- | --- | --- | --- |")
    t = stats.t.ppf(0.975, args.seeds - 1)
    for name, values in rows.items():
        v = np.array(values)
        half = t * v.std(ddof=1) / np.sqrt(len(v))
        fmt = lambda x: f"{x / 1e6:+.2f}M"  # noqa: E731
        print(f"| {name} | {', '.join(fmt(x) for x in v)} | {fmt(v.mean())} | "
              f"[{fmt(v.mean() - half)}, {fmt(v.mean() + half)}] |")


if __name__ == "__main__":
    main()
