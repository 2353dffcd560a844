"""Calibration: targets files, known parameters recovered, resumed studies, bad input refused.

The recovery test makes its targets with scoresim itself, from a china-list run
with known default and repayment rates, and asks the calibration to find those
rates again; its tolerance comes from the seed-to-seed spread of the targets
(see the comment there). Sizes are small (20,000 people x 1,000 days, no ticket
purchases: 0.2 s a run) and one two-worker LocalCluster is shared by the module.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from _shared import write
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.runs.layout import BEST_FILE, FIT_FILE, STUDY_FILE
from scoresim.runs.layout import CALIBRATION_FILE as SUMMARY_FILE
from scoresim.scenario import ScenarioError, load_scenario
from scoresim.studies.calibrate import Parameter, parse_parameter
from scoresim.studies.cluster import local_cluster
from scoresim.studies.targets import load_targets

AGENTS, DAYS = 20_000, 1_000
RATE = "behaviours.court_judgment_default.rate"
REPAY = "sanctions.dishonest_list.repayment_rate"
# the list alone: no ticket purchases, a fixed two-year term
FIXED = {"behaviours.flight_purchase.rate": 0.0, "behaviours.train_purchase.rate": 0.0,
         "sanctions.dishonest_list.duration_days": 730}
TRUE_RATE, TRUE_REPAY = 2e-5, 2e-3


@pytest.fixture(scope="module")
def cluster():
    cluster = local_cluster(2)
    yield cluster
    cluster.close()


# --- the targets file ----------------------------------------------------------------------


def test_builtin_national_list_reads_dates_from_its_origin():
    tg = load_targets("national-list")
    assert tg.spec.origin == dt.date(2013, 10, 1)
    i = tg.names.index("listed_2018_12")
    assert (tg.first[i], tg.last[i]) == (0, (dt.date(2018, 12, 31) - dt.date(2013, 10, 1)).days)
    assert tg.items[i].per_capita == 1.41e9 and tg.items[i].value == 13.0e6
    j = tg.names.index("listed_in_2024")
    assert tg.last[j] == 4109 and tg.last[j] - tg.first[j] == 365  # 2024 is a leap year
    assert all(t.sd > 0 and t.source for t in tg.items)
    # every figure is fitted, the list's first months included (china-history loads the list)
    assert all(t.fit for t in tg.items)
    assert {"listed_2014_03", "flights_2014_08", "listed_2019_03", "listed_in_2023",
            "repaired_in_2023"} <= set(tg.names)
    # every built-in target is answerable by a run of china-list at its full length
    scenario = load_scenario("china-list")
    assert max(tg.last) < scenario.days


def test_simulated_values_aggregate_and_scale_per_capita():
    tg = load_targets({"origin": "2020-01-01", "targets": [
        {"metric": "n_x", "days": [1, 3], "aggregate": "sum", "value": 9, "sd": 1},
        {"metric": "n_x", "days": [1, 3], "aggregate": "mean", "value": 3, "sd": 1},
        {"metric": "n_x", "date": "2020-01-05", "value": 5, "sd": 1},
        {"metric": "n_x", "dates": ["2020-01-01", "2020-01-03"], "aggregate": "max",
         "value": 1, "sd": 1, "per_capita": 1e6},
        {"metric": "total_y", "value": 10, "sd": 2},
    ]})
    ts = pd.DataFrame({"day": range(6), "n_x": [1, 2, 3, 4, 5, 6]})
    sim = tg.simulated(ts, {"total_y": 7}, agents=1000)
    # sum and mean over days 1..3 (values 2, 3, 4); day 4; max over days 0..2 scaled 1e6/1e3
    np.testing.assert_allclose(sim, [9.0, 3.0, 5.0, 3000.0, 7.0])
    np.testing.assert_allclose(tg.z(sim), [0, 0, 0, 2999, -1.5])
    assert tg.names == ["sum_n_x@1-3", "mean_n_x@1-3", "n_x@4", "max_n_x@0-2", "total_y"]


BAD_TARGETS = [
    # (text, field, line, words in the message)
    ("targets:\n  - {metric: n_dishonest, day: 5, value: 1}\n", "targets.0.sd", 2, "required"),
    ("targets:\n  - {metric: n_dishonest, day: 5, value: 1, sd: -1}\n", "targets.0.sd", 2,
     "greater than 0"),
    ("targets:\n  - metric: n_dishonest\n    day: 5\n    value: 1\n    sd: 1\n    colour: red\n",
     "targets.0.colour", 6, "unknown field"),
    ("targets:\n  - {metric: n_newly_listed, days: [0, 9], value: 1, sd: 1}\n",
     "targets.0.days", 2, "needs aggregate"),
    ("targets:\n  - {metric: n_dishonest, date: 2014-01-01, value: 1, sd: 1}\n",
     "targets.0.date", 2, "origin"),
    ("origin: 2013-10-01\ntargets:\n  - {metric: n_dishonest, date: 2013-01-01, value: 1, sd: 1}\n",
     "targets.0.date", 3, "before origin"),
    ("targets:\n  - {metric: n_dishonest, day: 5, value: 1, sd: 1}\n"
     "  - {metric: n_nonsense, day: 5, value: 1, sd: 1}\n", "targets.1.metric", 3,
     "unknown metric"),
    ("targets:\n  - {metric: n_dishonest, day: 50000, value: 1, sd: 1}\n", "targets.0.day", 2,
     "less than or equal"),
    ("targets:\n  - {metric: n_dishonest, day: 60, value: 1, sd: 1}\n", "targets.0.day", 2,
     "past the run's last day"),
    ("targets:\n  - {metric: n_dishonest, value: 1, sd: 1}\n", "targets.0.metric", 2,
     "daily column"),
    ("targets:\n  - {name: a, metric: n_dishonest, day: 1, value: 1, sd: 1}\n"
     "  - {name: a, metric: n_repaid, day: 1, value: 1, sd: 1}\n", "targets.1.name", None,
     "is also target 0"),
    ("targets: [\n", None, 2, "not valid YAML"),
    ("targets:\n  - {metric: n_dishonest, day: 5, value: !!python/object:os.system x, sd: 1}\n",
     None, 2, "not valid YAML"),
]


@pytest.mark.parametrize(("text", "field", "line", "words"), BAD_TARGETS)
def test_bad_targets_files_are_refused_with_exit_2(tmp_path, text, field, line, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = tmp_path / "cal"
    result = CliRunner().invoke(app, [
        "calibrate", "china-list", "--targets", str(path), "--param", f"{RATE}=1e-6:1e-5",
        "--agents", "100", "--days", "30", "--out", str(out), "--trials", "1", "-q"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert str(path) in message and words in message
    if field:
        assert f"field '{field}'" in message
    if line:
        assert f"line {line}" in message
    assert "Traceback" not in result.output
    assert not out.exists()  # nothing written


@pytest.mark.parametrize(("param", "words"), [
    (f"{RATE}=1e-5", "LOW:HIGH"),
    (f"{RATE}=2e-5:1e-5", "must be below"),
    (f"{RATE}=0:1e-5:log", "log range needs LOW > 0"),
    (f"{RATE}=1e-6:2", "less than or equal to 1"),
    ("sanctions.dishonest_list.duration_days=1.5:30", "whole bounds"),
    ("behaviours.court_judgment_default.rat=0:1", "unknown field"),
    ("seed=1:5", "--seeds"),
])
def test_bad_parameters_are_refused_with_exit_2(tmp_path, param, words):
    out = tmp_path / "cal"
    result = CliRunner().invoke(app, [
        "calibrate", "china-list", "--targets", "national-list", "--param", param,
        "--out", str(out), "--trials", "1", "-q"])
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split()) and "--param" in result.output
    assert not out.exists()


def test_parameters_take_their_type_from_the_scenario():
    scenario = load_scenario("china-list")
    term = parse_parameter("sanctions.dishonest_list.duration_days=365:2000", scenario)
    assert term == Parameter("sanctions.dishonest_list.duration_days", 365, 2000, True, False)
    rate = parse_parameter(f"{RATE}=0:1", scenario)  # written as whole numbers, still a rate
    assert not rate.integer and not rate.log
    assert parse_parameter(f"{RATE}=1e-6:1e-4:log", scenario).log


# --- fitting -------------------------------------------------------------------------------


def _truth_targets(seeds: list[int], calibration_seeds: int) -> tuple[dict, dict[str, float]]:
    """Targets from runs at the true rates: the mean of `seeds` independent runs, with the sd
    of the difference between that mean and a calibration's mean over its own seeds."""
    rows = []
    for seed in seeds:
        ts = scoresim.run("china-list", agents=AGENTS, days=DAYS, seed=seed, records="none",
                          set={**FIXED, RATE: TRUE_RATE, REPAY: TRUE_REPAY}).timeseries
        rows.append([ts["n_newly_listed"].sum(), ts["n_repaid"].sum(),
                     ts["n_dishonest"].iloc[-1]])
    a = np.array(rows, dtype=np.float64)
    mean, spread = a.mean(axis=0), a.std(axis=0, ddof=1)
    sd = spread * math.sqrt(1 / len(seeds) + 1 / calibration_seeds)
    targets = {"name": "truth", "targets": [
        {"name": "listed", "metric": "n_newly_listed", "days": [0, DAYS - 1],
         "aggregate": "sum", "value": float(mean[0]), "sd": float(sd[0])},
        {"name": "repaid", "metric": "n_repaid", "days": [0, DAYS - 1], "aggregate": "sum",
         "value": float(mean[1]), "sd": float(sd[1])},
        {"name": "stock", "metric": "n_dishonest", "day": DAYS - 1, "value": float(mean[2]),
         "sd": float(sd[2])},
    ]}
    cv = spread / mean
    return targets, {"listed": float(cv[0]), "repaid": float(cv[1])}


