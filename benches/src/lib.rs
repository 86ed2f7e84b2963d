//! Shared fixtures of the datafusion-export benchmarks.
//!
//! Both criterion benches (`benches/ingest.rs`, `benches/scoped_scan.rs`) and the
//! `bench_report` binary use these helpers, so that they measure exactly the same
//! data and the same code paths:
//!
//! * **ingest**: 1,000,000 fixed-seed rows (`id`, `name`, `value`, `ts`) in batches of
//!   8,192 rows, written either as one raw Parquet file with
//!   [`extent_writer_properties`] (the baseline) or ingested into a fresh
//!   local-folder [`Database`] as one commit.
//! * **scoped_scan**: a local-folder database whose table `T` holds 1,000 extents of
//!   1,000 rows (one ingestion each); the same aggregate query runs over the whole
//!   table and over the newest 1% (`cursor_after` the 990th ingestion).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::TimeUnit;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion_export::udfs::Cursor;
use datafusion_export::Engine;
use datafusion_export_tables::{extent_writer_properties, Database};
use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

/// Boxed error of the bench helpers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result of the bench helpers.
pub type Result<T> = std::result::Result<T, BoxError>;

// ---------------------------------------------------------------------------------
// Ingest
// ---------------------------------------------------------------------------------

/// Rows of the ingest benchmark.
pub const INGEST_ROWS: usize = 1_000_000;
/// Rows per record batch of the ingest benchmark.
pub const INGEST_BATCH_ROWS: usize = 8_192;
/// Seed of the ingest data.
pub const INGEST_SEED: u64 = 0x1D6E_5700;
/// Table the ingest benchmark ingests into.
pub const INGEST_TABLE: &str = "T";

/// `id:Int64, name:Utf8, value:Float64, ts:Timestamp(ns, "UTC")`, all nullable, as
/// the database stores every column, so that ingestion does not have to rebuild
/// batches just to change nullability.
pub fn ingest_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
    ]))
}

/// `rows` fixed-seed rows of [`ingest_schema`] in batches of `batch_rows`.
pub fn ingest_batches(rows: usize, batch_rows: usize, seed: u64) -> Vec<RecordBatch> {
    let schema = ingest_schema();
    let mut rng = StdRng::seed_from_u64(seed);
    // 2024-01-01T00:00:00Z; rows are about a millisecond apart, with jitter.
    let base_ns: i64 = 1_704_067_200_000_000_000;
    let mut batches = Vec::with_capacity(rows.div_ceil(batch_rows.max(1)));
    let mut start = 0usize;
    while start < rows {
        let n = batch_rows.min(rows - start);
        let ids: Int64Array = (0..n)
            .map(|_| Some(rng.random_range(0..1_000_000_000_000i64)))
            .collect();
        let names: StringArray = (0..n)
            .map(|_| Some(random_string(&mut rng, 4, 12)))
            .collect();
        let values: Float64Array = (0..n).map(|_| Some(rng.random_range(-1e6..1e6))).collect();
        let ts: TimestampNanosecondArray = (0..n)
            .map(|i| {
                let row = (start + i) as i64;
                Some(base_ns + row * 1_000_000 + rng.random_range(0..1_000_000i64))
            })
            .collect::<TimestampNanosecondArray>()
            .with_timezone("UTC");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(ids),
            Arc::new(names),
            Arc::new(values),
            Arc::new(ts),
        ];
        batches.push(RecordBatch::try_new(Arc::clone(&schema), columns).expect("valid batch"));
        start += n;
    }
    batches
}

/// The ingest benchmark's data: [`INGEST_ROWS`] rows in [`INGEST_BATCH_ROWS`]-row batches.
pub fn default_ingest_batches() -> Vec<RecordBatch> {
    ingest_batches(INGEST_ROWS, INGEST_BATCH_ROWS, INGEST_SEED)
}

fn random_string(rng: &mut StdRng, min: usize, max: usize) -> String {
    let len = rng.random_range(min..=max);
    (0..len).map(|_| rng.sample(Alphanumeric) as char).collect()
}

