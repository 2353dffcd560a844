"""The dissent choice in the engine: every person's best response to the authority, each round.

A scenario with a `dissent:` section gets this module. Each round (a day,
unless `dissent.round_days` says more) every person chooses the expressed
dissent that is optimal for them under the authority's policy, by the closed
form of Daymude, Axelrod & Forrest (scoresim.model.dissent, docs/dissent.md);
an adaptive authority (`dissent.adapt`) moves its policy round by round by the
paper's local search. The round is the same computation as the standalone
runner's (dissent_rounds.play, the same kernels and the same keyed draws), so
a scenario of the paper's set-up gives the runner's numbers round for round.

Inside the social credit system the choice drives critical speech: each due
event of a driven behaviour (`dissent.behaviours`, by default every `speech:
true` one) is kept with probability dissent / desired_dissent, decided by a
uniform keyed by (seed, "dissent", "keep:<behaviour>") and (person, day). The
behaviour's clock runs at the rate of saying all one wants, so without
punishment nobody holds anything back, and with it what a person says is a
subset of what they would say without the system (common random numbers).
With `dissent.from_scenario` the punishment a person weighs is the rulebook's
for a record of that behaviour (its points under their scheme, and the felt
cost of each sanction it brings on: media suspension, listing and its bans, the
travel ban of the grade its points lead to), and the surveillance what its
channel records (weighed_severity, weighed_surveillance). With
`dissent.response: chilling` the choice is computed and reported but thins
nothing: responses.chilling drives the speech instead.

Desired dissent and boldness are functions of (seed, person) and the
scenario's means alone, never of the policy: two runs differing only in
severity give every person the same desire and boldness.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from scoresim.model import portable_math
from scoresim.model.dissent import (
    COMPLIANT,
    DEFIANT,
    LOWER,
    UNIFORM,
    UPPER,
    action_category,
    category_one,
    draw_population,
    keeps_move,
    optimal_action,
    optimal_action_one,
    play_round,
    propose_policy,
    punishment_code,
    truncated_exponential_quantile,
)
from scoresim.model.dissent_rounds import random_start
from scoresim.model.module import Module, Today
from scoresim.model.random import stream_key, uniform, uniforms
from scoresim.model.rulebook import Rulebook, grade_name
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario, dissent_behaviours, dissent_drives

COUNT_COLUMNS = ("n_compliant", "n_self_censoring", "n_defiant")
AUTHORITY_COLUMNS = ("tolerance", "severity", "surveillance", "political_cost",
                     "punishment_cost")


def weighed_severity(scenario: Scenario, rules: Rulebook) -> np.ndarray:
    """The severity a person weighs for a record of the driven behaviour, one per scheme.

    What the rulebook does to a person at the initial score whose act is
    recorded, in points over `points_per_severity`: the points it takes off
    under their scheme, plus `sanction_points` for each sanction the record
    brings on: a media suspension or a listing it triggers, the travel and
    consumption bans a listing carries, and a travel ban of the grade its points
    lead to from the initial score (where the initial grade has none). Every
    term is read from the rulebook's tables, none restated. A region without a
    pilot scores nothing: only the national sanctions remain.
    """
    d = scenario.dissent
    (name,) = dissent_behaviours(scenario)
    b = rules.behaviour_names.index(name)
    schemes, status = rules.schemes, rules.status
    listed = bool(rules.list_trigger[b]) and bool(status.list_enabled)
    out = np.zeros(len(schemes.names))
    for k in range(len(schemes.names)):
        scored = bool(schemes.enabled and schemes.scored[k])
        points = max(0, -int(schemes.points[k, b])) if scored else 0
        travel = listed and bool(status.travel_list)
        if scored and points > 0:
            start = int(schemes.initial[k])
            before = grade_index_at(rules, start, k)
            after = grade_index_at(rules, start - points, k)
            travel |= bool(status.travel_grades[k, after]) and not bool(
                status.travel_grades[k, before])
        n = (int(bool(rules.media_trigger[b])) + int(listed) + int(travel)
             + int(listed and bool(status.consumption_list)))
        out[k] = (points + n * d.sanction_points) / d.points_per_severity
    return out


def grade_index_at(rules: Rulebook, score: int, scheme: int) -> int:
    """The grade position (0: the top) of a score under one of the rulebook's schemes."""
    return rules.schemes.grade_names[scheme].index(grade_name(rules, score, scheme))


def weighed_surveillance(scenario: Scenario) -> float:
    """The chance the driven behaviour's channel records an act: its recall.

    A register's record_probability (the online filter's recall: the share of
    critical posts it files), a camera's capture probability times its face
    recognition's true-match rate; no channel, nothing seen. The channel's
    false flags on benign acts are not counted (they punish regardless of what
    one says).
    """
    (name,) = dissent_behaviours(scenario)
    channel = scenario.behaviours[name].channel
    if channel is None:
        return 0.0
    c = scenario.channels[channel]
    seen = (c.capture_probability * scenario.face_recognition[c.face_recognition].tmr
            if c.kind == "camera" else c.record_probability)
    return float(min(1.0, seen))


