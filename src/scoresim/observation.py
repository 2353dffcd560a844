"""Observation: the channels that turn some true events into records, with errors.

A register (community register, inspector, bank, court, online monitoring)
records a true event with some probability, always under the true actor. A
camera captures an event with some probability; face recognition then names
the true actor (true-match rate), a wrong person of the same demographic group
(false-match rate, which differs by group: NIST FRVT, NISTIR 8280), or nobody.
Face recognition is modelled by these error rates only, never run on images.

Every record keeps its truth: who really acted and whether the attribution is
correct, so each wrongful sanction can be traced back to the error behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from scoresim.behaviour import Events
from scoresim.random import stream_key, uniform
from scoresim.scenario.schema import Scenario
from scoresim.society import Society

REGISTER, CAMERA = 0, 1
MAX_PICK_TRIES = 100_000
PAR_CHUNK = 1 << 14


@dataclass
class Records:
    """One day's new records, one row per record, each with its truth."""

    day: int
    subject: np.ndarray  # int64: whose file it goes to
    true_actor: np.ndarray  # int64: who really did it
    behaviour: np.ndarray  # uint8
    channel: np.ndarray  # uint8
    correct: np.ndarray  # bool: subject == true actor
    points: np.ndarray  # int32, set by scoring

    def __len__(self) -> int:
        return self.subject.shape[0]


class Observation:
    name = "observation"

    def __init__(self, scenario: Scenario, society: Society, seed: int):
        self.channel_names = list(scenario.channels)
        profiles = list(scenario.face_recognition)
        n_groups = len(scenario.population.group_shares)
        self.channel_of = np.array(
            [self.channel_names.index(b.channel) if b.channel else -1
             for b in scenario.behaviours.values()],
            dtype=np.int64,
        )
        chans = list(scenario.channels.values())
        self.kind = np.array([CAMERA if c.kind == "camera" else REGISTER for c in chans], np.int64)
        self.p_seen = np.array(
            [c.capture_probability if c.kind == "camera" else c.record_probability for c in chans],
            dtype=np.float64,
        )
        self.profile_of = np.array(
            [profiles.index(c.face_recognition) if c.face_recognition else -1 for c in chans],
            dtype=np.int64,
        )
        fr = list(scenario.face_recognition.values())
        self.tmr = np.array([p.tmr for p in fr] or [0.0], dtype=np.float64)
        self.fmr = np.array([p.fmr for p in fr] or [[0.0] * n_groups], dtype=np.float64)
        self.seen_keys = np.array(
            [stream_key(seed, "observation", f"seen:{n}") for n in self.channel_names] or [0],
            dtype=np.uint64,
        )
        self.match_keys = np.array(
            [stream_key(seed, "observation", f"match:{n}") for n in self.channel_names] or [0],
            dtype=np.uint64,
        )
        self.pick_key = stream_key(seed, "observation", "false-match-pick")
        self.group = society.group

    def step(self, events: Events) -> Records:
        subject, true_actor, behaviour, channel, correct = _observe(
            events.day, events.actor, events.behaviour, self.channel_of, self.kind,
            self.p_seen, self.profile_of, self.tmr, self.fmr, self.seen_keys,
            self.match_keys, self.pick_key, self.group,
        )
        return Records(events.day, subject, true_actor, behaviour, channel, correct,
                       np.zeros(subject.shape[0], dtype=np.int32))


@nb.njit(inline="always", cache=True)
def _event_counter(day, b):
    return np.uint64(day) * np.uint64(64) + np.uint64(b)


@nb.njit(cache=True)
def _pick_same_group(actor, g, group, key, counter):
    """A uniformly drawn other person of group g (rejection sampling, no index kept)."""
    n = group.shape[0]
    for t in range(MAX_PICK_TRIES):
        u = uniform(key, np.uint64(actor), counter * np.uint64(MAX_PICK_TRIES) + np.uint64(t))
        j = min(np.int64(u * n), n - 1)
        if j != actor and group[j] == g:
            return j
    return -1


@nb.njit(cache=True)
def _observe_chunk(lo, hi, day, actor, behaviour, channel_of, kind, p_seen, profile_of, tmr,
                   fmr, seen_keys, match_keys, pick_key, group, subj):
    for k in range(lo, hi):
        subj[k] = -1
        b = behaviour[k]
        c = channel_of[b]
        if c < 0:
            continue
        i = actor[k]
        ctr = _event_counter(day, b)
        if uniform(seen_keys[c], np.uint64(i), ctr) >= p_seen[c]:
            continue
        if kind[c] == REGISTER:
            subj[k] = i
            continue
        f = profile_of[c]
        g = group[i]
        u = uniform(match_keys[c], np.uint64(i), ctr)
        if u < tmr[f]:
            subj[k] = i
        elif u < tmr[f] + fmr[f, g]:
            subj[k] = _pick_same_group(i, g, group, pick_key, ctr)


@nb.njit(parallel=True, cache=True)
def _observe(day, actor, behaviour, channel_of, kind, p_seen, profile_of, tmr, fmr,
             seen_keys, match_keys, pick_key, group):
    n = actor.shape[0]
    subj = np.empty(n, dtype=np.int64)
    n_chunks = (n + PAR_CHUNK - 1) // PAR_CHUNK
    for t in nb.prange(n_chunks):
        _observe_chunk(t * PAR_CHUNK, min(n, (t + 1) * PAR_CHUNK), day, actor, behaviour,
                       channel_of, kind, p_seen, profile_of, tmr, fmr, seen_keys, match_keys,
                       pick_key, group, subj)
    keep = np.flatnonzero(subj >= 0)
    m = keep.shape[0]
    subject = np.empty(m, dtype=np.int64)
    true_actor = np.empty(m, dtype=np.int64)
    beh = np.empty(m, dtype=np.uint8)
    chan = np.empty(m, dtype=np.uint8)
    correct = np.empty(m, dtype=np.bool_)
    for r in range(m):
        k = keep[r]
        subject[r] = subj[k]
        true_actor[r] = actor[k]
        beh[r] = behaviour[k]
        chan[r] = channel_of[behaviour[k]]
        correct[r] = subj[k] == actor[k]
    return subject, true_actor, beh, chan, correct
