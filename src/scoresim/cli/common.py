"""What every command shares: the Typer app, the console, and clean failure on bad input."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from scoresim.runs.folder import RunFolderError
from scoresim.scenario import ScenarioError

app = typer.Typer(
    name="scoresim",
    help="Simulate a social credit system on a synthetic society and measure what it does.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)

USER_ERRORS: tuple[type[BaseException], ...] = (ScenarioError, RunFolderError)


def fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    raise typer.Exit(2)


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
