#!/usr/bin/env python3
"""Baseline for `export_report`: DuckDB's hive-partitioned Parquet COPY.

Usage: duckdb_partitioned_copy.py INPUT.parquet OUTPUT_DIR [ROW_GROUP_SIZE] [--keep]

With --keep, the partition column is also written into the files
(WRITE_PARTITION_COLUMNS), as `.export to table` does. Times only the COPY statement (connection set-up and interpreter start are not
timed) and prints one JSON line: {"seconds": ..., "rows": ..., "threads": ...}.
"""

import json
import sys
import time

import duckdb


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--keep"]
    keep = "--keep" in sys.argv[1:]
    source, target = args[0], args[1]
    row_group_size = int(args[2]) if len(args) > 2 else 100_000
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    sql = (
        f"COPY (SELECT * FROM read_parquet({quote(source)})) TO {quote(target)} "
        f"(FORMAT PARQUET, PARTITION_BY (region), COMPRESSION SNAPPY, "
        f"ROW_GROUP_SIZE {row_group_size}"
        + (", WRITE_PARTITION_COLUMNS true" if keep else "")
        + ")"
    )
    start = time.perf_counter()
    result = con.execute(sql).fetchone()
    seconds = time.perf_counter() - start
    rows = int(result[0]) if result else -1
    print(json.dumps({"seconds": seconds, "rows": rows, "threads": int(threads)}))


if __name__ == "__main__":
    main()
