"""The report tells only what the run shows: each scheme as it is, causes from data, noise said.

- Every built-in scenario gets a report (china keeps no score for half its people).
- A country of city pilots is summarised per scheme, never by a mean across scales.
- A sentence that names a difference between groups states its interval and says
  "within noise" where the interval holds zero: on a run built with no group
  difference it does, on a run built with one it does not.
- A sentence that names a cause names only causes the run's data holds.
"""

from __future__ import annotations

import html as htmllib
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from _shared import BUSY_PILOT
from test_report import assert_every_chart_has_data, figures

import scoresim
from scoresim.report import write_report
from scoresim.report.assumed import notes
from scoresim.report.page import figure_json
from scoresim.report.sentences import (
    CAUSE_KEYWORDS,
    cause_sentence,
    causes_named,
    rates_sentence,
)
from scoresim.runs.schemes import scored_schemes
from scoresim.scenario import builtin_names
from scoresim.studies.compare import _kind
from scoresim.studies.noise import over_seeds, rate_difference, wilson

SEED = 5


def sentences(html: str) -> dict[str, str]:
    """Every text the report writes about its data: captions, alternatives, intros, by key."""
    out = {}
    for m in re.finditer(r'<figure class="chart" id="fig-([\w-]+)">.*?aria-label="([^"]*)".*?'
                         r"<figcaption>(.*?)</figcaption>", html, re.S):
        out[m.group(1)] = htmllib.unescape(m.group(2) + " " + m.group(3))
    for m in re.finditer(r'<section id="([\w-]+)"[^>]*><h2[^>]*>.*?</h2><p>(.*?)</p>', html, re.S):
        out[f"intro-{m.group(1)}"] = htmllib.unescape(m.group(2))
    return out


# -- the statistics behind the sentences ------------------------------------------------------

def test_wilson_interval_holds_the_rate_and_handles_zero():
    lo, hi = wilson(0, 1000)
    assert lo == 0 and 0.003 < hi < 0.004  # the rule of three, roughly
    lo, hi = wilson(50, 1000)
    assert lo < 0.05 < hi and math.isclose(lo, 0.0381, abs_tol=1e-3)


def test_a_difference_inside_its_interval_is_noise():
    assert not rate_difference(10, 10_000, 12, 10_000).beyond_noise
    assert rate_difference(10, 10_000, 60, 10_000).beyond_noise
    assert not rate_difference(0, 5_000, 0, 5_000).beyond_noise
    d = over_seeds(np.array([1.0, 1.2, 0.9, 1.1]), np.array([1.0, 1.1, 1.0, 1.0]))
    assert not d.beyond_noise and "4 seeds" in d.method
    assert over_seeds(np.array([5.0, 5.2, 4.9]), np.array([1.0, 1.1, 0.9])).beyond_noise


def test_rates_sentence_says_within_or_beyond_noise():
    same = rates_sentence("Wrongly banned", {"0": 11, "1": 10}, {"0": 10_000, "1": 10_000})
    assert "within noise" in same and "cannot be told from chance" in same
    apart = rates_sentence("Wrongly banned", {"0": 5, "1": 80}, {"0": 10_000, "1": 10_000})
    assert "beyond noise" in apart and "group 1 minus group 0" in apart
    assert "no one in any group" in rates_sentence("X", {"0": 0, "1": 0}, {"0": 5, "1": 5})
    seeds = rates_sentence("X", {"0": 11, "1": 10}, {"0": 10_000, "1": 10_000},
                           seed_rates={"0": np.array([1.0, 1.3, 0.8]),
                                       "1": np.array([1.1, 1.0, 0.9])})
    assert "over 3 seeds" in seeds


def test_cause_sentence_names_only_the_causes_present():
    rows = pd.DataFrame({"person": [1, 2, 3], "cause": ["false_flag"] * 3})
    text = cause_sentence("travel_ban", rows)
    assert causes_named(text) == {"false_flag"} and "3 people" in text
    rows = pd.DataFrame({"person": [1, 2, 3], "cause": ["false_match", "malicious_report",
                                                         "false_match"]})
    assert causes_named(cause_sentence("travel_ban", rows)) == {"false_match",
                                                               "malicious_report"}


