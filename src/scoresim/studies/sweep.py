"""Sweeps, ensembles and paired comparisons: one experiment as many runs, on Dask.

A sweep file names a base scenario, sizes, seeds, and what varies: a `grid`
of dotted scenario paths (as `--set` takes them) to lists of values, and/or a
random or Latin-hypercube `design` over ranges. Optional `arms` run each point
under several scenarios or settings with the same seeds, so that an arm and the
baseline arm see the same people doing the same things until the system makes
them act differently (common random numbers, DESIGN.md): differences are then
person by person, and far less noisy than two independent ensembles.

Every (point, arm, seed) is a member: one ordinary run, written by
`scoresim.runs.simulate.run` to DIR/members/<member>/, exactly what `scoresim run` with the
same settings writes. A member's folder name is derived from its fully
resolved scenario, so a member that several points share (a baseline arm the
grid does not vary) runs once, and re-running a sweep (or an edited one) into
the same DIR runs only the members whose folders are not finished yet.

Members run as Dask tasks: on a LocalCluster sized to the machine by default
(one process per core, one thread each, numba held to one thread per worker),
or on any scheduler by address, which is how a sweep reaches an HPC batch
system through dask-jobqueue. Workers write the run folders; the client only
gathers small dicts of final-day values and totals (and, for paired arms, the
person-level counts computed where the data is), then writes the summary.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pydantic import Field, field_validator, model_validator

from scoresim._version import __version__
from scoresim.model.backends import choose_backend
from scoresim.model.guards import check_sweep_memory, estimate_memory
from scoresim.runs import registry as reg
from scoresim.runs import simulate
from scoresim.runs.columns import read_parquet
from scoresim.runs.folder import RunFolderError, write_parquet_atomic, write_text_atomic
from scoresim.runs.layout import (
    BREAKDOWN,
    MANIFEST,
    MEMBER_TABLE,
    MEMBERS,
    PEOPLE,
    PLAN_FILE,
    RECORDS,
    SUMMARY_FILE,
    SWEEP_LOCK,
    TIMESERIES,
)
from scoresim.runs.results import Results
from scoresim.runs.size import check_disk
from scoresim.scenario.loader import (
    DOTTED_PATH,
    ScenarioError,
    apply_overrides,
    builtin_names,
    builtin_text,
    names_a_file,
    read_text_file,
    read_yaml,
    validate,
    validate_model,
)
from scoresim.scenario.schema import Days, Model, Name
from scoresim.studies.attribution import outputs as wrongful_outputs
from scoresim.studies.cluster import (
    WorkerWatch,
    drain,
    exclusive,
    hold_numba_threads,
    progress_bar,
    usable_cores,
)
from scoresim.studies.cluster import client as client_of
from scoresim.studies.design_file import read_design
from scoresim.studies.outputs import group_rates
from scoresim.studies.stats import t975

#: Timeseries columns that count what happened on the day (summed over the run);
#: the others are states (their final-day value is taken). As in Results.summary().
FLOW_COLUMNS = ("n_records", "n_false_records", "n_events", "n_speech_events", "n_shamed",
                "n_shamed_wrongly", "n_delisted")
#: people.parquet flags compared person by person between an arm and its baseline.
PERSON_FLAGS = ("travel_banned", "listed", "consumption_banned", "media_suspended",
                "wrongly_banned")
#: The flags that make a person "sanctioned".
SANCTIONS = ("travel_banned", "listed", "consumption_banned", "media_suspended")

MAX_MEMBERS = 100_000
#: Members submitted to Dask ahead of those finished (far more than workers, bounded memory).
SUBMIT_WINDOW = 4_000
#: How often a sweep waiting on its members checks that the cluster still has workers.
# Set by `seeds`, so refused in grids and overrides where it would silently lose.
RESERVED_PATHS = ("seed",)

log = logging.getLogger(__name__)


# --- the sweep file ------------------------------------------------------------------------


class Range(Model):
    """A parameter range for a design. `[low, high]` is short for `{low: .., high: ..}`;
    integer defaults to true when both bounds are written as integers."""

    low: float
    high: float
    log: bool = Field(False, description="Sample uniformly in log space (both bounds > 0).")
    integer: bool | None = Field(None, description="Draw whole numbers from low..high.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list):
            if len(data) != 2:
                raise ValueError(f"a range is [low, high], got {len(data)} values")
            data = {"low": data[0], "high": data[1]}
        if isinstance(data, dict) and data.get("integer") is None:
            bounds = (data.get("low"), data.get("high"))
            data = {**data, "integer": all(isinstance(b, int) and not isinstance(b, bool)
                                           for b in bounds)}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) must not exceed high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.integer and math.ceil(self.low) > math.floor(self.high):
            raise ValueError(f"no whole number between {self.low:g} and {self.high:g}")
        return self


class Design(Model):
    """Points drawn over ranges: `random` (independent uniform draws) or `lhs`
    (Latin hypercube: every range cut into `samples` equal strata, each hit once)."""

    kind: Literal["random", "lhs"]
    samples: int = Field(ge=1, le=MAX_MEMBERS)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    ranges: dict[str, Range] = Field(min_length=1, max_length=64)


class Arm(Model):
    """One arm of a paired comparison: another scenario and/or more overrides."""

    scenario: str | None = Field(None, min_length=1,
                                 description="Built-in name or file (relative to the sweep "
                                 "file); default: the sweep's scenario.")
    set: dict[str, Any] = Field(default_factory=dict, description="Overrides for this arm.")
    vary: bool = Field(True, description="Apply the grid and design to this arm; false for a "
                       "baseline they do not concern (it then runs once per seed).")


class SweepSpec(Model):
    """The sweep file."""

    name: Name | None = None
    description: str = ""
    scenario: str = Field(min_length=1)
    agents: int | None = Field(None, ge=1, le=10**10)
    days: Days | None = None
    seeds: Any = Field(description="A list of seeds, or a count n for seeds 1..n.")
    records: Literal["all", "sample", "none"] | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, Annotated[list[Any], Field(min_length=1, max_length=10_000)]] = Field(
        default_factory=dict)
    design: Design | None = None
    design_file: str | None = Field(
        None, min_length=1, description="An explicit design: a CSV or Parquet file (relative "
        "to the sweep file), one row per point, columns named by dotted path; run as is.")
    arms: dict[Name, Arm] | None = Field(None, min_length=2, max_length=64)
    baseline: Name | None = Field(None, description="The arm others are compared with; "
                                  "default: the first arm.")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: Any) -> list[int]:
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= MAX_MEMBERS:
                raise ValueError(f"a count of seeds must be 1 to {MAX_MEMBERS:,}, got {value}")
            return list(range(1, value + 1))
        if isinstance(value, list) and value:
            for s in value:
                if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**63:
                    raise ValueError(f"seeds must be whole numbers from 0 to 2^63-1, got {s!r}")
            if len(set(value)) != len(value):
                raise ValueError("seeds must not repeat")
            return list(value)
        raise ValueError(f"expected a list of seeds or a count, got {type(value).__name__} "
                         f"{value!r}"[:120])

    @model_validator(mode="after")
    def _arms_and_paths(self) -> SweepSpec:
        if self.baseline is not None:
            if self.arms is None:
                raise ValueError("baseline: names an arm, but there are no arms")
            if self.baseline not in self.arms:
                raise ValueError(f"baseline: unknown arm '{self.baseline}' (known: "
                                 f"{', '.join(self.arms)})")
        paths = [("set", k) for k in self.set] + [("grid", k) for k in self.grid]
        if self.design is not None:
            paths += [("design.ranges", k) for k in self.design.ranges]
        for name, arm in (self.arms or {}).items():
            paths += [(f"arms.{name}.set", k) for k in arm.set]
        for where, path in paths:
            if not DOTTED_PATH.fullmatch(path):
                raise ValueError(f"{where}.{path}: not a dotted path like "
                                 "scoring.points.jaywalking")
            if path in RESERVED_PATHS:
                raise ValueError(f"{where}.{path}: seeds are given by `seeds`")
        if self.design is not None:
            both = set(self.grid) & set(self.design.ranges)
            if both:
                raise ValueError(f"design.ranges.{sorted(both)[0]}: also in the grid")
            if self.design_file is not None:
                raise ValueError("design_file: give a design or a design_file, not both")
        return self


# --- the plan: every member, resolved --------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One run of the sweep: a fully resolved scenario and the folder it goes to."""

    id: str
    folder: str  # relative to the sweep folder
    scenario: dict[str, Any]
    overrides: dict[str, Any]
    arm: str
    seed: int


