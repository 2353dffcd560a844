"""Behaviour rates that change during a run, as layers of clocks (model/timeline.py says why).

Each (person, behaviour) pair has its base clock (the scenario's rate) and, for
every change of that behaviour's rate that raises it somewhere, a clock of its
own that starts on the change's day. A clock is a slot: slot s = (b <<
lbits) | j is behaviour b's layer j (0: the base clock), so that sorting a
day's entries by (person, slot) orders them by person, behaviour, layer. With
no rate changes lbits is 0 and slots are behaviours, as they always were.

`survives` decides whether an event of slot (b, j) on day t stands: a layer's
own event is kept with the day's share of its clock's rate, and every later
layer that lowers the rate that day keeps it with probability p_k / p_{k-1}.
Both backends call it (the day loop through `stands`); the events of one pair on
one day are one event (the union of its layers), so both keep the first that
survives and drop the rest.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import NamedTuple

import numba as nb
import numpy as np

from scoresim.model import portable_math
from scoresim.model.random import stream_key, uniform
from scoresim.model.timeline import Timeline

LEVEL_BITS = 12  # the day loop's keys are (code << LEVEL_BITS) | propensity level


class Layers(NamedTuple):
    """What both backends read to run layered clocks (sizes 0 where nothing changes)."""

    lbits: int  # bits of the layer in a slot
    slot_keys: np.ndarray  # uint64 [slot]: the clock's stream
    slot_table: np.ndarray  # float64 [slot, level]: log(1 - p) of the clock
    slot_start: np.ndarray  # int64 [slot]: first day it runs (>= days: never)
    row_of: np.ndarray  # int64 [behaviour]: its row below (-1: its rate never changes)
    n_layers: np.ndarray  # int64 [row]: changes of that behaviour's rate
    layer_start: np.ndarray  # int64 [row, layer]
    layer_rate: np.ndarray  # float64 [row, layer, day]: the rate after layers 0..k
    e_max: np.ndarray  # float64 [row, layer, level]: the layer's clock's probability
    boost_keys: np.ndarray  # uint64 [row, layer]: keeping a layer's own events
    thin_keys: np.ndarray  # uint64 [row, layer]: keeping earlier layers' events
    mult: np.ndarray  # float64 [level]: the propensity of each level
    # int64 [row]: the first day some layer lowers the rate (>= days: never). Before it a
    # base-clock event stands without a look at the layers (no layer thins it), which is
    # most events of a behaviour whose rate a timeline only raises
    thin_from: np.ndarray


def build_layers(timeline: Timeline, names: list[str], rates: np.ndarray, clock_keys: np.ndarray,
                 table: np.ndarray, mult: np.ndarray, seed: int, days: int) -> Layers:
    """The slots and layers of every behaviour whose rate the timeline changes."""
    n_b = len(names)
    per = {b: timeline.layers(f"behaviours.{name}.rate") for b, name in enumerate(names)}
    per = {b: ls for b, ls in per.items() if ls}
    k_max = max((len(ls) for ls in per.values()), default=0)
    lbits = int(k_max).bit_length() if k_max else 0
    n_slots = n_b << lbits
    levels = table.shape[1]
    slot_keys = np.zeros(n_slots, dtype=np.uint64)
    slot_table = np.zeros((n_slots, levels), dtype=np.float64)
    slot_start = np.full(n_slots, days, dtype=np.int64)
    for b in range(n_b):
        s = b << lbits
        slot_keys[s] = clock_keys[b]
        slot_table[s] = table[b]
        slot_start[s] = 0 if rates[b] > 0.0 else days
    rows = len(per)
    row_of = np.full(n_b, -1, dtype=np.int64)
    n_layers = np.zeros(rows, dtype=np.int64)
    layer_start = np.zeros((rows, k_max + 1), dtype=np.int64)
    layer_rate = np.zeros((rows, k_max + 1, days if rows else 0), dtype=np.float64)
    e_max = np.zeros((rows, k_max + 1, levels if rows else 0), dtype=np.float64)
    boost_keys = np.zeros((rows, k_max + 1), dtype=np.uint64)
    thin_keys = np.zeros((rows, k_max + 1), dtype=np.uint64)
    thin_from = np.full(rows, days, dtype=np.int64)
    for r, (b, ls) in enumerate(sorted(per.items())):
        name = names[b]
        row_of[b] = r
        n_layers[r] = len(ls)
        layer_rate[r, 0] = rates[b]
        for j, (key, start, values) in enumerate(ls, start=1):
            layer_start[r, j] = start
            layer_rate[r, j] = values
            boost_keys[r, j] = stream_key(seed, "timeline", f"boost:{key}:{name}")
            thin_keys[r, j] = stream_key(seed, "timeline", f"thin:{key}:{name}")
            e = _largest_extra(layer_rate[r, j - 1, start:], values[start:], mult)
            e_max[r, j] = e
            s = (b << lbits) | j
            slot_keys[s] = stream_key(seed, "timeline", f"clock:{key}:{name}")
            with np.errstate(divide="ignore"):
                log_q = portable_math.log1p(-np.minimum(e, 1.0))
                slot_table[s] = np.where(e >= 1.0, -np.inf, log_q)
            slot_start[s] = start if e.max() > 0.0 else days
            # survives thins only where p_k < p_{k-1}, which needs rate_k < rate_{k-1}
            lower = np.flatnonzero(values < layer_rate[r, j - 1])
            if lower.shape[0]:
                thin_from[r] = min(thin_from[r], int(lower[0]))
    return Layers(lbits, slot_keys, slot_table, slot_start, row_of, n_layers, layer_start,
                  layer_rate, e_max, boost_keys, thin_keys, mult, thin_from)


def _largest_extra(before: np.ndarray, after: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """Per propensity level, the largest daily probability a layer adds on any day."""
    pairs = np.unique(np.stack([before, after], axis=1), axis=0)
    out = np.zeros(mult.shape[0], dtype=np.float64)
    for lo, hi in pairs:
        if hi <= lo:
            continue
        p0 = np.minimum(1.0, lo * mult)
        p1 = np.minimum(1.0, hi * mult)
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.where(p0 < 1.0, (p1 - p0) / (1.0 - p0), 0.0)
        out = np.maximum(out, e)
    return out


@nb.njit(inline="always", cache=True)
def survives(i, b, j, t, level, row_of, n_layers, layer_start, layer_rate, mult, e_max,
             boost_keys, thin_keys):
    """Whether the event of person i's layer j of behaviour b on day t stands."""
    r = row_of[b]
    if r < 0:
        return True
    m = mult[level]
    if j > 0:
        pk = min(1.0, layer_rate[r, j, t] * m)
        pk1 = min(1.0, layer_rate[r, j - 1, t] * m)
        if pk <= pk1 or pk1 >= 1.0:
            return False
        e = (pk - pk1) / (1.0 - pk1)
        if uniform(boost_keys[r, j], np.uint64(i), np.uint64(t)) * e_max[r, j, level] >= e:
            return False
    for k in range(j + 1, n_layers[r] + 1):
        if t < layer_start[r, k]:
            break
        pk = min(1.0, layer_rate[r, k, t] * m)
        pk1 = min(1.0, layer_rate[r, k - 1, t] * m)
        if pk < pk1 and uniform(thin_keys[r, k], np.uint64(i), np.uint64(t)) * pk1 >= pk:
            return False
    return True


