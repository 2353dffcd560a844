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

import shutil
from dataclasses import dataclass
from pathlib import Path

from scoresim.model.guards import ResourceError, human_bytes, records_per_person_day
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


def records_size(scenario: Scenario) -> RecordsSize:
    """The expected credit file of a run of `scenario` (its `records` setting applied)."""
    kept = {"all": 1.0, "sample": scenario.records_sample, "none": 0.0}[scenario.records]
    rows = scenario.agents * scenario.days * records_per_person_day(scenario) * kept
    return RecordsSize(rows, rows * BYTES_PER_RECORD)


#: The rest of a run folder, on the high side of what was measured (zstd Parquet):
#: people.parquet and the other per-person tables, per person; the timeseries (with its
#: breakdowns by group and region) per day; manifest, sanctions log and small tables.
PEOPLE_BYTES_PER_PERSON = 16
FIRM_BYTES = 16
TIMESERIES_BYTES_PER_DAY = 4096
FOLDER_FIXED_BYTES = 256 * 2**10


def folder_size(scenario: Scenario) -> float:
    """The expected size of a run folder of `scenario` on disk, in bytes (an upper bound of
    the expected size: the credit file by records_size, the rest by the constants above)."""
    firms = scenario.agents * scenario.firms.per_person if scenario.firms is not None else 0.0
    return (records_size(scenario).bytes + scenario.agents * PEOPLE_BYTES_PER_PERSON
            + firms * FIRM_BYTES + scenario.days * TIMESERIES_BYTES_PER_DAY
            + FOLDER_FIXED_BYTES)


def free_space(folder: Path) -> int:
    """Free bytes on the file system `folder` would be written to (its nearest existing
    ancestor: the folder itself need not exist yet)."""
    here = Path(folder).absolute()
    for candidate in (here, *here.parents):
        try:
            return int(shutil.disk_usage(candidate).free)
        except (FileNotFoundError, NotADirectoryError):
            continue
    return int(shutil.disk_usage(Path.cwd()).free)


def check_disk(scenarios: list[Scenario], folder: Path, *, force: bool = False,
               free: int | None = None) -> float:
    """Refuse to start writing run folders that would not fit in the free space at
    `folder` (exit code 2, nothing written), unless forced; returns the expected bytes.

    A run that fills the disk fails at its end, after all its computing, and may
    leave other programs without space; the estimate is checked before it starts.
    """
    need = sum(folder_size(s) for s in scenarios)
    room = free_space(folder) if free is None else int(free)
    if need > room and not force:
        first = scenarios[0]
        raise ResourceError(
            str(folder),
            f"the run folder{'s' * (len(scenarios) != 1)} would take about "
            f"{human_bytes(need)} on disk ({first.agents:,} people x {first.days:,} days, "
            f"--records {first.records}), and {human_bytes(room)} is free there; keep fewer "
            "records (--records sample or none), use fewer agents, or --force to try anyway",
        )
    return need
