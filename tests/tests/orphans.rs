//! Orphans are removed: a continuous-export run killed after some artifacts were
//! finished leaves files behind; the next successful run deletes them, so the folder
//! holds exactly the committed artifacts and an independent reader (pyarrow) of the
//! folder sees every row once.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use datafusion_export::continuous::ContinuousSettings;
use datafusion_export::tables::{Database, DatabaseOptions, ManualClock};
use datafusion_export::Engine;
use datafusion_export_integration_tests::{
    i64_column, ingest_ids_in_chunks, python, string_column, InstrumentedStore,
};
use futures::{FutureExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use tokio::sync::oneshot;

async fn files(store: &InstrumentedStore) -> Vec<String> {
    let mut files: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    files.sort();
    files
}

/// A database (in memory, on a manual clock) whose export target X is a local folder
/// behind an instrumented store, with table T of 200,000 rows in four ingestions;
/// `setup` runs after T and X are created and before the ingestions.
struct World {
    _dir: tempfile::TempDir,
    folder: std::path::PathBuf,
    bucket: Arc<InstrumentedStore>,
    clock: Arc<ManualClock>,
    engine: Engine,
    ids: Vec<i64>,
}

impl World {
    async fn new(setup: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("bucket");
        std::fs::create_dir_all(&folder).unwrap();
        let bucket =
            InstrumentedStore::new(Arc::new(LocalFileSystem::new_with_prefix(&folder).unwrap())
                as Arc<dyn ObjectStore>);
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        ));
        let db = Database::open_store(
            Arc::new(InMemory::new()),
            "db",
            DatabaseOptions::default().with_clock(clock.clone()),
        )
        .await
        .unwrap();
        let engine = Engine::with_settings(db, ContinuousSettings::default());
        engine
            .context()
            .register_object_store(&url::Url::parse("faulty://bucket").unwrap(), bucket.clone());
        let tables = [
            ".create table T (id:long, s:string)",
            ".create external table X (id:long, s:string) kind=storage dataformat=parquet ('faulty://bucket/out') with (sizeLimit=1048576)",
        ];
        for text in tables.iter().chain(setup) {
            engine.execute_collect(text).await.unwrap();
        }
        ingest_ids_in_chunks(engine.database(), "T", 0..200_000, 50_000).await;
        let ids: Vec<i64> = (0..200_000).collect();
        World {
            _dir: dir,
            folder,
            bucket,
            clock,
            engine,
            ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_leaves_nothing_after_the_next_run() {
    let world = World::new(&[
        ".create-or-alter continuous-export E to table X with (distribution='single') <| SELECT id, s FROM T",
    ])
    .await;
    let (folder, bucket, engine, ids) = (
        &world.folder,
        world.bucket.clone(),
        &world.engine,
        world.ids.clone(),
    );

    // The run stops for good at its second artifact: then the process is killed.
    let (reached_tx, reached) = oneshot::channel::<()>();
    let mut reached_tx = Some(reached_tx);
    let mut seen = 0;
    bucket.set_put_hook(Some(Box::new(move |_| {
        seen += 1;
        if seen < 2 {
            return None;
        }
        if let Some(tx) = reached_tx.take() {
            let _ = tx.send(());
        }
        Some(futures::future::pending().boxed())
    })));
    let killed = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.execute_collect(".run continuous-export E").await })
    };
    reached.await.unwrap();
    killed.abort();
    let _ = killed.await;
    bucket.set_put_hook(None);
    let left = files(&bucket).await;
    assert!(!left.is_empty(), "the killed run left a finished artifact");
    let attempts_on_record = || {
        engine
            .database()
            .state()
            .objects_of("export_attempt")
            .count()
    };
    assert_eq!(attempts_on_record(), 1, "the killed attempt is on record");

    // Until then, reading the table back leaves the uncommitted files out.
    let read_back = || async {
        let mut ids = i64_column(
            &engine
                .execute_collect("SELECT id FROM external_table('X')")
                .await
                .unwrap(),
            "id",
        );
        ids.sort();
        ids
    };
    assert_eq!(read_back().await, Vec::<i64>::new());

    engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap();
    assert_eq!(read_back().await, ids);
    let reported = engine
        .execute_collect(".show continuous-export E exported-artifacts")
        .await
        .unwrap();
    assert_eq!(
        i64_column(&reported, "NumRecords").iter().sum::<i64>(),
        200_000
    );
    let mut committed: Vec<String> = string_column(&reported, "Path")
        .iter()
        .map(|p| p.strip_prefix("faulty://bucket/").unwrap().to_string())
        .collect();
    committed.sort();
    assert_eq!(
        files(&bucket).await,
        committed,
        "only committed artifacts remain"
    );
    assert_eq!(attempts_on_record(), 0, "no attempt is left on record");
    // An independent reader of the whole folder sees every row once.
    let out = python(&format!(
        "import pyarrow.dataset as ds\n\
         t = ds.dataset({:?}, format='parquet').to_table()\n\
         ids = t.column('id').to_pylist()\n\
         print(len(ids), len(set(ids)), min(ids), max(ids))",
        folder.join("out").display().to_string()
    ));
    assert_eq!(out.trim(), "200000 200000 0 199999");
}

