"""The dense NumPy baseline (benchmarks/dense_baseline.py) against the closed form and scoresim.

The baseline is a second implementation of docs/reference-model.md written from the
specification alone, so agreement in distribution checks both: the benchmark's
20x comparison is only meaningful if the two simulate the same model.

Every tolerance is Z standard deviations of the compared statistic, the
standard deviation derived from the model's variance (below, per check). With
fixed seeds the tests are deterministic; Z = 4 keeps the chance that a correct
pair of implementations fails any single check below 1e-4.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scoresim

ROOT = Path(__file__).resolve().parents[1]
Z = 4.0
N, DAYS = 50_000, 365


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


dense = _load("dense_baseline")
bench = _load("run_benchmarks")

REFERENCE_COLUMNS = [
    "day", "mean_score", "n_grade_AAA", "n_grade_AA", "n_grade_A", "n_grade_B", "n_grade_C",
    "n_grade_D", "n_travel_banned", "n_dishonest", "n_wrongly_banned", "n_records",
    "n_false_records",
]


@pytest.fixture(scope="module")
def dense_run():
    return dense.simulate_dense(N, DAYS, seed=11)


@pytest.fixture(scope="module")
def engine_run():
    return scoresim.run("reference", agents=N, days=DAYS, seed=12, records="none")


def _record_count_variance(days: int, probability_of_record) -> tuple[float, float]:
    """Mean and variance of one actor's count of records over `days` days.

    Given the actor's group g and propensities m_b, the count is a sum of
    independent Bernoullis, so Var(X | m, g) <= E[X | m, g] = sum_b c_bg m_b with
    c_bg = days * rate_b * q_b(g). The propensities (E m = 1, E m^2 = e^sigma^2,
    independent across b) and the group add Var(sum_b c_bg m_b). This is an upper
    bound on Var(X), which keeps the test on the safe side.
    """
    shares = np.array([1 - dense.GROUP1_SHARE, dense.GROUP1_SHARE])
    extra = math.exp(dense.PROPENSITY_SIGMA**2) - 1
    mean_g, second_g = [], []
    for g in (0, 1):
        c = np.array([days * r.rate * probability_of_record(r, g) for r in dense.REFERENCE_RULES])
        mean_g.append(c.sum())
        second_g.append(c.sum() ** 2 + extra * (c**2).sum())
    mean = float(shares @ mean_g)
    var_of_mean = float(shares @ second_g) - mean**2
    return mean, mean + var_of_mean


def _p_record(rule, g: int) -> float:
    if rule.kind == dense.CAMERA:
        return rule.p_seen * (dense.TMR + dense.FMR[g])
    return rule.p_seen


def _p_false_record(rule, g: int) -> float:
    return rule.p_seen * dense.FMR[g] if rule.kind == dense.CAMERA else 0.0


def _z_counts(a: float, b: float, n: int) -> float:
    """z of two final head counts out of n people each (binomial variance, pooled p)."""
    p = (a + b) / (2 * n)
    sd = math.sqrt(2 * n * p * (1 - p))
    return (a - b) / sd if sd > 0 else 0.0


def test_columns_are_the_reference_metrics(dense_run, engine_run):
    assert list(dense_run.timeseries.columns) == REFERENCE_COLUMNS
    assert list(engine_run.timeseries.columns[: len(REFERENCE_COLUMNS)]) == REFERENCE_COLUMNS
    assert len(dense_run.timeseries) == DAYS
    assert isinstance(dense.run_dense(100, 3, 0), pd.DataFrame)


def test_closed_form_is_987_25():
    assert dense.closed_form_mean_score(365) == pytest.approx(987.25, abs=0.01)


def test_dense_mean_score_matches_closed_form(dense_run):
    # the standard error of a mean of N independent final scores is sd / sqrt(N)
    scores = dense_run.score.astype(np.float64)
    se = scores.std(ddof=1) / math.sqrt(N)
    assert dense_run.timeseries["mean_score"].iloc[-1] == pytest.approx(scores.mean())
    assert abs(scores.mean() - dense.closed_form_mean_score(DAYS)) < Z * se


def test_engine_mean_score_matches_closed_form(engine_run):
    scores = engine_run.people["score"].to_numpy(np.float64)
    se = scores.std(ddof=1) / math.sqrt(N)
    assert abs(scores.mean() - dense.closed_form_mean_score(DAYS)) < Z * se


def test_dense_and_engine_agree_on_mean_score(dense_run, engine_run):
    a = dense_run.score.astype(np.float64)
    b = engine_run.people["score"].to_numpy(np.float64)
    se = math.sqrt(a.var(ddof=1) / N + b.var(ddof=1) / N)
    assert abs(a.mean() - b.mean()) < Z * se


@pytest.mark.parametrize("column, probability", [
    ("n_records", _p_record),
    ("n_false_records", _p_false_record),
])
def test_dense_and_engine_agree_on_record_totals(dense_run, engine_run, column, probability):
    # people act independently, so a year's total has N times one actor's variance
    mean, var = _record_count_variance(DAYS, probability)
    a = dense_run.timeseries[column].sum()
    b = engine_run.timeseries[column].sum()
    assert abs(a - N * mean) < Z * math.sqrt(N * var)
    assert abs(b - N * mean) < Z * math.sqrt(N * var)
    assert abs(a - b) < Z * math.sqrt(2 * N * var)


@pytest.mark.parametrize("column", [
    "n_grade_AAA", "n_grade_AA", "n_grade_A", "n_grade_B", "n_grade_C",
    "n_travel_banned", "n_dishonest",
])
def test_dense_and_engine_agree_on_final_counts(dense_run, engine_run, column):
    # a final count is a sum of N nearly independent indicators: binomial variance
    a = dense_run.timeseries[column].iloc[-1]
    b = engine_run.timeseries[column].iloc[-1]
    assert abs(_z_counts(a, b, N)) < Z, (column, a, b)


def test_false_matches_fall_on_the_group_with_the_higher_rate(dense_run, engine_run):
    # a victim is from the actor's group, so the share of victims in group 1 is
    # 0.2 * FMR1 / (0.8 * FMR0 + 0.2 * FMR1) = 0.714 (camera rates cancel);
    # each victim is a Bernoulli trial, so its sd is sqrt(p (1 - p) / victims)
    w = np.array([1 - dense.GROUP1_SHARE, dense.GROUP1_SHARE]) * dense.FMR
    expected = w[1] / w.sum()
    for group, false_points in (
        (dense_run.group, dense_run.false_points),
        (engine_run.people["group"].to_numpy(), engine_run.people["false_points"].to_numpy()),
    ):
        victims = false_points != 0
        k = int(victims.sum())
        assert k > 100
        share = (group[victims] == 1).mean()
        assert abs(share - expected) < Z * math.sqrt(expected * (1 - expected) / k)


def test_daily_counts_add_up():
    ts = dense.run_dense(5_000, 60, seed=3)
    grades = ts[[f"n_grade_{g}" for g in dense.GRADE_NAMES]].sum(axis=1)
    assert (grades == 5_000).all()
    assert (ts["n_false_records"] <= ts["n_records"]).all()
    assert (ts["n_wrongly_banned"] <= ts["n_travel_banned"]).all()
    assert (ts["n_dishonest"] <= ts["n_travel_banned"]).all()
    assert ts["n_dishonest"].is_monotonic_increasing  # nobody leaves within 730 days


def test_same_seed_same_output():
    a = dense.run_dense(2_000, 20, seed=5)
    b = dense.run_dense(2_000, 20, seed=5)
    c = dense.run_dense(2_000, 20, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_false_match_picks_another_person_of_the_same_group_uniformly():
    rng = np.random.default_rng(0)
    group = np.array([0, 1, 0, 0, 1, 1, 0, 1, 1, 1], dtype=np.uint8)
    picker = dense._SameGroupPicker(group)
    draws = 60_000
    actors = np.full(draws, 4, dtype=np.int64)  # group 1 has 6 people: 5 others for person 4
    picks = picker.pick(actors, group[actors], rng)
    assert (picks != 4).all()
    assert (group[picks] == 1).all()
    counts = np.bincount(picks, minlength=10)[group == 1]
    counts = counts[np.flatnonzero(group == 1) != 4]
    # each of the 5 others is a Binomial(draws, 1/5) count
    sd = math.sqrt(draws * 0.2 * 0.8)
    assert np.all(np.abs(counts - draws / 5) < Z * sd)
    # a person alone in their group cannot be mistaken for anyone
    alone = dense._SameGroupPicker(np.array([0, 0, 1], dtype=np.uint8))
    assert alone.pick(np.array([2]), np.array([1]), rng).shape == (0,)


# the harness that runs it (benchmarks/run_benchmarks.py) ----------------------------------
def test_halved_rates_survive_yaml():
    import yaml

    for rate in (1 / 30, 1e-05 / 2, 2.5e-06, 0.0125, 0.0):
        text = bench.yaml_float(rate)
        assert isinstance(yaml.safe_load(text), float)
        assert yaml.safe_load(text) == rate


def test_sizes_parse_and_refuse_fractions():
    assert bench.parse_sizes("1e6,1e5,1e5") == [100_000, 1_000_000]
    with pytest.raises(Exception, match="whole number"):
        bench.parse_sizes("1.5")


@pytest.mark.slow
def test_benchmark_command_end_to_end(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_benchmarks.py"), "--sizes",
         "4000,20000", "--days", "20", "--dense-days", "5", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert [row["agents"] for row in r["reference"]] == [4000, 20000]
    for row in r["reference"]:
        assert row["wall_seconds"] > sum(row["timings"].values()) > 0
        assert row["peak_rss_bytes"] > 50 * 2**20  # an interpreter with numpy and numba
        assert row["compiled_kernels"] == 0  # warm-up filled the cache
    assert r["dense"][1]["measured_days"] == 5
    # halving every rate about halves the events (a Poisson count: well within 5%)
    assert abs(r["halved"]["events_ratio"] - 0.5) < 0.05
    assert r["pilot_city"]["run"]["scenario"] == "pilot-city"
    assert "| people |" in proc.stdout and "issue 3 targets" in proc.stdout
