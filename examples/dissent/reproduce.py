"""Redo the figures of Daymude, Axelrod & Forrest's dissent paper with scoresim's model.

"Strategic analysis of dissent and self-censorship", arXiv:2509.03731; the
authors' code, data and figures are Zenodo 10.5281/zenodo.15150163. This
script uses only scoresim.model.dissent (our own implementation) and writes
PNG figures (plotly; PNG export needs kaleido and a chromium) and CSV tables:

    python examples/dissent/reproduce.py all            # everything, a few minutes on 2 cores
    python examples/dissent/reproduce.py optimal-action # Figs. 1-2 (instant)
    python examples/dissent/reproduce.py phase          # Fig. 3 (instant)
    python examples/dissent/reproduce.py trajectories   # Fig. 4 (seconds, the paper's size)
    python examples/dissent/reproduce.py sweep          # sweep figures and Fig. 5 (minutes)
    python examples/dissent/reproduce.py size           # the same against population size
    python examples/dissent/reproduce.py engine         # Fig. 4 through `scoresim run dissent`
    python examples/dissent/reproduce.py pilot-city     # the mechanism inside pilot-city

Sizes and settings are read from experiments.yaml beside this file; --out
(default docs/dissent) is where figures and tables go; --replot redraws the
sweep and size figures from their tables without rerunning them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import yaml
from plotly.subplots import make_subplots

from scoresim.model.dissent import (
    COMPLIANT,
    DEFIANT,
    Adapt,
    Policy,
    action_category,
    draw_population,
    optimal_action,
    proportional_interior_action,
    uniform_defiance_threshold,
)
from scoresim.model.dissent_rounds import random_start, simulate, suppression_time
from scoresim.runs.simulate import run as run_scenario

HERE = Path(__file__).resolve().parent
COLOURS = {"compliant": "#2b5c8a", "self_censoring": "#c9a227", "defiant": "#d1495b"}
# phase value: 0 compliant, 0.5 full self-censorship, 0.5..1 partial (how much is said), 1 defiant
PHASE_SCALE = [[0.0, COLOURS["compliant"]], [0.25, COLOURS["compliant"]],
               [0.2501, COLOURS["self_censoring"]], [0.5, COLOURS["self_censoring"]],
               [1.0, COLOURS["defiant"]]]
FONT = dict(family="DejaVu Sans, Arial", size=13)


def pool_of(workers: int) -> ProcessPoolExecutor:
    """Worker processes started fresh: numba's OpenMP threads in this one must not be forked."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def save(fig: go.Figure, out: Path, name: str, width: int, height: int) -> None:
    top = 110 if "<sup>" in (fig.layout.title.text or "") else 70
    fig.update_layout(font=FONT, template="plotly_white", margin=dict(l=60, r=30, t=top, b=50))
    path = out / f"{name}.png"
    for attempt in range(3):  # the headless browser behind kaleido fails now and then under load
        try:
            fig.write_image(path, width=width, height=height, scale=1.5)
            break
        except Exception as exc:  # any export failure is retried, then raised
            if attempt == 2:
                raise
            print(f"retrying {path.name}: {type(exc).__name__}")
    print(f"wrote {path}")


