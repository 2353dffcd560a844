"""Settings and helpers that several test files share (imported, not fixtures)."""

from __future__ import annotations

import textwrap
from pathlib import Path

# A pilot-city that makes many wrongful sanctions to tell apart: high false-match rates
# (tmr lowered so the profile's sex and age multipliers, up to 3x, keep tmr + 3 fmr <= 1),
# no appeals or repair (wrong records stay, so the wrongly banned stay so), frequent court
# defaults and a heavy jaywalking penalty.
HARSH_PILOT = {
    "face_recognition.nist-2019-us.fmr": [0.02, 0.09],
    "face_recognition.nist-2019-us.tmr": 0.7,
    "appeals": None, "credit_repair": None,
    "behaviours.court_judgment_default.rate": 0.0005,
    "scoring.points.jaywalking": -60,
}


def write(folder: Path, name: str, text: str) -> Path:
    """Write a dedented text file (a sweep, targets or scenario file) and return its path."""
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path
