"""Checkpoints: a long run killed part-way resumes and ends as if never stopped.

A checkpointed run writes into its hidden staging folder as any run does, and
keeps there `checkpoint/run.json` (the resolved scenario, the settings, and
what the run was asked to do afterwards) and `checkpoint/state.npz` (the engine
state, replaced atomically at each checkpoint). The credit file and sanctions
log go to part files that are closed at each checkpoint. `scoresim resume RUN`
finds the staging folder of RUN, restores the state and runs on, overwriting
the parts written after the checkpoint; the random streams are counter-based,
so the remaining days draw exactly what they would have drawn. A run killed
while finishing is carried on from the step it reached (runs/finish.py).

A damaged checkpoint (a truncated or garbage state.npz or run.json, a missing
key) is refused with a message naming the file; nothing is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scoresim.runs.crash import crash_point
from scoresim.runs.finish import finishing_folder, settle, staging_of
from scoresim.runs.folder import (
    RunFolderError,
    is_taken,
    staging,
    sync_dir,
    why,
    write_json_atomic,
)
from scoresim.runs.layout import (
    CHECKPOINT,
    FINISHING_SUFFIX,
    MANIFEST,
    PARTIAL_MARK,
    RUN_META,
    STATE,
)
from scoresim.scenario import Scenario

# run.json's keys and their types (`asked` may be absent: checkpoints of earlier versions)
_META = {"scenario": dict, "checkpoint_every": int, "started": str}


def write_run_meta(folder: Path, scenario: Scenario, every: int, started: str,
                   asked: dict[str, Any] | None = None) -> None:
    target = folder / CHECKPOINT
    target.mkdir(exist_ok=True)
    meta = {"scenario": scenario.model_dump(mode="json"), "checkpoint_every": every,
            "started": started, "asked": asked or {}}
    write_json_atomic(target / RUN_META, meta)


def read_run_meta(folder: Path) -> dict[str, Any]:
    """run.json of the checkpoint in staging folder `folder`, checked key by key."""
    return read_meta(folder / CHECKPOINT)


def read_meta(checkpoint: Path) -> dict[str, Any]:
    """run.json of a checkpoint folder (in its staging folder, or moved out to finish)."""
    path = checkpoint / RUN_META
    damaged = "the checkpoint is damaged; nothing was deleted"
    try:
        meta = json.loads(path.read_text())
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot be read ({why(exc)}); {damaged}") from None
    except ValueError as exc:
        raise RunFolderError(f"{path}: not valid JSON ({exc}); {damaged}") from None
    if not isinstance(meta, dict):
        raise RunFolderError(f"{path}: expected a JSON object, got {type(meta).__name__}; "
                             f"{damaged}")
    for key, kind in _META.items():
        if key not in meta:
            raise RunFolderError(f"{path}: no '{key}' ({kind.__name__} expected); {damaged}")
        value = meta[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise RunFolderError(f"{path}: '{key}' should be a {kind.__name__}, got "
                                 f"{type(value).__name__}; {damaged}")
    if meta["checkpoint_every"] < 1:
        raise RunFolderError(f"{path}: 'checkpoint_every' should be at least 1, got "
                             f"{meta['checkpoint_every']}; {damaged}")
    if not isinstance(meta.setdefault("asked", {}), dict):
        raise RunFolderError(f"{path}: 'asked' should be an object; {damaged}")
    return meta


def save_state(folder: Path, state: dict[str, np.ndarray]) -> None:
    """Write the engine's state atomically: a checkpoint is either whole or the previous one."""
    target = folder / CHECKPOINT
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / (STATE + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **state)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(target / STATE)
    sync_dir(target)
    crash_point("checkpointed")


def load_state(folder: Path) -> dict[str, np.ndarray]:
    """The state of the checkpoint in staging folder `folder`, every array read and checked."""
    path = folder / CHECKPOINT / STATE
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with archive as z:
            state = {k: z[k] for k in z.files}
        if "day" not in state:
            raise KeyError("day")
        return state
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot be read ({why(exc)}); the checkpoint is "
                             "damaged; nothing was deleted") from None
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        what = f"no key {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise RunFolderError(f"{path}: not a whole checkpoint ({what}); the checkpoint is "
                             "damaged; nothing was deleted") from None


@dataclass
class Interrupted:
    """What a run killed before its end left: where, and what is left to do."""

    final: Path  # where the run folder goes (or went)
    staging: Path | None  # its staging folder; None once renamed into place
    finishing: Path | None  # its checkpoint, moved out to finish (runs/finish.py), if so

    @property
    def complete(self) -> bool:
        """All files written: only finishing steps are left, nothing to compute."""
        return self.staging is None or (self.staging / MANIFEST).is_file()

    @property
    def checkpoint(self) -> Path | None:
        """The folder that holds run.json (and state.npz, until finishing)."""
        if self.staging is not None and (self.staging / CHECKPOINT).is_dir():
            return self.staging / CHECKPOINT
        return self.finishing


