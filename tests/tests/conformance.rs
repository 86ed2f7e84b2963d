//! One conformance suite, every backend: the commit log, ingestion, cursor-scoped reads,
//! `.export` in every format, external tables, and continuous export to storage and to
//! Delta — against a local folder, memory, S3 (moto) and Azure Blob Storage (Azurite).
//!
//! The cases are one list (in [`conformance!`]); a backend is one line at the bottom,
//! which expands every case into a test of its own (`conformance::s3::commit_log`, …).
//! Every case works under a fresh prefix, so cases and backends run in parallel.
//!
//! S3 and Azure get their credentials the way a user gives them: from the environment,
//! which the harness sets when it starts the server ([`servers`]), read by
//! `object_store`'s `from_env()` builders for the database root, export URLs, external
//! tables and Delta targets alike. [`explicit_storage_options_win_over_the_environment`]
//! covers the explicit options map.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion_export::tables::{Database, DatabaseOptions};
use datafusion_export::Engine;
use datafusion_export_integration_tests::servers::{self, Cloud};
use datafusion_export_integration_tests::{i64_column, id_batch, string_column};
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Local,
    Memory,
    S3,
    Azure,
}

impl Backend {
    fn cloud(self) -> Option<Cloud> {
        match self {
            Backend::S3 => Some(Cloud::S3),
            Backend::Azure => Some(Cloud::Azure),
            Backend::Local | Backend::Memory => None,
        }
    }
}

/// Where one case of one backend works: a fresh prefix, and how to open it.
struct Place {
    backend: Backend,
    /// The URL (or folder) every path of the case lives under.
    base: String,
    /// The one store of the memory backend, shared by every handle of the case.
    memory: Option<Arc<dyn ObjectStore>>,
    _dir: Option<tempfile::TempDir>,
}

impl Place {
    /// `None` when the backend's server is skipped (`DFEXPORT_SKIP_CLOUD_TESTS=1`).
    fn new(backend: Backend) -> Option<Place> {
        let prefix = format!("conformance-{}", uuid::Uuid::new_v4().simple());
        let (base, memory, dir) = match backend {
            Backend::Local => {
                let dir = tempfile::tempdir().unwrap();
                (dir.path().display().to_string(), None, Some(dir))
            }
            Backend::Memory => {
                let memory: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
                (format!("memory://{prefix}"), Some(memory), None)
            }
            Backend::S3 | Backend::Azure => {
                let server = servers::server_or_skip(backend.cloud().unwrap())?;
                (server.url(&prefix), None, None)
            }
        };
        Some(Place {
            backend,
            base,
            memory,
            _dir: dir,
        })
    }

    /// `base/relative`: a URL (or a local path) on this backend.
    fn url(&self, relative: &str) -> String {
        format!("{}/{relative}", self.base)
    }

    /// A handle on the case's database (`<base>/db`), as a new process would open it.
    async fn engine_with(&self, checkpoint_interval: u64) -> Engine {
        let options = DatabaseOptions {
            checkpoint_interval,
            ..Default::default()
        };
        match &self.memory {
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
        }
    }

    async fn engine(&self) -> Engine {
        self.engine_with(100).await
    }

