"""How large a run's credit file will be, from the scenario alone, before anything is written.

`records: all` keeps every record at any size, and a large run's records.parquet
is most of its folder: the reference scenario writes about 0.044 records per
person and day, some 800 million for 50 million people over a year. The
command line warns with this estimate before a run writes more than
LARGE_RECORDS_BYTES, so nobody fills a disk by surprise.

The estimate is an upper bound of the expected count: every behaviour at its
base rate (responses only thin events), each channel's chance of recording it
(a camera's capture, coverage and matches), times the share of files kept;
at BYTES_PER_RECORD on disk (measured: 4 to 7 bytes per record in zstd
Parquet for reference and pilot-city at 500,000 people).
"""

from __future__ import annotations

from dataclasses import dataclass

from scoresim.model.guards import human_bytes
from scoresim.scenario.schema import Scenario

#: Bytes per record in records.parquet, on the high side of what was measured.
BYTES_PER_RECORD = 8
#: Above this the command line warns before the run starts.
LARGE_RECORDS_BYTES = 2 * 2**30


@dataclass(frozen=True)
class RecordsSize:
    """The expected number of records a run keeps, and their size on disk."""

    rows: float
    bytes: float

    def __str__(self) -> str:
        return human_bytes(self.bytes)


def records_per_person_day(scenario: Scenario) -> float:
    """Expected records per person and day, before the share of files kept."""
    total = 0.0
    flagged = {c.false_flag.behaviour: c.false_flag.probability
               for c in scenario.channels.values() if c.false_flag is not None}
    reported = {c.malicious_report.behaviour: c.malicious_report.probability
                for c in scenario.channels.values() if c.malicious_report is not None}
    for name, b in scenario.behaviours.items():
        if b.channel is None or b.channel not in scenario.channels:
            continue
        c = scenario.channels[b.channel]
        if name in flagged or name in reported:
            p = c.record_probability * flagged.get(name, reported.get(name, 0.0))
        elif c.kind == "camera":
            fr = scenario.face_recognition[c.face_recognition]
            p = c.capture_probability * _mean_coverage(scenario, c) * min(
                1.0, fr.tmr + max(fr.fmr, default=0.0))
        else:
            p = c.record_probability
        total += min(1.0, b.rate) * p
    return total


def _mean_coverage(scenario: Scenario, channel) -> float:
    if channel.coverage_by is None:
        return 1.0
    if channel.coverage_by == "group":
        shares = scenario.population.group_shares
    else:
        shares = scenario.population.attributes[channel.coverage_by].shares
    return sum(s * c for s, c in zip(shares, channel.coverage, strict=True))


def records_size(scenario: Scenario) -> RecordsSize:
    """The expected credit file of a run of `scenario` (its `records` setting applied)."""
    kept = {"all": 1.0, "sample": scenario.records_sample, "none": 0.0}[scenario.records]
    rows = scenario.agents * scenario.days * records_per_person_day(scenario) * kept
    return RecordsSize(rows, rows * BYTES_PER_RECORD)