# -- reports of real runs ----------------------------------------------------------------------

@pytest.mark.parametrize("name", builtin_names())
def test_report_works_on_every_builtin_scenario(name, tmp_path):
    res = scoresim.run(name, agents=1_500, days=40, seed=SEED, out=tmp_path / name)
    html = write_report(res.folder).read_text()
    assert_every_chart_has_data(html)
    s = res.summary()
    if scored_schemes(res.scenario)[1:]:  # several scales: no mean across them
        assert "mean_score" not in s and not any(k.startswith("n_grade_") and k.count("_") == 2
                                                 for k in s)
        for scheme in scored_schemes(res.scenario):
            assert f"mean_score_{scheme}" in s
        people = res.people
        assert s["n_unscored"] == int(people["score"].isna().sum()) > 0
        assert f"{s['n_unscored']:,} of {res.manifest['agents']:,} people" in html


def test_china_scores_are_told_per_scheme(tmp_path):
    res = scoresim.run("china", agents=3_000, days=30, seed=SEED, out=tmp_path / "c")
    s, people = res.summary(), res.people
    for scheme in scored_schemes(res.scenario):
        mine = people[people["scheme"].astype(str) == scheme]
        assert math.isclose(s[f"mean_score_{scheme}"], mine["score"].mean())
        grades = [g["name"] for g in res.scenario["schemes"][scheme]["grades"]]
        assert sum(s[f"n_grade_{scheme}_{g}"] for g in grades) == len(mine)
    fig = res.plot()
    assert "grades on the last day" in fig.layout.annotations[0].text


NO_DIFFERENCE = {  # the two groups are treated alike: same size, same face recognition
    **BUSY_PILOT,
    "population.group_shares": [0.5, 0.5],
    "face_recognition.nist-2019-us.fmr": [0.03, 0.03],
    "face_recognition.nist-2019-us.tmr": 0.7,
    "face_recognition.nist-2019-us.miss_multipliers.group": [1.0, 1.0],
    "appeals": None, "credit_repair": None,
    "behaviours.court_judgment_default.rate": 0.0005,
    "scoring.points.jaywalking": -60,
}


