"""`scoresim sweep`, `scoresim runs` and `scoresim query`: many runs, and SQL over all of them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from scoresim.cli.common import app, console, err_console, fail, user_errors
from scoresim.runs import registry as reg
from scoresim.runs.results import Results
from scoresim.studies.sweep import Plan, SweepError, load_plan, run_plan

RegistryOption = Annotated[str, typer.Option(
    "--registry", envvar=reg.REGISTRY_ENV,
    help="Run registry (a DuckDB file); 'none' to leave runs unregistered.")]
DEFAULT_REGISTRY = str(reg.DEFAULT_REGISTRY)

# What the printed sweep tables show (all outputs are in summary.parquet).
VALUE_OUTPUTS = ("mean_score", "n_travel_banned", "n_wrongly_banned", "n_media_suspended",
                 "total_false_records", "total_speech_events")
DIFFERENCE_OUTPUTS = ("only_in_arm_sanctioned", "only_in_arm_travel_banned",
                      "n_wrongly_banned", "n_media_suspended", "total_speech_events",
                      "total_events")
MAX_TABLE_ROWS = 60


def registry_path(value: str | None) -> Path | None:
    """The --registry value as a path; None for 'none' (or empty): register nothing."""
    if value is None or value.strip().lower() in ("", "none"):
        return None
    return Path(value)


def record_run(registry: str | None, results: Results, overrides: dict[str, Any]) -> None:
    """Register a finished `scoresim run`; a registry problem is a warning, the run stands."""
    path = registry_path(registry)
    if path is None or results.folder is None:
        return
    try:
        run_id = reg.register_run(results.folder, path, overrides=overrides,
                                  summary=results.summary())
    except reg.RegistryError as exc:
        err_console.print(f"[yellow]warning:[/] run not registered: {escape(str(exc))}",
                          highlight=False)
        return
    console.print(f"registered as [bold]{run_id}[/] in {escape(str(path))}", highlight=False)


@app.command()
@user_errors
def sweep(
    file: Annotated[Path, typer.Argument(help="Sweep file (YAML).")],
    out: Annotated[Path, typer.Option(help="Sweep folder: members/, summary.parquet, ...")],
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (default: a local cluster sized to this machine).")]
    = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes of the local cluster (default: one per core).", min=1)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a sweep: scenario settings x seeds (x paired arms), each member a run folder."""
    plan = load_plan(file)
    try:
        summary = run_plan(plan, out, scheduler=scheduler, registry=registry_path(registry),
                           workers=workers, progress=not quiet)
    except SweepError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    except reg.RegistryError as exc:
        err_console.print(f"[bold red]error:[/] sweep finished in {escape(str(out))}, but "
                          f"not registered: {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    for table in summary_tables(summary, plan):
        console.print(table)
    ran, skipped = summary.attrs["members_run"], summary.attrs["members_skipped"]
    console.print(f"ran {ran} member{'s' * (ran != 1)}, {skipped} already finished; "
                  f"summary: [bold]{escape(str(Path(out) / 'summary.parquet'))}[/]",
                  highlight=False)


def summary_tables(summary: pd.DataFrame, plan: Plan) -> list[Table]:
    """The printed view of a summary: key outputs, mean [95% CI], one row per point and arm."""
    tables = []
    n = len(plan.seeds)
    for kind, wanted, title in (
        ("value", VALUE_OUTPUTS, f"{plan.name}: mean [95% CI] over {n} seed{'s' * (n != 1)}"),
        ("difference", DIFFERENCE_OUTPUTS,
         f"{plan.name}: paired differences, arm - {plan.baseline} (same seeds)"),
    ):
        part = summary[summary["kind"] == kind]
        if part.empty:
            continue
        shown = [o for o in wanted if o in set(part["output"])]
        table = Table(title=title, title_justify="left")
        for key in plan.varied:
            table.add_column(key, overflow="fold")
        with_arm = plan.baseline is not None
        if with_arm:
            table.add_column("arm")
        for o in shown:
            table.add_column(o.replace("_", " "), justify="right")
        groups = list(part.groupby(["point", "arm"], sort=False))
        for (point, arm), rows in groups[:MAX_TABLE_ROWS]:
            by_output = rows.set_index("output")
            params = [_cell(plan.points[point][k]) for k in plan.varied]
            cells = [_estimate(by_output.loc[o]) if o in by_output.index else "" for o in shown]
            table.add_row(*params, *([str(arm)] if with_arm else []), *cells)
        if len(groups) > MAX_TABLE_ROWS:
            table.caption = f"{len(groups) - MAX_TABLE_ROWS} more rows in summary.parquet"
        tables.append(table)
    return tables


def _estimate(row: pd.Series) -> str:
    mean, lo, hi = row["mean"], row["ci_low"], row["ci_high"]
    if isinstance(lo, float) and math.isnan(lo):
        return _num(mean)
    return f"{_num(mean)} [{_num(lo)}, {_num(hi)}]"


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:,.1f}" if not float(x).is_integer() else f"{x:,.0f}"
    return f"{x:.3g}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def print_frame(frame: pd.DataFrame, title: str | None, limit: int) -> None:
    table = Table(title=title, title_justify="left")
    for col in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col]) and \
            not pd.api.types.is_bool_dtype(frame[col])
        table.add_column(str(col), justify="right" if numeric else "left", overflow="fold",
                         no_wrap=str(col).endswith("_id"))
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*(_cell(None if _missing(v) else v) for v in row))
    if len(frame) > limit:
        table.caption = f"{len(frame) - limit:,} more rows (--limit)"
    console.print(table)


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _registry_failure(exc: reg.RegistryError) -> None:
    if isinstance(exc, reg.QueryError) or "no registry here" in str(exc):
        fail(str(exc))
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    raise typer.Exit(1)


@app.command("runs")
def runs_(
    registry: RegistryOption = DEFAULT_REGISTRY,
    limit: Annotated[int, typer.Option(help="Rows to print at most.", min=1)] = 50,
) -> None:
    """List the registered runs, newest first."""
    path = registry_path(registry)
    if path is None:
        fail("--registry: give the registry to list")
    if not path.exists():
        console.print(f"no runs registered yet (no registry at {escape(str(path))})",
                      highlight=False)
        return
    try:
        frame = reg.list_runs(path)
    except reg.RegistryError as exc:
        _registry_failure(exc)
        return
    print_frame(frame, f"{len(frame):,} run{'s' * (len(frame) != 1)} in {path}", limit)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL over runs, sweeps, sweep_members and the "
                                       "views timeseries, people, records, sweep_summaries.")],
    registry: RegistryOption = DEFAULT_REGISTRY,
    limit: Annotated[int, typer.Option(help="Rows to print at most.", min=1)] = 100,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
) -> None:
    """Answer SQL over every registered run (read only) and print it."""
    path = registry_path(registry)
    if path is None:
        fail("--registry: give the registry to query")
    try:
        frame = reg.query(sql, path)
    except reg.RegistryError as exc:
        _registry_failure(exc)
        return
    if csv:
        typer.echo(frame.to_csv(index=False), nl=False)
    else:
        print_frame(frame, None, limit)
