//! The text formats (CSV, TSV, JSON lines): the writer that serializes batches (large
//! ones in parallel row slices) and streams them, plain or compressed, to the upload, and
//! the per-column preparation before serialization (timestamps as UTC, durations as Kusto
//! timespans, nested values as JSON text in CSV/TSV).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::command::DataFormat;
use crate::error::{ExportError, Result};

use super::super::options::Compression;
use super::columns::{TextEncoder, TextPlan};
use super::{
    check_schema, compress, csv, json, task_error, ArtifactWriter, TaskGroup, Upload,
    WriterSettings, BOM,
};

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

/// Writes one CSV, TSV or JSON lines artifact.
pub(super) struct TextWriter {
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
    /// The writer of a CSV, TSV or JSON lines artifact (see [`super::open_writer`]).
    pub(super) fn try_new(
        upload: Upload,
        schema: SchemaRef,
        settings: &WriterSettings,
    ) -> Result<Self> {
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
        Ok(TextWriter {
            schema,
            encoder,
            uncompressed: prologue.len() as u64,
            prologue: (!prologue.is_empty()).then_some(prologue),
            body_bytes: 0,
            output: Some(output),
            rows: 0,
        })
    }

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

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, DurationNanosecondType, Field, Schema, TimeUnit};

    use super::super::columns::*;

    use datafusion::arrow::array::{
        Int32Array, ListArray, TimestampMillisecondArray, TimestampNanosecondArray,
    };
    use datafusion::arrow::datatypes::Int32Type;
    use object_store::memory::InMemory;
    use object_store::path::Path;

    use super::super::open_writer;
    use super::super::test_fixtures::*;
    use super::*;

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
}
