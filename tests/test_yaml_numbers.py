"""YAML numbers are read as YAML 1.2 reads them, by the one loader every input goes through.

PyYAML's default (YAML 1.1) needs a dot in a float, so `rate: 1e-5` was the text
'1e-5' and the scenario was refused ("Input should be a valid number (got str
'1e-5')"), in scenario files, --set values, sweep grids and designs, and targets.
Each test here failed on the code before scenario.loader.Yaml12Loader.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from _shared import write

from scoresim.scenario import ScenarioError, load_scenario, parse_override
from scoresim.scenario.loader import builtin_text, read_yaml
from scoresim.studies.sweep import load_plan
from scoresim.studies.targets import load_targets

RATE = "behaviours.court_judgment_default.rate"


@pytest.mark.parametrize("text, value", [
    ("1e-5", 1e-5), ("2E-5", 2e-5), ("-1.5e+3", -1500.0), (".5", 0.5), ("1.", 1.0),
    ("3", 3), ("-0", 0), ("010", 10), ("0o17", 15), ("0x1F", 31), ("1_000_000", 1_000_000),
    (".inf", math.inf), ("-.Inf", -math.inf),
])
def test_numbers_as_yaml_1_2_reads_them(text: str, value: float) -> None:
    data, _ = read_yaml(f"x: {text}\n", "t.yaml")
    assert data["x"] == value and type(data["x"]) is type(value)


@pytest.mark.parametrize("text", ["1:30", "e5", "1e5x", "0b101", "1_", "'1e-5'", "1.2.3"])
def test_what_is_not_a_yaml_1_2_number_stays_text(text: str) -> None:
    data, _ = read_yaml(f"x: {text}\n", "t.yaml")
    assert isinstance(data["x"], str)


def test_a_scenario_file_with_a_rate_in_e_notation(tmp_path: Path) -> None:
    text = builtin_text("reference").replace(
        "court_judgment_default: {rate: 0.00001,", "court_judgment_default: {rate: 1e-5,")
    assert "rate: 1e-5" in text
    scenario = load_scenario(write(tmp_path, "s.yaml", text))
    assert scenario.behaviours["court_judgment_default"].rate == 1e-5
    assert scenario == load_scenario("reference")


def test_set_values_in_e_notation() -> None:
    path, value = parse_override(f"{RATE}=2e-5")
    assert (path, value) == (RATE, 2e-5)
    scenario = load_scenario("reference", {path: value})
    assert scenario.behaviours["court_judgment_default"].rate == 2e-5


def test_sweep_grids_and_designs_in_e_notation(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, "sweep.yaml", f"""
        scenario: reference
        agents: 100
        days: 5
        seeds: 1
        grid:
          {RATE}: [1e-5, 2e-5]
        """))
    rates = sorted({m.scenario["behaviours"]["court_judgment_default"]["rate"]
                    for m in plan.members.values()})
    assert rates == [1e-5, 2e-5]
    plan = load_plan(write(tmp_path, "design.yaml", f"""
        scenario: reference
        agents: 100
        days: 5
        seeds: 1
        design:
          kind: random
          samples: 3
          seed: 1
          ranges:
            {RATE}: [1e-6, 1e-4]
        """))
    rates = [m.scenario["behaviours"]["court_judgment_default"]["rate"]
             for m in plan.members.values()]
    assert len(rates) == 3 and all(1e-6 <= r <= 1e-4 for r in rates)


def test_targets_in_e_notation(tmp_path: Path) -> None:
    targets = load_targets(write(tmp_path, "targets.yaml", """
        name: t
        origin: 2013-10-01
        targets:
          - name: listed
            metric: n_newly_listed
            dates: [2013-10-01, 2018-12-31]
            aggregate: sum
            value: 13e6
            sd: 2e6
            per_capita: 1e9
            source: "a test"
        """))
    target = targets.items[0]
    assert (target.value, target.sd, target.per_capita) == (13e6, 2e6, 1e9)


def test_a_number_that_is_text_for_yaml_1_2_is_still_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"line \d+.*rate.*valid number"):
        load_scenario(write(tmp_path, "s.yaml", builtin_text("reference").replace(
            "court_judgment_default: {rate: 0.00001,", "court_judgment_default: {rate: 1:30,")))
