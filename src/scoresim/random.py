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
def normal(key: np.uint64, a: np.uint64, b: np.uint64) -> float:
    """A standard normal draw for counter (a, b) (Box-Muller on two sub-counters)."""
    u1 = uniform(key, a, np.uint64(2) * np.uint64(b))
    u2 = uniform(key, a, np.uint64(2) * np.uint64(b) + np.uint64(1))
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


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
