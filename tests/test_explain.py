"""`scoresim explain`: a person's story must add up to what the run says about them.

The run is `pilot-city` made harsh on purpose (false matches 20-9 times the
NIST-like defaults, jaywalking worth -20, court defaults 100 times as
frequent), so that a few thousand people give hundreds of wrong records,
wrongful travel bans, listings that end early through repayment, and
suspensions: every branch of the replay is exercised. Each check is exact
(the replay must agree with the engine person by person), so no tolerance
is needed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _shared import BUSY_PILOT, HARSH_PILOT
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.studies import explain as ex

AGENTS, DAYS, SEED = 3_000, 365, 4_242
HARSH = {**HARSH_PILOT,
         "sanctions.shaming.triggers": ["jaywalking", "smoking_in_nonsmoking_zone"]}
FLAGS = {"travel_ban": "travel_banned", "dishonest_list": "listed",
         "consumption_ban": "consumption_banned", "media_suspension": "media_suspended"}


@pytest.fixture(scope="module")
def harsh_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("explain") / "harsh"
    scoresim.run("pilot-city", agents=AGENTS, days=DAYS, seed=SEED, records="all", out=out,
                 set=HARSH)
    return out


@pytest.fixture(scope="module")
def harsh(harsh_run) -> scoresim.Results:
    return scoresim.load(harsh_run)


@pytest.fixture(scope="module")
def everyone(harsh) -> dict[int, list[dict]]:
    return ex.stories(harsh, range(AGENTS))


def test_every_story_ends_where_the_run_ended(harsh, everyone):
    """Final score, grade, wrong points and every sanction flag, person by person."""
    people = harsh.people.set_index("id")
    assert len(everyone) == AGENTS
    for pid, story in everyone.items():
        end, row = story[-1], people.loc[pid]
        assert end["kind"] == "end"
        assert end["score"] == row["score"], pid
        assert end["grade"] == row["grade"], pid
        assert end["false_points"] == row["false_points"], pid
        for sanction, flag in FLAGS.items():
            assert (sanction in end["in_force"]) == bool(row[flag]), (pid, sanction)
        assert end["wrongly_banned"] == bool(row["wrongly_banned"]), pid


def test_the_run_is_harsh_enough_to_test_something(harsh, everyone):
    p = harsh.people
    assert p["wrongly_banned"].sum() >= 3
    assert (p["false_points"] != 0).sum() >= 100
    ended = sum(e["event"] == "ended" for s in everyone.values() for e in s
                if e["kind"] == "sanction" and e["sanction"] == "dishonest_list")
    assert ended == harsh.timeseries["n_delisted"].sum() > 0


def test_wrong_records_are_flagged_and_scores_add_up(harsh, everyone):
    records = harsh.records
    wrong_by_person = records[~records["correct"]].groupby("subject").size()
    for pid, story in everyone.items():
        recs = [e for e in story if e["kind"] == "record"]
        for e in recs:
            assert e["correct"] == (e["true_actor"] == pid)
        filed = [e for e in recs if not e.get("withdrawn")]  # a record, and its withdrawal
        assert sum(not e["correct"] for e in filed) == wrong_by_person.get(pid, 0)
        assert story[-1]["wrong_records"] == wrong_by_person.get(pid, 0)
        score = story[0]["score"]
        for e in recs:  # the score after each record is the running sum of points
            score += e["points"]
            assert e["score"] == score
        true_points = sum(e["points"] for e in recs if e["correct"])
        assert story[-1]["true_score"] == story[0]["score"] + true_points
        days = [e["day"] for e in story[:-1]]
        assert days == sorted(days)


def test_replayed_sanctions_match_the_engines_sanctions_log(harsh_run, harsh):
    """The replay and the engine's log tell the same begin and end days, person by person."""
    log_path = harsh_run / "sanctions.parquet"
    if not log_path.exists():
        pytest.skip("this engine writes no sanctions log")
    log = pq.read_table(log_path).to_pandas()
    log["sanction"] = log["sanction"].astype(str)
    told = ex.stories(harsh, range(AGENTS), use_log=False)
    derived, wrongful = set(), set()
    for pid, story in told.items():
        wrong = False
        for e in story:
            if e["kind"] != "sanction" or e["event"] == "shown":
                continue
            if e["event"] in ("began", "ended"):
                derived.add((e["day"], pid, e["sanction"], e["event"] == "began"))
            if e["sanction"] != "travel_ban":
                continue
            now = {"began": bool(e["wrongful"]), "ended": False, "now wrongful": True,
                   "now justified": False}[e["event"]]
            if now != wrong:
                wrongful.add((e["day"], pid, "wrongful_travel_ban", now))
                wrong = now
    rows = set(log[["day", "person", "sanction", "started"]].itertuples(index=False, name=None))
    assert {r for r in rows if r[2] != "wrongful_travel_ban"} == derived
    assert {r for r in rows if r[2] == "wrongful_travel_ban"} == wrongful
    assert len(wrongful) > 0


