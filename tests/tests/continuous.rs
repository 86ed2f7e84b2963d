//! Continuous export: exactly-once runs, fact vs dimension, latency, faults, races.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use datafusion_export::continuous::scheduler::Scheduler;
use datafusion_export::continuous::ContinuousSettings;
use datafusion_export::tables::{Database, DatabaseOptions, ManualClock};
use datafusion_export::Engine;
use datafusion_export_integration_tests::{
    i64_column, id_batch, ids_in_files, ingest_ids_in_chunks, injected_error, python, row_count,
    rows_as_text, string_column, InstrumentedStore,
};
use futures::future::BoxFuture;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
    ))
}

async fn engine_on(store: Arc<dyn ObjectStore>, clock: Arc<ManualClock>) -> Engine {
    let db = Database::open_store(store, "db", DatabaseOptions::default().with_clock(clock))
        .await
        .unwrap();
    Engine::with_settings(
        db,
        ContinuousSettings {
            max_concurrent_exports: 2,
            permanent_failure_window: std::time::Duration::from_secs(7 * 24 * 3600),
        },
    )
}

/// Ids in the artifacts `exported-artifacts` reports, read from the files.
async fn exported_ids(engine: &Engine, export: &str, format: &str) -> Vec<i64> {
    let artifacts = engine
        .execute_collect(&format!(
            ".show continuous-export {export} exported-artifacts"
        ))
        .await
        .unwrap();
    let reader = datafusion::prelude::SessionContext::new();
    ids_in_files(&reader, &string_column(&artifacts, "Path"), format == "csv").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_once_under_concurrent_ingestion_for_csv_parquet_and_delta() {
    for (format, seed) in [("csv", 1u64), ("parquet", 2), ("delta", 3)] {
        let dir = tempfile::tempdir().unwrap();
        let clock = clock();
        let engine = engine_on(Arc::new(InMemory::new()), clock.clone()).await;
        engine
            .execute(".create table T (id:long, s:string)")
            .await
            .unwrap();
        // Rows before the export's creation are not exported by it.
        engine
            .database()
            .ingest("T", vec![id_batch(&[-1, -2])])
            .await
            .unwrap();
        let target = dir.path().join("out");
        let kind = match format {
            "delta" => format!("kind=delta ('{}')", target.display()),
            f => format!("kind=storage dataformat={f} ('{}')", target.display()),
        };
        engine
            .execute_collect(&format!(
                ".create external table X (id:long, s:string) {kind}"
            ))
            .await
            .unwrap();
        engine
            .execute_collect(".create-or-alter continuous-export E over (T) to table X with (intervalBetweenRuns=1s) <| SELECT id, s FROM T")
            .await
            .unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for w in 0..3i64 {
            let db = engine.database().clone();
            let stop = stop.clone();
            writers.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed * 10 + w as u64);
                let mut next = w * 1_000_000;
                let mut ingested = Vec::new();
                for _ in 0..25 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let n = rng.random_range(1..5);
                    let ids: Vec<i64> = (next..next + n).collect();
                    next += n;
                    db.ingest("T", vec![id_batch(&ids)]).await.unwrap();
                    ingested.extend(ids);
                    if rng.random_bool(0.5) {
                        tokio::task::yield_now().await;
                    }
                }
                ingested
            }));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..12 {
            engine
                .execute_collect(".run continuous-export E")
                .await
                .unwrap();
            for _ in 0..rng.random_range(0..3) {
                tokio::task::yield_now().await;
            }
        }
        let mut ingested: Vec<i64> = Vec::new();
        for w in writers {
            ingested.extend(w.await.unwrap());
        }
        stop.store(true, Ordering::SeqCst);
        // A final run picks up the rest.
        engine
            .execute_collect(".run continuous-export E")
            .await
            .unwrap();
        // The export cursor ends at the newest ingestion into T.
        let extents = engine
            .execute_collect(".show table T extents")
            .await
            .unwrap();
        let last = string_column(&extents, "Cursor")
            .iter()
            .map(|c| c.parse::<u64>().unwrap())
            .max()
            .unwrap()
            .to_string();
        ingested.sort();

        let exported = if format == "delta" {
            let back = engine
                .execute_collect("SELECT id FROM external_table('X')")
                .await
                .unwrap();
            let mut ids = i64_column(&back, "id");
            ids.sort();
            ids
        } else {
            exported_ids(&engine, "E", format).await
        };
        assert_eq!(
            exported, ingested,
            "{format}: exported rows differ from ingested rows"
        );
        let shown = engine
            .execute_collect(".show continuous-export E")
            .await
            .unwrap();
        assert_eq!(string_column(&shown, "ExportCursor"), vec![last]);
    }
}

