"""scoresim: a simulator of social credit systems on synthetic societies.

It models what public reporting describes (cameras and face recognition,
court, bank, community and online records fused into one credit file per
person, scores, grades, blacklists, bans and rewards) and measures what it
does to people. It is a simulator, never an operational scoring system:
people are synthetic, built from aggregate figures, with no field for a real
identity.
"""

__version__ = "0.1.0"

import os as _os  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

# Threads that wait for work sleep rather than spin: on a shared machine spinning OpenMP
# threads made two-thread runs several times slower than one. Set it to override.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from scoresim._kernel_cache import use_versioned_cache as _use_versioned_cache  # noqa: E402

# compiled kernels are cached per version of the whole source, never mixed (see there)
_use_versioned_cache(_Path(__file__).parent)

from scoresim.api import resolve, run  # noqa: E402
from scoresim.calibrate import calibrate  # noqa: E402
from scoresim.compare import compare  # noqa: E402
from scoresim.results import Results, load  # noqa: E402
from scoresim.scenario import Scenario, ScenarioError, builtin_names  # noqa: E402
from scoresim.sweep import sweep  # noqa: E402

__all__ = ["Results", "Scenario", "ScenarioError", "builtin_names", "calibrate", "compare", "load",
           "resolve", "run", "sweep"]