@pytest.fixture(scope="module")
def alike(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("alike") / "run"
    scoresim.run("pilot-city", agents=6_000, days=120, seed=SEED, records="all", out=out,
                 set=NO_DIFFERENCE)
    return out


def test_no_group_difference_is_called_within_noise(alike):
    html = write_report(alike).read_text()
    said = sentences(html)["wrongful-by-group"]
    assert "Wrongly travel-banned" in said
    group_sentences = [s for s in said.split(". The gap") if "minus" in s]
    assert group_sentences and all("within noise" in s for s in group_sentences), said
    assert "beyond noise" not in said


def test_a_built_in_group_difference_is_called_beyond_noise(tmp_path):
    # a tenfold false-match rate for group 1 puts far more of it on the shaming screens
    out = tmp_path / "apart"
    scoresim.run("pilot-city", agents=6_000, days=120, seed=SEED, records="all", out=out,
                 set={**NO_DIFFERENCE, "face_recognition.nist-2019-us.fmr": [0.005, 0.05]})
    said = sentences(write_report(out).read_text())["shaming-by-group"]
    assert "beyond noise" in said and "group 1 minus group 0" in said


def _with_wrongful(run: Path, folder: Path, cause: str) -> Path:
    """A copy of the run with a wrongful.parquet naming one cause for every wrongly banned."""
    shutil.copytree(run, folder)
    (folder / "report.html").unlink(missing_ok=True)
    people = scoresim.load(folder).people
    banned = people[people["wrongly_banned"]]
    assert len(banned) > 0
    pd.DataFrame({"person": banned["id"].astype("int64"), "group": banned["group"],
                  "sanction": "travel_ban", "cause": cause, "channel": "x",
                  "points": -60}).to_parquet(folder / "wrongful.parquet")
    return folder


@pytest.mark.parametrize("cause", ["false_match", "false_flag"])
def test_the_report_names_the_cause_the_data_holds_and_no_other(alike, tmp_path, cause):
    folder = _with_wrongful(alike, tmp_path / cause, cause)
    html = write_report(folder).read_text()
    said = sentences(html)
    assert "plot-wrongful-by-cause" in figures(html)
    assert causes_named(said["wrongful-by-cause"]) == {cause}
    records = scoresim.load(folder).records
    in_data = {cause} | set(records.loc[~records["correct"], "error"].astype(str)) \
        | kinds_counted(scoresim.load(folder))
    for key, text in said.items():
        assert causes_named(text) <= in_data, (key, text)


def test_the_run_s_own_attribution_is_what_the_report_tells(alike):
    said = sentences(write_report(alike).read_text())
    w = scoresim.load(alike).wrongful()
    causes = {str(c) for c in w["cause"].unique()} - {"several", "collateral"}
    assert causes and causes_named(said["wrongful-by-cause"]) == causes


def test_without_a_credit_file_no_cause_is_named(tmp_path):
    out = tmp_path / "none"
    scoresim.run("pilot-city", agents=3_000, days=60, seed=SEED, records="none", out=out,
                 set=NO_DIFFERENCE)
    said = sentences(write_report(out).read_text())
    assert "names no cause" in said["intro-wrongful"]
    assert not causes_named(said["wrongful-by-group"])
    counted = kinds_counted(scoresim.load(out))  # the timeseries counts records by error
    for key, text in said.items():
        assert causes_named(text) <= counted, (key, text)


def kinds_counted(res: scoresim.Results) -> set[str]:
    """The error kinds the run's timeseries counts at least one record of."""
    ts = res.timeseries
    return {k for k in CAUSE_KEYWORDS if f"n_{k}_records" in ts and ts[f"n_{k}_records"].sum()}


def test_outcomes_resting_only_on_assumptions_get_a_note():
    scenario = scoresim.resolve("pilot-city").model_dump(mode="json")
    summary = {"n_media_suspended": 350, "total_shamed": 0, "n_dishonest": 10}
    scenario["channels"]["online_monitoring"]["source"] = "Weibo 2019 (Global Times)"
    assert notes(scenario, summary, 100_000) == []  # each cites a public figure
    scenario["channels"]["online_monitoring"]["source"] = "assumption: recall 0.5"
    (note,) = notes(scenario, summary, 100_000)
    assert "social media suspensions (350; 0.35% of people" in note
    assert "behaviours.criticizing_government" in note and "false_flag" in note


HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def test_user_text_is_escaped_in_the_page_and_in_the_figures(tmp_path):
    res = scoresim.run("reference", agents=500, days=20, seed=SEED, out=tmp_path / "r",
                       set={"description": HOSTILE})
    page = write_report(res.folder).read_text()
    assert HOSTILE not in page and "<script>alert" not in page
    assert htmllib.escape(HOSTILE, quote=True) in page
    fig = go.Figure(go.Bar(x=["<b>level</b>"], y=[1], name=HOSTILE,
                           hovertemplate="%{y}<extra></extra>"))
    fig.update_layout(title={"text": "<a href='javascript:alert(3)'>t</a>"})
    data = json.loads(figure_json(fig))
    text = json.dumps(data)
    assert "<img" not in text and "<a " not in text and "<b>" not in text
    assert data["data"][0]["x"] == ["&lt;b&gt;level&lt;/b&gt;"]
    assert data["data"][0]["hovertemplate"] == "%{y}<extra></extra>"


def test_compare_reads_each_scheme_s_points():
    spec = scoresim.resolve("china").model_dump(mode="json")
    assert _kind("jaywalking", spec) == "offence"
    assert _kind("volunteering", spec) == "rewarded"
    assert _kind("court_judgment_default", spec) == "offence"
