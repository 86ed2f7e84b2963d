//! What a Delta table's data files hold: batches cast to the table's types without the
//! partition columns, partition values as Delta partition strings (kept in the log), and
//! the hive-style partition directories the files are written under.

use std::fmt;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{
    DataType as ArrowType, Date32Type, Decimal128Type, DecimalType, Float32Type, Float64Type,
    Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
};

use crate::error::{ExportError, Result};

use super::DeltaTableHandle;

/// The directory name Delta writers (Spark, delta-rs) use for a null partition value.
pub const NULL_PARTITION_DIR_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

impl DeltaTableHandle {
    /// `batch` (with columns named as the table's) as a data-file batch: partition columns
    /// dropped, the rest cast to the table's types (e.g. nanosecond timestamps to
    /// microseconds, durations to their integer count). Extra columns are an error.
    pub fn to_data_file_batch(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let batch_schema = batch.schema();
        if let Some(extra) = batch_schema
            .fields()
            .iter()
            .find(|f| self.schema.field_with_name(f.name()).is_err())
        {
            return Err(ExportError::Invalid(format!(
                "column '{}' is not a column of the Delta table",
                extra.name()
            )));
        }
        let columns = self
            .data_file_schema
            .fields()
            .iter()
            .map(|field| {
                let (index, _) = batch_schema.column_with_name(field.name()).ok_or_else(|| {
                    ExportError::Invalid(format!(
                        "the batch has no column '{}' of the Delta table",
                        field.name()
                    ))
                })?;
                cast_column(batch.column(index), field.name(), field.data_type())
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(
            self.data_file_schema.clone(),
            columns,
        )?)
    }

    /// The Delta partition string of `array[row]` for partition `column` (the array is cast
    /// to the column's table type first): `None` for null and for the empty string (Delta
    /// writes both as null); dates as `2026-11-21`, timestamps as
    /// `2026-11-21 13:45:00.000000` (UTC), decimals in plain notation, numbers and booleans
    /// as Spark prints them.
    pub fn partition_value(
        &self,
        column: &str,
        array: &dyn Array,
        row: usize,
    ) -> Result<Option<String>> {
        if !self.partition_columns.iter().any(|c| c == column) {
            return Err(ExportError::Invalid(format!(
                "'{column}' is not a partition column of the Delta table"
            )));
        }
        let field = self.schema.field_with_name(column)?;
        if row >= array.len() {
            return Err(ExportError::Invalid(format!(
                "row {row} is out of range for partition column '{column}'"
            )));
        }
        let one = array.slice(row, 1);
        let cast = cast_column(&one, column, field.data_type())?;
        partition_string(cast.as_ref()).map_err(|reason| {
            ExportError::Invalid(format!("partition column '{column}': {reason}"))
        })
    }
}

/// The hive-style directory for `partition_values` as Delta writers name it, e.g.
/// `Region=EU/Day=2026-11-21%2000%3A00%3A00.000000` (values percent-encoded as delta-rs
/// does; null as [`NULL_PARTITION_DIR_VALUE`]). Empty for an unpartitioned table. Delta
/// readers take partition values from the log, never from the path, so this is a
/// convention, not a requirement.
pub fn partition_path(partition_values: &[(String, Option<String>)]) -> String {
    partition_values
        .iter()
        .map(|(column, value)| match value {
            Some(value) => format!("{column}={}", encode_partition_value(value)),
            None => format!("{column}={NULL_PARTITION_DIR_VALUE}"),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-encodes a partition value for a directory name, with the character set
/// delta-rs uses (the Delta protocol's "URL-encode keys and string values").
fn encode_partition_value(value: &str) -> String {
    const RESERVED: &[u8] = b" !\"#$%&'()*+,/:;<=>?@[\\]^`{|}";
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_control() || !byte.is_ascii() || RESERVED.contains(&byte) {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push(byte as char);
        }
    }
    out
}

fn cast_column(array: &ArrayRef, name: &str, to: &ArrowType) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    // Durations are stored as their integer count: reinterpret, do not convert.
    let source: ArrayRef = match array.data_type() {
        ArrowType::Duration(_) => cast_with_options(array, &ArrowType::Int64, &safe_cast())
            .map_err(|e| cast_error(name, array.data_type(), to, e))?,
        _ => array.clone(),
    };
    cast_with_options(&source, to, &safe_cast())
        .map_err(|e| cast_error(name, array.data_type(), to, e))
}

fn safe_cast() -> CastOptions<'static> {
    CastOptions {
        safe: false,
        ..Default::default()
    }
}

fn cast_error(name: &str, from: &ArrowType, to: &ArrowType, e: impl fmt::Display) -> ExportError {
    ExportError::Invalid(format!(
        "column '{name}': cannot convert {from} to the Delta table's {to}: {e}"
    ))
}

fn partition_string(array: &dyn Array) -> std::result::Result<Option<String>, String> {
    if array.is_null(0) {
        return Ok(None);
    }
    let value = match array.data_type() {
        ArrowType::Boolean => array.as_boolean().value(0).to_string(),
        ArrowType::Int8 => array.as_primitive::<Int8Type>().value(0).to_string(),
        ArrowType::Int16 => array.as_primitive::<Int16Type>().value(0).to_string(),
        ArrowType::Int32 => array.as_primitive::<Int32Type>().value(0).to_string(),
        ArrowType::Int64 => array.as_primitive::<Int64Type>().value(0).to_string(),
        ArrowType::Float32 => array.as_primitive::<Float32Type>().value(0).to_string(),
        ArrowType::Float64 => array.as_primitive::<Float64Type>().value(0).to_string(),
        ArrowType::Utf8 => array.as_string::<i32>().value(0).to_string(),
        ArrowType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(0);
            Date32Type::to_naive_date_opt(days)
                .ok_or_else(|| format!("date {days} is out of range"))?
                .format("%Y-%m-%d")
                .to_string()
        }
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => {
            let micros = array
                .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
                .value(0);
            let time = chrono::DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| format!("timestamp {micros}µs is out of range"))?;
            time.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
        }
        ArrowType::Decimal128(precision, scale) => {
            let value = array.as_primitive::<Decimal128Type>().value(0);
            Decimal128Type::format_decimal(value, *precision, *scale)
        }
        other => return Err(format!("type {other} cannot be a Delta partition column")),
    };
    Ok(if value.is_empty() { None } else { Some(value) })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{StringArray, TimestampNanosecondArray};

    use super::*;

    #[test]
    fn partition_strings_follow_the_protocol() {
        assert_eq!(
            partition_path(&[
                ("a".into(), Some("x/y z".into())),
                ("b".into(), None),
                ("c".into(), Some("é".into())),
            ]),
            "a=x%2Fy%20z/b=__HIVE_DEFAULT_PARTITION__/c=%C3%A9"
        );
        let ts =
            TimestampNanosecondArray::from(vec![1_700_000_000_123_456_789]).with_timezone("UTC");
        let cast = cast_column(
            &(Arc::new(ts) as ArrayRef),
            "ts",
            &ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        )
        .unwrap();
        assert_eq!(
            partition_string(cast.as_ref()).unwrap().as_deref(),
            Some("2023-11-14 22:13:20.123456")
        );
        let empty = StringArray::from(vec![""]);
        assert_eq!(partition_string(&empty).unwrap(), None);
    }
}
