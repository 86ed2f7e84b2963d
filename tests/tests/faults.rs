//! Ambiguous failures, enumerated: every object-store call of an ingestion, a
//! `.export`, a continuous-export run (to storage and to Delta) and a checkpoint is, in
//! turn, failed before writing, carried out with its response lost, timed out, or
//! failed transiently three times in a row. The operation is then retried as a user (or
//! the scheduler) would, and the data must hold every row exactly once, with the
//! reported artifacts matching what the target holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use datafusion_export::continuous::ContinuousSettings;
use datafusion_export::tables::{Database, DatabaseOptions, ManualClock};
use datafusion_export::Engine;
use datafusion_export_integration_tests::fault_store::{CallKind, Fault, FaultStore};
use datafusion_export_integration_tests::{i64_column, id_batch, ids_in_files, string_column};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};

const ROWS: i64 = 50;
/// Tries per operation: a transient fault fails at most three calls.
const ATTEMPTS: usize = 6;

/// One database and one export bucket (`s3://faulty`), both in one memory store under
/// one fault store, so that every call of an operation is counted and can fail.
struct World {
    engine: Engine,
    faults: Arc<FaultStore>,
    raw: Arc<dyn ObjectStore>,
    options: DatabaseOptions,
}

async fn world(checkpoint_interval: u64) -> World {
    let raw: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let faults = FaultStore::new(Arc::clone(&raw));
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
    ));
    let options = DatabaseOptions {
        checkpoint_interval,
        ..DatabaseOptions::default().with_clock(clock)
    };
    let db_store: Arc<dyn ObjectStore> = Arc::new(PrefixStore::new(
        Arc::clone(&faults) as Arc<dyn ObjectStore>,
        "db",
    ));
    let db = Database::open_store(db_store, "db", options.clone())
        .await
        .unwrap();
    let engine = Engine::with_settings(db, ContinuousSettings::default());
    engine.context().register_object_store(
        &url::Url::parse("s3://faulty").unwrap(),
        Arc::clone(&faults) as Arc<dyn ObjectStore>,
    );
    World {
        engine,
        faults,
        raw,
        options,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Operation {
    CreateTable,
    Ingest,
    ExportCsv,
    ExportParquet,
    ContinuousStorage,
    ContinuousDelta,
    Checkpoint,
}

impl Operation {
    const ALL: [Operation; 7] = [
        Operation::CreateTable,
        Operation::Ingest,
        Operation::ExportCsv,
        Operation::ExportParquet,
        Operation::ContinuousStorage,
        Operation::ContinuousDelta,
        Operation::Checkpoint,
    ];
}

fn ids(from: i64, to: i64) -> Vec<i64> {
    (from..to).collect()
}

async fn exec(engine: &Engine, text: &str) {
    engine
        .execute_collect(text)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
}

/// Everything before the operation, without faults.
async fn setup(op: Operation) -> World {
    let w = world(if op == Operation::Checkpoint { 2 } else { 100 }).await;
    let e = &w.engine;
    exec(e, ".create table T (id:long, s:string)").await;
    match op {
        Operation::CreateTable | Operation::Ingest | Operation::Checkpoint => {}
        Operation::ExportCsv | Operation::ExportParquet => {
            e.database()
                .ingest("T", vec![id_batch(&ids(0, ROWS))])
                .await
                .unwrap();
        }
        Operation::ContinuousStorage | Operation::ContinuousDelta => {
            let target = if op == Operation::ContinuousDelta {
                "kind=delta ('s3://faulty/delta')"
            } else {
                "kind=storage dataformat=parquet ('s3://faulty/cx')"
            };
            exec(
                e,
                &format!(".create external table X (id:long, s:string) {target}"),
            )
            .await;
            exec(
                e,
                ".create-or-alter continuous-export E to table X <| SELECT id, s FROM T",
            )
            .await;
            e.database()
                .ingest("T", vec![id_batch(&ids(0, ROWS))])
                .await
                .unwrap();
        }
    }
    w
}

/// The operation, once. `Ok(Some(paths))` reports artifacts.
async fn attempt(w: &World, op: Operation) -> Result<Vec<String>, String> {
    let e = &w.engine;
    let artifacts = |text: &'static str| async move {
        e.execute_collect(text)
            .await
            .map(|b| string_column(&b, "Path"))
            .map_err(|e| e.to_string())
    };
    match op {
        // A retried `.create table` must not fail with "exists" after it succeeded.
        Operation::CreateTable => e
            .execute_collect(".create table U (a:long, b:string)")
            .await
            .map(|_| Vec::new())
            .map_err(|e| e.to_string()),
        Operation::Ingest | Operation::Checkpoint => e
            .database()
            .ingest("T", vec![id_batch(&ids(0, ROWS))])
            .await
            .map(|_| Vec::new())
            .map_err(|e| e.to_string()),
        Operation::ExportCsv => {
            artifacts(".export to csv ('s3://faulty/csv') <| SELECT id FROM T").await
        }
        Operation::ExportParquet => {
            artifacts(".export to parquet ('s3://faulty/pq') <| SELECT id FROM T").await
        }
        Operation::ContinuousStorage | Operation::ContinuousDelta => {
            e.execute_collect(".run continuous-export E")
                .await
                .map_err(|e| e.to_string())?;
            artifacts(".show continuous-export E exported-artifacts").await
        }
    }
}

