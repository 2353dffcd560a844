"""Surveillance with ground truth: every channel's errors, traced from the credit file.

One `pilot-city` run (all channels on, with delays, linkage errors, false
flags, made-up reports and expiry) is audited from records.parquet alone;
face recognition rates are checked at the kernel, over a million captures,
where their sampling error is small enough to tell the configured rates apart.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _shared import BUSY_PILOT

import scoresim
from scoresim import Results, ScenarioError
from scoresim.model.behaviour import Events
from scoresim.model.filing import NEVER, Filing
from scoresim.model.observation import ERRORS, FALSE_MATCH, Observation, Records
from scoresim.model.world import World

Z = 4.0  # bands of 4 standard deviations: a correct engine fails one about 1 time in 16,000
SEED = 4_242
AGENTS, DAYS = 60_000, 240


def _grade_index(score: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    return (np.asarray(score)[:, None] < cutoffs[None, :]).sum(axis=1)


@pytest.fixture(scope="module")
def pilot() -> Results:
    results = scoresim.run("pilot-city", agents=AGENTS, days=DAYS, seed=SEED, records="all",
                           set=BUSY_PILOT)
    _ = results.records
    return results


def _active(results: Results) -> pd.DataFrame:
    """Records that still count on the last day: filed, and not yet expired."""
    rec = results.records
    return rec[rec["expires_day"] > results.manifest["days"] - 1]


# the credit file ------------------------------------------------------------------
def test_every_error_kind_occurs_in_pilot_city(pilot: Results) -> None:
    counts = pilot.records["error"].value_counts()
    for kind in ERRORS:
        if kind == "fabricated":  # by an abusive authority: off in pilot-city (test_responses)
            continue
        assert counts.get(kind, 0) > 10, (kind, counts.to_dict())
    ts = pilot.timeseries
    for kind in ERRORS[1:]:
        assert ts[f"n_{kind}_records"].sum() == counts[kind]


def test_truth_is_consistent(pilot: Results) -> None:
    rec = pilot.records
    subject, actor = rec["subject"].to_numpy(), rec["true_actor"].to_numpy()
    error = rec["error"].astype(str).to_numpy()
    assert np.array_equal(rec["correct"].to_numpy(), error == "none")
    assert np.array_equal(rec["correct"].to_numpy(), subject == actor)
    fabricated = np.isin(error, ["false_flag", "malicious_report"])
    assert np.array_equal(actor == -1, fabricated), "no true actor exactly when nobody did it"
    scenario = pilot.scenario
    flag = scenario["channels"]["online_monitoring"]["false_flag"]
    flagged = rec[rec["error"] == "false_flag"]
    assert (flagged["behaviour"] == flag["recorded_as"]).all()
    assert (flagged["channel"] == "online_monitoring").all()
    # linkage errors and made-up reports land on a nearby id
    for kind, channel in (("linkage", None), ("malicious_report", "neighbourhood_informants")):
        part = rec[rec["error"] == kind]
        windows = part["channel"].astype(str).map(
            {c: v["linkage_window"] for c, v in scenario["channels"].items()})
        if kind == "linkage":
            gap = np.abs(part["subject"].to_numpy() - part["true_actor"].to_numpy())
            assert (gap >= 1).all() and (gap <= windows.to_numpy()).all()
            assert not part["channel"].isin(["court", "street_camera", "indoor_camera"]).any()
        else:
            assert (part["channel"] == channel).all()
    # false matches: the same group, sex and age band as the actor
    people = pilot.people
    fm = rec[rec["error"] == "false_match"]
    for trait in ("group", "sex", "age_band"):
        col = people[trait].to_numpy()
        assert np.array_equal(col[fm["subject"]], col[fm["true_actor"]]), trait


def test_delayed_records_are_filed_on_their_day(pilot: Results) -> None:
    rec, ts = pilot.records, pilot.timeseries
    lag = (rec["filed_day"] - rec["day"]).to_numpy()
    for name, c in pilot.scenario["channels"].items():
        mine = lag[(rec["channel"] == name).to_numpy()]
        assert mine.min() >= c["delay_min_days"] and mine.max() <= c["delay_max_days"], name
        span = c["delay_max_days"] - c["delay_min_days"]
        # both ends are hit unless records are few: P(miss an end) <= 2(1 - 1/(span+1))^n
        if span > 0 and len(mine) >= 40 * (span + 1):
            assert mine.min() == c["delay_min_days"] and mine.max() == c["delay_max_days"], name
    per_day = rec.groupby("filed_day").size().reindex(range(len(ts)), fill_value=0)
    assert np.array_equal(ts["n_records"], per_day)
    assert (rec["filed_day"] < pilot.manifest["days"]).all()
    assert ts["n_pending_records"].iloc[-2] > 0
    seen = sum(ts[f"n_seen_{c}"].sum() for c in pilot.scenario["channels"])
    assert seen > len(rec), "records due after the run never enter the file"


def test_filing_calendar_files_each_record_on_made_plus_delay() -> None:
    scenario = scoresim.resolve("pilot-city", days=30)
    filing = Filing(scenario, 30, delays=True)
    rng = np.random.default_rng(1)
    expected: dict[int, int] = {}
    got: dict[int, int] = {}
    for day in range(30):
        n = 50
        delay = rng.integers(0, 12, n).astype(np.int32)
        subject = np.arange(n, dtype=np.int64) + 1000 * day
        rec = Records(day, subject, subject, np.zeros(n, np.uint8), np.zeros(n, np.uint8),
                      np.ones(n, bool), np.zeros(n, np.int32), delay=delay)
        for s, d in zip(subject, delay, strict=True):
            if day + d < 30:
                expected[int(s)] = day + int(d)
        filed = filing.file(rec)
        assert (filed.made + filed.delay == day).all()
        got.update({int(s): day for s in filed.subject})
    assert got == expected


def test_expired_records_leave_the_score(pilot: Results) -> None:
    scenario, people, rec = pilot.scenario, pilot.people, pilot.records
    n, last = len(people), pilot.manifest["days"] - 1
    active = _active(pilot)
    initial = scenario["scoring"]["initial"]
    score = initial + np.bincount(active["subject"], weights=active["points"], minlength=n)
    assert np.array_equal(people["score"].to_numpy(), score.astype(np.int64))
    wrong = active[~active["correct"]]
    false_points = np.bincount(wrong["subject"], weights=wrong["points"], minlength=n)
    assert np.array_equal(people["false_points"].to_numpy(), false_points.astype(np.int64))
    # not vacuous: expiry moved scores, exactly by the windows of the categories
    expired = rec[rec["expires_day"] <= last]
    assert len(expired) > 10_000
    # every record that stopped counting did so by expiry, credit repair or a won appeal
    ts = pilot.timeseries
    ways_out = ts["n_expired_records"].sum() + ts["n_repairs"].sum() + ts["n_appeals_won"].sum()
    assert ways_out == len(expired)
    assert ts["n_expired_records"].sum() > 0.5 * len(expired)
    windows = {k: v["expires_after_days"] for k, v in scenario["credit_file"]["categories"].items()}
    span = (rec["expires_day"] - rec["filed_day"]).to_numpy()
    for cat, w in windows.items():
        mine = (rec["category"] == cat).to_numpy()
        # at most the window: repair and appeals can end a record sooner
        assert mine.any() and (span[mine] <= w).all(), cat
        assert (span[mine] == w).mean() > 0.5, cat
    assert (rec.loc[rec["category"] == "none", "expires_day"] == NEVER).all()


def test_wrongful_sanctions_recount_from_records(pilot: Results) -> None:
    """Wrongly banned: banned, but not on the true records that still count."""
    scenario, people, ts = pilot.scenario, pilot.people, pilot.timeseries
    active = _active(pilot)
    n = len(people)
    cutoffs = np.array([g["min_score"] for g in scenario["scoring"]["grades"][:-1]])
    names = [g["name"] for g in scenario["scoring"]["grades"]]
    banned_idx = [names.index(g) for g in scenario["sanctions"]["travel_ban"]["grades"]]
    score = scenario["scoring"]["initial"] + np.bincount(
        active["subject"], weights=active["points"], minlength=n)
    right = active[active["correct"]]
    true_score = scenario["scoring"]["initial"] + np.bincount(
        right["subject"], weights=right["points"], minlength=n)
    listed = people["listed"].to_numpy()
    banned = np.isin(_grade_index(score, cutoffs), banned_idx) | listed
    wrongly = banned & ~(np.isin(_grade_index(true_score, cutoffs), banned_idx) | listed)
    assert np.array_equal(people["wrongly_banned"].to_numpy(), wrongly)
    assert ts["n_wrongly_banned"].iloc[-1] == wrongly.sum() > 5
    # and by trait level, in the breakdown, on the last day
    bd = pilot.breakdown
    last = bd[bd["day"] == pilot.manifest["days"] - 1]
    for dim in ("group", "sex", "age_band", "urban"):
        rows = last[last["dimension"] == dim].set_index("value")
        levels = people[dim].astype(str).to_numpy()
        for value, row in rows.iterrows():
            mine = levels == value
            assert row["n_people"] == mine.sum()
            assert row["n_wrongly_banned"] == (wrongly & mine).sum(), (dim, value)
            assert row["n_travel_banned"] == (banned & mine).sum(), (dim, value)


def test_breakdown_flows_add_up_to_the_timeseries(pilot: Results) -> None:
    bd, ts, rec = pilot.breakdown, pilot.timeseries, pilot.records
    assert list(bd.columns[:3]) == ["day", "dimension", "value"]
    for dim in ("group", "urban"):
        per_day = bd[bd["dimension"] == dim].groupby("day")[
            ["n_records", "n_wrongful_records", "n_shamed", "n_shamed_wrongly"]].sum()
        assert np.array_equal(per_day["n_records"], ts["n_records"])
        assert np.array_equal(per_day["n_wrongful_records"],
                              ts["n_records"] - rec.groupby("filed_day")["correct"].sum()
                              .reindex(range(len(ts)), fill_value=0))
        assert np.array_equal(per_day["n_shamed"], ts["n_shamed"])
        assert np.array_equal(per_day["n_shamed_wrongly"], ts["n_shamed_wrongly"])


def test_shaming_counts_the_wrongly_shown(pilot: Results) -> None:
    rec, ts = pilot.records, pilot.timeseries
    shown = rec[rec["behaviour"].isin(pilot.scenario["sanctions"]["shaming"]["triggers"])]
    per_day = shown.groupby("filed_day").agg(n=("correct", "size"), right=("correct", "sum"))
    per_day = per_day.reindex(range(len(ts)), fill_value=0)
    assert np.array_equal(ts["n_shamed"], per_day["n"])
    assert np.array_equal(ts["n_shamed_wrongly"], per_day["n"] - per_day["right"])
    assert ts["n_shamed_wrongly"].sum() > 0


def test_channel_quality(pilot: Results) -> None:
    q = pilot.channel_quality().set_index("channel")
    scenario = pilot.scenario
    for name, c in scenario["channels"].items():
        row = q.loc[name]
        assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1
        responses = scenario.get("responses") or {}
        regional = ((responses.get("avoidance") or {}).get("region_channels") or [])
        # (a channel of the region no longer sees people who left it: recall is lower)
        if c["kind"] == "register" and c.get("false_flag") is None \
                and c.get("malicious_report") is None and name not in regional:
            # recall = record probability x (1 - linkage error): binomial over true events
            p = c["record_probability"] * (1 - c["linkage_error"])
            sd = math.sqrt(row["n_true_events"] * p * (1 - p)) + 1
            assert abs(row["n_correct_records"] - p * row["n_true_events"]) < Z * sd, name
    assert q.loc["court", "precision"] == 1.0
    assert q.loc["online_monitoring", "precision"] < 0.97
    assert q.loc["neighbourhood_informants", "precision"] < 0.9


def test_pilot_breakdown_shows_the_group_gap(pilot: Results) -> None:
    """False matches per person: group 1 / group 0 = fmr[1] / fmr[0] (10 for nist-2019-us).

    Other traits are independent of group and face the same factors, so the expected ratio
    is the configured one; k false matches are about Poisson, so the log ratio has standard
    error sqrt(1/k0 + 1/k1).
    """
    bd = pilot.breakdown
    g = bd[bd["dimension"] == "group"].groupby("value")[["n_false_match_records"]].sum()
    people = bd[(bd["dimension"] == "group") & (bd["day"] == 0)].set_index("value")["n_people"]
    k0, k1 = g.loc["0", "n_false_match_records"], g.loc["1", "n_false_match_records"]
    fmr = pilot.scenario["face_recognition"]["nist-2019-us"]["fmr"]
    ratio = (k1 / people["1"]) / (k0 / people["0"])
    se = math.sqrt(1 / k0 + 1 / k1)
    assert abs(math.log(ratio) - math.log(fmr[1] / fmr[0])) < Z * se, (ratio, k0, k1)
    assert Z * se < math.log(fmr[1] / fmr[0]) / 2, "power: the gap is far outside the band"


# face recognition at the kernel ---------------------------------------------------
def _captures(profile: str, n_people: int, n_events: int, seed: int = 9):
    """n_events street-camera captures of random people, attributed under `profile`."""
    scenario = scoresim.resolve("pilot-city", agents=n_people, seed=seed, overrides={
        "channels.street_camera.capture_probability": 1.0,
        "channels.street_camera.coverage": [1.0, 1.0],
        "channels.street_camera.face_recognition": profile,
    })
    world = World(scenario, None, "day")
    society = world.society
    obs = Observation(world)
    b = list(scenario.behaviours).index("jaywalking")
    per_day = n_events // 10
    rng = np.random.default_rng(seed)
    parts, actors = [], []
    for day in range(10):
        actor = rng.integers(0, n_people, per_day).astype(np.int64)
        parts.append(obs.observe(Events(day, actor, np.full(per_day, b, np.uint8))))
        actors.append(actor)
    return scenario, society, obs, parts, np.concatenate(actors)


@pytest.mark.parametrize("profile", ["nist-2019-us", "asia-developed"])
def test_false_match_rates_by_cell_over_a_million_captures(profile: str) -> None:
    """Each demographic cell's false matches / captures within 4 sd of its configured rate.

    Actors are drawn uniformly, so captures per cell are multinomial; given a cell's
    captures, its false matches are binomial with the cell's configured rate.
    """
    n_people, n_events = 200_000, 1_000_000
    scenario, society, obs, parts, actors = _captures(profile, n_people, n_events)
    n = actors.shape[0]
    cell = obs.faces.cell
    f = obs.faces.profiles.index(profile)
    captures = np.bincount(cell[actors], minlength=obs.faces.n_cells)
    error = np.concatenate([r.error for r in parts])
    actor = np.concatenate([r.true_actor for r in parts])
    subject = np.concatenate([r.subject for r in parts])
    fm = error == FALSE_MATCH
    k = np.bincount(cell[actor[fm]], minlength=obs.faces.n_cells)
    right = np.bincount(cell[actor[~fm]], minlength=obs.faces.n_cells)
    assert captures.sum() == n
    for c in range(obs.faces.n_cells):
        p, m = obs.faces.fmr[f, c], captures[c]
        sd = math.sqrt(m * p * (1 - p))
        assert abs(k[c] - m * p) < Z * sd + 1, (profile, c, k[c], m * p)
        q = obs.faces.tmr[f, c]
        assert abs(right[c] - m * q) < Z * math.sqrt(m * q * (1 - q)) + 1
    assert np.array_equal(cell[subject[fm]], cell[actor[fm]]), "a look-alike of the same cell"
    # the configured gaps: group 1 / group 0 and women / men, from the scenario itself
    fr = scenario.face_recognition[profile]
    group = society.group
    sex = society.trait("sex")

    def rate(mask_people: np.ndarray) -> tuple[float, float]:
        m = mask_people[actors].sum()
        kk = mask_people[actor[fm]].sum()
        return kk / m, math.sqrt(1 / kk)

    (r0, e0), (r1, e1) = rate(group == 0), rate(group == 1)
    assert abs(math.log(r1 / r0) - math.log(fr.fmr[1] / fr.fmr[0])) < Z * math.hypot(e0, e1)
    (rf, ef), (rm, em) = rate(sex == 0), rate(sex == 1)
    want = fr.fmr_multipliers["sex"][0] / fr.fmr_multipliers["sex"][1]
    assert abs(math.log(rf / rm) - math.log(want)) < Z * math.hypot(ef, em)


def test_switching_profile_changes_the_group_gap() -> None:
    us = scoresim.resolve("pilot-city").face_recognition["nist-2019-us"]
    asia = scoresim.resolve("pilot-city").face_recognition["asia-developed"]
    assert us.fmr[1] / us.fmr[0] == 10 and asia.fmr[1] / asia.fmr[0] == 1
    gaps = {}
    for profile in ("nist-2019-us", "asia-developed"):
        _, society, _, parts, _ = _captures(profile, 100_000, 300_000, seed=3)
        actor = np.concatenate([r.true_actor for r in parts])
        error = np.concatenate([r.error for r in parts])
        g = society.group[actor[error == FALSE_MATCH]]
        gaps[profile] = (g == 1).sum() / max(1, (g == 0).sum())
    # share of group 1 is 0.2: with no gap, 1/4 as many group-1 false matches; with 10x, 2.5x
    assert 1.5 < gaps["nist-2019-us"] < 4.0, gaps
    assert 0.15 < gaps["asia-developed"] < 0.4, gaps


# scenarios ------------------------------------------------------------------------
def test_reference_pays_nothing_for_surveillance() -> None:
    results = scoresim.run("reference", agents=5_000, days=30, seed=1, records="all")
    assert results.breakdown is None
    assert results.manifest["memory_bytes"]["credit_file"] == 0
    rec = results.records
    assert (rec["error"].astype(str).isin(["none", "false_match"])).all()
    assert (rec["filed_day"] == rec["day"]).all() and (rec["expires_day"] == NEVER).all()


def test_breakdown_is_written_and_read_back(tmp_path) -> None:
    out = tmp_path / "run"
    results = scoresim.run("pilot-city", agents=3_000, days=20, seed=1, records="none", out=out)
    assert (out / "breakdown.parquet").is_file()
    back = scoresim.load(out)
    pd.testing.assert_frame_equal(back.breakdown.astype({"dimension": str}),
                                  results.breakdown.astype({"dimension": str}))
    assert len(back.breakdown) == 20 * (2 + 2 + 4 + 2)


@pytest.mark.parametrize("change, message", [
    ({"channels.court.linkage_error": 0.01}, "dishonest list"),
    ({"channels.street_camera.coverage": [0.5]}, "one value per level"),
    ({"metrics.breakdown": ["height"]}, "unknown trait"),
    ({"channels.online_monitoring.false_flag.recorded_as": "court_judgment_default"},
     "dishonest list"),
    ({"face_recognition.nist-2019-us.fmr_multipliers": {"sex": [200.0, 1.0]}}, "over 1"),
    ({"credit_file.category_of.jaywalking": "petty"}, "unknown category"),
    ({"channels.bank.delay_max_days": -1}, "delay_max_days"),
])
def test_bad_surveillance_input_is_refused(change, message) -> None:
    with pytest.raises(ScenarioError, match=message):
        scoresim.resolve("pilot-city", overrides=change)


@pytest.mark.parametrize("traits, dtype", [
    (None, np.uint8),  # pilot-city's own: 2 x 2 x 4 x 2 = 32 joint cells
    (["group", "sex", "age_band", "urban", "income_band", "education", "occupation"],
     np.uint16),  # 2,592 joint cells: past one byte
])
def test_breakdown_by_joint_cell_equals_counting_each_trait(monkeypatch, traits,
                                                            dtype) -> None:
    """The joint-cell count (one count per record) gives exactly the per-trait count."""
    from scoresim.model import surveillance_metrics
    from scoresim.model.engine import Simulation

    overrides = {"metrics.breakdown": traits} if traits else None
    scenario = scoresim.resolve("pilot-city", agents=8_000, days=40, seed=3, records="none",
                                overrides=overrides)
    joint = Simulation(scenario)
    counted = joint.modules["breakdown"]
    assert counted.joint is not None and counted.joint.dtype == dtype
    joint.run()
    monkeypatch.setattr(surveillance_metrics, "JOINT_MAX", 0)
    by_trait = Simulation(scenario)
    assert by_trait.modules["breakdown"].joint is None
    by_trait.run()
    assert counted.table[:, :, 1].sum() > 10_000  # records were counted
    np.testing.assert_array_equal(counted.table, by_trait.modules["breakdown"].table)


def test_held_records_keep_every_column() -> None:
    """Late records come out of the pending calendar exactly as they went in."""
    days = 40
    scenario = scoresim.resolve("pilot-city", days=days)
    filing = Filing(scenario, days, delays=True)
    rng = np.random.default_rng(7)
    went_in, came_out = [], []
    for day in range(days):
        n = int(rng.integers(0, 300))
        rec = Records(day, rng.integers(0, 10**9, n), rng.integers(-1, 10**9, n),
                      rng.integers(0, 15, n).astype(np.uint8),
                      rng.integers(0, 8, n).astype(np.uint8), rng.random(n) < 0.9,
                      rng.integers(-50, 50, n).astype(np.int32),
                      error=rng.integers(0, len(ERRORS), n).astype(np.uint8),
                      delay=rng.integers(0, 25, n).astype(np.int32))
        frame = pd.DataFrame({c: getattr(rec, c) for c in ("subject", "true_actor", "behaviour",
                                                          "channel", "correct", "points",
                                                          "error", "made", "delay")})
        went_in.append(frame[frame.made + frame.delay < days])
        filed = filing.file(rec)
        came_out.append(pd.DataFrame({c: getattr(filed, c) for c in frame.columns}))
    assert filing.n_pending == 0 and not filing.pending  # all filed by the last day
    a = pd.concat(went_in).sort_values(list(went_in[0].columns)).reset_index(drop=True)
    b = pd.concat(came_out).sort_values(list(went_in[0].columns)).reset_index(drop=True)
    assert len(a) > 3_000
    pd.testing.assert_frame_equal(a, b)
