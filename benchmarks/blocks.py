"""The person backend in memory against the same run in blocks (issue 23): wall, peak RSS, bytes.

    python benchmarks/blocks.py --sizes 10000000:2097152,100000000:8388608 [--repeat 2]

Each SIZE:BLOCK runs `scoresim run reference --agents SIZE --days 365 --records none`
twice per repeat, interleaved (in memory, then `--block-size BLOCK`), each in a
fresh process under `/usr/bin/time -f "%e %M"` (wall seconds, peak RSS in KiB),
after an unmeasured tiny run of each that fills numba's cache. Prints one
Markdown row per run, with the guard's estimate beside the measured peak, and
whether every output file but manifest.json is the same bytes as the run in
memory's.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from scoresim.model.guards import estimate_memory
from scoresim.runs.simulate import resolve


def digests(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.iterdir()):
        if p.name == "manifest.json":
            continue
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 24), b""):
                h.update(chunk)
        out[p.name] = h.hexdigest()
    return out


def run(agents: int, block: int | None, out: Path) -> tuple[float, float]:
    """(wall s, peak RSS MiB) of one whole command."""
    cmd = ["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "scoresim", "run",
           "reference", "--agents", str(agents), "--days", "365", "--records", "none",
           "--registry", "none", "--quiet", "--out", str(out)]
    if block is not None:
        cmd += ["--block-size", str(block)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall, kib = res.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kib) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000000:2097152")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="blocks-"))
    try:
        run(5000, None, root / "warm1")
        run(5000, 1000, root / "warm2")
        print(f"load average at start: {os.getloadavg()[0]:.2f}")
        print("| people | block | wall s | peak RSS MiB | estimate MiB | same bytes |")
        print("|---|---|---|---|---|---|")
        for spec in args.sizes.split(","):
            agents, block = (int(float(x)) for x in spec.split(":"))
            s = resolve("reference", agents=agents, days=365, records="none")
            for k in range(args.repeat):
                whole = root / f"{agents}-whole-{k}"
                wall, peak = run(agents, None, whole)
                est = estimate_memory(s, "person").total / 2**20
                expected = digests(whole)
                print(f"| {agents:,} | all | {wall:.1f} | {peak:,.0f} | {est:,.0f} | - |",
                      flush=True)
                cut = root / f"{agents}-block-{k}"
                wall, peak = run(agents, block, cut)
                est = estimate_memory(s, "person", block).total / 2**20
                same = "yes" if digests(cut) == expected else "**no**"
                print(f"| {agents:,} | {block:,} | {wall:.1f} | {peak:,.0f} | {est:,.0f} | "
                      f"{same} |", flush=True)
                shutil.rmtree(whole)
                shutil.rmtree(cut)
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
