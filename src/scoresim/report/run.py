"""The sections of a run's report, each built only when the run has the data it needs.

A section is a function of the run (and, for paired comparisons, a baseline)
that returns a Section or None. Later outputs (a sanctions log, breakdowns by
dimension, firms, regions, joint punishment) get their sections the same way,
so a report of an old run and of a new one are made by the same code and
simply differ in what they show.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pyarrow.parquet as pq
import yaml
from plotly.subplots import make_subplots

from scoresim.report.page import (
    OKABE_ITO,
    RIGHT,
    WRONG,
    Chart,
    Section,
    esc,
    fmt,
    grade_colours,
    line_style,
    plain,
    styled,
    table,
)
from scoresim.report.sentences import (
    Z95,
    approval_order_sentence,
    cause_sentence,
    cause_word,
    rates_sentence,
    sanction_word,
    survey_sentence,
)
from scoresim.runs.columns import read_parquet
from scoresim.runs.layout import BREAKDOWN, WRONGFUL, society_table
from scoresim.runs.plot import (
    SANCTION_SERIES,
    daily,
    mark_changes,
    sanction_panels,
    time_axis,
    time_x,
)
from scoresim.runs.results import Results
from scoresim.runs.schemes import per_scheme, several_scales, unscored
from scoresim.studies.explain import Rules, file_kept, records_kept
from scoresim.studies.noise import wilson

COLLATERAL = re.compile(r"^n_(collateral|family|relatives|joint|firm|firms)_?")
FIRMS = society_table("firms")
SURVEYS = society_table("surveys")
MAX_BREAKDOWN_CHARTS = 12
MAX_LINES = 8
SANCTION_ORDER = ("travel_ban", "dishonest_list", "consumption_ban", "media_suspension",
                  "shaming", "school_ban")


def readable(name: str) -> str:
    """A column or level name as a reader says it: 'age_18_29' -> 'age 18 29'."""
    return str(name).replace("_", " ")


class Run:
    """A run as the report reads it: its tables, its rules, and queries over its credit file."""

    def __init__(self, results: Results):
        self.results = results
        self.manifest = results.manifest
        self.scenario = results.scenario
        self.rules = Rules.from_manifest(results.manifest)
        self.ts = daily(results.timeseries)
        self.people = results.people
        self.agents = int(results.manifest["agents"])
        self.days = int(results.manifest["days"])
        self.kept = records_kept(results)
        self.folder = (Path(results.folder) if results.folder is not None else
                       Path(results.records_path).parent if results.records_path else None)
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def name(self) -> str:
        return str(self.scenario.get("name", "run"))

    @property
    def scored(self) -> bool:
        return self.rules.initial is not None and "score" in self.people \
            and self.people["score"].notna().any()

    def optional(self, filename: str) -> Path | None:
        """A file later versions write beside the run's tables, if this run has it."""
        if self.folder is None:
            return None
        path = self.folder / filename
        return path if path.exists() else None

    def sql(self, query: str) -> pd.DataFrame:
        """A query over `records` (the credit file) and `people` (id, group)."""
        if self._con is None:
            con = duckdb.connect()
            con.execute("SET threads TO 2")
            path = str(self.results.records_path).replace("'", "''")
            con.execute(f"CREATE VIEW records AS SELECT * FROM read_parquet('{path}')")
            con.register("people", self.people[["id", "group"]])
            self._con = con
        return self._con.execute(query).df()

    def population(self) -> np.ndarray:
        """Whose whole files the credit file holds: everyone, a sample, or no one."""
        return file_kept(self.results, self.people["id"].to_numpy())

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def days_axis(run: Run) -> str:
    return time_axis(run.scenario)


def over_time(fig: go.Figure, run: Run, title: str, y: str, height: int = 420) -> go.Figure:
    """A figure over the run's days (dates where it has an origin), its changes marked."""
    return styled(mark_changes(fig, run.scenario), title, days_axis(run), y, height=height)


def _series_alt(what: str, days: pd.Series, values: dict[str, pd.Series], unit: str) -> str:
    last = int(days.iloc[-1]) if len(days) else 0
    parts = [f"{name} {fmt(_py(v.iloc[-1]))}{unit}, peak {fmt(_py(v.max()))}{unit}"
             for name, v in values.items() if len(v)]
    return f"{what}, day 0 to {last}. On the last day: " + "; ".join(parts) + "."


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


# -- key numbers ------------------------------------------------------------------------

def label_of(key: str) -> str:
    if key.startswith("n_grade_"):
        return f"people in grade {key[8:]} (last day)"
    if key.startswith("total_"):
        return f"{key[6:].replace('_', ' ')} (all days)"
    if key.startswith("n_"):
        return f"{key[2:].replace('_', ' ')} (last day)"
    return key.replace("_", " ")


CARDS = [
    ("n_travel_banned", "travel-banned", "people, last day"),
    ("n_wrongly_banned", "wrongly travel-banned", "people, last day"),
    ("n_dishonest", "on the dishonest list", "people, last day"),
    ("n_media_suspended", "social media suspended", "people, last day"),
    ("total_false_records", "wrong records", "filed over the run"),
    ("total_shamed_wrongly", "shown wrongly on screens", "records over the run"),
    ("mean_score", "mean score", "points, last day"),
    ("total_speech_events", "speech events", "over the run"),
]

WRONG_CARDS = ("n_wrongly_banned", "total_false_records", "total_shamed_wrongly")


def key_numbers(run: Run, baseline: Run | None) -> Section:
    s = run.results.summary()
    b = baseline.results.summary() if baseline is not None else None
    skip = ("scenario", "agents", "days", "seed")
    cards = []
    for key, name, unit in CARDS:
        if key not in s or s[key] is None:
            continue
        if not s[key] and key not in ("n_wrongly_banned",):
            continue
        sub = unit
        if b is not None and isinstance(b.get(key), int | float) and math.isfinite(b[key]):
            diff = s[key] - b[key]
            sub += f"; {fmt(diff) if diff < 0 else '+' + fmt(diff)} against the baseline"
        value = f"{s[key]:,.1f}" if isinstance(s[key], float) else fmt(s[key])
        cls = "card wrong" if key in WRONG_CARDS else "card"
        cards.append(f'<div class="{cls}"><dt>{esc(name)}</dt><dd class="big">'
                     f'{esc(value)}</dd><dd>{esc(sub)}</dd></div>')
    if b is None:
        rows = [[label_of(k), v] for k, v in s.items() if k not in skip]
        header = ["measure", run.name]
    else:
        rows = []
        for k, v in s.items():
            if k in skip:
                continue
            bv = b.get(k)
            diff = v - bv if isinstance(v, int | float) and isinstance(bv, int | float) \
                and not isinstance(v, bool) else None
            rows.append([label_of(k), v, bv, diff])
        header = ["measure", run.name, f"baseline: {baseline.name}", "difference"]
    intro = (f"{run.agents:,} synthetic people over {run.days:,} days, seed "
             f"{run.manifest['seed']}. Counts of people under a sanction are on the last day; "
             "totals add up every day.")
    html = (f'<dl class="cards">{"".join(cards)}</dl>' if cards else "") + (
        "<details><summary>All the key numbers</summary>"
        + table(rows, header, "Key numbers of the run") + "</details>")
    return Section("key-numbers", "Key numbers", intro, html=html)


