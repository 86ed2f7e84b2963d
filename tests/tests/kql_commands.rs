//! KQL query bodies end to end: after `<|` of `.export`, `.append` and continuous
//! exports, as plain statements, in `EXPLAIN` (the same cursor scope as SQL), and as
//! operators after a management command (`.show … | project …`), through the engine
//! and the `dfexport` command line.

use std::time::Duration;

use datafusion_export::Engine;
use datafusion_export_integration_tests::{
    engine_with_three_ingestions, row_count, rows_as_text, string_column,
};

async fn text(e: &Engine, command: &str) -> String {
    let batches = e
        .execute_collect(command)
        .await
        .unwrap_or_else(|err| panic!("{command}: {err}"));
    rows_as_text(&batches).join("\n")
}

/// An engine with `T (id:string, n:long)` holding moshe/1, dana/2 (one ingestion).
async fn engine() -> Engine {
    let e = Engine::in_memory().await.unwrap();
    e.execute_collect(".create table T (id:string, n:long)")
        .await
        .unwrap();
    e.execute_collect(".append T <| datatable (id:string, n:long) ['moshe', 1, 'dana', 2]")
        .await
        .unwrap();
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_of_a_kql_query() {
    let e = engine().await;
    let dir = tempfile::tempdir().unwrap();
    let out = url::Url::from_directory_path(dir.path()).unwrap();
    let batches = e
        .execute_collect(&format!(
            ".export to csv ('{out}') with (distribution='single', includeHeaders='all') \
             <| T | where id == \"moshe\" | limit 10000"
        ))
        .await
        .unwrap();
    let paths = string_column(&batches, "Path");
    assert_eq!(paths.len(), 1, "{batches:?}");
    let written = std::fs::read_to_string(paths[0].trim_start_matches("file://")).unwrap();
    assert_eq!(written.trim(), "id,n\nmoshe,1");

    // A plain KQL statement, `let`s included.
    let rows = text(&e, "let k = 1; T | where n > k | project id").await;
    assert!(rows.contains("dana") && !rows.contains("moshe"), "{rows}");
    // SQL is unchanged.
    let rows = text(&e, "SELECT id FROM T WHERE n = 1").await;
    assert!(rows.contains("moshe") && !rows.contains("dana"), "{rows}");
    // A KQL error says where.
    let err = e
        .execute_collect("T | where nope == 1")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'nope'") && err.contains("line 1, column 11"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_export_of_a_kql_query_and_piped_show_commands() {
    let e = engine().await;
    let dir = tempfile::tempdir().unwrap();
    let out = url::Url::from_directory_path(dir.path()).unwrap();
    e.execute_collect(&format!(
        ".create external table X (id:string, n:long) kind=storage dataformat=csv ('{out}x')"
    ))
    .await
    .unwrap();
    e.execute_collect(".create-or-alter continuous-export E over (T) to table X <| T")
        .await
        .unwrap();
    e.execute_collect(".append T <| datatable (id:string, n:long) ['new', 3]")
        .await
        .unwrap();
    e.execute_collect(".run continuous-export E").await.unwrap();

    let batches = e
        .execute_collect(".show continuous-export E | project StartCursor")
        .await
        .unwrap();
    assert_eq!(batches[0].schema().fields().len(), 1);
    let start = string_column(&batches, "StartCursor");
    assert_eq!(start.len(), 1);
    let artifacts = text(&e, ".show continuous-export E exported-artifacts | count").await;
    assert!(artifacts.contains('1'), "{artifacts}");
    let extents = text(&e, ".show table T extents | count").await;
    assert!(extents.contains('2'), "{extents}");
    let failed = e
        .execute_collect(".show operations | where State == \"Failed\"")
        .await
        .unwrap();
    assert_eq!(row_count(&failed), 0);
    // The pipeline is checked when the command is parsed.
    let err = e
        .execute_collect(".show tables | frobnicate")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'frobnicate'") && err.contains("column 16"),
        "{err}"
    );

    // Historical data: everything up to the StartCursor, as Kusto's backfill recipe.
    e.execute_collect(&format!(
        ".create external table ExternalBlob (id:string, n:long) kind=storage dataformat=csv ('{out}blob')"
    ))
    .await
    .unwrap();
    let op = e
        .execute_collect(&format!(
            ".export async to table ExternalBlob <| T | where cursor_before_or_at(\"{}\")",
            start[0]
        ))
        .await
        .unwrap();
    let id = string_column(&op, "OperationId").remove(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let state = text(&e, &format!(".show operation {id} | project State")).await;
        if !state.contains("InProgress") {
            assert!(state.contains("Completed"), "{state}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backfill = e
        .execute_collect(
            "external_table('ExternalBlob') | summarize count() by id | sort by id asc",
        )
        .await
        .unwrap();
    assert_eq!(string_column(&backfill, "id"), vec!["dana", "moshe"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_of_kql_shows_the_same_cursor_scope_as_sql() {
    let e = engine_with_three_ingestions().await;
    let kql = text(&e, "EXPLAIN T | where cursor_after('2') | project id").await;
    let sql = text(&e, "EXPLAIN SELECT id FROM T WHERE cursor_after('2')").await;
    assert!(kql.contains("cursor=(2, 4]"), "{kql}");
    assert!(sql.contains("cursor=(2, 4]"), "{sql}");
    // Only the two newest extents are read: the same scan as SQL's.
    let scan = |plan: &str| {
        plan.lines()
            .filter(|l| l.contains("ExtentScanExec"))
            .map(|l| l.trim().trim_matches('|').trim().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(scan(&kql), scan(&sql), "{kql}\n---\n{sql}");
    let rows = e
        .execute_collect("T | where cursor_after('2') | summarize count()")
        .await
        .unwrap();
    assert!(rows_as_text(&rows).join("").contains('4'), "{rows:?}");

    let dir = tempfile::tempdir().unwrap();
    let out = url::Url::from_directory_path(dir.path()).unwrap();
    let plan = text(
        &e,
        &format!("EXPLAIN .export to parquet ('{out}a') <| T | where cursor_after('2')"),
    )
    .await;
    assert!(plan.contains("cursor=(2, 4]"), "{plan}");
}

#[tokio::test]
async fn kql_in_a_cli_script() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let script = dir.path().join("load.kql");
    std::fs::write(
        &script,
        ".create table T (a:long, s:string)\n\n\
         .append T <| datatable (a:long, s:string) [1, 'one', 2, 'two']\n\n\
         // a KQL query with a `let`: its `;` does not end the statement\n\
         let k = 1;\nT | where a > k | project s\n",
    )
    .unwrap();
    let mut out = Vec::new();
    datafusion_export::cli::run_from(
        vec![
            "dfexport",
            "--db",
            db.to_str().unwrap(),
            script.to_str().unwrap(),
        ],
        &mut out,
    )
    .await
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("| two |"), "{out}");
    assert!(!out.contains("| one |"), "{out}");
}
