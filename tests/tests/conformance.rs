//! One conformance suite, every backend: the commit log, ingestion, cursor-scoped
//! reads, `.export` in every format, external-table read-back, and continuous export to
//! storage and to Delta, against a local folder, memory, S3 (moto) and Azure Blob
//! Storage (Azurite). A backend is one line at the bottom; the cases are one list.

use std::sync::Arc;

use datafusion_export::tables::{Database, DatabaseOptions};
use datafusion_export::Engine;
use datafusion_export_integration_tests::servers;
use datafusion_export_integration_tests::{i64_column, id_batch, string_column};
use futures::future::BoxFuture;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Local,
    Memory,
    S3,
    Azure,
}

/// Where one case of one backend works: a fresh prefix, and how to open it.
struct Place {
    backend: Backend,
    /// The URL (or folder) every path of the case lives under.
    base: String,
    storage_options: Vec<(String, String)>,
    memory: Option<Arc<dyn ObjectStore>>,
    _dir: Option<tempfile::TempDir>,
}

impl Place {
    fn new(backend: Backend) -> Place {
        let prefix = format!("conformance-{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Local => {
                let dir = tempfile::tempdir().unwrap();
                Place {
                    backend,
                    base: dir.path().display().to_string(),
                    storage_options: Vec::new(),
                    memory: None,
                    _dir: Some(dir),
                }
            }
            Backend::Memory => Place {
                backend,
                base: format!("memory://{prefix}"),
                storage_options: Vec::new(),
                memory: Some(Arc::new(InMemory::new())),
                _dir: None,
            },
            Backend::S3 | Backend::Azure => {
                let server = if backend == Backend::S3 {
                    servers::s3()
                } else {
                    servers::azure()
                };
                Place {
                    backend,
                    base: server.url(&prefix),
                    storage_options: server.storage_options(),
                    memory: None,
                    _dir: None,
                }
            }
        }
    }

    fn url(&self, relative: &str) -> String {
        format!("{}/{relative}", self.base)
    }

    /// A handle on the case's database, as a new process would open it.
    async fn engine_with(&self, checkpoint_interval: u64) -> Engine {
        let options = DatabaseOptions {
            storage_options: self.storage_options.clone(),
            checkpoint_interval,
            ..Default::default()
        };
        let engine = match &self.memory {
            // Memory lives in this process: every handle shares one store, which the
            // session also holds under `memory://<prefix>` for export URLs.
            Some(memory) => {
                let db = Database::open_store(
                    Arc::new(PrefixStore::new(Arc::clone(memory), "db")),
                    &self.url("db"),
                    options,
                )
                .await
                .unwrap();
                let engine = Engine::new(db);
                engine.context().register_object_store(
                    &url::Url::parse(&self.base).unwrap(),
                    Arc::clone(memory),
                );
                engine
            }
            None => Engine::open_with(&self.url("db"), options)
                .await
                .unwrap_or_else(|e| panic!("{:?}: open {}: {e}", self.backend, self.url("db"))),
        };
        engine
    }

    async fn engine(&self) -> Engine {
        self.engine_with(100).await
    }
}

