"""What writing one Parquet table leaves resident, by rows per row group.

    python benchmarks/table_writer_memory.py 200000 24 zstd            # one row group
    python benchmarks/table_writer_memory.py 200000 24 zstd 65536      # groups of 65,536

Builds a table of N rows and COLUMNS columns (float64, int32, bool and dictionary
columns in turn, like a people table), then writes it once and prints the process's
RSS growth over the write, its high-water mark over the write and the maximum of
Arrow's memory pool. Run each case in a fresh process: the allocator's state is the
thing measured (results.TABLE_ROW_GROUP says what it decided).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def _status(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", type=int)
    ap.add_argument("columns", type=int)
    ap.add_argument("codec", choices=("zstd", "snappy", "none"))
    ap.add_argument("rows_per_group", type=int, nargs="?", default=None)
    args = ap.parse_args()
    n = args.rows
    rng = np.random.default_rng(0)
    make = [lambda: rng.random(n), lambda: rng.integers(0, 1000, n).astype(np.int32),
            lambda: rng.integers(0, 2, n).astype(bool),
            lambda: pa.DictionaryArray.from_arrays(rng.integers(0, 5, n).astype(np.int8),
                                                   ["a", "b", "c", "d", "e"])]
    table = pa.table({f"c{c}": make[c % 4]() for c in range(args.columns)})
    path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    r0 = _status("VmRSS")
    t0 = time.perf_counter()
    pq.write_table(table, path, compression=None if args.codec == "none" else args.codec,
                   row_group_size=args.rows_per_group)
    wall = time.perf_counter() - t0
    pool = pa.default_memory_pool()
    print(f"rows {n:,} columns {args.columns} codec {args.codec} rows per group "
          f"{args.rows_per_group or 'one group'}: table {table.nbytes / 2**20:.1f} MiB, "
          f"RSS growth {_status('VmRSS') - r0:.0f} MiB, high-water growth "
          f"{_status('VmHWM') - r0:.0f} MiB, pool max {pool.max_memory() / 2**20:.0f} MiB "
          f"({pool.backend_name}), write {wall:.2f} s")


if __name__ == "__main__":
    main()