def test_a_wrongful_ban_says_it_would_not_have_happened(harsh, everyone):
    victim = int(ex.wrongful(harsh, top=1)["id"].iloc[0])
    story = everyone[victim]
    assert story[-1]["wrongly_banned"]
    flagged = [e for e in story if e["kind"] == "sanction" and e["sanction"] == "travel_ban"
               and e["wrongful"]]
    assert flagged, "a wrongly banned person's ban must be marked as caused by wrong records"
    assert story[-1]["wrongful_days"]["travel_ban"] > 0
    text = ex.render(story)
    assert "WRONG: person" in text
    assert "[would not have happened without the wrong records]" in text
    assert f"person {victim} (group " in text.splitlines()[0]


def test_story_of_one_person_equals_the_batch(harsh_run, harsh, everyone):
    victim = int(ex.wrongful(harsh, top=1)["id"].iloc[0])
    assert ex.story(harsh_run, victim) == everyone[victim]


def test_wrongful_lists_the_wrongly_banned_first_then_by_points(harsh):
    hurt = ex.wrongful(harsh, top=None)
    p = harsh.people
    assert len(hurt) == ((p["false_points"] != 0) | p["wrongly_banned"]).sum()
    banned = hurt["wrongly_banned"].to_numpy()
    assert not (np.diff(banned.astype(int)) > 0).any()  # True before False
    for flag in (True, False):
        pts = hurt.loc[hurt["wrongly_banned"] == flag, "false_points"].abs().to_numpy()
        assert (np.diff(pts) <= 0).all()
    assert (hurt["true_score"] == hurt["score"] - hurt["false_points"]).all()
    assert (hurt["wrong_records"] >= 1).all()
    assert len(ex.wrongful(harsh, top=5)) == 5


def test_a_log_sanction_the_file_does_not_explain_is_shown_as_such(harsh_run, tmp_path):
    """Joint punishment (from the log) has no cause in the person's own file: it says so."""
    copy = tmp_path / "run"
    shutil.copytree(harsh_run, copy)
    path = copy / "sanctions.parquet"
    extra = pd.DataFrame({"day": [10], "person": [7], "sanction": ["family_travel_ban"],
                          "started": [True]})
    if path.exists():
        log = pq.read_table(path).to_pandas()
        log["sanction"] = log["sanction"].astype(str)
        extra = pd.concat([log, extra], ignore_index=True)
    extra["day"] = extra["day"].astype("int32")
    pq.write_table(pa.Table.from_pandas(extra, preserve_index=False), path)
    story = ex.story(copy, 7)
    joint = [e for e in story if e["kind"] == "sanction" and e["sanction"] == "family_travel_ban"]
    assert len(joint) == 1 and joint[0]["day"] == 10
    assert joint[0]["why"] == ex.NOT_OWN_FILE
    assert "family_travel_ban" in story[-1]["in_force"]
    base = ex.story(harsh_run, 7)
    strip = [e for e in story if e not in joint]
    assert strip[:-1] == base[:-1]


def test_unknown_person_and_missing_files_are_clear_errors(harsh, tmp_path):
    with pytest.raises(ex.ExplainError, match="no person 3000 .ids run from 0 to 2999"):
        ex.story(harsh, AGENTS)
    none = scoresim.run("pilot-city", agents=500, days=20, seed=1, records="none",
                        out=tmp_path / "none")
    with pytest.raises(ex.ExplainError, match="kept no credit file"):
        ex.story(none, 1)
    sample = scoresim.run("pilot-city", agents=2_000, days=30, seed=1, records="sample",
                          set={"records_sample": 0.1}, out=tmp_path / "sample")
    kept = ex.file_kept(sample, np.arange(2_000))
    assert 100 < kept.sum() < 300  # 10% of 2,000: sd about 13
    outside = int(np.flatnonzero(~kept)[0])
    with pytest.raises(ex.ExplainError, match="not kept"):
        ex.story(sample, outside)
    inside = int(np.flatnonzero(kept)[0])
    story = ex.story(sample, inside)
    assert story[-1]["score"] == sample.people.loc[inside, "score"]


def test_in_memory_results_can_be_explained():
    results = scoresim.run("reference", agents=1_000, days=60, seed=3)
    some = int(results.records["subject"].iloc[0])
    story = ex.story(results, some)
    assert story[-1]["score"] == results.people.loc[some, "score"]


runner = CliRunner()


