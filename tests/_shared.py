"""Settings and helpers that several test files share (imported, not fixtures)."""

from __future__ import annotations

import textwrap
from pathlib import Path

# A pilot-city that makes many wrongful sanctions to tell apart: high false-match rates
# (tmr lowered so the profile's sex and age multipliers, up to 3x, keep tmr + 3 fmr <= 1),
# no appeals or repair (wrong records stay, so the wrongly banned stay so), frequent court
# defaults and a heavy jaywalking penalty.
# pilot-city's camera, filter and false-flag rates before docs/plausibility.md brought them
# down to public figures: tests of mechanisms (suspensions, shaming, chilling) need their
# thousands of events, not the plausible city's few dozen.
BUSY_PILOT = {
    "channels.street_camera.capture_probability": 0.3,
    "channels.online_monitoring.record_probability": 0.5,
    "channels.online_monitoring.false_flag.probability": 0.002,
}
HARSH_PILOT = {
    **BUSY_PILOT,
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


def run_and_resume(scenario, day: int, folder: Path):
    """Two Simulations of `scenario`: one run straight through, one restored from the first's
    checkpoint of `day` (saved to and loaded from `folder`) and run on from there.

    What a checkpoint test compares: anything that differs between the two was lost or
    changed by saving and restoring the state.
    """
    from scoresim.model.engine import Simulation
    from scoresim.runs.checkpoint import load_state, save_state

    first = Simulation(scenario)
    for _ in range(day):
        first.step()
    save_state(folder, first.state())
    second = Simulation(scenario)
    second.restore(load_state(folder))
    assert second.day == day
    first.run()
    second.run()
    return first, second
