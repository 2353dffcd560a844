"""Global sensitivity analysis: which varied assumptions drive which outputs, and how much.

`sensitivity(scenario, params, outputs, method=, samples=, seeds=, out=)` draws a
design over the parameters' ranges with SALib (Saltelli's scheme for `sobol`,
trajectories for `morris`, the search curves of `fast`), runs every design row
under the same K seeds (common random numbers: two rows differ by their
parameters, not by their luck), reduces every run to the outputs asked for
(studies/outputs.py), and analyses the seed means with SALib:

- sobol: first-order (S1) and total (ST) indices with bootstrap intervals, and
  second-order (S2) ones with `second_order`;
- morris: mu_star (mean absolute elementary effect, with a bootstrap interval)
  and sigma, both in the output's units per the whole range of the parameter
  (parameters are varied on [0, 1] scaled to their ranges, so effects compare);
- fast: S1 and ST (extended FAST) with bootstrap intervals.

Beside them, `seed_noise`: the share of the variance of the analysed output (the
mean over K seeds of each row) that is seed noise, estimated from the spread
between seeds within rows that is not common to all rows (`seed_noise` below),
with a bootstrap interval over rows. An index smaller than that share is no
evidence of sensitivity; with one seed it cannot be estimated (NaN).

DIR holds:
- sensitivity.json  the settings (scenario, parameters, outputs, method, design)
- parts/            one Parquet file per finished batch of runs (what resumes)
- runs.parquet      every run: design row, seed, parameter values, outputs
- indices.parquet   output, parameter, index, value, low, high

Runs go to Dask in batches (studies/batch.py), on a LocalCluster sized to the
machine or any scheduler by address, as sweeps do. A study killed part way
resumes where it stopped: a second call with the same settings into the same
DIR runs only the members no part holds; other settings are refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from scoresim._version import __version__
from scoresim.model.random import stream_key
from scoresim.runs.folder import RunFolderError, write_parquet_atomic, write_text_atomic
from scoresim.runs.layout import (
    INDICES_FILE,
    RUNS_FILE,
    SENSITIVITY_FILE,
    SENSITIVITY_LOCK,
    SENSITIVITY_PARTS,
)
from scoresim.runs.simulate import resolve
from scoresim.scenario.loader import ScenarioError
from scoresim.scenario.schema import Scenario
from scoresim.studies.batch import run_batch, simulate_member
from scoresim.studies.cluster import WorkerWatch, drain, exclusive, progress_bar
from scoresim.studies.cluster import client as client_of
from scoresim.studies.outputs import (
    NOT_OUTPUTS,
    Output,
    check_outputs,
    needed_dimensions,
    parse_outputs,
)
from scoresim.studies.parameters import Parameter, parse_parameters

METHODS = ("sobol", "morris", "fast")
INDICES = ("S1", "ST", "S2", "mu_star", "sigma", "seed_noise")
INDEX_COLUMNS = ["output", "parameter", "index", "value", "low", "high"]
#: The `parameter` of a seed_noise row.
SEED_NOISE_PARAMETER = "(seeds)"
MAX_RUNS = 200_000
MAX_SEEDS = 1_000
BOOTSTRAP = 200
#: Members per task when not given: enough tasks to balance the workers, few enough
#: that a task's round trip is small beside its runs.
TASKS_PER_WORKER = 4
MAX_BATCH = 64


class SensitivityError(RuntimeError):
    """Runs failed for a reason that is not the user's input (a worker crashed, say)."""


# --- the design -----------------------------------------------------------------------------


def problem(parameters: Sequence[Parameter]) -> dict[str, Any]:
    """SALib's problem: every parameter on [0, 1] (scaled to its range per run)."""
    return {"num_vars": len(parameters), "names": [p.path for p in parameters],
            "bounds": [[0.0, 1.0]] * len(parameters)}


