"""A plain dense NumPy implementation of the reference model, the baseline scoresim must beat.

It follows docs/reference-model.md the way a Covasim-style simulator would:
every day, for every behaviour, one uniform draw per person decides who acts,
and every day the grades, bans and counts are recomputed over everyone. Its
cost is people x days x behaviours whatever happens, which is exactly what
scoresim's event calendar avoids, so the ratio of their throughputs measures
what that design buys.

It is meant to be an honest baseline, not a straw man: draws are float32 into
preallocated buffers (the cheapest NumPy offers per draw), propensities are
stored per behaviour as contiguous float32 rows, only the people who acted are
touched after the draw, and the daily counts use single passes over compact
arrays. No numba: that is the point of the comparison.

It is also a second, independent implementation of the same rules (written
from the specification, sharing no code with scoresim), so the tests compare
both with the closed form and with each other.

Run it alone: `python benchmarks/dense_baseline.py --agents 100000 --days 365`
prints one JSON object with its timings and final figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

REGISTER, CAMERA = "register", "camera"


@dataclass(frozen=True)
class Rule:
    """One behaviour of the reference model with its channel and points."""

    name: str
    rate: float  # per person and day, before the propensity multiplier
    kind: str  # REGISTER or CAMERA
    p_seen: float  # record probability (register) or capture probability (camera)
    points: int
    lists: bool = False  # a record puts its subject on the dishonest list


# docs/reference-model.md, "Behaviours"
REFERENCE_RULES: tuple[Rule, ...] = (
    Rule("volunteering", 1 / 30, REGISTER, 0.8, 5),
    Rule("waste_sorting_violation", 1 / 60, REGISTER, 0.1, -2),
    Rule("late_payment", 1 / 180, REGISTER, 1.0, -10),
    Rule("jaywalking", 1 / 40, CAMERA, 0.3, -5),
    Rule("smoking_in_nonsmoking_zone", 1 / 90, CAMERA, 0.2, -3),
    Rule("criticizing_government", 1 / 365, REGISTER, 0.5, -50),
    Rule("court_judgment_default", 1 / 100000, REGISTER, 1.0, -100, lists=True),
)
GROUP1_SHARE = 0.2
PROPENSITY_SIGMA = 0.5
TMR = 0.90
FMR = np.array([0.001, 0.01])  # by the true actor's group
INITIAL_SCORE = 1000
GRADE_NAMES = ("AAA", "AA", "A", "B", "C", "D")
GRADE_MINS = np.array([1050, 1030, 960, 850, 600], dtype=np.int32)  # D is below 600
BAN_BELOW = 850  # grades C and D are travel-banned
LIST_DAYS = 730

METRIC_COLUMNS = (
    ["day", "mean_score"] + [f"n_grade_{g}" for g in GRADE_NAMES]
    + ["n_travel_banned", "n_dishonest", "n_wrongly_banned", "n_records", "n_false_records"]
)


def closed_form_mean_score(days: int, rules: tuple[Rule, ...] = REFERENCE_RULES) -> float:
    """docs/reference-model.md's expected mean score after `days` days (about 987.25 for 365)."""
    fmr_bar = (1 - GROUP1_SHARE) * FMR[0] + GROUP1_SHARE * FMR[1]
    per_day = 0.0
    for r in rules:
        p_record = r.p_seen * (TMR + fmr_bar) if r.kind == CAMERA else r.p_seen
        per_day += r.rate * p_record * r.points
    return INITIAL_SCORE + days * per_day


@dataclass
class DenseRun:
    """What a dense run leaves: the daily metrics, the final per-person state, its timings."""

    timeseries: pd.DataFrame
    group: np.ndarray
    score: np.ndarray
    false_points: np.ndarray
    listed_until: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