@dataclass(frozen=True)
class Cell:
    """A place in the sweep: grid point x arm x seed, and the member that fills it."""

    point: int
    arm: str
    seed: int
    member: str


@dataclass
class Plan:
    """A validated sweep: its points, arms and seeds, and the members that cover them."""

    spec: SweepSpec
    source: str
    name: str
    varied: list[str]
    points: list[dict[str, Any]]
    arms: list[str]
    baseline: str | None
    seeds: list[int]
    members: dict[str, Member]
    cells: list[Cell]

    def describe(self) -> dict[str, Any]:
        """The plan as JSON (sweep.json): what each member folder is."""
        return {
            "name": self.name,
            "source": self.source,
            "scoresim_version": __version__,
            "spec": self.spec.model_dump(mode="json"),
            "varied": self.varied,
            "arms": self.arms,
            "baseline": self.baseline,
            "seeds": self.seeds,
            "points": [{"point": i, "parameters": p} for i, p in enumerate(self.points)],
            "cells": [vars(c) for c in self.cells],
            "members": {m.id: {"folder": m.folder, "arm": m.arm, "seed": m.seed,
                               "overrides": m.overrides} for m in self.members.values()},
        }


def load_plan(spec_or_path: str | Path | dict | SweepSpec, *,
              agents: int | None = None, design: str | Path | None = None) -> Plan:
    """Read and check a sweep file (or dict), resolving every member's scenario.

    Everything that can be wrong with the file is found here, before anything is
    written or any worker starts: errors name the file, the field and the line.
    `agents` replaces the file's number of people (the command line's
    SCORESIM_SCALE uses it to try a sweep small). `design`: an explicit design file
    (`--design`), in place of the file's design_file (relative to the working folder).
    """
    lines: dict[tuple, int] = {}
    if isinstance(spec_or_path, SweepSpec):
        spec, source, base_dir = spec_or_path, "<sweep>", Path.cwd()
    elif isinstance(spec_or_path, dict):
        source, base_dir = "<dict>", Path.cwd()
        spec = validate_model(SweepSpec, spec_or_path, source, what="sweep")
    else:
        path = Path(spec_or_path)
        source, base_dir = str(path), path.parent
        data, lines = read_yaml(read_text_file(path, "sweep file"), source)
        spec = validate_model(SweepSpec, data, source, lines, what="sweep")
    if agents is not None:
        spec = spec.model_copy(update={"agents": agents})
    if design is not None:
        if spec.design is not None:
            raise ScenarioError("--design", f"{source} has a design: already; give one of them",
                                line=lines.get(("design",)))
        spec = spec.model_copy(update={"design_file": str(Path(design).resolve())})
    default_name = Path(source).stem if source not in ("<dict>", "<sweep>") else "sweep"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]{0,63}", default_name):
        default_name = "sweep"
    return _Planner(spec, source, lines, base_dir).plan(spec.name or default_name)


