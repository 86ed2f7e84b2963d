//! The vacuum (`.clean database`): it deletes what nothing needs once it is older than
//! its window — dropped tables' extents, extents never committed, dropped exports'
//! run history, log commits before the checkpoint kept, unfinished uploads — and
//! never anything a live table, a running ingestion or an export needs, even while
//! they run beside it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use datafusion_export::tables::{Clock, Database, DatabaseOptions, ManualClock};
use datafusion_export::Engine;
use datafusion_export_integration_tests::clocked_store::ClockedStore;
use datafusion_export_integration_tests::{i64_column, id_batch, string_column, InstrumentedStore};
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

async fn exec(e: &Engine, text: &str) -> Vec<datafusion::arrow::array::RecordBatch> {
    e.execute_collect(text)
        .await
        .unwrap_or_else(|err| panic!("{text}: {err}"))
}

async fn ids(e: &Engine, query: &str) -> Vec<i64> {
    let mut ids = i64_column(&exec(e, query).await, "id");
    ids.sort();
    ids
}

async fn paths(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    let mut paths: Vec<String> = store
        .list(Some(&Path::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    paths.sort();
    paths
}

/// What a `.clean database` result says was deleted, counted by kind.
fn deleted_by_kind(batches: &[datafusion::arrow::array::RecordBatch]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for what in string_column(batches, "What") {
        *out.entry(what).or_default() += 1;
    }
    out
}

struct World {
    clock: Arc<ManualClock>,
    raw: Arc<dyn ObjectStore>,
    store: Arc<ClockedStore>,
    options: DatabaseOptions,
    _target: tempfile::TempDir,
    target_url: String,
}

impl World {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let raw: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let store = ClockedStore::new(Arc::clone(&raw), clock.clone() as Arc<dyn Clock>);
        let options = DatabaseOptions {
            checkpoint_interval: 4,
            ..DatabaseOptions::default().with_clock(clock.clone())
        };
        let target = tempfile::tempdir().unwrap();
        let target_url = url::Url::from_directory_path(target.path())
            .unwrap()
            .to_string();
        World {
            clock,
            raw,
            store,
            options,
            _target: target,
            target_url,
        }
    }

    /// External table X, a Parquet folder under the target directory.
    async fn create_target(&self, e: &Engine) {
        exec(
            e,
            &format!(
                ".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{}out')",
                self.target_url
            ),
        )
        .await;
    }

    async fn open(&self) -> Engine {
        self.open_on(self.store.clone()).await
    }

    async fn open_on(&self, store: Arc<dyn ObjectStore>) -> Engine {
        let db = Database::open_store(store, "db", self.options.clone())
            .await
            .unwrap();
        Engine::new(db)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_database_deletes_garbage_and_keeps_what_is_live() {
    let w = World::new();
    let e = w.open().await;
    let db = e.database().clone();
    exec(&e, ".create table T (id:long, s:string)").await;
    exec(&e, ".create table D (id:long, s:string)").await;
    // A handle that goes idle here, and commits after the vacuum deleted the commits
    // that follow its state.
    let idle = w.open().await;
    db.ingest("T", vec![id_batch(&[1, 2])]).await.unwrap();
    db.ingest("D", vec![id_batch(&[10])]).await.unwrap();
    db.ingest("D", vec![id_batch(&[11])]).await.unwrap();
    let dropped_extents: Vec<String> = db
        .extents("D")
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.file.path)
        .collect();
    exec(&e, ".drop table D").await;
    // What a killed ingestion leaves: an extent no commit adds.
    w.store
        .put(
            &Path::from("extents/killed.parquet"),
            PutPayload::from_static(b"PAR1"),
        )
        .await
        .unwrap();
    w.create_target(&e).await;
    let create_export = ".create-or-alter continuous-export E to table X <| SELECT id, s FROM T";
    exec(&e, create_export).await;
    db.ingest("T", vec![id_batch(&[3])]).await.unwrap();
    exec(&e, ".run continuous-export E").await;
    db.ingest("T", vec![id_batch(&[4])]).await.unwrap();
    exec(&e, ".run continuous-export E").await;
    // Dropped and re-created: the first E's history is garbage, the second's is not.
    exec(&e, ".drop continuous-export E").await;
    exec(&e, create_export).await;
    db.ingest("T", vec![id_batch(&[5])]).await.unwrap();
    exec(&e, ".run continuous-export E").await;
    db.flush().await;

    // Everything is younger than the window: nothing goes.
    let cleaned = exec(&e, ".clean database").await;
    assert_eq!(deleted_by_kind(&cleaned), BTreeMap::new());
    let err = e
        .execute_collect(".clean database older than 10m")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 1h"), "{err}");

    // Eight days later.
    w.clock.advance(chrono::Duration::days(8));
    db.ingest("T", vec![id_batch(&[6])]).await.unwrap();
    exec(&e, ".run continuous-export E").await;
    let artifacts_before = string_column(
        &exec(&e, ".show continuous-export E exported-artifacts").await,
        "Path",
    );
    assert_eq!(artifacts_before.len(), 2);
    db.flush().await;
    let log_before = paths(w.raw.as_ref(), "_log").await;

    let cleaned = exec(&e, ".clean database").await;
    let kinds = deleted_by_kind(&cleaned);
    assert_eq!(
        kinds.get("extent of a dropped table"),
        Some(&2),
        "{kinds:?}"
    );
    assert_eq!(kinds.get("extent never committed"), Some(&1), "{kinds:?}");
    assert_eq!(
        kinds.get("record of a dropped stream"),
        Some(&2),
        "{kinds:?}"
    );
    assert!(
        kinds.get("log commit").is_some_and(|n| *n >= 4),
        "{kinds:?}"
    );
    let deleted = string_column(&cleaned, "Path");
    for path in &dropped_extents {
        assert!(deleted.contains(path), "{path} not in {deleted:?}");
    }
    assert!(deleted.contains(&"extents/killed.parquet".to_string()));
    assert!(i64_column(&cleaned, "SizeInBytes").iter().all(|s| *s > 0));
    let log_after = paths(w.raw.as_ref(), "_log").await;
    assert!(log_after.len() < log_before.len(), "{log_after:?}");
    assert!(db.state().removed.is_empty(), "removals are forgotten");

    // Everything live is intact, from this handle and a new one.
    assert_eq!(ids(&e, "SELECT id FROM T").await, vec![1, 2, 3, 4, 5, 6]);
    let fresh = w.open().await;
    assert_eq!(
        ids(&fresh, "SELECT id FROM T").await,
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        fresh.database().state().tables,
        db.state().tables,
        "a new handle opens the same state from the kept checkpoint"
    );
    assert_eq!(
        string_column(
            &exec(&fresh, ".show continuous-export E exported-artifacts").await,
            "Path"
        ),
        artifacts_before
    );
    assert_eq!(
        ids(&fresh, "SELECT id FROM external_table('X')").await,
        vec![3, 4, 5, 6],
        "the first E exported 3 and 4, the second 5 and 6"
    );

    // The idle handle's next commit follows the log's head, not a vacuumed gap.
    let receipt = idle
        .database()
        .ingest("T", vec![id_batch(&[7])])
        .await
        .unwrap();
    assert_eq!(
        receipt.commit.unwrap().cursor,
        fresh.database().refresh().await.unwrap()
    );
    assert_eq!(
        ids(&fresh, "SELECT id FROM T").await,
        vec![1, 2, 3, 4, 5, 6, 7]
    );

    // A second clean finds nothing more of what the first deleted.
    let again = deleted_by_kind(&exec(&e, ".clean database").await);
    for kind in [
        "extent of a dropped table",
        "extent never committed",
        "record of a dropped stream",
    ] {
        assert!(!again.contains_key(kind), "{again:?}");
    }
}

/// Sets a local file's modification time `age` in the past.
fn age(path: &std::path::Path, age: Duration) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[tokio::test]
async fn clean_database_from_the_cli_lists_what_it_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let db = root.to_str().unwrap();
    let run = |args: Vec<&str>| {
        let mut argv: Vec<String> = ["dfexport", "--db", db, "--format", "csv"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        argv.extend(args.into_iter().map(String::from));
        async move {
            let mut out = Vec::new();
            datafusion_export::cli::run_from(argv, &mut out).await?;
            Ok::<_, String>(String::from_utf8(out).unwrap())
        }
    };
    run(vec![
        "-c",
        ".create table T (id:long)",
        "-c",
        ".append T <| SELECT 1 AS id",
    ])
    .await
    .unwrap();
    // A killed ingestion's extent, and the staging file of a multipart upload a
    // killed process left (object_store hides those from listings), both 2 hours old;
    // and a fresh one that may belong to an ingestion still running.
    let extents = root.join("extents");
    let killed = extents.join("killed.parquet");
    let staging = extents.join("upload.parquet#17");
    let fresh = extents.join("running.parquet");
    std::fs::write(&killed, vec![0u8; 1234]).unwrap();
    std::fs::write(&staging, vec![0u8; 99]).unwrap();
    std::fs::write(&fresh, b"PAR1").unwrap();
    age(&killed, Duration::from_secs(7200));
    age(&staging, Duration::from_secs(7200));

    let err = run(vec!["-c", ".clean database older than 30m"])
        .await
        .unwrap_err();
    assert!(err.contains("at least 1h"), "{err}");
    let out = run(vec!["-c", ".clean database older than 1h"])
        .await
        .unwrap();
    assert!(out.starts_with("Path,SizeInBytes,What\n"), "{out}");
    assert!(
        out.contains("extents/killed.parquet,1234,extent never committed"),
        "{out}"
    );
    assert!(
        out.contains("upload.parquet#17,99,unfinished upload or scratch object"),
        "{out}"
    );
    assert!(!out.contains("running.parquet"), "{out}");
    assert!(!killed.exists() && !staging.exists() && fresh.exists());
    let out = run(vec!["-c", "SELECT count(*) AS n FROM T"])
        .await
        .unwrap();
    assert_eq!(out, "n\n1\n");
    // Nothing else was old enough.
    let out = run(vec!["-c", ".clean database older than 1h"])
        .await
        .unwrap();
    assert_eq!(out, "Path,SizeInBytes,What\n");
}

/// Ingestion, table drops, continuous-export runs and queries run concurrently with
/// the vacuum while hours pass between rounds; in each round one ingestion is held
/// between writing its extent and committing it until a vacuum has run. Every
/// committed row stays readable (from a new handle too) and is exported exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_beside_ingestion_queries_and_exports() {
    for seed in 0..4u64 {
        vacuum_rounds(seed).await;
    }
}

async fn vacuum_rounds(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = World::new();
    let e = w.open().await;
    let other = w.open().await; // a second process
                                // A third, whose ingestion waits after writing its extent until a vacuum ran.
    let held = InstrumentedStore::new(w.store.clone() as Arc<dyn ObjectStore>);
    let slow = w.open_on(held.clone()).await;
    let extent_written = Arc::new(Notify::new());
    let vacuumed = Arc::new(Notify::new());
    let armed = Arc::new(AtomicBool::new(false));
    {
        let (extent_written, vacuumed, armed) =
            (extent_written.clone(), vacuumed.clone(), armed.clone());
        held.set_put_hook(Some(Box::new(move |path: &Path| {
            if !armed.load(Ordering::SeqCst) {
                return None;
            }
            if path.as_ref().starts_with("extents/") {
                extent_written.notify_one();
                return None;
            }
            if path.as_ref().starts_with("_log/0") {
                armed.store(false, Ordering::SeqCst);
                let vacuumed = vacuumed.clone();
                return Some(Box::pin(async move {
                    vacuumed.notified().await;
                    Ok(())
                }));
            }
            None
        })));
    }
    exec(&e, ".create table T (id:long, s:string)").await;
    w.create_target(&e).await;
    exec(
        &e,
        ".create-or-alter continuous-export E to table X <| SELECT id, s FROM T",
    )
    .await;
    let mut committed: Vec<i64> = Vec::new();
    let mut next_id = 0i64;
    for round in 0..8 {
        let batch_a: Vec<i64> = (next_id..next_id + rng.random_range(1..50)).collect();
        next_id += batch_a.len() as i64;
        let batch_b: Vec<i64> = (next_id..next_id + rng.random_range(1..50)).collect();
        next_id += batch_b.len() as i64;
        let batch_c: Vec<i64> = (next_id..next_id + rng.random_range(1..50)).collect();
        next_id += batch_c.len() as i64;
        let scratch = format!("S{round}");
        let seen_before = committed.len();
        armed.store(true, Ordering::SeqCst);
        let (c, held_clean) = tokio::join!(
            slow.database().ingest("T", vec![id_batch(&batch_c)]),
            async {
                extent_written.notified().await;
                let cleaned = e.clean_database(Duration::from_secs(3600)).await;
                vacuumed.notify_one();
                cleaned
            }
        );
        held_clean.unwrap_or_else(|err| panic!("seed {seed} round {round}: {err}"));
        c.unwrap();
        committed.extend(batch_c);
        let (a, b, dropped, run, counted, cleaned) = tokio::join!(
            e.database().ingest("T", vec![id_batch(&batch_a)]),
            other.database().ingest("T", vec![id_batch(&batch_b)]),
            async {
                // A table that lives for one round: its extents become garbage.
                let db = other.database();
                db.ingest_stream(
                    &scratch,
                    Box::pin(
                        datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                            id_batch(&[0]).schema(),
                            futures::stream::iter([Ok(id_batch(&[1, 2, 3]))]),
                        ),
                    ),
                    true,
                )
                .await?;
                db.drop_table(&scratch, false).await
            },
            e.execute_collect(".run continuous-export E"),
            other.execute_collect("SELECT id FROM T"),
            e.clean_database(Duration::from_secs(3600)),
        );
        a.unwrap();
        b.unwrap();
        dropped.unwrap();
        run.unwrap();
        let counted = i64_column(&counted.unwrap(), "id");
        assert!(counted.len() >= seen_before, "seed {seed} round {round}");
        cleaned.unwrap_or_else(|err| panic!("seed {seed} round {round}: {err}"));
        committed.extend(batch_a);
        committed.extend(batch_b);
        // Between 0 and 3 hours pass: some rounds' garbage is old enough, some not.
        w.clock
            .advance(chrono::Duration::minutes(rng.random_range(0..180)));
    }
    exec(&e, ".run continuous-export E").await;
    e.clean_database(Duration::from_secs(3600)).await.unwrap();
    committed.sort();
    let fresh = w.open().await;
    assert_eq!(
        ids(&fresh, "SELECT id FROM T").await,
        committed,
        "seed {seed}"
    );
    assert_eq!(
        ids(&fresh, "SELECT id FROM external_table('X')").await,
        committed,
        "seed {seed}: every row exported once"
    );
    let exported: i64 = i64_column(
        &exec(&fresh, ".show continuous-export E exported-artifacts").await,
        "NumRecords",
    )
    .iter()
    .sum();
    assert_eq!(exported, committed.len() as i64, "seed {seed}");
    let live: Vec<String> = fresh
        .database()
        .state()
        .tables
        .values()
        .flat_map(|t| t.extents.iter().map(|x| x.file.path.clone()))
        .collect();
    let stored = paths(w.raw.as_ref(), "extents").await;
    for path in &live {
        assert!(
            stored.contains(path),
            "seed {seed}: live extent {path} deleted"
        );
    }
}
