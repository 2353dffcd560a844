"""Calibration targets: published figures, each with the run quantity it is compared to.

A targets file says what was observed (`value`), how sure we are of it (`sd`),
and how to read the same quantity off a simulated run: a column of
timeseries.parquet on one day, or aggregated (sum, mean, last, min, max) over
a range of days, or a named statistic of the run (a key of
`Results.summary()`, such as `total_delisted`). Days can be given as dates
when the file says which date day 0 is (`origin`), so the file reads like the
sources it cites.

A published count refers to a real population (China's 1.41 billion) while a
run simulates far fewer people: `per_capita` gives the population the figure
refers to, and the simulated value is scaled up by per_capita / agents before
it is compared. Everything is then in the figure's own units, and a z-score is
(simulated - observed) / sd.

Files are read like scenario and sweep files (scenario.loader's read_yaml and
validate_model), so a bad file is refused with its name, the field and the line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from scoresim.scenario.loader import (
    ScenarioError,
    names_a_file,
    read_text_file,
    read_yaml,
    validate_model,
)
from scoresim.scenario.schema import Model, Name

BUILTIN_FOLDER = "targets_builtin"
AGGREGATES = ("sum", "mean", "last", "min", "max")
Aggregate = Literal["sum", "mean", "last", "min", "max"]
DayNumber = Annotated[int, Field(ge=0, le=36_500)]
Positive = Annotated[float, Field(gt=0.0)]


def _as_date(value: Any) -> Any:
    """YAML reads 2018-12-31 as a date, "2018-12-31" as text: accept both."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected a date like 2018-12-31, got {value!r}") from None
    if isinstance(value, dt.datetime):
        return value.date()
    return value


