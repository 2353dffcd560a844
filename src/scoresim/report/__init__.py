"""Reports: what a run or a sweep did, as one HTML file people would rather look at than read.

`write_report(folder)` writes FOLDER/report.html for a run folder or a sweep
folder. The file is self-contained (plotly.js inline, no network request of any
kind), so it can be mailed, archived or opened offline. Sections appear when
the run has the data they need and are skipped otherwise, so the same code
reports old runs and runs with outputs added later (sanctions log, breakdowns,
firms, regions, joint punishment, paired baselines).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from plotly.offline import get_plotlyjs

from scoresim.report.assumed import notes as assumption_notes
from scoresim.report.lookup import DEFAULT_BUDGET, LOOKUP_SCRIPT, embedded_stories, lookup_html
from scoresim.report.page import Section, fmt, render_page, table
from scoresim.report.run import RUN_SECTIONS, Run, label_of, scenario
from scoresim.report.sentences import seed_gap_sentence
from scoresim.report.sweep import sweep_report_html
from scoresim.runs.folder import RunFolderError, check_replaceable, write_text_atomic
from scoresim.runs.layout import MANIFEST, MEMBERS, REPORT, SUMMARY_FILE
from scoresim.runs.plot import overview_figure
from scoresim.runs.results import Results, load

__all__ = ["REPORT", "ReportError", "is_sweep", "overview_figure", "run_report_html",
           "write_report"]


class ReportError(ValueError):
    """A report that cannot be made from what was given; the message says why."""


def is_sweep(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / SUMMARY_FILE).is_file() and (folder / MEMBERS).is_dir()


def _results(source: Results | str | Path, what: str) -> Results:
    if isinstance(source, Results):
        return source
    folder = Path(source)
    if not (folder / MANIFEST).is_file():
        raise ReportError(f"{folder}: {what} is not a run folder (no {MANIFEST})"
                          + (" or sweep folder (no summary.parquet)" if what == "RUN" else ""))
    return load(folder)


def run_report_html(results: Results | str | Path, baseline: Results | str | Path | None = None,
                    story_budget: int = DEFAULT_BUDGET, seeds: pd.DataFrame | None = None) -> str:
    """The report of one run as an HTML string (optionally against a paired baseline run).

    `seeds`: the seeds.parquet table of a `run --seeds K` this run is one seed of; the
    report then opens with every headline's interval over the seeds, so no one reads one
    seed's numbers as the finding."""
    run = Run(_results(results, "RUN"))
    base = Run(_results(baseline, "--baseline")) if baseline is not None else None
    try:
        if base is not None and (base.agents, base.days) != (run.agents, run.days):
            raise ReportError(
                f"--baseline {base.folder or ''}: {base.agents:,} people over {base.days} days, "
                f"but the run has {run.agents:,} people over {run.days} days; a baseline must "
                "be the same society over the same days")
        sections = [s for s in (build(run, base) for build in RUN_SECTIONS) if s is not None]
        if seeds is not None:
            sections.insert(0, over_seeds_section(seeds, run))
        data = embedded_stories(run.results, story_budget)
        where = str(run.folder) if run.folder is not None else "RUN"
        sections.append(Section("lookup", "Look up a person",
                                "Type the id of a person to read their credit file as "
                                "`scoresim explain` tells it: each record, whether it was "
                                "true, and each sanction it brought.",
                                html=lookup_html(data, where)))
        sections.append(scenario(run, base))
    finally:
        run.close()
        if base is not None:
            base.close()
    sc = run.scenario
    subtitle = (f"Scenario '{run.name}': {sc.get('description', '')} — {run.agents:,} synthetic "
                f"people, {run.days:,} days, seed {run.manifest['seed']}")
    notes = assumption_notes(run.scenario, run.results.summary(), run.agents)
    if base is not None:
        notes.append(f"Compared with the baseline run '{base.name}'"
                     + (" (paired: same seed, same people)."
                        if base.manifest.get("seed") == run.manifest.get("seed") else
                        " (not paired: the seeds differ, so differences include chance)."))
    return render_page(f"scoresim report: {run.name}", subtitle, sections, get_plotlyjs(),
                       stories=data, notes=notes,
                       scripts=[LOOKUP_SCRIPT] if data else None)


