"""The person backend (lives.py) gives the day loop's numbers, exactly, where it runs.

Both backends key every draw by (seed, purpose, person, day), so for a scenario
the person backend accepts, the timeseries and the people table must be equal
column by column, not just close. Each scenario below exercises a different
part of a life: false matches filed under someone else (the second pass),
listings that end, are repaid or extended, suspensions, shaming, rewards, bans
that stop a purchase.
"""

from __future__ import annotations

import numba
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.model import lives
from scoresim.model.backends import choose_backend, reasons_not_eligible
from scoresim.runs.simulate import resolve
from scoresim.scenario import ScenarioError

# everything the reference leaves out, switched on, with errors frequent enough to matter
BUSY = {
    "behaviours.court_judgment_default.rate": 0.002,
    "sanctions.dishonest_list.duration_days": 60,
    "sanctions.dishonest_list.repayment_rate": 0.02,
    "sanctions.dishonest_list.repeat_extension_days": [10, 40],
    "sanctions.media_suspension": {"triggers": ["criticizing_government"], "duration_days": 30},
    "sanctions.consumption_ban": {"dishonest_list": True},
    "sanctions.shaming": {"triggers": ["jaywalking", "late_payment"]},
    "sanctions.travel_ban.grades": ["B", "C", "D"],
    "rewards": [{"name": "fast_lane", "grades": ["AAA", "AA"]}],
    "metrics.channels": True,
    "face_recognition.reference.fmr": [0.05, 0.2],
    "face_recognition.reference.tmr": 0.6,
}


def both(name: str, agents: int, days: int, sets: dict | None = None) -> tuple:
    out = []
    for backend in ("day", "person"):
        r = scoresim.run(name, agents=agents, days=days, records="none", backend=backend,
                         set=dict(sets or {}))
        assert r.manifest["backend"] == backend
        out.append(r)
    return tuple(out)


def assert_same_run(day: scoresim.Results, person: scoresim.Results) -> None:
    assert list(person.timeseries.columns) == list(day.timeseries.columns)
    assert_frame_equal(person.timeseries, day.timeseries)
    assert_frame_equal(person.people, day.people)
    assert person.manifest["n_events"] == day.manifest["n_events"]


def test_reference_is_the_same_run_on_both_backends() -> None:
    day, person = both("reference", 20_000, 365)
    assert_same_run(day, person)
    assert person.timeseries["n_false_records"].sum() > 0  # the second pass had work


def test_busy_scheme_is_the_same_run_on_both_backends() -> None:
    day, person = both("reference", 8_000, 300, BUSY)
    assert_same_run(day, person)
    ts = person.timeseries
    # the test means something only if every part of a life happened
    for col in ("n_delisted", "n_repaid", "n_newly_listed", "n_media_suspended",
                "n_consumption_banned", "n_shamed_wrongly", "n_rewarded_fast_lane",
                "n_false_match_records", "n_wrongly_banned"):
        assert ts[col].sum() > 0, col


def test_china_list_bans_that_stop_purchases_are_the_same_on_both_backends() -> None:
    day, person = both("china-list", 5_000, 1_500)
    assert_same_run(day, person)
    blocked = [c for c in person.timeseries.columns if c.startswith("n_blocked_")]
    assert blocked and person.timeseries[blocked].to_numpy().sum() > 0


def test_no_system_is_the_same_run_on_both_backends() -> None:
    assert_same_run(*both("no-system", 5_000, 200))


def test_false_matches_that_overflow_their_buffer_are_found_apart(monkeypatch) -> None:
    day, _ = both("reference", 6_000, 200, BUSY)
    monkeypatch.setattr(lives._Kernel, "false_match_capacity", lambda self, people, days: 3)
    person = scoresim.run("reference", agents=6_000, days=200, records="none",
                          backend="person", set=dict(BUSY))
    assert_same_run(day, person)


def test_the_thread_count_does_not_change_the_run() -> None:
    threads = numba.get_num_threads()
    base = scoresim.run("reference", agents=10_000, days=200, records="none",
                        backend="person", set=dict(BUSY))
    numba.set_num_threads(1)
    try:
        one = scoresim.run("reference", agents=10_000, days=200, records="none",
                           backend="person", set=dict(BUSY))
    finally:
        numba.set_num_threads(threads)
    assert_same_run(base, one)


# -------------------------------------------------------------- which backend runs
def test_auto_takes_the_person_backend_only_where_it_gives_the_same_run() -> None:
    ref = resolve("reference", records="none")
    assert reasons_not_eligible(ref) == []
    assert choose_backend(ref, "auto", None) == "person"
    assert choose_backend(resolve("reference", records="all"), "auto", None) == "day"
    assert choose_backend(ref, "auto", checkpoint_every=10) == "day"
    assert choose_backend(resolve("pilot-city", records="none"), "auto", None) == "day"
    assert choose_backend(ref, "day", None) == "day"


def test_asking_for_the_person_backend_where_it_cannot_run_says_why() -> None:
    with pytest.raises(ScenarioError, match="responses"):
        choose_backend(resolve("pilot-city", records="none"), "person", None)
    with pytest.raises(ScenarioError, match="records"):
        choose_backend(resolve("reference", records="all"), "person", None)


def test_cli_backend_flag(tmp_path) -> None:
    runner = CliRunner()
    base = ["run", "--agents", "2000", "--days", "20", "--quiet", "--registry", "none"]
    bad = runner.invoke(app, [*base, "pilot-city", "--records", "none", "--backend", "person",
                              "--out", str(tmp_path / "a")])
    assert bad.exit_code == 2 and "person backend cannot run" in bad.output
    assert not (tmp_path / "a").exists()
    wrong = runner.invoke(app, [*base, "reference", "--backend", "gpu-someday",
                                "--out", str(tmp_path / "b")])
    assert wrong.exit_code == 2 and "--backend" in wrong.output
    ok = runner.invoke(app, [*base, "reference", "--records", "none", "--backend", "person",
                             "--out", str(tmp_path / "c")])
    assert ok.exit_code == 0, ok.output
    assert scoresim.load(tmp_path / "c").manifest["backend"] == "person"
    assert isinstance(scoresim.load(tmp_path / "c").timeseries, pd.DataFrame)
