"""`scoresim run`, `scoresim scenarios` and `scoresim show`."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scoresim.cli.common import app, console, fail, user_errors
from scoresim.cli.sweep_commands import DEFAULT_REGISTRY, RegistryOption, record_run
from scoresim.model.backends import BACKENDS
from scoresim.runs import simulate as api
from scoresim.runs.results import Results
from scoresim.scenario import builtin_names, load_scenario, parse_override, resolved_yaml

DEFAULT_SCENARIO = "pilot-city"


def parse_sets(sets: list[str] | None) -> dict:
    out: dict = {}
    for item in sets or []:
        path, value = parse_override(item)
        out[path] = value
    return out


def default_out(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{stamp}-{name}"
    out, k = base, 1
    while out.exists():
        k += 1
        out = base.with_name(f"{base.name}-{k}")
    return out


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM (a batch system's time limit, `kill`) into SystemExit while running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def on_term(signum: int, frame: object) -> None:
        received.append(signum)
        sys.exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except Exception:
        if received:  # raised inside compiled code, SystemExit comes back as a SystemError
            raise SystemExit(128 + received[0]) from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command()
@user_errors
def run(
    scenario: Annotated[str, typer.Argument(help="Built-in name or YAML file.")] = DEFAULT_SCENARIO,
    agents: Annotated[int | None, typer.Option(help="Number of synthetic people.", min=1)] = None,
    days: Annotated[int | None, typer.Option(help="Days to simulate.", min=1)] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.", min=0)] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default ./runs/<time>-<name>).")]
    = None,
    records: Annotated[str | None, typer.Option(help="Credit file to keep: all, sample or none.")]
    = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="dotted.path=value override.")]
    = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
    force: Annotated[bool, typer.Option(
        "--force", help="Run even if the estimated memory exceeds what is available.")] = False,
    checkpoint_every: Annotated[int | None, typer.Option(
        help="Keep a checkpoint every DAYS days; `scoresim resume RUN` continues a killed run.",
        min=1)] = None,
    report: Annotated[bool, typer.Option("--report", help="Also write RUN/report.html.")]
    = False,
    backend: Annotated[str, typer.Option(
        help="auto, day or person: the day-by-day engine, or each person's run at once "
             "(same numbers; scenarios without interactions, --records none). auto picks.")]
    = "auto",
) -> None:
    """Run a scenario and write its run folder."""
    if records is not None and records not in ("all", "sample", "none"):
        fail(f"--records: expected all, sample or none, got '{records}'")
    if backend not in BACKENDS:
        fail(f"--backend: expected {', '.join(BACKENDS)}, got '{backend}'")
    resolved = api.resolve(scenario, agents=agents, days=days, seed=seed, records=records,
                           overrides=parse_sets(set_))
    folder = out if out is not None else default_out(resolved.name)
    with Progress(
        TextColumn(f"[bold]{resolved.name}[/] {resolved.agents:,} people"),
        BarColumn(), MofNCompleteColumn(), TextColumn("days"), TimeElapsedColumn(),
        console=console, disable=quiet, transient=True,
    ) as progress:
        task = progress.add_task("run", total=resolved.days)
        with exit_on_sigterm():  # so an interrupted run removes its staging folder
            results = api.run(resolved, out=folder, force=force, unique=out is None,
                              checkpoint_every=checkpoint_every, backend=backend,
                              on_day=lambda d: progress.update(task, completed=d))
    print_summary(results)
    console.print(f"run folder: [bold]{escape(str(results.folder))}[/]")
    record_run(registry, results, parse_sets(set_))
    if report:
        from scoresim.report import write_report

        console.print(f"report: [bold]{escape(str(write_report(results.folder)))}[/]")


def print_summary(results: Results) -> None:
    s = results.summary()
    title = f"{s['scenario']}: {s['agents']:,} people, {s['days']} days, seed {s['seed']}"
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in s.items():
        if key in ("scenario", "agents", "days", "seed"):
            continue
        if isinstance(value, float):
            text = f"{value:,.3f}" if key != "wall_seconds" else f"{value:.2f} s"
        else:
            text = f"{value:,}"
        table.add_row(key.replace("n_grade_", "grade ").replace("_", " "), text)
    console.print(table)


@app.command()
@user_errors
def scenarios() -> None:
    """List the built-in scenarios."""
    table = Table(title="built-in scenarios")
    table.add_column("name")
    table.add_column("description")
    for name in builtin_names():
        table.add_row(name, load_scenario(name).description)
    console.print(table)


@app.command()
@user_errors
def show(
    scenario: Annotated[str, typer.Argument(help="Built-in name or YAML file.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="dotted.path=value override.")]
    = None,
) -> None:
    """Print a scenario fully resolved, as YAML that `scoresim run FILE` accepts."""
    typer.echo(resolved_yaml(load_scenario(scenario, parse_sets(set_))), nl=False)