def over_seeds_section(seeds: pd.DataFrame, run: Run) -> Section:
    """Every headline of seeds.parquet with its mean and 95% interval over the seeds, and
    each group gap in words: within noise where its interval holds zero."""
    n = int(seeds["n"].max()) if len(seeds) else 0
    rows = [[label_of(r.measure) if "@" not in r.measure and not r.measure.endswith("_gap")
             else r.measure.replace("_", " "),
             fmt(float(r.mean)),
             fmt(float("nan")) if pd.isna(r.ci_low)
             else f"{fmt(float(r.ci_low))} to {fmt(float(r.ci_high))}"]
            for r in seeds.itertuples(index=False)]
    measures = [str(m) for m in seeds["measure"]]

    def levels_of(gap: str) -> list[str]:  # the groups of a gap's rate, as group_rates took them
        head = gap.removesuffix("_gap") + "@group="
        return sorted(m.removeprefix(head) for m in measures if m.startswith(head))

    said = [seed_gap_sentence(r["measure"], r, levels_of(str(r["measure"])))
            for _, r in seeds.iterrows() if str(r["measure"]).endswith("_gap")]
    intro = (f"This run is seed {run.manifest['seed']} of {n} runs that differ only in their "
             "seed. Each headline's mean over the seeds and its 95% interval of the mean "
             "(Student t over the seeds, from seeds.parquet); the sections below are this "
             "seed's alone. " + " ".join(said))
    return Section("over-seeds", f"Over {n} seeds", intro,
                   html=table(rows, ["measure", "mean over seeds", "95% interval"],
                              "Headlines over seeds (seeds.parquet)", numeric=False))


def write_report(source: Results | str | Path, out: str | Path | None = None, *,
                 baseline: Results | str | Path | None = None,
                 story_budget: int = DEFAULT_BUDGET, seeds: pd.DataFrame | None = None) -> Path:
    """Write the report of a run folder or a sweep folder; returns the file written.

    The default file is SOURCE/report.html. It is written whole to a temporary
    name and renamed, so a failed report never leaves half a file behind.
    """
    if isinstance(source, Results):
        default_dir = source.folder
        html = run_report_html(source, baseline, story_budget, seeds)
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise ReportError(f"{folder}: no such run or sweep folder")
        default_dir = folder
        if is_sweep(folder):
            if baseline is not None:
                raise ReportError("--baseline: applies to a run; a sweep compares its arms "
                                  "with its own baseline arm")

            html = sweep_report_html(folder)
        else:
            html = run_report_html(folder, baseline, story_budget, seeds)
    inside = None
    if out is None:
        if default_dir is None:
            raise ReportError("this run was kept in memory; give out= to say where the "
                              "report goes")
        out = Path(default_dir) / REPORT
        inside = Path(default_dir)
    out = Path(out)
    if out.is_dir() and not out.is_symlink():
        raise ReportError(f"{out}: is a folder; --out names the report file")
    # only a report scoresim wrote is replaced: never a link, a FIFO, a device, a folder
    check_replaceable(out, "report", wrote=is_scoresim_report, inside=inside)
    try:
        write_text_atomic(out, html)
    except RunFolderError:
        raise
    except OSError as exc:
        raise RunFolderError(f"{out}: cannot write the report ({exc.strerror})") from None
    return out


#: What every report scoresim writes starts with (report/page.py).
REPORT_SIGNATURE = b'<meta name="generator" content="scoresim">'


def is_scoresim_report(path: Path) -> bool:
    """Whether an existing regular file is a report this tool wrote (its generator tag,
    in the page's head): the only kind of file `report --out` replaces."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.lstrip().lower().startswith(b"<!doctype html>") and REPORT_SIGNATURE in head
