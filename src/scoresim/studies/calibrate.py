"""Calibration: fit a scenario's free parameters to published figures (targets).

Each trial sets the free parameters (dotted scenario paths, as `--set` takes
them) to values Optuna's TPE sampler proposes, runs the scenario once per seed
(the same seeds in every trial: common random numbers, so two trials differ by
their parameters, not by their luck), reads every target's quantity off each
run, and scores the trial by

    loss = sum over targets of ((mean over seeds of simulated - observed) / sd)^2

the sum of squared z-scores of the seed mean. Targets marked `fit: false` are
reported but left out of the loss (a figure the model is known not to
reproduce would otherwise decide the fit alone).

Runs go to Dask as tasks, on a LocalCluster sized to the machine or any
scheduler by address, exactly as sweeps do (scoresim.studies.sweep). Trials are asked
for in batches and told in the order they were asked, so a calibration with
the same settings, sampler seed and batch size proposes the same parameters,
however the workers finish. The study lives in DIR/study.db (an Optuna RDB
storage): a second call with the same settings continues it, adding trials and
keeping the earlier ones; trials cut off by an interrupted call are marked
failed and proposed again. What a call leaves in DIR:

- study.db      the Optuna study (every trial, its parameters, loss and per-seed values)
- fit.parquet   one row per trial: parameters, loss, seed-mean and z of every target
- best.yaml     the scenario with the best parameters, fully resolved (as `scoresim show`)
- calibration.json  settings, best parameters and the residual table at the best trial
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoresim._version import __version__
from scoresim.runs.folder import (
    RunFolderError,
    check_replaceable,
    write_parquet_atomic,
    write_text_atomic,
)
from scoresim.runs.layout import (
    BEST_FILE,
    CALIBRATION_FILE,
    CALIBRATION_LOCK,
    FIT_FILE,
    STUDY_FILE,
)
from scoresim.runs.simulate import resolve, run
from scoresim.scenario.loader import ScenarioError, resolved_yaml
from scoresim.scenario.schema import Scenario
from scoresim.studies.cluster import client as client_of
from scoresim.studies.cluster import exclusive, hold_numba_threads, progress_bar
from scoresim.studies.parameters import (  # noqa: F401 - parse_parameter: re-exported
    Parameter,
    parse_parameter,
    parse_parameters,
)
from scoresim.studies.targets import Targets, TargetsSpec, load_targets

STUDY_NAME = "scoresim-calibration"
MAX_TRIALS = 100_000
MAX_SEEDS = 1_000

log = logging.getLogger(__name__)


class CalibrationError(RuntimeError):
    """Trials failed for a reason that is not the user's input (a worker crashed, say)."""


# --- the result -----------------------------------------------------------------------------


@dataclass
class Calibration:
    """What a calibration call returns: the best fit so far and every trial of the study."""

    folder: Path
    best_params: dict[str, int | float]
    best_loss: float
    best_trial: int
    n_trials: int
    n_new: int
    n_failed: int
    residuals: pd.DataFrame
    trials: pd.DataFrame
    scenario: Scenario
    settings: dict[str, Any] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """Plain JSON: the best parameters and loss, trial counts, the residuals."""
        return {
            "folder": str(self.folder),
            "best_trial": self.best_trial,
            "best_loss": self.best_loss,
            "best_params": self.best_params,
            "n_trials": self.n_trials,
            "n_new": self.n_new,
            "n_failed": self.n_failed,
            "residuals": json.loads(self.residuals.to_json(orient="records")),
        }


# --- running --------------------------------------------------------------------------------


