"""The opinion module: approval starts from the trait levels and falls with wrongful records."""

from __future__ import annotations

import numpy as np

import scoresim
from scoresim.model.engine import Simulation

N, DAYS, SEED = 3000, 60, 3


def run(opinion: dict | None):
    overrides = {} if opinion is None else {"opinion": opinion}
    sc = scoresim.resolve("pilot-city", agents=N, days=DAYS, seed=SEED, overrides=overrides)
    return Simulation(sc).run()


def test_opinion_moves_no_other_number_and_stays_out_when_absent():
    off = scoresim.resolve("pilot-city", agents=N, days=DAYS, seed=SEED)
    assert "opinion" not in off.model_dump()
    a, b = run(None).timeseries(), run({"breakdown": ["urban"]}).timeseries()
    assert {"approval", "approval_urban_urban", "approval_urban_rural"} <= set(b.columns)
    for column in a.columns:
        np.testing.assert_array_equal(a[column].to_numpy(), b[column].to_numpy(),
                                      err_msg=column)


def test_start_follows_trait_shifts_and_wrongful_records_lower_approval():
    base = {"by_trait": {"urban": {"rural": -0.05}}, "breakdown": ["urban"], "recovery": 0.0}
    hit = run(base)
    ts = hit.timeseries()
    assert abs(ts["approval_urban_urban"].iloc[0] - 0.8) < 0.01
    assert abs(ts["approval_urban_rural"].iloc[0] - 0.75) < 0.01
    # paired run: the same seed, wrongful records weigh nothing; the same people compared
    paired = run({**base, "wrongful": 0.0}).people()
    people = hit.people()
    wronged = people["n_wrongful_records"].to_numpy() > 0
    assert wronged.sum() >= 10
    np.testing.assert_array_equal(people["n_wrongful_records"], paired["n_wrongful_records"])
    diff = paired["approval"].to_numpy() - people["approval"].to_numpy()
    assert (diff[wronged] > 0.05).all()
    np.testing.assert_allclose(diff[~wronged], 0.0, atol=1e-12)


def test_list_experiment_recovers_approval_that_the_direct_question_overstates():
    on = {"opinion": {}, "surveys": {"days": [10], "sample": 3000, "falsify": 0.6}}
    sc = scoresim.resolve("pilot-city", agents=N, days=20, seed=SEED, overrides=on)
    s = Simulation(sc).run().frames()["surveys"].iloc[0]
    assert abs(s["list"] - s["true_approval"]) < 3 * s["list_se"]
    assert s["direct"] - s["true_approval"] > 5 * s["direct_se"]
    off = {"opinion": {}, "surveys": {"days": [10], "sample": 3000, "falsify": 0.0}}
    sc = scoresim.resolve("pilot-city", agents=N, days=20, seed=SEED, overrides=off)
    s = Simulation(sc).run().frames()["surveys"].iloc[0]
    assert s["direct"] == s["true_approval"]
    assert abs(s["list"] - s["true_approval"]) < 3 * s["list_se"]
