"""What the command line prints: user text as written, tables in 80 columns, CSV and JSON.

Text a user controls (descriptions, --set values, folder names) reaches the
terminal through rich. With markup on, a `[/]` in it raised MarkupError in
`runs`, `query`, `report` and `explain` (and every later `runs`), and balanced
markup such as `[bold]x[/bold]` was swallowed, so printed paths were wrong.
Each test here failed on the code before the consoles were made literal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scoresim.cli import app, common

SIZE = ["--agents", "2000", "--days", "30", "--seed", "3"]
HOSTILE = "a [/] b [bold]x[/bold] [red]c"
NAME = "r[/]x[bold]y[/bold]"


def invoke(*args, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def wide(monkeypatch):
    """A console wide enough that nothing is folded: the text can be compared whole."""
    monkeypatch.setattr(common.console, "width", 400)


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setattr(common.console, "width", 80)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, Path]:
    """A run whose description and folder name look like rich markup, registered."""
    base = tmp_path_factory.mktemp("literal")
    folder, registry = base / NAME, base / "registry.duckdb"
    ok("run", "reference", "--agents", "20000", "--days", "30", "--out", folder,
       "--set", f"description={HOSTILE}", "--set", "scoring.points.jaywalking=-400",
       "--set", "face_recognition.reference.fmr=[0.05, 0.09]", "--registry", registry, "-q")
    return folder, registry


def test_runs_prints_set_values_and_folders_as_written(hostile, wide) -> None:
    folder, registry = hostile
    result = ok("runs", "--registry", registry)
    assert HOSTILE in result.output
    assert NAME in result.output
    again = ok("runs", "--registry", registry)  # and every later call too
    assert NAME in again.output


def test_query_prints_values_as_written(hostile, wide) -> None:
    folder, registry = hostile
    result = ok("query", "select folder, overrides from runs", "--registry", registry)
    assert NAME in result.output and HOSTILE in result.output
    as_json = json.loads(ok("query", "select folder from runs", "--registry", registry,
                            "--json").output)
    assert as_json[0]["folder"].endswith(NAME)


def test_report_and_explain_print_the_folder_as_written(hostile, wide, tmp_path) -> None:
    folder, _ = hostile
    out = tmp_path / "rep[/]ort[bold]z[/bold].html"  # '/' makes folders: rep[, ]ort[bold]z[
    out.parent.mkdir(parents=True)
    result = ok("report", folder, "--out", out)
    assert str(out) in result.output
    result = ok("explain", folder, "--wrongful")
    assert f"scoresim explain {folder} --person" in result.output


def test_the_html_report_escapes_user_text(tmp_path) -> None:
    folder = tmp_path / "run<b>x</b>"
    evil = '<script>alert("scoresim")</script><img src=x onerror=alert(1)>'
    ok("run", "reference", *SIZE, "--out", folder, "--set", f"description={evil}", "-q",
       "--registry", "none", "--report")
    page = (folder / "report.html").read_text()
    assert evil not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;alert(&quot;scoresim&quot;)&lt;/script&gt;" in page
    assert "run&lt;b&gt;x&lt;/b&gt;" in page


def _lines_fit(text: str, width: int = 80) -> None:
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, "\n".join(long)
    assert "…" not in text, text  # rich's sign of a cut value


def test_runs_fits_80_columns_with_whole_run_ids(hostile, narrow) -> None:
    _, registry = hostile
    result = ok("runs", "--registry", registry)
    _lines_fit(result.output)
    run_id = json.loads(ok("runs", "--registry", registry, "--json").output)[0]["run_id"]
    assert run_id in result.output


def test_explain_wrongful_fits_80_columns_with_whole_person_ids(hostile, narrow) -> None:
    folder, _ = hostile
    result = ok("explain", folder, "--wrongful", "--top", "30")
    _lines_fit(result.output)
    people = json.loads(ok("explain", folder, "--wrongful", "--top", "30", "--json").output)
    assert people, "false matches at 5-9% and jaywalking at -400: some are wrongly banned"
    shown = set(re.findall(r"│\s*(\d+)\s*│", result.output))
    assert {str(p["id"]) for p in people} <= shown


def test_run_summary_fits_80_columns(narrow, tmp_path) -> None:
    result = ok("run", "pilot-city", *SIZE, "--out", tmp_path / "city", "--registry", "none")
    _lines_fit(result.output)


def test_table_commands_print_csv_and_json(hostile, tmp_path) -> None:
    folder, registry = hostile
    summary = json.loads(ok("run", "reference", *SIZE, "--out", tmp_path / "j",
                            "--registry", "none", "--json", "-q").stdout)
    assert summary["scenario"] == "reference" and summary["agents"] == 2000
    csv = ok("run", "reference", *SIZE, "--out", tmp_path / "c", "--registry", "none",
             "--csv", "-q").stdout
    assert csv.splitlines()[0] == "measure,value"
    names = [r["name"] for r in json.loads(ok("scenarios", "--json").output)]
    assert "reference" in names and "pilot-city" in names
    assert ok("scenarios", "--csv").output.startswith("name,description")
    assert ok("runs", "--registry", registry, "--csv").output.startswith("run_id,")
    assert ok("explain", folder, "--wrongful", "--csv").output.startswith("id,group,score")
    both = invoke("runs", "--registry", registry, "--csv", "--json")
    assert both.exit_code == 2 and "give one" in both.output


def test_quiet_prints_only_the_results(tmp_path) -> None:
    result = ok("run", "reference", *SIZE, "--out", tmp_path / "q", "--registry", "none",
                "--json", "-q")
    json.loads(result.stdout)  # nothing but the JSON: no progress, no messages
    assert "run folder:" in result.stderr  # where the run went is said even when quiet
    result = ok("report", tmp_path / "q", "-q")
    assert result.output == ""
    for command in ("run", "resume", "scenarios", "show", "explain", "report", "sweep",
                    "runs", "query", "calibrate", "schema"):
        assert "--quiet" in ok(command, "--help").output, command


def test_progress_is_plain_lines_without_a_terminal(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(common, "PROGRESS_EVERY", 0.0)
    result = ok("run", "reference", *SIZE, "--out", tmp_path / "p", "--registry", "none")
    assert "reference 2,000 people: 30/30 days (100%)" in result.output
    assert "━" not in result.output.split("┏")[0]  # no bar drawn before the summary


def test_version() -> None:
    from scoresim import __version__

    assert ok("--version").output.strip() == f"scoresim {__version__}"


def test_results_repr_fits_on_one_screen() -> None:
    import scoresim

    res = scoresim.run("pilot-city", agents=500, days=5, seed=1)
    text = repr(res)
    assert len(text.splitlines()) <= 8 and max(len(x) for x in text.splitlines()) <= 120
    assert text.startswith("Results(pilot-city: 500 people x 5 days, seed 1")


def test_sweep_tables_fit_80_columns(narrow) -> None:
    """summary_tables on a summary with long parameter values and every printed output."""
    import pandas as pd

    from scoresim.cli.sweep_commands import DIFFERENCE_OUTPUTS, VALUE_OUTPUTS, summary_tables
    from scoresim.studies.sweep import load_plan

    plan = load_plan({"name": "w", "scenario": "reference", "agents": 100, "days": 5,
                      "seeds": 3, "grid": {"face_recognition.reference.fmr": [
                          [0.001, 0.01], [0.0012345678, 0.0123456789]]},
                      "arms": {"system": {}, "none": {"scenario": "no-system",
                                                      "vary": False}}, "baseline": "none"})
    rows = []
    for point in range(2):
        for arm, kind, outputs in (("system", "value", VALUE_OUTPUTS),
                                   ("none", "value", VALUE_OUTPUTS),
                                   ("system", "difference", DIFFERENCE_OUTPUTS)):
            for o in outputs:
                rows.append({"point": point, "arm": arm, "kind": kind, "output": o,
                             "mean": 123456.789, "ci_low": -98765.4321, "ci_high": 1e9})
    for table in summary_tables(pd.DataFrame(rows), plan):
        with common.console.capture() as captured:
            common.console.print(table)
        _lines_fit(captured.get())
        assert "point 1: face_recognition.reference.fmr=[0.0012345678, 0.0123456789]" in \
            " ".join(captured.get().split())


def test_show_and_errors_print_user_text_as_written(tmp_path, wide) -> None:
    """`show` and the one-line errors carry user text (a description, a file name, a --set
    value) literally: nothing swallowed as markup, no MarkupError."""
    result = ok("show", "reference", "--set", f"description={HOSTILE}")
    assert f"description: {HOSTILE}" in result.output
    bad = tmp_path / "s[bold]x[red]y.yaml"  # no "/": it would make folders
    bad.write_text("name: [unclosed\n")
    result = invoke("show", bad)
    assert result.exit_code == 2 and str(bad) in result.output, result.output
    result = invoke("run", "reference", "--set", "scoring.points.jaywalking=a[/]b[bold]c", "-q",
                    "--registry", "none", "--out", tmp_path / "never")
    assert result.exit_code == 2 and "a[/]b[bold]c" in result.output, result.output
    assert not (tmp_path / "never").exists()


def test_the_sweep_progress_bar_shows_its_name_as_written(monkeypatch) -> None:
    """A sweep's name is the progress bar's title on a terminal; it was rich markup there."""
    import io

    import rich
    from rich.console import Console

    from scoresim.studies.cluster import progress_bar

    buffer = io.StringIO()
    monkeypatch.setattr(rich, "_console", Console(file=buffer, force_terminal=True, width=200))
    with progress_bar(True, NAME, "members", 2) as advance:
        advance(1)
    assert NAME in buffer.getvalue()