@nb.njit(inline="always", cache=True)
def stands(k, keys, day, shift, lay: Layers):
    """Whether the day loop's entry k of today's sorted keys (of a behaviour whose rate
    changes) is an event: it survives its layers and no earlier entry of its pair does.

    A pair's entries are adjacent in the sorted keys (a key is (person, behaviour,
    layer, level) from its high bits down), base clock first: the pair's event is the
    first of them that survives, as the person backend takes it.

    Inlined into the day loop's unpacking: called as a function, every call passed the
    Layers' thirteen arrays and paid their reference counts, 130 ns an event, which
    was most of what a timeline cost (BENCHMARKS.md, issue 16)."""
    lbits = lay.lbits
    pair = keys[k] >> np.uint64(LEVEL_BITS + lbits)
    if not _survives_key(keys[k], day, shift, lay):
        return False
    kk = k - 1
    while kk >= 0 and (keys[kk] >> np.uint64(LEVEL_BITS + lbits)) == pair:
        if _survives_key(keys[kk], day, shift, lay):
            return False  # an earlier layer's event of the pair stands
        kk -= 1
    return True


@nb.njit(inline="always", cache=True)
def _survives_key(key, day, shift, lay: Layers):
    c = np.int64(key >> LEVEL_BITS)
    level = np.int64(key & np.uint64((1 << LEVEL_BITS) - 1))
    i = c >> shift
    s = c & ((1 << shift) - 1)
    b = s >> lay.lbits
    j = s & ((1 << lay.lbits) - 1)
    if j == 0 and day < lay.thin_from[lay.row_of[b]]:
        return True
    return survives(i, b, j, day, level, lay.row_of, lay.n_layers, lay.layer_start,
                    lay.layer_rate, lay.mult, lay.e_max, lay.boost_keys, lay.thin_keys)


def levels_table(sigma: float, levels: int) -> np.ndarray:
    """The propensity m of each level (behaviour.log_q_table's, without the rate)."""
    dist = NormalDist()
    z = np.array([dist.inv_cdf((k + 0.5) / levels) for k in range(levels)])
    return portable_math.exp(sigma * z - 0.5 * sigma * sigma)
