"""A test hook: SIGKILL this process at a named step of finishing a run.

Finishing a run folder is a sequence of steps (runs/finish.py), each safe to be
killed after: `scoresim resume` picks up from any of them. tests/test_finish_crash.py
proves it by setting SCORESIM_KILL_AT=<step> in the environment of a
`python -m scoresim run ... --checkpoint-every N` subprocess, which then kills
itself with SIGKILL (no cleanup, no flush: as `kill -9` or the OOM killer would)
when it reaches that step. The variable is meant for tests only: unset, every
crash point is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

KILL_ENV = "SCORESIM_KILL_AT"

#: The steps, in the order a checkpointed run reaches them.
STEPS = (
    "checkpointed",  # a checkpoint written, the run goes on
    "join",  # joining the credit file's parts: records.parquet half written
    "joined",  # records.parquet and sanctions.parquet whole, the parts still there
    "outputs",  # timeseries, people, ... written; manifest.json not yet
    "manifest",  # manifest.json written (the outputs are complete), parts still there
    "delete-parts",  # one part file deleted, the others still there
    "parts-deleted",  # every part deleted, the checkpoint still in the staging folder
    "drop-checkpoint",  # the checkpoint moved out of the staging folder, before the rename
    "rename",  # the run folder renamed into place; registry and report not yet done
    "registered",  # registered; the report not yet written
)


def crash_point(step: str) -> None:
    """Kill this process with SIGKILL if SCORESIM_KILL_AT names `step` (tests only)."""
    if os.environ.get(KILL_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
