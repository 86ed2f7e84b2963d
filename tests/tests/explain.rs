//! `.export` is a DataFusion plan: `EXPLAIN .export …` shows the export node, the
//! sink with its targets, format and distribution, and the scan's cursor scope.

use datafusion_export::Engine;
use datafusion_export_integration_tests::{engine_with_three_ingestions, rows_as_text};

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

async fn explain(e: &Engine, text: &str) -> String {
    rows_as_text(&e.execute_collect(text).await.unwrap()).join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_export_shows_node_sink_and_cursor_scope() {
    let e = engine_with_three_ingestions().await;
    let dir = tempfile::tempdir().unwrap();
    let out = url::Url::from_directory_path(dir.path()).unwrap();
    let plan = explain(
        &e,
        &format!(
            "EXPLAIN .export to parquet ('{out}a') with (distribution='single') <| SELECT id, s FROM T WHERE cursor_after('2')"
        ),
    )
    .await;
    assert!(plan.contains("Export: format=parquet"), "{plan}");
    assert!(plan.contains("distribution=single"), "{plan}");
    assert!(plan.contains("ExportExec: format=parquet"), "{plan}");
    assert!(
        plan.contains(&dir.path().join("a").display().to_string()),
        "{plan}"
    );
    assert!(plan.contains("cursor=(2, 4]"), "the scan's scope: {plan}");
    assert!(
        walk(dir.path()).is_empty(),
        "EXPLAIN writes nothing: {:?}",
        walk(dir.path())
    );

    // To a storage external table, partitioned.
    e.execute_collect(&format!(
        ".create external table X (id:long, s:string) kind=storage partition by (S:string = s) dataformat=csv ('{out}x')"
    ))
    .await
    .unwrap();
    let plan = explain(
        &e,
        "explain verbose .export to table X <| SELECT id, s FROM T",
    )
    .await;
    assert!(plan.contains("Export: format=csv"), "{plan}");
    assert!(plan.contains("partitioned=true"), "{plan}");

    // ANALYZE runs it and shows what the sink did.
    let plan = explain(
        &e,
        &format!("EXPLAIN ANALYZE .export to json ('{out}b') <| SELECT id FROM T"),
    )
    .await;
    assert!(plan.contains("ExportExec"), "{plan}");
    assert!(std::fs::read_dir(dir.path().join("b"))
        .unwrap()
        .next()
        .is_some());

    // Other management commands have no plan; SQL EXPLAIN is DataFusion's.
    let err = e
        .execute_collect("EXPLAIN .show tables")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("EXPLAIN applies to SQL queries and to `.export`"),
        "{err}"
    );
    let plan = explain(&e, "EXPLAIN SELECT id FROM T").await;
    assert!(plan.contains("ExtentScanExec"), "{plan}");
}

/// Text that only looks like `EXPLAIN` (multi-byte characters where the keyword ends,
/// nothing after it) is an error, never a panic.
#[tokio::test]
async fn explain_lookalikes_are_errors_not_panics() {
    let e = Engine::in_memory().await.unwrap();
    for text in [
        "explaiñ .export to csv ('x') <| SELECT 1",
        "EXPLAINé .export to csv ('x') <| SELECT 1",
        "explain",
        "explain analyzé .export to csv ('x') <| SELECT 1",
        "ëxplain .show tables",
    ] {
        assert!(e.execute_collect(text).await.is_err(), "{text}");
    }
}