class _Planner:
    """Builds a Plan, and turns a member's scenario error into one about the sweep file."""

    def __init__(self, spec: SweepSpec, source: str, lines: dict[tuple, int], base_dir: Path):
        self.spec, self.source, self.lines, self.base_dir = spec, source, lines, base_dir
        self._raw: dict[str, tuple[dict, str, dict[tuple, int]]] = {}

    def plan(self, name: str) -> Plan:
        spec = self.spec
        arms: dict[str, Arm] = spec.arms or {}
        if arms:
            arm_names = list(arms)
            baseline = spec.baseline or arm_names[0]
        else:
            self._scenario(spec.scenario, "scenario")
            base_name = self._raw[spec.scenario][0].get("name")
            arm_names = [base_name if isinstance(base_name, str) else "scenario"]
            arms = {arm_names[0]: Arm()}
            baseline = None
        for arm_name, arm in arms.items():
            where = f"arms.{arm_name}.scenario" if arm.scenario else "scenario"
            self._scenario(arm.scenario or spec.scenario, where)

        grid_keys = list(spec.grid)
        grid_indices = list(itertools.product(*(range(len(spec.grid[k])) for k in grid_keys)))
        design_keys: list[str] = list(spec.design.ranges) if spec.design else []
        if spec.design is not None:
            samples = design_samples(spec.design)
        elif spec.design_file is not None:
            design_keys, samples = self._design_file(grid_keys)
        else:
            samples = [{}]
        n_points = len(grid_indices) * len(samples)
        n_cells = n_points * len(arms) * len(spec.seeds)
        if n_cells > MAX_MEMBERS:
            raise ScenarioError(self.source, f"{n_points:,} points x {len(arms)} arms x "
                                f"{len(spec.seeds):,} seeds = {n_cells:,} runs, more than "
                                f"{MAX_MEMBERS:,}", field="grid" if grid_keys else "seeds",
                                line=self._line(("grid",) if grid_keys else ("seeds",)))

        fixed = {k: v for k, v in (("agents", spec.agents), ("days", spec.days),
                                   ("records", spec.records)) if v is not None}
        points: list[dict[str, Any]] = []
        point_where: list[dict[str, tuple]] = []
        for idx in grid_indices:
            for n_sample, sample in enumerate(samples, start=1):
                params = {k: spec.grid[k][i] for k, i in zip(grid_keys, idx, strict=True)}
                params.update(sample)
                points.append(params)
                where = {k: ("grid", k, i) for k, i in zip(grid_keys, idx, strict=True)}
                if spec.design_file is not None:
                    where.update({k: ("design_file", k, n_sample)
                                  for k in sample})
                else:
                    where.update({k: ("design", "ranges", k) for k in sample})
                point_where.append(where)

        members: dict[str, Member] = {}
        cells: list[Cell] = []
        resolved: dict[tuple, Any] = {}  # (arm, point or None) -> Scenario
        for p, params in enumerate(points):
            for arm_name, arm in arms.items():
                key = (arm_name, p if arm.vary else None)
                if key not in resolved:
                    overrides = {**spec.set, **(params if arm.vary else {}), **arm.set}
                    scenario = self._resolve(arm_name, arm, {**fixed, **overrides},
                                             point_where[p] if arm.vary else {}, params)
                    resolved[key] = (scenario, overrides)
                scenario, overrides = resolved[key]
                for seed in spec.seeds:
                    dump = scenario.model_copy(update={"seed": seed}).model_dump(mode="json")
                    digest = hashlib.sha256(
                        json.dumps(dump, sort_keys=True).encode()).hexdigest()
                    mid = f"{dump['name']}-s{seed}-{digest[:10]}"
                    if mid not in members:
                        members[mid] = Member(mid, f"{MEMBERS}/{mid}", dump, overrides,
                                              arm_name, seed)
                    cells.append(Cell(p, arm_name, seed, mid))
        if baseline is not None:
            self._check_pairs(cells, members, baseline)
        varied = grid_keys + design_keys
        return Plan(spec, self.source, name, varied, points, arm_names, baseline,
                    list(spec.seeds), members, cells)

    def _design_file(self, grid_keys: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
        """The explicit design's columns and rows (a file relative to the sweep file)."""
        path = Path(self.spec.design_file)
        if not path.is_absolute():
            path = self.base_dir / path
        columns, rows = read_design(path)
        self.design_path = str(path)
        for c in columns:
            if c in grid_keys:
                raise ScenarioError(str(path), f"'{c}' is also in the sweep's grid",
                                    field=f"column '{c}'")
        return columns, rows

    def _scenario(self, name: str, where: str) -> None:
        """Read a scenario's raw data once (a built-in name, or a file relative to the sweep)."""
        if name in self._raw:
            return
        path = Path(name)
        if not path.is_absolute():
            path = self.base_dir / path
        try:
            if names_a_file(name, base=self.base_dir):
                source = str(path)
                text = read_text_file(path, "scenario file")
            elif name in builtin_names():
                source, text = f"built-in scenario '{name}'", builtin_text(name)
            else:
                raise ScenarioError(name, "neither a built-in scenario (known: "
                                    f"{', '.join(builtin_names())}) nor a scenario file")
            data, lines = read_yaml(text, source)
            if not isinstance(data, dict):
                raise ScenarioError(source, "expected a mapping of scenario fields")
            validate(data, source, lines)
        except ScenarioError as exc:
            detail = f"scenario '{name}': {exc.detail}" if exc.source == name else str(exc)
            raise ScenarioError(self.source, detail, field=where,
                                line=self._line(tuple(where.split(".")))) from None
        self._raw[name] = (data, source, lines)

    def _resolve(self, arm_name: str, arm: Arm, overrides: dict[str, Any],
                 where: dict[str, tuple], params: dict[str, Any]) -> Any:
        data, source, lines = self._raw[arm.scenario or self.spec.scenario]
        try:
            return validate(apply_overrides(data, overrides, source), source, lines,
                            overridden=list(overrides))
        except ScenarioError as exc:
            raise self._blame(exc, arm_name, arm, where, params) from None

    def _blame(self, exc: ScenarioError, arm_name: str, arm: Arm, where: dict[str, tuple],
               params: dict[str, Any]) -> ScenarioError:
        """The sweep-file field that most likely caused a member's scenario error."""
        target = exc.field or ""
        m = re.search(r"cannot set '([^']+)'", exc.detail)
        if m:
            target = m.group(1)
        candidates: list[tuple[str, tuple]] = (
            [(k, ("arms", arm_name, "set", k)) for k in arm.set]
            + [(k, loc) for k, loc in where.items()]
            + [(k, ("set", k)) for k in self.spec.set]
            + [(k, (k,)) for k in ("agents", "days", "records")]
        )
        blamed: tuple | None = None
        for related in (  # the same field or one inside the other; else the same section
            lambda p: target == p or target.startswith(p + ".") or p.startswith(target + "."),
            lambda p: target.split(".")[0] == p.split(".")[0],
        ):
            blamed = next((loc for path, loc in candidates if target and related(path)), None)
            if blamed is not None:
                break
        if blamed is None:
            blamed = ("arms", arm_name) if self.spec.arms else (
                ("grid",) if self.spec.grid else ("scenario",))
        if blamed[0] == "design_file":
            _, column, row = blamed
            detail = exc.detail
            if exc.field and exc.field != column and not detail.startswith(exc.field):
                detail = f"scenario field '{exc.field}': {detail}"
            return ScenarioError(self.design_path, f"column '{column}', row {row}: {detail}",
                                 field=f"column '{column}'")
        context = []
        if params:
            context.append("at " + ", ".join(f"{k}={_text(v)}" for k, v in params.items()))
        if self.spec.arms:
            context.append(f"arm '{arm_name}'")
        detail = exc.detail
        if exc.field and not detail.startswith(exc.field):
            detail = f"scenario field '{exc.field}': {detail}"
        if arm.vary and arm.scenario and where and blamed[0] in ("grid", "design"):
            detail += f" (if the grid does not apply to arm '{arm_name}', give it vary: false)"
        if context:
            detail += f" ({'; '.join(context)})"
        field_name = ".".join(str(p) for p in blamed[:-1]) if blamed[0] == "grid" \
            else ".".join(str(p) for p in blamed)
        return ScenarioError(self.source, detail, field=field_name, line=self._line(blamed))

    def _check_pairs(self, cells: list[Cell], members: dict[str, Member], baseline: str) -> None:
        base = {(c.point, c.seed): members[c.member] for c in cells if c.arm == baseline}
        for c in cells:
            m, b = members[c.member], base[c.point, c.seed]
            if (m.scenario["agents"], m.scenario["days"]) != (b.scenario["agents"],
                                                              b.scenario["days"]):
                raise ScenarioError(
                    self.source, f"arm '{c.arm}' simulates {m.scenario['agents']:,} people for "
                    f"{m.scenario['days']} days, baseline '{baseline}' "
                    f"{b.scenario['agents']:,} for {b.scenario['days']}: paired arms must "
                    "simulate the same people", field=f"arms.{c.arm}",
                    line=self._line(("arms", c.arm)))

    def _line(self, loc: tuple) -> int | None:
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None


def design_samples(design: Design) -> list[dict[str, Any]]:
    """The design's points: `samples` dicts of path -> value, reproducible from its seed."""
    rng = np.random.default_rng(design.seed)
    keys = list(design.ranges)
    n = design.samples
    if design.kind == "lhs":
        u = np.empty((n, len(keys)))
        for j in range(len(keys)):
            u[:, j] = (rng.permutation(n) + rng.random(n)) / n
    else:
        u = rng.random((n, len(keys)))
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for j, key in enumerate(keys):
        r = design.ranges[key]
        for i in range(n):
            out[i][key] = _scale(r, float(u[i, j]))
    return out


def _scale(r: Range, u: float) -> int | float:
    if r.integer:
        lo, hi = math.ceil(r.low), math.floor(r.high)
        if r.log:  # P(k) proportional to log((k + 1) / k)
            x = math.exp(math.log(lo) + u * (math.log(hi + 1) - math.log(lo)))
            return int(min(max(math.floor(x), lo), hi))
        return int(min(lo + math.floor(u * (hi - lo + 1)), hi))
    if r.log:
        return math.exp(math.log(r.low) + u * (math.log(r.high) - math.log(r.low)))
    return r.low + u * (r.high - r.low)


# --- running -------------------------------------------------------------------------------


class SweepError(RuntimeError):
    """Members failed (after Dask's retries); the others' folders are kept for a re-run."""


def sweep(spec_or_path: str | Path | dict | SweepSpec, *, out: str | Path,
          scheduler: Any = None, registry: str | Path | None = None,
          workers: int | None = None, progress: bool = False,
          force: bool = False) -> pd.DataFrame:
    """Run a sweep into `out` and return its summary (also in out/summary.parquet).

    scheduler: None for a LocalCluster sized to this machine (`workers` processes),
    a scheduler address ("tcp://host:8786"), or a dask Client or cluster object
    (for example a dask_jobqueue.SLURMCluster). registry: a DuckDB registry to
    index the members and the sweep in; None registers nothing. Members already
    finished in `out` are not run again. The summary's attrs say how many members
    ran and how many were already there.

    The local cluster starts worker processes the way multiprocessing does, so a
    script that calls this must do so under `if __name__ == "__main__":`. With a
    scheduler elsewhere, workers need scoresim installed and `out` on a file
    system they share with this process.
    """
    plan = load_plan(spec_or_path)
    return run_plan(plan, out, scheduler=scheduler, registry=registry, workers=workers,
                    progress=progress, force=force)


def run_plan(plan: Plan, out: str | Path, *, scheduler: Any = None,
             registry: str | Path | None = None, workers: int | None = None,
             progress: bool | Callable[[int, int], None] = False,
             force: bool = False) -> pd.DataFrame:
    """Run a loaded Plan (see `sweep`). `force` runs it even if the memory or disk
    estimates say it will not fit (check_resources), and lets each member run too."""
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out}: exists and is not a folder; choose another --out")
    if workers is not None and scheduler is not None:
        raise ScenarioError("--workers", "sizes the local cluster only; the scheduler given "
                            "has its own workers")
    todo = [m for m in plan.members.values() if not (out / m.folder / MANIFEST).is_file()]
    check_resources(todo, out, scheduler, workers, force=force)
    sweep_id = reg.sweep_id_for(out)
    entries: list[reg.RunEntry] = []
    flusher = _Flusher(registry)
    # the client first: a scheduler that cannot be reached leaves nothing behind
    with client_of(scheduler, workers, len(todo)) as client:
        if (out / MEMBERS).is_symlink():
            raise RunFolderError(f"{out / MEMBERS}: is a symbolic link; a sweep writes its "
                                 "members inside its own folder only")
        try:
            (out / MEMBERS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"{out}: cannot create the sweep folder ({exc.strerror})") \
                from None
        with exclusive(out, SWEEP_LOCK, "sweep"):
            _remove_partials(out)
            write_text_atomic(out / PLAN_FILE, json.dumps(plan.describe(), indent=1, default=str),
                              inside=out)
            try:
                results, pairs, failures = _execute(client, plan, out, progress, entries,
                                                    sweep_id, flusher, scheduler is None,
                                                    force=force)
            except SweepError:
                flusher.flush(entries, final=True)
                raise
            _remove_partials(out)
            if failures:
                flusher.flush(entries, final=True)
                first_id, first_exc = failures[0]
                n_failed = len(plan.members) - len(results)
                raise SweepError(
                    f"{n_failed} of {len(plan.members)} members failed (after retries); "
                    f"first: {first_id}: {type(first_exc).__name__}: {first_exc}. "
                    f"Finished members are kept in {out / MEMBERS}; re-run to retry the rest.")
            table = member_table(plan, out, results, pairs)
            summary = summarize(plan, table)
            write_parquet_atomic(out / MEMBER_TABLE, table, inside=out)
            write_parquet_atomic(out / SUMMARY_FILE, summary, inside=out)
            ran = sum(r["status"] == "ran" for r in results.values())
            description = plan.describe()
            description["finished"] = {"at": datetime.now(UTC).isoformat(timespec="seconds"),
                                       "members_run": ran,
                                       "members_skipped": len(results) - ran}
            write_text_atomic(out / PLAN_FILE, json.dumps(description, indent=1, default=str),
                              inside=out)
            registry_error = _register(registry, plan, out, flusher.pending(entries))
    summary.attrs.update({"members_run": ran, "members_skipped": len(results) - ran,
                          "folder": str(out),
                          "sweep_id": sweep_id if registry and not registry_error else None,
                          "registry_error": registry_error})
    return summary


