"""Issue 3's benchmarks in one command: throughput, memory, the dense baseline, scaling with events.

    python benchmarks/run_benchmarks.py [--sizes 1e5,1e6,1e7] [--days 365] [--quick] [--huge]

Everything scoresim is measured on is the whole command a user types,
`scoresim run reference --agents N --days D --records none --quiet --out TMP`,
run as a child process: interpreter start, imports, building the society, the
day loop and writing the run folder. Numba's compile is kept out by a tiny
warm-up run of each scenario first, which fills numba's on-disk cache; the
warm-up's own time is reported separately.

Peak memory is each child's own peak resident set, from os.wait4's rusage
(exact, no polling); a psutil watchdog only kills a child that grows past
--max-rss-gib, so a bad change cannot take the shared machine down.

The dense baseline (benchmarks/dense_baseline.py, one draw per person,
behaviour and day) costs the same every day, so it is measured on --dense-days
days and its whole-command time extrapolated to --days: process time outside
its day loop, plus its measured loop time scaled by days / dense-days.

A CPU-speed probe (a fixed single-threaded NumPy workload, the idea of
Covasim's normalised benchmark.json) is timed first, so throughputs can be
compared across machines as agent-days per probe: agent-days/s x probe seconds.

Results are printed as Markdown tables (ready for BENCHMARKS.md) and written as
JSON to benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import yaml

HERE = Path(__file__).resolve().parent
DENSE = HERE / "dense_baseline.py"
RESULTS = HERE / "results" / "latest.json"
# phase columns, in this order where present (the manifest's timings; the person backend
# has build, lives, false_matches and metrics, the day loop the rest)
PHASES = ("build", "lives", "false_matches", "behaviour", "observation", "credit_file",
          "scoring", "sanctions", "metrics")
MIB = 2**20
GIB = 2**30

# issue 3, on the 2-core 24 GiB development machine
TARGET_10M_SECONDS = 15.0
TARGET_RATE = 2.5e8  # agent-days per second, whole command
TARGET_DENSE_RATIO = 20.0
TARGET_BYTES_PER_PERSON = 64.0
TARGET_100M_SECONDS = 180.0
TARGET_100M_PEAK = 8 * GIB
TARGET_PILOT_RATIO = 3.0
TARGET_HALVED_RATIO = 0.6  # our reading of "nearly halve": at most 60% of the full time


@dataclass
class ChildRun:
    """One child process: its wall time, its own peak RSS, how it ended."""

    wall: float
    cpu: float  # user + system seconds of the child (less sensitive to other load than wall)
    peak_rss: int  # bytes
    returncode: int
    stdout: str
    stderr: str
    killed_for_memory: bool = False


def measure(cmd: list[str], max_rss: int, env: dict[str, str] | None = None) -> ChildRun:
    """Run `cmd` to completion; peak RSS is the child's own (wait4), not the sum of everyone's."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        watched = psutil.Process(proc.pid)
        done = threading.Event()
        killed = threading.Event()

        def watchdog() -> None:
            while not done.wait(0.1):
                try:
                    if watched.memory_info().rss > max_rss:
                        killed.set()
                        watched.kill()
                        return
                except psutil.Error:
                    return

        thread = threading.Thread(target=watchdog, daemon=True)
        thread.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        thread.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return ChildRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024,
                        proc.returncode, out.read(), err.read(), killed.is_set())


def scoresim_command() -> list[str]:
    """The installed `scoresim` script next to this interpreter (not a pyenv/conda shim)."""
    beside = Path(sys.executable).parent / "scoresim"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("scoresim")
    if found:
        return [found]
    return [sys.executable, "-c", "from scoresim.cli import app; app()"]


def yaml_float(x: float) -> str:
    """A float PyYAML reads back as a float (it wants a dot before an exponent)."""
    s = repr(float(x))
    if "e" in s and "." not in s.split("e")[0]:
        s = s.replace("e", ".0e")
    return s


