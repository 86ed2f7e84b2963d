//! The scheduler survives: an unreadable definition or a storage outage during a tick
//! is reported and retried, and the other exports keep running.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use datafusion_export::continuous::scheduler::Scheduler;
use datafusion_export::continuous::ContinuousSettings;
use datafusion_export::tables::log::action::Action;
use datafusion_export::tables::{Database, DatabaseOptions, ManualClock};
use datafusion_export::Engine;
use datafusion_export_integration_tests::fault_store::{CallKind, Fault, FaultStore};
use datafusion_export_integration_tests::{i64_column, id_batch};
use object_store::memory::InMemory;
use object_store::ObjectStore;

async fn engine_on(store: Arc<dyn ObjectStore>) -> Engine {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
    ));
    let db = Database::open_store(store, "db", DatabaseOptions::default().with_clock(clock))
        .await
        .unwrap();
    Engine::with_settings(db, ContinuousSettings::default())
}

async fn exec(engine: &Engine, text: &str) {
    engine
        .execute_collect(text)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
}

async fn with_export(engine: &Engine, out: &std::path::Path) {
    exec(engine, ".create table T (id:long, s:string)").await;
    exec(
        engine,
        &format!(
            ".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{}')",
            out.display()
        ),
    )
    .await;
    exec(
        engine,
        ".create-or-alter continuous-export E to table X <| SELECT id, s FROM T",
    )
    .await;
    engine
        .database()
        .ingest("T", vec![id_batch(&[1, 2, 3])])
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreadable_definition_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_on(Arc::new(InMemory::new())).await;
    with_export(&engine, dir.path()).await;
    // A definition written by a newer (or broken) version that this one cannot read.
    engine
        .database()
        .commit(|_| {
            Ok(vec![Action::PutObject {
                kind: "continuous_export".into(),
                name: "Broken".into(),
                body: serde_json::json!({ "name": "Broken", "from_the_future": true }),
            }])
        })
        .await
        .unwrap();
    let results = Scheduler::new(engine.clone()).tick().await.unwrap();
    let broken = results.iter().find(|(name, _)| name == "Broken").unwrap();
    let message = broken.1.as_ref().unwrap_err().to_string();
    assert!(message.contains("unreadable"), "{message}");
    let e = results.iter().find(|(name, _)| name == "E").unwrap();
    assert_eq!(e.1.as_ref().unwrap().run, Some(1));
    let exported = engine
        .execute_collect(".show continuous-export E exported-artifacts")
        .await
        .unwrap();
    assert_eq!(i64_column(&exported, "NumRecords").iter().sum::<i64>(), 3);
}

#[tokio::test]
async fn a_storage_outage_during_ticks_is_retried_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultStore::new(Arc::new(InMemory::new()));
    let engine = engine_on(faults.clone()).await;
    with_export(&engine, dir.path()).await;
    // The next five reads of the database fail: the first ticks cannot even list the
    // exports.
    faults.arm(CallKind::Get, 1, Fault::Transient(5));
    let mut errors = Vec::new();
    let mut committed = None;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut stop = Some(stop);
    let scheduler = Scheduler::new(engine.clone());
    let running = scheduler.run_until(
        std::time::Duration::from_millis(1),
        async {
            let _ = stopped.await;
        },
        |_, outcome, _| {
            if let Ok(o) = outcome {
                if o.run.is_some() {
                    committed = o.run;
                    if let Some(s) = stop.take() {
                        let _ = s.send(());
                    }
                }
            }
        },
        |e, retry_in| errors.push((e.to_string(), retry_in)),
    );
    tokio::time::timeout(std::time::Duration::from_secs(60), running)
        .await
        .expect("the scheduler recovers within a minute")
        .unwrap();
    assert_eq!(committed, Some(1));
    assert!(!errors.is_empty(), "the outage was reported");
    assert!(
        errors.iter().all(|(e, _)| e.contains("injected fault")),
        "{errors:?}"
    );
    let waits: Vec<_> = errors.iter().map(|(_, w)| *w).collect();
    assert!(
        waits.windows(2).all(|w| w[1] >= w[0]),
        "the waits grow: {waits:?}"
    );
}
