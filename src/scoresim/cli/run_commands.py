"""`scoresim run`, `scoresim scenarios` and `scoresim show`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
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
    Workers,
    app,
    cell,
    fail,
    one_format,
    print_frame_as,
    progress,
    say,
    scale_agents,
    user_errors,
    warn,
)
from scoresim.cli.compare_commands import print_wrongful
from scoresim.cli.sweep_commands import (
    DEFAULT_REGISTRY,
    RegistryOption,
    record_run,
    registry_path,
)
from scoresim.model.backends import BACKENDS, choose_backend
from scoresim.model.guards import check_memory, choose_block
from scoresim.model.lives import SCAN_STEPS
from scoresim.runs import simulate as api
from scoresim.runs.crash import crash_point
from scoresim.runs.folder import write_parquet_atomic
from scoresim.runs.layout import SEEDS_FILE
from scoresim.runs.results import Results, load
from scoresim.runs.size import LARGE_RECORDS_BYTES, check_disk, records_size
from scoresim.scenario import builtin_names, load_scenario, parse_override, resolved_yaml
from scoresim.studies.attribution import wrongful_by_cause
from scoresim.studies.cluster import NoWorkersError
from scoresim.studies.cluster_run import (
    connected,
    dask_block,
    person_backend_on_dask,
    run_on_dask,
    workers_of,
)
from scoresim.studies.seeds import seed_intervals

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
    quiet: Quiet = False,
    registry: RegistryOption = DEFAULT_REGISTRY,
    force: Annotated[bool, typer.Option(
        "--force", help="Run even if the estimated memory or disk space exceeds what is "
        "available.")] = False,
    checkpoint_every: Annotated[int | None, typer.Option(
        help="Keep a checkpoint every DAYS days; `scoresim resume RUN` continues a killed run.",
        min=1)] = None,
    report: Annotated[bool, typer.Option("--report", help=(
        "Also write RUN/report.html (with --seeds, OUT/report.html: the first seed's "
        "report, opened by every headline's interval over the seeds)."))] = False,
    backend: Annotated[str, typer.Option(
        help="auto, day or person: the day-by-day engine, or each person's run at once "
             "(same numbers; scenarios without interactions, --records none). auto picks.")]
    = "auto",
    block_size: Annotated[int | None, typer.Option(
        help="The person backend lives N people at a time, so that memory grows with the "
             "block, not with the population (the same outputs, byte for byte). Default: "
             "everyone at once where the run fits in memory, else the block the memory "
             "guard chooses.", min=1)] = None,
    dask: Annotated[bool, typer.Option(
        "--dask", help="Live the person backend's blocks as Dask tasks, on a local cluster "
        "(one worker process per core, or --workers N) or on --scheduler's workers; the same "
        "run folder, byte for byte.")] = False,
    scheduler: Annotated[str | None, typer.Option(
        help="Run on Dask (--dask) on the workers of the scheduler at this address, instead "
        "of a local cluster; they must reach the run folder.")] = None,
    workers: Workers = None,
    seeds: Annotated[int | None, typer.Option(
        help="Run K seeds (the seed and the K-1 after it), each into OUT/seed-<s>/, and "
        "print every headline's mean and 95% interval over them (also OUT/seeds.parquet).",
        min=1, max=1000)] = None,
    csv: AsCsv = False,
    as_json: AsJson = False,
) -> None:
    """Run a scenario and write its run folder."""
    if records is not None and records not in ("all", "sample", "none"):
        fail(f"--records: expected all, sample or none, got '{records}'")
    if backend not in BACKENDS:
        fail(f"--backend: expected {', '.join(BACKENDS)}, got '{backend}'")
    resolved = api.resolve(scenario, agents=agents, days=days, seed=seed, records=records,
                           overrides=parse_sets(set_))
    if os.environ.get(SCALE_ENV):
        resolved = api.resolve(resolved, agents=scale_agents(resolved.agents, quiet))
    folder = out if out is not None else default_out(resolved.name)
    one_format(csv, as_json)
    on_dask = dask or scheduler is not None or workers is not None
    if on_dask and seeds is not None:
        fail("--seeds: a run on Dask is one run; `scoresim sweep` runs seeds on Dask")
    if on_dask:  # before anything is computed, written or connected to
        person_backend_on_dask(resolved, backend, checkpoint_every)
    # memory first (a run that cannot be held is refused whatever the disk), then disk:
    # both before anything is computed or written
    chosen = "person" if on_dask else choose_backend(resolved, backend, checkpoint_every)
    block = choose_block(resolved, chosen, block_size)
    check_memory(resolved, force=force, backend=chosen, block=block)
    check_disk([resolved], folder, force=force)
    size = records_size(resolved)
    if size.bytes > LARGE_RECORDS_BYTES and not quiet:
        warn(f"--records {resolved.records} will write about {size} of credit file "
             f"(about {size.rows:,.0f} records); --records sample or --records none keep "
             "less")
    if seeds is not None:
        run_seeds(resolved, folder, seeds, out is None, registry, parse_sets(set_), quiet,
                  csv, as_json, report=report, force=force,
                  checkpoint_every=checkpoint_every, backend=backend, block_size=block)
        return
    # what to do once the run is finished, kept in its checkpoint so that `resume` does it too
    where = registry_path(registry)
    asked = {"registry": os.path.abspath(where) if where is not None else None,
             "overrides": parse_sets(set_), "report": report}
    title = f"{resolved.name} {resolved.agents:,} people"
    with contextlib.ExitStack() as stack:
        if on_dask:  # the blocks cut for the workers there are
            dask_client = stack.enter_context(connected(scheduler, workers))
            n_workers = workers_of(dask_client)
            block = dask_block(resolved, n_workers, block_size)
            if block is None:  # --block-size covers everyone, or there is one person
                if not quiet:
                    warn("the whole population is one block: the run is here, not on Dask")
            else:
                title += f" on {n_workers} Dask worker{'s' if n_workers > 1 else ''}"
        if block is None:
            shown = {"on_day": stack.enter_context(progress(title, resolved.days, "days",
                                                            quiet))}
        else:  # the false matches found, then the blocks done, with time left
            bars = stack.enter_context(BlockBars(f"{title} in blocks of {block:,}",
                                                 -(-resolved.agents // block), quiet))
            shown = {"block_size": block, "on_scan": bars.scan, "on_block": bars.block}
        stack.enter_context(exit_on_sigterm())  # an interrupted run removes its staging
        if on_dask:  # the block chosen above (or the whole population, as asked)
            from distributed import KilledWorker

            shown["block_size"] = block if block is not None else block_size
            try:
                results = run_on_dask(resolved, dask_client=dask_client,
                                      own_cluster=scheduler is None, out=folder, force=force,
                                      unique=out is None, backend=backend, asked=asked,
                                      **shown)
            except (NoWorkersError, KilledWorker) as exc:  # as a sweep's: exit code 1
                say(("error:", "bold red"), f" the run on Dask failed: {exc}; no run folder "
                    "was kept", to_err=True)
                raise typer.Exit(1) from None
        else:
            results = api.run(resolved, out=folder, force=force, unique=out is None,
                              checkpoint_every=checkpoint_every, backend=backend,
                              asked=asked, **shown)
    after_run(results, asked, csv, as_json, quiet)


class BlockBars(contextlib.ExitStack):
    """A run in blocks' progress: the false matches found (SCAN_STEPS slices of the
    people), then the blocks done, each bar with the time left."""

    def __init__(self, title: str, blocks: int, quiet: bool):
        super().__init__()
        self.title, self.blocks, self.quiet = title, blocks, quiet
        self.stage: str | None = None
        self.update = lambda done: None

    def _enter(self, stage: str, total: int, unit: str) -> None:
        if self.stage != stage:
            self.close()  # the last stage's bar
            self.update = self.enter_context(progress(f"{self.title}{stage}", total, unit,
                                                      self.quiet, eta=True))
            self.stage = stage

    def scan(self, done: int) -> None:
        self._enter(": false matches", SCAN_STEPS, "slices of the people")
        self.update(done)

    def block(self, done: int) -> None:
        self._enter("", self.blocks, "blocks")
        self.update(done)


def after_run(results: Results, asked: dict, csv: bool, as_json: bool, quiet: bool) -> None:
    """What `run` asked for once the run folder is in place: the summary, the registry, the
    report; `resume` does the same from what the checkpoint kept of `asked`."""
    machine = csv or as_json  # keep stdout for the table's data; messages go to stderr
    print_summary(results, csv, as_json)
    say("run folder: ", (str(results.folder), "bold"), to_err=machine)  # even if quiet
    record_run(asked.get("registry") or "none", results, dict(asked.get("overrides") or {}),
               to_err=machine)
    crash_point("registered")
    if asked.get("report"):
        from scoresim.report import write_report

        say("report: ", (str(write_report(results.folder)), "bold"), quiet=quiet,
            to_err=machine)
    api.finished(results)  # the checkpoint kept for these steps can go


def run_seeds(resolved, folder: Path, seeds: int, unique: bool, registry: str,
              sets: dict, quiet: bool, csv: bool, as_json: bool, report: bool = False,
              **run_args) -> None:
    """`run --seeds K`: K runs into FOLDER/seed-<s>/, the headlines with their intervals."""
    machine = csv or as_json
    if unique and folder.exists():
        folder = Path(f"{folder}-{datetime.now().strftime('%f')}")
    runs = []
    for k in range(seeds):
        seed = resolved.seed + k
        scenario = api.resolve(resolved, seed=seed)
        with progress(f"{resolved.name} seed {seed} ({k + 1}/{seeds})", resolved.days, "days",
                      quiet) as update:
            with exit_on_sigterm():
                results = api.run(scenario, out=folder / f"seed-{seed}", on_day=update,
                                  **run_args)
        record_run(registry, results, sets, to_err=True)
        runs.append(results)
    table = seed_intervals(runs)
    write_parquet_atomic(folder / SEEDS_FILE, table)
    title = (f"{resolved.name}: {resolved.agents:,} people, {resolved.days} days, seeds "
             f"{resolved.seed} to {resolved.seed + seeds - 1}: mean [95% CI]")
    print_frame_as(table, csv, as_json, lambda: seeds_table(table, title))
    say("run folders: ", (str(folder), "bold"), f"/seed-*; intervals: {folder / SEEDS_FILE}",
        to_err=machine)
    if report:  # the first seed's report, opened by every headline's interval over the seeds
        from scoresim.report import REPORT, write_report

        say("report: ", (str(write_report(runs[0], folder / REPORT, seeds=table)), "bold"),
            quiet=quiet, to_err=machine)


def seeds_table(table: pd.DataFrame, title: str) -> Table:
    """The headlines with their intervals over seeds; a group gap whose interval spans 0
    is marked: within seed noise."""
    t = Table(title=cell(title), title_justify="left", caption_justify="left")
    t.add_column("measure", overflow="fold")
    t.add_column("mean", justify="right", no_wrap=True)
    t.add_column("95% CI", justify="right", no_wrap=True)
    noisy = False
    for r in table.itertuples(index=False):
        interval = "-" if pd.isna(r.ci_low) else f"[{_short(r.ci_low)}, {_short(r.ci_high)}]"
        name = r.measure.replace("n_grade_", "grade ")
        if r.measure.endswith("_gap") and not pd.isna(r.ci_low) and r.ci_low <= 0 <= r.ci_high:
            name += " *"
            noisy = True
        t.add_row(cell(name), cell(_short(r.mean)), cell(interval))
    if noisy:
        t.caption = cell("* the interval spans 0: the gap between groups is within seed noise")
    return t


def _short(x: float) -> str:
    if pd.isna(x):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def summary_frame(results: Results) -> pd.DataFrame:
    """The run's summary as rows of (measure, value): what the table, CSV and JSON show."""
    return pd.DataFrame([{"measure": k, "value": v} for k, v in results.summary().items()])


