//! Artifact writers: one per format, each streaming one artifact (one object)
//! to an [`ObjectStore`].
//!
//! [`open_writer`] returns a boxed [`ArtifactWriter`]; the caller feeds record
//! batches, watches [`ArtifactWriter::uncompressed_bytes`] to roll artifacts at
//! `sizeLimit`, and ends with [`ArtifactWriter::finish`] (or
//! [`ArtifactWriter::abort`] after an error).
//!
//! Memory stays bounded by a batch plus the upload buffers; nothing buffers
//! a whole artifact:
//!
//! * **CSV / TSV / JSON lines**: each batch is serialized (large batches in
//!   parallel slices on the Tokio runtime, so a single writer still uses
//!   several cores), then handed to the upload. With gzip / zstd, compression
//!   runs on a separate task fed through a small bounded channel, so
//!   serializing batch *n+1* overlaps compressing batch *n*.
//! * **Parquet**: every column chunk of the current row group is encoded by
//!   its own task; a finished row group is appended to the file and uploaded.
//!   Columns that look unique in the first 8,192 rows are written without a
//!   dictionary.
//!
//! Uploads go through [`object_store::buffered::BufWriter`]: a single `PUT`
//! for small artifacts, a multipart upload (10 MiB parts, several in flight)
//! for larger ones.
//!
//! Text conventions:
//! * CSV follows RFC 4180: a field containing the delimiter, a quote, CR or LF
//!   is quoted and its quotes are doubled; backslashes are written as is;
//!   records end with LF; nulls are empty fields. TSV is the same with a tab.
//! * Timestamps are ISO 8601 in UTC with a `Z` suffix
//!   (`2026-11-20T08:00:00Z`, `2026-11-20T08:00:00.250Z`): fractional seconds
//!   only when non-zero, with 3, 6 or 9 digits.
//! * Durations are Kusto timespans: `[-][d.]hh:mm:ss[.fffffff]`.
//! * JSON lines carry **explicit nulls** (`"col":null`), so every line has every
//!   column and readers that infer a schema see all columns.
//! * Nested values (lists, structs, maps) are JSON text in CSV/TSV and native
//!   JSON in JSON lines.

mod compress;
mod csv;
mod dictionary;
mod json;
mod parquet;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use datafusion::arrow::array::{make_array, Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{
    DataType, DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
    DurationSecondType, Field, Schema, SchemaRef, TimeUnit,
};
use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::command::DataFormat;
use crate::error::{ExportError, Result};

use super::options::{Compression, ExportOptions};

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `chrono` format of time-zone-less timestamps nested in lists or structs
/// (top-level timestamp columns are relabelled as UTC and printed by Arrow's
/// RFC 3339 fast path, which gives the same text).
pub(crate) const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.fZ";

/// The time zone top-level timestamps are printed in.
const UTC_OFFSET: &str = "+00:00";

/// How one artifact is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterSettings {
    /// The data format.
    pub format: DataFormat,
    /// Stream compression for text formats; the column codec for Parquet.
    /// Snappy is refused for text formats.
    pub compression: Compression,
    /// CSV/TSV: start with a header line (ignored for JSON and Parquet).
    pub include_header: bool,
    /// Text formats: start with the UTF-8 BOM (ignored for Parquet).
    pub bom: bool,
    /// Parquet: rows per row group (at least 1).
    pub parquet_row_group_size: usize,
}

impl WriterSettings {
    /// Settings for the artifact with 0-based sequence number
    /// `artifact_index` (which decides the header for `includeHeaders=firstFile`).
    pub fn from_options(
        options: &ExportOptions,
        format: DataFormat,
        artifact_index: usize,
    ) -> Self {
        WriterSettings {
            format,
            compression: options.compression,
            include_header: options.include_headers.for_artifact(artifact_index),
            bom: options.bom(),
            parquet_row_group_size: options.parquet_row_group_size,
        }
    }
}

/// Writes one artifact.
///
/// After an error from [`write`](Self::write), call [`abort`](Self::abort).
/// Dropping a writer without `finish` or `abort` abandons the upload (a
/// multipart upload may then stay behind as an orphan until the store
/// expires it).
#[async_trait::async_trait]
pub trait ArtifactWriter: Send {
    /// Appends a batch (a 0-row batch is a no-op). Its columns must have the
    /// data types of the schema given to [`open_writer`].
    async fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Bytes produced before compression so far (what sizeLimit counts): for text formats the exact
    /// serialized bytes (BOM and header included); for parquet the uncompressed size of flushed row
    /// groups plus the in-progress row group estimate.
    fn uncompressed_bytes(&self) -> u64;
    /// Rows written so far.
    fn rows(&self) -> u64;
    /// Completes the upload; returns the stored size in bytes (after compression).
    async fn finish(self: Box<Self>) -> Result<u64>;
    /// Abandons the artifact (aborts the multipart upload; nothing is left, or at worst an orphan).
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// Opens a writer for one artifact at `path`.
///
/// Fails when the settings do not fit the format (snappy for a text format,
/// a zero row group size) or a Parquet schema cannot be built. Nothing is
/// uploaded before the first write. `write`, `finish` and `abort` spawn
/// Tokio tasks, so they must run within a Tokio runtime (any flavour).
pub fn open_writer(
    store: Arc<dyn ObjectStore>,
    path: Path,
    schema: SchemaRef,
    settings: &WriterSettings,
) -> Result<Box<dyn ArtifactWriter>> {
    let upload = Upload::new(store, path);
    match settings.format {
        DataFormat::Parquet => Ok(Box::new(parquet::ParquetWriter::try_new(
            upload, schema, settings,
        )?)),
        DataFormat::Csv | DataFormat::Tsv | DataFormat::Json => {
            if settings.compression == Compression::Snappy {
                return Err(ExportError::Invalid(format!(
                    "snappy compression is only for parquet, not {}",
                    settings.format
                )));
            }
            let plan = TextPlan::new(&schema, settings.format != DataFormat::Json)?;
            let mut prologue = Vec::new();
            if settings.bom {
                prologue.extend_from_slice(BOM);
            }
            let encoder: Arc<dyn TextEncoder> = match settings.format {
                DataFormat::Json => Arc::new(json::JsonEncoder::new(plan)),
                DataFormat::Tsv => Arc::new(csv::CsvEncoder::new(b'\t', plan)),
                _ => Arc::new(csv::CsvEncoder::new(b',', plan)),
            };
            if settings.include_header && settings.format != DataFormat::Json {
                encoder.header(&mut prologue)?;
            }
            let output = match settings.compression {
                Compression::None => Output::Plain(Box::new(upload)),
                c => Output::Compressed(compress::CompressedOutput::new(c, upload)?),
            };
            Ok(Box::new(TextWriter {
                schema,
                encoder,
                uncompressed: prologue.len() as u64,
                prologue: (!prologue.is_empty()).then_some(prologue),
                body_bytes: 0,
                output: Some(output),
                rows: 0,
            }))
        }
    }
}

// ---------------------------------------------------------------------------
// Upload

/// One object being uploaded, counting the bytes that go out.
pub(super) struct Upload {
    writer: BufWriter,
    bytes: u64,
}

impl Upload {
    fn new(store: Arc<dyn ObjectStore>, path: Path) -> Self {
        Upload {
            writer: BufWriter::new(store, path),
            bytes: 0,
        }
    }