def halved_rate_sets(scenario: str) -> list[str]:
    """`--set behaviours.<b>.rate=<half>` for every behaviour, read from `scoresim show`."""
    shown = subprocess.run(scoresim_command() + ["show", scenario], check=True,
                           capture_output=True, text=True).stdout
    behaviours = yaml.safe_load(shown)["behaviours"]
    return [f"behaviours.{name}.rate={yaml_float(b['rate'] / 2)}" for name, b in behaviours.items()]


class Bench:
    """Runs the children and keeps what they measured."""

    def __init__(self, args: argparse.Namespace, scratch: Path):
        self.args = args
        self.scratch = scratch
        self.max_rss = int(args.max_rss_gib * GIB)
        self.k = 0
        # numba says on stdout when it compiles and saves a kernel: a run that did is redone
        self.numba_env = dict(os.environ, NUMBA_DEBUG_CACHE="1")
        if args.numba_threads:
            self.numba_env["NUMBA_NUM_THREADS"] = str(args.numba_threads)

    def log(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    def engine(self, scenario: str, n: int, days: int, sets: list[str] | None = None,
               label: str = "", redo_if_compiled: bool = True, repeat: int | None = None,
               backend: str | None = None, records: str = "none") -> dict[str, Any]:
        """Whole-command figures of one `scoresim run`, best wall of --repeat runs."""
        runs = []
        for _ in range(repeat or self.args.repeat):
            self.k += 1
            out = self.scratch / f"run-{self.k}"
            cmd = scoresim_command() + [
                "run", scenario, "--agents", str(n), "--days", str(days),
                "--seed", str(self.args.seed), "--records", records, "--quiet", "--out", str(out),
            ]
            for s in sets or []:
                cmd += ["--set", s]
            if backend:
                cmd += ["--backend", backend]
            self.log(f"scoresim run {scenario} {label}{n:,} people x {days} days"
                     + (f" (--backend {backend})" if backend else ""))
            child = measure(cmd, self.max_rss, self.numba_env)
            compiled = child.stdout.count("[cache] data saved")
            if compiled and child.returncode == 0 and redo_if_compiled:
                # a kernel's source changed since the warm-up (someone is editing src/):
                # this run paid for compiling, so run it again on the now-warm cache
                self.log(f"  it compiled {compiled} kernel(s); running it again")
                shutil.rmtree(out, ignore_errors=True)
                child = measure(cmd, self.max_rss, self.numba_env)
                compiled = child.stdout.count("[cache] data saved")
            if child.returncode != 0:
                why = ("killed: RSS over --max-rss-gib" if child.killed_for_memory
                       else child.stderr.strip()[-2000:])
                raise RuntimeError(f"scoresim run {scenario} --agents {n} failed "
                                   f"(exit {child.returncode}): {why}")
            manifest = json.loads((out / "manifest.json").read_text())
            shutil.rmtree(out, ignore_errors=True)
            timings = manifest["timings"]
            inside = sum(timings.values())
            runs.append({
                "scenario": scenario, "agents": n, "days": days, "sets": sets or [],
                "records": records,
                "backend": manifest.get("backend", "day"),
                "wall_seconds": child.wall,
                "cpu_seconds": child.cpu,
                "compiled_kernels": compiled,
                "agent_days_per_second": n * days / child.wall,
                "peak_rss_bytes": child.peak_rss,
                "timings": timings,
                "day_loop_seconds": inside - timings.get("build", 0.0),
                "outside_simulation_seconds": child.wall - inside,
                "n_events": manifest.get("n_events"),
                "state_bytes": sum(manifest.get("memory_bytes", {}).values()),
                "memory_bytes": manifest.get("memory_bytes", {}),
            })
        best = min(runs, key=lambda row: row["wall_seconds"])
        best["peak_rss_bytes"] = max(row["peak_rss_bytes"] for row in runs)
        return best

    def dense(self, n: int, days: int) -> dict[str, Any]:
        """The dense baseline on min(days, --dense-days) days, extrapolated to `days`."""
        measured_days = min(days, self.args.dense_days)
        cmd = [sys.executable, str(DENSE), "--agents", str(n), "--days", str(measured_days),
               "--seed", str(self.args.seed)]
        runs = []
        for _ in range(self.args.repeat):
            self.log(f"dense baseline {n:,} people x {measured_days} days")
            child = measure(cmd, self.max_rss)
            if child.returncode != 0:
                raise RuntimeError(f"dense baseline --agents {n} failed: {child.stderr[-2000:]}")
            report = json.loads(child.stdout)
            loop = report["loop_seconds"]
            scale = days / measured_days
            # single-threaded: its loop's CPU time is its wall time times the share of a
            # core it got, which the whole process's cpu / wall estimates
            share = child.cpu / child.wall
            estimated = child.wall - loop + loop * scale
            runs.append({
                "agents": n, "days": days, "measured_days": measured_days,
                "measured_wall_seconds": child.wall, "measured_cpu_seconds": child.cpu,
                "loop_seconds": loop, "setup_seconds": report["setup_seconds"],
                "estimated_wall_seconds": estimated,
                "estimated_cpu_seconds": child.cpu + loop * share * (scale - 1),
                "agent_days_per_second": n * days / estimated,
                "peak_rss_bytes": child.peak_rss,
            })
        best = min(runs, key=lambda row: row["estimated_wall_seconds"])
        best["peak_rss_bytes"] = max(row["peak_rss_bytes"] for row in runs)
        return best


def machine(args: argparse.Namespace) -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": psutil.virtual_memory().total,
        "load_average_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba_num_threads": str(args.numba_threads) if args.numba_threads
        else os.environ.get("NUMBA_NUM_THREADS", "default (all cores)"),
        "platform": platform.platform(),
    }