def test_known_rates_are_recovered(tmp_path, cluster):
    k = 2  # seeds per trial
    targets, cv = _truth_targets(list(range(101, 109)), k)
    result = scoresim.calibrate(
        "china-list", targets, [f"{RATE}=1e-5:4e-5:log", f"{REPAY}=1e-3:4e-3:log"],
        out=tmp_path / "cal", trials=24, agents=AGENTS, days=DAYS, seeds=k, set=FIXED,
        scheduler=cluster, batch=2, sampler_seed=3)
    # Tolerance from the seed-to-seed spread. Listings are proportional to the default
    # rate, so its relative error is about cv(listed) * sqrt(1/8 + 1/k) (cv: seed-to-seed
    # coefficient of variation, 3.4% here); the repaid count moves with the repayment rate
    # with an elasticity of about 0.6 (1 - exp(-r h) over listing times h <= 730 days at
    # r h ~ 1), so its error is about cv(repaid) * sqrt(1/8 + 1/k) / 0.6. We allow three of
    # those, plus 10% for the resolution of 24 TPE trials over a fourfold range.
    spread = math.sqrt(1 / 8 + 1 / k)
    tol_rate = 3 * cv["listed"] * spread + 0.10
    tol_repay = 3 * cv["repaid"] * spread / 0.6 + 0.10
    rate, repay = result.best_params[RATE], result.best_params[REPAY]
    assert abs(math.log(rate / TRUE_RATE)) < tol_rate, (rate, tol_rate)
    assert abs(math.log(repay / TRUE_REPAY)) < tol_repay, (repay, tol_repay)
    # at the truth the loss is a chi-square with 3 degrees of freedom; the best trial's
    # is no larger in expectation, so beyond its 99.9% quantile (16.27) the fit failed
    assert result.best_loss < 16.27
    assert result.n_trials == 24 and result.n_new == 24
    assert set(result.residuals["target"]) == {"listed", "repaid", "stock"}
    assert (result.residuals["seed_low"] <= result.residuals["simulated"]).all()