class Target(Model):
    """One published figure and where a run keeps the same quantity."""

    name: Name | None = Field(None, description="Short name for tables and fit.parquet "
                              "columns; default: made from metric and days.")
    metric: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="A timeseries.parquet column (n_dishonest, n_newly_listed ...) or a named "
        "statistic of the run (a Results.summary() key such as total_delisted).")
    day: DayNumber | None = Field(None, description="The day the value refers to.")
    days: list[DayNumber] | None = Field(
        None, min_length=2, max_length=2, description="[first, last] day, both included; "
        "needs aggregate.")
    date: dt.date | None = Field(None, description="Like day, as a date (needs origin).")
    dates: list[dt.date] | None = Field(None, min_length=2, max_length=2,
                                        description="Like days, as dates (needs origin).")
    aggregate: Aggregate | None = Field(None, description="How a range of days is reduced: "
                                        f"{', '.join(AGGREGATES)}.")
    value: float = Field(description="The observed value, in the figure's own units.")
    sd: Positive = Field(description="Its uncertainty (one standard deviation).")
    per_capita: Positive | None = Field(
        None, description="The population the figure refers to (e.g. 1.41e9): simulated "
        "counts are scaled by per_capita / agents before comparison.")
    fit: bool = Field(True, description="false: reported beside the fit but left out of the "
                      "loss (a figure the model is known not to reproduce, kept in view).")
    source: str = ""

    @field_validator("date", "dates", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return [_as_date(v) for v in value] if isinstance(value, list) else _as_date(value)


class TargetsSpec(Model):
    """The targets file."""

    name: Name | None = None
    description: str = ""
    origin: dt.date | None = Field(None, description="The date of day 0; needed for date and "
                                   "dates.")
    targets: list[Target] = Field(min_length=1, max_length=1000)
    source: str = ""

    @field_validator("origin", mode="before")
    @classmethod
    def _origin(cls, value: Any) -> Any:
        return _as_date(value)


class Targets:
    """A checked targets file, with every target's days resolved to day numbers."""

    def __init__(self, spec: TargetsSpec, source: str, lines: dict[tuple, int]):
        self.spec, self.source, self.lines = spec, source, lines
        self.name = spec.name or "targets"
        self.items: list[Target] = list(spec.targets)
        self.first: list[int | None] = []
        self.last: list[int | None] = []
        self.names: list[str] = []
        for t in self.items:
            first, last = _day_span(t, spec.origin)
            self.first.append(first)
            self.last.append(last)
            self.names.append(t.name or _default_name(t, first, last))
        dup = _first_duplicate(self.names)
        if dup is not None:
            i = self.names.index(dup, self.names.index(dup) + 1)
            raise ScenarioError(source, f"two targets are named '{dup}'; give them distinct "
                                "names", field=f"targets.{i}", line=self.line(i))

    def __len__(self) -> int:
        return len(self.items)

    def line(self, i: int, field: str | None = None) -> int | None:
        for key in ((("targets", i, field),) if field else ()) + (("targets", i),):
            if key in self.lines:
                return self.lines[key]
        return None

    def describe(self) -> list[dict[str, Any]]:
        """One dict per target: what it is, in plain JSON (stored with a study)."""
        return [{"name": n, "metric": t.metric, "first_day": f, "last_day": la,
                 "aggregate": t.aggregate, "value": t.value, "sd": t.sd,
                 "per_capita": t.per_capita, "fit": t.fit, "source": t.source}
                for n, t, f, la in zip(self.names, self.items, self.first, self.last,
                                       strict=True)]

    def check_against(self, columns: Collection[str], statistics: Collection[str],
                      days: int) -> None:
        """Refuse targets a run of this scenario cannot answer: an unknown metric, a day
        past the end, a per-run statistic given days."""
        for i, t in enumerate(self.items):
            if t.metric in columns and t.metric != "day":
                if self.first[i] is None:
                    raise ScenarioError(self.source, f"'{t.metric}' is a daily column: give "
                                        "day, days, date or dates", field=f"targets.{i}.metric",
                                        line=self.line(i, "metric"))
                if self.last[i] >= days:
                    when = next(k for k in ("day", "days", "date", "dates")
                                if getattr(t, k) is not None)
                    raise ScenarioError(self.source, f"day {self.last[i]} is past the run's "
                                        f"last day ({days - 1}); run longer (--days) or drop "
                                        "the target", field=f"targets.{i}.{when}",
                                        line=self.line(i, when))
            elif t.metric in statistics:
                if self.first[i] is not None:
                    raise ScenarioError(self.source, f"'{t.metric}' is a statistic of the "
                                        "whole run: it takes no day", field=f"targets.{i}",
                                        line=self.line(i))
            else:
                known = sorted(c for c in columns if c != "day")
                raise ScenarioError(
                    self.source, f"unknown metric '{t.metric}' (daily columns of this "
                    f"scenario: {', '.join(known)}; statistics: {', '.join(sorted(statistics))})",
                    field=f"targets.{i}.metric", line=self.line(i, "metric"))

    def simulated(self, timeseries: pd.DataFrame, statistics: Mapping[str, Any],
                  agents: int) -> np.ndarray:
        """Each target's quantity in one run, in the figure's units (scaled by per_capita)."""
        out = np.empty(len(self.items), dtype=np.float64)
        for i, t in enumerate(self.items):
            if self.first[i] is None:
                x = float(statistics[t.metric])
            else:
                col = timeseries[t.metric].to_numpy(dtype=np.float64)
                part = col[self.first[i]: self.last[i] + 1]
                agg = t.aggregate or "last"
                x = float({"sum": np.sum, "mean": np.mean, "last": lambda a: a[-1],
                           "min": np.min, "max": np.max}[agg](part))
            if t.per_capita is not None:
                x *= t.per_capita / agents
            out[i] = x
        return out

    @property
    def values(self) -> np.ndarray:
        return np.array([t.value for t in self.items], dtype=np.float64)

    @property
    def sds(self) -> np.ndarray:
        return np.array([t.sd for t in self.items], dtype=np.float64)

    def z(self, simulated: np.ndarray) -> np.ndarray:
        """(simulated - observed) / sd, per target."""
        return (np.asarray(simulated, dtype=np.float64) - self.values) / self.sds


def _day_span(t: Target, origin: dt.date | None) -> tuple[int | None, int | None]:
    if t.day is not None:
        return t.day, t.day
    if t.days is not None:
        return t.days[0], t.days[1]
    if origin is not None and t.date is not None:
        d = (t.date - origin).days
        return d, d
    if origin is not None and t.dates is not None:
        return (t.dates[0] - origin).days, (t.dates[1] - origin).days
    return None, None


def _default_name(t: Target, first: int | None, last: int | None) -> str:
    if first is None:
        return t.metric
    if first == last:
        return f"{t.metric}@{first}"
    return f"{t.aggregate}_{t.metric}@{first}-{last}"


def _first_duplicate(names: list[str]) -> str | None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return None


def builtin_target_names() -> list[str]:
    folder = resources.files("scoresim.studies").joinpath(BUILTIN_FOLDER)
    return sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".yaml"))


