"""Timelines: values that change on given days (scenario/timeline.py, model/timeline.py).

What must hold: a change on day d leaves every output before day d exactly as
without it (common random numbers, and no clock drawn before its change); after
it, event counts follow the new rate within their sampling error; a ramp gives
the rates it promises; both backends give the same numbers; bad timelines are
refused with exit code 2, naming file, field and line.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.report import write_report
from scoresim.scenario import ScenarioError, load_scenario
from scoresim.studies.calibrate import parse_parameter

N, DAYS = 20_000, 600

# the china-list scenario with every kind of change: a rate up, a rate down by a ramp,
# the repayment rate, the term of a listing
HISTORY = [
    {"day": 200, "set": {"behaviours.court_judgment_default.rate": 2.0e-5,
                         "sanctions.dishonest_list.repayment_rate": 2.0e-3},
     "source": "assumption"},
    {"day": 350, "ramp_days": 100, "set": {"behaviours.flight_purchase.rate": 5.0e-4,
                                           "sanctions.dishonest_list.duration_days": 400}},
]


def run(scenario: str = "china-list", timeline: list | None = None, backend: str = "day",
        agents: int = N, days: int = DAYS, **sets) -> scoresim.Results:
    s = dict(sets)
    if timeline is not None:
        s["timeline"] = timeline
    return scoresim.run(scenario, agents=agents, days=days, records="none", backend=backend,
                        set=s)


def test_a_change_leaves_the_days_before_it_byte_identical() -> None:
    without = run().timeseries
    with_ = run(timeline=HISTORY).timeseries
    assert_frame_equal(without.iloc[:200], with_.iloc[:200])
    # and after it the run differs, where the change makes it differ only
    after = with_.iloc[200:].sum()
    before = without.iloc[200:].sum()
    assert after["n_events_court_judgment_default"] > before["n_events_court_judgment_default"]
    assert after["n_events_train_purchase"] == before["n_events_train_purchase"]
    # the second change alone: identical up to its own day
    only_second = run(timeline=HISTORY[:1]).timeseries
    assert_frame_equal(only_second.iloc[:350], with_.iloc[:350])


def test_a_later_rate_change_keeps_every_earlier_event() -> None:
    """A lower rate keeps a subset of the events the higher one has (thinning), a higher
    one adds to them: compared pair by pair through the day-0 propensities."""
    down = [{"day": 100, "set": {"behaviours.flight_purchase.rate": 4.0e-4}}]
    a = run(days=300).timeseries["n_events_flight_purchase"].to_numpy()
    b = run(days=300, timeline=down).timeseries["n_events_flight_purchase"].to_numpy()
    assert (a[:100] == b[:100]).all()
    assert (b[100:] <= a[100:]).all()  # a subset, day by day
    assert b[100:].sum() < a[100:].sum()


def _expected_and_sd(rates: np.ndarray, n: int) -> tuple[float, float]:
    """Events of n people with propensity 1 at daily probabilities `rates`: the sum of
    independent Bernoulli draws, with its exact variance."""
    return float(n * rates.sum()), math.sqrt(float(n * (rates * (1 - rates)).sum()))


@pytest.mark.parametrize("new", [0.004, 0.0002])
def test_after_the_change_events_follow_the_new_rate(new: float) -> None:
    tl = [{"day": 100, "set": {"behaviours.flight_purchase.rate": new}}]
    ts = run(days=300, timeline=tl, **{"population.propensity_sigma": 0.0}).timeseries
    counts = ts["n_events_flight_purchase"].to_numpy()
    for span, rate in ((slice(0, 100), 0.0016), (slice(100, 300), new)):
        days = counts[span].shape[0]
        mean, sd = _expected_and_sd(np.full(days, rate), N)
        assert abs(counts[span].sum() - mean) < 4 * sd, (span, counts[span].sum(), mean, sd)


def test_a_ramp_gives_the_rates_it_promises() -> None:
    tl = [{"day": 50, "ramp_days": 100, "set": {"behaviours.flight_purchase.rate": 0.008}}]
    ts = run(days=250, timeline=tl, **{"population.propensity_sigma": 0.0}).timeseries
    counts = ts["n_events_flight_purchase"].to_numpy()
    j = np.arange(100)
    ramp = 0.0016 + (0.008 - 0.0016) * (j + 1) / 100
    for span, rates in ((slice(50, 100), ramp[:50]), (slice(100, 150), ramp[50:]),
                        (slice(150, 250), np.full(100, 0.008))):
        mean, sd = _expected_and_sd(rates, N)
        assert abs(counts[span].sum() - mean) < 4 * sd, (span, counts[span].sum(), mean, sd)


def test_heterogeneous_propensities_keep_their_mean_under_a_change() -> None:
    """With propensities (sigma 0.5, E[m] = 1) the layers act per level: the mean rate after
    a rise and after a fall is the new rate, within the Poisson error and the spread of
    the drawn propensities."""
    tl = [{"day": 100, "set": {"behaviours.flight_purchase.rate": 0.005}},
          {"day": 200, "set": {"behaviours.flight_purchase.rate": 0.0008}}]
    counts = run(days=300, timeline=tl).timeseries["n_events_flight_purchase"].to_numpy()
    for span, rate in ((slice(100, 200), 0.005), (slice(200, 300), 0.0008)):
        mean = N * 100 * rate
        # Poisson, and the people's propensities (var of m: exp(sigma^2) - 1)
        sd = math.sqrt(mean + (100 * rate) ** 2 * N * (math.exp(0.25) - 1))
        assert abs(counts[span].sum() - mean) < 4 * sd, (span, counts[span].sum(), mean, sd)


def test_both_backends_agree_exactly_with_a_timeline() -> None:
    day, person = run(timeline=HISTORY), run(timeline=HISTORY, backend="person")
    assert day.manifest["backend"] == "day" and person.manifest["backend"] == "person"
    assert_frame_equal(day.timeseries, person.timeseries)
    assert_frame_equal(day.people, person.people)
    assert day.timeseries["n_repaid"].iloc[200:].sum() > 0


def test_both_backends_agree_with_cameras_and_false_matches_under_a_timeline() -> None:
    tl = [{"day": 60, "set": {"behaviours.jaywalking.rate": 0.02}},
          {"day": 120, "ramp_days": 60, "set": {"channels.street_camera.capture_probability":
                                                0.2, "behaviours.jaywalking.rate": 0.001}}]
    sets = {"face_recognition.reference.fmr": [0.05, 0.2], "face_recognition.reference.tmr": 0.6}
    day = run("reference", tl, agents=6_000, days=240, **sets)
    person = run("reference", tl, backend="person", agents=6_000, days=240, **sets)
    assert_frame_equal(day.timeseries, person.timeseries)
    assert_frame_equal(day.people, person.people)
    base = run("reference", agents=6_000, days=240, **sets).timeseries
    assert_frame_equal(base.iloc[:60], day.timeseries.iloc[:60])
    assert day.timeseries["n_false_match_records"].sum() > 0


def test_show_prints_the_timeline_resolved() -> None:
    res = CliRunner().invoke(app, ["show", "china-list", "--set", "origin=2013-10-01",
                                   "--set", 'timeline=[{date: 2015-07-22, set: '
                                   '{behaviours.flight_purchase.rate: 0.003}, source: x}]'])
    assert res.exit_code == 0, res.output
    assert "date: '2015-07-22'" in res.output and "day: 659" in res.output


def test_set_and_param_reach_timeline_values() -> None:
    tl = [{"day": 10, "set": {"behaviours.flight_purchase.rate": 0.003,
                              "sanctions.dishonest_list.duration_days": 500}}]
    s = load_scenario("china-list", {"timeline": tl,
                                     "timeline.0.set.behaviours.flight_purchase.rate": 0.004})
    assert s.timeline[0].set["behaviours.flight_purchase.rate"] == 0.004
    p = parse_parameter("timeline.0.set.sanctions.dishonest_list.duration_days=300:900", s)
    assert p.integer
    p = parse_parameter("timeline.0.set.behaviours.flight_purchase.rate=1e-3:1e-2:log", s)
    assert not p.integer and p.log


BAD = [
    ("day: 20\n    set: {behaviours.nope.rate: 0.1}", "timeline.0.set.behaviours.nope.rate",
     "no such value"),
    ("day: 20\n    set: {behaviours.a.rate: high}", "timeline.0.set.behaviours.a.rate",
     "valid number"),
    ("day: 20\n    set: {behaviours.a.rate: 2.0}", "timeline.0.set.behaviours.a.rate",
     "less than or equal to 1"),
    ("day: 20\n    set: {scoring.initial: 3}", "timeline.0.set.scoring.initial",
     "cannot change during a run"),
    ("date: 2013-09-01\n    set: {behaviours.a.rate: 0.1}", "timeline.0.date",
     "before the origin"),
    ("date: 2014-09-01\n    set: {behaviours.a.rate: 0.1}", "timeline.0.date",
     "past the run"),
    ("day: 20\n    ramp_days: 5\n    set: {channels.court.kind: camera}",
     "timeline.0.set.channels.court.kind", "cannot change"),
    ("day: 20\n    extra: 1\n    set: {behaviours.a.rate: 0.1}", "timeline.0.extra",
     "unknown field"),
]


@pytest.mark.parametrize(("entry", "field", "message"), BAD)
def test_bad_timelines_exit_2_naming_file_field_and_line(tmp_path: Path, entry: str,
                                                         field: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nagents: 100\ndays: 100\norigin: 2013-10-01\n"
        "behaviours:\n  a: {rate: 0.01, channel: court}\n"
        "channels:\n  court: {kind: register}\n"
        f"timeline:\n  - {entry}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(str(path))
    assert err.value.field == field
    assert message in err.value.detail
    assert err.value.line is not None and err.value.line >= 10
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert res.exit_code == 2
    assert "bad.yaml" in res.output and field in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_a_date_needs_an_origin() -> None:
    with pytest.raises(ScenarioError, match="needs the scenario's origin"):
        load_scenario("china-list", {"timeline": [{"date": "2014-01-01",
                                                   "set": {"behaviours.flight_purchase.rate":
                                                           0.1}}]})


def test_dates_in_the_timeseries_the_report_and_the_plot(tmp_path: Path) -> None:
    tl = [{"date": "2014-06-14", "name": "outline",
           "set": {"behaviours.court_judgment_default.rate": 2.0e-5}}]
    res = scoresim.run("china-list", agents=3_000, days=400, records="none",
                       set={"origin": "2013-10-01", "timeline": tl}, out=tmp_path / "run")
    ts = scoresim.load(tmp_path / "run").timeseries
    assert list(ts.columns[:2]) == ["day", "date"]
    assert str(ts["date"].iloc[0].date()) == "2013-10-01"
    assert str(ts["date"].iloc[256].date()) == "2014-06-14"
    fig = res.plot()
    assert fig.data[0].x[0] == "2013-10-01"
    assert any(a.text == "outline" for a in fig.layout.annotations)
    html = write_report(tmp_path / "run").read_text()
    assert "2014-06-14" in html and "outline" in html
    # without an origin: no date column, days on the axes
    plain = run(days=50, agents=1_000).timeseries
    assert "date" not in plain.columns


SWITCHES = [{"day": 200, "set": {"sanctions.travel_ban.enabled": False,
                                 "channels.court.enabled": False}},
            {"day": 400, "set": {"sanctions.travel_ban.enabled": True,
                                 "channels.court.enabled": True}}]


def _switched_on_both(timeline: list, **sets) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run without the timeline and with it (day loop), having checked what every
    switch must keep: byte-identical before its day 200, both backends equal."""
    base = run(agents=5_000, **sets).timeseries
    day = run(agents=5_000, timeline=timeline, **sets)
    person = run(agents=5_000, timeline=timeline, backend="person", **sets)
    ts = day.timeseries
    assert_frame_equal(base.iloc[:200], ts.iloc[:200])
    assert_frame_equal(ts, person.timeseries)
    assert_frame_equal(day.people, person.people)
    return base, ts


