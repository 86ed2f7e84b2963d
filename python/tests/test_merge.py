"""Extent merging from Python: policies, merges, and rows that keep their cursors."""

import pyarrow as pa


def test_merge_keeps_rows_and_cursors(db):
    db.execute(".create table T (a:long, s:string)")
    cursors = []
    for n in range(4):
        receipt = db.ingest("T", pa.record_batch({"a": pa.array([n], pa.int64()), "s": [f"r{n}"]}))
        cursors.append(receipt["cursor"])
    assert db.execute(".show table T extents").num_rows == 4
    newest = db.execute(f"SELECT a FROM T WHERE cursor_after('{cursors[1]}') ORDER BY a")

    shown = db.set_merge_policy({"MaxExtentsToMerge": 2}, table="T")
    assert '"MaxExtentsToMerge":2' in shown["Policy"][0].as_py()
    extents = db.execute(".show table T extents")["ExtentId"].to_pylist()
    merged = db.merge("T", extent_ids=extents[:2])
    assert merged["SourceExtents"].to_pylist() == [2]
    # Everything the policy's bounds allow, two sources a merge, until one is left:
    # every row once, cursors as before.
    merged = db.merge("T")
    assert merged["RowCount"].to_pylist() == [3, 4]
    assert db.execute(".show table T extents").num_rows == 1
    assert db.execute("SELECT sum(a) AS s FROM T")["s"].to_pylist() == [6]
    again = db.execute(f"SELECT a FROM T WHERE cursor_after('{cursors[1]}') ORDER BY a")
    assert again == newest
