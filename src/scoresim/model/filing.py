"""When records enter the credit file and when they leave it: filing delays and expiry.

A record seen today is not always filed today: courts and banks file late.
Late records wait in a pending calendar, one batch per filing day, and join
the file on their day; those due after the run ends never enter it. Once
filed, a record counts for its category's publication window (the 2026 credit
repair rules, docs/facts.md: minor entries at most 3 months, general 3 months to 1
year, serious 1 to 3 years) and then expires: its points leave the score and
its subject's standing is judged again. Both calendars cost their records,
never people x days, and a scenario without delays or windows allocates
neither.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from scoresim.model.calendar import Calendar
from scoresim.model.observation import BY_NEVER, BY_WINDOW, Records
from scoresim.scenario.schema import Scenario

NEVER = np.iinfo(np.int32).max  # expires_day of a record that counts for good
NO_CATEGORY = "none"


HELD_COLUMNS = ("subject", "true_actor", "behaviour", "channel", "correct", "points", "error",
                "made", "delay")
# a held record as one 32-byte row: a day's late records are split into dozens of
# batches, and one copy per batch beats one per column per batch
HELD = np.dtype([("subject", np.int64), ("true_actor", np.int64), ("points", np.int32),
                 ("made", np.int32), ("delay", np.int32), ("behaviour", np.uint8),
                 ("channel", np.uint8), ("correct", np.bool_), ("error", np.uint8)])
_HELD_BYTES = np.dtype((np.void, HELD.itemsize))


def _held_rows(columns: dict[str, np.ndarray], at: np.ndarray,
               where: np.ndarray | None = None) -> np.ndarray:
    """Rows (as raw bytes) of the records at `at` of `columns`, in one pass: row k is
    record at[k], or, given `where`, row where[k] is (a permutation of the rows).

    With `where` the records are read in their order and the rows written to their
    places: a day's late records go to a few dozen filing days, so the writes run in a
    few dozen sequential streams, where a gather in the rows' order read ten million
    people's records at random (at that size, two thirds of the filing phase).
    """
    rows = np.empty(at.shape[0], dtype=HELD)
    if where is None:
        where = np.arange(at.shape[0])
    _put_held(at, where, *(columns[name] for name in HELD_COLUMNS), rows)
    return rows.view(_HELD_BYTES)


@nb.njit(cache=True)
def _put_held(at, where, subject, true_actor, behaviour, channel, correct, points, error, made,
              delay, rows):
    for k in range(at.shape[0]):
        i = at[k]
        r = rows[where[k]]
        r.subject = subject[i]
        r.true_actor = true_actor[i]
        r.behaviour = behaviour[i]
        r.channel = channel[i]
        r.correct = correct[i]
        r.points = points[i]
        r.error = error[i]
        r.made = made[i]
        r.delay = delay[i]


def _joined(batches: list[np.ndarray]) -> np.ndarray:
    """One array of HELD rows from batches kept as raw bytes (NumPy copies and joins
    structured arrays field by field, element by element: twenty times slower)."""
    return (batches[0] if len(batches) == 1 else np.concatenate(batches)).view(HELD)


def _merged(day: int, rows: np.ndarray, seen: Records, prompt: np.ndarray | None) -> Records:
    """The held `rows`, then today's records at `prompt` (all of them if None), each column
    written once into its place (a take and a concatenation wrote each twice)."""
    h = rows.shape[0]
    m = seen.subject.shape[0] if prompt is None else prompt.shape[0]
    columns = {}
    for name in HELD_COLUMNS:
        column = getattr(seen, name)
        out = np.empty(h + m, dtype=column.dtype)
        out[:h] = rows[name]
        if prompt is None:
            out[h:] = column
        else:
            np.take(column, prompt, out=out[h:])
        columns[name] = out
    return Records(day, **columns)


@nb.njit(cache=True)
def _expiry(day, behaviour, category_of, window):
    """Each filed record's category, the first day it no longer counts (day + its
    category's window; NEVER without one) and why then (BY_WINDOW, BY_NEVER)."""
    n = behaviour.shape[0]
    category = np.empty(n, dtype=np.int8)
    expires = np.empty(n, dtype=np.int32)
    expires_by = np.empty(n, dtype=np.uint8)
    for k in range(n):
        c = category_of[behaviour[k]]
        w = window[c]
        category[k] = c
        expires[k] = day + w if w > 0 else NEVER
        expires_by[k] = BY_WINDOW if w > 0 else BY_NEVER
    return category, expires, expires_by


@nb.njit(cache=True)
def _by_day(days):
    """Where each of `days` goes in their stable order (a counting sort: they span a few
    weeks), and where each distinct day starts in that order."""
    n = days.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo, hi = days.min(), days.max()
    count = np.zeros(hi - lo + 2, dtype=np.int64)
    for k in range(n):
        count[days[k] - lo + 1] += 1
    n_days = 0
    for j in range(1, count.shape[0]):
        if count[j]:
            n_days += 1
    starts = np.empty(n_days, dtype=np.int64)
    m = 0
    for j in range(1, count.shape[0]):
        if count[j]:
            starts[m] = count[j - 1]
            m += 1
        count[j] += count[j - 1]
    where = np.empty(n, dtype=np.int64)
    for k in range(n):
        j = days[k] - lo
        where[k] = count[j]
        count[j] += 1
    return where, starts


