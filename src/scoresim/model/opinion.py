"""Approval of the system: each person's, in [0, 1], moved by what the system does to them.

A scenario with an `opinion:` section gets this module. A person starts at
`opinion.base` plus the shifts of their trait levels (Kostka 2019: about 80%
approve, more among the wealthier, better educated, urban and older), and
each day, after scoring, approval relaxes towards that start, rises with the
positive records filed on them and falls with the negative ones, the more so
when a negative record is wrong (a wrongful sanction). It draws nothing, so
switching it on moves no other output of a run (no shared stream consumed).

With a `surveys:` section it also fields surveys (field_survey) on surveys.days
and every surveys.every days: draws keyed by (seed, "surveys", ...) and (person,
day), no other module's stream. A non-approver's chance of falsifying the
direct answer is surveys.falsify (fear: stated) or, with fear: dissent (auto
where the scenario has `dissent:`), the share of desired dissent that their
best response under the dissent choice holds back today (held_back): the
same thinning the dissent choice applies to critical posts. One row per
survey for everyone and one per level of opinion.breakdown's traits; the rows
fielded so far are part of the checkpointed state.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import pandas as pd

from scoresim.model.module import Module, Today
from scoresim.model.prefetch import AHEAD, prefetch
from scoresim.model.random import stream_key, uniforms
from scoresim.model.world import World


def starting_approval(world: World) -> np.ndarray:
    """base plus every listed trait level's shift, clipped to [0, 1]."""
    o = world.scenario.opinion
    out = np.full(world.n, float(o.base))
    society = world.society
    for trait in sorted(o.by_trait):
        levels = society.levels[trait]
        codes = society.trait(trait)
        for level, shift in o.by_trait[trait].items():
            out[codes == levels.index(level)] += shift
    return np.clip(out, 0.0, 1.0)


# Below this decay factor the deviations are rescaled and their sums taken afresh (a few
# times a run at most; at recovery 0.002 every 4,600 days), so that neither underflows.
RESCALE_BELOW = 1e-4