def scenario_policy(scenario: Scenario, rules: Rulebook,
                    scheme: int = 0) -> tuple[float, float, float]:
    """(tolerance, severity, surveillance) a person of `scheme` weighs, from the scenario's rules.

    Severity: weighed_severity's; surveillance: weighed_surveillance's.
    Tolerance is the section's own: a scenario whose every recorded critic is
    punished sets 0.
    """
    severity = weighed_severity(scenario, rules)[scheme]
    return (float(scenario.dissent.tolerance), float(severity),
            weighed_surveillance(scenario))


def draw_people(world: World) -> tuple[np.ndarray, np.ndarray]:
    """Everyone's (desired dissent, boldness): the paper's draws, with per-trait means.

    The uniforms are those of dissent.draw_population (keyed by seed and
    person), so without `by_trait` the two give the same people; a person's
    mean is that of the first trait (in name order) listing their level.
    """
    d = world.scenario.dissent
    n, seed = world.n, world.seed
    if not d.desired.by_trait and not d.boldness.by_trait:
        return draw_population(n, seed, d.desired.mean, d.boldness.mean)
    people = np.arange(n, dtype=np.uint64)
    u_d = uniforms(stream_key(seed, "dissent", "desired"), people, np.uint64(0))
    u_b = uniforms(stream_key(seed, "dissent", "boldness"), people, np.uint64(0))

    def means(part) -> np.ndarray:
        out = np.full(n, part.mean)
        done = np.zeros(n, dtype=np.bool_)
        society = world.society
        for trait in sorted(part.by_trait):
            levels = society.levels[trait]
            codes = society.trait(trait)
            for level, mean in part.by_trait[trait].items():
                mine = (codes == levels.index(level)) & ~done
                out[mine] = mean
                done |= mine
        return out

    m_d = means(d.desired)
    desired = np.empty(n)
    for mean in np.unique(m_d):
        mine = m_d == mean
        desired[mine] = truncated_exponential_quantile(u_d[mine], float(mean))
    return desired, -means(d.boldness) * portable_math.log(u_b)


