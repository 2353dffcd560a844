"""The dissent model over rounds: a synthetic population against a fixed or adaptive authority.

A standalone runner for the model of Daymude, Axelrod & Forrest, "Strategic
analysis of dissent and self-censorship" (arXiv:2509.03731; Zenodo
10.5281/zenodo.15150163), as scoresim.model.dissent implements it: N people
drawn from the paper's distributions, R rounds, one row per round. It is the
model on its own, without scoresim's engine, so its results can be set beside
the paper's figures; the engine will drive the same choice from a scenario.

Every number drawn is keyed by (seed, "dissent", purpose) and counters
(person, round): the population never depends on the policy, who is observed
in round r never depends on what happened before r, and the authority's moves
depend only on the round. Two runs with the same seed differing only in the
authority's parameters share the population and every observation draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoresim.model.dissent import (
    CATEGORIES,
    LOWER,
    PAPER_ROUNDS,
    UPPER,
    Adapt,
    Policy,
    action_category,
    draw_population,
    optimal_action,
    punishment_code,
    run_rounds,
)
from scoresim.model.random import stream_key, uniform

# The per-round timeseries: a public interface (issue 20 names these columns).
COLUMNS = ("round", "mean_dissent", "n_compliant", "n_self_censoring", "n_defiant",
           "tolerance", "severity", "surveillance", "political_cost", "punishment_cost")
# The people table: who they are (never touched by policy) and what they said in the last round.
PEOPLE_COLUMNS = ("person", "desired_dissent", "boldness", "dissent", "category")

# The paper's measure of suppression: the political cost, averaged over a window of rounds,
# falls below this share of what it would be if everyone said all they wanted.
PAPER_SUPPRESSION_WINDOW = 500
PAPER_SUPPRESSION_SHARE = 0.25


@dataclass(frozen=True)
class DissentRun:
    """A run: one row per round (COLUMNS) and one per person (PEOPLE_COLUMNS, last round)."""

    rounds: pd.DataFrame
    people: pd.DataFrame


def simulate(n: int = 10_000, rounds: int = PAPER_ROUNDS, seed: int = 1,
             punishment: str = "uniform", desired_mean: float = 0.25,
             boldness_mean: float = 1.0, policy: Policy | None = None,
             adapt: Adapt | None = None,
             population: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """`play(...)`'s per-round table alone (see there)."""
    return play(n, rounds, seed, punishment, desired_mean, boldness_mean, policy, adapt,
                population).rounds


def play(n: int = 10_000, rounds: int = PAPER_ROUNDS, seed: int = 1,
             punishment: str = "uniform", desired_mean: float = 0.25,
             boldness_mean: float = 1.0, policy: Policy | None = None,
             adapt: Adapt | None = None,
             population: tuple[np.ndarray, np.ndarray] | None = None) -> DissentRun:
    """Play `rounds` rounds: one row per round (COLUMNS) and one per person (PEOPLE_COLUMNS).

    `policy` is the authority's policy in round 0 (the paper's moderate start,
    tau = 0.25, psi = 0.1, nu = 0.1, by default); with `adapt` None it is kept
    all along (a fixed authority), otherwise it moves by the paper's local
    search (`Adapt()` is the paper's step 0.05 and adamancy 1). `population`
    (desired, boldness), if given, replaces the draw from (n, seed,
    desired_mean, boldness_mean). A row's tolerance, severity and surveillance
    are the policy people responded to in that round; political_cost is
    adamancy x the dissent expressed (adamancy 1 for a fixed authority) and
    punishment_cost the punishment handed out. The people table holds each
    person's desired_dissent and boldness and the dissent they expressed in
    the last round (with its category's name).
    """
    if rounds < 1:
        raise ValueError("at least one round")
    policy = policy if policy is not None else Policy()
    if population is None:
        desired, boldness = draw_population(n, seed, desired_mean, boldness_mean)
    else:
        desired, boldness = (np.ascontiguousarray(x, dtype=np.float64) for x in population)
        if desired.shape != boldness.shape or desired.ndim != 1:
            raise ValueError("population: two 1-d arrays of one length")
    n = desired.shape[0]
    adamancy = adapt.adamancy if adapt is not None else 1.0
    step = adapt.step if adapt is not None else 0.0
    played, said, counts, punished = run_rounds(
        desired, boldness, punishment_code(punishment), policy.vector(), adapt is not None,
        step, adamancy, LOWER, UPPER, stream_key(seed, "dissent", "observe"),
        stream_key(seed, "dissent", "adapt"), int(rounds))
    table = pd.DataFrame({
        "round": np.arange(rounds, dtype=np.int64),
        "mean_dissent": said / n,
        "n_compliant": counts[:, 0],
        "n_self_censoring": counts[:, 1],
        "n_defiant": counts[:, 2],
        "tolerance": played[:, 0],
        "severity": played[:, 1],
        "surveillance": played[:, 2],
        "political_cost": adamancy * said,
        "punishment_cost": punished,
    }, columns=list(COLUMNS))
    last = played[-1]
    said_last = optimal_action(desired, boldness, last[0], last[1], last[2], punishment)
    people = pd.DataFrame({
        "person": np.arange(n, dtype=np.int64),
        "desired_dissent": desired,
        "boldness": boldness,
        "dissent": said_last,
        "category": pd.Categorical.from_codes(action_category(said_last, desired, last[0]),
                                              categories=list(CATEGORIES)),
    }, columns=list(PEOPLE_COLUMNS))
    return DissentRun(table, people)


def random_start(seed: int, trial: int) -> Policy:
    """The paper's sweeps start each trial's authority at tau, psi, nu ~ U(0, 1), independently.

    Keyed by (seed, trial), so every cell of a sweep over population means
    starts its trial t from the same policy (common random numbers across cells).
    """
    key = stream_key(seed, "dissent", "start")
    return Policy(*(uniform(key, np.uint64(trial), np.uint64(k)) for k in range(3)))


def suppression_time(political_cost, max_cost: float,
                     window: int = PAPER_SUPPRESSION_WINDOW,
                     share: float = PAPER_SUPPRESSION_SHARE) -> float:
    """Rounds until dissent is suppressed, or +inf if it never is within the run.

    The paper's measure: the first t >= window at which the political cost
    averaged over rounds (t - window, t] is below `share` x `max_cost`, the
    political cost were everyone to say all they want (adamancy x sum of
    desired dissent). A window smooths the round-to-round noise of the search.
    """
    cost = np.asarray(political_cost, dtype=np.float64)
    if window < 1 or cost.shape[0] < window:
        return math.inf
    csum = np.concatenate([[0.0], np.cumsum(cost)])
    means = (csum[window:] - csum[:-window]) / window  # means[j]: rounds j .. j + window - 1
    below = np.flatnonzero(means < share * max_cost)
    return float(below[0] + window) if below.size else math.inf