class Opinion(Module):
    """Everyone's approval, updated daily from the records filed on them.

    Event-driven: between a person's records approval relaxes geometrically
    towards their start, so it is held as start + dev * decay, with one decay
    factor for everyone, multiplied by (1 - recovery) each day, and each
    person's dev touched only on the days records are filed on them. The day's
    means come from running sums of dev per breakdown level, so a day costs
    what its records cost, not the population (at 1M people the dense update
    and the per-group means were half of pilot-city's run). The values are
    those of the daily update up to floating-point rounding.
    """

    name = "opinion"
    section = "opinion"

    @classmethod
    def person_backend(cls, scenario) -> list[str]:
        return ["opinion: the person backend has no approval model (the day loop runs it)"]

    def __init__(self, world: World):
        super().__init__(world)
        o = world.scenario.opinion
        self.n = world.n
        self.o = o
        self.start = starting_approval(world)
        self.dev = np.zeros(self.n)
        self.decay = 1.0
        self.n_wrongful = np.zeros(self.n, dtype=np.int64)
        self.surveys = world.scenario.surveys
        self.rows: list[dict[str, Any]] = []
        self.seed = world.seed
        # breakdown traits: each person's level code, and each level's column name,
        # people and mean starting approval; running sums of dev overall and per level
        society = world.society
        self.breakdown: list[tuple[np.ndarray, list[str], np.ndarray, np.ndarray]] = []
        # the survey rows of each group: "all", then "<trait>=<level>" of opinion.breakdown
        self.survey_groups: list[tuple[str, np.ndarray | None]] = [("all", None)]
        for trait in o.breakdown:
            codes = np.asarray(society.trait(trait))
            levels = list(society.levels[trait])
            size = np.bincount(codes, minlength=len(levels))
            start_sum = np.bincount(codes, weights=self.start, minlength=len(levels))
            self.breakdown.append((codes, [f"approval_{trait}_{lv}" for lv in levels],
                                   size, start_sum))
            for k, level in enumerate(levels):
                self.survey_groups.append((f"{trait}={level}", codes == k))
        # the breakdown's level codes as one [trait, person] array of bytes (a trait has at
        # most 255 levels: society.py), and where each trait's levels start in `sums`
        # (after the overall sum), for _add_by_level: a byte a person and trait rather
        # than eight, which _add_by_level reads at random for each person with a record
        self.level_codes = (np.stack([codes.astype(np.uint8, copy=False) for codes, _, _, _ in
                                      self.breakdown])
                            if self.breakdown else np.zeros((0, self.n), dtype=np.uint8))
        self.breakdown = [(self.level_codes[t], names, size, start_sum)
                          for t, (_, names, size, start_sum) in enumerate(self.breakdown)]
        self.level_offsets = np.cumsum([1] + [size.shape[0] for _, _, size, _ in
                                              self.breakdown]).astype(np.int64)
        self.start_mean = float(self.start.mean()) if self.n else float("nan")
        self.sums = self._sums()
        self.survey_days = survey_days(self.surveys, world.days)
        # with fear from the dissent model the respondents' fear is read on the survey day
        # from the dissent choice (built before this module); it draws nothing either
        self.dissent = None
        if self.surveys is not None and fear_of(world.scenario) == "dissent":
            self.dissent = world.module("dissent")

    @property
    def approval(self) -> np.ndarray:
        """Everyone's approval today (materialised: O(n), for surveys and the people table)."""
        return np.clip(self.start + self.dev * self.decay, 0.0, 1.0)

    def _sums(self) -> np.ndarray:
        """dev summed over everyone, then over each breakdown level, trait by trait."""
        parts = [np.array([self.dev.sum()])]
        parts += [np.bincount(codes, weights=self.dev, minlength=size.shape[0])
                  for codes, _, size, _ in self.breakdown]
        return np.concatenate(parts)

    def step(self, today: Today) -> None:
        """Relax towards the start; rewards raise, sanctions and wrongful ones lower."""
        o = self.o
        decay = self.decay * (1.0 - o.recovery)
        if decay < RESCALE_BELOW:
            self.dev *= decay
            self.decay = 1.0
            self.sums = self._sums()
        else:
            self.decay = decay
        filed = today.filed
        if filed is not None and len(filed.subject):
            self._file(filed)
        if today.day in self.survey_days:
            self.rows.extend(field_survey(self.approval, self.surveys, self.seed, today.day,
                                          self.falsify_probability(), self.survey_groups))

    def _file(self, filed) -> None:
        """Move the approval of the people with records today (and only theirs)."""
        o = self.o
        who, at = people_of(filed.subject, self.n)
        delta = _move(who, at, filed.subject, filed.points, filed.correct, self.start,
                      self.dev, self.decay, float(o.reward), float(o.sanction),
                      float(o.wrongful), self.n_wrongful)
        self.sums[0] += delta.sum()
        if self.breakdown:
            _add_by_level(who, delta, self.level_codes, self.level_offsets, self.sums)

    def falsify_probability(self) -> float | np.ndarray:
        """Each person's chance of answering 'approve' when they do not (surveys.fear)."""
        if self.dissent is None:
            return float(self.surveys.falsify)
        return held_back(self.dissent.action, self.dissent.desired)

    def columns(self) -> list[str]:
        return ["approval", *(name for _, names, _, _ in self.breakdown for name in names)]

    def float_columns(self) -> tuple[str, ...]:
        return tuple(self.columns())

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        row["approval"] = (self.start_mean + self.decay * self.sums[0] / self.n
                           if self.n else float("nan"))
        at = 1
        for _, names, size, start_sum in self.breakdown:
            for j, name in enumerate(names):
                m = size[j]
                row[name] = ((start_sum[j] + self.decay * self.sums[at + j]) / m
                             if m else float("nan"))
            at += size.shape[0]

    def people(self) -> dict[str, Any]:
        return {"approval": self.approval, "n_wrongful_records": self.n_wrongful.copy()}

    def tables(self) -> dict[str, pd.DataFrame]:
        if self.surveys is None:
            return {}
        return {"surveys": pd.DataFrame(self.rows, columns=list(SURVEY_COLUMNS))}

    def state(self) -> dict[str, np.ndarray]:
        """dev, its decay and running sums (so a resumed run is the uninterrupted one bit
        for bit), wrongful counts, and the surveys fielded so far (their rows as arrays)."""
        st = {"approval_dev": self.dev, "approval_decay": np.array([self.decay]),
              "approval_sums": self.sums, "n_wrongful": self.n_wrongful}
        if self.surveys is not None:
            numbers = [c for c in SURVEY_COLUMNS if c != "group"]
            st["survey_values"] = np.array([[float(r[c]) for c in numbers] for r in self.rows],
                                           dtype=np.float64).reshape(len(self.rows), len(numbers))
            st["survey_groups"] = np.array([r["group"] for r in self.rows], dtype=np.str_)
        return st

    def restore(self, st: dict[str, np.ndarray]) -> None:
        if "approval_dev" in st:
            self.dev = np.array(st["approval_dev"], dtype=np.float64)
            self.decay = float(st["approval_decay"][0])
            self.sums = np.array(st["approval_sums"], dtype=np.float64)
        else:  # a checkpoint of the daily update: its approval, as today's deviation
            self.dev = np.array(st["approval"], dtype=np.float64) - self.start
            self.decay = 1.0
            self.sums = self._sums()
        self.n_wrongful = np.array(st["n_wrongful"], dtype=np.int64)
        if self.surveys is not None:
            numbers = [c for c in SURVEY_COLUMNS if c != "group"]
            self.rows = []
            for values, group in zip(st["survey_values"], st["survey_groups"], strict=True):
                row: dict[str, Any] = dict(zip(numbers, (float(v) for v in values), strict=True))
                row["day"], row["n"] = int(row["day"]), int(row["n"])
                self.rows.append({c: (str(group) if c == "group" else row[c])
                                  for c in SURVEY_COLUMNS})

    @property
    def nbytes(self) -> int:
        return self.start.nbytes + self.dev.nbytes + self.n_wrongful.nbytes


