"""Dissent and self-censorship under an authority that punishes what it sees.

The model of Daymude, Axelrod & Forrest, "Strategic analysis of dissent and
self-censorship" (arXiv:2509.03731, reported as published in PNAS; code and
Mathematica derivations: DaymudeLab/DissentSelfCensorship, Zenodo
10.5281/zenodo.15150163), written here from its equations. None of the
authors' code is used; the names of the variables follow the paper's symbols.

One round, for one person i and the authority's policy (tau, psi, nu):

- person i wants to express dissent delta_i in [0, 1] and has boldness
  beta_i > 0; they choose the dissent they actually express, a in [0, delta_i];
- the authority observes a with probability nu + (1 - nu) * a: surveillance
  nu in [0, 1] is the chance of seeing even silence, and louder dissent is
  likelier to be seen;
- an observed a above the tolerance tau in [0, 1] is punished, by psi
  ("uniform") or by psi * (a - tau) ("proportional"); severity psi >= 0;
- the person's utility is beta_i * (1 - (delta_i - a)) minus the expected
  punishment: boldness weighs the shortfall of expression from desire against
  the punishment risked.

Maximising the utility gives each person's action in closed form (the paper's
Eqs. 5-8; `optimal_action`), and with it three kinds of people: compliant
(delta_i <= tau: they say what they want and are never punished),
self-censoring (they say less than they want: down to tau, "fully", or to an
interior point above it, "partially", which only proportional punishment
produces) and defiant (they say all they want although it is punishable).

The authority pays a political cost, the dissent expressed (sum of a_i) times
its adamancy alpha, plus a punishment cost, the punishment it hands out. The
adaptive authority of the paper's simulations lowers that cost by a local
search (random-mutation hill climbing): each round it moves one of its three
parameters, chosen at random, to a uniform draw within `step` of its current
value, and keeps the move unless the round cost it more than the round before.

Randomness (the population's draws, who is observed, the authority's moves)
comes only from scoresim.random's counter-based streams keyed by names, so a
person's desired dissent and boldness are functions of (seed, person) alone and
never of the authority's policy: runs that differ only in policy share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from scoresim.model import portable_math
from scoresim.model.random import stream_key, uniform, uniforms

# --- names the rest of the package reads -------------------------------------------------------
PUNISHMENTS = ("uniform", "proportional")
UNIFORM, PROPORTIONAL = 0, 1  # the integer codes numba kernels take
COMPLIANT, SELF_CENSORING, DEFIANT = 0, 1, 2
CATEGORIES = ("compliant", "self_censoring", "defiant")
PARAMETERS = ("tolerance", "severity", "surveillance")  # the order of a policy vector
# Bounds of the authority's parameters: tolerance and surveillance are shares, severity has
# no upper bound in the paper (its adaptive authorities reach psi ~ 10-20).
LOWER = np.array([0.0, 0.0, 0.0])
UPPER = np.array([1.0, math.inf, 1.0])

# The paper's defaults (its supplementary code's settings for the adaptive-authority runs):
# a moderate authority that starts tolerant, mild and seldom watching.
PAPER_START = (0.25, 0.1, 0.1)  # tolerance, severity, surveillance
PAPER_STEP = 0.05               # epsilon, the half-width of a move
PAPER_ADAMANCY = 1.0            # alpha
PAPER_DESIRED_MEAN = 0.25       # delta ~ truncated Exp on [0, 1] with this mean
PAPER_N = 100_000
PAPER_ROUNDS = 5_000            # 10,000 in its sweeps over population means


def punishment_code(punishment: str | int) -> int:
    """The integer code of a punishment kind ("uniform" or "proportional")."""
    if isinstance(punishment, (int, np.integer)) and int(punishment) in (UNIFORM, PROPORTIONAL):
        return int(punishment)
    if punishment not in PUNISHMENTS:
        raise ValueError(f"punishment must be one of {PUNISHMENTS}, not {punishment!r}")
    return PUNISHMENTS.index(punishment)


# --- one person's round, vectorised over people ------------------------------------------------
def observation_probability(action, surveillance):
    """Chance that the authority sees an expressed dissent: nu + (1 - nu) * a.

    Even silence is seen with probability nu (the authority's reach); what is
    louder is likelier to be noticed, and full dissent (a = 1) always is.
    """
    a = np.asarray(action, dtype=np.float64)
    nu = np.asarray(surveillance, dtype=np.float64)
    return nu + (1.0 - nu) * a


def punishment_if_observed(action, tolerance, severity, punishment: str | int):
    """The punishment an observed action earns: zero at or below tolerance.

    Uniform: psi for any excess, however small (a fixed penalty for crossing
    the line). Proportional: psi * (a - tau), graded by how far past the line.
    """
    a = np.asarray(action, dtype=np.float64)
    tau = np.asarray(tolerance, dtype=np.float64)
    psi = np.asarray(severity, dtype=np.float64)
    if punishment_code(punishment) == UNIFORM:
        return np.where(a > tau, psi, 0.0)
    return np.where(a > tau, psi * (a - tau), 0.0)


def expected_punishment(action, tolerance, severity, surveillance, punishment: str | int):
    """What a person expects to suffer for an action: P(observed) x punishment if observed."""
    return (observation_probability(action, surveillance)
            * punishment_if_observed(action, tolerance, severity, punishment))


def utility(action, desired, boldness, tolerance, severity, surveillance,
            punishment: str | int):
    """A person's expected utility of expressing `action`: beta (1 - (delta - a)) - E[punishment].

    Saying all one wants is worth beta; each unit of dissent held back costs
    beta. Utility is only meaningful for 0 <= a <= delta (one never says more
    than one wants); callers keep to that range.
    """
    a = np.asarray(action, dtype=np.float64)
    beta = np.asarray(boldness, dtype=np.float64)
    delta = np.asarray(desired, dtype=np.float64)
    return beta * (1.0 - (delta - a)) - expected_punishment(
        a, tolerance, severity, surveillance, punishment)


def uniform_defiance_threshold(boldness, tolerance, severity, surveillance):
    """The paper's d_uni: under uniform punishment, the desire above which one is defiant.

    d_uni = (beta tau + nu psi) / (beta - (1 - nu) psi), defined when
    beta > (1 - nu) psi; otherwise nobody is defiant (returned as +inf). A
    person with delta > tau defies iff delta >= d_uni; below it they say tau.
    Kept for the paper's phase boundaries; `optimal_action` uses the same
    condition without the division.
    """
    beta = np.asarray(boldness, dtype=np.float64)
    tau = np.asarray(tolerance, dtype=np.float64)
    psi = np.asarray(severity, dtype=np.float64)
    nu = np.asarray(surveillance, dtype=np.float64)
    den = beta - (1.0 - nu) * psi
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (beta * tau + nu * psi) / den
    return np.where(den > 0.0, d, np.inf)


def proportional_interior_action(boldness, tolerance, severity, surveillance):
    """The paper's d_pro: under proportional punishment, the unconstrained best action above tau.

    d_pro = (tau + (beta - nu psi) / ((1 - nu) psi)) / 2, the maximum of the
    utility's concave quadratic piece. At nu = 1 the piece is linear: +inf if
    beta >= psi (say everything), -inf otherwise (say tau). With psi = 0
    there is nothing to fear: +inf. The action is d_pro clipped to [tau, delta].
    """
    beta = np.asarray(boldness, dtype=np.float64)
    tau = np.asarray(tolerance, dtype=np.float64)
    psi = np.asarray(severity, dtype=np.float64)
    nu = np.asarray(surveillance, dtype=np.float64)
    den = (1.0 - nu) * psi
    with np.errstate(divide="ignore", invalid="ignore"):
        d = 0.5 * (tau + (beta - nu * psi) / den)
    return np.where(den > 0.0, d, np.where(beta >= psi, np.inf, -np.inf))


def optimal_action(desired, boldness, tolerance, severity, surveillance,
                   punishment: str | int) -> np.ndarray:
    """Every person's utility-maximising expressed dissent at once (the paper's closed form).

    Below tolerance nothing is punished and utility rises with a, so a person
    with delta <= tau says delta (compliant), and nobody ever says less than
    min(delta, tau).

    Uniform, delta > tau: above tau the expected utility is linear in a, so the
    best action is tau or delta; delta wins iff U(delta) >= U(tau), that is
    beta (delta - tau) >= psi (nu + (1 - nu) delta): the worth of the extra
    dissent covers the expected fixed penalty at full voice. (Equivalent to
    delta >= d_uni where beta > (1 - nu) psi, and impossible otherwise.)

    Proportional, delta > tau: above tau the utility is concave (linear at
    nu = 1) and continuous at tau, so the best action is d_pro clipped to
    [tau, delta]; it is computed from the slope g(a) = beta - psi (nu + (1 - nu)
    (2a - tau)): delta if g(delta) >= 0, tau if g(tau) <= 0, else the root d_pro.

    Ties (a person exactly indifferent) go to the louder action. Arguments
    broadcast: arrays of people with scalar (or per-person) policy.
    """
    delta = np.asarray(desired, dtype=np.float64)
    beta = np.asarray(boldness, dtype=np.float64)
    tau = np.asarray(tolerance, dtype=np.float64)
    psi = np.asarray(severity, dtype=np.float64)
    nu = np.asarray(surveillance, dtype=np.float64)
    delta, beta, tau, psi, nu = np.broadcast_arrays(delta, beta, tau, psi, nu)
    above = delta > tau
    if punishment_code(punishment) == UNIFORM:
        defy = beta * (delta - tau) >= psi * (nu + (1.0 - nu) * delta)
        return np.where(above & ~defy, tau, delta)
    slope_full = beta - psi * (nu + (1.0 - nu) * (2.0 * delta - tau))
    slope_tau = beta - psi * (nu + (1.0 - nu) * tau)
    den = psi * (1.0 - nu)
    safe = np.where(den > 0.0, den, 1.0)
    # clipped: where the slope tests and the root disagree by an ulp, the tests win
    with np.errstate(over="ignore"):  # a huge root where psi (1 - nu) is tiny is clipped
        interior = np.clip(0.5 * (tau + (beta - nu * psi) / safe), tau, delta)
    a = np.where(slope_full >= 0.0, delta, np.where(slope_tau <= 0.0, tau, interior))
    return np.where(above, a, delta)


def action_category(action, desired, tolerance) -> np.ndarray:
    """Compliant (0), self-censoring (1) or defiant (2), as the paper defines them.

    Compliant: one's desire is within tolerance (delta <= tau). Defiant: desire
    above tolerance, and all of it said (a = delta > tau). Self-censoring:
    desire above tolerance and less of it said (tau <= a < delta), whether
    down to tau (full) or partly (tau < a < delta).
    """
    a = np.asarray(action, dtype=np.float64)
    delta = np.asarray(desired, dtype=np.float64)
    tau = np.asarray(tolerance, dtype=np.float64)
    return np.where(delta <= tau, COMPLIANT,
                    np.where(a >= delta, DEFIANT, SELF_CENSORING)).astype(np.int8)


def realised_punishment(action, tolerance, severity, surveillance, punishment: str | int,
                        observe_uniform) -> np.ndarray:
    """What each person actually suffers this round, given one uniform draw per person.

    The action is observed when the draw falls below its observation
    probability; only observed actions above tolerance are punished.
    """
    seen = np.asarray(observe_uniform) < observation_probability(action, surveillance)
    return np.where(seen, punishment_if_observed(action, tolerance, severity, punishment), 0.0)


def authority_costs(actions, punishments, adamancy: float = PAPER_ADAMANCY) -> tuple[float, float]:
    """The authority's (political, punishment) costs of a round; it minimises their sum.

    Political cost: the dissent expressed, summed over people and weighted by
    adamancy (how much the authority minds dissent relative to the cost of
    punishing). Punishment cost: the punishment handed out (it costs to
    punish).
    """
    return float(adamancy) * float(np.sum(actions)), float(np.sum(punishments))


# --- the same, one person at a time, for numba kernels (the engine's hot loops) ---------------
@nb.njit(inline="always", cache=True)
def optimal_action_one(delta: float, beta: float, tau: float, psi: float, nu: float,
                       kind: int) -> float:
    """`optimal_action` for one person (same conditions, same tie rule, same arithmetic)."""
    if delta <= tau:
        return delta
    if kind == UNIFORM:
        if beta * (delta - tau) >= psi * (nu + (1.0 - nu) * delta):
            return delta
        return tau
    if beta - psi * (nu + (1.0 - nu) * (2.0 * delta - tau)) >= 0.0:
        return delta
    if beta - psi * (nu + (1.0 - nu) * tau) <= 0.0:
        return tau
    return min(max(0.5 * (tau + (beta - nu * psi) / (psi * (1.0 - nu))), tau), delta)


@nb.njit(inline="always", cache=True)
def category_one(action: float, delta: float, tau: float) -> int:
    """`action_category` for one person."""
    if delta <= tau:
        return COMPLIANT
    if action >= delta:
        return DEFIANT
    return SELF_CENSORING


@nb.njit(cache=True)
def play_round(desired, boldness, tau, psi, nu, kind, observe_key, rnd):
    """One round for a whole population: everyone's best response, who is seen, what it costs.

    Returns (sum of expressed dissent, n compliant, n self-censoring, n defiant,
    punishment handed out). Person i's observation draw is uniform(observe_key,
    i, rnd); it is drawn only for punishable actions (a > tau), since nothing
    else can be punished, so what is drawn never depends on what is skipped.
    Serial on purpose: a fixed order of summation makes the authority's cost,
    and so its accept-or-revert decisions, identical on every machine.
    """
    total = 0.0
    punished = 0.0
    n_c = 0
    n_s = 0
    n_d = 0
    r = np.uint64(rnd)
    for i in range(desired.shape[0]):
        d = desired[i]
        a = optimal_action_one(d, boldness[i], tau, psi, nu, kind)
        total += a
        c = category_one(a, d, tau)
        if c == COMPLIANT:
            n_c += 1
        elif c == DEFIANT:
            n_d += 1
        else:
            n_s += 1
        if a > tau and uniform(observe_key, np.uint64(i), r) < nu + (1.0 - nu) * a:
            punished += psi if kind == UNIFORM else psi * (a - tau)
    return total, n_c, n_s, n_d, punished


# --- the adaptive authority -------------------------------------------------------------------
@nb.njit(cache=True)
def propose_policy(policy, u_which, u_value, step, lower, upper):
    """A local move: one parameter, chosen by `u_which`, redrawn uniformly within `step`.

    policy is (tolerance, severity, surveillance). The chosen parameter p
    becomes a uniform draw on [max(lower, p - step), min(upper, p + step)]:
    small moves keep the authority near policies it has tried, which is what
    makes it "locally adaptive" and what lets a bold population deter it.
    """
    out = policy.copy()
    k = min(int(u_which * 3.0), 2)
    lo = max(lower[k], policy[k] - step)
    hi = min(upper[k], policy[k] + step)
    out[k] = lo + u_value * (hi - lo)
    return out


@nb.njit(inline="always", cache=True)
def keeps_move(cost: float, previous_cost: float) -> bool:
    """The authority keeps a move unless the round it was tried cost more than the round before.

    It compares what it actually paid, round on round (it cannot know what its
    old policy would have cost this round), so a noisy bad round can let a
    worse move through next time: the search is a noisy hill climb.
    """
    return cost <= previous_cost


@nb.njit(cache=True)
def run_rounds(desired, boldness, kind, start, adaptive, step, adamancy, lower, upper,
               observe_key, adapt_key, rounds):
    """R rounds of population against authority, fixed (adaptive=False) or adaptive.

    Round 0 plays `start`. In each later round an adaptive authority plays a
    move of its kept policy (`propose_policy`, drawn from uniform(adapt_key,
    round, 0) and (round, 1)), then keeps the move or reverts to the kept
    policy by `keeps_move`. Returns, per round, the policy played (R x 3), the
    expressed dissent's sum, the counts per category (R x 3) and the
    punishment handed out.
    """
    played = np.empty((rounds, 3))
    said = np.empty(rounds)
    counts = np.empty((rounds, 3), dtype=np.int64)
    punished = np.empty(rounds)
    kept = start.copy()
    previous = 0.0
    for r in range(rounds):
        if adaptive and r > 0:
            policy = propose_policy(kept, uniform(adapt_key, np.uint64(r), np.uint64(0)),
                                    uniform(adapt_key, np.uint64(r), np.uint64(1)),
                                    step, lower, upper)
        else:
            policy = kept.copy()
        total, n_c, n_s, n_d, pun = play_round(desired, boldness, policy[0], policy[1],
                                               policy[2], kind, observe_key, r)
        cost = adamancy * total + pun
        if r == 0 or keeps_move(cost, previous):
            kept = policy
        previous = cost
        played[r] = policy
        said[r] = total
        counts[r, 0] = n_c
        counts[r, 1] = n_s
        counts[r, 2] = n_d
        punished[r] = pun
    return played, said, counts, punished


# --- the paper's population --------------------------------------------------------------------
def truncated_exponential_rate(mean: float) -> float:
    """The rate lambda of the exponential on [0, 1] with the given mean (0 < mean < 1).

    The paper draws desired dissent from an exponential truncated to [0, 1]
    whose mean (after truncation) is the population's mean desire. The mean,
    1/lambda - 1/(e^lambda - 1), falls from 1 to 0 as lambda rises (lambda = 0
    is the uniform, mean 1/2; a negative rate gives means above 1/2), so the
    rate is found by bisection.
    """
    if not 0.0 < mean < 1.0:
        raise ValueError(f"the mean of desired dissent must be in (0, 1), not {mean}")

    def mean_of(lam: float) -> float:
        if abs(lam) < 1e-4:
            return 0.5 - lam / 12.0 + lam ** 3 / 720.0
        return 1.0 / lam - 1.0 / math.expm1(lam)

    lo, hi = -2.0 / (1.0 - mean) - 10.0, 2.0 / mean + 10.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mean_of(mid) > mean:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def truncated_exponential_quantile(u, mean: float) -> np.ndarray:
    """Inverse CDF of that distribution: one uniform in, one desire in [0, 1] out.

    Inversion (rather than rejection, which draws a varying number of numbers)
    keeps each person's desire a function of their own counter alone.
    """
    lam = truncated_exponential_rate(mean)
    u = np.asarray(u, dtype=np.float64)
    if abs(lam) < 1e-12:
        return u.copy()
    return np.clip(-portable_math.log1p(u * math.expm1(-lam)) / lam, 0.0, 1.0)


def draw_population(n: int, seed: int, desired_mean: float = PAPER_DESIRED_MEAN,
                    boldness_mean: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """N synthetic people's (desired dissent, boldness), as the paper draws them.

    delta_i ~ Exp truncated to [0, 1] with mean `desired_mean`; beta_i ~
    Exp(mean `boldness_mean`). Person i's draws are uniform(stream_key(seed,
    "dissent", "desired"), i, 0) and likewise "boldness": nothing about the
    authority enters, so any two runs with one seed share every person.
    """
    if n < 1:
        raise ValueError("a population needs at least one person")
    if not boldness_mean > 0.0:
        raise ValueError(f"mean boldness must be positive, not {boldness_mean}")
    people = np.arange(n, dtype=np.uint64)
    u_d = uniforms(stream_key(seed, "dissent", "desired"), people, np.uint64(0))
    u_b = uniforms(stream_key(seed, "dissent", "boldness"), people, np.uint64(0))
    boldness = -boldness_mean * portable_math.log(u_b)
    return truncated_exponential_quantile(u_d, desired_mean), boldness


@dataclass(frozen=True)
class Policy:
    """The authority's policy: tolerance tau in [0, 1], severity psi >= 0, surveillance nu."""

    tolerance: float = PAPER_START[0]
    severity: float = PAPER_START[1]
    surveillance: float = PAPER_START[2]

    def __post_init__(self) -> None:
        v = self.vector()
        if not (np.all(np.isfinite(v)) and np.all(v >= LOWER) and np.all(v <= UPPER)):
            raise ValueError(f"policy out of bounds: {self}")

    def vector(self) -> np.ndarray:
        return np.array([self.tolerance, self.severity, self.surveillance], dtype=np.float64)


@dataclass(frozen=True)
class Adapt:
    """How the authority adapts: the paper's random-mutation hill climbing and its settings."""

    step: float = PAPER_STEP
    adamancy: float = PAPER_ADAMANCY

    def __post_init__(self) -> None:
        if not (self.step > 0.0 and self.adamancy > 0.0):
            raise ValueError(f"step and adamancy must be positive: {self}")
