"""Social ties: who knows whom, stored as compact edge arrays (CSR).

Each person draws about half their degree of ties; the people they draw give
them the other half back. A draw stays inside the person's own region and
occupation with probability `within_occupation`, inside their region with
probability `within_region` (occupation included), and falls anywhere
otherwise, so ties are homophilous by region and occupation as configured.
Every draw is keyed by (seed, person, draw), so the network depends only on
the seed and the people, never on thread scheduling.

`offsets` (int64, n + 1) and `neighbours` (int32) are the interface: the
contacts of p are neighbours[offsets[p]:offsets[p + 1]]. A tie drawn twice
(both ends drew each other) is kept twice; that is rare (about degree / cell
size) and counts as a stronger tie. A draw that lands on the drawer moves to
the next person of the same range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from scoresim.model.random import stream_key, uniform
from scoresim.scenario.schema import Network

CHUNK = 1 << 16


@dataclass
class Ties:
    """Ties as CSR: the contacts of p are neighbours[offsets[p]:offsets[p + 1]].

    This is the interface responses use (vicarious punishment and awareness spread
    along ties, Stafford & Warr 1993); it is also what scipy.sparse, networkx and
    igraph export.
    """

    offsets: np.ndarray  # int64, n + 1
    neighbours: np.ndarray  # int32, one entry per tie end

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or self.offsets.shape[0] < 1:
            raise ValueError("offsets must be a 1-D array of n + 1 entries")
        if int(self.offsets[0]) != 0 or int(self.offsets[-1]) != self.neighbours.shape[0]:
            raise ValueError("offsets must start at 0 and end at len(neighbours)")

    @property
    def n(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def contacts(self, person: int) -> np.ndarray:
        return self.neighbours[self.offsets[person]: self.offsets[person + 1]]

    def contacts_of(self, people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(owner, contact) pairs: contact[k] is a contact of people[owner[k]]."""
        people = np.asarray(people, dtype=np.int64)
        lo, hi = self.offsets[people], self.offsets[people + 1]
        sizes = hi - lo
        owner = np.repeat(np.arange(people.shape[0], dtype=np.int64), sizes)
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        return owner, self.neighbours[starts + np.arange(owner.shape[0])].astype(np.int64)

    def degree(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def nbytes(self) -> int:
        return self.offsets.nbytes + self.neighbours.nbytes

    @classmethod
    def from_edges(cls, n: int, a: np.ndarray, b: np.ndarray) -> Ties:
        """Undirected ties from edge lists a[k] -- b[k] (each edge is stored both ways)."""
        src = np.concatenate([a, b]).astype(np.int64)
        dst = np.concatenate([b, a]).astype(np.int64)
        order = np.argsort(src, kind="stable")
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=offsets[1:])
        return cls(offsets, dst[order].astype(np.int32))


def no_ties() -> Ties:
    """The empty network (kernels take arrays, so 'no network' is a network without people)."""
    return Ties(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32))


def ties_of(society: object) -> Ties | None:
    """The society's network if the scenario built one, else None."""
    ties = getattr(society, "ties", None)
    return ties if isinstance(ties, Ties) else None


def build_ties(seed: int, cfg: Network, region: np.ndarray, n_regions: int,
               occupation: np.ndarray, n_occupations: int) -> Ties:
    """Draw each person's ties inside their cell, region or anywhere; symmetrise into CSR."""
    n = occupation.shape[0]
    if n >= 2**31:
        raise ValueError("ties: int32 neighbours hold at most 2**31 - 1 people")
    key = stream_key(seed, "ties", "draws")
    cell_start, order = _cells(region, occupation, n_regions, n_occupations)
    n_draws = _draw_counts(key, n, cfg.degree_min, cfg.degree_max)
    draw_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_draws, out=draw_off[1:])
    picks = np.empty(draw_off[-1], dtype=np.int32)
    _pick(key, region, occupation, n_occupations, cell_start, order, cfg.within_region,
          cfg.within_occupation, draw_off, picks)
    degree = _degrees(draw_off, picks)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(degree, out=offsets[1:])
    del degree
    neighbours = np.empty(offsets[-1], dtype=np.int32)
    _fill(draw_off, picks, offsets, neighbours)
    return Ties(offsets, neighbours)


