"""Every file and folder name scoresim writes, in one place.

A run folder, a sweep folder and a calibration folder are contracts: other
tools (the registry, the report, a user's notebook, DuckDB queries) find files
by these names. They are public interfaces: add names, never rename one. Every
writer and reader imports them from here, so no name is ever written twice.
"""

from __future__ import annotations

from pathlib import Path

# --- a run folder (runs/results.py writes and reads it) -------------------------------------
MANIFEST = "manifest.json"  # the fully resolved scenario, seed, sizes, version, timings
TIMESERIES = "timeseries.parquet"  # one row per day
PEOPLE = "people.parquet"  # one row per person: the final state
RECORDS = "records.parquet"  # the credit file, one row per record (unless records: none)
SANCTIONS = "sanctions.parquet"  # each sanction begun or ended, for the kept files
WRONGFUL = "wrongful.parquet"  # each wrongly sanctioned person and sanction, with its cause
BREAKDOWN = "breakdown.parquet"  # day x trait x level, where the scenario asks for it
REPORT = "report.html"  # `scoresim report` / `run --report`
# the society's tables, where a scenario has them: firms, their credit file, collateral
SOCIETY_TABLES = ("firms", "firm_records", "collateral", "surveys")


def society_table(name: str) -> str:
    """The file name of one of SOCIETY_TABLES."""
    return f"{name}.parquet"


# streams the engine writes while it runs, by the name the model gives them
STREAMS = {"records": RECORDS, "sanctions": SANCTIONS}
PARTS_SUFFIX = ".parts"  # a stream's part files while a checkpointed run goes on
# a run on Dask (studies/cluster_run.py): each block's people, a file a block, written by
# the workers into the staging folder, then joined in order into people.parquet
PEOPLE_PARTS = PEOPLE + PARTS_SUFFIX


def people_part(block: int) -> str:
    """The file name of one block's people in PEOPLE_PARTS."""
    return f"part-{block:05d}.parquet"


# --- staging and checkpoints (runs/folder.py, runs/checkpoint.py) ----------------------------
PARTIAL_MARK = ".partial-"  # a staging folder is named .<final name>.partial-<pid>-<random>
CHECKPOINT = "checkpoint"  # inside the staging folder of a checkpointed run
RUN_META = "run.json"  # the resolved scenario and the run's settings
STATE = "state.npz"  # the engine's state at the last checkpoint
# while a finished run is renamed into place, its checkpoint (run.json: what the run was
# asked to do afterwards) waits beside it, in <staging folder name> + FINISHING_SUFFIX
FINISHING_SUFFIX = ".finishing"

# --- `scoresim run --seeds K`: one run folder per seed (seed-<s>/) and beside them
SEEDS_FILE = "seeds.parquet"  # every headline: mean and interval over the seeds

# --- a sweep folder (studies/sweep.py) -------------------------------------------------------
MEMBERS = "members"  # one run folder per member
PLAN_FILE = "sweep.json"  # the plan: points, arms, seeds, members
SUMMARY_FILE = "summary.parquet"  # mean and interval per point, arm and output
MEMBER_TABLE = "members.parquet"  # every member's outputs
SWEEP_LOCK = ".sweep.lock"

# --- a calibration folder (studies/calibrate.py) ---------------------------------------------
STUDY_FILE = "study.db"  # the Optuna study (SQLite): a second call continues it
FIT_FILE = "fit.parquet"  # the residual of every target at the best trial
BEST_FILE = "best.yaml"  # the fitted scenario
CALIBRATION_FILE = "calibration.json"  # settings and the best trial's summary
CALIBRATION_LOCK = ".calibrate.lock"

# --- a sensitivity study folder (studies/sensitivity.py) -------------------------------------
SENSITIVITY_FILE = "sensitivity.json"  # the settings: scenario, parameters, outputs, design
SENSITIVITY_PARTS = "parts"  # one Parquet file per finished batch of runs (what resumes)
RUNS_FILE = "runs.parquet"  # every run: design row, seed, parameter values, outputs
INDICES_FILE = "indices.parquet"  # output, parameter, index, value, low, high
SENSITIVITY_LOCK = ".sensitivity.lock"

# --- the run registry (runs/registry.py) -----------------------------------------------------
DEFAULT_REGISTRY = Path("runs") / "registry.duckdb"

# --- the tables' row groups (runs/results.py, runs/people_file.py) ------------------------
# Rows per row group of the run folder's tables. Parquet holds a row group's column
# chunks in memory until the group is written; over 64Ki rows (512 KiB a float64 column)
# Arrow's allocator keeps those pages resident afterwards: writing a 24-column people
# table of 200,000 people in one group raised the process's RSS by 71 MiB, in groups of
# 65,536 rows by 27 MiB, at 1,000,000 people 75 against 39 (BENCHMARKS.md, the memory
# guard). Readers see the same table.
TABLE_ROW_GROUP = 1 << 16
# ... but each row group adds its columns' metadata to the footer, which the writer holds
# until the file is closed: a table of 1.41e9 people would have 21,500 groups. Past
# MAX_ROW_GROUPS groups the groups grow instead (whole multiples of TABLE_ROW_GROUP).
MAX_ROW_GROUPS = 1024


def table_row_group(rows: int) -> int:
    """Rows per row group of a run-folder table of `rows` rows (both writers use it, so a
    run in blocks writes the file a run in memory writes)."""
    per = -(-max(rows, 1) // MAX_ROW_GROUPS)
    return max(TABLE_ROW_GROUP, -(-per // TABLE_ROW_GROUP) * TABLE_ROW_GROUP)