class _SameGroupPicker:
    """Uniform draws of another person of the same group, in O(1) per draw.

    People are sorted by group once; a person's rank within their group lets
    the draw skip them without rejection.
    """

    def __init__(self, group: np.ndarray):
        idx = np.int32 if group.shape[0] < 2**31 else np.int64
        self.members = np.argsort(group, kind="stable").astype(idx)
        self.size = np.bincount(group, minlength=2).astype(np.int64)
        self.offset = np.concatenate([[0], np.cumsum(self.size)[:-1]])
        self.rank = np.empty(group.shape[0], dtype=idx)
        self.rank[self.members] = (
            np.arange(group.shape[0]) - self.offset[group[self.members]]
        ).astype(idx)

    def pick(self, actors: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        others = self.size[groups] - 1
        ok = others > 0  # a person alone in their group cannot be mistaken for anyone
        actors, groups, others = actors[ok], groups[ok], others[ok]
        r = (rng.random(actors.shape[0]) * others).astype(np.int64)
        r = np.minimum(r, others - 1)
        r += r >= self.rank[actors]
        return self.members[self.offset[groups] + r].astype(np.int64)


def simulate_dense(n: int, days: int, seed: int, rules: tuple[Rule, ...] = REFERENCE_RULES
                   ) -> DenseRun:
    """Run the reference model densely; see the module docstring for why it is built this way."""
    if n < 2 or days < 1:
        raise ValueError("need at least 2 people and 1 day")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    group = (rng.random(n) < GROUP1_SHARE).astype(np.uint8)
    mu = -PROPENSITY_SIGMA**2 / 2
    # p[b] is contiguous: one row per behaviour, the row a day's draw is compared with
    p = np.empty((len(rules), n), dtype=np.float32)
    for b, rule in enumerate(rules):
        m = rng.lognormal(mu, PROPENSITY_SIGMA, n)
        np.minimum(rule.rate * m, 1.0, out=m)
        p[b] = m
    del m
    picker = _SameGroupPicker(group)
    score = np.full(n, INITIAL_SCORE, dtype=np.int32)
    false_points = np.zeros(n, dtype=np.int32)
    listed_until = np.zeros(n, dtype=np.int32)
    u = np.empty(n, dtype=np.float32)
    acted = np.empty(n, dtype=np.bool_)
    low = np.empty(n, dtype=np.bool_)
    listed = np.empty(n, dtype=np.bool_)
    table = {c: np.zeros(days, dtype=np.float64 if c == "mean_score" else np.int64)
             for c in METRIC_COLUMNS}
    t1 = time.perf_counter()

    for d in range(days):
        n_records = n_false = 0
        # all behaviours of the day are drawn, observed and recorded first
        for b, rule in enumerate(rules):
            rng.random(n, dtype=np.float32, out=u)
            np.less(u, p[b], out=acted)
            actors = np.flatnonzero(acted)
            if actors.shape[0] == 0:
                continue
            seen = actors[rng.random(actors.shape[0]) < rule.p_seen]
            if rule.kind == REGISTER:
                score[seen] += rule.points  # one event per person and behaviour: no repeats
                n_records += seen.shape[0]
                if rule.lists:
                    listed_until[seen] = d + LIST_DAYS  # always extends: earlier ones end sooner
                continue
            v = rng.random(seen.shape[0])
            g = group[seen]
            right = seen[v < TMR]
            wrong = (v >= TMR) & (v < TMR + FMR[g])
            victims = picker.pick(seen[wrong], g[wrong], rng)
            score[right] += rule.points
            np.add.at(score, victims, rule.points)  # victims can repeat
            np.add.at(false_points, victims, rule.points)
            n_records += right.shape[0] + victims.shape[0]
            n_false += victims.shape[0]
        # then scores, grades, the list and bans, over everyone
        np.greater(listed_until, d, out=listed)
        np.less(score, BAN_BELOW, out=low)
        n_low = np.count_nonzero(low)
        at_least = [np.count_nonzero(score >= t) for t in GRADE_MINS]
        grades = np.diff([0] + at_least + [n])
        n_listed = np.count_nonzero(listed)
        n_banned = n_low + n_listed - np.count_nonzero(low & listed)
        # wrongly banned: banned on the score, not listed, not low on correct records alone
        low &= ~listed
        n_wrong = np.count_nonzero(low & (score - false_points >= BAN_BELOW))
        table["day"][d] = d
        table["mean_score"][d] = score.sum(dtype=np.int64) / n
        for name, count in zip(GRADE_NAMES, grades, strict=True):
            table[f"n_grade_{name}"][d] = count
        table["n_travel_banned"][d] = n_banned
        table["n_dishonest"][d] = n_listed
        table["n_wrongly_banned"][d] = n_wrong
        table["n_records"][d] = n_records
        table["n_false_records"][d] = n_false
    t2 = time.perf_counter()
    return DenseRun(pd.DataFrame(table), group, score, false_points, listed_until,
                    {"setup": t1 - t0, "loop": t2 - t1})


def run_dense(n: int, days: int, seed: int) -> pd.DataFrame:
    """The daily metrics of a dense reference run (docs/reference-model.md's columns)."""
    return simulate_dense(n, days, seed).timeseries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=float, default=100_000, help="people (1e6 is accepted)")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    n = int(args.agents)
    if n < 2 or args.days < 1 or n != args.agents:
        ap.error("--agents must be a whole number >= 2 and --days >= 1")
    run = simulate_dense(n, args.days, args.seed)
    last = run.timeseries.iloc[-1]
    out = {
        "agents": n, "days": args.days, "seed": args.seed,
        "setup_seconds": run.timings["setup"], "loop_seconds": run.timings["loop"],
        "agent_days_per_second": n * args.days / (run.timings["setup"] + run.timings["loop"]),
        "final": {c: float(last[c]) for c in METRIC_COLUMNS if c != "day"},
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
