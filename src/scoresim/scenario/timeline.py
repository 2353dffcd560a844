"""The scenario's timeline: policy that changes on given dates.

A scenario may say which date its day 0 is (`origin: YYYY-MM-DD`) and list
changes (`timeline:`). Each change starts on a `date` (needs the origin) or a
`day`, and sets one or more of the dotted paths `--set` takes to new values
(`set:`), at once or, with `ramp_days: N`, linearly over N days (on day d + j
the value is a + (b - a)(j + 1)/N, so day d + N - 1 has the new value b; a is
the value in force the day before).

Which paths may change during a run is a closed list (TIME_VARYING), because
each needs the modules that read it to read it on the day:

- a rate that drives a clock (`behaviours.<b>.rate`,
  `sanctions.dishonest_list.repayment_rate`): the engine keeps the run
  event-driven and its random numbers common (model/timeline.py says how);
- a value read when something happens (`sanctions.dishonest_list.duration_days`
  when a listing is made, `channels.<c>.record_probability` and
  `capture_probability` when an event is seen): the rule reads the day's value.

- a switch (`channels.<c>.enabled`, `sanctions.travel_ban.enabled`,
  `sanctions.consumption_ban.enabled`, `sanctions.dishonest_list.enabled`,
  `sanctions.media_suspension.enabled`, `sanctions.shaming.enabled`,
  `schemes.<s>.enabled`: true or
  false): a section turned off and on by date. `enabled` is not a field of
  the section; it is true from day 0 and only a timeline sets it. A channel
  switched off sees nothing from that day (records, false flags, made-up
  reports: none; a record of an earlier day still in its filing delay is
  filed). A ban switched off is lifted that day
  from everyone under it, and nobody is put under it while it is off; switched
  on again, it is re-derived that day from each person's standing (grade and
  listing), exactly as if it had never been off, since a ban is a pure
  function of the standing (rulebook.status_of). The list and media
  suspension likewise: the standing keeps the listings and suspensions the
  records make, the status shows none while off. Shaming switched off shows no
  record filed while it is off (counts, awareness and publicity from the
  screens, wrongful shaming: none of those days' records); a record filed
  while it is on was shown. A pilot scheme switched off
  grades nobody (its people as in a region without a pilot).

Other sections are switched through their values: a behaviour stops with
`rate: 0`, the list stops listing when its triggers' rates are 0. Each section
is present in the scenario from day 0, so everything it needs is built; a
timeline moves its numbers and switches, never its shape. Anything else is
refused (exit 2) with the paths that can change.

Every entry may carry `source:` (a citation, or "assumption"), and a `name:`
(unique in the timeline). A name keys the change's random streams, and it is how
`--set` and calibration's `--param` reach the entry: `timeline.<name>.set.<path>`,
`timeline.<name>.day`. A position (`timeline.3...`) still works, but positions
shift when an entry is added before it and a name does not.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# path patterns that may change during a run, and what each is: "rate" (drives a clock),
# "value" (read on the day it is used)
TIME_VARYING: tuple[tuple[str, str, str], ...] = (
    (r"behaviours\.([A-Za-z][A-Za-z0-9_\-]*)\.rate", "rate", "behaviours.<name>.rate"),
    (r"sanctions\.dishonest_list\.repayment_rate", "rate",
     "sanctions.dishonest_list.repayment_rate"),
    (r"sanctions\.dishonest_list\.duration_days", "value",
     "sanctions.dishonest_list.duration_days"),
    (r"channels\.([A-Za-z][A-Za-z0-9_\-]*)\.record_probability", "value",
     "channels.<name>.record_probability"),
    (r"channels\.([A-Za-z][A-Za-z0-9_\-]*)\.capture_probability", "value",
     "channels.<name>.capture_probability"),
    (r"channels\.([A-Za-z][A-Za-z0-9_\-]*)\.enabled", "switch", "channels.<name>.enabled"),
    (r"sanctions\.(travel_ban|consumption_ban|dishonest_list|media_suspension|shaming)"
     r"\.enabled", "switch",
     "sanctions.<travel_ban|consumption_ban|dishonest_list|media_suspension|shaming>.enabled"),
    (r"schemes\.([A-Za-z][A-Za-z0-9_\-]*)\.enabled", "switch", "schemes.<name>.enabled"),
)
# the sections a switch path turns on and off: every one is on from day 0 (a switch has no
# value in the scenario itself: `enabled` is the timeline's, and is true until a change)
SWITCHES: tuple[tuple[str, str], ...] = (
    (r"channels\.([A-Za-z][A-Za-z0-9_\-]*)\.enabled", "channels"),
    (r"sanctions\.(travel_ban|consumption_ban|dishonest_list|media_suspension|shaming)"
     r"\.enabled", "sanctions"),
    (r"schemes\.([A-Za-z][A-Za-z0-9_\-]*)\.enabled", "schemes"),
)
CHANGEABLE = ", ".join(t[2] for t in TIME_VARYING)


def kind_of(path: str) -> str | None:
    """'rate' or 'value' for a path a timeline may change; None for any other."""
    for pattern, kind, _ in TIME_VARYING:
        if re.fullmatch(pattern, path):
            return kind
    return None


def switch_of(path: str) -> tuple[str, str] | None:
    """(section kind, name) for a switch path (`channels.court.enabled`: ("channels",
    "court")); None for any other path."""
    for pattern, section in SWITCHES:
        m = re.fullmatch(pattern, path)
        if m:
            return section, m.group(1)
    return None


def as_date(value: Any) -> Any:
    """A YAML date, or text in the form YYYY-MM-DD, as a date; anything else as it is."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return value
    return value