    /// The store holding `relative`, and its path there.
    fn store(&self, relative: &str) -> (Arc<dyn ObjectStore>, Path) {
        match (&self.memory, self.backend) {
            (Some(memory), _) => (Arc::clone(memory), Path::from(relative)),
            (None, Backend::Local) => (
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(&self.base).unwrap(),
                ),
                Path::from(relative),
            ),
            // As a user's tools would open it: the environment's credentials.
            (None, _) => {
                let url = url::Url::parse(&self.url(relative)).unwrap();
                datafusion_export_tables::cloud_store(&url, &[]).unwrap()
            }
        }
    }

    /// Every file under `relative`, as paths relative to it, sorted.
    async fn files(&self, relative: &str) -> Vec<String> {
        let (store, prefix) = self.store(relative);
        let mut names: Vec<String> = store
            .list(Some(&prefix))
            .map_ok(|meta| {
                let full = meta.location.as_ref().to_string();
                full.strip_prefix(&format!("{}/", prefix.as_ref()))
                    .unwrap_or(&full)
                    .to_string()
            })
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("list {}: {e}", self.url(relative)));
        names.sort();
        names
    }

    /// Writes `body` at `relative`.
    async fn put(&self, relative: &str, body: &str) {
        let (store, path) = self.store(relative);
        store
            .put(&path, body.to_string().into())
            .await
            .unwrap_or_else(|e| panic!("put {}: {e}", self.url(relative)));
    }

    /// `paths` (as `.export` reports them) relative to the folder `relative`, sorted.
    fn relative_paths(&self, paths: &[String], relative: &str) -> Vec<String> {
        let folder = format!("{}/", self.url(relative));
        let mut out: Vec<String> = paths
            .iter()
            .map(|p| {
                p.strip_prefix(&folder)
                    .unwrap_or_else(|| panic!("{p} is not under {folder}"))
                    .to_string()
            })
            .collect();
        out.sort();
        out
    }
}

async fn exec(engine: &Engine, text: &str) -> Vec<RecordBatch> {
    engine
        .execute_collect(text)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// `(id, s)` of every row of a query with those columns, sorted.
async fn rows(engine: &Engine, sql: &str) -> Vec<(i64, String)> {
    let batches = exec(engine, sql).await;
    let mut rows: Vec<(i64, String)> = i64_column(&batches, "id")
        .into_iter()
        .zip(string_column(&batches, "s"))
        .collect();
    rows.sort();
    rows
}

/// The rows [`id_batch`] makes for `ids`.
fn expected(ids: impl IntoIterator<Item = i64>) -> Vec<(i64, String)> {
    let mut rows: Vec<(i64, String)> = ids.into_iter().map(|i| (i, format!("row-{i}"))).collect();
    rows.sort();
    rows
}

/// Ingests `ids` into `table` (one commit); its cursor.
async fn ingest(engine: &Engine, table: &str, ids: std::ops::Range<i64>) -> u64 {
    engine
        .database()
        .ingest(table, vec![id_batch(&ids.collect::<Vec<_>>())])
        .await
        .unwrap()
        .commit
        .unwrap()
        .cursor
        .sequence()
}

fn total_records(batches: &[RecordBatch]) -> i64 {
    i64_column(batches, "NumRecords").iter().sum()
}

/// Commits from two handles, checkpoints, and a third handle opened afterwards.
async fn commit_log(place: &Place) {
    let a = place.engine_with(3).await;
    let b = place.engine_with(3).await;
    exec(&a, ".create table T (id:long, s:string)").await;
    b.database().refresh().await.unwrap();
    let mut cursors = Vec::new();
    for i in 0..6 {
        // Each handle commits after the other's commit, without refreshing first: the
        // put-if-absent log makes it take the next cursor.
        let writer = if i % 2 == 0 { &a } else { &b };
        cursors.push(ingest(writer, "T", i * 10..i * 10 + 10).await);
    }
    assert!(cursors.windows(2).all(|w| w[1] == w[0] + 1), "{cursors:?}");
    // Creating a table that exists is refused, from the handle that did not create it
    // too, and nothing is committed.
    let current = a.database().refresh().await.unwrap();
    for handle in [&a, &b] {
        let err = handle
            .execute_collect(".create table T (id:long, s:string)")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("exists"), "{err}");
    }
    assert_eq!(a.database().refresh().await.unwrap(), current);
    assert_eq!(b.database().refresh().await.unwrap(), current);
    // Seven commits with a checkpoint every three: the log has checkpoints, and a new
    // handle starts from the latest.
    a.database().flush().await;
    b.database().flush().await;
    let log = place.files("db/_log").await;
    assert!(
        log.iter().any(|f| f.ends_with(".checkpoint.json"))
            && log.contains(&"_last_checkpoint".to_string()),
        "no checkpoint in {log:?}"
    );
    let c = place.engine_with(3).await;
    assert_eq!(c.database().current_cursor(), current);
    assert_eq!(rows(&c, "SELECT id, s FROM T").await, expected(0..60));
    let extents = exec(&c, ".show table T extents").await;
    let mut extent_cursors: Vec<u64> = string_column(&extents, "Cursor")
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    extent_cursors.sort();
    assert_eq!(extent_cursors, cursors);
    // The new handle commits after all of them.
    let next = ingest(&c, "T", 60..61).await;
    assert_eq!(next, cursors.last().unwrap() + 1);
}