SURVEY_COLUMNS = ("day", "group", "n", "true_approval", "direct", "direct_se", "list",
                  "list_se", "falsification_gap")


def fear_of(scenario: Any) -> str:
    """surveys.fear resolved: auto is dissent where the scenario has a dissent section."""
    fear = scenario.surveys.fear
    if fear == "auto":
        return "dissent" if scenario.dissent is not None else "stated"
    return fear


def survey_days(sv: Any, days: int) -> frozenset[int]:
    """The days of the run a survey is fielded on: surveys.days, and every surveys.every."""
    if sv is None:
        return frozenset()
    out = {d for d in sv.days if d < days}
    if sv.every is not None:
        out.update(range(sv.every - 1, days, sv.every))
    return frozenset(out)


def held_back(action: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """The share of desired dissent a best response holds back: 1 - action / desired.

    The dissent choice keeps a critical post with probability action / desired
    (dissent_choice._keep); a disapproving answer to a surveyor is speech too,
    so a non-approver gives it with the same probability and otherwise says
    'approve'. Who wants to say nothing (desired 0) holds nothing back.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        kept = np.where(desired > 0, action / np.where(desired > 0, desired, 1.0), 1.0)
    return np.clip(1.0 - kept, 0.0, 1.0)



def people_of(subject: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(subject, return_inverse=True) for person indices below n: the people,
    in increasing order, and each record's position among them.

    Each record's (subject, position) packed into one integer and sorted: unique keys,
    so any sort gives the one order, and NumPy sorts integers much faster than it
    argsorts them (a third of np.unique's time, at a million people's day of records).
    """
    shift = max(1, (subject.shape[0] - 1).bit_length())
    if (max(n, 1) - 1).bit_length() + shift > 64:
        return np.unique(subject, return_inverse=True)
    keys = _pack_positions(subject, shift)
    keys.sort()
    return _unpack_groups(keys, shift)


@nb.njit(cache=True)
def _pack_positions(subject, shift):
    keys = np.empty(subject.shape[0], dtype=np.uint64)
    for r in range(subject.shape[0]):
        keys[r] = (np.uint64(subject[r]) << np.uint64(shift)) | np.uint64(r)
    return keys


@nb.njit(cache=True)
def _unpack_groups(keys, shift):
    """From sorted (subject << shift | position) keys: the distinct subjects, and each
    position's index among them."""
    n = keys.shape[0]
    who = np.empty(n, dtype=np.int64)
    at = np.empty(n, dtype=np.int64)
    mask = (np.uint64(1) << np.uint64(shift)) - np.uint64(1)
    k = -1
    last = -1
    for j in range(n):
        i = np.int64(keys[j] >> np.uint64(shift))
        if i != last:
            k += 1
            who[k] = i
            last = i
        at[np.int64(keys[j] & mask)] = k
    return who[:k + 1].copy(), at


@nb.njit(cache=True)
def _move(who, at, subject, points, correct, start, dev, decay, reward, sanction, wrongful,
          n_wrongful):
    """Each person of `who` moved by their records today; returns the change of dev.

    One pass instead of a dozen array operations (at a million people they were a
    tenth of pilot-city's run), computing exactly what they computed: the counts of
    rewards, sanctions and wrongful sanctions per person, then clip(start + dev * decay,
    0, 1) plus the change, clipped again, as NumPy's clip does (x if x > 0 else 0, then
    x if x < 1 else 1)."""
    k = who.shape[0]
    n_pos = np.zeros(k, dtype=np.int64)
    n_neg = np.zeros(k, dtype=np.int64)
    n_wrong = np.zeros(k, dtype=np.int64)
    for r in range(at.shape[0]):
        p = points[r]
        if p > 0:
            n_pos[at[r]] += 1
        elif p < 0:
            n_neg[at[r]] += 1
            if not correct[r]:
                n_wrong[at[r]] += 1
                n_wrongful[subject[r]] += 1
    delta = np.empty(k)
    for j in range(k):
        if j + AHEAD < k:  # the approval of a person to come (prefetch.py)
            prefetch(start, who[j + AHEAD])
            prefetch(dev, who[j + AHEAD])
        i = who[j]
        change = n_pos[j] * reward - n_neg[j] * sanction - n_wrong[j] * wrongful
        s = start[i]
        old = dev[i]
        now = s + old * decay
        now = now if now > 0.0 else 0.0
        now = now if now < 1.0 else 1.0
        now = now + change
        now = now if now > 0.0 else 0.0
        now = now if now < 1.0 else 1.0
        new = (now - s) / decay
        dev[i] = new
        delta[j] = new - old
    return delta


@nb.njit(cache=True)
def _add_by_level(who, delta, level_codes, offsets, sums):
    """sums[level] += delta summed over each breakdown level, trait by trait, in the order
    of np.bincount(codes[who], weights=delta) added to sums (the same rounding)."""
    for t in range(level_codes.shape[0]):
        lo = offsets[t]
        part = np.zeros(offsets[t + 1] - lo)
        for j in range(who.shape[0]):
            part[level_codes[t, who[j]]] += delta[j]
        for m in range(part.shape[0]):
            sums[lo + m] += part[m]

def field_survey(approval: np.ndarray, sv: Any, seed: int, day: int,
                 falsify: float | np.ndarray | None = None,
                 groups: list[tuple[str, np.ndarray | None]] | None = None,
                 ) -> list[dict[str, Any]]:
    """One survey: a keyed sample asked directly and by a list experiment (difference of means).

    Each respondent holds 'approve' with probability their approval (a keyed
    uniform); directly, a non-approver says 'approve' with probability
    `falsify` (a number, or one per person: surveys.fear; default
    sv.falsify); in the list experiment the treated half adds the sensitive
    item to the control items' count, truthfully (the count hides it). One
    row per group: "all", then each (name, people mask) of `groups` over the
    same respondents. The draws are keyed by (person, day), so who is asked
    and what they hold do not depend on the fear rule or the groups.
    """
    n = approval.shape[0]
    people = np.arange(n, dtype=np.uint64)
    d = np.uint64(day)
    pick = uniforms(stream_key(seed, "surveys", "sample"), people, d)
    sample = smallest(pick, min(sv.sample, n))
    counters = sample.astype(np.uint64)
    holds = uniforms(stream_key(seed, "surveys", "holds"), counters, d) < approval[sample]
    p = sv.falsify if falsify is None else falsify
    p = p[sample] if isinstance(p, np.ndarray) else p
    lie = uniforms(stream_key(seed, "surveys", "falsify"), counters, d) < p
    said = holds | lie
    treated = uniforms(stream_key(seed, "surveys", "arm"), counters, d) < 0.5
    count = np.zeros(sample.shape[0])
    for j, q in enumerate(sv.control):
        count += uniforms(stream_key(seed, "surveys", f"item:{j}"), counters, d) < q
    count += treated & holds
    rows = []
    for name, mine in (groups or [("all", None)]):
        sub = np.ones(sample.shape[0], dtype=bool) if mine is None else mine[sample]
        rows.append(estimates(day, name, holds[sub], said[sub], treated[sub], count[sub]))
    return rows


def smallest(values: np.ndarray, k: int) -> np.ndarray:
    """np.argsort(values, kind="stable")[:k], the positions of the k smallest values in
    order (ties by position), without sorting them all: a partition finds the k-th
    value and only the k up to it are sorted (a survey of 2,000 people out of a million
    sorted a million numbers, a tenth of a second each time).
    """
    n = values.shape[0]
    if k >= n:
        return np.argsort(values, kind="stable")
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    cut = np.partition(values, k - 1)[k - 1]
    below = np.flatnonzero(values < cut)  # fewer than k
    at = np.flatnonzero(values == cut)[: k - below.shape[0]]
    picked = np.concatenate([below, at])  # increasing positions within each part
    return picked[np.argsort(values[picked], kind="stable")]


def estimates(day: int, group: str, holds: np.ndarray, said: np.ndarray, treated: np.ndarray,
              count: np.ndarray) -> dict[str, Any]:
    """One group's row: true share, direct share (binomial SE), list estimate (its SE), gap."""
    m = holds.shape[0]
    t, c = count[treated], count[~treated]
    nan = float("nan")
    direct = float(said.mean()) if m else nan
    ok = len(t) > 1 and len(c) > 1
    lst = float(t.mean() - c.mean()) if ok else nan
    lse = float(np.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c))) if ok else nan
    return {"day": day, "group": group, "n": m,
            "true_approval": float(holds.mean()) if m else nan,
            "direct": direct, "direct_se": float(np.sqrt(direct * (1 - direct) / m)) if m else nan,
            "list": lst, "list_se": lse, "falsification_gap": direct - lst}
