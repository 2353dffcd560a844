"""Response: people adapt to the system. Deterrence, chilling of speech, gamified virtue, avoidance.

Only people who know the system exists respond (11% of people in pilot areas
knew, docs/facts.md); awareness spreads through one's own sanctions, through ties
and through public shaming.

How responses act on behaviour keeps common random numbers intact. Every
(person, behaviour) pair's events come from its clock at the base, no-system
rate (behaviour.py). A response THINS them: each due event is kept with
probability factor(person, behaviour, day) <= 1, decided by a uniform keyed by
(seed, "response", behaviour) and counter (person, day). The clock runs on
regardless, so with responses off true behaviour is identical with and
without the system, and with them on each person's realised events are a
subset of their no-system events. Acts done only for points (`motive:
points`) have their own clock at an upper-bound rate, thinned the same way.

The factors:
- deterrence (Becker 1968): an offence is kept with probability
  exp(-sensitivity * q * penalty), q the perceived chance of being recorded.
  q = min(1, base * m): base is the channel's nominal chance of recording the
  act, m a per-person risk multiplier learnt from experience (Stafford & Warr
  1993: one's own and one's contacts' punishment raise it, punishment
  avoidance lowers it; Sah 1991).
- chilling (after Daymude, Axelrod & Forrest 2025, "Strategic analysis of
  dissent and self-censorship", arXiv:2509.03731, but not their model, which is
  model/dissent_choice.py's and drives speech wherever a scenario has a
  `dissent:` section with `response: best`; this rule serves `response:
  chilling` and scenarios without the section): a person with boldness b and
  desire d (their propensity for the speech act) speaks fully while
  b * d * value >= q * penalty (the defiant), and otherwise self-censors,
  keeping exp(-(q * penalty - b * d * value) / temperature) of their speech;
  temperature -> 0 is the model's pure best response.
- gamified virtue: an aware, points-motivated person does a `motive: points`
  act at min(1, points / points_for_full_rate) of its upper-bound rate.
- avoidance: an aware person dodges a share of camera captures; a sanctioned
  person may leave the pilot region, and the region's channels stop seeing them.

Per-person state, allocated only when responses are on: two bytes (flags and
the risk multiplier in 1/64 steps). Boldness, desire and motivation are pure
functions of (seed, person), recomputed when needed.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numba as nb
import numpy as np

from scoresim.model.module import Module, Today
from scoresim.model.random import event_counter, name_ids, normal, propensity_z, stream_key, uniform
from scoresim.model.rulebook import BANNED, LISTED, SUSPENDED
from scoresim.model.ties import no_ties
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario, dissent_drives

# flags
AWARE, LEFT = 1, 2
# how a behaviour responds
UNTOUCHED, DETERRED, CHILLED, FOR_POINTS = 0, 1, 2, 3
RISK_ONE = 64  # risk code of multiplier 1.0 (uint8: multipliers 0 .. 3.98)
SANCTIONED = BANNED | LISTED | SUSPENDED


class ResponseParams(NamedTuple):
    """Each response's parameters, zero where the scenario leaves that response off."""

    aware_initial: float  # awareness.initial_share
    aware_sanction: float  # awareness.from_sanction
    aware_tie: float  # awareness.from_tie
    publicity_reach: float  # awareness.publicity_reach
    sensitivity: float  # deterrence
    own_gain: float
    tie_gain: float
    impunity_decay: float
    value_points: float  # chilling
    boldness_sigma: float
    temperature: float
    motivated_share: float  # gamified virtue
    points_for_full_rate: float
    camera_avoidance: float  # avoidance
    leave_probability: float
    aware_shaming: float  # awareness.from_shaming


class ResponseKeys(NamedTuple):
    aware_initial: np.uint64
    aware_sanction: np.uint64
    aware_tie: np.uint64
    publicity: np.uint64
    boldness: np.uint64
    motivated: np.uint64
    avoid_camera: np.uint64
    leave: np.uint64