def cpu_probe(repeats: int = 5) -> float:
    """Seconds for a fixed single-threaded NumPy workload (best of `repeats`)."""
    rng = np.random.default_rng(0)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(10):
            a = rng.random(1_000_000)
            b = rng.random(1_000_000)
            float((a * b).sum())
        best = min(best, time.perf_counter() - t0)
    return best


def parse_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not value >= 2 or value != int(value):
            raise argparse.ArgumentTypeError(f"{part!r} is not a whole number >= 2")
        sizes.append(int(value))
    return sorted(set(sizes))


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "machine": machine(args),
        "days": args.days,
        "dense_days": args.dense_days,
        "seed": args.seed,
        "repeat": args.repeat,
    }
    probe = cpu_probe()
    result["cpu_probe_seconds"] = probe
    with tempfile.TemporaryDirectory(prefix="scoresim-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        warm = {}
        for scenario, backend in (("reference", None), ("reference", "day"), ("pilot-city", None)):
            bench.log(f"warm-up {scenario} (fills numba's cache)")
            t0 = time.perf_counter()
            bench.engine(scenario, 2_000, 10, redo_if_compiled=False, repeat=1, backend=backend)
            warm[scenario + (f" ({backend})" if backend else "")] = time.perf_counter() - t0
        result["warm_up_seconds"] = warm

        rows, dense_rows = [], []
        for n in args.sizes:
            rows.append(bench.engine("reference", n, args.days))
            if not args.no_dense:
                dense_rows.append(bench.dense(n, args.days))
        result["reference"] = rows
        result["dense"] = dense_rows
        # the day-by-day engine on the same runs (--backend day), for comparison
        day_rows = [] if args.no_day else [bench.engine("reference", n, args.days,
                                                        backend="day") for n in args.sizes]
        result["reference_day"] = day_rows
        for table in (rows, day_rows):
            for row, d in zip(table, dense_rows, strict=False):
                row["dense_ratio"] = row["agent_days_per_second"] / d["agent_days_per_second"]
                row["dense_cpu_ratio"] = d["estimated_cpu_seconds"] / row["cpu_seconds"]
                row["agent_days_per_probe"] = row["agent_days_per_second"] * probe
        for d in dense_rows:
            d["agent_days_per_probe"] = d["agent_days_per_second"] * probe

        if len(rows) >= 2:
            # issue 3 judges the growth from 1M to 10M people; other sizes where those are absent
            sized = {row["agents"]: row for row in rows}
            lo, hi = ((sized[1_000_000], sized[10_000_000])
                      if 1_000_000 in sized and 10_000_000 in sized else (rows[0], rows[-1]))
            result["bytes_per_person"] = {
                "from": lo["agents"], "to": hi["agents"],
                "value": (hi["peak_rss_bytes"] - lo["peak_rss_bytes"])
                / (hi["agents"] - lo["agents"]),
                "engine_state_bytes_per_person": hi["state_bytes"] / hi["agents"],
            }
        by_size = {r["agents"]: r for r in rows}
        side = args.side_size or args.sizes[-1]
        base = by_size.get(side) or bench.engine("reference", side, args.days)

        if not args.no_halved:
            at = args.halved_size or args.sizes[-1]
            full = by_size.get(at) or bench.engine("reference", at, args.days)
            half = bench.engine("reference", at, args.days, halved_rate_sets("reference"),
                                label="(rates halved) ")
            base_side, base = base, full
            result["halved"] = {
                "agents": at, "full": base, "halved": half,
                "day_loop_ratio": half["day_loop_seconds"] / base["day_loop_seconds"],
                "wall_ratio": half["wall_seconds"] / base["wall_seconds"],
                "cpu_ratio": half["cpu_seconds"] / base["cpu_seconds"],
                "events_ratio": half["n_events"] / base["n_events"],
            }
            base = base_side
        if not args.no_pilot:
            pilot = bench.engine("pilot-city", side, args.days)
            base_day = {r["agents"]: r for r in day_rows}.get(side)
            result["pilot_city"] = {
                "agents": side, "run": pilot,
                "slowdown": pilot["wall_seconds"] / base["wall_seconds"],
                "cpu_slowdown": pilot["cpu_seconds"] / base["cpu_seconds"],
                # like for like: both on the day-by-day engine (pilot-city can run on no other)
                "slowdown_same_engine": (pilot["wall_seconds"] / base_day["wall_seconds"]
                                         if base_day else None),
            }
        if args.huge:
            result["huge"] = bench.engine("reference", 100_000_000, args.days, repeat=1)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    result["targets"] = targets(result, args)
    return result


def targets(r: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Issue 3's targets, each with what was measured and whether this run can judge it."""
    out: list[dict[str, Any]] = []
    full_year = args.days == 365

    def add(name: str, required: str, measured: str, met: bool | None, note: str = "") -> None:
        out.append({"target": name, "required": required, "measured": measured,
                    "met": met, "note": note})

    by_size = {row["agents"]: row for row in r["reference"]}
    ten = by_size.get(10_000_000)
    if ten and full_year:
        add("reference 10M x 365, whole command", f"< {TARGET_10M_SECONDS:.0f} s",
            f"{ten['wall_seconds']:.1f} s", ten["wall_seconds"] < TARGET_10M_SECONDS)
    else:
        add("reference 10M x 365, whole command", f"< {TARGET_10M_SECONDS:.0f} s",
            "not run", None, "needs --sizes with 1e7 and --days 365")
    largest = r["reference"][-1]
    judged = largest["agents"] == 10_000_000
    add("throughput, whole command", f">= {TARGET_RATE:.2g} agent-days/s",
        f"{largest['agent_days_per_second']:.3g} at {largest['agents']:,}",
        largest["agent_days_per_second"] >= TARGET_RATE if judged else None,
        "" if judged else "judged at 10M; shown at the largest size run")
    if "dense_ratio" in largest:
        add("scoresim / dense baseline", f">= {TARGET_DENSE_RATIO:.0f}x",
            f"{largest['dense_ratio']:.2f}x at {largest['agents']:,}",
            largest["dense_ratio"] >= TARGET_DENSE_RATIO if judged else None,
            "" if judged else "judged at 10M; shown at the largest size run")
    bpp = r.get("bytes_per_person")
    if bpp:
        exact = bpp["from"] == 1_000_000 and bpp["to"] == 10_000_000
        add("memory per person (peak RSS growth)", f"<= {TARGET_BYTES_PER_PERSON:.0f} B",
            f"{bpp['value']:.1f} B ({bpp['from']:,} to {bpp['to']:,})",
            bpp["value"] <= TARGET_BYTES_PER_PERSON if exact else None,
            "" if exact else "judged from 1M to 10M")
    huge = r.get("huge")
    if huge and full_year:
        add("reference 100M x 365, peak", "< 8 GiB", f"{huge['peak_rss_bytes'] / GIB:.2f} GiB",
            huge["peak_rss_bytes"] < TARGET_100M_PEAK)
        add("reference 100M x 365, wall", f"< {TARGET_100M_SECONDS:.0f} s",
            f"{huge['wall_seconds']:.0f} s", huge["wall_seconds"] < TARGET_100M_SECONDS)
    else:
        add("reference 100M x 365", "peak < 8 GiB, wall < 180 s", "not run", None,
            "needs --huge")
    pilot = r.get("pilot_city")
    if pilot:
        add("pilot-city vs reference, same size", f"<= {TARGET_PILOT_RATIO:.0f}x the time",
            f"{pilot['slowdown']:.2f}x at {pilot['agents']:,}",
            pilot["slowdown"] <= TARGET_PILOT_RATIO,
            f"pilot-city on {pilot['run']['backend']}, reference on "
            f"{r['reference'][-1]['backend']}")
        if pilot.get("slowdown_same_engine"):
            add("pilot-city vs reference, both on the day engine",
                f"<= {TARGET_PILOT_RATIO:.0f}x the time",
                f"{pilot['slowdown_same_engine']:.2f}x at {pilot['agents']:,}",
                pilot["slowdown_same_engine"] <= TARGET_PILOT_RATIO, "like for like")
    half = r.get("halved")
    if half:
        add("every rate halved: day-loop time", f"<= {TARGET_HALVED_RATIO:.0%} of full",
            f"{half['day_loop_ratio']:.0%} (whole command {half['wall_ratio']:.0%}) "
            f"at {half['agents']:,}", half["day_loop_ratio"] <= TARGET_HALVED_RATIO)
    return out


# printing ------------------------------------------------------------------------------------
def _si(x: float) -> str:
    return f"{x:.3g}" if x < 1e3 else f"{x:.3e}".replace("e+0", "e").replace("e+", "e")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _reference_table(r: dict[str, Any], table: list[dict[str, Any]]) -> str:
    phases = [p for p in PHASES if any(row["timings"].get(p, 0.0) > 0 for row in table)]
    header = ["people", "wall s", "cpu s", "agent-days/s", "per probe", "peak RSS MiB",
              *phases, "outside sim"]
    rows = []
    for row in table:
        t = row["timings"]
        rows.append([f"{row['agents']:,}", f"{row['wall_seconds']:.2f}",
                     f"{row['cpu_seconds']:.2f}", _si(row["agent_days_per_second"]),
                     _si(row["agent_days_per_second"] * r["cpu_probe_seconds"]),
                     f"{row['peak_rss_bytes'] / MIB:,.0f}"]
                    + [f"{t.get(p, 0.0):.2f}" for p in phases]
                    + [f"{row['outside_simulation_seconds']:.2f}"])
    return _table(header, rows)


def report(r: dict[str, Any]) -> str:
    m = r["machine"]
    parts = [
        f"## scoresim benchmarks ({r['when']})",
        f"Command: `{r['command']}`",
        f"Machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} CPUs, "
        f"{m['memory_bytes'] / GIB:.1f} GiB; Python {m['python']}, NumPy {m['numpy']}, "
        f"numba threads {m['numba_num_threads']}; "
        f"load average {m['load_average_at_start'][0]:.2f} at start, "
        f"{m['load_average_at_end'][0]:.2f} at end.",
        f"CPU-speed probe: {r['cpu_probe_seconds']:.3f} s (10 x two 1e6 uniform draws and "
        f"a product, single thread, best of 5; normalised throughput = agent-days/s x probe s).",
        *(["**Other work was running** (load average above 0.5 before this started): wall "
            "times are inflated and noisy; the cpu columns are steadier."]
          if m["load_average_at_start"][0] > 0.5 else []),
        "Warm-up (fills numba's cache, excluded below): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in r["warm_up_seconds"].items()) + ".",
    ]
    for key, title in (("reference", "the default backend (auto)"),
                       ("reference_day", "the day-by-day engine (--backend day)")):
        if not r.get(key):
            continue
        backends = sorted({row["backend"] for row in r[key]})
        parts += ["", f"### reference, whole command, {r['days']} days, records off: {title}, "
                  f"ran as {', '.join(backends)}", _reference_table(r, r[key])]
    parts.append("Phase columns are seconds from the run folder's manifest.json; "
                 "'outside sim' is the rest of the whole command (interpreter start, imports, "
                 "writing the run folder); 'cpu s' is the child's user + system time (with "
                 f"{r['machine']['usable_cpus']} cores, wall x cores bounds it).")
    if r["dense"]:
        parts += ["", "### dense NumPy baseline (one draw per person, behaviour and day)"]
        rows = []
        day_rows = r.get("reference_day") or [{}] * len(r["dense"])
        for row, day, d in zip(r["reference"], day_rows, r["dense"], strict=False):
            rows.append([f"{d['agents']:,}", str(d["measured_days"]),
                         f"{d['measured_wall_seconds']:.2f}",
                         f"{d['estimated_wall_seconds']:.1f}",
                         f"{d['estimated_cpu_seconds']:.1f}",
                         _si(d["agent_days_per_second"]), f"{d['peak_rss_bytes'] / MIB:,.0f}",
                         f"{row['dense_ratio']:.2f}x", f"{row['dense_cpu_ratio']:.2f}x",
                         f"{day['dense_ratio']:.2f}x" if day else "-"])
        parts.append(_table(["people", "days measured", "measured wall s",
                             f"est. wall s ({r['days']} d)", "est. cpu s", "agent-days/s",
                             "peak RSS MiB", "scoresim / dense (wall)",
                             "dense cpu / scoresim cpu", "day engine / dense (wall)"], rows))
        parts.append(f"The dense baseline ran {r['dense_days']} days (fewer if --days is "
                     f"smaller); its day loop was scaled per agent-day to {r['days']} days and "
                     "its time outside the loop (start, imports, setup) added once.")
    bpp = r.get("bytes_per_person")
    if bpp:
        parts += ["", f"Memory: peak RSS growth from {bpp['from']:,} to {bpp['to']:,} people = "
                  f"**{bpp['value']:.1f} bytes per person** (the engine's own arrays, "
                  f"manifest memory_bytes: {bpp['engine_state_bytes_per_person']:.1f} B/person)."]
    half = r.get("halved")
    if half:
        f, h = half["full"], half["halved"]
        parts += ["", f"### every behaviour rate halved ({half['agents']:,} people)",
                  _table(["run", "events", "day loop s", "build s", "wall s", "cpu s"], [
                      ["rates as given", f"{f['n_events']:,}", f"{f['day_loop_seconds']:.2f}",
                       f"{f['timings']['build']:.2f}", f"{f['wall_seconds']:.2f}",
                       f"{f['cpu_seconds']:.2f}"],
                      ["rates halved", f"{h['n_events']:,}", f"{h['day_loop_seconds']:.2f}",
                       f"{h['timings']['build']:.2f}", f"{h['wall_seconds']:.2f}",
                       f"{h['cpu_seconds']:.2f}"],
                  ]),
                  f"Day-loop ratio {half['day_loop_ratio']:.2f}, whole-command ratio "
                  f"{half['wall_ratio']:.2f}, cpu ratio {half['cpu_ratio']:.2f}, events ratio "
                  f"{half['events_ratio']:.2f}."]
    pilot = r.get("pilot_city")
    if pilot:
        p = pilot["run"]
        ref_wall = p["wall_seconds"] / pilot["slowdown"]
        parts += ["", f"### pilot-city vs reference ({pilot['agents']:,} people)",
                  f"pilot-city {p['wall_seconds']:.2f} s ({_si(p['agent_days_per_second'])} "
                  f"agent-days/s, peak {p['peak_rss_bytes'] / MIB:,.0f} MiB) vs reference "
                  f"{ref_wall:.2f} s ({pilot['run']['backend']} vs "
                  f"{r['reference'][-1]['backend']}): **{pilot['slowdown']:.2f}x** the time "
                  f"({pilot['cpu_slowdown']:.2f}x the cpu time)."]
        if pilot.get("slowdown_same_engine"):
            parts.append(f"Both on the day-by-day engine: **{pilot['slowdown_same_engine']:.2f}x** "
                         "the time.")
    huge = r.get("huge")
    if huge:
        parts += ["", f"### reference, 100,000,000 people x {huge['days']} days",
                  f"wall {huge['wall_seconds']:.1f} s, peak RSS "
                  f"{huge['peak_rss_bytes'] / GIB:.2f} GiB, "
                  f"{_si(huge['agent_days_per_second'])} agent-days/s."]
    parts += ["", "### issue 3 targets"]
    rows = [[t["target"], t["required"], t["measured"],
             {True: "yes", False: "**no**", None: "n/a"}[t["met"]], t["note"]]
            for t in r["targets"]]
    parts.append(_table(["target", "required", "measured", "met", "note"], rows))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Benchmark `scoresim run` against issue 3's targets and a dense baseline.")
    ap.add_argument("--sizes", type=parse_sizes, default=None,
                    help="people per run, comma separated (default 1e5,1e6,1e7)")
    ap.add_argument("--days", type=int, default=None, help="days per run (default 365)")
    ap.add_argument("--dense-days", type=int, default=None,
                    help="days the dense baseline is measured on (default 30)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per configuration; the fastest wall time is kept")
    ap.add_argument("--side-size", type=float, default=None,
                    help="people for the pilot-city run (default: largest size)")
    ap.add_argument("--halved-size", type=float, default=None,
                    help="people for the halved-rates run (default: largest size, where the "
                    "costs per person weigh least against those per event)")
    ap.add_argument("--numba-threads", type=int, default=None,
                    help="NUMBA_NUM_THREADS for scoresim (default: numba's, all cores); "
                    "1 gives steadier figures on a machine others are using")
    ap.add_argument("--huge", action="store_true", help="also run 100M people (needs ~8 GiB)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: sizes 2e4,1e5, 60 days, dense on 10 days")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense baseline")
    ap.add_argument("--no-halved", action="store_true", help="skip the halved-rates run")
    ap.add_argument("--no-pilot", action="store_true", help="skip the pilot-city run")
    ap.add_argument("--no-day", action="store_true",
                    help="skip the reference runs on the day-by-day engine (--backend day)")
    ap.add_argument("--max-rss-gib", type=float,
                    default=0.75 * psutil.virtual_memory().total / GIB,
                    help="kill a child whose RSS passes this (default 75%% of memory)")
    ap.add_argument("--json", type=Path, default=RESULTS,
                    help=f"where to write (default {RESULTS})")
    args = ap.parse_args(argv)
    quick = args.quick
    args.sizes = args.sizes or ([20_000, 100_000] if quick else [100_000, 1_000_000, 10_000_000])
    args.days = args.days or (60 if quick else 365)
    args.dense_days = args.dense_days or (10 if quick else 30)
    args.side_size = int(args.side_size) if args.side_size else None
    args.halved_size = int(args.halved_size) if args.halved_size else None
    if args.days < 1 or args.dense_days < 1 or args.repeat < 1:
        ap.error("--days, --dense-days and --repeat must be at least 1")
    try:
        result = run_all(args)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = report(result)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nJSON: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