def calibrate(
    scenario: str | Path | dict | Scenario,
    targets: str | Path | dict | TargetsSpec | Targets,
    params: Sequence[str | Parameter],
    *,
    out: str | Path,
    trials: int = 30,
    agents: int | None = None,
    days: int | None = None,
    seeds: int = 1,
    set: dict[str, Any] | None = None,  # noqa: A002 - mirrors the CLI's --set
    scheduler: Any = None,
    workers: int | None = None,
    batch: int | None = None,
    sampler_seed: int = 0,
    progress: bool | Callable[[int, int], None] = False,
) -> Calibration:
    """Fit `params` of `scenario` to `targets`, adding `trials` trials to the study in `out`.

    targets: a built-in name (national-list), a targets file, a dict or a Targets.
    params: `dotted.path=LOW:HIGH[:log]` strings or Parameters. scheduler and
    workers: as for `scoresim.studies.sweep` (None: a LocalCluster of `workers` processes).
    batch: trials proposed at once before their losses are known (default: enough
    to keep the workers busy); the proposals depend on it, so give it to reproduce
    a calibration on a machine with another number of cores.

    Bad input (scenario, targets, parameters, a folder holding a study with other
    settings) raises ScenarioError before anything is written.
    """
    if not 1 <= trials <= MAX_TRIALS:
        raise ScenarioError("--trials", f"must be 1 to {MAX_TRIALS:,}, got {trials}")
    if not 1 <= seeds <= MAX_SEEDS:
        raise ScenarioError("--seeds", f"must be 1 to {MAX_SEEDS:,}, got {seeds}")
    if batch is not None and batch < 1:
        raise ScenarioError("--batch", f"must be at least 1, got {batch}")
    if workers is not None and scheduler is not None:
        raise ScenarioError("--workers", "sizes the local cluster only; the scheduler given "
                            "has its own workers")
    tg = targets if isinstance(targets, Targets) else load_targets(targets)
    base = resolve(scenario, agents=agents, days=days, records="none", overrides=set)
    # a free parameter may be one the scenario does not hold yet; both ends are checked
    parameters = parse_parameters(params, base, must_exist=False)
    _check_targets(tg, base)
    seed_list = [base.seed + i for i in range(seeds)]
    settings = {
        "scenario": base.model_dump(mode="json"),
        "targets": tg.describe(),
        "parameters": [asdict(p) for p in parameters],
        "seeds": seed_list,
    }
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out}: exists and is not a folder; choose another --out")
    study_path = out / STUDY_FILE
    check_replaceable(study_path, "calibration study")  # SQLite would write through a link
    if study_path.exists():  # a resumed study must be the same experiment
        _check_settings(_stored_settings(study_path), settings, out)

    with client_of(scheduler, workers, trials * seeds) as client:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"{out}: cannot create the calibration folder "
                                 f"({exc.strerror})") from None
        with exclusive(out, CALIBRATION_LOCK, "calibration"):
            study = _open_study(study_path, settings, sampler_seed, out)
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            size = batch or max(1, math.ceil(n_workers / seeds))
            new, failed, first_error = _run_trials(client, study, base, tg, parameters,
                                                   seed_list, trials, size, progress)
            complete = _complete(study)
            if not complete:
                raise CalibrationError(
                    f"all {failed} trials failed; first: {first_error}. The study is kept "
                    f"in {study_path}.")
            best = study.best_trial
            best_params = {p.path: best.params[p.path] for p in parameters}
            best_scenario = resolve(base, overrides=best_params)
            trials_frame = trial_table(study, tg, parameters)
            residuals = residual_table(tg, np.asarray(best.user_attrs["simulated"]),
                                       seed_list)
            result = Calibration(out, best_params, float(best.value), best.number,
                                 len(complete), new, failed, residuals, trials_frame,
                                 best_scenario, settings)
            _write_outputs(out, result, best_scenario, size, sampler_seed)
    return result


def _check_targets(tg: Targets, base: Scenario) -> None:
    """Metrics and days against what a run of this scenario produces (a tiny probe run)."""

    # a day of the scenario without its timeline (whose changes lie past the probe's day)
    probe = run(base.model_copy(update={"timeline": []}), agents=min(base.agents, 200), days=1,
                records="none")
    statistics = {k for k, v in probe.summary().items()
                  if isinstance(v, int | float) and not isinstance(v, bool)
                  and k not in ("agents", "days", "seed", "wall_seconds")}
    tg.check_against(set(probe.timeseries.columns), statistics, base.days)


def _stored_settings(study_path: Path) -> dict[str, Any] | None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        summaries = optuna.get_all_study_summaries(f"sqlite:///{study_path}")
    except Exception as exc:  # noqa: BLE001 - any storage error means "not a study of ours"
        raise RunFolderError(f"{study_path}: not an Optuna study ({type(exc).__name__}); "
                             "choose another --out") from None
    for s in summaries:
        if s.study_name == STUDY_NAME:
            return s.user_attrs.get("settings")
    return None


def _check_settings(stored: dict[str, Any] | None, settings: dict[str, Any], out: Path) -> None:
    if stored is None:
        return
    now = json.loads(json.dumps(settings))
    if stored == now:
        return
    differ = [k for k in now if stored.get(k) != now[k]]
    hint = {"scenario": "the scenario (or --agents, --days, --set)", "targets": "--targets",
            "parameters": "--param", "seeds": "--seeds"}
    raise ScenarioError(
        str(out), "holds a calibration with other settings (differs in: "
        f"{', '.join(hint[k] for k in differ)}); give the same ones to continue it, "
        "or choose another --out", field="--out")


def _open_study(study_path: Path, settings: dict[str, Any], sampler_seed: int, out: Path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{study_path}", engine_kwargs={"connect_args": {"timeout": 60}})
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction="minimize",
                                load_if_exists=True)
    if "settings" not in study.user_attrs:
        study.set_user_attr("settings", settings)
        study.set_user_attr("scoresim_version", __version__)
    else:
        _check_settings(study.user_attrs["settings"], settings, out)
    # trials a killed call left running: failed, and proposed again first
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        if t.params:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
    # Seeded, and reseeded by the number of trials so far: a resumed study does not
    # draw its first proposals again.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = optuna.samplers.TPESampler(seed=sampler_seed + len(study.trials),
                                                   constant_liar=True)
    return study


