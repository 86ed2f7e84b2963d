//! Bad input: a clear error, no panic, and nothing committed.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion_export::Engine;
use datafusion_export_integration_tests::{i64_column, id_batch};

async fn engine() -> Engine {
    let engine = Engine::in_memory().await.unwrap();
    engine
        .execute(".create table T (id:long, s:string)")
        .await
        .unwrap();
    engine
        .execute_collect("INSERT INTO T VALUES (1, 'a')")
        .await
        .unwrap();
    engine
}

/// (cursor, row count, extents): must not change after a failed command.
async fn fingerprint(engine: &Engine) -> (u64, i64, usize) {
    let cursor = engine.database().refresh().await.unwrap().sequence();
    let n = i64_column(
        &engine
            .execute_collect("SELECT count(*) AS n FROM T")
            .await
            .unwrap(),
        "n",
    )[0];
    let extents = engine.database().extents("T").await.unwrap().len();
    (cursor, n, extents)
}

async fn expect_error(engine: &Engine, text: &str, needle: &str) {
    let before = fingerprint(engine).await;
    let err = match engine.execute_collect(text).await {
        Ok(_) => panic!("`{text}` should fail"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(needle),
        "`{text}` failed with `{err}`, expected `{needle}`"
    );
    assert_eq!(
        fingerprint(engine).await,
        before,
        "`{text}` changed the database"
    );
}

#[tokio::test]
async fn unknown_tables_and_columns() {
    let engine = engine().await;
    expect_error(&engine, "SELECT * FROM Nope", "Nope").await;
    expect_error(&engine, "SELECT nope FROM T", "nope").await;
    expect_error(
        &engine,
        ".show table Nope extents",
        "table 'Nope' does not exist",
    )
    .await;
    expect_error(
        &engine,
        ".append Nope <| SELECT 1 AS id",
        "table 'Nope' does not exist",
    )
    .await;
    expect_error(&engine, ".drop table Nope", "table 'Nope' does not exist").await;
    expect_error(
        &engine,
        ".create table T (x:long)",
        "table 'T' already exists",
    )
    .await;
    expect_error(&engine, ".create table U (x:lng)", "unknown type").await;
    expect_error(&engine, ".frobnicate", "").await;
}

#[tokio::test]
async fn wrong_types_on_ingest_commit_nothing() {
    let engine = engine().await;
    // Rust API: a string where a long belongs, and an unknown column.
    let before = fingerprint(&engine).await;
    let wrong = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(BooleanArray::from(vec![true])) as ArrayRef),
        ("s", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
    ])
    .unwrap();
    let err = engine
        .database()
        .ingest("T", vec![id_batch(&[5]), wrong])
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("column 'id' is Boolean in the data but Int64"),
        "{err}"
    );
    let extra = RecordBatch::try_from_iter(vec![(
        "zz",
        Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
    )])
    .unwrap();
    let err = engine
        .database()
        .ingest("T", vec![extra])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("'zz'"), "{err}");
    assert_eq!(fingerprint(&engine).await, before);

    // SQL and commands.
    expect_error(
        &engine,
        "INSERT INTO T VALUES ('not a number', 'x')",
        "not a number",
    )
    .await;
    expect_error(
        &engine,
        ".append T <| SELECT true AS id",
        "column 'id' is Boolean",
    )
    .await;

    // A CSV whose second row does not parse: the first row is not ingested either.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "7,ok\nseven,bad\n").unwrap();
    expect_error(
        &engine,
        &format!(
            ".ingest into table T ('{}') with (format=csv)",
            csv.display()
        ),
        "seven",
    )
    .await;
    expect_error(
        &engine,
        &format!(
            ".ingest into table T ('{}/missing.csv')",
            dir.path().display()
        ),
        "no such file",
    )
    .await;
}

#[tokio::test]
async fn malformed_and_out_of_range_cursors() {
    let engine = engine().await;
    expect_error(
        &engine,
        "SELECT * FROM T WHERE cursor_after('abc')",
        "malformed cursor 'abc'",
    )
    .await;
    expect_error(
        &engine,
        "SELECT * FROM T WHERE cursor_after('-1')",
        "malformed cursor",
    )
    .await;
    expect_error(
        &engine,
        "SELECT * FROM T WHERE cursor_before_or_at('1.5')",
        "malformed cursor",
    )
    .await;
    expect_error(
        &engine,
        "SELECT * FROM T WHERE cursor_after('99999999999999999999999')",
        "out of range",
    )
    .await;
    expect_error(
        &engine,
        "SELECT * FROM T WHERE cursor_after('999')",
        "cursor 999 is out of range",
    )
    .await;
    expect_error(
        &engine,
        "SELECT * FROM T WHERE cursor_after(id)",
        "cursor string literal",
    )
    .await;
    expect_error(
        &engine,
        "SELECT * FROM T WHERE cursor_after('1') OR id = 1",
        "WHERE clause",
    )
    .await;
    expect_error(&engine, "SELECT cursor_after('1')", "WHERE clause").await;
    expect_error(
        &engine,
        "SELECT * FROM (VALUES (1)) v(x) WHERE cursor_after('1')",
        "reads none",
    )
    .await;
    expect_error(
        &engine,
        "SELECT ingestion_time() FROM (VALUES (1)) v(x)",
        "ingestion-tracked",
    )
    .await;
}

