//! The same export in one process and on a local Ballista cluster (1 scheduler +
//! `CLUSTER_REPORT_EXECUTORS` executors, 2 by default, one task slot each), timed in
//! turns in one run, with what a cluster adds per job.
//!
//! `cargo bench -p datafusion-export-ballista --bench cluster_report`
//! (`CLUSTER_REPORT_ROWS`, default 10,000,000; `CLUSTER_REPORT_DIR` for the data, a
//! temporary folder by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion_export::Engine;
use datafusion_export_ballista::{BallistaRunner, LocalCluster, LocalClusterOptions};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

async fn export(engine: &Engine, command: &str) -> (Duration, usize) {
    let started = Instant::now();
    let batches = engine
        .execute_collect(command)
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"));
    let artifacts = batches.iter().map(|b| b.num_rows()).sum();
    (started.elapsed(), artifacts)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rows = env_usize("CLUSTER_REPORT_ROWS", 10_000_000);
    let executors = env_usize("CLUSTER_REPORT_EXECUTORS", 2);
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var("CLUSTER_REPORT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| temp.path().to_path_buf());
    let db = dir.join("db").display().to_string();
    let _ = std::fs::remove_dir_all(&db);

    let local = Engine::open(&db).await.unwrap();
    local
        .execute_collect(".create table T (id:long, name:string, value:real, ts:datetime)")
        .await
        .unwrap();
    local
        .execute_collect(".create table One (id:long)")
        .await
        .unwrap();
    local
        .execute_collect("INSERT INTO One VALUES (1)")
        .await
        .unwrap();
    let chunk = 1_000_000.min(rows);
    let ingest_started = Instant::now();
    for start in (0..rows).step_by(chunk) {
        let end = (start + chunk).min(rows);
        local
            .execute_collect(&format!(
                "INSERT INTO T SELECT value, concat('name-', CAST(value % 1000 AS VARCHAR)), \
                 value * 0.5, to_timestamp(1700000000 + value) FROM range({start}, {end})"
            ))
            .await
            .unwrap();
    }
    println!(
        "cluster_report: {rows} rows in {} extents, ingested in {:.1} s; {executors} executors x 1 task slot; {} cores here",
        rows.div_ceil(chunk),
        ingest_started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    let mut options = LocalClusterOptions::new(
        env!("CARGO_BIN_EXE_dfexport-scheduler"),
        env!("CARGO_BIN_EXE_dfexport-executor"),
        executors,
        1,
    );
    options.dir = Some(dir.join("cluster"));
    let cluster_started = Instant::now();
    let cluster = LocalCluster::start(&options).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "cluster started in {:.2} s",
        cluster_started.elapsed().as_secs_f64()
    );
    let runner = BallistaRunner::connect(&cluster.url()).await.unwrap();
    let on_cluster = Engine::open(&db)
        .await
        .unwrap()
        .with_export_runner(Arc::new(runner));

    println!();
    println!("| export | one process | cluster | cluster / one process (time) | artifacts (one, cluster) |");
    println!("|---|---|---|---|---|");
    let cases = [
        ("parquet, 10M rows", ".export to parquet ('{out}') <| T"),
        (
            "csv gzip, 10M rows",
            ".export compressed to csv ('{out}') <| T",
        ),
        (
            "csv, 1 row (per-job cost)",
            ".export to csv ('{out}') <| One",
        ),
    ];
    for (name, template) in cases {
        let (mut here, mut there) = (Vec::new(), Vec::new());
        let (mut here_files, mut there_files) = (0, 0);
        for rep in 0..3 {
            // In turns, so that drift on a shared machine hits both alike.
            let out = dir.join(format!("local-{rep}")).display().to_string();
            let (took, files) = export(&local, &template.replace("{out}", &out)).await;
            here.push(took);
            here_files = files;
            let _ = std::fs::remove_dir_all(&out);
            let out = dir.join(format!("cluster-{rep}")).display().to_string();
            let (took, files) = export(&on_cluster, &template.replace("{out}", &out)).await;
            there.push(took);
            there_files = files;
            let _ = std::fs::remove_dir_all(&out);
        }
        let (h, t) = (median(here), median(there));
        println!(
            "| {name} | {:.3} s | {:.3} s | x{:.2} | {here_files}, {there_files} |",
            h.as_secs_f64(),
            t.as_secs_f64(),
            t.as_secs_f64() / h.as_secs_f64()
        );
    }

    // A continuous-export run: the query and writers on the cluster, then the
    // one commit here.
    local
        .execute_collect(&format!(
            ".create external table X (id:long, name:string, value:real, ts:datetime) kind=storage dataformat=parquet ('{}')",
            dir.join("lake").display()
        ))
        .await
        .unwrap();
    local
        .execute_collect(".create-or-alter continuous-export E to table X <| T")
        .await
        .unwrap();
    local
        .execute_collect("INSERT INTO T SELECT value, 'late', 0.0, now() FROM range(0, 1000)")
        .await
        .unwrap();
    let (took, _) = export(&on_cluster, ".run continuous-export E").await;
    println!();
    println!(
        "continuous-export run of 1,000 new rows on the cluster (plan, job, one commit): {:.3} s",
        took.as_secs_f64()
    );
    drop(cluster);
}