class Change(BaseModel):
    """One dated change of the scenario's values (resolved: both `date` and `day`)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    name: Annotated[str, Field(min_length=1, max_length=64,
                               pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")] | None = Field(
        None, description="Names the change (unique in the timeline): `--set "
        "timeline.<name>.set.<path>=...` and `--param` reach its values by name, and it keys "
        "the change's random streams (default: its day), so that adding another change "
        "never moves this one's draws nor what an override by name reaches.")
    date: dt.date | None = Field(None, description="The day it starts, as a date (needs the "
                                 "scenario's origin).")
    day: Annotated[int, Field(ge=0, le=36_500)] | None = Field(
        None, description="The day it starts (day 0 is the origin).")
    set: dict[Annotated[str, Field(min_length=1, max_length=200)], Any] = Field(
        min_length=1, max_length=64, description="Dotted path (as --set takes it) -> its new "
        f"value. Paths that can change: {CHANGEABLE}.")
    ramp_days: Annotated[int, Field(ge=1, le=36_500)] | None = Field(
        None, description="Reach the new values linearly over this many days (default: at "
        "once).")
    source: str = Field("", description="Where the date and value come from, or "
                        "'assumption'.")

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        return as_date(value)

    @property
    def key(self) -> str:
        """What keys this change's random streams."""
        return self.name or f"day{self.day}"


NAME = r"[A-Za-z][A-Za-z0-9_\-]*"


def by_position(data: Any, path: str) -> tuple[str, str | None]:
    """`timeline.<name>.rest` as `timeline.<position>.rest` in `data`'s timeline, and
    None; or the path unchanged and why it names no entry. Other paths come back as
    they are (and None).

    Overrides and parameters are written by name so that adding an entry before
    another never makes them reach a different one; the data itself is a list."""
    parts = path.split(".")
    if len(parts) < 2 or parts[0] != "timeline" or not re.fullmatch(NAME, parts[1]):
        return path, None
    timeline = data.get("timeline") if isinstance(data, dict) else None
    entries = timeline if isinstance(timeline, list) else []
    names = [e.get("name") if isinstance(e, dict) else None for e in entries]
    if parts[1] in names:
        return ".".join(["timeline", str(names.index(parts[1])), *parts[2:]]), None
    named = sorted(n for n in names if isinstance(n, str))
    known = (f"its entries are named {', '.join(named)}" if named else
             "none of its entries has a name")
    return path, f"the timeline has no entry named {parts[1]!r} ({known})"


def value_at(data: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a dotted path of a scenario's data (mappings and list indices).

    A switch path (`channels.court.enabled`) is found, true, wherever its section is
    in the data: a section is on from day 0."""
    sw = switch_of(path)
    if sw is not None:
        found, section = value_at(data, path.removesuffix(".enabled"))
        return (True, True) if found and isinstance(section, dict) else (False, None)
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node
