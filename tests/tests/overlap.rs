//! Runners that overlap: two processes running one continuous export (two `.run`s, or
//! `serve` and a cron `.run`), and a drop + re-create or an alter while a run is in
//! flight. Each case pauses runner A at a barrier just before it writes its first data
//! file, lets the other side act, then releases A: the data stays exactly once and a
//! stale runner's commit is refused with a message that says why.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion_export::continuous::scheduler::Scheduler;
use datafusion_export::continuous::ContinuousSettings;
use datafusion_export::tables::{Database, DatabaseOptions, ManualClock};
use datafusion_export::Engine;
use datafusion_export_integration_tests::{
    i64_column, id_batch, ids_in_files, string_column, InstrumentedStore,
};
use futures::{FutureExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::ObjectStore;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Storage,
    Delta,
}

/// One database and one bucket (`s3://race`), and two processes on them.
struct Two {
    a: Engine,
    b: Engine,
    bucket: Arc<InstrumentedStore>,
    raw_bucket: Arc<dyn ObjectStore>,
}

async fn engine(db: Arc<dyn ObjectStore>, bucket: Arc<InstrumentedStore>) -> Engine {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
    ));
    let db = Database::open_store(db, "db", DatabaseOptions::default().with_clock(clock))
        .await
        .unwrap();
    let engine = Engine::with_settings(db, ContinuousSettings::default());
    engine
        .context()
        .register_object_store(&url::Url::parse("s3://race").unwrap(), bucket);
    engine
}

async fn exec(engine: &Engine, text: &str) {
    engine
        .execute_collect(text)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
}

fn definition(target: Target) -> &'static str {
    match target {
        Target::Storage => "kind=storage dataformat=parquet ('s3://race/out')",
        Target::Delta => "kind=delta ('s3://race/delta')",
    }
}

async fn two(target: Target) -> Two {
    let db: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let raw_bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let bucket = InstrumentedStore::new(Arc::clone(&raw_bucket));
    let a = engine(Arc::clone(&db), bucket.clone()).await;
    let b = engine(db, bucket.clone()).await;
    exec(&a, ".create table T (id:long, s:string)").await;
    exec(
        &a,
        &format!(
            ".create external table X (id:long, s:string) {}",
            definition(target)
        ),
    )
    .await;
    exec(
        &a,
        ".create-or-alter continuous-export E to table X <| SELECT id, s FROM T",
    )
    .await;
    Two {
        a,
        b,
        bucket,
        raw_bucket,
    }
}

/// Arms a barrier at the next data-file write to the bucket: `reached` fires when a
/// runner gets there, and it waits for `release`.
fn barrier_at_next_data_file(
    bucket: &InstrumentedStore,
) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
    let (reached_tx, reached_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let mut gate = Some((reached_tx, release_rx));
    bucket.set_put_hook(Some(Box::new(move |path| {
        if path.as_ref().contains("_delta_log") {
            return None;
        }
        let (reached, release) = gate.take()?;
        Some(
            async move {
                let _ = reached.send(());
                let _ = release.await;
                Ok(())
            }
            .boxed(),
        )
    })));
    (reached_rx, release_tx)
}

async fn ingest(engine: &Engine, ids: std::ops::Range<i64>) {
    engine
        .database()
        .ingest("T", vec![id_batch(&ids.collect::<Vec<_>>())])
        .await
        .unwrap();
}

/// The ids the export's reported artifacts hold, and the ids the target holds.
async fn exported(two: &Two, engine: &Engine, target: Target, name: &str) -> (Vec<i64>, Vec<i64>) {
    let artifacts = engine
        .execute_collect(&format!(
            ".show continuous-export {name} exported-artifacts"
        ))
        .await
        .unwrap();
    let reader = datafusion::prelude::SessionContext::new();
    reader.register_object_store(
        &url::Url::parse("s3://race").unwrap(),
        Arc::clone(&two.raw_bucket),
    );
    let reported = ids_in_files(&reader, &string_column(&artifacts, "Path"), false).await;
    let mut held = match target {
        // Everything in the folder: a stale run's files were deleted when its commit
        // was refused.
        Target::Storage => {
            let paths: Vec<String> = two
                .raw_bucket
                .list(Some(&object_store::path::Path::from("out")))
                .map_ok(|m| format!("s3://race/{}", m.location))
                .try_collect()
                .await
                .unwrap();
            ids_in_files(&reader, &paths, false).await
        }
        Target::Delta => i64_column(
            &engine
                .execute_collect("SELECT id FROM external_table('X')")
                .await
                .unwrap(),
            "id",
        ),
    };
    held.sort();
    (reported, held)
}

/// One `.run continuous-export E` in a process of its own.
fn spawn_run(
    engine: &Engine,
) -> tokio::task::JoinHandle<datafusion_export::Result<Vec<RecordBatch>>> {
    let engine = engine.clone();
    tokio::spawn(async move { engine.execute_collect(".run continuous-export E").await })
}

/// Rows 0..10 ingested, and A's run of them waiting at its first data file: it goes on
/// when the sender fires.
async fn a_run_paused_at_its_first_file(
    two: &Two,
) -> (
    tokio::task::JoinHandle<datafusion_export::Result<Vec<RecordBatch>>>,
    oneshot::Sender<()>,
) {
    ingest(&two.a, 0..10).await;
    let (reached, release) = barrier_at_next_data_file(&two.bucket);
    let runner = spawn_run(&two.a);
    reached.await.unwrap();
    (runner, release)
}