def load_targets(spec: str | Path | dict | TargetsSpec) -> Targets:
    """A built-in name (national-list), a targets YAML file, a dict or a TargetsSpec.

    Everything checkable without a run is checked here (fields, dates, names);
    `Targets.check_against` checks metrics and days against the scenario.
    """
    if isinstance(spec, TargetsSpec):
        return _build(spec, "<targets>", {})
    if isinstance(spec, dict):
        return _build(validate_model(TargetsSpec, spec, "<dict>", what="targets"), "<dict>", {})
    text_spec = str(spec)
    path = Path(text_spec)
    if names_a_file(text_spec, builtin_target_names()):
        source = text_spec
        text = read_text_file(path, "targets file")
    elif text_spec in builtin_target_names():
        source = f"built-in targets '{text_spec}'"
        text = resources.files("scoresim.studies").joinpath(BUILTIN_FOLDER, f"{text_spec}.yaml") \
            .read_text()
    else:
        raise ScenarioError(text_spec, "neither built-in targets (known: "
                            f"{', '.join(builtin_target_names())}) nor a targets file")
    data, lines = read_yaml(text, source)
    return _build(validate_model(TargetsSpec, data, source, lines, what="targets"), source, lines)


def _build(spec: TargetsSpec, source: str, lines: dict[tuple, int]) -> Targets:
    """The checks between fields, here rather than in the models so that the error can
    name the target's own line (list positions are numbers in the line map)."""

    def refuse(i: int, key: str | None, message: str) -> ScenarioError:
        line = lines.get(("targets", i, key)) if key else None
        return ScenarioError(source, message, field=f"targets.{i}" + (f".{key}" if key else ""),
                             line=line or lines.get(("targets", i)))

    names: dict[str, int] = {}
    for i, t in enumerate(spec.targets):
        given = [k for k in ("day", "days", "date", "dates") if getattr(t, k) is not None]
        if len(given) > 1:
            raise refuse(i, given[1], f"give one of day, days, date, dates (also {given[0]})")
        ranged = bool(given) and given[0] in ("days", "dates")
        if ranged and t.aggregate is None:
            raise refuse(i, given[0], "a range of days needs aggregate: one of "
                         f"{', '.join(AGGREGATES)}")
        if not ranged and t.aggregate is not None:
            raise refuse(i, "aggregate", "applies to a range (days or dates) only")
        if ranged:
            pair = getattr(t, given[0])
            if pair[0] > pair[1]:
                raise refuse(i, given[0], f"the first ({pair[0]}) is after the last ({pair[1]})")
        if given and given[0] in ("date", "dates"):
            if spec.origin is None:
                raise refuse(i, given[0], "dates need origin (the date of day 0) at the top "
                             "of the file")
            first = t.date if t.date is not None else t.dates[0]
            if first < spec.origin:
                raise refuse(i, given[0], f"{first} is before origin {spec.origin} (day 0)")
        if t.name is not None:
            if t.name in names:
                raise refuse(i, "name", f"'{t.name}' is also target {names[t.name]}")
            names[t.name] = i
    return Targets(spec, source, lines)
