"""Finishing a run: no kill at any step loses data, and a resumed run is the same bytes.

Issue 19. The finishing steps of a checkpointed run (runs/finish.py, named in
runs/crash.py) are each killed with SIGKILL in a `python -m scoresim run`
subprocess (SCORESIM_KILL_AT, a test hook); `scoresim resume` must then give
the uninterrupted run folder byte for byte, or refuse (exit 2) and delete
nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import scoresim
from scoresim.runs import finish, parquet_stream
from scoresim.runs.crash import KILL_ENV, STEPS
from scoresim.runs.folder import RunFolderError
from scoresim.runs.layout import MANIFEST

SMALL = {"agents": 5_000, "days": 60}


def row_groups(path: Path) -> list[int]:
    meta = pq.read_metadata(path)
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def test_checkpointed_records_are_the_same_bytes(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 15: same row groups (whole ROW_GROUP ones, then the rest), same bytes."""
    monkeypatch.setattr(parquet_stream, "ROW_GROUP", 4_000)  # many groups from a small run
    plain = scoresim.run("reference", **SMALL, out=tmp_path / "plain")
    ckpt = scoresim.run("reference", **SMALL, out=tmp_path / "ckpt", checkpoint_every=7)
    for name in ("records.parquet", "sanctions.parquet"):
        groups = row_groups(plain.folder / name)
        if name == "records.parquet":  # several groups, or the test would mean nothing
            assert len(groups) > 3
        assert all(g == 4_000 for g in groups[:-1]) and 0 < groups[-1] <= 4_000, groups
        assert row_groups(ckpt.folder / name) == groups, name
        assert (ckpt.folder / name).read_bytes() == (plain.folder / name).read_bytes(), name


# --- kill -9 at each step of finishing, then resume ----------------------------------------

RUN = ["reference", "--agents", str(SMALL["agents"]), "--days", str(SMALL["days"])]
EVERY = ["--checkpoint-every", "20"]
# manifest.json keys that differ between any two runs (when, and how long it took)
VOLATILE = ("started", "wall_seconds", "timings")
# the steps an unregistered run without --report reaches (all but "registered")
KILL_STEPS = [s for s in STEPS if s != "registered"]
# item 1's window by default (item 2's: the filled-destination test); the rest: -m slow
FAST_STEPS = ("joined",)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "run"
    scoresim.run("reference", **SMALL, out=out)
    return out


