"""Where numba keeps the compiled kernels: one folder per version of the source.

Numba's own cache is invalidated per source file, but a kernel compiled in one
file inlines functions and constants from others (lives.py inlines
behaviour.level_of and its LEVELS). Change behaviour.py alone and lives.py's
cached kernel would silently keep the old constant: wrong numbers, or a loop
that never ends. So the cache folder is named after a digest of every source
file of the package (path, size, modification time): any change to any file
gives a fresh folder, and a run never mixes kernels from two versions.
NUMBA_CACHE_DIR, where set, is left alone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

KEEP_SECONDS = 7 * 24 * 3600  # other versions' folders unused this long are removed


def source_digest(package: Path) -> str:
    h = hashlib.blake2b(digest_size=8)
    for path in sorted(package.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(package)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def use_versioned_cache(package: Path) -> None:
    """Point numba's cache at this source's own folder (before any kernel is defined)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    try:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scoresim-numba"
        folder = root / source_digest(package)
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)
    except (OSError, RuntimeError):
        return  # no home, or none writable: numba's default, beside the sources
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    try:
        import numba

        numba.config.CACHE_DIR = str(folder)  # numba may have been imported already
    except ImportError:
        pass
    _prune(root, folder)


def _prune(root: Path, keep: Path) -> None:
    now = time.time()
    for other in root.iterdir():
        try:
            if other != keep and now - other.stat().st_mtime > KEEP_SECONDS:
                shutil.rmtree(other, ignore_errors=True)
        except OSError:
            pass
