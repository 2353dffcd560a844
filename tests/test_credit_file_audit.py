"""The credit file explains everything: scores, grades, bans and wrongful bans recount from it.

DESIGN.md promises that every sanction traces back to records and every record
to its truth. These tests take records.parquet alone (plus the scenario's
rules, restated in `conftest.Rules`) and rebuild the engine's final state and,
where the rules are deterministic, its whole timeseries day by day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoresim import Results

AUDITED = ["reference_year", "pilot_city_year", "reference_misattributed"]


def _sums_by_subject(rec: pd.DataFrame, n: int, mask: np.ndarray | None = None) -> np.ndarray:
    subject, points = rec["subject"].to_numpy(), rec["points"].to_numpy().astype(np.int64)
    if mask is not None:
        subject, points = subject[mask], points[mask]
    return np.bincount(subject, weights=points, minlength=n).astype(np.int64)


@pytest.fixture(params=AUDITED)
def audited(request) -> Results:
    return request.getfixturevalue(request.param)


def test_record_points_are_the_scheme_points(audited: Results, rules_of) -> None:
    rules = rules_of(audited)
    rec = audited.records
    behaviour = rec["behaviour"].cat
    by_code = np.array([rules.points.get(b, 0) for b in behaviour.categories])
    assert np.array_equal(rec["points"].to_numpy(), by_code[behaviour.codes.to_numpy()])
    assert (behaviour.codes >= 0).all()


def test_scores_are_initial_plus_the_points_of_their_records(audited: Results, rules_of) -> None:
    rules = rules_of(audited)
    people, rec = audited.people, audited.records
    n = len(people)
    # An expired record stays in the file but no longer counts (expires_day: the first day
    # it does not count; never for schemes without expiry); a late one counts from filed_day.
    last_day = audited.manifest["days"] - 1
    rec = rec[(rec["filed_day"] <= last_day) & (rec["expires_day"] > last_day)]
    assert np.array_equal(people["id"].to_numpy(), np.arange(n))
    assert np.array_equal(people["score"].to_numpy(), rules.initial + _sums_by_subject(rec, n))
    wrong = ~rec["correct"].to_numpy()
    assert np.array_equal(people["false_points"].to_numpy(), _sums_by_subject(rec, n, wrong))
    # Not vacuous: there are false points to account for.
    assert (people["false_points"] != 0).sum() > 100


def test_wrongful_bans_recount_from_records(audited: Results, rules_of) -> None:
    """Wrongly banned: banned, but not on the correctly attributed records alone."""
    rules = rules_of(audited)
    people, last = audited.people, audited.timeseries.iloc[-1]
    score = people["score"].to_numpy()
    true_score = score - people["false_points"].to_numpy()
    listed = people["listed"].to_numpy()
    banned = rules.banned(score, listed)
    wrongly = banned & ~rules.banned(true_score, listed)

    assert np.array_equal(people["travel_banned"].to_numpy(), banned)
    assert last["n_travel_banned"] == banned.sum()
    recorded = set(np.flatnonzero(people["wrongly_banned"].to_numpy()))
    recounted = set(np.flatnonzero(wrongly))
    assert recorded == recounted, (sorted(recorded - recounted)[:10],
                                   sorted(recounted - recorded)[:10])
    assert last["n_wrongly_banned"] == len(recounted)


def test_misattribution_bans_hundreds_wrongly(reference_misattributed: Results) -> None:
    """The error-heavy run gives the recount above something to disagree about."""
    assert reference_misattributed.people["wrongly_banned"].sum() > 200


def test_every_listing_traces_to_a_court_record(audited: Results, rules_of) -> None:
    """Listed only with a trigger record in the last `duration_days` (early repayment may
    end a listing, never start one)."""
    rules = rules_of(audited)
    rec, people = audited.records, audited.people
    last_day = audited.manifest["days"] - 1
    trig = rec[rec["behaviour"].isin(rules.list_triggers)
               & (rec["day"] + rules.list_days > last_day)]
    may_be_listed = np.zeros(len(people), dtype=bool)
    may_be_listed[trig["subject"].to_numpy()] = True
    listed = people["listed"].to_numpy()
    assert not (listed & ~may_be_listed).any()
    assert listed.sum() > 20
    if rules.repayment_rate == 0.0:
        assert np.array_equal(listed, may_be_listed)


def test_pilot_city_sanctions_recount_from_records(pilot_city_year: Results, rules_of) -> None:
    scenario = pilot_city_year.scenario
    sanctions = scenario["sanctions"]
    rec, people, ts = pilot_city_year.records, pilot_city_year.people, pilot_city_year.timeseries
    days = pilot_city_year.manifest["days"]
    last = ts.iloc[-1]

    # Repayment ends listings early: some people listed in the last 730 days are off it.
    rules = rules_of(pilot_city_year)
    assert rules.repayment_rate > 0
    assert ts["n_delisted"].sum() > 0

    # Consumption bans follow the list exactly.
    assert sanctions["consumption_ban"]["dishonest_list"]
    assert np.array_equal(people["consumption_banned"], people["listed"])
    assert last["n_consumption_banned"] == people["listed"].sum()

    # Media suspension: a trigger record in the last duration_days (no randomness).
    ms = sanctions["media_suspension"]
    trig = rec[rec["behaviour"].isin(ms["triggers"])
               & (rec["filed_day"] + ms["duration_days"] > days - 1)]
    suspended = np.zeros(len(people), dtype=bool)
    suspended[trig["subject"].to_numpy()] = True
    assert np.array_equal(people["media_suspended"].to_numpy(), suspended)
    assert last["n_media_suspended"] == suspended.sum() > 1_000

    # Shaming: the day's records of the shamed behaviours, wrong ones counted apart.
    shown = rec[rec["behaviour"].isin(sanctions["shaming"]["triggers"])]
    per_day = shown.groupby("filed_day").agg(n=("correct", "size"), right=("correct", "sum"))
    per_day = per_day.reindex(range(days), fill_value=0)
    assert np.array_equal(ts["n_shamed"], per_day["n"])
    assert np.array_equal(ts["n_shamed_wrongly"], per_day["n"] - per_day["right"])
    assert ts["n_shamed_wrongly"].sum() > 0

    # Rewards: everyone in a rewarded grade, on the last day.
    grade = people["grade"].astype(str)
    for reward in scenario["rewards"]:
        n_rewarded = grade.isin(reward["grades"]).sum()
        assert last[f"n_rewarded_{reward['name']}"] == n_rewarded > 0


def replay(results: Results, rules) -> pd.DataFrame:
    """docs/reference-model.md's daily metrics rebuilt from the credit file alone.

    Valid for schemes whose list membership is a function of records (no
    repayment): each day's records move scores, then grades, the list and bans
    are evaluated, then counted, in the model's order within a day.
    """
    n, days = results.manifest["agents"], results.manifest["days"]
    rec = results.records.sort_values("day", kind="stable")
    day = rec["day"].to_numpy()
    subject = rec["subject"].to_numpy()
    points = rec["points"].to_numpy().astype(np.int64)
    correct = rec["correct"].to_numpy()
    trigger = rec["behaviour"].isin(rules.list_triggers).to_numpy()
    bounds = np.searchsorted(day, np.arange(days + 1))

    ascending = rules.cutoffs[::-1]
    n_cut = len(ascending)
    banned_idx = np.array([rules.grade_names.index(g) for g in rules.banned_grades])

    def grade_index(s: np.ndarray) -> np.ndarray:
        return n_cut - np.searchsorted(ascending, s, side="right")

    score = np.full(n, rules.initial, dtype=np.int64)
    false_points = np.zeros(n, dtype=np.int64)
    listed_until = np.zeros(n, dtype=np.int64)
    rows = []
    for d in range(days):
        lo, hi = bounds[d], bounds[d + 1]
        s, p, c = subject[lo:hi], points[lo:hi], correct[lo:hi]
        np.add.at(score, s, p)
        np.add.at(false_points, s[~c], p[~c])
        np.maximum.at(listed_until, s[trigger[lo:hi]], d + rules.list_days)
        listed = listed_until > d
        g = grade_index(score)
        banned = np.isin(g, banned_idx) | (rules.list_bans & listed)
        true_banned = np.isin(grade_index(score - false_points), banned_idx) | (
            rules.list_bans & listed)
        row = {"day": d, "mean_score": score.sum() / n}
        counts = np.bincount(g, minlength=len(rules.grade_names))
        row.update({f"n_grade_{name}": counts[k] for k, name in enumerate(rules.grade_names)})
        row.update(n_travel_banned=banned.sum(), n_dishonest=listed.sum(),
                   n_wrongly_banned=(banned & ~true_banned).sum(), n_records=hi - lo,
                   n_false_records=(~c).sum())
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("which", ["reference_listing", "reference_misattributed"])
def test_timeseries_replays_from_the_credit_file(which: str, request, rules_of) -> None:
    """Every one of the reference daily metrics, every day, from records alone."""
    results: Results = request.getfixturevalue(which)
    rules = rules_of(results)
    expected = replay(results, rules)
    observed = results.timeseries[expected.columns]
    for column in expected.columns:
        diff = np.flatnonzero(observed[column].to_numpy() != expected[column].to_numpy())
        assert len(diff) == 0, (column, diff[:5], observed[column].to_numpy()[diff[:5]],
                                expected[column].to_numpy()[diff[:5]])
    # The replay is not vacuous: bans, listings and expiries all move over the run.
    assert expected["n_wrongly_banned"].max() > 0
    if which == "reference_listing":
        assert expected["n_dishonest"].diff().min() < 0, "listings expire"