def test_switching_a_ban_and_a_channel_off_and_on() -> None:
    """Before the switch byte-identical; while off no ban and no court record; switched on
    again both resume; both backends equal."""
    base, ts = _switched_on_both(SWITCHES)
    assert base["n_travel_banned"].iloc[200:400].sum() > 0
    assert (ts["n_travel_banned"].iloc[200:400] == 0).all()
    assert (ts["n_records"].iloc[200:400] == 0).all()
    assert ts["n_travel_banned"].iloc[400:].sum() > 0
    assert ts["n_records"].iloc[400:].sum() > 0


def test_a_switch_needs_its_section_and_a_boolean() -> None:
    with pytest.raises(ScenarioError, match="no such section"):
        load_scenario("china-list", {"timeline": [{"day": 5, "set": {
            "channels.nope.enabled": False}}]})
    with pytest.raises(ScenarioError, match="true or false"):
        load_scenario("china-list", {"timeline": [{"day": 5, "set": {
            "sanctions.travel_ban.enabled": 0}}]})


LIST_OFF = [{"day": 200, "set": {"sanctions.dishonest_list.enabled": False}},
            {"day": 400, "set": {"sanctions.dishonest_list.enabled": True}}]


def test_switching_the_dishonest_list_off_and_on() -> None:
    """While off nobody is listed, nor banned for a listing; switched on again the listing
    in force returns (re-derived from standing); both backends equal."""
    base, ts = _switched_on_both(LIST_OFF)
    assert base["n_dishonest"].iloc[200:400].min() > 0
    assert (ts["n_dishonest"].iloc[200:400] == 0).all()
    assert (ts["n_consumption_banned"].iloc[200:400] == 0).all()
    assert (ts["n_dishonest"].iloc[400:] == base["n_dishonest"].iloc[400:]).all()


