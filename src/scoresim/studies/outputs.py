"""Study outputs: `--output METRIC[@day|@last|:sum|:mean]`, one number per run.

A METRIC is
- any timeseries column (`n_travel_banned`, `mean_score` ...). A stock (a state
  at the end of a day) is read on the last day unless told otherwise; a flow
  (what happened during a day) is summed over the run. `@D` reads day D,
  `@last` the last day, `:sum` the sum over days and `:mean` the mean;
- a key of `Results.summary()` (`total_false_records` ...): one number per run
  already, so it takes no `@` or `:`;
- a per-group rate, per 1,000 people of a level of a trait (`@group=1`,
  `@sex=female`), from the breakdown the scenario keeps by that trait (added to
  the members' scenarios when the scenario does not keep it: it measures, it
  changes nothing that happens):

      wrongful_travel_ban_per_1000   wrongly travel-banned (a stock)
      travel_ban_per_1000            travel-banned (a stock)
      wrongful_shaming_per_1000      wrong records shown on shaming screens (a flow)
      shaming_per_1000               records shown on shaming screens (a flow)
      wrongful_record_per_1000       wrong records filed (a flow)
      false_match_record_per_1000    face recognition's false matches filed (a flow)
      record_per_1000                records filed (a flow)

  and the gap between two levels, `<rate>_gap`: the rate of group 1 minus that
  of group 0 (the last level of `group` minus the first), or `<rate>_gap@sex=male-female`
  for any two levels of a trait.

So `wrongful_travel_ban_per_1000@group=1` is the wrongly banned per 1,000 of
group 1 on the last day, `wrongful_shaming_per_1000_gap:mean` the daily mean of
the gap in wrongful shaming. The names given are the names of the outputs in
every table a study writes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scoresim.runs.columns import lookup as column_definition
from scoresim.runs.layout import TIMESERIES
from scoresim.scenario.loader import ScenarioError

WHERE = "--output"
#: Per-group rates: name -> (breakdown column counted, stock or flow).
RATES: dict[str, tuple[str, str]] = {
    "wrongful_travel_ban_per_1000": ("n_wrongly_banned", "stock"),
    "travel_ban_per_1000": ("n_travel_banned", "stock"),
    "wrongful_shaming_per_1000": ("n_shamed_wrongly", "flow"),
    "shaming_per_1000": ("n_shamed", "flow"),
    "wrongful_record_per_1000": ("n_wrongful_records", "flow"),
    "false_match_record_per_1000": ("n_false_match_records", "flow"),
    "record_per_1000": ("n_records", "flow"),
}
GAP = "_gap"
#: Summary keys that describe the run rather than measure it.
NOT_OUTPUTS = ("scenario", "agents", "days", "seed", "wall_seconds")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Output:
    """One output: what it reads and how it is reduced to one number per run."""

    name: str  # as given, the output's name in every table
    metric: str  # a timeseries column, a summary key, or a rate of RATES
    source: str  # "column", "summary", "rate" or "gap"
    reduce: str | None = None  # "last", "day", "sum", "mean"; None: the default
    day: int | None = None
    dimension: str | None = None  # for rates and gaps
    level: str | None = None
    other: str | None = None  # a gap's second level (subtracted)

    @property
    def dimensions(self) -> list[str]:
        return [self.dimension] if self.dimension else []

    def reduction(self, kind: str) -> str:
        """How a daily series is reduced: as asked, else a stock's last day, a flow's sum."""
        return self.reduce or ("sum" if kind == "flow" else "last")

    def value(self, timeseries: pd.DataFrame, summary: Mapping[str, Any],
              breakdown: pd.DataFrame | None, levels: Mapping[str, Sequence[str]]) -> float:
        """This output's number for one run."""
        if self.source == "summary":
            v = summary.get(self.metric)
            return math.nan if v is None else float(v)
        if self.source == "column":
            series = timeseries[self.metric].to_numpy(dtype=np.float64)
            return _reduce(series, self.reduction(_kind(self.metric)), self.day)
        column, kind = RATES[self.metric]
        dim = self.dimension or "group"
        first, second = self.level, self.other
        if self.source == "gap" and first is None:
            first, second = levels[dim][-1], levels[dim][0]
        rate = _rate(breakdown, dim, first, column)
        if self.source == "gap":
            rate = rate - _rate(breakdown, dim, second, column)
        return _reduce(rate, self.reduction(kind), self.day)


