"""`scoresim report`: one self-contained HTML file, every chart with data, sections on demand.

What a browser makes of the page is checked in tests/browser/; here the file
itself: nothing in it loads from the network, plotly.js is inlined exactly
once, every figure has data and a text alternative, the embedded stories agree
with `scoresim explain`, and sections appear exactly when their data exists.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _shared import HARSH_PILOT
from plotly.offline import get_plotlyjs
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.report import ReportError, overview_figure, write_report
from scoresim.report.lookup import embedded_stories
from scoresim.studies import explain as ex

AGENTS, DAYS, SEED = 2_000, 200, 77
HARSH = HARSH_PILOT
MAX_BYTES = 10 * 2**20


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A harsh pilot-city run and its paired no-system baseline (same seed, people, days)."""
    base = tmp_path_factory.mktemp("report")
    city = base / "city"
    none = base / "none"
    scoresim.run("pilot-city", agents=AGENTS, days=DAYS, seed=SEED, records="all", out=city,
                 set=HARSH)
    scoresim.run("no-system", agents=AGENTS, days=DAYS, seed=SEED, out=none)
    return {"city": city, "none": none}


@pytest.fixture(scope="module")
def report(runs) -> str:
    return write_report(runs["city"], baseline=runs["none"]).read_text()


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each script by id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "script":
            self._in = a.get("id", f"anon-{len(self.scripts)}")
            self.scripts[self._in] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self.scripts[self._in] += data


def parse(html: str) -> Tags:
    t = Tags()
    t.feed(html)
    return t


def figures(html: str) -> dict[str, dict]:
    return json.loads(parse(html).scripts["scoresim-figures"])


def length(value: Any) -> int:
    """How many values a plotly data array holds (a list, or numpy's base64 'bdata' form)."""
    if isinstance(value, dict) and "bdata" in value:
        size = np.dtype(value["dtype"]).itemsize
        return len(base64.b64decode(value["bdata"])) // size
    return len(value) if isinstance(value, list | tuple) else 0


def trace_points(trace: dict) -> int:
    if trace.get("type") == "sankey":
        return length(trace["link"]["value"])
    return max(length(trace.get(k, [])) for k in ("y", "x", "values"))


def assert_self_contained(html: str) -> None:
    tags = parse(html)
    for tag, attrs in tags.tags:
        for attr in ("src", "href", "data", "srcset", "action", "poster"):
            value = attrs.get(attr, "")
            assert not re.match(r"\s*(https?:)?//", value), (tag, attr, value)
        if tag == "script":
            assert "src" not in attrs, attrs
        if tag == "link":
            assert attrs.get("rel") not in ("stylesheet", "preload", "modulepreload",
                                            "prefetch", "import"), attrs
        assert tag not in ("iframe", "embed", "object", "base"), tag
    csp = [a["content"] for t, a in tags.tags if t == "meta"
           and a.get("http-equiv", "").lower() == "content-security-policy"]
    assert csp and "default-src 'none'" in csp[0] and "connect-src 'none'" in csp[0]
    assert "@import" not in html.split("</style>")[0]


def assert_every_chart_has_data(html: str) -> int:
    figs = figures(html)
    divs = [a["id"] for t, a in parse(html).tags if t == "div" and "plot" in a.get("class", "")]
    assert sorted(divs) == sorted(figs), "every plot div has a figure and every figure a div"
    for t, a in parse(html).tags:
        if t == "div" and "plot" in a.get("class", ""):
            assert a.get("role") == "img" and len(a.get("aria-label", "")) > 20, a
    for div, fig in figs.items():
        assert fig["data"], f"{div}: no traces"
        for trace in fig["data"]:
            assert trace_points(trace) > 0, f"{div}: an empty trace"
        assert fig["layout"]["title"]["text"], f"{div}: no title"
        for axis in ("xaxis", "yaxis"):
            spec = fig["layout"].get(axis, {})
            if spec and spec.get("visible", True) and fig["data"][0].get("type") != "sankey":
                assert spec.get("title", {}).get("text") is not None, f"{div}: {axis} title"
    return len(figs)