#[tokio::test]
async fn facts_are_scoped_dimensions_read_whole_and_late_dimensions_follow_the_join() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_on(Arc::new(InMemory::new()), clock()).await;
    engine
        .execute(".create table F (id:long, k:long)")
        .await
        .unwrap();
    engine
        .execute(".create table Dim (k:long, name:string)")
        .await
        .unwrap();
    engine
        .execute_collect("INSERT INTO Dim VALUES (1, 'one')")
        .await
        .unwrap();
    for (name, join) in [("Inner", "JOIN"), ("Outer", "LEFT JOIN")] {
        engine
            .execute_collect(&format!(
                ".create external table {name}X (id:long, name:string) kind=storage dataformat=csv ('{}/{name}')",
                dir.path().display()
            ))
            .await
            .unwrap();
        engine
            .execute_collect(&format!(
                ".create-or-alter continuous-export {name} over (F) to table {name}X <| SELECT F.id, Dim.name FROM F {join} Dim ON F.k = Dim.k"
            ))
            .await
            .unwrap();
    }
    // k=2 has no dimension row yet.
    engine
        .execute_collect("INSERT INTO F VALUES (10, 1), (20, 2)")
        .await
        .unwrap();
    for name in ["Inner", "Outer"] {
        engine
            .execute_collect(&format!(".run continuous-export {name}"))
            .await
            .unwrap();
    }
    // The dimension row arrives late; the fact is not exported again.
    engine
        .execute_collect("INSERT INTO Dim VALUES (2, 'two')")
        .await
        .unwrap();
    engine
        .execute_collect("INSERT INTO F VALUES (30, 2)")
        .await
        .unwrap();
    for name in ["Inner", "Outer"] {
        engine
            .execute_collect(&format!(".run continuous-export {name}"))
            .await
            .unwrap();
    }
    let read = |name: &'static str| {
        let engine = engine.clone();
        async move {
            let back = engine
                .execute_collect(&format!(
                    "SELECT id, name FROM external_table('{name}X') ORDER BY id"
                ))
                .await
                .unwrap();
            (i64_column(&back, "id"), string_column(&back, "name"))
        }
    };
    // Inner join: the fact without a dimension row is missed for good.
    assert_eq!(
        read("Inner").await,
        (vec![10, 30], vec!["one".to_string(), "two".to_string()])
    );
    // Outer join: it is exported with a null dimension column.
    assert_eq!(
        read("Outer").await,
        (
            vec![10, 20, 30],
            vec!["one".to_string(), "".to_string(), "two".to_string()]
        )
    );
    // Dimension-only queries are refused; over() must name fact tables the query reads.
    let err = engine
        .execute_collect(
            ".create-or-alter continuous-export Bad to table InnerX <| SELECT 1 AS id, 'x' AS name",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least one fact table"), "{err}");
    let err = engine
        .execute_collect(".create-or-alter continuous-export Bad over (Dim) to table InnerX <| SELECT F.id, 'x' AS name FROM F")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not read 'Dim'"), "{err}");
}