/// The baseline: writes `batches` as one Parquet file `dir/raw.parquet` with the
/// extents' writer properties; returns the file's size in bytes.
pub fn write_raw_parquet(dir: &Path, batches: &[RecordBatch]) -> Result<u64> {
    let schema = batches.first().map_or_else(ingest_schema, |b| b.schema());
    let file = File::create(dir.join("raw.parquet"))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(extent_writer_properties()))?;
    for batch in batches {
        writer.write(batch)?;
    }
    let file = writer.into_inner()?;
    Ok(file.metadata()?.len())
}

/// A fresh local-folder database in a new temporary folder, with the (empty) ingest
/// table created.
pub async fn fresh_ingest_database() -> Result<(TempDir, Database)> {
    let dir = tempfile::tempdir()?;
    let db = Database::open(path_str(dir.path())?).await?;
    db.create_table(INGEST_TABLE, ingest_schema().as_ref().clone())
        .await?;
    Ok((dir, db))
}

/// Ingests `batches` into the ingest table as one commit; checks the receipt.
pub async fn database_ingest(db: &Database, batches: Vec<RecordBatch>) -> Result<()> {
    let expected: usize = batches.iter().map(|b| b.num_rows()).sum();
    let receipt = db.ingest(INGEST_TABLE, batches).await?;
    if receipt.rows as usize != expected || receipt.commit.is_none() {
        return Err(format!("ingested {receipt:?}, expected {expected} rows").into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Scoped scan
// ---------------------------------------------------------------------------------

/// Ingestions (= extents) of the scoped-scan table.
pub const SCAN_INGESTIONS: usize = 1_000;
/// Rows per ingestion of the scoped-scan table.
pub const SCAN_ROWS_PER_INGESTION: usize = 1_000;
/// The scoped query reads what was ingested after this ingestion (1-based).
pub const SCAN_SCOPE_AFTER_INGESTION: usize = 990;
/// Seed of the scoped-scan data.
pub const SCAN_SEED: u64 = 0x5C0_9ED;
/// Table of the scoped-scan benchmark.
pub const SCAN_TABLE: &str = "T";

/// The aggregate both scans run.
pub const FULL_SCAN_SQL: &str = "SELECT count(*), sum(v), max(s) FROM T";

/// The scoped variant of [`FULL_SCAN_SQL`].
pub fn scoped_scan_sql(after: Cursor) -> String {
    format!("{FULL_SCAN_SQL} WHERE cursor_after('{after}')")
}

/// `id long, v double, s string`.
pub fn scan_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("v", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]))
}

fn scan_batch(rng: &mut StdRng, first_id: i64, rows: usize) -> RecordBatch {
    let ids: Int64Array = (0..rows as i64).map(|i| Some(first_id + i)).collect();
    let v: Float64Array = (0..rows)
        .map(|_| Some(rng.random_range(0.0..1000.0)))
        .collect();
    let s: StringArray = (0..rows).map(|_| Some(random_string(rng, 4, 16))).collect();
    RecordBatch::try_new(scan_schema(), vec![Arc::new(ids), Arc::new(v), Arc::new(s)])
        .expect("valid batch")
}

/// The scoped-scan database, built once.
pub struct ScanFixture {
    /// The database (keeps working as long as the fixture lives).
    pub db: Database,
    /// The cursor of the [`SCAN_SCOPE_AFTER_INGESTION`]th ingestion.
    pub scope_after: Cursor,
    /// How long building took.
    pub build_time: Duration,
    /// The database's folder (deleted when the fixture is dropped).
    pub dir: TempDir,
}

impl ScanFixture {
    /// Creates `T` in a new local-folder database and fills it with
    /// [`SCAN_INGESTIONS`] ingestions of [`SCAN_ROWS_PER_INGESTION`] rows.
    pub async fn build() -> Result<Self> {
        let started = Instant::now();
        let dir = tempfile::tempdir()?;
        let db = Database::open(path_str(dir.path())?).await?;
        db.create_table(SCAN_TABLE, scan_schema().as_ref().clone())
            .await?;
        let mut rng = StdRng::seed_from_u64(SCAN_SEED);
        let mut scope_after = None;
        for i in 0..SCAN_INGESTIONS {
            let first_id = (i * SCAN_ROWS_PER_INGESTION) as i64;
            let batch = scan_batch(&mut rng, first_id, SCAN_ROWS_PER_INGESTION);
            let receipt = db.ingest(SCAN_TABLE, [batch]).await?;
            if receipt.extents != 1 {
                return Err(format!("ingestion {i} made {receipt:?}, expected one extent").into());
            }
            if i + 1 == SCAN_SCOPE_AFTER_INGESTION {
                let commit = receipt.commit.ok_or("the ingestion made no commit")?;
                scope_after = Some(commit.cursor);
            }
        }
        Ok(Self {
            db,
            scope_after: scope_after.ok_or("too few ingestions")?,
            build_time: started.elapsed(),
            dir,
        })
    }

