//! Parquet artifacts, encoding the column chunks of a row group in parallel.
//!
//! The file is assembled with Parquet's [`SerializedFileWriter`] over an
//! in-memory buffer that is drained to the upload after every row group;
//! each column (leaf) of the in-progress row group is encoded by its own
//! Tokio task, fed through a small bounded channel. Row groups hold exactly
//! `parquet_row_group_size` rows (the last one fewer).
//!
//! Encoding runs concurrently with the caller producing the next batch. A
//! completed row group is appended to the file (and uploaded) only when the
//! next one completes, so encoding never waits at a row group boundary; at
//! most two row groups are in memory.
//!
//! The file writer is created once [`SAMPLE_ROWS`] rows have arrived (or at
//! finish): they decide the columns written without a dictionary
//! ([`super::dictionary`]). Until then the batches are held as they are, so a
//! partition that receives a few rows per batch is still judged on a fair
//! sample.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn,
    ArrowRowGroupWriterFactory,
};
use datafusion::parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use datafusion::parquet::file::writer::SerializedFileWriter;
use tokio::sync::mpsc;

use crate::error::{ExportError, Result};

use super::dictionary::{choose_dictionaries, SAMPLE_ROWS};
use super::{check_schema, task_error, ArtifactWriter, TaskGroup, Upload, WriterSettings};

/// Leaf columns queued per column task at most.
const COLUMN_CHANNEL_CAPACITY: usize = 2;

fn parquet_error(e: ParquetError) -> ExportError {
    ExportError::DataFusion(e.into())
}

/// One column chunk being encoded.
struct ColumnTask {
    tx: mpsc::Sender<ArrowLeafColumn>,
}

/// The row group being written.
struct RowGroup {
    columns: Vec<ColumnTask>,
    handles: TaskGroup<std::result::Result<ArrowColumnChunk, ParquetError>>,
    rows: usize,
    /// Arrow in-memory size of the rows sent.
    arrow_bytes: u64,
}

impl RowGroup {
    fn start(writers: Vec<ArrowColumnWriter>) -> Self {
        let mut columns = Vec::with_capacity(writers.len());
        let mut handles = Vec::with_capacity(writers.len());
        for writer in writers {
            let (tx, rx) = mpsc::channel(COLUMN_CHANNEL_CAPACITY);
            handles.push(tokio::spawn(encode_column(writer, rx)));
            columns.push(ColumnTask { tx });
        }
        RowGroup {
            columns,
            handles: TaskGroup(handles),
            rows: 0,
            arrow_bytes: 0,
        }
    }

    /// Sends the leaves of `batch` to the column tasks.
    async fn send(&mut self, schema: &SchemaRef, batch: &RecordBatch) -> Result<()> {
        let mut index = 0;
        self.arrow_bytes += arrow_bytes(batch);
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column).map_err(parquet_error)? {
                let task = self.columns.get(index).ok_or_else(|| {
                    ExportError::Invalid("parquet writer: more leaves than columns".to_string())
                })?;
                if task.tx.send(leaf).await.is_err() {
                    // The task ended early: it failed; report why.
                    return Err(self.failure(index).await);
                }
                index += 1;
            }
        }
        self.rows += batch.num_rows();
        Ok(())
    }

    async fn failure(&mut self, index: usize) -> ExportError {
        let handle = &mut self.handles.0[index];
        match handle.await {
            Ok(Err(e)) => parquet_error(e),
            Ok(Ok(_)) => ExportError::Invalid(
                "parquet writer: a column encoder stopped unexpectedly".to_string(),
            ),
            Err(e) => task_error(e),
        }
    }

    /// Waits for every column chunk, in column order.
    async fn close(mut self) -> Result<Vec<ArrowColumnChunk>> {
        self.columns.clear(); // closes the channels: the tasks finish their chunks
        let mut chunks = Vec::with_capacity(self.handles.0.len());
        for handle in self.handles.0.iter_mut() {
            chunks.push(handle.await.map_err(task_error)?.map_err(parquet_error)?);
        }
        Ok(chunks)
    }
}

/// The in-memory size of `batch`'s rows (of a slice, not its whole buffers).
fn arrow_bytes(batch: &RecordBatch) -> u64 {
    batch
        .columns()
        .iter()
        .map(|column| {
            column
                .to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| column.get_array_memory_size()) as u64
        })
        .sum()
}

