"""The least an event-driven engine can spend on the reference model's clocks.

Issue 3 asks for 20 times the dense baseline's throughput. At 10 million people
x 365 days the baseline takes about a minute, so 20 times means the whole
`scoresim run` command in about 3 seconds, interpreter, imports and output
included. This script measures how much of that the clocks alone would take,
with nothing else done per event: no observation, no score, no status.

Each (person, behaviour) pair draws its first event day and then one geometric
gap per event (one counter-based hash and one logarithm, scoresim.model.random) until
the horizon; the only work per event is a count per day. It runs four ways:

- every act, the next draw keyed by the day (as scoresim keys it, so that
  both backends draw the same numbers): each draw waits for the one before,
  since its counter is the day that draw produced;
- every act, keyed by the pair's event number: the draws no longer wait for
  each other, and the processor overlaps them;
- the same two, for the acts that leave a record only (a thinned process:
  acts no channel records, the majority, drawn not one by one but counted
  in aggregate). That is the least any exact engine must draw one by one.

    python benchmarks/event_floor.py --agents 1e7 [--threads 2]

prints the events, wall seconds and CPU nanoseconds per event for each, and
the whole-command time each floor implies against the dense baseline.
"""

from __future__ import annotations

import argparse
import json
import time

import numba as nb
import numpy as np

from scoresim.model.random import geometric_skip, uniform

# docs/reference-model.md: rate per day, and the probability that an act becomes a
# record (capture x (TMR + mean FMR) for the two camera channels)
RATES = np.array([1 / 30, 1 / 60, 1 / 180, 1 / 40, 1 / 90, 1 / 365, 1 / 100_000])
RECORDED = np.array([0.8, 0.1, 1.0, 0.3 * 0.9028, 0.2 * 0.9028, 0.5, 1.0])


@nb.njit(parallel=True, cache=True)
def _clocks(n, days, log_q, by_event, threads):
    counts = np.zeros((threads, days), np.int64)
    per = (n + threads - 1) // threads
    for t in nb.prange(threads):
        c = counts[t]
        for i in range(t * per, min(n, (t + 1) * per)):
            for b in range(log_q.shape[0]):
                key = np.uint64(b + 1)
                d = geometric_skip(uniform(key, np.uint64(i), np.uint64(0)), log_q[b])
                k = 1
                while d < days:
                    c[d] += 1
                    ctr = np.uint64(k) if by_event else np.uint64(d + 1)
                    d += 1 + geometric_skip(uniform(key, np.uint64(i), ctr), log_q[b])
                    k += 1
    return counts.sum(axis=0)


def measure(agents: int, days: int, threads: int) -> list[dict]:
    nb.set_num_threads(threads)
    rows = []
    for acts, rates in (("every act", RATES), ("acts that leave a record", RATES * RECORDED)):
        log_q = np.log1p(-rates)
        for by_event in (False, True):
            _clocks(1_000, days, log_q, by_event, threads)  # compile or load
            t0 = time.perf_counter()
            events = int(_clocks(agents, days, log_q, by_event, threads).sum())
            wall = time.perf_counter() - t0
            rows.append({"acts": acts, "counter": "event number" if by_event else "day",
                         "events": events, "wall_s": round(wall, 3),
                         "cpu_ns_per_event": round(wall * threads / events * 1e9, 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=float, default=1e7)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--threads", type=int, default=nb.config.NUMBA_NUM_THREADS)
    ap.add_argument("--dense-s", type=float, default=None,
                    help="the dense baseline's seconds at this size (to print the ratios)")
    ap.add_argument("--fixed-s", type=float, default=None,
                    help="the whole command's seconds outside the day loop (start, imports, "
                         "build, output)")
    args = ap.parse_args()
    rows = measure(int(args.agents), args.days, args.threads)
    print(f"| acts | counter | events | wall s ({args.threads} threads) | CPU ns per event |"
          + (" whole command at least | dense / that |" if args.dense_s and args.fixed_s else ""))
    print("|---|---|---|---|---|" + ("---|---|" if args.dense_s and args.fixed_s else ""))
    for r in rows:
        line = (f"| {r['acts']} | {r['counter']} | {r['events']:,} | {r['wall_s']:.2f} | "
                f"{r['cpu_ns_per_event']:.1f} |")
        if args.dense_s and args.fixed_s:
            floor = args.fixed_s + r["wall_s"]
            line += f" {floor:.1f} s | {args.dense_s / floor:.1f}x |"
        print(line)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
