"""The example notebooks run: each is executed top to bottom in a fresh copy of examples/.

nbclient starts a Python kernel (ipykernel, offline) in that folder with this
checkout's scoresim on its path; any cell that raises fails the test, naming the
notebook and the cell. The notebooks are small (20,000 people, a few seeds) so
that all three run in about a minute.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import scoresim

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SRC = Path(scoresim.__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))


def test_there_are_three_notebooks() -> None:
    assert NOTEBOOKS == ["01-first-run.ipynb", "02-paired-comparison.ipynb", "03-sweep.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name: str, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(folder / name, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), \
        f"{name} is stored with outputs; clear them (they are made when it runs)"
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{name}: {exc}"[:6000])
