"""A scenario argument: a built-in name wins over a folder of that name; a directory given
as a file is reported as one. Both failed on the code before loader.names_a_file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scoresim.cli import app
from scoresim.scenario import ScenarioError, load_scenario
from scoresim.scenario.loader import builtin_text, read_text_file


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_a_builtin_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reference").mkdir()
    result = invoke("run", "reference", "--agents", "500", "--days", "5", "--out",
                    tmp_path / "out", "--registry", "none", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "manifest.json").is_file()
    assert load_scenario("reference").name == "reference"


def test_a_directory_given_as_the_file_is_said_to_be_one(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reference").mkdir()
    (tmp_path / "mine.yaml").mkdir()
    for arg in ("./reference", "mine.yaml", str(tmp_path / "reference")):
        result = invoke("show", arg)
        assert result.exit_code == 2, (arg, result.output)
        assert "is a directory" in result.output and "Traceback" not in result.output
    with pytest.raises(ScenarioError, match="is a directory"):
        read_text_file(tmp_path / "reference", "sweep file")


def test_a_file_named_like_a_builtin_is_read_as_that_file(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reference").write_text(
        builtin_text("reference").replace("name: reference", "name: my-reference", 1))
    assert load_scenario("reference").name == "my-reference"
    assert load_scenario("pilot-city").name == "pilot-city"


def test_a_missing_file_and_a_fifo_are_refused(tmp_path: Path, monkeypatch) -> None:
    import os

    monkeypatch.chdir(tmp_path)
    result = invoke("show", "nothing-here.yaml")
    assert result.exit_code == 2 and "no such scenario file" in result.output
    os.mkfifo(tmp_path / "pipe")
    result = invoke("show", "pipe")  # would block forever if opened
    assert result.exit_code == 2 and "not a regular file" in result.output