#[tokio::test]
async fn bad_property_values() {
    let engine = engine().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ok.csv");
    std::fs::write(&csv, "7,ok\n").unwrap();
    let path = csv.display();
    expect_error(
        &engine,
        &format!(".ingest into table T ('{path}') with (format='xml')"),
        "unknown format 'xml'",
    )
    .await;
    expect_error(
        &engine,
        &format!(".ingest into table T ('{path}') with (ignoreFirstRecord='maybe')"),
        "expected true or false",
    )
    .await;
    expect_error(
        &engine,
        &format!(".ingest into table T ('{path}') with (colour=blue)"),
        "unknown property",
    )
    .await;
    expect_error(
        &engine,
        ".append T with (frob=1) <| SELECT 1 AS id",
        "unknown property",
    )
    .await;
    let txt = dir.path().join("data.bin");
    std::fs::write(&txt, "7,ok\n").unwrap();
    expect_error(
        &engine,
        &format!(".ingest into table T ('{}')", txt.display()),
        "cannot tell the format",
    )
    .await;
}

#[tokio::test]
async fn secrets_in_source_urls_never_reach_errors() {
    let engine = engine().await;
    let err = engine
        .execute_collect(".ingest into table T (h'https://acct.blob.core.windows.net/c/x.csv;SECRETKEY') with (format=csv)")
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("SECRETKEY"), "{err}");
    let err = engine
        .execute_collect(".ingest into table T ('https://acct.blob.core.windows.net/c/x.csv?sv=1&sig=SECRETSIG') with (format=csv)")
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("SECRETSIG"), "{err}");
}

#[tokio::test]
async fn roots_that_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let err = Engine::open(file.to_str().unwrap()).await.unwrap_err();
    assert!(
        err.to_string().contains("it is a file, not a folder"),
        "{err}"
    );
    let err = Engine::open("ftp://example.com/db").await.unwrap_err();
    assert!(err.to_string().contains("cannot open database"), "{err}");
    let err = Engine::open("").await.unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

/// Timespans and sizes out of range are refused when the command runs, with the
/// property and its range in the message, and nothing is committed; no value
/// panics (issue 9, item 6).
#[tokio::test]
async fn out_of_range_timespans_and_sizes_are_refused() {
    let engine = engine().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    engine
        .execute_collect(&format!(
            ".create external table X (id:long, s:string) kind=storage dataformat=csv ('{d}/x')"
        ))
        .await
        .unwrap();
    let create = |props: &str| {
        format!(".create-or-alter continuous-export E to table X with ({props}) <| SELECT * FROM T")
    };
    for (props, needles) in [
        (
            "forcedLatency=100000000d",
            &[
                "forcedLatency",
                "100000000d",
                "out of range",
                "10675199 days",
            ][..],
        ),
        (
            "forcedLatency=366d",
            &[
                "property 'forcedLatency'",
                "366d is out of range",
                "from 0s to 365d",
            ],
        ),
        (
            "forcedLatency='100000000d'",
            &[
                "property 'forcedLatency'",
                "out of range",
                "from 0s to 365d",
            ],
        ),
        (
            "forcedLatency='99999999999999999999s'",
            &["property 'forcedLatency'", "out of range"],
        ),
        (
            "forcedLatency='-1.00:00:00'",
            &["property 'forcedLatency'", "not a timespan"],
        ),
        (
            "forcedLatency=-1.00:00:00",
            &["negative timespans", "forcedLatency"],
        ),
        (
            "forcedLatency='NaN'",
            &["property 'forcedLatency'", "not a timespan"],
        ),
        (
            "intervalBetweenRuns=500ms",
            &["property 'intervalBetweenRuns'", "from 1s to 365d"],
        ),
        (
            "intervalBetweenRuns=1000d",
            &["property 'intervalBetweenRuns'", "1000d is out of range"],
        ),
        (
            "sizeLimit=99999999999",
            &["property 'sizeLimit'", "out of range", "4294967296 (4 GiB)"],
        ),
        (
            "parquetRowGroupSize=0",
            &["property 'parquetRowGroupSize'", "out of range"],
        ),
    ] {
        let before = fingerprint(&engine).await;
        let err = engine
            .execute_collect(&create(props))
            .await
            .expect_err(props)
            .to_string();
        for needle in needles {
            assert!(err.contains(needle), "`{props}` failed with `{err}`");
        }
        assert_eq!(fingerprint(&engine).await, before, "`{props}` committed");
        let shown = engine
            .execute_collect(".show continuous-exports")
            .await
            .unwrap();
        assert_eq!(shown.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    }
    // The largest allowed values are taken, and a run with them does not panic.
    engine
        .execute_collect(&create("forcedLatency=365d, intervalBetweenRuns=365d"))
        .await
        .unwrap();
    let ran = engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap();
    assert_eq!(ran.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    expect_error(
        &engine,
        &format!(
            ".create external table B (ts:datetime) kind=storage partition by (D:datetime = bin(ts, 100000000d)) dataformat=csv ('{d}/b')"
        ),
        "bin size 100000000d is out of range",
    )
    .await;
    expect_error(
        &engine,
        &format!(".export to csv ('{d}/e') with (sizeLimit=-1) <| SELECT * FROM T"),
        "sizeLimit",
    )
    .await;
    for (interval, expected) in [("100000000d", "out of range"), ("2d", "from 10ms to 1d")] {
        let argv = [
            "dfexport",
            "--db",
            "memory://",
            "serve",
            "--poll-interval",
            interval,
        ];
        let err = datafusion_export::cli::run_from(argv, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(err.contains(expected), "{interval}: {err}");
    }
}
