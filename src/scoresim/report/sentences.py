"""Sentences computed from a run's numbers: which cause, which difference, and whether it is noise.

No sentence of the report is fixed text about what a run shows. A sentence
that names a cause of wrongful sanctions names only causes present in that
run's attribution (wrongful.parquet), with their counts; a sentence that
names a difference between groups or regions states both rates, the 95%
interval of the difference (studies/noise.py) and whether that interval
excludes zero. With one seed it says that a gap inside the interval cannot be
told from noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scoresim.studies.noise import Z95, Difference, over_seeds, rate_difference, wilson

#: how the report names each cause of wrongful.parquet (model/attribution.py's CAUSES)
CAUSE_WORDS = {
    "false_match": "face-recognition false matches",
    "linkage": "linkage errors (a record filed under the wrong person)",
    "false_flag": "keyword false flags (benign posts flagged)",
    "malicious_report": "malicious reports by informants",
    "fabricated": "fabricated records",
    "several": "several kinds of error together",
    "collateral": "joint punishment (another person's or a firm's record)",
}
#: words that name a cause in text; the report's tests look for each
CAUSE_KEYWORDS = {
    "false_match": ("face-recognition", "face recognition", "false match"),
    "linkage": ("linkage",),
    "false_flag": ("false flag", "keyword"),
    "malicious_report": ("malicious",),
    "fabricated": ("fabricated",),
}
SANCTION_WORDS = {
    "travel_ban": "wrongly travel-banned",
    "dishonest_list": "wrongly put on the dishonest list",
    "consumption_ban": "wrongly consumption-banned",
    "media_suspension": "social media suspended wrongly",
    "shaming": "shown wrongly on public screens",
    "school_ban": "school-banned for a parent's record",
}


def cause_word(cause: str) -> str:
    return CAUSE_WORDS.get(cause, cause.replace("_", " "))


def sanction_word(sanction: str) -> str:
    return SANCTION_WORDS.get(sanction, sanction.replace("_", " "))


def _per(x: float, per: int) -> str:
    v = x * per
    return f"{v:.2f}" if abs(v) < 100 else f"{v:,.0f}"


def noise_clause(d: Difference, per: int, unit: str) -> str:
    """', is within noise: ...' or ', is beyond noise: ...' for a stated difference."""
    interval = f"95% interval {_per(d.low, per)} to {_per(d.high, per)}{unit}"
    if d.method == "one seed" or not np.isfinite(d.low):
        return f" ({d.method}: no interval)"
    if d.beyond_noise:
        return (f" ({interval}; {d.method}) is beyond noise: chance alone would rarely "
                "give a gap this large")
    single = "with one seed it cannot be told from chance" if "one seed" in d.method else \
        "the seeds do not tell it from chance"
    return f" ({interval}; {d.method}) is within noise: {single}"


def rates_sentence(what: str, counts: Mapping[str, int], sizes: Mapping[str, int],
                   per: int = 1000, seed_rates: Mapping[str, np.ndarray] | None = None,
                   label: str = "group") -> str:
    """'<what>: group a x per 1,000 (...), group b y (...); the difference ... is within noise'.

    Compares the highest and the lowest rate among the levels (groups, regions).
    `seed_rates`, when given, holds each level's rate in each seed (paired by seed),
    and the interval is then over seeds.
    """
    levels = [k for k in counts if sizes.get(k, 0) > 0]
    unit = f" per {per:,}"
    if not levels:
        return f"{what}: no one to compare."
    if sum(counts[k] for k in levels) == 0:
        return f"{what}: no one in any {label}, so there is no difference to tell."
    rate = {k: counts[k] / sizes[k] for k in levels}
    parts = []
    for k in levels:
        lo, hi = wilson(counts[k], sizes[k])
        parts.append(f"{label} {k} {_per(rate[k], per)}{unit} ({counts[k]:,} of "
                     f"{sizes[k]:,}; 95% interval {_per(lo, per)} to {_per(hi, per)})")
    if len(levels) < 2:
        return f"{what}: " + parts[0] + "."
    top = max(levels, key=lambda k: rate[k])
    low = min(levels, key=lambda k: rate[k])
    if seed_rates is not None and top in seed_rates and low in seed_rates:
        d = over_seeds(np.asarray(seed_rates[top]), np.asarray(seed_rates[low]))
    else:
        d = rate_difference(counts[top], sizes[top], counts[low], sizes[low])
    which = "highest and lowest " if len(levels) > 2 else ""
    shown = parts if len(levels) <= 4 else [p for k, p in zip(levels, parts, strict=True)
                                            if k in (top, low)]
    caveat = (f" (the highest and lowest of {len(levels)} {label}s: chance gives a gap "
              "beyond this interval more often than 1 time in 20)" if len(levels) > 2
              and d.beyond_noise else "")
    return (f"{what}: " + "; ".join(shown) + f". The gap between the {which}{label}s, "
            f"{label} {top} minus {label} {low}, {_per(d.estimate, per)}{unit}"
            + noise_clause(d, per, unit) + caveat + ".")


def cause_sentence(sanction: str, rows: pd.DataFrame) -> str:
    """What caused one sanction's wrongful cases: each cause present, with its count.

    `rows`: wrongful.parquet's rows of that sanction (one per person and sanction).
    Only causes with at least one person are named.
    """
    people = rows["person"].nunique() if len(rows) else 0
    what = sanction_word(sanction)
    if people == 0:
        return f"No one was {what}."
    counts = rows.groupby("cause")["person"].nunique().sort_values(ascending=False)
    counts = counts[counts > 0]
    parts = [f"{cause_word(c)} {n:,} ({n / people * 100:.0f}%)" for c, n in counts.items()]
    if len(parts) == 1:
        body = f"all of them because of {cause_word(counts.index[0])}"
    else:
        body = "because of " + ", ".join(parts[:-1]) + " and " + parts[-1]
    return (f"{people:,} {'person was' if people == 1 else 'people were'} {what}: {body}"
            " (the error kind that made the difference, from wrongful.parquet).")


def causes_named(text: str) -> set[str]:
    """The causes a text names (by CAUSE_KEYWORDS), for tests and audits of the report."""
    low = text.lower()
    return {c for c, words in CAUSE_KEYWORDS.items() if any(w in low for w in words)}


# -- opinion and surveys ---------------------------------------------------------------------


def _pct_interval(x: float, se: float) -> str:
    lo, hi = 100 * (x - Z95 * se), 100 * (x + Z95 * se)
    return f"{100 * x:.1f}% (95% interval {lo:.1f}% to {hi:.1f}%)"


def survey_sentence(row: Mapping[str, Any]) -> str:
    """One survey row in words: direct and list estimates, the true share, and the gap.

    The gap's standard error is sqrt(direct_se^2 + list_se^2), which ignores the
    covariance of two estimates from the same respondents; the gap is "beyond
    noise" when its 95% interval excludes zero.
    """
    gap, se = float(row["falsification_gap"]), math.hypot(row["direct_se"], row["list_se"])
    beyond = abs(gap) > Z95 * se
    verdict = ("beyond noise: the direct question overstates approval" if beyond and gap > 0
               else "beyond noise: the direct question understates approval" if beyond
               else "within noise: the two estimates cannot be told apart")
    return (f"On day {int(row['day'])}, of {int(row['n']):,} respondents, "
            f"{_pct_interval(float(row['direct']), float(row['direct_se']))} said directly that "
            f"they approve; the list experiment, which hides each answer, puts approval at "
            f"{_pct_interval(float(row['list']), float(row['list_se']))}, and "
            f"{100 * float(row['true_approval']):.1f}% of them really approve. The gap of "
            f"{100 * gap:.1f} points (95% interval {100 * (gap - Z95 * se):.1f} to "
            f"{100 * (gap + Z95 * se):.1f}) is {verdict}.")


def approval_order_sentence(trait: str, true: Mapping[str, float],
                            listed: Mapping[str, tuple[float, float]]) -> str:
    """Which level of a trait approves most and least, and whether the list experiment sees it.

    `true`: each level's mean approval in the whole population (no sampling
    noise); `listed`: each level's list estimate and SE in the last survey.
    """
    hi = max(true, key=lambda k: true[k])
    lo = min(true, key=lambda k: true[k])
    text = (f"By {trait.replace('_', ' ')}, mean approval in the whole population is "
            f"highest among {hi.replace('_', ' ')} ({100 * true[hi]:.1f}%) and lowest among "
            f"{lo.replace('_', ' ')} ({100 * true[lo]:.1f}%)")
    if hi in listed and lo in listed:
        d = listed[hi][0] - listed[lo][0]
        se = math.hypot(listed[hi][1], listed[lo][1])
        within = abs(d) <= Z95 * se
        text += (f"; the list experiment's difference between them, {100 * d:.1f} points "
                 f"(95% interval {100 * (d - Z95 * se):.1f} to {100 * (d + Z95 * se):.1f}), is "
                 + ("within noise at this sample size" if within else "beyond noise"))
    return text + "."


def seed_gap_sentence(measure: str, row: Mapping[str, float],
                      levels: Sequence[str] = ()) -> str:
    """One group gap of seeds.parquet in words, with its interval over the seeds and whether
    it is within noise (the interval holds zero) or beyond it.

    `levels`: the groups the gap was taken over, in the order outputs.group_rates takes
    them (sorted by name; the gap is the last minus the first), so the sentence names
    which group is subtracted from which rather than leaving the reader to guess.
    """
    what = measure.removesuffix("_gap").removesuffix("_per_1000").replace("_", " ")
    n = int(row["n"])
    d = Difference(float(row["mean"]), float(row["ci_low"]), float(row["ci_high"]),
                   f"t interval over {n} seeds" if n > 1 else "one seed")
    which = (f"group {levels[-1]} minus group {levels[0]}" if len(levels) > 1
             else "the last group minus the first")
    return (f"The gap in {what} per 1,000, {which}, "
            f"{_per(d.estimate, 1)} per 1,000 on average over {n} seeds"
            + noise_clause(d, 1, " per 1,000") + ".")