def design(method: str, parameters: Sequence[Parameter], samples: int, seed: int,
           second_order: bool = False, num_levels: int = 4) -> np.ndarray:
    """The design in unit space, one row per parameter set (SALib's samplers)."""
    prob = problem(parameters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib's advice on powers of two is in the docs
        if method == "sobol":
            from SALib.sample import sobol as sampler

            return sampler.sample(prob, samples, calc_second_order=second_order, seed=seed)
        if method == "morris":
            from SALib.sample import morris as sampler

            return sampler.sample(prob, samples, num_levels=num_levels, seed=seed)
        from SALib.sample import fast_sampler

        return fast_sampler.sample(prob, samples, M=4, seed=seed)


def design_rows(method: str, n_params: int, samples: int, second_order: bool) -> int:
    """How many rows the design has (before running anything)."""
    if method == "sobol":
        return samples * ((2 * n_params + 2) if second_order else (n_params + 2))
    if method == "morris":
        return samples * (n_params + 1)
    return samples * n_params


# --- the study ------------------------------------------------------------------------------


def sensitivity(
    scenario: str | Path | dict | Scenario,
    params: Sequence[str | Parameter],
    outputs: Sequence[str | Output],
    method: str = "sobol",
    samples: int = 64,
    seeds: int = 1,
    out: str | Path = "sensitivity",
    scheduler: Any = None,
    *,
    agents: int | None = None,
    days: int | None = None,
    set: dict[str, Any] | None = None,  # noqa: A002 - mirrors the CLI's --set
    workers: int | None = None,
    second_order: bool = False,
    design_seed: int = 0,
    num_levels: int = 4,
    batch: int | None = None,
    conf_level: float = 0.95,
    progress: bool | Callable[[int, int], None] = False,
) -> pd.DataFrame:
    """Run a global sensitivity study into `out`; return its indices (indices.parquet).

    params: `dotted.path=LOW:HIGH[:log]` strings or Parameters. outputs: metric
    names (studies/outputs.py). samples: SALib's N (sobol: base samples, a power of
    two; morris: trajectories; fast: samples per parameter, above 64). seeds: K,
    seeds scenario.seed .. scenario.seed + K - 1 for every design row. scheduler and
    workers: as for `scoresim.sweep`. batch: members per Dask task (default: a few
    tasks per worker, at most 64 members each).

    The returned frame's attrs say how many runs ran and how many were already done.
    Bad input raises ScenarioError before anything is written.
    """
    if method not in METHODS:
        raise ScenarioError("--method", f"expected one of {', '.join(METHODS)}, got '{method}'")
    if not 1 <= seeds <= MAX_SEEDS:
        raise ScenarioError("--seeds", f"must be 1 to {MAX_SEEDS:,}, got {seeds}")
    minimum = {"sobol": 2, "morris": 2, "fast": 65}[method]
    if samples < minimum:
        raise ScenarioError("--samples", f"{method} needs at least {minimum}, got {samples}")
    if method == "sobol" and samples & (samples - 1):
        raise ScenarioError("--samples", f"sobol needs a power of two (Saltelli's scheme), "
                            f"got {samples}; try {1 << samples.bit_length()}")
    if batch is not None and batch < 1:
        raise ScenarioError("--batch", f"must be at least 1, got {batch}")
    if workers is not None and scheduler is not None:
        raise ScenarioError("--workers", "sizes the local cluster only; the scheduler given "
                            "has its own workers")
    base = resolve(scenario, agents=agents, days=days, records="none", overrides=set)
    parameters = parse_parameters(params, base)
    if method == "sobol" and second_order and len(parameters) < 2:
        raise ScenarioError("--second-order", "needs at least two parameters")
    wanted = parse_outputs(outputs)
    levels = trait_levels(base)
    for o, dim in ((o, o.dimension or "group") for o in wanted if o.source in ("rate", "gap")):
        if dim not in levels:
            raise ScenarioError("--output", f"'{o.name}': no trait '{dim}' in this scenario "
                                f"(traits: {', '.join(levels)})")
    base = with_breakdown(base, needed_dimensions(wanted))
    checked = _check_outputs(wanted, base, levels)
    n_rows = design_rows(method, len(parameters), samples, second_order)
    if n_rows * seeds > MAX_RUNS:
        raise ScenarioError("--samples", f"{n_rows:,} design rows x {seeds} seeds = "
                            f"{n_rows * seeds:,} runs, more than {MAX_RUNS:,}")
    unit = design(method, parameters, samples, design_seed, second_order, num_levels)
    values = [[p.scale(u) for p, u in zip(parameters, row, strict=True)] for row in unit]
    seed_list = [base.seed + k for k in range(seeds)]
    settings = {
        "scenario": base.model_dump(mode="json"),
        "parameters": [asdict(p) for p in parameters],
        "outputs": [o.name for o in checked],
        "method": method, "samples": samples, "seeds": seed_list,
        "second_order": second_order, "design_seed": design_seed, "num_levels": num_levels,
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out}: exists and is not a folder; choose another --out")
    _check_stored(out, settings)

    todo_all = [(r, s) for s in seed_list for r in range(len(values))]
    with client_of(scheduler, workers, max(1, len(todo_all))) as client:
        try:
            (out / SENSITIVITY_PARTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"{out}: cannot create the study folder ({exc.strerror})") \
                from None
        with exclusive(out, SENSITIVITY_LOCK, "sensitivity study"):
            stored = {**settings, "digest": digest, "scoresim_version": __version__,
                      "n_rows": len(values)}
            if not (out / SENSITIVITY_FILE).is_file():
                write_text_atomic(out / SENSITIVITY_FILE, json.dumps(stored, indent=1))
            done = _read_parts(out, digest)
            todo = [m for m in todo_all if m not in done]
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            size = batch or max(1, min(MAX_BATCH, math.ceil(
                len(todo) / (n_workers * TASKS_PER_WORKER))))
            new = _execute(client, base, parameters, values, checked, levels, todo, size, out,
                           digest, scheduler is None, progress)
            done.update(new)
            runs = runs_table(parameters, values, checked, seed_list, done)
            indices = analyse(method, parameters, unit, runs, checked, seed_list,
                              second_order, num_levels, conf_level, design_seed)
            write_parquet_atomic(out / RUNS_FILE, runs)
            write_parquet_atomic(out / INDICES_FILE, indices)
    indices.attrs.update({"runs_run": len(new), "runs_skipped": len(todo_all) - len(todo),
                          "folder": str(out), "method": method, "seeds": seeds,
                          "samples": samples, "rows": len(values)})
    return indices


def with_breakdown(base: Scenario, dims: Sequence[str]) -> Scenario:
    """`base` keeping the breakdown its outputs need (it measures; it changes no run)."""
    have = list(base.metrics.breakdown or [])
    missing = [d for d in dims if d not in have]
    if not missing:
        return base
    return resolve(base, overrides={"metrics.breakdown": have + missing})


def trait_levels(base: Scenario) -> dict[str, list[str]]:
    """Every trait a breakdown can be by, with its levels (as breakdown.parquet names them)."""
    levels: dict[str, list[str]] = {"group": [str(g) for g in
                                              range(len(base.population.group_shares))]}
    for name, attr in base.population.attributes.items():
        levels[name] = list(attr.levels)
    return levels


def _check_outputs(outputs: list[Output], base: Scenario,
                   levels: dict[str, list[str]]) -> list[Output]:
    """Outputs against a tiny probe run of the scenario: its columns and statistics."""
    probe_scenario = resolve(base, agents=min(base.agents, 200), days=1)
    probe = simulate_member(probe_scenario)
    statistics = [k for k, v in probe.summary().items()
                  if isinstance(v, int | float) and not isinstance(v, bool)
                  and k not in NOT_OUTPUTS]
    return check_outputs(outputs, probe.timeseries.columns, statistics, levels, base.days)


def _check_stored(out: Path, settings: dict[str, Any]) -> None:
    path = out / SENSITIVITY_FILE
    if not path.is_file():
        return
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        raise RunFolderError(f"{path}: unreadable; choose another --out") from None
    now = json.loads(json.dumps(settings))
    differ = [k for k in now if stored.get(k) != now[k]]
    if differ:
        hint = {"scenario": "the scenario (or --agents, --days, --set)", "parameters": "--param",
                "outputs": "--output", "method": "--method", "samples": "--samples",
                "seeds": "--seeds", "second_order": "--second-order",
                "design_seed": "--design-seed", "num_levels": "--levels"}
        raise ScenarioError(str(out), "holds a sensitivity study with other settings (differs "
                            f"in: {', '.join(hint.get(k, k) for k in differ)}); give the same "
                            "ones to resume it, or choose another --out", field="--out")


def _read_parts(out: Path, digest: str) -> dict[tuple[int, int], dict[str, Any]]:
    """The runs earlier calls finished: (row, seed) -> outputs and seconds."""
    done: dict[tuple[int, int], dict[str, Any]] = {}
    for path in sorted((out / SENSITIVITY_PARTS).glob("part-*.parquet")):
        try:
            frame = pq.read_table(path).to_pandas()
        except Exception:  # noqa: BLE001 - a part cut off mid-write is run again
            continue
        if "study" not in frame or not (frame["study"] == digest).all():
            continue
        for rec in frame.to_dict("records"):
            done[int(rec.pop("row")), int(rec.pop("seed"))] = rec
    for partial in (out / SENSITIVITY_PARTS).glob(".part-*"):
        partial.unlink(missing_ok=True)  # a worker killed while writing left it
    return done


def _execute(client: Any, base: Scenario, parameters: list[Parameter],
             values: list[list[float]], outputs: list[Output], levels: dict[str, list[str]],
             todo: list[tuple[int, int]], size: int, out: Path, digest: str,
             own_cluster: bool, progress: bool | Callable[[int, int], None]
             ) -> dict[tuple[int, int], dict[str, Any]]:
    from distributed import as_completed

    data = base.model_dump(mode="json")
    data_future = client.scatter(data, broadcast=True) if todo else None
    token = uuid.uuid4().hex[:8]
    futures = []
    for k in range(0, len(todo), size):
        chunk = todo[k:k + size]
        members = [((r, s), {**{p.path: v for p, v in zip(parameters, values[r], strict=True)},
                             "seed": s}) for r, s in chunk]
        futures.append(client.submit(_run_part, data_future, base.name, members, outputs,
                                     levels, str(out / SENSITIVITY_PARTS), digest,
                                     key=f"scoresim-sensitivity-{k}-{token}", retries=2,
                                     pure=False))
    new: dict[tuple[int, int], dict[str, Any]] = {}
    failures: list[BaseException] = []
    watch = WorkerWatch(client, own_cluster)
    pending = as_completed(futures)
    with progress_bar(progress, "sensitivity", "runs", len(todo)) as advance:
        def collect(f: Any) -> None:
            try:
                rows = f.result()
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)
                return
            for row in rows:
                new[tuple(row["key"])] = {**row["outputs"], "seconds": row["seconds"]}
            advance(len(rows))

        drain(pending, collect, watch, SensitivityError, futures)
    if failures:
        exc = failures[0]
        raise SensitivityError(f"{len(failures)} of {len(futures)} batches failed (after "
                               f"retries); first: {type(exc).__name__}: {exc}. Finished "
                               f"batches are kept in {out / SENSITIVITY_PARTS}; re-run to "
                               "retry the rest.")
    return new


