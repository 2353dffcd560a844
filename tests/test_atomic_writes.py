"""A run folder appears complete or not at all.

Runs are written into a hidden staging folder beside their destination,
flushed to disk and renamed into place (results.staging). These tests break
that in every way a user's machine can: a full disk, a folder that cannot be
created, a destination that is taken, two runs at once, a run killed mid-way;
and check that the user gets one clear line and exit code 2, that earlier runs
are untouched, and that nothing half-written is ever loaded as a run.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app, run_commands
from scoresim.runs import results as results_module
from scoresim.runs.folder import RunFolderError, is_partial, staging
from scoresim.runs.layout import PARTIAL_MARK

runner = CliRunner()
SMALL = ["--agents", "500", "--days", "5", "--quiet", "--registry", "none"]


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def cli_run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["run", "reference", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def partials(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if is_partial(p)]


def fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def earlier_run(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A finished run in the runs folder the failing runs write beside."""
    folder = tmp_path / "runs" / "earlier"
    code, output = cli_run(*SMALL, "--out", str(folder))
    assert code == 0, output
    return folder, fingerprint(folder)


def assert_intact(earlier: tuple[Path, dict[str, str]]) -> None:
    folder, prints = earlier
    assert fingerprint(folder) == prints
    scoresim.load(folder)


# ---------------------------------------------------------------- success
def test_a_run_folder_is_complete_and_its_staging_folder_gone(tmp_path: Path) -> None:
    code, output = cli_run(*SMALL, "--out", "runs/one")
    assert code == 0, output
    names = {p.name for p in (tmp_path / "runs" / "one").iterdir()}
    assert {"manifest.json", "timeseries.parquet", "people.parquet", "records.parquet"} <= names
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["one"]
    assert len(scoresim.load("runs/one").people) == 500


def test_files_are_flushed_to_disk_before_the_rename(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src, dst) -> None:
        events.append(("rename", str(dst)))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    results = scoresim.run("reference", agents=500, days=5, out=tmp_path / "synced")
    final = str(results.folder)
    at = events.index(("rename", final))
    synced_before = {Path(p).name for kind, p in events[:at] if kind == "fsync"}
    assert {p.name for p in results.folder.iterdir()} <= synced_before
    assert ("fsync", str(tmp_path)) in events[at:]  # the parent, so the rename itself lasts