def print_summary(results: Results, csv: bool = False, as_json: bool = False) -> None:
    """The summary table of a run (scenario, size, grades, bans, records, wall time)."""
    s = results.summary()

    def table() -> Table:
        title = f"{s['scenario']}: {s['agents']:,} people, {s['days']} days, seed {s['seed']}"
        t = Table(title=cell(title))
        t.add_column("measure")
        t.add_column("value", justify="right")
        for key, value in s.items():
            if key in ("scenario", "agents", "days", "seed"):
                continue
            if isinstance(value, float):
                text = f"{value:,.3f}" if key != "wall_seconds" else f"{value:.2f} s"
            elif value is None:
                text = "-"
            else:
                text = f"{value:,}"
            t.add_row(cell(key.replace("n_grade_", "grade ").replace("_", " ")), cell(text))
        return t

    if as_json:  # one object, not a list of rows: the summary is one record
        one_format(csv, as_json)
        typer.echo(json.dumps({**s, "folder": str(results.folder) if results.folder else None},
                              indent=1, default=str))
        return
    print_frame_as(summary_frame(results), csv, as_json, table)
    if not (csv or as_json):
        print_wrongful(results)


def _run_folder(path: Path) -> Path:
    if not path.is_dir():
        fail(f"{path}: no such run folder")
    return path


