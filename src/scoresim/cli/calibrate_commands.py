"""`scoresim calibrate`: fit a scenario's free parameters to published figures."""

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
    one_format,
    print_frame_as,
    say,
    scale_agents,
    study_progress,
    user_errors,
)
from scoresim.cli.run_commands import parse_sets
from scoresim.runs.layout import BEST_FILE, FIT_FILE, STUDY_FILE
from scoresim.runs.simulate import resolve
from scoresim.studies.calibrate import Calibration, CalibrationError
from scoresim.studies.calibrate import calibrate as run_calibration


@app.command()
@user_errors
def calibrate(
    scenario: Annotated[str, typer.Argument(help="Built-in name or YAML file.")],
    targets: Annotated[str, typer.Option(
        help="Targets: a built-in name (national-list) or a targets file (YAML).")],
    out: Annotated[Path, typer.Option(
        help="Calibration folder: study.db (resumable), fit.parquet, best.yaml.")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="Free parameter: dotted.path=LOW:HIGH, or LOW:HIGH:log to sample "
        "in log space. Repeat for each.")] = None,
    trials: Annotated[int, typer.Option(help="Trials to add to the study.", min=1)] = 30,
    agents: RunAgents = None,
    days: RunDays = None,
    seeds: Annotated[int, typer.Option(
        help="Runs per trial (seeds 1..K from the scenario's seed; the same in every "
        "trial); the loss uses their mean.", min=1)] = 1,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="dotted.path=value override, fixed in every trial.")] = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
    batch: Annotated[int | None, typer.Option(
        help="Trials proposed at once (default: enough to keep the workers busy). Give it "
        "to reproduce a calibration on another machine.", min=1)] = None,
    sampler_seed: Annotated[int, typer.Option(help="Seed of the TPE sampler.", min=0)] = 0,
    quiet: Quiet = False,
    csv: AsCsv = False,
    as_json: AsJson = False,
) -> None:
    """Fit free parameters to targets (Optuna TPE, runs on Dask); a second call continues."""
    one_format(csv, as_json)
    if os.environ.get(SCALE_ENV):
        agents = scale_agents(agents or resolve(scenario, overrides=parse_sets(set_)).agents,
                              quiet)
    try:
        result = run_calibration(
            scenario, targets, param or [], out=out, trials=trials, agents=agents, days=days,
            seeds=seeds, set=parse_sets(set_), scheduler=scheduler, workers=workers,
            batch=batch, sampler_seed=sampler_seed,
            progress=study_progress("calibrate", "trials", quiet))
    except CalibrationError as exc:
        say(("error:", "bold red"), f" {exc}", to_err=True)
        raise typer.Exit(1) from None
    print_frame_as(result.residuals, csv, as_json, lambda: fit_table(result))
    folder = Path(out)
    fitted = ", ".join(f"{k}={_num(v)}" for k, v in result.best_params.items())
    say(f"best: trial {result.best_trial}, loss {result.best_loss:.4g}: {fitted}\n"
        f"{result.n_new} trials added ({result.n_failed} failed), {result.n_trials} complete "
        f"in {folder / STUDY_FILE}; every trial in {folder / FIT_FILE}; fitted scenario ",
        (str(folder / BEST_FILE), "bold"), to_err=csv or as_json)  # even if quiet


def fit_table(result: Calibration) -> Table:
    """The residuals at the best trial in 80 columns: each target with the days it covers,
    observed +- sd, the simulated mean with its [min, max] over seeds, z."""
    res: pd.DataFrame = result.residuals
    n = res.attrs.get("seeds", 1)
    over = f"mean [min, max] over {n} seeds" if n > 1 else "1 seed"
    table = Table(title=cell(f"fit at trial {result.best_trial} (loss "
                             f"{result.best_loss:.4g})"), title_justify="left", min_width=60)
    table.add_column("target, when", overflow="fold")
    table.add_column("observed\n(sd)", justify="right", no_wrap=True)
    table.add_column("simulated", justify="right", no_wrap=True)
    table.add_column("z", justify="right", no_wrap=True)
    for row in res.itertuples():
        sim = _num(row.simulated)
        if n > 1:
            sim += f"\n[{_num(row.seed_low)}, {_num(row.seed_high)}]"
        z = f"{row.z:+.2f}" + ("" if row.fit else "*")
        table.add_row(cell(f"{row.target}\n{row.when}"),
                      cell(f"{_num(row.observed)}\n({_num(row.sd)})"), cell(sim), cell(z))
    fitted = res[res["fit"]]
    lines = [f"simulated: {over}",
             f"{len(fitted)} fitted targets: sum of z^2 = "
             f"{float((fitted['z'] ** 2).sum()):.4g}; |z| > 2 for "
             f"{int((fitted['z'].abs() > 2).sum())}"]
    if len(fitted) < len(res):
        lines.append("* not fitted (reported only)")
    table.caption = cell("\n".join(lines))
    table.caption_justify = "left"
    return table


def _num(x: float) -> str:
    """Short: 6.73M, 87.1k, 0.00114."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    a = abs(x)
    if a >= 1e9:
        return f"{x / 1e9:.3g}G"
    if a >= 1e6:
        return f"{x / 1e6:.3g}M"
    if a >= 1e4:
        return f"{x / 1e3:.3g}k"
    if float(x).is_integer():
        return f"{int(x)}"
    return f"{x:.3g}"