    /// An engine (one session) over the fixture's database.
    pub fn engine(&self) -> Engine {
        Engine::new(self.db.clone())
    }

    /// The scoped query.
    pub fn scoped_sql(&self) -> String {
        scoped_scan_sql(self.scope_after)
    }
}

/// Rows expected from the full scan.
pub const fn full_scan_rows() -> u64 {
    (SCAN_INGESTIONS * SCAN_ROWS_PER_INGESTION) as u64
}

/// Rows expected from the scoped scan.
pub const fn scoped_scan_rows() -> u64 {
    ((SCAN_INGESTIONS - SCAN_SCOPE_AFTER_INGESTION) * SCAN_ROWS_PER_INGESTION) as u64
}

/// The result of the aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanResult {
    /// `count(*)`.
    pub count: u64,
    /// `sum(v)`.
    pub sum: f64,
    /// `max(s)`.
    pub max: Option<String>,
}

/// Runs `sql` (one of the two scans) through `engine` and returns the batches.
pub async fn run_scan(engine: &Engine, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(engine.execute_collect(sql).await?)
}

/// Reads the one row of the aggregate.
pub fn scan_result(batches: &[RecordBatch]) -> Result<ScanResult> {
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or("the aggregate returned no row")?;
    if batch.num_columns() != 3 {
        return Err(format!("expected 3 columns, got {}", batch.schema()).into());
    }
    let count = batch
        .column(0)
        .as_primitive_opt::<Int64Type>()
        .ok_or("count(*) is not Int64")?
        .value(0) as u64;
    let sum = batch
        .column(1)
        .as_primitive_opt::<Float64Type>()
        .ok_or("sum(v) is not Float64")?
        .value(0);
    let s = batch.column(2);
    let max = match s.data_type() {
        DataType::Utf8 => s
            .as_string::<i32>()
            .is_valid(0)
            .then(|| s.as_string::<i32>().value(0).to_string()),
        DataType::LargeUtf8 => s
            .as_string::<i64>()
            .is_valid(0)
            .then(|| s.as_string::<i64>().value(0).to_string()),
        DataType::Utf8View => s
            .as_string_view()
            .is_valid(0)
            .then(|| s.as_string_view().value(0).to_string()),
        other => return Err(format!("max(s) is {other}").into()),
    };
    Ok(ScanResult { count, sum, max })
}

/// Runs both scans once and checks that they count what the fixture holds, so that
/// a benchmark cannot silently measure an empty scan.
pub async fn check_scans(
    fixture: &ScanFixture,
    engine: &Engine,
) -> Result<(ScanResult, ScanResult)> {
    let full = scan_result(&run_scan(engine, FULL_SCAN_SQL).await?)?;
    let scoped = scan_result(&run_scan(engine, &fixture.scoped_sql()).await?)?;
    if full.count != full_scan_rows() {
        return Err(format!(
            "full scan counted {} rows, expected {}",
            full.count,
            full_scan_rows()
        )
        .into());
    }
    if scoped.count != scoped_scan_rows() {
        return Err(format!(
            "scoped scan counted {} rows, expected {}",
            scoped.count,
            scoped_scan_rows()
        )
        .into());
    }
    Ok((full, scoped))
}

// ---------------------------------------------------------------------------------
// Misc
// ---------------------------------------------------------------------------------

/// A tokio multi-thread runtime with every driver enabled.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The median of `samples` (sorted copy; mean of the middle two for even counts).
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| format!("temporary path {} is not UTF-8", path.display()).into())
}
