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

mod columns;
mod compress;
mod csv;
mod dictionary;
mod json;
mod parquet;
#[cfg(test)]
mod test_fixtures;
mod text;

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::error::DataFusionError;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::command::DataFormat;
use crate::error::{ExportError, Result};

use super::options::{Compression, ExportOptions};

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

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
        DataFormat::Csv | DataFormat::Tsv | DataFormat::Json => Ok(Box::new(
            text::TextWriter::try_new(upload, schema, settings)?,
        )),
    }
}

// ---------------------------------------------------------------------------
// Upload and the helpers the writers share

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

/// Aborts the tasks still running when dropped (on error or cancellation).
struct TaskGroup<T>(Vec<tokio::task::JoinHandle<T>>);

impl<T> Drop for TaskGroup<T> {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use datafusion::arrow::array::{Int32Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use futures::TryStreamExt;
    use object_store::memory::InMemory;

    use super::test_fixtures::*;
    use super::*;

    async fn object_count(store: &Arc<InMemory>) -> usize {
        let all: Vec<_> = store.list(None).try_collect().await.unwrap();
        all.len()
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