async fn encode_column(
    mut writer: ArrowColumnWriter,
    mut rx: mpsc::Receiver<ArrowLeafColumn>,
) -> std::result::Result<ArrowColumnChunk, ParquetError> {
    while let Some(leaf) = rx.recv().await {
        writer.write(&leaf)?;
    }
    writer.close()
}

/// The Parquet file being assembled, and how its row groups' column writers
/// are made.
struct ParquetFile {
    file: SerializedFileWriter<Vec<u8>>,
    factory: ArrowRowGroupWriterFactory,
}

impl ParquetFile {
    fn try_new(schema: &SchemaRef, props: WriterProperties) -> Result<Self> {
        // `ArrowWriter` derives the Parquet schema and embeds the Arrow schema
        // in the footer metadata; its parts then let columns encode in parallel.
        let writer = ArrowWriter::try_new(Vec::new(), Arc::clone(schema), Some(props))
            .map_err(parquet_error)?;
        let (file, factory) = writer.into_serialized_writer().map_err(parquet_error)?;
        Ok(ParquetFile { file, factory })
    }
}

/// Writes one Parquet artifact.
pub(super) struct ParquetWriter {
    schema: SchemaRef,
    /// Settings of every column; per-column dictionary choices are added
    /// when the file is created.
    props: WriterPropertiesBuilder,
    /// Created once the held batches make a sample (or at finish).
    file: Option<ParquetFile>,
    /// Batches received before the file exists.
    held: Vec<RecordBatch>,
    held_rows: usize,
    /// Arrow in-memory size of the held rows.
    held_bytes: u64,
    max_rows: usize,
    /// The row group receiving rows.
    current: Option<RowGroup>,
    /// A complete row group whose columns may still be encoding; appended
    /// to the file when the next one completes (or at finish), so that
    /// encoding never waits at a row group boundary.
    pending: Option<RowGroup>,
    /// Row groups started so far.
    started: usize,
    upload: Option<Upload>,
    rows: u64,
    /// Uncompressed size of the flushed row groups.
    flushed_bytes: u64,
    /// Arrow in-memory size of the rows of the flushed row groups.
    flushed_arrow_bytes: u64,
}

impl ParquetWriter {
    pub(super) fn try_new(
        upload: Upload,
        schema: SchemaRef,
        settings: &WriterSettings,
    ) -> Result<Self> {
        if settings.parquet_row_group_size == 0 {
            return Err(ExportError::Invalid(
                "parquet row group size must be at least 1".to_string(),
            ));
        }
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(settings.parquet_row_group_size))
            .set_compression(settings.compression.parquet_codec());
        // Fails now, not at the first batch, for schemas Parquet cannot hold.
        ArrowSchemaConverter::new()
            .convert(&schema)
            .map_err(parquet_error)?;
        Ok(ParquetWriter {
            schema,
            props,
            file: None,
            held: Vec::new(),
            held_rows: 0,
            held_bytes: 0,
            max_rows: settings.parquet_row_group_size,
            current: None,
            pending: None,
            started: 0,
            upload: Some(upload),
            rows: 0,
            flushed_bytes: 0,
            flushed_arrow_bytes: 0,
        })
    }

    fn upload(&mut self) -> Result<&mut Upload> {
        self.upload.as_mut().ok_or_else(|| {
            ExportError::Invalid("export writer: the artifact already failed".to_string())
        })
    }

    /// The file (see [`Self::create_file`]).
    fn file(&mut self) -> Result<&mut ParquetFile> {
        self.file
            .as_mut()
            .ok_or_else(|| ExportError::Invalid("parquet writer: no file".to_string()))
    }

    /// Creates the file with the dictionary choices the held batches lead to,
    /// then writes them.
    async fn create_file(&mut self) -> Result<()> {
        let held = std::mem::take(&mut self.held);
        let props = match held.as_slice() {
            [] => self.props.clone(),
            [one] => choose_dictionaries(self.props.clone(), one)?,
            several => {
                let sample = concat_batches(&self.schema, several)?;
                choose_dictionaries(self.props.clone(), &sample)?
            }
        };
        self.file = Some(ParquetFile::try_new(&self.schema, props.build())?);
        self.held_rows = 0;
        self.held_bytes = 0;
        for batch in &held {
            self.encode(batch).await?;
        }
        Ok(())
    }

    /// Sends `batch` to the row groups (the file exists).
    async fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        let mut offset = 0;
        while offset < rows {
            if self.current.is_none() {
                let index = self.started;
                let writers = self
                    .file()?
                    .factory
                    .create_column_writers(index)
                    .map_err(parquet_error)?;
                self.started += 1;
                self.current = Some(RowGroup::start(writers));
            }
            let group = self.current.as_mut().expect("row group just started");
            let take = (self.max_rows - group.rows).min(rows - offset);
            let part = if take == rows {
                batch.clone()
            } else {
                batch.slice(offset, take)
            };
            group.send(&self.schema, &part).await?;
            offset += take;
            if group.rows >= self.max_rows {
                self.complete_row_group().await?;
            }
        }
        Ok(())
    }

    /// Uploads whatever the file writer has produced so far.
    async fn drain(&mut self) -> Result<()> {
        let file = &mut self.file()?.file;
        file.flush()
            .map_err(|e| ExportError::DataFusion(e.into()))?;
        let bytes = std::mem::take(file.inner_mut());
        self.upload()?.put(Bytes::from(bytes)).await
    }

    /// Completes the current row group: it becomes pending (its columns
    /// finish encoding in the background) and the previously pending one is
    /// appended to the file and uploaded.
    async fn complete_row_group(&mut self) -> Result<()> {
        let Some(mut group) = self.current.take() else {
            return Ok(());
        };
        group.columns.clear(); // closes the channels: the tasks finish their chunks
        match self.pending.replace(group) {
            Some(previous) => self.append(previous).await,
            None => Ok(()),
        }
    }

    /// Appends a completed row group to the file and uploads it.
    async fn append(&mut self, group: RowGroup) -> Result<()> {
        self.flushed_arrow_bytes += group.arrow_bytes;
        let chunks = group.close().await?;
        let mut row_group = self.file()?.file.next_row_group().map_err(parquet_error)?;
        for chunk in chunks {
            chunk
                .append_to_row_group(&mut row_group)
                .map_err(parquet_error)?;
        }
        let metadata = row_group.close().map_err(parquet_error)?;
        self.flushed_bytes += u64::try_from(metadata.total_byte_size()).unwrap_or(0);
        self.drain().await
    }
}

