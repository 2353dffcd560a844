"""The opinion module: approval starts from the trait levels and falls with wrongful records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _shared import run_and_resume
from hypothesis import given, settings
from hypothesis import strategies as st

import scoresim
from scoresim.model.engine import Simulation
from scoresim.model.opinion import people_of, smallest

N, DAYS, SEED = 3000, 60, 3


def run(opinion: dict | None):
    # pilot-city turns opinion and surveys on; these tests set their own (or none)
    overrides = {"opinion": opinion, "surveys": None}
    sc = scoresim.resolve("pilot-city", agents=N, days=DAYS, seed=SEED, overrides=overrides)
    return Simulation(sc).run()


def test_opinion_moves_no_other_number_and_stays_out_when_absent():
    off = scoresim.resolve("pilot-city", agents=N, days=DAYS, seed=SEED,
                           overrides={"opinion": None, "surveys": None})
    assert "opinion" not in off.model_dump() and "surveys" not in off.model_dump()
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
    on = {"opinion": {}, "surveys": {"days": [10], "sample": 3000, "falsify": 0.6,
                                         "fear": "stated"}}
    sc = scoresim.resolve("pilot-city", agents=N, days=20, seed=SEED, overrides=on)
    s = Simulation(sc).run().frames()["surveys"].iloc[0]
    assert abs(s["list"] - s["true_approval"]) < 3 * s["list_se"]
    assert s["direct"] - s["true_approval"] > 5 * s["direct_se"]
    off = {"opinion": {}, "surveys": {"days": [10], "sample": 3000, "falsify": 0.0,
                                          "fear": "stated"}}
    sc = scoresim.resolve("pilot-city", agents=N, days=20, seed=SEED, overrides=off)
    s = Simulation(sc).run().frames()["surveys"].iloc[0]
    assert s["direct"] == s["true_approval"]
    assert abs(s["list"] - s["true_approval"]) < 3 * s["list_se"]


def test_pilot_city_surveys_fear_from_dissent_by_group():
    """pilot-city's surveys: fear from the dissent choice inflates the direct answer only."""
    sc = scoresim.resolve("pilot-city", agents=N, days=30, seed=SEED,
                          overrides={"surveys.every": 15, "surveys.sample": 3000})
    sim = Simulation(sc).run()
    s = sim.frames()["surveys"]
    assert sorted(set(s["day"])) == [14, 29]
    groups = {"all", *(f"{t}={lv}" for t in sc.opinion.breakdown
                       for lv in sc.population.attributes[t].levels)}
    assert set(s["group"]) == groups
    everyone = s[s["group"] == "all"]
    assert (everyone["direct"] - everyone["true_approval"] > 5 * everyone["direct_se"]).all()
    assert (abs(everyone["list"] - everyone["true_approval"]) < 3 * everyone["list_se"]).all()
    # a group's respondents are the whole sample's: the group sizes add up to it
    day = s[s["day"] == 14]
    assert day[day["group"].str.startswith("urban=")]["n"].sum() == 3000
    # the direct lie rate is the dissent choice's hold-back share among non-approvers
    dissent = sim.modules["dissent"]
    from scoresim.model.opinion import held_back
    p = held_back(dissent.action, dissent.desired)
    row = everyone.iloc[0]
    expect = row["true_approval"] + (1 - row["true_approval"]) * p.mean()
    assert abs(row["direct"] - expect) < 4 * row["direct_se"] + 0.01