def response_params(scenario: Scenario) -> ResponseParams:
    r = scenario.responses
    a, d, c = r.awareness, r.deterrence, r.chilling
    g, v = r.gamified_virtue, r.avoidance
    return ResponseParams(
        aware_initial=a.initial_share, aware_sanction=a.from_sanction, aware_tie=a.from_tie,
        publicity_reach=a.publicity_reach,
        sensitivity=d.sensitivity if d else 0.0, own_gain=d.own_gain if d else 0.0,
        tie_gain=d.tie_gain if d else 0.0, impunity_decay=d.impunity_decay if d else 0.0,
        value_points=c.value_points if c else 0.0, boldness_sigma=c.boldness_sigma if c else 0.0,
        temperature=c.temperature_points if c else 0.0,
        motivated_share=g.motivated_share if g else 0.0,
        points_for_full_rate=g.points_for_full_rate if g else 0.0,
        camera_avoidance=v.camera_avoidance if v else 0.0,
        leave_probability=v.leave_probability if v else 0.0,
        aware_shaming=a.from_shaming)


class Response(Module):
    """Who knows about the system, what they fear, and which of their acts they forgo."""

    name = "response"

    section = "responses"
    interacts = True

    def __init__(self, world: World):
        super().__init__(world)
        scenario, society, seed = world.scenario, world.society, world.seed
        r = scenario.responses
        rules = world.rules
        # the points each act costs, as the scenario's scoring section gives them
        points = rules.scoring_points
        imposing, shaming = rules.imposing, rules.shame_trigger
        self.n = society.n
        names = list(scenario.behaviours)
        n_b = len(names)
        self.kind = np.zeros(n_b, dtype=np.int64)
        self.penalty = np.zeros(n_b, dtype=np.float64)
        self.base_q = np.zeros(n_b, dtype=np.float64)
        self.behaviour_id = name_ids(names)
        self.keep_keys = np.array(
            [stream_key(seed, "response", f"keep:{b}") for b in names], dtype=np.uint64)
        self.propensity_keys = np.array(
            [stream_key(seed, "society", f"propensity:{b}") for b in names], dtype=np.uint64)
        self.sigma = float(society.propensity_sigma)
        self.points = points.astype(np.float64)
        self.shaming = shaming.astype(np.bool_)
        self.no_shaming = np.zeros_like(self.shaming)  # the days a timeline switches it off
        self.n_aware = 0
        self.n_left = 0
        self.ties = society.ties if society.ties is not None else no_ties()
        chans = scenario.channels
        frs = scenario.face_recognition
        region = set(r.avoidance.region_channels) if r.avoidance else set()
        self.camera_channel = np.array([c.kind == "camera" for c in chans.values()] or [False])
        self.region_channel = np.array([c in region for c in chans] or [False])
        # speech the paper's choice drives (dissent.response: best) is not chilled here too
        by_dissent = set(dissent_drives(scenario))
        for k, (name, b) in enumerate(scenario.behaviours.items()):
            if b.channel is not None:
                c = chans[b.channel]
                self.base_q[k] = (c.capture_probability * frs[c.face_recognition].tmr
                                  if c.kind == "camera" else c.record_probability)
            extra = r.chilling.sanction_points if (b.speech and r.chilling) else (
                r.deterrence.sanction_points if r.deterrence else 0)
            self.penalty[k] = max(0.0, -float(points[k])) + (extra if imposing[k] else 0)
            if b.motive == "points":
                self.kind[k] = FOR_POINTS
            elif b.speech and r.chilling is not None and self.penalty[k] > 0 \
                    and name not in by_dissent:
                self.kind[k] = CHILLED
            elif not b.speech and r.deterrence is not None and self.penalty[k] > 0:
                self.kind[k] = DETERRED
        self.params = response_params(scenario)
        self.keys = ResponseKeys(*(stream_key(seed, "response", w) for w in (
            "aware-initial", "aware-sanction", "aware-tie", "publicity", "boldness",
            "motivated", "avoid-camera", "leave")))
        self.flags = np.zeros(self.n, dtype=np.uint8)
        self.risk = np.zeros(self.n, dtype=np.uint8)
        self.n_aware = int(_init_awareness(self.flags, self.risk, self.keys.aware_initial,
                                           self.params.aware_initial))

    def columns(self) -> list[str]:
        return ["n_aware", "n_left_region"]

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        row["n_aware"] = self.n_aware
        row["n_left_region"] = self.n_left

    def people(self) -> dict[str, Any]:
        return {"aware": self.aware, "left_region": self.left_region,
                "risk_multiplier": self.risk.astype(np.float32) / RISK_ONE}

    def state(self) -> dict[str, np.ndarray]:
        return {"flags": self.flags, "risk": self.risk,
                "counts": np.array([self.n_aware, self.n_left])}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.flags[:] = st["flags"]
        self.risk[:] = st["risk"]
        self.n_aware, self.n_left = (int(x) for x in st["counts"])

    def thin(self, today: Today) -> None:
        """Today's realised events: each due event kept with its person's response factor."""
        events = today.events
        if len(events) == 0:
            return
        keep = _keep(events.day, events.actor, events.behaviour, self.kind, self.penalty,
                     self.base_q, self.points, self.keep_keys, self.propensity_keys, self.sigma,
                     self.flags, self.risk, self.keys, self.params)
        today.events = events.kept(keep)

    def avoid(self, today: Today) -> None:
        """Drop the captures aware people dodge and what the region no longer sees of leavers."""
        records = today.seen
        if len(records) == 0 or (self.params.camera_avoidance == 0 and self.n_left == 0):
            return
        keep = _seen(records.day, records.subject, records.true_actor, records.behaviour,
                     self.behaviour_id, records.channel, self.camera_channel,
                     self.region_channel, self.flags, self.risk, self.keys.avoid_camera,
                     self.params.camera_avoidance)
        if not keep.all():
            today.seen = records.take(keep)

    def learn(self, today: Today) -> None:
        """After judging: experience raises or lowers perceived risk; awareness spreads."""
        events, records = today.events, today.filed
        new_aware, new_left = _learn(
            today.day, events.actor, events.behaviour, records.subject, records.behaviour,
            records.points, self.kind,
            self.shaming if self.world.rules.shaming_on(today.day) else self.no_shaming,
            self.world.standing.status, self.flags,
            self.risk, self.ties.offsets, self.ties.neighbours, self.keys, self.params)
        self.n_aware += int(new_aware)
        self.n_left += int(new_left)

    @property
    def left_region(self) -> np.ndarray:
        return (self.flags & LEFT) != 0

    @property
    def aware(self) -> np.ndarray:
        return (self.flags & AWARE) != 0

    @property
    def nbytes(self) -> int:
        return self.flags.nbytes + self.risk.nbytes


