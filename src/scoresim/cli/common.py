"""What every command shares: the app, the consoles, output formats, progress, clean failure.

Text a user controls (scenario names and descriptions, --set values, folder
names, SQL answers) is printed literally: both consoles are made with rich
markup off, so a `[/]` or `[bold]` in a value is shown as written, never
interpreted (and never raises rich's MarkupError). Emphasis is added with
`Text` styles around such values, not with markup strings.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any, NoReturn

import pandas as pd
import typer
from rich.console import Console, RenderableType
from rich.text import Text

from scoresim._version import __version__
from scoresim.runs.folder import RunFolderError
from scoresim.scenario import ScenarioError

app = typer.Typer(
    name="scoresim",
    help="Simulate a social credit system on a synthetic society and measure what it does.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(markup=False, highlight=False)
err_console = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)

USER_ERRORS: tuple[type[BaseException], ...] = (ScenarioError, RunFolderError)

Quiet = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress and no messages: only the results, where they were "
    "written, and errors.")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
# The options every study command (sweep, calibrate, sensitivity) shares, said once.
Scheduler = Annotated[str | None, typer.Option(
    help="Dask scheduler address (default: a local cluster sized to this machine).")]
Workers = Annotated[int | None, typer.Option(
    help="Worker processes of the local cluster (default: one per core).", min=1)]
RunAgents = Annotated[int | None, typer.Option(help="People simulated per run.", min=1)]
RunDays = Annotated[int | None, typer.Option(help="Days per run.", min=1)]
#: Seconds between two plain progress lines when the output is not a terminal.
PROGRESS_EVERY = 10.0
#: Environment variable: a factor in (0, 1] on the people of every run, sweep member and
#: calibration run the command line starts, to try the README's commands in seconds
#: (tests/test_readme.py runs them at 0.001). The manifest records the size that ran.
SCALE_ENV = "SCORESIM_SCALE"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"scoresim {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """Simulate a social credit system on a synthetic society and measure what it does."""


Part = str | Text | tuple[str, str]


def say(*parts: Part, quiet: bool = False, to_err: bool = False) -> None:
    """Print a message: plain strings literally, (text, style) pairs styled; nothing if quiet."""
    if quiet:
        return
    (err_console if to_err else console).print(Text.assemble(*parts))


def warn(message: str) -> None:
    err_console.print(Text.assemble(("warning:", "yellow"), " ", message))


def fail(message: str) -> NoReturn:
    err_console.print(Text.assemble(("error:", "bold red"), " ", message))
    raise typer.Exit(2)


def cell(value: Any) -> Text:
    """A table cell that shows `value` as written (numbers and text alike)."""
    return value if isinstance(value, Text) else Text(str(value))


def one_format(csv: bool, as_json: bool) -> None:
    if csv and as_json:
        fail("--csv and --json: give one of them")


def print_frame_as(frame: pd.DataFrame, csv: bool, as_json: bool,
                   table: Callable[[], RenderableType]) -> None:
    """The frame as CSV or JSON on stdout when asked, else the table `table()` draws."""
    one_format(csv, as_json)
    if csv:
        typer.echo(frame.to_csv(index=False), nl=False)
    elif as_json:
        typer.echo(frame.to_json(orient="records", indent=1, date_format="iso"))
    else:
        console.print(table())


@contextlib.contextmanager
def progress(title: str, total: int, unit: str, quiet: bool = False, eta: bool = False
             ) -> Iterator[Callable[[int], None]]:
    """`update(done)` for work of `total` units: a bar on a terminal, plain lines otherwise.

    Without a terminal (a batch job's log, a pipe), a line goes to stderr every
    PROGRESS_EVERY seconds and at the end, so stdout keeps only the results.
    `eta`: also the time left, from the pace since the first update (units of like
    size: the blocks of a run in blocks).
    """
    if quiet or total <= 0:
        yield lambda done: None
        return
    if console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        left = (TextColumn("left"), TimeRemainingColumn()) if eta else ()
        with Progress(TextColumn(title, markup=False), BarColumn(), MofNCompleteColumn(),
                      TextColumn(unit, markup=False), TimeElapsedColumn(), *left,
                      console=console, transient=True) as bar:
            task = bar.add_task(unit, total=total)
            yield lambda done: bar.update(task, completed=done)
        return
    lines = PlainProgress(title, unit, eta)
    yield lambda done: lines(done, total)


class PlainProgress:
    """Progress as plain lines on stderr: one every PROGRESS_EVERY seconds, and the last."""

    def __init__(self, title: str, unit: str, eta: bool = False):
        self.title, self.unit, self.eta = title, unit, eta
        self.t0 = self.last = time.monotonic()
        self.shown = -1
        self.first: tuple[float, int] | None = None  # (when, done) at the first update

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = (now, done)
        if done != self.shown and (done >= total or now - self.last >= PROGRESS_EVERY):
            left = ""
            since, at = self.first
            if self.eta and done < total and done > at:
                left = f", about {(now - since) / (done - at) * (total - done):.0f} s left"
            err_console.print(Text(f"{self.title}: {done:,}/{total:,} {self.unit} "
                                   f"({100 * done / max(total, 1):.0f}%), "
                                   f"{now - self.t0:.1f} s{left}"))
            self.last, self.shown = now, done


def study_progress(title: str, unit: str, quiet: bool) -> bool | Callable[[int, int], None]:
    """What sweeps and calibrations take as `progress`: their own bar on a terminal,
    plain lines otherwise, nothing when quiet."""
    if quiet:
        return False
    return True if console.is_terminal else PlainProgress(title, unit)


def scale_agents(agents: int, quiet: bool = False) -> int:
    """`agents` times $SCORESIM_SCALE (at least 1), said on stderr; `agents` if unset."""
    raw = os.environ.get(SCALE_ENV, "").strip()
    if not raw:
        return agents
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    if not 0.0 < scale <= 1.0:
        fail(f"{SCALE_ENV}: expected a factor above 0 and at most 1, got '{raw}'")
    scaled = max(1, round(agents * scale))
    say(f"{SCALE_ENV}={raw}: {agents:,} people scaled to {scaled:,}", quiet=quiet, to_err=True)
    return scaled


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can fix into a short message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            fail(str(exc))
        except MemoryError:
            fail("not enough memory for this scenario; try fewer --agents")

    return wrapper