/// Every way to ingest from a session — Arrow batches, `INSERT INTO`, `.append`,
/// `.set-or-append` (creating the table) — one commit and one extent each, read back
/// exactly, from this handle and from a new one.
async fn ingestion_and_read_back(place: &Place) {
    let e = place.engine().await;
    exec(&e, ".create table T (id:long, s:string)").await;
    let first = ingest(&e, "T", 0..3).await;
    exec(&e, "INSERT INTO T VALUES (3, 'row-3'), (4, 'row-4')").await;
    exec(
        &e,
        ".append T <| SELECT 5 AS id, 'row-5' AS s UNION ALL SELECT 6 AS id, 'row-6' AS s",
    )
    .await;
    exec(&e, ".set-or-append U <| SELECT id, s FROM T WHERE id >= 5").await;
    exec(&e, ".set-or-append U <| SELECT 7 AS id, 'row-7' AS s").await;

    assert_eq!(rows(&e, "SELECT id, s FROM T").await, expected(0..7));
    assert_eq!(rows(&e, "SELECT id, s FROM U").await, expected(5..8));
    // Three ingestions into T, one commit and one extent each, in order; then U's.
    let cursors = |extents: Vec<RecordBatch>| {
        let mut cursors: Vec<u64> = string_column(&extents, "Cursor")
            .iter()
            .map(|c| c.parse().unwrap())
            .collect();
        cursors.sort();
        cursors
    };
    assert_eq!(
        cursors(exec(&e, ".show table T extents").await),
        vec![first, first + 1, first + 2]
    );
    // U's first ingestion created it in the same commit.
    assert_eq!(
        cursors(exec(&e, ".show table U extents").await),
        vec![first + 3, first + 4]
    );
    let tables = exec(&e, ".show tables").await;
    let names = string_column(&tables, "TableName");
    let counts = i64_column(&tables, "RowCount");
    let count = |t: &str| counts[names.iter().position(|n| n == t).unwrap()];
    assert_eq!((count("T"), count("U")), (7, 3));

    let again = place.engine().await;
    assert_eq!(rows(&again, "SELECT id, s FROM T").await, expected(0..7));
    assert_eq!(rows(&again, "SELECT id, s FROM U").await, expected(5..8));
    assert_eq!(
        again.database().current_cursor(),
        e.database().current_cursor()
    );
}

/// `.ingest into` from files on the same backend: a CSV file written by another tool
/// and a Parquet file this engine exported; one commit each.
async fn ingest_from_files(place: &Place) {
    let e = place.engine().await;
    exec(&e, ".create table T (id:long, s:string)").await;
    let first = ingest(&e, "T", 0..3).await;
    place
        .put("incoming/rows.csv", "3,row-3\n4,\"row-4\"\n5,row-5\n")
        .await;
    exec(
        &e,
        &format!(
            ".ingest into table T ('{}') with (format=csv)",
            place.url("incoming/rows.csv")
        ),
    )
    .await;
    let staged = exec(
        &e,
        &format!(
            ".export to parquet ('{}') with (distribution='single') <| SELECT id + 6 AS id, concat('row-', CAST(id + 6 AS VARCHAR)) AS s FROM T WHERE id < 3",
            place.url("staged")
        ),
    )
    .await;
    let staged = string_column(&staged, "Path");
    assert_eq!(staged.len(), 1, "{staged:?}");
    // The format from the file's extension.
    exec(&e, &format!(".ingest into table T ('{}')", staged[0])).await;
    assert_eq!(rows(&e, "SELECT id, s FROM T").await, expected(0..9));
    assert_eq!(e.database().current_cursor().sequence(), first + 2);
    let again = place.engine().await;
    assert_eq!(rows(&again, "SELECT id, s FROM T").await, expected(0..9));
}

