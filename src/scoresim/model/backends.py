"""The backends that compute a run, behind one choice: the day loop and the person backend.

As xarray's backends each say what they can open, each backend here says
which scenarios it can run. `day` (engine.py's day loop) runs every scenario.
`person` (lives.py) lives each person's whole run at once and gives the same
numbers, where people do not depend on each other's days: every module
enabled in a scenario says whether the person backend can run it
(Module.person_backend), so a new module cannot be forgotten here.
"""

from __future__ import annotations

from scoresim.model.engine import MODULES
from scoresim.scenario import ScenarioError
from scoresim.scenario.schema import Scenario

BACKENDS = ("auto", "day", "person")


def reasons_not_eligible(scenario: Scenario) -> list[str]:
    """Why the person backend cannot run `scenario` (empty: it can)."""
    why = []
    for cls in MODULES:
        if cls.enabled(scenario):
            why += cls.person_backend(scenario)
    return why


def choose_backend(scenario: Scenario, backend: str, checkpoint_every: int | None) -> str:
    """The backend a run uses: `auto` takes the person backend wherever it gives the same run."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got '{backend}'")
    limits = list(reasons_not_eligible(scenario))
    if scenario.records != "none":
        limits.append("records: the person backend keeps no credit file (use --records none)")
    if checkpoint_every:
        limits.append("checkpoints: the person backend has no day to stop at")
    if backend == "auto":
        return "day" if limits else "person"
    if backend == "person" and limits:
        raise ScenarioError(scenario.name, "the person backend cannot run this scenario: "
                            + "; ".join(limits), field="backend")
    return backend
