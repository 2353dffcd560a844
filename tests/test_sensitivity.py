"""Global sensitivity analysis: indices against a closed form, Morris on an inert parameter,
resuming, shared societies, and input errors.

The closed form. On `reference` the expected mean score after D days is

    1000 + D * sum over behaviours of rate_b * q_b * points_b

(docs/reference-model.md), q_b the record probability of the behaviour's channel.
Varying, over independent uniform ranges, the rates of two behaviours whose
records are always correctly attributed (volunteering, criticizing_government)
and the points of a third (late_payment), the expected mean score is linear,
y = c + sum a_i x_i, so its Sobol indices are known exactly:

    S_i = ST_i = a_i^2 Var(x_i) / sum_j a_j^2 Var(x_j)

with Var = (high - low)^2 / 12 for a real range and (k^2 - 1) / 12 for k equally
likely whole numbers. A run adds noise to y: the mean of N people's scores,
each with a variance of about 500 points^2 over 100 days (sum over behaviours
of D rate q points^2, the court's -100 and the critics' -50 foremost), has a
standard deviation of about sqrt(500 / 1000) = 0.7 points at N = 1,000, against
a signal of sqrt(29.7) = 5.5 points: the noise is about 1% of the variance.
Noise inflates the variance every index is divided by, so it moves each
index by at most that share: the tolerance is the bootstrap half-width (99%)
plus the seed-noise share the study estimates from its own seeds (which
tests/test_sensitivity.py also bounds, below 3%).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.model.engine import Simulation
from scoresim.model.society import Society, society_key
from scoresim.runs import columns
from scoresim.runs.layout import INDICES_FILE, RUNS_FILE, SENSITIVITY_PARTS
from scoresim.scenario import ScenarioError
from scoresim.studies.batch import run_batch
from scoresim.studies.cluster import local_cluster
from scoresim.studies.outputs import parse_output
from scoresim.studies.parameters import parse_parameter
from scoresim.studies.sensitivity import SEED_NOISE_PARAMETER, sensitivity

AGENTS, DAYS = 1_000, 100
VOLUNTEERING = "behaviours.volunteering.rate=0.016666666666666666:0.05"
CRITICS = "behaviours.criticizing_government.rate=0.001:0.005"
LATE = "scoring.points.late_payment=-20:-5"
INERT = "sanctions.dishonest_list.duration_days=365:1000"  # moves no score


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    cluster = local_cluster(2)
    with Client(cluster) as c:
        yield c
    cluster.close()


def expected_indices(days: int) -> dict[str, float]:
    """S_i of the closed form above, for the three parameters."""
    ref = scoresim.resolve("reference")
    params = [parse_parameter(p, ref) for p in (VOLUNTEERING, CRITICS, LATE)]
    q = {name: ref.channels[b.channel].record_probability for name, b in ref.behaviours.items()}
    points = ref.scoring.points
    a = {
        params[0].path: days * q["volunteering"] * points["volunteering"],
        params[1].path: days * q["criticizing_government"] * points["criticizing_government"],
        params[2].path: days * ref.behaviours["late_payment"].rate * q["late_payment"],
    }
    part = {p.path: a[p.path] ** 2 * p.variance() for p in params}
    total = sum(part.values())
    return {k: v / total for k, v in part.items()}


def test_sobol_indices_match_the_closed_form_on_reference(tmp_path, client) -> None:
    indices = sensitivity("reference", [VOLUNTEERING, CRITICS, LATE], ["mean_score"],
                          method="sobol", samples=128, seeds=2, out=tmp_path / "s",
                          scheduler=client, agents=AGENTS, days=DAYS, conf_level=0.99)
    noise = indices[indices["index"] == "seed_noise"].iloc[0]
    assert 0 < noise["value"] < 0.03, noise  # the derivation in the docstring: about 1%
    truth = expected_indices(DAYS)
    assert sorted(truth.values())[0] > 0.2  # each parameter carries a real share
    for path, s in truth.items():
        for index in ("S1", "ST"):
            row = indices[(indices["parameter"] == path) & (indices["index"] == index)].iloc[0]
            slack = noise["value"]
            assert row["low"] - slack <= s <= row["high"] + slack, (path, index, s, row.to_dict())
            assert row["high"] - row["low"] < 0.6  # an interval that could fail
    runs = pd.read_parquet(tmp_path / "s" / RUNS_FILE)
    assert len(runs) == 128 * 5 * 2
    assert set(runs["seed"]) == {1, 2}  # reference's seed 1, and the next
    assert runs["scoring.points.late_payment"].dtype == np.int64
    assert runs["scoring.points.late_payment"].between(-20, -5).all()


def test_morris_ranks_a_parameter_that_does_nothing_last(tmp_path, client) -> None:
    indices = sensitivity("reference", [INERT, VOLUNTEERING, CRITICS], ["mean_score"],
                          method="morris", samples=8, seeds=2, out=tmp_path / "m",
                          scheduler=client, agents=AGENTS, days=DAYS)
    mu = indices[indices["index"] == "mu_star"].set_index("parameter")["value"]
    assert mu.idxmin() == INERT.split("=")[0]
    # the same seeds in every row: a parameter that moves nothing gives identical runs
    assert mu.min() <= 1e-9 * mu.max()
    assert mu.drop(INERT.split("=")[0]).min() > 1.0  # a few points of score over the range


def test_a_killed_study_resumes_without_rerunning_done_runs(tmp_path, client) -> None:
    out = tmp_path / "r"
    args = dict(method="morris", samples=4, seeds=2, out=out, scheduler=client, agents=500,
                days=30, batch=4)
    first = sensitivity("reference", [VOLUNTEERING, CRITICS], ["mean_score", "n_grade_B"],
                        **args)
    assert first.attrs["runs_run"] == 4 * 3 * 2
    parts = sorted((out / SENSITIVITY_PARTS).glob("part-*.parquet"))
    lost = pd.read_parquet(parts[0])
    parts[0].unlink()  # as if the study had been killed before that batch finished
    (out / RUNS_FILE).unlink()
    (out / INDICES_FILE).unlink()
    second = sensitivity("reference", [VOLUNTEERING, CRITICS], ["mean_score", "n_grade_B"],
                         **args)
    assert second.attrs["runs_run"] == len(lost)
    assert second.attrs["runs_skipped"] == 4 * 3 * 2 - len(lost)
    pd.testing.assert_frame_equal(first, second)
    with pytest.raises(ScenarioError, match="other settings.*--output"):
        sensitivity("reference", [VOLUNTEERING, CRITICS], ["mean_score"], **args)


def test_indices_and_runs_have_the_columns_and_definitions(tmp_path, client) -> None:
    out = tmp_path / "c"
    sensitivity("pilot-city", ["responses.chilling.value_points=10:50",
                               "behaviours.posting_online.rate=0.02:0.08"],
                ["wrongful_travel_ban_per_1000@group=1", "wrongful_shaming_per_1000_gap",
                 "n_media_suspended", "total_speech_events"],
                method="morris", samples=2, seeds=2, out=out, scheduler=client, agents=1_000,
                days=20)
    indices = pd.read_parquet(out / INDICES_FILE)
    assert list(indices.columns) == ["output", "parameter", "index", "value", "low", "high"]
    assert set(indices["index"]) == {"mu_star", "sigma", "seed_noise"}
    assert (indices[indices["index"] == "seed_noise"]["parameter"] == SEED_NOISE_PARAMETER).all()
    runs = pd.read_parquet(out / RUNS_FILE)
    assert len(runs) == 2 * 3 * 2
    for name, frame in ((INDICES_FILE, indices), (RUNS_FILE, runs)):
        assert columns.undefined(name, frame.columns) == [], name


def test_a_shared_society_gives_byte_identical_outputs() -> None:
    base = scoresim.resolve("pilot-city", agents=2_000, days=25, seed=5, records="none")
    other = scoresim.resolve(base, overrides={"behaviours.jaywalking.rate": 0.08,
                                              "responses.chilling.value_points": 5})
    assert society_key(other) == society_key(base)
    society = Society.build(base, base.agents, base.seed)
    Simulation(other, society=society).run()  # another member used it first
    shared = Simulation(base, society=society).run()
    alone = Simulation(base).run()
    for part in ("timeseries", "breakdown_frame"):
        a = pa.Table.from_pandas(getattr(shared, part)(), preserve_index=False)
        b = pa.Table.from_pandas(getattr(alone, part)(), preserve_index=False)
        assert a.equals(b), part
    assert shared.people_table().equals(alone.people_table())
    moved = scoresim.resolve(base, overrides={"population.group_shares": [0.7, 0.3]})
    assert society_key(moved) != society_key(base)
    with pytest.raises(ValueError, match="other people"):
        Simulation(moved, society=society)


def test_a_batch_member_equals_scoresim_run() -> None:
    data = scoresim.resolve("pilot-city", agents=1_000, days=20, records="none") \
        .model_dump(mode="json")
    outputs = [parse_output("mean_score"), parse_output("n_false_records")]
    rows = run_batch(data, "pilot-city", [("a", {"seed": 3}), ("b", {"seed": 4}),
                                          ("c", {"seed": 3, "scoring.points.jaywalking": -9})],
                     outputs, {})
    for row, (seed, sets) in zip(rows, [(3, {}), (4, {}),
                                        (3, {"scoring.points.jaywalking": -9})], strict=True):
        ts = scoresim.run("pilot-city", agents=1_000, days=20, seed=seed, records="none",
                          set=sets).timeseries
        assert row["outputs"]["mean_score"] == ts["mean_score"].iloc[-1]
        assert row["outputs"]["n_false_records"] == ts["n_false_records"].sum()


@pytest.mark.parametrize("param, words", [
    ("behaviours.nothing.rate=0:1", "no such setting (known under behaviours: "),
    ("scoring.points.jaywalking=5:1", "must be below HIGH"),
    ("behaviours.jaywalking.rate=0.1:1.5", "at 1.5"),
    ("behaviours.jaywalking.rate=0:0.1:log", "log range needs LOW > 0"),
    ("behaviours.jaywalking.channel=0:1", "only numbers can be varied"),
    ("sanctions.dishonest_list.duration_days=1.5:9", "give whole bounds"),
    ("seed=1:5", "not varied"),
    ("behaviours.jaywalking.rate", "expected dotted.path=LOW:HIGH"),
])
def test_bad_parameters_exit_2_and_write_nothing(tmp_path, param, words) -> None:
    out = tmp_path / "bad"
    result = CliRunner().invoke(app, ["sensitivity", "reference", "--param", param,
                                      "--output", "mean_score", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert words in result.output, result.output
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("output, words", [
    ("no_such_column", "unknown metric 'no_such_column'"),
    ("mean_score@400", "past the run's last day"),
    ("mean_score@noon", "neither a day number"),
    ("total_records@last", "takes no @ or :"),
    ("wrongful_travel_ban_per_1000", "give @group=LEVEL"),
    ("wrongful_travel_ban_per_1000@group=7", "no level '7'"),
    ("wrongful_travel_ban_per_1000@colour=red", "no trait 'colour'"),
    ("mean_score:median", "expected METRIC"),
])
def test_bad_outputs_exit_2_and_write_nothing(tmp_path, output, words) -> None:
    out = tmp_path / "bad"
    result = CliRunner().invoke(app, ["sensitivity", "reference", "--param", LATE,
                                      "--output", output, "--days", "30", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert words in result.output, result.output
    assert not out.exists()


def test_the_command_prints_ranked_indices_in_80_columns(tmp_path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, [
        "sensitivity", "reference", "--param", INERT, "--param", CRITICS,
        "--output", "mean_score", "--method", "morris", "--samples", "3", "--seeds", "2",
        "--agents", "500", "--days", "30", "--workers", "1", "--out", str(out), "--quiet"],
        env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    first = next(i for i, line in enumerate(lines) if "criticizing" in line)
    assert first < next(i for i, line in enumerate(lines) if "duration_days" in line)
    assert "seed noise" in result.output
    as_json = CliRunner().invoke(app, [
        "sensitivity", "reference", "--param", INERT, "--param", CRITICS,
        "--output", "mean_score", "--method", "morris", "--samples", "3", "--seeds", "2",
        "--agents", "500", "--days", "30", "--workers", "1", "--out", str(out), "--json"])
    assert as_json.exit_code == 0, as_json.output
    body = as_json.stdout if hasattr(as_json, "stdout") else as_json.output
    rows = json.loads(body[: body.rindex("]") + 1])
    assert {r["index"] for r in rows} == {"mu_star", "sigma", "seed_noise"}


@pytest.mark.slow
def test_sobol_closed_form_with_more_samples(tmp_path, client) -> None:
    """The same closed form at 8 times the samples: intervals a third as wide."""
    indices = sensitivity("reference", [VOLUNTEERING, CRITICS, LATE], ["mean_score"],
                          method="sobol", samples=1024, seeds=2, out=tmp_path / "s",
                          scheduler=client, agents=AGENTS, days=DAYS, conf_level=0.99)
    noise = float(indices[indices["index"] == "seed_noise"]["value"].iloc[0])
    for path, s in expected_indices(DAYS).items():
        for index in ("S1", "ST"):
            row = indices[(indices["parameter"] == path) & (indices["index"] == index)].iloc[0]
            assert row["low"] - noise <= s <= row["high"] + noise, (path, index, s)
            assert row["high"] - row["low"] < 0.25



def test_bootstrap_intervals_are_keyed_by_the_output_not_by_chance() -> None:
    """Same runs, same numbers: SALib's Sobol bootstrap ignores seed 0 and falls back on
    numpy's global generator; each output's bootstrap is seeded from its own name, so the
    intervals repeat whatever the global state and whichever other outputs are analysed.
    The analysis alone, on outputs made up from the design (no simulation needed)."""
    from scoresim.studies.sensitivity import analyse, design

    ref = scoresim.resolve("reference")
    params = [parse_parameter(p, ref) for p in (VOLUNTEERING, CRITICS)]
    unit = design("sobol", params, 8, 0)
    rng = np.random.default_rng(5)
    runs = pd.DataFrame([
        {"row": r, "seed": s, "y": 3 * x[0] + x[1] ** 2 + 0.1 * rng.normal(),
         "z": x[0] * x[1] + 0.1 * rng.normal()}
        for r, x in enumerate(unit) for s in (1, 2)])
    y, z = parse_output("y"), parse_output("z")

    def indices(outputs: list, global_seed: int) -> pd.DataFrame:
        np.random.seed(global_seed)
        out = analyse("sobol", params, unit, runs, outputs, [1, 2], False, 4, 0.95, 0)
        return out[out["output"] == "y"].reset_index(drop=True)

    a, b = indices([y, z], 1), indices([z, y], 2)
    assert a["low"].notna().any()
    pd.testing.assert_frame_equal(a, b)