    /// Queues `data` (no copy); waits when too many parts are in flight.
    pub(super) async fn put(&mut self, data: Bytes) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.bytes += data.len() as u64;
        self.writer.put(data).await.map_err(store_error)
    }

    /// Completes the object; returns its size.
    pub(super) async fn finish(mut self) -> Result<u64> {
        use tokio::io::AsyncWrite;
        let writer = &mut self.writer;
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut *writer).poll_shutdown(cx))
            .await
            .map_err(|e| ExportError::DataFusion(DataFusionError::IoError(e)))?;
        Ok(self.bytes)
    }

    /// Abandons the object.
    pub(super) async fn abort(mut self) -> Result<()> {
        self.writer.abort().await.map_err(store_error)
    }
}

fn store_error(e: object_store::Error) -> ExportError {
    ExportError::DataFusion(e.into())
}

pub(super) fn task_error(e: tokio::task::JoinError) -> ExportError {
    ExportError::DataFusion(DataFusionError::Execution(format!(
        "export writer task failed: {e}"
    )))
}

/// Checks that `batch` has the columns of `schema` (names aside).
pub(super) fn check_schema(schema: &Schema, batch: &RecordBatch) -> Result<()> {
    let fields = schema.fields();
    let columns = batch.columns();
    if fields.len() != columns.len() {
        return Err(ExportError::Invalid(format!(
            "export writer: batch has {} columns, the artifact schema has {}",
            columns.len(),
            fields.len()
        )));
    }
    for (field, column) in fields.iter().zip(columns) {
        if field.data_type() != column.data_type() {
            return Err(ExportError::Invalid(format!(
                "export writer: column '{}' is {} in the batch but {} in the artifact schema",
                field.name(),
                column.data_type(),
                field.data_type()
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Text formats

/// Serializes batches of one text format.
pub(super) trait TextEncoder: Send + Sync + 'static {
    /// Appends the serialized rows of `batch` to `out`.
    fn encode(&self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()>;
    /// Appends the header line (CSV/TSV).
    fn header(&self, out: &mut Vec<u8>) -> Result<()>;
}

/// Where serialized text goes.
enum Output {
    Plain(Box<Upload>),
    Compressed(compress::CompressedOutput),
}

impl Output {
    async fn send(&mut self, chunks: Vec<Vec<u8>>) -> Result<()> {
        match self {
            Output::Plain(upload) => {
                for chunk in chunks {
                    upload.put(Bytes::from(chunk)).await?;
                }
                Ok(())
            }
            Output::Compressed(c) => c.send(chunks).await,
        }
    }

    async fn finish(self) -> Result<u64> {
        match self {
            Output::Plain(upload) => upload.finish().await,
            Output::Compressed(c) => c.finish().await,
        }
    }

    async fn abort(self) -> Result<()> {
        match self {
            Output::Plain(upload) => upload.abort().await,
            Output::Compressed(c) => c.abort().await,
        }
    }
}

struct TextWriter {
    schema: SchemaRef,
    encoder: Arc<dyn TextEncoder>,
    /// BOM and header, sent with the first data (or at finish).
    prologue: Option<Vec<u8>>,
    uncompressed: u64,
    /// Serialized bytes of rows (prologue excluded), for buffer sizing.
    body_bytes: u64,
    /// `None` once finished or aborted.
    output: Option<Output>,
    rows: u64,
}

/// Rows below which a batch is serialized in one piece.
const MIN_SLICE_ROWS: usize = 1024;
/// At most this many slices per batch.
const MAX_SLICES: usize = 16;

fn parallelism() -> usize {
    static PARALLELISM: OnceLock<usize> = OnceLock::new();
    *PARALLELISM.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(MAX_SLICES)
    })
}

impl TextWriter {
    /// Expected serialized bytes per row, for buffer sizing.
    fn bytes_per_row(&self) -> usize {
        self.body_bytes
            .checked_div(self.rows)
            .map_or(64, |b| b as usize + 1)
    }

    fn output(&mut self) -> Result<&mut Output> {
        self.output.as_mut().ok_or_else(|| {
            ExportError::Invalid("export writer: the artifact already failed".to_string())
        })
    }
}

/// Aborts the tasks still running when dropped (on error or cancellation).
struct TaskGroup<T>(Vec<tokio::task::JoinHandle<T>>);

impl<T> Drop for TaskGroup<T> {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

/// Serializes `batch`: in one piece when small, otherwise as row slices
/// encoded concurrently on the runtime, returned in order.
async fn serialize(
    encoder: &Arc<dyn TextEncoder>,
    batch: &RecordBatch,
    bytes_per_row: usize,
) -> Result<Vec<Vec<u8>>> {
    let rows = batch.num_rows();
    let slices = parallelism().min(rows / MIN_SLICE_ROWS).max(1);
    if slices == 1 {
        let mut out = Vec::with_capacity(bytes_per_row.saturating_mul(rows) + 1024);
        encoder.encode(batch, &mut out)?;
        return Ok(vec![out]);
    }
    let per_slice = rows.div_ceil(slices);
    let mut tasks = TaskGroup(Vec::with_capacity(slices));
    let mut offset = 0;
    while offset < rows {
        let len = per_slice.min(rows - offset);
        let slice = batch.slice(offset, len);
        let encoder = Arc::clone(encoder);
        let capacity = bytes_per_row.saturating_mul(len) + 1024;
        tasks.0.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(capacity);
            encoder.encode(&slice, &mut out).map(|()| out)
        }));
        offset += len;
    }
    let mut parts = Vec::with_capacity(tasks.0.len());
    for handle in tasks.0.iter_mut() {
        parts.push(handle.await.map_err(task_error)??);
    }
    Ok(parts)
}

#[async_trait::async_trait]
impl ArtifactWriter for TextWriter {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        check_schema(&self.schema, batch)?;
        let parts = serialize(&self.encoder, batch, self.bytes_per_row()).await?;
        let mut chunks = Vec::with_capacity(parts.len() + 1);
        if let Some(prologue) = self.prologue.take() {
            chunks.push(prologue);
        }
        for part in parts {
            self.body_bytes += part.len() as u64;
            self.uncompressed += part.len() as u64;
            chunks.push(part);
        }
        self.rows += batch.num_rows() as u64;
        self.output()?.send(chunks).await
    }

    fn uncompressed_bytes(&self) -> u64 {
        self.uncompressed
    }

    fn rows(&self) -> u64 {
        self.rows
    }

    async fn finish(mut self: Box<Self>) -> Result<u64> {
        if let Some(prologue) = self.prologue.take() {
            self.output()?.send(vec![prologue]).await?;
        }
        match self.output.take() {
            Some(output) => output.finish().await,
            None => Err(ExportError::Invalid(
                "export writer: the artifact already failed".to_string(),
            )),
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        match self.output.take() {
            Some(output) => output.abort().await,
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------
// Column preparation for text formats

/// What happens to a column before text serialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prep {
    /// Serialized as is.
    Keep,
    /// A timestamp without a time zone (taken as UTC) or in a zone other
    /// than UTC: relabelled as UTC (values are UTC instants either way; no
    /// data change), so it prints as `…Z`.
    AsUtc,
    /// A duration: printed as a Kusto timespan.
    Timespan,
    /// A nested value (CSV/TSV): printed as JSON text.
    NestedJson,
}

/// Per-column preparation of batches for a text format.
#[derive(Debug, Clone)]
pub(super) struct TextPlan {
    /// The schema after preparation.
    pub(super) schema: SchemaRef,
    preps: Vec<Prep>,
    identity: bool,
}

impl TextPlan {
    /// `nested_as_json`: turn nested columns into JSON text (CSV/TSV).
    fn new(schema: &SchemaRef, nested_as_json: bool) -> Result<Self> {
        let mut fields = Vec::with_capacity(schema.fields().len());
        let mut preps = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let (prep, data_type) = match field.data_type() {
                // "UTC" too: Arrow formats a fixed offset much faster than a
                // named zone (same text: `Z`).
                DataType::Timestamp(unit, tz) if tz.as_deref() != Some(UTC_OFFSET) => (
                    Prep::AsUtc,
                    DataType::Timestamp(*unit, Some(UTC_OFFSET.into())),
                ),
                DataType::Duration(_) => (Prep::Timespan, DataType::Utf8),
                t if nested_as_json && t.is_nested() => (Prep::NestedJson, DataType::Utf8),
                t => (Prep::Keep, t.clone()),
            };
            preps.push(prep);
            fields.push(Field::new(field.name(), data_type, field.is_nullable()));
        }
        let identity = preps.iter().all(|p| *p == Prep::Keep);
        let schema = if identity {
            Arc::clone(schema)
        } else {
            Arc::new(Schema::new(fields))
        };
        Ok(TextPlan {
            schema,
            preps,
            identity,
        })
    }

    /// `batch` with its columns prepared.
    pub(super) fn prepare(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        if self.identity {
            return Ok(batch.clone());
        }
        let columns = batch
            .columns()
            .iter()
            .zip(&self.preps)
            .zip(self.schema.fields())
            .map(|((column, prep), field)| match prep {
                Prep::Keep => Ok(Arc::clone(column)),
                Prep::AsUtc => {
                    let data = column
                        .to_data()
                        .into_builder()
                        .data_type(field.data_type().clone())
                        .build()?;
                    Ok(make_array(data))
                }
                Prep::Timespan => timespans(column.as_ref()),
                Prep::NestedJson => json::nested_to_json_text(column),
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

/// A duration column as Kusto timespan text.
fn timespans(column: &dyn Array) -> Result<ArrayRef> {
    fn build<I: Iterator<Item = Option<i128>>>(len: usize, values: I) -> ArrayRef {
        let mut builder = StringBuilder::with_capacity(len, len * 16);
        let mut text = String::with_capacity(32);
        for value in values {
            match value {
                Some(nanos) => {
                    text.clear();
                    format_timespan(nanos, &mut text);
                    builder.append_value(&text);
                }
                None => builder.append_null(),
            }
        }
        Arc::new(builder.finish())
    }
    let len = column.len();
    let array = match column.data_type() {
        DataType::Duration(TimeUnit::Second) => build(
            len,
            column
                .as_primitive::<DurationSecondType>()
                .iter()
                .map(|v| v.map(|v| i128::from(v) * 1_000_000_000)),
        ),
        DataType::Duration(TimeUnit::Millisecond) => build(
            len,
            column
                .as_primitive::<DurationMillisecondType>()
                .iter()
                .map(|v| v.map(|v| i128::from(v) * 1_000_000)),
        ),
        DataType::Duration(TimeUnit::Microsecond) => build(
            len,
            column
                .as_primitive::<DurationMicrosecondType>()
                .iter()
                .map(|v| v.map(|v| i128::from(v) * 1_000)),
        ),
        DataType::Duration(TimeUnit::Nanosecond) => build(
            len,
            column
                .as_primitive::<DurationNanosecondType>()
                .iter()
                .map(|v| v.map(i128::from)),
        ),
        other => {
            return Err(ArrowError::CastError(format!("{other} is not a duration")).into());
        }
    };
    Ok(array)
}

/// Kusto timespan text: `[-][d.]hh:mm:ss[.fffffff]`; 7 fraction digits
/// (ticks), 9 when the value has sub-tick nanoseconds.
pub(crate) fn format_timespan(nanos: i128, out: &mut String) {
    use std::fmt::Write;
    let negative = nanos < 0;
    let nanos = nanos.unsigned_abs();
    let secs = nanos / 1_000_000_000;
    let frac = (nanos % 1_000_000_000) as u32;
    let days = secs / 86_400;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    if negative {
        out.push('-');
    }
    if days > 0 {
        let _ = write!(out, "{days}.");
    }
    let _ = write!(out, "{h:02}:{m:02}:{s:02}");
    if frac != 0 {
        if frac.is_multiple_of(100) {
            let _ = write!(out, ".{:07}", frac / 100);
        } else {
            let _ = write!(out, ".{frac:09}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use datafusion::arrow::array::{
        BooleanArray, DurationNanosecondArray, Float64Array, Int32Array, Int64Array, ListArray,
        StringArray, TimestampMillisecondArray, TimestampNanosecondArray,
    };
    use datafusion::arrow::datatypes::Int32Type;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::parquet::basic::Compression as ParquetCompression;
    use futures::TryStreamExt;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    use super::*;

    const ALL_TEXT: [DataFormat; 3] = [DataFormat::Csv, DataFormat::Tsv, DataFormat::Json];

    fn settings(format: DataFormat, compression: Compression) -> WriterSettings {
        WriterSettings {
            format,
            compression,
            include_header: false,
            bom: false,
            parquet_row_group_size: 100_000,
        }
    }

    fn ts(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    /// `rows` rows starting at id `start`: long, string (with characters that
    /// need quoting), UTC datetime, timespan, nullable real, bool.
    fn sample(start: i64, rows: usize) -> RecordBatch {
        let ids: Vec<i64> = (start..start + rows as i64).collect();
        let names: Vec<Option<String>> = ids
            .iter()
            .map(|i| match i % 5 {
                0 => Some(format!("plain{i}")),
                1 => Some(format!("a,b \"q\" {i}")),
                2 => Some(format!("line\n{i}\r\\x")),
                3 => None,
                _ => Some(String::new()),
            })
            .collect();
        let base = ts("2026-11-20T08:00:00Z");
        let times: Vec<i64> = ids.iter().map(|i| base + i * 1_500_000_000).collect();
        let spans: Vec<Option<i64>> = ids
            .iter()
            .map(|i| (i % 7 != 3).then_some(i * 1_000_000_000))
            .collect();
        let scores: Vec<Option<f64>> = ids
            .iter()
            .map(|i| (i % 4 != 2).then_some(*i as f64 / 4.0))
            .collect();
        let flags: Vec<bool> = ids.iter().map(|i| i % 2 == 0).collect();
        RecordBatch::try_new(
            sample_schema(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
                Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC")),
                Arc::new(DurationNanosecondArray::from(spans)),
                Arc::new(Float64Array::from(scores)),
                Arc::new(BooleanArray::from(flags)),
            ],
        )
        .unwrap()
    }

    fn sample_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("span", DataType::Duration(TimeUnit::Nanosecond), true),
            Field::new("score", DataType::Float64, true),
            Field::new("flag", DataType::Boolean, false),
        ]))
    }

    /// The schema text artifacts are read back with (timespans as text).
    fn text_read_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("span", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
            Field::new("flag", DataType::Boolean, false),
        ]))
    }

    async fn get(store: &Arc<InMemory>, path: &Path) -> Vec<u8> {
        store
            .get(path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    async fn object_count(store: &Arc<InMemory>) -> usize {
        let all: Vec<_> = store.list(None).try_collect().await.unwrap();
        all.len()
    }

    fn decompress(data: &[u8], compression: Compression) -> Vec<u8> {
        let mut out = Vec::new();
        match compression {
            Compression::None => out.extend_from_slice(data),
            Compression::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Compression::Zstd => {
                zstd::stream::read::Decoder::new(data)
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Compression::Snappy => unreachable!(),
        }
        out
    }

    /// Writes `batches` to one artifact; returns (object bytes, uncompressed
    /// bytes reported, rows reported, stored size reported).
    async fn write_artifact(
        settings: &WriterSettings,
        schema: SchemaRef,
        batches: &[RecordBatch],
    ) -> (Vec<u8>, u64, u64, u64) {
        let store = Arc::new(InMemory::new());
        let path = Path::from("out/artifact");
        let mut writer = open_writer(store.clone(), path.clone(), schema, settings).unwrap();
        for batch in batches {
            writer.write(batch).await.unwrap();
        }
        let uncompressed = writer.uncompressed_bytes();
        let rows = writer.rows();
        let size = writer.finish().await.unwrap();
        (get(&store, &path).await, uncompressed, rows, size)
    }

    async fn text(settings: &WriterSettings, batches: &[RecordBatch]) -> String {
        let schema = batches[0].schema();
        let (data, uncompressed, _, _) = write_artifact(settings, schema, batches).await;
        let plain = decompress(&data, settings.compression);
        assert_eq!(plain.len() as u64, uncompressed);
        String::from_utf8(plain).unwrap()
    }

    fn read_text(format: DataFormat, data: &[u8], header: bool) -> Vec<RecordBatch> {
        let schema = text_read_schema();
        match format {
            DataFormat::Json => datafusion::arrow::json::ReaderBuilder::new(schema)
                .build(Cursor::new(data))
                .unwrap()
                .collect::<std::result::Result<Vec<_>, _>>()
                .unwrap(),
            _ => {
                let delimiter = if format == DataFormat::Tsv {
                    b'\t'
                } else {
                    b','
                };
                datafusion::arrow::csv::ReaderBuilder::new(schema)
                    .with_header(header)
                    .with_delimiter(delimiter)
                    .build(Cursor::new(data))
                    .unwrap()
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .unwrap()
            }
        }
    }

    fn concat(batches: &[RecordBatch]) -> RecordBatch {
        datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
    }

    /// Every row of a Parquet file, as one batch.
    fn read_all(builder: ParquetRecordBatchReaderBuilder<Bytes>) -> RecordBatch {
        let read: Vec<RecordBatch> = builder
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        concat(&read)
    }

    /// The text forms of the sample columns as they must read back.
    fn assert_text_round_trip(original: &RecordBatch, read: &RecordBatch, format: DataFormat) {
        assert_eq!(read.num_rows(), original.num_rows());
        // Numbers, datetimes and bools read back exactly.
        for c in [0, 2, 4, 5] {
            assert_eq!(
                read.column(c).as_ref(),
                original.column(c).as_ref(),
                "column {c}"
            );
        }
        // Strings: CSV cannot tell an empty string from a null.
        let names = original.column(1).as_string::<i32>();
        let read_names = read.column(1).as_string::<i32>();
        for i in 0..names.len() {
            let expected = names.is_valid(i).then(|| names.value(i));
            let got = read_names.is_valid(i).then(|| read_names.value(i));
            if format == DataFormat::Json {
                assert_eq!(got, expected, "row {i}");
            } else {
                assert_eq!(got.unwrap_or(""), expected.unwrap_or(""), "row {i}");
            }
        }
        // Timespans as Kusto text.
        let spans = original.column(3).as_primitive::<DurationNanosecondType>();
        let read_spans = read.column(3).as_string::<i32>();
        for i in 0..spans.len() {
            let expected = spans.is_valid(i).then(|| {
                let mut s = String::new();
                format_timespan(i128::from(spans.value(i)), &mut s);
                s
            });
            let got = read_spans
                .is_valid(i)
                .then(|| read_spans.value(i).to_string());
            assert_eq!(got, expected, "row {i}");
        }
    }

    #[tokio::test]
    async fn text_formats_round_trip_with_every_compression() {
        let batches = vec![
            sample(0, 100),
            sample(100, 0),
            sample(100, 37),
            sample(137, 5000),
        ];
        let original = concat(&batches);
        for format in ALL_TEXT {
            for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
                let s = settings(format, compression);
                let (data, uncompressed, rows, size) =
                    write_artifact(&s, sample_schema(), &batches).await;
                assert_eq!(size, data.len() as u64, "{format} {compression}");
                assert_eq!(rows, 5137);
                let plain = decompress(&data, compression);
                assert_eq!(plain.len() as u64, uncompressed, "{format} {compression}");
                if compression != Compression::None {
                    assert!(
                        data.len() < plain.len(),
                        "{format} {compression} compresses"
                    );
                } else {
                    assert_eq!(data, plain);
                }
                let read = concat(&read_text(format, &plain, false));
                assert_text_round_trip(&original, &read, format);
            }
        }
    }

    #[tokio::test]
    async fn csv_quoting_follows_rfc_4180() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Int32, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    Some("plain"),
                    Some("with,comma"),
                    Some("say \"hi\""),
                    Some("two\nlines"),
                    Some("cr\rhere"),
                    Some("back\\slash"),
                    Some("tab\there"),
                    None,
                    Some(""),
                ])),
                Arc::new(Int32Array::from(vec![
                    Some(1),
                    Some(2),
                    Some(3),
                    Some(4),
                    Some(5),
                    Some(6),
                    Some(7),
                    Some(8),
                    None,
                ])),
            ],
        )
        .unwrap();
        let csv = text(
            &settings(DataFormat::Csv, Compression::None),
            std::slice::from_ref(&batch),
        )
        .await;
        assert_eq!(
            csv,
            "plain,1\n\"with,comma\",2\n\"say \"\"hi\"\"\",3\n\"two\nlines\",4\n\"cr\rhere\",5\n\
             back\\slash,6\ntab\there,7\n,8\n,\n"
        );
        let tsv = text(&settings(DataFormat::Tsv, Compression::None), &[batch]).await;
        assert_eq!(
            tsv,
            "plain\t1\nwith,comma\t2\n\"say \"\"hi\"\"\"\t3\n\"two\nlines\"\t4\n\"cr\rhere\"\t5\n\
             back\\slash\t6\n\"tab\there\"\t7\n\t8\n\t\n"
        );
    }

    #[tokio::test]
    async fn headers_on_and_off() {
        let batch = sample(0, 3);
        let mut s = settings(DataFormat::Csv, Compression::None);
        let without = text(&s, std::slice::from_ref(&batch)).await;
        assert!(without.starts_with("0,plain0,"), "{without}");
        s.include_header = true;
        let with = text(&s, &[batch.clone(), sample(3, 2)]).await;
        assert!(
            with.starts_with("id,name,ts,span,score,flag\n0,plain0,"),
            "{with}"
        );
        assert_eq!(
            with.matches("id,name").count(),
            1,
            "one header per artifact"
        );
        let read = concat(&read_text(DataFormat::Csv, with.as_bytes(), true));
        assert_eq!(read.num_rows(), 5);

        let mut s = settings(DataFormat::Tsv, Compression::Gzip);
        s.include_header = true;
        let tsv = text(&s, std::slice::from_ref(&batch)).await;
        assert!(
            tsv.starts_with("id\tname\tts\tspan\tscore\tflag\n"),
            "{tsv}"
        );

        // JSON has no header line.
        let mut s = settings(DataFormat::Json, Compression::None);
        s.include_header = true;
        let json = text(&s, &[batch]).await;
        assert!(json.starts_with("{\"id\":0,"), "{json}");
    }

    #[tokio::test]
    async fn header_quotes_names_and_empty_artifact_keeps_header() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a,b", DataType::Int32, true),
            Field::new("c", DataType::Int32, true),
        ]));
        let mut s = settings(DataFormat::Csv, Compression::None);
        s.include_header = true;
        s.bom = true;
        let (data, uncompressed, rows, size) = write_artifact(&s, schema, &[]).await;
        assert_eq!(data, b"\xEF\xBB\xBF\"a,b\",c\n");
        assert_eq!(uncompressed, data.len() as u64);
        assert_eq!(size, data.len() as u64);
        assert_eq!(rows, 0);
    }

    #[tokio::test]
    async fn bom_for_text_formats() {
        for format in ALL_TEXT {
            for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
                let mut s = settings(format, compression);
                s.bom = true;
                s.include_header = true;
                let out = text(&s, &[sample(0, 10)]).await;
                assert!(out.as_bytes().starts_with(BOM), "{format} {compression}");
                assert_eq!(out.matches('\u{feff}').count(), 1);
                let body = &out.as_bytes()[3..];
                assert!(!body.starts_with(BOM));
                let header = format != DataFormat::Json;
                let read = concat(&read_text(format, body, header));
                assert_eq!(read.num_rows(), 10);
            }
        }
        let plain = text(
            &settings(DataFormat::Csv, Compression::None),
            &[sample(0, 1)],
        )
        .await;
        assert!(!plain.as_bytes().starts_with(BOM));
    }

    #[tokio::test]
    async fn json_lines_have_explicit_nulls() {
        let out = text(
            &settings(DataFormat::Json, Compression::None),
            &[sample(0, 4)],
        )
        .await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            "{\"id\":0,\"name\":\"plain0\",\"ts\":\"2026-11-20T08:00:00Z\",\"span\":\"00:00:00\",\
             \"score\":0.0,\"flag\":true}"
        );
        assert_eq!(
            lines[3],
            "{\"id\":3,\"name\":null,\"ts\":\"2026-11-20T08:00:04.500Z\",\"span\":null,\
             \"score\":0.75,\"flag\":false}"
        );
        assert!(
            lines[2].contains("\"name\":\"line\\n2\\r\\\\x\""),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains("\"score\":null"), "{}", lines[2]);
    }

    #[tokio::test]
    async fn timestamps_are_iso_8601_utc() {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "naive",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
            Field::new(
                "utc",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into())),
                true,
            ),
            Field::new(
                "paris",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("+02:00".into())),
                true,
            ),
        ]));
        let t = ts("2026-11-20T08:00:00Z");
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(t / 1_000_000),
                    Some(t / 1_000_000 + 250),
                    None,
                ])),
                Arc::new(
                    TimestampNanosecondArray::from(vec![Some(t), Some(t + 1), None])
                        .with_timezone("+00:00"),
                ),
                Arc::new(
                    TimestampNanosecondArray::from(vec![Some(t), Some(t + 123_000), None])
                        .with_timezone("+02:00"),
                ),
            ],
        )
        .unwrap();
        let csv = text(
            &settings(DataFormat::Csv, Compression::None),
            std::slice::from_ref(&batch),
        )
        .await;
        assert_eq!(
            csv,
            "2026-11-20T08:00:00Z,2026-11-20T08:00:00Z,2026-11-20T08:00:00Z\n\
             2026-11-20T08:00:00.250Z,2026-11-20T08:00:00.000000001Z,2026-11-20T08:00:00.000123Z\n\
             ,,\n"
        );
        let json = text(&settings(DataFormat::Json, Compression::None), &[batch]).await;
        assert!(
            json.starts_with(
                "{\"naive\":\"2026-11-20T08:00:00Z\",\"utc\":\"2026-11-20T08:00:00Z\",\
                 \"paris\":\"2026-11-20T08:00:00Z\"}\n"
            ),
            "{json}"
        );
    }

    #[test]
    fn timespan_text() {
        let cases: [(i128, &str); 7] = [
            (0, "00:00:00"),
            (1_500_000_000, "00:00:01.5000000"),
            (3_600_000_000_000, "01:00:00"),
            (
                (86_400 + 2 * 3600 + 3 * 60 + 4) * 1_000_000_000,
                "1.02:03:04",
            ),
            (-90_000_000_000, "-00:01:30"),
            (100, "00:00:00.0000001"),
            (1, "00:00:00.000000001"),
        ];
        for (nanos, expected) in cases {
            let mut s = String::new();
            format_timespan(nanos, &mut s);
            assert_eq!(s, expected, "{nanos}");
        }
    }

    #[tokio::test]
    async fn nested_values_are_json_text_in_csv() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![]),
            Some(vec![None, Some(3)]),
        ]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, false),
            Field::new("l", list.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int32Array::from(vec![1, 2, 3, 4])), Arc::new(list)],
        )
        .unwrap();
        let csv = text(
            &settings(DataFormat::Csv, Compression::None),
            std::slice::from_ref(&batch),
        )
        .await;
        assert_eq!(csv, "1,\"[1,2]\"\n2,\n3,[]\n4,\"[null,3]\"\n");
        let json = text(&settings(DataFormat::Json, Compression::None), &[batch]).await;
        assert_eq!(
            json,
            "{\"k\":1,\"l\":[1,2]}\n{\"k\":2,\"l\":null}\n{\"k\":3,\"l\":[]}\n{\"k\":4,\"l\":[null,3]}\n"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn large_batches_serialize_in_parallel_and_in_order() {
        let batches = vec![sample(0, 50_000), sample(50_000, 30_001)];
        let original = concat(&batches);
        for compression in [Compression::None, Compression::Gzip] {
            let s = settings(DataFormat::Csv, compression);
            let (data, uncompressed, rows, _) = write_artifact(&s, sample_schema(), &batches).await;
            assert_eq!(rows, 80_001);
            let plain = decompress(&data, compression);
            assert_eq!(plain.len() as u64, uncompressed);
            let read = concat(&read_text(DataFormat::Csv, &plain, false));
            assert_text_round_trip(&original, &read, DataFormat::Csv);
        }
    }

    /// `rows` rows of about 4 KiB of poorly compressible text each.
    fn wide(start: i64, rows: usize) -> RecordBatch {
        let mut state = 0x2545_f491_4f6c_dd1d_u64 ^ start as u64;
        let mut text = String::with_capacity(4096);
        let values: Vec<String> = (0..rows)
            .map(|_| {
                text.clear();
                while text.len() < 4096 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    text.push_str(&format!("{state:016x}"));
                }
                text.clone()
            })
            .collect();
        let ids: Vec<i64> = (start..start + rows as i64).collect();
        RecordBatch::try_new(
            wide_schema(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(values)),
            ],
        )
        .unwrap()
    }

    fn wide_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, false),
        ]))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multipart_uploads() {
        // > 10 MiB (the upload buffer) so uploads go multipart.
        let batches: Vec<RecordBatch> = (0..3).map(|i| wide(i * 2048, 2048)).collect();
        let original = concat(&batches);
        for compression in [Compression::None, Compression::Gzip] {
            let s = settings(DataFormat::Csv, compression);
            let (data, uncompressed, rows, size) =
                write_artifact(&s, wide_schema(), &batches).await;
            assert_eq!(rows, 3 * 2048);
            assert_eq!(size, data.len() as u64);
            assert!(size > 10 * 1024 * 1024, "{size}");
            let plain = decompress(&data, compression);
            assert_eq!(plain.len() as u64, uncompressed);
            let read = datafusion::arrow::csv::ReaderBuilder::new(wide_schema())
                .build(Cursor::new(plain))
                .unwrap()
                .collect::<std::result::Result<Vec<_>, _>>()
                .unwrap();
            assert_eq!(concat(&read), original);
        }
        let mut s = settings(DataFormat::Parquet, Compression::Snappy);
        s.parquet_row_group_size = 1000;
        let (data, _, rows, size) = write_artifact(&s, wide_schema(), &batches).await;
        assert_eq!(rows, 3 * 2048);
        assert_eq!(size, data.len() as u64);
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(data)).unwrap();
        assert_eq!(builder.metadata().num_row_groups(), 7);
        assert_eq!(read_all(builder), original);
    }

    #[tokio::test]
    async fn uncompressed_bytes_grow_exactly_per_batch() {
        for format in ALL_TEXT {
            let store = Arc::new(InMemory::new());
            let path = Path::from("x");
            let mut s = settings(format, Compression::Gzip);
            s.bom = true;
            s.include_header = true;
            let mut writer = open_writer(store.clone(), path.clone(), sample_schema(), &s).unwrap();
            let start = writer.uncompressed_bytes();
            let expected_start = if format == DataFormat::Json {
                3
            } else {
                3 + 27
            };
            assert_eq!(
                start, expected_start,
                "{format}: BOM and header counted up front"
            );
            writer.write(&sample(0, 10)).await.unwrap();
            let after_one = writer.uncompressed_bytes();
            assert!(after_one > start);
            writer.write(&sample(10, 0)).await.unwrap();
            assert_eq!(
                writer.uncompressed_bytes(),
                after_one,
                "empty batch is a no-op"
            );
            assert_eq!(writer.rows(), 10);
            writer.write(&sample(10, 10)).await.unwrap();
            let total = writer.uncompressed_bytes();
            writer.finish().await.unwrap();
            let plain = decompress(&get(&store, &path).await, Compression::Gzip);
            assert_eq!(plain.len() as u64, total, "{format}");
        }
    }

    #[tokio::test]
    async fn parquet_round_trip_with_every_codec() {
        let batches = vec![sample(0, 1000), sample(1000, 0), sample(1000, 234)];
        let original = concat(&batches);
        for (compression, codec) in [
            (Compression::Snappy, ParquetCompression::SNAPPY),
            (Compression::None, ParquetCompression::UNCOMPRESSED),
            (
                Compression::Gzip,
                ParquetCompression::GZIP(Default::default()),
            ),
            (
                Compression::Zstd,
                ParquetCompression::ZSTD(Default::default()),
            ),
        ] {
            let s = settings(DataFormat::Parquet, compression);
            let (data, uncompressed, rows, size) =
                write_artifact(&s, sample_schema(), &batches).await;
            assert_eq!(size, data.len() as u64);
            assert_eq!(rows, 1234);
            let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(data)).unwrap();
            let metadata = builder.metadata().clone();
            assert_eq!(metadata.num_row_groups(), 1);
            let row_group = metadata.row_group(0);
            // Before the first flush: the Arrow size of the rows.
            let arrow_size: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
            assert!(
                uncompressed > 0 && uncompressed <= arrow_size as u64,
                "{uncompressed}"
            );
            for column in row_group.columns() {
                assert_eq!(column.compression(), codec, "{compression}");
            }
            assert_eq!(builder.schema(), &sample_schema());
            assert_eq!(read_all(builder), original, "{compression}");
        }
    }

    #[tokio::test]
    async fn parquet_unique_columns_have_no_dictionary() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, false),
        ]));
        let batches: Vec<RecordBatch> = (0..3)
            .map(|b| {
                let ids = b * 4096..(b + 1) * 4096;
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(Int64Array::from_iter_values(ids.clone())),
                        Arc::new(StringArray::from_iter_values(
                            ids.map(|i| ["eu", "us"][(i % 2) as usize]),
                        )),
                    ],
                )
                .unwrap()
            })
            .collect();
        let mut s = settings(DataFormat::Parquet, Compression::Snappy);
        s.parquet_row_group_size = 5000;
        let (data, _, rows, _) = write_artifact(&s, Arc::clone(&schema), &batches).await;
        assert_eq!(rows, 3 * 4096);
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(data)).unwrap();
        assert_eq!(builder.metadata().num_row_groups(), 3);
        assert_eq!(dictionary_columns(&builder), vec![vec![false, true]; 3]);
        assert_eq!(read_all(builder), concat(&batches));

        // A partition's artifact receiving a few rows per batch is judged on
        // its first rows together, not on its first (too small) batch.
        let small: Vec<RecordBatch> = (0..30).map(|i| batches[0].slice(i * 100, 100)).collect();
        s.parquet_row_group_size = 1000;
        let store = Arc::new(InMemory::new());
        let path = Path::from("small.parquet");
        let mut writer = open_writer(store.clone(), path.clone(), Arc::clone(&schema), &s).unwrap();
        writer.write(&small[0]).await.unwrap();
        assert_eq!(writer.rows(), 100);
        assert!(writer.uncompressed_bytes() >= 800);
        for batch in &small[1..] {
            writer.write(batch).await.unwrap();
        }
        writer.finish().await.unwrap();
        let data = get(&store, &path).await;
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(data)).unwrap();
        assert_eq!(dictionary_columns(&builder), vec![vec![false, true]; 3]);
        assert_eq!(read_all(builder), concat(&small));
    }

    /// Per row group, whether each column chunk has a dictionary page.
    fn dictionary_columns(builder: &ParquetRecordBatchReaderBuilder<Bytes>) -> Vec<Vec<bool>> {
        builder
            .metadata()
            .row_groups()
            .iter()
            .map(|row_group| {
                row_group
                    .columns()
                    .iter()
                    .map(|c| c.dictionary_page_offset().is_some())
                    .collect()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 3)]
    async fn parquet_row_group_size_is_honoured() {
        let mut s = settings(DataFormat::Parquet, Compression::Snappy);
        s.parquet_row_group_size = 300;
        let batches: Vec<RecordBatch> = (0..8).map(|i| sample(i * 128, 128)).collect();
        let store = Arc::new(InMemory::new());
        let path = Path::from("rg.parquet");
        let mut writer = open_writer(store.clone(), path.clone(), sample_schema(), &s).unwrap();
        let mut reported = Vec::new();
        for batch in &batches {
            writer.write(batch).await.unwrap();
            reported.push(writer.uncompressed_bytes());
        }
        assert_eq!(writer.rows(), 1024);
        let before_finish = writer.uncompressed_bytes();
        writer.finish().await.unwrap();
        let data = get(&store, &path).await;
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(data)).unwrap();
        let flushed: Vec<u64> = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| rg.total_byte_size() as u64)
            .collect();
        // After 3 batches (384 rows) the first row group (300 rows) is flushed.
        assert!(reported[2] > flushed[0], "{reported:?} {flushed:?}");
        assert!(reported.iter().all(|r| *r > 0));
        let total: u64 = flushed.iter().sum();
        let error = before_finish.abs_diff(total) as f64 / total as f64;
        assert!(error < 0.5, "estimate {before_finish} vs {total}");
        let sizes: Vec<i64> = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows())
            .collect();
        assert_eq!(sizes, vec![300, 300, 300, 124]);
        assert_eq!(read_all(builder), concat(&batches));
    }

    #[tokio::test]
    async fn parquet_nested_columns_and_empty_file() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![]),
            Some(vec![None, Some(3)]),
        ]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, false),
            Field::new("l", list.data_type().clone(), true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 3, 4])),
                Arc::new(list),
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("c"),
                    Some("d"),
                ])),
            ],
        )
        .unwrap();
        let s = settings(DataFormat::Parquet, Compression::Zstd);
        let (data, _, _, _) =
            write_artifact(&s, Arc::clone(&schema), std::slice::from_ref(&batch)).await;
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(data)).unwrap();
        assert_eq!(read_all(builder), batch);

        let (data, uncompressed, rows, size) = write_artifact(&s, Arc::clone(&schema), &[]).await;
        assert_eq!((uncompressed, rows), (0, 0));
        assert_eq!(size, data.len() as u64);
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(data)).unwrap();
        assert_eq!(builder.metadata().num_row_groups(), 0);
        assert_eq!(builder.schema(), &schema);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abort_leaves_no_object() {
        let formats = [
            (DataFormat::Csv, Compression::None),
            (DataFormat::Csv, Compression::Gzip),
            (DataFormat::Json, Compression::Zstd),
            (DataFormat::Parquet, Compression::Snappy),
        ];
        // Small (still buffered in memory) and large (multipart in progress).
        let small = vec![wide(0, 10)];
        let large: Vec<RecordBatch> = (0..3).map(|i| wide(i * 2048, 2048)).collect();
        for (format, compression) in formats {
            for batches in [&small, &large] {
                let store = Arc::new(InMemory::new());
                let mut s = settings(format, compression);
                s.parquet_row_group_size = 1000;
                let mut writer =
                    open_writer(store.clone(), Path::from("a/b"), wide_schema(), &s).unwrap();
                for batch in batches.iter() {
                    writer.write(batch).await.unwrap();
                }
                writer.abort().await.unwrap();
                assert_eq!(object_count(&store).await, 0, "{format} {compression}");
            }
            // Aborting before any write.
            let store = Arc::new(InMemory::new());
            let writer = open_writer(
                store.clone(),
                Path::from("a/b"),
                wide_schema(),
                &settings(format, compression),
            )
            .unwrap();
            writer.abort().await.unwrap();
            assert_eq!(object_count(&store).await, 0);
        }
    }

    #[tokio::test]
    async fn bad_settings_and_batches_are_refused() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for format in ALL_TEXT {
            let e = open_writer(
                Arc::clone(&store),
                Path::from("x"),
                sample_schema(),
                &settings(format, Compression::Snappy),
            )
            .err()
            .unwrap()
            .to_string();
            assert!(e.contains("snappy"), "{e}");
        }
        let mut s = settings(DataFormat::Parquet, Compression::Snappy);
        s.parquet_row_group_size = 0;
        assert!(open_writer(Arc::clone(&store), Path::from("x"), sample_schema(), &s).is_err());

        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, false)])),
            vec![Arc::new(Int32Array::from(vec![1]))],
        )
        .unwrap();
        for format in [DataFormat::Csv, DataFormat::Json, DataFormat::Parquet] {
            let mut writer = open_writer(
                Arc::clone(&store),
                Path::from("x"),
                sample_schema(),
                &settings(format, Compression::None),
            )
            .unwrap();
            let e = writer.write(&other).await.unwrap_err().to_string();
            assert!(e.contains("1 columns"), "{e}");
            writer.abort().await.unwrap();
        }
    }

    #[test]
    fn settings_from_options() {
        let options = ExportOptions::parse(
            &[crate::command::Property {
                name: "includeHeaders".into(),
                value: crate::command::PropertyValue::Identifier("firstFile".into()),
            }],
            Some(DataFormat::Csv),
            true,
            super::super::options::Distribution::PerShard,
        )
        .unwrap();
        let first = WriterSettings::from_options(&options, DataFormat::Csv, 0);
        assert_eq!(
            first,
            WriterSettings {
                format: DataFormat::Csv,
                compression: Compression::Gzip,
                include_header: true,
                bom: false,
                parquet_row_group_size: 100_000,
            }
        );
        assert!(!WriterSettings::from_options(&options, DataFormat::Csv, 1).include_header);
    }
}