def phase_value(delta, beta, tau, psi, nu, kind):
    """Fig. 3 colour: compliant 0, self-censoring 0.5 + half the share said, defiant 1."""
    a = optimal_action(delta, beta, tau, psi, nu, kind)
    cat = action_category(a, delta, tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(delta > tau, (a - tau) / (delta - tau), 0.0)
    return np.where(cat == COMPLIANT, 0.0, np.where(cat == DEFIANT, 1.0, 0.5 + 0.5 * depth))


# --- Figs. 1-2 --------------------------------------------------------------------------------
def optimal_action_figure(cfg: dict, out: Path) -> None:
    panels = [("uniform", p) for p in cfg["uniform"]] + [("proportional", p)
                                                         for p in cfg["proportional"]]
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[f"{k}: {p['title']}" for k, p in panels])
    delta = np.linspace(0.0, 1.0, 2001)
    for col, (kind, p) in enumerate(panels, start=1):
        beta = np.full_like(delta, p["beta"])
        a = optimal_action(delta, beta, p["tau"], p["psi"], p["nu"], kind)
        cat = action_category(a, delta, p["tau"])
        for code, name in enumerate(COLOURS):
            y = np.where(cat == code, a, np.nan)
            fig.add_trace(go.Scatter(x=delta, y=y, mode="lines", name=name.replace("_", "-"),
                                     line=dict(color=COLOURS[name], width=3),
                                     showlegend=col == 1, connectgaps=False), row=1, col=col)
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", showlegend=False,
                                 line=dict(color="#999", dash="dot", width=1)), row=1, col=col)
        fig.update_xaxes(title_text="desired dissent δ", range=[0, 1], row=1, col=col)
    fig.update_yaxes(title_text="optimal action a*", range=[0, 1], row=1, col=1)
    fig.update_annotations(font_size=11)
    fig.update_layout(title="Best response against desire (paper's Figs. 1-2 settings)",
                      legend=dict(orientation="h", y=-0.2))
    save(fig, out, "optimal_action", 1500, 420)


# --- Fig. 3 ------------------------------------------------------------------------------------
def phase_figure(cfg: dict, out: Path) -> None:
    n = int(cfg["resolution"])
    delta = np.linspace(0.0, 1.0, n)
    ranges = {"tau": 1.0, "nu": 1.0, "psi": 2.5, "beta": 2.5}
    labels = {"tau": "tolerance τ", "nu": "surveillance ν", "psi": "severity ψ",
              "beta": "boldness β"}
    fig = make_subplots(rows=2, cols=4, horizontal_spacing=0.05, vertical_spacing=0.1,
                        subplot_titles=[f"{k}: {labels[x]}" for k in ("uniform", "proportional")
                                        for x in ranges])
    for row, kind in enumerate(("uniform", "proportional"), start=1):
        base = cfg[kind]
        for col, (x, top) in enumerate(ranges.items(), start=1):
            xs = np.linspace(0.0, top, n)
            p = {k: np.full((n, n), float(v)) for k, v in base.items()}
            p[x] = np.broadcast_to(xs[None, :], (n, n)).copy()
            d = np.broadcast_to(delta[:, None], (n, n))
            z = phase_value(d, p["beta"], p["tau"], p["psi"], p["nu"], kind)
            fig.add_trace(go.Heatmap(x=xs, y=delta, z=z, zmin=0, zmax=1, colorscale=PHASE_SCALE,
                                     showscale=(row == 1 and col == 4),
                                     colorbar=dict(tickvals=[0.12, 0.5, 0.9], len=0.9,
                                                   ticktext=["compliant", "self-censoring",
                                                             "defiant"])),
                          row=row, col=col)
            # the boundary between self-censorship and defiance: delta = d_uni or d_pro
            one = {k: v[0] for k, v in p.items()}
            if kind == "uniform":
                d_b = uniform_defiance_threshold(one["beta"], one["tau"], one["psi"], one["nu"])
            else:
                d_b = proportional_interior_action(one["beta"], one["tau"], one["psi"],
                                                   one["nu"])
            tau_line = one["tau"]
            ok = (d_b > tau_line) & (d_b <= 1.0)
            fig.add_trace(go.Scatter(x=xs[ok], y=np.asarray(d_b)[ok], mode="lines",
                                     line=dict(color="white", width=2), showlegend=False),
                          row=row, col=col)
            fig.add_trace(go.Scatter(x=xs, y=tau_line, mode="lines", showlegend=False,
                                     line=dict(color="white", width=2)), row=row, col=col)
            fig.update_xaxes(range=[0, top], row=row, col=col)
            fig.update_yaxes(range=[0, 1], row=row, col=col,
                             title_text="desired dissent δ" if col == 1 else None)
    fig.update_annotations(font_size=12)
    fig.update_layout(title="Phases of the best response (paper's Fig. 3 settings: uniform "
                      "β=1, ν=0.5, τ=0.25, ψ=0.6; proportional ψ=1.5)")
    save(fig, out, "phase_diagram", 1500, 760)


