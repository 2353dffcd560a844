"""docs/sensitivity.md's tables, printed from a study's indices.parquet (Morris or Sobol).

    python examples/sensitivity_tables.py morris --top 5
    python examples/sensitivity_tables.py sobol

For each output: its seed-noise share with interval, then the parameters ranked
by mu_star (Morris) or ST (Sobol), with intervals and sigma or S1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def fmt(x: float) -> str:
    """Three significant figures, thousands separated, as the doc's tables write them."""
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def tables(folder: Path, top: int | None) -> str:
    d = pd.read_parquet(folder / "indices.parquet")
    morris = "mu_star" in set(d["index"])
    rank_by, beside = ("mu_star", "sigma") if morris else ("ST", "S1")
    lines = []
    for output in dict.fromkeys(d["output"]):  # in the study's order
        g = d[d["output"] == output]
        noise = g[g["index"] == "seed_noise"].iloc[0]
        ranked = g[g["index"] == rank_by].sort_values("value", ascending=False, kind="stable")
        if ranked["value"].isna().all():  # as the command says it: nothing to divide
            lines += [f"**`{output}`**: the output does not vary over the design (no "
                      "variance to divide).", ""]
            continue
        lines.append(f"**`{output}`** (seed noise {100 * noise.value:.1f}% of the variance "
                     f"analysed, [{100 * noise.low:.1f}%, {100 * noise.high:.1f}%])")
        lines.append("")
        lines.append(f"| rank | parameter | {rank_by} [95% CI] | {beside} |")
        lines.append("| --- | --- | --- | --- |")
        other = g[g["index"] == beside].set_index("parameter")["value"]
        moved = ranked[(ranked["value"] != 0) | (ranked["high"] != 0)]
        for i, row in enumerate(moved.head(top).itertuples(), 1):
            lines.append(f"| {i} | `{row.parameter}` | {fmt(row.value)} [{fmt(row.low)}, "
                         f"{fmt(row.high)}] | {fmt(other[row.parameter])} |")
        lines.append("")
        still = len(ranked) - len(moved)
        if still:  # said, not hidden: these parameters never moved the output in this design
            lines.append(f"The other {still} parameters: {rank_by} exactly 0 (no run of the "
                         "design moved this output when they changed).")
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--top", type=int, default=None, help="rows per output (default: all)")
    args = ap.parse_args()
    print(tables(args.folder, args.top))


if __name__ == "__main__":
    main()