@nb.njit(cache=True)
def _degrees(draw_off, picks):
    n = draw_off.shape[0] - 1
    degree = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for j in range(draw_off[i], draw_off[i + 1]):
            o = picks[j]
            if o >= 0:
                degree[i] += 1
                degree[o] += 1
    return degree


def _cells(region, occupation, n_regions, n_occupations):
    cell = region.astype(np.int64) * n_occupations + occupation
    counts = np.bincount(cell, minlength=n_regions * n_occupations)
    cell_start = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=cell_start[1:])
    order = np.empty(cell.shape[0], dtype=np.int32)
    _counting_sort(cell, cell_start, order)
    return cell_start, order


@nb.njit(cache=True)
def _counting_sort(cell, cell_start, order):
    cursor = cell_start[:-1].copy()
    for i in range(cell.shape[0]):
        c = cell[i]
        order[cursor[c]] = i
        cursor[c] += 1


@nb.njit(parallel=True, cache=True)
def _draw_counts(key, n, dmin, dmax):
    """Half of a degree drawn uniformly from dmin..dmax (an odd degree rounds at random)."""
    out = np.empty(n, dtype=np.int32)
    span = dmax - dmin + 1
    for i in nb.prange(n):
        d = dmin + min(span - 1, int(uniform(key, np.uint64(i), np.uint64(0)) * span))
        half = d // 2
        if d % 2 == 1 and uniform(key, np.uint64(i), np.uint64(1)) < 0.5:
            half += 1
        out[i] = half
    return out


@nb.njit(parallel=True, cache=True)
def _pick(key, region, occupation, n_occ, cell_start, order, within_region, within_occ,
          draw_off, picks):
    """Every draw of every person; the people are taken in cell order, not by id.

    Nine draws in ten land in the drawer's own region (four in its cell), so drawers
    taken cell by cell read the same stretch of `order` one after another, and it stays
    in cache; by id, each draw read a random place of all of it (at 10 million people
    that cost more than the draws). A draw is keyed by (person, draw number), so the
    order the people are taken in changes no pick. `region` and `occupation` are not
    read: the cell is known from the position in `order`.
    """
    n = order.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in nb.prange(n_chunks):
        q0 = c * CHUNK
        cell = np.int64(np.searchsorted(cell_start, q0, side="right") - 1)
        for q in range(q0, min(n, q0 + CHUNK)):
            while cell_start[cell + 1] <= q:
                cell += 1
            i = np.int64(order[q])
            r = cell // n_occ
            for j in range(draw_off[i + 1] - draw_off[i]):
                u = uniform(key, np.uint64(i), np.uint64(2 + 2 * j))
                v = uniform(key, np.uint64(i), np.uint64(3 + 2 * j))
                lo, hi = np.int64(0), np.int64(n)
                if u < within_occ:
                    lo, hi = cell_start[cell], cell_start[cell + 1]
                if u < within_region and (u >= within_occ or hi - lo < 2):
                    lo, hi = cell_start[r * n_occ], cell_start[(r + 1) * n_occ]
                size = hi - lo
                k = min(size - 1, int(v * size))
                other = np.int64(order[lo + k])
                if other == i:  # never oneself: the next person of the same range
                    other = np.int64(order[lo + (k + 1) % size]) if size > 1 else -1
                    if other == i:
                        other = -1
                picks[draw_off[i] + j] = other


@nb.njit(cache=True)
def _fill(draw_off, picks, offsets, neighbours):
    """Own draws first, then the people who drew this person, in id order."""
    n = offsets.shape[0] - 1
    cursor = np.empty(n, dtype=np.int64)
    for i in range(n):
        k = offsets[i]
        for j in range(draw_off[i], draw_off[i + 1]):
            if picks[j] >= 0:
                neighbours[k] = picks[j]
                k += 1
        cursor[i] = k
    for i in range(n):
        for j in range(draw_off[i], draw_off[i + 1]):
            o = picks[j]
            if o >= 0:
                neighbours[cursor[o]] = i
                cursor[o] += 1
