"""Every column of every output has a definition in the data dictionary (runs/columns.py).

Each built-in scenario is run small (and pilot-city once more with abuse on,
the one module no built-in enables), then a paired sweep and a calibration;
every column of every file they write must be defined, and every definition
of a run-folder file must be met by some run (a definition nothing writes is
stale). A new output fails here until its columns are defined: add a Column
to its file's tuple in runs/columns.py.
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import scoresim
from scoresim.model.attribution import CAUSES, SANCTIONS
from scoresim.runs import columns
from scoresim.runs import registry as registry_module
from scoresim.runs.layout import (
    FIT_FILE,
    INDICES_FILE,
    MEMBER_TABLE,
    RUNS_FILE,
    SEEDS_FILE,
    SUMMARY_FILE,
    TIMESERIES,
)
from scoresim.scenario import builtin_names
from scoresim.studies.sweep import FLOW_COLUMNS, PERSON_FLAGS

ABUSE = {"abuse": {"target": "propensity", "behaviour": "criticizing_government", "count": 20,
                   "start_day": 5, "downgrade_points": -200,
                   "fabricated_behaviour": "court_judgment_default",
                   "fabricate_every_days": 10}}
# Opinion broken down by another trait, a survey inside 30 days, and the crossing's voice
# warning (on in no built-in): so that those columns are checked too.
OPINION = {"opinion": {"breakdown": ["occupation"]}, "surveys": {"days": [10], "sample": 500},
           "channels.street_camera.voice_warning": 0.3}
RUNS = [(name, {}) for name in builtin_names()] + [("pilot-city", ABUSE), ("pilot-city", OPINION)]


def names_of(scenario: dict) -> dict[str, list[str]]:
    """What each placeholder of a pattern may stand for in this scenario."""
    scoring = scenario.get("scoring") or {}
    return {
        "behaviour": list(scenario["behaviours"]),
        "channel": list(scenario.get("channels") or {}),
        "grade": [g["name"] for g in scoring.get("grades", [])],
        "reward": [r["name"] for r in scenario.get("rewards") or []],
        "trait": list((scenario.get("population") or {}).get("attributes") or {}),
        "level": [lv for a in ((scenario.get("population") or {}).get("attributes") or {})
                  .values() for lv in (a.get("levels") or [])],
    }


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("columns")
    out = []
    for k, (name, sets) in enumerate(RUNS):
        folder = base / f"{k}-{name}"
        IN_MEMORY[folder] = scoresim.run(name, agents=2_000, days=30, seed=2, records="all",
                                         set=sets, out=folder)
        out.append(folder)
    return out


IN_MEMORY: dict = {}  # each run folder's Results as the run returned them


def test_a_loaded_run_has_the_categories_of_the_run_in_memory(run_folders) -> None:
    """Parquet keeps a dictionary with the data pages, so an empty table (china's collateral
    at this size) came back with no categories; columns.read_parquet puts them back."""
    import pandas as pd

    from scoresim.runs.results import load

    checked = 0
    for folder in run_folders:
        mem, disk = IN_MEMORY[folder], load(folder)
        pairs = [("timeseries", mem.timeseries, disk.timeseries),
                 ("people", mem.people, disk.people), ("breakdown", mem.breakdown, disk.breakdown),
                 *((n, t, disk.tables.get(n)) for n, t in mem.tables.items())]
        for name, a, b in pairs:
            if a is None:
                continue
            for col in a.columns:
                if isinstance(a[col].dtype, pd.CategoricalDtype):
                    checked += 1
                    assert isinstance(b[col].dtype, pd.CategoricalDtype), (folder, name, col)
                    assert list(b[col].cat.categories) == list(a[col].cat.categories), \
                        (folder.name, name, col, len(a))
                    assert b[col].cat.ordered == a[col].cat.ordered
    assert checked > 20


def test_every_run_folder_column_is_defined(run_folders) -> None:
    missing = []
    for folder in run_folders:
        names = names_of(scoresim.load(folder).scenario)
        for path in sorted(folder.glob("*.parquet")):
            cols = pq.read_schema(path).names
            missing += [f"{folder.name}/{path.name}: {c}"
                        for c in columns.undefined(path.name, cols, names)]
    assert not missing, "no definition in runs/columns.py for:\n" + "\n".join(missing)


def test_every_run_folder_definition_is_written_somewhere(run_folders) -> None:
    """A definition no run writes is stale (renamed, removed) or names a pattern wrongly."""
    seen: dict[str, set[str]] = {}
    for folder in run_folders:
        names = names_of(scoresim.load(folder).scenario)
        for path in folder.glob("*.parquet"):
            for c in pq.read_schema(path).names:
                d = columns.lookup(path.name, c, names)
                seen.setdefault(path.name, set()).add(d.name if d else "")
    studies = {MEMBER_TABLE, SUMMARY_FILE, FIT_FILE, columns.RESIDUALS, columns.REGISTRY_RUNS,
               columns.REGISTRY_SWEEPS, columns.REGISTRY_MEMBERS, INDICES_FILE, RUNS_FILE,
               SEEDS_FILE}
    unused = [f"{file}: {c.name}" for file, (_, cols) in columns.FILES.items()
              if file not in studies for c in cols if c.name not in seen.get(file, set())]
    assert not unused, "defined, but written by no run:\n" + "\n".join(unused)


def test_written_files_carry_the_meaning_of_their_columns(run_folders) -> None:
    schema = pq.read_schema(run_folders[0] / TIMESERIES)
    field = schema.field("n_wrongly_banned")
    assert field.metadata[b"description"].decode() == \
        columns.lookup(TIMESERIES, "n_wrongly_banned").meaning


def test_patterns_match_only_the_scenarios_names() -> None:
    names = {"behaviour": ["jaywalking"], "grade": ["A"]}
    assert columns.lookup(TIMESERIES, "n_events_jaywalking", names) is not None
    assert columns.lookup(TIMESERIES, "n_events_jaywalkin", names) is None
    assert columns.lookup(TIMESERIES, "n_grade_A", names).name == "n_grade_<grade>"
    assert columns.lookup(TIMESERIES, "n_dishonest", names).name == "n_dishonest"


def test_sweep_and_calibration_columns_are_defined(tmp_path) -> None:
    spec = {"name": "cols", "scenario": "reference", "agents": 500, "days": 20, "seeds": 1,
            "grid": {"scoring.points.jaywalking": [-5, -50]},
            "arms": {"system": {}, "none": {"scenario": "no-system", "vary": False}},
            "baseline": "none"}
    registry = tmp_path / "registry.duckdb"
    summary = scoresim.sweep(spec, out=tmp_path / "sweep", workers=1, registry=registry)
    members = pq.read_schema(tmp_path / "sweep" / MEMBER_TABLE).names
    ts = {c for d in (tmp_path / "sweep" / "members").iterdir()
          for c in pq.read_schema(d / TIMESERIES).names}
    names = {"param": ["scoring.points.jaywalking"],
             "output": [c for c in ts if c not in FLOW_COLUMNS],
             "flow": [c[2:] for c in FLOW_COLUMNS], "flag": list(PERSON_FLAGS),
             "sanction": list(SANCTIONS), "cause": list(CAUSES), "group": ["0", "1"]}
    assert not columns.undefined(MEMBER_TABLE, members, names)
    assert not columns.undefined(SUMMARY_FILE, list(summary.columns), names)
    outcomes = {"outcome": [k for k, _ in registry_module.KEY_OUTCOMES]}
    for table, file in (("runs", columns.REGISTRY_RUNS), ("sweeps", columns.REGISTRY_SWEEPS),
                        ("sweep_members", columns.REGISTRY_MEMBERS)):
        cols = list(registry_module.query(f"select * from {table} limit 0", registry).columns)
        assert not columns.undefined(file, cols, outcomes), table

    result = scoresim.calibrate(
        "china-list", "national-list",
        ["behaviours.court_judgment_default.rate=2e-6:1e-5:log"], out=tmp_path / "calib",
        trials=1, agents=500, workers=1)
    fit = pq.read_schema(tmp_path / "calib" / FIT_FILE).names
    names = {"param": ["behaviours.court_judgment_default.rate"],
             "target": list(result.residuals["target"])}
    assert not columns.undefined(FIT_FILE, fit, names)
    assert not columns.undefined(columns.RESIDUALS, list(result.residuals.columns), names)


def test_the_dictionary_page_is_the_generated_one() -> None:
    from pathlib import Path

    page = Path(__file__).parents[1] / "docs" / "data-dictionary.md"
    assert page.read_text() == columns.dictionary_markdown() + "\n", \
        "docs/data-dictionary.md is stale: python docs/generate.py"