# --- Fig. 4 ------------------------------------------------------------------------------------
def trajectories_figure(cfg: dict, out: Path) -> None:
    rows = []
    start = Policy(**cfg["start"])
    adapt = Adapt(step=cfg["step"], adamancy=cfg["adamancy"])
    for run in cfg["runs"]:
        kind, b = run["punishment"], float(run["boldness_mean"])
        t0 = time.time()
        people = draw_population(cfg["people"], cfg["seed"], cfg["desired_mean"], b)
        r = simulate(rounds=cfg["rounds"], seed=cfg["seed"], punishment=kind, policy=start,
                     adapt=adapt, population=people)
        took = time.time() - t0
        max_cost = cfg["adamancy"] * people[0].sum()
        t_sup = suppression_time(r["political_cost"], max_cost, 500, 0.25)
        last = r.iloc[-500:]
        rows.append(dict(punishment=kind, boldness_mean=b, seconds=round(took, 2),
                         suppression_round=t_sup,
                         final_tolerance=last["tolerance"].mean(),
                         final_severity=last["severity"].mean(),
                         final_surveillance=last["surveillance"].mean(),
                         final_political_cost=last["political_cost"].mean(),
                         final_punishment_cost=last["punishment_cost"].mean(),
                         start_total_cost=(r["political_cost"] + r["punishment_cost"])[:100].mean(),
                         final_total_cost=(last["political_cost"]
                                           + last["punishment_cost"]).mean()))
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06)
        x = r["round"]
        for name, y, colour in (("political cost", r["political_cost"], "#5b8fc7"),
                                ("punishment cost", r["punishment_cost"], "#c7713a"),
                                ("total cost", r["political_cost"] + r["punishment_cost"],
                                 "#4a1942")):
            fig.add_trace(go.Scatter(x=x, y=y, name=name, line=dict(color=colour, width=1)),
                          row=1, col=1)
        for name, colour in (("tolerance", "#0b3d91"), ("severity", "#c0262d"),
                             ("surveillance", "#2e9a4b")):
            fig.add_trace(go.Scatter(x=x, y=r[name], name=name, line=dict(color=colour, width=2)),
                          row=2, col=1)
        fig.update_yaxes(title_text="cost per round", row=1, col=1)
        fig.update_yaxes(title_text="policy", row=2, col=1)
        fig.update_xaxes(title_text="round", row=2, col=1)
        fig.update_layout(title=f"{kind} punishment, mean boldness {b:g}: adaptive authority"
                          f"<br><sup>N={cfg['people']:,}, from the paper's start τ=0.25, ψ=0.1, "
                          f"ν=0.1; the policy played each round</sup>",
                          legend=dict(orientation="h", y=-0.12))
        save(fig, out, f"trajectory_{kind}_B{b:g}", 900, 700)
    table = pd.DataFrame(rows)
    table.to_csv(out / "trajectories.csv", index=False, float_format="%.4g")
    print(table.to_string(index=False))