/// A one-shot `.export to table` killed after finishing an artifact: its files stay
/// hidden from read-back while its attempt is on record, and `.clean database` deletes
/// them once the attempt is older than the window. A finished export is visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_one_shot_export_is_hidden_then_cleaned() {
    let world = World::new(&[]).await;
    let (bucket, engine, ids, clock) = (
        world.bucket.clone(),
        &world.engine,
        world.ids.clone(),
        &world.clock,
    );
    let export = ".export to table X with (distribution='single') <| SELECT id, s FROM T";

    let (reached_tx, reached) = oneshot::channel::<()>();
    let mut reached_tx = Some(reached_tx);
    let mut seen = 0;
    bucket.set_put_hook(Some(Box::new(move |_| {
        seen += 1;
        if seen < 2 {
            return None;
        }
        if let Some(tx) = reached_tx.take() {
            let _ = tx.send(());
        }
        Some(futures::future::pending().boxed())
    })));
    let killed = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.execute_collect(export).await })
    };
    reached.await.unwrap();
    killed.abort();
    let _ = killed.await;
    bucket.set_put_hook(None);
    let left = files(&bucket).await;
    assert!(
        !left.is_empty(),
        "the killed export left a finished artifact"
    );
    let attempts_on_record = || {
        engine
            .database()
            .state()
            .objects_of("export_attempt")
            .count()
    };
    assert_eq!(attempts_on_record(), 1, "the killed export is on record");
    let read_back = || async {
        let mut ids = i64_column(
            &engine
                .execute_collect("SELECT id FROM external_table('X')")
                .await
                .unwrap(),
            "id",
        );
        ids.sort();
        ids
    };
    assert_eq!(read_back().await, Vec::<i64>::new(), "its files are hidden");

    // Inside the window nothing is touched; after it, the files and record go.
    let cleaned = engine.execute_collect(".clean database").await.unwrap();
    assert_eq!(string_column(&cleaned, "Path"), Vec::<String>::new());
    clock.advance(chrono::Duration::days(8));
    let cleaned = engine.execute_collect(".clean database").await.unwrap();
    let what = string_column(&cleaned, "What");
    let gone = what
        .iter()
        .filter(|w| *w == "artifact of an export that never finished")
        .count();
    assert_eq!(gone, left.len(), "{what:?}");
    assert_eq!(files(&bucket).await, Vec::<String>::new());
    assert_eq!(attempts_on_record(), 0);

    // A finished export is visible at once, and leaves no record.
    engine.execute_collect(export).await.unwrap();
    assert_eq!(read_back().await, ids);
    assert_eq!(attempts_on_record(), 0);
}
