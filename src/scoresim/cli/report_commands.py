"""`scoresim report` and `scoresim explain`."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from scoresim.cli.common import app, console, fail, user_errors
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
) -> None:
    """Write a self-contained HTML report of a run or a sweep (works offline)."""
    from scoresim.report import write_report

    _run_folder(folder, "run or sweep")
    if baseline is not None:
        _run_folder(baseline, "--baseline run")
    path = write_report(folder, out, baseline=baseline)
    size = path.stat().st_size / 2**20
    console.print(f"report: [bold]{path}[/] ({size:.1f} MiB)")


@app.command()
@user_errors
@explain_errors
def explain(
    folder: Annotated[Path, typer.Argument(help="A run folder.")],
    person: Annotated[int | None, typer.Option(help="Tell this person's story.", min=0)] = None,
    wrongful: Annotated[bool, typer.Option(
        "--wrongful", help="List the people hurt most by wrong records.")] = False,
    top: Annotated[int, typer.Option(help="With --wrongful: how many people.", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
    = False,
) -> None:
    """Explain a run: one person's credit file and sanctions, or who wrong records hurt most."""
    from scoresim.runs.results import load
    from scoresim.studies import explain as ex

    if (person is None) == (not wrongful):
        fail("explain: give either --person ID or --wrongful")
    results = load(_run_folder(folder))
    if person is not None:
        story = ex.story(results, person)
        if as_json:
            typer.echo(json.dumps(story, indent=1))
        else:
            typer.echo(ex.render(story), nl=False)
        return
    hurt = ex.wrongful(results, top=top)
    if as_json:
        typer.echo(hurt.to_json(orient="records", indent=1))
        return
    if hurt.empty:
        console.print("no one was hurt by wrong records in this run")
        return
    table = Table(title=f"hurt most by wrong records (top {top}): wrongly banned first, then "
                  "by points from wrong records", caption="true: on correct records alone")
    headers = {"id": "person", "group": "group", "score": "score", "grade": "grade",
               "true_score": "true score", "true_grade": "true grade",
               "false_points": "wrong pts", "wrongly_banned": "wrongly banned",
               "travel_banned": "banned", "wrong_records": "wrong recs", "file_kept": "kept"}
    for col in hurt.columns:
        table.add_column(headers.get(col, col), justify="right")
    for row in hurt.itertuples(index=False):
        table.add_row(*(("yes" if v else "no") if isinstance(v, bool | np.bool_) else str(v)
                        for v in row))
    console.print(table)
    console.print(f"story of one of them: scoresim explain {folder} --person {hurt['id'].iloc[0]}")