def find_interrupted(final: Path) -> Interrupted:
    """What is left of an interrupted run of `final`; refuse what cannot be resumed.

    A staging folder with a checkpoint or a complete one is resumed; if `final`
    was filled meanwhile, nothing is computed or deleted and the message says
    where the interrupted run is. A run renamed into place whose finishing
    steps (registry, report) were not done is found by its moved-out checkpoint.
    """
    parent = final.parent
    prefix = f".{final.name}{PARTIAL_MARK}"
    try:
        entries = [p for p in parent.iterdir() if p.name.startswith(prefix) and p.is_dir()
                   ] if parent.is_dir() else []
    except OSError as exc:
        raise RunFolderError(f"{parent}: cannot be listed ({why(exc)})") from None
    finishing = [p for p in entries if p.name.endswith(FINISHING_SUFFIX)]
    stagings = [p for p in entries if not p.name.endswith(FINISHING_SUFFIX)
                and ((p / MANIFEST).is_file() or (p / CHECKPOINT / STATE).is_file())]
    if stagings:
        found = max(stagings, key=_touched)
        if final.exists() and (not final.is_dir() or is_taken(final)):
            what = "with another finished run" if (final / MANIFEST).is_file() else "not empty"
            raise RunFolderError(
                f"{final}: was filled while this run was down ({what}); nothing was computed "
                f"or deleted: the interrupted run is kept in {found}. Move {final} away, then "
                f"run `scoresim resume {final}` again")
        side = finishing_folder(found)
        return Interrupted(final, found, side if side.is_dir() else None)
    for side in sorted(finishing, key=_touched, reverse=True):
        if staging_of(side).exists():
            continue  # its staging folder is there but holds no run: not ours to judge
        if not (side / RUN_META).exists():
            shutil.rmtree(side, ignore_errors=True)  # release() was killed after its last step
            continue
        target = _renamed_to(final, read_meta(side))
        if target is not None:
            return Interrupted(target, None, side)
    if (final / MANIFEST).exists():
        raise RunFolderError(f"{final}: this run finished; there is nothing to resume")
    raise RunFolderError(
        f"{final}: no checkpoint to resume from (run with --checkpoint-every DAYS to keep one)"
    )


def _renamed_to(final: Path, meta: dict[str, Any]) -> Path | None:
    """The run folder, `final` or `final-k` (a --out chosen by default), that is this run."""
    candidates = [final] + [final.with_name(f"{final.name}-{k}") for k in range(2, 1000)]
    for target in candidates:
        if not target.exists():
            return None
        try:
            manifest = json.loads((target / MANIFEST).read_text())
        except (OSError, ValueError):
            continue
        if (isinstance(manifest, dict) and manifest.get("started") == meta["started"]
                and manifest.get("scenario") == meta["scenario"]):
            return target
    return None


def _touched(folder: Path) -> float:
    times = [p.stat().st_mtime for p in (folder / MANIFEST, folder / CHECKPOINT / STATE,
                                         folder / RUN_META, folder) if p.exists()]
    return max(times)


class checkpointed_staging(staging):
    """Staging that keeps its folder when the run fails, and finishes it in steps.

    On success the staging folder must be complete (runs/finish.py's `complete`);
    `settle` then finishes it. On failure a folder with a checkpoint or a complete
    run is kept, so that `scoresim resume` continues it.
    """

    def __init__(self, final: Path, unique: bool = False, adopt: Path | None = None):
        super().__init__(final, unique=unique)
        self._adopt = adopt

    def __enter__(self) -> Path:
        if self._adopt is None:
            return super().__enter__()
        self.tmp = self._adopt
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            kept = self._resumable()
            self._abandon()
            if isinstance(exc, OSError) and not isinstance(exc, RunFolderError):
                where = (f"the run is kept in {self.tmp}: `scoresim resume {self.final}` "
                         "continues it" if kept else "nothing was kept")
                raise RunFolderError(f"{self.final}: cannot write the run folder "
                                     f"({why(exc)}); {where}") from None
            return
        try:
            self.final = settle(self.tmp, self.final, self.unique)
        except RunFolderError:
            raise
        except OSError as exc:
            raise RunFolderError(
                f"{self.final}: cannot finish the run folder ({why(exc)}); the run is kept in "
                f"{self.tmp}: `scoresim resume {self.final}` finishes it") from None

    def _resumable(self) -> bool:
        assert self.tmp is not None
        return (self.tmp / CHECKPOINT / STATE).exists() or (self.tmp / MANIFEST).exists()

    def _abandon(self) -> None:
        if self.tmp is not None and self._resumable():
            return  # keep what was done: `scoresim resume` continues from it
        super()._abandon()
