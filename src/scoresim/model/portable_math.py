"""log, log1p, exp and expm1 of arrays with the same bits on every CPU.

NumPy picks a transcendental function's inner loop by the CPU it runs on: on a
machine with AVX-512, `np.log` and `np.exp` run NumPy's own AVX-512 code and
`np.log1p`, `np.expm1` and `np.power` Intel's SVML, each within a few units in
the last place of the C library's result, but not equal to it. A person's
boldness (-log u) then differed in the last bits between two machines, and so
did three stored baselines (china, dissent and pilot-city on the day loop):
same seed, same scenario, same version, different numbers. The promise is
identical results, so every array of such a function that can reach an output
is computed here, by compiled loops that call the C library (numba lowers
`math.log` to libm's `log`, whatever the CPU), which is what NumPy itself uses
where it has no vector loop. Python's `math` module already calls libm, so
scalars need nothing from here.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_SIG = ["float64(float64)"]


@nb.vectorize(_SIG, cache=True)
def _log(x):
    return math.log(x) if x > 0.0 else (-math.inf if x == 0.0 else math.nan)


@nb.vectorize(_SIG, cache=True)
def _log1p(x):
    return math.log1p(x) if x > -1.0 else (-math.inf if x == -1.0 else math.nan)


@nb.vectorize(_SIG, cache=True)
def _exp(x):
    return math.exp(x)


@nb.vectorize(_SIG, cache=True)
def _expm1(x):
    return math.expm1(x)


def log(x) -> np.ndarray:
    """Natural log elementwise, libm's bits (0 gives -inf, a negative nan, as np.log)."""
    return _log(np.asarray(x, dtype=np.float64))


def log1p(x) -> np.ndarray:
    """log(1 + x) elementwise, libm's bits (-1 gives -inf, below it nan, as np.log1p)."""
    return _log1p(np.asarray(x, dtype=np.float64))


def exp(x) -> np.ndarray:
    """e**x elementwise, libm's bits."""
    return _exp(np.asarray(x, dtype=np.float64))


def expm1(x) -> np.ndarray:
    """e**x - 1 elementwise, libm's bits."""
    return _expm1(np.asarray(x, dtype=np.float64))
