"""Leaving the lists and the records: expiry, repeats, repayment, repair, appeals; abuse."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _shared import BUSY_PILOT

import scoresim
from scoresim.model.abuse import audit

GRADES = [{"name": "A", "min_score": 0}, {"name": "D", "min_score": None}]


def _listing_scenario(rate: float, duration: int, extension: list[int], repayment: float,
                      days: int = 200, agents: int = 4000) -> dict:
    return {
        "name": "listing", "seed": 11, "agents": agents, "days": days, "records": "all",
        "behaviours": {"court_judgment_default": {"rate": rate, "channel": "court"}},
        "channels": {"court": {"kind": "register"}},
        "scoring": {"points": {"court_judgment_default": -100}, "grades": GRADES},
        "sanctions": {"dishonest_list": {
            "triggers": ["court_judgment_default"], "duration_days": duration,
            "repayment_rate": repayment, "repeat_extension_days": extension}},
    }


def _spells(res) -> tuple[pd.DataFrame, pd.DataFrame]:
    log = res.sanctions
    log = log[log["sanction"] == "dishonest_list"]
    starts = log[log["started"]].groupby("person")["day"].apply(list)
    ends = log[~log["started"]].groupby("person")["day"].apply(list)
    return starts, ends


def test_people_leave_the_list_at_expiry_and_later_for_repeats(tmp_path):
    duration, lo, hi = 30, 10, 20
    res = scoresim.run(_listing_scenario(0.004, duration, [lo, hi], 0.0), out=tmp_path / "r")
    rec = res.records
    starts, ends = _spells(res)
    days = res.manifest["days"]
    n_single = n_repeat = n_extended = 0
    for person, record_days in rec.groupby("subject")["day"].apply(sorted).items():
        # the NumPy twin of the listing rule: each record lists until day + duration, plus an
        # extension in [lo, hi] when the person was still listed
        until_lo = until_hi = 0
        repeat = False
        for d in record_days:
            if until_lo > d or until_hi > d:
                repeat = True
            ext_lo = lo if until_lo > d else 0
            ext_hi = hi if until_hi > d else 0
            until_lo = max(until_lo, d + duration + ext_lo)
            until_hi = max(until_hi, d + duration + ext_hi)
        got_end = ends.get(person, [None])[-1]
        if until_hi >= days:
            continue
        assert starts[person][0] == record_days[0]
        if not repeat:
            assert got_end == until_lo == until_hi
            n_single += 1
        else:
            assert until_lo <= got_end <= until_hi
            n_repeat += 1
            n_extended += got_end > record_days[-1] + duration  # longer than a plain expiry
    assert n_single > 200 and n_repeat > 5, (n_single, n_repeat)
    assert n_extended > 0


def test_repayment_takes_people_off_early_at_the_configured_rate(tmp_path):
    r, days = 0.01, 200
    res = scoresim.run(_listing_scenario(0.001, 10_000, [0, 0], r, days=days, agents=10_000),
                       out=tmp_path / "r")
    starts, ends = _spells(res)
    n_records = res.records.groupby("subject").size()
    once = n_records.index[n_records == 1]  # one listing each: its end is one geometric draw
    first = np.array([starts[p][0] for p in once])
    ended = np.array([p in ends.index for p in once])
    # delisted on day + 1 + Geometric(r) failures: ended by the last day with probability
    # 1 - (1 - r)^(days - 1 - start); the count is a sum of Bernoullis, tolerance 4 sd
    p = 1.0 - (1.0 - r) ** (days - 1 - first)
    expected, sd = p.sum(), math.sqrt((p * (1 - p)).sum())
    assert first.shape[0] > 500
    assert abs(ended.sum() - expected) < 4 * sd, (ended.sum(), expected, sd)
    assert int(res.timeseries["n_delisted"].sum()) == int(sum(len(e) for e in ends))


def _false_match_scenario(win: float, repair: bool = False) -> dict:
    data = {
        "name": "appeals", "seed": 5, "agents": 5000, "days": 40, "records": "none",
        "population": {"group_shares": [1.0]},
        "behaviours": {"jaywalking": {"rate": 0.05, "channel": "camera"}},
        "channels": {"camera": {"kind": "camera", "capture_probability": 1.0,
                                "face_recognition": "fr"}},
        "face_recognition": {"fr": {"tmr": 0.5, "fmr": [0.5]}},
        "scoring": {"points": {"jaywalking": -5}, "grades": GRADES},
        "appeals": {"file_probability": 1.0, "notice_days": 1, "decision_days": 2,
                    "win_false_match": win},
    }
    if repair:
        data["credit_repair"] = {
            "minor_max_points": 5, "serious_min_points": 100,
            "minor": {"min_days": 0, "max_days": 10}, "general": {"min_days": 5, "max_days": 20},
            "serious": {"min_days": 10, "max_days": 30}}
    return data


def test_an_appeal_clears_a_false_match_with_the_configured_probability():
    win = 0.3
    res = scoresim.run(_false_match_scenario(win))
    ts = res.timeseries
    false = ts["n_false_records"].to_numpy()
    days = len(ts)
    # every wrong record is appealed the next day
    assert (ts["n_appeals_filed"].to_numpy()[1:] == false[:-1]).all()
    # and decided 3 days after it was filed: Binomial(n, win), tolerance 4 sd
    n = int(false[:days - 3].sum())
    won = int(ts["n_appeals_won"].sum())
    assert n > 2000
    assert abs(won - win * n) < 4 * math.sqrt(n * win * (1 - win)), (won, n)
    assert int(ts["n_wrong_records_cleared"].sum()) == won
    assert int(ts["wrong_record_days_to_clear"].sum()) == 3 * won
    # a won appeal takes the record's points off the score (and false points)
    assert int(res.people["false_points"].sum()) == -5 * (int(false.sum()) - won)
    assert res.people["score"].sum() == 5000 * 1000 - 5 * (int(ts["n_records"].sum()) - won)


def test_minor_records_expire_after_their_window():
    res = scoresim.run(_false_match_scenario(0.0, repair=True))
    ts = res.timeseries
    recs = ts["n_records"].to_numpy()
    # minor (5 points) records leave after 10 days; none is repaired (apply probability 0)
    assert (ts["n_records_expired"].to_numpy()[10:] == recs[:-10]).all()
    assert int(ts["n_repairs"].sum()) == 0
    live = int(recs[-10:].sum())
    assert res.people["score"].sum() == 5000 * 1000 - 5 * live


def test_targeted_journalists_are_harmed_and_the_audit_sees_a_mass_listing():
    common = {"agents": 10_000, "days": 90, "records": "none"}
    abuse = {"target": "trait", "trait": "occupation", "level": "journalist", "count": 1000,
             "start_day": 45, "fabricated_behaviour": "court_judgment_default",
             "fabricate_every_days": 365, "downgrade_points": -200}
    base = scoresim.run("pilot-city", **common)
    hit = scoresim.run("pilot-city", **common, set={"abuse": abuse})
    ts = hit.timeseries
    n_t = int(ts["n_targeted"].iloc[-1])
    assert 5 < n_t < 50  # 0.2% of 10,000 people are journalists
    assert ts["n_targeted_listed"].iloc[44] <= 1
    # all listed from the start day (an appeal cannot be decided within a day)
    assert ts["n_targeted_listed"].iloc[46] == n_t
    assert ts["targeted_mean_score"].iloc[46] < ts["targeted_mean_score"].iloc[44] - 250
    flagged = audit(ts).set_index("column")
    assert flagged.loc["n_dishonest", "flagged"] and flagged.loc["n_dishonest", "day"] == 45
    assert not audit(base.timeseries).set_index("column").loc["n_dishonest", "flagged"]


def test_compare_pairs_runs_by_behaviour():
    a = scoresim.run("pilot-city", agents=3000, days=60, records="none", set=BUSY_PILOT)
    b = scoresim.run("no-system", agents=3000, days=60)
    c = scoresim.compare(a, b)
    assert c["paired"].all()
    assert c.loc["volunteering_for_points", "events_b"] == 0
    assert c.loc["total_speech", "ratio"] < 1.0
    assert c.loc["total_offences", "events_a"] <= c.loc["total_offences", "events_b"]
    assert c.loc["total_volunteering", "events_a"] == (c.loc["total_volunteering", "events_b"]
                                                 + c.loc["volunteering_for_points", "events_a"])


@pytest.mark.slow
def test_pilot_city_against_no_system_over_a_year():
    a = scoresim.run("pilot-city", agents=20_000, days=365, records="none", set=BUSY_PILOT)
    b = scoresim.run("no-system", agents=20_000, days=365)
    c = scoresim.compare(a, b)
    # speech: paired, so the fall is the system's; it must exceed 4 Poisson sd of the baseline
    sb = c.loc["total_speech", "events_b"]
    assert sb - c.loc["total_speech", "events_a"] > 4 * math.sqrt(sb)
    assert int(a.timeseries["n_delisted"].sum()) > 0


def test_general_records_are_repaired_after_the_shortest_window_or_expire():
    data = _false_match_scenario(0.0, repair=True)
    data["scoring"]["points"]["jaywalking"] = -20  # general: between minor and serious
    data["appeals"]["file_probability"] = 0.0
    cr = data["credit_repair"]
    cr["general"] = {"min_days": 5, "max_days": 20, "apply_probability": 1.0}
    cr.update(processing_days=3, approve_probability=0.6, paid_share=0.5,
              paid_approve_probability=0.6, cost=10.0, paid_cost=1000.0)
    ts = scoresim.run(data).timeseries
    recs = ts["n_records"].to_numpy()
    # everyone applies on day + 5, and is decided on day + 8
    assert (ts["n_repair_applications"].to_numpy()[5:] == recs[:-5]).all()
    n = int(recs[:len(recs) - 8].sum())
    repaired = int(ts["n_repairs"].sum())
    assert abs(repaired - 0.6 * n) < 4 * math.sqrt(n * 0.6 * 0.4), (repaired, n)
    # the rest expire at day + 20; costs: half pay for a course (Binomial(apps, 0.5) of them)
    assert (ts["n_records_expired"].to_numpy()[20:] <= recs[:-20]).all()
    apps = int(ts["n_repair_applications"].sum())
    paid = (ts["repair_cost"].sum() - 10.0 * apps) / (1000.0 - 10.0)
    assert abs(paid - 0.5 * apps) < 4 * math.sqrt(apps * 0.25)
    assert 0 < int(ts["n_paid_repairs"].sum()) < repaired