#[tokio::test]
async fn forced_latency_holds_back_young_commits() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = engine_on(Arc::new(InMemory::new()), clock.clone()).await;
    engine
        .execute(".create table T (id:long, s:string)")
        .await
        .unwrap();
    engine
        .execute_collect(&format!(
            ".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{}')",
            dir.path().display()
        ))
        .await
        .unwrap();
    engine
        .execute_collect(".create-or-alter continuous-export E to table X with (forcedLatency=10m, intervalBetweenRuns=1m) <| SELECT * FROM T")
        .await
        .unwrap();
    engine
        .database()
        .ingest("T", vec![id_batch(&[1])])
        .await
        .unwrap();
    clock.advance(Duration::minutes(6));
    engine
        .database()
        .ingest("T", vec![id_batch(&[2])])
        .await
        .unwrap();
    clock.advance(Duration::minutes(5));
    // Now: id 1 is 11 minutes old, id 2 only 5.
    let run = engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap();
    assert_eq!(string_column(&run, "Result"), vec!["Completed"]);
    assert_eq!(exported_ids(&engine, "E", "parquet").await, vec![1]);
    let run = engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap();
    assert_eq!(string_column(&run, "Result"), vec!["NoNewData"]);
    clock.advance(Duration::minutes(5));
    engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap();
    assert_eq!(exported_ids(&engine, "E", "parquet").await, vec![1, 2]);
}

/// Fails the `nth` put whose path matches `pattern`, once.
/// Fails the `nth` put of a path containing `pattern`. A commit to the log is retried
/// with the same id, so for `_log/` the store stays down for all of its attempts (a
/// crash or an outage, not a blip).
fn fail_nth(store: &InstrumentedStore, pattern: &'static str, nth: usize) {
    let mut seen = 0;
    let attempts = if pattern == "_log/" {
        datafusion_export_tables::log::store::PUT_ATTEMPTS
    } else {
        1
    };
    store.set_put_hook(Some(Box::new(move |path| {
        if !path.as_ref().contains(pattern) {
            return None;
        }
        seen += 1;
        (seen >= nth && seen < nth + attempts).then(|| {
            let err = injected_error(path);
            Box::pin(async move { Err(err) }) as BoxFuture<'static, object_store::Result<()>>
        })
    })));
}