/// The loser of a race between runners says so.
fn assert_lost_race(err: &str, target: Target) {
    assert!(
        err.contains("already committed by another runner")
            || err.contains("already exported by another run"),
        "{target:?}: {err}"
    );
}

/// What E reported, and what the target holds, are exactly `ids`.
async fn assert_exported(two: &Two, target: Target, ids: std::ops::Range<i64>) {
    let (reported, held) = exported(two, &two.a, target, "E").await;
    assert_eq!(reported, ids.collect::<Vec<_>>(), "{target:?}");
    assert_eq!(held, reported, "{target:?}");
}

/// A plans (start, N] and waits at its first data file; an ingestion lands; B plans
/// (start, N+1]. Either B commits first (`a_first == false`) or, with B waiting too, A
/// commits first (the smaller end cursor): the other is refused.
async fn race(target: Target, a_first: bool) {
    let two = two(target).await;
    let (runner_a, a_release) = a_run_paused_at_its_first_file(&two).await;
    ingest(&two.b, 10..20).await;
    let err = if a_first {
        let (b_reached, b_release) = barrier_at_next_data_file(&two.bucket);
        let runner_b = spawn_run(&two.b);
        b_reached.await.unwrap();
        a_release.send(()).unwrap();
        runner_a.await.unwrap().unwrap();
        b_release.send(()).unwrap();
        runner_b.await.unwrap().unwrap_err()
    } else {
        exec(&two.b, ".run continuous-export E").await;
        a_release.send(()).unwrap();
        runner_a.await.unwrap().unwrap_err()
    };
    assert_lost_race(&err.to_string(), target);
    exec(&two.a, ".run continuous-export E").await;
    assert_exported(&two, target, 0..20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_with_different_end_cursors_export_once_in_either_order() {
    for target in [Target::Storage, Target::Delta] {
        race(target, false).await;
        race(target, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_and_a_cron_run_overlap_and_export_once() {
    for target in [Target::Storage, Target::Delta] {
        let two = two(target).await;
        ingest(&two.a, 0..10).await;
        let (reached, release) = barrier_at_next_data_file(&two.bucket);
        let a = two.a.clone();
        // `serve`'s scheduler ticks in process A; the cron `.run` comes in process B.
        let serve = tokio::spawn(async move { Scheduler::new(a).tick().await });
        reached.await.unwrap();
        ingest(&two.b, 10..20).await;
        exec(&two.b, ".run continuous-export E").await;
        release.send(()).unwrap();
        let ticked = serve.await.unwrap().unwrap();
        assert_eq!(ticked.len(), 1);
        assert_lost_race(&ticked[0].1.as_ref().unwrap_err().to_string(), target);
        ingest(&two.b, 20..25).await;
        exec(&two.a, ".run continuous-export E").await;
        assert_exported(&two, target, 0..25).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drop_and_recreate_while_a_run_is_in_flight_refuses_the_stale_run() {
    for target in [Target::Storage, Target::Delta] {
        let two = two(target).await;
        let (runner_a, release) = a_run_paused_at_its_first_file(&two).await;
        exec(&two.b, ".drop continuous-export E").await;
        exec(
            &two.b,
            ".create-or-alter continuous-export E to table X <| SELECT id, s FROM T",
        )
        .await;
        release.send(()).unwrap();
        let err = runner_a.await.unwrap().unwrap_err().to_string();
        assert!(err.contains("dropped and re-created"), "{target:?}: {err}");
        // The new export starts at its creation: it reports only what came after.
        ingest(&two.b, 10..20).await;
        exec(&two.b, ".run continuous-export E").await;
        let (reported, held) = exported(&two, &two.b, target, "E").await;
        assert_eq!(reported, (10..20).collect::<Vec<_>>(), "{target:?}");
        if target == Target::Delta {
            // The stale run's Delta commit (rows 0..10, the old export's identity) had
            // landed before its record was refused; no row is in the table twice.
            assert_eq!(held, (0..20).collect::<Vec<_>>(), "{target:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn altering_the_query_while_a_run_is_in_flight_refuses_the_stale_run() {
    for target in [Target::Storage, Target::Delta] {
        let two = two(target).await;
        let (runner_a, release) = a_run_paused_at_its_first_file(&two).await;
        exec(
            &two.b,
            ".create-or-alter continuous-export E to table X <| SELECT id, s FROM T WHERE id >= 0",
        )
        .await;
        release.send(()).unwrap();
        let result = runner_a.await.unwrap();
        let (reported, held) = match target {
            Target::Storage => {
                let err = result.unwrap_err().to_string();
                assert!(err.contains("altered"), "{err}");
                exec(&two.b, ".run continuous-export E").await;
                exported(&two, &two.b, target, "E").await
            }
            Target::Delta => {
                // The run's Delta commit may land before its record is refused; the next
                // run then records that commit instead of exporting again.
                if let Err(e) = &result {
                    assert!(e.to_string().contains("altered"), "{e}");
                }
                exec(&two.b, ".run continuous-export E").await;
                exported(&two, &two.b, target, "E").await
            }
        };
        assert_eq!(reported, (0..10).collect::<Vec<_>>(), "{target:?}");
        assert_eq!(held, reported, "{target:?}");
        let shown = two
            .b
            .execute_collect(".show continuous-export E")
            .await
            .unwrap();
        assert!(string_column(&shown, "Query")
            .iter()
            .any(|q| q.contains("WHERE id >= 0")));
    }
}
