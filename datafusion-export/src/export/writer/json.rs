//! JSON lines serialization with Arrow's JSON writer (explicit nulls).

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::json::writer::LineDelimited;

use crate::error::Result;

use super::columns::{json_builder, TextEncoder, TextPlan};

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
        let mut writer = json_builder().build::<_, LineDelimited>(out);
        writer.write(&batch)?;
        writer.finish()?;
        Ok(())
    }

    fn header(&self, _out: &mut Vec<u8>) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::options::Compression;
    use super::super::test_fixtures::{sample, settings, text};
    use crate::command::DataFormat;

    #[tokio::test]
    async fn json_lines_have_explicit_nulls() {
        let out = text(
            &settings(DataFormat::Json, Compression::None),
            &[sample(0, 4)],
        )
        .await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            "{\"id\":0,\"name\":\"plain0\",\"ts\":\"2026-11-20T08:00:00Z\",\"span\":\"00:00:00\",\
             \"score\":0.0,\"flag\":true}"
        );
        assert_eq!(
            lines[3],
            "{\"id\":3,\"name\":null,\"ts\":\"2026-11-20T08:00:04.500Z\",\"span\":null,\
             \"score\":0.75,\"flag\":false}"
        );
        assert!(
            lines[2].contains("\"name\":\"line\\n2\\r\\\\x\""),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains("\"score\":null"), "{}", lines[2]);
    }
}
