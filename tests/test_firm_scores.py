"""Firm scores are int64 and grade cut-offs are bounded: nothing wraps, nothing overflows.

Firm scores were int32: a firm whose records' points passed 2**31 wrapped around
to a high score and a top grade; and `scoring.grades.*.min_score` had no bounds,
so 2**63 was an OverflowError traceback (exit 1). Both tests failed on that code.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.scenario import ScenarioError, load_scenario
from scoresim.scenario.loader import builtin_text

# eight behaviours every firm does every day, each recorded at -1,000,000: 8e6 points a day,
# past 2**31 (2.1e9) after 269 days
FIRMS = {
    "per_person": 0.03, "initial": 100, "employed_share": 0.6,
    "grades": [{"name": "A", "min_score": 90}, {"name": "B", "min_score": 40},
               {"name": "D", "min_score": None}],
    "behaviours": {f"b{i}": {"rate": 1.0, "detection": 1.0, "points": -1_000_000}
                   for i in range(8)},
}
DAYS = 300


def test_firm_scores_do_not_wrap_around(tmp_path) -> None:
    res = scoresim.run("reference", agents=1000, days=DAYS, seed=4, records="none",
                       out=tmp_path / "run", set={"firms": FIRMS})
    firms = pd.read_parquet(tmp_path / "run" / "firms.parquet")
    assert len(firms) > 0
    expected = 100 - 8 * 1_000_000 * DAYS  # every event is recorded: detection 1
    assert (firms.score == expected).all(), firms.score.describe()
    assert str(firms.score.dtype) == "int64"
    assert (firms.grade == "D").all()
    assert res.timeseries.n_firms_trusted.iloc[-1] == 0


@pytest.mark.parametrize("path", ["scoring.grades.0.min_score", "firms.grades.0.min_score"])
def test_a_min_score_past_int64_is_a_clear_error(tmp_path, path) -> None:
    with pytest.raises(ScenarioError, match=r"less than or equal to"):
        load_scenario("reference", {"firms": FIRMS, path: 2**63})
    text = builtin_text("reference").replace("{name: AAA, min_score: 1050}",
                                             "{name: AAA, min_score: 9223372036854775808}")
    scenario = tmp_path / "big.yaml"
    scenario.write_text(text)
    result = CliRunner().invoke(app, ["run", str(scenario), "--agents", "100", "--days", "2",
                                      "--out", str(tmp_path / "never"), "--registry", "none"])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    line = text.splitlines().index("    - {name: AAA, min_score: 9223372036854775808}") + 1
    assert f"{scenario}, line {line}, field 'scoring.grades.0.min_score'" in result.output
    assert not (tmp_path / "never").exists()
    result = CliRunner().invoke(app, ["show", "reference", "--set", f"{path}=-{2**63}",
                                      "--set", "firms=" + str(FIRMS).replace("None", "null")])
    assert result.exit_code == 2 and "min_score" in result.output, result.output
