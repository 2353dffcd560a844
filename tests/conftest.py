"""Shared runs and the rules of a scenario, re-derived independently of the engine.

The runs are session scoped: each is simulated once and read by several test
modules, which keeps the whole suite to a few seconds of simulation. Seeds are
fixed, so every statistical test passes or fails the same way on every machine.

`Rules` restates a scenario's grade and ban rules in plain NumPy from the
resolved scenario in a run's manifest. Tests recount the engine's output with
it, so a mistake in the engine's numba kernels cannot hide behind itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from _shared import BUSY_PILOT

import scoresim
from scoresim import Results

# Sizes: large enough for the statistical tests to have power (the standard
# error of the reference mean score at 200,000 people is about 0.12 points),
# small enough that each run takes a second or two on a shared 2-core machine.
REFERENCE_AGENTS = 200_000
PILOT_AGENTS = 50_000
YEAR = 365

REFERENCE_SEED = 20_240_601
PILOT_SEED = 7_301

# The daily metrics of docs/reference-model.md, in its order, under exactly its names.
REFERENCE_METRICS = [
    "day", "mean_score", "n_grade_AAA", "n_grade_AA", "n_grade_A", "n_grade_B",
    "n_grade_C", "n_grade_D", "n_travel_banned", "n_dishonest", "n_wrongly_banned",
    "n_records", "n_false_records",
]


@dataclass(frozen=True)
class Rules:
    """A scenario's scoring and travel-ban rules, from its resolved (manifest) form."""

    initial: int
    points: dict[str, int]
    grade_names: list[str]
    cutoffs: np.ndarray  # min_score of every grade but the bottom one, top grade first
    banned_grades: frozenset[str]
    list_bans: bool
    list_triggers: frozenset[str]
    list_days: int
    repayment_rate: float

    @classmethod
    def of(cls, scenario: dict[str, Any]) -> Rules:
        scoring = scenario["scoring"]
        sanctions = scenario.get("sanctions") or {}
        travel = sanctions.get("travel_ban") or {}
        listing = sanctions.get("dishonest_list") or {}
        return cls(
            initial=scoring["initial"],
            points=dict(scoring["points"]),
            grade_names=[g["name"] for g in scoring["grades"]],
            cutoffs=np.array([g["min_score"] for g in scoring["grades"][:-1]], dtype=np.int64),
            banned_grades=frozenset(travel.get("grades", [])),
            list_bans=bool(travel.get("dishonest_list", False)),
            list_triggers=frozenset(listing.get("triggers", [])),
            list_days=int(listing.get("duration_days", 0)),
            repayment_rate=float(listing.get("repayment_rate", 0.0)),
        )

    def grade_index(self, score: np.ndarray) -> np.ndarray:
        """0 for the top grade: a score belongs to the first grade whose min_score it reaches."""
        score = np.asarray(score, dtype=np.int64)
        below = score[:, None] < self.cutoffs[None, :]
        return below.sum(axis=1)

    def grade(self, score: np.ndarray) -> np.ndarray:
        return np.array(self.grade_names, dtype=object)[self.grade_index(score)]

    def banned(self, score: np.ndarray, listed: np.ndarray) -> np.ndarray:
        """Travel-banned: a banned grade, or on the dishonest list where that bans."""
        in_banned_grade = np.isin(self.grade(score), list(self.banned_grades))
        return in_banned_grade | (self.list_bans & np.asarray(listed, dtype=bool))


@pytest.fixture(scope="session")
def reference_metrics() -> list[str]:
    """docs/reference-model.md's daily metric columns, in order."""
    return list(REFERENCE_METRICS)


@pytest.fixture(scope="session")
def rules_of():
    """`rules_of(results)`: the Rules of the scenario a run actually used."""
    return lambda results: Rules.of(results.manifest["scenario"])


def _run(scenario: str, **kwargs: Any) -> Results:
    results = scoresim.run(scenario, **kwargs)
    _ = results.records  # read the credit file once, while the run's scratch folder exists
    return results


@pytest.fixture(scope="session")
def reference_year() -> Results:
    """`reference` for a year at 200,000 people, with its whole credit file."""
    return _run("reference", agents=REFERENCE_AGENTS, days=YEAR, seed=REFERENCE_SEED,
                records="all")


@pytest.fixture(scope="session")
def pilot_city_year() -> Results:
    """`pilot-city` for a year at 50,000 people, with its whole credit file (and the busy
    rates of _shared.BUSY_PILOT, so that every sanction has thousands of cases to recount)."""
    return _run("pilot-city", agents=PILOT_AGENTS, days=YEAR, seed=PILOT_SEED, records="all",
                set=BUSY_PILOT)


@pytest.fixture(scope="session")
def reference_listing() -> Results:
    """`reference` over 1,000 days with court defaults 50 times as frequent.

    Long enough that listings expire (730 days) and repeat listings extend, with
    about 10,000 court records among 20,000 people, so the dishonest list's
    arithmetic is exercised and not just its first two years.
    """
    return _run("reference", agents=20_000, days=1_000, seed=11, records="all",
                set={"behaviours.court_judgment_default.rate": 0.0005})


@pytest.fixture(scope="session")
def reference_misattributed() -> Results:
    """`reference` with error-prone face recognition and jaywalking worth a ban.

    With false matches 50-90 times the reference rates and one jaywalking record
    enough to fall from 1000 to grade C, hundreds of people are wrongly banned:
    enough for the wrongful-ban recount to have something to disagree about.
    """
    return _run("reference", agents=50_000, days=YEAR, seed=5, records="all",
                set={"face_recognition.reference.fmr": [0.05, 0.09],
                     "scoring.points.jaywalking": -400})


@pytest.fixture(autouse=True)
def _no_default_registry(monkeypatch):
    """Runs in tests register nowhere unless a test names a registry."""
    monkeypatch.setenv("SCORESIM_REGISTRY", "none")