class DissentChoice(Module):
    """Each round, each person's expressed dissent; an authority that may adapt; speech thinned."""

    name = "dissent"
    section = "dissent"

    @classmethod
    def person_backend(cls, scenario: Scenario) -> list[str]:
        why = ["dissent: the person backend has no dissent choice (the day loop runs it)"]
        if scenario.dissent.adapt is not None:
            why.append("dissent.adapt: the authority's policy depends on everyone's last round")
        return why

    def __init__(self, world: World):
        super().__init__(world)
        scenario, seed = world.scenario, world.seed
        d = scenario.dissent
        self.n = world.n
        self.kind = punishment_code(d.punishment)
        self.round_days = d.round_days
        self.adapt = d.adapt
        self.adamancy = d.adapt.adamancy if d.adapt is not None else 1.0
        self.step_size = d.adapt.step if d.adapt is not None else 0.0
        self.desired, self.boldness = draw_people(world)
        # with regions, each person weighs their own scheme's rules (no adaptive authority then)
        self.severity_of: np.ndarray | None = None
        if d.from_scenario:
            start = scenario_policy(scenario, world.rules)
            per_scheme = weighed_severity(scenario, world.rules)
            of_person = world.rules.schemes.of_person
            if len(per_scheme) > 1 and of_person.shape[0] == self.n:
                self.severity_of = per_scheme[of_person].astype(np.float64)
                start = (start[0], float(self.severity_of.mean()), start[2])
        else:
            start = (d.tolerance, d.severity, d.surveillance)
        if d.adapt is not None and d.adapt.start == "random":
            start = tuple(random_start(seed, 0).vector())
        self.kept = np.array(start, dtype=np.float64)
        self.policy = self.kept.copy()
        self.previous = 0.0
        self.round = -1
        self.said = 0.0
        self.counts = np.zeros(3, dtype=np.int64)
        self.punished = 0.0
        self.observe_key = stream_key(seed, "dissent", "observe")
        self.adapt_key = stream_key(seed, "dissent", "adapt")
        names = list(scenario.behaviours)
        self.driven = np.zeros(len(names), dtype=np.bool_)
        for b in dissent_drives(scenario):
            self.driven[names.index(b)] = True
        self.keep_keys = np.array([stream_key(seed, "dissent", f"keep:{b}") for b in names],
                                  dtype=np.uint64)
        self.action = self.desired.copy()

    # the day ------------------------------------------------------------------------
    def step(self, today: Today) -> None:
        """A new round's choice (and the authority's move) on its first day; speech thinned."""
        if today.day % self.round_days == 0:
            self._play(today.day // self.round_days)
        events = today.events
        if events is not None and len(events) and self.driven.any():
            keep = _keep(today.day, events.actor, events.behaviour, self.driven, self.keep_keys,
                         self.action, self.desired)
            if not keep.all():
                today.events = events.kept(keep)

    def _play(self, r: int) -> None:
        """Round r, as dissent.run_rounds plays it: propose, respond, count, keep or revert.

        A fixed authority's policy never moves, so after round 0 every person's
        choice, the counts and the dissent said are round 0's again: only the
        round's number is kept (the punishment handed out, which differs by
        round, is reported only for an adaptive authority).
        """
        if self.adapt is None and self.round >= 0:
            self.round = r
            return
        if self.adapt is not None and r > 0:
            policy = propose_policy(self.kept, uniform(self.adapt_key, np.uint64(r), np.uint64(0)),
                                    uniform(self.adapt_key, np.uint64(r), np.uint64(1)),
                                    self.step_size, LOWER, UPPER)
        else:
            policy = self.kept.copy()
        if self.severity_of is None:
            total, n_c, n_s, n_d, pun = play_round(self.desired, self.boldness, policy[0],
                                                   policy[1], policy[2], self.kind,
                                                   self.observe_key, r)
        else:
            total, n_c, n_s, n_d, pun = _play_each(self.desired, self.boldness, policy[0],
                                                   self.severity_of, policy[2], self.kind,
                                                   self.observe_key, r)
        cost = self.adamancy * total + pun
        if r == 0 or keeps_move(cost, self.previous):
            self.kept = policy
        self.previous = cost
        self.policy = policy
        self.round = r
        self.said, self.punished = float(total), float(pun)
        self.counts[:] = (n_c, n_s, n_d)
        self._respond()

    def _respond(self) -> None:
        p = self.policy
        severity = p[1] if self.severity_of is None else self.severity_of
        self.action = optimal_action(self.desired, self.boldness, p[0], severity, p[2],
                                     self.kind)

    # outputs --------------------------------------------------------------------------
    def columns(self) -> list[str]:
        extra = list(AUTHORITY_COLUMNS) if self.adapt is not None else []
        return ["mean_dissent", *COUNT_COLUMNS, *extra]

    def float_columns(self) -> tuple[str, ...]:
        return ("mean_dissent",) + AUTHORITY_COLUMNS

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        row["mean_dissent"] = self.said / self.n
        for name, count in zip(COUNT_COLUMNS, self.counts, strict=True):
            row[name] = int(count)
        if self.adapt is not None:
            row["tolerance"], row["severity"], row["surveillance"] = (float(x)
                                                                      for x in self.policy)
            row["political_cost"] = self.adamancy * self.said
            row["punishment_cost"] = self.punished

    def people(self) -> dict[str, Any]:
        return {"desired_dissent": self.desired, "boldness": self.boldness,
                "dissent": self.action}

    def categories(self) -> np.ndarray:
        """Each person's category in the current round (dissent.CATEGORIES' codes)."""
        return action_category(self.action, self.desired, self.policy[0])

    def state(self) -> dict[str, np.ndarray]:
        return {"kept": self.kept, "policy": self.policy, "counts": self.counts,
                "scalars": np.array([self.previous, self.round, self.said, self.punished])}

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.kept = np.array(st["kept"], dtype=np.float64)
        self.policy = np.array(st["policy"], dtype=np.float64)
        self.counts[:] = st["counts"]
        previous, rnd, said, punished = (float(x) for x in st["scalars"])
        self.previous, self.round, self.said, self.punished = previous, int(rnd), said, punished
        self._respond()

    @property
    def nbytes(self) -> int:
        return self.desired.nbytes + self.boldness.nbytes + self.action.nbytes


@nb.njit(parallel=True, cache=True)
def _keep(day, actor, behaviour, driven, keep_keys, action, desired):
    """Keep each due event of a driven behaviour with probability dissent / desired dissent."""
    n = actor.shape[0]
    keep = np.ones(n, dtype=np.bool_)
    for k in nb.prange(n):
        b = behaviour[k]
        if not driven[b]:
            continue
        i = actor[k]
        want = desired[i]
        if want <= 0.0 or action[i] >= want:
            continue
        keep[k] = uniform(keep_keys[b], np.uint64(i), np.uint64(day)) < action[i] / want
    return keep


@nb.njit(cache=True)
def _play_each(desired, boldness, tau, severity, nu, kind, observe_key, rnd):
    """dissent.play_round with a severity per person (each weighs their own scheme's rules)."""
    total = 0.0
    punished = 0.0
    n_c = 0
    n_s = 0
    n_d = 0
    r = np.uint64(rnd)
    for i in range(desired.shape[0]):
        d = desired[i]
        psi = severity[i]
        a = optimal_action_one(d, boldness[i], tau, psi, nu, kind)
        total += a
        c = category_one(a, d, tau)
        if c == COMPLIANT:
            n_c += 1
        elif c == DEFIANT:
            n_d += 1
        else:
            n_s += 1
        if a > tau and uniform(observe_key, np.uint64(i), r) < nu + (1.0 - nu) * a:
            punished += psi if kind == UNIFORM else psi * (a - tau)
    return total, n_c, n_s, n_d, punished
