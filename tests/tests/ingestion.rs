//! Every ingestion path of DESIGN §3 is one commit, and tables are durable.

use datafusion_export::Engine;
use datafusion_export_integration_tests::{i64_column, id_batch, row_count, string_column};

async fn cursor(engine: &Engine) -> u64 {
    engine.database().refresh().await.unwrap().sequence()
}

async fn count(engine: &Engine, table: &str) -> i64 {
    let b = engine
        .execute_collect(&format!("SELECT count(*) AS n FROM \"{table}\""))
        .await
        .unwrap();
    i64_column(&b, "n")[0]
}

#[tokio::test]
async fn each_path_is_one_commit() {
    let engine = Engine::in_memory().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    engine
        .execute(".create table T (id:long, s:string)")
        .await
        .unwrap();
    let mut expected_cursor = cursor(&engine).await;

    // SQL INSERT INTO
    engine
        .execute_collect("INSERT INTO T VALUES (1, 'a'), (2, 'b')")
        .await
        .unwrap();
    expected_cursor += 1;
    assert_eq!(cursor(&engine).await, expected_cursor);

    // .append
    let r = engine
        .execute_collect(".append T <| SELECT 3 AS id, 'c' AS s UNION ALL SELECT 4, 'd'")
        .await
        .unwrap();
    expected_cursor += 1;
    assert_eq!(
        string_column(&r, "Cursor"),
        vec![expected_cursor.to_string()]
    );
    assert_eq!(i64_column(&r, "RowCount"), vec![2]);

    // .set-or-append into an existing and a new table
    engine
        .execute_collect(".set-or-append T <| SELECT 5 AS id, 'e' AS s")
        .await
        .unwrap();
    expected_cursor += 1;
    engine
        .execute_collect(".set-or-append N <| SELECT id * 10 AS id FROM T")
        .await
        .unwrap();
    expected_cursor += 1;
    assert_eq!(cursor(&engine).await, expected_cursor);
    assert_eq!(count(&engine, "N").await, 5);

    // .ingest from CSV (with a header, quoted commas and newlines), TSV, JSON, Parquet
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, "id,s\n6,\"x, \"\"quoted\"\"\"\n7,\"two\nlines\"\n").unwrap();
    let tsv = dir.path().join("rows.tsv");
    std::fs::write(&tsv, "8\tt\n").unwrap();
    let json = dir.path().join("rows.json");
    std::fs::write(&json, "{\"id\": 9, \"s\": \"j\"}\n").unwrap();
    engine
        .execute_collect(&format!(
            ".ingest into table T ('{}') with (format='csv', ignoreFirstRecord=true)",
            csv.display()
        ))
        .await
        .unwrap();
    engine
        .execute_collect(&format!(
            ".ingest into table T ('{}') with (format=tsv)",
            tsv.display()
        ))
        .await
        .unwrap();
    engine
        .execute_collect(&format!(".ingest into table T ('{}')", json.display()))
        .await
        .unwrap();
    expected_cursor += 3;
    let parquet_dir = dir.path().join("pq");
    engine
        .execute_collect(&format!(
            "COPY (SELECT 10 AS id, 'p' AS s) TO '{}/x.parquet' STORED AS PARQUET",
            parquet_dir.display()
        ))
        .await
        .unwrap();
    engine
        .execute_collect(&format!(
            ".ingest into table T ('{}/x.parquet')",
            parquet_dir.display()
        ))
        .await
        .unwrap();
    expected_cursor += 1;

    // The Rust API with Arrow record batches
    engine
        .database()
        .ingest("T", vec![id_batch(&[11]), id_batch(&[12, 13])])
        .await
        .unwrap();
    expected_cursor += 1;

    assert_eq!(cursor(&engine).await, expected_cursor);
    let all = engine
        .execute_collect("SELECT id, s FROM T ORDER BY id")
        .await
        .unwrap();
    assert_eq!(i64_column(&all, "id"), (1..=13).collect::<Vec<_>>());
    let strings = string_column(&all, "s");
    assert_eq!(strings[5], "x, \"quoted\"");
    assert_eq!(strings[6], "two\nlines");
}

#[tokio::test]
async fn sql_create_table_is_durable_and_ctas_ingests_in_the_same_commit() {
    let engine = Engine::in_memory().await.unwrap();
    engine
        .execute("CREATE TABLE S (a BIGINT, b VARCHAR)")
        .await
        .unwrap();
    let before = cursor(&engine).await;
    engine
        .execute("CREATE TABLE C AS SELECT * FROM (VALUES (1, 'x'), (2, 'y')) v(a, b)")
        .await
        .unwrap();
    assert_eq!(cursor(&engine).await, before + 1, "CTAS is one commit");
    let tables = engine.execute_collect(".show tables").await.unwrap();
    let mut names = string_column(&tables, "TableName");
    names.sort();
    assert_eq!(names, vec!["C", "S"]);
    assert_eq!(count(&engine, "C").await, 2);

    // Visible from a second handle on the same store: durable.
    let other = Engine::new(
        datafusion_export::tables::Database::open_store(
            engine.database().object_store(),
            "same",
            Default::default(),
        )
        .await
        .unwrap(),
    );
    assert_eq!(count(&other, "C").await, 2);

    engine.execute("DROP TABLE S").await.unwrap();
    let tables = engine.execute_collect(".show tables").await.unwrap();
    assert_eq!(string_column(&tables, "TableName"), vec!["C"]);
    engine.execute(".drop table C").await.unwrap();
    engine.execute(".drop table C ifexists").await.unwrap();
    assert_eq!(
        row_count(&engine.execute_collect(".show tables").await.unwrap()),
        0
    );
}

#[tokio::test]
async fn show_commands_describe_tables() {
    let engine = Engine::in_memory().await.unwrap();
    engine
        .execute(".create table T (a:long, s:string, ts:datetime, b:bool, r:real, i:int, d:decimal, span:timespan, g:guid, dyn:dynamic)")
        .await
        .unwrap();
    let schema = engine
        .execute_collect(".show table T schema")
        .await
        .unwrap();
    assert_eq!(
        string_column(&schema, "ColumnType"),
        vec![
            "long", "string", "datetime", "bool", "real", "int", "decimal", "timespan", "string",
            "string"
        ]
    );
    engine
        .execute_collect("INSERT INTO T (a, s) VALUES (1, 'x')")
        .await
        .unwrap();
    let extents = engine
        .execute_collect(".show table T extents")
        .await
        .unwrap();
    assert_eq!(row_count(&extents), 1);
    assert_eq!(i64_column(&extents, "RowCount"), vec![1]);
    assert!(i64_column(&extents, "SizeInBytes")[0] > 0);
    let tables = engine.execute_collect(".show tables").await.unwrap();
    assert_eq!(i64_column(&tables, "RowCount"), vec![1]);
    assert_eq!(i64_column(&tables, "Extents"), vec![1]);
}