class Filing:
    """The pending-records calendar and the expiry calendar of one run."""

    def __init__(self, scenario: Scenario, days: int, delays: bool):
        rules = scenario.credit_file
        names = list(scenario.behaviours)
        self.days = days
        self.category_names = [NO_CATEGORY, *rules.categories]
        self.window = np.array(
            [0] + [c.expires_after_days or 0 for c in rules.categories.values()], dtype=np.int64)
        self.category_of = np.zeros(len(names), dtype=np.int8)
        for b, cat in rules.category_of.items():
            self.category_of[names.index(b)] = self.category_names.index(cat)
        self.delays = delays
        # filing day: batches of HELD rows, as raw bytes
        self.pending: dict[int, list[np.ndarray]] = {}
        self.n_pending = 0
        self.expiring = bool((self.window[self.category_of] > 0).any())
        # an entry is (subject << 7) | (behaviour << 1) | wrong: behaviours are at most 64
        self.expiry = Calendar(days, np.uint64) if self.expiring else None
        self.n_expired = 0

    def file(self, seen: Records) -> Records:
        """Today's filed records: those due from earlier days, then today's prompt ones."""
        day = seen.day
        late = np.flatnonzero(seen.delay > 0) if self.delays and len(seen) else None
        if late is not None and late.shape[0]:
            self._hold(seen, late)
        else:
            late = None
        due = self.pending.pop(day, None)
        if late is not None or due:
            # the held rows and today's prompt records, every column in one pass (a take
            # and a concatenation were two copies of each column)
            rows = _joined(due) if due else np.empty(0, dtype=HELD)
            self.n_pending -= rows.shape[0]
            seen = _merged(day, rows, seen,
                           np.flatnonzero(seen.delay <= 0) if late is not None else None)
        seen.day = day
        seen.category, seen.expires, seen.expires_by = _expiry(
            day, seen.behaviour, self.category_of, self.window)
        return seen

    def _hold(self, seen: Records, late: np.ndarray) -> None:
        """Hold seen[late] until their filing days, in their order within each day."""
        due = seen.made[late].astype(np.int64) + seen.delay[late]
        where, starts = _by_day(due)
        filed = np.empty_like(due)
        filed[where] = due  # the filing days in the rows' order
        rows = _held_rows({name: getattr(seen, name) for name in HELD_COLUMNS}, late, where)
        ends = np.r_[starts[1:], filed.shape[0]]
        for a, b in zip(starts, ends, strict=True):  # one batch per filing day, not per record
            d = int(filed[a])
            if d < self.days:
                # a copy per batch, not views of one sorted copy: a view would keep the
                # whole day's late records alive until its last batch is filed, weeks later
                self.pending.setdefault(d, []).append(rows[a:b].copy())
                self.n_pending += b - a

    def schedule_expiry(self, filed: Records, by_redress: np.ndarray | None = None) -> None:
        """File today's records under the day they stop counting.

        `by_redress`: records whose way out redress decides (negative ones, when it is on);
        they leave the score through redress only, never twice.
        """
        if self.expiry is None or len(filed) == 0:
            return
        ends = filed.expires.astype(np.int64)
        if by_redress is not None:
            ends = np.where(by_redress, NEVER, ends)
        soon = np.flatnonzero(ends < self.days)
        if soon.shape[0]:
            self.expiry.push(_pack(filed.subject[soon], filed.behaviour[soon],
                                   filed.correct[soon]), ends[soon])

    def expire(self, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The records that stop counting today: (subject, behaviour, correct)."""
        if self.expiry is None:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty.astype(np.uint8), empty.astype(np.bool_)
        codes = self.expiry.pop(day)
        self.n_expired += codes.shape[0]
        return (
            (codes >> np.uint64(7)).astype(np.int64),
            ((codes >> np.uint64(1)) & np.uint64(63)).astype(np.uint8),
            (codes & np.uint64(1)) == 0,
        )

    def state(self) -> dict[str, np.ndarray]:
        """Held records (by filing day) and the expiry calendar, for checkpoints."""
        st: dict[str, np.ndarray] = {"counts": np.array([self.n_pending, self.n_expired])}
        days = sorted(self.pending)
        held = [_joined(self.pending[d]) for d in days]
        st["held_day"] = np.repeat(np.array(days, dtype=np.int64),
                                   [len(r) for r in held]).astype(np.int64)
        for name in HELD_COLUMNS:
            parts = [r[name] for r in held]
            st[f"held_{name}"] = np.concatenate(parts) if parts else np.empty(0)
        if self.expiry is not None:
            for k, v in self.expiry.state().items():
                st[f"expiry_{k}"] = v
        return st

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.n_pending, self.n_expired = (int(x) for x in st["counts"])
        self.pending = {}
        held_day = st["held_day"]
        if held_day.shape[0]:
            starts = np.flatnonzero(np.r_[True, held_day[1:] != held_day[:-1]])
            ends = np.r_[starts[1:], held_day.shape[0]]
            for a, b in zip(starts, ends, strict=True):
                cols = {name: st[f"held_{name}"][a:b] for name in HELD_COLUMNS}
                self.pending[int(held_day[a])] = [_held_rows(cols, np.arange(b - a))]
        if self.expiry is not None:
            self.expiry.restore({"entries": st["expiry_entries"], "days": st["expiry_days"]})

    @property
    def nbytes(self) -> int:
        pending = sum(r.nbytes for rs in self.pending.values() for r in rs)
        return pending + (self.expiry.nbytes if self.expiry is not None else 0)


@nb.njit(cache=True)
def _pack(subject, behaviour, correct):
    out = np.empty(subject.shape[0], dtype=np.uint64)
    for r in range(subject.shape[0]):
        wrong = 0 if correct[r] else 1
        code = (np.uint64(subject[r]) << np.uint64(7)) | (np.uint64(behaviour[r]) << np.uint64(1))
        out[r] = code | np.uint64(wrong)
    return out