# -- scores and grades ------------------------------------------------------------------

def scores_and_grades(run: Run, baseline: Run | None) -> Section | None:
    if not run.scored:
        return None
    if several_scales(run.scenario):
        return scores_per_scheme(run)
    ts, names = run.ts, run.rules.grade_names
    colours = grade_colours(names)
    fig = go.Figure()
    shares: dict[str, pd.Series] = {}
    for g in reversed(names):  # the bottom grade first, so the top grade is drawn on top
        col = f"n_grade_{g}"
        if col not in ts:
            continue
        share = ts[col] / run.agents * 100
        shares[g] = share
        fig.add_trace(go.Scatter(
            x=time_x(ts), y=share.round(4).tolist(), name=g, mode="lines",
            stackgroup="grades", line={"width": 0.5, "color": colours[g]},
            fillcolor=colours[g], hovertemplate=f"grade {g}: %{{y:.2f}}% on day %{{x}}"
            "<extra></extra>"))
    over_time(fig, run, "Share of people in each grade, day by day",
           "share of people (%)")
    fig.update_yaxes(range=[0, 100])
    shares = {g: shares[g] for g in names if g in shares}
    charts = [Chart("grade-shares", fig,
                    _series_alt("Stacked area chart of the share of people in each grade",
                                ts["day"], shares, "%"),
                    "Each band is one grade, the top grade on top; the bands add up to "
                    "100% of people on every day.")]

    score = run.people["score"].to_numpy(dtype=float)
    score = score[np.isfinite(score)]
    grades = [(g, m) for g, m in run.rules.grades]
    fig, width = score_histogram(score, names, grades,
                                 lambda x: run.rules.grade_indices(x))
    styled(fig, "Final scores", "score on the last day (points)", "people")
    fig.update_layout(bargap=0)
    q = np.percentile(score, [5, 50, 95])
    charts.append(Chart(
        "score-histogram", fig,
        f"Histogram of {len(score):,} final scores in bins of {width} points: median "
        f"{q[1]:.0f}, 5% below {q[0]:.0f}, 5% above {q[2]:.0f}; everyone started at "
        f"{run.rules.initial}.",
        "Bars are coloured by grade; dotted lines are the grade cut-offs."))

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=time_x(ts), y=ts["mean_score"].round(3).tolist(),
                             name=run.name, mode="lines", line=line_style(0)))
    series = {run.name: ts["mean_score"]}
    if baseline is not None and baseline.scored and not several_scales(baseline.scenario):
        fig.add_trace(go.Scatter(x=time_x(baseline.ts),
                                 y=baseline.ts["mean_score"].round(3).tolist(),
                                 name=f"baseline: {baseline.name}", mode="lines",
                                 line=line_style(1)))
        series[f"baseline {baseline.name}"] = baseline.ts["mean_score"]
    over_time(fig, run, "Mean score", "mean score (points)", height=340)
    fig.update_yaxes(rangemode="normal")
    charts.append(Chart("mean-score", fig,
                        _series_alt("Line chart of the mean score", ts["day"], series,
                                    " points")))
    n_unscored = run.agents - len(score)
    return Section("scores", "Scores and grades",
                   f"Everyone starts at {run.rules.initial} points; each record in their "
                   "credit file adds or takes points, and the score decides the grade."
                   + (f" {n_unscored:,} people have no score." if n_unscored else ""),
                   charts)


def score_histogram(score: np.ndarray, names: list[str], grades: list[tuple[str, int | None]],
                    grade_of: Callable[[np.ndarray], np.ndarray],
                    fig: go.Figure | None = None, row: int | None = None,
                    col: int | None = None) -> tuple[go.Figure, int]:
    """Bars of final scores coloured by grade, with the cut-offs; returns (figure, bin width)."""
    fig = go.Figure() if fig is None else fig
    where = {"row": row, "col": col} if row is not None else {}
    if score.size == 0:
        return fig, 10
    lo, hi = int(np.floor(score.min() / 10) * 10), int(np.ceil((score.max() + 1) / 10) * 10)
    width = max(10, int(np.ceil((hi - lo) / 120 / 10) * 10))
    edges = np.arange(lo, hi + width, width)
    counts, edges = np.histogram(score, bins=edges)
    gi = grade_of(edges[:-1])
    colours = grade_colours(names)
    for k, g in enumerate(names):
        m = gi == k
        if not m.any():
            continue
        fig.add_trace(go.Bar(
            x=(edges[:-1][m] + width / 2).tolist(), y=counts[m].tolist(), width=width,
            name=plain(g), marker={"color": colours[g], "line": {"width": 0.3, "color": "#333"}},
            showlegend=row is None,
            hovertemplate=f"grade {plain(g)}: %{{y:,}} people scoring %{{x}}±{width // 2}"
            "<extra></extra>"), **where)
    shown = [(g, m) for g, m in grades[:-1] if m is not None and lo <= m <= hi + width]
    for k, (g, minimum) in enumerate(shown):
        fig.add_vline(x=minimum, line={"color": "#333", "dash": "dot", "width": 1}, **where)
        if row is None:  # labels only where there is room for them
            fig.add_annotation(x=minimum, y=1.0 if k % 2 == 0 else 0.92, yref="paper",
                               text=f"{plain(g)} ≥ {minimum}", showarrow=False,
                               xanchor="left", yanchor="bottom", font={"size": 11},
                               bgcolor="rgba(255,255,255,0.8)")
    return fig, width


