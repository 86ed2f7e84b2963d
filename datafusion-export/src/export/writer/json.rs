//! JSON lines serialization with Arrow's JSON writer (explicit nulls).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::json::writer::LineDelimited;
use datafusion::arrow::json::WriterBuilder;

use crate::error::{ExportError, Result};

use super::{TextEncoder, TextPlan, TIMESTAMP_FORMAT};

fn builder() -> WriterBuilder {
    WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_timestamp_format(TIMESTAMP_FORMAT.to_string())
}

/// Serializes batches as one JSON object per line.
pub(super) struct JsonEncoder {
    plan: TextPlan,
}

impl JsonEncoder {
    pub(super) fn new(plan: TextPlan) -> Self {
        JsonEncoder { plan }
    }
}

impl TextEncoder for JsonEncoder {
    fn encode(&self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        let batch = self.plan.prepare(batch)?;
        let mut writer = builder().build::<_, LineDelimited>(out);
        writer.write(&batch)?;
        writer.finish()?;
        Ok(())
    }

    fn header(&self, _out: &mut Vec<u8>) -> Result<()> {
        Ok(())
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
        let mut writer = builder().build::<_, LineDelimited>(&mut json);
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
