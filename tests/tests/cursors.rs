//! The cursor functions, exactly as DESIGN §3 defines them.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use datafusion_export::tables::{Database, DatabaseOptions, ManualClock};
use datafusion_export::Engine;
use datafusion_export_integration_tests::{i64_column, id_batch, row_count, string_column};

async fn engine_with_clock() -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let db = Database::open_with(
        "memory://",
        DatabaseOptions::default().with_clock(clock.clone()),
    )
    .await
    .unwrap();
    (Engine::new(db), clock)
}

async fn ids(engine: &Engine, sql: &str) -> Vec<i64> {
    let mut v = i64_column(&engine.execute_collect(sql).await.unwrap(), "id");
    v.sort();
    v
}

/// T gets ids 1..=2 at cursor 2, 3..=4 at cursor 3, 5..=6 at cursor 4.
async fn three_ingestions() -> (Engine, Arc<ManualClock>) {
    let (engine, clock) = engine_with_clock().await;
    engine
        .execute(".create table T (id:long, s:string)")
        .await
        .unwrap();
    for chunk in [[1, 2], [3, 4], [5, 6]] {
        clock.advance(Duration::minutes(1));
        let receipt = engine
            .database()
            .ingest("T", vec![id_batch(&chunk)])
            .await
            .unwrap();
        assert!(receipt.commit.is_some());
    }
    (engine, clock)
}

#[tokio::test]
async fn cursor_predicates_select_commits() {
    let (engine, _) = three_ingestions().await;
    assert_eq!(
        ids(&engine, "SELECT id FROM T WHERE cursor_after('2')").await,
        vec![3, 4, 5, 6]
    );
    assert_eq!(
        ids(&engine, "SELECT id FROM T WHERE cursor_before_or_at('3')").await,
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        ids(
            &engine,
            "SELECT id FROM T WHERE cursor_after('2') AND cursor_before_or_at('3')"
        )
        .await,
        vec![3, 4]
    );
    assert_eq!(
        ids(&engine, "SELECT id FROM T WHERE cursor_after('')").await,
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        ids(&engine, "SELECT id FROM T WHERE cursor_after(NULL)").await,
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        ids(&engine, "SELECT id FROM T WHERE cursor_after('4')").await,
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(
            &engine,
            "SELECT id FROM T WHERE cursor_after('3') AND id > 5"
        )
        .await,
        vec![6]
    );
    assert_eq!(
        ids(
            &engine,
            "SELECT id FROM T WHERE cursor_before_or_at(cursor_current())"
        )
        .await,
        vec![1, 2, 3, 4, 5, 6]
    );
}

#[tokio::test]
async fn cursor_current_is_the_latest_commit() {
    let (engine, _) = three_ingestions().await;
    let batches = engine
        .execute_collect("SELECT cursor_current() AS c")
        .await
        .unwrap();
    assert_eq!(string_column(&batches, "c"), vec!["4"]);
    engine
        .database()
        .ingest("T", vec![id_batch(&[7])])
        .await
        .unwrap();
    let batches = engine
        .execute_collect("SELECT cursor_current() AS c")
        .await
        .unwrap();
    assert_eq!(string_column(&batches, "c"), vec!["5"]);
}

#[tokio::test]
async fn select_star_never_shows_system_columns() {
    let (engine, _) = three_ingestions().await;
    for sql in [
        "SELECT * FROM T",
        "SELECT * FROM T WHERE cursor_after('2')",
        "SELECT * FROM T WHERE ingestion_time() > to_timestamp('2000-01-01T00:00:00Z')",
        "SELECT * FROM (SELECT * FROM T WHERE cursor_after('1')) x",
    ] {
        let batches = engine.execute_collect(sql).await.unwrap();
        let schema = batches[0].schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, vec!["id", "s"], "{sql}");
    }
}

