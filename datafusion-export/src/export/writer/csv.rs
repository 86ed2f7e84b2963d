//! CSV and TSV serialization (RFC 4180 quoting) with Arrow's CSV writer.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv::WriterBuilder;

use crate::error::Result;

use super::columns::{TextEncoder, TextPlan, TIMESTAMP_FORMAT};

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::super::super::options::Compression;
    use super::super::test_fixtures::{settings, text};
    use super::*;
    use crate::command::DataFormat;

    #[tokio::test]
    async fn csv_quoting_follows_rfc_4180() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Int32, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    Some("plain"),
                    Some("with,comma"),
                    Some("say \"hi\""),
                    Some("two\nlines"),
                    Some("cr\rhere"),
                    Some("back\\slash"),
                    Some("tab\there"),
                    None,
                    Some(""),
                ])),
                Arc::new(Int32Array::from(vec![
                    Some(1),
                    Some(2),
                    Some(3),
                    Some(4),
                    Some(5),
                    Some(6),
                    Some(7),
                    Some(8),
                    None,
                ])),
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
            "plain,1\n\"with,comma\",2\n\"say \"\"hi\"\"\",3\n\"two\nlines\",4\n\"cr\rhere\",5\n\
             back\\slash,6\ntab\there,7\n,8\n,\n"
        );
        let tsv = text(&settings(DataFormat::Tsv, Compression::None), &[batch]).await;
        assert_eq!(
            tsv,
            "plain\t1\nwith,comma\t2\n\"say \"\"hi\"\"\"\t3\n\"two\nlines\"\t4\n\"cr\rhere\"\t5\n\
             back\\slash\t6\n\"tab\there\"\t7\n\t8\n\t\n"
        );
    }
}
