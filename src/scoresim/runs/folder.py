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
import stat
import tempfile
import uuid
import weakref
from collections.abc import Callable
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
            if final.is_symlink() or (final.exists() and not final.is_dir()):
                kind = _kind(os.lstat(final).st_mode) or "a file"
                raise RunFolderError(f"{final}: exists and is {kind}; choose another --out")
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


#: open(2) flags for a new file that must not exist yet and is never reached through a link.
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_CLOEXEC", 0)


def check_replaceable(path: Path, what: str = "file",
                      wrote: Callable[[Path], bool] | None = None,
                      inside: Path | None = None) -> None:
    """Refuse to write `path` where that would replace what scoresim must not.

    Nothing but a regular file is ever replaced: a symbolic link (its target
    could be anywhere), a FIFO, a device node (`--out /dev/null`, run as root,
    would replace the system's device), a socket or a folder is a RunFolderError
    and is left untouched. `wrote(path)` says whether an existing regular file
    is one scoresim wrote (a report carries its generator tag); one it did not
    write is refused too. `inside`: the folder the file belongs in; a path whose
    folder resolves elsewhere (a link among its parents) is refused, so no
    write follows a link out of the target folder.
    """
    path = Path(path)
    if inside is not None:
        try:
            parent = path.parent.resolve(strict=False)
            root = Path(inside).resolve(strict=False)
        except (OSError, RuntimeError) as exc:
            raise RunFolderError(f"{path}: cannot resolve its folder ({exc})") from None
        if parent != root and root not in parent.parents:
            raise RunFolderError(f"{path}: its folder leads out of {inside} (a symbolic "
                                 "link?); nothing written")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot inspect it ({why(exc)}); nothing written") \
            from None
    kind = _kind(st.st_mode)
    if kind is not None:
        raise RunFolderError(f"{path}: is {kind}, not a {what} scoresim wrote; "
                             "nothing written (remove it or choose another path)")
    if wrote is not None and not wrote(path):
        raise RunFolderError(f"{path}: exists and is not a {what} scoresim wrote; nothing "
                             "written (remove it or choose another path)")


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device node"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_new(path: Path, mode: str = "w", **kwargs: Any) -> Any:
    """Open a file that must not exist yet, never through a link (O_EXCL, O_NOFOLLOW)."""
    return os.fdopen(os.open(path, _NEW_FILE, 0o644), mode, **kwargs)


def write_text_atomic(path: Path, text: str, inside: Path | None = None) -> None:
    """Replace `path` with `text` whole: written beside it, flushed, then renamed over it.

    Only a missing or regular file is replaced (check_replaceable); the
    temporary file is new (never an existing file or link) and removed on failure.
    """
    path = Path(path)
    check_replaceable(path, inside=inside)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        with open_new(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def write_parquet_atomic(path: Path, frame: pd.DataFrame, inside: Path | None = None) -> None:
    """Replace `path` with `frame` as Parquet, whole (as write_text_atomic)."""
    path = Path(path)
    check_replaceable(path, inside=inside)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        with open_new(tmp, "wb") as fh:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), fh,
                           compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` as JSON, whole (written beside it, flushed, renamed)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str))
    sync_dir(path.parent)