def test_surveys_without_opinion_is_an_error_and_fear_dissent_needs_dissent(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from scoresim.cli import app
    from scoresim.scenario.loader import ScenarioError

    with pytest.raises(ScenarioError, match="no opinion section"):
        scoresim.resolve("pilot-city", overrides={"opinion": None})
    with pytest.raises(ScenarioError, match="no dissent section"):
        scoresim.resolve("pilot-city", overrides={"dissent": None, "surveys.fear": "dissent"})
    data = yaml.safe_load(open(Path(scoresim.__file__).parent / "scenario" / "builtin"
                               / "reference.yaml"))
    data["surveys"] = {"days": [3]}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(app, ["run", str(bad), "--agents", "100", "--days", "5",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert str(bad) in result.output and "'surveys'" in result.output
    assert "Traceback" not in result.output


def test_survey_days_every_and_past_the_end():
    from scoresim.model.opinion import survey_days

    sc = scoresim.resolve("pilot-city", overrides={"surveys.days": [5, 400], "surveys.every": 182})
    assert survey_days(sc.surveys, 365) == {5, 181, 363}
    assert survey_days(sc.surveys, 200) == {5, 181}
    assert survey_days(None, 365) == frozenset()


def test_surveys_resume_from_a_checkpoint(tmp_path):
    """Surveys fielded before a checkpoint are in the resumed run's surveys.parquet."""
    sc = scoresim.resolve("pilot-city", agents=2000, days=40, seed=SEED,
                          overrides={"surveys.every": 10})
    first, second = run_and_resume(sc, 25, tmp_path)
    a, b = first.frames()["surveys"], second.frames()["surveys"]
    assert len(a) == 4 * 13
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(first.people(), second.people())
    pd.testing.assert_frame_equal(first.timeseries(), second.timeseries())


def test_interrupted_run_resumed_has_the_uninterrupted_surveys(tmp_path):
    """A run stopped after a checkpoint and resumed writes the same surveys.parquet."""
    import pyarrow.parquet as pq

    class Stop(Exception):
        pass

    def stop(day: int) -> None:
        if day == 25:
            raise Stop

    kw = {"agents": 2000, "days": 40, "set": {"surveys.every": 10}}
    with pytest.raises(Stop):
        scoresim.run("pilot-city", out=tmp_path / "a", checkpoint_every=10, on_day=stop, **kw)
    assert not (tmp_path / "a").exists()
    scoresim.resume(tmp_path / "a")
    scoresim.run("pilot-city", out=tmp_path / "b", **kw)
    for table in ("surveys", "timeseries", "people"):
        a = pq.read_table(tmp_path / "a" / f"{table}.parquet")
        b = pq.read_table(tmp_path / "b" / f"{table}.parquet")
        assert a.equals(b), table
    assert pq.read_table(tmp_path / "a" / "surveys.parquet").num_rows == 4 * 13


def test_without_dissent_auto_fear_is_the_stated_rule():
    """pilot-city less its dissent section: fear auto falls back to surveys.falsify (0.75)."""
    sc = scoresim.resolve("pilot-city", agents=N, days=20, seed=SEED,
                          overrides={"dissent": None, "surveys.days": [10],
                                     "surveys.sample": 3000})
    assert sc.surveys.fear == "auto" and sc.surveys.falsify == 0.75
    s = Simulation(sc).run().frames()["surveys"].iloc[0]
    expect = s["true_approval"] + (1 - s["true_approval"]) * 0.75
    assert abs(s["direct"] - expect) < 4 * s["direct_se"]
    assert abs(s["list"] - s["true_approval"]) < 3 * s["list_se"]


@pytest.mark.parametrize("recovery", [0.0, 0.002, 0.3, 1.0])
def test_event_driven_approval_is_the_daily_update(recovery, monkeypatch):
    """The module keeps approval as start + dev * decay and touches only the people with
    records; a straightforward daily update of everyone, fed the same records, must give
    the same numbers up to rounding (0.3 rescales the deviations every 26 days, 1.0 on
    every day). Tolerance: a sequential sum of N terms in [0, 1] is off by at most
    N eps, one daily step by a few eps, so (N + 8 DAYS) eps bounds every mean and value."""
    from scoresim.model import opinion as module
    seen: dict[int, tuple] = {}
    surveyed: dict[int, np.ndarray] = {}
    real_step, real_survey = module.Opinion.step, module.field_survey

    def step(self, today):
        f = today.filed
        seen[today.day] = (None if f is None else
                           (f.subject.copy(), f.points.copy(), f.correct.copy()))
        self.captured_start = self.start.copy()
        real_step(self, today)

    def survey(approval, *args, **kwargs):
        surveyed[args[2]] = approval.copy()
        return real_survey(approval, *args, **kwargs)

    monkeypatch.setattr(module.Opinion, "step", step)
    monkeypatch.setattr(module, "field_survey", survey)
    o = {"reward": 0.05, "sanction": 0.1, "wrongful": 0.2, "recovery": recovery,
         "breakdown": ["urban", "income_band"]}
    sc = scoresim.resolve("pilot-city", agents=N, days=DAYS, seed=SEED,
                          overrides={"opinion": o, "surveys": {"days": [DAYS // 2],
                                                                "sample": 500}})
    sim = Simulation(sc)
    res = sim.run()
    ts, people = res.timeseries(), res.people()
    start = sim.modules["opinion"].captured_start
    society = sim.world.society
    groups = {f"approval_{t}_{lv}": society.trait(t) == k for t in o["breakdown"]
              for k, lv in enumerate(society.levels[t])}
    atol = (N + 8 * DAYS) * np.finfo(float).eps
    a = start.copy()
    n_records = 0
    for day in range(DAYS):
        a += recovery * (start - a)
        if seen[day] is not None:
            subject, points, correct = seen[day]
            n_records += subject.shape[0]
            change = np.zeros(N)
            np.add.at(change, subject[points > 0], 0.05)
            np.add.at(change, subject[points < 0], -0.1)
            np.add.at(change, subject[(points < 0) & ~correct], -0.2)
            a += change
        np.clip(a, 0.0, 1.0, out=a)
        assert abs(ts["approval"].iloc[day] - a.mean()) <= atol, day
        for name, mine in groups.items():
            assert abs(ts[name].iloc[day] - a[mine].mean()) <= atol, (day, name)
        if day in surveyed:
            np.testing.assert_allclose(surveyed[day], a, rtol=0, atol=atol)
    assert n_records > N, "the run must file many records for the comparison to mean much"
    assert list(surveyed) == [DAYS // 2]
    np.testing.assert_allclose(people["approval"].to_numpy(), a, rtol=0, atol=atol)
    assert a.std() > 0.01, "approval must have moved"


@given(st.lists(st.integers(0, 40), max_size=120), st.integers(0, 41))
@settings(max_examples=200, deadline=None)
def test_people_of_is_np_unique_with_its_inverse(subjects, extra):
    """The packed sort gives np.unique's people and inverse exactly (ties, repeats, empty)."""
    s = np.array(subjects, dtype=np.int64)
    who, at = people_of(s, 41 + extra)
    want_who, want_at = np.unique(s, return_inverse=True)
    assert who.dtype == want_who.dtype
    np.testing.assert_array_equal(who, want_who)
    np.testing.assert_array_equal(at, want_at)


@given(st.lists(st.integers(0, 6), max_size=80), st.integers(-1, 90), st.booleans())
@settings(max_examples=300, deadline=None)
def test_smallest_is_the_head_of_a_stable_argsort(values, k, floats):
    """The partition's k smallest, ties by position, are the stable argsort's first k."""
    v = np.array(values, dtype=np.float64)
    if floats:  # distinct values as well as many ties
        v = v + np.random.default_rng(len(values)).random(v.shape[0])
    np.testing.assert_array_equal(smallest(v, k), np.argsort(v, kind="stable")[:max(k, 0)])
