"""The report in a real browser (chromium, headless), opened from a file with no network.

These tests catch what the file alone cannot show: a script that fails, a
request for something the page should carry itself, a chart that plotly
could not draw, a person lookup that tells a different story than
`scoresim explain`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _shared import HARSH_PILOT

import scoresim
from scoresim.report import write_report
from scoresim.scenario import builtin_names
from scoresim.studies import explain as ex

AGENTS, DAYS, SEED = 2_000, 200, 77
HARSH = HARSH_PILOT

PLOTS_JS = """() => Array.from(document.querySelectorAll('.plot')).map(d => ({
  id: d.id,
  label: d.getAttribute('aria-label') || '',
  traces: (d.data || []).map(t => {
    const arr = t.type === 'sankey' ? t.link.value : (t.y || t.values || t.x || []);
    return arr.length;
  }),
  marks: d.querySelectorAll('.main-svg path, .main-svg rect').length,
}))"""


@pytest.fixture(scope="module")
def city(tmp_path_factory, browser) -> Path:
    """A harsh pilot-city run reported against its paired no-system baseline."""
    base = tmp_path_factory.mktemp("browser")
    scoresim.run("pilot-city", agents=AGENTS, days=DAYS, seed=SEED, records="all",
                 out=base / "city", set=HARSH)
    scoresim.run("no-system", agents=AGENTS, days=DAYS, seed=SEED, out=base / "none")
    write_report(base / "city", baseline=base / "none")
    return base / "city"


def figure_count(report: Path) -> int:
    html = report.read_text()
    start = html.index('id="scoresim-figures">') + len('id="scoresim-figures">')
    return len(json.loads(html[start:html.index("</script>", start)]))


def test_opens_offline_without_requests_or_errors(city, open_offline):
    report = city / "report.html"
    opened = open_offline(report)
    assert opened.blocked == [], f"the page tried to reach the network: {opened.blocked}"
    assert opened.requests == [report.resolve().as_uri()]
    assert opened.errors == []
    assert opened.page.title() == "scoresim report: pilot-city"


def test_every_chart_holds_data(city, open_offline):
    report = city / "report.html"
    opened = open_offline(report)
    plots = opened.page.evaluate(PLOTS_JS)
    assert len(plots) == figure_count(report) >= 10
    for p in plots:
        assert p["traces"], f"{p['id']}: no traces"
        assert all(n > 0 for n in p["traces"]), f"{p['id']}: an empty trace"
        assert p["marks"] > 0, f"{p['id']}: nothing drawn"
        assert len(p["label"]) > 20, f"{p['id']}: no text alternative"
    assert opened.errors == []


def rows_of(page) -> list[dict]:
    return page.evaluate("""() => Array.from(document.querySelectorAll('#story tbody tr'))
        .map(tr => ({what: tr.querySelector('td.what').textContent,
                     wrong: tr.classList.contains('wrong'),
                     day: parseInt(tr.cells[0].textContent, 10)}))""")


def test_person_lookup_tells_the_explain_story(city, open_offline):
    results = scoresim.load(city)
    victim = int(ex.wrongful(results, top=1)["id"].iloc[0])
    story = ex.story(results, victim)
    assert story[-1]["wrongly_banned"] and story[-1]["wrong_records"] > 0

    opened = open_offline(city / "report.html")
    page = opened.page
    page.fill("#person-id", str(victim))
    page.press("#person-id", "Enter")
    page.wait_for_selector("#story tbody tr")
    rows = rows_of(page)
    assert [r["what"] for r in rows] == [ex.describe(e) for e in story[:-1]]
    assert [r["day"] for r in rows] == [e["day"] for e in story[:-1]]
    wrong = [not e["correct"] if e["kind"] == "record" else bool(e.get("wrongful"))
             for e in story[:-1]]
    assert [r["wrong"] for r in rows] == wrong
    assert any(r["wrong"] and "WRONG: person" in r["what"] for r in rows)
    text = page.inner_text("#story")
    end = story[-1]
    assert f"Person {victim} (group {story[0]['group']}): score {end['score']}, grade " \
           f"{end['grade']}" in text
    assert "Wrongly travel-banned at the end" in text
    assert opened.errors == []


def test_lookup_buttons_and_unknown_people(city, open_offline):
    page = open_offline(city / "report.html").page
    first = page.get_attribute("[data-person]", "data-person")
    page.focus("[data-person]")
    page.keyboard.press("Enter")  # keyboard users can open a suggested person
    page.wait_for_selector("#story tbody tr")
    assert page.inner_text("#story h3").startswith(f"Person {first} ")
    page.fill("#person-id", str(AGENTS + 5))
    page.press("#person-id", "Enter")
    assert "There is no person" in page.inner_text("#story")
    data = json.loads(page.inner_html("#scoresim-stories"))
    missing = next(i for i in range(AGENTS) if str(i) not in data["people"])
    page.fill("#person-id", str(missing))
    page.press("#person-id", "Enter")
    assert f"--person {missing}" in page.inner_text("#story")


def test_report_of_a_run_without_a_system(city, open_offline, tmp_path):
    report = write_report(city.parent / "none", tmp_path / "none.html")
    opened = open_offline(report)
    plots = opened.page.evaluate(PLOTS_JS)
    assert plots and all(all(n > 0 for n in p["traces"]) for p in plots)
    assert opened.errors == [] and opened.blocked == []


def test_the_harness_sees_a_network_request(open_offline, tmp_path):
    """The checks above can fail: a page that loads from the network is caught either way."""
    plain = tmp_path / "plain.html"
    plain.write_text('<!DOCTYPE html><html><body><img src="https://example.invalid/x.png">'
                     "</body></html>")
    opened = open_offline(plain)
    assert opened.blocked == ["https://example.invalid/x.png"]
    report = (tmp_path / "csp.html")
    report.write_text('<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
                      "content=\"default-src 'none'\"></head><body>"
                      '<img src="https://example.invalid/y.png"></body></html>')
    opened = open_offline(report)
    assert opened.blocked == [] and any("example.invalid" in e for e in opened.errors)


HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_scenario_renders_without_console_errors(name, browser, open_offline,
                                                              tmp_path):
    """Each built-in scenario's report opens offline and draws every chart, with no error;
    the scenario's description, user text, is shown as text, never run as markup."""
    folder = tmp_path / name
    scoresim.run(name, agents=1_500, days=40, seed=SEED, out=folder,
                 set={"description": HOSTILE})
    report = write_report(folder)
    opened = open_offline(report)
    plots = opened.page.evaluate(PLOTS_JS)
    assert plots and len(plots) == figure_count(report)
    for p in plots:
        assert all(n > 0 for n in p["traces"]) and p["marks"] > 0, p["id"]
    assert opened.errors == [] and opened.blocked == []
    assert opened.page.title() == f"scoresim report: {name}"
    assert HOSTILE in opened.page.inner_text("header")
    assert opened.page.evaluate("() => document.querySelectorAll('header img').length") == 0
