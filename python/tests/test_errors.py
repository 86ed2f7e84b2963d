"""Rust errors surface as DataFusionExportError carrying the Rust message."""

import pyarrow as pa
import pytest

import datafusion_export as dx


def test_error_type():
    assert issubclass(dx.DataFusionExportError, Exception)


def test_bad_command(db):
    with pytest.raises(dx.DataFusionExportError) as info:
        db.execute(".frobnicate table T")
    assert "(at line 1, column" in str(info.value)


def test_unknown_table(db):
    with pytest.raises(dx.DataFusionExportError, match="table 'Nope' does not exist"):
        db.ingest("Nope", pa.table({"a": pa.array([1], pa.int64())}))
    with pytest.raises(dx.DataFusionExportError, match="table 'Nope' does not exist"):
        db.table("Nope")
    with pytest.raises(dx.DataFusionExportError, match="Nope"):
        db.execute("SELECT * FROM Nope")
    with pytest.raises(dx.DataFusionExportError, match="does not exist"):
        db.execute(".show table Nope extents")


def test_bad_cursor_and_duplicate_table(db):
    db.execute(".create table T (a:long)")
    with pytest.raises(dx.DataFusionExportError, match="malformed cursor 'abc'"):
        db.execute("SELECT * FROM T WHERE cursor_after('abc')")
    with pytest.raises(dx.DataFusionExportError, match="out of range"):
        db.execute("SELECT * FROM T WHERE cursor_after('999')")
    with pytest.raises(dx.DataFusionExportError, match="table 'T' already exists"):
        db.execute(".create table T (a:long)")


def test_bad_input_type(db):
    db.execute(".create table T (a:long)")
    with pytest.raises(TypeError):
        db.ingest("T", 42)


def test_unknown_continuous_export(db):
    with pytest.raises(dx.DataFusionExportError, match="Nope"):
        db.run_continuous_export("Nope")
