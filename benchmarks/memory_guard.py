"""The memory guard against measured peaks: every built-in scenario at two sizes.

    PYTHONPATH=src python benchmarks/memory_guard.py [--sizes 200000,500000] [--days 60]
        [--scenarios reference,china ...]

Each run is in a fresh process: after a small warm-up run (numba's cache, the
imports), the peak is reset (/proc/self/clear_refs, Linux) and the run's peak
RSS above the warmed-up process (VmHWM - VmRSS) is compared with
scoresim.model.guards.estimate_memory on the backend the run uses. Prints one
line per run: scenario, people, days, measured, estimated, estimated/measured.
The guard is meant to lie within 10% of the measured peak (ratio 0.9 to 1.1
for a refusal that is neither too eager nor too late).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

MEASURE = textwrap.dedent("""
    import json, sys
    import scoresim
    from scoresim.model.backends import choose_backend
    from scoresim.model.guards import estimate_memory
    from scoresim.runs.simulate import resolve

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024

    name, n, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    scoresim.run(name, agents=2000, days=3, records="none")  # numba caches, imports
    base = status("VmRSS:")
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM)
    scoresim.run(name, agents=n, days=days, records="none")
    peak = status("VmHWM:")
    scenario = resolve(name, agents=n, days=days, records="none")
    backend = choose_backend(scenario, "auto", None)
    est = estimate_memory(scenario, backend)
    print(json.dumps({"measured": peak - base, "estimated": est.total, "backend": backend,
                      "parts": est.parts}))
""")


def measure(name: str, n: int, days: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", MEASURE, name, str(n), str(days)],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {n} x {days}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from scoresim import builtin_names

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200000,500000")
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--scenarios", default=",".join(builtin_names()))
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    args = ap.parse_args()
    print(f"{'scenario':<12} {'people':>9} {'days':>5} {'backend':>7} {'measured':>10} "
          f"{'estimated':>10} {'ratio':>6}", flush=True)
    for name in args.scenarios.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            m = measure(name, n, args.days)
            ratio = m["estimated"] / max(m["measured"], 1)
            if args.json:
                print(json.dumps({"scenario": name, "people": n, "days": args.days, **m,
                                  "ratio": ratio}), flush=True)
            else:
                print(f"{name:<12} {n:>9,} {args.days:>5} {m['backend']:>7} "
                      f"{m['measured'] / 2**20:>8.1f}Mi {m['estimated'] / 2**20:>8.1f}Mi "
                      f"{ratio:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
