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

from scoresim.model.random import row_hash, stream_key, uniform_in_row
from scoresim.scenario.schema import Network

CHUNK = 1 << 16  # people a task takes, at least
MAX_CHUNKS = 256  # more people a task beyond 2**24 people: the per-task counts stay small
PEOPLE = 64  # people whose draws are computed before they are looked up (_pick)
SHIFT = 14  # 2**14 people a bucket of tie ends: their neighbours (~1 MiB) stay in cache


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
    """Draw each person's ties inside their cell, region or anywhere; symmetrise into CSR.

    The contacts of p are p's own draws in draw order, then the people who drew p in
    id order (a person who drew p twice, twice). No step writes to a random place of a
    large array one tie end at a time (at 10 million people those writes, a cache miss
    each, were most of the time):

    1. the draws (`_pick`), people taken cell by cell so that the people drawn from
       are in cache, each person's draws written at their place in id order;
    2. the drawn person's end of each tie sent to the bucket of its owner (2**SHIFT
       consecutive ids), drawers taken by id, a few hundred write streams per task
       (`_count_ends`, `_scatter`);
    3. each bucket laid out as its owners' rows (`_place`): own draws read in place,
       then the drawn ends, which arrive in the drawers' id order as they must, into
       a stretch of `neighbours` that stays in cache.

    Every draw is keyed by (person, draw number) and every layout is fixed by the ids,
    so the ties depend neither on the tasks' sizes nor on the number of threads.
    """
    n = occupation.shape[0]
    if n >= 2**31:
        raise ValueError("ties: int32 neighbours hold at most 2**31 - 1 people")
    key = stream_key(seed, "ties", "draws")
    chunk = max(CHUNK, -(-n // MAX_CHUNKS))
    n_chunks = max(1, -(-n // chunk))
    n_buckets = max(1, (n + (1 << SHIFT) - 1) >> SHIFT)
    cell_start, order = _cells(region, occupation, n_regions, n_occupations, chunk)
    draw_off = np.empty(n + 1, dtype=np.int64)
    draw_off[0] = 0
    _draw_counts(key, cfg.degree_min, cfg.degree_max, draw_off[1:])
    np.cumsum(draw_off, out=draw_off)
    picks = np.empty(draw_off[-1], dtype=np.int32)
    _pick(key, n_occupations, cell_start, order, cfg.within_region, cfg.within_occupation,
          chunk, (cfg.degree_max + 1) // 2, draw_off, picks)
    del order
    # each task's tie ends by their owner's bucket: the people it drew, the people drawn
    own = np.zeros((n_chunks, n_buckets), dtype=np.int64)
    drawn = np.zeros((n_chunks, n_buckets), dtype=np.int64)
    _count_ends(draw_off, picks, chunk, own, drawn)
    # where each task writes the drawn ends of each bucket: buckets in turn, tasks in order
    pos = np.empty(n_chunks * n_buckets + 1, dtype=np.int64)
    pos[0] = 0
    np.cumsum(drawn.T.ravel(), out=pos[1:])
    drawn_start = pos[::n_chunks].copy()
    pos = np.ascontiguousarray(pos[:-1].reshape(n_buckets, n_chunks).T)
    row_start = np.zeros(n_buckets + 1, dtype=np.int64)  # each bucket's rows in neighbours
    np.cumsum(own.sum(axis=0) + np.diff(drawn_start), out=row_start[1:])
    del own, drawn
    packed = np.empty(drawn_start[-1], dtype=np.int64)
    _scatter(draw_off, picks, chunk, pos, packed)
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[n] = row_start[-1]
    neighbours = np.empty(row_start[-1], dtype=np.int32)
    _place(draw_off, picks, packed, drawn_start, row_start, offsets, neighbours)
    return Ties(offsets, neighbours)


def _cells(region, occupation, n_regions, n_occupations, chunk):
    """Cell starts and the people cell by cell, ascending ids within a cell."""
    n_cells = max(1, n_regions * n_occupations)
    n = occupation.shape[0]
    n_chunks = max(1, -(-n // chunk))
    counts = np.zeros((n_chunks, n_cells), dtype=np.int64)
    _cell_counts(region, occupation, n_occupations, chunk, counts)
    pos = np.zeros(n_cells * n_chunks + 1, dtype=np.int64)
    np.cumsum(counts.T.ravel(), out=pos[1:])
    cell_start = pos[::n_chunks].copy()
    pos = np.ascontiguousarray(pos[:-1].reshape(n_cells, n_chunks).T)
    order = np.empty(n, dtype=np.int32)
    _cell_sort(region, occupation, n_occupations, chunk, pos, order)
    return cell_start, order


@nb.njit(parallel=True, cache=True)
def _cell_counts(region, occupation, n_occ, chunk, counts):
    n = occupation.shape[0]
    for c in nb.prange(counts.shape[0]):
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            counts[c, np.int64(region[i]) * n_occ + occupation[i]] += 1


@nb.njit(parallel=True, cache=True)
def _cell_sort(region, occupation, n_occ, chunk, pos, order):
    """A counting sort by cell, stable: each task writes its people where `pos` says."""
    n = occupation.shape[0]
    for c in nb.prange(pos.shape[0]):
        cursor = pos[c].copy()
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            cell = np.int64(region[i]) * n_occ + occupation[i]
            order[cursor[cell]] = i
            cursor[cell] += 1


@nb.njit(parallel=True, cache=True)
def _draw_counts(key, dmin, dmax, out):
    """Half of a degree drawn uniformly from dmin..dmax (an odd degree rounds at random)."""
    span = dmax - dmin + 1
    for i in nb.prange(out.shape[0]):
        row = row_hash(key, np.uint64(i))
        d = dmin + min(span - 1, int(uniform_in_row(row, np.uint64(0)) * span))
        half = d // 2
        if d % 2 == 1 and uniform_in_row(row, np.uint64(1)) < 0.5:
            half += 1
        out[i] = half


@nb.njit(parallel=True, cache=True)
def _pick(key, n_occ, cell_start, order, within_region, within_occ, chunk, max_draws,
          draw_off, picks):
    """Every draw of every person, the people taken in cell order, not by id.

    Nine draws in ten land in the drawer's own region (four in its cell), so drawers
    taken cell by cell read the same stretch of `order` one after another, and it stays
    in cache; by id, each draw read a random place of all of it (at 10 million people
    that cost more than the draws). A draw is keyed by (person, draw number), so the
    order the people are taken in changes no pick.

    A batch of PEOPLE people is taken in loops that each do one thing: find where
    their draws go, compute where in `order` each draw lands, look those up, then fix
    the draws that landed on the drawer. A look-up is a cache miss at 10 million
    people; a loop of look-ups alone keeps many in flight at once, where one long
    loop body waited for each.
    """
    n = order.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    for c in nb.prange(n_chunks):
        first = np.empty(PEOPLE, dtype=np.int64)  # where each person's draws go
        count = np.empty(PEOPLE, dtype=np.int64)
        where = np.empty(PEOPLE * max_draws, dtype=np.int64)  # position in order of a draw
        got = np.empty(PEOPLE * max_draws, dtype=np.int64)  # the person found there
        lo_of = np.empty(PEOPLE * max_draws, dtype=np.int64)  # start and size of its range
        size_of = np.empty(PEOPLE * max_draws, dtype=np.int64)
        q_end = min(n, (c + 1) * chunk)
        cell = np.int64(np.searchsorted(cell_start, c * chunk, side="right") - 1)
        for q in range(c * chunk, q_end, PEOPLE):
            m_people = min(PEOPLE, q_end - q)
            for t in range(m_people):
                i = order[q + t]
                first[t] = draw_off[i]
                count[t] = draw_off[i + 1] - draw_off[i]
            m = 0
            for t in range(m_people):
                while cell_start[cell + 1] <= q + t:
                    cell += 1
                r = cell // n_occ
                row = row_hash(key, np.uint64(order[q + t]))
                c_lo, c_size = cell_start[cell], cell_start[cell + 1] - cell_start[cell]
                r_lo = cell_start[r * n_occ]
                r_size = cell_start[(r + 1) * n_occ] - r_lo
                cell_small = c_size < 2
                for j in range(count[t]):
                    u = uniform_in_row(row, np.uint64(2 + 2 * j))
                    v = uniform_in_row(row, np.uint64(3 + 2 * j))
                    # cell, region or anywhere, chosen without branches (they are coin flips)
                    in_cell = u < within_occ
                    in_region = (u < within_region) & (~in_cell | cell_small)
                    lo = r_lo if in_region else (c_lo if in_cell else np.int64(0))
                    size = r_size if in_region else (c_size if in_cell else np.int64(n))
                    where[m] = lo + min(size - 1, int(v * size))
                    lo_of[m] = lo
                    size_of[m] = size
                    m += 1
            for k in range(m):
                got[k] = order[where[k]]
            k = 0
            for t in range(m_people):
                i = np.int64(order[q + t])
                for j in range(count[t]):
                    other = got[k]
                    if other == i:  # never oneself: the next person of the same range
                        size = size_of[k]
                        at = lo_of[k] + (where[k] - lo_of[k] + 1) % size
                        other = np.int64(order[at]) if size > 1 else -1
                        if other == i:
                            other = -1
                    picks[first[t] + j] = other
                    k += 1


@nb.njit(parallel=True, cache=True)
def _count_ends(draw_off, picks, chunk, own, drawn):
    """Each task's tie ends by their owner's bucket, people taken by id: `own` counts
    the draws of the bucket's people, `drawn` the draws that landed on them."""
    n = draw_off.shape[0] - 1
    for c in nb.prange(own.shape[0]):
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            for k in range(draw_off[i], draw_off[i + 1]):
                o = picks[k]
                if o >= 0:
                    own[c, i >> SHIFT] += 1
                    drawn[c, o >> SHIFT] += 1


@nb.njit(parallel=True, cache=True)
def _scatter(draw_off, picks, chunk, pos, packed):
    """Each drawn person's end of a tie to that person's bucket, packed as (the drawn
    person's place in the bucket, the drawer), drawers taken by id."""
    n = draw_off.shape[0] - 1
    mask = np.int64((1 << SHIFT) - 1)
    for c in nb.prange(pos.shape[0]):
        cursor = pos[c].copy()
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            for k in range(draw_off[i], draw_off[i + 1]):
                o = np.int64(picks[k])
                if o >= 0:
                    b = o >> SHIFT
                    packed[cursor[b]] = ((o & mask) << 32) | i
                    cursor[b] += 1


@nb.njit(parallel=True, cache=True)
def _place(draw_off, picks, packed, drawn_start, row_start, offsets, neighbours):
    """A bucket's rows: each owner's own draws (read in place, in draw order), then the
    people who drew the owner, in the order they arrived (by id). The bucket's rows are
    a stretch of `neighbours` that stays in cache while its drawn ends land there."""
    n = offsets.shape[0] - 1
    low = np.int64(0xFFFFFFFF)
    for b in nb.prange(row_start.shape[0] - 1):
        p0 = b << SHIFT
        m = min(n, p0 + (1 << SHIFT)) - p0
        cursor = np.zeros(m, dtype=np.int64)
        for s in range(drawn_start[b], drawn_start[b + 1]):
            cursor[packed[s] >> 32] += 1
        at = row_start[b]
        for p in range(m):
            offsets[p0 + p] = at
            for k in range(draw_off[p0 + p], draw_off[p0 + p + 1]):
                o = picks[k]
                if o >= 0:
                    neighbours[at] = o
                    at += 1
            size = cursor[p]
            cursor[p] = at
            at += size
        for s in range(drawn_start[b], drawn_start[b + 1]):
            e = packed[s]
            p = e >> 32
            neighbours[cursor[p]] = e & low
            cursor[p] += 1
