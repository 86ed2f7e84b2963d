#!/usr/bin/env python3
"""Baseline for `export_report`: DuckDB's hive-partitioned Parquet COPY.

Usage: duckdb_partitioned_copy.py INPUT.parquet OUTPUT_DIR [ROW_GROUP_SIZE]

Times only the COPY statement (connection set-up and interpreter start are not
timed) and prints one JSON line: {"seconds": ..., "rows": ..., "threads": ...}.
"""

import json
import sys
import time

import duckdb


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main() -> None:
    source, target = sys.argv[1], sys.argv[2]
    row_group_size = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    sql = (
        f"COPY (SELECT * FROM read_parquet({quote(source)})) TO {quote(target)} "
        f"(FORMAT PARQUET, PARTITION_BY (region), COMPRESSION SNAPPY, "
        f"ROW_GROUP_SIZE {row_group_size})"
    )
    start = time.perf_counter()
    result = con.execute(sql).fetchone()
    seconds = time.perf_counter() - start
    rows = int(result[0]) if result else -1
    print(json.dumps({"seconds": seconds, "rows": rows, "threads": int(threads)}))


if __name__ == "__main__":
    main()
