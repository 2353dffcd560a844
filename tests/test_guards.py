"""Resource guards and privacy by design.

A run the machine cannot hold is refused before anything is allocated, with
the estimate and exit code 2; `--force` overrides. The estimate is checked
against the engine's real arrays, so it cannot silently fall behind the engine.
And nothing a run writes has a place for a real identity.
"""

from __future__ import annotations

import re
import sys
import time
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.model import guards
from scoresim.model.calendar import BLOCK
from scoresim.model.engine import Simulation
from scoresim.model.guards import ResourceError, check_memory, estimate_memory
from scoresim.runs.peak import measure_peak
from scoresim.runs.simulate import resolve
from scoresim.scenario.schema import Population

runner = CliRunner()
GIB = 2**30


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


# ---------------------------------------------------------------- refusing, at once
def test_five_billion_people_are_refused_at_once_without_allocating(tmp_path: Path) -> None:
    out = tmp_path / "huge"
    tracemalloc.start()
    t0 = time.perf_counter()
    result = runner.invoke(app, ["run", "reference", "--agents", "5000000000", "--out", str(out),
                                 "--quiet", "--registry", "none"])
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.exit_code == 2, result.output
    assert elapsed < 5.0  # generous: the refusal itself is arithmetic, well under 0.1 s
    assert peak < 50 * 2**20  # NumPy's arrays are traced; the run's would be ~1 TiB
    message = result.output
    assert message.startswith("error: scenario 'reference', field 'agents': 5,000,000,000 people")
    assert "memory" in message and "--force" in message and "available" in message
    assert "Traceback" not in message
    assert not out.exists() and not any(tmp_path.iterdir())


def test_the_api_refuses_too(tmp_path: Path) -> None:
    with pytest.raises(ResourceError) as info:
        scoresim.run("pilot-city", agents=5_000_000_000, out=tmp_path / "huge")
    assert info.value.field == "agents"
    assert isinstance(info.value, scoresim.ScenarioError)  # reported like any bad input
    assert not (tmp_path / "huge").exists()


def test_normal_sizes_are_accepted() -> None:
    for name in scoresim.builtin_names():
        estimate = check_memory(resolve(name, agents=200_000, days=365))
        # the process itself is ~272 MiB; pilot-city's replay of a year's credit file most
        assert estimate.total < 2 * GIB
    result = runner.invoke(app, ["run", "reference", "--agents", "1000", "--days", "5",
                                 "--out", "small", "--quiet", "--registry", "none"])
    assert result.exit_code == 0, result.output
    assert scoresim.load("small").manifest["agents"] == 1000


def test_force_runs_what_the_guard_would_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guards, "available_memory", lambda: 1 << 16)  # a machine with 64 KiB
    args = ["run", "reference", "--agents", "1000", "--days", "3", "--quiet",
            "--registry", "none"]
    refused = runner.invoke(app, [*args, "--out", "refused"])
    assert refused.exit_code == 2 and "64.0 KiB is available" in refused.output
    assert not Path("refused").exists() and not Path("runs").exists()
    forced = runner.invoke(app, [*args, "--out", "forced", "--force"])
    assert forced.exit_code == 0, forced.output
    assert scoresim.load("forced").manifest["agents"] == 1000


def test_the_threshold_is_the_available_memory() -> None:
    scenario = resolve("pilot-city", agents=1_000_000, days=365)
    need = estimate_memory(scenario).total
    check_memory(scenario, available=need)
    with pytest.raises(ResourceError):
        check_memory(scenario, available=need - 1)
    check_memory(scenario, available=need - 1, force=True)


# ---------------------------------------------------------------- the estimate itself
@pytest.mark.parametrize("name", ["reference", "pilot-city", "no-system"])
def test_the_estimate_covers_the_engine_arrays(name: str) -> None:
    """`memory_bytes()` of a real Simulation fits in the estimate's resident part.

    The allowance is each calendar's initial blocks (one per day, reserved but
    mostly untouched, so left out of the estimate of touched memory). The lower
    bound keeps the estimate from drifting far above the engine: within a factor
    of two it still refuses only what is near the limit.
    """
    n, days = 200_000, 30
    scenario = resolve(name, agents=n, days=days, records="none")
    estimate = estimate_memory(scenario)
    sim = Simulation(scenario)
    assert sim.behaviour.calendar is not None  # the day loop builds it on its first day
    arrays = sum(sim.memory_bytes().values())
    allowance = guards.N_CALENDARS * (days + 48) * BLOCK * 4
    assert arrays <= estimate.resident_per_person * n + allowance
    assert arrays >= 0.5 * estimate.resident_per_person * n


def test_estimate_grows_with_people_days_and_code_width() -> None:
    small = estimate_memory(resolve("pilot-city", agents=10**6, days=30))
    longer = estimate_memory(resolve("pilot-city", agents=10**6, days=365))
    bigger = estimate_memory(resolve("pilot-city", agents=10**8, days=365))
    huge = estimate_memory(resolve("pilot-city", agents=5 * 10**9, days=365))
    assert small.total < longer.total < bigger.total < huge.total
    # past 2**32 (person, behaviour) codes the calendar's entries are uint64: twice the bytes
    assert guards.clock_bytes(resolve("pilot-city", agents=10**8)) == 4
    assert guards.clock_bytes(resolve("pilot-city", agents=5 * 10**9)) == 8
    assert huge.resident_per_person > bigger.resident_per_person
    # the design target: 100 million people fit the 24 GiB of a workstation, with the
    # credit file off (kept, it is replayed whole at the end: runs/wrongful.py)
    assert estimate_memory(resolve("pilot-city", agents=10**8, days=365,
                                   records="none")).total < 24 * GIB
    assert bigger.parts["replay"] > 24 * GIB


