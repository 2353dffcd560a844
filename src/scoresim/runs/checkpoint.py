"""Checkpoints: a long run killed part-way resumes and ends as if never stopped.

A checkpointed run writes into its hidden staging folder as any run does, and
keeps there `checkpoint/run.json` (the resolved scenario and settings) and
`checkpoint/state.npz` (the engine state, replaced atomically at each
checkpoint). The credit file and sanctions log go to part files that are
closed at each checkpoint. `scoresim resume RUN` finds the staging folder of
RUN, restores the state, drops the parts written after the checkpoint and
runs on; the random streams are counter-based, so the remaining days draw
exactly what they would have drawn.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from scoresim.runs.folder import RunFolderError, staging
from scoresim.runs.layout import CHECKPOINT, MANIFEST, PARTIAL_MARK, RUN_META, STATE
from scoresim.scenario import Scenario


def write_run_meta(folder: Path, scenario: Scenario, every: int, started: str) -> None:
    target = folder / CHECKPOINT
    target.mkdir(exist_ok=True)
    meta = {"scenario": scenario.model_dump(mode="json"), "checkpoint_every": every,
            "started": started}
    tmp = target / (RUN_META + ".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, target / RUN_META)


def read_run_meta(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / CHECKPOINT / RUN_META).read_text())
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{folder}: unreadable checkpoint ({exc})") from None


def save_state(folder: Path, state: dict[str, np.ndarray]) -> None:
    """Write the engine's state atomically: a checkpoint is either whole or the previous one."""
    target = folder / CHECKPOINT
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / (STATE + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **state)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target / STATE)


def load_state(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / CHECKPOINT / STATE) as z:
        return {k: z[k] for k in z.files}


def find_checkpoint(final: Path) -> Path:
    """The staging folder of an interrupted run of `final` that holds a checkpoint."""
    if (final / MANIFEST).exists():
        raise RunFolderError(f"{final}: this run finished; there is nothing to resume")
    parent = final.parent
    prefix = f".{final.name}{PARTIAL_MARK}"
    candidates = [
        p for p in (parent.iterdir() if parent.is_dir() else [])
        if p.name.startswith(prefix) and (p / CHECKPOINT / STATE).exists()
    ]
    if not candidates:
        raise RunFolderError(
            f"{final}: no checkpoint to resume from (run with --checkpoint-every DAYS to keep one)"
        )
    return max(candidates, key=lambda p: (p / CHECKPOINT / STATE).stat().st_mtime)


def drop_checkpoints(folder: Path) -> None:
    shutil.rmtree(folder / CHECKPOINT, ignore_errors=True)


class checkpointed_staging(staging):
    """Staging that keeps its folder when the run fails, so that it can be resumed."""

    def __init__(self, final: Path, unique: bool = False, adopt: Path | None = None):
        super().__init__(final, unique=unique)
        self._adopt = adopt

    def __enter__(self) -> Path:
        if self._adopt is None:
            return super().__enter__()
        self.tmp = self._adopt
        return self.tmp

    def _abandon(self) -> None:
        if self.tmp is not None and (self.tmp / CHECKPOINT / STATE).exists():
            return  # keep what was done: `scoresim resume` continues from it
        super()._abandon()
