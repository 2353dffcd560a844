"""`scoresim calibrate`: fit a scenario's free parameters to published figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from scoresim.cli.common import app, console, err_console, user_errors
from scoresim.cli.run_commands import parse_sets
from scoresim.runs.layout import BEST_FILE, FIT_FILE, STUDY_FILE
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
    agents: Annotated[int | None, typer.Option(help="People simulated per run.", min=1)]
    = None,
    days: Annotated[int | None, typer.Option(help="Days per run.", min=1)] = None,
    seeds: Annotated[int, typer.Option(
        help="Runs per trial (seeds 1..K from the scenario's seed; the same in every "
        "trial); the loss uses their mean.", min=1)] = 1,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="dotted.path=value override, fixed in every trial.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (default: a local cluster sized to this machine).")]
    = None,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes of the local cluster (default: one per core).", min=1)] = None,
    batch: Annotated[int | None, typer.Option(
        help="Trials proposed at once (default: enough to keep the workers busy). Give it "
        "to reproduce a calibration on another machine.", min=1)] = None,
    sampler_seed: Annotated[int, typer.Option(help="Seed of the TPE sampler.", min=0)] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fit free parameters to targets (Optuna TPE, runs on Dask); a second call continues."""
    try:
        result = run_calibration(
            scenario, targets, param or [], out=out, trials=trials, agents=agents, days=days,
            seeds=seeds, set=parse_sets(set_), scheduler=scheduler, workers=workers,
            batch=batch, sampler_seed=sampler_seed, progress=not quiet)
    except CalibrationError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    console.print(fit_table(result))
    folder = Path(out)
    fitted = ", ".join(f"{k}={_num(v)}" for k, v in result.best_params.items())
    console.print(
        f"best: trial {result.best_trial}, loss {result.best_loss:.4g}: {escape(fitted)}\n"
        f"{result.n_new} trials added ({result.n_failed} failed), {result.n_trials} complete "
        f"in {escape(str(folder / STUDY_FILE))}; every trial in "
        f"{escape(str(folder / FIT_FILE))}; fitted scenario "
        f"[bold]{escape(str(folder / BEST_FILE))}[/]", highlight=False)


def fit_table(result: Calibration) -> Table:
    """The residuals at the best trial: observed +- sd, simulated mean [seed range], z."""
    res: pd.DataFrame = result.residuals
    n = res.attrs.get("seeds", 1)
    over = f"mean [min, max] over {n} seeds" if n > 1 else "1 seed"
    table = Table(title=escape(f"fit at trial {result.best_trial} (loss "
                               f"{result.best_loss:.4g}); simulated: {over}"),
                  title_justify="left")
    table.add_column("target", no_wrap=True)
    table.add_column("when", min_width=10)
    table.add_column("observed", justify="right", no_wrap=True)
    table.add_column("sd", justify="right", no_wrap=True)
    table.add_column("simulated", justify="right")
    table.add_column("z", justify="right", no_wrap=True)
    for row in res.itertuples():
        sim = _num(row.simulated)
        if n > 1:
            sim += f" [{_num(row.seed_low)}, {_num(row.seed_high)}]"
        z = f"{row.z:+.2f}" + ("" if row.fit else "*")
        table.add_row(escape(row.target), row.when, _num(row.observed), _num(row.sd),
                      escape(sim), z)
    fitted = res[res["fit"]]
    table.caption = (f"{len(fitted)} fitted targets: sum of z^2 = "
                     f"{float((fitted['z'] ** 2).sum()):.4g}; |z| > 2 for "
                     f"{int((fitted['z'].abs() > 2).sum())}"
                     + ("; * not fitted (reported only)" if len(fitted) < len(res) else ""))
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