def _register(registry: str | Path | None, plan: Plan, out: Path,
              entries: list[reg.RunEntry]) -> str | None:
    """Register a finished sweep; what went wrong (a full disk, a lock held too long), or
    None. The sweep's files are written and stay: a registry problem is a warning, and
    registering again later (re-running the sweep skips every member) completes it."""
    if registry is None:
        return None
    try:
        reg.register_sweep(
            registry, folder=out, name=plan.name,
            spec={"source": plan.source, **plan.spec.model_dump(mode="json")},
            members=[{"point": c.point, "arm": c.arm, "seed": c.seed,
                      "folder": out / plan.members[c.member].folder,
                      "parameters": plan.points[c.point]} for c in plan.cells],
            entries=entries, n_points=len(plan.points), n_arms=len(plan.arms),
            n_seeds=len(plan.seeds))
    except reg.ViewsNotRefreshed as exc:
        log.warning("%s", exc)
        return None
    except reg.RegistryError as exc:
        log.warning("sweep finished in %s, but not registered: %s", out, exc)
        return str(exc)
    return None


def check_resources(todo: list[Member], out: Path, scheduler: Any, workers: int | None, *,
                    force: bool = False) -> None:
    """Refuse a sweep that cannot fit before any worker starts or any folder is made.

    Memory: on the local cluster (its size is known), the largest members that run at
    once, plus each worker process (guards.check_sweep_memory). Disk: every member
    still to run, against the free space where the sweep folder goes. Both are
    ResourceErrors (exit code 2); a scheduler elsewhere has its own memory, so only
    the disk is checked there. `force` skips both (the user's --force).
    """
    if not todo or force:
        return
    scenarios = [simulate.resolve(m.scenario) for m in todo]
    if scheduler is None:
        n_workers = workers or max(1, min(usable_cores(), len(todo)))
        estimates = [estimate_memory(s, choose_backend(s, "auto", None)) for s in scenarios]
        check_sweep_memory(estimates, n_workers, what=f"sweep into {out}")
    check_disk(scenarios, out)


