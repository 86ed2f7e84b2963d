"""Ingest from pyarrow, `.export to parquet`, read the artifacts back with pyarrow."""

import datetime
import os

import pyarrow as pa
import pyarrow.dataset as ds

import datafusion_export as dx
from conftest import local_path


def rows(table: pa.Table):
    return sorted(table.to_pylist(), key=lambda r: r["a"])


def test_ingest_export_and_read_back(tmp_path, db):
    created = db.execute(".create table T (a:long, s:string)")
    assert isinstance(created, pa.Table)
    assert created.to_pylist() == [{"TableName": "T", "Schema": "a:long, s:string", "Cursor": "1"}]
    # SQL DDL returns an empty table.
    assert db.execute("CREATE TABLE U (x BIGINT)").num_rows == 0
    assert db.tables() == ["T", "U"]

    first = pa.table({"a": pa.array([1, 2, 3], pa.int64()), "s": ["x", "y", None]})
    receipt = db.ingest("T", first)
    assert receipt["rows"] == 3
    assert receipt["extents"] == 1
    assert receipt["cursor"] == db.cursor()
    assert isinstance(receipt["ingestion_time"], datetime.datetime)
    assert receipt["ingestion_time"].tzinfo is not None

    # A list of record batches is one commit too.
    batches = [
        pa.record_batch({"a": pa.array([4], pa.int64()), "s": ["u"]}),
        pa.record_batch({"a": pa.array([5], pa.int64()), "s": ["v"]}),
    ]
    second = db.ingest("T", batches)
    assert second["rows"] == 2
    assert int(second["cursor"]) == int(receipt["cursor"]) + 1
    # So is a single record batch.
    third = db.ingest("T", pa.record_batch({"a": pa.array([6], pa.int64()), "s": ["w"]}))
    assert int(third["cursor"]) == int(second["cursor"]) + 1

    everything = db.execute("SELECT a, s FROM T")
    assert everything.num_rows == 6

    newer = db.execute(f"SELECT a FROM T WHERE cursor_after('{receipt['cursor']}') ORDER BY a")
    assert newer["a"].to_pylist() == [4, 5, 6]

    out = tmp_path / "out"
    artifacts = db.execute(f".export to parquet ('{out}') <| SELECT a, s FROM T")
    assert artifacts.column_names[:3] == ["Path", "NumRecords", "SizeInBytes"]
    assert sum(artifacts["NumRecords"].to_pylist()) == 6
    for path in artifacts["Path"].to_pylist():
        assert os.path.exists(local_path(path)), path

    back = ds.dataset(str(out), format="parquet").to_table()
    assert rows(back) == rows(everything)
    assert rows(back)[:3] == [
        {"a": 1, "s": "x"},
        {"a": 2, "s": "y"},
        {"a": 3, "s": None},
    ]


def test_in_memory_database():
    db = dx.Database.in_memory()
    db.execute(".create table T (a:long)")
    db.ingest("T", pa.table({"a": pa.array([7, 8], pa.int64())}))
    assert db.tables() == ["T"]
    assert db.execute("SELECT sum(a) AS total FROM T")["total"].to_pylist() == [15]
    shown = db.execute(".show table T extents")
    assert shown["RowCount"].to_pylist() == [2]


def test_database_reopens_with_its_data(tmp_path):
    path = str(tmp_path / "db")
    db = dx.Database.open(path)
    db.execute(".create table T (a:long)")
    db.ingest("T", pa.table({"a": pa.array([1, 2], pa.int64())}))
    cursor = db.cursor()
    again = dx.Database.open(path)
    assert again.cursor() == cursor
    assert sorted(again.execute("SELECT a FROM T")["a"].to_pylist()) == [1, 2]
