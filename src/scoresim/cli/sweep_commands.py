"""`scoresim sweep`, `scoresim runs` and `scoresim query`: many runs, and SQL over all of them."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from scoresim.cli.common import (
    SCALE_ENV,
    AsCsv,
    AsJson,
    Quiet,
    Scheduler,
    Workers,
    app,
    cell,
    console,
    fail,
    one_format,
    print_frame_as,
    say,
    scale_agents,
    study_progress,
    user_errors,
    warn,
)
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


def record_run(registry: str | None, results: Results, overrides: dict[str, Any],
               to_err: bool = False) -> None:
    """Register a finished `scoresim run`; a registry problem is a warning, the run stands."""
    path = registry_path(registry)
    if path is None or results.folder is None:
        return
    try:
        run_id = reg.register_run(results.folder, path, overrides=overrides,
                                  summary=results.summary())
    except reg.ViewsNotRefreshed as exc:
        warn(str(exc))
        run_id = reg.run_id_for(results.folder)
    except reg.RegistryError as exc:
        warn(f"run not registered: {exc}; the run folder {results.folder} is complete "
             "(scoresim.runs.registry.register_run(FOLDER) registers it later)")
        return
    say("registered as ", (run_id, "bold"), f" in {path}", to_err=to_err)  # even if quiet


@app.command()
@user_errors
def sweep(
    file: Annotated[Path, typer.Argument(help="Sweep file (YAML).")],
    out: Annotated[Path, typer.Option(help="Sweep folder: members/, summary.parquet, ...")],
    scheduler: Scheduler = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
    workers: Workers = None,
    design: Annotated[Path | None, typer.Option(
        help="An explicit design: CSV or Parquet, one row per point, columns named by dotted "
        "path (from SALib, scipy.stats.qmc, EMA Workbench ...); in place of design_file.")]
    = None,
    quiet: Quiet = False,
    csv: AsCsv = False,
    as_json: AsJson = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Run even if the estimated memory (the members running at once) or "
        "disk space exceeds what is available.")] = False,
) -> None:
    """Run a sweep: scenario settings x seeds (x paired arms), each member a run folder."""
    one_format(csv, as_json)
    plan = load_plan(file, design=design)
    if os.environ.get(SCALE_ENV):
        agents = next(iter(plan.members.values())).scenario["agents"]
        plan = load_plan(file, agents=scale_agents(agents, quiet), design=design)
    try:
        summary = run_plan(plan, out, scheduler=scheduler, registry=registry_path(registry),
                           workers=workers, progress=study_progress(plan.name, "members", quiet),
                           force=force)
    except SweepError as exc:
        say(("error:", "bold red"), f" {exc}", to_err=True)
        raise typer.Exit(1) from None
    if summary.attrs.get("registry_error"):
        warn(f"sweep finished in {out}, but not registered: {summary.attrs['registry_error']}; "
             "its files are complete, and running the sweep again registers it")
    if csv or as_json:
        print_frame_as(summary, csv, as_json, lambda: None)
    else:
        for table in summary_tables(summary, plan):
            console.print(table)
    ran, skipped = summary.attrs["members_run"], summary.attrs["members_skipped"]
    say(f"ran {ran} member{'s' * (ran != 1)}, {skipped} already finished; summary: ",
        (str(Path(out) / 'summary.parquet'), "bold"), to_err=csv or as_json)  # even if quiet


def summary_tables(summary: pd.DataFrame, plan: Plan) -> list[Table]:
    """The printed view of a summary: key outputs, mean and 95% interval, in 80 columns.

    One row per (point, arm, output), the point's number and the arm on its first
    row only, and what each point sets in the caption: a long table reads at any
    width, where one column per output did not. Every output is in summary.parquet
    (and --csv, --json).
    """
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
        # wrongful sanctions by cause (studies/attribution.py), those that happened
        nonzero = part.loc[part["mean"].fillna(0) != 0, "output"]
        shown += list(dict.fromkeys(o for o in nonzero if o.startswith("wrongful_")
                                    and "_group_" not in o))
        table = Table(title=cell(title), title_justify="left", caption_justify="left")
        if plan.varied:
            table.add_column("point", justify="right", no_wrap=True)
        if plan.baseline is not None:
            table.add_column("arm", overflow="fold")
        table.add_column("output", no_wrap=True, min_width=max(map(len, shown), default=6))
        table.add_column("mean", justify="right", no_wrap=True)
        table.add_column("95% CI", justify="right", overflow="fold")
        groups = list(part.groupby(["point", "arm"], sort=False))
        points: list[int] = []
        for (point, arm), rows in groups[:MAX_TABLE_ROWS]:
            by_output = rows.set_index("output")
            if point not in points:
                points.append(point)
            first = True
            for o in shown:
                if o not in by_output.index:
                    continue
                row = by_output.loc[o]
                lead = []
                if plan.varied:
                    lead.append(cell(str(point) if first else ""))
                if plan.baseline is not None:
                    lead.append(cell(str(arm) if first else ""))
                table.add_row(*lead, cell(o), cell(_num(row["mean"])), cell(_interval(row)),
                              end_section=o == shown[-1])
                first = False
        lines = [f"point {p}: " + ", ".join(f"{k}={_cell(plan.points[p][k])}"
                                           for k in plan.varied) for p in points] \
            if plan.varied else []
        if len(groups) > MAX_TABLE_ROWS:
            lines.append(f"{len(groups) - MAX_TABLE_ROWS} more rows in summary.parquet")
        if lines:
            table.caption = cell("\n".join(lines))
        tables.append(table)
    return tables


def _interval(row: pd.Series) -> str:
    lo, hi = row["ci_low"], row["ci_high"]
    if isinstance(lo, float) and math.isnan(lo):
        return "-"
    return f"[{_num(lo)}, {_num(hi)}]"


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
    return text if len(text) <= 200 else text[:197] + "..."


def print_frame(frame: pd.DataFrame, title: str | None, limit: int) -> None:
    """Any answer as a table: every value as written, long text folded, ids never cut."""
    table = Table(title=cell(title) if title else None, title_justify="left")
    for col in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col]) and \
            not pd.api.types.is_bool_dtype(frame[col])
        table.add_column(cell(col), justify="right" if numeric else "left", overflow="fold",
                         no_wrap=str(col).endswith("_id"))
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*(cell(_cell(None if _missing(v) else v)) for v in row))
    if len(frame) > limit:
        table.caption = f"{len(frame) - limit:,} more rows (--limit)"
    console.print(table)


def runs_table(frame: pd.DataFrame, title: str, limit: int) -> Table:
    """`scoresim runs` in 80 columns: the whole run id (what --person or SQL needs), when,
    what ran (scenario, sweep and arm, overrides, folder: folded, never cut), its size and
    two outcomes."""
    table = Table(title=cell(title), title_justify="left")
    table.add_column("run / registered", no_wrap=True, min_width=16)
    table.add_column("scenario, overrides, folder", overflow="fold", ratio=1)
    table.add_column("people x days", justify="right", no_wrap=True)
    table.add_column("score\nbanned", justify="right", no_wrap=True)
    for r in frame.head(limit).itertuples(index=False):
        what = str(r.scenario)
        if not _missing(r.sweep):
            what += f" (sweep {r.sweep}" + (f", arm {r.arm})" if not _missing(r.arm) else ")")
        overrides = "" if _missing(r.overrides) or r.overrides in ("{}", "") else \
            f"\n{r.overrides}"
        table.add_row(
            cell(f"{r.run_id}\n{r.registered}"),
            cell(f"{what}{overrides}\n{r.folder}"),
            cell(f"{_count(r.agents)} x {_count(r.days)}\nseed {_count(r.seed)}"),
            cell(f"{_num(r.mean_score)}\n{_count(r.n_travel_banned)}"),
            end_section=True)
    if len(frame) > limit:
        table.caption = f"{len(frame) - limit:,} more runs (--limit)"
    return table


def _count(value: Any) -> str:
    return "-" if _missing(value) else f"{int(value):,}"


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _registry_failure(exc: reg.RegistryError) -> None:
    if isinstance(exc, reg.QueryError) or "no registry here" in str(exc):
        fail(str(exc))
    say(("error:", "bold red"), f" {exc}", to_err=True)
    raise typer.Exit(1)


@app.command("runs")
def runs_(
    registry: RegistryOption = DEFAULT_REGISTRY,
    limit: Annotated[int, typer.Option(help="Rows to print at most.", min=1)] = 50,
    csv: AsCsv = False,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """List the registered runs, newest first."""
    one_format(csv, as_json)
    path = registry_path(registry)
    if path is None:
        fail("--registry: give the registry to list")
    if not path.exists():
        say(f"no runs registered yet (no registry at {path})", quiet=quiet,
            to_err=csv or as_json)
        return
    try:
        frame = reg.list_runs(path)
    except reg.RegistryError as exc:
        _registry_failure(exc)
        return
    title = f"{len(frame):,} run{'s' * (len(frame) != 1)} in {path}"
    print_frame_as(frame, csv, as_json, lambda: runs_table(frame, title, limit))


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL over runs, sweeps, sweep_members and the "
                                       "views timeseries, people, records, sweep_summaries.")],
    registry: RegistryOption = DEFAULT_REGISTRY,
    limit: Annotated[int, typer.Option(help="Rows to print at most.", min=1)] = 100,
    csv: AsCsv = False,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """Answer SQL over every registered run (read only) and print it."""
    one_format(csv, as_json)
    path = registry_path(registry)
    if path is None:
        fail("--registry: give the registry to query")
    try:
        frame = reg.query(sql, path)
    except reg.RegistryError as exc:
        _registry_failure(exc)
        return
    if csv or as_json:
        print_frame_as(frame, csv, as_json, lambda: None)
    else:
        print_frame(frame, None, limit)
