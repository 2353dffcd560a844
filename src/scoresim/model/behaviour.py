"""Behaviour: true events, who really did what, whether or not anyone saw it.

Each person i does behaviour b on a day with probability p = min(1, rate_b *
m[i,b]), independently across days, where m[i,b] is that person's propensity.
A Bernoulli process is memoryless, so instead of one draw per person and day
each (person, behaviour) pair keeps one clock: the day of its next event,
drawn from the geometric distribution and filed in a calendar. A day costs
only its events. Every draw is keyed by (seed, behaviour name, person, day),
so a policy change leaves everyone's true behaviour exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numba as nb
import numpy as np

from scoresim.model import portable_math
from scoresim.model.calendar import Calendar
from scoresim.model.module import Module, Today
from scoresim.model.random import geometric_skip, stream_key, uniform
from scoresim.model.rate_layers import LEVEL_BITS, Layers, build_layers, levels_table, stands
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario

CHUNK = 1 << 20
LEVELS = 1 << LEVEL_BITS  # propensity levels: a uint16 payload per calendar entry
PAR_CHUNK = 1 << 14


@dataclass
class Events:
    """One day's true events, one row per event."""

    day: int
    actor: np.ndarray  # int64 person index
    behaviour: np.ndarray  # uint8 behaviour index
    _per_behaviour: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return self.actor.shape[0]

    def kept(self, keep: np.ndarray) -> Events:
        """The events where `keep` is true, in their order (one pass, not a boolean
        selection per column)."""
        return Events(self.day, *_kept(self.actor, self.behaviour, keep))

    def per_behaviour(self, n_behaviours: int) -> np.ndarray:
        """Today's events of each behaviour: counted once, read by several metrics."""
        if self._per_behaviour is None or self._per_behaviour.shape[0] != n_behaviours:
            self._per_behaviour = np.bincount(self.behaviour, minlength=n_behaviours)
        return self._per_behaviour


@nb.njit(cache=True)
def _kept(actor, behaviour, keep):
    """The kept events, in their order (one pass instead of two boolean selections)."""
    m = 0
    for k in range(keep.shape[0]):
        m += keep[k]
    a = np.empty(m, dtype=actor.dtype)
    b = np.empty(m, dtype=behaviour.dtype)
    j = 0
    for k in range(keep.shape[0]):
        if keep[k]:
            a[j] = actor[k]
            b[j] = behaviour[k]
            j += 1
    return a, b


class Clocks(NamedTuple):
    """What drawing a pair's next event needs (both backends)."""

    rates: np.ndarray  # float64 [behaviour]: base daily rate
    clock_keys: np.ndarray  # uint64 [behaviour]
    propensity_keys: np.ndarray  # uint64 [behaviour]
    log_q_table: np.ndarray  # float64 [behaviour, level]: log(1 - p)
    # the slots, base clocks and those of rate changes: rate_layers.Layers' fields, flat
    # (numba's parallel loops take tuples of arrays and scalars, not tuples of tuples)
    lbits: int
    slot_keys: np.ndarray
    slot_table: np.ndarray
    slot_start: np.ndarray
    row_of: np.ndarray
    n_layers: np.ndarray
    layer_start: np.ndarray
    layer_rate: np.ndarray
    e_max: np.ndarray
    boost_keys: np.ndarray
    thin_keys: np.ndarray
    mult: np.ndarray
    thin_from: np.ndarray


