"""The reference model (docs/reference-model.md): the engine against its closed form and its rules.

The expected values are computed here from the scenario the run used (its
manifest), never copied from the engine, so the tests check the engine against
the specification and would notice a change to either.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoresim import Results

# A statistical check passes when the estimate lies within Z standard errors of
# its expectation: with fixed seeds the outcome is reproducible, and a correct
# engine fails a 4-sigma band about once in 16,000 seeds.
Z = 4.0


def closed_form_mean_score(scenario: dict[str, Any]) -> float:
    """1000 + D * sum_b rate_b * P(record)_b * points_b (docs/reference-model.md).

    A camera's record probability is capture * (TMR + FMRbar), FMRbar the
    group-share weighted false-match rate: a false match is still a record, on
    someone else's file, so it still moves the population's mean score. The
    closed form neglects min(1, rate * m): for the reference rates the chance
    that rate * m exceeds 1 is below 1e-11.
    """
    shares = scenario["population"]["group_shares"]
    scoring = scenario["scoring"]
    drift = 0.0
    for name, points in scoring["points"].items():
        behaviour = scenario["behaviours"][name]
        channel = scenario["channels"][behaviour["channel"]]
        if channel["kind"] == "camera":
            fr = scenario["face_recognition"][channel["face_recognition"]]
            fmr_bar = sum(s * f for s, f in zip(shares, fr["fmr"], strict=True))
            p_record = channel["capture_probability"] * (fr["tmr"] + fmr_bar)
        else:
            p_record = channel["record_probability"]
        drift += behaviour["rate"] * p_record * points
    return scoring["initial"] + scenario["days"] * drift


def test_closed_form_matches_the_documented_value(reference_year: Results) -> None:
    """Guards the formula above: docs/reference-model.md states -0.0349 a day, 987.25 a year."""
    scenario = dict(reference_year.scenario, days=365)
    assert closed_form_mean_score(scenario) == pytest.approx(987.25, abs=0.01)
    per_day = closed_form_mean_score(dict(scenario, days=1)) - 1000
    assert per_day == pytest.approx(-0.0349, abs=0.0001)


def test_mean_score_after_a_year_matches_the_closed_form(reference_year: Results) -> None:
    people = reference_year.people
    n = len(people)
    expected = closed_form_mean_score(reference_year.scenario)
    observed = reference_year.timeseries["mean_score"].iloc[-1]
    # People are independent but for the rare false match, so the standard error
    # of the mean is the spread of final scores over sqrt(N).
    se = people["score"].std(ddof=1) / math.sqrt(n)
    assert abs(observed - expected) < Z * se, (observed, expected, se)
    # Power: the band is narrower than the effect of dropping the smallest
    # behaviour from the scheme (waste sorting, about -1.2 points a year).
    assert Z * se < 0.6
    # And the reported mean is the mean of the final scores, exactly.
    assert observed == people["score"].astype(np.int64).sum() / n


def test_mean_score_drifts_linearly_through_the_year(reference_year: Results) -> None:
    """The drift is linear in D: check a few days, not only the last one."""
    ts = reference_year.timeseries
    people = reference_year.people
    final_se = people["score"].std(ddof=1) / math.sqrt(len(people))
    for day in (29, 89, 179):
        expected = closed_form_mean_score(dict(reference_year.scenario, days=day + 1))
        # The spread grows with time; the final spread bounds each earlier day's.
        assert abs(ts["mean_score"].iloc[day] - expected) < Z * final_se


def test_false_matches_per_group_are_as_configured(reference_year: Results) -> None:
    scenario = reference_year.scenario
    rec = reference_year.records
    group = reference_year.people["group"].to_numpy()
    camera = {name for name, c in scenario["channels"].items() if c["kind"] == "camera"}
    profiles = {scenario["channels"][c]["face_recognition"] for c in camera}
    assert len(profiles) == 1, "the reference has one face recognition profile"
    fr = scenario["face_recognition"][profiles.pop()]

    on_camera = rec[rec["channel"].isin(camera)]
    actor_group = group[on_camera["true_actor"].to_numpy()]
    wrong = ~on_camera["correct"].to_numpy()
    shares = []
    for g, fmr in enumerate(fr["fmr"]):
        n_g = int((actor_group == g).sum())
        k_g = int((wrong & (actor_group == g)).sum())
        # A record exists when the capture is attributed to someone (TMR + FMR[g]);
        # given that, it is a wrong one with probability q, independently: binomial.
        q = fmr / (fr["tmr"] + fmr)
        sd = math.sqrt(n_g * q * (1 - q))
        assert n_g > 10_000
        assert abs(k_g - n_g * q) < Z * sd, (g, k_g, n_g * q, sd)
        shares.append((k_g / n_g, q, sd / n_g))
    # Power: the groups' configured rates are told apart by far more than the band.
    (s0, q0, e0), (s1, q1, e1) = shares
    assert abs(q1 - q0) > 5 * Z * max(e0, e1)


def test_false_matches_stay_in_the_actors_group(reference_year: Results) -> None:
    rec = reference_year.records
    group = reference_year.people["group"].to_numpy()
    subject, actor = rec["subject"].to_numpy(), rec["true_actor"].to_numpy()
    correct = rec["correct"].to_numpy()
    assert np.array_equal(correct, subject == actor)
    wrong = ~correct
    assert wrong.sum() > 500
    assert np.array_equal(group[subject[wrong]], group[actor[wrong]])
    camera = [n for n, c in reference_year.scenario["channels"].items() if c["kind"] == "camera"]
    assert rec.loc[wrong, "channel"].isin(camera).all(), "only cameras misattribute"


def test_timeseries_counts_false_records(reference_year: Results) -> None:
    ts, rec = reference_year.timeseries, reference_year.records
    per_day = rec.groupby("day").agg(n=("correct", "size"), right=("correct", "sum"))
    per_day = per_day.reindex(range(len(ts)), fill_value=0)
    assert np.array_equal(ts["n_records"], per_day["n"])
    assert np.array_equal(ts["n_false_records"], per_day["n"] - per_day["right"])


def test_grade_counts_add_up_to_everyone_every_day(reference_year: Results, rules_of) -> None:
    ts = reference_year.timeseries
    grades = [f"n_grade_{g}" for g in rules_of(reference_year).grade_names]
    totals = ts[grades].sum(axis=1)
    assert (totals == reference_year.manifest["agents"]).all()
    assert len(ts) == reference_year.manifest["days"]
    assert np.array_equal(ts["day"], np.arange(len(ts)))


def test_final_state_agrees_with_the_last_row(reference_year: Results, rules_of) -> None:
    rules = rules_of(reference_year)
    people, last = reference_year.people, reference_year.timeseries.iloc[-1]
    score = people["score"].to_numpy()
    listed = people["listed"].to_numpy()

    grade = rules.grade(score)
    assert np.array_equal(people["grade"].astype(str).to_numpy(), grade.astype(str))
    counts = pd.Series(grade).value_counts()
    for g in rules.grade_names:
        assert last[f"n_grade_{g}"] == counts.get(g, 0), g

    banned = rules.banned(score, listed)
    assert rules.banned_grades == {"C", "D"} and rules.list_bans
    assert np.array_equal(people["travel_banned"].to_numpy(), banned)
    assert last["n_travel_banned"] == banned.sum()
    assert last["n_dishonest"] == listed.sum()
    # Not trivially zero: both routes to a ban are taken in a year.
    assert listed.sum() > 100
    assert np.isin(grade, ["C", "D"]).sum() > 1_000


def _listed_from_court_records(results: Results, rules) -> np.ndarray:
    """Listed on the last day d iff a trigger record on a day t with t + duration > d."""
    rec = results.records
    last_day = results.manifest["days"] - 1
    triggers = rec[rec["behaviour"].isin(rules.list_triggers)]
    recent = triggers[triggers["day"] + rules.list_days > last_day]
    listed = np.zeros(results.manifest["agents"], dtype=bool)
    listed[recent["subject"].to_numpy()] = True
    return listed


def test_dishonest_list_is_the_last_two_years_of_court_records(
    reference_year: Results, reference_listing: Results, rules_of
) -> None:
    for results in (reference_year, reference_listing):
        rules = rules_of(results)
        assert rules.repayment_rate == 0.0, "membership is only a function of records then"
        expected = _listed_from_court_records(results, rules)
        listed = results.people["listed"].to_numpy()
        assert np.array_equal(listed, expected), np.flatnonzero(listed != expected)[:10]
        assert results.timeseries["n_dishonest"].iloc[-1] == expected.sum()
    # The long run exercises expiry: people whose listing ran out are off the list.
    rec = reference_listing.records
    court = rec[rec["behaviour"] == "court_judgment_default"]
    ever = np.unique(court["subject"].to_numpy())
    assert len(ever) - reference_listing.people["listed"].sum() > 1_000
