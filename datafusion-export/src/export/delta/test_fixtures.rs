//! Fixtures shared by the Delta target's unit tests: an export schema and its batches, a
//! data file written the way the export sink does, and SQL over a table provider.

use std::sync::Arc;

use datafusion::arrow::array::{
    DurationNanosecondArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;
use object_store::path::Path;
use object_store::ObjectStoreExt;

use super::{partition_path, DeltaFile, DeltaTableHandle, DeltaTarget};

pub(super) fn export_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("a", ArrowType::Int64, true),
        Field::new("s", ArrowType::Utf8, true),
        Field::new(
            "ts",
            ArrowType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
        Field::new("d", ArrowType::Duration(TimeUnit::Nanosecond), true),
        Field::new("Region", ArrowType::Utf8, true),
    ]))
}

pub(super) fn batch(region: &str, a: &[i64]) -> RecordBatch {
    let n = a.len();
    RecordBatch::try_new(
        export_schema(),
        vec![
            Arc::new(Int64Array::from(a.to_vec())),
            Arc::new(StringArray::from(
                a.iter().map(|v| format!("s{v}")).collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampNanosecondArray::from(
                    a.iter()
                        .map(|v| 1_700_000_000_000_000_000 + v * 1_000)
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(DurationNanosecondArray::from(
                a.iter().map(|v| v * 1_000_000_000).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec![region; n])),
        ],
    )
    .unwrap()
}

/// Writes `batch` as one Parquet data file the way the export sink does.
pub(super) async fn write_file(
    target: &DeltaTarget,
    handle: &DeltaTableHandle,
    batch: &RecordBatch,
) -> DeltaFile {
    let region = batch.column_by_name("Region").unwrap();
    let value = handle
        .partition_value("Region", region.as_ref(), 0)
        .unwrap();
    let partition_values = vec![("Region".to_string(), value)];
    let data = handle.to_data_file_batch(batch).unwrap();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, data.schema(), None).unwrap();
    writer.write(&data).unwrap();
    writer.close().unwrap();
    let path = format!(
        "{}/part-00000-{}.parquet",
        partition_path(&partition_values),
        uuid::Uuid::new_v4()
    );
    let size = bytes.len() as u64;
    target
        .object_store(handle)
        .put(&Path::parse(&path).unwrap(), bytes.into())
        .await
        .unwrap();
    DeltaFile {
        path,
        size,
        num_records: data.num_rows() as u64,
        partition_values,
    }
}

pub(super) async fn query(provider: Arc<dyn TableProvider>, sql: &str) -> Vec<RecordBatch> {
    let ctx = SessionContext::new();
    ctx.register_table("t", provider).unwrap();
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

pub(super) fn pretty(batches: &[RecordBatch]) -> String {
    datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string()
}