def _switched(scenario: str, timeline: list, days: int = 240, backend: str = "day"):
    return scoresim.run(scenario, agents=5_000, days=days, records="none", backend=backend,
                        set={"timeline": timeline})


def test_switching_media_suspension_off_and_on() -> None:
    """china-list with court defaults suspending accounts: while off nobody is suspended,
    switched on the suspensions in force return; both backends equal."""
    media = {"triggers": ["court_judgment_default"], "duration_days": 300}
    off = [{"day": 200, "set": {"sanctions.media_suspension.enabled": False}},
           {"day": 400, "set": {"sanctions.media_suspension.enabled": True}}]
    base = run(agents=5_000, **{"sanctions.media_suspension": media}).timeseries
    day = run(agents=5_000, timeline=off, **{"sanctions.media_suspension": media})
    person = run(agents=5_000, timeline=off, backend="person",
                 **{"sanctions.media_suspension": media})
    ts = day.timeseries
    assert_frame_equal(base.iloc[:200], ts.iloc[:200])
    assert_frame_equal(ts, person.timeseries)
    assert_frame_equal(day.people, person.people)
    assert base["n_media_suspended"].iloc[200:400].min() > 0
    assert (ts["n_media_suspended"].iloc[200:400] == 0).all()
    assert (ts["n_media_suspended"].iloc[400:] == base["n_media_suspended"].iloc[400:]).all()


