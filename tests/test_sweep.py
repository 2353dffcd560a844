"""Sweeps on Dask: members equal direct runs, paired arms share behaviour, re-runs resume.

Sizes are small (2,000 people x 30 days, a few seeds) so that the Dask part of
the suite takes seconds; one two-worker LocalCluster is shared by the module,
and one test starts its own through the command line, as a user would.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pytest
import yaml
from _shared import BUSY_PILOT, write
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.runs import columns
from scoresim.runs.layout import MANIFEST
from scoresim.runs.registry import query
from scoresim.scenario import ScenarioError
from scoresim.studies.cluster import local_cluster
from scoresim.studies.outputs import group_rates
from scoresim.studies.sweep import (
    Design,
    SweepError,
    design_samples,
    load_plan,
    run_plan,
    t975,
)

AGENTS, DAYS = 2_000, 30
JAYWALKING = "scoring.points.jaywalking"


@pytest.fixture(scope="module")
def cluster():
    cluster = local_cluster(2)
    yield cluster
    cluster.close()


# --- the sweep file ------------------------------------------------------------------------

BASE = """\
scenario: pilot-city
agents: 2000
days: 30
seeds: 3
"""


@pytest.mark.parametrize("body, field, line, words", [
    (BASE + "grdi:\n  scoring.points.jaywalking: [-5]\n", "grdi", 5, "unknown field"),
    (BASE.replace("seeds: 3", "seeds: three"), "seeds", 4, "list of seeds or a count"),
    (BASE.replace("seeds: 3", "seeds: [1, 2, 1]"), "seeds", 4, "must not repeat"),
    (BASE.replace("agents: 2000", 'agents: "2000"'), "agents", 2, "valid integer"),
    (BASE.replace("pilot-city", "pilot-town"), "scenario", 1, "pilot-town"),
    (BASE + "grid:\n  scoring.points.jaywlking: [-5, -10]\n",
     "grid.scoring.points.jaywlking", 6, "unknown behaviour 'jaywlking'"),
    (BASE + "grid:\n  scoring..points: [1]\n", "grid.scoring..points", None, "dotted path"),
    (BASE + "grid:\n  seed: [1, 2]\n", "grid.seed", None, "seeds are given by `seeds`"),
    (BASE + "grid:\n  channels.street_camera.capture_probability:\n    - 0.3\n    - 1.5\n",
     "grid.channels.street_camera.capture_probability", 8, "less than or equal to 1"),
    (BASE + "design:\n  kind: lhs\n  samples: 4\n  ranges:\n    days: [10, 5]\n",
     "design.ranges.days", 9, "must not exceed"),
    (BASE + "arms:\n  system: {}\n  none: {scenario: no-system}\n"
     "grid:\n  scoring.points.jaywalking: [-5]\n", "grid.scoring.points.jaywalking", 9,
     "vary: false"),
    (BASE + "arms:\n  system: {}\n  small: {set: {agents: 1000}}\n", "arms.small", 7,
     "same people"),
    (BASE + "arms:\n  a: {}\n  b: {}\nbaseline: c\n", "baseline", 8, "unknown arm 'c'"),
])
def test_sweep_file_errors_name_file_field_and_line(tmp_path, body, field, line, words):
    path = write(tmp_path, "bad.yaml", body)
    with pytest.raises(ScenarioError) as info:
        load_plan(path)
    err = info.value
    assert err.source == str(path)
    assert err.field == field, str(err)
    if line is not None:
        assert err.line == line, str(err)
    assert words in str(err)


def test_bad_sweep_file_exits_2_and_writes_nothing(tmp_path):
    path = write(tmp_path, "bad.yaml", BASE + "grid:\n  scoring.points.jaywlking: [-5]\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(out),
                                      "--registry", str(tmp_path / "reg.duckdb")])
    assert result.exit_code == 2, result.output
    assert "bad.yaml, line 6, field 'grid.scoring.points.jaywlking'" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / "reg.duckdb").exists()


def test_scenario_file_is_found_relative_to_the_sweep_file(tmp_path):
    sub = tmp_path / "study"
    sub.mkdir()
    write(sub, "city.yaml", Path(scoresim.__file__).parent.joinpath(
        "scenario/builtin/reference.yaml").read_text())
    path = write(sub, "sweep.yaml", "scenario: city.yaml\nagents: 100\ndays: 5\nseeds: [4, 9]\n")
    plan = load_plan(path)
    assert [m.scenario["name"] for m in plan.members.values()] == ["reference", "reference"]
    assert sorted(m.seed for m in plan.members.values()) == [4, 9]


def test_baseline_the_grid_does_not_vary_runs_once_per_seed():
    plan = load_plan({"scenario": "pilot-city", "agents": 100, "days": 5, "seeds": 2,
                      "grid": {JAYWALKING: [-5, -10, -20]},
                      "arms": {"system": {}, "none": {"scenario": "no-system", "vary": False}},
                      "baseline": "none"})
    assert len(plan.cells) == 3 * 2 * 2
    assert len(plan.members) == 3 * 2 + 2  # the baseline's members are shared by the points


# --- designs and intervals -----------------------------------------------------------------


def test_latin_hypercube_hits_every_stratum_once():
    design = Design.model_validate({"kind": "lhs", "samples": 10, "seed": 3, "ranges": {
        "a": [0.0, 1.0], "b": {"low": 1.0, "high": 100.0, "log": True}, "c": [1, 10]}})
    samples = design_samples(design)
    a = np.array([s["a"] for s in samples])
    b = np.array([s["b"] for s in samples])
    c = [s["c"] for s in samples]
    assert sorted(np.floor(a * 10).astype(int)) == list(range(10))
    assert sorted(np.floor(np.log(b) / np.log(100) * 10).astype(int)) == list(range(10))
    assert sorted(c) == list(range(1, 11)) and all(isinstance(v, int) for v in c)
    assert design_samples(design) == samples  # reproducible from its seed
    other = Design.model_validate({**design.model_dump(), "seed": 4})
    assert design_samples(other) != samples


def test_random_design_stays_in_its_ranges():
    design = Design.model_validate({"kind": "random", "samples": 200, "seed": 1,
                                    "ranges": {"x": [0.25, 0.5], "k": [-20, -1]}})
    samples = design_samples(design)
    assert all(0.25 <= s["x"] <= 0.5 for s in samples)
    assert {s["k"] for s in samples} <= set(range(-20, 0))
    # 200 uniform draws on 20 integers: each is missed with probability (19/20)^200 ~ 4e-5
    assert len({s["k"] for s in samples}) == 20


def test_t_quantiles():
    # reference values from scipy.stats.t.ppf(0.975, df)
    for df, expected in ((1, 12.706205), (2, 4.302653), (30, 2.042272), (31, 2.039513),
                         (1000, 1.962339)):
        assert t975(df) == pytest.approx(expected, abs=2e-6)
    assert math.isnan(t975(0))


# --- running on Dask -----------------------------------------------------------------------


@pytest.fixture
def one_numba_thread():
    """Direct runs on one thread, like the workers: a small run gains nothing from more,
    and on a busy shared machine OpenMP's spinning threads make it many times slower."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


