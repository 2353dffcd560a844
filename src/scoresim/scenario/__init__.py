"""Scenarios: the model's description as data (schema), and how it is read (loader)."""

from scoresim.scenario.loader import (
    ScenarioError,
    builtin_names,
    load_scenario,
    parse_override,
    resolved_yaml,
)
from scoresim.scenario.schema import Scenario

__all__ = [
    "Scenario",
    "ScenarioError",
    "builtin_names",
    "load_scenario",
    "parse_override",
    "resolved_yaml",
]