def test_a_second_call_continues_the_study(tmp_path, cluster):
    targets, _ = _truth_targets([201, 202], 1)
    out = tmp_path / "cal"
    args = dict(out=out, agents=5_000, days=DAYS, seeds=1, set=FIXED, scheduler=cluster,
                batch=2)
    params = [f"{RATE}=1e-5:4e-5:log", f"{REPAY}=1e-3:4e-3:log"]
    first = scoresim.calibrate("china-list", targets, params, trials=3, **args)
    before = pd.read_parquet(out / FIT_FILE)
    second = scoresim.calibrate("china-list", targets, params, trials=2, **args)
    after = pd.read_parquet(out / FIT_FILE)
    assert (first.n_trials, second.n_trials, second.n_new) == (3, 5, 2)
    assert list(after["trial"]) == [0, 1, 2, 3, 4]
    # the earlier trials are kept as they were, and the new ones are new proposals
    pd.testing.assert_frame_equal(after.iloc[:3].drop(columns="seconds"),
                                  before.drop(columns="seconds"))
    assert not after.iloc[3:][[RATE, REPAY]].apply(tuple, axis=1).isin(
        before[[RATE, REPAY]].apply(tuple, axis=1)).any()
    assert second.best_loss <= first.best_loss
    # best.yaml is the scenario with the fitted values, as `scoresim show` prints it
    best = yaml.safe_load((out / BEST_FILE).read_text())
    assert best["behaviours"]["court_judgment_default"]["rate"] == second.best_params[RATE]
    assert best["agents"] == 5_000 and best["records"] == "none"
    assert load_scenario(out / BEST_FILE).sanctions.dishonest_list.repayment_rate == \
        second.best_params[REPAY]
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["n_trials"] == 5 and summary["best_trial"] == second.best_trial
    # other settings into the same folder are refused, and nothing is added
    result = CliRunner().invoke(app, [
        "calibrate", "china-list", "--targets", "national-list", "--param", params[0],
        "--agents", "5000", "--out", str(out), "--trials", "1", "-q"])
    assert result.exit_code == 2 and "other settings" in result.output
    assert len(pd.read_parquet(out / FIT_FILE)) == 5
    assert (out / STUDY_FILE).is_file()