class _Flusher:
    """Registers finished members in batches while the sweep runs (every few seconds),
    so an interrupted sweep's finished members are already in the registry."""

    def __init__(self, registry: str | Path | None, every: float = 5.0):
        self.registry, self.every = registry, every
        self.done = 0
        self.last = time.monotonic()

    def maybe(self, entries: list) -> None:
        if self.registry is not None and time.monotonic() - self.last > self.every:
            self.flush(entries)

    def flush(self, entries: list, final: bool = False) -> None:
        if self.registry is None or self.done >= len(entries):
            return
        batch = entries[self.done:]
        try:
            reg.register_runs(batch, self.registry)
        except reg.RegistryError:
            if final:
                raise
            log.warning("registry busy; will register these members at the end")
        else:
            self.done = len(entries)
        self.last = time.monotonic()

    def pending(self, entries: list) -> list:
        return entries[self.done:]


def _execute(client: Any, plan: Plan, out: Path, progress: bool | Callable[[int, int], None],
             entries: list, sweep_id: str, flusher: _Flusher, own_cluster: bool, *,
             force: bool = False
             ) -> tuple[dict[str, dict], dict[tuple, dict], list[tuple[str, BaseException]]]:
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    # Members are submitted through a window, not all at once: each carries its
    # resolved scenario, and a sweep of 100,000 would hold them all in the scheduler.
    queue = iter(plan.members.items())
    pending = as_completed()
    submitted: list[Any] = []
    member_of: dict[str, str] = {}
    pair_of: dict[str, tuple[str, str]] = {}

    def submit(fn: Callable, *args: Any, key: str) -> Any:
        f = client.submit(fn, *args, key=key, retries=2, pure=False)
        submitted.append(f)
        pending.add(f)
        return f

    def submit_next() -> None:
        item = next(queue, None)
        if item is not None:
            mid, m = item
            f = submit(_run_member, str(out / m.folder), m.scenario, force,
                       key=f"scoresim-member-{mid}-{token}")
            member_of[f.key] = mid

    # each (arm member, baseline member) pair is compared once both are finished
    waiting: dict[tuple[str, str], set[str]] = {}
    pairs_of: dict[str, list[tuple[str, str]]] = {}
    if plan.baseline is not None:
        base = {(c.point, c.seed): c.member for c in plan.cells if c.arm == plan.baseline}
        for c in plan.cells:
            pair = (c.member, base[c.point, c.seed])
            if c.arm != plan.baseline and pair not in waiting:
                waiting[pair] = set(pair)
                for mid in set(pair):
                    pairs_of.setdefault(mid, []).append(pair)

    results: dict[str, dict] = {}
    pairs: dict[tuple, dict] = {}
    failures: list[tuple[str, BaseException]] = []

    def collect(future: Any, advance: Callable[[int], None]) -> None:
        key = future.key
        try:
            value = future.result()
        except Exception as exc:  # noqa: BLE001 - reported with the member's id
            if key in member_of:
                failures.append((member_of[key], exc))
                advance(1)
                submit_next()
            else:
                failures.append(("pair " + " - ".join(pair_of[key]), exc))
            return
        if key not in member_of:
            pairs[pair_of[key]] = value
            return
        mid = member_of[key]
        results[mid] = value
        m = plan.members[mid]
        entries.append(reg.RunEntry(out / m.folder, m.overrides, sweep_id, m.arm, value["summary"]))
        flusher.maybe(entries)
        advance(1)
        submit_next()
        for pair in pairs_of.get(mid, []):
            waiting[pair].discard(mid)
            if not waiting[pair]:
                f = submit(_pair_effects, results[pair[0]], results[pair[1]],
                           key=f"scoresim-pair-{pair[0]}-{pair[1]}-{token}")
                pair_of[f.key] = pair

    for _ in range(SUBMIT_WINDOW):
        submit_next()
    watch = WorkerWatch(client, own_cluster)
    with progress_bar(progress, plan.name, "members", len(plan.members)) as advance:
        drain(pending, lambda future: collect(future, advance), watch, SweepError, submitted)
    failures.sort(key=lambda item: item[0].startswith("pair "))
    return results, pairs, failures


