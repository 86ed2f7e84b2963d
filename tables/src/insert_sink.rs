//! `IngestSink`: `INSERT INTO` an ingestion-tracked table, as one commit.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;
use datafusion::datasource::sink::DataSink;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};

use crate::database::Database;

/// Writes the inserted records into extents and commits them once all are written.
#[derive(Debug)]
pub struct IngestSink {
    db: Database,
    table: String,
    schema: SchemaRef,
}

impl IngestSink {
    /// A sink into `table` of `db`.
    pub fn new(db: Database, table: &str, schema: SchemaRef) -> Self {
        Self {
            db,
            table: table.to_string(),
            schema,
        }
    }
}

impl DisplayAs for IngestSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "IngestSink: table={}", self.table)
    }
}

#[async_trait]
impl DataSink for IngestSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let receipt = self.db.ingest_stream(&self.table, data, false).await?;
        Ok(receipt.rows)
    }
}
