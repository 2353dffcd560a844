"""Peak memory of a real run, measured from outside: the check of the memory guard.

The memory guard (model/guards.py) estimates a run's peak resident memory from
the scenario alone. This module measures it the way a user's machine sees it:
`scoresim run` in a fresh process, its maximum resident set size read from
`/usr/bin/time -v` where that exists, else from the kernel's accounting of the
child (os.wait4's ru_maxrss, the same number). The benchmark
(benchmarks/memory_guard.py) and the tests (tests/test_guards.py) both call
`measure_peak`, so they compare the same thing.

A first tiny run of the same scenario and backend fills numba's cache before
the measured one: a run that compiles its kernels holds the compiler's memory
(100-200 MB) at its peak, which no user sees twice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scoresim.model.backends import choose_backend
from scoresim.model.guards import estimate_memory

TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Peak:
    """One measured run beside its estimate, in bytes."""

    scenario: str
    agents: int
    days: int
    backend: str
    records: str
    measured: int
    estimated: int
    parts: dict[str, int]
    seconds: float

    @property
    def ratio(self) -> float:
        """Estimated over measured: 1.0 is exact, above errs on the safe side."""
        return self.estimated / max(self.measured, 1)


def _command(scenario: str, agents: int, days: int, backend: str, records: str,
             out: Path) -> list[str]:
    return [sys.executable, "-m", "scoresim", "run", scenario, "--agents", str(agents),
            "--days", str(days), "--backend", backend, "--records", records,
            "--out", str(out), "--registry", "none", "--quiet", "--force"]


def _max_rss(cmd: list[str], nice: int, timeout: float) -> tuple[int, float]:
    """Run `cmd` and return its maximum resident set size in bytes, and its wall time."""
    import time

    prefix = ["nice", "-n", str(nice)] if nice and shutil.which("nice") else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parents[2]),
                    os.environ.get("PYTHONPATH", "")) if p)}
    t0 = time.perf_counter()
    if Path(TIME).is_file():
        proc = subprocess.run([*prefix, TIME, "-v", *cmd], capture_output=True, text=True,
                              timeout=timeout, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        if m is None:
            raise RuntimeError(f"{TIME} -v printed no maximum resident set size")
        return int(m.group(1)) * 1024, time.perf_counter() - t0
    child = subprocess.Popen([*prefix, *cmd], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not all children's
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    factor = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return int(usage.ru_maxrss) * factor, time.perf_counter() - t0


def measure_peak(scenario: str, agents: int, days: int, *, backend: str = "auto",
                 records: str | None = None, nice: int = 10, timeout: float = 900,
                 warm: bool = True) -> Peak:
    """Measure the peak RSS of `scoresim run scenario` and put the guard's estimate beside it.

    `records` defaults to the scenario's own setting (the person backend needs
    `none`); `backend` "auto" is resolved as a run resolves it.
    """
    from scoresim.runs.simulate import resolve

    resolved = resolve(scenario, agents=agents, days=days,
                       **({"records": records} if records else {}))
    used = choose_backend(resolved, backend, None)
    records = resolved.records
    with tempfile.TemporaryDirectory(prefix="scoresim-peak-") as tmp:
        if warm:
            _max_rss(_command(scenario, 2000, min(days, 3), used, records, Path(tmp) / "warm"),
                     nice, timeout)
        measured, seconds = _max_rss(
            _command(scenario, agents, days, used, records, Path(tmp) / "run"), nice, timeout)
    estimate = estimate_memory(resolved, used)
    return Peak(scenario, agents, days, used, records, measured, estimate.total,
                dict(estimate.parts), seconds)