# --- what runs on the workers ---------------------------------------------------------------


def _run_member(folder: str, scenario: dict[str, Any], force: bool = False) -> dict[str, Any]:
    """Run one member into its folder, unless it is already there; return its outputs."""
    hold_numba_threads()
    path = Path(folder)
    t0 = time.perf_counter()
    if (path / MANIFEST).is_file():
        manifest = json.loads((path / MANIFEST).read_text())
        timeseries = read_parquet(path / TIMESERIES)
        people = read_parquet(path / PEOPLE, columns=["id", "group"])
        records = path / RECORDS
        results = Results(manifest, timeseries, people,
                          records if records.is_file() else None, path)
        if (path / BREAKDOWN).is_file():  # the per-group outputs, as a member that ran has
            results.breakdown = read_parquet(path / BREAKDOWN)
        summary = results.summary()
        status = "skipped"
    else:
        results = simulate.run(scenario, out=path, force=force)
        timeseries, summary, status = results.timeseries, results.summary(), "ran"
    outputs = member_outputs(timeseries)
    outputs.update(wrongful_outputs(results))  # by sanction, cause and group
    outputs.update(group_rates(results))  # per 1,000 of each group, and the gap
    return {"folder": folder, "status": status, "outputs": outputs,
            "summary": summary, "seconds": time.perf_counter() - t0}