class Behaviour(Module):
    """The clocks of every (person, behaviour) pair, and the calendar they are filed in."""

    name = "behaviour"

    def __init__(self, world: World):
        super().__init__(world)
        scenario, society, seed, days = world.scenario, world.society, world.seed, world.days
        self.names = list(scenario.behaviours)
        self.n_behaviours = len(self.names)
        self.rates = np.array([b.rate for b in scenario.behaviours.values()], dtype=np.float64)
        self.speech = np.array([b.speech for b in scenario.behaviours.values()], dtype=np.bool_)
        self.clock_keys = np.array(
            [stream_key(seed, "behaviour", f"clock:{n}") for n in self.names], dtype=np.uint64
        )
        self.propensity_keys = np.array(
            [stream_key(seed, "society", f"propensity:{n}") for n in self.names], dtype=np.uint64
        )
        self.sigma = float(society.propensity_sigma)
        self.n = society.n
        self.days = days
        # An entry is (person << shift) | behaviour, unpacked with a shift and a mask. It
        # carries its pair's propensity as payload: the propensity's quantile, rounded to one
        # of 4,096 levels (2 bytes), whose log(1 - p) is read from a small table. Computing
        # p from the seed costs a few transcendental functions, a per-person table a memory
        # miss; the payload is at hand when the entry falls due. The table is 32 KiB per
        # behaviour, so it stays in cache: with 65,536 levels (512 KiB per behaviour) every
        # event was a cache miss, and the behaviour phase took twice as long.
        self.log_q_table = log_q_table(self.rates, self.sigma)
        # rates a timeline changes: a clock per change (rate_layers.py); lbits 0 without
        self.layers = build_layers(world.timeline, self.names, self.rates, self.clock_keys,
                                   self.log_q_table, levels_table(self.sigma, LEVELS), seed,
                                   days)
        self.lbits = self.layers.lbits
        self.timed = bool((self.layers.row_of >= 0).any())
        # before the first change starts every event stands and each pair has one (the
        # layers' own clocks have not started): those days need no survival pass
        lay = self.layers
        self.first_change = min((int(lay.layer_start[r, 1:lay.n_layers[r] + 1].min())
                                 for r in range(lay.n_layers.shape[0]) if lay.n_layers[r]),
                                default=world.days)
        # the layer clocks that start on each day
        self._starting: dict[int, list[int]] = {}
        for s, start in enumerate(self.layers.slot_start.tolist()):
            if s & ((1 << self.lbits) - 1) and start < days:
                self._starting.setdefault(start, []).append(s)
        self.shift = max(1, int((self.n_behaviours << self.lbits) - 1).bit_length())
        code_max = society.n << self.shift
        if code_max >= 1 << (64 - LEVEL_BITS):  # a day's entries are sorted as code | level
            raise ValueError(f"{society.n:,} people is more than the calendar can hold")
        dtype = np.uint32 if code_max < 2**32 else np.uint64
        # an upper bound on the pairs with an event in the horizon (Jensen: E[(1-p)^D] is at
        # least (1-E[p])^D), so the calendar is allocated once, at its full size
        expected = society.n * float(np.sum(1.0 - (1.0 - np.minimum(self.rates, 1.0)) ** days))
        self._calendar_args = (days, dtype, int(expected * 1.01) + 4096)
        # Built on first use (the day loop uses it at once): the person backend (lives.py)
        # runs each person's clocks in turn and never needs a calendar, which is most of
        # a day-by-day run's memory.
        self._calendar: Calendar | None = None
        if world.backend == "day":
            # built now, before the other modules' arrays exist: building it takes
            # temporaries of a million people x behaviours, and the peak is lower first
            self.calendar  # noqa: B018

    @property
    def clocks(self) -> Clocks:
        return Clocks(self.rates, self.clock_keys, self.propensity_keys, self.log_q_table,
                      *self.layers)

    @classmethod
    def person_backend(cls, scenario: Scenario) -> list[str]:
        return [f"behaviours.{name}.motive: acts for points need responses"
                for name, b in scenario.behaviours.items() if b.motive != "own"]

    def columns(self) -> list[str]:
        return [f"n_events_{b}" for b in self.names]

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        counts = today.events.per_behaviour(self.n_behaviours)
        for name, k in zip(self.names, counts.tolist(), strict=True):
            row[f"n_events_{name}"] = k

    def state(self) -> dict[str, np.ndarray]:
        return {f"calendar_{k}": v for k, v in self.calendar.state().items()}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.calendar.restore({k[len("calendar_"):]: v for k, v in st.items()
                               if k.startswith("calendar_")})

    @property
    def calendar(self) -> Calendar:
        if self._calendar is None:
            days, dtype, entries = self._calendar_args
            self._calendar = Calendar(days, dtype, initial_entries=entries,
                                      payload_dtype=np.uint16)
            self._start()
        return self._calendar

    def _start(self) -> None:
        """Draw every pair's first event day, a million people at a time."""
        for lo in range(0, self.n, CHUNK):
            hi = min(self.n, lo + CHUNK)
            codes, first, level = _first_days(
                lo, hi, self.n_behaviours, self.shift, self.lbits, self.rates, self.clock_keys,
                self.propensity_keys, self.log_q_table, self.days,
            )
            self.calendar.push(codes.astype(self.calendar.dtype, copy=False), first, level)

    def on_change(self, today: Today, paths: list[str]) -> None:
        """The clocks of rate changes that start today (each person's, a million at a time)."""
        lay = self.layers
        for s in self._starting.get(today.day, ()):
            b = s >> self.lbits
            for lo in range(0, self.n, CHUNK):
                hi = min(self.n, lo + CHUNK)
                codes, first, level = _layer_first_days(
                    lo, hi, s, today.day, self.shift, lay.slot_keys[s], lay.slot_table[s],
                    self.propensity_keys[b], self.days)
                self.calendar.push(codes.astype(self.calendar.dtype, copy=False), first, level)

    def step(self, today: Today) -> None:
        """Today's events, in person order, and each pair's next event filed.

        The calendar hands a day's entries back in the order they were filed, which is
        the order of people at random. Sorted by person (entries are (person, behaviour)
        codes, so sorting them is enough), the later phases read and write the
        per-person arrays front to back instead of at random: pilot-city at a million
        people observes and thins a quarter faster, and runs 7% faster in all, sort
        included. The order is also canonical: it no longer depends on the calendar's
        history.
        """
        day = today.day
        codes, level = self.calendar.pop_with_payload(day)
        keys = _sort_keys(codes, level)
        keys.sort()  # unique keys: any sort gives the one order
        codes, level = np.empty_like(codes), np.empty_like(level)
        # changed rates (from the first change on): each layer's events that stand, one
        # per pair, decided as the events are unpacked (rate_layers.stands), not in a pass
        # of their own over the day's events
        timed = self.timed and day >= self.first_change
        actor, behaviour, next_day = _advance(keys, day, self.shift, timed, self.layers,
                                              codes, level)
        self.calendar.push(codes, next_day, level)
        today.events = Events(day, actor, behaviour)

    def release(self) -> None:
        """Drop the calendar once the run is over (nothing falls due after the last day)."""
        self._calendar = Calendar(1, self._calendar_args[1], payload_dtype=np.uint16)

    @property
    def nbytes(self) -> int:
        return self._calendar.nbytes if self._calendar is not None else 0


