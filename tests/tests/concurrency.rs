//! Cursor order is commit order, under concurrent ingestion from tasks and from two
//! handles on one root (standing in for two processes).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion_export::tables::{Database, DatabaseOptions};
use datafusion_export::Engine;
use datafusion_export_integration_tests::{i64_column, id_batch, InstrumentedStore};
use futures::FutureExt;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_leave_a_gap_a_reader_can_fall_into() {
    let shared: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = InstrumentedStore::new(Arc::clone(&shared));
    let a = Database::open_store(store.clone(), "a", DatabaseOptions::default())
        .await
        .unwrap();
    let b = Database::open_store(Arc::clone(&shared), "b", DatabaseOptions::default())
        .await
        .unwrap();
    a.create_table("T", id_batch(&[0]).schema().as_ref().clone())
        .await
        .unwrap();

    const WRITERS: i64 = 8;
    const PER_WRITER: i64 = 15;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let db = if w % 2 == 0 { a.clone() } else { b.clone() };
        writers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(w as u64);
            let mut receipts = Vec::new();
            for i in 0..PER_WRITER {
                let base = (w * PER_WRITER + i) * 10;
                let ids: Vec<i64> = (0..rng.random_range(1..4)).map(|k| base + k).collect();
                let receipt = db.ingest("T", vec![id_batch(&ids)]).await.unwrap();
                receipts.push((receipt.commit.unwrap().cursor.sequence(), ids));
                if rng.random_bool(0.3) {
                    tokio::task::yield_now().await;
                }
            }
            receipts
        }));
    }

    // A reader on a third handle: whatever cursor N it sees, it must see every
    // commit <= N. Record what it saw; check against the receipts afterwards.
    let reader_db = Database::open_store(Arc::clone(&shared), "reader", DatabaseOptions::default())
        .await
        .unwrap();
    let reader = tokio::spawn(async move {
        let engine = Engine::new(reader_db);
        let mut seen = Vec::new();
        for _ in 0..40 {
            let n = engine.database().refresh().await.unwrap().sequence();
            let batches = engine
                .execute_collect(&format!(
                    "SELECT id FROM T WHERE cursor_before_or_at('{n}')"
                ))
                .await
                .unwrap();
            seen.push((n, i64_column(&batches, "id")));
            tokio::task::yield_now().await;
        }
        seen
    });

    let mut by_cursor: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for w in writers {
        for (cursor, ids) in w.await.unwrap() {
            assert!(
                by_cursor.insert(cursor, ids).is_none(),
                "cursor {cursor} given twice"
            );
        }
    }
    // Cursors are dense: 1 is the table's creation, then one per ingestion.
    let cursors: Vec<u64> = by_cursor.keys().copied().collect();
    assert_eq!(
        cursors,
        (2..2 + (WRITERS * PER_WRITER) as u64).collect::<Vec<_>>()
    );

    for (n, mut ids) in reader.await.unwrap() {
        ids.sort();
        let mut expected: Vec<i64> = by_cursor.range(..=n).flat_map(|(_, v)| v.clone()).collect();
        expected.sort();
        assert_eq!(ids, expected, "reader at cursor {n} saw a different set");
    }

    // Every committed row is visible exactly once, from every handle.
    for db in [&a, &b] {
        let engine = Engine::new(db.clone());
        let mut ids = i64_column(
            &engine.execute_collect("SELECT id FROM T").await.unwrap(),
            "id",
        );
        ids.sort();
        let mut expected: Vec<i64> = by_cursor.values().flatten().copied().collect();
        expected.sort();
        assert_eq!(ids, expected);
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    }
}

