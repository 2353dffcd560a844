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


def test_seeds_report_shows_the_intervals_of_seeds_parquet(tmp_path) -> None:
    import html as html_lib
    import re

    from scoresim.report.page import fmt

    out = tmp_path / "three"
    result = CliRunner().invoke(app, ["run", "pilot-city", "--agents", "2000", "--days", "30",
                                      "--seed", "4", "--seeds", "3", "--records", "none",
                                      "--out", str(out), "--registry", "none", "--quiet",
                                      "--report"])
    assert result.exit_code == 0, result.output
    page = html_lib.unescape((out / "report.html").read_text())
    table = pd.read_parquet(out / SEEDS_FILE).set_index("measure")
    assert "Over 3 seeds" in page
    for measure in ("n_travel_banned", "wrongful_travel_ban_per_1000_gap"):
        r = table.loc[measure]
        assert f"{fmt(float(r['ci_low']))} to {fmt(float(r['ci_high']))}" in page, measure
    # each gap in words, its interval from seeds.parquet, within or beyond noise as it holds 0
    for measure in ("wrongful_travel_ban_per_1000_gap", "wrongful_shaming_per_1000_gap"):
        r = table.loc[measure]
        what = measure.removesuffix("_gap").removesuffix("_per_1000").replace("_", " ")
        said = re.search(rf"The gap in {what} per 1,000.*?noise:[^.]*\.", page)
        assert said, what
        low, high = (f"{v:.2f}" if abs(v) < 100 else f"{v:,.0f}"
                     for v in (r["ci_low"], r["ci_high"]))
        assert f"95% interval {low} to {high} per 1,000" in said.group(0)
        assert "t interval over 3 seeds" in said.group(0)
        # which group is subtracted from which, as outputs.group_rates took them
        groups = sorted(m.split("@group=")[1] for m in table.index
                        if m.startswith(measure.removesuffix("_gap") + "@group="))
        assert len(groups) >= 2
        assert f"group {groups[-1]} minus group {groups[0]}" in said.group(0)
        noise = "within noise" if r["ci_low"] <= 0 <= r["ci_high"] else "beyond noise"
        assert noise in said.group(0)
