"""The same commands on two versions of scoresim, interleaved, in one run: is the change slower?

    python benchmarks/compare_commits.py BASE [--repeat 3] [--quick]

BASE is a git revision (say HEAD~1, or main before a refactor). It is checked
out into a temporary worktree; the working tree is the other side. Each case
is the whole command a user types (`python -m scoresim run ...` as a child
process, PYTHONPATH pointing at one side's src/), run once per side to fill
numba's cache, then `--repeat` times per side in alternation (A B A B ...), so
that a machine whose speed drifts (a shared one) drifts for both sides alike.
Reported per case: the median wall and CPU seconds of each side and their
ratio (this tree / BASE); below 1 is faster. The cases are issue 15's:
reference at 10 million people for a year on both backends, pilot-city at a
million.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "reference 10M, person": ["reference", "--agents", "10000000", "--backend", "person"],
    "reference 10M, day": ["reference", "--agents", "10000000", "--backend", "day"],
    "pilot-city 1M, day": ["pilot-city", "--agents", "1000000", "--backend", "day"],
}
QUICK = {
    "reference 1M, person": ["reference", "--agents", "1000000", "--backend", "person"],
    "reference 1M, day": ["reference", "--agents", "1000000", "--backend", "day"],
    "pilot-city 100k, day": ["pilot-city", "--agents", "100000", "--backend", "day"],
}


def run_case(src: Path, args: list[str], scratch: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one whole command against the sources in `src`."""
    out = scratch / f"run-{time.monotonic_ns()}"
    env = dict(os.environ, PYTHONPATH=str(src), SCORESIM_REGISTRY="none")
    cmd = [sys.executable, "-m", "scoresim", "run", *args, "--days", "365", "--records",
           "none", "--seed", "1", "-q", "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    shutil.rmtree(out, ignore_errors=True)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base", help="the git revision to compare the working tree with")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    a = p.parse_args()
    cases = QUICK if a.quick else CASES
    with tempfile.TemporaryDirectory(prefix="scoresim-compare-") as tmp:
        tmp = Path(tmp)
        base_tree = tmp / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                        str(base_tree), a.base], check=True)
        try:
            sides = {"base": base_tree / "src", "this": ROOT / "src"}
            commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", a.base],
                                    capture_output=True, text=True).stdout.strip()
            print(f"base {a.base} ({commit}) against the working tree; {a.repeat} runs each, "
                  f"interleaved; {os.cpu_count()} cores\n")
            print("| case | base wall s | this wall s | wall ratio | base CPU s | this CPU s "
                  "| CPU ratio |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for name, args in cases.items():
                for src in sides.values():  # fill numba's cache for both sides
                    run_case(src, [args[0], "--agents", "2000", *args[3:]], tmp)
                times: dict[str, list[tuple[float, float]]] = {"base": [], "this": []}
                for _ in range(a.repeat):
                    for side, src in sides.items():
                        times[side].append(run_case(src, args, tmp))
                med = {s: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
                       for s, t in times.items()}
                (bw, bc), (tw, tc) = med["base"], med["this"]
                print(f"| {name} | {bw:.2f} | {tw:.2f} | {tw / bw:.3f} | {bc:.2f} | {tc:.2f} "
                      f"| {tc / bc:.3f} |", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(base_tree)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
