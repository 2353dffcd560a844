"""Members per minute: a sweep on a LocalCluster against the same runs one after another.

The sequential side is what a user would do without `scoresim sweep`: a loop of
`scoresim.run(..., out=...)` in one process, each run using numba's threads on
all cores. The sweep side runs the same members (same scenario, sizes and
seeds, each writing its run folder) as Dask tasks, one process per worker with
one numba thread each. Both write the same run folders, so the ratio measures
what process-level parallelism buys over thread-level parallelism inside one
run (at small sizes, a lot: a small run cannot keep many threads busy), and
what Dask's overhead costs.

Numba compilation is excluded on both sides (one warm-up run in this process;
the workers load the cached kernels). The sequential loop is timed with numba's
default threads and again with one thread (small runs can be faster on one);
the sweep is timed end to end (starting and stopping the cluster) and on an
already running cluster. The load average is printed: on a shared machine
every figure depends on it.

Run: `python benchmarks/sweep_throughput.py --agents 20000 --days 90 --members 8`
prints one JSON object and a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numba

import scoresim
from scoresim.studies.cluster import local_cluster, usable_cores
from scoresim.studies.sweep import load_plan, run_plan


def sequential(scenario: str, agents: int, days: int, seeds: list[int], folder: Path) -> float:
    t0 = time.perf_counter()
    for seed in seeds:
        scoresim.run(scenario, agents=agents, days=days, seed=seed, records="none",
                     out=folder / f"seed-{seed}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="pilot-city")
    parser.add_argument("--agents", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--workers", type=int, default=usable_cores())
    args = parser.parse_args(argv)
    seeds = list(range(1, args.members + 1))
    spec = {"name": "throughput", "scenario": args.scenario, "agents": args.agents,
            "days": args.days, "seeds": seeds, "records": "none"}
    scratch = Path(tempfile.mkdtemp(prefix="scoresim-bench-"))
    try:
        scoresim.run(args.scenario, agents=args.agents, days=args.days, seed=0,
                     records="none")  # compile (or load) the kernels outside the timing
        threads = numba.get_num_threads()
        seq = sequential(args.scenario, args.agents, args.days, seeds, scratch / "seq")
        numba.set_num_threads(1)
        seq1 = sequential(args.scenario, args.agents, args.days, seeds, scratch / "seq1")
        numba.set_num_threads(threads)

        plan = load_plan(spec)
        t0 = time.perf_counter()
        cluster = local_cluster(args.workers)
        started = time.perf_counter() - t0
        try:
            t1 = time.perf_counter()
            run_plan(plan, scratch / "warm", scheduler=cluster)
            warm = time.perf_counter() - t1
        finally:
            t2 = time.perf_counter()
            cluster.close()
            stopped = time.perf_counter() - t2

        t3 = time.perf_counter()
        run_plan(plan, scratch / "cold", workers=args.workers)
        cold = time.perf_counter() - t3
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    per_minute = {name: round(args.members / seconds * 60, 1)
                  for name, seconds in (("sequential", seq), ("sequential_1_thread", seq1),
                                        ("sweep_warm_cluster", warm),
                                        ("sweep_end_to_end", cold))}
    report = {
        "scenario": args.scenario, "agents": args.agents, "days": args.days,
        "members": args.members, "workers": args.workers, "cores": usable_cores(),
        "numba_threads_sequential": threads,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "seconds": {"sequential": round(seq, 3), "sequential_1_thread": round(seq1, 3),
                    "sweep_warm_cluster": round(warm, 3),
                    "sweep_end_to_end": round(cold, 3), "cluster_start": round(started, 3),
                    "cluster_stop": round(stopped, 3)},
        "members_per_minute": per_minute,
        "speedup_warm": round(seq / warm, 2),
        "speedup_end_to_end": round(seq / cold, 2),
    }
    print(json.dumps(report, indent=2))
    print(f"{args.members} members of {args.scenario} ({args.agents:,} people x {args.days} "
          f"days): sequential {per_minute['sequential']}/min ({threads} numba threads), "
          f"{per_minute['sequential_1_thread']}/min (1 thread), sweep on {args.workers} workers "
          f"{per_minute['sweep_warm_cluster']}/min on a running cluster, "
          f"{per_minute['sweep_end_to_end']}/min end to end", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
