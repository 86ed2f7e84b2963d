//! Support for the end-to-end tests: an instrumented `ObjectStore` that counts
//! requests and injects faults or races, and small helpers.

pub mod clocked_store;
pub mod fault_store;
pub mod fuzz;
pub mod servers;

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Request counters of an [`InstrumentedStore`].
#[derive(Debug, Default)]
pub struct Counts {
    /// `get_opts` / `get_ranges` calls.
    pub gets: AtomicUsize,
    /// `put_opts` calls.
    pub puts: AtomicUsize,
    /// `put` calls with `PutMode::Create` that lost (`AlreadyExists`).
    pub lost_creates: AtomicUsize,
    /// `list*` calls.
    pub lists: AtomicUsize,
}

impl Counts {
    /// GETs so far.
    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
    /// LISTs so far.
    pub fn lists(&self) -> usize {
        self.lists.load(Ordering::SeqCst)
    }
    /// Lost put-if-absent races so far.
    pub fn lost_creates(&self) -> usize {
        self.lost_creates.load(Ordering::SeqCst)
    }
}

/// Runs before a put of a matching path; may return an error to fail the put.
pub type PutHook = Box<dyn FnMut(&Path) -> Option<BoxFuture<'static, Result<()>>> + Send>;

/// An `ObjectStore` wrapper that counts requests and can run a hook before puts
/// (to fail them, or to let a "competing process" win a race first).
pub struct InstrumentedStore {
    inner: Arc<dyn ObjectStore>,
    /// The counters.
    pub counts: Arc<Counts>,
    hook: Mutex<Option<PutHook>>,
}

impl fmt::Debug for InstrumentedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstrumentedStore({})", self.inner)
    }
}

impl fmt::Display for InstrumentedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstrumentedStore({})", self.inner)
    }
}

impl InstrumentedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            counts: Arc::new(Counts::default()),
            hook: Mutex::new(None),
        })
    }

    /// Sets the hook run before every put (`None` clears it).
    pub fn set_put_hook(&self, hook: Option<PutHook>) {
        *self.hook.lock().unwrap() = hook;
    }

    async fn before_put(&self, location: &Path) -> Result<()> {
        let pending = {
            let mut hook = self.hook.lock().unwrap();
            hook.as_mut().and_then(|h| h(location))
        };
        match pending {
            Some(f) => f.await,
            None => Ok(()),
        }
    }
}

/// An injected failure.
pub fn injected_error(location: &Path) -> object_store::Error {
    object_store::Error::Generic {
        store: "InstrumentedStore",
        source: format!("injected failure writing {location}").into(),
    }
}

#[async_trait]
impl ObjectStore for InstrumentedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.counts.puts.fetch_add(1, Ordering::SeqCst);
        self.before_put(location).await?;
        let result = self.inner.put_opts(location, payload, opts).await;
        if matches!(result, Err(object_store::Error::AlreadyExists { .. })) {
            self.counts.lost_creates.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.before_put(location).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.counts.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.counts.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.counts.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.counts.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.counts.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// An in-memory engine whose table `T (id:long, s:string)` holds three ingestions of
/// two rows each: ids 1–6 at cursors 2, 3 and 4.
pub async fn engine_with_three_ingestions() -> datafusion_export::Engine {
    let e = datafusion_export::Engine::in_memory()
        .await
        .expect("an in-memory engine");
    e.execute_collect(".create table T (id:long, s:string)")
        .await
        .expect("create T");
    for ids in [[1, 2], [3, 4], [5, 6]] {
        e.database()
            .ingest("T", vec![id_batch(&ids)])
            .await
            .expect("ingest");
    }
    e
}

/// Ingests `ids` into `table`, `chunk` ids per commit (one extent each).
pub async fn ingest_ids_in_chunks(
    db: &datafusion_export_tables::Database,
    table: &str,
    ids: Range<i64>,
    chunk: usize,
) {
    let ids: Vec<i64> = ids.collect();
    for part in ids.chunks(chunk.max(1)) {
        db.ingest(table, vec![id_batch(part)])
            .await
            .expect("ingest");
    }
}

/// A batch of `(id: long, s: string)` with the given ids.
pub fn id_batch(ids: &[i64]) -> RecordBatch {
    let strings: Vec<String> = ids.iter().map(|i| format!("row-{i}")).collect();
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
        ("s", Arc::new(StringArray::from(strings)) as ArrayRef),
    ])
    .unwrap()
}

/// All values of an Int64 column named `name` across `batches`.
pub fn i64_column(batches: &[RecordBatch], name: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for batch in batches {
        let column = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", batch.schema()));
        let values = column
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap_or_else(|| panic!("column {name} is {}", column.data_type()));
        out.extend(values.iter().flatten());
    }
    out
}

/// The ids (first column, Int64) in the export artifacts at `paths`, read with `reader`
/// (which knows their object stores) as Parquet, or as CSV without a header; sorted.
pub async fn ids_in_files(
    reader: &datafusion::prelude::SessionContext,
    paths: &[String],
    csv: bool,
) -> Vec<i64> {
    let mut out = Vec::new();
    for path in paths {
        let frame = if csv {
            let options = datafusion::prelude::CsvReadOptions::new()
                .has_header(false)
                .file_extension("");
            reader.read_csv(path.as_str(), options).await
        } else {
            let options = datafusion::prelude::ParquetReadOptions::default().file_extension("");
            reader.read_parquet(path.as_str(), options).await
        }
        .unwrap_or_else(|e| panic!("artifact {path} cannot be read: {e}"));
        let batches = frame.collect().await.unwrap();
        if let Some(first) = batches.first() {
            let name = first.schema().field(0).name().clone();
            out.extend(i64_column(&batches, &name));
        }
    }
    out.sort();
    out
}

/// All values of a string column named `name` across `batches`.
pub fn string_column(batches: &[RecordBatch], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for batch in batches {
        let column = datafusion::arrow::compute::cast(
            batch
                .column_by_name(name)
                .unwrap_or_else(|| panic!("no column {name}")),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let values = column.as_any().downcast_ref::<StringArray>().unwrap();
        out.extend(values.iter().map(|v| v.unwrap_or("").to_string()));
    }
    out
}

/// Total rows across `batches`.
pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Runs a Python snippet (the independent reader, pyarrow) and returns its stdout.
/// Panics with an installation hint if Python or pyarrow is missing: CI installs them.
pub fn python(script: &str) -> String {
    // The `deltalake` package can abort the interpreter at exit, after the script has
    // finished, while its runtime threads are torn down ("terminate called without an
    // active exception", delta-io/delta-rs#2184): a script that got to its end leaves
    // at once. An exception still exits with an error, before reaching this line.
    let script =
        format!("{script}\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_os._exit(0)\n");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 is needed for the independent-reader tests (CI installs it)");
    assert!(
        out.status.success(),
        "python failed (pip install pyarrow deltalake?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The sorted multiset of rows of `batches`, each row rendered as text.
pub fn rows_as_text(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in batches {
        for i in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(i) {
                        "NULL".to_string()
                    } else {
                        datafusion::common::ScalarValue::try_from_array(c, i)
                            .map(|v| v.to_string())
                            .unwrap_or_default()
                    }
                })
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}
