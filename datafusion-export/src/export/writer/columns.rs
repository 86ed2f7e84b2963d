//! Preparing columns for the text formats (CSV, TSV, JSON): timestamps, timespans and
//! nested values as the formats print them, and the encoder trait each format
//! implements. Shared by the text writer and the format encoders.

use std::sync::Arc;

use datafusion::arrow::array::{make_array, Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{
    DataType, DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
    DurationSecondType, Field, Schema, SchemaRef, TimeUnit,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::LineDelimited;
use datafusion::arrow::json::WriterBuilder;

use crate::error::{ExportError, Result};

/// `chrono` format of time-zone-less timestamps nested in lists or structs
/// (top-level timestamp columns are relabelled as UTC and printed by Arrow's
/// RFC 3339 fast path, which gives the same text).
pub(crate) const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.fZ";

/// The time zone top-level timestamps are printed in.
const UTC_OFFSET: &str = "+00:00";

/// Arrow's JSON writer as the text formats use it: explicit nulls, timestamps in
/// [`TIMESTAMP_FORMAT`].
pub(super) fn json_builder() -> WriterBuilder {
    WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_timestamp_format(TIMESTAMP_FORMAT.to_string())
}

/// Serializes batches of one text format.
pub(super) trait TextEncoder: Send + Sync + 'static {
    /// Appends the serialized rows of `batch` to `out`.
    fn encode(&self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()>;
    /// Appends the header line (CSV/TSV).
    fn header(&self, out: &mut Vec<u8>) -> Result<()>;
}

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
    pub(super) fn new(schema: &SchemaRef, nested_as_json: bool) -> Result<Self> {
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
                Prep::NestedJson => nested_to_json_text(column),
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

/// A nested column (list, struct, map) as JSON text, for CSV/TSV.
pub(super) fn nested_to_json_text(column: &ArrayRef) -> Result<ArrayRef> {
    const KEY: &str = "v";
    const PREFIX: &[u8] = b"{\"v\":";
    let schema = Arc::new(Schema::new(vec![Field::new(
        KEY,
        column.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema, vec![Arc::clone(column)])?;
    let mut json = Vec::with_capacity(column.len() * 32);
    {
        let mut writer = json_builder().build::<_, LineDelimited>(&mut json);
        writer.write(&batch)?;
        writer.finish()?;
    }
    let mut out = StringBuilder::with_capacity(column.len(), json.len());
    let mut lines = json.split(|b| *b == b'\n');
    for row in 0..column.len() {
        let line = lines.next().unwrap_or_default();
        if column.is_null(row) {
            out.append_null();
            continue;
        }
        let value = line
            .strip_prefix(PREFIX)
            .and_then(|v| v.strip_suffix(b"}"))
            .ok_or_else(|| {
                ExportError::Invalid("unexpected JSON encoding of a nested value".to_string())
            })?;
        let text = std::str::from_utf8(value).map_err(|e| ExportError::Invalid(e.to_string()))?;
        out.append_value(text);
    }
    Ok(Arc::new(out.finish()))
}
