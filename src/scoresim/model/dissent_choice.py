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
for a record of that behaviour (its points, and the felt cost of the list or
media suspension it triggers), and the surveillance what its channel records.

Desired dissent and boldness are functions of (seed, person) and the
scenario's means alone, never of the policy: two runs differing only in
severity give every person the same desire and boldness.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from scoresim.model.dissent import (
    LOWER,
    UPPER,
    action_category,
    draw_population,
    keeps_move,
    optimal_action,
    play_round,
    propose_policy,
    punishment_code,
    truncated_exponential_quantile,
)
from scoresim.model.dissent_rounds import random_start
from scoresim.model.module import Module, Today
from scoresim.model.random import stream_key, uniform, uniforms
from scoresim.model.rulebook import Rulebook
from scoresim.model.world import World
from scoresim.scenario.schema import Scenario, dissent_behaviours

COUNT_COLUMNS = ("n_compliant", "n_self_censoring", "n_defiant")
AUTHORITY_COLUMNS = ("tolerance", "severity", "surveillance", "political_cost",
                     "punishment_cost")


def scenario_policy(scenario: Scenario, rules: Rulebook) -> tuple[float, float, float]:
    """(tolerance, severity, surveillance) a person weighs, from the scenario's own rules.

    Severity: the points a record of the driven behaviour takes off (the
    rulebook's scoring points) plus `sanction_points` if its record lists or
    suspends (the rulebook's triggers), over `points_per_severity`.
    Surveillance: the chance its channel records an act (a register's
    record_probability; a camera's capture probability times its face
    recognition's true-match rate); no channel, nothing seen. Tolerance is the
    section's own: a scenario whose every recorded critic is punished sets 0.
    """
    d = scenario.dissent
    (name,) = dissent_behaviours(scenario)
    b = list(scenario.behaviours).index(name)
    points = max(0.0, -float(rules.scoring_points[b]))
    sanction = d.sanction_points if bool(rules.imposing[b]) else 0.0
    severity = (points + sanction) / d.points_per_severity
    channel = scenario.behaviours[name].channel
    if channel is None:
        surveillance = 0.0
    else:
        c = scenario.channels[channel]
        surveillance = (c.capture_probability * scenario.face_recognition[c.face_recognition].tmr
                        if c.kind == "camera" else c.record_probability)
    return float(d.tolerance), float(severity), float(min(1.0, surveillance))


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
    return desired, -means(d.boldness) * np.log(u_b)


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
        if d.from_scenario:
            start = scenario_policy(scenario, world.rules)
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
        for b in dissent_behaviours(scenario):
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
                today.events = type(events)(events.day, events.actor[keep],
                                            events.behaviour[keep])

    def _play(self, r: int) -> None:
        """Round r, as dissent.run_rounds plays it: propose, respond, count, keep or revert."""
        if self.adapt is not None and r > 0:
            policy = propose_policy(self.kept, uniform(self.adapt_key, np.uint64(r), np.uint64(0)),
                                    uniform(self.adapt_key, np.uint64(r), np.uint64(1)),
                                    self.step_size, LOWER, UPPER)
        else:
            policy = self.kept.copy()
        total, n_c, n_s, n_d, pun = play_round(self.desired, self.boldness, policy[0], policy[1],
                                               policy[2], self.kind, self.observe_key, r)
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
        self.action = optimal_action(self.desired, self.boldness, p[0], p[1], p[2], self.kind)

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