@app.command()
@user_errors
def summary(
    folder: Annotated[Path, typer.Argument(help="A run folder.")],
    wrongful: Annotated[bool, typer.Option(
        "--wrongful", help="With --csv or --json: the wrongful sanctions by sanction, cause "
        "and group instead of the summary.")] = False,
    csv: AsCsv = False,
    as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:
    """A run's summary, and its wrongful sanctions by cause and group."""
    one_format(csv, as_json)
    results = load(_run_folder(folder))
    if wrongful and (csv or as_json):
        frame = wrongful_by_cause(results)
        if frame is None:
            fail(f"{folder}: records: none, so no wrongful sanction can be traced to a cause")
        print_frame_as(frame, csv, as_json, lambda: None)
        return
    print_summary(results, csv, as_json)


@app.command()
@user_errors
def scenarios(csv: AsCsv = False, as_json: AsJson = False, quiet: Quiet = False) -> None:
    """List the built-in scenarios."""
    frame = pd.DataFrame([{"name": n, "description": load_scenario(n).description}
                          for n in builtin_names()])

    def table() -> Table:
        t = Table(title="built-in scenarios")
        t.add_column("name", no_wrap=True)
        t.add_column("description", overflow="fold")
        for row in frame.itertuples(index=False):
            t.add_row(cell(row.name), cell(row.description))
        return t

    print_frame_as(frame, csv, as_json, table)


@app.command()
@user_errors
def show(
    scenario: Annotated[str, typer.Argument(help="Built-in name or YAML file.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="dotted.path=value override.")]
    = None,
    quiet: Quiet = False,
) -> None:
    """Print a scenario fully resolved, as YAML that `scoresim run FILE` accepts."""
    typer.echo(resolved_yaml(load_scenario(scenario, parse_sets(set_))), nl=False)


@app.command()
@user_errors
def schema(
    section: Annotated[str | None, typer.Argument(
        help="A section as written in a scenario file: responses, responses.chilling, "
        "channels.NAME ... (default: the top level and the list of sections).")] = None,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="Print Markdown (all sections without SECTION): the docs' "
        "scenario reference.")] = False,
    as_json: AsJson = False,
    csv: AsCsv = False,
    quiet: Quiet = False,
) -> None:
    """Print the scenario reference: every field, its type, bounds, default and meaning."""
    from scoresim.scenario import reference as ref

    one_format(csv, as_json)
    try:
        ref.find_section(section or "")
    except KeyError:
        fail(f"schema: no section '{section}' (known: "
             f"{', '.join(k for k in ref.sections() if k)})")
    if csv or as_json:
        rows = [vars(f) for f in ref.fields(section or "")]
        print_frame_as(pd.DataFrame(rows), csv, as_json, lambda: None)
    elif markdown:
        typer.echo(ref.section_markdown(section) if section else ref.reference_markdown(),
                   nl=False)
    else:
        text = ref.section_text(section or "")
        if not section:
            text += "\nsections: " + ", ".join(k for k in ref.sections() if k) + "\n"
        typer.echo(text, nl=False)
