"""`scoresim resume`: finish a run that was killed after a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scoresim.cli.common import AsCsv, AsJson, Quiet, app, one_format, user_errors
from scoresim.cli.run_commands import after_run
from scoresim.runs import simulate as api


@app.command()
@user_errors
def resume(
    run: Annotated[Path, typer.Argument(help="The --out folder of the interrupted run.")],
    quiet: Quiet = False,
    csv: AsCsv = False,
    as_json: AsJson = False,
) -> None:
    """Continue an interrupted run from its last checkpoint, as if it had never stopped.

    It then does what the run was asked to do (register it, write its report), and
    finishes a run killed while finishing without computing anything again.
    """
    one_format(csv, as_json)
    results = api.resume(run, defer_finish=True)
    after_run(results, results.asked or {}, csv, as_json, quiet)
