"""A sweep member runs in a worker whose numba was imported before Dask set its environment.

Then numba's pool had as many threads as cores while NUMBA_NUM_THREADS said 1;
once a cached parallel kernel had started the pool, the first kernel that had to
be compiled (the cache held some kernels but not all, after one `scoresim run`)
reread the environment and failed: "Cannot set NUMBA_NUM_THREADS to a different
value once the threads have been launched", again on every re-run. The test
makes that worker in a subprocess; it failed on the code before
studies.cluster.hold_numba_threads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import scoresim

WORKER = textwrap.dedent("""
    import json, os, sys
    import numba, numpy as np

    @numba.njit(parallel=True)
    def started(x):
        s = 0.0
        for i in numba.prange(x.size):
            s += x[i]
        return s

    started(np.ones(10_000))  # the pool is started with NUMBA_NUM_THREADS=2
    os.environ["NUMBA_NUM_THREADS"] = "1"  # then Dask's env= (LocalCluster) is applied
    os.environ["SCORESIM_WORKER_THREADS"] = "1"

    from scoresim.scenario import load_scenario
    from scoresim.studies.sweep import _run_member

    scenario = load_scenario("reference", {"agents": 300, "days": 3}).model_dump(mode="json")
    out = _run_member(sys.argv[1], scenario)

    @numba.njit
    def compiled_after(x):  # any kernel compiled after: numba rereads the environment
        return x + 1

    compiled_after(1)
    print(json.dumps({"status": out["status"], "threads": numba.get_num_threads()}))
""")


def test_a_member_runs_where_numba_started_before_the_worker_env(tmp_path: Path) -> None:
    env = dict(os.environ, NUMBA_NUM_THREADS="2",
               PYTHONPATH=str(Path(scoresim.__file__).parent.parent))
    proc = subprocess.run([sys.executable, "-c", WORKER, str(tmp_path / "member")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Cannot set NUMBA_NUM_THREADS" not in proc.stderr
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer == {"status": "ran", "threads": 1}  # the member held to one thread
    assert (tmp_path / "member" / "manifest.json").is_file()
