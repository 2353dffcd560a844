"""Explain: one person's credit file told as a story, and who was hurt most by wrong records.

A scoring system has to be answerable to the person it scores. The credit file
(records.parquet) is the audit trail: every score, grade and sanction of a
person must follow from their records under the scenario's rules. This module
replays one person's file twice, once as the system saw it and once with only
the correctly attributed records, so that every sanction can say why it began
and whether it would have happened without the wrong records.

When the run folder has a sanctions log (sanctions.parquet: day, person,
sanction, started), the log says when each sanction it covers began and ended,
and the replay only adds the why; sanctions the person's own file does not
explain (joint punishment through a relative or a firm) are shown as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from scoresim.model.credit_file import kept_in_sample
from scoresim.model.replay import APPEAL_ENDED, NEVER, Filed, replay
from scoresim.model.rulebook import (
    BANNED,
    CONSUMPTION_BANNED,
    END_EXPIRY,
    END_REPAID,
    GRADE_MASK,
    LISTED,
    NO_SCORE,
    SUSPENDED,
    WRONGLY_BANNED,
    Rulebook,
    grade_indices,
    grade_name,
)
from scoresim.runs.folder import RunFolderError
from scoresim.runs.layout import SANCTIONS
from scoresim.runs.results import Results, load
from scoresim.scenario.schema import Scenario

# the order in which a day's sanction events are told
SANCTION_ORDER = ("dishonest_list", "consumption_ban", "media_suspension", "travel_ban")
SANCTION_LABELS = {
    "dishonest_list": "dishonest list",
    "consumption_ban": "consumption ban",
    "media_suspension": "social media suspension",
    "travel_ban": "travel ban",
    "shaming": "shown on public screens",
}
# names a sanctions log may use for the sanctions the replay knows
LOG_ALIASES = {
    "listed": "dishonest_list", "dishonest": "dishonest_list", "dishonest_list": "dishonest_list",
    "travel_banned": "travel_ban", "travel_ban": "travel_ban", "banned": "travel_ban",
    "consumption_banned": "consumption_ban", "consumption_ban": "consumption_ban",
    "media_suspended": "media_suspension", "media_suspension": "media_suspension",
    "suspended": "media_suspension",
}
# the log's record of when a travel ban became or stopped being wrongful: the replay
# tells the same as the `wrongful` flag of travel-ban events and 'now wrongful' events
LOG_TOLD_BY_REPLAY = frozenset({"wrongful_travel_ban"})
NOT_OWN_FILE = ("not explained by this person's own credit file "
                "(joint punishment through a relative or firm, or a rule outside it)")


class ExplainError(ValueError):
    """A question explain cannot answer for this run; the message says why."""


class Rules:
    """A run's rules, read from its manifest: the rulebook (model/rulebook.py) and names.

    Every judgement (grades, listing ends, status) is the rulebook's own function;
    this only carries what the story needs to name things.
    """

    def __init__(self, scenario: Scenario, days: int, seed: int):
        self.scenario = scenario
        self.days = days
        self.seed = seed
        self.book = Rulebook(scenario, seed)
        self.behaviours = list(scenario.behaviours)
        scoring = scenario.scoring
        self.initial: int | None = None if scoring is None else int(scoring.initial)
        self.grades: tuple[tuple[str, int | None], ...] = tuple(
            (g.name, g.min_score) for g in scoring.grades) if scoring else ()
        sanctions = scenario.sanctions
        self.list_duration = (sanctions.dishonest_list.duration_days
                              if sanctions.dishonest_list else 0)
        self.media_duration = self.book.media_duration
        self.shame_triggers = frozenset(
            sanctions.shaming.triggers if sanctions.shaming else ())

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Rules:
        scenario = Scenario.model_validate(manifest["scenario"])
        return cls(scenario, int(manifest["days"]), int(manifest["seed"]))

    def grade(self, score: float | None, scheme: int = 0) -> str | None:
        """The grade of a score, by the rulebook (None where no score is kept)."""
        if self.initial is None or score is None:
            return None
        return grade_name(self.book, int(score), scheme)

    def grade_indices(self, scores: np.ndarray, scheme: int = 0) -> np.ndarray:
        """0 for the top grade, for many scores at once (the rulebook's grade_index)."""
        return grade_indices(self.book, scores, scheme)

    @property
    def grade_names(self) -> list[str]:
        return [g for g, _ in self.grades]


@dataclass(frozen=True)
class Record:
    day: int  # the day it was filed: the day it starts to count
    behaviour: str
    channel: str
    points: int
    true_actor: int
    correct: bool
    expires: int = NEVER  # the first day it no longer counts (expiry, repair, appeal)
    expires_by: str = "never"  # why it stops counting then (records.parquet's expires_by)
    error: str = "none"  # the kind of error behind a wrong record (records.parquet's error)


def _changes(records: list[Record], days: int) -> dict[int, list[tuple[Record, int]]]:
    """Score changes by day: +points when a record is filed, -points when it stops counting."""
    out: dict[int, list[tuple[Record, int]]] = {}
    for r in records:
        out.setdefault(r.day, []).append((r, 1))
        if r.expires < days:
            out.setdefault(r.expires, []).append((r, -1))
    return out


# a state: which sanctions are in force, each with the reason it is in force
State = dict[str, tuple]


def _timeline(records: list[Record], rules: Rules, person: int,
              scheme: int = 0) -> list[tuple[int, State, bool, int]]:
    """The days a person's sanctions change: what is in force from each, whether a travel
    ban then is wrongful (the rulebook's status bits, from model/replay.py), and how the
    last listing ends or ended."""
    index = {b: k for k, b in enumerate(rules.behaviours)}
    filed = [Filed(r.day, index[r.behaviour], r.points, r.correct, r.expires,
                   r.expires_by == "appeal") for r in records]
    travel = rules.book.status.travel_grades
    out: list[tuple[int, State, bool, int]] = []
    prev: tuple[State, bool] | None = None
    for d in replay(filed, rules.book, person, rules.days, scheme):
        bits = d.status
        state: State = {}
        if bits & LISTED:
            state["dishonest_list"] = (rules.behaviours[d.listed_by], d.listed_on,
                                       d.listed_until, d.list_reason)
        if bits & CONSUMPTION_BANNED:
            state["consumption_ban"] = ("list",)
        if bits & SUSPENDED:
            state["media_suspension"] = (rules.behaviours[d.suspended_by], d.suspended_on,
                                         d.suspended_until)
        if bits & BANNED:
            why: list[tuple] = []
            g = bits & GRADE_MASK
            if rules.initial is not None and not bits & NO_SCORE and travel[scheme, g]:
                why.append(("grade", rules.grade_names[g]))
            if bits & LISTED and rules.book.status.travel_list:
                why.append(("list",))
            state["travel_ban"] = tuple(why)
        now = (state, bool(bits & WRONGLY_BANNED))
        if now != prev:
            out.append((d.day, state, now[1], d.list_reason))
            prev = now
    return out


def _state_on(timeline: list[tuple[int, State, bool, int]], day: int
              ) -> tuple[State, bool, int]:
    """What is in force on `day`, whether a travel ban is wrongful, how the listing ends."""
    state: State = {}
    wrongful = False
    reason = END_EXPIRY
    for d, s, w, r in timeline:
        if d > day:
            break
        state, wrongful, reason = s, w, r
    return state, wrongful, reason


def _began_why(rules: Rules, sanction: str, reason: tuple) -> str:
    if sanction == "travel_ban":
        parts = [f"grade {r[1]} is travel-banned" if r[0] == "grade" else "on the dishonest list"
                 for r in reason]
        return " and ".join(parts)
    if sanction == "dishonest_list":
        return f"{reason[0]} record (listed until day {reason[2]})"
    if sanction == "consumption_ban":
        return "on the dishonest list"
    if sanction == "media_suspension":
        return f"{reason[0]} record (suspended for {rules.media_duration} days)"
    return ""


def _ended_why(rules: Rules, sanction: str, before: tuple, grade: str | None,
               list_reason: int) -> str:
    if sanction == "travel_ban":
        parts = []
        if any(r[0] == "grade" for r in before):
            parts.append(f"grade rose to {grade}")
        if any(r[0] == "list" for r in before):
            parts.append("left the dishonest list")
        return " and ".join(parts)
    if sanction == "dishonest_list":
        reason = list_reason
        if reason == END_REPAID:
            return "paid the debt and was removed from the list early"
        if reason == APPEAL_ENDED:
            return "an appeal against the record that listed them was won"
        return f"the listing ran its course (day {before[2]})"
    if sanction == "consumption_ban":
        return "left the dishonest list"
    if sanction == "media_suspension":
        return f"the suspension ran its {rules.media_duration} days"
    return ""


def _wrongful_days(actual: list[tuple[int, State, bool, int]],
                   counterfactual: list[tuple[int, State, bool, int]],
                   days: int) -> dict[str, int]:
    """Days each sanction was in force that it would not have been without the wrong records
    (a travel ban: the days it was wrongful by the rulebook's own judgement)."""
    points = sorted({t[0] for t in actual} | {t[0] for t in counterfactual} | {days})
    out: dict[str, int] = {}
    for a, b in zip(points[:-1], points[1:], strict=True):
        (s_a, w_a, _), (s_c, _, _) = _state_on(actual, a), _state_on(counterfactual, a)
        for sanction in s_a:
            wrongful = w_a if sanction == "travel_ban" else sanction not in s_c
            if wrongful:
                out[sanction] = out.get(sanction, 0) + (b - a)
    return out


def _as_results(results_or_folder: Results | str | Path) -> Results:
    if isinstance(results_or_folder, Results):
        return results_or_folder
    return load(results_or_folder)


def _run_folder(results: Results) -> Path | None:
    if results.folder is not None:
        return Path(results.folder)
    if results.records_path is not None:
        return Path(results.records_path).parent
    return None


def records_kept(results: Results) -> str:
    """'all', 'sample' or 'none': whose credit files this run kept in records.parquet."""
    mode = results.manifest.get("records", results.scenario.get("records", "all"))
    if results.records_path is None or not Path(results.records_path).exists():
        return "none"
    return str(mode)


def file_kept(results: Results, people: np.ndarray) -> np.ndarray:
    """Whether each person's whole credit file is in records.parquet (asks the credit file)."""
    people = np.asarray(people, dtype=np.int64)
    mode = records_kept(results)
    if mode == "all":
        return np.ones(people.shape[0], dtype=bool)
    if mode == "none":
        return np.zeros(people.shape[0], dtype=bool)
    return kept_in_sample(int(results.manifest["seed"]),
                          float(results.scenario.get("records_sample", 0.01)), people)


def _read_records(results: Results, people: Iterable[int]) -> dict[int, list[Record]]:
    """The kept records of some people, each person's in the order they were filed."""
    people = sorted({int(p) for p in people})
    out: dict[int, list[Record]] = {p: [] for p in people}
    if not people or results.records_path is None:
        return out
    names = pq.ParquetFile(results.records_path).schema_arrow.names
    extra = [c for c in ("filed_day", "expires_day", "expires_by", "error") if c in names]
    table = pq.read_table(
        results.records_path,
        columns=["day", "subject", "behaviour", "channel", "points", "true_actor", "correct",
                 *extra],
        filters=[("subject", "in", people)],
    )
    df = table.to_pandas()
    # a record counts from the day it was filed (later than made for late channels)
    df["filed"] = df["filed_day"] if "filed_day" in df else df["day"]
    df["expires"] = df["expires_day"] if "expires_day" in df else NEVER
    df["why"] = df["expires_by"].astype(str) if "expires_by" in df else "never"
    df["kind"] = df["error"].astype(str) if "error" in df else np.where(
        df["correct"], "none", "unknown")
    df["_order"] = np.arange(len(df))
    df = df.sort_values(["subject", "filed", "_order"], kind="stable")
    cols = [df[c].tolist() for c in ("filed", "subject", "behaviour", "channel", "points",
                                     "true_actor", "correct", "expires", "why", "kind")]
    for day, subject, behaviour, channel, points, actor, correct, expires, why, kind in zip(
            *cols, strict=True):
        out[int(subject)].append(Record(int(day), str(behaviour), str(channel), int(points),
                                        int(actor), bool(correct), int(expires), str(why),
                                        str(kind)))
    return out


def _read_log(results: Results, people: Iterable[int]) -> tuple[pd.DataFrame, set[str]] | None:
    """The sanctions log's rows for some people, and the sanctions the log covers at all."""
    folder = _run_folder(results)
    if folder is None or not (folder / SANCTIONS).exists():
        return None
    path = folder / SANCTIONS
    try:
        covered = pq.read_table(path, columns=["sanction"]).column("sanction").unique()
        rows = pq.read_table(path, columns=["day", "person", "sanction", "started"],
                             filters=[("person", "in", sorted({int(p) for p in people}))])
    except (OSError, ValueError, KeyError) as exc:
        raise RunFolderError(f"{path}: unreadable sanctions log ({exc})") from None
    df = rows.to_pandas()
    df["sanction"] = df["sanction"].astype(str).map(lambda s: LOG_ALIASES.get(s, s))
    df = df[~df["sanction"].isin(LOG_TOLD_BY_REPLAY)]
    return df, {LOG_ALIASES.get(str(s), str(s)) for s in covered.to_pylist()} - LOG_TOLD_BY_REPLAY


def _tell(person: int, group: int | None, records: list[Record], rules: Rules,
          log: tuple[pd.DataFrame, set[str]] | None, scheme: int = 0) -> list[dict[str, Any]]:
    actual = _timeline(records, rules, person, scheme)
    counterfactual = _timeline([r for r in records if r.correct], rules, person, scheme)
    by_day = _changes(records, rules.days)
    days = sorted(set(by_day) | {t[0] for t in actual} | {t[0] for t in counterfactual})
    score = true_score = rules.initial if rules.initial is not None else 0
    scored = rules.initial is not None

    def grade(x: int) -> str | None:
        return rules.grade(x, scheme) if scored else None

    story: list[dict[str, Any]] = [{
        "day": 0, "kind": "start", "person": person, "group": group,
        "score": score if scored else None, "grade": grade(score),
    }]
    a_prev: State = {}
    c_prev: State = {}
    w_prev = False
    derived: list[dict[str, Any]] = []  # sanction begin/end events, merged with a log below
    for day in days:
        for r, sign in by_day.get(day, []):
            score += sign * r.points
            if r.correct:
                true_score += sign * r.points
            story.append({
                "day": day, "kind": "record", "behaviour": r.behaviour, "channel": r.channel,
                "points": sign * r.points, "correct": r.correct, "true_actor": r.true_actor,
                "error": r.error,
                "score": score if scored else None, "grade": grade(score),
                "true_score": true_score if scored else None, "withdrawn": sign < 0,
            })
        for r, sign in by_day.get(day, []):
            if sign > 0 and r.behaviour in rules.shame_triggers and rules.book.shaming_on(day):
                story.append({
                    "day": day, "kind": "sanction", "sanction": "shaming", "event": "shown",
                    "why": f"the {r.behaviour} record",
                    "wrongful": not r.correct,
                })
        (a_now, w_now, list_end), (c_now, _, _) = (_state_on(actual, day),
                                                    _state_on(counterfactual, day))

        def wrongful(s: str, c: State, w: bool) -> bool:
            # a travel ban is wrongful by the rulebook's own judgement (status bit);
            # another sanction when the true records alone would not impose it
            return w if s == "travel_ban" else s not in c

        for s in SANCTION_ORDER:
            if s in a_now and s not in a_prev:
                derived.append({"day": day, "kind": "sanction", "sanction": s, "event": "began",
                                "why": _began_why(rules, s, a_now[s]),
                                "wrongful": wrongful(s, c_now, w_now)})
            elif s in a_prev and s not in a_now:
                derived.append({"day": day, "kind": "sanction", "sanction": s, "event": "ended",
                                "why": _ended_why(rules, s, a_prev[s], grade(score), list_end),
                                "wrongful": None})
            elif s in a_now and s in a_prev and wrongful(s, c_now, w_now) \
                    and not wrongful(s, c_prev, w_prev):
                derived.append({"day": day, "kind": "sanction", "sanction": s,
                                "event": "now wrongful", "wrongful": True,
                                "why": "from here on in force only because of the wrong records"})
            elif s in a_now and s in a_prev and not wrongful(s, c_now, w_now) \
                    and wrongful(s, c_prev, w_prev):
                derived.append({"day": day, "kind": "sanction", "sanction": s,
                                "event": "now justified", "wrongful": False,
                                "why": "from here on the true records alone would impose it"})
        a_prev, c_prev, w_prev = a_now, c_now, w_now
    if log is not None:
        derived = _merge_log(derived, log, person)
    story.extend(derived)
    order = {"start": 0, "record": 1, "sanction": 2}
    story.sort(key=lambda e: (e["day"], order[e["kind"]]))  # stable: a day's own order is kept
    final, final_wrong, _ = _state_on(actual, rules.days - 1)
    if log is not None:
        final = {s: () for s in _log_in_force(story, final, log[1])}
    story.append({
        "day": rules.days, "kind": "end",
        "score": score if scored else None, "grade": grade(score),
        "true_score": true_score if scored else None,
        "true_grade": grade(true_score),
        "false_points": score - true_score,
        "records": len(records), "wrong_records": sum(not r.correct for r in records),
        "in_force": [s for s in SANCTION_ORDER if s in final]
        + sorted(s for s in final if s not in SANCTION_ORDER),
        "wrongly_banned": "travel_ban" in final and final_wrong,
        "wrongful_days": _wrongful_days(actual, counterfactual, rules.days),
    })
    return story


def _merge_log(derived: list[dict[str, Any]], log: tuple[pd.DataFrame, set[str]],
               person: int) -> list[dict[str, Any]]:
    """The log decides when the sanctions it covers began and ended; the replay says why."""
    rows, covered = log
    mine = rows[rows["person"] == person]
    known = {(e["day"], e["sanction"], e["event"]): e for e in derived}
    out = [e for e in derived if e["sanction"] not in covered]
    for day, sanction, started in zip(mine["day"].tolist(), mine["sanction"].tolist(),
                                      mine["started"].tolist(), strict=True):
        event = "began" if started else "ended"
        match = known.get((int(day), sanction, event))
        if match is not None:
            out.append(match)
        else:
            out.append({"day": int(day), "kind": "sanction", "sanction": sanction,
                        "event": event, "why": NOT_OWN_FILE if started else "", "wrongful": None})
    out += [e for e in derived if e["sanction"] in covered and e["event"].startswith("now")]
    return out


def _log_in_force(story: list[dict[str, Any]], derived_final: State, covered: set[str]) -> list:
    active = {s for s in derived_final if s not in covered}
    for e in story:
        if e["kind"] == "sanction" and e["sanction"] in covered:
            if e["event"] == "began":
                active.add(e["sanction"])
            elif e["event"] == "ended":
                active.discard(e["sanction"])
    return sorted(active)


def stories(results_or_folder: Results | str | Path, people: Iterable[int],
            use_log: bool = True) -> dict[int, list[dict[str, Any]]]:
    """The stories of many people at once (one read of the credit file), keyed by id.

    People whose files were not kept are left out; ask `file_kept` first to tell them apart.
    With `use_log=False` the sanctions are told from the replay alone, even when the run
    has a sanctions log (which is how the tests check the two against each other).
    """
    results = _as_results(results_or_folder)
    if records_kept(results) == "none":
        raise ExplainError(_no_records_message(results))
    rules = Rules.from_manifest(results.manifest)
    ids = np.asarray(sorted({int(p) for p in people}), dtype=np.int64)
    ids = ids[file_kept(results, ids)]
    files = _read_records(results, ids.tolist())
    log = _read_log(results, ids.tolist()) if use_log else None
    people_ = results.people.set_index("id") if len(ids) else None
    names = rules.book.schemes.names
    scheme = (people_["scheme"].astype(str).map(names.index) if people_ is not None
              and "scheme" in people_ else None)
    return {int(p): _tell(int(p), int(people_["group"].loc[p]), files[int(p)], rules, log,
                          int(scheme.loc[p]) if scheme is not None else 0) for p in ids}


def story(results_or_folder: Results | str | Path, person: int) -> list[dict[str, Any]]:
    """One person's credit file in order, with each sanction it brought and why.

    Entries are dicts with `day` and `kind`: 'start'; 'record' (behaviour,
    channel, points, correct, true_actor, score and grade after it); 'sanction'
    (sanction, event 'began'/'ended'/'shown'/'now wrongful'/'now justified',
    why, wrongful: whether it would not have happened without the wrong
    records); and a closing 'end' with the final state.
    """
    results = _as_results(results_or_folder)
    person = int(person)
    n = int(results.manifest["agents"])
    where = results.folder or "this run"
    if not 0 <= person < n:
        raise ExplainError(f"{where}: no person {person} (ids run from 0 to {n - 1})")
    if records_kept(results) == "none":
        raise ExplainError(_no_records_message(results))
    if not file_kept(results, np.array([person]))[0]:
        share = results.scenario.get("records_sample", 0.01)
        raise ExplainError(
            f"{where}: person {person}'s credit file was not kept (records: sample keeps the "
            f"files of {share:.2%} of people); `scoresim explain {where} --wrongful` lists "
            "people whose files were kept")
    return stories(results, [person])[person]


def _no_records_message(results: Results) -> str:
    where = results.folder or "this run"
    return (f"{where}: this run kept no credit file (records: none), so no one's story can be "
            "told; run it again with --records all or --records sample")


# -- text -------------------------------------------------------------------------------

# what a wrong record is, by the kind of error behind it (records.parquet's error); {actor}
# is the person who really did it, where someone did
WRONG_RECORD = {
    "false_match": "WRONG: person {actor} did it; face recognition matched this person",
    "linkage": "WRONG: person {actor} did it; filed under a similar identity",
    "false_flag": "WRONG: a false flag, a harmless post the filter took for this; "
                  "nobody did it",
    "malicious_report": "WRONG: an informant made it up; nobody did it",
    "fabricated": "WRONG: fabricated by the authority; nobody did it",
}


def truth_of(entry: dict[str, Any]) -> str:
    """'true', or what a wrong record is: whose act it was, or that nobody did it."""
    if entry["correct"]:
        return "true"
    actor = int(entry.get("true_actor", -1))
    text = WRONG_RECORD.get(str(entry.get("error", "")))
    if text is not None and ("{actor}" not in text or actor >= 0):
        return text.format(actor=actor)
    return "WRONG: nobody did it" if actor < 0 else f"WRONG: person {actor} did it"


def describe(entry: dict[str, Any]) -> str:
    """What one story entry says, in words (the report's person lookup says the same)."""
    kind = entry["kind"]
    if kind == "record":
        truth = truth_of(entry)
        if entry.get("withdrawn"):
            return f"{entry['behaviour']} ({entry['channel']}, {truth}) no longer counts"
        return f"{entry['behaviour']} ({entry['channel']}, {truth})"
    if kind == "sanction" and entry["event"] == "shown":
        text = f"shown on public screens: {entry['why']}"
        if entry.get("wrongful"):
            text += " [would not have happened without the wrong records]"
        return text
    if kind == "sanction":
        label = SANCTION_LABELS.get(entry["sanction"], entry["sanction"].replace("_", " "))
        text = f"{label} {entry['event']}"
        if entry.get("why"):
            text += f": {entry['why']}"
        if entry["event"] in ("began", "shown") and entry.get("wrongful"):
            text += " [would not have happened without the wrong records]"
        return text
    if kind == "start":
        return "credit file opens"
    return "end of the run"


def render(story_: list[dict[str, Any]]) -> str:
    """A story as plain text: a header, one line per entry, and what the wrong records did."""
    start, end = story_[0], story_[-1]
    scored = end["score"] is not None
    head = f"person {start['person']} (group {start['group']})"
    if scored:
        head += f": score {end['score']}, grade {end['grade']}"
    lines = [head, f"{end['records']} records kept, {end['wrong_records']} of them wrong"]
    if scored and end["wrong_records"]:
        lines.append(f"without the wrong records: score {end['true_score']}, grade "
                     f"{end['true_grade']} ({end['false_points']:+d} points from wrong records)")
    lines.append("")
    lines.append(f"{'day':>5}  {'points':>6}  {'score':>6}  {'grade':<5}  what")
    for e in story_[:-1]:
        if e["kind"] == "record":
            mark = "!" if not e["correct"] else " "
            pts = f"{e['points']:+d}"
            sc = "" if e["score"] is None else str(e["score"])
            gr = e["grade"] or ""
            lines.append(f"{e['day']:>5}{mark} {pts:>6}  {sc:>6}  {gr:<5}  {describe(e)}")
        elif e["kind"] == "sanction":
            mark = "!" if e.get("wrongful") else " "
            lines.append(f"{e['day']:>5}{mark} {'':>6}  {'':>6}  {'':<5}  {describe(e)}")
        else:
            sc = "" if e["score"] is None else str(e["score"])
            lines.append(f"{e['day']:>5}  {'':>6}  {sc:>6}  {e['grade'] or '':<5}  {describe(e)}")
    lines.append("")
    in_force = ", ".join(SANCTION_LABELS.get(s, s) for s in end["in_force"]) or "none"
    lines.append(f"day {end['day']}: end of the run; in force: {in_force}")
    if end["wrongful_days"]:
        parts = ", ".join(f"{SANCTION_LABELS.get(s, s)} {d} days"
                          for s, d in sorted(end["wrongful_days"].items()))
        lines.append(f"days under sanction only because of the wrong records: {parts}")
    if end["wrongly_banned"]:
        lines.append("wrongly travel-banned at the end: the true records alone would not ban")
    lines.append("(! marks a wrong record, or what would not have happened without one)")
    return "\n".join(lines) + "\n"


# -- who was hurt most --------------------------------------------------------------------

def wrongful(results_or_folder: Results | str | Path, top: int | None = 20) -> pd.DataFrame:
    """People hurt by wrong records: the wrongly banned first, then by |false points|.

    Works without a credit file (from people.parquet); with one, it also counts
    each person's wrong records.
    """
    results = _as_results(results_or_folder)
    rules = Rules.from_manifest(results.manifest)
    p = results.people
    hurt = p[(p["false_points"] != 0) | p["wrongly_banned"]].copy()
    hurt["true_score"] = hurt["score"] - hurt["false_points"]
    hurt["true_grade"] = [rules.grade(s) for s in hurt["true_score"].tolist()]
    hurt["_abs"] = hurt["false_points"].abs()
    hurt = hurt.sort_values(["wrongly_banned", "_abs", "id"], ascending=[False, False, True],
                            kind="stable").drop(columns="_abs")
    if top is not None:
        hurt = hurt.head(top)
    if records_kept(results) != "none" and len(hurt):
        files = _read_records(results, hurt["id"].tolist())
        hurt["wrong_records"] = [sum(not r.correct for r in files[int(i)])
                                 for i in hurt["id"].tolist()]
        hurt["file_kept"] = file_kept(results, hurt["id"].to_numpy())
    cols = ["id", "group", "score", "grade", "true_score", "true_grade", "false_points",
            "wrongly_banned", "travel_banned"] + [c for c in ("wrong_records", "file_kept")
                                                  if c in hurt]
    return hurt[cols].reset_index(drop=True)