#[async_trait::async_trait]
impl ArtifactWriter for ParquetWriter {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        check_schema(&self.schema, batch)?;
        self.rows += rows as u64;
        if self.file.is_some() {
            return self.encode(batch).await;
        }
        self.held.push(batch.clone());
        self.held_rows += rows;
        self.held_bytes += arrow_bytes(batch);
        if self.held_rows >= SAMPLE_ROWS {
            self.create_file().await?;
        }
        Ok(())
    }

    /// Row groups in the file count their uncompressed size; row groups not
    /// yet in the file count their Arrow size scaled by the uncompressed /
    /// Arrow ratio of those in the file (1 before the first one).
    fn uncompressed_bytes(&self) -> u64 {
        let arrow: u64 = [&self.current, &self.pending]
            .into_iter()
            .flatten()
            .map(|g| g.arrow_bytes)
            .sum::<u64>()
            + self.held_bytes;
        let in_progress = if self.flushed_arrow_bytes == 0 {
            arrow
        } else {
            let scaled = u128::from(arrow) * u128::from(self.flushed_bytes)
                / u128::from(self.flushed_arrow_bytes);
            u64::try_from(scaled).unwrap_or(u64::MAX)
        };
        self.flushed_bytes.saturating_add(in_progress)
    }

    fn rows(&self) -> u64 {
        self.rows
    }

    async fn finish(mut self: Box<Self>) -> Result<u64> {
        let result = async {
            if self.file.is_none() {
                self.create_file().await?;
            }
            self.complete_row_group().await?;
            if let Some(last) = self.pending.take() {
                self.append(last).await?;
            }
            self.file()?.file.finish().map_err(parquet_error)?;
            self.drain().await
        }
        .await;
        let Some(upload) = self.upload.take() else {
            return Err(ExportError::Invalid(
                "export writer: the artifact already failed".to_string(),
            ));
        };
        match result {
            Ok(()) => upload.finish().await,
            Err(e) => {
                let _ = upload.abort().await;
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        // Dropping the row groups aborts their column tasks.
        drop(self.current.take());
        drop(self.pending.take());
        match self.upload.take() {
            Some(upload) => upload.abort().await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, Int64Array, ListArray, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::parquet::basic::Compression as ParquetCompression;
    use object_store::memory::InMemory;
    use object_store::path::Path;

    use super::super::super::options::Compression;
    use super::super::open_writer;
    use super::super::test_fixtures::*;
    use super::*;
    use crate::command::DataFormat;

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
}
