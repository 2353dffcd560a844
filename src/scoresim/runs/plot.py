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

from scoresim.runs.schemes import scored_schemes, several_scales

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


def sanction_panels(ts: pd.DataFrame, series: list[tuple[str, str]], agents: int,
                    fig: go.Figure | None = None, first_row: int = 1,
                    cols: int = 2) -> go.Figure:
    """One small line chart per series, each with its own y axis, two to a row.

    A year's social-media suspensions can outnumber travel bans a hundredfold; on
    one axis the small series would lie flat at zero. Each panel's title gives the
    series' name and its last-day share of all people.
    """
    rows = -(-len(series) // cols)
    if fig is None:
        titles = [_panel_title(ts, c, n, agents) for c, n in series]
        fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_xaxes=True,
                            horizontal_spacing=0.1, vertical_spacing=min(0.18, 0.5 / rows))
    for k, (col, name) in enumerate(series):
        r, c = first_row + k // cols, k % cols + 1
        fig.add_trace(go.Scatter(x=time_x(ts), y=ts[col].tolist(), name=name,
                                 mode="lines", line=line_style(k), legendgroup="lower",
                                 hovertemplate=f"%{{y:,}} {name} on day %{{x}}"
                                 "<extra></extra>"), row=r, col=c)
        fig.update_yaxes(rangemode="tozero", row=r, col=c)
    for c in range(1, cols + 1):
        fig.update_xaxes(title_text=DAYS_AXIS, row=first_row + rows - 1, col=c)
    return fig


def _panel_title(ts: pd.DataFrame, col: str, name: str, agents: int) -> str:
    last = float(ts[col].iloc[-1]) if len(ts) else 0.0
    share = last / agents * 100 if agents else 0.0
    return f"{name} ({share:.2g}% of people)" if share else name


def overview_figure(results: Results) -> go.Figure:
    """The run at a glance: grades, and people under each sanction in panels of their own.

    With one scheme the top row is the share of people in each grade, day by day.
    With several (a country of city pilots, each on its own scale) the grade
    columns of the timeseries mix schemes, so the top row is each scheme's grades
    on the last day, read from the people, with the unscored counted as such.
    """
    ts = daily(results.timeseries)
    manifest = results.manifest
    scenario = results.scenario
    agents = int(manifest["agents"])
    grade_names = [g["name"] for g in (scenario.get("scoring") or {}).get("grades", [])]
    people = results.people
    scored = bool(grade_names) and "score" in people and people["score"].notna().any()
    scales = scored and several_scales(scenario)
    series = [(c, n) for c, n in SANCTION_SERIES + [("n_wrongly_banned", "wrongly travel-banned")]
              if c in ts and ts[c].any()]
    unit = "people"
    if not series:  # no system: what people did, which a system would watch
        series = [(c, n) for c, n in (("n_events", "true events"),
                                      ("n_speech_events", "speech events")) if c in ts]
        unit = "events per day"
    cols = 2 if len(series) > 1 else 1
    lower_rows = max(1, -(-len(series) // cols))
    top = 1 if scored else 0
    titles = ([("Each scheme's grades on the last day (% of its people)" if scales else
                "Share of people in each grade (%)")] + [""] * (cols - 1) if scored else [])
    titles += [_panel_title(ts, c, n, agents) for c, n in series]
    specs = ([[{"colspan": cols}] + [None] * (cols - 1)] if scored else []) + \
        [[{} for _ in range(cols)] for _ in range(lower_rows)]
    fig = make_subplots(rows=top + lower_rows, cols=cols, specs=specs, subplot_titles=titles,
                        vertical_spacing=0.12 if lower_rows < 3 else 0.07,
                        horizontal_spacing=0.1)
    if scales:
        _scheme_grades(fig, scenario, people)
    elif scored:
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
        fig.update_xaxes(title_text=DAYS_AXIS, row=1, col=1)
    sanction_panels(ts, series, agents, fig=fig, first_row=top + 1, cols=cols)
    fig.update_yaxes(title_text=unit, row=top + 1, col=1)
    fig.update_layout(
        title={"text": f"{scenario.get('name', 'run')}: {agents:,} people, "
               f"{int(manifest['days']):,} days, seed {manifest['seed']}", "x": 0},
        template="plotly_white", height=320 * (top + lower_rows) + 60, font={"size": 13},
        legend={"orientation": "v", "x": 1.02, "y": 1, "tracegroupgap": 4})
    for trace in fig.data:  # the sanction panels are named by their titles
        if trace.legendgroup == "lower":
            trace.showlegend = False
    mark_changes(fig, scenario)
    return fig


def _scheme_grades(fig: go.Figure, scenario: dict[str, Any], people: pd.DataFrame) -> None:
    """One horizontal 100% bar per scheme: the share of its people in each grade."""
    scheme = people["scheme"].astype(str)
    grade = people["grade"].astype(str)
    schemes = [s for s in scored_schemes(scenario) if (scheme == s).any()]
    n_none = int((people["score"].isna()).sum())
    depth = max(len(scenario["schemes"][s]["grades"]) for s in schemes)
    for pos in range(depth):  # grade positions: the top grade of every scheme first
        xs, ys, names = [], [], []
        for s in schemes:
            gs = scenario["schemes"][s]["grades"]
            if pos >= len(gs):
                continue
            mine = scheme == s
            xs.append(round(float((grade[mine] == gs[pos]["name"]).mean() * 100), 3))
            ys.append(f"{s} ({int(mine.sum()):,})")
            names.append(gs[pos]["name"])
        fig.add_trace(go.Bar(x=xs, y=ys, orientation="h", text=names, textposition="inside",
                             insidetextanchor="middle", name=f"grade position {pos + 1}",
                             marker={"color": GRADE_COLOURS[pos % len(GRADE_COLOURS)]},
                             hovertemplate="%{y}: %{text} %{x:.1f}%<extra></extra>",
                             showlegend=False), row=1, col=1)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text=f"% of the scheme's people; {n_none:,} people have no score",
                     range=[0, 100], row=1, col=1)
