"""KQL query bodies from Python: the same engine, so the same answers as SQL."""

import pyarrow as pa


def test_kql_and_sql_give_the_same_rows(db):
    db.execute(".create table Events (Id:long, Region:string)")
    db.ingest("Events", pa.table({"Id": pa.array([1, 2, 3], pa.int64()), "Region": ["EU", "US", "eu"]}))
    first = db.cursor()
    db.ingest("Events", pa.table({"Id": pa.array([4], pa.int64()), "Region": ["EU"]}))

    kql = db.execute('Events | where Region =~ "eu" | summarize count() by Region | order by Region asc')
    sql = db.execute(
        "SELECT Region, count(*) AS count_ FROM Events WHERE lower(Region) = 'eu' GROUP BY Region ORDER BY Region"
    )
    assert kql.column_names == ["Region", "count_"]
    assert kql.to_pylist() == sql.to_pylist() == [{"Region": "EU", "count_": 2}, {"Region": "eu", "count_": 1}]

    # Cursor scoping reads the same from KQL.
    newer = db.execute(f"Events | where cursor_after('{first}') | project Id")
    assert newer.to_pylist() == [{"Id": 4}]

    # A management command's result takes KQL operators.
    shown = db.execute(".show table Events extents | count")
    assert shown.to_pylist() == [{"Count": 2}]
