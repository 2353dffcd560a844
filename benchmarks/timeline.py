"""What a timeline costs: the same scenario with and without one, same seed and size.

    python benchmarks/timeline.py                  # 100,000 people; best of 3
    python benchmarks/timeline.py --agents 20000 --repeat 5

Two cases, one per backend:

- `reference` on the day loop (365 days): from day 120 jaywalking 10% more often and
  late payment 10% less (a clock layer that adds events, one that thins them), and
  from day 200 the street cameras' capture probability ramped up over 60 days;
- `china-list` on the person backend (4,110 days): flights 10% more often from day
  1,000, repayment 20% faster from day 2,000, defaults 10% rarer from day 3,000.

The changes are small so that both runs do about the same work: the ratio is the
machinery's cost, and the events per second are given too. Runs are in one process
after a warm-up (numba's cache filled), the best of --repeat; numba holds one thread
unless --threads says otherwise, so the machine's other work moves the figures less.
Each run is timed twice: wall clock and the process's CPU time (user + sys, all
threads), which a shared machine's other work moves much less; the ratio is the CPU
time's (`--clock wall` for the wall clock's). The changes add events (the policy's own
effect, not the machinery's), so the time per event's ratio is printed too.
"""

from __future__ import annotations

import argparse
import os
import time

CASES = {
    "reference": ("day", 365, [
        {"day": 120, "set": {"behaviours.jaywalking.rate": 0.0275,
                             "behaviours.late_payment.rate": 0.005}},
        {"day": 200, "ramp_days": 60,
         "set": {"channels.street_camera.capture_probability": 0.35}},
    ]),
    "china-list": ("person", 4110, [
        {"day": 1000, "set": {"behaviours.flight_purchase.rate": 0.00176}},
        {"day": 2000, "set": {"sanctions.dishonest_list.repayment_rate": 0.0003}},
        {"day": 3000, "set": {"behaviours.court_judgment_default.rate": 3.6e-6}},
    ]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--case", choices=sorted(CASES), action="append",
                    help="only this case (repeatable; default: both)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="which time the best run and the ratio are taken on")
    args = ap.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    import scoresim  # noqa: PLC0415 (after NUMBA_NUM_THREADS is set)

    clock = 0 if args.clock == "cpu" else 1
    print(f"| scenario | backend | people x days | without (s, {args.clock}) | "
          f"with (s, {args.clock}) | ratio | other clock's ratio | events without / with | "
          "ratio per event |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in args.case or list(CASES):
        backend, days, timeline = CASES[name]

        def once(tl, name=name, backend=backend, days=days):
            sets = {"timeline": tl} if tl else {}
            c0, t0 = time.process_time(), time.perf_counter()
            r = scoresim.run(name, agents=args.agents, days=days, records="none",
                             backend=backend, set=sets)
            return (time.process_time() - c0, time.perf_counter() - t0), r.manifest["n_events"]

        once(None), once(timeline)  # warm-up: numba's cache, the society's first build
        inf = (float("inf"), float("inf"))
        best = {False: (inf, 0), True: (inf, 0)}
        for _ in range(args.repeat):
            for timed in (False, True):  # interleaved, so drifts of the machine hit both
                t, n = once(timeline if timed else None)
                if t[clock] < best[timed][0][clock]:
                    best[timed] = (t, n)
        (t0, n0), (t1, n1) = best[False], best[True]
        print(f"| {name} | {backend} | {args.agents:,} x {days:,} | {t0[clock]:.3f} | "
              f"{t1[clock]:.3f} | {t1[clock] / t0[clock]:.3f} | "
              f"{t1[1 - clock] / t0[1 - clock]:.3f} | {n0:,} / {n1:,} | "
              f"{(t1[clock] / n1) / (t0[clock] / n0):.3f} |", flush=True)


if __name__ == "__main__":
    main()
