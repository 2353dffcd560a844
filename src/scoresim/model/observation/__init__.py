"""Observation: the channels that turn some true events into records, with errors.

Each channel is a module beside this file:

    camera.py      coverage by place and region, capture, face recognition by demographic cell
    registers.py   courts, banks, utilities, community registers: filing delays, linkage errors
    online.py      speech monitoring: keyword filtering that misses and falsely flags posts
    informants.py  neighbourhood informants, including made-up reports

Their decisions are inline functions fused into one kernel here, so an event
costs one pass whatever the channel. Face recognition is modelled by its error
rates only, never run on images.

Every record keeps its truth: who really acted (-1 when nobody did what it
says), whether it is correct (its subject really did what it records), and
the kind of error behind it, so each wrongful sanction can be traced back to
the error that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np

from scoresim.model.behaviour import Events
from scoresim.model.module import Module, Today
from scoresim.model.observation.camera import Coverage, FaceRecognitionTables, in_view, recognise
from scoresim.model.observation.informants import malicious_routes
from scoresim.model.observation.online import false_flag_routes
from scoresim.model.observation.registers import filing_delay, pick_nearby
from scoresim.model.random import event_counter, name_ids, stream_key, uniform
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario

REGISTER, CAMERA = 0, 1
PAR_CHUNK = 1 << 14

# how a behaviour's events reach its channel
TRUE_EVENT, FALSE_FLAG_SOURCE, MALICIOUS_SOURCE = 0, 1, 2
# the error behind a record (records.parquet's `error` column, in this order)
ERRORS = ["none", "false_match", "linkage", "false_flag", "malicious_report", "fabricated"]
NO_ERROR, FALSE_MATCH, LINKAGE, FALSE_FLAG, MALICIOUS_REPORT, FABRICATED = range(len(ERRORS))
NOBODY = -1  # true_actor of a record whose offence nobody committed
# why a record stops counting on its expires_day (records.parquet's `expires_by`, in order)
EXPIRES_BY = ["never", "window", "repair", "paid_repair", "appeal"]
BY_NEVER, BY_WINDOW, BY_REPAIR, BY_PAID_REPAIR, BY_APPEAL = range(len(EXPIRES_BY))


@dataclass
class Records:
    """A batch of records, one row per record, each with its truth.

    `day` is the day of the batch: the day the records were made (observation's
    output) or filed (the credit file's). The optional columns are filled with
    their plain values (no error, made that day, no delay) when not given.
    """

    day: int
    subject: np.ndarray  # int64: whose file it goes to
    true_actor: np.ndarray  # int64: who really did it; -1 when nobody did
    behaviour: np.ndarray  # uint8: what it records
    channel: np.ndarray  # uint8
    correct: np.ndarray  # bool: the subject really did what it records
    points: np.ndarray  # int32, set by scoring
    error: np.ndarray | None = None  # uint8 index into ERRORS
    made: np.ndarray | None = None  # int32: the day the event was seen
    delay: np.ndarray | None = None  # int32: days from seen to filed
    category: np.ndarray | None = None  # int8: index into the credit file's categories
    expires: np.ndarray | None = None  # int32: first day it no longer counts
    expires_by: np.ndarray | None = None  # uint8 index into EXPIRES_BY: why it stops then

    def __post_init__(self) -> None:
        n = self.subject.shape[0]
        if self.error is None:
            self.error = np.zeros(n, dtype=np.uint8)
        if self.made is None:
            self.made = np.full(n, self.day, dtype=np.int32)
        if self.delay is None:
            self.delay = np.zeros(n, dtype=np.int32)

    def __len__(self) -> int:
        return self.subject.shape[0]

    def take(self, rows: np.ndarray) -> Records:
        """The records at `rows` (indices or a mask), every column alike."""
        def pick(a):
            return None if a is None else a[rows]
        return Records(self.day, self.subject[rows], self.true_actor[rows],
                       self.behaviour[rows], self.channel[rows], self.correct[rows],
                       self.points[rows], self.error[rows], self.made[rows], self.delay[rows],
                       pick(self.category), pick(self.expires), pick(self.expires_by))

    @staticmethod
    def concat(day: int, parts: list[Records]) -> Records:
        """One batch of `parts` (as filed on `day`); parts keep their own made days."""
        cat = np.concatenate
        return Records(day, cat([r.subject for r in parts]), cat([r.true_actor for r in parts]),
                       cat([r.behaviour for r in parts]), cat([r.channel for r in parts]),
                       cat([r.correct for r in parts]), cat([r.points for r in parts]),
                       cat([r.error for r in parts]), cat([r.made for r in parts]),
                       cat([r.delay for r in parts]))


class Channels(NamedTuple):
    """Every channel's tables, as the kernels of both backends read them.

    Per behaviour: its channel (-1: none sees it), how its events reach the channel
    (`mode`: a true event, a benign post a filter may flag, an informant's made-up
    report), with what probability, recorded as which behaviour, and its name id
    (which keys the draws). Per channel: register or camera, its face recognition
    profile, filing delays, record linkage errors, and the keys of its draws.
    """

    behaviour_id: np.ndarray  # uint64 [behaviour]
    channel_of: np.ndarray  # int64 [behaviour]
    mode: np.ndarray  # int64 [behaviour]: TRUE_EVENT, FALSE_FLAG_SOURCE, MALICIOUS_SOURCE
    p_of: np.ndarray  # float64 [behaviour]: capture, recording or flagging probability
    as_of: np.ndarray  # uint8 [behaviour]: the behaviour its records record
    kind: np.ndarray  # int64 [channel]: REGISTER or CAMERA
    profile_of: np.ndarray  # int64 [channel]: face recognition profile (-1: none)
    tmr: np.ndarray  # float64 [profile, cell]
    fmr: np.ndarray  # float64 [profile, cell]
    cell: np.ndarray  # uint8 [person]: the demographic cell face recognition sees
    coverage: np.ndarray  # float64 [channel, level of the coverage trait]
    region: np.ndarray  # uint8 [person]: level of the coverage trait
    covered: bool  # coverage varies by place at all
    delay_lo: np.ndarray  # int64 [channel]
    delay_hi: np.ndarray  # int64 [channel]
    linkage: np.ndarray  # float64 [channel]
    window: np.ndarray  # int64 [channel]
    seen_keys: np.ndarray  # uint64 [channel]
    match_keys: np.ndarray  # uint64 [channel]
    link_keys: np.ndarray  # uint64 [channel]
    delay_keys: np.ndarray  # uint64 [channel]
    pick_key: np.uint64
    near_key: np.uint64
    # p_of on each day where a timeline changes a channel's probability ([0, 0]: never)
    p_day: np.ndarray  # float64 [day, behaviour]
    # camera: the chance a warned person steps back (0: no warning), and its draws' keys
    step_back: np.ndarray  # float64 [channel]
    warn_keys: np.ndarray  # uint64 [channel]


class Observation(Module):
    """Every channel's tables, built once from the scenario, and the day's observing."""

    name = "observation"

    def __init__(self, world: World):
        super().__init__(world)
        scenario, society, seed = world.scenario, world.society, world.seed
        self.channel_names = list(scenario.channels)
        names = list(scenario.behaviours)
        n_b = len(names)
        channel_of = np.array(
            [self.channel_names.index(b.channel) if b.channel else -1
             for b in scenario.behaviours.values()],
            dtype=np.int64,
        )
        chans = list(scenario.channels.values())
        kind = np.array([CAMERA if c.kind == "camera" else REGISTER for c in chans]
                        or [REGISTER], np.int64)
        p_seen = np.array(
            [c.capture_probability if c.kind == "camera" else c.record_probability for c in chans]
            or [0.0],
            dtype=np.float64,
        )
        # per behaviour: how its events reach the channel, with what probability, as what
        mode = np.full(n_b, TRUE_EVENT, dtype=np.int64)
        p_of = np.array([p_seen[c] if c >= 0 else 0.0 for c in channel_of])
        as_of = np.arange(n_b, dtype=np.uint8)
        for m, routes in ((FALSE_FLAG_SOURCE, false_flag_routes(scenario)),
                          (MALICIOUS_SOURCE, malicious_routes(scenario))):
            for source, p, recorded_as in routes:
                b = names.index(source)
                mode[b], p_of[b], as_of[b] = m, p, names.index(recorded_as)
        profile_of = np.array(
            [list(scenario.face_recognition).index(c.face_recognition) if c.face_recognition
             else -1 for c in chans] or [-1],
            dtype=np.int64,
        )
        self.faces = faces = FaceRecognitionTables(scenario, society)
        self.coverage = coverage = Coverage(scenario, society, self.channel_names)

        def keys(purpose: str) -> np.ndarray:
            return np.array(
                [stream_key(seed, "observation", f"{purpose}:{n}") for n in self.channel_names]
                or [0],
                dtype=np.uint64,
            )

        self.channels = Channels(
            behaviour_id=name_ids(names), channel_of=channel_of, mode=mode, p_of=p_of,
            as_of=as_of, kind=kind, profile_of=profile_of, tmr=faces.tmr, fmr=faces.fmr,
            cell=faces.cell, coverage=coverage.table, region=coverage.region,
            covered=coverage.enabled,
            delay_lo=np.array([c.delay_min_days for c in chans] or [0], dtype=np.int64),
            delay_hi=np.array([c.delay_max_days for c in chans] or [0], dtype=np.int64),
            linkage=np.array([c.linkage_error for c in chans] or [0.0], dtype=np.float64),
            window=np.array([c.linkage_window for c in chans] or [1], dtype=np.int64),
            seen_keys=keys("seen"), match_keys=keys("match"), link_keys=keys("linkage"),
            delay_keys=keys("delay"),
            pick_key=stream_key(seed, "observation", "false-match-pick"),
            near_key=stream_key(seed, "observation", "nearby-pick"),
            p_day=_p_by_day(world, chans, channel_of, mode, p_of),
            step_back=np.array([c.voice_warning or 0.0 for c in chans] or [0.0],
                               dtype=np.float64),
            warn_keys=keys("voice-warning"),
        )
        self.warns = bool(self.channels.step_back.max() > 0)
        self.n_warned = self.n_stepped_back = 0
        self.channel_of, self.mode, self.kind = channel_of, mode, kind
        self.delays = bool(self.channels.delay_hi.max() > 0)
        self.n_people = society.n

    @classmethod
    def person_backend(cls, scenario: Scenario) -> list[str]:
        why = []
        for name, c in scenario.channels.items():
            if c.delay_max_days > 0:
                why.append(f"channels.{name}: filing delays")
            if c.linkage_error > 0:
                why.append(f"channels.{name}.linkage_error: records filed under a neighbour")
            if c.false_flag is not None or c.malicious_report is not None:
                why.append(f"channels.{name}: false flags and malicious reports")
            if c.voice_warning:
                why.append(f"channels.{name}.voice_warning: the crossing's warning")
        return why

    def columns(self) -> list[str]:
        # only where a crossing warns, so that no other scenario's columns move
        return ["n_voice_warnings", "n_stepped_back"] if self.warns else []

    def measure(self, today: Today, row: dict) -> None:
        if self.warns:
            row["n_voice_warnings"] = self.n_warned
            row["n_stepped_back"] = self.n_stepped_back

    def step(self, today: Today) -> None:
        """What the channels record of today's events, with their errors."""
        if self.channels.p_day.shape[0]:  # a timeline moves a channel's probability
            self.channels = self.channels._replace(p_of=self.channels.p_day[today.day])
        today.seen = self.observe(today.events)

    def observe(self, events: Events) -> Records:
        subject, true_actor, behaviour, channel, error, delay, warned, back = _observe(
            events.day, events.actor, events.behaviour, self.channels)
        self.n_warned, self.n_stepped_back = int(warned), int(back)
        return Records(events.day, subject, true_actor, behaviour, channel, error == NO_ERROR,
                       np.zeros(subject.shape[0], dtype=np.int32), error,
                       np.full(subject.shape[0], events.day, dtype=np.int32), delay)

    def true_events_by_channel(self, events: Events) -> np.ndarray:
        """True events today of the behaviours each channel is there to see (recall's base)."""
        n_c = len(self.channel_names)
        if len(events) == 0 or n_c == 0:
            return np.zeros(n_c, dtype=np.int64)
        # from the count per behaviour (a pass over the behaviours, not a gather per event)
        per_behaviour = events.per_behaviour(self.channel_of.shape[0])
        sees = (self.channel_of >= 0) & (self.mode == TRUE_EVENT)
        return np.bincount(self.channel_of[sees], weights=per_behaviour[sees],
                           minlength=n_c).astype(np.int64)


def _p_by_day(world: World, chans: list, channel_of: np.ndarray, mode: np.ndarray,
              p_of: np.ndarray) -> np.ndarray:
    """p_of for every day, where a timeline changes a channel's recording or capture
    probability (the rule reads the day's value); [0, 0] where none does."""
    timeline, names = world.timeline, list(world.scenario.channels)
    daily = []
    for name, c in zip(names, chans, strict=True):
        field = "capture_probability" if c.kind == "camera" else "record_probability"
        daily.append(timeline.daily(f"channels.{name}.{field}"))
    # a channel switched off (channels.<c>.enabled: false) sees nothing those days: its
    # acts, false flags and made-up reports alike (every p_of of its behaviours is 0)
    on = [timeline.daily(f"channels.{name}.enabled") for name in names]
    if all(v is None for v in daily) and all(v is None for v in on):
        return np.zeros((0, 0), dtype=np.float64)
    out = np.repeat(p_of[None, :], world.days, axis=0)
    for b, c in enumerate(channel_of.tolist()):
        if c >= 0 and mode[b] == TRUE_EVENT and daily[c] is not None:
            out[:, b] = daily[c]
        if c >= 0 and on[c] is not None:
            out[:, b] = np.where(on[c] > 0.5, out[:, b], 0.0)
    return out


@nb.njit(cache=True)
def _observe_chunk(lo, hi, day, actor, behaviour, t: Channels, subj, err, delay, warn):
    (behaviour_id, channel_of, mode, p_of, kind, profile_of, tmr, fmr, cell, coverage,
     region, covered, delay_lo, delay_hi, linkage, window, seen_keys, match_keys, link_keys,
     delay_keys, pick_key, near_key, step_back, warn_keys) = (
        t.behaviour_id, t.channel_of, t.mode, t.p_of, t.kind, t.profile_of, t.tmr, t.fmr,
        t.cell, t.coverage, t.region, t.covered, t.delay_lo, t.delay_hi, t.linkage, t.window,
        t.seen_keys, t.match_keys, t.link_keys, t.delay_keys, t.pick_key, t.near_key,
        t.step_back, t.warn_keys)
    n_people = cell.shape[0]
    for k in range(lo, hi):
        subj[k] = -1
        warn[k] = 0
        b = behaviour[k]
        c = channel_of[b]
        if c < 0:
            continue
        i = actor[k]
        ctr = event_counter(day, behaviour_id[b])
        p = p_of[b]
        if kind[c] == CAMERA:
            p = p * in_view(i, c, coverage, region, covered)
        if uniform(seen_keys[c], np.uint64(i), ctr) >= p:
            continue
        m = mode[b]
        e = NO_ERROR
        if m == TRUE_EVENT:
            if kind[c] == CAMERA:
                if step_back[c] > 0.0:  # the crossing's warning, a draw of its own key
                    warn[k] = 1
                    if uniform(warn_keys[c], np.uint64(i), ctr) < step_back[c]:
                        warn[k] = 2  # stepped back: the offence is not completed
                        continue
                u = uniform(match_keys[c], np.uint64(i), ctr)
                s = recognise(i, profile_of[c], u, tmr, fmr, cell, pick_key, ctr)
                if s < 0:
                    continue
                if s != i:
                    e = FALSE_MATCH
            else:
                s = i
                if linkage[c] > 0.0 and uniform(link_keys[c], np.uint64(i), ctr) < linkage[c]:
                    s = pick_nearby(i, n_people, window[c], near_key, ctr)
                    if s < 0:
                        continue
                    e = LINKAGE
        elif m == FALSE_FLAG_SOURCE:
            s = i
            e = FALSE_FLAG
        else:  # a made-up report about a neighbour
            s = pick_nearby(i, n_people, window[c], near_key, ctr)
            if s < 0:
                continue
            e = MALICIOUS_REPORT
        subj[k] = s
        err[k] = e
        if delay_hi[c] > 0:
            delay[k] = filing_delay(uniform(delay_keys[c], np.uint64(i), ctr), delay_lo[c],
                                    delay_hi[c])
        else:
            delay[k] = 0


@nb.njit(parallel=True, cache=True)
def _observe(day, actor, behaviour, t: Channels):
    n = actor.shape[0]
    subj = np.empty(n, dtype=np.int64)
    err = np.empty(n, dtype=np.uint8)
    dly = np.empty(n, dtype=np.int32)
    warn = np.empty(n, dtype=np.uint8)
    n_chunks = (n + PAR_CHUNK - 1) // PAR_CHUNK
    for c in nb.prange(n_chunks):
        _observe_chunk(c * PAR_CHUNK, min(n, (c + 1) * PAR_CHUNK), day, actor, behaviour, t,
                       subj, err, dly, warn)
    warned = back = 0
    if t.step_back.max() > 0.0:
        for k in range(n):
            warned += warn[k] > 0
            back += warn[k] == 2
    keep = np.flatnonzero(subj >= 0)
    m = keep.shape[0]
    subject = np.empty(m, dtype=np.int64)
    true_actor = np.empty(m, dtype=np.int64)
    beh = np.empty(m, dtype=np.uint8)
    chan = np.empty(m, dtype=np.uint8)
    error = np.empty(m, dtype=np.uint8)
    delay = np.empty(m, dtype=np.int32)
    mode, as_of, channel_of = t.mode, t.as_of, t.channel_of
    for r in range(m):
        k = keep[r]
        b = behaviour[k]
        subject[r] = subj[k]
        true_actor[r] = actor[k] if mode[b] == TRUE_EVENT else NOBODY
        beh[r] = as_of[b]
        chan[r] = channel_of[b]
        error[r] = err[k]
        delay[r] = dly[k]
    return subject, true_actor, beh, chan, error, delay, warned, back