def test_the_estimate_terms_follow_the_scenario() -> None:
    """Each term of the model grows with what it counts, and is zero without it."""
    plain = estimate_memory(resolve("reference", agents=10**6, days=90, records="none"))
    assert plain.parts["ties"] == plain.parts["households"] == plain.parts["firms"] == 0
    assert plain.parts["replay"] == 0  # no credit file kept: nothing replayed
    china = estimate_memory(resolve("china", agents=10**6, days=90))
    # ties: offsets (int64) per person and an int32 per tie end, mean degree 15
    assert china.parts["ties"] == 10**6 * (8 + 4 * 15)
    assert china.parts["households"] > 10**6 * 5 and china.parts["firms"] > 0
    wider = estimate_memory(resolve("china", agents=10**6, days=90,
                                    overrides={"network.degree_max": 40}))
    assert wider.parts["ties"] > china.parts["ties"]
    kept = estimate_memory(resolve("reference", agents=10**6, days=90, records="all"))
    assert kept.parts["replay"] > 0 and kept.total > plain.total
    twice = estimate_memory(resolve("reference", agents=10**6, days=180, records="all"))
    assert twice.parts["replay"] == pytest.approx(2 * kept.parts["replay"])
    # the process is counted once at any size, on both backends
    for backend in ("day", "person"):
        tiny = estimate_memory(resolve("reference", agents=2000, days=3, records="none"),
                               backend)
        assert guards.PROCESS_BYTES <= tiny.total <= guards.PROCESS_BYTES + 32 * 2**20


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS measured on Linux")
@pytest.mark.parametrize("name,n", [
    ("reference", 200_000), ("reference", 1_000_000),
    pytest.param("china", 200_000, marks=pytest.mark.xfail(
        reason="open: china's output phase holds 60-90 MiB the model does not count "
        "(BENCHMARKS.md: 0.85 at 2e5)", strict=False)),
    ("china", 1_000_000)])
def test_the_estimate_is_within_ten_percent_of_measured_peaks(name: str, n: int) -> None:
    """The whole process's peak RSS (runs/peak.py: /usr/bin/time -v of `scoresim run`,
    after a warm-up that fills numba's cache) lies within 10% of the estimate."""
    p = measure_peak(name, n, 90)
    assert abs(p.ratio - 1) <= 0.10, p


# ---------------------------------------------------------------- privacy by design
# Column names that would hold a real identity. A person is an index ("id",
# "subject", "true_actor", "person"); traits are drawn from aggregate shares.
IDENTITY_TOKENS = {
    "name", "names", "surname", "firstname", "lastname", "fullname", "face", "faces", "photo",
    "image", "portrait", "biometric", "fingerprint", "iris", "voice", "address",
    "postcode", "zip", "phone", "mobile", "email", "ip", "mac", "imei", "gps", "lat",
    "latitude", "lon", "lng", "longitude", "birth", "birthday", "dob", "passport", "ssn",
    "hukou", "plate", "licence", "license", "wechat", "weibo", "qq", "alipay", "employer",
    "card", "account",
}
IDENTITY_PHRASES = ("id_number", "id_card", "national_id", "citizen_id", "identity")


def identity_like(column: str) -> bool:
    lowered = column.lower()
    tokens = set(re.split(r"[^a-z0-9]+", lowered))
    return bool(tokens & IDENTITY_TOKENS) or any(p in lowered for p in IDENTITY_PHRASES)


def test_the_identity_check_would_catch_identity_columns() -> None:
    for column in ("name", "full_name", "id_number", "Face", "home_address", "phone",
                   "national_id", "face_image", "date_of_birth", "licence_plate"):
        assert identity_like(column), column
    for column in ("id", "subject", "true_actor", "group", "grade", "media_suspended",
                   "false_points", "channel", "age_band", "sex", "urban"):
        assert not identity_like(column), column


# Tables of counts by day (and by group); their column names come from the
# scenario's behaviour and channel names ("n_seen_street_camera"), not from people.
AGGREGATE_TABLES = {"timeseries.parquet", "breakdown.parquet"}


def test_run_folders_have_no_place_for_an_identity(tmp_path: Path) -> None:
    """Every table with a row per person or per record: people, records, sanctions, ..."""
    results = scoresim.run("pilot-city", agents=2000, days=30, records="all",
                           out=tmp_path / "run")
    files = sorted(f for f in (tmp_path / "run").glob("*.parquet")
                   if f.name not in AGGREGATE_TABLES)
    names = {f.name for f in files}
    assert {"people.parquet", "records.parquet"} <= names
    for f in files:
        columns = pq.read_schema(f).names
        assert columns, f
        assert not [c for c in columns if identity_like(c)], (f.name, columns)
    assert len(results.records) > 0  # the credit file was written, not just its schema


def test_populations_are_described_by_aggregates_only() -> None:
    """Population inputs are shares and spreads (marginals), never per-person rows."""
    for field_name, info in Population.model_fields.items():
        assert not identity_like(field_name), field_name
        text = str(info.annotation)
        assert "list[dict" not in text and "DataFrame" not in text, (field_name, text)
