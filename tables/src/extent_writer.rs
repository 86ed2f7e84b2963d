//! Writing ingested record batches into new, immutable Parquet extents.
//!
//! The Parquet writer is the synchronous [`ArrowWriter`]: nothing reaches the file
//! before a row group is complete (a million rows or 64 MiB encoded), and
//! the async writer would only add a copy of it. Its output lands in
//! fixed-size chunks ([`Chunks`]) that go to the store without another copy:
//! one `PUT` for an extent that fits in a chunk, otherwise a multipart upload
//! of whole chunks (a few in flight), started as soon as the first chunk
//! fills.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{new_null_array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use uuid::Uuid;

use crate::error::{Result, TablesError};
use crate::log::action::ExtentFile;

/// Size of the chunks an extent is uploaded in (and of its multipart parts;
/// object stores want at least 5 MiB).
const CHUNK_SIZE: usize = 8 * 1024 * 1024;

/// Multipart parts of one extent in flight at most.
const MAX_PARTS_IN_FLIGHT: usize = 4;

/// A row group is held in memory, encoded, until it closes: it is closed at this size
/// whatever its row count, so that wide rows do not make a row group of a million of
/// them (Parquet's default) a memory problem.
const MAX_ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;

/// The Parquet settings of every extent; the ingest benchmark's baseline uses them too.
pub fn extent_writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build()
}

/// A `Write` target keeping the encoded file in [`CHUNK_SIZE`] chunks, so the
/// bytes are never moved again on their way to the store.
#[derive(Default)]
struct Chunks {
    /// Filled chunks, not yet handed to the upload.
    full: Vec<Bytes>,
    current: Vec<u8>,
    /// Bytes written in all.
    written: u64,
}

