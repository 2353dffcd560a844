"""Neighbourhood informants: reports of what neighbours did, and of what they did not.

Informants report true events they witness with some probability (the
channel's record probability). Some reports are made up: an informant's act of
reporting falsely is itself a behaviour, with a rate per person, and each such
act files a record of an alleged offence against a neighbour (a nearby id,
within the channel's linkage window). Such a record has no true actor: nobody
did what it says.
"""

from __future__ import annotations

from scoresim.scenario.schema import Scenario


def malicious_routes(scenario: Scenario) -> list[tuple[str, float, str]]:
    """(informant's behaviour, filing probability, offence alleged) for every informant channel."""
    return [(c.malicious_report.behaviour, c.malicious_report.probability,
             c.malicious_report.recorded_as)
            for c in scenario.channels.values() if c.malicious_report is not None]