@nb.njit(parallel=True, cache=True)
def _init_awareness(flags, risk, key, share):
    n = flags.shape[0]
    count = 0
    for i in nb.prange(n):
        if uniform(key, np.uint64(i), np.uint64(0)) < share:
            flags[i] = AWARE
            risk[i] = RISK_ONE
            count += 1
    return count


@nb.njit(inline="always", cache=True)
def factor(i, b, day, kind, penalty, base_q, points, propensity_keys, sigma, flags, risk,
           keys, params):
    """Probability that person i keeps a due event of behaviour b: the response, in one place."""
    k = kind[b]
    if k == UNTOUCHED:
        return 1.0
    aware = (flags[i] & AWARE) != 0
    if k == FOR_POINTS:
        if not aware or points[b] <= 0.0:
            return 0.0
        if uniform(keys.motivated, np.uint64(i), np.uint64(0)) >= params.motivated_share:
            return 0.0
        return min(1.0, points[b] / params.points_for_full_rate)
    if not aware:
        return 1.0
    q = min(1.0, base_q[b] * risk[i] / RISK_ONE)
    cost = q * penalty[b]
    if k == DETERRED:
        return math.exp(-params.sensitivity * cost)
    # CHILLED: boldness x desire x value against the perceived expected punishment
    s = params.boldness_sigma
    bold = math.exp(s * normal(keys.boldness, np.uint64(i), np.uint64(0)) - 0.5 * s * s)
    desire = 1.0
    if sigma > 0.0:
        desire = math.exp(sigma * propensity_z(propensity_keys[b], np.uint64(i))
                          - 0.5 * sigma * sigma)
    gap = cost - bold * desire * params.value_points
    if gap <= 0.0:
        return 1.0
    return math.exp(-gap / params.temperature)


