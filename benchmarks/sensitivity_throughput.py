"""Members per minute: a batched sensitivity study against a plain loop over `scoresim.run`.

The loop is what a user would write without `scoresim sensitivity`: for each
member (a parameter set and a seed), `scoresim.run(scenario, seed=, set=, records="none")`
in one process, numba's threads on all cores, reading the same outputs off
its Results. The study runs the same members (its own Morris design, whose
rows and seeds the loop then replays) as batches of members on a two-worker
LocalCluster, one numba thread per worker, each worker building a society
once per seed (studies/batch.py). Both sides keep no credit file (the study
needs none; the loop is given records="none" so that the ratio is not the
cost of writing records).

Compilation is excluded on both sides (a warm-up run here and a warm-up
study on the cluster). The loop runs twice, before and after the study, and
its mean is the baseline, so a change of load during the run shows as the
gap between the two. The outputs of every member are compared between the
two sides (they must be equal). The load average before and after is printed:
the machine is shared, and every figure depends on it.

Run: `python benchmarks/sensitivity_throughput.py --agents 20000 --days 90 --trajectories 4`
(4 trajectories x 4 rows x 2 seeds = 32 members) prints one JSON object and a summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import scoresim
from scoresim.studies.cluster import local_cluster
from scoresim.studies.sensitivity import sensitivity

PARAMS = ["responses.chilling.value_points=10:50",
          "channels.online_monitoring.record_probability=0.2:0.8",
          "behaviours.posting_online.rate=0.02:0.08"]
OUTPUTS = ["n_media_suspended", "n_wrongly_banned", "total_speech_events"]


def loop(scenario: str, agents: int, days: int, members: pd.DataFrame) -> tuple[float, list]:
    paths = [p.split("=")[0] for p in PARAMS]
    values = []
    t0 = time.perf_counter()
    for rec in members.to_dict("records"):
        sets = {p: rec[p] for p in paths}
        r = scoresim.run(scenario, agents=agents, days=days, seed=int(rec["seed"]),
                         records="none", set=sets)
        ts, s = r.timeseries, r.summary()
        values.append((ts["n_media_suspended"].iloc[-1], ts["n_wrongly_banned"].iloc[-1],
                       s["total_speech_events"]))
    return time.perf_counter() - t0, values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="pilot-city")
    parser.add_argument("--agents", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--trajectories", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    from distributed import Client

    t_cluster = time.perf_counter()
    cluster = local_cluster(args.workers)
    client = Client(cluster)
    t_cluster = time.perf_counter() - t_cluster
    try:
        with tempfile.TemporaryDirectory() as tmp:
            common = dict(method="morris", seeds=args.seeds, scheduler=client,
                          agents=args.agents, days=args.days)
            # warm-up: kernels loaded in this process and on every worker
            scoresim.run(args.scenario, agents=2_000, days=5, records="none")
            sensitivity(args.scenario, PARAMS, OUTPUTS, samples=2, out=Path(tmp) / "warm",
                        **{**common, "agents": 2_000, "days": 5})
            study_out = Path(tmp) / "study"
            t0 = time.perf_counter()
            sensitivity(args.scenario, PARAMS, OUTPUTS, samples=args.trajectories,
                        out=study_out, **common)
            t_study = time.perf_counter() - t0
            members = pd.read_parquet(study_out / "runs.parquet")
            t_loop_1, values = loop(args.scenario, args.agents, args.days, members)
            # the study again into a new folder, then the loop again: load drifts
            t0 = time.perf_counter()
            sensitivity(args.scenario, PARAMS, OUTPUTS, samples=args.trajectories,
                        out=Path(tmp) / "study2", **common)
            t_study_2 = time.perf_counter() - t0
            t_loop_2, _ = loop(args.scenario, args.agents, args.days, members)
        study_values = list(members[OUTPUTS].itertuples(index=False, name=None))
        same = [tuple(map(float, a)) == tuple(map(float, b))
                for a, b in zip(values, study_values, strict=True)]
    finally:
        client.close()
        cluster.close()
    n = len(members)
    loop_s = (t_loop_1 + t_loop_2) / 2
    study_s = (t_study + t_study_2) / 2
    out = {
        "scenario": args.scenario, "agents": args.agents, "days": args.days,
        "members": n, "workers": args.workers, "cores": os.cpu_count(),
        "loop_seconds": [round(t_loop_1, 2), round(t_loop_2, 2)],
        "study_seconds": [round(t_study, 2), round(t_study_2, 2)],
        "cluster_start_seconds": round(t_cluster, 2),
        "loop_members_per_minute": round(60 * n / loop_s, 1),
        "study_members_per_minute": round(60 * n / study_s, 1),
        "ratio": round(loop_s / study_s, 3),
        "outputs_equal": all(same),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "scoresim": scoresim.__version__,
    }
    print(json.dumps(out))
    print(f"{n} members of {args.scenario} at {args.agents:,} x {args.days} days: loop "
          f"{out['loop_members_per_minute']}/min, batched study "
          f"{out['study_members_per_minute']}/min, ratio {out['ratio']}x (outputs equal: "
          f"{out['outputs_equal']}; load {out['load_before'][0]} -> {out['load_after'][0]})")
    return 0 if out["outputs_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
