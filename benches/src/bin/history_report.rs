//! State that stays small, and a vacuum that does not get in the way. Prints, in one
//! run:
//!
//! * **100,000 continuous-export runs of one export** (in-memory store): at 1k, 10k
//!   and 100k runs, the newest checkpoint's size, the time to open the database, and
//!   the median commit latency of a run commit. Runs are committed with the actions a
//!   real run commits (the updated definition, and its run record with 4 artifacts in
//!   the export's record stream). The baseline is the same runs committed as the
//!   previous version did (each run record a catalog object, so in every checkpoint),
//!   measured up to 10k runs (beyond that it is quadratic).
//! * **A vacuum over 10,000 dropped extents** (local disk): its time, and the latency
//!   of small ingestions while it runs against the same ingestions on an idle database.
//!
//! `cargo run --release -p datafusion-export-benches --bin history_report -- [--runs N]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use datafusion_export::continuous::definition::{
    put_action, run_action, ContinuousExport, RunArtifact, RunRecord, RUN_KIND,
};
use datafusion_export_benches::median;
use datafusion_export_integration_tests::id_batch;
use datafusion_export_tables::log::action::{Action, ExtentFile};
use datafusion_export_tables::{Clock, Database, DatabaseOptions, ManualClock};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use uuid::Uuid;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How run records are stored.
#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    /// In the export's record stream (this version).
    Stream,
    /// As catalog objects in the state (the previous version).
    Catalog,
}

fn export() -> ContinuousExport {
    ContinuousExport {
        name: "E".into(),
        id: Uuid::from_u128(7),
        external_table: "X".into(),
        query: "SELECT id, s FROM T".into(),
        over: None,
        cursor_scoped_tables: vec!["T".into()],
        export_properties: Vec::new(),
        interval: Duration::from_secs(60),
        forced_latency: None,
        is_disabled: false,
        start_cursor: 0,
        created_on: Utc::now(),
        last_run: 0,
        export_cursor: 0,
        last_run_time: None,
        last_success_time: None,
        last_run_result: None,
        permanent_failure_since: None,
        failures: Vec::new(),
    }
}

fn record(run: u64) -> RunRecord {
    RunRecord {
        run,
        from_cursor: run,
        to_cursor: run + 1,
        timestamp: Utc::now(),
        artifacts: (0..4)
            .map(|n| RunArtifact {
                path: format!(
                    "s3://lake/exports/events/2026/12/04/export_{}_{}_{n}.parquet",
                    Uuid::new_v4().simple(),
                    run
                ),
                num_records: 250_000,
                size: 9_876_543,
            })
            .collect(),
    }
}

/// Commits run `run` of `export` as a run commit does.
async fn commit_run(db: &Database, export: &mut ContinuousExport, run: u64, protocol: Protocol) {
    export.last_run = run;
    export.export_cursor = run + 1;
    export.last_run_time = Some(Utc::now());
    let record = record(run);
    let current = export.clone();
    db.commit(|state| {
        let run_action = match protocol {
            Protocol::Stream => run_action(state, &current, &record).expect("run action"),
            Protocol::Catalog => Action::PutObject {
                kind: RUN_KIND.into(),
                name: format!("E/{run:020}"),
                body: serde_json::to_value(&record).expect("record"),
            },
        };
        Ok(vec![put_action(&current).expect("put action"), run_action])
    })
    .await
    .expect("commit");
}

struct Point {
    runs: u64,
    checkpoint_bytes: u64,
    open: Duration,
    commit: Duration,
    commit_max: Duration,
    replayed: u64,
}

/// The newest checkpoint's size and version.
async fn newest_checkpoint(store: &Arc<dyn ObjectStore>) -> (u64, u64) {
    let pointer = store
        .get(&Path::from("_log/_last_checkpoint"))
        .await
        .expect("pointer")
        .bytes()
        .await
        .expect("pointer");
    let version = serde_json::from_slice::<serde_json::Value>(&pointer).expect("pointer")
        ["version"]
        .as_u64()
        .expect("version");
    let size = store
        .head(&Path::from(format!("_log/{version:020}.checkpoint.json")))
        .await
        .expect("checkpoint")
        .size;
    (size, version)
}