def log_q_table(rates: np.ndarray, sigma: float) -> np.ndarray:
    """log(1 - p) for each behaviour and propensity level: [behaviour, level].

    Level k stands for the propensity quantile (k + 1/2) / LEVELS: m = exp(sigma z -
    sigma^2 / 2) with z its normal score, so E[m] = 1 up to the rounding of the
    quantile, and p = min(1, rate m).
    """
    m = levels_table(sigma, LEVELS)
    p = np.minimum(1.0, rates[:, None] * m[None, :])
    with np.errstate(divide="ignore"):
        return np.where(p >= 1.0, -np.inf, portable_math.log1p(-np.minimum(p, 1.0)))


@nb.njit(inline="always", cache=True)
def level_of(key, i):
    """The propensity level (0 .. LEVELS-1) of person i for the behaviour of `key`."""
    return min(np.int64(uniform(key, np.uint64(i), np.uint64(0)) * LEVELS), LEVELS - 1)


@nb.njit(parallel=True, cache=True)
def _first_days(lo, hi, n_b, shift, lbits, rates, clock_keys, propensity_keys, table, days):
    n = hi - lo
    codes = np.empty(n * n_b, dtype=np.int64)
    first = np.empty(n * n_b, dtype=np.int64)
    levels = np.empty(n * n_b, dtype=np.uint16)
    for k in nb.prange(n):
        i = lo + k
        for b in range(n_b):
            j = k * n_b + b
            codes[j] = (i << shift) | (b << lbits)
            if rates[b] == 0.0:
                first[j] = days
                levels[j] = 0
                continue
            level = level_of(propensity_keys[b], i)
            levels[j] = level
            u = uniform(clock_keys[b], np.uint64(i), np.uint64(0))
            first[j] = min(geometric_skip(u, table[b, level]), days)
    return codes, first, levels