#[tokio::test]
async fn a_failed_step_leaves_the_cursor_and_the_next_run_exports_once() {
    // Fail, in turn: the first artifact, a later artifact, and the run's commit.
    for (pattern, nth) in [("out/", 1), ("out/", 2), ("_log/", 1)] {
        let clock = clock();
        let raw: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let store = InstrumentedStore::new(raw);
        let engine = engine_on(store.clone(), clock.clone()).await;
        let target = InstrumentedStore::new(Arc::new(InMemory::new()) as Arc<dyn ObjectStore>);
        engine
            .context()
            .register_object_store(&url::Url::parse("faulty://bucket").unwrap(), target.clone());
        engine
            .execute(".create table T (id:long, s:string)")
            .await
            .unwrap();
        engine
            .execute_collect(".create external table X (id:long, s:string) kind=storage dataformat=csv ('faulty://bucket/out') with (sizeLimit=1048576)")
            .await
            .unwrap();
        engine
            .execute_collect(".create-or-alter continuous-export E to table X with (distribution='single') <| SELECT id, s FROM T")
            .await
            .unwrap();
        ingest_ids_in_chunks(engine.database(), "T", 0..200_000, 50_000).await;
        let before = engine
            .execute_collect(".show continuous-export E")
            .await
            .unwrap();
        let cursor_before = string_column(&before, "ExportCursor");

        let failing = if pattern == "_log/" { &store } else { &target };
        // The run's commit is the first log write after the hook is set.
        fail_nth(failing, pattern, nth);
        let err = engine
            .execute_collect(".run continuous-export E")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("injected failure"),
            "{pattern} #{nth}: {err}"
        );
        failing.set_put_hook(None);

        let after = engine
            .execute_collect(".show continuous-export E")
            .await
            .unwrap();
        assert_eq!(
            string_column(&after, "ExportCursor"),
            cursor_before,
            "{pattern} #{nth}: the cursor moved"
        );
        assert_eq!(string_column(&after, "LastRunResult"), vec!["Failed"]);
        let failures = engine
            .execute_collect(".show continuous-export E failures")
            .await
            .unwrap();
        assert_eq!(row_count(&failures), 1);
        assert!(string_column(&failures, "Details")[0].contains("injected failure"));
        let reported = engine
            .execute_collect(".show continuous-export E exported-artifacts")
            .await
            .unwrap();
        assert_eq!(row_count(&reported), 0, "orphans are never reported");
        let files = || async {
            let mut files: Vec<String> = target
                .list(None)
                .map_ok(|m| format!("faulty://bucket/{}", m.location))
                .try_collect()
                .await
                .unwrap();
            files.sort();
            files
        };
        if pattern == "out/" {
            // The failed attempt deleted the artifacts it had finished. (A failed
            // commit of the run record may have landed for all the runner knows: its
            // files stay.)
            assert_eq!(files().await, Vec::<String>::new(), "{pattern} #{nth}");
        }

        engine
            .execute_collect(".run continuous-export E")
            .await
            .unwrap();
        let reported = engine
            .execute_collect(".show continuous-export E exported-artifacts")
            .await
            .unwrap();
        let total: i64 = i64_column(&reported, "NumRecords").iter().sum();
        assert_eq!(
            total, 200_000,
            "{pattern} #{nth}: exactly once after the failure"
        );
        if pattern == "out/" {
            let mut paths = string_column(&reported, "Path");
            paths.sort();
            assert_eq!(
                files().await,
                paths,
                "{pattern} #{nth}: only committed files"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_delta_commit_and_the_run_record_adds_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let store = InstrumentedStore::new(Arc::new(InMemory::new()) as Arc<dyn ObjectStore>);
    let engine = engine_on(store.clone(), clock.clone()).await;
    engine
        .execute(".create table T (id:long, s:string)")
        .await
        .unwrap();
    let url = dir.path().join("delta");
    engine
        .execute_collect(&format!(
            ".create external table D (id:long, s:string) kind=delta ('{}')",
            url.display()
        ))
        .await
        .unwrap();
    engine
        .execute_collect(".create-or-alter continuous-export E to table D <| SELECT id, s FROM T")
        .await
        .unwrap();
    engine
        .database()
        .ingest("T", vec![id_batch(&[1, 2, 3])])
        .await
        .unwrap();
    // The Delta commit lands, then the run record's log write fails: a crash in between.
    fail_nth(&store, "_log/", 1);
    assert!(engine
        .execute_collect(".run continuous-export E")
        .await
        .is_err());
    store.set_put_hook(None);
    engine
        .database()
        .ingest("T", vec![id_batch(&[4])])
        .await
        .unwrap();
    // Recovery: run 1 is found in the Delta log and only recorded.
    engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap();
    engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap();
    let back = engine
        .execute_collect("SELECT id FROM external_table('D') ORDER BY id")
        .await
        .unwrap();
    assert_eq!(i64_column(&back, "id"), vec![1, 2, 3, 4]);
    // The recovered run lists the files its Delta commit added.
    let artifacts = engine
        .execute_collect(".show continuous-export E exported-artifacts")
        .await
        .unwrap();
    let records = i64_column(&artifacts, "NumRecords");
    assert_eq!(records.iter().sum::<i64>(), 4, "{records:?}");
    let paths = rows_as_text(&artifacts);
    assert!(
        paths
            .iter()
            .all(|row| row.contains(&url.display().to_string())),
        "{paths:?}"
    );
    let out = python(&format!(
        "from deltalake import DeltaTable\nt = DeltaTable(r'{}')\nprint(sorted(t.to_pyarrow_table().column('id').to_pylist()))",
        url.display()
    ));
    assert_eq!(out.trim(), "[1, 2, 3, 4]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_never_both_commit_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let shared: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let a = engine_on(shared.clone(), clock.clone()).await;
    let b = engine_on(shared.clone(), clock.clone()).await;
    a.execute(".create table T (id:long, s:string)")
        .await
        .unwrap();
    a.execute_collect(&format!(
        ".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{}')",
        dir.path().display()
    ))
    .await
    .unwrap();
    a.execute_collect(".create-or-alter continuous-export E to table X with (intervalBetweenRuns=1s) <| SELECT * FROM T")
        .await
        .unwrap();
    let mut expected = BTreeSet::new();
    for round in 0..6i64 {
        let ids: Vec<i64> = (round * 10..round * 10 + 3).collect();
        expected.extend(ids.iter().copied());
        a.database()
            .ingest("T", vec![id_batch(&ids)])
            .await
            .unwrap();
        clock.advance(Duration::seconds(2));
        let (sa, sb) = (Scheduler::new(a.clone()), Scheduler::new(b.clone()));
        let (ra, rb) = tokio::join!(sa.tick(), sb.tick());
        let committed = ra
            .unwrap()
            .into_iter()
            .chain(rb.unwrap())
            .filter(|(_, r)| matches!(r, Ok(o) if o.run.is_some()))
            .count();
        assert!(committed <= 1, "round {round}: both schedulers committed");
    }
    b.execute_collect(".run continuous-export E").await.unwrap();
    let ids = exported_ids(&a, "E", "parquet").await;
    assert_eq!(ids, expected.into_iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn permanent_failures_disable_the_job_and_enable_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = engine_on(Arc::new(InMemory::new()), clock.clone()).await;
    engine
        .execute(".create table T (id:long, s:string)")
        .await
        .unwrap();
    let create_x = format!(
        ".create-or-alter external table X (id:long, s:string) kind=storage dataformat=parquet ('{}')",
        dir.path().display()
    );
    engine.execute_collect(&create_x).await.unwrap();
    engine
        .execute_collect(".create-or-alter continuous-export E to table X with (intervalBetweenRuns=1h) <| SELECT * FROM T")
        .await
        .unwrap();
    engine
        .database()
        .ingest("T", vec![id_batch(&[1])])
        .await
        .unwrap();
    engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap();

    engine
        .execute_collect(".drop external table X")
        .await
        .unwrap();
    engine
        .database()
        .ingest("T", vec![id_batch(&[2])])
        .await
        .unwrap();
    let scheduler = Scheduler::new(engine.clone());
    for day in 0..9 {
        clock.advance(Duration::days(1));
        let results = scheduler.tick().await.unwrap();
        if day < 7 {
            assert_eq!(results.len(), 1, "day {day}: the job still runs");
            assert!(results[0].1.is_err());
        }
    }
    let shown = engine
        .execute_collect(".show continuous-export E")
        .await
        .unwrap();
    assert_eq!(string_column(&shown, "IsDisabled"), vec!["true"]);
    let failures = engine
        .execute_collect(".show continuous-export E failures")
        .await
        .unwrap();
    assert!(string_column(&failures, "IsPermanent")
        .iter()
        .all(|p| p == "true"));
    assert!(
        scheduler.tick().await.unwrap().is_empty(),
        "a disabled job does not run"
    );

    // Fix the cause and enable: it resumes where it stopped, exactly once.
    engine.execute_collect(&create_x).await.unwrap();
    engine
        .execute_collect(".enable continuous-export E")
        .await
        .unwrap();
    engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap();
    assert_eq!(exported_ids(&engine, "E", "parquet").await, vec![1, 2]);

    // A schema mismatch is permanent too.
    engine
        .execute_collect(".create-or-alter continuous-export M to table X <| SELECT id FROM T")
        .await
        .unwrap_err();
}

#[tokio::test]
async fn historical_data_with_start_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_on(Arc::new(InMemory::new()), clock()).await;
    engine
        .execute(".create table T (id:long, s:string)")
        .await
        .unwrap();
    engine
        .database()
        .ingest("T", vec![id_batch(&[1, 2])])
        .await
        .unwrap();
    engine
        .execute_collect(&format!(
            ".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{}')",
            dir.path().display()
        ))
        .await
        .unwrap();
    let created = engine
        .execute_collect(".create-or-alter continuous-export E to table X <| SELECT * FROM T")
        .await
        .unwrap();
    let start = string_column(&created, "StartCursor")[0].clone();
    engine
        .database()
        .ingest("T", vec![id_batch(&[3])])
        .await
        .unwrap();
    engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap();
    // Idle: no new fact data, so no run and no commit (a run record is not new data).
    let cursor = engine.database().refresh().await.unwrap();
    for _ in 0..3 {
        let idle = engine
            .execute_collect(".run continuous-export E")
            .await
            .unwrap();
        assert_eq!(string_column(&idle, "Result"), vec!["NoNewData"]);
    }
    assert_eq!(engine.database().refresh().await.unwrap(), cursor);
    let backfill = engine
        .execute_collect(&format!(
            ".export to table X <| SELECT * FROM T WHERE cursor_before_or_at('{start}')"
        ))
        .await
        .unwrap();
    assert_eq!(i64_column(&backfill, "NumRecords").iter().sum::<i64>(), 2);
    let all = engine
        .execute_collect("SELECT id FROM external_table('X') ORDER BY id")
        .await
        .unwrap();
    assert_eq!(i64_column(&all, "id"), vec![1, 2, 3]);
    let shown = engine
        .execute_collect(".show continuous-exports")
        .await
        .unwrap();
    for column in [
        "Name",
        "ExternalTableName",
        "Query",
        "ForcedLatency",
        "IntervalBetweenRuns",
        "CursorScopedTables",
        "ExportProperties",
        "ExportedTo",
        "LastRunTime",
        "StartCursor",
        "IsDisabled",
        "LastRunResult",
        "ExportCursor",
        "IsRunning",
    ] {
        assert!(
            shown.iter().all(|b| b.column_by_name(column).is_some()),
            "missing {column}"
        );
    }
    engine
        .execute_collect(".disable continuous-export E")
        .await
        .unwrap();
    let err = engine
        .execute_collect(".run continuous-export E")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disabled"), "{err}");
    engine
        .execute_collect(".drop continuous-export E")
        .await
        .unwrap();
    assert_eq!(
        row_count(
            &engine
                .execute_collect(".show continuous-exports")
                .await
                .unwrap()
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_runs_due_jobs_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = engine_on(Arc::new(InMemory::new()), clock.clone()).await;
    engine
        .execute(".create table T (id:long, s:string)")
        .await
        .unwrap();
    engine
        .execute_collect(&format!(
            ".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{}')",
            dir.path().display()
        ))
        .await
        .unwrap();
    engine
        .execute_collect(".create-or-alter continuous-export E to table X with (intervalBetweenRuns=1s) <| SELECT * FROM T")
        .await
        .unwrap();
    engine
        .database()
        .ingest("T", vec![id_batch(&[1, 2])])
        .await
        .unwrap();
    let progress_before = engine.progress().snapshot();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut stop = Some(stop);
    let mut committed = Vec::new();
    let scheduler = Scheduler::new(engine.clone());
    scheduler
        .run_until(
            std::time::Duration::from_millis(10),
            async {
                let _ = stopped.await;
            },
            |name, outcome, _elapsed| {
                if let Ok(o) = outcome {
                    if o.run.is_some() {
                        committed.push((name.to_string(), o.to_cursor));
                        if let Some(s) = stop.take() {
                            let _ = s.send(());
                        }
                    }
                }
            },
            |e, _| panic!("tick failed: {e}"),
        )
        .await
        .unwrap();
    assert_eq!(committed.len(), 1);
    assert_eq!(exported_ids(&engine, "E", "parquet").await, vec![1, 2]);
    let progress = engine.progress().snapshot().since(&progress_before);
    assert_eq!((progress.rows, progress.artifacts), (2, 1));
}
