"""The report of a sweep: each outcome against each varied parameter, with its interval.

A sweep folder (scoresim.studies.sweep) holds summary.parquet, one row per (point,
arm, kind, output) with the mean over seeds and a 95% interval of the mean;
`kind` is 'value' or, for paired arms, 'difference' (arm minus baseline arm,
seed by seed, which common random numbers make precise). The report draws one
chart per outcome and parameter, one trace per arm, with the intervals as
error bars, and the paired effects the same way around a zero line.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from scoresim.report.page import (
    WRONG,
    Chart,
    Section,
    esc,
    line_style,
    render_page,
    styled,
    table,
)
from scoresim.report.sentences import noise_clause
from scoresim.runs.layout import MEMBERS, PLAN_FILE, SUMMARY_FILE
from scoresim.studies.noise import Difference

# outcomes drawn first, in this order; others follow up to MAX_OUTPUTS
PRIORITY = [
    "n_wrongly_banned", "n_travel_banned", "n_dishonest", "mean_score", "total_false_records",
    "total_shamed_wrongly", "total_speech_events", "n_media_suspended", "n_consumption_banned",
    "total_shamed", "total_records", "total_delisted",
]
PAIRED_PRIORITY = [
    "only_in_arm_sanctioned", "only_in_arm_wrongly_banned", "only_in_arm_travel_banned",
    "only_in_baseline_sanctioned", "only_in_arm_listed", "only_in_arm_media_suspended",
    "n_wrongly_banned", "total_speech_events", "mean_score",
]
MAX_OUTPUTS = 8
MAX_PAIRED = 8
MAX_TRACES = 6
FIXED = ("point", "arm", "baseline", "kind", "output", "n", "mean", "std", "ci_low", "ci_high")


def describe_output(name: str) -> str:
    """An outcome's name in words, with what it counts."""
    if name.startswith("only_in_arm_"):
        return f"people {name[12:].replace('_', ' ')} only with the arm's system"
    if name.startswith("only_in_baseline_"):
        return f"people {name[17:].replace('_', ' ')} only in the baseline"
    if name == "mean_score":
        return "mean score (points, last day)"
    if name.startswith("total_"):
        return f"{name[6:].replace('_', ' ')} (total over the run)"
    if name.startswith("n_"):
        return f"people {name[2:].replace('_', ' ')} (last day)"
    return name.replace("_", " ")


def unit_of(name: str) -> str:
    if name == "mean_score":
        return "points"
    if name.startswith("total_"):
        return "count over the run"
    return "people"


def _pick(outputs: list[str], priority: list[str], frame: pd.DataFrame, cap: int) -> list[str]:
    """Outcomes worth a chart: the priority ones first, and only those that are not all zero."""
    alive = {o for o in outputs if frame.loc[frame["output"] == o, "mean"].abs().sum() > 0}
    ordered = [o for o in priority if o in alive] + sorted(o for o in alive if o not in priority)
    return ordered[:cap]


def _param_values(frame: pd.DataFrame, p: str) -> tuple[list[Any], bool]:
    vals = frame[p].dropna().unique().tolist()
    numeric = pd.api.types.is_numeric_dtype(frame[p])
    return (sorted(vals) if numeric else sorted(vals, key=str)), numeric