/// Cursors scope reads to what was ingested between them.
async fn cursor_scoped_reads(place: &Place) {
    let e = place.engine().await;
    exec(&e, ".create table T (id:long, s:string)").await;
    let c1 = ingest(&e, "T", 0..5).await;
    let c2 = ingest(&e, "T", 5..10).await;
    let c3 = ingest(&e, "T", 10..15).await;
    let scoped = |filter: String| {
        let e = &e;
        async move { rows(e, &format!("SELECT id, s FROM T WHERE {filter}")).await }
    };
    assert_eq!(
        scoped(format!("cursor_after('{c1}')")).await,
        expected(5..15)
    );
    assert_eq!(scoped("cursor_after('')".into()).await, expected(0..15));
    assert_eq!(
        scoped(format!("cursor_after('{c3}')")).await,
        expected(0..0)
    );
    assert_eq!(
        scoped(format!("cursor_before_or_at('{c1}')")).await,
        expected(0..5)
    );
    assert_eq!(
        scoped(format!(
            "cursor_after('{c1}') AND cursor_before_or_at('{c2}')"
        ))
        .await,
        expected(5..10)
    );
    assert_eq!(
        scoped(format!("cursor_after('{c2}') AND id % 2 = 0")).await,
        expected([10, 12, 14])
    );
    let current = string_column(&exec(&e, "SELECT cursor_current() AS c").await, "c");
    assert_eq!(current, vec![c3.to_string()]);
    // Every record has its commit's ingestion time.
    let times = exec(
        &e,
        &format!("SELECT id, ingestion_time() AS t FROM T WHERE cursor_after('{c1}')"),
    )
    .await;
    assert_eq!(datafusion_export_integration_tests::row_count(&times), 10);
    assert!(times
        .iter()
        .all(|b| b.column_by_name("t").unwrap().null_count() == 0));
    // Scoped from another handle, after a reopen.
    let other = place.engine().await;
    assert_eq!(
        rows(
            &other,
            &format!("SELECT id, s FROM T WHERE cursor_after('{c2}')")
        )
        .await,
        expected(10..15)
    );
}

/// `.export` in every format, plain and compressed, to the same backend: the reported
/// artifacts are exactly the files written, and they read back exactly through an
/// external table over the folder.
async fn export_every_format(place: &Place) {
    let e = place.engine().await;
    exec(&e, ".create table T (id:long, s:string)").await;
    ingest(&e, "T", 0..600).await;
    ingest(&e, "T", 600..1000).await;
    let all = expected(0..1000);
    for (n, (format, compressed, properties)) in [
        ("csv", false, ""),
        ("csv", true, ""),
        ("tsv", false, ""),
        ("tsv", true, "compressionType='zstd'"),
        ("json", false, ""),
        ("json", true, ""),
        ("parquet", false, ""),
        ("parquet", true, "compressionType='zstd'"),
    ]
    .into_iter()
    .enumerate()
    {
        let folder = format!("export-{n}-{format}");
        let with = if properties.is_empty() {
            String::new()
        } else {
            format!(" with ({properties})")
        };
        let artifacts = exec(
            &e,
            &format!(
                ".export {}to {format} ('{}'){with} <| SELECT id, s FROM T",
                if compressed { "compressed " } else { "" },
                place.url(&folder)
            ),
        )
        .await;
        let what = format!("{format}, compressed={compressed}{with}");
        assert_eq!(total_records(&artifacts), 1000, "{what}");
        let reported = place.relative_paths(&string_column(&artifacts, "Path"), &folder);
        assert_eq!(place.files(&folder).await, reported, "{what}");
        if compressed && format != "parquet" {
            let extension = if properties.contains("zstd") {
                ".zst"
            } else {
                ".gz"
            };
            assert!(
                reported.iter().all(|p| p.ends_with(extension)),
                "{what}: {reported:?}"
            );
        }
        let name = format!("X{n}");
        // The external table over the folder says how its files are compressed.
        let table_with = match (compressed, properties.is_empty()) {
            (false, _) => String::new(),
            (true, true) => " with (compressed=true)".into(),
            (true, false) => format!(" with (compressed=true, {properties})"),
        };
        exec(
            &e,
            &format!(
                ".create external table {name} (id:long, s:string) kind=storage dataformat={format} ('{}'){table_with}",
                place.url(&folder)
            ),
        )
        .await;
        assert_eq!(
            rows(&e, &format!("SELECT id, s FROM external_table('{name}')")).await,
            all,
            "{what}"
        );
    }
}

