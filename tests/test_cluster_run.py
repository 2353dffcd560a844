"""One run on Dask (studies/cluster_run.py, issue 23) is the local run, byte for byte.

The person backend's blocks are lived as Dask tasks on two worker processes; each
worker builds the scenario itself, writes its blocks' people as part files, and
sends back the block's counts. Every file of the run folder but the manifest must
be the bytes of the run in one process, with a block that does not divide the
population, false matches that cross blocks, and many of them (BUSY). A scenario
the person backend cannot run is refused before any cluster is reached, and a
run whose worker fails leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.runs.layout import PEOPLE_PARTS, people_part
from scoresim.scenario import ScenarioError
from scoresim.studies import cluster_run
from scoresim.studies.cluster import NoWorkersError, local_cluster, main_not_rerun
from scoresim.studies.cluster_run import dask_block, run_on_dask
from tests.test_blocks import files
from tests.test_lives import BUSY


@pytest.fixture(scope="module")
def cluster():
    with main_not_rerun():
        cluster = local_cluster(2)  # two worker processes, as `--workers 2` makes
    yield cluster
    cluster.close()


def on_dask_and_here(tmp_path: Path, cluster, agents: int, days: int, block: int,
                     sets: dict | None = None) -> tuple[scoresim.Results, scoresim.Results]:
    here = scoresim.run("reference", agents=agents, days=days, records="none",
                        set=dict(sets or {}), out=tmp_path / "here")
    there = run_on_dask("reference", scheduler=cluster, agents=agents, days=days,
                        records="none", set=dict(sets or {}), block_size=block,
                        out=tmp_path / "dask")
    assert files(tmp_path / "dask") == files(tmp_path / "here")
    assert there.manifest["dask_workers"] == 2 and there.manifest["block_size"] == block
    assert there.manifest["n_events"] == here.manifest["n_events"]
    assert not (tmp_path / "dask" / PEOPLE_PARTS).exists()  # the parts were joined
    return here, there


def test_a_run_on_two_dask_workers_is_the_local_run(tmp_path, cluster) -> None:
    # 7,000 does not divide 30,000: five blocks, the last part-filled
    here, there = on_dask_and_here(tmp_path, cluster, 30_000, 365, 7_000)
    assert here.timeseries["n_false_records"].sum() > 0  # false matches across blocks
    assert there.people.equals(here.people)


def test_many_false_matches_on_dask_are_the_local_run(tmp_path, cluster) -> None:
    # frequent false matches, listings that end, suspensions, shaming, rewards
    here, _ = on_dask_and_here(tmp_path, cluster, 8_000, 200, 3_000, BUSY)
    assert here.timeseries["n_false_records"].sum() > 1_000


def test_the_workers_parts_read_as_a_dataset_are_the_people(tmp_path, cluster,
                                                             monkeypatch) -> None:
    # the part files the workers write (joined, then deleted) are a partitioned dataset
    # of the people, in order: copied here as each block is joined
    kept = tmp_path / "kept"
    kept.mkdir()
    joined = cluster_run.DaskSpread.blocks

    def keep(self, bounds, named):
        for b, (counts, people) in enumerate(joined(self, bounds, named)):
            shutil.copy(self.parts / people_part(b), kept / people_part(b))
            yield counts, people

    monkeypatch.setattr(cluster_run.DaskSpread, "blocks", keep)
    run_on_dask("reference", scheduler=cluster, agents=10_000, days=30, records="none",
                block_size=4_096, out=tmp_path / "d")
    here = scoresim.run("reference", agents=10_000, days=30, records="none",
                        out=tmp_path / "here")
    assert sorted(p.name for p in kept.iterdir()) == [people_part(b) for b in range(3)]
    people = pq.read_table(tmp_path / "here" / "people.parquet")
    assert ds.dataset(kept).to_table().equals(people)
    assert len(here.people) == 10_000


def test_a_failed_worker_leaves_no_run_folder(tmp_path, monkeypatch) -> None:
    from distributed import LocalCluster

    def broken(*args):
        raise OSError("the worker's disk is full")

    monkeypatch.setattr(cluster_run, "_live", broken)
    (tmp_path / "runs").mkdir()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as local:
        with pytest.raises(OSError, match="disk is full"):
            run_on_dask("reference", scheduler=local, agents=10_000, days=10,
                        records="none", block_size=4_096, out=tmp_path / "runs" / "r")
    assert not (tmp_path / "runs" / "r").exists()
    assert list((tmp_path / "runs").iterdir()) == []  # no staging folder, no parts


def test_a_local_cluster_left_without_workers_ends_the_run(tmp_path, monkeypatch) -> None:
    from distributed import LocalCluster

    monkeypatch.setattr(sys.modules["scoresim.studies.cluster"], "NO_WORKERS_TIMEOUT", 0.05)
    monkeypatch.setattr(cluster_run, "HEALTH_CHECK_SECONDS", 0.05)
    (tmp_path / "runs").mkdir()
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as empty:
        with pytest.raises(NoWorkersError, match="nothing of the run was kept"):
            run_on_dask("reference", scheduler=empty, own_cluster=True, agents=10_000,
                        days=10, records="none", block_size=4_096,
                        out=tmp_path / "runs" / "r")
    assert list((tmp_path / "runs").iterdir()) == []


def test_the_default_block_gives_each_worker_two() -> None:
    s = scoresim.resolve("reference", agents=1_000_000, days=10, records="none")
    assert dask_block(s, 2) == 253_952  # 1e6 / 4, in whole tasks of 4,096
    assert dask_block(s, 2, 100_000) == 100_000
    assert dask_block(s, 2, 1_000_000) is None  # everyone: one block, run here
    assert dask_block(scoresim.resolve(s, agents=5), 2) == 2  # under one task
    assert dask_block(scoresim.resolve(s, agents=1), 2) is None  # one person: one block


# ------------------------------------------------------------------ the command line
def test_run_dask_at_the_command_line_is_the_local_run(tmp_path) -> None:
    args = ["run", "reference", "--agents", "20000", "--days", "60", "--records", "none",
            "--registry", "none"]
    res = CliRunner().invoke(app, [*args, "--workers", "2", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert "on 2 Dask workers in blocks of 8,192" in res.output
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["dask_workers"] == 2 and manifest["block_size"] == 8_192
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "here")])
    assert res.exit_code == 0, res.output
    assert files(tmp_path / "d") == files(tmp_path / "here")


@pytest.mark.parametrize("extra", [["--scheduler", "tcp://127.0.0.1:9"],
                                   ["--dask", "--backend", "day"]])
def test_a_day_loop_scenario_on_dask_is_refused_before_anything(tmp_path, extra) -> None:
    # pilot-city's people respond to each other: the day loop, which does not spread; the
    # address is never tried (nothing listens there) and nothing is written
    scenario = "pilot-city" if extra[0] == "--scheduler" else "reference"
    res = CliRunner().invoke(app, ["run", scenario, "--agents", "2000", "--days", "5",
                                   "--records", "none", "--registry", "none",
                                   "--out", str(tmp_path / "r"), *extra])
    assert res.exit_code == 2, res.output
    assert "a run on Dask" in res.output and "person backend" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "r").exists() and list(tmp_path.iterdir()) == []


def test_the_python_api_refuses_the_same(tmp_path) -> None:
    with pytest.raises(ScenarioError, match="records: the person backend keeps no credit"):
        run_on_dask("reference", scheduler="tcp://127.0.0.1:9", agents=1_000, days=5,
                    out=tmp_path / "r")  # records: all
    assert list(tmp_path.iterdir()) == []