# --- the sweeps and Fig. 5 ---------------------------------------------------------------------
def _cell(job: tuple) -> dict:
    """All trials of one (punishment, mean desire, mean boldness) cell of a sweep."""
    kind, i, j, desired_mean, boldness_mean, cfg = job
    adapt = Adapt(step=cfg["step"], adamancy=cfg["adamancy"])
    finals, curves, times, max_costs = [], [], [], []
    for t in range(cfg["trials"]):
        seed = cfg["seed"] + t
        people = draw_population(cfg["people"], seed, desired_mean, boldness_mean)
        r = simulate(rounds=cfg["rounds"], seed=seed, punishment=kind, adapt=adapt,
                     policy=random_start(cfg["seed"], t), population=people)
        last = r.iloc[-1]
        finals.append([last["tolerance"], last["severity"], last["surveillance"],
                       last["political_cost"], last["punishment_cost"]])
        curves.append(r["political_cost"].to_numpy())
        max_cost = cfg["adamancy"] * people[0].sum()
        max_costs.append(max_cost)
        s = cfg["suppression"]
        times.append(suppression_time(curves[-1], max_cost, s["window"], s["share"]))
    s = cfg["suppression"]
    mean_curve = np.mean(curves, axis=0)
    finals = np.array(finals)
    return dict(kind=kind, i=i, j=j, desired_mean=desired_mean, boldness_mean=boldness_mean,
                final=finals.mean(axis=0), final_sd=finals.std(axis=0),
                # the paper's measure: on the trials' mean political cost
                suppression=suppression_time(mean_curve, float(np.mean(max_costs)), s["window"],
                                             s["share"]),
                suppressed_share=float(np.mean(np.isfinite(times))),
                median_trial_suppression=float(np.median(times)))


def run_sweep(cfg: dict, out: Path, workers: int) -> None:
    """Every cell of both sweeps, written to sweep_<kind>.csv (one row per cell)."""
    g = cfg["desired_means"]
    deltas = np.linspace(g["start"], g["stop"], g["num"])
    for kind in ("uniform", "proportional"):
        b = cfg["boldness_means"][kind]
        betas = np.linspace(b["start"], b["stop"], b["num"])
        jobs = [(kind, i, j, float(d), float(bb), cfg) for i, d in enumerate(deltas)
                for j, bb in enumerate(betas)]
        t0 = time.time()
        with pool_of(workers) as pool:
            cells = list(pool.map(_cell, jobs, chunksize=1))
        print(f"{kind}: {len(jobs)} cells x {cfg['trials']} trials in {time.time() - t0:.0f} s")
        n = cfg["people"]
        table = pd.DataFrame([dict(desired_mean=c["desired_mean"],
                                   boldness_mean=c["boldness_mean"],
                                   final_tolerance=c["final"][0], final_severity=c["final"][1],
                                   final_surveillance=c["final"][2],
                                   political_cost_per_person=c["final"][3] / n,
                                   punishment_cost_per_person=c["final"][4] / n,
                                   suppression_round=c["suppression"],
                                   suppressed_share=c["suppressed_share"],
                                   median_trial_suppression=c["median_trial_suppression"])
                              for c in cells])
        table.to_csv(out / f"sweep_{kind}.csv", index=False, float_format="%.4g")


