"""Peer ratings, as in Black Mirror's "Nosedive" (named in the seed).

People rate each other after interactions along their ties, one to five
stars. A rating sits near the rated person's current stars (people rate the
well-rated well), less a penalty when the rated person has a negative record
that day, and it counts in proportion to the rater's own stars raised to a
power: the well-rated move others' scores most. A person's stars are the
weighted mean of their prior and every rating they received; they are kept in
the score column in thousandths of a star, so the scenario's grades and bans
apply to them as to any score.

Who rates whom is drawn per day without touching everyone: the raters of a
day are found by geometric skips over person ids (cost: ratings, not people),
each keyed by (seed, day, rating number) for common random numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

from scoresim.model.module import Module, Today
from scoresim.model.random import geometric_skip, normal, stream_key, uniform
from scoresim.model.standing import SCORE
from scoresim.model.world import World

MILLI = 1000.0


class PeerRating(Module):
    name = "peer_rating"

    section = "peer_rating"
    interacts = True

    def __init__(self, world: World):
        super().__init__(world)
        cfg, society, seed = world.scenario.peer_rating, world.society, world.seed
        self.cfg = cfg
        self.ties = society.ties
        self.standing = world.standing
        self.n = society.n
        self.log_q = math.log1p(-cfg.rate) if cfg.rate < 1.0 else -math.inf
        self.weight = np.full(self.n, cfg.memory, dtype=np.float32)
        self.keys = np.array([stream_key(seed, "peer_rating", p)
                              for p in ("raters", "contact", "stars")], dtype=np.uint64)
        self.n_ratings = 0

    def state(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "n_ratings": np.array(self.n_ratings)}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.weight[:] = st["weight"]
        self.n_ratings = int(st["n_ratings"])

    def columns(self) -> list[str]:
        return ["n_peer_ratings"]

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        row["n_peer_ratings"] = self.n_ratings

    def step(self, today: Today) -> None:
        """Today's ratings; the people whose stars moved are judged again."""
        if self.cfg.rate <= 0.0:
            return
        day, records = today.day, today.filed
        bad = np.unique(records.subject[records.points < 0]) if len(records) else \
            np.zeros(0, np.int64)
        rated, delta = _rate(day, self.n, self.log_q, self.keys, self.ties.offsets,
                             self.ties.neighbours, self.standing.rows, self.weight, bad,
                             self.cfg.noise, self.cfg.record_penalty, self.cfg.weight_power)
        self.standing.score_sum[0] += delta
        self.n_ratings = rated.shape[0]
        today.rejudge.append(np.unique(rated))

    @property
    def nbytes(self) -> int:
        return self.weight.nbytes


@nb.njit(cache=True)
def _rate(day, n, log_q, keys, offsets, neighbours, standing, weight, bad, noise, penalty,
          power):
    """Serial on purpose: two ratings of one person today must see each other."""
    out = []
    delta = 0
    i = -1
    k = 0
    while True:
        u = uniform(keys[0], np.uint64(day), np.uint64(k))
        i += 1 + geometric_skip(u, log_q)
        if i >= n:
            break
        k += 1
        lo, hi = offsets[i], offsets[i + 1]
        if hi == lo:
            continue
        j = np.int64(neighbours[lo + min(hi - lo - 1, np.int64(
            uniform(keys[1], np.uint64(i), np.uint64(day)) * (hi - lo)))])
        stars_j = standing[j, SCORE] / MILLI
        r = stars_j + noise * normal(keys[2], np.uint64(i), np.uint64(day))
        pos = np.searchsorted(bad, j)
        if pos < bad.shape[0] and bad[pos] == j:
            r -= penalty
        r = min(5.0, max(1.0, r))
        w = (min(5.0, max(0.0, standing[i, SCORE] / MILLI)) / 5.0) ** power
        if w <= 0.0:
            continue
        new = (weight[j] * stars_j + w * r) / (weight[j] + w)
        weight[j] += np.float32(w)
        new_milli = np.int32(round(new * MILLI))
        delta += new_milli - standing[j, SCORE]
        standing[j, SCORE] = new_milli
        out.append(j)
    rated = np.empty(len(out), dtype=np.int64)
    for t in range(len(out)):
        rated[t] = out[t]
    return rated, delta
