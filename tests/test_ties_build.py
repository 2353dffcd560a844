"""The ties build (bucketed, batched numba kernels) equals a plain NumPy twin, array for array.

The build was rewritten for speed (issue 22: draws computed in batches and looked up
in a separate loop, tie ends sent to buckets of owners, each bucket laid out in
cache). Nothing may move: the same picks in the same order, the same CSR rows, on
any number of threads. The twin below follows the rules of model/ties.py's
docstring one draw number at a time, over all people at once, with no kernel of
its own, so a wrong bucket boundary, a lost tie end, a row in the wrong order or a
self-draw handled differently shows as a difference of arrays.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from scoresim.model import ties as ties_module
from scoresim.model.random import row_hash, stream_key, uniform, uniform_in_row, uniforms
from scoresim.model.society import Society
from scoresim.model.ties import Ties, build_ties
from scoresim.scenario import load_scenario
from scoresim.scenario.schema import Network


def twin(seed: int, cfg: Network, region: np.ndarray, n_regions: int,
         occupation: np.ndarray, n_occ: int) -> Ties:
    """The ties by their definition: own draws in draw order, then drawers by id."""
    n = occupation.shape[0]
    key = stream_key(seed, "ties", "draws")
    ids = np.arange(n, dtype=np.int64)
    span = cfg.degree_max - cfg.degree_min + 1
    d = cfg.degree_min + np.minimum(span - 1, (uniforms(key, ids, np.uint64(0)) * span)
                                    .astype(np.int64))
    half = d // 2 + ((d % 2 == 1) & (uniforms(key, ids, np.uint64(1)) < 0.5))
    cell = region.astype(np.int64) * n_occ + occupation
    order = np.argsort(cell, kind="stable")
    cstart = np.searchsorted(cell[order], np.arange(n_regions * n_occ + 1))
    owner, kind, a, b, value = [], [], [], [], []
    for j in range(int(half.max()) if n else 0):
        who = ids[half > j]
        u = uniforms(key, who, np.uint64(2 + 2 * j))
        v = uniforms(key, who, np.uint64(3 + 2 * j))
        c, r = cell[who], region[who].astype(np.int64)
        lo, hi = np.zeros_like(who), np.full_like(who, n)
        in_cell = u < cfg.within_occupation
        lo[in_cell], hi[in_cell] = cstart[c[in_cell]], cstart[c[in_cell] + 1]
        in_reg = (u < cfg.within_region) & (~in_cell | (hi - lo < 2))
        lo[in_reg], hi[in_reg] = cstart[r[in_reg] * n_occ], cstart[(r[in_reg] + 1) * n_occ]
        size = hi - lo
        k = np.minimum(size - 1, (v * size).astype(np.int64))
        other = order[lo + k]
        selfs = other == who
        other[selfs] = order[lo[selfs] + (k[selfs] + 1) % size[selfs]]
        other[(other == who) | (size < 2)] = -1
        ok = other >= 0
        src, dst = who[ok], other[ok]
        # p's own draw j: after p's draws 0..j-1; being drawn: after every own draw, by
        # drawer, then by the drawer's draw number
        owner += [src, dst]
        kind += [np.zeros_like(src), np.ones_like(dst)]
        a += [np.full_like(src, j), src]
        b += [np.zeros_like(src), np.full_like(dst, j)]
        value += [dst, src]
    if not owner:
        return Ties(np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32))
    owner, kind, a, b, value = (np.concatenate(x) for x in (owner, kind, a, b, value))
    rank = np.lexsort((b, a, kind, owner))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n), out=offsets[1:])
    return Ties(offsets, value[rank].astype(np.int32))


def _people(n: int, n_regions: int, n_occ: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.arange(n)
    region = (uniforms(stream_key(seed, "t", "r"), ids, np.uint64(0)) * n_regions)
    occ = (uniforms(stream_key(seed, "t", "o"), ids, np.uint64(0)) ** 2 * n_occ)
    return region.astype(np.uint8), occ.astype(np.uint8)


def assert_same(got: Ties, want: Ties) -> None:
    assert got.offsets.dtype == np.int64 and got.neighbours.dtype == np.int32
    assert np.array_equal(got.offsets, want.offsets)
    assert np.array_equal(got.neighbours, want.neighbours)


CASES = [
    # n, regions, occupations, network
    (1, 1, 1, {}),
    (2, 1, 1, {}),
    (2, 2, 1, {}),  # each alone in a region: every in-region draw finds nobody
    (3, 4, 6, {}),
    (17, 4, 6, {"degree_min": 0, "degree_max": 3}),
    (1_000, 1, 1, {}),
    (5_000, 7, 9, {"degree_min": 100, "degree_max": 200, "within_region": 1.0,
                   "within_occupation": 1.0}),
    (5_000, 3, 2, {"within_region": 0.0, "within_occupation": 0.0}),
    (40_000, 200, 9, {"degree_min": 1, "degree_max": 1}),  # many empty or lone cells
    # more than one task (2**16 people) and many buckets (2**14 people)
    (150_001, 7, 9, {}),
]


@pytest.mark.parametrize("n,n_regions,n_occ,net", CASES)
@pytest.mark.parametrize("seed", [1, 29])
def test_the_build_equals_its_numpy_twin(n, n_regions, n_occ, net, seed):
    cfg = Network(**net)
    region, occ = _people(n, n_regions, n_occ, seed)
    assert_same(build_ties(seed, cfg, region, n_regions, occ, n_occ),
                twin(seed, cfg, region, n_regions, occ, n_occ))


def test_the_twin_sees_a_changed_row():
    """The comparison can fail: one contact swapped within a row is a difference."""
    cfg = Network()
    region, occ = _people(3_000, 4, 6, 1)
    got = build_ties(1, cfg, region, 4, occ, 6)
    row = got.contacts(10).copy()
    assert row.shape[0] >= 2 and row[0] != row[-1]
    got.neighbours[got.offsets[10]] = row[-1]
    got.neighbours[got.offsets[11] - 1] = row[0]
    with pytest.raises(AssertionError):
        assert_same(got, twin(1, cfg, region, 4, occ, 6))


@pytest.mark.parametrize("n", [1, 2, 5, 60])
def test_small_societies_with_households_and_regions(n):
    """china's society at a handful of people: households of one or two, regions drawn
    per household, cells of nobody."""
    sc = load_scenario("china", {"agents": n})
    soc = Society.build(sc, n, 3)
    assert soc.households is not None and soc.ties is not None
    assert_same(soc.ties, twin(3, sc.network, soc.region, len(soc.region_names),
                               soc.trait("occupation"), len(soc.levels["occupation"])))


def test_one_thread_builds_the_same_ties_as_two():
    cfg = Network()
    region, occ = _people(150_001, 7, 9, 5)
    threads = numba.get_num_threads()
    two = build_ties(5, cfg, region, 7, occ, 9)
    numba.set_num_threads(1)
    try:
        one = build_ties(5, cfg, region, 7, occ, 9)
    finally:
        numba.set_num_threads(threads)
    assert_same(one, two)


def test_a_task_size_changes_nothing(monkeypatch):
    """Tasks and buckets are a layout of the work, not of the result."""
    cfg = Network()
    region, occ = _people(20_000, 3, 4, 2)
    want = build_ties(2, cfg, region, 3, occ, 4)
    monkeypatch.setattr(ties_module, "CHUNK", 1_000)  # read by build_ties in Python
    assert_same(build_ties(2, cfg, region, 3, occ, 4), want)


@numba.njit
def _row_draws(key, a, m):
    out = np.empty(m)
    row = row_hash(key, np.uint64(a))
    for b in range(m):
        out[b] = uniform_in_row(row, np.uint64(b))
    return out


@numba.njit
def _plain_draws(key, a, m):
    out = np.empty(m)
    for b in range(m):
        out[b] = uniform(key, np.uint64(a), np.uint64(b))
    return out


def test_a_row_of_draws_is_the_same_numbers_as_uniform():
    key = stream_key(9, "ties", "draws")
    for a in (0, 1, 12345, 2**31 - 1):
        assert np.array_equal(_row_draws(key, a, 50), _plain_draws(key, a, 50))
