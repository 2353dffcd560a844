"""The report page: one self-contained HTML file that works offline and reads well.

Everything the page needs travels inside it: plotly.js inline (once), the
figures as JSON, the people's stories as JSON, the styles and the small
scripts that draw them. A Content-Security-Policy forbids every network
request, so a report opened on an air-gapped laptop, or years later, looks the
same, and cannot leak that it was opened.

Charts use the Okabe-Ito palette (distinguishable with every common colour
vision deficiency) and, for lines, dashes as well as colours; each chart has a
title, axis titles with units, a caption and a text alternative.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from scoresim.runs.plot import (  # noqa: F401 (the report's palette)
    DASHES,
    GRADE_COLOURS,
    LINE_COLOURS,
    OKABE_ITO,
    RIGHT,
    WRONG,
    grade_colours,
    line_style,
)

PLOT_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}

CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
       "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'; "
       "form-action 'none'; base-uri 'none'")


def styled(fig: go.Figure, title: str, x: str, y: str, height: int = 420) -> go.Figure:
    """A figure in the report's look: its title, axis titles with units, legible type."""
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        template="plotly_white",
        font={"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
              "size": 14, "color": "#1a1a1a"},
        height=height,
        # the legend sits at the foot of the figure, below the x axis title, never on it
        margin={"l": 70, "r": 20, "t": 60, "b": 110},
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0.01,
                "x": 0},
        hoverlabel={"font_size": 13},
    )
    fig.update_xaxes(title_text=x, showline=True, linecolor="#444", ticks="outside")
    fig.update_yaxes(title_text=y, showline=True, linecolor="#444", ticks="outside",
                     rangemode="tozero")
    return fig


@dataclass
class Chart:
    """One chart: its figure, a caption that says how to read it, and a text alternative."""

    key: str
    figure: go.Figure
    alt: str
    caption: str = ""


@dataclass
class Section:
    """A part of the report; built only when the run has the data it needs."""

    key: str
    title: str
    intro: str = ""  # plain text, escaped on output
    charts: list[Chart] = field(default_factory=list)
    html: str = ""  # trusted markup built by this package (tables, the lookup)
    compact: bool = False  # charts two to a row, for sections of many small charts


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def table(rows: list[list[Any]], header: list[str], caption: str,
          numeric: bool = True) -> str:
    """An accessible table: a caption, header cells with scope, numbers right-aligned."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in header)
    body = []
    for row in rows:
        cells = [f'<th scope="row">{esc(row[0])}</th>']
        for v in row[1:]:
            cls = ' class="num"' if numeric and isinstance(v, int | float) else ""
            cells.append(f"<td{cls}>{esc(fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:  # NaN
            return "–"
        return f"{v:,.3f}" if abs(v) < 1000 else f"{v:,.1f}"
    return str(v)


def json_for_script(data: Any) -> str:
    """JSON safe inside a <script> element: no '</', '<!--' or line separators break out."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"),
                                                         allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# the only markup the report's own figure strings use; plotly draws it, everything else is text
OWN_TAGS = ("<extra>", "</extra>", "<br>")


def plain(value: Any) -> str:
    """Text for a plotly string (title, name, label): plotly reads a subset of HTML in
    them, so a scenario's name, a grade or a region is escaped to show as written."""
    return str(value).replace("<", "&lt;").replace(">", "&gt;")


def _escaped(s: str) -> str:
    out = plain(s)
    for tag in OWN_TAGS:
        out = out.replace(plain(tag), tag)
    return out


