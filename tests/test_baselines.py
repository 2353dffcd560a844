"""The numbers of every built-in scenario are pinned (tests/baselines.py says how and why).

A failure lists every headline number that moved (stored -> now) and every
column whose values changed. If the change is meant, regenerate with
`python tests/baselines.py` and say in the commit message which numbers moved
and why; a refactor moves none.
"""

from __future__ import annotations

import json

import pytest
from baselines import cases, compute, differences

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_outputs_match_the_stored_baseline(case) -> None:
    assert case.path.exists(), f"no baseline for {case.key}: run python tests/baselines.py"
    stored = json.loads(case.path.read_text())
    now = compute(case)
    moved = differences(stored, now)
    assert not moved, (f"{case.key} moved from its stored baseline "
                       f"({len(moved)} differences):\n" + "\n".join(moved[:60])
                       + "\nif this is meant: python tests/baselines.py, and say why in the "
                       "commit message")


def test_every_builtin_scenario_has_a_baseline() -> None:
    from scoresim.scenario import builtin_names

    assert {c.scenario for c in CASES} == set(builtin_names())
    stored = {p.stem for p in CASES[0].path.parent.glob("*.json")}
    assert stored == {c.key for c in CASES}, "stale or missing baseline files"
