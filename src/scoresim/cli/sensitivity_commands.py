"""`scoresim sensitivity`: which varied assumptions drive which outputs (SALib, on Dask)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from scoresim.cli.common import (
    SCALE_ENV,
    AsCsv,
    AsJson,
    Quiet,
    RunAgents,
    RunDays,
    Scheduler,
    Workers,
    app,
    cell,
    console,
    one_format,
    print_frame_as,
    say,
    scale_agents,
    study_progress,
    user_errors,
)
from scoresim.cli.run_commands import parse_sets
from scoresim.runs.layout import INDICES_FILE, RUNS_FILE
from scoresim.runs.simulate import resolve
from scoresim.studies.sensitivity import METHODS, SEED_NOISE_PARAMETER, SensitivityError
from scoresim.studies.sensitivity import sensitivity as run_sensitivity


@app.command()
@user_errors
def sensitivity(
    scenario: Annotated[str, typer.Argument(help="Built-in name or YAML file.")],
    out: Annotated[Path, typer.Option(
        help="Study folder: indices.parquet, runs.parquet, parts/ (resumable).")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="Varied parameter: dotted.path=LOW:HIGH, or LOW:HIGH:log for a "
        "log-uniform range. Repeat for each.")] = None,
    output: Annotated[list[str] | None, typer.Option(
        "--output", help="Output: a timeseries column or summary key, with @DAY, @last, "
        ":sum or :mean; or a rate per 1,000 of a group, e.g. "
        "wrongful_travel_ban_per_1000@group=1, or its _gap. Repeat for each.")] = None,
    method: Annotated[str, typer.Option(help=f"One of {', '.join(METHODS)}.")] = "sobol",
    samples: Annotated[int, typer.Option(
        help="SALib's N: sobol's base samples (a power of two), morris's trajectories, "
        "fast's samples per parameter (above 64).", min=1)] = 64,
    seeds: Annotated[int, typer.Option(
        help="Seeds per design row (the same for every row); their spread gives the "
        "seed noise.", min=1)] = 2,
    agents: RunAgents = None,
    days: RunDays = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="dotted.path=value override, fixed in every run.")] = None,
    second_order: Annotated[bool, typer.Option(
        "--second-order", help="Sobol: second-order indices too (twice the runs).")] = False,
    design_seed: Annotated[int, typer.Option(help="Seed of SALib's sampler.", min=0)] = 0,
    scheduler: Scheduler = None,
    workers: Workers = None,
    batch: Annotated[int | None, typer.Option(
        help="Runs per Dask task (default: a few tasks per worker).", min=1)] = None,
    quiet: Quiet = False,
    csv: AsCsv = False,
    as_json: AsJson = False,
) -> None:
    """Global sensitivity analysis: Sobol, Morris or FAST indices of outputs to parameters."""
    one_format(csv, as_json)
    if os.environ.get(SCALE_ENV):
        agents = scale_agents(agents or resolve(scenario, overrides=parse_sets(set_)).agents,
                              quiet)
    try:
        indices = run_sensitivity(
            scenario, param or [], output or [], method=method, samples=samples, seeds=seeds,
            out=out, scheduler=scheduler, agents=agents, days=days, set=parse_sets(set_),
            workers=workers, second_order=second_order, design_seed=design_seed, batch=batch,
            progress=study_progress("sensitivity", "runs", quiet))
    except SensitivityError as exc:
        say(("error:", "bold red"), f" {exc}", to_err=True)
        raise typer.Exit(1) from None
    if csv or as_json:
        print_frame_as(indices, csv, as_json, lambda: None)
    else:
        for table in index_tables(indices):
            console.print(table)
    a = indices.attrs
    say(f"{a['runs_run']} runs ran, {a['runs_skipped']} already done ({a['rows']} design rows "
        f"x {a['seeds']} seeds); indices: ", (str(Path(out) / INDICES_FILE), "bold"),
        f", every run: {Path(out) / RUNS_FILE}", to_err=csv or as_json)  # even if quiet


def index_tables(indices: pd.DataFrame) -> list[Table]:
    """One table per output, parameters ranked (by ST, or mu_star), in 80 columns: the
    parameter (folded), each index with its interval below it, and the seed noise in the
    caption, so nobody reads noise as sensitivity."""
    tables = []
    method = indices.attrs.get("method", "sobol")
    wanted = ("mu_star", "sigma") if method == "morris" else ("S1", "ST")
    rank_by = "mu_star" if method == "morris" else "ST"
    for output, part in indices.groupby("output", sort=False):
        wide = part[part["index"].isin(wanted)].pivot(index="parameter", columns="index")
        order = wide[("value", rank_by)].fillna(-math.inf).sort_values(ascending=False).index
        table = Table(title=cell(f"{output}: {method}"), title_justify="left",
                      caption_justify="left")
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("parameter", overflow="fold", ratio=1)
        for index in wanted:
            table.add_column(index + ("\n[95% CI]" if index != "sigma" else ""),
                             justify="right", no_wrap=True)
        for k, parameter in enumerate(order, start=1):
            cells = []
            for index in wanted:
                v = wide.loc[parameter, ("value", index)]
                lo, hi = wide.loc[parameter, ("low", index)], wide.loc[parameter, ("high", index)]
                text = _num(v)
                if not (math.isnan(lo) or math.isnan(hi)):
                    text += f"\n[{_num(lo)}, {_num(hi)}]"
                cells.append(cell(text))
            table.add_row(cell(str(k)), cell(parameter), *cells)
        noise = part[part["parameter"] == SEED_NOISE_PARAMETER]
        lines = []
        if method != "morris" and wide[("value", rank_by)].isna().all():
            lines.append("the output does not vary over the design: no variance to divide")
        if len(noise):
            n = noise.iloc[0]
            if math.isnan(n["value"]):
                lines.append("seed noise: not estimated (one seed)")
            else:
                lines.append(f"seed noise: {100 * n['value']:.1f}% of the variance analysed "
                             f"[{100 * n['low']:.1f}%, {100 * n['high']:.1f}%]; an index below "
                             "it may be noise")
        if lines:
            table.caption = cell("\n".join(lines))
        tables.append(table)
    return tables


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    a = abs(x)
    if a >= 1e4:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.1f}"
    return f"{x:.3f}" if a >= 0.001 or x == 0 else f"{x:.2e}"