def _outcome_chart(frame: pd.DataFrame, param: str | None, others: list[str], output: str,
                   key: str, paired: bool) -> Chart | None:
    sub = frame[frame["output"] == output]
    if sub.empty:
        return None
    fig = go.Figure()
    alt_parts = []
    traces = 0
    pooled = False
    said: list[str] = []
    if param is None:
        arms = sub["arm"].unique().tolist()
        fig.add_trace(go.Bar(
            x=arms, y=sub.groupby("arm", sort=False)["mean"].mean().reindex(arms).tolist(),
            error_y=_errors(sub.groupby("arm", sort=False)[["mean", "ci_low", "ci_high"]]
                            .mean().reindex(arms)),
            marker={"color": WRONG if paired else line_style(0)["color"]}, name=output))
        xlab = "arm"
        for a in arms:
            r = sub[sub["arm"] == a].iloc[0]
            alt_parts.append(f"{a}: {_ci_text(r)}")
            if paired:
                said.append(f"{a} minus the baseline, {float(r['mean']):.4g}"
                            + noise_clause(_difference(r), 1, "") + ".")
    else:
        numeric = pd.api.types.is_numeric_dtype(sub[param])
        groups = ["arm"] + [o for o in others if sub[o].nunique() > 1]
        combos = sub.groupby(groups, sort=False, dropna=False)
        pooled = len(combos) > MAX_TRACES
        if pooled:
            groups = ["arm"]
            combos = sub.groupby(groups, sort=False, dropna=False)
        for k, (g, rows) in enumerate(combos):
            g = g if isinstance(g, tuple) else (g,)
            label = ", ".join([str(g[0])] + [f"{n}={v}" for n, v in zip(groups[1:], g[1:],
                                                                          strict=True)])
            if pooled:
                rows = rows.groupby(param, sort=True)[["mean", "ci_low", "ci_high"]].mean() \
                    .reset_index()
            rows = rows.sort_values(param, key=None if numeric else (lambda s: s.astype(str)))
            style = line_style(k)
            fig.add_trace(go.Scatter(
                x=rows[param].tolist() if numeric else rows[param].astype(str).tolist(),
                y=rows["mean"].round(6).tolist(), name=label,
                mode="lines+markers" if rows[param].nunique() < 30 else "markers",
                line=style, marker={"color": style["color"], "size": 8,
                                    "symbol": ["circle", "square", "diamond", "triangle-up",
                                               "x", "cross"][k % 6]},
                error_y=_errors(rows)))
            traces += 1
            if len(rows) and paired:
                beyond = sum(_difference(r).beyond_noise for _, r in rows.iterrows())
                said.append(f"{label}: {beyond} of {len(rows)} points differ from the baseline "
                            "beyond noise (their 95% interval over seeds excludes zero)"
                            + ("" if beyond == len(rows) else ", the others within noise")
                            + ".")
            if len(rows):
                lo, hi = rows.iloc[0], rows.iloc[-1]
                alt_parts.append(f"{label}: {_ci_text(lo)} at {param} = {lo[param]}, "
                                 f"{_ci_text(hi)} at {param} = {hi[param]}")
        xlab = param
        if traces == 0:
            return None
    if paired:
        fig.add_hline(y=0, line={"color": "#333", "width": 1})
    title = describe_output(output)
    what = "<br>".join(textwrap.wrap(title[0].upper() + title[1:], 48))
    unit = unit_of(output)
    styled(fig, what, xlab, f"{unit}, arm − baseline" if paired else unit, height=400)
    fig.update_layout(title_font_size=15, margin={"b": 110, "t": 75})
    fig.update_yaxes(rangemode="normal")
    alt = (f"{'Paired differences' if paired else 'Outcome'} {title}"
           + (f" against {param}" if param else " by arm") + ", with 95% intervals. "
           + "; ".join(alt_parts[:MAX_TRACES]) + ".")
    caption = (("Bars are means over seeds; whiskers are 95% intervals of the mean"
                if param is None else
                "Points are means over seeds; bars are 95% intervals of the mean")
               + (" (paired t, seed by seed)." if paired else " (t over seeds).")
               + (" Traces are averaged over the other varied parameters." if pooled else "")
               + "".join(" " + x for x in said[:MAX_TRACES]))
    return Chart(key, fig, alt, caption)


def _difference(r: pd.Series) -> Difference:
    """A summary row's paired difference and its t interval over seeds."""
    n = int(r["n"]) if "n" in r and pd.notna(r["n"]) else 0
    method = f"t interval over {n} seeds" if n > 1 else "one seed"
    return Difference(float(r["mean"]), float(r["ci_low"]), float(r["ci_high"]), method)


def _errors(rows: pd.DataFrame) -> dict[str, Any]:
    hi = (rows["ci_high"] - rows["mean"]).to_numpy(dtype=float)
    lo = (rows["mean"] - rows["ci_low"]).to_numpy(dtype=float)
    if np.isnan(hi).all():
        return {"visible": False}
    return {"type": "data", "symmetric": False, "array": np.nan_to_num(hi).round(6).tolist(),
            "arrayminus": np.nan_to_num(lo).round(6).tolist(), "thickness": 1.5, "width": 5}


def _ci_text(r: pd.Series) -> str:
    if pd.isna(r["ci_low"]):
        return f"{r['mean']:.4g}"
    return f"{r['mean']:.4g} [{r['ci_low']:.4g}, {r['ci_high']:.4g}]"