@nb.njit(parallel=True, cache=True)
def _layer_first_days(lo, hi, s, day, shift, key, table, propensity_key, days):
    """The first event day, from `day` on, of slot s's clock (a rate change) for lo..hi-1."""
    n = hi - lo
    codes = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    levels = np.empty(n, dtype=np.uint16)
    for k in nb.prange(n):
        i = lo + k
        codes[k] = (i << shift) | s
        level = level_of(propensity_key, i)
        levels[k] = level
        u = uniform(key, np.uint64(i), np.uint64(day))
        first[k] = min(day + geometric_skip(u, table[level]), days)
    return codes, first, levels


@nb.njit(cache=True)
def _advance_chunk(lo, hi, keys, day, shift, timed, lay: Layers, actor, behaviour, next_day,
                   codes, levels):
    """Unpack keys lo..hi-1 and draw each clock's next day; today's events that stand are
    written to actor[lo:], behaviour[lo:] in order. Returns how many stand."""
    lbits, slot_keys, table = lay.lbits, lay.slot_keys, lay.slot_table
    row_of, thin_from = lay.row_of, lay.thin_from
    lmask = (1 << lbits) - 1
    m = lo
    for k in range(lo, hi):
        c = np.int64(keys[k] >> LEVEL_BITS)
        level = keys[k] & np.uint64(LEVELS - 1)
        i = c >> shift
        s = c & ((1 << shift) - 1)
        b = s >> lbits
        codes[k] = c
        levels[k] = level
        u = uniform(slot_keys[s], np.uint64(i), np.uint64(day + 1))
        next_day[k] = day + 1 + geometric_skip(u, table[s, level])
        if timed and row_of[b] >= 0:
            j = s & lmask
            # a base-clock event stands until some layer lowers the rate, if it is the
            # pair's first today (its base clock is its lowest slot)
            if not ((j == 0 and day < thin_from[row_of[b]]) or stands(k, keys, day, shift, lay)):
                continue
        actor[m] = i
        behaviour[m] = b
        m += 1
    return m - lo


@nb.njit(parallel=True, cache=True)
def _advance(keys, day, shift, timed, lay: Layers, codes, levels):
    """Today's events from their sorted keys, and each pair's next event day; each key's
    code and level are unpacked into `codes` and `levels` (to file the next event).

    With `timed`, only the events that stand (rate_layers.stands) are today's."""
    n = keys.shape[0]
    actor = np.empty(n, dtype=np.int64)
    behaviour = np.empty(n, dtype=np.uint8)
    next_day = np.empty(n, dtype=np.int64)
    # serial chunks under a thin parallel loop: numba compiles a plain function
    # better than the body of a prange
    n_chunks = (n + PAR_CHUNK - 1) // PAR_CHUNK
    kept = np.empty(n_chunks, dtype=np.int64)
    for t in nb.prange(n_chunks):
        kept[t] = _advance_chunk(t * PAR_CHUNK, min(n, (t + 1) * PAR_CHUNK), keys, day, shift,
                                 timed, lay, actor, behaviour, next_day, codes, levels)
    if kept.sum() == n:
        return actor, behaviour, next_day
    # some events did not stand: each chunk's standing ones moved up behind the last's
    m = 0
    for t in range(n_chunks):
        lo = t * PAR_CHUNK
        for k in range(lo, lo + kept[t]):
            actor[m] = actor[k]
            behaviour[m] = behaviour[k]
            m += 1
    return actor[:m], behaviour[:m], next_day


@nb.njit(parallel=True, cache=True)
def _sort_keys(codes, levels):
    """(code << LEVEL_BITS) | level: an entry and its payload as one sortable number."""
    n = codes.shape[0]
    keys = np.empty(n, dtype=np.uint64)
    for k in nb.prange(n):
        keys[k] = (np.uint64(codes[k]) << np.uint64(LEVEL_BITS)) | np.uint64(levels[k])
    return keys
