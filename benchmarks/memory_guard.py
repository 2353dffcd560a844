"""The memory guard against measured peaks: every built-in scenario at two sizes, on each
backend it runs.

    PYTHONPATH=src python benchmarks/memory_guard.py [--sizes 200000,1000000]
        [--max-days 365] [--scenarios reference,china ...] [--json]

Each run is `scoresim run` in a fresh process under `nice -n 10 /usr/bin/time -v`
(its Maximum resident set size: the whole process, interpreter and numba's
kernels included), after an unmeasured tiny run that fills numba's cache
(scoresim.runs.peak.measure_peak, which tests/test_guards.py uses too). Each
scenario runs its own days, capped at --max-days (the estimate follows the days:
calendars, the credit file's buffer, the horizon's clocks), and its own records
setting on the day loop (and --records none where that setting keeps records);
where the person backend can run it, also with --records none on the person
backend. Prints scenario, people, days, backend, records, measured, estimated,
estimated/measured. The guard is meant to lie
within 10% of the measured peak (ratio 0.9 to 1.1).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict

from scoresim import builtin_names
from scoresim.model.backends import reasons_not_eligible
from scoresim.runs.peak import measure_peak
from scoresim.runs.simulate import resolve


def cases(names: list[str], sizes: list[int], max_days: int):
    """(scenario, people, days, backend, records) for every run the table holds."""
    for name in names:
        s = resolve(name)
        days = min(s.days, max_days)
        backends = [("day", s.records)]
        if s.records != "none":  # the credit file's buffers and replay, and without them
            backends.append(("day", "none"))
        if not reasons_not_eligible(s):
            backends.append(("person", "none"))
        for n in sizes:
            for backend, records in backends:
                yield name, n, days, backend, records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200000,1000000")
    ap.add_argument("--max-days", type=int, default=365)
    ap.add_argument("--scenarios", default=",".join(builtin_names()))
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    print(f"# {platform.node()} {platform.machine()} {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    if not args.json:
        print(f"| {'scenario':<13} | {'people':>9} | {'days':>5} | backend | records | "
              f"{'measured':>9} | {'estimated':>9} | ratio | wall s |", flush=True)
        print("|---|---:|---:|---|---|---:|---:|---:|---:|", flush=True)
    worst = 0.0
    for name, n, days, backend, records in cases(args.scenarios.split(","), sizes,
                                                  args.max_days):
        p = measure_peak(name, n, days, backend=backend, records=records)
        worst = max(worst, abs(p.ratio - 1))
        if args.json:
            print(json.dumps({**asdict(p), "ratio": p.ratio}), flush=True)
        else:
            print(f"| {name:<13} | {n:>9,} | {days:>5} | {backend:<7} | {records:<7} | "
                  f"{p.measured / 2**20:>7.1f}Mi | {p.estimated / 2**20:>7.1f}Mi | "
                  f"{p.ratio:>5.2f} | {p.seconds:>6.1f} |", flush=True)
    print(f"# worst |estimated/measured - 1| = {worst:.3f}", flush=True)


if __name__ == "__main__":
    main()