def _pair_effects(arm: dict[str, Any], base: dict[str, Any]) -> dict[str, int]:
    """Person by person, who is sanctioned in the arm and not in the baseline (and back)."""
    a = _flags(Path(arm["folder"]) / PEOPLE)
    b = _flags(Path(base["folder"]) / PEOPLE)
    n_a, n_b = (len(next(iter(x.values()))) if x else 0 for x in (a, b))
    if n_a != n_b:
        raise ValueError(f"arm has {n_a} people, baseline {n_b}: not a paired comparison")
    out: dict[str, int] = {}
    for flag in PERSON_FLAGS:
        if flag in a and flag in b:
            out[f"only_in_arm_{flag}"] = int((a[flag] & ~b[flag]).sum())
            out[f"only_in_baseline_{flag}"] = int((~a[flag] & b[flag]).sum())
    any_a = np.zeros(n_a, dtype=bool)
    any_b = np.zeros(n_b, dtype=bool)
    for flag in SANCTIONS:
        if flag in a and flag in b:
            any_a |= a[flag]
            any_b |= b[flag]
    out["only_in_arm_sanctioned"] = int((any_a & ~any_b).sum())
    out["only_in_baseline_sanctioned"] = int((~any_a & any_b).sum())
    return out


def _flags(path: Path) -> dict[str, np.ndarray]:
    names = pq.read_schema(path).names
    columns = [c for c in ("id", *PERSON_FLAGS) if c in names]
    table = pq.read_table(path, columns=columns)
    ids = table.column("id").to_numpy()
    if len(ids) and not (ids == np.arange(len(ids))).all():
        raise ValueError(f"{path}: people are not in id order")
    return {c: table.column(c).to_numpy(zero_copy_only=False).astype(bool)
            for c in columns if c != "id"}


