"""Cameras and face recognition: who is seen, and who they are taken for.

A camera sees an event when the place is within view (coverage, which differs
between urban and rural areas) and it captures it (capture probability). Face
recognition then names the true actor (true-match rate), a similar-looking
person (false-match rate), or nobody. Both rates depend on the actor's
demographic cell: NIST FRVT (NISTIR 8280, December 2019, docs/facts.md) found 10 to
100 times more false matches for some groups with US-developed algorithms, 2
to 5 times more for women, more for the youngest and oldest, and no dramatic
group gap for algorithms developed in Asia. A profile gives a false-match rate
per group and factors per level of further traits (sex, age band), and a miss
rate with its own factors.

A false match picks a person of the same cell (same group and the same level
of every trait the scenario's profiles vary by): someone who looks alike to
the algorithm. The rates are error rates only; no image is ever involved.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from scoresim.model.random import uniform
from scoresim.model.society import Society
from scoresim.scenario.schema import Scenario

MAX_PICK_TRIES = 100_000


class FaceRecognitionTables:
    """Per-cell true- and false-match rates of every profile, and each person's cell."""

    def __init__(self, scenario: Scenario, society: Society):
        self.profiles = list(scenario.face_recognition)
        n_groups = len(scenario.population.group_shares)
        # the traits the profiles vary by, beyond group, in order of first mention
        traits: list[str] = []
        for fr in scenario.face_recognition.values():
            for t in (*fr.fmr_multipliers, *fr.miss_multipliers):
                if t != "group" and t not in traits:
                    traits.append(t)
        self.traits = traits
        sizes = [n_groups] + [len(society.levels[t]) for t in traits]
        n_cells = int(np.prod(sizes))
        # level of each (cell, trait): mixed radix, group most significant
        codes = np.indices(sizes).reshape(len(sizes), -1).T  # (n_cells, 1 + len(traits))
        names = ["group", *traits]
        n_p = max(1, len(self.profiles))
        self.tmr = np.zeros((n_p, n_cells), dtype=np.float64)
        self.fmr = np.zeros((n_p, n_cells), dtype=np.float64)
        for f, fr in enumerate(scenario.face_recognition.values()):
            fmr_mult = np.ones(n_cells)
            miss_mult = np.ones(n_cells)
            for k, name in enumerate(names):
                if name in fr.fmr_multipliers:
                    fmr_mult *= np.asarray(fr.fmr_multipliers[name])[codes[:, k]]
                if name in fr.miss_multipliers:
                    miss_mult *= np.asarray(fr.miss_multipliers[name])[codes[:, k]]
            base_fmr = np.asarray(fr.fmr, dtype=np.float64)[codes[:, 0]]
            # without factors the rates are used exactly as given (no rounding detour)
            self.fmr[f] = np.where(fmr_mult == 1.0, base_fmr, base_fmr * fmr_mult)
            self.tmr[f] = np.where(miss_mult == 1.0, fr.tmr, 1.0 - (1.0 - fr.tmr) * miss_mult)
        self.n_cells = n_cells
        if not traits:
            self.cell = society.group  # no copy: the reference pays nothing
        else:
            cell = society.group.astype(np.int64)
            for t in traits:
                cell = cell * len(society.levels[t]) + society.trait(t)
            self.cell = cell.astype(np.uint8)


class Coverage:
    """Share of events within a camera's view, by level of the region trait (urban/rural)."""

    def __init__(self, scenario: Scenario, society: Society, channel_names: list[str]):
        chans = [scenario.channels[c] for c in channel_names]
        by = {c.coverage_by for c in chans if c.coverage_by is not None}
        self.trait = by.pop() if by else None
        n_levels = len(society.levels[self.trait]) if self.trait else 1
        self.table = np.ones((max(1, len(chans)), n_levels), dtype=np.float64)
        for k, c in enumerate(chans):
            if c.coverage_by is not None:
                self.table[k] = c.coverage
        self.region = society.trait(self.trait) if self.trait else np.zeros(1, np.uint8)
        self.enabled = self.trait is not None


@nb.njit(inline="always", cache=True)
def in_view(i, c, coverage, region, enabled):
    """The coverage probability of channel c where person i is (1 without coverage)."""
    if not enabled:
        return 1.0
    return coverage[c, region[i]]


@nb.njit(cache=True)
def pick_same_cell(actor, g, cell, key, counter):
    """A uniformly drawn other person of cell g (rejection sampling, no index kept)."""
    n = cell.shape[0]
    for t in range(MAX_PICK_TRIES):
        u = uniform(key, np.uint64(actor), counter * np.uint64(MAX_PICK_TRIES) + np.uint64(t))
        j = min(np.int64(u * n), n - 1)
        if j != actor and cell[j] == g:
            return j
    return -1


@nb.njit(inline="always", cache=True)
def recognise(i, f, u, tmr, fmr, cell, pick_key, ctr):
    """Who face recognition names for actor i, given uniform u: i, a look-alike, or -1."""
    g = cell[i]
    if u < tmr[f, g]:
        return i
    if u < tmr[f, g] + fmr[f, g]:
        return pick_same_cell(i, g, cell, pick_key, ctr)
    return -1