def plot_sweep(cfg: dict, out: Path) -> None:
    """The sweep figures and Fig. 5, from sweep_<kind>.csv."""
    n = cfg["people"]
    for kind in ("uniform", "proportional"):
        table = pd.read_csv(out / f"sweep_{kind}.csv")
        grid = {k: table.pivot(index="boldness_mean", columns="desired_mean", values=k)
                for k in table.columns[2:]}
        total = grid["political_cost_per_person"] + grid["punishment_cost_per_person"]
        panels = [("(A) political cost / person", grid["political_cost_per_person"], "Blues"),
                  ("(D) tolerance τ, final", grid["final_tolerance"], "Blues"),
                  ("(B) punishment cost / person", grid["punishment_cost_per_person"], "Reds"),
                  ("(E) severity ψ, final", grid["final_severity"], "Reds"),
                  ("(C) total cost / person", total, "Purples"),
                  ("(F) surveillance ν, final", grid["final_surveillance"], "Greens")]
        fig = make_subplots(rows=3, cols=2, subplot_titles=[p[0] for p in panels],
                            horizontal_spacing=0.16, vertical_spacing=0.08)
        for k, (_, z, scale) in enumerate(panels):
            row, col = k // 2 + 1, k % 2 + 1
            x0 = 0.44 if col == 1 else 1.01
            y0 = 1 - (row - 0.5) / 3
            bounded = k in (1, 5)
            fig.add_trace(go.Heatmap(x=z.columns, y=z.index, z=z.to_numpy(), colorscale=scale,
                                     zmin=0, zmax=1 if bounded else None,
                                     colorbar=dict(x=x0, y=y0, len=0.27, thickness=12)),
                          row=row, col=col)
            fig.update_xaxes(title_text="mean desired dissent δ" if row == 3 else None,
                             row=row, col=col)
            fig.update_yaxes(title_text="mean boldness β" if col == 1 else None,
                             row=row, col=col)
        fig.update_annotations(font_size=12)
        fig.update_layout(title=f"{kind}: the adaptive authority after {cfg['rounds']:,} rounds"
                          f"<br><sup>mean of {cfg['trials']} trials per cell, N={n:,}, random "
                          f"starts; costs per person (x 100,000 for the paper's scale)</sup>")
        save(fig, out, f"sweep_{kind}", 900, 1000)
        # Fig. 5: time to suppression against mean boldness, one line per mean desire
        fig = go.Figure()
        deltas = sorted(table["desired_mean"].unique())
        for i, d in enumerate(deltas):
            sub = table[table["desired_mean"] == d].sort_values("boldness_mean")
            y = np.minimum(sub["suppression_round"], cfg["rounds"])
            shade = i / max(1, len(deltas) - 1)
            colour = f"rgb({int(30 + 200 * shade)},{int(60 + 120 * shade)},{int(110 - 40 * shade)})"
            fig.add_trace(go.Scatter(x=sub["boldness_mean"], y=y, mode="lines+markers",
                                     name=f"δ = {d:.3f}", line=dict(color=colour)))
        fig.update_layout(title=f"{kind}: time to suppression against mean boldness"
                          f"<br><sup>the trials' mean political cost below "
                          f"{cfg['suppression']['share']:g} of its maximum over "
                          f"{cfg['suppression']['window']} rounds; {cfg['rounds']:,} = never; "
                          f"N={cfg['people']:,}, {cfg['trials']} trials</sup>",
                          xaxis_title="mean boldness β", yaxis_title="rounds")
        save(fig, out, f"suppression_{kind}", 900, 520)


# --- how the population's size moves the result ------------------------------------------------
def _size_trial(job: tuple) -> dict:
    kind, n, b, t, cfg = job
    people = draw_population(n, cfg["seed"] + t, cfg["desired_mean"], b)
    r = simulate(rounds=cfg["rounds"], seed=cfg["seed"] + t, punishment=kind, adapt=Adapt(),
                 policy=random_start(cfg["seed"], t), population=people)
    s = suppression_time(r["political_cost"], people[0].sum(), cfg["window"], 0.25)
    return dict(punishment=kind, people=n, boldness_mean=b, trial=t, suppression_round=s,
                final_tolerance=r["tolerance"].iloc[-1])


def run_size(cfg: dict, out: Path, workers: int) -> None:
    """Share of trials suppressed within the run, by population size and mean boldness.

    The authority compares one round's noisy cost with the last; the noise of
    the punishment handed out grows like sqrt(N) while what its moves change
    grows like N, so a smaller population makes the hill climb noisier.
    """
    jobs = [(kind, n, float(b), t, cfg) for kind, bs in cfg["boldness_means"].items()
            for n in cfg["people"] for b in bs for t in range(cfg["trials"])]
    t0 = time.time()
    with pool_of(workers) as pool:
        rows = list(pool.map(_size_trial, jobs, chunksize=1))
    print(f"size: {len(jobs)} trials in {time.time() - t0:.0f} s")
    pd.DataFrame(rows).to_csv(out / "size.csv", index=False, float_format="%.4g")


