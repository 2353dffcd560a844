"""Issue 22's figures: the scenarios people run (pilot-city, china) beside reference, in one run.

    python benchmarks/scenarios.py            # 1e6 and 1e7 people x 365 days, scaling 1e5..1e7
    python benchmarks/scenarios.py --quick    # 1e5 and 1e6 (a shared machine)
    python benchmarks/scenarios.py --repeat 3 --scenarios pilot-city,china

Every figure is the whole command a user types, `scoresim run S --agents N
--days 365 --records none --quiet`, as a child process (run_benchmarks.py's
`Bench`: numba's cache filled by a warm-up first, a run that still compiled is
redone, the child's own peak RSS and CPU time from wait4). The scenarios of one
size run in alternation (reference, pilot-city, china, reference, ...), so a
shared machine whose speed drifts drifts for all of them alike; the ratio to
reference is taken within a size, best of --repeat for wall and for CPU.

Printed, as Markdown tables ready for BENCHMARKS.md:
- each scenario beside reference (wall, CPU, their ratios, agent-days/s);
- the phase timings of each run (the run folder's manifest: the engine times
  every step of the plan of the day under its phase);
- bytes per person: peak RSS growth from the smallest to the largest size,
  divided by the people added (issue 3's and issue 22's memory measure);
- the scaling line: pilot-city's time per agent-day at every size of --scaling;
- pilot-city with records on against records off at --records-size.
Results also go to benchmarks/results/scenarios.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_benchmarks import GIB, MIB, Bench, machine, parse_sizes  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "scenarios.json"
TARGET_PILOT_10M_S = 30.0
TARGET_CHINA_10M_S = 45.0
TARGET_PILOT_RATIO = 2.0
TARGET_RECORDS_RATIO = 1.5
TARGET_BYTES_PER_PERSON = 64.0


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run by wall, with the least CPU and the largest peak RSS of all of them."""
    row = dict(min(runs, key=lambda r: r["wall_seconds"]))
    row["cpu_seconds"] = min(r["cpu_seconds"] for r in runs)
    row["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in runs)
    row["walls"] = [round(r["wall_seconds"], 3) for r in runs]
    row["cpus"] = [round(r["cpu_seconds"], 3) for r in runs]
    return row


def interleaved(bench: Bench, cases: list[tuple[str, int, str]], days: int,
                repeat: int) -> dict[tuple[str, int, str], dict[str, Any]]:
    """Each case (scenario, people, records) `repeat` times, in rounds A B C A B C ..."""
    runs: dict[tuple[str, int, str], list[dict[str, Any]]] = {c: [] for c in cases}
    for _ in range(repeat):
        for scenario, n, records in cases:
            runs[(scenario, n, records)].append(
                bench.engine(scenario, n, days, repeat=1, backend="day", records=records,
                             label="" if records == "none" else f"records {records}, "))
    return {c: best(r) for c, r in runs.items()}


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def report(res: dict[str, Any]) -> str:
    runs = res["runs"]
    sizes, scenarios = res["sizes"], res["scenarios"]
    load = ", ".join(f"{x:.1f}" for x in res["machine"]["load_average_at_start"])
    out = [f"{res['when']}, {res['machine']['cpu']}, {res['machine']['usable_cpus']} usable "
           f"cores, load average at start {load}; {res['days']} days, best of {res['repeat']} "
           f"interleaved runs (wall and CPU each their best)", ""]

    def get(s: str, n: int, rec: str = "none") -> dict[str, Any] | None:
        return runs.get(f"{s}|{n}|{rec}")

    rows = []
    for n in sizes:
        ref = get("reference", n)
        for s in scenarios:
            r = get(s, n)
            if r is None:
                continue
            rows.append([s, f"{n:,}", f"{r['wall_seconds']:.2f}", f"{r['cpu_seconds']:.2f}",
                         f"{r['wall_seconds'] / ref['wall_seconds']:.2f}" if ref else "-",
                         f"{r['cpu_seconds'] / ref['cpu_seconds']:.2f}" if ref else "-",
                         f"{n * res['days'] / r['wall_seconds']:.3g}",
                         f"{r['peak_rss_bytes'] / MIB:,.0f}"])
    out += ["#### beside reference (whole command, records off, day engine)", "",
            table(["scenario", "people", "wall s", "CPU s", "wall / reference",
                   "CPU / reference", "agent-days/s", "peak RSS MiB"], rows), ""]

    phases: list[str] = []
    for r in runs.values():
        for k, v in r["timings"].items():
            if k not in phases and v > 0:
                phases.append(k)
    rows = []
    for n in sizes:
        for s in scenarios:
            r = get(s, n)
            if r is not None:
                t = r["timings"]
                rows.append([s, f"{n:,}"] + [f"{t.get(k, 0.0):.2f}" for k in phases]
                            + [f"{r['outside_simulation_seconds']:.2f}"])
    out += ["#### phase timings, seconds (manifest.json)", "",
            table(["scenario", "people"] + phases + ["outside (start, write)"], rows), ""]

    lo, hi = min(sizes), max(sizes)
    rows = []
    for s in scenarios:
        a, b = get(s, lo), get(s, hi)
        if a and b and hi > lo:
            rows.append([s, f"{a['peak_rss_bytes'] / MIB:,.0f}",
                         f"{b['peak_rss_bytes'] / MIB:,.0f}",
                         f"{(b['peak_rss_bytes'] - a['peak_rss_bytes']) / (hi - lo):.1f}"])
    out += [f"#### bytes per person (peak RSS growth {lo:,} to {hi:,}, / people added)", "",
            table(["scenario", f"peak MiB at {lo:,}", f"peak MiB at {hi:,}", "bytes/person"],
                  rows), ""]

    rows = []
    for n in res["scaling"]:
        r = get("pilot-city", n)
        if r:
            ad = n * res["days"]
            rows.append([f"{n:,}", f"{r['wall_seconds']:.2f}", f"{r['cpu_seconds']:.2f}",
                         f"{r['wall_seconds'] / ad * 1e9:.1f}",
                         f"{r['cpu_seconds'] / ad * 1e9:.1f}"])
    out += ["#### scaling line: pilot-city, time per agent-day", "",
            table(["people", "wall s", "CPU s", "wall ns / agent-day", "CPU ns / agent-day"],
                  rows), ""]

    n = res["records_size"]
    off, on = get("pilot-city", n), get("pilot-city", n, "all")
    if off and on:
        out += [f"#### pilot-city at {n:,}: records all against records none", "",
                table(["records", "wall s", "CPU s", "peak RSS MiB"],
                      [[k, f"{r['wall_seconds']:.2f}", f"{r['cpu_seconds']:.2f}",
                        f"{r['peak_rss_bytes'] / MIB:,.0f}"] for k, r in
                       (("none", off), ("all", on))]),
                "", f"ratio all / none: wall {on['wall_seconds'] / off['wall_seconds']:.2f}, "
                f"CPU {on['cpu_seconds'] / off['cpu_seconds']:.2f} (target <= "
                f"{TARGET_RECORDS_RATIO})", ""]

    big = 10_000_000
    targets = []
    p, c, ref = get("pilot-city", big), get("china", big), get("reference", big)
    if p:
        targets.append(f"pilot-city 10M: {p['wall_seconds']:.1f} s "
                       f"(target < {TARGET_PILOT_10M_S})")
    if p and ref:
        targets.append("pilot-city / reference at 10M: "
                       f"{p['wall_seconds'] / ref['wall_seconds']:.2f} "
                       f"(target <= {TARGET_PILOT_RATIO})")
    if c:
        targets.append(f"china 10M: {c['wall_seconds']:.1f} s (target < {TARGET_CHINA_10M_S}); "
                       f"its build {c['timings'].get('build', 0):.1f} s")
    if targets:
        out += ["#### issue 22 targets", ""] + [f"- {t}" for t in targets] + [""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1e5 and 1e6 people (a shared machine)")
    ap.add_argument("--sizes", type=parse_sizes, default=None, help="default 1e6,1e7")
    ap.add_argument("--scaling", type=parse_sizes, default=None,
                    help="pilot-city sizes of the scaling line (default 1e5,1e6,1e7)")
    ap.add_argument("--records-size", type=float, default=None,
                    help="people of the records-on run (default 1e6; --quick 1e5)")
    ap.add_argument("--scenarios", default="pilot-city,china",
                    help="run beside reference, comma-separated")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--numba-threads", type=int, default=None)
    ap.add_argument("--max-rss-gib", type=float, default=16.0,
                    help="a child past this RSS is killed (protects the shared machine)")
    ap.add_argument("--json", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    sizes = a.sizes or ([100_000, 1_000_000] if a.quick else [1_000_000, 10_000_000])
    scaling = a.scaling or ([100_000, 1_000_000] if a.quick else [100_000, 1_000_000, 10_000_000])
    records_size = int(a.records_size or (1e5 if a.quick else 1e6))
    scenarios = ["reference"] + [s for s in a.scenarios.split(",") if s and s != "reference"]
    res: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["scenarios.py"] + (argv if argv is not None else sys.argv[1:])),
        "machine": machine(a), "days": a.days, "seed": a.seed, "repeat": a.repeat,
        "sizes": sizes, "scaling": scaling, "records_size": records_size,
        "scenarios": scenarios,
    }
    with tempfile.TemporaryDirectory(prefix="scoresim-scenarios-") as tmp:
        bench = Bench(a, Path(tmp))
        for s in scenarios:
            bench.log(f"warm-up {s} (fills numba's cache)")
            bench.engine(s, 2_000, 10, redo_if_compiled=False, repeat=1, backend="day")
            bench.engine(s, 2_000, 10, redo_if_compiled=False, repeat=1, backend="day",
                         records="all")
        found: dict[tuple[str, int, str], dict[str, Any]] = {}
        for n in sorted(set(sizes) | set(scaling) | {records_size}):
            cases = [(s, n, "none") for s in scenarios if n in sizes]
            if n in scaling and n not in sizes:
                cases.append(("pilot-city", n, "none"))
            if n == records_size:
                if ("pilot-city", n, "none") not in cases:
                    cases.append(("pilot-city", n, "none"))
                cases.append(("pilot-city", n, "all"))
            found.update(interleaved(bench, cases, a.days, a.repeat))
    res["runs"] = {f"{s}|{n}|{rec}": r for (s, n, rec), r in found.items()}
    res["load_average_at_end"] = list(os.getloadavg())
    text = report(res)
    print(text)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(res, indent=1))
    print(f"written {a.json}; {time.strftime('%H:%M:%S')}; peak limit {a.max_rss_gib} GiB "
          f"({a.max_rss_gib * GIB / MIB:,.0f} MiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