/// External tables over the backend: partitioned (hive style, and a `pathformat`),
/// spread over two URLs, written with `.export to table` and read back with
/// `external_table()`, partition columns included; `.show external table` names them.
async fn external_tables(place: &Place) {
    let e = place.engine().await;
    exec(&e, ".create table T (id:long, s:string)").await;
    ingest(&e, "T", 0..200).await;
    exec(
        &e,
        &format!(
            ".create external table H (id:long, s:string) kind=storage partition by (Bucket:long = hash(id, 4)) dataformat=parquet ('{}')",
            place.url("hive")
        ),
    )
    .await;
    exec(
        &e,
        &format!(
            ".create external table P (id:long, s:string) kind=storage partition by (Bucket:long = hash(id, 3)) pathformat = (\"bucket-\" Bucket) dataformat=csv ('{}', '{}')",
            place.url("spread-a"),
            place.url("spread-b")
        ),
    )
    .await;
    for (name, folders, pattern) in [
        ("H", vec!["hive"], "Bucket="),
        ("P", vec!["spread-a", "spread-b"], "bucket-"),
    ] {
        let artifacts = exec(
            &e,
            &format!(".export to table {name} <| SELECT id, s FROM T"),
        )
        .await;
        assert_eq!(total_records(&artifacts), 200, "{name}");
        assert!(string_column(&artifacts, "ExternalTableName")
            .iter()
            .all(|t| t == name));
        let paths = string_column(&artifacts, "Path");
        let mut reported = Vec::new();
        let mut written = Vec::new();
        for folder in &folders {
            let under: Vec<String> = paths
                .iter()
                .filter(|p| p.starts_with(&format!("{}/", place.url(folder))))
                .cloned()
                .collect();
            reported.extend(place.relative_paths(&under, folder));
            written.extend(place.files(folder).await);
        }
        assert_eq!(reported.len(), paths.len(), "{name}: {paths:?}");
        reported.sort();
        written.sort();
        assert_eq!(written, reported, "{name}");
        assert!(
            written.iter().all(|p| p.starts_with(pattern)),
            "{name}: {written:?}"
        );
        assert_eq!(
            rows(&e, &format!("SELECT id, s FROM external_table('{name}')")).await,
            expected(0..200),
            "{name}"
        );
        // The partition column reads back, and agrees with the folder each row is in.
        let buckets = exec(
            &e,
            &format!("SELECT count(DISTINCT Bucket) AS n, min(Bucket) AS lo FROM external_table('{name}')"),
        )
        .await;
        let n = i64_column(&buckets, "n")[0];
        assert!(n > 1 && i64_column(&buckets, "lo")[0] >= 0, "{name}: {n}");
        let shown = exec(&e, &format!(".show external table {name}")).await;
        let shown = format!("{:?}", shown);
        for folder in &folders {
            assert!(shown.contains(&place.url(folder)), "{name}: {shown}");
        }
    }
}

