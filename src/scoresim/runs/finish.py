"""Finishing a checkpointed run: from its last day to its run folder, in steps a kill cannot break.

Each step writes the new thing, flushes it to disk, renames it into place, and
only then deletes the old one, and each can be done again: so `scoresim resume`
picks up after a kill (SIGKILL, the OOM killer, a power cut) at any point, and
ends with the same run folder as a run never stopped. In order:

1. the streams' part files are joined into records.parquet and sanctions.parquet
   (runs/parquet_stream.py); the parts stay;
2. the other files are written, everything is flushed, and manifest.json is
   written last, atomically (`complete`): from here the staging folder is a
   whole run folder, and nothing needs computing again;
3. the parts are deleted (`settle`);
4. the checkpoint is moved out of the staging folder, beside it
   (<staging>.finishing): its run.json keeps what the run was asked to do
   afterwards (register it, write its report);
5. the staging folder is renamed to the destination; a destination filled
   meanwhile is refused, and the finished run kept where it is;
6. the caller's own steps (the registry, the report), then `release` deletes the
   moved-out checkpoint, its run.json last.

A kill before step 2 is resumed from the checkpoint (the remaining days computed
again, the same bytes); a kill after it by doing the steps not yet done.
runs/crash.py names each step for the tests that kill a run there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from scoresim.runs.crash import crash_point
from scoresim.runs.folder import (
    RunFolderError,
    commit_folder,
    sync_dir,
    sync_tree,
    write_json_atomic,
)
from scoresim.runs.layout import CHECKPOINT, FINISHING_SUFFIX, MANIFEST, RUN_META
from scoresim.runs.parquet_stream import drop_parts
from scoresim.runs.results import Results


def finishing_folder(staging: Path) -> Path:
    """Where a staging folder's checkpoint waits while the run is renamed into place."""
    return staging.with_name(staging.name + FINISHING_SUFFIX)


def staging_of(finishing: Path) -> Path:
    """The staging folder a finishing folder was moved out of."""
    return finishing.with_name(finishing.name[: -len(FINISHING_SUFFIX)])


def complete(results: Results, staging: Path) -> None:
    """Step 2: every file of the run folder, flushed, then manifest.json (the mark)."""
    crash_point("joined")  # step 1 was done as the run closed its streams
    results._write_files(staging)
    crash_point("outputs")
    sync_tree(staging)
    write_json_atomic(staging / MANIFEST, results.manifest)
    crash_point("manifest")


def settle(staging: Path, final: Path, unique: bool = False) -> Path:
    """Steps 3 to 5 for a complete staging folder; returns where the run folder went.

    Each step checks what is left to do, so calling this again after a kill
    carries on. A taken destination is refused with the run kept in `staging`.
    """
    if not (staging / MANIFEST).is_file():
        raise RunFolderError(f"{staging}: not a complete run (no {MANIFEST}); nothing was done")
    drop_parts(staging)
    crash_point("parts-deleted")
    checkpoint = staging / CHECKPOINT
    if checkpoint.is_dir():
        os.rename(checkpoint, finishing_folder(staging))
        sync_dir(staging)
        sync_dir(staging.parent)
    crash_point("drop-checkpoint")
    _drop_strays(staging)
    try:
        target = commit_folder(staging, final, unique)
    except RunFolderError:
        raise RunFolderError(
            f"{final}: was filled while this run was finishing; nothing was deleted: the "
            f"finished run is kept in {staging}. Move {final} away, then run "
            f"`scoresim resume {final}`") from None
    sync_dir(target.parent)
    crash_point("rename")
    return target


def release(finishing: Path | None) -> None:
    """Step 6: the caller's steps are done; delete the moved-out checkpoint, run.json last.

    A kill part-way leaves run.json, so that resume does the caller's steps again
    (they are idempotent), or no run.json, which find_interrupted then cleans up.
    """
    if finishing is None or not finishing.is_dir():
        return
    for entry in finishing.iterdir():
        if entry.name == RUN_META:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    (finishing / RUN_META).unlink(missing_ok=True)
    finishing.rmdir()
    sync_dir(finishing.parent)


def _drop_strays(staging: Path) -> None:
    """Temporary files of atomic writes a kill interrupted (a run folder has no hidden files)."""
    for entry in staging.iterdir():
        if entry.name.startswith(".") and entry.is_file():
            entry.unlink()
