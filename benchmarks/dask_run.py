"""One run on a 2-worker LocalCluster against the same run here (issue 23): wall, throughput.

    python benchmarks/dask_run.py --agents 1e7 [--days 365] [--workers 2] [--repeat 1]

Each repeat runs `scoresim run reference --agents N --days D --records none` three
times, interleaved, each a whole command in a fresh process under `/usr/bin/time
-f "%e %M"` (wall seconds, peak RSS of that process in KiB; a LocalCluster's
workers are processes of their own, not counted in it): here, everyone at once
(the default); here, in the blocks the Dask run is cut into; and `--workers W`,
the blocks as Dask tasks on a new LocalCluster of W processes (its start, the
workers' imports and builds included). An unmeasured tiny run of each comes first
and fills numba's cache. Prints one Markdown row per run: wall, throughput
(agent-days per second of the whole command), the ratio to the run here at once,
the run's own phases from its manifest (build, false matches, blocks), and whether
every output file but manifest.json is the same bytes as the run here at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from blocks import digests  # noqa: I001 - benchmarks/ is the script's folder

from scoresim.runs.simulate import resolve
from scoresim.studies.cluster_run import dask_block


def run(agents: int, days: int, out: Path, extra: list[str]) -> tuple[float, float, dict]:
    """(wall s, peak RSS MiB, manifest) of one whole command."""
    cmd = ["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "scoresim", "run",
           "reference", "--agents", str(agents), "--days", str(days), "--records", "none",
           "--registry", "none", "--quiet", "--out", str(out), *extra]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall, kib = res.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kib) / 1024, json.loads((out / "manifest.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=float, default=1e7)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    agents, days, w = int(args.agents), args.days, args.workers
    block = dask_block(resolve("reference", agents=agents, days=days, records="none"), w)
    kinds = [("here, at once", []),
             (f"here, blocks of {block:,}", ["--block-size", str(block)]),
             (f"{w}-worker LocalCluster, blocks of {block:,}", ["--workers", str(w)])]
    root = Path(tempfile.mkdtemp(prefix="dask-run-"))
    try:
        for k, (_, extra) in enumerate(kinds):
            run(5000, 3, root / f"warm{k}", extra)
        print(f"reference, {agents:,} people x {days} days, --records none; "
              f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("| run | wall s | agent-days/s | vs here at once | build s | false matches s "
              "| blocks s | peak RSS MiB (this process) | same bytes |")
        print("|---|---|---|---|---|---|---|---|---|")
        for rep in range(args.repeat):
            expected, base = None, None
            for k, (name, extra) in enumerate(kinds):
                out = root / f"run-{rep}-{k}"
                wall, peak, m = run(agents, days, out, extra)
                t = m["timings"]
                got = digests(out)
                if expected is None:
                    expected, base = got, wall
                same = "-" if k == 0 else ("yes" if got == expected else "**no**")
                print(f"| {name} | {wall:.2f} | {agents * days / wall:.3e} | "
                      f"{base / wall:.2f}x | {t['build']:.2f} | {t['false_matches']:.2f} | "
                      f"{t['lives']:.2f} | {peak:,.0f} | {same} |", flush=True)
                if k:
                    shutil.rmtree(out)
            shutil.rmtree(root / f"run-{rep}-0")
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
