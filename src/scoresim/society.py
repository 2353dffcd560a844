"""The synthetic society: people as arrays, built from aggregate shares only.

There is no object per person and no field for a name, an identity number, a
face or an address: a person is an index into a few small typed arrays. What
can be recomputed from the seed (each person's propensity for each behaviour)
is recomputed where it is used instead of stored, which keeps a person to a
few dozen bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from scoresim.random import stream_key, uniform
from scoresim.scenario.schema import Scenario

CHUNK = 1 << 20


@dataclass
class Society:
    n: int
    group: np.ndarray  # uint8, the demographic group face recognition treats differently
    group_shares: np.ndarray
    propensity_sigma: float

    @classmethod
    def build(cls, scenario: Scenario, n: int, seed: int) -> Society:
        shares = np.asarray(scenario.population.group_shares, dtype=np.float64)
        cum = np.cumsum(shares)
        cum[-1] = 1.0
        group = np.empty(n, dtype=np.uint8)
        _draw_groups(stream_key(seed, "society", "group"), cum, group)
        return cls(n=n, group=group, group_shares=shares,
                   propensity_sigma=scenario.population.propensity_sigma)

    @property
    def nbytes(self) -> int:
        return self.group.nbytes


@nb.njit(parallel=True, cache=True)
def _draw_groups(key, cum, out):
    n = out.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in nb.prange(n_chunks):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            u = uniform(key, np.uint64(i), np.uint64(0))
            g = 0
            while g < cum.shape[0] - 1 and u >= cum[g]:
                g += 1
            out[i] = g