def _run_trials(client: Any, study: Any, base: Scenario, tg: Targets,
                parameters: list[Parameter], seeds: list[int], trials: int, size: int,
                progress: bool | Callable[[int, int], None]) -> tuple[int, int, str | None]:
    import optuna

    fitted = np.array([t.fit for t in tg.items], dtype=bool)
    failed, first_error, done = 0, None, 0
    with progress_bar(progress, "calibrate", "trials", trials) as advance:
        while done < trials:
            asked = []
            for _ in range(min(size, trials - done)):
                trial = study.ask()
                values = {p.path: p.suggest(trial) for p in parameters}
                scenario = resolve(base, overrides=values).model_dump(mode="json")
                futures = [client.submit(_evaluate, scenario, seed, tg, pure=False,
                                         key=f"scoresim-trial-{trial.number}-s{seed}-"
                                         f"{time.monotonic_ns()}", retries=1)
                           for seed in seeds]
                asked.append((trial, futures))
            try:
                for trial, futures in asked:
                    try:
                        sims = np.array([f.result() for f in futures], dtype=np.float64)
                    except Exception as exc:  # noqa: BLE001 - recorded with the trial
                        failed += 1
                        first_error = first_error or f"trial {trial.number}: " \
                            f"{type(exc).__name__}: {exc}"
                        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    else:
                        z = tg.z(sims.mean(axis=0))
                        trial.set_user_attr("simulated", sims.tolist())
                        study.tell(trial, float(np.sum(z[fitted] ** 2)))
                    advance(1)
            finally:
                for _, futures in asked:
                    for f in futures:
                        f.cancel()
            done += len(asked)
    return done, failed, first_error


def _evaluate(scenario: dict[str, Any], seed: int, tg: Targets) -> list[float]:
    """One seed of one trial, on a worker: every target's quantity, in its own units."""
    hold_numba_threads()
    results = run(scenario, seed=seed, records="none")
    return tg.simulated(results.timeseries, results.summary(), results.manifest["agents"]) \
        .tolist()


def _complete(study: Any) -> list[Any]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


# --- tables ---------------------------------------------------------------------------------


def trial_table(study: Any, tg: Targets, parameters: list[Parameter]) -> pd.DataFrame:
    """fit.parquet: one row per trial (all calls), parameters, loss, seed means and z-scores."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name,
                               "seconds": t.duration.total_seconds() if t.duration else math.nan}
        for p in parameters:
            row[p.path] = float(t.params.get(p.path, math.nan))
        row["loss"] = float(t.value) if t.value is not None else math.nan
        sims = t.user_attrs.get("simulated")
        mean = np.asarray(sims, dtype=np.float64).mean(axis=0) if sims else \
            np.full(len(tg), math.nan)
        z = tg.z(mean)
        for i, name in enumerate(tg.names):
            row[f"sim_{name}"] = float(mean[i])
            row[f"z_{name}"] = float(z[i])
        rows.append(row)
    frame = pd.DataFrame(rows)
    for p in parameters:
        if p.integer and frame[p.path].notna().all():
            frame[p.path] = frame[p.path].astype("int64")
    return frame


def residual_table(tg: Targets, sims: np.ndarray, seeds: list[int]) -> pd.DataFrame:
    """The fit at one trial: observed, simulated seed mean and range over seeds, z-score."""
    sims = np.atleast_2d(sims)
    mean = sims.mean(axis=0)
    z = tg.z(mean)
    origin = tg.spec.origin
    rows = []
    for i, t in enumerate(tg.items):
        first, last = tg.first[i], tg.last[i]
        rows.append({
            "target": tg.names[i],
            "metric": t.metric,
            "when": _when(first, last, t.aggregate, origin),
            "observed": t.value,
            "sd": t.sd,
            "simulated": float(mean[i]),
            "seed_low": float(sims[:, i].min()),
            "seed_high": float(sims[:, i].max()),
            "z": float(z[i]),
            "fit": bool(t.fit),
        })
    frame = pd.DataFrame(rows)
    frame.attrs["seeds"] = len(seeds)
    return frame


def _when(first: int | None, last: int | None, aggregate: str | None, origin) -> str:
    if first is None:
        return "whole run"

    def day(d: int) -> str:
        if origin is None:
            return f"day {d}"
        import datetime as dt

        return (origin + dt.timedelta(days=d)).isoformat()

    if first == last:
        return day(first)
    if first == 0:
        return f"{aggregate} to {day(last)}"
    return f"{aggregate} {day(first)}..{day(last)}"


# --- files ----------------------------------------------------------------------------------


def _write_outputs(out: Path, result: Calibration, best: Scenario, batch: int,
                   sampler_seed: int) -> None:
    write_parquet_atomic(out / FIT_FILE, result.trials, inside=out)
    header = (f"# scoresim calibrate: best of {result.n_trials} trials (trial "
              f"{result.best_trial}, loss {result.best_loss:.6g})\n# fitted: "
              + ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in result.best_params.items()) + "\n")
    write_text_atomic(out / BEST_FILE, header + resolved_yaml(best), inside=out)
    summary = result.summary()
    summary.update({"scoresim_version": __version__, "batch": batch,
                    "sampler_seed": sampler_seed, "settings": result.settings})
    write_text_atomic(out / CALIBRATION_FILE, json.dumps(summary, indent=1, default=str),
                      inside=out)