def test_switching_a_pilot_scheme_off_and_on() -> None:
    """A pilot scheme switched off: its region's people are graded by nobody (like a region
    without a pilot) and banned for their grade by nobody; switched on again, graded."""
    off = [{"day": 100, "set": {"schemes.rongcheng.enabled": False}},
           {"day": 200, "set": {"schemes.rongcheng.enabled": True}}]
    base = scoresim.run("china", agents=5_000, days=300, records="none").timeseries
    ts = _switched("china", off, days=300).timeseries
    assert_frame_equal(base.iloc[:100], ts.iloc[:100])
    graded = [c for c in ts.columns if c.startswith("n_grade_")]
    during = ts[graded].iloc[100:200].sum(axis=1)
    assert (during < base[graded].iloc[100:200].sum(axis=1)).all()
    # about a tenth of the people live in Rongcheng (china.yaml: share 0.1)
    assert 300 < (base[graded].iloc[150].sum() - during.iloc[50]) < 700
    assert (ts[graded].iloc[200:].sum(axis=1) > during.iloc[-1]).all()


def test_scheme_and_list_switches_are_validated() -> None:
    with pytest.raises(ScenarioError, match="no region runs scheme"):
        load_scenario("china", {"regions.rongcheng.scheme": None, "timeline": [
            {"day": 5, "set": {"schemes.rongcheng.enabled": False}}]})
    with pytest.raises(ScenarioError, match="no such section"):
        load_scenario("china-list", {"timeline": [{"day": 5, "set": {
            "sanctions.media_suspension.enabled": False}}]})
    with pytest.raises(ScenarioError, match="no such section"):
        load_scenario("china-list", {"timeline": [{"day": 5, "set": {
            "sanctions.shaming.enabled": False}}]})
    with pytest.raises(ScenarioError, match="cannot change during a run"):
        load_scenario("china-list", {"timeline": [{"day": 5, "set": {
            "sanctions.shaming.triggers": []}}]})