def _rate(breakdown: pd.DataFrame | None, dim: str, level: str | None,
          column: str) -> np.ndarray:
    if breakdown is None:
        raise ValueError(f"no breakdown by {dim} in this run")
    part = breakdown[(breakdown["dimension"].astype(str) == dim)
                     & (breakdown["value"].astype(str) == str(level))].sort_values("day")
    people = part["n_people"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(people > 0, 1000.0 * part[column].to_numpy(dtype=np.float64) / people,
                        np.nan)


def _reduce(series: np.ndarray, how: str, day: int | None) -> float:
    if series.shape[0] == 0:
        return math.nan
    if how == "day":
        return float(series[day])
    if how == "last":
        return float(series[-1])
    if how == "sum":
        return float(np.sum(series))
    return float(np.mean(series))


def _kind(column: str) -> str:
    d = column_definition(TIMESERIES, column)
    return d.kind if d is not None and d.kind else "stock"


def parse_output(text: str) -> Output:
    """The output `text` names (syntax only; `check_outputs` checks it against a run)."""
    name = text.strip()
    body, reduce, day = name, None, None
    for suffix in (":sum", ":mean"):
        if body.endswith(suffix):
            body, reduce = body[: -len(suffix)], suffix[1:]
    if ":" in body:
        raise ScenarioError(WHERE, f"'{name}': expected METRIC, METRIC@DAY, METRIC@last, "
                            "METRIC:sum or METRIC:mean")
    metric, *ats = body.split("@")
    dimension = level = None
    for at in ats:
        if "=" in at:
            if dimension is not None:
                raise ScenarioError(WHERE, f"'{name}': one @trait=level at most")
            dimension, _, level = at.partition("=")
            if not _NAME.fullmatch(dimension) or not level:
                raise ScenarioError(WHERE, f"'{name}': expected @trait=level, like @group=1")
        elif at == "last" or at.isdigit():
            if reduce is not None:
                raise ScenarioError(WHERE, f"'{name}': give one of @DAY, @last, :sum, :mean")
            reduce, day = ("last", None) if at == "last" else ("day", int(at))
        else:
            raise ScenarioError(WHERE, f"'{name}': '@{at}' is neither a day number, last, "
                                "nor trait=level")
    if not _NAME.fullmatch(metric or ""):
        raise ScenarioError(WHERE, f"'{name}': '{metric}' is not a metric name")
    base = metric[: -len(GAP)] if metric.endswith(GAP) else metric
    if base in RATES:
        source = "gap" if metric.endswith(GAP) else "rate"
        if source == "rate" and dimension is None:
            raise ScenarioError(WHERE, f"'{name}': a rate per 1,000 is for one level of a "
                                f"trait: give @group=LEVEL (or {metric}_gap for the gap)")
        return Output(name, base, source, reduce, day, dimension, level, None)
    if dimension is not None:
        raise ScenarioError(WHERE, f"'{name}': @{dimension}=... applies to the rates per "
                            f"1,000 only ({', '.join(RATES)})")
    return Output(name, metric, "column", reduce, day)


def parse_outputs(texts: Iterable[str | Output]) -> list[Output]:
    """Every `--output`, none twice; at least one."""
    outputs = [t if isinstance(t, Output) else parse_output(str(t)) for t in texts]
    if not outputs:
        raise ScenarioError(WHERE, "give at least one output, e.g. --output n_wrongly_banned "
                            "or --output wrongful_travel_ban_per_1000@group=1")
    names = [o.name for o in outputs]
    for n in names:
        if names.count(n) > 1:
            raise ScenarioError(WHERE, f"'{n}': given twice")
    return outputs


def needed_dimensions(outputs: Iterable[Output]) -> list[str]:
    """The traits the outputs' rates are broken down by (the breakdown the runs need)."""
    dims: list[str] = []
    for o in outputs:
        if o.source in ("rate", "gap"):
            d = o.dimension or "group"
            if d not in dims:
                dims.append(d)
    return dims


def check_outputs(outputs: Sequence[Output], columns: Iterable[str],
                  statistics: Iterable[str], levels: Mapping[str, Sequence[str]],
                  days: int) -> list[Output]:
    """The outputs resolved against what a run of the scenario writes: a column or a
    statistic of that name, days within the run, levels the trait has. A name that is
    both a column and a statistic (mean_score) is the column (the same on the last day)."""
    columns = [c for c in columns if c != "day"]
    statistics = [s for s in statistics if s not in NOT_OUTPUTS]
    out = []
    for o in outputs:
        if o.source == "column" and o.metric not in columns:
            if o.metric in statistics:
                if o.reduce is not None:
                    raise ScenarioError(WHERE, f"'{o.name}': {o.metric} is a statistic of "
                                        "the whole run: it takes no @ or :")
                o = Output(o.name, o.metric, "summary")
            else:
                raise ScenarioError(
                    WHERE, f"'{o.name}': unknown metric '{o.metric}' (daily columns of this "
                    f"scenario: {', '.join(sorted(columns))}; statistics: "
                    f"{', '.join(sorted(statistics))}; rates per 1,000: {', '.join(RATES)})")
        if o.reduce == "day" and not 0 <= (o.day or 0) < days:
            raise ScenarioError(WHERE, f"'{o.name}': day {o.day} is past the run's last day "
                                f"({days - 1})")
        if o.source in ("rate", "gap"):
            dim = o.dimension or "group"
            known = list(levels.get(dim, ()))
            if not known:
                raise ScenarioError(WHERE, f"'{o.name}': no trait '{dim}' in this scenario "
                                    f"(traits: {', '.join(levels)})")
            if o.source == "gap" and o.level is not None:
                pair = _split_pair(o.level, known)
                if pair is None:
                    raise ScenarioError(WHERE, f"'{o.name}': expected @{dim}=A-B with A and B "
                                        f"levels of {dim} ({', '.join(known)})")
                o = Output(o.name, o.metric, "gap", o.reduce, o.day, dim, pair[0], pair[1])
            elif o.source == "gap" and len(known) < 2:
                raise ScenarioError(WHERE, f"'{o.name}': {dim} has one level: no gap")
            elif o.source == "rate" and o.level not in known:
                raise ScenarioError(WHERE, f"'{o.name}': {dim} has no level '{o.level}' "
                                    f"(levels: {', '.join(known)})")
        out.append(o)
    return out


def _split_pair(text: str, levels: Sequence[str]) -> tuple[str, str] | None:
    """'male-female' as two levels; levels may hold '-' themselves, so try every cut."""
    for i, c in enumerate(text):
        if c == "-" and text[:i] in levels and text[i + 1:] in levels and \
                text[:i] != text[i + 1:]:
            return text[:i], text[i + 1:]
    return None


#: Per-group rates of every run's headlines (seeds) and every sweep member's outputs.
GROUP_RATES = ("wrongful_travel_ban_per_1000", "wrongful_shaming_per_1000")


def group_rates(results: Any) -> dict[str, float]:
    """Where the run keeps a breakdown by group: each GROUP_RATES rate per 1,000 of each
    group (`<rate>@group=<g>`) and, with two groups or more, the gap last group minus first
    (`<rate>_gap`); nothing otherwise. One definition for `run --seeds` and the sweeps."""
    out: dict[str, float] = {}
    bd = results.breakdown
    if bd is None or not len(bd) or not (bd["dimension"].astype(str) == "group").any():
        return out
    levels = sorted(set(bd[bd["dimension"].astype(str) == "group"]["value"].astype(str)))
    for rate in GROUP_RATES:
        for g in levels:
            o = Output(f"{rate}@group={g}", rate, "rate", None, None, "group", g)
            out[o.name] = o.value(results.timeseries, {}, bd, {"group": levels})
        if len(levels) > 1:
            o = Output(f"{rate}_gap", rate, "gap", None, None, "group")
            out[o.name] = o.value(results.timeseries, {}, bd, {"group": levels})
    return out
