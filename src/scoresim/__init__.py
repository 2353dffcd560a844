"""scoresim: a simulator of social credit systems on synthetic societies.

It models what public reporting describes (cameras and face recognition,
court, bank, community and online records fused into one credit file per
person, scores, grades, blacklists, bans and rewards) and measures what it
does to people. It is a simulator, never an operational scoring system:
people are synthetic, built from aggregate figures, with no field for a real
identity.
"""

import os as _os
from pathlib import Path as _Path

from scoresim._version import __version__

# Threads that wait for work sleep rather than spin: on a shared machine spinning OpenMP
# threads made two-thread runs several times slower than one. Set it to override.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Numba would vectorise libm calls with Intel's SVML where its runtime is installed, which
# gives other last bits than libm: results would depend on what else is installed
# (model/portable_math.py). Set it to 0 to allow SVML, giving up identical results.
_os.environ.setdefault("NUMBA_DISABLE_INTEL_SVML", "1")

from scoresim._kernel_cache import use_versioned_cache as _use_versioned_cache  # noqa: E402

# compiled kernels are cached per version of the whole source, never mixed (see there)
_use_versioned_cache(_Path(__file__).parent)

from scoresim.runs.results import Results, load  # noqa: E402
from scoresim.runs.simulate import resolve, resume, run  # noqa: E402
from scoresim.scenario import Scenario, ScenarioError, builtin_names  # noqa: E402
from scoresim.studies.calibrate import calibrate  # noqa: E402
from scoresim.studies.cluster_run import run_on_dask  # noqa: E402
from scoresim.studies.compare import compare  # noqa: E402
from scoresim.studies.sensitivity import sensitivity  # noqa: E402
from scoresim.studies.sweep import sweep  # noqa: E402

__all__ = ["Results", "Scenario", "ScenarioError", "builtin_names", "calibrate", "compare", "load",
           "resolve", "resume", "run", "run_on_dask", "sensitivity", "sweep", "__version__"]
