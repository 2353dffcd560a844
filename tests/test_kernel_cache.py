"""Compiled kernels are cached per version of the whole source (scoresim._kernel_cache)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from scoresim import _kernel_cache


def make_package(root: Path) -> Path:
    pkg = root / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("X = 1\n")
    (pkg / "sub" / "b.py").write_text("Y = 2\n")
    return pkg


def test_any_source_change_gives_another_cache_folder(tmp_path: Path) -> None:
    pkg = make_package(tmp_path)
    first = _kernel_cache.source_digest(pkg)
    assert _kernel_cache.source_digest(pkg) == first  # stable
    # the file that changed is not the one whose kernel would inline it
    (pkg / "sub" / "b.py").write_text("Y = 3\n")
    os.utime(pkg / "sub" / "b.py", ns=(1, 2))
    assert _kernel_cache.source_digest(pkg) != first


def test_the_cache_goes_under_the_user_cache_and_respects_numba_cache_dir(
        tmp_path: Path, monkeypatch) -> None:
    import numba

    pkg = make_package(tmp_path)
    before = numba.config.CACHE_DIR
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    stale = tmp_path / "cache" / "scoresim-numba" / "old"
    stale.mkdir(parents=True)
    long_ago = time.time() - 2 * _kernel_cache.KEEP_SECONDS
    os.utime(stale, (long_ago, long_ago))
    try:
        _kernel_cache.use_versioned_cache(pkg)
        folder = Path(os.environ["NUMBA_CACHE_DIR"])
        assert folder == tmp_path / "cache" / "scoresim-numba" / _kernel_cache.source_digest(pkg)
        assert folder.is_dir() and numba.config.CACHE_DIR == str(folder)
        assert not stale.exists()  # another version's folder, unused for long, is removed
        # a folder the user chose is left alone
        monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
        _kernel_cache.use_versioned_cache(pkg)
        assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")
    finally:
        numba.config.CACHE_DIR = before