def member_outputs(timeseries: pd.DataFrame) -> dict[str, float]:
    """A run's outcomes: the final-day value of each state column, the total of each flow."""
    out: dict[str, float] = {}
    for col in timeseries.columns:
        if col == "day":
            continue
        values = timeseries[col]
        if col in FLOW_COLUMNS:
            out[f"total_{col[2:]}"] = float(values.sum())
        else:
            out[col] = float(values.iloc[-1]) if len(values) else math.nan
    return out


# --- the summary ---------------------------------------------------------------------------


def member_table(plan: Plan, out: Path, results: dict[str, dict],
                 pairs: dict[tuple, dict]) -> pd.DataFrame:
    """One row per (point, arm, seed): its parameters, member, and outputs (members.parquet)."""
    base = {(c.point, c.seed): c.member for c in plan.cells if c.arm == plan.baseline}
    rows = []
    for c in plan.cells:
        row: dict[str, Any] = {"point": c.point, "arm": c.arm, "seed": c.seed,
                               "member": c.member,
                               "folder": (out / plan.members[c.member].folder).as_posix(),
                               "status": results[c.member]["status"]}
        row.update(results[c.member]["outputs"])
        if plan.baseline is not None and c.arm != plan.baseline:
            row.update(pairs[c.member, base[c.point, c.seed]])
        rows.append(row)
    table = pd.DataFrame(rows)
    params = _parameter_frame(plan)
    table = params.merge(table, on="point", how="right")
    front = ["point", *plan.varied, "arm", "seed", "member", "folder", "status"]
    return table[front + [c for c in table.columns if c not in front]]


def summarize(plan: Plan, table: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% confidence interval of the mean across seeds, per point, arm and output;
    for paired arms, the same for the per-seed differences arm minus baseline.

    The interval is mean +- t(0.975, n-1) * sd / sqrt(n) over the n seeds: for
    differences, a paired t interval, which is what common random numbers make
    narrow. With one seed there is no interval (NaN).
    """
    fixed = {"point", *plan.varied, "arm", "seed", "member", "folder", "status"}
    pair_cols = [c for c in table.columns if c.startswith(("only_in_arm_", "only_in_baseline_"))]
    outputs = [c for c in table.columns if c not in fixed and c not in pair_cols]
    frames = [_stats(table, outputs, "value", None)]
    if plan.baseline is not None:
        keyed = table.set_index(["point", "seed"])
        base = keyed[keyed["arm"] == plan.baseline][outputs]
        for arm in plan.arms:
            if arm == plan.baseline:
                continue
            mine = keyed[keyed["arm"] == arm]
            diff = mine[outputs].sub(base.loc[mine.index])
            diff[pair_cols] = mine[pair_cols]
            diff = diff.reset_index()
            diff["arm"] = arm
            frames.append(_stats(diff, outputs + pair_cols, "difference", plan.baseline))
    summary = pd.concat(frames, ignore_index=True)
    summary = summary[summary["n"] > 0]
    arm_order = {a: i for i, a in enumerate(plan.arms)}
    out_order = {o: i for i, o in enumerate(outputs + pair_cols)}
    summary = summary.assign(
        _k=summary["kind"].map({"value": 0, "difference": 1}),
        _a=summary["arm"].map(arm_order), _o=summary["output"].map(out_order),
    ).sort_values(["point", "_k", "_a", "_o"]).drop(columns=["_k", "_a", "_o"])
    summary = _parameter_frame(plan).merge(summary, on="point", how="right")
    columns = ["point", *plan.varied, "arm", "baseline", "kind", "output", "n", "mean", "std",
               "ci_low", "ci_high"]
    return summary[columns].reset_index(drop=True)


def _stats(table: pd.DataFrame, outputs: list[str], kind: str,
           baseline: str | None) -> pd.DataFrame:
    long = table.melt(id_vars=["point", "arm", "seed"], value_vars=outputs,
                      var_name="output", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype("float64")
    g = long.groupby(["point", "arm", "output"], sort=False)["value"]
    stats = g.agg(n="count", mean="mean", std="std").reset_index()
    n = stats["n"].to_numpy()
    half = np.array([t975(k - 1) for k in n]) * stats["std"].to_numpy() / np.sqrt(
        np.maximum(n, 1))
    stats["ci_low"] = stats["mean"] - half
    stats["ci_high"] = stats["mean"] + half
    stats["kind"] = kind
    stats["baseline"] = baseline
    return stats


def _parameter_frame(plan: Plan) -> pd.DataFrame:
    """One row per point with a column per varied path: numbers as numbers, else JSON text."""
    frame = pd.DataFrame({"point": np.arange(len(plan.points), dtype=np.int64)})
    for key in plan.varied:
        values = [p[key] for p in plan.points]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            frame[key] = pd.Series(values, dtype="float64" if any(
                isinstance(v, float) for v in values) else "int64")
        else:
            frame[key] = [_text(v) for v in values]
    return frame


# --- files ---------------------------------------------------------------------------------


def _remove_partials(out: Path) -> None:
    """Remove what workers that were killed mid-run left (their runs are redone)."""
    for partial in (out / MEMBERS).glob(".*.partial-*"):
        shutil.rmtree(partial, ignore_errors=True)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)