def test_the_command_prints_the_fit(tmp_path):
    path = write(tmp_path, "t.yaml", """
        origin: 2013-10-01
        targets:
          - {name: listed, metric: n_newly_listed, dates: [2013-10-01, 2014-01-08],
             aggregate: sum, value: 1.0e+6, sd: 1.0e+5, per_capita: 1.41e9}
          - {name: flights, metric: n_blocked_flight_purchase, days: [0, 99],
             aggregate: sum, value: 2.0e+5, sd: 1.0e+5, per_capita: 1.41e9, fit: false}
        """)
    out = tmp_path / "cal"
    result = CliRunner().invoke(app, [
        "calibrate", "china-list", "--targets", str(path), "--param", f"{RATE}=1e-6:1e-5",
        "--agents", "2000", "--days", "100", "--out", str(out), "--trials", "2",
        "--seeds", "2", "--workers", "1", "-q"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "listed" in result.output and "* not fitted" in result.output
    assert "[min, max] over 2 seeds" in result.output
    fit = pd.read_parquet(out / FIT_FILE)
    assert {"trial", "state", RATE, "loss", "sim_listed", "z_listed", "sim_flights"} \
        <= set(fit.columns)
    assert len(fit) == 2 and (fit["state"] == "COMPLETE").all()
    # flights are not in the loss: it is the listed target's z squared alone
    np.testing.assert_allclose(fit["loss"], fit["z_listed"] ** 2)


def test_unknown_builtin_targets_name_the_known_ones():
    with pytest.raises(ScenarioError, match="national-list"):
        load_targets("no-such-targets")