# ---------------------------------------------------------------- failures
def test_a_full_disk_while_writing_is_a_clear_error(earlier_run, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(results_module.pq, "write_table", full)
    code, output = cli_run(*SMALL, "--out", "runs/full")
    assert code == 2
    assert output.startswith("error: runs/full: cannot write the run folder "
                             "(No space left on device)")
    assert not (tmp_path / "runs" / "full").exists()
    assert not partials(tmp_path)
    assert_intact(earlier_run)


def test_a_full_disk_at_the_rename_is_a_clear_error(earlier_run, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "rename", full)
    code, output = cli_run(*SMALL, "--out", "runs/full")
    assert code == 2 and "No space left on device" in output and "nothing was kept" in output
    assert not (tmp_path / "runs" / "full").exists()
    assert not partials(tmp_path)
    assert_intact(earlier_run)


def test_a_folder_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a folder")
    code, output = cli_run(*SMALL, "--out", "notes.txt/deeper/run")
    assert code == 2
    assert output.startswith("error: notes.txt/deeper: cannot create the run folder")
    assert "is a file" in output
    assert (tmp_path / "notes.txt").read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_out_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("keep me")
    code, output = cli_run(*SMALL, "--out", "taken")
    assert code == 2 and "exists and is a file" in output
    assert (tmp_path / "taken").read_text() == "keep me"


def test_a_read_only_folder_is_a_clear_error(earlier_run, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root, for whom chmod does not bite: the refusal is simulated."""
    real_mkdir = Path.mkdir

    def read_only(self: Path, *args, **kwargs) -> None:
        here = self.absolute()
        if tmp_path / "runs" in (here, *here.parents):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    code, output = cli_run(*SMALL, "--out", "runs/denied")
    assert code == 2
    assert output.startswith("error: runs: cannot create the run folder (Permission denied)")
    assert not partials(tmp_path)
    assert_intact(earlier_run)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_a_really_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, output = cli_run(*SMALL, "--out", "locked/run")
    finally:
        locked.chmod(0o700)
    assert code == 2 and "Permission denied" in output
    assert list(locked.iterdir()) == []


def test_missing_parents_are_made_and_unmade_on_failure(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = cli_run(*SMALL, "--out", "a/b/c/run")
    assert code == 0, output
    scoresim.load("a/b/c/run")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(results_module.pq, "write_table", full)
    code, output = cli_run(*SMALL, "--out", "x/y/z/run")
    assert code == 2
    assert not (tmp_path / "x").exists()  # the parents this run made are gone again
    code, output = cli_run(*SMALL, "--out", "a/b/other/run")
    assert code == 2
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["c"]


def test_an_existing_run_is_never_replaced(earlier_run) -> None:
    folder, _ = earlier_run
    code, output = cli_run(*SMALL, "--seed", "99", "--out", str(folder))
    assert code == 2 and "already exists and is not empty" in output
    assert_intact(earlier_run)


def test_an_empty_existing_folder_is_filled(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, output = cli_run(*SMALL, "--out", "empty")
    assert code == 0, output
    scoresim.load("empty")


# ---------------------------------------------------------------- two runs at once
def _stage(final: Path, unique: bool, tag: str) -> staging:
    stage = staging(final, unique=unique)
    tmp = stage.__enter__()
    (tmp / "manifest.json").write_text(f'{{"by": "{tag}"}}')
    return stage


def test_racing_runs_with_default_names_both_land(tmp_path: Path) -> None:
    """Both chose the same name before either finished; the second moves aside."""
    final = tmp_path / "runs" / "20250101-000000-reference"
    first, second = _stage(final, True, "first"), _stage(final, True, "second")
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert first.final == final
    assert second.final == final.with_name(final.name + "-2")
    assert (final / "manifest.json").read_text() == '{"by": "first"}'
    assert (second.final / "manifest.json").read_text() == '{"by": "second"}'
    assert not partials(tmp_path)


def test_racing_runs_into_one_named_folder_keep_the_first(tmp_path: Path) -> None:
    final = tmp_path / "shared"
    first, second = _stage(final, False, "first"), _stage(final, False, "second")
    first.__exit__(None, None, None)
    with pytest.raises(RunFolderError, match="another run was written there first"):
        second.__exit__(None, None, None)
    assert (final / "manifest.json").read_text() == '{"by": "first"}'
    assert not partials(tmp_path)


def test_default_names_within_one_second_are_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_commands, "default_out",
                        lambda name: Path("runs") / f"20250101-000000-{name}")
    folders = []
    for seed in ("1", "2", "3"):
        result = runner.invoke(app, ["run", "reference", *SMALL, "--seed", seed])
        assert result.exit_code == 0, result.output
        folders.append(result.output.split("run folder: ")[1].split()[0])
    assert folders == ["runs/20250101-000000-reference", "runs/20250101-000000-reference-2",
                       "runs/20250101-000000-reference-3"]
    assert [scoresim.load(f).manifest["seed"] for f in folders] == [1, 2, 3]


def test_two_processes_into_one_runs_folder_both_succeed(tmp_path: Path) -> None:
    scoresim_bin = shutil.which("scoresim")
    assert scoresim_bin, "the scoresim command is installed with the package"
    command = [scoresim_bin, "run", "reference", "--agents", "2000", "--days", "5", "--quiet"]
    procs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    runs = sorted(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert len(runs) == 2 and runs[0].name != runs[1].name
    for run in runs:
        assert len(scoresim.load(run).people) == 2000
    assert not partials(tmp_path)


# ---------------------------------------------------------------- interrupted runs
def _start_big_run(tmp_path: Path) -> subprocess.Popen:
    scoresim_bin = shutil.which("scoresim")
    assert scoresim_bin, "the scoresim command is installed with the package"
    return subprocess.Popen(
        [scoresim_bin, "run", "pilot-city", "--agents", "200000", "--days", "3650",
         "--out", "runs/big", "--quiet", "--registry", "none"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_staging(tmp_path: Path, proc: subprocess.Popen) -> Path:
    """The staging folder, once the run is under way (its credit file begun, or 1 s in)."""
    deadline = time.monotonic() + 300
    since = None
    while time.monotonic() < deadline:
        found = partials(tmp_path)
        if found:
            since = since or time.monotonic()
            if (found[0] / "records.parquet").exists() or time.monotonic() - since > 1.0:
                return found[0]
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted: {proc.stderr.read()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no staging folder appeared")


def test_a_killed_run_leaves_nothing_that_loads(tmp_path: Path) -> None:
    proc = _start_big_run(tmp_path)
    staged = _wait_for_staging(tmp_path, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "runs" / "big").exists()
    with pytest.raises(RunFolderError, match="unfinished run"):
        scoresim.load(staged)
    with pytest.raises(RunFolderError):
        scoresim.load(tmp_path / "runs" / "big")
    # even copied to a visible name, the half-written folder is refused
    copy = tmp_path / "copied"
    shutil.copytree(staged, copy)
    with pytest.raises(RunFolderError):
        scoresim.load(copy)


@pytest.mark.slow
def test_a_terminated_run_removes_its_staging_folder(tmp_path: Path) -> None:
    proc = _start_big_run(tmp_path)
    _wait_for_staging(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert not partials(tmp_path)
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- what load accepts
@pytest.fixture
def finished(tmp_path: Path) -> Path:
    folder = scoresim.run("reference", agents=500, days=5, records="all",
                          out=tmp_path / "done").folder
    assert folder is not None
    return folder


@pytest.mark.parametrize("damage", ["people", "timeseries", "records", "manifest",
                                    "truncated_records", "bad_manifest"])
def test_load_refuses_incomplete_folders(finished: Path, tmp_path: Path, damage: str) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(finished, broken)
    if damage in ("people", "timeseries", "records"):
        (broken / f"{damage}.parquet").unlink()
    elif damage == "manifest":
        (broken / "manifest.json").unlink()
    elif damage == "truncated_records":
        data = (broken / "records.parquet").read_bytes()
        (broken / "records.parquet").write_bytes(data[: len(data) // 2])
    else:
        (broken / "manifest.json").write_text('{"scenario": ')
    with pytest.raises(RunFolderError) as info:
        scoresim.load(broken)
    assert str(broken) in str(info.value)
    scoresim.load(finished)  # the original still loads


def test_load_refuses_staging_folders(finished: Path, tmp_path: Path) -> None:
    staged = tmp_path / f".done{PARTIAL_MARK}1234-abcdef12"
    shutil.copytree(finished, staged)
    with pytest.raises(RunFolderError, match="unfinished run"):
        scoresim.load(staged)


def test_a_run_without_records_loads_without_them(tmp_path: Path) -> None:
    results = scoresim.run("reference", agents=500, days=5, records="none", out=tmp_path / "r")
    loaded = scoresim.load(results.folder)
    assert loaded.records_path is None and len(loaded.records) == 0
    assert pq.read_schema(tmp_path / "r" / "people.parquet").names[0] == "id"
