"""A calendar of due events: what is scheduled for which day, and nothing else.

Most people do nothing on most days. Rather than asking every person every day
whether they act (cost: people x days), each person's next event is filed
under the day it falls due, and a day only touches what was filed under it
(cost: events). Entries live in fixed-size blocks drawn from one pool and
chained per day, so the calendar's memory is that of the pending entries, and
a block emptied by today's gather is reused tomorrow.
"""

from __future__ import annotations

import numba as nb
import numpy as np

BLOCK = 2048
MIN_BLOCK = 64


class Calendar:
    """Entries (integers of a fixed dtype) filed under days 0..days-1.

    An entry may carry a payload (one number of another dtype) that travels with it,
    so that what an entry needs when it falls due is at hand rather than looked up
    at random in a large array.
    """

    def __init__(self, days: int, dtype: np.dtype, initial_entries: int = 0,
                 payload_dtype: np.dtype | None = None):
        self.days = int(days)
        self.dtype = np.dtype(dtype)
        self.payload_dtype = np.dtype(payload_dtype) if payload_dtype is not None else None
        # Each day may hold one part-filled block, so blocks are sized to the entries a
        # day is expected to hold: small calendars do not pay days x BLOCK of slack.
        per_day = initial_entries // max(1, 4 * days)
        self.block = int(min(BLOCK, max(MIN_BLOCK, 1 << max(0, per_day.bit_length() - 1))))
        block = self.block
        # Room for the entries, a part-filled block per day they sit in, and what
        # `_reserve` keeps free for a day's pushes (a new block per day at worst): with
        # `days` blocks fewer, the first day's push grew the pool by half (a copy of it
        # made while the old one is alive), for entries that always fit.
        n_blocks = max(16, initial_entries // block + 2 * days + 16)
        self.pool = np.empty(n_blocks * block, dtype=self.dtype)
        self.payload = np.empty(n_blocks * block if payload_dtype is not None else 0,
                                dtype=payload_dtype or np.float32)
        self.next_block = np.full(n_blocks, -1, dtype=np.int64)
        self.head = np.full(days, -1, dtype=np.int64)
        self.tail = np.full(days, -1, dtype=np.int64)
        self.tail_fill = np.zeros(days, dtype=np.int64)
        self.count = np.zeros(days, dtype=np.int64)
        self.free = np.arange(n_blocks - 1, -1, -1, dtype=np.int64)  # a stack
        self.n_free = np.array([n_blocks], dtype=np.int64)

    @property
    def nbytes(self) -> int:
        return (self.pool.nbytes + self.payload.nbytes + self.next_block.nbytes
                + self.free.nbytes)

    def _reserve(self, n_entries: int) -> None:
        """Make sure `n_entries` pushes cannot run out of blocks."""
        need = n_entries // self.block + min(self.days, n_entries) + 2
        have = int(self.n_free[0])
        if have >= need:
            return
        old = self.next_block.shape[0]
        grow = max(need - have, old // 2, 16)
        self.pool = np.concatenate([self.pool, np.empty(grow * self.block, dtype=self.dtype)])
        if self.payload_dtype is not None:
            self.payload = np.concatenate(
                [self.payload, np.empty(grow * self.block, dtype=self.payload_dtype)])
        self.next_block = np.concatenate([self.next_block, np.full(grow, -1, dtype=np.int64)])
        free = np.empty(old + grow, dtype=np.int64)  # room for every block
        free[:have] = self.free[:have]
        free[have:have + grow] = np.arange(old + grow - 1, old - 1, -1)
        self.free = free
        self.n_free[0] = have + grow

    def push(self, entries: np.ndarray, days: np.ndarray,
             payload: np.ndarray | None = None) -> None:
        """File entries[k] (with payload[k]) under days[k]; days past the horizon are dropped."""
        if entries.shape[0] == 0:
            return
        self._reserve(int(np.count_nonzero((days >= 0) & (days < self.days))))
        if payload is None:
            payload = self.payload[:0]
        _push(
            entries.astype(self.dtype, copy=False), days,
            payload.astype(self.payload.dtype, copy=False), self.pool, self.payload,
            self.next_block, self.head, self.tail, self.tail_fill, self.count, self.free,
            self.n_free, self.block,
        )

    def pop(self, day: int) -> np.ndarray:
        """Everything filed under `day`, in filing order; the day is emptied."""
        return self.pop_with_payload(day)[0]

    def pop_with_payload(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        n = int(self.count[day])
        out = np.empty(n, dtype=self.dtype)
        out_payload = np.empty(n if self.payload_dtype is not None else 0,
                               dtype=self.payload.dtype)
        _pop(day, out, out_payload, self.pool, self.payload, self.next_block, self.head,
             self.tail, self.tail_fill, self.count, self.free, self.n_free, self.block)
        return out, out_payload

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Replace the content with a `state()` taken earlier (same order within each day)."""
        self.__init__(self.days, self.dtype, initial_entries=state["entries"].shape[0],
                      payload_dtype=self.payload_dtype)
        self.push(state["entries"], state["days"].astype(np.int64), state.get("payload"))

    def state(self) -> dict[str, np.ndarray]:
        """The calendar's content, compactly, for checkpoints."""
        days = np.repeat(np.arange(self.days, dtype=np.int32), self.count)
        peeked = [self.peek_with_payload(d) for d in range(self.days)]
        st = {"entries": np.concatenate([p[0] for p in peeked] or [np.empty(0, self.dtype)]),
              "days": days}
        if self.payload_dtype is not None:
            st["payload"] = np.concatenate([p[1] for p in peeked]
                                           or [np.empty(0, self.payload_dtype)])
        return st

    def peek_with_payload(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        n = int(self.count[day])
        out = np.empty(n, dtype=self.dtype)
        out_payload = np.empty(n if self.payload_dtype is not None else 0,
                               dtype=self.payload.dtype)
        _peek(day, out, out_payload, self.pool, self.payload, self.next_block, self.head,
              self.tail, self.tail_fill, self.block)
        return out, out_payload


@nb.njit(cache=True)
def _push(entries, days, payload, pool, pool_payload, next_block, head, tail, tail_fill, count,
          free, n_free, block):
    horizon = head.shape[0]
    carry = payload.shape[0] > 0
    for k in range(entries.shape[0]):
        d = days[k]
        if d < 0 or d >= horizon:
            continue
        t = tail[d]
        if t < 0 or tail_fill[d] == block:
            n_free[0] -= 1
            nb_ = free[n_free[0]]
            next_block[nb_] = -1
            if t < 0:
                head[d] = nb_
            else:
                next_block[t] = nb_
            tail[d] = nb_
            tail_fill[d] = 0
            t = nb_
        at = t * block + tail_fill[d]
        pool[at] = entries[k]
        if carry:
            pool_payload[at] = payload[k]
        tail_fill[d] += 1
        count[d] += 1


@nb.njit(cache=True)
def _peek(day, out, out_payload, pool, pool_payload, next_block, head, tail, tail_fill, block):
    b = head[day]
    pos = 0
    carry = out_payload.shape[0] > 0
    while b >= 0:
        n = tail_fill[day] if b == tail[day] else block
        out[pos:pos + n] = pool[b * block:b * block + n]
        if carry:
            out_payload[pos:pos + n] = pool_payload[b * block:b * block + n]
        pos += n
        b = next_block[b]


@nb.njit(cache=True)
def _pop(day, out, out_payload, pool, pool_payload, next_block, head, tail, tail_fill, count,
         free, n_free, block):
    b = head[day]
    pos = 0
    carry = out_payload.shape[0] > 0
    while b >= 0:
        n = tail_fill[day] if b == tail[day] else block
        out[pos:pos + n] = pool[b * block:b * block + n]
        if carry:
            out_payload[pos:pos + n] = pool_payload[b * block:b * block + n]
        pos += n
        nxt = next_block[b]
        free[n_free[0]] = b
        n_free[0] += 1
        b = nxt
    head[day] = -1
    tail[day] = -1
    tail_fill[day] = 0
    count[day] = 0
