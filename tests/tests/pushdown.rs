//! Cursor scopes are pushed into the scan: only extents in range are read.

use std::sync::Arc;

use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion_export::tables::ExtentScanExec;
use datafusion_export::Engine;
use datafusion_export_integration_tests::{i64_column, id_batch, string_column};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Finds the extent scans of a plan and sums a metric over them.
fn scan_metric(plan: &Arc<dyn ExecutionPlan>, name: &str) -> usize {
    let mut total = 0;
    if plan.is::<ExtentScanExec>() {
        total += plan
            .metrics()
            .and_then(|m| m.sum_by_name(name))
            .map(|v| v.as_usize())
            .unwrap_or(0);
    }
    for child in plan.children() {
        total += scan_metric(child, name);
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_queries_over_1000_extents_read_only_the_extents_in_range() {
    let engine = Engine::in_memory().await.unwrap();
    engine
        .execute(".create table T (id:long, s:string)")
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(42);
    // The oracle: (cursor, ids) per ingestion.
    let mut oracle: Vec<(u64, Vec<i64>)> = Vec::new();
    let mut next_id = 0;
    for _ in 0..1000 {
        let n = rng.random_range(0..4);
        let ids: Vec<i64> = (next_id..next_id + n).collect();
        next_id += n;
        let batch = if ids.is_empty() {
            id_batch(&[next_id + 1_000_000])
        } else {
            id_batch(&ids)
        };
        let ids = if ids.is_empty() {
            vec![next_id + 1_000_000]
        } else {
            ids
        };
        let receipt = engine.database().ingest("T", vec![batch]).await.unwrap();
        oracle.push((receipt.commit.unwrap().cursor.sequence(), ids));
    }
    let extents = engine.database().extents("T").await.unwrap();
    assert_eq!(extents.len(), 1000);
    let first = oracle[0].0;
    let last = oracle[999].0;

    for _ in 0..25 {
        let mut lo = rng.random_range(first - 1..=last);
        let mut hi = rng.random_range(first - 1..=last);
        if lo > hi {
            std::mem::swap(&mut lo, &mut hi);
        }
        let filter = rng.random_range(-1..3000);
        let sql = format!(
            "SELECT id FROM T WHERE cursor_after('{lo}') AND cursor_before_or_at('{hi}') AND id > {filter}"
        );
        let df = engine.execute(&sql).await.unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        let batches = collect(Arc::clone(&plan), engine.context().task_ctx())
            .await
            .unwrap();
        let mut got = i64_column(&batches, "id");
        got.sort();
        let mut expected: Vec<i64> = oracle
            .iter()
            .filter(|(c, _)| *c > lo && *c <= hi)
            .flat_map(|(_, ids)| ids.iter().copied())
            .filter(|id| *id > filter)
            .collect();
        expected.sort();
        assert_eq!(got, expected, "{sql}");

        let in_range = oracle.iter().filter(|(c, _)| *c > lo && *c <= hi).count();
        assert_eq!(scan_metric(&plan, "extents_scanned"), in_range, "{sql}");
        assert_eq!(
            scan_metric(&plan, "extents_pruned"),
            1000 - in_range,
            "{sql}"
        );
        let bytes_in_range: u64 = extents
            .iter()
            .filter(|e| e.cursor > lo && e.cursor <= hi)
            .map(|e| e.file.size)
            .sum();
        assert_eq!(
            scan_metric(&plan, "extent_bytes_scanned") as u64,
            bytes_in_range
        );
    }

    // The newest 1%: ten extents of a thousand.
    let since = oracle[989].0;
    let explain = engine
        .execute_collect(&format!(
            "EXPLAIN SELECT count(*) FROM T WHERE cursor_after('{since}')"
        ))
        .await
        .unwrap();
    let text = string_column(&explain, "plan").join("\n");
    assert!(
        text.contains(&format!("cursor=({since}, {last}]")),
        "{text}"
    );
    assert!(text.contains("extents=10 of 1000"), "{text}");
}
