"""Varied parameters: `--param dotted.path=LOW:HIGH[:log]`, checked against the scenario.

A sensitivity study (and a calibration) varies numbers of the resolved
scenario, named by dotted paths as `--set` takes them. Everything that can be
wrong with one is found here, before any run: a path the scenario does not
have (the message lists what it does have there), a setting that is not a
number, a range that is empty, reversed, or that the scenario refuses at
either end (a probability above 1, say). Whole-number settings
(duration_days) are varied over whole numbers; others over real numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scoresim.scenario.loader import DOTTED_PATH, ScenarioError, apply_overrides, validate
from scoresim.scenario.schema import Scenario
from scoresim.scenario.timeline import by_position

#: Set by the study itself (--seeds, --agents, --days, --records), never varied.
RESERVED = ("seed", "agents", "days", "records")
WHERE = "--param"


@dataclass(frozen=True)
class Parameter:
    """A varied parameter: a dotted scenario path and its range."""

    path: str
    low: float
    high: float
    integer: bool = False
    log: bool = False

    def suggest(self, trial: Any) -> int | float:
        """The value an Optuna trial proposes (calibration)."""
        if self.integer:
            return trial.suggest_int(self.path, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.path, self.low, self.high, log=self.log)

    def scale(self, u: float) -> int | float:
        """The value at `u` in [0, 1]: uniform over the range (in log space with log;
        whole numbers each equally likely for integer parameters)."""
        u = min(max(float(u), 0.0), 1.0)
        if self.integer:
            lo, hi = int(self.low), int(self.high)
            if self.log:  # P(k) proportional to log((k + 1) / k)
                x = math.exp(math.log(lo) + u * (math.log(hi + 1) - math.log(lo)))
                return int(min(max(math.floor(x), lo), hi))
            return int(min(lo + math.floor(u * (hi - lo + 1)), hi))
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def variance(self) -> float:
        """The variance of `scale(U)` for U uniform on [0, 1] (closed forms for tests)."""
        if self.log:
            raise NotImplementedError("variance of a log-uniform parameter")
        if self.integer:
            k = int(self.high) - int(self.low) + 1
            return (k * k - 1) / 12.0
        return (self.high - self.low) ** 2 / 12.0

    def __str__(self) -> str:
        bound = (lambda x: str(int(x))) if self.integer else (lambda x: f"{x:g}")
        return f"{self.path}={bound(self.low)}:{bound(self.high)}{':log' if self.log else ''}"


def parse_parameter(text: str, scenario: Scenario | None = None, *,
                    must_exist: bool = True) -> Parameter:
    """`dotted.path=LOW:HIGH`, or `...:log` to sample uniformly in log space.

    With a scenario, the path must name a number of the resolved scenario
    (`must_exist`; a calibration may also name one the scenario does not hold
    yet), whole numbers are drawn where it holds a whole number, and both ends
    of the range must make a valid scenario. Raises ScenarioError (exit 2 on the
    command line) naming the parameter and what was expected.
    """
    if "=" not in text:
        raise ScenarioError(WHERE, f"expected dotted.path=LOW:HIGH, got '{text}'")
    path, _, spec = text.partition("=")
    path = path.strip()
    if not DOTTED_PATH.fullmatch(path):
        raise ScenarioError(WHERE, f"'{path}' is not a dotted path like "
                            "behaviours.court_judgment_default.rate")
    if path in RESERVED:
        raise ScenarioError(WHERE, f"{path}: set by --seeds, --agents or --days, not varied")
    parts = [p.strip() for p in spec.split(":")]
    use_log = len(parts) == 3 and parts[2].lower() == "log"
    if len(parts) not in (2, 3) or (len(parts) == 3 and not use_log):
        raise ScenarioError(WHERE, f"{path}: expected LOW:HIGH or LOW:HIGH:log, got '{spec}'")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ScenarioError(WHERE, f"{path}: bounds must be numbers, got '{spec}'") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ScenarioError(WHERE, f"{path}: bounds must be finite, got '{spec}'")
    if low >= high:
        raise ScenarioError(WHERE, f"{path}: LOW ({low:g}) must be below HIGH ({high:g})")
    if use_log and low <= 0:
        raise ScenarioError(WHERE, f"{path}: a log range needs LOW > 0")
    if scenario is None:
        return Parameter(path, low, high, all(_is_whole(p) for p in parts[:2]), use_log)
    data = scenario.model_dump(mode="json")
    why = by_position(data, path)[1]
    if why is not None:
        raise ScenarioError(WHERE, f"{path}: {why}")
    found, current = lookup(data, path)
    if not found and must_exist:
        raise ScenarioError(WHERE, f"{path}: {scenario.name} has no such setting "
                            f"({known_under(data, path)})")
    if found and (isinstance(current, bool) or not isinstance(current, int | float)):
        what = "a yes/no setting" if isinstance(current, bool) else (
            "not set in this scenario (null): --set it first" if current is None
            else f"holds {type(current).__name__} {str(current)[:40]!r}, not a number")
        raise ScenarioError(WHERE, f"{path}: {what}; only numbers can be varied")
    if found:
        integer = isinstance(current, int)
    else:  # not in the scenario yet: whole numbers when both bounds are written as such
        integer = all(_is_whole(p) for p in parts[:2])
    if integer and not (low.is_integer() and high.is_integer()):
        raise ScenarioError(WHERE, f"{path} holds whole numbers: give whole bounds, got "
                            f"'{spec}'")
    param = Parameter(path, low, high, integer, use_log)
    for bound in (low, high):  # both ends of the range must make a valid scenario
        value = int(bound) if integer else bound
        try:
            validate(apply_overrides(data, {path: value}), scenario.name, overridden=[path])
        except ScenarioError as exc:
            raise ScenarioError(WHERE, f"{param}: at {value:g}: {exc.detail}",
                                field=exc.field) from None
    return param


def parse_parameters(params: Sequence[str | Parameter], scenario: Scenario, *,
                     must_exist: bool = True) -> list[Parameter]:
    """Every `--param`, checked, none twice; at least one."""
    parameters = [p if isinstance(p, Parameter) else
                  parse_parameter(str(p), scenario, must_exist=must_exist) for p in params]
    if not parameters:
        raise ScenarioError(WHERE, "give at least one parameter, e.g. "
                            "--param behaviours.court_judgment_default.rate=1e-6:1e-5")
    paths = [p.path for p in parameters]
    for p in paths:
        if paths.count(p) > 1:
            raise ScenarioError(WHERE, f"{p}: given twice")
    return parameters


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a dotted path of a scenario dump (list items by number); a
    timeline change's `set:` maps dotted paths to values (timeline.N.set.behaviours.x.rate)."""
    path = by_position(data, path)[0]  # timeline.<name>...: the entry of that name
    parts = path.split(".")
    if len(parts) > 3 and parts[0] == "timeline" and parts[2] == "set" and parts[1].isdigit():
        timeline = data.get("timeline") or [] if isinstance(data, dict) else []
        k, key = int(parts[1]), ".".join(parts[3:])
        if k < len(timeline) and key in (timeline[k].get("set") or {}):
            return True, timeline[k]["set"][key]
        return False, None
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return False, None
    return True, data


def known_under(data: Any, path: str) -> str:
    """What the scenario has where `path` leaves it, for the error message."""
    parts = path.split(".")
    node, where = data, []
    for part in parts:
        if isinstance(node, dict) and part in node:
            node, where = node[part], where + [part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node, where = node[int(part)], where + [part]
        else:
            break
    prefix = ".".join(where) or "the top level"
    if isinstance(node, dict):
        keys = sorted(node)
        shown = ", ".join(keys[:25]) + (f" and {len(keys) - 25} more" if len(keys) > 25 else "")
        return f"known under {prefix}: {shown}"
    if isinstance(node, list):
        return f"{prefix} is a list of {len(node)} items (0 to {len(node) - 1})"
    return f"{prefix} holds {str(node)[:40]!r}"


def _is_whole(text: str) -> bool:
    return text.lstrip("+-").isdigit()