/// Continuous export to a partitioned storage external table: two runs, then one with
/// nothing new; reported artifacts are exactly the files, the rows exactly the ingested.
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
    // Ingested before the export exists: not exported (its StartCursor is after it).
    ingest(&e, "T", 0..10).await;
    exec(
        &e,
        ".create-or-alter continuous-export E to table X <| SELECT id, s FROM T",
    )
    .await;
    ingest(&e, "T", 10..110).await;
    exec(&e, ".run continuous-export E").await;
    ingest(&e, "T", 110..150).await;
    let last = ingest(&e, "T", 150..160).await;
    exec(&e, ".run continuous-export E").await;
    let reported = exec(&e, ".show continuous-export E exported-artifacts").await;
    exec(&e, ".run continuous-export E").await;
    assert_eq!(
        exec(&e, ".show continuous-export E exported-artifacts").await,
        reported,
        "a run with nothing new reports nothing"
    );
    assert_eq!(total_records(&reported), 150);
    assert!(string_column(&reported, "ExternalTableName")
        .iter()
        .all(|t| t == "X"));
    assert_eq!(
        place.files("cx").await,
        place.relative_paths(&string_column(&reported, "Path"), "cx")
    );
    assert_eq!(
        rows(&e, "SELECT id, s FROM external_table('X')").await,
        expected(10..160)
    );
    // The export is at the last ingestion (its run records are commits of their own).
    let shown = exec(&e, ".show continuous-export E").await;
    assert_eq!(
        string_column(&shown, "ExportCursor"),
        vec![last.to_string()]
    );
}

/// Continuous export to Delta tables — one unpartitioned, one partitioned — two runs
/// each, read back; the reported artifacts are exactly the table's data files.
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
        &format!(
            ".create external table DP (id:long, s:string, Region:string) kind=delta partition by (Region:string) ('{}')",
            place.url("delta-partitioned")
        ),
    )
    .await;
    exec(
        &e,
        ".create-or-alter continuous-export E to table D <| SELECT id, s FROM T",
    )
    .await;
    exec(
        &e,
        ".create-or-alter continuous-export F to table DP <| SELECT id, s, CASE WHEN id % 2 = 0 THEN 'EU' ELSE 'US' END AS Region FROM T",
    )
    .await;
    ingest(&e, "T", 0..100).await;
    exec(&e, ".run continuous-export E").await;
    exec(&e, ".run continuous-export F").await;
    ingest(&e, "T", 100..120).await;
    exec(&e, ".run continuous-export E").await;
    exec(&e, ".run continuous-export F").await;
    exec(&e, ".run continuous-export E").await;
    for (export, table, folder) in [("E", "D", "delta"), ("F", "DP", "delta-partitioned")] {
        let reported = exec(
            &e,
            &format!(".show continuous-export {export} exported-artifacts"),
        )
        .await;
        assert_eq!(total_records(&reported), 120, "{export}");
        let data_files: Vec<String> = place
            .files(folder)
            .await
            .into_iter()
            .filter(|f| !f.starts_with("_delta_log/"))
            .collect();
        assert_eq!(
            data_files,
            place.relative_paths(&string_column(&reported, "Path"), folder),
            "{export}"
        );
        assert_eq!(
            rows(&e, &format!("SELECT id, s FROM external_table('{table}')")).await,
            expected(0..120),
            "{export}"
        );
    }
    // The partitioned table's files are in Region folders, and its rows in the right one.
    let regions = exec(
        &e,
        "SELECT Region, count(*) AS n, sum(id % 2) AS odd FROM external_table('DP') GROUP BY Region ORDER BY Region",
    )
    .await;
    assert_eq!(string_column(&regions, "Region"), vec!["EU", "US"]);
    assert_eq!(i64_column(&regions, "n"), vec![60, 60]);
    assert_eq!(i64_column(&regions, "odd"), vec![0, 60]);
    assert!(place
        .files("delta-partitioned")
        .await
        .iter()
        .filter(|f| !f.starts_with("_delta_log/"))
        .all(|f| f.starts_with("Region=EU/") || f.starts_with("Region=US/")));
}