def test_the_report_is_self_contained_and_small(runs, report):
    assert_self_contained(report)
    js = get_plotlyjs()
    assert report.count(js[:500]) == 1, "plotly.js must be inlined exactly once"
    assert len(report.encode()) < MAX_BYTES
    assert (runs["city"] / "report.html").is_file()
    assert '<html lang="en">' in report


def test_the_speech_section_says_what_the_dissent_choice_had_people_do(runs, report):
    """pilot-city's critical speech is the paper's choice: its last day's counts, in words."""
    ts = pd.read_parquet(runs["city"] / "timeseries.parquet")
    last = ts.iloc[-1]
    n = int(last["n_defiant"] + last["n_self_censoring"] + last["n_compliant"])
    assert n == AGENTS
    assert f"of {n:,} people, {int(last['n_defiant']):,} (" in report
    assert "self-censoring" in report and "reported, not acted on" not in report


def test_every_chart_has_data_a_title_and_a_text_alternative(report):
    n = assert_every_chart_has_data(report)
    keys = set(figures(report))
    for expected in ("grade-shares", "score-histogram", "grade-flows", "sanctions",
                     "wrongly-banned", "wrongful-by-group", "wrongful-by-channel", "shaming",
                     "speech", "speech-lost"):
        assert f"plot-{expected}" in keys
    assert n >= 10


def test_grade_flows_end_where_the_people_are(runs, report):
    """The flow diagram's last column is recomputed from records: it must match people.parquet."""
    sankey = figures(report)["plot-grade-flows"]["data"][0]
    labels = sankey["node"]["label"]
    last = f"(day {DAYS - 1})"
    counts: dict[str, int] = {}
    for dst, v in zip(sankey["link"]["target"], sankey["link"]["value"], strict=True):
        if labels[dst].endswith(last):
            g = labels[dst].split(" ")[0]
            counts[g] = counts.get(g, 0) + v
    people = scoresim.load(runs["city"]).people
    assert counts == {str(g): int(n) for g, n in people["grade"].value_counts().items() if n}


def test_grade_shares_add_up_to_everyone(report):
    fig = figures(report)["plot-grade-shares"]
    total = np.sum([t["y"] for t in fig["data"]], axis=0)
    assert np.allclose(total, 100, atol=1e-3)


def test_wrongful_by_channel_counts_every_wrong_record(runs, report):
    fig = figures(report)["plot-wrongful-by-channel"]
    shown = sum(sum(t["y"]) for t in fig["data"])
    assert shown == scoresim.load(runs["city"]).timeseries["n_false_records"].sum() > 0


def test_embedded_stories_are_the_explain_stories(runs, report):
    data = json.loads(parse(report).scripts["scoresim-stories"])
    results = scoresim.load(runs["city"])
    records = results.records
    wrong = set(records.loc[~records["correct"], "subject"].tolist())
    assert data["n_wrong"] == len(wrong) == data["n_wrong_kept"] > 0
    assert wrong <= {int(k) for k in data["people"]}
    strings = data["strings"]
    people = results.people.set_index("id")
    for key in list(data["people"])[:50]:
        pid = int(key)
        group, start, rows, end = data["people"][key]
        story = ex.story(results, pid)
        assert end == json.loads(json.dumps(story[-1]))
        assert end["score"] == people.loc[pid, "score"]
        assert len(rows) == len(story) - 2
        for row, e in zip(rows, story[1:-1], strict=True):
            assert row[0] == e["day"]
            if e["kind"] == "record":
                assert strings[row[2]] == e["behaviour"] and row[5] == int(e["correct"])
            else:
                assert strings[row[2]] == e["sanction"] and strings[row[3]] == e["event"]


