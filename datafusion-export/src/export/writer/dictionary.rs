//! Choosing Parquet dictionary encoding per column, from the data.
//!
//! Dictionary encoding pays off when values repeat. Parquet writers (the
//! `parquet` crate, and so DataFusion's `COPY`) enable it for every column and
//! fall back to plain encoding only once a column chunk's dictionary page
//! passes 1 MiB — which a 100,000-row group of unique 8-byte values never
//! does. Such a column is then hashed value by value only to be stored twice
//! (every value in the dictionary, plus an index per row): slower to write and
//! larger than plain encoding. Ids, timestamps, measurements and free text are
//! like that, and they are most of a typical table.
//!
//! So each Parquet artifact looks at its first rows: a column whose sampled
//! non-null values are nearly all seen exactly once is written plain. The
//! share of values seen once is the Good–Turing estimate of the chance that
//! the next value is new; it stays near 1 only for columns with many more
//! distinct values than the sample has rows (a column of 3,000 values spread
//! over 8,192 sampled rows scores about 0.25 and keeps its dictionary).
//! Columns of other types (booleans, nested, Arrow dictionaries) and samples
//! too small to judge keep the default.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::parquet::file::properties::WriterPropertiesBuilder;
use datafusion::parquet::schema::types::ColumnPath;

use crate::error::Result;

/// Rows looked at: the first ones of an artifact.
pub(super) const SAMPLE_ROWS: usize = 8192;

/// Fewer non-null sampled values than this tell too little: keep the default.
const MIN_SAMPLE_VALUES: usize = 512;

/// A column whose sampled values are at least this share singletons is
/// written without a dictionary.
const UNIQUE_SHARE: f64 = 0.9;

/// Turns dictionary encoding off for the columns of `batch` that look
/// (nearly) unique; see the module docs.
pub(super) fn choose_dictionaries(
    mut builder: WriterPropertiesBuilder,
    batch: &RecordBatch,
) -> Result<WriterPropertiesBuilder> {
    let schema = batch.schema();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !is_candidate(field.data_type()) {
            continue;
        }
        let sample = column.slice(0, column.len().min(SAMPLE_ROWS));
        if singleton_share(&sample)?.is_some_and(|share| share >= UNIQUE_SHARE) {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::new(vec![field.name().clone()]), false);
        }
    }
    Ok(builder)
}

/// Flat columns Parquet may dictionary-encode (one leaf named after the field).
fn is_candidate(data_type: &DataType) -> bool {
    data_type.is_primitive()
        || matches!(
            data_type,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
        )
}

/// The share of `column`'s non-null values that occur exactly once, or
/// `None` when it has too few non-null values to judge.
fn singleton_share(column: &ArrayRef) -> Result<Option<f64>> {
    let values = column.len() - column.null_count();
    if values < MIN_SAMPLE_VALUES {
        return Ok(None);
    }
    let converter = RowConverter::new(vec![SortField::new(column.data_type().clone())])?;
    let rows = converter.convert_columns(std::slice::from_ref(column))?;
    let mut counts: HashMap<&[u8], u32> = HashMap::with_capacity(values);
    for (i, row) in rows.iter().enumerate() {
        if column.is_valid(i) {
            *counts.entry(row.data()).or_default() += 1;
        }
    }
    let singletons = counts.values().filter(|&&n| n == 1).count();
    Ok(Some(singletons as f64 / values as f64))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{BooleanArray, Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::parquet::file::properties::WriterProperties;

    use super::*;

    fn dictionary_enabled(batch: &RecordBatch) -> Vec<bool> {
        let props = choose_dictionaries(WriterProperties::builder(), batch)
            .unwrap()
            .build();
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| props.dictionary_enabled(&ColumnPath::new(vec![f.name().clone()])))
            .collect()
    }

    #[test]
    fn unique_columns_are_written_plain_and_repeating_ones_keep_their_dictionary() {
        let n = 10_000;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("code", DataType::Int64, false),
            Field::new("flag", DataType::Boolean, false),
            Field::new("sparse", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("text {}", i * 7919 % n)),
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| ["eu", "us", "asia"][(i % 3) as usize]),
                )),
                // 3,000 distinct values: repeats often enough for a dictionary.
                Arc::new(Int64Array::from_iter_values((0..n).map(|i| i * 31 % 3000))),
                Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 2 == 0)))),
                // Unique, but only 100 non-null values: too few to judge.
                Arc::new(Float64Array::from_iter(
                    (0..n).map(|i| (i % 100 == 0).then_some(i as f64)),
                )),
            ],
        )
        .unwrap();
        assert_eq!(
            dictionary_enabled(&batch),
            vec![false, false, true, true, true, true]
        );
    }

    #[test]
    fn small_batches_keep_the_default() {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from_iter_values(0..100))],
        )
        .unwrap();
        assert_eq!(dictionary_enabled(&batch), vec![true]);
    }
}
