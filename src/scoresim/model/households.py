"""Households: people live in consecutive blocks of ids, one block per household.

A block is a head, then perhaps a partner, then children, and in some
three-generation households a parent of the head at the end. Sizes are drawn
from published household-size shares, never from individual records. Keeping
households as id blocks makes "the members of p's household" a slice of two
offsets, with no per-person list and no sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from scoresim.model.random import stream_key, uniform
from scoresim.scenario.schema import Households as HouseholdsConfig

HEAD, PARTNER, CHILD, PARENT = 0, 1, 2, 3
ROLE_NAMES = ["head", "partner", "child", "parent"]


@dataclass
class Households:
    household: np.ndarray  # int32 per person: the household (block) index
    role: np.ndarray  # uint8 per person: HEAD, PARTNER, CHILD or PARENT
    start: np.ndarray  # int64 per household + 1: the first person of each block

    @property
    def n_households(self) -> int:
        return self.start.shape[0] - 1

    def members(self, person: int) -> np.ndarray:
        """The people of `person`'s household, `person` included."""
        h = self.household[person]
        return np.arange(self.start[h], self.start[h + 1], dtype=np.int64)

    def sizes(self) -> np.ndarray:
        return np.diff(self.start)

    @property
    def nbytes(self) -> int:
        return self.household.nbytes + self.role.nbytes + self.start.nbytes


def build_households(seed: int, n: int, cfg: HouseholdsConfig) -> Households:
    """Blocks drawn one household at a time, keyed by the household's index."""
    cum = np.cumsum(np.asarray(cfg.size_shares, dtype=np.float64))
    cum[-1] = 1.0
    household = np.empty(n, dtype=np.int32)
    role = np.empty(n, dtype=np.uint8)
    start = np.empty(n + 1, dtype=np.int64)
    n_h = _blocks(n, stream_key(seed, "households", "blocks"), cum, cfg.couple_share,
                  cfg.parent_share, household, role, start)
    return Households(household, role, start[: n_h + 1].copy())


@nb.njit(cache=True)
def _blocks(n, key, cum, couple, parent, household, role, start):
    i = 0
    h = 0
    while i < n:
        u = uniform(key, np.uint64(h), np.uint64(0))
        s = 1
        while s - 1 < cum.shape[0] - 1 and u >= cum[s - 1]:
            s += 1
        s = min(s, n - i)
        start[h] = i
        for k in range(s):
            household[i + k] = h
            role[i + k] = CHILD
        role[i] = HEAD
        if s >= 2 and uniform(key, np.uint64(h), np.uint64(1)) < couple:
            role[i + 1] = PARTNER
        if s >= 3 and uniform(key, np.uint64(h), np.uint64(2)) < parent:
            role[i + s - 1] = PARENT
        i += s
        h += 1
    start[h] = n
    return h


@nb.njit(parallel=True, cache=True)
def draw_by_household(key, cum, household, start, out):
    """A categorical trait shared by a household: drawn once, keyed by its head's id."""
    for i in nb.prange(out.shape[0]):
        head = start[household[i]]
        u = uniform(key, np.uint64(head), np.uint64(0))
        g = 0
        while g < cum.shape[0] - 1 and u >= cum[g]:
            g += 1
        out[i] = g