def test_the_story_budget_keeps_the_most_hurt(runs):
    results = scoresim.load(runs["city"])
    small = embedded_stories(results, budget=30_000)
    full = embedded_stories(results)
    assert 0 < len(small["people"]) < len(full["people"])
    assert len(json.dumps(small["people"], separators=(",", ":"))) <= 30_000
    assert small["wrong"] == full["wrong"][:len(small["wrong"])]
    first = ex.wrongful(results, top=1)["id"].iloc[0]
    assert str(first) in small["people"]


def test_sections_appear_only_with_their_data(runs, tmp_path):
    none = write_report(runs["none"], tmp_path / "none.html").read_text()
    assert_self_contained(none)
    assert_every_chart_has_data(none)
    keys = set(figures(none))
    assert "plot-speech" in keys
    assert not keys & {"plot-grade-shares", "plot-sanctions", "plot-wrongly-banned"}
    assert 'id="scoresim-stories"' not in none
    assert "kept no credit file" in none

    copy = tmp_path / "city"
    shutil.copytree(runs["city"], copy)
    (copy / "report.html").unlink(missing_ok=True)
    days = np.arange(DAYS)
    breakdown = pd.DataFrame({
        "day": np.repeat(days, 2), "dimension": "region",
        "value": np.tile(["north", "south"], DAYS),
        "n_travel_banned": np.tile([3, 5], DAYS),
    })
    pq.write_table(pa.Table.from_pandas(breakdown, preserve_index=False),
                   copy / "breakdown.parquet")
    firms = pd.DataFrame({"id": range(20), "listed": [True] * 3 + [False] * 17,
                          "employees": range(20)})
    pq.write_table(pa.Table.from_pandas(firms, preserve_index=False), copy / "firms.parquet")
    html = write_report(copy).read_text()
    assert "plot-breakdown-region" in figures(html)
    assert 'id="firms"' in html and 'id="breakdowns"' in html
    assert_every_chart_has_data(html)


def test_a_baseline_must_be_the_same_society(runs, tmp_path):
    other = scoresim.run("no-system", agents=AGENTS // 2, days=DAYS, seed=SEED,
                         out=tmp_path / "small")
    out = tmp_path / "r.html"
    with pytest.raises(ReportError, match="same society over the same days"):
        write_report(runs["city"], out, baseline=other.folder)
    assert not out.exists()


def test_in_memory_results_need_an_out_file(tmp_path):
    results = scoresim.run("reference", agents=500, days=30, seed=2)
    with pytest.raises(ReportError, match="give out="):
        write_report(results)
    html = write_report(results, tmp_path / "mem.html").read_text()
    assert_every_chart_has_data(html)


def test_results_plot_is_the_overview(runs):
    fig = scoresim.load(runs["city"]).plot()
    assert len(fig.data) >= 6
    assert all(len(t.y) == DAYS for t in fig.data)
    assert fig.layout.title.text.startswith("pilot-city")
    assert len(overview_figure(scoresim.load(runs["none"])).data) == 2


runner = CliRunner()


def test_cli_report(runs, tmp_path):
    out = tmp_path / "cli.html"
    r = runner.invoke(app, ["report", str(runs["city"]), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and str(out) in r.output.replace("\n", "")


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "no such run or sweep folder"),
    (["{empty}"], "not a run folder"),
    (["{city}", "--baseline", "{missing}"], "no such --baseline run folder"),
    (["{city}", "--baseline", "{empty}"], "--baseline is not a run folder"),
])
def test_cli_report_bad_input_exits_2_and_writes_nothing(runs, tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "never.html"
    names = {"missing": tmp_path / "missing", "empty": empty, "city": runs["city"]}
    argv = ["report"] + [a.format(**names) for a in args] + ["--out", str(out)]
    r = runner.invoke(app, argv)
    assert r.exit_code == 2, r.output
    assert message in r.output.replace("\n", " ")
    assert "Traceback" not in r.output
    assert not out.exists()


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory) -> Path:
    """A small paired sweep: two jaywalking penalties, pilot-city against no-system."""
    out = tmp_path_factory.mktemp("sweep") / "sw"
    spec = {"name": "tiny", "scenario": "pilot-city", "agents": 800, "days": 40, "seeds": 2,
            "records": "none", "grid": {"scoring.points.jaywalking": [-5, -400]},
            "arms": {"none": {"scenario": "no-system", "vary": False}, "city": {}},
            "baseline": "none"}
    scoresim.sweep(spec, out=out, workers=1)
    return out