/// Runs `case` on a fresh place of `backend`; a failure names the backend and the case.
async fn run_case<F>(backend: Backend, name: &str, case: impl FnOnce(Place) -> F)
where
    F: std::future::Future<Output = ()>,
{
    let Some(place) = Place::new(backend) else {
        eprintln!(
            "{backend:?} / {name}: skipped ({}=1)",
            servers::SKIP_VARIABLE
        );
        return;
    };
    let base = place.base.clone();
    let started = std::time::Instant::now();
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(case(place))).await;
    if let Err(panic) = result {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("{backend:?} / {name} (under {base}): {message}");
    }
    eprintln!("{backend:?} / {name}: ok in {:?}", started.elapsed());
}

/// Every case of the suite, for one backend: `conformance!(name, Backend::X);` makes the
/// module `name` with one test per case.
macro_rules! conformance {
    ($name:ident, $backend:expr) => {
        conformance!(@cases $name, $backend,
            commit_log,
            ingestion_and_read_back,
            ingest_from_files,
            cursor_scoped_reads,
            export_every_format,
            external_tables,
            continuous_to_storage,
            continuous_to_delta,
        );
    };
    (@cases $name:ident, $backend:expr, $($case:ident,)*) => {
        mod $name {
            use super::{run_case, Backend};
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    run_case($backend, stringify!($case), |place| async move {
                        super::$case(&place).await
                    })
                    .await;
                }
            )*
        }
    };
}

conformance!(local, Backend::Local);
conformance!(memory, Backend::Memory);
conformance!(s3, Backend::S3);
conformance!(azure, Backend::Azure);

/// Storage options given explicitly (`DatabaseOptions { storage_options, .. }`, the CLI's
/// `--storage-option`) are used, and win over the environment: the right ones open the
/// database; a wrong key (Azure) or endpoint (S3) in them fails although the
/// environment is right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_storage_options_win_over_the_environment() {
    for cloud in [Cloud::S3, Cloud::Azure] {
        let Some(server) = servers::server_or_skip(cloud) else {
            return;
        };
        let root = server.unique_url("options");
        let open = |storage_options: Vec<(String, String)>| {
            let root = format!("{root}/db");
            async move {
                Engine::open_with(
                    &root,
                    DatabaseOptions {
                        storage_options,
                        ..Default::default()
                    },
                )
                .await
            }
        };
        let e = open(server.storage_options()).await.unwrap();
        exec(&e, ".create table T (id:long, s:string)").await;
        ingest(&e, "T", 0..3).await;
        exec(
            &e,
            &format!(".export to csv ('{root}/out') <| SELECT id, s FROM T"),
        )
        .await;

        // A refusing server answers every request with 403 at once (no retries).
        let refusing = refusing_server();
        let mut wrong = server.storage_options();
        for (key, value) in &mut wrong {
            match (cloud, key.as_str()) {
                (Cloud::S3, "aws_endpoint") => *value = refusing.clone(),
                (Cloud::Azure, "azure_storage_account_key") => {
                    *value = "d3Jvbmcga2V5IGZvciB0aGUgdGVzdA==".into()
                }
                _ => {}
            }
        }
        if cloud == Cloud::Azure {
            // The emulator switch of the environment would ignore the endpoint option,
            // not the key: turn it off to see the key used.
            wrong.push(("azure_storage_use_emulator".into(), "false".into()));
        }
        let Err(err) = open(wrong).await else {
            panic!("{cloud:?}: wrong storage options opened the database");
        };
        let err = err.to_string();
        assert!(
            err.contains("403")
                || err.to_ascii_lowercase().contains("forbidden")
                || err.contains("authenticat"),
            "{cloud:?}: {err}"
        );
        assert!(!err.contains(servers::AZURITE_KEY), "{err}");
        // The right options again, from a new handle: the data is there.
        let again = open(server.storage_options()).await.unwrap();
        assert_eq!(rows(&again, "SELECT id, s FROM T").await, expected(0..3));
    }
}

/// An HTTP server on 127.0.0.1 that answers every request with 403 Forbidden; its URL.
fn refusing_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 8192];
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
            let _ = stream.read(&mut buffer);
            let body = "<Error><Code>AccessDenied</Code><Message>refused</Message></Error>";
            let _ = write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}
