//! Extent merging, measured in one run on the local disk:
//!
//! * tables fed by many small ingestions (10,000 of one row; 1,000 of 1,000 rows):
//!   a full aggregate before and after `Database::merge_table` (the default policy),
//!   against the same rows ingested at once;
//! * a scan scoped to the newest 1% of the merged table against its full scan;
//! * merge throughput against `.export to parquet` of the same rows.
//!
//! `cargo run --release -p datafusion-export-benches --bin merge_report -- [--reps N]`

use std::time::{Duration, Instant};

use datafusion_export::Engine;
use datafusion_export_benches::median;
use datafusion_export_integration_tests::id_batch;
use datafusion_export_tables::merge::MergePolicy;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn engine(dir: &std::path::Path) -> Engine {
    Engine::open(dir.to_str().expect("utf-8"))
        .await
        .expect("open")
}

async fn time_query(e: &Engine, sql: &str, reps: usize) -> Duration {
    let mut samples = Vec::new();
    for _ in 0..reps {
        let start = Instant::now();
        e.execute_collect(sql).await.expect("query");
        samples.push(start.elapsed());
    }
    median(&samples)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn case(ingestions: usize, rows: usize, reps: usize) {
    let total = ingestions * rows;
    println!("## {ingestions} ingestions of {rows} rows ({total} rows)");
    let dir = tempfile::tempdir().expect("tempdir");
    let once = engine(&dir.path().join("once")).await;
    let small = engine(&dir.path().join("small")).await;
    for e in [&once, &small] {
        e.execute_collect(".create table T (id:long, s:string)")
            .await
            .expect("create");
    }
    let ids: Vec<i64> = (0..total as i64).collect();
    once.database()
        .ingest("T", vec![id_batch(&ids)])
        .await
        .expect("ingest");
    let start = Instant::now();
    for chunk in ids.chunks(rows) {
        small
            .database()
            .ingest("T", vec![id_batch(chunk)])
            .await
            .expect("ingest");
    }
    println!("ingested in {:.1} s", start.elapsed().as_secs_f64());
    let full = "SELECT count(*), sum(id) FROM T";
    let t_once = time_query(&once, full, reps).await;
    let t_small = time_query(&small, full, reps).await;

    let start = Instant::now();
    let receipts = small
        .database()
        .merge_table("T", &MergePolicy::default())
        .await
        .expect("merge");
    let merge_time = start.elapsed();
    let extents = small.database().extents("T").await.expect("extents").len();
    let t_merged = time_query(&small, full, reps).await;
    let cursor = small.database().current_cursor().sequence();
    let first = cursor - ingestions as u64;
    let newest = first + (ingestions as u64 * 99 / 100);
    let scoped = format!("SELECT count(*), sum(id) FROM T WHERE cursor_after('{newest}')");
    let t_scoped = time_query(&small, &scoped, reps).await;

    let out = dir.path().join("export");
    let start = Instant::now();
    once.execute_collect(&format!(
        ".export to parquet ('{}') with (distribution='single') <| SELECT id, s FROM T",
        out.display()
    ))
    .await
    .expect("export");
    let export_time = start.elapsed();

    println!(
        "merged {} times into {extents} extents in {:.2} s ({:.2}M rows/s; `.export to parquet` of the same rows: {:.2} s, merge / export ×{:.2})",
        receipts.len(),
        merge_time.as_secs_f64(),
        total as f64 / merge_time.as_secs_f64() / 1e6,
        export_time.as_secs_f64(),
        merge_time.as_secs_f64() / export_time.as_secs_f64()
    );
    println!(
        "full aggregate: at once {}, {ingestions} extents {} (×{:.1}), merged {} (×{:.2} of at once)",
        ms(t_once),
        ms(t_small),
        t_small.as_secs_f64() / t_once.as_secs_f64(),
        ms(t_merged),
        t_merged.as_secs_f64() / t_once.as_secs_f64()
    );
    println!(
        "newest 1% of the merged table: {} ({:.1}% of its full scan)",
        ms(t_scoped),
        100.0 * t_scoped.as_secs_f64() / t_merged.as_secs_f64()
    );
    println!();
}

fn main() {
    let mut reps = 7usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next().and_then(|v| v.parse().ok())) {
            ("--reps", Some(v)) => reps = v,
            _ => {
                eprintln!("usage: merge_report [--reps N]");
                std::process::exit(2);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        case(10_000, 1, reps).await;
        case(1_000, 1_000, reps).await;
    });
}
