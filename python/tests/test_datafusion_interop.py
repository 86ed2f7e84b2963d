"""Tables and cursor functions registered into a `datafusion.SessionContext`
(PyPI `datafusion` 55) through the DataFusion FFI capsules."""

import pyarrow as pa
import pytest

datafusion = pytest.importorskip("datafusion")


@pytest.fixture
def five_ingestions(db):
    """Table T with five ingestions (one extent each) of ids i*10 and i*10+1."""
    db.execute(".create table T (id:long, s:string)")
    cursors = []
    for i in range(5):
        receipt = db.ingest(
            "T",
            pa.table({"id": pa.array([i * 10, i * 10 + 1], pa.int64()), "s": [f"b{i}"] * 2}),
        )
        cursors.append(receipt["cursor"])
    return db, cursors


@pytest.fixture
def host(five_ingestions):
    db, cursors = five_ingestions
    ctx = datafusion.SessionContext()
    table = db.table("T")
    ctx.register_table("events", table)
    for f in db.udfs():
        ctx.register_udf(datafusion.udf(f))
    return db, cursors, ctx, table


def ids(ctx, sql):
    return ctx.sql(sql).to_arrow_table()["id"].to_pylist()


def plan_text(ctx, sql, plan_type="physical_plan"):
    plan = ctx.sql(f"EXPLAIN {sql}").to_arrow_table().to_pylist()
    return "\n".join(row["plan"] for row in plan if row["plan_type"] == plan_type)


def test_udfs_are_the_cursor_functions(db):
    names = sorted(f.name for f in db.udfs())
    assert names == ["cursor_after", "cursor_before_or_at", "cursor_current", "ingestion_time"]


def test_plain_query(host):
    _, _, ctx, table = host
    assert sorted(ids(ctx, "SELECT id FROM events")) == [0, 1, 10, 11, 20, 21, 30, 31, 40, 41]
    scan = table.last_scan()
    assert (scan["extents_scanned"], scan["extents_total"]) == (5, 5)
    assert ctx.sql("SELECT count(*) AS n FROM events WHERE s = 'b3'").to_arrow_table()[
        "n"
    ].to_pylist() == [2]


def test_cursor_after_prunes_extents(host):
    db, cursors, ctx, table = host
    sql = f"SELECT id, s FROM events WHERE cursor_after('{cursors[2]}') ORDER BY id"
    assert ids(ctx, sql) == [30, 31, 40, 41]

    scan = table.last_scan()
    assert scan["table"] == "T"
    assert scan["extents_scanned"] == 2
    assert scan["extents_total"] == 5
    assert scan["cursor_range"] == f"({cursors[2]}, {cursors[4]}]"

    # The host's EXPLAIN shows our scan with its scope.
    text = plan_text(ctx, sql)
    assert f"ExtentScanExec: table=T, cursor=({cursors[2]}, {cursors[4]}], extents=2 of 5" in text
    # The predicate was pushed into the scan, not left as a filter.
    assert "cursor_after" not in text
    assert "full_filters=[cursor_after" in plan_text(ctx, sql, "logical_plan")

    # EXPLAIN ANALYZE reports the pruning metrics.
    analyzed = plan_text(ctx, f"ANALYZE {sql}", "Plan with Metrics")
    assert "extents_scanned=2" in analyzed
    assert "extents_pruned=3" in analyzed


def test_both_bounds_and_other_filters(host):
    _, cursors, ctx, table = host
    sql = (
        f"SELECT id FROM events WHERE cursor_after('{cursors[0]}') "
        f"AND cursor_before_or_at('{cursors[2]}') AND id > 10 ORDER BY id"
    )
    assert ids(ctx, sql) == [11, 20, 21]
    scan = table.last_scan()
    assert (scan["extents_scanned"], scan["extents_total"]) == (2, 5)
    assert scan["cursor_range"] == f"({cursors[0]}, {cursors[2]}]"


def test_cursor_current(host):
    db, _, ctx, table = host
    current = ctx.sql("SELECT cursor_current() AS c").to_arrow_table()["c"].to_pylist()
    assert current == [db.cursor()]
    assert ids(ctx, "SELECT id FROM events WHERE cursor_after(cursor_current())") == []
    assert table.last_scan()["extents_scanned"] == 0
    # New data after the registration is seen by the next query.
    db.ingest("T", pa.table({"id": pa.array([50], pa.int64()), "s": ["b5"]}))
    assert ids(ctx, f"SELECT id FROM events WHERE cursor_after('{current[0]}')") == [50]
    assert (table.last_scan()["extents_scanned"], table.last_scan()["extents_total"]) == (1, 6)


def test_cursor_errors_come_from_our_provider(host):
    _, _, ctx, _ = host
    with pytest.raises(Exception, match="malformed cursor 'abc'"):
        ctx.sql("SELECT id FROM events WHERE cursor_after('abc')").to_arrow_table()
    with pytest.raises(Exception, match="out of range"):
        ctx.sql("SELECT id FROM events WHERE cursor_after('999')").to_arrow_table()


def test_join_with_a_host_table(host):
    _, cursors, ctx, _ = host
    ctx.from_pydict({"id": [30, 40, 99], "tag": ["a", "b", "c"]}, name="tags")
    got = ctx.sql(
        "SELECT e.id, t.tag FROM (SELECT * FROM events WHERE "
        f"cursor_after('{cursors[2]}')) e JOIN tags t ON e.id = t.id ORDER BY e.id"
    ).to_arrow_table()
    assert got.to_pylist() == [{"id": 30, "tag": "a"}, {"id": 40, "tag": "b"}]
