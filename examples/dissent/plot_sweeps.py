"""Draw the dissent sweep files' outputs: phase regions, the adaptive authority, suppression.

The two `scoresim sweep` files beside this script run the built-in `dissent`
scenario through the engine; this script reads their run folders and draws, with
matplotlib (no headless browser needed), the figures docs/dissent.md sets beside
the paper's (Daymude, Axelrod & Forrest, arXiv:2509.03731):

    nice -n 10 scoresim sweep examples/dissent/sweep-phases.yaml --out sweeps/dissent-phases
    nice -n 10 scoresim sweep examples/dissent/sweep-adaptive.yaml --out sweeps/dissent-adaptive
    python examples/dissent/plot_sweeps.py sweeps/dissent-phases sweeps/dissent-adaptive \\
        --out docs/dissent

Figures (PNG) and the tables they are drawn from (CSV) go to --out:

- engine_phases.png: each person's phase (compliant, self-censoring, defiant)
  over desired dissent x boldness, for a few policies of the phase sweep, with
  the closed form's boundaries (delta = tau, and d_uni or d_pro) drawn over them;
- engine_phase_shares.png / .csv: the population's share in each phase over
  severity x surveillance, both punishments;
- engine_adaptive.png / engine_adaptive.csv: the adaptive authority's tolerance,
  severity, surveillance and political cost (a share of its maximum) by round,
  the mean over seeds, one line per mean boldness;
- engine_suppression.png / engine_suppression.csv: the paper's time to
  suppression (dissent_rounds.suppression_time) against mean boldness.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from scoresim.model.dissent import (  # noqa: E402
    COMPLIANT,
    DEFIANT,
    SELF_CENSORING,
    action_category,
    proportional_interior_action,
    uniform_defiance_threshold,
)
from scoresim.model.dissent_rounds import suppression_time  # noqa: E402

COLOURS = {COMPLIANT: "#9bbbd9", SELF_CENSORING: "#c9a227", DEFIANT: "#d1495b"}
NAMES = {COMPLIANT: "compliant", SELF_CENSORING: "self-censoring", DEFIANT: "defiant"}
TOLERANCE = 0.25  # the built-in dissent scenario's, which the phase sweep keeps
PHASE_POLICIES = {"uniform": [(1.0, 0.0), (1.0, 0.4), (1.0, 0.8)],
                  "proportional": [(1.5, 0.0), (1.5, 0.4), (1.5, 0.8)]}  # (severity, surveillance)
AUTHORITY = ("tolerance", "severity", "surveillance")


def members(sweep: Path) -> pd.DataFrame:
    """The sweep's members table, with each member's run folder."""
    table = pd.read_parquet(sweep / "members.parquet")

    def here(folder: str) -> str:
        # a sweep folder moved or copied since it ran: its members are inside it
        return folder if Path(folder).exists() else str(sweep / "members" / Path(folder).name)

    table = table.assign(folder=table["folder"].map(here))
    return table[table["folder"].map(lambda f: (Path(f) / "timeseries.parquet").exists())]


def phases_figure(sweep: Path, out: Path, sample: int = 5_000) -> None:
    """Each person's phase over (desired dissent, boldness) at a few policies of the sweep."""
    table = members(sweep)
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.2), dpi=110, sharex=True, sharey=True)
    for row, kind in enumerate(("uniform", "proportional")):
        for col, (psi, nu) in enumerate(PHASE_POLICIES[kind]):
            ax = axes[row, col]
            hit = table[(table["dissent.punishment"] == kind)
                        & np.isclose(table["dissent.severity"], psi)
                        & np.isclose(table["dissent.surveillance"], nu)]
            if hit.empty:
                ax.set_title(f"{kind}: psi={psi}, nu={nu} (not in the sweep)", fontsize=9)
                continue
            people = pd.read_parquet(Path(hit["folder"].iloc[0]) / "people.parquet",
                                     columns=["desired_dissent", "boldness", "dissent"])
            people = people.iloc[:sample]
            delta, beta = people["desired_dissent"].to_numpy(), people["boldness"].to_numpy()
            cat = action_category(people["dissent"].to_numpy(), delta, TOLERANCE)
            for c, colour in COLOURS.items():
                mine = cat == c
                ax.scatter(delta[mine], beta[mine], s=3, color=colour, label=NAMES[c],
                           rasterized=True)
            grid = np.linspace(0.01, 6.0, 400)
            if kind == "uniform":
                edge = uniform_defiance_threshold(grid, TOLERANCE, psi, nu)
                label = "d_uni"
            else:
                edge = proportional_interior_action(grid, TOLERANCE, psi, nu)
                label = "d_pro"
            edge = np.where(np.isfinite(edge) & (edge >= TOLERANCE), edge, np.nan)
            ax.plot(edge, grid, color="black", lw=1.2, label=label)
            ax.axvline(TOLERANCE, color="black", lw=0.8, ls="--")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 6)
            ax.set_title(f"{kind}: severity {psi}, surveillance {nu}", fontsize=9)
            if row == 1:
                ax.set_xlabel("desired dissent")
            if col == 0:
                ax.set_ylabel("boldness")
    axes[0, 0].legend(loc="upper right", fontsize=7, markerscale=3)
    fig.suptitle("Phases from the engine (sweep-phases.yaml), tolerance 0.25; lines: closed form",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "engine_phases.png")
    plt.close(fig)
    print(f"wrote {out / 'engine_phases.png'}")


