"""`scoresim report` and `scoresim explain`."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from scoresim.cli.common import (
    AsCsv,
    AsJson,
    Quiet,
    app,
    cell,
    fail,
    one_format,
    print_frame_as,
    say,
    user_errors,
)
from scoresim.studies.explain import ExplainError


def explain_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Questions a run cannot answer end with a message and exit code 2, like bad input."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from scoresim.report import ReportError

        try:
            return fn(*args, **kwargs)
        except (ExplainError, ReportError) as exc:
            fail(str(exc))

    return wrapper


def _run_folder(path: Path, what: str = "RUN") -> Path:
    if not path.is_dir():
        fail(f"{path}: no such {what} folder")
    return path


@app.command()
@user_errors
@explain_errors
def report(
    folder: Annotated[Path, typer.Argument(help="A run folder or a sweep folder.")],
    out: Annotated[Path | None, typer.Option(help="Report file (default FOLDER/report.html).")]
    = None,
    baseline: Annotated[Path | None, typer.Option(
        help="A paired baseline run folder (same people and days), e.g. a no-system run.")]
    = None,
    quiet: Quiet = False,
) -> None:
    """Write a self-contained HTML report of a run or a sweep (works offline)."""
    from scoresim.report import write_report

    _run_folder(folder, "run or sweep")
    if baseline is not None:
        _run_folder(baseline, "--baseline run")
    path = write_report(folder, out, baseline=baseline)
    size = path.stat().st_size / 2**20
    say("report: ", (str(path), "bold"), f" ({size:.1f} MiB)", quiet=quiet)


@app.command()
@user_errors
@explain_errors
def explain(
    folder: Annotated[Path, typer.Argument(help="A run folder.")],
    person: Annotated[int | None, typer.Option(help="Tell this person's story.", min=0)] = None,
    wrongful: Annotated[bool, typer.Option(
        "--wrongful", help="List the people hurt most by wrong records.")] = False,
    top: Annotated[int, typer.Option(help="With --wrongful: how many people.", min=1)] = 20,
    as_json: AsJson = False,
    csv: AsCsv = False,
    quiet: Quiet = False,
) -> None:
    """Explain a run: one person's credit file and sanctions, or who wrong records hurt most."""
    from scoresim.runs.results import load
    from scoresim.studies import explain as ex

    one_format(csv, as_json)
    if (person is None) == (not wrongful):
        fail("explain: give either --person ID or --wrongful")
    results = load(_run_folder(folder))
    if person is not None:
        if csv:
            fail("--csv: applies to --wrongful (a story is text; --json gives its parts)")
        story = ex.story(results, person)
        if as_json:
            typer.echo(json.dumps(story, indent=1))
        else:
            typer.echo(ex.render(story), nl=False)
        return
    hurt = ex.wrongful(results, top=top)
    if csv or as_json:
        print_frame_as(hurt, csv, as_json, lambda: None)
        return
    if hurt.empty:
        say("no one was hurt by wrong records in this run", quiet=quiet)
        return
    print_frame_as(hurt, False, False, lambda: wrongful_table(hurt, top))
    say(f"story of one of them: scoresim explain {folder} --person {hurt['id'].iloc[0]}",
        quiet=quiet)


def wrongful_table(hurt: Any, top: int) -> Table:
    """`explain --wrongful` in 80 columns: whole person ids, each score beside its true one."""
    table = Table(title=f"hurt most by wrong records (top {top})", title_justify="left",
                  caption="true: on correct records alone; wrongly banned first, then by "
                  "points from wrong records")
    table.add_column("person", justify="right", no_wrap=True)
    table.add_column("group", justify="right", no_wrap=True)
    table.add_column("score\n(true)", justify="right", no_wrap=True)
    table.add_column("grade\n(true)", justify="right", no_wrap=True)
    table.add_column("wrong\npoints", justify="right", no_wrap=True)
    table.add_column("wrong\nrecords", justify="right", no_wrap=True)
    table.add_column("travel\nbanned", no_wrap=True)
    table.add_column("file\nkept", no_wrap=True)

    def yes(v: Any) -> str:
        return "yes" if bool(v) else "no"

    for r in hurt.itertuples(index=False):
        banned = "wrongly" if bool(r.wrongly_banned) else yes(r.travel_banned)
        table.add_row(cell(r.id), cell(r.group), cell(f"{r.score}\n({r.true_score})"),
                      cell(f"{r.grade}\n({r.true_grade})"), cell(r.false_points),
                      cell(getattr(r, "wrong_records", "-")), cell(banned),
                      cell(yes(r.file_kept) if hasattr(r, "file_kept") else "-"))
    return table
