#!/usr/bin/env python3
"""Baseline for `export_report`: delta-rs' `write_deltalake` from Python.

Usage: deltalake_write.py INPUT.parquet OUTPUT_DIR

Reads INPUT into a pyarrow Table first (not timed), then times only
`deltalake.write_deltalake(OUTPUT_DIR, table)` and prints one JSON line:
{"seconds": ..., "rows": ..., "files": ...}.
"""

import json
import os
import sys
import time

import deltalake
import pyarrow.parquet as pq


def main() -> None:
    source, target = sys.argv[1], sys.argv[2]
    table = pq.read_table(source)
    start = time.perf_counter()
    deltalake.write_deltalake(target, table)
    seconds = time.perf_counter() - start
    files = len(deltalake.DeltaTable(target).file_uris())
    print(json.dumps({"seconds": seconds, "rows": table.num_rows, "files": files}))


if __name__ == "__main__":
    main()
    # deltalake can abort the interpreter at exit while its threads are torn down
    # (delta-io/delta-rs#2184); the result is printed, so leave at once.
    sys.stdout.flush()
    os._exit(0)