def sweep_report_html(folder: str | Path) -> str:
    """The report of a sweep folder as an HTML string."""

    folder = Path(folder)
    summary = pd.read_parquet(folder / SUMMARY_FILE)
    plan: dict[str, Any] = {}
    if (folder / PLAN_FILE).is_file():
        plan = json.loads((folder / PLAN_FILE).read_text())
    varied = plan.get("varied") or [c for c in summary.columns if c not in FIXED]
    varied = [v for v in varied if v in summary.columns]
    spec = plan.get("spec", {})
    name = plan.get("name") or folder.name
    members = sorted(p.name for p in (folder / MEMBERS).iterdir() if p.is_dir()
                     and not p.name.startswith("."))
    sections: list[Section] = []

    facts = [["base scenario", spec.get("scenario")], ["people", spec.get("agents")],
             ["days", spec.get("days")], ["seeds", len(plan.get("seeds", [])) or None],
             ["varied", ", ".join(varied) or "nothing (arms and seeds only)"],
             ["arms", ", ".join(plan.get("arms", [])) or summary["arm"].unique().tolist()],
             ["baseline arm", plan.get("baseline")], ["member runs", len(members)]]
    sections.append(Section("sweep", "The sweep", spec.get("description", ""),
                            html=table(facts, ["", ""], "What was run", numeric=False)))

    values = summary[summary["kind"] == "value"]
    diffs = summary[summary["kind"] == "difference"]
    charts: list[Chart] = []
    for p in varied or [None]:
        others = [v for v in varied if v != p]
        for o in _pick(values["output"].unique().tolist(), PRIORITY, values, MAX_OUTPUTS):
            c = _outcome_chart(values, p, others, o, f"v-{_slug(p)}-{_slug(o)}", False)
            if c is not None:
                charts.append(c)
    if charts:
        sections.append(Section("outcomes", "Outcomes against each parameter",
                                "Each outcome, averaged over seeds, for each value of each "
                                "varied parameter; one trace per arm.", charts, compact=True))
    charts = []
    if not diffs.empty:
        for p in varied or [None]:
            others = [v for v in varied if v != p]
            for o in _pick(diffs["output"].unique().tolist(), PAIRED_PRIORITY, diffs,
                           MAX_PAIRED):
                c = _outcome_chart(diffs, p, others, o, f"d-{_slug(p)}-{_slug(o)}", True)
                if c is not None:
                    charts.append(c)
    if charts:
        base = diffs["baseline"].dropna().unique().tolist()
        sections.append(Section(
            "paired", "Paired effects",
            f"Each arm minus the baseline arm ({', '.join(map(str, base))}), seed by seed: "
            "the same synthetic people doing the same things, so the difference is what the "
            "system changed. 'Only with the arm's system' counts people sanctioned in the "
            "arm and not in the baseline.", charts, compact=True))

    key = _pick(summary["output"].unique().tolist(), PRIORITY + PAIRED_PRIORITY, summary, 16)
    rows = []
    for _, r in summary[summary["output"].isin(key)].iterrows():
        rows.append([int(r["point"])] + [r[v] for v in varied]
                    + [r["arm"], r["kind"], r["output"], int(r["n"]), _ci_text(r)])
    sections.append(Section(
        "table", "All the numbers", "",
        html="<details><summary>Means and 95% intervals, by point, arm and outcome</summary>"
        + table(rows, ["point", *varied, "arm", "kind", "outcome", "seeds",
                       "mean [95% interval]"], "summary.parquet", numeric=False)
        + "</details>"))
    listing = "".join(f"<li><code>{esc(m)}</code></li>" for m in members[:500])
    sections.append(Section(
        "members", "Member runs",
        "Each member is an ordinary run folder; `scoresim report` on one of them shows it "
        "in full.",
        html=f"<details><summary>{len(members):,} run folders under "
        f"{esc(str(folder / MEMBERS))}</summary><ul>{listing}</ul></details>"))
    subtitle = (f"Sweep '{name}' over {spec.get('scenario', 'a scenario')}: "
                f"{len(members):,} runs of {spec.get('agents') or '?'} synthetic people")
    return render_page(f"scoresim sweep report: {name}", subtitle, sections, get_plotlyjs())


def _slug(s: str | None) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", (s or "arms").lower()).strip("-") or "x"
