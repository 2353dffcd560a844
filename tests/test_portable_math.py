"""The same bits on every CPU: array transcendentals are the C library's, not NumPy's dispatch.

On an AVX-512 machine NumPy's np.log, np.exp, np.log1p and np.expm1 run vector
loops whose last bits differ from the C library's; three stored baselines moved
that way between two machines. model/portable_math.py computes them with libm,
which is what Python's math module calls, so each element must equal `math`'s
result exactly.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from scoresim.model import portable_math
from scoresim.model.dissent import draw_population
from scoresim.model.random import stream_key, uniforms


def _values() -> np.ndarray:
    rng = np.random.default_rng(20261204)
    return np.concatenate([
        rng.random(20_000),  # (0, 1): the uniforms boldness and desire are drawn from
        np.exp(rng.uniform(-700.0, 700.0, 5_000)),  # the whole positive range
        [5e-324, 2.2250738585072014e-308, 1e-300, 0.5, 1.0, 2.0, 1e300],
    ])


@pytest.mark.parametrize("name,domain", [("log", "positive"), ("log1p", "above -1"),
                                         ("exp", "any"), ("expm1", "any")])
def test_each_element_is_libms(name: str, domain: str) -> None:
    x = _values()
    if domain == "above -1":
        x = np.concatenate([x - 1.0 + 1e-12, -x[:5_000] * 0.999, x])
    elif domain == "any":
        x = np.concatenate([np.log(x), -np.log(x)])
        x = x[np.abs(x) < 700.0]
    got = getattr(portable_math, name)(x)
    want = np.array([getattr(math, name)(float(v)) for v in x])
    mismatched = np.flatnonzero(got.view(np.uint64) != want.view(np.uint64))
    assert mismatched.size == 0, (f"{mismatched.size} of {x.size} differ from math.{name}, "
                                  f"first at x={x[mismatched[0]]!r}")


def test_the_edges_are_numpys() -> None:
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.array_equal(portable_math.log(np.array([0.0, -1.0, np.inf])),
                              np.log(np.array([0.0, -1.0, np.inf])), equal_nan=True)
        assert np.array_equal(portable_math.log1p(np.array([-1.0, -2.0, 0.0])),
                              np.log1p(np.array([-1.0, -2.0, 0.0])), equal_nan=True)
    with np.errstate(over="ignore"):
        assert portable_math.exp(np.array([-1000.0, 1000.0])).tolist() == [0.0, math.inf]


def test_boldness_is_minus_the_mean_times_libms_log() -> None:
    """The people's draws, each recomputed with math.log: equal bit for bit."""
    n, seed = 5_000, 7
    _, boldness = draw_population(n, seed, boldness_mean=1.3)
    u = uniforms(stream_key(seed, "dissent", "boldness"), np.arange(n, dtype=np.uint64),
                 np.uint64(0))
    want = np.array([-1.3 * math.log(float(v)) for v in u])
    assert np.array_equal(boldness.view(np.uint64), want.view(np.uint64))


def _avx512_features() -> list[str]:
    """The AVX-512 features NumPy dispatches on here (it ignores the whole list if it
    names one the CPU lacks)."""
    from numpy._core._multiarray_umath import __cpu_features__

    return [k for k, v in __cpu_features__.items() if v and (k.startswith("AVX512")
                                                              or k == "X86_V4")]


@pytest.mark.skipif(sys.platform != "linux" or not _avx512_features(),
                    reason="NumPy has no AVX-512 loops to turn off on this CPU")
def test_a_run_gives_the_same_numbers_with_numpys_avx512_loops_off(tmp_path) -> None:
    """The same small dissent run in two processes, one with NumPy's AVX-512 dispatch
    disabled (NPY_DISABLE_CPU_FEATURES): every people column and the timeseries agree.
    Each process also says whether its np.log equals libm's, so that the test shows
    the two really ran different loops."""
    script = textwrap.dedent("""
        import hashlib, json, math, sys
        import numpy as np
        import scoresim
        u = np.random.default_rng(1).random(200_000)
        libm = bool((np.log(u) == np.array([math.log(v) for v in u])).all())
        r = scoresim.run("dissent", agents=20_000, days=30)
        out = {"np.log is libm's": libm}
        for name, frame in (("people", r.people), ("timeseries", r.timeseries)):
            for col in frame.columns:
                v = frame[col].to_numpy()
                out[f"{name}:{col}"] = hashlib.sha256(repr(v.tolist()).encode()).hexdigest()
        json.dump(out, sys.stdout)
    """)
    env = dict(os.environ, SCORESIM_REGISTRY="none")
    off = dict(env, NPY_DISABLE_CPU_FEATURES=" ".join(_avx512_features()))
    runs = [subprocess.run([sys.executable, "-c", script], env=e, cwd=tmp_path, check=True,
                           capture_output=True, text=True, timeout=600) for e in (env, off)]
    on, disabled = (json.loads(r.stdout) for r in runs)
    assert disabled.pop("np.log is libm's"), "NumPy's AVX-512 loops were not turned off"
    if on.pop("np.log is libm's"):
        pytest.skip("NumPy's np.log equals libm's here even with AVX-512: nothing to compare")
    moved = sorted(k for k in on if on[k] != disabled.get(k))
    assert not moved, f"columns that depend on NumPy's CPU dispatch: {moved}"