def scoresim_cli(args: list[str], kill_at: str | None = None,
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    if kill_at is not None:
        env[KILL_ENV] = kill_at
    return subprocess.run([sys.executable, "-m", "scoresim", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def killed_run(out: Path, step: str, *extra: str) -> None:
    """A checkpointed `scoresim run` that kills itself with SIGKILL at `step`."""
    proc = scoresim_cli(["run", *RUN, *EVERY, "--out", str(out), "-q", "--registry", "none",
                         *extra], kill_at=step, cwd=out.parent)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])


def resume_cli(out: Path, *extra: str):
    from typer.testing import CliRunner

    from scoresim.cli import app

    return CliRunner().invoke(app, ["resume", str(out), "-q", *extra])


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_same_folder(got: Path, want: Path) -> None:
    """Every file, byte for byte (manifest.json: but for when it ran and how long it took)."""
    a, b = files(got), files(want)
    assert sorted(a) == sorted(b)
    for name in a:
        if name == MANIFEST:
            left, right = json.loads(a[name]), json.loads(b[name])
            for key in VOLATILE:
                left.pop(key), right.pop(key)
            assert left == right
        else:
            assert a[name] == b[name], name


def snapshot(parent: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `parent` with its bytes and modification time: what 'untouched' means."""
    return {str(p.relative_to(parent)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(parent.rglob("*")) if p.is_file()}


def test_every_step_is_named_in_order() -> None:
    assert len(set(STEPS)) == len(STEPS)
    assert set(FAST_STEPS) <= set(KILL_STEPS)


@pytest.mark.parametrize("step", [
    pytest.param(s, marks=() if s in FAST_STEPS else pytest.mark.slow) for s in KILL_STEPS])
def test_kill_at_each_step_then_resume(step: str, tmp_path: Path, uninterrupted: Path) -> None:
    """Items 1 and 2: kill -9 anywhere in finishing, resume: the uninterrupted run folder."""
    out = tmp_path / "run"
    killed_run(out, step)
    result = resume_cli(out)
    assert result.exit_code == 0, result.output
    assert_same_folder(out, uninterrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging, nothing beside
    again = resume_cli(out)
    assert again.exit_code == 2 and "nothing to resume" in again.output


@pytest.mark.parametrize("step", [pytest.param("checkpointed", marks=pytest.mark.slow),
                                  "drop-checkpoint"])
def test_resume_refuses_a_filled_destination(step: str, tmp_path: Path,
                                              uninterrupted: Path) -> None:
    """Item 2: the destination filled while the run was down: refused, nothing computed or
    deleted; once it is moved away, resume ends the run as if never stopped."""
    out = tmp_path / "run"
    killed_run(out, step)
    out.mkdir(exist_ok=True)
    (out / "someone-else.txt").write_text("not yours")
    before = snapshot(tmp_path)
    result = resume_cli(out)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "was filled while this run was down" in text and "nothing was computed or deleted" \
        in text, text
    assert "Traceback" not in result.output
    (staging,) = [p for p in tmp_path.iterdir() if p.name.startswith(".run.partial-")
                  and not p.name.endswith(".finishing")]
    assert str(staging) in text.replace(" ", "") or staging.name in text
    assert snapshot(tmp_path) == before
    (out / "someone-else.txt").unlink()
    out.rmdir()
    scoresim.resume(out)  # from Python: it does no registry or report, and leaves nothing
    assert_same_folder(out, uninterrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_destination_filled_while_finishing_keeps_the_run(
        tmp_path: Path, uninterrupted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 2, without a kill: another process takes the destination just before the rename.
    The finished run is kept (not deleted with its checkpoint) and resume puts it in place."""
    out = tmp_path / "run"

    def fill(step: str) -> None:
        if step == "drop-checkpoint" and not out.exists():  # once: not again on resume
            out.mkdir()
            (out / "someone-else.txt").write_text("not yours")

    monkeypatch.setattr(finish, "crash_point", fill)
    with pytest.raises(RunFolderError, match="was filled while this run was finishing"):
        scoresim.run("reference", **SMALL, out=out, checkpoint_every=20)
    assert (out / "someone-else.txt").read_text() == "not yours"
    (out / "someone-else.txt").unlink()
    out.rmdir()
    out.mkdir()  # an empty folder is not taken: the run may go there
    scoresim.resume(out)
    assert_same_folder(out, uninterrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# --- item 3: resume does what the run was asked to do afterwards ---------------------------

@pytest.mark.parametrize("step", [
    "checkpointed",
    pytest.param("rename", marks=pytest.mark.slow),
    pytest.param("registered", marks=pytest.mark.slow),
])
def test_resume_registers_and_reports(step: str, tmp_path: Path) -> None:
    """Item 3: `run --registry R --report` killed at `step`; resume registers the run in R
    (once) and writes RUN/report.html, as the uninterrupted run would have."""
    from scoresim.runs import registry as reg

    out, registry = tmp_path / "run", tmp_path / "reg.duckdb"
    proc = scoresim_cli(["run", *RUN, *EVERY, "--out", str(out), "-q", "--registry",
                         str(registry), "--report", "--set", "seed=11"],
                        kill_at=step, cwd=tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    result = resume_cli(out)
    assert result.exit_code == 0, result.output
    runs = reg.list_runs(registry)
    assert list(runs["folder"]) == [str(out.resolve())]
    assert json.loads(runs["overrides"].iloc[0]) == {"seed": 11}
    assert (out / "report.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- item 7: a damaged checkpoint is a clear error, and nothing is deleted -----------------

@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run killed just after its first checkpoint: a staging folder to damage (copies)."""
    out = tmp_path_factory.mktemp("killed") / "run"
    killed_run(out, "checkpointed")
    return out.parent


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 7)


def _drop_state_key(path: Path) -> None:
    with np.load(path) as z:
        state = {k: z[k] for k in z.files}
    key = next(k for k in state if k.startswith("standing:"))
    del state[key]
    with open(path, "wb") as fh:
        np.savez(fh, **state)


def _meta(change):
    def damage(path: Path) -> None:
        meta = json.loads(path.read_text())
        change(meta)
        path.write_text(json.dumps(meta))
    return damage


DAMAGES = {
    "state-truncated": ("state.npz", _truncate),
    "state-garbage": ("state.npz", _garbage),
    "state-empty": ("state.npz", lambda p: p.write_bytes(b"")),
    "state-missing-key": ("state.npz", _drop_state_key),
    "meta-truncated": ("run.json", _truncate),
    "meta-garbage": ("run.json", _garbage),
    "meta-missing": ("run.json", Path.unlink),
    "meta-missing-key": ("run.json", _meta(lambda m: m.pop("checkpoint_every"))),
    "meta-wrong-type": ("run.json", _meta(lambda m: m.update(started=3))),
    "meta-not-an-object": ("run.json", lambda p: p.write_text("[1, 2]")),
    "meta-bad-scenario": ("run.json", _meta(lambda m: m["scenario"].update(agents=-5))),
}


@pytest.mark.parametrize("case", DAMAGES)
def test_damaged_checkpoint_is_refused(case: str, killed: Path, tmp_path: Path) -> None:
    """Item 7: exit 2, the file named, no traceback, not a byte deleted or changed."""
    name, damage = DAMAGES[case]
    shutil.copytree(killed, tmp_path, dirs_exist_ok=True)
    (staging,) = tmp_path.glob(".run.partial-*")
    damage(staging / "checkpoint" / name)
    before = snapshot(tmp_path)
    result = resume_cli(tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is None or \
        isinstance(result.exception, SystemExit)
    flat = "".join(result.output.split())
    assert name in flat and "nothingwasdeleted" in flat, result.output
    assert snapshot(tmp_path) == before
