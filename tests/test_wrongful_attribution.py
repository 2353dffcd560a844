"""wrongful.parquet: every wrongful sanction traced to the kind of error that made the difference.

Two pilot-cities are built so that only one kind of error can happen: one
where face recognition's false matches are the only wrong records (no linkage
errors, no filter, no informants' lies), one where keyword false flags are
(face recognition never matches a stranger). The attribution must then name
that kind for every wrongly sanctioned person. A third run has every kind at
once, and its attribution is checked against the explain replay (the days each
sanction was wrongful, person by person) and against the engine (who is
wrongly banned at the end). Joint punishment is checked on `china`: every
child barred from school through a parent's listing is a row with cause
`collateral` and that parent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from _shared import HARSH_PILOT

import scoresim
from scoresim.runs import columns
from scoresim.runs.layout import WRONGFUL
from scoresim.scenario.loader import builtin_text
from scoresim.studies import explain as ex
from scoresim.studies.stats import t975

AGENTS, DAYS, SEED = 3_000, 365, 4_242
# every channel of pilot-city with linkage errors, read from the scenario so that a channel
# added later (hospital_register, say) has them zeroed too and the runs stay "alone"
REGISTERS = tuple(c for c, ch in yaml.safe_load(builtin_text("pilot-city"))["channels"].items()
                  if ch.get("linkage_error"))
NO_LINKAGE = {f"channels.{c}.linkage_error": 0.0 for c in REGISTERS}
NO_LIES = {"channels.neighbourhood_informants.malicious_report": None}
ONLY_FALSE_MATCHES = {**HARSH_PILOT, **NO_LINKAGE, **NO_LIES,
                      "channels.online_monitoring.false_flag": None}
# false flags only: a flagged post costs enough for a travel ban on its own
ONLY_FALSE_FLAGS = {**HARSH_PILOT, **NO_LINKAGE, **NO_LIES,
                    "face_recognition.nist-2019-us.fmr": [0.0, 0.0],
                    "channels.online_monitoring.false_flag.probability": 0.05,
                    "scoring.points.criticizing_government": -200}


def _run(tmp_path_factory, name: str, sets: dict) -> scoresim.Results:
    out = tmp_path_factory.mktemp("wrongful") / name
    scoresim.run("pilot-city", agents=AGENTS, days=DAYS, seed=SEED, records="all", out=out,
                 set=sets)
    return scoresim.load(out)


@pytest.fixture(scope="module")
def false_matches(tmp_path_factory) -> scoresim.Results:
    return _run(tmp_path_factory, "matches", ONLY_FALSE_MATCHES)


@pytest.fixture(scope="module")
def false_flags(tmp_path_factory) -> scoresim.Results:
    return _run(tmp_path_factory, "flags", ONLY_FALSE_FLAGS)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> scoresim.Results:
    return _run(tmp_path_factory, "mixed", {
        **HARSH_PILOT, "channels.online_monitoring.false_flag.probability": 0.05,
        "scoring.points.criticizing_government": -120})


def _wrong_kinds(res: scoresim.Results) -> set[str]:
    rec = res.records
    return set(rec.loc[~rec["correct"], "error"].astype(str))


def test_false_matches_alone_are_named_for_every_wrongful_ban(false_matches):
    assert _wrong_kinds(false_matches) == {"false_match"}
    w = false_matches.wrongful()
    bans = w[w["sanction"] == "travel_ban"]
    assert len(bans) > 10  # the scenario does ban people wrongly
    assert set(w["cause"].astype(str)) == {"false_match"}
    assert set(w["channel"].astype(str)) <= {"street_camera", "indoor_camera", "several"}
    # every wrongly banned person of the last day is a row, cause false_match
    people = false_matches.people
    assert set(people.loc[people["wrongly_banned"], "id"]) == \
        set(bans.loc[bans["at_end"], "person"])
    assert (bans["points"] < 0).all()


def test_false_flags_alone_are_named_for_every_wrongful_sanction(false_flags):
    assert _wrong_kinds(false_flags) == {"false_flag"}
    w = false_flags.wrongful()
    sanctions = set(w["sanction"].astype(str))
    assert {"travel_ban", "media_suspension"} <= sanctions
    assert set(w["cause"].astype(str)) == {"false_flag"}
    assert set(w["channel"].astype(str)) == {"online_monitoring"}
    # a flagged post is -200: one suffices for a ban, and its points are the row's
    bans = w[w["sanction"] == "travel_ban"]
    assert (bans["points"] <= -200).all() and (bans["points"] % 200 == 0).all()


def test_the_deciding_kind_is_one_the_person_has_and_decides(mixed):
    """With every kind at once: a row's cause is a kind in that person's file, the only one
    when there is only one, and a media suspension (the filter's record) is the filter's."""
    w = mixed.wrongful()
    rec = mixed.records
    wrong = rec[~rec["correct"]]
    kinds = wrong.groupby("subject")["error"].agg(lambda s: set(s.astype(str)))
    assert len(set(w["cause"].astype(str)) - {"several"}) >= 2  # several kinds decide
    for row in w.itertuples():
        mine = kinds.loc[row.person]
        if row.cause != "several":
            assert row.cause in mine
        if len(mine) == 1:
            assert row.cause == next(iter(mine))
        if row.sanction == "media_suspension":
            assert row.cause == "false_flag" and row.channel == "online_monitoring"


def test_wrongful_days_agree_with_explain_person_by_person(mixed):
    w = mixed.wrongful()
    stories = ex.stories(mixed, range(AGENTS), use_log=False)
    told = {(p, s): d for p, story in stories.items()
            for s, d in story[-1]["wrongful_days"].items()}
    mine = {(r.person, r.sanction): r.days for r in w.itertuples() if r.sanction != "shaming"}
    assert told and mine == told
    people = mixed.people
    bans = w[(w["sanction"] == "travel_ban") & w["at_end"]]
    assert set(bans["person"]) == set(people.loc[people["wrongly_banned"], "id"])


def test_wrongful_parquet_is_written_and_defined(mixed):
    path = Path(mixed.folder) / WRONGFUL
    assert path.is_file()
    schema = pq.read_schema(path)
    assert not columns.undefined(WRONGFUL, schema.names)
    assert schema.names[:2] == ["person", "group"]
    assert {"person", "sanction", "cause", "channel", "points", "group"} <= set(schema.names)
    s = mixed.summary()
    w = mixed.wrongful()
    assert s["wrongful_travel_ban"] == w.loc[w["sanction"] == "travel_ban", "person"].nunique()


def test_no_credit_file_no_wrongful_table(tmp_path):
    res = scoresim.run("reference", agents=500, days=20, seed=1, records="none",
                       out=tmp_path / "none")
    assert res.wrongful() is None
    assert not (tmp_path / "none" / WRONGFUL).exists()


def test_collateral_sanctions_are_rows_with_their_cause(tmp_path):
    res = scoresim.run("china", agents=20_000, days=200, seed=3, records="all",
                       set={"behaviours.court_judgment_default.rate": 0.0005},
                       out=tmp_path / "china")
    w = res.wrongful()
    c = res.collateral
    school = c[(c["kind"] == "school_ban") & (c["until"] > c["day"])]
    assert len(school) > 100
    rows = w[(w["sanction"] == "school_ban")].set_index("person")
    assert set(rows.index) == set(school["person"])
    assert (rows["cause"] == "collateral").all()
    assert (rows["channel"] == "joint_punishment").all()
    first = school.sort_values("day").groupby("person").first()
    assert (rows.loc[first.index, "cause_person"] == first["cause_person"]).all()
    reps = c[c["kind"] == "legal_rep_ban"]
    if len(reps):
        mine = w[(w["cause"] == "collateral") & (w["cause_firm"] >= 0)]
        assert set(mine["person"]) <= set(reps["person"])
        assert set(mine["cause_firm"]) <= set(reps["cause_firm"])
    s = res.summary()
    assert s["collateral_people"] == w.loc[w["cause"] == "collateral", "person"].nunique() > 0
    assert s["n_collateral_sanctioned"] == res.timeseries["n_collateral_sanctioned"].iloc[-1]
    assert np.isin(w["person"], res.people["id"]).all()


# -- explain: what a wrong record is ------------------------------------------------------

def test_explain_says_what_each_kind_of_wrong_record_is():
    def entry(error, actor):
        return {"kind": "record", "behaviour": "criticizing_government",
                "channel": "online_monitoring", "correct": False, "true_actor": actor,
                "error": error, "points": -50}
    flag = ex.describe(entry("false_flag", -1))
    assert "false flag" in flag and "nobody did it" in flag and "-1" not in flag
    assert "nobody did it" in ex.describe(entry("malicious_report", -1))
    assert "fabricated" in ex.describe(entry("fabricated", -1))
    assert "person 17 did it" in ex.describe(entry("false_match", 17))
    assert "face recognition" in ex.describe(entry("false_match", 17))
    assert "similar identity" in ex.describe(entry("linkage", 17))
    for error in ("false_flag", "malicious_report", "fabricated", "unknown", "none"):
        assert "person -1" not in ex.describe(entry(error, -1))
    assert "(online_monitoring, true)" in ex.describe(
        {**entry("none", 5), "correct": True})


def test_a_false_flag_story_says_nobody_did_it(false_flags):
    w = false_flags.wrongful()
    victim = int(w.loc[w["sanction"] == "travel_ban", "person"].iloc[0])
    text = ex.render(ex.story(false_flags, victim))
    assert "a false flag" in text and "nobody did it" in text
    assert "person -1" not in text


# -- tables by cause and group ---------------------------------------------------------------

def test_wrongful_by_cause_counts_people_per_1000_of_each_group(false_matches, mixed):
    from scoresim.studies.attribution import wrongful_by_cause

    t = wrongful_by_cause(false_matches)
    assert list(t.columns[:7]) == ["sanction", "cause", "group", "people", "per_1000", "low",
                                   "high"]
    w = false_matches.wrongful()
    sizes = false_matches.people["group"].value_counts()
    bans = t[(t["sanction"] == "travel_ban") & (t["cause"] == "false_match")]
    for r in bans.itertuples():
        n = w[(w["sanction"] == "travel_ban") & (w["group"] == r.group)]["person"].nunique()
        assert r.people == n
        assert r.per_1000 == pytest.approx(n / sizes.loc[r.group] * 1000)
    # no false flags in this scenario: their rows are there, and 0
    assert t.loc[t["cause"] == "false_flag", "people"].eq(0).all() if (
        t["cause"] == "false_flag").any() else True
    assert t["low"].isna().all()  # one run: no interval
    # two seeds: a mean and an interval
    two = wrongful_by_cause([false_matches, mixed])
    assert (two["seeds"] == 2).all()
    row = two[(two["sanction"] == "travel_ban") & (two["cause"] == "false_match")
              & (two["group"] == 1)].iloc[0]
    assert row["low"] <= row["per_1000"] <= row["high"]


# -- compare ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def halved(tmp_path_factory) -> scoresim.Results:
    """The false-match run again with group 1's false-match rate halved: the same people."""
    return _run(tmp_path_factory, "halved", {**ONLY_FALSE_MATCHES,
                                             "face_recognition.nist-2019-us.fmr": [0.02, 0.045]})


def test_compare_pairs_person_by_person(false_matches, halved):
    c = scoresim.compare(false_matches, halved)
    assert c["paired"].all() and (c["seeds"] == 1).all()
    assert {"events", "compliance", "speech", "sanctions", "wrongful"} <= set(c["section"])
    m = "wrongful_travel_ban_by_false_match_group_1"
    wa, wb = false_matches.wrongful(), halved.wrongful()

    def who(w):
        sel = (w["sanction"] == "travel_ban") & (w["cause"] == "false_match") & (w["group"] == 1)
        return set(w.loc[sel, "person"])

    a, b = who(wa), who(wb)
    assert c.loc[m, "a"] == len(a) and c.loc[m, "b"] == len(b)
    assert c.loc[m, "difference"] == len(a) - len(b)
    # the interval from the per-person differences, recomputed
    group1 = false_matches.people["group"].to_numpy() == 1
    d = np.zeros(AGENTS)
    d[list(a)] += 1
    d[list(b)] -= 1
    d = d[group1]
    half = t975(d.shape[0] - 1) * d.std(ddof=1) * np.sqrt(d.shape[0])
    assert c.loc[m, "low"] == pytest.approx(d.sum() - half, rel=1e-3, abs=1e-3)
    assert c.loc[m, "high"] == pytest.approx(d.sum() + half, rel=1e-3, abs=1e-3)
    # the old view is still there
    assert c.loc["total_offences", "events_a"] > 0
    assert c.loc["jaywalking", "kind"] == "offence"


def test_compare_on_china_knows_offences_from_its_schemes(tmp_path):
    a = scoresim.run("china", agents=4_000, days=60, seed=5, records="none")
    b = scoresim.run("no-system", agents=4_000, days=60, seed=5, records="none")
    c = scoresim.compare(a, b)
    assert c.loc["jaywalking", "kind"] == "offence"
    assert c.loc["volunteering", "kind"] == "rewarded"
    assert np.isfinite(c.loc["total_offences", "ratio"])
    assert c.loc["total_offences", "events_a"] > 0


def test_compare_command_fits_80_columns_and_prints_csv_and_json(false_matches, halved,
                                                                 monkeypatch):
    import json

    from typer.testing import CliRunner

    from scoresim.cli import app, common

    monkeypatch.setattr(common.console, "width", 80)
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(false_matches.folder), str(halved.folder)])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "wrongful" in result.output and "paired" in result.output
    csv = runner.invoke(app, ["compare", str(false_matches.folder), str(halved.folder),
                              "--csv"])
    assert csv.exit_code == 0 and csv.output.splitlines()[0].startswith("measure,section")
    rows = json.loads(runner.invoke(app, ["compare", str(false_matches.folder),
                                          str(halved.folder), "--json"]).output)
    assert any(r["measure"] == "total_offences" for r in rows)
    summary = runner.invoke(app, ["summary", str(false_matches.folder)])
    assert summary.exit_code == 0 and "false match" in summary.output
    assert max(len(line) for line in summary.output.splitlines()) <= 80
    table = json.loads(runner.invoke(app, ["summary", str(false_matches.folder), "--wrongful",
                                           "--json"]).output)
    assert {r["cause"] for r in table if r["people"]} == {"false_match"}
