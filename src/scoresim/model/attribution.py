"""Which wrong records made the difference: every wrongful sanction traced to its cause.

A sanction is wrongful on a day when it is in force and the person's correctly
attributed records alone would not impose it (a travel ban: the rulebook's own
WRONGLY_BANNED judgement). Knowing that is not knowing why. A person may have
a face-recognition false match, a keyword false flag and a malicious report in
their file, and only one of them may have mattered. So the file is replayed
(model/replay.py, the rulebook's own functions) once more for each kind of
error in it, with that kind's records taken out: a kind *made the difference*
when, without its records, the sanction is wrongful on none of the days it
was. The cause is that kind; `several` when more than one kind was needed (each
alone ends it) or when no single kind was (each alone would have sufficed).

Joint punishment reaches people through someone else's listing (model/
joint_punishment.py): a child's school ban, a legal representative's bans,
points taken off a relative's score. Those are sanctions for something the
person did not do; their cause is `collateral`, and the listing behind them is
named (`cause_person`, `cause_firm`). Points taken off a relative are replayed
as entries of their own (kind `collateral`), so a ban they tip over is
attributed like any other.

What the file does not hold is not replayed: downgrades by hand (abuse) and
peer ratings change a standing without a record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scoresim.model.observation import ERRORS, NO_ERROR
from scoresim.model.replay import Day, Filed, replay
from scoresim.model.rulebook import (
    BANNED,
    CONSUMPTION_BANNED,
    LISTED,
    SUSPENDED,
    WRONGLY_BANNED,
    Rulebook,
)

# the sanctions a person's own file can impose, by the names the sanctions log uses
OWN_SANCTIONS = {"travel_ban": BANNED, "dishonest_list": LISTED,
                 "consumption_ban": CONSUMPTION_BANNED, "media_suspension": SUSPENDED}
SHAMING = "shaming"
SCHOOL_BAN = "school_ban"
#: every sanction a wrongful.parquet row may name, in the order tables show them
SANCTIONS = ("travel_ban", "dishonest_list", "consumption_ban", "media_suspension", SHAMING,
             SCHOOL_BAN)
NONE = ERRORS[NO_ERROR]
SEVERAL = "several"
COLLATERAL = "collateral"
#: every cause, in the order tables show them: the error kinds, then these two
CAUSES = tuple(ERRORS[1:]) + (SEVERAL, COLLATERAL)
#: the channel named for a collateral sanction (it came through no channel of one's own)
JOINT_PUNISHMENT = "joint_punishment"


@dataclass(frozen=True)
class Entry:
    """One entry of a person's file: the replay's record, and what kind of error it is."""

    filed: Filed
    error: str  # an ERRORS name, or COLLATERAL for points taken through a relative
    channel: str


@dataclass(frozen=True)
class Wrongful:
    """One wrongly sanctioned person and sanction, with what made the difference."""

    sanction: str
    cause: str
    channel: str
    points: int  # the deciding entries' points
    first_day: int  # the first day it was wrongful
    days: int  # days it was wrongful (shaming: wrong records shown)
    at_end: bool  # wrongful on the last day of the run
    cause_person: int = -1  # collateral: the listed person whose listing reached them
    cause_firm: int = -1  # collateral: the listed firm


def status_by_day(timeline: list[Day], days: int, start: int) -> np.ndarray:
    """A replay's status bits on every day of the run (`start`: before anything happened)."""
    out = np.full(days, start, dtype=np.int64)
    for k, d in enumerate(timeline):
        end = timeline[k + 1].day if k + 1 < len(timeline) else days
        out[d.day:end] = d.status
    return out


def wrongful_mask(status: np.ndarray, true_status: np.ndarray, bit: int) -> np.ndarray:
    """Days a sanction is in force and would not be on the correct records alone.

    A travel ban is also wrongful where the rulebook says so itself (WRONGLY_BANNED,
    what the engine counts); the comparison with the replay of the correct records
    adds bans that points taken through a relative tipped over.
    """
    on = (status & bit) != 0
    wrong = on & ((true_status & bit) == 0)
    if bit == BANNED:
        wrong |= on & ((status & WRONGLY_BANNED) != 0)
    return wrong


