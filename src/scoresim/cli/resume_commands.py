"""`scoresim resume`: finish a run that was killed after a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from scoresim.cli.common import app, console, user_errors
from scoresim.cli.run_commands import print_summary
from scoresim.runs import simulate as api


@app.command()
@user_errors
def resume(
    run: Annotated[Path, typer.Argument(help="The --out folder of the interrupted run.")],
) -> None:
    """Continue an interrupted run from its last checkpoint, as if it had never stopped."""
    results = api.resume(run)
    print_summary(results)
    console.print(f"run folder: [bold]{escape(str(results.folder))}[/]")
