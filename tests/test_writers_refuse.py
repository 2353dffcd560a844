"""Writers replace only regular files scoresim wrote, and never follow a link out.

Before, `scoresim report --out` silently replaced existing files, FIFOs and device
nodes (as root, `--out /dev/null` replaced the system's device), and a sweep's lock
file was opened for writing through a symbolic link (truncating its target).
Each test here failed on that code; now each is exit 2 (or an error) with nothing
touched.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.runs import registry as reg
from scoresim.runs.folder import RunFolderError, write_parquet_atomic, write_text_atomic
from scoresim.studies.cluster import exclusive


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("w") / "run"
    scoresim.run("reference", agents=300, days=3, seed=1, out=out)
    return out


def refused(result, *words: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output


def test_report_replaces_a_report_it_wrote(run_folder, tmp_path) -> None:
    out = tmp_path / "r.html"
    assert invoke("report", run_folder, "--out", out, "-q").exit_code == 0
    first = out.stat().st_mtime_ns
    assert invoke("report", run_folder, "--out", out, "-q").exit_code == 0  # again: fine
    assert out.stat().st_mtime_ns >= first and out.read_text().startswith("<!DOCTYPE html>")


def test_report_refuses_a_file_it_did_not_write(run_folder, tmp_path) -> None:
    notes = tmp_path / "notes.html"
    notes.write_text("<!DOCTYPE html><p>my own page</p>\n")
    refused(invoke("report", run_folder, "--out", notes), "not a report scoresim wrote")
    assert notes.read_text() == "<!DOCTYPE html><p>my own page</p>\n"


def test_report_refuses_a_fifo(run_folder, tmp_path) -> None:
    fifo = tmp_path / "pipe.html"
    os.mkfifo(fifo)
    refused(invoke("report", run_folder, "--out", fifo), "FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_report_refuses_a_symlink_and_leaves_its_target(run_folder, tmp_path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    refused(invoke("report", run_folder, "--out", link), "symbolic link")
    assert link.is_symlink() and target.read_text() == "precious\n"
    # a link to a folder is refused too, not taken for the folder
    (tmp_path / "d").mkdir()
    (tmp_path / "dlink.html").symlink_to(tmp_path / "d")
    refused(invoke("report", run_folder, "--out", tmp_path / "dlink.html"), "symbolic link")


def test_the_default_report_is_not_written_through_a_link(run_folder, tmp_path) -> None:
    target = tmp_path / "outside.txt"
    target.write_text("precious\n")
    link = run_folder / "report.html"
    link.symlink_to(target)
    try:
        refused(invoke("report", run_folder), "symbolic link")
        assert target.read_text() == "precious\n" and link.is_symlink()
    finally:
        link.unlink()


def test_report_refuses_a_device_node(run_folder, tmp_path) -> None:
    node = tmp_path / "null.html"
    try:
        os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here (not root)")
    refused(invoke("report", run_folder, "--out", node), "device node")
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_run_out_that_is_a_fifo_or_a_link_is_refused_before_running(tmp_path) -> None:
    os.mkfifo(tmp_path / "fifo")
    refused(invoke("run", "reference", "--agents", "100", "--days", "2", "--out",
                   tmp_path / "fifo", "--registry", "none"), "FIFO")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    refused(invoke("run", "reference", "--agents", "100", "--days", "2", "--out",
                   tmp_path / "link", "--registry", "none"), "symbolic link")
    assert list((tmp_path / "empty").iterdir()) == []


def test_study_files_are_not_written_through_links(tmp_path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("precious\n")
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "summary.parquet").symlink_to(target)
    with pytest.raises(RunFolderError, match="symbolic link"):
        write_parquet_atomic(out / "summary.parquet", pd.DataFrame({"a": [1]}), inside=out)
    os.mkfifo(out / "plan.json")
    with pytest.raises(RunFolderError, match="FIFO"):
        write_text_atomic(out / "plan.json", "{}", inside=out)
    (tmp_path / "away").mkdir()
    (out / "sub").symlink_to(tmp_path / "away")
    with pytest.raises(RunFolderError, match="leads out of"):
        write_text_atomic(out / "sub" / "x.json", "{}", inside=out)
    assert list((tmp_path / "away").iterdir()) == []
    (out / ".sweep.lock").symlink_to(target)
    with pytest.raises(RunFolderError, match="lock file"):
        with exclusive(out, ".sweep.lock", "sweep"):
            pass
    assert target.read_text() == "precious\n"  # opened "w" through the link, it was emptied


def test_the_registry_is_not_written_through_a_link_or_a_fifo(run_folder, tmp_path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("precious\n")
    (tmp_path / "link.duckdb").symlink_to(target)
    with pytest.raises(reg.RegistryError, match="symbolic link"):
        reg.register_run(run_folder, tmp_path / "link.duckdb")
    os.mkfifo(tmp_path / "fifo.duckdb")
    with pytest.raises(reg.RegistryError, match="FIFO"):
        reg.register_run(run_folder, tmp_path / "fifo.duckdb")
    assert target.read_text() == "precious\n"