async fn runs_curve(protocol: Protocol, marks: &[u64]) -> Vec<Point> {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let db = Database::open_store(Arc::clone(&store), "bench", DatabaseOptions::default())
        .await
        .expect("open");
    let mut export = export();
    db.commit(|_| Ok(vec![put_action(&export).expect("put")]))
        .await
        .expect("create");
    let mut points = Vec::new();
    let mut run = 0;
    for &mark in marks {
        while run < mark {
            run += 1;
            commit_run(&db, &mut export, run, protocol).await;
        }
        db.flush().await;
        // Latency of the next 200 run commits, checkpoints included.
        let mut samples = Vec::new();
        for _ in 0..200 {
            run += 1;
            let start = Instant::now();
            commit_run(&db, &mut export, run, protocol).await;
            samples.push(start.elapsed());
        }
        db.flush().await;
        let mut opens = Vec::new();
        for _ in 0..21 {
            let start = Instant::now();
            let reopened = Database::open_store(Arc::clone(&store), "bench", Default::default())
                .await
                .expect("reopen");
            opens.push(start.elapsed());
            assert_eq!(reopened.current_cursor(), db.current_cursor());
        }
        let (checkpoint_bytes, checkpointed) = newest_checkpoint(&store).await;
        points.push(Point {
            runs: mark,
            checkpoint_bytes,
            replayed: db.current_cursor().sequence() - checkpointed,
            open: median(&opens),
            commit: median(&samples),
            commit_max: samples.iter().copied().max().unwrap_or_default(),
        });
        eprintln!("  {} runs done", mark);
    }
    points
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

async fn runs_report(max_runs: u64) {
    let marks: Vec<u64> = [1_000, 10_000, 100_000]
        .into_iter()
        .filter(|m| *m <= max_runs)
        .collect();
    println!("## {max_runs} continuous-export runs of one export (in-memory store)");
    let ours = runs_curve(Protocol::Stream, &marks).await;
    let baseline_marks: Vec<u64> = marks.iter().copied().filter(|m| *m <= 10_000).collect();
    let baseline = runs_curve(Protocol::Catalog, &baseline_marks).await;
    println!("Open reads the newest checkpoint and replays the commits after it (their number in brackets; at most about one checkpoint interval, 100).");
    println!("| runs | checkpoint | open | commit median / max | baseline checkpoint | baseline open | baseline commit median / max |");
    println!("|---|---|---|---|---|---|---|");
    for p in &ours {
        let b = baseline.iter().find(|b| b.runs == p.runs);
        println!(
            "| {} | {} B | {} [{}] | {} / {} | {} | {} | {} |",
            p.runs,
            p.checkpoint_bytes,
            ms(p.open),
            p.replayed,
            ms(p.commit),
            ms(p.commit_max),
            b.map_or("—".into(), |b| format!("{} B", b.checkpoint_bytes)),
            b.map_or("—".into(), |b| format!("{} [{}]", ms(b.open), b.replayed)),
            b.map_or("—".into(), |b| format!(
                "{} / {}",
                ms(b.commit),
                ms(b.commit_max)
            )),
        );
    }
    if let (Some(first), Some(last)) = (ours.first(), ours.last()) {
        println!(
            "ours, {} → {} runs: checkpoint ×{:.2}, commit median ×{:.2} (open time follows the commits replayed, not the runs)",
            first.runs,
            last.runs,
            last.checkpoint_bytes as f64 / first.checkpoint_bytes as f64,
            last.commit.as_secs_f64() / first.commit.as_secs_f64(),
        );
    }
    if let (Some(o), Some(b)) = (
        ours.iter().find(|p| p.runs == 10_000),
        baseline.iter().find(|p| p.runs == 10_000),
    ) {
        println!(
            "at 10k runs, baseline / ours: checkpoint ×{:.0}, open ×{:.1}, commit ×{:.1}",
            b.checkpoint_bytes as f64 / o.checkpoint_bytes as f64,
            b.open.as_secs_f64() / o.open.as_secs_f64(),
            b.commit.as_secs_f64() / o.commit.as_secs_f64(),
        );
    }
}

/// Ingests one 10-row batch at a time until `stop`; returns each latency.
async fn ingest_until(
    db: &Database,
    stop: &tokio::sync::watch::Receiver<bool>,
    most: usize,
) -> Vec<Duration> {
    let mut samples = Vec::new();
    let mut id = 0i64;
    while !*stop.borrow() && samples.len() < most {
        let ids: Vec<i64> = (id..id + 10).collect();
        id += 10;
        let start = Instant::now();
        db.ingest("T", vec![id_batch(&ids)]).await.expect("ingest");
        samples.push(start.elapsed());
    }
    samples
}

fn p95(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted
        .get(sorted.len().saturating_sub(1) * 95 / 100)
        .copied()
        .unwrap_or_default()
}

async fn vacuum_report(extents: usize) {
    println!();
    println!("## A vacuum over {extents} dropped extents (local disk)");
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let options = DatabaseOptions::default().with_clock(clock.clone() as Arc<dyn Clock>);
    let root = dir.path().join("db");
    let db = Database::open_with(root.to_str().expect("utf-8"), options)
        .await
        .expect("open");
    let schema = id_batch(&[0]).schema().as_ref().clone();
    db.create_table("T", schema.clone()).await.expect("T");
    db.create_table("D", schema).await.expect("D");
    // D's extents: small files, committed 1,000 to a commit.
    let store = db.object_store();
    let table_id = db.state().table("D").expect("D").id;
    for chunk in 0..extents.div_ceil(1000) {
        let mut files = Vec::new();
        for n in chunk * 1000..((chunk + 1) * 1000).min(extents) {
            let id = Uuid::new_v4();
            let path = format!("extents/{}.parquet", id.simple());
            store
                .put(&Path::from(path.as_str()), PutPayload::from(vec![0u8; 512]))
                .await
                .expect("put");
            files.push(ExtentFile {
                id,
                path,
                rows: 1,
                size: 512,
                original_size: None,
            });
            let _ = n;
        }
        db.commit(|_| {
            Ok(vec![Action::AddExtents {
                table_id,
                extents: files.clone(),
            }])
        })
        .await
        .expect("add extents");
    }
    db.drop_table("D", false).await.expect("drop");
    clock.advance(chrono::Duration::days(8));

    let (_idle_stop, idle_rx) = tokio::sync::watch::channel(false);
    let idle = ingest_until(&db, &idle_rx, 300).await;
    // The noise: a second idle run against the first.
    let idle_again = ingest_until(&db, &idle_rx, 300).await;

    let (stop, rx) = tokio::sync::watch::channel(false);
    let ingesting = {
        let db = db.clone();
        tokio::spawn(async move { ingest_until(&db, &rx, usize::MAX).await })
    };
    let start = Instant::now();
    let report = db
        .vacuum(Duration::from_secs(7 * 86_400))
        .await
        .expect("vacuum");
    let took = start.elapsed();
    stop.send(true).expect("stop");
    let during = ingesting.await.expect("ingest task");
    let dropped = report
        .deleted
        .iter()
        .filter(|d| d.kind == datafusion_export_tables::DeletedKind::DroppedExtent)
        .count();
    println!(
        "vacuum: {} ({} dropped extents and {} other objects deleted, {} bytes)",
        ms(took),
        dropped,
        report.deleted.len() - dropped,
        report.bytes()
    );
    println!(
        "ingestion latency (10 rows), idle: median {} p95 {} ({} ingestions); during the vacuum: median {} p95 {} ({} ingestions)",
        ms(median(&idle)),
        ms(p95(&idle)),
        idle.len(),
        ms(median(&during)),
        ms(p95(&during)),
        during.len()
    );
    println!(
        "during / idle: median ×{:.2}, p95 ×{:.2}; noise (idle / idle): median ×{:.2}, p95 ×{:.2}",
        median(&during).as_secs_f64() / median(&idle).as_secs_f64(),
        p95(&during).as_secs_f64() / p95(&idle).as_secs_f64(),
        median(&idle_again).as_secs_f64() / median(&idle).as_secs_f64(),
        p95(&idle_again).as_secs_f64() / p95(&idle).as_secs_f64()
    );
}

fn main() {
    let mut runs = 100_000u64;
    let mut extents = 10_000usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next().and_then(|v| v.parse().ok())) {
            ("--runs", Some(v)) => runs = v,
            ("--extents", Some(v)) => extents = v as usize,
            _ => {
                eprintln!("usage: history_report [--runs N] [--extents N]");
                std::process::exit(2);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        runs_report(runs).await;
        vacuum_report(extents).await;
    });
}