def phase_shares_figure(sweep: Path, out: Path) -> None:
    """Share of the population in each phase over severity x surveillance."""
    table = members(sweep).copy()
    n = table[["n_compliant", "n_self_censoring", "n_defiant"]].sum(axis=1)
    for c in ("n_compliant", "n_self_censoring", "n_defiant"):
        table[c.replace("n_", "share_")] = table[c] / n
    keep = ["dissent.punishment", "dissent.severity", "dissent.surveillance",
            "share_compliant", "share_self_censoring", "share_defiant", "mean_dissent"]
    table[keep].sort_values(keep[:3]).to_csv(out / "engine_phase_shares.csv", index=False,
                                             float_format="%.4g")
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), dpi=110)
    for row, kind in enumerate(("uniform", "proportional")):
        mine = table[table["dissent.punishment"] == kind]
        for col, share in enumerate(("share_self_censoring", "share_defiant")):
            grid = mine.pivot(index="dissent.severity", columns="dissent.surveillance",
                              values=share)
            ax = axes[row, col]
            im = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", vmin=0.0,
                           vmax=1.0 - float(mine["share_compliant"].iloc[0]), cmap="viridis")
            ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns])
            ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index])
            for i in range(grid.shape[0]):
                for j in range(grid.shape[1]):
                    ax.text(j, i, f"{grid.iat[i, j]:.2f}", ha="center", va="center",
                            fontsize=6, color="white")
            ax.set_xlabel("surveillance")
            ax.set_ylabel("severity")
            ax.set_title(f"{kind}: {share.replace('share_', '').replace('_', '-')} share",
                         fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle("The engine's population in each phase (sweep-phases.yaml; compliant "
                 f"{float(table['share_compliant'].iloc[0]):.2f} throughout: desire <= 0.25)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "engine_phase_shares.png")
    plt.close(fig)
    print(f"wrote {out / 'engine_phase_shares.png'}")


def adaptive_tables(sweep: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per round, the seeds' mean policy and cost; per member, its time to suppression."""
    rounds, times = [], []
    for _, m in members(sweep).iterrows():
        folder = Path(m["folder"])
        ts = pd.read_parquet(folder / "timeseries.parquet",
                             columns=[*AUTHORITY, "political_cost", "punishment_cost"])
        max_cost = float(pd.read_parquet(folder / "people.parquet",
                                         columns=["desired_dissent"])["desired_dissent"].sum())
        t = suppression_time(ts["political_cost"].to_numpy(), max_cost)
        arm = m["arm"] if "arm" in m and isinstance(m["arm"], str) else "given"
        times.append(dict(arm=arm, punishment=m["dissent.punishment"],
                          boldness=m["dissent.boldness.mean"], seed=m["seed"],
                          suppression_round=t, final_tolerance=ts["tolerance"].iloc[-1],
                          final_severity=ts["severity"].iloc[-1],
                          final_surveillance=ts["surveillance"].iloc[-1],
                          final_political_share=ts["political_cost"].iloc[-500:].mean()
                          / max_cost))
        ts = ts.assign(political_share=ts["political_cost"] / max_cost,
                       round=np.arange(len(ts)), arm=arm, punishment=m["dissent.punishment"],
                       boldness=m["dissent.boldness.mean"], seed=m["seed"])
        rounds.append(ts)
    per_round = (pd.concat(rounds).groupby(["arm", "punishment", "boldness", "round"])
                 [[*AUTHORITY, "political_share", "punishment_cost"]].mean().reset_index())
    return per_round, pd.DataFrame(times)


def adaptive_figures(sweep: Path, out: Path) -> None:
    per_round, times = adaptive_tables(sweep)
    # the per-round table is arms x punishments x boldness x rounds rows: store every 50th
    per_round[per_round["round"] % 50 == 0].to_csv(out / "engine_adaptive.csv", index=False,
                                                   float_format="%.4g")
    times.sort_values(["arm", "punishment", "boldness", "seed"]).to_csv(
        out / "engine_suppression.csv", index=False, float_format="%.4g")
    cmap = plt.get_cmap("plasma")
    fig, axes = plt.subplots(2, 4, figsize=(15, 7), dpi=110, sharex=True)
    for row, kind in enumerate(("uniform", "proportional")):
        # the trajectories of the paper's Fig. 4: from its single runs' start
        mine = per_round[(per_round["punishment"] == kind) & (per_round["arm"] == "given")]
        levels = sorted(mine["boldness"].unique())
        for k, b in enumerate(levels):
            line = mine[mine["boldness"] == b]
            smooth = line.rolling(25, min_periods=1, on="round").mean(numeric_only=True)
            for col, y in enumerate([*AUTHORITY, "political_share"]):
                axes[row, col].plot(line["round"], smooth[y], lw=1.0,
                                    color=cmap(k / max(1, len(levels) - 1) * 0.9),
                                    label=f"boldness {b:g}")
        for col, y in enumerate([*AUTHORITY, "political_share"]):
            ax = axes[row, col]
            ax.set_title(f"{kind}: {y.replace('_', ' ')}", fontsize=9)
            if row == 1:
                ax.set_xlabel("round")
        axes[row, 3].axhline(0.25, color="grey", lw=0.8, ls="--")
    axes[0, 3].legend(fontsize=7)
    fig.suptitle("The adaptive authority in the engine (sweep-adaptive.yaml, start 0.25, 0.1, "
                 "0.1): mean over seeds, 25-round rolling mean; political cost as a share of "
                 "its maximum",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "engine_adaptive.png")
    plt.close(fig)
    print(f"wrote {out / 'engine_adaptive.png'}")

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    rounds = int(per_round["round"].max()) + 1
    never = rounds * 1.08
    styles = {("uniform", "given"): ("#d1495b", "o", "-"),
              ("uniform", "random"): ("#d1495b", "^", ":"),
              ("proportional", "given"): ("#2b5c8a", "o", "-"),
              ("proportional", "random"): ("#2b5c8a", "^", ":")}
    for (kind, arm), (colour, marker, ls) in styles.items():
        mine = times[(times["punishment"] == kind) & (times["arm"] == arm)]
        if mine.empty:
            continue
        start = "start 0.25, 0.1, 0.1" if arm == "given" else "random starts"
        jitter = {"given": -0.06, "random": 0.06}[arm]
        ax.scatter(mine["boldness"] + jitter, mine["suppression_round"].replace(math.inf, never),
                   color=colour, marker=marker, alpha=0.5, s=16)
        med = mine.groupby("boldness")["suppression_round"].median().replace(math.inf, never)
        ax.plot(med.index, med.to_numpy(), color=colour, lw=1.2, ls=ls,
                label=f"{kind}, {start}: median and seeds")
    ax.axhline(rounds, color="grey", lw=0.8, ls="--")
    ax.text(ax.get_xlim()[0], rounds * 1.1, "never (within the run)", fontsize=7,
            va="bottom")
    ax.set_xlabel("mean boldness")
    ax.set_ylabel("rounds to suppression")
    ax.set_title("Time to suppression against boldness (sweep-adaptive.yaml)", fontsize=10)
    ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(out / "engine_suppression.png")
    plt.close(fig)
    print(f"wrote {out / 'engine_suppression.png'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phases", type=Path, help="the output folder of sweep-phases.yaml")
    parser.add_argument("adaptive", type=Path, help="the output folder of sweep-adaptive.yaml")
    parser.add_argument("--out", type=Path, default=Path("docs/dissent"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    phases_figure(args.phases, args.out)
    phase_shares_figure(args.phases, args.out)
    adaptive_figures(args.adaptive, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