NAMED = [{"name": "first", "day": 10, "set": {"behaviours.flight_purchase.rate": 0.003}},
         {"name": "second", "day": 20, "set": {"sanctions.dishonest_list.duration_days": 500}}]


def test_set_and_param_reach_timeline_entries_by_name() -> None:
    """A name reaches the same entry after another is put before it (a position does not)."""
    earlier = {"name": "earlier", "day": 5, "set": {"behaviours.flight_purchase.rate": 0.002}}
    sets = {"timeline.second.set.sanctions.dishonest_list.duration_days": 600,
            "timeline.first.day": 12}
    for tl in (NAMED, [earlier, *NAMED]):
        s = load_scenario("china-list", {"timeline": tl, **sets})
        by_name = {c.name: c for c in s.timeline}
        assert by_name["second"].set["sanctions.dishonest_list.duration_days"] == 600
        assert by_name["first"].day == 12
        assert by_name.get("earlier") is None or by_name["earlier"].day == 5
        p = parse_parameter("timeline.second.set.sanctions.dishonest_list.duration_days="
                            "300:900", s)
        assert p.integer and p.path.startswith("timeline.second.")
        p = parse_parameter("timeline.first.set.behaviours.flight_purchase.rate=1e-3:1e-2:log",
                            s)
        assert not p.integer and p.log
    # positions still work
    s = load_scenario("china-list", {"timeline": NAMED,
                                     "timeline.1.set.sanctions.dishonest_list.duration_days": 9})
    assert s.timeline[1].set["sanctions.dishonest_list.duration_days"] == 9