def test_cli_explain_person(harsh_run, harsh):
    victim = int(ex.wrongful(harsh, top=1)["id"].iloc[0])
    r = runner.invoke(app, ["explain", str(harsh_run), "--person", str(victim)])
    assert r.exit_code == 0, r.output
    assert r.output == ex.render(ex.story(harsh, victim))
    r = runner.invoke(app, ["explain", str(harsh_run), "--person", str(victim), "--json"])
    assert r.exit_code == 0 and '"kind": "end"' in r.output


def test_cli_explain_wrongful(harsh_run, harsh):
    r = runner.invoke(app, ["explain", str(harsh_run), "--wrongful", "--top", "3", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [row["id"] for row in rows] == ex.wrongful(harsh, top=3)["id"].tolist()
    r = runner.invoke(app, ["explain", str(harsh_run), "--wrongful", "--top", "3"])
    assert r.exit_code == 0 and "wrongly banned" in r.output


@pytest.mark.parametrize("args, message", [
    (["--person", "999999"], "no person 999999"),
    ([], "give either --person ID or --wrongful"),
    (["--person", "1", "--wrongful"], "give either --person ID or --wrongful"),
])
def test_cli_explain_bad_input_exits_2(harsh_run, args, message):
    r = runner.invoke(app, ["explain", str(harsh_run), *args])
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output


def test_cli_explain_not_a_run_folder(tmp_path):
    r = runner.invoke(app, ["explain", str(tmp_path / "nothing"), "--person", "1"])
    assert r.exit_code == 2 and "no such RUN folder" in r.output
    r = runner.invoke(app, ["explain", str(tmp_path), "--person", "1"])
    assert r.exit_code == 2 and "not a run folder" in r.output


# --- a long run with every way out: repeat listings, repayment, repair, won appeals --------
LONG_DAYS = 1_000
LONG = {
    **BUSY_PILOT,  # street cameras that see fare evasion often enough to list people
    "face_recognition.nist-2019-us.fmr": [0.02, 0.09],
    "face_recognition.nist-2019-us.tmr": 0.7,
    "behaviours.court_judgment_default.rate": 0.0005,
    # a listing on camera evidence: some listings are wrong, and won appeals end them
    "behaviours.fare_evasion": {"rate": 0.002, "channel": "street_camera"},
    "scoring.points.fare_evasion": -30,
    "sanctions.dishonest_list.triggers": ["court_judgment_default", "fare_evasion"],
    "appeals.file_probability": 0.8,
    "appeals.win_false_match": 0.9,
}


@pytest.fixture(scope="module")
def long_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("explain-long") / "long"
    scoresim.run("pilot-city", agents=AGENTS, days=LONG_DAYS, seed=SEED, records="all",
                 out=out, set=LONG)
    return out


def _log_rows(folder: Path) -> set[tuple]:
    log = pq.read_table(folder / "sanctions.parquet").to_pandas()
    log["sanction"] = log["sanction"].astype(str)
    return set(log[["day", "person", "sanction", "started"]].itertuples(index=False, name=None))


def test_a_long_story_with_every_way_out_matches_the_engine(long_run):
    """Over more than two listing periods, with repeat listings extended, debts repaid,
    records repaired and appeals won (ending wrong listings), every story ends where
    the run ended and tells the engine's own begin and end days."""
    run = scoresim.load(long_run)
    told = ex.stories(run, range(AGENTS), use_log=False)
    people = run.people.set_index("id")
    for pid, story in told.items():
        end, row = story[-1], people.loc[pid]
        assert end["score"] == row["score"], pid
        assert end["false_points"] == row["false_points"], pid
        for sanction, flag in FLAGS.items():
            assert (sanction in end["in_force"]) == bool(row[flag]), (pid, sanction)
        assert end["wrongly_banned"] == bool(row["wrongly_banned"]), pid
    derived = {(e["day"], pid, e["sanction"], e["event"] == "began")
               for pid, story in told.items() for e in story
               if e["kind"] == "sanction" and e["event"] in ("began", "ended")}
    rows = _log_rows(long_run)
    assert {r for r in rows if r[2] in FLAGS} == derived
    # the run did what the test is about
    records = run.records
    why = records["expires_by"].astype(str)
    listing = records["behaviour"].astype(str).isin(LONG["sanctions.dishonest_list.triggers"])
    assert (why == "appeal").sum() > 0 and (why == "repair").sum() > 0
    assert ((why == "appeal") & listing).sum() > 0, "no won appeal against a listing"
    ends = [e["why"] for s in told.values() for e in s
            if e["kind"] == "sanction" and e["sanction"] == "dishonest_list"
            and e["event"] == "ended"]
    assert any("appeal" in w for w in ends) and any("paid" in w for w in ends)
    repeats = records[listing & (records["subject"].duplicated(keep=False))]
    assert len(repeats) > 0, "no one listed twice"