#[tokio::test]
async fn a_losing_put_if_absent_retries_with_the_next_cursor() {
    let shared: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = InstrumentedStore::new(Arc::clone(&shared));
    let slow = Database::open_store(store.clone(), "slow", DatabaseOptions::default())
        .await
        .unwrap();
    let fast = Database::open_store(Arc::clone(&shared), "fast", DatabaseOptions::default())
        .await
        .unwrap();
    slow.create_table("T", id_batch(&[0]).schema().as_ref().clone())
        .await
        .unwrap();
    fast.refresh().await.unwrap();

    // When `slow` is about to write commit 2, `fast` commits first.
    let winner = fast.clone();
    let mut armed = true;
    store.set_put_hook(Some(Box::new(move |path| {
        if armed && path.as_ref().starts_with("_log/") && path.as_ref().ends_with("2.json") {
            armed = false;
            let winner = winner.clone();
            Some(
                async move {
                    winner.ingest("T", vec![id_batch(&[100])]).await.unwrap();
                    Ok(())
                }
                .boxed(),
            )
        } else {
            None
        }
    })));

    // (Opening probed put-if-absent: one create lost on purpose.)
    let before = store.counts.lost_creates();
    let receipt = slow.ingest("T", vec![id_batch(&[1])]).await.unwrap();
    assert_eq!(
        store.counts.lost_creates() - before,
        1,
        "the first attempt lost the race"
    );
    assert_eq!(receipt.commit.unwrap().cursor.sequence(), 3);

    let engine = Engine::new(fast.clone());
    let rows = engine
        .execute_collect("SELECT id FROM T WHERE cursor_before_or_at('2')")
        .await
        .unwrap();
    assert_eq!(i64_column(&rows, "id"), vec![100]);
    let mut all = i64_column(
        &engine.execute_collect("SELECT id FROM T").await.unwrap(),
        "id",
    );
    all.sort();
    assert_eq!(all, vec![1, 100]);
}

/// A store that ignores put-if-absent (as some older S3-compatible servers ignore
/// `If-None-Match`): every create overwrites; or, with `read_only`, refuses every put
/// (credentials that may only read).
#[derive(Debug)]
struct IgnoresIfNoneMatch(Arc<dyn ObjectStore>, bool);

impl std::fmt::Display for IgnoresIfNoneMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IgnoresIfNoneMatch")
    }
}

#[async_trait::async_trait]
impl ObjectStore for IgnoresIfNoneMatch {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        payload: object_store::PutPayload,
        mut opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        if self.1 {
            return Err(object_store::Error::PermissionDenied {
                path: location.to_string(),
                source: "read-only credentials".into(),
            });
        }
        opts.mode = object_store::PutMode::Overwrite;
        self.0.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.0.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<
            'static,
            object_store::Result<object_store::path::Path>,
        >,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
        self.0.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.0.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.0.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        to: &object_store::path::Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

#[tokio::test]
async fn a_store_that_ignores_put_if_absent_is_refused_at_open() {
    let store = Arc::new(IgnoresIfNoneMatch(Arc::new(InMemory::new()), false));
    let err = Database::open_store(store, "s3://old-server/db", DatabaseOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s3://old-server/db") && err.contains("put-if-absent"),
        "{err}"
    );
}

#[tokio::test]
async fn read_only_credentials_open_and_query_but_cannot_commit() {
    let shared: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let writer = Database::open_store(Arc::clone(&shared), "db", DatabaseOptions::default())
        .await
        .unwrap();
    writer
        .create_table("T", id_batch(&[1]).schema().as_ref().clone())
        .await
        .unwrap();
    writer.ingest("T", vec![id_batch(&[1, 2])]).await.unwrap();
    let reader = Database::open_store(
        Arc::new(IgnoresIfNoneMatch(shared, true)),
        "db",
        DatabaseOptions::default(),
    )
    .await
    .unwrap();
    let engine = Engine::new(reader.clone());
    let mut ids = i64_column(
        &engine.execute_collect("SELECT id FROM T").await.unwrap(),
        "id",
    );
    ids.sort();
    assert_eq!(ids, vec![1, 2]);
    let err = reader
        .ingest("T", vec![id_batch(&[3])])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("read-only credentials"), "{err}");
}