def test_a_name_that_names_no_entry_is_refused() -> None:
    with pytest.raises(ScenarioError, match="no entry named 'third'.*first, second"):
        load_scenario("china-list", {"timeline": NAMED,
                                     "timeline.third.set.behaviours.flight_purchase.rate": 0.1})
    s = load_scenario("china-list", {"timeline": NAMED})
    with pytest.raises(ScenarioError, match="no entry named 'third'"):
        parse_parameter("timeline.third.set.behaviours.flight_purchase.rate=1e-3:1e-2", s)
    res = CliRunner().invoke(app, ["show", "china-list", "--set", "timeline=" + str(NAMED),
                                   "--set", "timeline.third.day=3"])
    assert res.exit_code == 2 and "no entry named 'third'" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize(("name", "message"), [
    ("first", "'first' is also the name of timeline.0"),
    ("2nd", "should match pattern"),
    ("a b", "should match pattern"),
])
def test_duplicate_and_bad_names_exit_2_naming_file_field_and_line(
        tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nagents: 100\ndays: 100\n"
        "behaviours:\n  a: {rate: 0.01, channel: court}\n"
        "channels:\n  court: {kind: register}\n"
        "timeline:\n"
        "  - name: first\n    day: 10\n    set: {behaviours.a.rate: 0.02}\n"
        f"  - name: '{name}'\n    day: 20\n    set: {{behaviours.a.rate: 0.03}}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(str(path))
    assert err.value.field == "timeline.1.name"
    assert message in err.value.detail
    assert err.value.line == 12
    res = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "bad.yaml" in res.output and "timeline.1.name" in res.output
    assert "Traceback" not in res.output


def test_show_prints_the_names() -> None:
    res = CliRunner().invoke(app, ["show", "china-list", "--set", "timeline=" + str(NAMED)])
    assert res.exit_code == 0, res.output
    assert "name: first" in res.output and "name: second" in res.output


SHAMING = {"sanctions.shaming": {"triggers": ["court_judgment_default"]}}
SHAME_OFF = [{"day": 200, "set": {"sanctions.shaming.enabled": False}},
             {"day": 400, "set": {"sanctions.shaming.enabled": True}}]


def test_switching_shaming_off_and_on() -> None:
    """While off no record is shown (the records are still filed); switched on again the
    day's records are shown as before; nothing else moves; both backends equal."""
    base, ts = _switched_on_both(SHAME_OFF, **SHAMING)
    assert base["n_shamed"].iloc[200:400].sum() > 0
    assert (ts["n_shamed"].iloc[200:400] == 0).all()
    assert (ts["n_records"] == base["n_records"]).all()
    assert (ts["n_shamed"].iloc[400:] == base["n_shamed"].iloc[400:]).all()
    others = [c for c in ts.columns if not c.startswith("n_shamed")]
    assert_frame_equal(ts[others], base[others])


def test_switching_shaming_off_stops_its_awareness_and_wrongful_shaming() -> None:
    """pilot-city (cameras, wrong faces, awareness from the screens): while off nobody is
    shown, rightly or wrongly, and the screens make nobody aware."""
    kw = {"agents": 20_000, "days": 120, "records": "all"}
    sets = {"channels.street_camera.capture_probability": 0.05,
            "responses.awareness.from_shaming": 1.0,
            "face_recognition.nist-2019-us.fmr": [0.01, 0.02]}
    off = [{"day": 40, "set": {"sanctions.shaming.enabled": False}}]
    on_run = scoresim.run("pilot-city", set=sets, **kw)
    off_run = scoresim.run("pilot-city", set={**sets, "timeline": off}, **kw)
    base, ts = on_run.timeseries, off_run.timeseries
    # the replayed wrongful sanctions (wrongful.parquet): shaming only before the switch
    shamed = [w[w["sanction"] == "shaming"]["first_day"] for w in
              (on_run.wrongful(), off_run.wrongful())]
    assert shamed[0].max() >= 40 and 0 < len(shamed[1]) < len(shamed[0])
    assert shamed[1].max() < 40
    assert_frame_equal(base.iloc[:40], ts.iloc[:40])
    assert base["n_shamed_wrongly"].iloc[40:].sum() > 0
    assert (ts[["n_shamed", "n_shamed_wrongly"]].iloc[40:] == 0).all().all()
    # awareness from the screens (from_shaming 1, publicity) stops: fewer aware by the end
    grew_on, grew_off = (x["n_aware"].iloc[-1] - x["n_aware"].iloc[39] for x in (base, ts))
    assert grew_off < grew_on / 4
