"""Counter-based random streams: common random numbers by construction.

A draw is a pure function of (stream key, counter words), never of how many
draws came before it. A stream key is a hash of (seed, module, purpose), so a
module that draws more or fewer numbers, or a new module, never shifts the
draws of another one. Two runs with the same seed that differ only in policy
therefore give every person the same true behaviour until that person's
behaviour responds to the policy, and parallel kernels draw the same numbers
whatever the thread schedule.

The mixer is the 64-bit finaliser of SplitMix64 applied to a keyed combination
of the counter words (the construction Steele et al. 2014 and the "SplitMix as a
counter-based generator" literature use); it passes BigCrush as a counter-based
generator and costs a few cycles, which matters because the engine draws a few
numbers per event, hundreds of millions of times.
"""

from __future__ import annotations

import hashlib
import math

import numba as nb
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


def stream_key(seed: int, module: str, purpose: str) -> np.uint64:
    """The key of one random stream, stable across versions of Python and numpy."""
    digest = hashlib.blake2b(
        f"{int(seed)}|{module}|{purpose}".encode(), digest_size=8
    ).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def name_id(name: str) -> np.uint64:
    """A 64-bit number standing for a name (a behaviour, say), the same in every scenario.

    Counters of draws that concern a named thing use this instead of its position in
    the scenario: a YAML mapping has no order, and adding a behaviour must not shift
    the draws of the others (paired comparisons between scenarios that differ by one).
    """
    digest = hashlib.blake2b(f"name|{name}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def name_ids(names: list[str]) -> np.ndarray:
    return np.array([name_id(n) for n in names], dtype=np.uint64)


@nb.njit(inline="always", cache=True)
def event_counter(day, behaviour_id):
    """The counter of the draws about one act of one behaviour on one day (with the
    actor as the other counter word): keyed by the behaviour's name, not its position.

    Two different (behaviour, day) pairs collide only if two names' ids differ in the
    low 16 bits alone, a chance of 2**-48 per pair of behaviours.
    """
    return np.uint64(behaviour_id) ^ np.uint64(day)


@nb.njit(inline="always", cache=True)
def mix64(x: np.uint64) -> np.uint64:
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@nb.njit(inline="always", cache=True)
def hash3(key: np.uint64, a: np.uint64, b: np.uint64) -> np.uint64:
    """A 64-bit random word for counter (a, b) of stream `key`."""
    h = mix64(key ^ (np.uint64(a) * _GOLDEN))
    return mix64(h ^ (np.uint64(b) + _GOLDEN))


@nb.njit(inline="always", cache=True)
def uniform(key: np.uint64, a: np.uint64, b: np.uint64) -> float:
    """A uniform draw in the open interval (0, 1) for counter (a, b)."""
    return (float(hash3(key, a, b) >> np.uint64(11)) + 0.5) * _INV53


@nb.njit(inline="always", cache=True)
def row_hash(key: np.uint64, a: np.uint64) -> np.uint64:
    """The half of `hash3` that depends on the first counter word only.

    A kernel drawing many numbers for one person (counter a, draws b = 0, 1, 2...)
    mixes this once and calls `uniform_in_row` per draw: the same numbers as
    `uniform(key, a, b)`, bit for bit, for half the mixing.
    """
    return mix64(key ^ (np.uint64(a) * _GOLDEN))


@nb.njit(inline="always", cache=True)
def uniform_in_row(row: np.uint64, b: np.uint64) -> float:
    """`uniform(key, a, b)` given row = row_hash(key, a)."""
    return (float(mix64(row ^ (np.uint64(b) + _GOLDEN)) >> np.uint64(11)) + 0.5) * _INV53


@nb.njit(inline="always", cache=True)
def normal(key: np.uint64, a: np.uint64, b: np.uint64) -> float:
    """A standard normal draw for counter (a, b) (Box-Muller on two sub-counters)."""
    u1 = uniform(key, a, np.uint64(2) * np.uint64(b))
    u2 = uniform(key, a, np.uint64(2) * np.uint64(b) + np.uint64(1))
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


# Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9)
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)


@nb.njit(inline="always", cache=True)
def inv_normal(u: float) -> float:
    """The standard normal quantile of u in (0, 1)."""
    if u < 0.02425:
        q = math.sqrt(-2.0 * math.log(u))
        return ((((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5])
                / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0))
    if u > 1.0 - 0.02425:
        q = math.sqrt(-2.0 * math.log(1.0 - u))
        return -((((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5])
                 / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0))
    q = u - 0.5
    r = q * q
    return ((((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q
            / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0))


@nb.njit(inline="always", cache=True)
def propensity_z(key: np.uint64, person: np.uint64) -> float:
    """The normal score behind a person's propensity for one behaviour (its quantile).

    Behaviour rounds the quantile to one of PROPENSITY_LEVELS levels; modules that
    read a propensity (responses, targeting) use this exact value of the same draw.
    """
    return inv_normal(uniform(key, person, np.uint64(0)))


@nb.njit(inline="always", cache=True)
def geometric_skip(u: float, log_q: float) -> int:
    """Days without a success before the next one, for daily success probability p.

    `log_q` is log(1 - p); -inf (p = 1) means the next day always succeeds.
    Inverting the geometric CDF makes one uniform per event replace one
    Bernoulli per person and day, which is what makes cost grow with events.
    """
    if log_q == -math.inf:
        return 0
    if log_q == 0.0:
        return 1 << 30
    k = math.log(u) / log_q
    if k > 1e9:
        return 1 << 30
    return int(k)


@nb.njit(parallel=True, cache=True)
def uniforms(key: np.uint64, counters: np.ndarray, b: np.uint64) -> np.ndarray:
    """Vectorised `uniform` over an array of counters (for array-level code)."""
    out = np.empty(counters.shape[0], dtype=np.float64)
    for i in nb.prange(counters.shape[0]):
        out[i] = uniform(key, np.uint64(counters[i]), b)
    return out