def plot_size(cfg: dict, out: Path) -> None:
    """The population-size figure, from size.csv."""
    table = pd.read_csv(out / "size.csv")
    summary = (table.assign(suppressed=np.isfinite(table["suppression_round"]))
               .groupby(["punishment", "people", "boldness_mean"])
               .agg(suppressed_share=("suppressed", "mean"),
                    median_round=("suppression_round", "median")).reset_index())
    print(summary.to_string(index=False))
    kinds = list(cfg["boldness_means"])
    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=kinds, shared_yaxes=True)
    for col, kind in enumerate(kinds, start=1):
        for k, n in enumerate(cfg["people"]):
            sub = summary[(summary["punishment"] == kind) & (summary["people"] == n)]
            fig.add_trace(go.Scatter(x=sub["boldness_mean"], y=sub["suppressed_share"],
                                     mode="lines+markers", name=f"N = {n:,}",
                                     line=dict(color=["#9ecae1", "#4292c6", "#08306b"][k % 3]),
                                     showlegend=col == 1), row=1, col=col)
        fig.update_xaxes(title_text="mean boldness β", row=1, col=col)
    fig.update_yaxes(title_text="share of trials suppressed", range=[0, 1.05], row=1, col=1)
    fig.update_layout(title=f"Suppression within {cfg['rounds']:,} rounds by population size"
                      f"<br><sup>mean desire {cfg['desired_mean']}, {cfg['trials']} trials "
                      f"from random starts per point</sup>")
    save(fig, out, "size", 1100, 480)


# --- the engine: Fig. 4 through the built-in scenario ---------------------------------------
ENGINE_COLUMNS = ("mean_dissent", "n_compliant", "n_self_censoring", "n_defiant", "tolerance",
                  "severity", "surveillance", "political_cost", "punishment_cost")


def engine_trajectories(cfg: dict, out: Path) -> None:
    """Fig. 4's four runs as `scoresim run dissent --set ...`, checked against the runner.

    The built-in scenario is the paper's set-up; each run only sets the punishment
    and the mean boldness. The engine's timeseries must equal the standalone runner's
    round for round (same draws), so the figures above are the engine's too.
    """
    rows = []
    for run in cfg["runs"]:
        kind, b = run["punishment"], float(run["boldness_mean"])
        t0 = time.time()
        res = run_scenario("dissent", agents=cfg["people"], days=cfg["rounds"],
                           seed=cfg["seed"], records="none",
                           set={"dissent.punishment": kind, "dissent.boldness.mean": b})
        took = time.time() - t0
        ts = res.timeseries
        alone = simulate(n=cfg["people"], rounds=cfg["rounds"], seed=cfg["seed"],
                         punishment=kind, desired_mean=cfg["desired_mean"], boldness_mean=b,
                         policy=Policy(**cfg["start"]),
                         adapt=Adapt(step=cfg["step"], adamancy=cfg["adamancy"]))
        same = all(np.array_equal(ts[c].to_numpy(), alone[c].to_numpy()) for c in ENGINE_COLUMNS)
        max_cost = cfg["adamancy"] * res.people["desired_dissent"].sum()
        last = ts.iloc[-500:]
        rows.append(dict(punishment=kind, boldness_mean=b, engine_seconds=round(took, 1),
                         same_as_runner=same,
                         suppression_round=suppression_time(ts["political_cost"], max_cost),
                         final_tolerance=last["tolerance"].mean(),
                         final_severity=last["severity"].mean(),
                         final_surveillance=last["surveillance"].mean(),
                         critical_posts_first_100=int(ts["n_events_critical_post"][:100].sum()),
                         critical_posts_last_100=int(ts["n_events_critical_post"][-100:].sum())))
    table = pd.DataFrame(rows)
    table.to_csv(out / "engine_trajectories.csv", index=False, float_format="%.4g")
    print(table.to_string(index=False))


# --- inside pilot-city ---------------------------------------------------------------------------
PILOT_ARMS = {
    "paper's choice (the built-in)": {},
    "chilling (dissent.response=chilling)": {"dissent.response": "chilling"},
    "paper's choice, channel files 100x more": {
        "channels.online_monitoring.record_probability": 0.03},
    "paper's choice, no media suspension": {"sanctions.media_suspension": None},
}