impl Write for Chunks {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let written = buf.len();
        self.written += written as u64;
        while !buf.is_empty() {
            if self.current.capacity() == 0 {
                self.current = Vec::with_capacity(CHUNK_SIZE);
            }
            let take = (CHUNK_SIZE - self.current.len()).min(buf.len());
            self.current.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.current.len() == CHUNK_SIZE {
                self.full
                    .push(Bytes::from(std::mem::take(&mut self.current)));
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One extent being written.
struct OpenExtent {
    writer: ArrowWriter<Chunks>,
    file: ExtentFile,
    /// Started once the first chunk fills.
    upload: Option<WriteMultipart>,
}

/// Streams batches of one table into extents, starting a new extent every
/// `max_rows` records so that scans of big ingestions still parallelise.
///
/// After an error, call [`abort`](Self::abort) so that no multipart upload is
/// left behind (extents already finished are never committed: orphans).
pub struct ExtentWriter {
    store: Arc<dyn ObjectStore>,
    table: String,
    schema: SchemaRef,
    max_rows: usize,
    props: WriterProperties,
    max_row_group_bytes: usize,
    current: Option<OpenExtent>,
    finished: Vec<ExtentFile>,
}

impl ExtentWriter {
    /// A writer for `table` with columns `schema`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        table: &str,
        schema: SchemaRef,
        max_rows: usize,
    ) -> Self {
        Self {
            store,
            table: table.to_string(),
            schema,
            max_rows: max_rows.max(1),
            props: extent_writer_properties(),
            max_row_group_bytes: MAX_ROW_GROUP_BYTES,
            current: None,
            finished: Vec::new(),
        }
    }

    /// This writer with other Parquet settings (e.g. smaller row groups for merged
    /// extents, so that cursor-scoped reads skip more of them).
    pub fn with_properties(mut self, props: WriterProperties) -> Self {
        self.props = props;
        self
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.finished.iter().map(|e| e.rows).sum::<u64>()
            + self.current.as_ref().map_or(0, |e| e.file.rows)
    }

    /// Conforms `batch` to the table's columns and writes it.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let batch = conform_batch(&self.table, &self.schema, batch)?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.current.is_none() {
                self.start()?;
            }
            let Some(extent) = self.current.as_mut() else {
                break;
            };
            let room = self.max_rows - extent.file.rows as usize;
            let take = room.min(batch.num_rows() - offset);
            extent.writer.write(&batch.slice(offset, take))?;
            if extent.writer.in_progress_size() >= self.max_row_group_bytes {
                extent.writer.flush()?;
            }
            extent.file.rows += take as u64;
            offset += take;
            if extent.file.rows as usize >= self.max_rows {
                self.close_current().await?;
            } else {
                self.upload_full_chunks().await?;
            }
        }
        Ok(())
    }

    /// Closes the last extent and returns every extent written.
    pub async fn finish(mut self) -> Result<Vec<ExtentFile>> {
        self.close_current().await?;
        Ok(self.finished)
    }

    /// Abandons the extent being written (its multipart upload, if any).
    pub async fn abort(mut self) {
        if let Some(upload) = self.current.take().and_then(|e| e.upload) {
            // Best effort: a part left behind is an orphan, never committed.
            let _ = upload.abort().await;
        }
    }

    fn start(&mut self) -> Result<()> {
        let id = Uuid::new_v4();
        let path = format!("extents/{}.parquet", id.simple());
        let writer = ArrowWriter::try_new(
            Chunks::default(),
            Arc::clone(&self.schema),
            Some(self.props.clone()),
        )?;
        self.current = Some(OpenExtent {
            writer,
            file: ExtentFile {
                id,
                path,
                rows: 0,
                size: 0,
                original_size: None,
            },
            upload: None,
        });
        Ok(())
    }

    /// Hands the filled chunks of the current extent (complete row groups
    /// of an extent of several) to its multipart upload.
    async fn upload_full_chunks(&mut self) -> Result<()> {
        let Some(extent) = self.current.as_mut() else {
            return Ok(());
        };
        let full = std::mem::take(&mut extent.writer.inner_mut().full);
        if full.is_empty() {
            return Ok(());
        }
        let path = Path::from(extent.file.path.as_str());
        let upload = multipart(&self.store, &path, &mut extent.upload).await?;
        for chunk in full {
            // On error the caller aborts the upload (`abort`).
            upload.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await?;
            upload.put(chunk);
        }
        Ok(())
    }

    async fn close_current(&mut self) -> Result<()> {
        let Some(OpenExtent {
            writer,
            mut file,
            upload,
        }) = self.current.take()
        else {
            return Ok(());
        };
        let mut writer = writer;
        let metadata = writer.finish()?; // writes the footer
        file.original_size = Some(
            metadata
                .row_groups()
                .iter()
                .map(|g| u64::try_from(g.total_byte_size()).unwrap_or(0))
                .sum(),
        );
        // The footer is written: take the bytes (`into_inner` would finish again).
        let chunks = std::mem::take(writer.inner_mut());
        drop(writer);
        file.size = chunks.written;
        let mut parts = chunks.full;
        if !chunks.current.is_empty() {
            parts.push(Bytes::from(chunks.current));
        }
        let path = Path::from(file.path.as_str());
        let mut upload = upload;
        if upload.is_none() && parts.len() > 1 {
            multipart(&self.store, &path, &mut upload).await?;
        }
        match upload {
            None => {
                self.store
                    .put(&path, parts.into_iter().collect::<PutPayload>())
                    .await?;
            }
            Some(mut upload) => {
                for part in parts {
                    if let Err(e) = upload.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await {
                        let _ = upload.abort().await;
                        return Err(e.into());
                    }
                    upload.put(part);
                }
                upload.finish().await?;
            }
        }
        self.finished.push(file);
        Ok(())
    }
}

