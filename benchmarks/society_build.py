"""Time building the society of the built-in `china` scenario: households, regions, traits,
ties (CSR) and firms, at a given number of people.

    PYTHONPATH=src python benchmarks/society_build.py 1000000 10000000

Each size is built once after a small warm-up build (so numba compilation is not timed).
"""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

from scoresim.model.firms import Firms
from scoresim.model.society import Society
from scoresim.model.ties import build_ties
from scoresim.scenario import load_scenario


def build(n: int, seed: int = 1) -> dict[str, float]:
    sc = load_scenario("china", {"agents": n})
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    soc = Society.build(sc.model_copy(update={"network": None}), n, seed)  # households, region
    t["households+region"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    occ = soc.trait("occupation")
    t["occupation"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    soc.ties = build_ties(seed, sc.network, soc.region, len(soc.region_names), occ,
                          len(soc.levels["occupation"]))
    t["ties"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # Firms reads only these of the World it is given
    firms = Firms(SimpleNamespace(scenario=sc, society=soc, seed=seed, days=sc.days))
    t["firms"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    deg = soc.ties.degree()
    t["mean_degree"] = float(deg.mean())
    t["bytes_per_person"] = (soc.nbytes + firms.employer.nbytes) / n
    t["firms_n"] = firms.n_firms
    return t


if __name__ == "__main__":
    build(10_000)  # compile
    for arg in sys.argv[1:] or ["1000000"]:
        n = int(float(arg))
        r = build(n)
        print(f"n={n:,}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in r.items()))