@nb.njit(parallel=True, cache=True)
def _keep(day, actor, behaviour, kind, penalty, base_q, points, keep_keys, propensity_keys,
          sigma, flags, risk, keys, params):
    n = actor.shape[0]
    keep = np.empty(n, dtype=np.bool_)
    for k in nb.prange(n):
        i = actor[k]
        b = behaviour[k]
        f = factor(i, b, day, kind, penalty, base_q, points, propensity_keys, sigma, flags,
                   risk, keys, params)
        keep[k] = f >= 1.0 or uniform(keep_keys[b], np.uint64(i), np.uint64(day)) < f
    return keep


@nb.njit(parallel=True, cache=True)
def _seen(day, subject, true_actor, behaviour, behaviour_id, channel, camera_channel,
          region_channel, flags, risk, key, camera_avoidance):
    n = subject.shape[0]
    keep = np.ones(n, dtype=np.bool_)
    for r in nb.prange(n):
        c = channel[r]
        a = true_actor[r]
        if region_channel[c] and ((flags[subject[r]] & LEFT) or (a >= 0 and flags[a] & LEFT)):
            keep[r] = False
        elif camera_channel[c] and a >= 0 and (flags[a] & AWARE):
            p = camera_avoidance * min(1.0, risk[a] / RISK_ONE)
            ctr = event_counter(day, behaviour_id[behaviour[r]])
            if uniform(key, np.uint64(a), ctr) < p:
                keep[r] = False
    return keep


@nb.njit(inline="always", cache=True)
def _raise(risk, i, gain):
    risk[i] = min(255, int(risk[i]) + int(round(gain * RISK_ONE)))


@nb.njit(cache=True)
def _learn(day, actor, behaviour, subject, rec_behaviour, rec_points, kind, shaming, status,
           flags, risk, offsets, contacts, keys, params):
    n_people = flags.shape[0]
    new_aware = 0
    new_left = 0
    d = np.uint64(day)
    # punishment avoidance: each offence committed lowers the risk multiplier a little
    decay = params.impunity_decay
    if decay > 0.0:
        for k in range(actor.shape[0]):
            kb = kind[behaviour[k]]
            i = actor[k]
            if (kb == DETERRED or kb == CHILLED) and (flags[i] & AWARE):
                risk[i] = int(round(risk[i] * (1.0 - decay)))
    n_shamed = 0
    has_ties = offsets.shape[0] == n_people + 1
    for r in range(subject.shape[0]):
        if shaming[rec_behaviour[r]]:
            n_shamed += 1
        if rec_points[r] >= 0:
            continue
        s = subject[r]
        if flags[s] & AWARE:
            _raise(risk, s, params.own_gain)
        # a sanction is felt and a face on a shaming screen may be seen; a deduction alone is not
        sanctioned = (status[s] & SANCTIONED) != 0
        if not (flags[s] & AWARE):
            p_tell = params.aware_sanction if sanctioned else (
                params.aware_shaming if shaming[rec_behaviour[r]] else 0.0)
            if uniform(keys.aware_sanction, np.uint64(s), d) < p_tell:
                flags[s] |= AWARE
                risk[s] = RISK_ONE
                new_aware += 1
        if not sanctioned:
            continue
        if params.leave_probability > 0.0 and (status[s] & SANCTIONED) and \
                not (flags[s] & LEFT):
            if uniform(keys.leave, np.uint64(s), d) < params.leave_probability:
                flags[s] |= LEFT
                new_left += 1
        if has_ties:
            for t in range(offsets[s], offsets[s + 1]):
                c = contacts[t]
                if flags[c] & AWARE:
                    _raise(risk, c, params.tie_gain)
                elif uniform(keys.aware_tie, np.uint64(c), d) < params.aware_tie:
                    flags[c] |= AWARE
                    risk[c] = RISK_ONE
                    new_aware += 1
    # publicity: each shamed record reaches publicity_reach random people on average
    reach = n_shamed * params.publicity_reach
    m = int(reach)
    if uniform(keys.publicity, d, np.uint64(1 << 40)) < reach - m:
        m += 1
    for t in range(m):
        j = min(int(uniform(keys.publicity, d, np.uint64(t)) * n_people), n_people - 1)
        if not (flags[j] & AWARE):
            flags[j] |= AWARE
            risk[j] = RISK_ONE
            new_aware += 1
    return new_aware, new_left
