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
    # credit file off; kept, its replay (runs/wrongful.py, by row group) grows with the
    # records kept, a few bytes each, far below the records themselves
    assert estimate_memory(resolve("pilot-city", agents=10**8, days=365,
                                   records="none")).total < 24 * GIB
    records = 10**8 * 365 * guards.records_per_person_day(resolve("pilot-city"))
    assert records * guards.REPLAY_BYTES < bigger.parts["replay"] < records * 8


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
    # the buffer and the row group read back are the same; the part per record doubles
    rows = 10**6 * 90 * guards.records_per_person_day(resolve("reference"))
    assert twice.parts["replay"] - kept.parts["replay"] == pytest.approx(
        rows * guards.REPLAY_BYTES)
    # the process is counted once at any size, on both backends
    for backend in ("day", "person"):
        tiny = estimate_memory(resolve("reference", agents=2000, days=3, records="none"),
                               backend)
        assert guards.PROCESS_BYTES <= tiny.total <= guards.PROCESS_BYTES + 32 * 2**20


def test_the_credit_file_estimate_counts_acts_done_for_points_as_done() -> None:
    """pilot-city's volunteering_for_points (motive: points) is done by aware, motivated
    people only: counted at its base rate, the credit file (and the replay's memory) was
    1.40 times what a run writes."""
    scenario = resolve("pilot-city", agents=20_000, days=365, records="all", seed=7)
    written = scoresim.run(scenario).manifest["n_records_written"]
    expected = scenario.agents * scenario.days * guards.records_per_person_day(scenario)
    # the count is a sum of ~500,000 near-independent draws (sd < 0.2%); the estimate
    # leaves out deterrence, avoidance and the filings delayed past the last day (a few
    # per cent over a year, more in shorter runs: on the high side)
    assert 0.97 * written <= expected <= 1.06 * written, (expected, written)


def test_the_calendar_build_counts_only_what_exists_before_it() -> None:
    """The calendar is the first module built (engine.MODULES): the arrays of the modules
    after it (dissent, firms, sanctions...) do not meet its build temporaries."""
    with_dissent = estimate_memory(resolve("china", agents=10**6, days=365))
    without = estimate_memory(resolve("china", agents=10**6, days=365,
                                      overrides={"dissent": None}))
    assert with_dissent.parts["building"] == without.parts["building"]
    assert with_dissent.parts["output"] > without.parts["output"]  # written at the end


def test_the_credit_file_buffer_stays_through_the_output() -> None:
    """Arrow's pool keeps the buffer's pages after the last row group: a credit file that
    fits one part-filled buffer (china, records: sample) counts it in the output phase."""
    sample = estimate_memory(resolve("china", agents=200_000, days=365, records="sample"))
    none = estimate_memory(resolve("china", agents=200_000, days=365, records="none"))
    buffered = 200_000 * 365 * guards.records_per_person_day(
        resolve("china", agents=200_000, days=365, records="sample")) * 0.05
    # the buffer's pages, and beside them the row group the replay reads back (here the
    # whole file: it is smaller than a group) and what it keeps per record
    assert buffered < guards.ROW_GROUP
    assert sample.parts["replay"] >= int(buffered * (guards.RECORD_BUFFER_BYTES
                                                     + guards.REPLAY_GROUP_BYTES
                                                     + guards.REPLAY_BYTES))
    assert sample.parts["output"] - none.parts["output"] >= sample.parts["replay"]


def test_the_summary_does_not_make_a_string_per_person() -> None:
    """summary_keys and per_scheme count by the categoricals' codes: `astype(str)` on the
    scheme and grade columns was the largest step of china's output phase (0.85 of its
    measured peak at 2e5 people)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from scoresim.runs.schemes import summary_keys

    spec = resolve("china").model_dump(mode="json")
    n = 1_000_000
    rng = np.random.default_rng(1)
    schemes = [*spec["schemes"], "none"]
    grades = sorted({g["name"] for s in spec["schemes"].values() for g in s.get("grades", [])})
    people = pa.table({
        "scheme": pa.array(pd.Categorical.from_codes(rng.integers(0, len(schemes), n), schemes)),
        "grade": pa.array(pd.Categorical.from_codes(rng.integers(0, len(grades), n), grades)),
        "score": rng.normal(600, 50, n)})
    tracemalloc.start()
    keys = summary_keys(spec, people)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 48 * n  # before: 71 MiB for these 1e6 people; now about 32 MiB
    codes = np.asarray(people["scheme"].combine_chunks().indices)
    grade = np.asarray(people["grade"].combine_chunks().indices)
    s, g = schemes.index("rongcheng"), grades.index("AAA")
    assert keys["n_grade_rongcheng_AAA"] == int(((codes == s) & (grade == g)).sum())


def _peak_cases() -> list:
    """Every built-in at two sizes: on the day loop with its own records setting (and
    with none where that keeps records), and on the person backend where it runs."""
    from scoresim.model.backends import reasons_not_eligible

    cases = []
    for name in scoresim.builtin_names():
        s = resolve(name)
        runs = [("day", s.records)] + ([("day", "none")] if s.records != "none" else []) \
            + ([] if reasons_not_eligible(s) else [("person", "none")])
        for n in (200_000, 1_000_000):
            for backend, records in runs:
                cases.append(pytest.param(name, n, backend, records,
                                          id=f"{name}-{n}-{backend}-{records}"))
    return cases


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS measured on Linux")
@pytest.mark.parametrize("name,n,backend,records", _peak_cases())
def test_the_estimate_is_within_ten_percent_of_measured_peaks(name: str, n: int,
                                                              backend: str,
                                                              records: str) -> None:
    """The whole process's peak RSS (runs/peak.py: /usr/bin/time -v of `scoresim run`,
    after a warm-up that fills numba's cache) lies within 10% of the estimate, for a
    year of each built-in."""
    p = measure_peak(name, n, 365, backend=backend, records=records)
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
