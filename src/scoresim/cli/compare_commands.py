"""`scoresim compare`, and the wrongful-by-cause table that runs and summaries print."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from scoresim.cli.common import (
    AsCsv,
    AsJson,
    Quiet,
    app,
    cell,
    console,
    fail,
    one_format,
    print_frame_as,
    say,
    user_errors,
)
from scoresim.runs.results import Results, load
from scoresim.studies.attribution import table_rows, wrongful_by_cause
from scoresim.studies.compare import compare as compare_runs

SECTIONS = ("events", "compliance", "speech", "sanctions", "wrongful", "collateral")


def wrongful_table(results: Results | list[Results]) -> Table | None:
    """Wrongful sanctions by cause and group as a table (None without a credit file or
    when nobody was wrongly sanctioned)."""
    frame = wrongful_by_cause(results)
    if frame is None:
        return None
    rows = table_rows(frame)
    if rows.empty:
        return None
    several = "seeds" in frame and int(frame["seeds"].max()) > 1
    what = ("per 1,000 of the group [95% CI over seeds]" if several
            else "people (per 1,000 of the group)")
    t = Table(title=cell(f"wrongly sanctioned, by what made the difference: {what}"),
              title_justify="left",
              caption=cell("cause: the error kind without whose records the sanction would "
                           "not have been wrongful; several: more than one kind; collateral: "
                           "a relative's or firm's listing (joint punishment)"
                           + ("" if several else "; one run: group differences cannot be "
                              "told from noise")),
              caption_justify="left")
    t.add_column("sanction", overflow="fold")
    t.add_column("cause", overflow="fold")
    groups = [c for c in rows.columns if c.startswith("group ")]
    for g in groups:
        t.add_column(g, justify="right", no_wrap=True)
    prev = None
    for r in rows.itertuples(index=False):
        d = r._asdict()
        sanction = str(d["sanction"])
        t.add_row(cell(sanction.replace("_", " ") if sanction != prev else ""),
                  cell(str(d["cause"]).replace("_", " ")),
                  *[cell(v) for v in list(d.values())[2:]])
        prev = sanction
    return t


def print_wrongful(results: Results) -> None:
    """After a run's summary: the wrongful table, or why there is none."""
    table = wrongful_table(results)
    if table is not None:
        console.print(table)
    elif results.wrongful() is None:
        say("wrongful sanctions by cause: not traced (records: none keeps no credit file)")


def _folder(path: Path) -> Path:
    if not path.is_dir():
        fail(f"{path}: no such run folder")
    return path


@app.command()
@user_errors
def compare(
    run_a: Annotated[Path, typer.Argument(help="A run folder (e.g. with the system).")],
    run_b: Annotated[Path, typer.Argument(help="A run folder to compare it with (e.g. "
                                          "no-system, same seed and size).")],
    show_all: Annotated[bool, typer.Option(
        "--all", help="Also the rows that are 0 in both runs, and every group.")] = False,
    csv: AsCsv = False,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """Compare two runs: events, compliance, speech, sanctions, wrongful sanctions by cause
    and group, collateral; paired person by person when seed and size agree."""
    one_format(csv, as_json)
    a, b = load(_folder(run_a)), load(_folder(run_b))
    frame = compare_runs(a, b)
    if csv or as_json:
        print_frame_as(frame.reset_index(), csv, as_json, lambda: None)
        return
    for side, res in (("a", a), ("b", b)):
        say(f"{side}: {res.scenario['name']}, seed {res.manifest['seed']}, "
            f"{res.manifest['agents']:,} people, {res.manifest['days']} days ({res.folder})",
            quiet=quiet)
    for table in compare_tables(frame, show_all):
        console.print(table)
    paired = bool(frame["paired"].all())
    say("paired: same seed and size, each person against themselves; the interval is the "
        "paired 95% t interval of the total" if paired else
        "not paired (seeds or sizes differ): one run each cannot tell a difference from "
        "noise, so no interval", quiet=quiet)


def compare_tables(frame: pd.DataFrame, show_all: bool) -> list[Table]:
    """The comparison in 80 columns: one table per section, rows that are not 0 in both."""
    tables = []
    for section in SECTIONS:
        part = frame[frame["section"] == section]
        if not show_all:
            part = part[(part["a"].fillna(0) != 0) | (part["b"].fillna(0) != 0)]
        if part.empty:
            continue
        t = Table(title=cell(section), title_justify="left")
        if section == "events" and (frame["seeds"] == 1).all():
            t.caption = cell("events: a run keeps no events per person, so one pair of runs "
                             "gives no interval (several seeds do)")
            t.caption_justify = "left"
        t.add_column("measure", overflow="fold", max_width=34)
        t.add_column("a", justify="right", no_wrap=True)
        t.add_column("b", justify="right", no_wrap=True)
        t.add_column("a - b", justify="right", no_wrap=True)
        t.add_column("95% CI", justify="right", overflow="fold")
        for measure, r in part.iterrows():
            t.add_row(cell(str(measure).replace("_", " ")), cell(_num(r["a"])),
                      cell(_num(r["b"])), cell(_num(r["difference"])),
                      cell(_interval(r["low"], r["high"])))
        tables.append(t)
    return tables


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return "-"
    x = float(x)
    return f"{x:,.0f}" if x.is_integer() else f"{x:,.2f}"


def _interval(lo: Any, hi: Any) -> str:
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return "-"
    return f"[{_num(lo)}, {_num(hi)}]"