def _sanitised(obj: Any) -> Any:
    """Every string of a figure with user text escaped (idempotent on plain()'s output)."""
    if isinstance(obj, str):
        return _escaped(obj)
    if isinstance(obj, dict):
        return {k: _sanitised(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_sanitised(v) for v in obj]
    if hasattr(obj, "dtype") and getattr(obj.dtype, "kind", "") in "OUS":
        return [_sanitised(v) for v in obj.tolist()]
    return obj


def figure_json(fig: go.Figure) -> str:
    """The figure as JSON, with every string escaped for plotly's pseudo-HTML."""
    data = _sanitised(fig.to_plotly_json())
    return pio.to_json(data, validate=False, remove_uids=True)


def render_page(title: str, subtitle: str, sections: list[Section], plotly_js: str,
                stories: Any | None = None, notes: list[str] | None = None,
                scripts: list[str] | None = None) -> str:
    """The whole page; `plotly_js` is plotly.js itself, inlined once."""
    figures: list[str] = []
    nav, body = [], []
    for s in sections:
        nav.append(f'<li><a href="#{esc(s.key)}">{esc(s.title)}</a></li>')
        parts = [f'<section id="{esc(s.key)}" aria-labelledby="{esc(s.key)}-h">',
                 f'<h2 id="{esc(s.key)}-h">{esc(s.title)}</h2>']
        if s.intro:
            parts.append(f"<p>{esc(s.intro)}</p>")
        if s.html:
            parts.append(s.html)
        if s.compact:
            parts.append('<div class="grid">')
        for c in s.charts:
            div = f"plot-{c.key}"
            figures.append(f"{json.dumps(div)}:{figure_json(c.figure)}")
            parts.append(
                f'<figure class="chart" id="fig-{esc(c.key)}">'
                f'<div class="plot" id="{esc(div)}" role="img" aria-label="{esc(c.alt)}"></div>'
                f'<figcaption>{esc(c.caption or c.alt)}</figcaption></figure>')
        if s.compact:
            parts.append("</div>")
        parts.append("</section>")
        body.append("".join(parts))
    fig_blob = "{" + ",".join(figures) + "}"
    note_html = "".join(f"<p class=\"note\">{esc(n)}</p>" for n in (notes or []))
    story_blob = (f'<script type="application/json" id="scoresim-stories">'
                  f"{json_for_script(stories)}</script>" if stories else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="scoresim">
<title>{esc(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<a class="skip" href="#main">Skip to the report</a>
<header>
<h1>{esc(title)}</h1>
<p class="subtitle">{esc(subtitle)}</p>
{note_html}
<nav aria-label="Sections"><ol>{"".join(nav)}</ol></nav>
</header>
<main id="main">
{"".join(body)}
</main>
<footer><p>Made by scoresim, a simulator of social credit systems. Every person in it is
synthetic; it is not, and must never be used as, a scoring tool.</p></footer>
<script type="application/json" id="scoresim-figures">{json_for_script(fig_blob)}</script>
{story_blob}
<script>{plotly_js}</script>
<script>{DRAW_SCRIPT}</script>
{"".join(f"<script>{js}</script>" for js in scripts or [])}
</body>
</html>
"""


STYLE = """
:root { --ink: #1a1a1a; --muted: #555; --rule: #d0d0d0; --wrong: #D55E00; --accent: #0072B2;
        --bg-wrong: #fbe9dd; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #fff; }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 1.25rem; }
header { padding-top: 1.5rem; border-bottom: 1px solid var(--rule); }
h1 { font-size: 1.8rem; margin: 0 0 .25rem; }
h2 { font-size: 1.4rem; margin: 2.5rem 0 .5rem; border-bottom: 2px solid var(--accent);
     padding-bottom: .2rem; }
.subtitle { color: var(--muted); margin-top: 0; }
.note { background: #f3f6fa; border-left: 4px solid var(--accent); padding: .5rem .75rem; }
nav ol { columns: 3 14rem; padding-left: 1.25rem; }
a { color: var(--accent); }
a:focus, button:focus, input:focus, summary:focus { outline: 3px solid #E69F00;
  outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; z-index: 10; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(12.5rem, 1fr));
         gap: .75rem; margin: 1rem 0; }
.card { border: 1px solid var(--rule); border-top: 4px solid var(--accent); padding: .6rem .8rem;
        border-radius: 3px; }
.card.wrong { border-top-color: var(--wrong); }
.card dt { font-weight: 600; min-height: 2.6em; }
.card dd { margin: 0; color: var(--muted); font-size: .9rem; }
.card dd.big { color: var(--ink); font-size: 1.9rem; font-weight: 700;
               font-variant-numeric: tabular-nums; }
details summary { cursor: pointer; color: var(--accent); margin: .5rem 0; }
figure.chart { margin: 1.25rem 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr));
        column-gap: 1.5rem; }
.grid figure.chart { margin: .75rem 0; min-width: 0; }
.plot { width: 100%; }
figcaption { color: var(--muted); font-size: .95rem; margin-top: .25rem; }
table { border-collapse: collapse; margin: 1rem 0; min-width: 50%; }
caption { text-align: left; font-weight: 600; padding-bottom: .4rem; }
th, td { border-bottom: 1px solid var(--rule); padding: .3rem .7rem; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 1rem; overflow: auto; font-size: .85rem;
      max-height: 40rem; }
.lookup form { display: flex; gap: .5rem; align-items: end; flex-wrap: wrap; }
.lookup label { display: block; font-weight: 600; }
.lookup input { font: inherit; padding: .35rem .5rem; width: 12rem; }
.lookup button { font: inherit; padding: .35rem .9rem; background: var(--accent); color: #fff;
                 border: 0; border-radius: 3px; cursor: pointer; }
.lookup .suggest button { background: #eef3f8; color: var(--ink); border: 1px solid var(--rule);
                          margin: .15rem; padding: .15rem .5rem; }
#story table { width: 100%; }
#story tr.wrong { background: var(--bg-wrong); }
#story td:first-child { white-space: nowrap; }
#story tr.sanction td.what { font-style: italic; }
#story .flag { color: var(--wrong); font-weight: 700; }
#story .summary { font-weight: 600; }
footer { color: var(--muted); font-size: .9rem; border-top: 1px solid var(--rule);
         margin-top: 3rem; padding-bottom: 2rem; }
@media print { nav, .skip, .lookup form { display: none; } .plot { break-inside: avoid; } }
"""

DRAW_SCRIPT = """
(function () {
  var figs = JSON.parse(document.getElementById('scoresim-figures').textContent);
  var config = CONFIG;
  Object.keys(figs).forEach(function (id) {
    var f = figs[id];
    Plotly.newPlot(id, f.data, f.layout, config);
  });
})();
""".replace("CONFIG", json.dumps(PLOT_CONFIG))
