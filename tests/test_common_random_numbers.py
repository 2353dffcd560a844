"""Common random numbers: a policy change leaves true behaviour exactly as it was.

Every draw is keyed by (seed, module, purpose) and counters, so two runs with
the same seed that differ only in policy must give every person the same true
events (nothing responds to policy yet). That is what makes "with the system"
against "without" a paired comparison, person by person.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _shared import BUSY_PILOT

import scoresim
from scoresim import Results

SEED = 2_718
SIZE = {"agents": 20_000, "days": 365}


def _events_of_correct_records(results: Results) -> pd.DataFrame:
    rec = results.records
    right = rec[rec["correct"]]
    out = pd.DataFrame({
        "day": right["day"].to_numpy(),
        "true_actor": right["true_actor"].to_numpy(),
        "behaviour": right["behaviour"].astype(str).to_numpy(),
    })
    return out.sort_values(["day", "true_actor", "behaviour"], kind="stable").reset_index(
        drop=True)


@pytest.fixture(scope="module")
def reference_pair() -> tuple[Results, Results]:
    """`reference`, and `reference` with every point doubled, same seed."""
    base = scoresim.resolve("reference")
    doubled = {f"scoring.points.{b}": 2 * p for b, p in base.scoring.points.items()}
    plain = scoresim.run("reference", seed=SEED, records="all", **SIZE)
    double = scoresim.run("reference", seed=SEED, records="all", set=doubled, **SIZE)
    _ = plain.records, double.records
    return plain, double


def test_doubling_points_changes_no_true_event(reference_pair) -> None:
    plain, double = reference_pair
    # The policy really changed: every record is worth twice as much.
    assert all(2 * p == double.scenario["scoring"]["points"][b]
               for b, p in plain.scenario["scoring"]["points"].items())
    ea, eb = _events_of_correct_records(plain), _events_of_correct_records(double)
    assert len(ea) > 100_000
    pd.testing.assert_frame_equal(ea, eb, check_exact=True)
    assert np.array_equal(plain.timeseries["n_events"], double.timeseries["n_events"])


def test_doubling_points_doubles_every_score_change(reference_pair) -> None:
    """The paired comparison, person by person: the same records, at twice the points."""
    plain, double = reference_pair
    initial = plain.scenario["scoring"]["initial"]
    ra, rb = plain.records, double.records
    assert np.array_equal(ra["subject"], rb["subject"])
    assert np.array_equal(ra["true_actor"], rb["true_actor"])
    assert np.array_equal(2 * ra["points"].to_numpy(), rb["points"].to_numpy())
    da = plain.people["score"].to_numpy().astype(np.int64) - initial
    db = double.people["score"].to_numpy().astype(np.int64) - initial
    assert np.array_equal(2 * da, db)
    # ... while the outcomes differ: harsher points ban more people.
    assert double.timeseries["n_travel_banned"].iloc[-1] > plain.timeseries[
        "n_travel_banned"].iloc[-1]


def pilot_city_without_responses() -> dict:
    """pilot-city's whole system (cameras, scores, lists, bans, repair, appeals), with nobody
    responding to it: no `responses` and no `dissent` choice, and so no acts done only for
    points."""
    scenario = scoresim.resolve("pilot-city").model_dump(mode="json")
    scenario["responses"] = None
    scenario.pop("dissent", None)  # the paper's choice thins critical speech: a response too
    for name, behaviour in list(scenario["behaviours"].items()):
        if behaviour.get("motive") == "points":
            del scenario["behaviours"][name]
            scenario["scoring"]["points"].pop(name, None)
    return scenario


@pytest.fixture(scope="module")
def no_system() -> Results:
    return scoresim.run("no-system", seed=SEED, records="none", **SIZE)


def test_system_and_no_system_share_their_days(no_system: Results) -> None:
    """With nobody responding, the system changes nothing people do, day by day."""
    with_system = scoresim.run(pilot_city_without_responses(), seed=SEED, records="none",
                               **SIZE)
    for column in ("n_events", "n_speech_events"):
        a = with_system.timeseries[column].to_numpy()
        b = no_system.timeseries[column].to_numpy()
        assert np.array_equal(a, b), (column, np.flatnonzero(a != b)[:5])
    assert no_system.timeseries["n_speech_events"].sum() > 1_000
    # The comparison is not between two copies of the same run.
    assert with_system.timeseries["n_records"].sum() > 0
    assert no_system.timeseries["n_records"].sum() == 0
    # And the society itself is the same: the same groups, person by person.
    assert with_system.people["group"].equals(no_system.people["group"])


def test_responses_are_what_breaks_the_pairing(no_system: Results) -> None:
    """pilot-city as built, with its responses: people speak less (chilling), so the paired
    difference in speech is the system's effect, not noise between unpaired runs."""
    with_system = scoresim.run("pilot-city", seed=SEED, records="none", set=BUSY_PILOT, **SIZE)
    speech = with_system.timeseries["n_speech_events"].sum()
    baseline = no_system.timeseries["n_speech_events"].sum()
    assert speech < baseline


def test_another_seed_breaks_the_pairing() -> None:
    """The pairing is a property of the seed, not of the scenario: other seeds do differ."""
    a = scoresim.run("no-system", seed=SEED, records="none", agents=20_000, days=60)
    b = scoresim.run("no-system", seed=SEED + 1, records="none", agents=20_000, days=60)
    assert not np.array_equal(a.timeseries["n_events"], b.timeseries["n_events"])
