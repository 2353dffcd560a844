"""`scoresim run`, `scenarios` and `show`: the run folder contract, from the command line.

Most calls go through Typer's CliRunner (in process, fast); one goes through a
real `scoresim` process, with numba limited to one thread, so the installed
entry point is exercised and the parallel kernels are shown to give the same
bytes whatever the thread count.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.model.engine import PHASES
from scoresim.runs.layout import MANIFEST, PEOPLE, RECORDS, TIMESERIES

SIZE = ["--agents", "2000", "--days", "30", "--seed", "5"]
PEOPLE_COLUMNS = {"id", "group", "score", "grade", "travel_banned", "listed", "false_points"}
RECORD_COLUMNS = ["day", "subject", "behaviour", "channel", "points", "true_actor", "correct"]


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def ok(*args: str):
    result = invoke(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def frames(folder: Path) -> dict[str, pd.DataFrame]:
    run = scoresim.load(folder)
    return {TIMESERIES: run.timeseries, PEOPLE: run.people, RECORDS: run.records}


def assert_same_run(a: Path, b: Path) -> None:
    fa, fb = frames(a), frames(b)
    for name in fa:
        pd.testing.assert_frame_equal(fa[name], fb[name], check_exact=True, obj=name)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def reference_folder(base: Path) -> Path:
    """`scoresim run reference --agents 2000 --days 30 --seed 5 --out DIR`."""
    out = base / "reference"
    ok("run", "reference", *SIZE, "--out", out, "--quiet")
    return out


def test_run_writes_the_run_folder(reference_folder: Path) -> None:
    names = {p.name for p in reference_folder.iterdir()}
    assert {MANIFEST, TIMESERIES, PEOPLE, RECORDS} <= names
    # Nothing staged is left beside it.
    assert not [p for p in reference_folder.parent.iterdir() if ".partial" in p.name]


def test_manifest_holds_scenario_seed_sizes_version_timings(reference_folder: Path) -> None:
    manifest = json.loads((reference_folder / MANIFEST).read_text())
    resolved = scoresim.resolve("reference", agents=2000, days=30, seed=5)
    assert manifest["scenario"] == resolved.model_dump(mode="json")
    assert manifest["seed"] == 5
    assert (manifest["agents"], manifest["days"]) == (2000, 30)
    assert manifest["scoresim_version"] == scoresim.__version__
    timings = manifest["timings"]
    assert set(PHASES) <= set(timings)
    assert all(isinstance(t, int | float) and t >= 0 for t in timings.values())
    assert sum(timings.values()) <= manifest["wall_seconds"] + 0.01


def test_timeseries_has_the_reference_metrics(reference_folder: Path,
                                              reference_metrics: list[str]) -> None:
    ts = pq.read_table(reference_folder / TIMESERIES).to_pandas()
    assert list(ts.columns[: len(reference_metrics)]) == reference_metrics
    assert len(ts) == 30
    assert np.array_equal(ts["day"], np.arange(30))


def test_people_and_records_have_their_columns(reference_folder: Path) -> None:
    people = pq.read_table(reference_folder / PEOPLE).to_pandas()
    assert PEOPLE_COLUMNS <= set(people.columns)
    assert len(people) == 2000
    records = pq.read_table(reference_folder / RECORDS).to_pandas()
    assert list(records.columns[: len(RECORD_COLUMNS)]) == RECORD_COLUMNS
    assert len(records) > 1000


def test_records_none_writes_no_credit_file(base: Path, reference_folder: Path) -> None:
    out = base / "none"
    ok("run", "reference", *SIZE, "--records", "none", "--out", out, "-q")
    names = {p.name for p in out.iterdir()}
    assert {MANIFEST, TIMESERIES, PEOPLE} <= names and RECORDS not in names
    assert json.loads((out / MANIFEST).read_text())["records"] == "none"
    full = frames(reference_folder)
    pd.testing.assert_frame_equal(scoresim.load(out).timeseries, full[TIMESERIES])


def test_records_sample_keeps_whole_files(base: Path, reference_folder: Path) -> None:
    share = 0.25
    out = base / "sample"
    ok("run", "reference", *SIZE, "--records", "sample", "--set", f"records_sample={share}",
       "--out", out, "-q")
    sample = scoresim.load(out).records
    full = frames(reference_folder)[RECORDS]
    kept = np.unique(sample["subject"])
    # Whole files: a kept person's records are exactly their records in the full file.
    expected = full[full["subject"].isin(kept)].reset_index(drop=True)
    pd.testing.assert_frame_equal(sample.reset_index(drop=True), expected, check_exact=True)
    # A sample of people: about `share` of those with a file (binomial, 4 sigma).
    with_file = full["subject"].nunique()
    sd = math.sqrt(with_file * share * (1 - share))
    assert abs(len(kept) - share * with_file) < 4 * sd, (len(kept), with_file)
    # The scores of kept people are explained by their kept files.
    people = scoresim.load(out).people.set_index("id")
    sums = sample.groupby("subject")["points"].sum()
    assert np.array_equal(people.loc[sums.index, "score"], 1000 + sums.to_numpy())


def test_scenarios_lists_the_builtins() -> None:
    output = ok("scenarios").output
    for name in ("reference", "pilot-city", "no-system"):
        assert name in output


@pytest.mark.parametrize("name", ["reference", "pilot-city"])
def test_show_round_trips_through_run(name: str, base: Path) -> None:
    """show -> file -> run FILE gives the run of the name itself."""
    text = ok("show", name).stdout
    path = base / f"{name}-shown.yaml"
    path.write_text(text)
    by_file, by_name = base / f"{name}-by-file", base / f"{name}-by-name"
    ok("run", path, *SIZE, "--out", by_file, "-q")
    ok("run", name, *SIZE, "--out", by_name, "-q")
    assert_same_run(by_file, by_name)
    ma = json.loads((by_file / MANIFEST).read_text())
    mb = json.loads((by_name / MANIFEST).read_text())
    assert ma["scenario"] == mb["scenario"]


def test_show_applies_set(base: Path) -> None:
    text = ok("show", "reference", "--set", "scoring.points.jaywalking=-7").stdout
    assert scoresim.resolve(_write(base / "shown-set.yaml", text)).scoring.points[
        "jaywalking"] == -7


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_set_overrides_reach_the_run(base: Path) -> None:
    out = base / "set"
    ok("run", "reference", *SIZE, "--set", "scoring.points.jaywalking=-50",
       "--set", "face_recognition.reference.tmr=0.5", "--out", out, "-q")
    run = scoresim.load(out)
    assert run.scenario["scoring"]["points"]["jaywalking"] == -50
    assert run.scenario["face_recognition"]["reference"]["tmr"] == 0.5
    jay = run.records[run.records["behaviour"] == "jaywalking"]
    assert len(jay) > 0 and (jay["points"] == -50).all()


@pytest.mark.parametrize(
    "item, mentions",
    [
        ("scoring.points.jaywalking.deeper=1", "scoring.points.jaywalking.deeper"),
        ("no_equals_sign", "no_equals_sign"),
        ("scoring.no_such_field=1", "scoring.no_such_field"),
        ("behaviours.jaywalking.rate=often", "behaviours.jaywalking.rate"),
        ("behaviours.jaywalking.rate=2", "behaviours.jaywalking.rate"),
        ("records_sample=1.5", "records_sample"),
        ("population.propensity_sigma=-1", "population.propensity_sigma"),
        ("bad..path=1", "bad..path"),
    ],
)
def test_bad_set_exits_2_and_writes_nothing(item: str, mentions: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("run", "reference", *SIZE, "--set", item, "--out", out, "-q")
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert mentions in result.output
    assert len(result.output.strip().splitlines()) <= 3, result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_records_mode_exits_2(base: Path) -> None:
    out = base / "bad-records"
    result = invoke("run", "reference", *SIZE, "--records", "some", "--out", out)
    assert result.exit_code == 2 and "--records" in result.output
    assert not out.exists()


def test_out_folder_that_holds_something_is_refused(base: Path) -> None:
    out = base / "occupied"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke("run", "reference", *SIZE, "--out", out, "-q")
    assert result.exit_code == 2 and str(out) in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def _scoresim_command() -> str:
    beside = Path(sys.executable).with_name("scoresim")
    found = str(beside) if beside.exists() else shutil.which("scoresim")
    assert found, "the scoresim command is not installed (pip install -e .)"
    return found


def test_the_installed_command_single_threaded(base: Path, reference_folder: Path) -> None:
    """A real process: exit code 0, and the same bytes with one numba thread as with many."""
    out = base / "subprocess"
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    proc = subprocess.run(
        [_scoresim_command(), "run", "reference", *SIZE, "--out", str(out), "--quiet"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    for name in (TIMESERIES, PEOPLE, RECORDS):
        assert (out / name).read_bytes() == (reference_folder / name).read_bytes(), name