/// Ids in the files at `paths` (`s3://faulty/…`), read without faults.
async fn ids_in(w: &World, paths: &[String], csv: bool) -> Vec<i64> {
    let reader = datafusion::prelude::SessionContext::new();
    reader.register_object_store(&url::Url::parse("s3://faulty").unwrap(), Arc::clone(&w.raw));
    ids_in_files(&reader, paths, csv).await
}

/// The paths E reported, and their records in all.
async fn exported_artifacts(e: &Engine) -> (Vec<String>, i64) {
    let artifacts = e
        .execute_collect(".show continuous-export E exported-artifacts")
        .await
        .unwrap();
    let records = i64_column(&artifacts, "NumRecords").iter().sum();
    (string_column(&artifacts, "Path"), records)
}

/// What must hold after the operation succeeded.
async fn check(w: &World, op: Operation, reported: &[String], case: &str) {
    let e = &w.engine;
    if op == Operation::CreateTable {
        let tables = e.database().tables().await.unwrap();
        assert_eq!(
            tables.iter().filter(|t| t.name == "U").count(),
            1,
            "{case}: the table"
        );
        return;
    }
    let expected = ids(0, ROWS);
    let mut stored = i64_column(&e.execute_collect("SELECT id FROM T").await.unwrap(), "id");
    stored.sort();
    assert_eq!(stored, expected, "{case}: the table");
    match op {
        Operation::CreateTable | Operation::Ingest => {}
        Operation::Checkpoint => {
            // A new process opens from the checkpoint (if it was written) and the log.
            let reopened = Database::open_store(
                Arc::new(PrefixStore::new(Arc::clone(&w.raw), "db")),
                "db",
                w.options.clone(),
            )
            .await
            .unwrap();
            let mut ids = i64_column(
                &Engine::new(reopened)
                    .execute_collect("SELECT id FROM T")
                    .await
                    .unwrap(),
                "id",
            );
            ids.sort();
            assert_eq!(ids, expected, "{case}: reopened");
        }
        Operation::ExportCsv | Operation::ExportParquet | Operation::ContinuousStorage => {
            let got = ids_in(w, reported, op == Operation::ExportCsv).await;
            assert_eq!(got, expected, "{case}: the reported artifacts");
        }
        Operation::ContinuousDelta => {
            let mut got = i64_column(
                &e.execute_collect("SELECT id FROM external_table('X')")
                    .await
                    .unwrap(),
                "id",
            );
            got.sort();
            assert_eq!(got, expected, "{case}: the Delta table");
            let (_, records) = exported_artifacts(e).await;
            assert_eq!(records, ROWS, "{case}: the reported artifacts");
            for path in reported {
                let relative = path.strip_prefix("s3://faulty/").unwrap();
                let meta = w.raw.head(&Path::from(relative)).await;
                assert!(meta.is_ok(), "{case}: reported {path} is missing");
            }
            assert_eq!(
                ids_in(w, reported, false).await,
                expected,
                "{case}: the reported files hold every row once"
            );
        }
    }
    // Once more without faults: nothing new, nothing again.
    if matches!(
        op,
        Operation::ContinuousStorage | Operation::ContinuousDelta
    ) {
        e.database()
            .ingest("T", vec![id_batch(&ids(ROWS, ROWS + 5))])
            .await
            .unwrap();
        exec(e, ".run continuous-export E").await;
        let (reported, records) = exported_artifacts(e).await;
        assert_eq!(records, ROWS + 5, "{case}: the next run");
        if op == Operation::ContinuousStorage {
            assert_eq!(
                ids_in(w, &reported, false).await,
                ids(0, ROWS + 5),
                "{case}"
            );
        }
    }
}

/// Calls of each kind that `op` makes without faults.
async fn census(op: Operation) -> BTreeMap<CallKind, usize> {
    let w = setup(op).await;
    w.faults.reset_counts();
    let reported = attempt(&w, op).await.unwrap();
    let calls = w.faults.calls();
    check(&w, op, &reported, &format!("{op:?} without faults")).await;
    calls.into_iter().filter(|(_, n)| *n > 0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_every_call_leaves_exactly_once() {
    let mut ran = 0usize;
    let mut fired = 0usize;
    let mut by_operation = BTreeMap::new();
    for op in Operation::ALL {
        let calls = census(op).await;
        for (&kind, &count) in &calls {
            for k in 1..=count {
                for fault in Fault::ALL {
                    let case = format!("{op:?}, call {k} of {kind:?}, {fault:?}");
                    let w = setup(op).await;
                    w.faults.arm(kind, k, fault);
                    let mut last = Err(String::new());
                    for _ in 0..ATTEMPTS {
                        last = attempt(&w, op).await;
                        if last.is_ok() {
                            break;
                        }
                    }
                    let hits = w.faults.disarm();
                    let reported = last.unwrap_or_else(|e| {
                        panic!("{case}: still failing after {ATTEMPTS} tries: {e}")
                    });
                    check(&w, op, &reported, &case).await;
                    ran += 1;
                    fired += usize::from(hits > 0);
                    *by_operation.entry(op).or_insert(0usize) += 1;
                }
            }
        }
    }
    println!(
        "fault cases: {ran} (operation, call, fault) cases, {fired} with the fault hit; by \
         operation: {by_operation:?}"
    );
    assert!(
        fired * 10 >= ran * 9,
        "most armed faults must hit: {fired} of {ran}"
    );
}