def test_members_equal_direct_runs_and_summary_is_their_statistics(tmp_path, cluster,
                                                                   one_numba_thread):
    spec = {"name": "jaywalking", "scenario": "pilot-city", "agents": AGENTS, "days": DAYS,
            "seeds": [1, 2, 3], "records": "none", "set": BUSY_PILOT,
            "grid": {JAYWALKING: [-5, -50]}}
    summary = scoresim.sweep(spec, out=tmp_path / "sw", scheduler=cluster)
    assert summary.attrs["members_run"] == 6 and summary.attrs["members_skipped"] == 0
    table = pd.read_parquet(tmp_path / "sw" / "members.parquet")
    assert len(table) == 6
    for _, row in table.iterrows():
        member = scoresim.load(row["folder"])
        direct = scoresim.run("pilot-city", agents=AGENTS, days=DAYS, seed=int(row["seed"]),
                              records="none",
                              set={**BUSY_PILOT, JAYWALKING: int(row[JAYWALKING])})
        pd.testing.assert_frame_equal(member.timeseries, direct.timeseries)
        pd.testing.assert_frame_equal(member.people, direct.people)
        assert member.manifest["scenario"] == direct.manifest["scenario"]
        # the per-group outputs, each group's rate per 1,000 and the gap, as `run --seeds`
        rates = group_rates(member)
        assert "wrongful_travel_ban_per_1000_gap" in rates
        for name, value in rates.items():
            assert row[name] == pytest.approx(value, nan_ok=True), name
    assert columns.undefined("members.parquet", table.columns) == []
    gap = summary[(summary.point == 1) & (summary.output == "wrongful_shaming_per_1000_gap")]
    assert len(gap) == 1 and gap.iloc[0]["mean"] == pytest.approx(
        table[table.point == 1]["wrongful_shaming_per_1000_gap"].mean())
    # the override took effect: same seed, harsher points, a lower mean score
    by = table.set_index(["seed", JAYWALKING])["mean_score"]
    for seed in (1, 2, 3):
        assert by[seed, -50] < by[seed, -5]
    # the summary is the mean and t interval of the members' values
    row = summary[(summary.point == 1) & (summary.output == "n_travel_banned")].iloc[0]
    values = table[table.point == 1]["n_travel_banned"].to_numpy()
    assert row["n"] == 3 and row[JAYWALKING] == -50
    assert row["mean"] == pytest.approx(values.mean())
    half = t975(2) * values.std(ddof=1) / math.sqrt(3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((values.mean() - half,
                                                            values.mean() + half))
    totals = summary[(summary.output == "total_events")]
    assert len(totals) == 2  # flows are summed over the run: one row per point
    assert "n_events" not in set(summary.output)
    assert summary.equals(pd.read_parquet(tmp_path / "sw" / "summary.parquet").pipe(
        lambda f: f.astype(summary.dtypes.to_dict())))


def test_paired_arms_share_true_behaviour_and_count_who_the_system_sanctions(tmp_path, cluster,
                                                                            monkeypatch):
    # members go to Dask two at a time, so pairs are compared as their members finish
    monkeypatch.setattr(sys.modules["scoresim.studies.sweep"], "SUBMIT_WINDOW", 2)
    # pilot-city with nobody responding to the system (no responses, no acts for points):
    # a scenario file beside the sweep file, which names it by a relative path
    quiet = scoresim.resolve("pilot-city").model_dump(mode="json")
    quiet["responses"] = None
    quiet.pop("dissent", None)  # the paper's choice thins critical speech: a response too
    del quiet["behaviours"]["volunteering_for_points"]
    del quiet["scoring"]["points"]["volunteering_for_points"]
    (tmp_path / "quiet-city.yaml").write_text(yaml.safe_dump(quiet, sort_keys=False))
    sweep_file = write(tmp_path, "paired.yaml", f"""\
        scenario: quiet-city.yaml
        agents: {AGENTS}
        days: {DAYS}
        seeds: [5, 6]
        records: none
        grid:
          {JAYWALKING}: [-5, -200]
        arms:
          system: {{}}
          none: {{scenario: no-system, vary: false}}
        baseline: none
        """)
    summary = scoresim.sweep(sweep_file, out=tmp_path / "sw", scheduler=cluster)
    assert summary.attrs["members_run"] == 6  # 2 points x 2 seeds, plus one baseline per seed
    table = pd.read_parquet(tmp_path / "sw" / "members.parquet")
    for _, pair in table.groupby(["point", "seed"]):
        arm = scoresim.load(pair[pair.arm == "system"].folder.iloc[0])
        base = scoresim.load(pair[pair.arm == "none"].folder.iloc[0])
        # nobody responds to the system: the same events, day by day
        np.testing.assert_array_equal(arm.timeseries.n_events, base.timeseries.n_events)
        np.testing.assert_array_equal(arm.timeseries.n_speech_events,
                                      base.timeseries.n_speech_events)
        assert not base.people.travel_banned.any()
        row = pair[pair.arm == "system"].iloc[0]
        assert row["only_in_arm_travel_banned"] == arm.people.travel_banned.sum()
        sanctioned = arm.people[["travel_banned", "listed", "consumption_banned",
                                 "media_suspended"]].any(axis=1)
        assert row["only_in_arm_sanctioned"] == sanctioned.sum()
        assert row["only_in_baseline_sanctioned"] == 0
    diff = summary[summary.kind == "difference"].set_index(["point", "output"])
    assert set(diff["arm"]) == {"system"} and set(diff["baseline"]) == {"none"}
    # common random numbers: the difference in events is exactly zero for every seed
    for point in (0, 1):
        assert diff.loc[(point, "total_events"), "mean"] == 0
        assert diff.loc[(point, "total_events"), "std"] == 0
    # harsher jaywalking points sanction more people who are sanctioned only by the system
    assert diff.loc[(1, "only_in_arm_travel_banned"), "mean"] > \
        diff.loc[(0, "only_in_arm_travel_banned"), "mean"]
    assert ("mean_score" not in set(diff.reset_index().output))  # undefined without scoring


def test_a_failed_member_is_reported_and_only_finished_ones_registered(tmp_path, cluster):
    spec = {"scenario": "reference", "agents": 500, "days": 5, "seeds": 3, "records": "none"}
    plan = load_plan(spec)
    out = tmp_path / "sw"
    blocked = out / next(iter(plan.members.values())).folder
    blocked.mkdir(parents=True)
    (blocked / "not-a-run.txt").write_text("in the way")
    registry = tmp_path / "reg.duckdb"
    with pytest.raises(SweepError, match="1 of 3 members failed"):
        run_plan(plan, out, scheduler=cluster, registry=registry)
    assert not (out / "summary.parquet").exists()
    folders = set(query("SELECT folder FROM runs", registry).folder)
    assert len(folders) == 2 and blocked.resolve().as_posix() not in folders
    shutil.rmtree(blocked)
    summary = run_plan(plan, out, scheduler=cluster, registry=registry)
    assert (summary.attrs["members_run"], summary.attrs["members_skipped"]) == (1, 2)
    assert query("SELECT count(*) AS n FROM runs", registry).n[0] == 3


def test_interrupted_sweep_resumes_without_redoing_members(tmp_path, cluster):
    """Through the command line with the registry: first on the default (local) cluster,
    then on a running scheduler given by its address."""
    sweep_file = write(tmp_path, "resume.yaml", """\
        name: resume
        scenario: reference
        agents: 1000
        days: 10
        seeds: 2
        records: none
        grid:
          scoring.points.jaywalking: [-5, -100]
        """)
    out, registry = tmp_path / "out", tmp_path / "reg.duckdb"
    args = ["sweep", str(sweep_file), "--out", str(out), "--registry", str(registry),
            "--quiet"]
    first = CliRunner().invoke(app, [*args, "--workers", "2"])
    assert first.exit_code == 0, first.output
    assert "ran 4 members, 0 already finished" in first.output
    manifests = sorted(out.glob(f"members/*/{MANIFEST}"))
    assert len(manifests) == 4
    mtimes = {p: p.stat().st_mtime_ns for p in manifests}
    lost = manifests[1].parent
    before = scoresim.load(lost).timeseries
    shutil.rmtree(lost)
    (out / "members" / f".{lost.name}.partial-0000").mkdir()  # a killed worker's leftovers
    second = CliRunner().invoke(app, [*args, "--scheduler", cluster.scheduler_address])
    assert second.exit_code == 0, second.output
    assert "ran 1 member, 3 already finished" in second.output
    for path, mtime in mtimes.items():
        if path.parent != lost:
            assert path.stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(scoresim.load(lost).timeseries, before)
    assert not list((out / "members").glob(".*partial*"))
    plan = json.loads((out / "sweep.json").read_text())
    assert plan["finished"]["members_run"] == 1
    # registered once each, and the timeseries view reaches every member's days
    counts = query("SELECT count(*) AS runs, (SELECT count(*) FROM sweep_members) AS cells, "
                   "(SELECT count(*) FROM timeseries) AS days FROM runs", registry).iloc[0]
    assert (counts.runs, counts.cells, counts.days) == (4, 4, 4 * 10)


class _NoWorkers:
    def scheduler_info(self) -> dict:
        return {"workers": {}}


def test_a_local_cluster_left_without_workers_ends_the_sweep(monkeypatch):
    module = sys.modules["scoresim.studies.cluster"]
    monkeypatch.setattr(module, "NO_WORKERS_TIMEOUT", 0.05)
    own = module.WorkerWatch(_NoWorkers(), own_cluster=True)
    own.check()  # the first look only starts the clock
    time.sleep(0.1)
    with pytest.raises(module.NoWorkersError, match="no workers"):
        own.check()
    # a scheduler someone else runs (a batch system queueing jobs) is waited for
    other = module.WorkerWatch(_NoWorkers(), own_cluster=False)
    other.check()
    time.sleep(0.1)
    other.check()
    assert other.warned
