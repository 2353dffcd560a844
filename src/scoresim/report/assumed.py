"""Which headline outcomes of a run rest only on assumptions: the report says so at the top.

An outcome is driven by a few inputs: the behaviours that trigger its sanction,
the channels that record them (and any channel error routed to a trigger). Each
input carries its `source:` string. Where every one of them says it is an
assumption, no public figure checks the outcome, however precise its number
looks, and the report prints a note naming the inputs. docs/plausibility.md
sets the built-in scenarios' outcomes beside public figures.
"""

from __future__ import annotations

from typing import Any

# words by which a source admits that a value is assumed, not taken from a figure
ASSUMED = ("assumption", "assumed")
# outcomes: (summary key, what the note calls it, the sanction section behind it)
OUTCOMES = (
    ("n_media_suspended", "social media suspensions", "media_suspension"),
    ("total_shamed", "showings on public screens", "shaming"),
    ("n_dishonest", "listings on the dishonest list", "dishonest_list"),
)


def assumed(source: str | None) -> bool:
    """A source that cites nothing, or whose first clause says it is an assumption."""
    if not source:
        return True
    first = source.lower().split(";")[0].split(":")[0]
    return any(w in first for w in ASSUMED) or "rate an assumption" in source.lower()


def drivers(scenario: dict[str, Any], section: str) -> list[tuple[str, str]]:
    """(dotted path, source) of each input behind one sanction's outcome."""
    sanction = (scenario.get("sanctions") or {}).get(section) or {}
    triggers = list(sanction.get("triggers") or [])
    behaviours = scenario.get("behaviours") or {}
    channels = scenario.get("channels") or {}
    out: list[tuple[str, str]] = []
    for t in triggers:
        b = behaviours.get(t) or {}
        out.append((f"behaviours.{t}", str(b.get("source", ""))))
        ch = b.get("channel")
        if ch and ch in channels:
            out.append((f"channels.{ch}", str(channels[ch].get("source", ""))))
    for name, ch in channels.items():  # errors filed as a trigger (false flags, made-up reports)
        for kind in ("false_flag", "malicious_report"):
            route = ch.get(kind)
            if route and route.get("recorded_as") in triggers:
                out.append((f"channels.{name}.{kind}", str(route.get("source", ""))))
    return out


def notes(scenario: dict[str, Any], summary: dict[str, Any], agents: int) -> list[str]:
    """One sentence per non-zero headline outcome whose every input is an assumption."""
    out = []
    for key, what, section in OUTCOMES:
        value = summary.get(key)
        inputs = drivers(scenario, section)
        if not value or not inputs or not all(assumed(src) for _, src in inputs):
            continue
        per = value / agents if agents else 0.0
        how = (f"{per:.3g} per person over the run" if key.startswith("total_") else
               f"{per * 100:.3g}% of people on the last day")
        out.append(f"The {what} ({value:,}; {how}) rest only on assumptions: "
                   + ", ".join(p for p, _ in inputs) + " cite no public figure. Read them as "
                   "what these assumed rates imply, not as an estimate (docs/plausibility.md "
                   "sets the built-in scenarios beside public figures).")
    return out