class Attributor:
    """Replays of one scenario's files under its rulebook, for one run's length."""

    def __init__(self, rules: Rulebook, days: int):
        self.rules = rules
        self.days = days
        self.shame_trigger = rules.shame_trigger

    def _status(self, entries: Sequence[Entry], person: int, scheme: int) -> np.ndarray:
        start = self.rules.status_bits(0, int(self.rules.schemes.initial[scheme]), 0, 0, 0,
                                       scheme=scheme)
        timeline = replay([e.filed for e in entries], self.rules, person, self.days, scheme)
        return status_by_day(timeline, self.days, start)

    def attribute(self, entries: Sequence[Entry], person: int, scheme: int = 0
                  ) -> tuple[list[Wrongful], np.ndarray]:
        """The person's wrongful sanctions from their own file, and their status by day.

        `entries` in filing order. Collateral bans (school, legal representative) are
        not in the file: `collateral` adds them, given the status returned here.
        """
        actual = self._status(entries, person, scheme)
        wrong = [e for e in entries if e.error != NONE]
        if not wrong:
            return [], actual
        truth = self._status([e for e in entries if e.error == NONE], person, scheme)
        kinds = sorted({e.error for e in wrong})
        without: dict[str, np.ndarray] = {}  # replays without one kind, made when needed
        out: list[Wrongful] = []
        for sanction, bit in OWN_SANCTIONS.items():
            mask = wrongful_mask(actual, truth, bit)
            if not mask.any():
                continue
            if len(kinds) == 1:
                decisive = kinds
            else:
                decisive = []
                for k in kinds:
                    if k not in without:
                        without[k] = self._status([e for e in entries if e.error != k],
                                                  person, scheme)
                    if not (wrongful_mask(without[k], truth, bit) & mask).any():
                        decisive.append(k)
            days_on = np.flatnonzero(mask)
            first, last = int(days_on[0]), int(days_on[-1])
            deciding = [e for e in wrong if e.error in (decisive or kinds)]
            timely = [e for e in deciding
                      if e.filed.day <= last and e.filed.expires > first]
            out.append(self._row(sanction, decisive, timely or deciding, first,
                                 int(days_on.shape[0]), bool(mask[-1])))
        shown = [e for e in wrong if self.shame_trigger[e.filed.behaviour]
                 and e.error != COLLATERAL and e.filed.day < self.days
                 and self.rules.shaming_on(e.filed.day)]
        if shown:
            kinds_shown = sorted({e.error for e in shown})
            out.append(self._row(SHAMING, kinds_shown if len(kinds_shown) == 1 else [], shown,
                                 min(e.filed.day for e in shown), len(shown),
                                 any(e.filed.day == self.days - 1 for e in shown)))
        return out, actual

    @staticmethod
    def _row(sanction: str, decisive: list[str], deciding: list[Entry], first: int, days: int,
             at_end: bool) -> Wrongful:
        cause = decisive[0] if len(decisive) == 1 else SEVERAL
        channels = {e.channel for e in deciding}
        channel = channels.pop() if len(channels) == 1 else SEVERAL
        return Wrongful(sanction, cause, channel, int(sum(e.filed.points for e in deciding)),
                        first, days, at_end)

    def collateral(self, sanction: str, bit: int, spans: Sequence[tuple[int, int, int, int]],
                   actual: np.ndarray) -> Wrongful | None:
        """A collateral ban as a wrongful sanction: `spans` of (day, until, cause_person,
        cause_firm) that bound the person; the days it binds them and their own file
        (`actual`, status by day) does not already (a school ban: every day it binds)."""
        mask = np.zeros(self.days, dtype=bool)
        for day, until, _, _ in spans:
            mask[max(day, 0):min(until, self.days)] = True
        if bit:
            mask &= (actual & bit) == 0
        if not mask.any():
            return None
        days_on = np.flatnonzero(mask)
        first = int(days_on[0])
        cause = min((s for s in spans if s[0] <= first < s[1]), key=lambda s: s[0],
                    default=spans[0])
        return Wrongful(sanction, COLLATERAL, JOINT_PUNISHMENT, 0, first,
                        int(days_on.shape[0]), bool(mask[-1]), int(cause[2]), int(cause[3]))


def merge(own: Wrongful, other: Wrongful) -> Wrongful:
    """One person's two wrongful rows for one sanction (their file's and a collateral one)."""
    first = min(own.first_day, other.first_day)
    return Wrongful(own.sanction, SEVERAL, SEVERAL, own.points + other.points, first,
                    max(own.days, other.days), own.at_end or other.at_end,
                    other.cause_person, other.cause_firm)