def scores_per_scheme(run: Run) -> Section:
    """Each scheme's scores on its own scale, and the people no scheme scores."""
    sc = run.scenario
    table_df = per_scheme(sc, run.people)
    table_df = table_df[table_df["people"] > 0]
    n_unscored = unscored(run.people) or 0
    schemes = table_df["scheme"].tolist()
    names_of = run.rules.book.schemes.names
    cols = 2
    rows_n = max(1, -(-len(schemes) // cols))
    fig = make_subplots(rows=rows_n, cols=cols, subplot_titles=[plain(s) for s in schemes],
                        horizontal_spacing=0.1, vertical_spacing=0.16)
    alts = []
    people = run.people
    score = people["score"].to_numpy(dtype=float)
    scheme_of = people["scheme"].astype(str).to_numpy()
    for k, s in enumerate(schemes):
        x = score[(scheme_of == s) & np.isfinite(score)]
        cut = [(g["name"], g.get("min_score")) for g in sc["schemes"][s]["grades"]]
        index = names_of.index(s)
        score_histogram(x, [g for g, _ in cut], cut,
                        lambda v, i=index: run.rules.grade_indices(v, i),
                        fig=fig, row=k // cols + 1, col=k % cols + 1)
        q = np.percentile(x, [5, 50, 95])
        alts.append(f"{s}: {x.size:,} people, median {q[1]:.0f} (5% below {q[0]:.0f}, "
                    f"5% above {q[2]:.0f}), started at {sc['schemes'][s].get('initial')}")
    styled(fig, "Final scores, each scheme on its own scale", "", "",
           height=max(340, 300 * rows_n))
    fig.update_layout(bargap=0, showlegend=False)
    fig.update_xaxes(title_text="")
    fig.update_yaxes(title_text="")
    charts = [Chart("score-histograms", fig,
                    "Histograms of the final scores per scheme: " + "; ".join(alts) + ".",
                    "Each panel is one scheme, with its own scale, grades and cut-offs "
                    "(dotted lines); the y axis counts people.")]

    grade_rows = []
    for s in schemes:
        counts = people.loc[scheme_of == s, "grade"].astype(str).value_counts()
        grade_rows.append([s] + [", ".join(f"{g['name']} {int(counts.get(g['name'], 0)):,}"
                                           for g in sc["schemes"][s]["grades"])])
    rows = [[r.scheme, r.people, r.initial, r.mean, r.p5, r.median, r.p95]
            for r in table_df.itertuples()]
    if n_unscored:
        rows.append(["no scheme (not scored)", n_unscored, None, None, None, None, None])
    html = (table(rows, ["scheme", "people", "start", "mean", "5%", "median", "95%"],
                  "Final scores per scheme (points of that scheme)")
            + table(grade_rows, ["scheme", "people per grade (last day)"],
                    "Final grades per scheme", numeric=False))
    return Section(
        "scores", "Scores and grades",
        f"Each city pilot keeps its own score on its own scale, so scores are shown per "
        f"scheme and never averaged across schemes. {n_unscored:,} of {run.agents:,} people "
        "live where no score is kept; only the national list applies to them.",
        charts, html=html)


def grade_flows(run: Run, baseline: Run | None) -> Section | None:
    """Where the people of each grade went: grades at four checkpoints, from the credit file."""
    if not run.scored or run.kept == "none" or run.days < 2 or several_scales(run.scenario):
        return None
    names = run.rules.grade_names
    checks = sorted({max(0, (k * run.days) // 4 - 1) for k in range(1, 5)})
    # a record counts from the day it was filed until the day it stops counting
    names_in_file = pq.ParquetFile(run.results.records_path).schema_arrow.names
    if "filed_day" in names_in_file and "expires_day" in names_in_file:
        def counts(c: int) -> str:
            return f"filed_day <= {c} AND expires_day > {c}"
    else:
        def counts(c: int) -> str:
            return f"day <= {c}"
    cols = ", ".join(f"SUM(points) FILTER (WHERE {counts(c)}) AS p{c}" for c in checks)
    pts = run.sql(f"SELECT subject, {cols} FROM records GROUP BY subject")
    in_pop = run.population()
    ids = run.people["id"].to_numpy()[in_pop]
    if ids.size == 0:
        return None
    pts = pts.set_index("subject").reindex(ids).fillna(0)
    grades = [np.zeros(ids.size, dtype=np.int64)
              + run.rules.grade_indices(np.array([run.rules.initial]))[0]]
    for c in checks:
        grades.append(run.rules.grade_indices(run.rules.initial + pts[f"p{c}"].to_numpy()))
    labels = ["start"] + [f"day {c}" for c in checks]
    colours = grade_colours(names)
    node_id: dict[tuple[int, int], int] = {}
    node_label, node_colour, node_x, node_y = [], [], [], []
    for k, g in enumerate(grades):
        present = sorted(set(np.unique(g).tolist()))
        for gi in present:
            node_id[(k, gi)] = len(node_label)
            node_label.append(f"{names[gi]} ({labels[k]})")
            node_colour.append(colours[names[gi]])
            node_x.append(min(0.99, max(0.01, k / (len(grades) - 1))))
            node_y.append(min(0.99, max(0.01, (gi + 0.5) / len(names))))
    src, dst, val, lcol = [], [], [], []
    for k in range(len(grades) - 1):
        pair = grades[k] * len(names) + grades[k + 1]
        uniq, cnt = np.unique(pair, return_counts=True)
        for u, n in zip(uniq.tolist(), cnt.tolist(), strict=True):
            a, b = divmod(u, len(names))
            src.append(node_id[(k, a)])
            dst.append(node_id[(k + 1, b)])
            val.append(n)
            lcol.append(_rgba(colours[names[a]], 0.35))
    fig = go.Figure(go.Sankey(
        arrangement="fixed",
        node={"label": node_label, "color": node_colour, "x": node_x, "y": node_y, "pad": 12,
              "thickness": 16, "line": {"color": "#333", "width": 0.5}},
        link={"source": src, "target": dst, "value": val, "color": lcol,
              "hovertemplate": "%{value:,} people: %{source.label} → %{target.label}"
              "<extra></extra>"}))
    styled(fig, "Grade flows: where the people of each grade went", "", "", height=480)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    final = np.bincount(grades[-1], minlength=len(names))
    who = "everyone" if run.kept == "all" else f"the {ids.size:,} people whose files were kept"
    alt = (f"Flow diagram of the grades of {who} at the start and on days "
           f"{', '.join(map(str, checks))}. On day {checks[-1]}: "
           + ", ".join(f"{names[k]} {final[k]:,}" for k in range(len(names))) + ".")
    return Section("flows", "Grade flows",
                   f"Grades recomputed from the credit file of {who}, at the start and at "
                   "the end of each quarter of the run; each band is a set of people moving "
                   "from one grade to another.",
                   [Chart("grade-flows", fig, alt, "Read from left to right; band width is "
                          "the number of people.")])


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# -- sanctions ---------------------------------------------------------------------------

def sanctions(run: Run, baseline: Run | None) -> Section | None:
    ts = run.ts
    present = [(c, n) for c, n in SANCTION_SERIES if c in ts and ts[c].any()]
    charts = []
    if present:
        fig = sanction_panels(ts, present, run.agents)
        styled(fig, "People under each sanction, day by day (each panel its own scale)", "",
               "", height=max(340, 260 * -(-len(present) // 2)))
        fig.update_layout(showlegend=False)
        charts.append(Chart("sanctions", fig, _series_alt(
            "Line charts, one per sanction, of the number of people under it", ts["day"],
            {n: ts[c] for c, n in present}, " people"),
            "One panel per sanction, each with its own scale, so a small count is not "
            "flattened by a large one; the panel title gives the last day's share of people."))
    rewards = [c for c in ts.columns if c.startswith("n_rewarded_") and ts[c].any()]
    if rewards:
        fig = go.Figure()
        for k, col in enumerate(rewards):
            name = col[len("n_rewarded_"):].replace("_", " ")
            fig.add_trace(go.Scatter(x=time_x(ts), y=ts[col].tolist(), name=name,
                                     mode="lines", line=line_style(k)))
        over_time(fig, run, "People receiving each reward, day by day", "people")
        charts.append(Chart("rewards", fig, _series_alt(
            "Line chart of the number of people receiving each reward", ts["day"],
            {c[len('n_rewarded_'):].replace('_', ' '): ts[c] for c in rewards}, " people")))
    if "n_delisted" in ts and ts["n_delisted"].any():
        fig = go.Figure(go.Scatter(x=time_x(ts), y=ts["n_delisted"].cumsum().tolist(),
                                   name="left the list", mode="lines", line=line_style(2)))
        over_time(fig, run, "People who left the dishonest list, cumulative",
               "people (cumulative)", height=320)
        charts.append(Chart("delisted", fig,
                            f"Line chart: {int(ts['n_delisted'].sum()):,} people left the "
                            f"dishonest list over the run."))
    if not charts:
        return None
    return Section("sanctions", "Sanctions and rewards",
                   "Who is restricted and who is rewarded. A person can be under several "
                   "sanctions at once.", charts)


# -- wrongful sanctions -----------------------------------------------------------------

def wrongful(run: Run, baseline: Run | None) -> Section | None:
    ts, p = run.ts, run.people
    charts = []
    if "n_wrongly_banned" in ts and "n_travel_banned" in ts and ts["n_travel_banned"].any():
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=time_x(ts), y=ts["n_wrongly_banned"].tolist(),
                                 name="wrongly travel-banned", mode="lines",
                                 line={**line_style(1), "color": WRONG}))
        if "n_false_records" in ts:
            fig.add_trace(go.Scatter(x=time_x(ts),
                                     y=ts["n_false_records"].cumsum().tolist(),
                                     name="wrong records so far", mode="lines",
                                     line=line_style(0), yaxis="y2"))
        over_time(fig, run, "Wrongly travel-banned people, and wrong records filed",
               "people wrongly travel-banned")
        if "n_false_records" in ts:
            fig.update_layout(yaxis2={"title": {"text": "wrong records (cumulative)"},
                                      "overlaying": "y", "side": "right", "rangemode": "tozero",
                                      "showgrid": False, "showline": True, "linecolor": "#444",
                                      "ticks": "outside"}, margin={"r": 80})
        charts.append(Chart("wrongly-banned", fig, _series_alt(
            "Line chart of people travel-banned only because of wrong records", ts["day"],
            {"wrongly travel-banned": ts["n_wrongly_banned"]}, " people")
            + (f" {int(ts['n_false_records'].sum()):,} wrong records were filed in all."
               if "n_false_records" in ts else ""),
            "Wrongly banned: banned, but the correctly attributed records alone would not "
            "ban them."))

    groups = sorted(p["group"].unique().tolist())
    size = p.groupby("group").size()
    bars: list[tuple[str, pd.Series]] = []
    for col, name in (("travel_banned", "travel-banned"),
                      ("wrongly_banned", "wrongly travel-banned")):
        if col in p and p[col].any():
            bars.append((name, p[col].groupby(p["group"]).sum()))
    if "false_points" in p and (p["false_points"] != 0).any():
        bars.append(("with points from wrong records",
                     (p["false_points"] != 0).groupby(p["group"]).sum()))
    if bars:
        fig = make_subplots(rows=1, cols=len(bars), subplot_titles=[b[0] for b in bars],
                            horizontal_spacing=0.08)
        alt_parts, said = [], []
        sizes = {str(g): int(size.loc[g]) for g in groups}
        for k, (name, counts) in enumerate(bars):
            rate = (counts / size * 1000).reindex(groups).fillna(0)
            n = counts.reindex(groups).fillna(0).astype(int)
            lo_hi = [wilson(int(n.loc[g]), int(size.loc[g])) for g in groups]
            fig.add_trace(go.Bar(
                x=[f"group {g}" for g in groups], y=rate.round(3).tolist(), name=name,
                marker={"color": [RIGHT, WRONG, OKABE_ITO["orange"]][k % 3],
                        "pattern": {"shape": ["", "/", "."][k % 3]}},
                error_y=whiskers(rate.to_numpy(), lo_hi),
                customdata=n.tolist(),
                hovertemplate=f"{name}: %{{y:.2f}} per 1,000 (%{{customdata:,}} people)"
                "<extra></extra>", showlegend=False), row=1, col=k + 1)
            alt_parts.append(f"{name}: " + ", ".join(
                f"group {g} {rate.loc[g]:.2f}" for g in groups))
            said.append(rates_sentence(name[0].upper() + name[1:],
                                       {str(g): int(n.loc[g]) for g in groups}, sizes))
        styled(fig, "Sanctions and wrong records by group (last day)", "demographic group",
               "people per 1,000 of the group")
        for k in range(2, len(bars) + 1):
            fig.update_yaxes(title_text="", col=k)
        fig.update_layout(margin={"t": 90})
        charts.append(Chart(
            "wrongful-by-group", fig,
            "Bar charts, people per 1,000 of each group. " + "; ".join(alt_parts) + ". Group "
            "sizes: " + ", ".join(f"group {g} {int(size.loc[g]):,}" for g in groups) + ".",
            "Each panel has its own scale; whiskers are 95% binomial intervals. "
            + " ".join(said)))

    cause = cause_chart(run)
    if cause is not None:
        charts.append(cause)

    if run.kept != "none":
        has_error = "error" in pq.ParquetFile(run.results.records_path).schema_arrow.names
        df = run.sql("SELECT r.channel AS channel, p.\"group\" AS grp, COUNT(*) AS n, "
                     "COUNT(*) FILTER (WHERE NOT r.correct) AS wrong FROM records r "
                     "JOIN people p ON r.subject = p.id GROUP BY ALL")
        if len(df) and df["wrong"].sum() > 0:
            df["channel"] = df["channel"].astype(str)
            per_channel = df.groupby("channel")[["n", "wrong"]].sum()
            chans = per_channel.index[per_channel["wrong"] > 0].tolist()
            chans.sort(key=lambda c: -per_channel.loc[c, "wrong"])
            fig = go.Figure()
            for k, g in enumerate(sorted(df["grp"].unique().tolist())):
                sub = df[df["grp"] == g].set_index("channel").reindex(chans).fillna(0)
                rate = (sub["wrong"] / sub["n"].where(sub["n"] > 0) * 10_000).fillna(0)
                fig.add_trace(go.Bar(
                    x=[readable(c) for c in chans], y=sub["wrong"].astype(int).tolist(),
                    name=f"group {g}",
                    marker={"color": [RIGHT, WRONG, OKABE_ITO["green"], OKABE_ITO["orange"],
                                      OKABE_ITO["purple"]][k % 5],
                            "pattern": {"shape": ["", "/", ".", "x", "-"][k % 5]}},
                    customdata=rate.round(2).tolist(),
                    hovertemplate="%{x}: %{y:,} wrong records (%{customdata} per 10,000 "
                    "records of the channel)<extra></extra>"))
            styled(fig, "Wrong records by channel and by group of the person blamed",
                   "observation channel", "wrong records (all days)")
            fig.update_layout(barmode="stack")
            who = "" if run.kept == "all" else " (in the kept sample of credit files)"
            kinds = ""
            if has_error:
                e = run.sql("SELECT CAST(error AS VARCHAR) AS error, COUNT(*) AS n FROM records "
                            "WHERE NOT correct GROUP BY ALL ORDER BY n DESC")
                total = int(e["n"].sum())
                kinds = (" By the error behind them: " + ", ".join(
                    f"{cause_word(r.error)} {int(r.n):,} ({r.n / total * 100:.0f}%)"
                    for r in e.itertuples() if r.n > 0) + ".") if total else ""
            charts.append(Chart(
                "wrongful-by-channel", fig,
                "Stacked bar chart of wrong records by channel" + who + ": " + ", ".join(
                    f"{c} {int(per_channel.loc[c, 'wrong']):,} of "
                    f"{int(per_channel.loc[c, 'n']):,}" for c in chans) + ".",
                "A wrong record is filed under someone who did not do it." + kinds))
    if not charts:
        return None
    intro = ("Every record keeps its truth, so every sanction can be checked against "
             "what really happened.")
    if run.results.wrongful() is None:
        intro += (" This run kept no credit file, so its wrongful sanctions cannot be traced "
                  f"to their causes ({WRONGFUL}) and the report names no cause of them.")
    return Section("wrongful", "Wrongful sanctions", intro, charts)


def whiskers(rate: np.ndarray, lo_hi: list[tuple[float, float]]) -> dict[str, Any]:
    """Asymmetric error bars per 1,000 from Wilson intervals (proportions)."""
    return {"type": "data", "symmetric": False, "color": "#333", "thickness": 1,
            "array": [round(h * 1000 - r, 4) for (_, h), r in zip(lo_hi, rate, strict=True)],
            "arrayminus": [round(r - lo * 1000, 4) for (lo, _), r in
                           zip(lo_hi, rate, strict=True)]}


def cause_table(run: Run) -> pd.DataFrame | None:
    """Wrongful sanctions by sanction x cause x group, per 1,000 of each group's kept files.

    Columns as studies.attribution.wrongful_by_cause: sanction, cause, group, people,
    per_1000, low, high (a 95% Wilson interval: one seed). None without wrongful.parquet.
    """
    w = run.results.wrongful()
    if w is None:
        return None
    pop = run.people[run.population()]
    size = pop.groupby("group").size()
    if "group" not in w:
        w = w.merge(run.people[["id", "group"]], left_on="person", right_on="id")
    rows = []
    for (sanction, cause, group), sub in w.groupby(["sanction", "cause", "group"],
                                                   observed=True):
        n, k = int(size.get(group, 0)), int(sub["person"].nunique())
        if n == 0 or k == 0:
            continue
        lo, hi = wilson(k, n)
        rows.append({"sanction": str(sanction), "cause": str(cause), "group": int(group),
                     "people": k, "per_1000": k / n * 1000, "low": lo * 1000,
                     "high": hi * 1000})
    return pd.DataFrame(rows, columns=["sanction", "cause", "group", "people", "per_1000",
                                       "low", "high"])


def cause_chart(run: Run) -> Chart | None:
    """One panel per wrongful sanction: per 1,000 of each group, by the cause that made it."""
    table_df = cause_table(run)
    if table_df is None or table_df.empty:
        return None
    w = run.results.wrongful()
    if "group" not in w:
        w = w.merge(run.people[["id", "group"]], left_on="person", right_on="id")
    sanctions = [s for s in SANCTION_ORDER if s in set(table_df["sanction"])] + sorted(
        set(table_df["sanction"]) - set(SANCTION_ORDER))
    pop = run.people[run.population()]
    size = pop.groupby("group").size()
    groups = size.index.tolist()
    fig = make_subplots(rows=len(sanctions), cols=1, shared_xaxes=False,
                        subplot_titles=[sanction_word(s) for s in sanctions],
                        vertical_spacing=min(0.12, 0.5 / len(sanctions)))
    said = []
    for r, sanction in enumerate(sanctions):
        sub = table_df[table_df["sanction"] == sanction]
        causes = sub.groupby("cause")["people"].sum().sort_values(ascending=False).index
        for k, g in enumerate(groups):
            t = sub[sub["group"] == g].set_index("cause").reindex(causes)
            rate = t["per_1000"].fillna(0)
            fig.add_trace(go.Bar(
                x=[cause_word(c) for c in causes], y=rate.round(4).tolist(),
                name=f"group {g}", legendgroup=f"group {g}", showlegend=r == 0,
                marker={"color": [RIGHT, WRONG, OKABE_ITO["green"], OKABE_ITO["orange"]][k % 4],
                        "pattern": {"shape": ["", "/", ".", "x"][k % 4]}},
                error_y={"type": "data", "symmetric": False,
                         "array": (t["high"] - t["per_1000"]).fillna(0).round(4).tolist(),
                         "arrayminus": (t["per_1000"] - t["low"]).fillna(0).round(4).tolist(),
                         "color": "#333", "thickness": 1},
                customdata=t["people"].fillna(0).astype(int).tolist(),
                hovertemplate="%{x}: %{y:.2f} per 1,000 (%{customdata:,} people)"
                "<extra></extra>"), row=r + 1, col=1)
        rows = w[w["sanction"] == sanction]
        said.append(cause_sentence(sanction, rows))
        by_group = rows.groupby("group")["person"].nunique()
        said.append(rates_sentence(sanction_word(sanction)[0].upper()
                                   + sanction_word(sanction)[1:] + ", by group",
                                   {str(g): int(by_group.get(g, 0)) for g in groups},
                                   {str(g): int(size.loc[g]) for g in groups}))
    styled(fig, "Wrongful sanctions by what caused them, per group", "",
           "people per 1,000 of the group", height=max(360, 260 * len(sanctions)))
    fig.update_layout(barmode="group", margin={"t": 90})
    return Chart("wrongful-by-cause", fig,
                 "Bar charts, one per sanction: people per 1,000 of each group wrongly "
                 "sanctioned, by the error kind that made the difference. "
                 + "; ".join(f"{r.sanction} {r.cause} group {r.group} {r.per_1000:.2f}"
                             for r in table_df.itertuples()) + ".",
                 "Whiskers are 95% binomial intervals. " + " ".join(said))


# -- shaming ---------------------------------------------------------------------------------

def shaming(run: Run, baseline: Run | None) -> Section | None:
    ts = run.ts
    if "n_shamed" not in ts or not ts["n_shamed"].any():
        return None
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=time_x(ts), y=ts["n_shamed"].cumsum().tolist(),
                             name="shown", mode="lines", line=line_style(0)))
    wrong = ts["n_shamed_wrongly"] if "n_shamed_wrongly" in ts else ts["n_shamed"] * 0
    fig.add_trace(go.Scatter(x=time_x(ts), y=wrong.cumsum().tolist(),
                             name="shown wrongly (someone else did it)", mode="lines",
                             line={**line_style(1), "color": WRONG}))
    over_time(fig, run, "Shown on public screens, cumulative",
           "records shown (cumulative)")
    total, total_w = int(ts["n_shamed"].sum()), int(wrong.sum())
    share = total_w / total * 100 if total else 0.0
    triggers = ", ".join(sorted(run.rules.shame_triggers)) or "its triggers"
    charts = [Chart("shaming", fig,
                    f"Line chart: {total:,} records shown on public screens over the run, "
                    f"{total_w:,} of them ({share:.2f}%) of someone who did not do it.",
                    f"Records of {triggers} are shown on public screens, as the jaywalker "
                    "screens of Shenzhen did from April 2017.")]
    if run.kept != "none" and run.rules.shame_triggers and total_w:
        trig = ", ".join("'" + t.replace("'", "''") + "'" for t in run.rules.shame_triggers)
        df = run.sql(
            "SELECT p.\"group\" AS grp, COUNT(DISTINCT r.subject) AS people, COUNT(*) AS shown "
            f"FROM records r JOIN people p ON r.subject = p.id WHERE NOT r.correct AND "
            f"CAST(r.behaviour AS VARCHAR) IN ({trig}) GROUP BY ALL ORDER BY grp")
        pop = run.people[run.population()]
        size = pop.groupby("group").size()
        groups = size.index.tolist()
        df = df.set_index("grp").reindex(groups).fillna(0)
        rate = df["people"] / size * 1000
        fig = go.Figure(go.Bar(
            x=[f"group {g}" for g in groups], y=rate.round(3).tolist(),
            marker={"color": WRONG, "pattern": {"shape": "/"}},
            customdata=df["people"].astype(int).tolist(),
            hovertemplate="%{y:.2f} per 1,000 (%{customdata:,} people)<extra></extra>"))
        styled(fig, "People shown on public screens for something they did not do",
               "demographic group", "people per 1,000 of the group", height=360)
        charts.append(Chart("shaming-by-group", fig, "Bar chart, people per 1,000 shown "
                            "wrongly at least once: " + ", ".join(
                                f"group {g} {rate.loc[g]:.2f}" for g in groups) + ".",
                            rates_sentence("Shown wrongly at least once",
                                           {str(g): int(df.loc[g, "people"]) for g in groups},
                                           {str(g): int(size.loc[g]) for g in groups})))
    return Section("shaming", "Public shaming", "", charts)


# -- speech ------------------------------------------------------------------------------

def speech(run: Run, baseline: Run | None) -> Section | None:
    ts = run.ts
    has = "n_speech_events" in ts and ts["n_speech_events"].any()
    if not has:
        return None
    charts = []
    fig = go.Figure()
    roll = ts["n_speech_events"].rolling(7, min_periods=1).mean()
    fig.add_trace(go.Scatter(x=time_x(ts), y=roll.round(2).tolist(), name=run.name,
                             mode="lines", line=line_style(0)))
    series = {run.name: roll}
    paired = baseline is not None and "n_speech_events" in baseline.ts \
        and baseline.ts["n_speech_events"].any()
    if paired:
        broll = baseline.ts["n_speech_events"].rolling(7, min_periods=1).mean()
        fig.add_trace(go.Scatter(x=time_x(baseline.ts), y=broll.round(2).tolist(),
                                 name=f"baseline: {baseline.name}", mode="lines",
                                 line=line_style(1)))
        series[f"baseline {baseline.name}"] = broll
    over_time(fig, run, "Speech: critical posts per day (7-day average)",
           "speech events per day")
    charts.append(Chart("speech", fig, _series_alt(
        "Line chart of speech events per day, 7-day average", ts["day"], series, "")))
    if paired:
        n = min(len(ts), len(baseline.ts))
        run_c = ts["n_speech_events"].iloc[:n].cumsum().to_numpy(dtype=float)
        base_c = baseline.ts["n_speech_events"].iloc[:n].cumsum().to_numpy(dtype=float)
        lost = np.where(base_c > 0, (1 - run_c / np.where(base_c > 0, base_c, 1)) * 100, 0.0)
        fig = go.Figure(go.Scatter(x=time_x(ts)[:n], y=np.round(lost, 3).tolist(),
                                   name="speech lost", mode="lines",
                                   line={**line_style(1), "color": WRONG}))
        over_time(fig, run, "Speech lost to the system, compared with the baseline",
               "speech lost so far (% of the baseline's)", height=340)
        fig.update_yaxes(rangemode="normal")
        charts.append(Chart("speech-lost", fig,
                            f"Line chart: by the last day, {lost[-1]:.2f}% of the speech of "
                            f"the baseline run did not happen under the system."))
    intro = ("Speech is counted whether or not anyone records it." +
             (f" Compared with the paired baseline '{baseline.name}'." if paired else
              " Give a baseline run (--baseline) to see what the system costs in speech.")
             + dissent_choice_sentence(run))
    return Section("speech", "Speech", intro, charts)


def dissent_choice_sentence(run: Run) -> str:
    """What the run's dissent choice (a `dissent:` section) had people do on its last day."""
    ts = run.ts
    names = ("n_defiant", "n_self_censoring", "n_compliant")
    if not all(c in ts for c in names) or ts.empty:
        return ""
    defiant, censoring, compliant = (int(ts[c].iloc[-1]) for c in names)
    n = defiant + censoring + compliant
    if n == 0:
        return ""

    def share(k: int) -> str:
        return f"{k:,} ({100.0 * k / n:.1f}%)"

    text = (f" On the last day, of {n:,} people, {share(defiant)} said all the dissent they "
            f"wanted although it is punishable (defiant), {share(censoring)} held some or all "
            f"of it back (self-censoring) and {share(compliant)} wanted to say nothing "
            "punishable (compliant): each person's best response to the punishment and "
            "surveillance they weigh (Daymude, Axelrod & Forrest's model).")
    dissent = run.scenario.get("dissent") or {}
    if dissent.get("response", "best") != "best":
        text += (" In this run that choice is reported, not acted on: its speech follows "
                 "responses.chilling (dissent.response: chilling).")
    return text


# -- joint punishment, regions, breakdowns, firms --------------------------------------------

def collateral(run: Run, baseline: Run | None) -> Section | None:
    ts, p = run.ts, run.people
    charts = []
    cols = [c for c in ts.columns if COLLATERAL.match(c) and ts[c].any()]
    if cols:
        fig = go.Figure()
        for k, c in enumerate(cols[:MAX_LINES]):
            fig.add_trace(go.Scatter(x=time_x(ts), y=ts[c].tolist(),
                                     name=c[2:].replace("_", " "), mode="lines",
                                     line=line_style(k)))
        over_time(fig, run, "Joint punishment: people sanctioned through a relative or a firm",
                  "people")
        charts.append(Chart("collateral", fig, _series_alt(
            "Line chart of collateral sanctions", ts["day"],
            {c[2:].replace("_", " "): ts[c] for c in cols[:MAX_LINES]}, " people")))
    flags = [c for c in p.columns if c.startswith("collateral") and p[c].dtype == bool]
    if "region" in p:
        regions = sorted(p["region"].unique().tolist())[:40]
        size = p.groupby("region", observed=True).size()
        fig = go.Figure()
        alt = []
        for k, (col, name) in enumerate([("travel_banned", "travel-banned"),
                                         ("wrongly_banned", "wrongly travel-banned")]
                                        + [(c, c.replace("_", " ")) for c in flags]):
            if col not in p:
                continue
            n = p[col].groupby(p["region"], observed=False).sum().reindex(regions).fillna(0)
            rate = (n / size.reindex(regions) * 1000)
            fig.add_trace(go.Bar(x=[readable(r) for r in regions], y=rate.round(3).tolist(),
                                 name=name, marker={"color": line_style(k)["color"]}))
            alt.append(rates_sentence(name[0].upper() + name[1:],
                                      {readable(r): int(n.loc[r]) for r in regions},
                                      {readable(r): int(size.loc[r]) for r in regions},
                                      label="region"))
        styled(fig, "Sanctions by region (last day)", "region", "people per 1,000 of the region")
        fig.update_layout(barmode="group")
        charts.append(Chart("regions", fig, "Bar chart by region, people per 1,000 of each "
                            "region.", " ".join(alt)))
    if not charts:
        return None
    return Section("collateral", "Joint punishment and regions",
                   "Sanctions that reach people through their family or firm, and how "
                   "outcomes differ between regions.", charts)


# breakdown measures that are people on the last day; the others are counted over the run
BREAKDOWN_STOCKS = ("n_travel_banned", "n_wrongly_banned")


def breakdowns(run: Run, baseline: Run | None) -> Section | None:
    """Per dimension: each measure per 1,000 people of each level, one panel per measure."""
    path = run.optional(BREAKDOWN)
    if path is None:
        return None
    df = read_parquet(path)
    if not {"day", "dimension", "value"} <= set(df.columns):
        return None
    metrics = [c for c in df.columns if c not in ("day", "dimension", "value", "n_people")
               and pd.api.types.is_numeric_dtype(df[c])]
    charts = []
    last_day = df["day"].max()
    for dim in sorted(df["dimension"].astype(str).unique().tolist()):
        if len(charts) >= MAX_BREAKDOWN_CHARTS:
            break
        sub = df[df["dimension"].astype(str) == dim].assign(value=lambda d: d["value"].astype(str))
        last = sub[sub["day"] == last_day].groupby("value")
        levels = last.size().index.tolist()[:MAX_LINES * 2]
        people = (last["n_people"].sum() if "n_people" in sub else
                  pd.Series(run.agents / max(1, len(levels)), index=levels)).reindex(levels)
        shown = [m for m in metrics if sub[m].any()]
        if not shown:
            continue
        cols = 2 if len(shown) > 1 else 1
        rows_n = -(-len(shown) // cols)
        titles = [_breakdown_title(m) for m in shown]
        fig = make_subplots(rows=rows_n, cols=cols, subplot_titles=titles,
                            horizontal_spacing=0.1, vertical_spacing=min(0.2, 0.6 / rows_n))
        alt = []
        for k, metric in enumerate(shown):
            if metric in BREAKDOWN_STOCKS:
                n = last[metric].sum().reindex(levels).fillna(0)
                lo_hi = [wilson(int(n.loc[v]), int(people.loc[v])) for v in levels]
            else:
                n = sub.groupby("value")[metric].sum().reindex(levels).fillna(0)
                lo_hi = [(max(0.0, x - 1.96 * np.sqrt(x)) / max(1, people.loc[v]),
                          (x + 1.96 * np.sqrt(max(1.0, x))) / max(1, people.loc[v]))
                         for v, x in n.items()]
            rate = (n / people.where(people > 0) * 1000).fillna(0)
            fig.add_trace(go.Bar(
                x=[readable(v) for v in levels], y=rate.round(4).tolist(),
                marker={"color": WRONG if "wrong" in metric else RIGHT},
                error_y=whiskers(rate.to_numpy(), lo_hi), showlegend=False,
                customdata=n.astype(int).tolist(),
                hovertemplate="%{x}: %{y:.2f} per 1,000 (%{customdata:,})<extra></extra>"),
                row=k // cols + 1, col=k % cols + 1)
            alt.append(f"{titles[k]}: " + ", ".join(
                f"{readable(v)} {rate.loc[v]:.2f}" for v in levels))
        styled(fig, f"By {readable(dim)}, per 1,000 people of each level", "", "",
               height=max(340, 280 * rows_n))
        fig.update_xaxes(title_text="")
        charts.append(Chart(
            f"breakdown-{_slug(dim)}", fig,
            f"Bar charts by {readable(dim)}, one per measure, per 1,000 people of each level. "
            + "; ".join(alt) + ".",
            "Each panel has its own scale; whiskers are 95% intervals (binomial for people, "
            "Poisson for counts). Levels whose whiskers do not overlap differ beyond noise; "
            "where they overlap, this one seed may not tell them apart."))
    if not charts:
        return None
    return Section("breakdowns", "Breakdowns",
                   "The run's measures split by trait, per 1,000 people of each level: people "
                   "under a sanction on the last day, records and screenings over the run.",
                   charts, compact=True)


def _breakdown_title(metric: str) -> str:
    nice = metric.removeprefix("n_").replace("_", " ")
    if metric in BREAKDOWN_STOCKS:
        return f"{nice} (last day)"
    return f"{nice} (over the run)"


def firms(run: Run, baseline: Run | None) -> Section | None:
    path = run.optional(FIRMS)
    if path is None:
        return None
    df = read_parquet(path)
    if df.empty:
        return None
    rows: list[list[Any]] = [["firms", len(df)]]
    for c in df.columns:
        if df[c].dtype == bool:
            rows.append([f"{c.replace('_', ' ')}", int(df[c].sum())])
        elif pd.api.types.is_numeric_dtype(df[c]) and c not in ("id", "firm"):
            rows.append([f"mean {c.replace('_', ' ')}", float(df[c].mean())])
    return Section("firms", "Firms", "The firms of the synthetic society, at the end of the "
                   "run.", html=table(rows, ["measure", "value"], "Firms"))


def opinion(run: Run, baseline: Run | None) -> Section | None:
    """Approval and the surveys that measure it: the last survey by group, in words."""
    ts = run.ts
    if "approval" not in ts or ts.empty:
        return None
    start, end = float(ts["approval"].iloc[0]), float(ts["approval"].iloc[-1])
    intro = (f"Mean approval of the system, in [0, 1], went from {start:.3f} on the first day "
             f"to {end:.3f} on the last (the whole population: no sampling noise).")
    path = run.optional(SURVEYS)
    s = read_parquet(path) if path is not None else pd.DataFrame()
    if s.empty:
        return Section("opinion", "Approval and surveys", intro + " No survey was fielded.")
    last = s[s["day"] == s["day"].max()]
    said = [survey_sentence(last[last["group"] == "all"].iloc[0])]
    traits: dict[str, list[str]] = {}
    for g in last["group"]:
        if "=" in g:
            trait, level = g.split("=", 1)
            traits.setdefault(trait, []).append(level)
    for trait, levels in traits.items():
        true = {lv: float(ts[f"approval_{trait}_{lv}"].iloc[-1]) for lv in levels
                if f"approval_{trait}_{lv}" in ts}
        if len(true) < 2:
            continue
        rows = last.set_index("group")
        listed = {lv: (float(rows.loc[f"{trait}={lv}", "list"]),
                       float(rows.loc[f"{trait}={lv}", "list_se"])) for lv in levels}
        said.append(approval_order_sentence(trait, true, listed))
    groups = last["group"].tolist()
    fig = go.Figure()
    for colour, (col, se, name) in zip(("vermillion", "blue"),
                                       (("direct", "direct_se", "asked directly"),
                                        ("list", "list_se", "list experiment")), strict=True):
        fig.add_trace(go.Bar(
            x=groups, y=(last[col] * 100).round(2).tolist(), name=name,
            marker={"color": OKABE_ITO[colour]},
            error_y={"type": "data", "array": (last[se] * 100 * Z95).round(2).tolist(),
                     "color": "#333", "thickness": 1}))
    fig.add_trace(go.Scatter(x=groups, y=(last["true_approval"] * 100).round(2).tolist(),
                             name="true (respondents)", mode="markers",
                             marker={"color": "#1a1a1a", "symbol": "line-ew-open", "size": 18,
                                     "line": {"width": 2}}))
    styled(fig, f"Survey of day {int(last['day'].iloc[0])}: approval asked directly and by "
           "list experiment", "respondents", "approve (%)", height=420)
    fig.update_layout(barmode="group")
    alt = ("Bar chart by group, direct / list / true approval in %: " + "; ".join(
        f"{r.group} {100 * r.direct:.1f} / {100 * r.list:.1f} / {100 * r.true_approval:.1f}"
        for r in last.itertuples()) + ".")
    chart = Chart("surveys", fig, alt, "Whiskers are 95% intervals (1.96 standard errors). "
                  + " ".join(said))
    return Section("opinion", "Approval and surveys", intro, [chart])


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-") or "x"


# -- scenario ------------------------------------------------------------------------------

def scenario(run: Run, baseline: Run | None) -> Section:
    text = yaml.safe_dump(run.scenario, sort_keys=False, allow_unicode=True, width=100)
    m = run.manifest
    facts = [["scoresim version", m.get("scoresim_version")], ["started", m.get("started")],
             ["wall time (s)", m.get("wall_seconds")], ["records kept", run.kept],
             ["run folder", str(run.folder) if run.folder else "in memory"]]
    if baseline is not None:
        paired = baseline.manifest.get("seed") == m.get("seed")
        facts.append(["baseline", f"{baseline.name}, seed {baseline.manifest.get('seed')} "
                      f"({'paired: same people, same seed' if paired else 'not paired: seeds differ'})"])  # noqa: E501
    return Section(
        "scenario", "The scenario",
        "The fully resolved scenario this run used: `scoresim run FILE` accepts it as is.",
        html=table(facts, ["", ""], "The run", numeric=False)
        + "<details><summary>Scenario (YAML)</summary>"
        f"<pre><code>{esc(text)}</code></pre></details>")


def activity(run: Run, baseline: Run | None) -> Section | None:
    """What people did and what the channels recorded: the ground every later section
    stands on, drawn even in a run where nobody was sanctioned (then the only charts)."""
    ts = run.ts
    acts = [c for c in ts.columns if c.startswith("n_events_")]
    if not acts:
        return None
    fig = go.Figure()
    for k, col in enumerate(acts):
        fig.add_trace(go.Scatter(x=time_x(ts), y=ts[col].tolist(), name=readable(col[9:]),
                                 mode="lines", line=line_style(k)))
    over_time(fig, run, "What people did, day by day (true events)", "events")
    charts = [Chart("events", fig, _series_alt(
        "Line chart of the true events of each behaviour per day", ts["day"],
        {readable(c[9:]): ts[c] for c in acts}, " events"),
        "Every event that really happened, seen or not: the truth the credit file is "
        "set against.")]
    kinds = [(c, n) for c, n in (("n_records", "records filed"),
                                 ("n_false_records", "wrong records filed"))
             if c in ts and ts[c].any()]
    if kinds:
        fig = go.Figure()
        for k, (col, name) in enumerate(kinds):
            fig.add_trace(go.Scatter(x=time_x(ts), y=ts[col].tolist(), name=name,
                                     mode="lines", line=line_style(k)))
        over_time(fig, run, "What the channels recorded, day by day", "records")
        charts.append(Chart("records", fig, _series_alt(
            "Line chart of the records filed per day", ts["day"],
            {n: ts[c] for c, n in kinds}, " records")))
    total = int(ts[acts].to_numpy().sum())
    recorded = int(ts["n_records"].sum()) if "n_records" in ts else 0
    wrong = int(ts["n_false_records"].sum()) if "n_false_records" in ts else 0
    intro = (f"{total:,} true events over the run; {recorded:,} records filed, "
             f"{wrong:,} of them wrong.")
    return Section("activity", "Events and records", intro, charts)


RUN_SECTIONS: list[Callable[[Run, Run | None], Section | None]] = [
    key_numbers, activity, scores_and_grades, grade_flows, sanctions, wrongful, shaming, speech,
    collateral, breakdowns, firms, opinion,
]
__all__ = ["RUN_SECTIONS", "Run", "scenario"]
