"""Registers: courts, banks, utilities, community registers, traffic police.

A register records a true event with some probability. It does not record at
once: courts file judgments days to weeks later, banks and utilities report
with a lag, so each channel has a filing delay, drawn uniformly between its
shortest and longest. And it can file a record under the wrong person: record
linkage joins a record to an identity by an id, and a clerk or a matching rule
that takes a similar identity (a nearby id: identity numbers encode region and
birth date, so nearby ids are people alike on both) files one person's record
in another's file. Courts attribute correctly (docs/reference-model.md); the schema
refuses linkage errors on the channels that put people on the dishonest list.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from scoresim.model.random import uniform

MAX_NEAR_TRIES = 64


@nb.njit(inline="always", cache=True)
def filing_delay(u, lo, hi):
    """Days from event to filing, uniform on lo..hi for a uniform draw u."""
    if hi <= lo:
        return lo
    return min(hi, lo + np.int64(u * (hi - lo + 1)))


@nb.njit(cache=True)
def pick_nearby(i, n, window, key, counter):
    """Another person whose id lies within `window` of i (uniform over those ids), or -1."""
    for t in range(MAX_NEAR_TRIES):
        u = uniform(key, np.uint64(i), counter * np.uint64(MAX_NEAR_TRIES) + np.uint64(t))
        off = np.int64(u * 2 * window) - window  # -window .. window-1
        if off >= 0:
            off += 1  # skip 0: -window..-1, 1..window
        j = i + off
        if 0 <= j < n:
            return j
    return -1
