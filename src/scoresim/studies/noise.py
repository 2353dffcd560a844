"""Whether a difference could be noise: the intervals every sentence about a difference states.

A run is one draw of a random society. Two groups' rates of wrongful bans
differ in every run, also where nothing treats them differently, so a report
that says one is higher must say whether the gap is larger than chance alone
would give. With one seed the only measure of chance is the sampling of the
people themselves: each group's count is a binomial draw (Wilson's score
interval), and the difference of two rates gets Newcombe's interval built from
them (Newcombe 1998, method 10), which behaves with zero counts, where the
plain normal interval does not. With several seeds the seeds themselves say
how much a number moves: the interval is the t interval of the per-seed values.

A difference is *beyond noise* when its 95% interval excludes zero, and
*within noise* otherwise. This is one test per sentence, not a correction
for the many sentences a report makes; the report says so where it lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054
# two-sided 95% quantiles of Student's t for 1 to 30 degrees of freedom
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t95(df: int) -> float:
    return _T95[df - 1] if 1 <= df <= len(_T95) else Z95


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion k / n (0..1)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


@dataclass(frozen=True)
class Difference:
    """A difference a - b with its 95% interval, and how that interval was computed."""

    estimate: float
    low: float
    high: float
    method: str

    @property
    def beyond_noise(self) -> bool:
        return self.low > 0 or self.high < 0


def rate_difference(k1: int, n1: int, k2: int, n2: int) -> Difference:
    """p1 - p2 for two binomial counts, with Newcombe's hybrid score interval."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Difference(d, low, high, "binomial counts of one seed, Newcombe's interval")


def count_difference(k1: int, k2: int) -> Difference:
    """k1 - k2 for two Poisson counts (events over a run), with a normal interval on
    the variance k1 + k2 (floored at 1, so two zero counts give (-2, 2), not a point)."""
    d = float(k1 - k2)
    half = Z95 * math.sqrt(max(1.0, k1 + k2))
    return Difference(d, d - half, d + half, "Poisson counts of one seed")


def over_seeds(a: np.ndarray, b: np.ndarray | None = None) -> Difference:
    """mean(a - b) over seeds (b paired with a seed by seed; b None: a itself), t interval."""
    x = np.asarray(a, dtype=float) - (0.0 if b is None else np.asarray(b, dtype=float))
    k = x.size
    mean = float(x.mean()) if k else math.nan
    if k < 2:
        return Difference(mean, math.nan, math.nan, "one seed")
    half = t95(k - 1) * float(x.std(ddof=1)) / math.sqrt(k)
    return Difference(mean, mean - half, mean + half, f"t interval over {k} seeds")
