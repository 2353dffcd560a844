"""Explicit designs (`scoresim sweep --design FILE`, `design_file:`): rows run as is, errors
name the file, the column and the row."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from scoresim.cli import app
from scoresim.scenario import ScenarioError
from scoresim.studies.sweep import load_plan

SWEEP = """\
scenario: pilot-city
agents: 500
days: 10
seeds: 1
"""
ROWS = pd.DataFrame({"scoring.points.jaywalking": [-5, -9, -2],
                     "behaviours.jaywalking.rate": [0.01, 0.025, 0.05]})


def sweep_file(tmp_path, extra: str = "") -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP + extra)
    return str(path)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_design_file_runs_its_rows_as_is(tmp_path, kind) -> None:
    design = tmp_path / f"design.{kind}"
    getattr(ROWS, f"to_{kind}")(design, index=False)
    for plan in (load_plan(sweep_file(tmp_path), design=design),
                 load_plan(sweep_file(tmp_path, f"design_file: design.{kind}\n"))):
        assert plan.varied == list(ROWS.columns)
        assert plan.points == ROWS.to_dict("records")
        assert isinstance(plan.points[1]["scoring.points.jaywalking"], int)
        scen = [plan.members[c.member].scenario for c in plan.cells]
        assert [s["scoring"]["points"]["jaywalking"] for s in scen] == [-5, -9, -2]
        assert [s["behaviours"]["jaywalking"]["rate"] for s in scen] == [0.01, 0.025, 0.05]


def test_the_command_runs_a_design(tmp_path) -> None:
    design = tmp_path / "design.csv"
    ROWS.head(2).to_csv(design, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", sweep_file(tmp_path), "--design", str(design),
                                      "--out", str(out), "--workers", "1", "--registry",
                                      "none", "--quiet"])
    assert result.exit_code == 0, result.output
    members = pd.read_parquet(out / "members.parquet")
    assert members["scoring.points.jaywalking"].tolist() == [-5, -9]


@pytest.mark.parametrize("content, words", [
    ("scoring.points.jaywalking,behaviours.jaywalking.rate\n-5,0.01\n-9,\n",
     "column 'behaviours.jaywalking.rate', row 2: empty"),
    ("scoring.points.jaywalking,behaviours.jaywalking.rate\n-5,0.01\n-9,1.5\n",
     "column 'behaviours.jaywalking.rate', row 2: "),
    ("scoring.points jaywalking\n-5\n", "'scoring.points jaywalking' is not a dotted path"),
    ("seed\n3\n", "'seed' is set by the sweep"),
    ("scoring.points.jaywalking\n", "no rows"),
    ("nosuchsection.value\n0.1\n", "column 'nosuchsection.value', row 1: "),
])
def test_bad_designs_name_file_column_and_row(tmp_path, content, words) -> None:
    design = tmp_path / "design.csv"
    design.write_text(content)
    with pytest.raises(ScenarioError, match="design.csv") as info:
        load_plan(sweep_file(tmp_path), design=design)
    assert words in str(info.value), str(info.value)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", sweep_file(tmp_path), "--design", str(design),
                                      "--out", str(out), "--registry", "none"])
    assert result.exit_code == 2 and words in result.output, result.output
    assert "Traceback" not in result.output and not out.exists()


def test_a_design_file_and_a_design_are_refused_together(tmp_path) -> None:
    design = tmp_path / "design.csv"
    ROWS.to_csv(design, index=False)
    both = ("design:\n  kind: random\n  samples: 2\n  ranges:\n"
            "    scoring.points.jaywalking: [-9, -1]\n")
    with pytest.raises(ScenarioError, match="a design: already"):
        load_plan(sweep_file(tmp_path, both), design=design)
    with pytest.raises(ScenarioError, match="a design or a design_file, not both"):
        load_plan(sweep_file(tmp_path, both + "design_file: design.csv\n"))
    with pytest.raises(ScenarioError, match="no such design file"):
        load_plan(sweep_file(tmp_path), design=tmp_path / "missing.csv")
    with pytest.raises(ScenarioError, match="a .csv or .parquet file"):
        load_plan(sweep_file(tmp_path), design=sweep_file(tmp_path))