/// The multipart upload in `slot`, started if need be.
async fn multipart<'a>(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    slot: &'a mut Option<WriteMultipart>,
) -> Result<&'a mut WriteMultipart> {
    let upload = match slot.take() {
        Some(upload) => upload,
        None => WriteMultipart::new_with_chunk_size(store.put_multipart(path).await?, CHUNK_SIZE),
    };
    Ok(slot.insert(upload))
}

/// Makes `batch` match the table's columns: same names (any order), each column of
/// the table's type or of a type that converts to it without loss of meaning.
pub fn conform_batch(table: &str, schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    let mismatch = |reason: String| TablesError::SchemaMismatch {
        table: table.to_string(),
        reason,
    };
    let given = batch.schema();
    for field in given.fields() {
        if schema.field_with_name(field.name()).is_err() {
            return Err(mismatch(format!(
                "the data has a column '{}' that the table does not have (table columns: {})",
                field.name(),
                column_list(schema)
            )));
        }
    }
    if given.as_ref() == schema.as_ref() {
        return Ok(batch.clone());
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match given.index_of(field.name()) {
            Ok(i) => {
                let column = batch.column(i);
                if column.data_type() == field.data_type() {
                    Arc::clone(column)
                } else if convertible(column.data_type(), field.data_type()) {
                    let options = CastOptions {
                        safe: false,
                        ..Default::default()
                    };
                    cast_with_options(column, field.data_type(), &options).map_err(|e| {
                        mismatch(format!(
                            "column '{}': cannot convert {} to {}: {e}",
                            field.name(),
                            column.data_type(),
                            field.data_type()
                        ))
                    })?
                } else {
                    return Err(mismatch(format!(
                        "column '{}' is {} in the data but {} in the table",
                        field.name(),
                        column.data_type(),
                        field.data_type()
                    )));
                }
            }
            Err(_) => new_null_array(field.data_type(), batch.num_rows()),
        };
        columns.push(column);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

fn column_list(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Conversions that keep a value's meaning: widening numbers, string flavours,
/// timestamp units and zones, dictionaries to their values, nulls to anything.
pub fn convertible(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let string = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let int = |t: &DataType| {
        matches!(
            t,
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
        )
    };
    match (from, to) {
        (Null, _) => true,
        (Dictionary(_, value), to) => value.as_ref() == to || convertible(value, to),
        (a, b) if string(a) && string(b) => true,
        (a, b) if int(a) && (int(b) || matches!(b, Float64 | Decimal128(..))) => true,
        (Float16 | Float32, Float64) => true,
        (Timestamp(..), Timestamp(..)) | (Date32 | Date64, Timestamp(..)) => true,
        (Duration(_), Duration(_)) => true,
        (Decimal128(..), Decimal128(..)) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use futures::TryStreamExt;
    use object_store::memory::InMemory;

    fn table_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]))
    }

    /// `rows` rows of 64 pseudo-random (incompressible) bytes each.
    fn random_rows(seed: u64, rows: usize) -> RecordBatch {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let values: Vec<Vec<u8>> = (0..rows)
            .map(|_| (0..8).flat_map(|_| next().to_le_bytes()).collect())
            .collect();
        RecordBatch::try_from_iter(vec![(
            "b",
            Arc::new(datafusion::arrow::array::BinaryArray::from_iter_values(
                values,
            )) as ArrayRef,
        )])
        .unwrap()
    }

    async fn read_extent(store: &InMemory, file: &ExtentFile) -> Vec<RecordBatch> {
        let data = store
            .get(&Path::from(file.path.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(data.len() as u64, file.size);
        ParquetRecordBatchReaderBuilder::try_new(data)
            .unwrap()
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap()
    }

    #[tokio::test]
    async fn small_and_multipart_extents_read_back() {
        let store = Arc::new(InMemory::new());
        let batches: Vec<RecordBatch> = (0..4).map(|i| random_rows(i, 40_000)).collect();
        // 160,000 rows of 64 bytes (~10 MiB): a multipart extent of 140,000
        // rows (over one chunk) and a single-PUT extent of 20,000.
        let mut writer = ExtentWriter::new(store.clone(), "T", batches[0].schema(), 140_000);
        // Row groups of 20,000 rows reach the upload while the extent is written.
        writer.props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(20_000))
            .build();
        for batch in &batches {
            writer.write(batch).await.unwrap();
        }
        assert_eq!(writer.rows(), 160_000);
        let extents = writer.finish().await.unwrap();
        let rows: Vec<u64> = extents.iter().map(|e| e.rows).collect();
        assert_eq!(rows, vec![140_000, 20_000]);
        assert!(extents[0].size > CHUNK_SIZE as u64, "{}", extents[0].size);
        assert!(extents[1].size < CHUNK_SIZE as u64, "{}", extents[1].size);
        let mut read = Vec::new();
        for extent in &extents {
            read.extend(read_extent(&store, extent).await);
        }
        let all = |b: &[RecordBatch]| {
            datafusion::arrow::compute::concat_batches(&b[0].schema(), b).unwrap()
        };
        assert_eq!(all(&read), all(&batches));
    }

    #[tokio::test]
    async fn a_row_group_closes_at_its_byte_bound() {
        let store = Arc::new(InMemory::new());
        let batches: Vec<RecordBatch> = (0..8).map(|i| random_rows(i, 10_000)).collect();
        let mut writer = ExtentWriter::new(store.clone(), "T", batches[0].schema(), 1 << 20);
        writer.max_row_group_bytes = 1 << 20;
        for batch in &batches {
            writer.write(batch).await.unwrap();
        }
        let extents = writer.finish().await.unwrap();
        assert_eq!(extents.len(), 1);
        let data = store
            .get(&Path::from(extents[0].path.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(data).unwrap();
        // 80,000 rows of 64 bytes (~5 MiB): far under a million rows, yet several
        // row groups, none much over the bound.
        let groups = builder.metadata().row_groups();
        assert!(groups.len() >= 3, "{} row groups", groups.len());
        assert!(groups
            .iter()
            .all(|g| (g.compressed_size() as usize) < 2 << 20));
        let read: Vec<RecordBatch> = builder
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert_eq!(read.iter().map(|b| b.num_rows()).sum::<usize>(), 80_000);
    }

    #[tokio::test]
    async fn abort_leaves_no_extent() {
        let store = Arc::new(InMemory::new());
        let mut writer = ExtentWriter::new(store.clone(), "T", random_rows(0, 1).schema(), 1 << 20);
        writer.props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(20_000))
            .build();
        // Over one chunk in complete row groups: the multipart upload has started.
        writer.write(&random_rows(7, 200_000)).await.unwrap();
        assert!(writer.current.as_ref().unwrap().upload.is_some());
        writer.abort().await;
        let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
        assert!(listed.is_empty(), "{listed:?}");
    }

    #[test]
    fn widens_and_reorders() {
        let given = RecordBatch::try_from_iter(vec![
            ("s", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
            ("a", Arc::new(Int32Array::from(vec![7])) as ArrayRef),
        ])
        .unwrap();
        let out = conform_batch("T", &table_schema(), &given).unwrap();
        assert_eq!(out.schema(), table_schema());
    }

    #[test]
    fn rejects_wrong_types_and_unknown_columns() {
        let wrong = RecordBatch::try_from_iter(vec![(
            "a",
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
        )])
        .unwrap();
        let err = conform_batch("T", &table_schema(), &wrong).unwrap_err();
        assert!(
            err.to_string()
                .contains("column 'a' is Utf8 in the data but Int64"),
            "{err}"
        );
        let extra = RecordBatch::try_from_iter(vec![(
            "zz",
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
        )])
        .unwrap();
        let err = conform_batch("T", &table_schema(), &extra).unwrap_err();
        assert!(err.to_string().contains("column 'zz'"), "{err}");
    }
}