def _run_part(data: dict[str, Any], source: str, members: list, outputs: list[Output],
              levels: dict[str, list[str]], parts: str, digest: str) -> list[dict[str, Any]]:
    """On a worker: run a batch, write it as one part (atomically), return its rows."""
    rows = run_batch(data, source, members, outputs, levels)
    frame = pd.DataFrame([{"study": digest, "row": r["key"][0], "seed": r["key"][1],
                           **r["outputs"], "seconds": r["seconds"]} for r in rows])
    first, last = members[0][0], members[-1][0]
    name = f"part-s{first[1]}-r{first[0]}-s{last[1]}-r{last[0]}-{uuid.uuid4().hex[:6]}.parquet"
    write_parquet_atomic(Path(parts) / name, frame)
    return rows


# --- the tables -----------------------------------------------------------------------------


def runs_table(parameters: list[Parameter], values: list[list[float]], outputs: list[Output],
               seeds: list[int], done: dict[tuple[int, int], dict[str, Any]]) -> pd.DataFrame:
    """runs.parquet: one row per (design row, seed), its parameters and outputs."""
    rows = []
    for s in seeds:
        for r, vals in enumerate(values):
            rec = done[r, s]
            row: dict[str, Any] = {"row": r, "seed": s}
            row.update({p.path: v for p, v in zip(parameters, vals, strict=True)})
            row.update({o.name: rec.get(o.name, math.nan) for o in outputs})
            row["seconds"] = rec.get("seconds", math.nan)
            rows.append(row)
    frame = pd.DataFrame(rows)
    for p in parameters:
        frame[p.path] = frame[p.path].astype("int64" if p.integer else "float64")
    return frame.sort_values(["row", "seed"], kind="stable").reset_index(drop=True)


