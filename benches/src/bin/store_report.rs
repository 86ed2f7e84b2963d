//! Object stores side by side, in one run: the local disk and moto's S3 server (started
//! here, on 127.0.0.1, by the tests' harness). Prints ratios against baselines measured
//! in the same run:
//!
//! * **commit latency**: `Database::commit` (idempotent: unique id, put-if-absent, read
//!   back only on "exists" or an ambiguous error) against the bare put-if-absent of a
//!   body of the same size, per store. The protocol's price on the happy path.
//! * **ingest** and **`.export` to Parquet** throughput: S3 against the local disk, the
//!   same rows. The emulator is the bound; the ratio is here so regressions show.
//!
//! `cargo run --release -p datafusion-export-benches --bin store_report -- [--rows N]
//! [--commits N]` (needs `pip install 'moto[server]'`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion_export::Engine;
use datafusion_export_benches::{
    database_ingest, ingest_batches, ingest_schema, median, INGEST_BATCH_ROWS, INGEST_SEED,
    INGEST_TABLE,
};
use datafusion_export_integration_tests::servers;
use datafusion_export_tables::log::action::Action;
use datafusion_export_tables::{Database, DatabaseOptions};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    rows: usize,
    commits: usize,
}

fn args() -> Args {
    let mut args = Args {
        rows: 1_000_000,
        commits: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--rows", Some(v)) => args.rows = v,
            ("--commits", Some(v)) => args.commits = v,
            _ => {
                eprintln!("usage: store_report [--rows N] [--commits N]");
                std::process::exit(2);
            }
        }
    }
    args
}

/// One store to measure: a name, a database root, and where exports go.
struct Place {
    name: &'static str,
    root: String,
    out: String,
    options: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn places() -> Vec<Place> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let local = Place {
        name: "local disk",
        root: dir.path().join("db").display().to_string(),
        out: dir.path().join("out").display().to_string(),
        options: Vec::new(),
        _dir: Some(dir),
    };
    let s3 = servers::s3();
    let prefix = format!("bench-{}", uuid_like());
    let s3 = Place {
        name: "S3 (moto)",
        root: s3.url(&format!("{prefix}/db")),
        out: s3.url(&format!("{prefix}/out")),
        options: s3.storage_options(),
        _dir: None,
    };
    vec![local, s3]
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    )
}

async fn open(place: &Place) -> Database {
    Database::open_with(
        &place.root,
        DatabaseOptions {
            storage_options: place.options.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{}: {e}", place.name))
}

/// Median latencies of: a bare put-if-absent; the commit protocol before commit ids
/// (read the next version, which is absent, then put-if-absent), replayed with the same
/// requests; and `Database::commit` today. Same body size.
async fn commit_latency(db: &Database, commits: usize) -> (Duration, Duration, Duration) {
    let store: Arc<dyn ObjectStore> = db.object_store();
    let body = serde_json::json!({ "padding": "x".repeat(200) });
    let mut bare = Vec::with_capacity(commits);
    let mut before = Vec::with_capacity(commits);
    let mut ours = Vec::with_capacity(commits);
    for i in 0..commits {
        // Interleaved, so that drift in the store hits both alike.
        let bytes = serde_json::to_vec(&serde_json::json!({
            "version": i,
            "ingestion_time": "2026-12-04T00:00:00Z",
            "actions": [{"action": "put_object", "kind": "bench", "name": format!("o{i}"), "body": body}],
        }))
        .expect("json");
        let create = || PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let started = Instant::now();
        store
            .put_opts(
                &Path::from(format!("_bench/bare/{i:020}.json")),
                PutPayload::from(bytes.clone()),
                create(),
            )
            .await
            .expect("bare put-if-absent");
        bare.push(started.elapsed());

        let started = Instant::now();
        let next = Path::from(format!("_bench/old/{:020}.json", i + 1));
        let _ = store.get(&next).await;
        store
            .put_opts(
                &Path::from(format!("_bench/old/{i:020}.json")),
                PutPayload::from(bytes),
                create(),
            )
            .await
            .expect("put-if-absent");
        before.push(started.elapsed());

        let started = Instant::now();
        db.commit(|_| {
            Ok(vec![Action::PutObject {
                kind: "bench".into(),
                name: format!("o{i}"),
                body: body.clone(),
            }])
        })
        .await
        .expect("commit");
        ours.push(started.elapsed());
    }
    (median(&bare), median(&before), median(&ours))
}

fn main() {
    let args = args();
    let runtime = datafusion_export_benches::runtime();
    runtime.block_on(async {
        let batches = ingest_batches(args.rows, INGEST_BATCH_ROWS, INGEST_SEED);
        println!(
            "store_report: {} rows, {} commits per store",
            args.rows, args.commits
        );
        let mut ingest = Vec::new();
        let mut export = Vec::new();
        for place in places() {
            let db = open(&place).await;
            let (bare, before, ours) = commit_latency(&db, args.commits).await;
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "commit latency, {}: Database::commit {:.2} ms = {:.2}x the protocol before \
                 commit ids ({:.2} ms), {:.2}x a bare put-if-absent ({:.2} ms)",
                place.name,
                ms(ours),
                ours.as_secs_f64() / before.as_secs_f64(),
                ms(before),
                ours.as_secs_f64() / bare.as_secs_f64(),
                ms(bare)
            );

            let engine = Engine::new(db.clone());
            db.create_table(INGEST_TABLE, ingest_schema().as_ref().clone())
                .await
                .expect("create table");
            let started = Instant::now();
            database_ingest(&db, batches.clone()).await.expect("ingest");
            ingest.push((place.name, started.elapsed()));

            let started = Instant::now();
            engine
                .execute_collect(&format!(
                    ".export to parquet ('{}') <| SELECT * FROM T",
                    place.out
                ))
                .await
                .expect("export");
            export.push((place.name, started.elapsed()));
        }
        for (what, runs) in [("ingest", &ingest), (".export to parquet", &export)] {
            let base = runs[0].1.as_secs_f64();
            for (name, took) in runs.iter() {
                println!(
                    "{what}, {name}: {:.0} rows/s ({:.2}x the local disk's time)",
                    args.rows as f64 / took.as_secs_f64(),
                    took.as_secs_f64() / base
                );
            }
        }
    });
}
