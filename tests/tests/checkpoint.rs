//! The log is checkpointed: opening a long-lived database reads a handful of
//! objects, not every commit.

use std::sync::Arc;

use datafusion_export::tables::log::action::{Action, ExtentFile};
use datafusion_export::tables::{Database, DatabaseOptions};
use datafusion_export_integration_tests::{id_batch, InstrumentedStore};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_ten_thousand_commits_reads_few_log_objects() {
    let shared: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let db = Database::open_store(Arc::clone(&shared), "db", DatabaseOptions::default())
        .await
        .unwrap();
    db.create_table("T", id_batch(&[0]).schema().as_ref().clone())
        .await
        .unwrap();
    let receipt = db.ingest("T", vec![id_batch(&[1])]).await.unwrap();
    assert!(receipt.commit.is_some());
    let file = db.extents("T").await.unwrap()[0].file.clone();
    let table_id = db.state().table("T").unwrap().id;
    // 10,000 commits in all, each adding one (metadata-only) extent.
    for _ in 2..10_000 {
        db.commit(|_| {
            Ok(vec![Action::AddExtents {
                table_id,
                extents: vec![ExtentFile {
                    id: Uuid::new_v4(),
                    ..file.clone()
                }],
            }])
        })
        .await
        .unwrap();
    }
    assert_eq!(db.current_cursor().sequence(), 10_000);
    // Checkpoints are written in the background, at most one at a time: the newest is
    // at most two intervals behind.
    db.flush().await;
    let pointer = shared
        .get(&Path::from("_log/_last_checkpoint"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let checkpointed: u64 = serde_json::from_slice::<serde_json::Value>(&pointer).unwrap()
        ["version"]
        .as_u64()
        .unwrap();
    assert!(checkpointed >= 10_000 - 200, "checkpoint {checkpointed}");

    let counted = InstrumentedStore::new(Arc::clone(&shared));
    let reopened = Database::open_store(counted.clone(), "db", DatabaseOptions::default())
        .await
        .unwrap();
    assert_eq!(reopened.current_cursor().sequence(), 10_000);
    assert_eq!(*reopened.state(), *db.state());
    // The pointer, the checkpoint, the probe and the commits after the checkpoint.
    let bound = 5 + (10_000 - checkpointed) as usize;
    assert!(
        counted.counts.gets() <= bound,
        "opening read {} objects (bound {bound})",
        counted.counts.gets()
    );
    assert_eq!(counted.counts.lists(), 0);
}

#[tokio::test]
async fn a_lost_checkpoint_pointer_still_opens_correctly() {
    let shared: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let options = DatabaseOptions {
        checkpoint_interval: 10,
        ..Default::default()
    };
    let db = Database::open_store(Arc::clone(&shared), "db", options.clone())
        .await
        .unwrap();
    db.create_table("T", id_batch(&[0]).schema().as_ref().clone())
        .await
        .unwrap();
    for i in 0..25 {
        db.ingest("T", vec![id_batch(&[i])]).await.unwrap();
    }
    db.flush().await;
    shared
        .delete(&Path::from("_log/_last_checkpoint"))
        .await
        .unwrap();
    let counted = InstrumentedStore::new(Arc::clone(&shared));
    let reopened = Database::open_store(counted.clone(), "db", options)
        .await
        .unwrap();
    assert_eq!(*reopened.state(), *db.state());
    assert_eq!(counted.counts.lists(), 1, "falls back to one listing");
    // From checkpoint 20 (or a later one, as checkpoints are written in the
    // background): commits 21..=26 and one miss, plus the pointer and checkpoint.
    assert!(counted.counts.gets() <= 10, "{}", counted.counts.gets());
}
