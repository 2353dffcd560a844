"""The README runs as written: every shell block, in order, in a fresh folder.

Each block of README.md fenced without a language (the command lines) is run
with bash (`set -euo pipefail`) in one fresh temporary folder holding a copy
of examples/, as a reader who cloned the repository would, with
SCORESIM_SCALE=0.001 so that 50 million people become 50,000 (the command line
reads it; see the README's tour). `scoresim` is this checkout's. Two lines
are not run: `pip install ...` (the package is installed) and the test suite
itself (`python -m pytest`, which CI runs). A non-zero exit fails the test,
naming the block and showing its output.

The whole tour takes minutes on two cores, so it is marked slow; the default
suite runs the Quick start's `scoresim run` as written (unscaled, the default
scenario at its default size) and the sweep script below.

The Python blocks are run too: the API block as a script at full size (slow),
and, fast, a script that calls `scoresim.sweep` at its top level without
`if __name__ == "__main__":`, which used to make every Dask worker run the
script again until the nannies failed to start.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import scoresim

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SRC = Path(scoresim.__file__).resolve().parents[1]


def blocks(text: str, language: str = "") -> list[str]:
    """The fenced blocks of `text` in the given language ('' for unlabelled)."""
    return [m.group(2) for m in re.finditer(r"^```([a-z]*)\n(.*?)^```", text, re.M | re.S)
            if m.group(1) == language]


def runnable(block: str) -> str:
    lines = []
    for line in block.splitlines():
        line = re.sub(r"^pip install \S+\s*&&\s*", "", line.strip())
        if line.startswith("pip install") or line.startswith("python -m pytest"):
            continue
        lines.append(line)
    return "\n".join(lines)


def environment(tmp: Path) -> dict[str, str]:
    """This checkout's `scoresim` first on PATH, sizes scaled, nothing registered elsewhere."""
    bin_dir = tmp / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "scoresim"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m scoresim "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ)
    env.pop("SCORESIM_REGISTRY", None)  # the README uses the default ./runs/registry.duckdb
    env.update({"PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONPATH": os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
                "SCORESIM_SCALE": "0.001", "COLUMNS": "80"})
    return env


@pytest.fixture
def clone(tmp_path) -> Path:
    """A fresh folder as a clone would have it: examples/ (and nothing from earlier runs)."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.html"))
    return tmp_path


def test_the_readme_has_shell_blocks_to_run() -> None:
    found = blocks(README.read_text())
    assert len(found) >= 3
    quick = found[0].strip().splitlines()
    assert quick == ['pip install . && scoresim run',
                     'pip install ".[test]" && python -m pytest -q'], \
        "the Quick start is exactly these two command lines"


def test_the_quick_start_runs(clone) -> None:
    """The Quick start's first line as a newcomer types it (less `pip install`), unscaled.

    Fast, so that the default suite proves the one command every reader runs first:
    the default scenario at its default size, a run folder with its tables written.
    """
    (first, _) = blocks(README.read_text())[0].strip().splitlines()
    command = runnable(first)
    assert command == "scoresim run"
    env = environment(clone)
    env.pop("SCORESIM_SCALE")
    proc = subprocess.run(["bash", "-c", command], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (folder,) = [p for p in (clone / "runs").iterdir() if p.is_dir()]
    assert folder.name.endswith("-pilot-city"), folder.name
    for table in ("timeseries.parquet", "people.parquet", "records.parquet", "manifest.json"):
        assert (folder / table).is_file(), f"{table} missing from {folder}"
    assert str(folder.name) in proc.stdout, "the command says where it wrote the run"


@pytest.mark.slow
def test_every_shell_block_of_the_readme_runs(clone) -> None:
    env = environment(clone)
    for k, block in enumerate(blocks(README.read_text())):
        script = runnable(block)
        proc = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=clone,
                              env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (
            f"README shell block {k + 1} failed (exit {proc.returncode}):\n{script}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}")


def test_a_sweep_at_the_top_of_a_script_runs_once(clone) -> None:
    """No `if __name__ == "__main__":`: the workers must not run the script again."""
    script = clone / "sweep_script.py"
    script.write_text(textwrap.dedent("""
        import scoresim
        print("script body ran")
        summary = scoresim.sweep({"name": "tiny", "scenario": "reference", "agents": 200,
                                  "days": 10, "seeds": 2}, out="sweeps/tiny", workers=2)
        print("members:", summary.attrs["members_run"])
    """))
    env = environment(clone)
    proc = subprocess.run([sys.executable, str(script)], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("script body ran") == 1, proc.stdout
    assert "members: 2" in proc.stdout


@pytest.mark.slow
def test_the_python_api_block_runs_as_a_script(clone) -> None:
    (python,) = [b for b in blocks(README.read_text(), "python")
                 if "scoresim.sweep(" in b and "SLURMCluster" not in b]
    script = clone / "api.py"
    script.write_text(python)
    proc = subprocess.run([sys.executable, str(script)], cwd=clone, env=environment(clone),
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-4000:]
