//! Close the process, open the database again, see the same thing.

use datafusion_export::Engine;
use datafusion_export_integration_tests::{id_batch, string_column};

async fn snapshot(engine: &Engine) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        ".show tables",
        ".show table T extents",
        "SELECT id, s, CAST(ingestion_time() AS VARCHAR) AS t FROM T ORDER BY id",
        "SELECT cursor_current() AS c",
    ] {
        let batches = engine.execute_collect(sql).await.unwrap();
        out.push(
            datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string(),
        );
    }
    out
}

#[tokio::test]
async fn reopening_shows_the_same_tables_rows_cursors_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let root = root.to_str().unwrap();
    let before = {
        let engine = Engine::open(root).await.unwrap();
        engine
            .execute(".create table T (id:long, s:string)")
            .await
            .unwrap();
        engine.execute(".create table Gone (x:long)").await.unwrap();
        engine
            .database()
            .ingest("T", vec![id_batch(&[1, 2])])
            .await
            .unwrap();
        engine
            .execute_collect("INSERT INTO T VALUES (3, 'c')")
            .await
            .unwrap();
        engine.execute(".drop table Gone").await.unwrap();
        snapshot(&engine).await
    };
    // A new process would start from nothing but the root URL; so does this.
    let engine = Engine::open(root).await.unwrap();
    assert_eq!(snapshot(&engine).await, before);
    let tables = engine.execute_collect(".show tables").await.unwrap();
    assert_eq!(string_column(&tables, "TableName"), vec!["T"]);

    // And also through a file:// URL of the same folder.
    let url = format!("file://{root}");
    let engine = Engine::open(&url).await.unwrap();
    assert_eq!(snapshot(&engine).await, before);
}
