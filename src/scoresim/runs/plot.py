"""A run at a glance (`Results.plot()`), and the colours and line styles every figure shares.

The report's figures (report/) use the same palette and line styles, so that
a grade or a sanction looks the same everywhere; they live here, below the
report, because `Results.plot()` needs them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    from scoresim.runs.results import Results

# Okabe & Ito (2008), "Color Universal Design"
OKABE_ITO = {
    "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000",
}
# for lines: the palette without yellow, which is too light to read as a line on white
LINE_COLOURS = [OKABE_ITO[c] for c in
                ("blue", "vermillion", "green", "orange", "purple", "sky", "black")]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
# grades, top to bottom: cool colours for the trusted, warm for the sanctioned
GRADE_COLOURS = [OKABE_ITO[c] for c in
                 ("blue", "sky", "green", "yellow", "orange", "vermillion", "purple", "black")]
WRONG = OKABE_ITO["vermillion"]
RIGHT = OKABE_ITO["blue"]

# the stocks of people under each sanction, as the figures name them
SANCTION_SERIES = [
    ("n_travel_banned", "travel-banned"),
    ("n_dishonest", "on the dishonest list"),
    ("n_consumption_banned", "consumption-banned"),
    ("n_media_suspended", "social media suspended"),
]
DAYS_AXIS = "day of the run (0 = first day)"
DATE_AXIS = "date"


def time_x(ts: pd.DataFrame) -> list:
    """A figure's x values: the dates where the run has an origin, else the days."""
    if "date" in ts:
        return [d.strftime("%Y-%m-%d") for d in pd.to_datetime(ts["date"])]
    return ts["day"].tolist()


def time_axis(scenario: dict) -> str:
    return DATE_AXIS if scenario.get("origin") else DAYS_AXIS


def mark_changes(fig: go.Figure, scenario: dict) -> go.Figure:
    """The timeline's changes as dotted vertical lines, named by their date or day."""
    origin = scenario.get("origin")
    for k, change in enumerate(scenario.get("timeline") or []):
        x = change.get("date") if origin else change.get("day")
        if x is None:
            continue
        fig.add_vline(x=x, line={"color": "#777", "dash": "dot", "width": 1})
        label = change.get("name") or str(x)
        fig.add_annotation(x=x, y=1.0 if k % 2 == 0 else 0.93, yref="paper", text=label,
                           showarrow=False, font={"size": 10, "color": "#555"},
                           xanchor="left")
    return fig


def line_style(k: int) -> dict[str, Any]:
    """The k-th line: its colour and its dash, so lines differ in more than colour."""
    return {"color": LINE_COLOURS[k % len(LINE_COLOURS)], "dash": DASHES[k % len(DASHES)],
            "width": 2.5}


def grade_colours(names: list[str]) -> dict[str, str]:
    return {g: GRADE_COLOURS[k % len(GRADE_COLOURS)] for k, g in enumerate(names)}


def daily(ts: pd.DataFrame) -> pd.DataFrame:
    """One row per day: a timeseries split by group or region is summed back to days."""
    if ts.empty or ts["day"].is_unique:
        return ts.reset_index(drop=True)
    counts = [c for c in ts.columns if c.startswith("n_")]
    out = ts.groupby("day", sort=True)[counts].sum()
    if "mean_score" in ts:
        out["mean_score"] = ts.groupby("day", sort=True)["mean_score"].mean()
    if "date" in ts:
        out.insert(0, "date", ts.groupby("day", sort=True)["date"].first())
    return out.reset_index()


def overview_figure(results: Results) -> go.Figure:
    """The run at a glance: grade shares and people under sanction, day by day."""
    ts = daily(results.timeseries)
    manifest = results.manifest
    scenario = results.scenario
    agents = int(manifest["agents"])
    grade_names = [g["name"] for g in (scenario.get("scoring") or {}).get("grades", [])]
    people = results.people
    scored = bool(grade_names) and "score" in people and people["score"].notna().any()
    rows = 2 if scored else 1
    series = [(c, n) for c, n in SANCTION_SERIES + [("n_wrongly_banned", "wrongly travel-banned")]
              if c in ts and ts[c].any()]
    lower, unit = "People under each sanction", "people"
    if not series:  # no system: what people did, which a system would watch
        series = [(c, n) for c, n in (("n_events", "true events"),
                                      ("n_speech_events", "speech events")) if c in ts]
        lower, unit = "What people did, per day (no sanctions in this run)", "events per day"
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.1,
        subplot_titles=(["Share of people in each grade (%)"] if scored else []) + [lower])
    if scored:
        colours = grade_colours(grade_names)
        for g in reversed(grade_names):
            col = f"n_grade_{g}"
            if col in ts:
                fig.add_trace(go.Scatter(
                    x=time_x(ts), y=(ts[col] / agents * 100).round(4).tolist(),
                    name=f"grade {g}", stackgroup="grades", mode="lines",
                    line={"width": 0.5, "color": colours[g]}, fillcolor=colours[g],
                    legendgroup="grades"), row=1, col=1)
        fig.update_yaxes(title_text="share of people (%)", range=[0, 100], row=1, col=1)
    for k, (col, name) in enumerate(series):
        fig.add_trace(go.Scatter(x=time_x(ts), y=ts[col].tolist(), name=name,
                                 mode="lines", line=line_style(k), legendgroup="lower"),
                      row=rows, col=1)
    fig.update_yaxes(title_text=unit, rangemode="tozero", row=rows, col=1)
    fig.update_xaxes(title_text=time_axis(scenario), row=rows, col=1)
    mark_changes(fig, scenario)
    fig.update_layout(
        title={"text": f"{scenario.get('name', 'run')}: {agents:,} people, "
               f"{int(manifest['days']):,} days, seed {manifest['seed']}", "x": 0},
        template="plotly_white", height=380 * rows, font={"size": 13},
        legend={"orientation": "v", "x": 1.02, "y": 1})
    return fig