def seed_matrix(runs: pd.DataFrame, output: str, seeds: list[int]) -> np.ndarray:
    """[row, seed] values of one output."""
    wide = runs.pivot(index="row", columns="seed", values=output)
    return wide[seeds].to_numpy(dtype=np.float64)


def seed_noise(y: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Share of the variance of the row means that is seed noise, with a bootstrap
    interval over rows.

    Every row runs under the same seeds, so part of a seed's luck is common to all
    rows (the same people, the same draws) and moves every row mean alike: it is no
    part of the variance between rows the indices divide up. What is left, y[r, s] -
    row mean - seed mean + grand mean, is the noise that differs from row to row; its
    variance (two-way analysis of variance without replication) over K is the noise
    in a row mean. The share is that over the variance of the row means (capped at 1).
    """
    k = y.shape[1]
    if k < 2 or y.shape[0] < 2:
        return math.nan, math.nan, math.nan

    def share(m: np.ndarray) -> float:
        means = m.mean(axis=1)
        total = float(np.var(means, ddof=1))
        resid = m - means[:, None] - m.mean(axis=0)[None, :] + m.mean()
        noise = float(np.sum(resid ** 2)) / ((m.shape[0] - 1) * (k - 1)) / k
        if total <= 0:
            return 0.0 if noise <= 0 else 1.0
        return min(1.0, noise / total)

    value = share(y)
    boot = [share(y[rng.integers(0, y.shape[0], y.shape[0])]) for _ in range(BOOTSTRAP)]
    return value, float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def analyse(method: str, parameters: list[Parameter], unit: np.ndarray, runs: pd.DataFrame,
            outputs: list[Output], seeds: list[int], second_order: bool, num_levels: int,
            conf_level: float, seed: int) -> pd.DataFrame:
    """indices.parquet from runs.parquet: SALib's analysis of each output's seed means."""
    prob = problem(parameters)
    names = prob["names"]
    rows: list[dict[str, Any]] = []

    def add(output: str, parameter: str, index: str, value: float, half: float | None = None,
            low: float | None = None, high: float | None = None) -> None:
        if half is not None and not math.isnan(float(half)):
            low, high = value - float(half), value + float(half)
        rows.append({"output": output, "parameter": parameter, "index": index,
                     "value": float(value), "low": math.nan if low is None else float(low),
                     "high": math.nan if high is None else float(high)})

    for o in outputs:
        y = seed_matrix(runs, o.name, seeds)
        ybar = y.mean(axis=1)
        noise = seed_noise(y, np.random.default_rng(seed))
        # Sobol and FAST indices divide up a variance: none when the output does not vary
        flat = not np.isfinite(ybar).all() or (method != "morris" and float(np.var(ybar)) == 0)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            res = None if flat else _salib(method, prob, unit, ybar, second_order, num_levels,
                                           conf_level, bootstrap_seed(seed, o.name))
        for j, name in enumerate(names):
            if method in ("sobol", "fast"):
                for index in ("S1", "ST"):
                    if res is None:
                        add(o.name, name, index, math.nan)
                    else:
                        add(o.name, name, index, res[index][j], res[f"{index}_conf"][j])
            else:
                if res is None:
                    add(o.name, name, "mu_star", math.nan)
                    add(o.name, name, "sigma", math.nan)
                else:
                    add(o.name, name, "mu_star", res["mu_star"][j], res["mu_star_conf"][j])
                    add(o.name, name, "sigma", res["sigma"][j])
        if method == "sobol" and second_order:
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    if res is None:
                        add(o.name, f"{names[i]} x {names[j]}", "S2", math.nan)
                    else:
                        add(o.name, f"{names[i]} x {names[j]}", "S2", res["S2"][i, j],
                            res["S2_conf"][i, j])
        add(o.name, SEED_NOISE_PARAMETER, "seed_noise", noise[0], low=noise[1], high=noise[2])
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)


def bootstrap_seed(seed: int, output: str) -> int:
    """The seed of one output's bootstrap, keyed by the output's name (never by its place
    among the outputs) and never 0: SALib's sobol.analyze ignores a falsy seed and draws
    from numpy's global generator, which made the intervals differ from run to run."""
    return int(stream_key(seed, "sensitivity", f"bootstrap:{output}")) % (2**31 - 1) + 1


def _salib(method: str, prob: dict[str, Any], unit: np.ndarray, y: np.ndarray,
           second_order: bool, num_levels: int, conf_level: float, seed: int) -> dict:
    if method == "sobol":
        from SALib.analyze import sobol

        return sobol.analyze(prob, y, calc_second_order=second_order, num_resamples=BOOTSTRAP,
                             conf_level=conf_level, seed=seed)
    if method == "morris":
        from SALib.analyze import morris

        return morris.analyze(prob, unit, y, num_resamples=BOOTSTRAP, conf_level=conf_level,
                              num_levels=num_levels, seed=seed)
    from SALib.analyze import fast

    return fast.analyze(prob, y, M=4, num_resamples=BOOTSTRAP, conf_level=conf_level,
                        seed=seed)
