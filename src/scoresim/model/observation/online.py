"""Online speech monitoring: keyword filtering that misses some critical posts and flags others.

A filter reads posts. It records a critical post with some probability (its
recall, the channel's record probability) and flags a benign post as critical
with a small probability, each flagged benign post a record of an offence
nobody committed: the poster is its subject, and it has no true actor. Its
precision, the share of its records that are true, follows from how many
benign posts there are for each critical one; the metrics report it.
"""

from __future__ import annotations

from scoresim.scenario.schema import Scenario


def false_flag_routes(scenario: Scenario) -> list[tuple[str, float, str]]:
    """(benign behaviour, flag probability, offence recorded) for every filtering channel."""
    return [(c.false_flag.behaviour, c.false_flag.probability, c.false_flag.recorded_as)
            for c in scenario.channels.values() if c.false_flag is not None]
