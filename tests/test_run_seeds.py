"""`scoresim run --seeds K`: a run folder per seed, every headline with its interval."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.runs import columns
from scoresim.runs.layout import SEEDS_FILE
from scoresim.studies.sweep import t975


def test_run_with_seeds_gives_each_headline_its_interval(tmp_path) -> None:
    out = tmp_path / "three"
    result = CliRunner().invoke(app, ["run", "pilot-city", "--agents", "2000", "--days", "30",
                                      "--seed", "4", "--seeds", "3", "--records", "none",
                                      "--out", str(out), "--registry", "none", "--quiet"],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("seed-*")) == ["seed-4", "seed-5", "seed-6"]
    table = pd.read_parquet(out / SEEDS_FILE)
    assert columns.undefined(SEEDS_FILE, table.columns) == []
    by = table.set_index("measure")
    # the interval is the t interval of the three runs' own values
    values = [scoresim.load(out / f"seed-{s}").summary()["n_travel_banned"] for s in (4, 5, 6)]
    row = by.loc["n_travel_banned"]
    assert row["n"] == 3 and row["mean"] == np.mean(values)
    half = t975(2) * np.std(values, ddof=1) / np.sqrt(3)
    assert np.isclose(row["ci_high"] - row["mean"], half)
    assert "wrongful_travel_ban_per_1000@group=1" in by.index  # pilot-city keeps a group breakdown
    assert "wrongful_travel_ban_per_1000_gap" in by.index
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "95% CI" in result.output


def test_run_without_seeds_is_unchanged(tmp_path) -> None:
    result = CliRunner().invoke(app, ["run", "reference", "--agents", "500", "--days", "5",
                                      "--out", str(tmp_path / "one"), "--registry", "none",
                                      "--json"])
    assert result.exit_code == 0, result.output
    body = result.stdout if hasattr(result, "stdout") else result.output
    assert json.loads(body[: body.rindex("}") + 1])["seed"] == 1
    assert not (tmp_path / "one" / SEEDS_FILE).exists()
    assert (tmp_path / "one" / "manifest.json").is_file()
