"""A listing that rests on a wrongly attributed record is a wrongful sanction."""

from __future__ import annotations

import numpy as np

import scoresim


def test_listing_by_false_match_counts_as_wrongful_ban() -> None:
    # Make the list trigger a camera-observed behaviour, so false matches list people.
    res = scoresim.run(
        "reference", agents=5_000, days=200, seed=3,
        set={"behaviours.court_judgment_default.channel": "street_camera",
             "behaviours.court_judgment_default.rate": 0.01,
             "face_recognition.reference.fmr": [0.05, 0.09]},
    )
    rec = res.records
    trig = rec[rec.behaviour == "court_judgment_default"]
    last_day = res.manifest["days"] - 1
    live = trig[trig.day + 730 > last_day]
    truly = set(live[live.correct].subject)
    listed = set(live.subject)
    people = res.people.set_index("id")
    # recount: banned people whose ban rests only on wrong records
    true_score = people.score - people.false_points
    thresholds = {"C": 600, "B": 850}
    low_true = true_score < thresholds["B"]
    expected = {
        p for p in people.index[people.travel_banned]
        if not (low_true[p] or p in truly)
    }
    assert len(listed - truly) > 20  # the scenario does produce wrongful listings
    assert set(people.index[people.wrongly_banned]) == expected
    assert res.timeseries.n_wrongly_banned.iloc[-1] == len(expected)
    assert np.all(people.loc[list(listed), "listed"])