#[tokio::test]
async fn ingestion_time_in_projection_filter_and_group_by() {
    let (engine, _) = three_ingestions().await;
    // Ingestion times: 00:01, 00:02, 00:03.
    let batches = engine
        .execute_collect("SELECT id, CAST(ingestion_time() AS VARCHAR) AS t FROM T ORDER BY id")
        .await
        .unwrap();
    let times = string_column(&batches, "t");
    assert_eq!(times[0], "2026-01-01T00:01:00Z");
    assert_eq!(times[5], "2026-01-01T00:03:00Z");

    let filtered = ids(
        &engine,
        "SELECT id FROM T WHERE ingestion_time() >= to_timestamp('2026-01-01T00:02:00Z')",
    )
    .await;
    assert_eq!(filtered, vec![3, 4, 5, 6]);

    let grouped = engine
        .execute_collect(
            "SELECT ingestion_time() AS t, count(*) AS n FROM T GROUP BY ingestion_time() ORDER BY t",
        )
        .await
        .unwrap();
    assert_eq!(row_count(&grouped), 3);
    assert_eq!(i64_column(&grouped, "n"), vec![2, 2, 2]);

    // The same times as `.show table T extents` reports.
    let extents = engine
        .execute_collect(".show table T extents")
        .await
        .unwrap();
    let shown = string_column(&extents, "IngestionTime");
    assert_eq!(shown.len(), 3);
    assert!(
        shown.iter().all(|t| t.starts_with("2026-01-01T00:0")),
        "{shown:?}"
    );
}

#[tokio::test]
async fn scopes_reach_every_table_of_the_from_and_subqueries_scope_one() {
    let (engine, _) = three_ingestions().await;
    engine
        .execute(".create table D (id:long, name:string)")
        .await
        .unwrap(); // cursor 5
    engine
        .execute("INSERT INTO D VALUES (1, 'one'), (3, 'three'), (5, 'five')")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap(); // cursor 6

    // The WHERE scopes both T and D: D's rows were ingested at cursor 6, after 2.
    let both = ids(
        &engine,
        "SELECT T.id FROM T JOIN D ON T.id = D.id WHERE cursor_after('2') AND cursor_before_or_at('4')",
    )
    .await;
    assert_eq!(both, Vec::<i64>::new());

    // Scoping only T, in a subquery: D is read whole.
    let fact_only = ids(
        &engine,
        "SELECT f.id FROM (SELECT * FROM T WHERE cursor_after('2')) f JOIN D ON f.id = D.id",
    )
    .await;
    assert_eq!(fact_only, vec![3, 5]);

    // Nested scopes intersect.
    let nested = ids(
        &engine,
        "SELECT id FROM (SELECT * FROM T WHERE cursor_after('2')) x WHERE cursor_before_or_at('3')",
    )
    .await;
    assert_eq!(nested, vec![3, 4]);

    // A subquery in the WHERE (not in the FROM) is not scoped by it.
    let in_subquery = ids(
        &engine,
        "SELECT id FROM T WHERE cursor_after('3') AND id IN (SELECT id - 4 FROM T)",
    )
    .await;
    assert_eq!(in_subquery, Vec::<i64>::new());
    let in_subquery = ids(
        &engine,
        "SELECT id FROM T WHERE cursor_before_or_at('2') AND id IN (SELECT id - 4 FROM T)",
    )
    .await;
    assert_eq!(in_subquery, vec![1, 2]);
}

#[tokio::test]
async fn ingestion_time_over_a_join_is_ambiguous_but_works_in_a_subquery() {
    let (engine, _) = three_ingestions().await;
    engine
        .execute(".create table D (id:long, name:string)")
        .await
        .unwrap();
    engine
        .execute_collect("INSERT INTO D VALUES (1, 'one')")
        .await
        .unwrap();
    let err = engine
        .execute_collect("SELECT T.id, ingestion_time() FROM T JOIN D ON T.id = D.id")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ambiguous"), "{err}");
    assert!(err.to_string().contains("subquery"), "{err}");

    let ok = engine
        .execute_collect(
            "SELECT f.id, f.t FROM (SELECT id, ingestion_time() AS t FROM T) f JOIN D ON f.id = D.id",
        )
        .await
        .unwrap();
    assert_eq!(i64_column(&ok, "id"), vec![1]);
}

#[tokio::test]
async fn views_and_plain_sql_keep_working() {
    let (engine, _) = three_ingestions().await;
    engine
        .execute("CREATE VIEW recent AS SELECT id FROM T WHERE cursor_after('3')")
        .await
        .unwrap();
    assert_eq!(ids(&engine, "SELECT id FROM recent").await, vec![5, 6]);
    let plain = engine
        .execute_collect("SELECT count(*) AS n FROM (VALUES (1), (2)) v(x)")
        .await
        .unwrap();
    assert_eq!(i64_column(&plain, "n"), vec![2]);
    let explain = engine
        .execute_collect("EXPLAIN SELECT id FROM T WHERE cursor_after('3')")
        .await
        .unwrap();
    let text = string_column(&explain, "plan").join("\n");
    assert!(text.contains("cursor=(3, 4]"), "{text}");
    assert!(
        !text.contains("cursor_after"),
        "the predicate must become a scope: {text}"
    );
}