async fn exec(engine: &Engine, text: &str) -> Vec<datafusion::arrow::array::RecordBatch> {
    engine
        .execute_collect(text)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

async fn sorted_ids(engine: &Engine, sql: &str) -> Vec<i64> {
    let mut ids = i64_column(&exec(engine, sql).await, "id");
    ids.sort();
    ids
}

async fn ingest(engine: &Engine, ids: std::ops::Range<i64>) -> u64 {
    engine
        .database()
        .ingest("T", vec![id_batch(&ids.collect::<Vec<_>>())])
        .await
        .unwrap()
        .commit
        .unwrap()
        .cursor
        .sequence()
}

/// Commits from two handles, checkpoints, and a third handle opened afterwards.
async fn commit_log(place: &Place) {
    let a = place.engine_with(3).await;
    let b = place.engine_with(3).await;
    exec(&a, ".create table T (id:long, s:string)").await;
    b.database().refresh().await.unwrap();
    for i in 0..5 {
        let writer = if i % 2 == 0 { &a } else { &b };
        ingest(writer, i * 10..i * 10 + 10).await;
    }
    // Creating a table that exists is refused, and nothing is committed.
    let before = a.database().refresh().await.unwrap();
    assert!(a
        .execute_collect(".create table T (id:long, s:string)")
        .await
        .is_err());
    assert_eq!(a.database().refresh().await.unwrap(), before);
    let c = place.engine_with(3).await;
    assert_eq!(c.database().current_cursor(), before);
    assert_eq!(
        sorted_ids(&c, "SELECT id FROM T").await,
        (0..50).collect::<Vec<_>>()
    );
}

/// Cursors scope reads to what was ingested between them.
async fn cursor_scoped_reads(place: &Place) {
    let e = place.engine().await;
    exec(&e, ".create table T (id:long, s:string)").await;
    let c1 = ingest(&e, 0..5).await;
    let c2 = ingest(&e, 5..10).await;
    ingest(&e, 10..15).await;
    assert_eq!(
        sorted_ids(&e, &format!("SELECT id FROM T WHERE cursor_after('{c1}')")).await,
        (5..15).collect::<Vec<_>>()
    );
    assert_eq!(
        sorted_ids(
            &e,
            &format!("SELECT id FROM T WHERE cursor_after('{c1}') AND cursor_before_or_at('{c2}')")
        )
        .await,
        (5..10).collect::<Vec<_>>()
    );
    let current = string_column(&exec(&e, "SELECT cursor_current() AS c").await, "c");
    assert_eq!(current, vec![e.database().current_cursor().to_string()]);
}

/// `.export` in every format (and compressed) to the same backend, read back through
/// an external table over the files.
async fn export_every_format(place: &Place) {
    let e = place.engine().await;
    exec(&e, ".create table T (id:long, s:string)").await;
    ingest(&e, 0..1000).await;
    for (format, compressed) in [
        ("csv", false),
        ("csv", true),
        ("tsv", false),
        ("json", false),
        ("json", true),
        ("parquet", false),
    ] {
        let folder = place.url(&format!("export-{format}-{compressed}"));
        let artifacts = exec(
            &e,
            &format!(
                ".export {}to {format} ('{folder}') <| SELECT id, s FROM T",
                if compressed { "compressed " } else { "" }
            ),
        )
        .await;
        let records: i64 = i64_column(&artifacts, "NumRecords").iter().sum();
        assert_eq!(records, 1000, "{format}");
        for path in string_column(&artifacts, "Path") {
            assert!(path.starts_with(&folder), "{path} is not under {folder}");
        }
        let name = format!("X_{format}_{compressed}");
        exec(
            &e,
            &format!(
                ".create external table {name} (id:long, s:string) kind=storage dataformat={format} ('{folder}'){}",
                if compressed { " with (compressed=true)" } else { "" }
            ),
        )
        .await;
        assert_eq!(
            sorted_ids(&e, &format!("SELECT id FROM external_table('{name}')")).await,
            (0..1000).collect::<Vec<_>>(),
            "{format}, compressed={compressed}"
        );
    }
}

/// Continuous export to a partitioned storage external table, two runs.
async fn continuous_to_storage(place: &Place) {
    let e = place.engine().await;
    exec(&e, ".create table T (id:long, s:string)").await;
    exec(
        &e,
        &format!(
            ".create external table X (id:long, s:string) kind=storage partition by (Bucket:long = hash(id, 4)) dataformat=parquet ('{}')",
            place.url("cx")
        ),
    )
    .await;
    exec(
        &e,
        ".create-or-alter continuous-export E to table X <| SELECT id, s FROM T",
    )
    .await;
    ingest(&e, 0..100).await;
    exec(&e, ".run continuous-export E").await;
    ingest(&e, 100..150).await;
    exec(&e, ".run continuous-export E").await;
    let reported = exec(&e, ".show continuous-export E exported-artifacts").await;
    assert_eq!(i64_column(&reported, "NumRecords").iter().sum::<i64>(), 150);
    assert_eq!(
        sorted_ids(&e, "SELECT id FROM external_table('X')").await,
        (0..150).collect::<Vec<_>>()
    );
}

/// Continuous export to a Delta table, two runs, read back.
async fn continuous_to_delta(place: &Place) {
    let e = place.engine().await;
    exec(&e, ".create table T (id:long, s:string)").await;
    exec(
        &e,
        &format!(
            ".create external table D (id:long, s:string) kind=delta ('{}')",
            place.url("delta")
        ),
    )
    .await;
    exec(
        &e,
        ".create-or-alter continuous-export E to table D <| SELECT id, s FROM T",
    )
    .await;
    ingest(&e, 0..100).await;
    exec(&e, ".run continuous-export E").await;
    ingest(&e, 100..120).await;
    exec(&e, ".run continuous-export E").await;
    let reported = exec(&e, ".show continuous-export E exported-artifacts").await;
    assert_eq!(i64_column(&reported, "NumRecords").iter().sum::<i64>(), 120);
    assert_eq!(
        sorted_ids(&e, "SELECT id FROM external_table('D')").await,
        (0..120).collect::<Vec<_>>()
    );
}

type Case = for<'a> fn(&'a Place) -> BoxFuture<'a, ()>;

/// The suite: every case, in order.
const CASES: [(&str, Case); 5] = [
    ("commit log", |p| Box::pin(commit_log(p))),
    ("cursor-scoped reads", |p| Box::pin(cursor_scoped_reads(p))),
    ("export every format", |p| Box::pin(export_every_format(p))),
    ("continuous to storage", |p| {
        Box::pin(continuous_to_storage(p))
    }),
    ("continuous to Delta", |p| Box::pin(continuous_to_delta(p))),
];

async fn run_suite(backend: Backend) {
    if matches!(backend, Backend::S3 | Backend::Azure) && servers::s3_or_skip().is_none() {
        eprintln!("{backend:?}: skipped (DFEXPORT_SKIP_CLOUD_TESTS=1)");
        return;
    }
    for (name, case) in CASES {
        let place = Place::new(backend);
        let started = std::time::Instant::now();
        // A panic names the backend and the case.
        let result =
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(case(&place))).await;
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{backend:?} / {name}: {message}");
        }
        eprintln!("{backend:?} / {name}: ok in {:?}", started.elapsed());
    }
}

macro_rules! conformance {
    ($name:ident, $backend:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            run_suite($backend).await;
        }
    };
}

conformance!(local, Backend::Local);
conformance!(memory, Backend::Memory);
conformance!(s3, Backend::S3);
conformance!(azure, Backend::Azure);
