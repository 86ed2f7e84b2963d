//! Fixtures shared by the artifact writers' unit tests: writer settings, sample batches,
//! writing one artifact to an in-memory store and reading it back.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    BooleanArray, DurationNanosecondArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::ObjectStoreExt;

use crate::command::DataFormat;

use super::super::options::Compression;
use super::{open_writer, WriterSettings};

pub(super) const ALL_TEXT: [DataFormat; 3] = [DataFormat::Csv, DataFormat::Tsv, DataFormat::Json];

pub(super) fn settings(format: DataFormat, compression: Compression) -> WriterSettings {
    WriterSettings {
        format,
        compression,
        include_header: false,
        bom: false,
        parquet_row_group_size: 100_000,
    }
}

pub(super) fn ts(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

/// `rows` rows starting at id `start`: long, string (with characters that
/// need quoting), UTC datetime, timespan, nullable real, bool.
pub(super) fn sample(start: i64, rows: usize) -> RecordBatch {
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

pub(super) fn sample_schema() -> SchemaRef {
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

pub(super) async fn get(store: &Arc<InMemory>, path: &Path) -> Vec<u8> {
    store
        .get(path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

pub(super) fn decompress(data: &[u8], compression: Compression) -> Vec<u8> {
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
pub(super) async fn write_artifact(
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

pub(super) async fn text(settings: &WriterSettings, batches: &[RecordBatch]) -> String {
    let schema = batches[0].schema();
    let (data, uncompressed, _, _) = write_artifact(settings, schema, batches).await;
    let plain = decompress(&data, settings.compression);
    assert_eq!(plain.len() as u64, uncompressed);
    String::from_utf8(plain).unwrap()
}

pub(super) fn concat(batches: &[RecordBatch]) -> RecordBatch {
    datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
}

/// Every row of a Parquet file, as one batch.
pub(super) fn read_all(builder: ParquetRecordBatchReaderBuilder<Bytes>) -> RecordBatch {
    let read: Vec<RecordBatch> = builder
        .build()
        .unwrap()
        .collect::<std::result::Result<_, _>>()
        .unwrap();
    concat(&read)
}