def test_sweep_report(sweep_folder):
    html = write_report(sweep_folder).read_text()
    assert_self_contained(html)
    assert_every_chart_has_data(html)
    figs = figures(html)
    assert "plot-v-scoring-points-jaywalking-n-travel-banned" in figs
    paired = [k for k in figs if k.startswith("plot-d-")]
    assert paired, "a sweep with a baseline arm shows paired effects"
    fig = figs["plot-v-scoring-points-jaywalking-n-travel-banned"]
    city = next(t for t in fig["data"] if t["name"].startswith("city"))
    assert city["x"] == [-400, -5]
    assert length(city["error_y"]["array"]) == 2
    summary = pd.read_parquet(sweep_folder / "summary.parquet")
    want = summary[(summary["arm"] == "city") & (summary["kind"] == "value")
                   & (summary["output"] == "n_travel_banned")].sort_values(
                       "scoring.points.jaywalking")["mean"].round(6).tolist()
    assert city["y"] == want
    r = runner.invoke(app, ["report", str(sweep_folder), "--baseline", str(sweep_folder)])
    assert r.exit_code == 2 and "applies to a run" in r.output


def test_cli_run_with_report(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["run", "reference", "--agents", "500", "--days", "20", "--out",
                            str(out), "--quiet", "--report", "--registry", "none"])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    assert_self_contained(html)
    assert_every_chart_has_data(html)


def test_the_dissent_sentence_says_when_the_choice_is_not_acted_on():
    """With dissent.response: chilling the counts are reported as computed, not acted on."""
    from types import SimpleNamespace

    from scoresim.report.run import dissent_choice_sentence

    ts = pd.DataFrame({"n_defiant": [5, 10], "n_self_censoring": [80, 60],
                       "n_compliant": [15, 30]})
    best = SimpleNamespace(ts=ts, scenario={"dissent": {"response": "best"}})
    chilling = SimpleNamespace(ts=ts, scenario={"dissent": {"response": "chilling"}})
    text = dissent_choice_sentence(best)
    assert "of 100 people, 10 (10.0%) said all" in text and "60 (60.0%) held" in text
    assert "not acted on" not in text
    assert "not acted on" in dissent_choice_sentence(chilling)
    assert dissent_choice_sentence(SimpleNamespace(ts=ts[["n_defiant"]], scenario={})) == ""


def test_the_opinion_section_says_what_the_surveys_measured(runs, report, tmp_path):
    """pilot-city's survey of day 181, in words computed from surveys.parquet, with intervals."""
    from scoresim.report.sentences import Z95

    s = pd.read_parquet(runs["city"] / "surveys.parquet")
    row = s[(s["group"] == "all") & (s["day"] == s["day"].max())].iloc[0]
    assert int(row["day"]) == 181 and int(row["n"]) == AGENTS
    assert "plot-surveys" in figures(report)
    assert f"of {int(row['n']):,} respondents, {100 * row['direct']:.1f}% (95% interval" in report
    assert f"puts approval at {100 * row['list']:.1f}% (95% interval" in report
    gap_se = float(np.hypot(row["direct_se"], row["list_se"]))
    beyond = abs(row["falsification_gap"]) > Z95 * gap_se
    assert f"The gap of {100 * row['falsification_gap']:.1f} points" in report
    assert ("is beyond noise" if beyond else "is within noise: the two") in report
    # a level order is stated for every trait opinion breaks down
    for trait in ("income band", "education", "urban", "age band"):
        assert f"By {trait}, mean approval in the whole population is highest among" in report
    none = write_report(runs["none"], tmp_path / "none.html").read_text()
    assert 'id="opinion"' not in none and "plot-surveys" not in figures(none)
