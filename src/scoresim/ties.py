"""Ties: who hears about whose sanctions. The small interface responses need from a network.

Responses learn from the sanctions of one's contacts (vicarious punishment,
Stafford & Warr 1993) and awareness of the system spreads along ties. The
social network itself is built elsewhere; all a response needs is, for a batch
of people, their contacts. A network offers that as compressed sparse rows
(CSR): the contacts of person i are `contacts[offsets[i]:offsets[i + 1]]`.
That layout is one int64 per person plus one integer per tie, reads as one
slice per person inside a numba kernel, and is what scipy.sparse, networkx
and igraph export.

Where no network exists (`Society` has no `ties`), responses fall back to
one's own sanctions and to aggregate publicity (shaming screens).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Ties:
    """Undirected or directed ties as CSR: contacts of i are contacts[offsets[i]:offsets[i+1]]."""

    offsets: np.ndarray  # int64, n + 1
    contacts: np.ndarray  # int32 or int64 person indices

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or self.offsets.shape[0] < 1:
            raise ValueError("offsets must be a 1-D array of n + 1 entries")
        if int(self.offsets[0]) != 0 or int(self.offsets[-1]) != self.contacts.shape[0]:
            raise ValueError("offsets must start at 0 and end at len(contacts)")
        if np.any(np.diff(self.offsets) < 0):
            raise ValueError("offsets must not decrease")

    @property
    def n(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def contacts_of(self, people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(owner, contact) pairs: contact[k] is a contact of people[owner[k]]."""
        people = np.asarray(people, dtype=np.int64)
        lo, hi = self.offsets[people], self.offsets[people + 1]
        sizes = hi - lo
        owner = np.repeat(np.arange(people.shape[0], dtype=np.int64), sizes)
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
        return owner, self.contacts[starts + np.arange(owner.shape[0])].astype(np.int64)

    @property
    def nbytes(self) -> int:
        return self.offsets.nbytes + self.contacts.nbytes

    @classmethod
    def from_edges(cls, n: int, a: np.ndarray, b: np.ndarray) -> Ties:
        """Undirected ties from edge lists a[k] -- b[k] (each edge is stored both ways)."""
        src = np.concatenate([a, b]).astype(np.int64)
        dst = np.concatenate([b, a]).astype(np.int64)
        order = np.argsort(src, kind="stable")
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=offsets[1:])
        dtype = np.int32 if n < 2**31 else np.int64
        return cls(offsets, dst[order].astype(dtype))


def no_ties() -> Ties:
    """The empty network (kernels take arrays, so 'no network' is a network without people)."""
    return Ties(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64))


def ties_of(society: object) -> Ties | None:
    """The society's network if one was built (attribute `ties`), else None."""
    ties = getattr(society, "ties", None)
    if ties is None:
        return None
    if not isinstance(ties, Ties):
        ties = Ties(np.asarray(ties.offsets, dtype=np.int64), np.asarray(ties.contacts))
    return ties
