"""Writing folders so that no crash leaves a half-written one that looks finished.

A run folder is written into a hidden staging folder beside its destination
and renamed into place only when complete (the rename is the commit); single
files are written beside their destination and renamed over it. Files are
flushed to disk (fsync) before the rename and the parent directory after it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import uuid
import weakref
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoresim.runs.layout import PARTIAL_MARK


class RunFolderError(OSError):
    """A run folder that cannot be written or read; the message says which and why."""


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str))


def is_partial(folder: Path) -> bool:
    """A staging folder: an unfinished run, or one whose process was killed."""
    return folder.name.startswith(".") and PARTIAL_MARK in folder.name


class staging:
    """A hidden folder beside `final` that is renamed to `final` only on success.

    The rename is the commit: `final` holds a whole run or does not exist. Files
    are flushed to disk (fsync) before it and the parent directory after it, so
    a crash of the machine does not leave a folder whose files are empty. On any
    failure the staging folder, and any parent folders this created, are
    removed; an OSError while writing (a full disk, a read-only folder) becomes
    a RunFolderError that says so.

    `unique`: `final` is only a suggestion (the CLI's default ./runs/<time>-<name>):
    when another run holds that name, even one finishing at the same moment in
    another process, the folder goes to `final-2`, `final-3`, ... instead.
    Without it, a taken `final` is an error and the new run is not kept. Either
    way an existing run is never replaced: rename(2) only ever replaces an empty
    directory. `self.final` is where the run went.
    """

    def __init__(self, final: Path, unique: bool = False):
        self.final = Path(final)
        self.unique = unique
        self.tmp: Path | None = None
        self._made: list[Path] = []

    def __enter__(self) -> Path:
        final = self.final
        parent = final.parent
        try:
            if final.exists() and not final.is_dir():
                raise RunFolderError(f"{final}: exists and is a file; choose another --out")
            if not self.unique and is_taken(final):
                raise RunFolderError(
                    f"{final}: already exists and is not empty; choose another --out")
            self._made = _make_parents(parent)
            self.tmp = parent / f".{final.name}{PARTIAL_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self.tmp.mkdir()
        except RunFolderError:
            raise
        except OSError as exc:
            self._abandon()
            raise RunFolderError(f"{parent}: cannot create the run folder ({why(exc)})") from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            self._abandon()
            if isinstance(exc, OSError) and not isinstance(exc, RunFolderError):
                raise RunFolderError(
                    f"{self.final}: cannot write the run folder ({why(exc)}); nothing was kept"
                ) from None
            return
        try:
            sync_tree(self.tmp)
            self.final = commit_folder(self.tmp, self.final, self.unique)
            sync_dir(self.final.parent)
        except RunFolderError:
            self._abandon()
            raise
        except OSError as exc:
            self._abandon()
            raise RunFolderError(f"{self.final}: cannot finish the run folder ({why(exc)}); "
                                 "nothing was kept") from None

    def _abandon(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        for folder in reversed(self._made):  # deepest first; only if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        self._made = []


def why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def is_taken(folder: Path) -> bool:
    try:
        return folder.is_dir() and any(folder.iterdir())
    except OSError:
        return True


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing ancestors; return those created, outermost first."""
    missing = []
    for p in [folder, *folder.parents]:
        if p.is_dir():
            break
        missing.append(p)
    made = []
    for p in reversed(missing):
        try:
            p.mkdir()
            made.append(p)
        except FileExistsError:
            if not p.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, f"{p} is a file, not a folder") from None
    return made


def commit_folder(tmp: Path, final: Path, unique: bool) -> Path:
    """Rename `tmp` to `final`, or with `unique` to the first free `final-k`."""
    def names():
        yield final
        if unique:
            for k in range(2, 1000):
                yield final.with_name(f"{final.name}-{k}")
            yield final.with_name(f"{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")

    for target in names():
        try:
            os.rename(tmp, target)  # replaces an empty directory, never a full one
            return target
        except OSError as exc:
            taken = exc.errno in (errno.ENOTEMPTY, errno.EEXIST) or (
                exc.errno == errno.ENOTDIR and target.exists() and not target.is_dir())
            if not taken:
                raise
            if not unique:
                raise RunFolderError(
                    f"{final}: another run was written there first; choose another --out "
                    "(this run was not kept)"
                ) from None
    raise RunFolderError(f"{final}: no free name for the run folder beside it")


def sync_tree(folder: Path) -> None:
    """Flush every file and folder under `folder` to disk, innermost first."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        sync_dir(Path(root))


def sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some systems cannot open a directory; the rename still happened
    try:
        os.fsync(fd)
    except OSError:
        pass  # directories cannot be fsynced on every file system
    finally:
        os.close(fd)


def scratch_folder() -> Path:
    """A private temporary folder for a run kept only in memory, removed with its Results."""
    return Path(tempfile.mkdtemp(prefix="scoresim-"))


def attach_cleanup(results: object, folder: Path) -> None:
    """Remove `folder` when `results` is garbage collected (a run kept only in memory)."""
    weakref.finalize(results, shutil.rmtree, folder, True)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` whole: written beside it, flushed, then renamed over it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_parquet_atomic(path: Path, frame: pd.DataFrame) -> None:
    """Replace `path` with `frame` as Parquet, whole (as write_text_atomic)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp, compression="zstd")
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` as JSON, whole (written beside it, flushed, renamed)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str))
    sync_dir(path.parent)