def pilot_city(cfg: dict, out: Path) -> None:
    """pilot-city under the paper's choice (as built) and the older chilling rule, and no system.

    Same seed, same people: the critical posts each mechanism leaves, what the online
    channel records of them, and the media suspensions that follow.
    """
    base = dict(agents=cfg["people"], days=cfg["days"], seed=cfg["seed"], records="none")
    runs = {name: run_scenario("pilot-city", set=sets, **base).timeseries
            for name, sets in PILOT_ARMS.items()}
    runs["no system (no-system)"] = run_scenario("no-system", **base).timeseries
    rows = []
    for name, ts in runs.items():
        row = dict(arm=name, critical_posts=int(ts["n_events_criticizing_government"].sum()),
                   media_suspended_last_day=int(ts["n_media_suspended"].iloc[-1]))
        for c in ("mean_dissent", "n_defiant", "n_self_censoring", "n_compliant"):
            row[c] = ts[c].iloc[-1] if c in ts else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(out / "pilot_city.csv", index=False, float_format="%.4g")
    print(table.to_string(index=False))
    daily = pd.DataFrame({name: ts["n_events_criticizing_government"].to_numpy()
                          for name, ts in runs.items()})
    daily.insert(0, "day", np.arange(len(daily)))
    daily.to_csv(out / "pilot_city_daily.csv", index=False)


def plot_pilot_city(cfg: dict, out: Path) -> None:
    """Critical posts a day under each mechanism, from pilot_city_daily.csv.

    Drawn with matplotlib, which needs no headless browser (kaleido does).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    daily = pd.read_csv(out / "pilot_city_daily.csv")
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=120)
    colours = ("#d1495b", "#c9a227", "#6a4c93", "#3c8d5a", "#2b5c8a")
    for name, colour in zip(daily.columns[1:], colours, strict=True):
        ax.plot(daily["day"], daily[name].rolling(7, min_periods=1).mean(), label=name,
                color=colour, ls="--" if name.startswith("chilling") else "-")
    ax.set_xlabel("day")
    ax.set_ylabel("critical posts a day (7-day mean)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"pilot-city, {cfg['people']:,} people, seed {cfg['seed']}: critical posts")
    ax.legend(loc="center right", bbox_to_anchor=(1.0, 0.38), fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "pilot_city.png")
    print(f"wrote {out / 'pilot_city.png'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["all", "optimal-action", "phase", "trajectories", "sweep",
                                     "size", "engine", "pilot-city"])
    ap.add_argument("--out", type=Path, default=HERE.parent.parent / "docs" / "dissent")
    ap.add_argument("--config", type=Path, default=HERE / "experiments.yaml")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--replot", action="store_true",
                    help="sweep, size and pilot-city: redraw from the CSV tables already in --out")
    args = ap.parse_args(argv)
    cfg = yaml.safe_load(args.config.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    if args.what in ("all", "optimal-action"):
        optimal_action_figure(cfg["optimal_action"], args.out)
    if args.what in ("all", "phase"):
        phase_figure(cfg["phase_diagram"], args.out)
    if args.what in ("all", "trajectories"):
        trajectories_figure(cfg["trajectories"], args.out)
    if args.what in ("all", "sweep"):
        if not args.replot:
            run_sweep(cfg["sweep"], args.out, args.workers)
        plot_sweep(cfg["sweep"], args.out)
    if args.what in ("all", "size"):
        if not args.replot:
            run_size(cfg["size"], args.out, args.workers)
        plot_size(cfg["size"], args.out)
    if args.what in ("all", "engine"):
        engine_trajectories(cfg["engine"], args.out)
    if args.what in ("all", "pilot-city"):
        if not args.replot:
            pilot_city(cfg["pilot_city"], args.out)
        plot_pilot_city(cfg["pilot_city"], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
