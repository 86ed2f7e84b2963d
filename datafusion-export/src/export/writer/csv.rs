//! CSV and TSV serialization (RFC 4180 quoting) with Arrow's CSV writer.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv::WriterBuilder;

use crate::error::Result;

use super::{TextEncoder, TextPlan, TIMESTAMP_FORMAT};

/// Serializes batches as delimited text.
pub(super) struct CsvEncoder {
    delimiter: u8,
    plan: TextPlan,
}

impl CsvEncoder {
    pub(super) fn new(delimiter: u8, plan: TextPlan) -> Self {
        CsvEncoder { delimiter, plan }
    }

    /// Quotes only where needed (delimiter, quote, CR, LF), doubles quotes,
    /// leaves backslashes alone, writes nulls as empty fields, ends records
    /// with LF.
    fn builder(&self, header: bool) -> WriterBuilder {
        WriterBuilder::new()
            .with_header(header)
            .with_delimiter(self.delimiter)
            .with_double_quote(true)
            .with_null(String::new())
            .with_timestamp_format(TIMESTAMP_FORMAT.to_string())
    }
}

impl TextEncoder for CsvEncoder {
    fn encode(&self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        let batch = self.plan.prepare(batch)?;
        let mut writer = self.builder(false).build(out);
        writer.write(&batch)?;
        Ok(())
    }

    fn header(&self, out: &mut Vec<u8>) -> Result<()> {
        let empty = RecordBatch::new_empty(self.plan.schema.clone());
        let mut writer = self.builder(true).build(out);
        writer.write(&empty)?;
        Ok(())
    }
}
