//! Building the small result tables that management commands return.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{Field, Schema};

use crate::error::Result;

/// A result table under construction, column by column.
#[derive(Default)]
pub struct ResultBuilder {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl ResultBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, name: &str, column: ArrayRef) -> Self {
        self.fields
            .push(Field::new(name, column.data_type().clone(), true));
        self.columns.push(column);
        self
    }

    /// A string column.
    pub fn strings<S: AsRef<str>>(
        self,
        name: &str,
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        let array: StringArray = values.into_iter().collect();
        self.push(name, Arc::new(array))
    }

    /// A 64-bit integer column.
    pub fn longs(self, name: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        self.push(name, Arc::new(values.into_iter().collect::<Int64Array>()))
    }

    /// A boolean column.
    pub fn bools(self, name: &str, values: impl IntoIterator<Item = Option<bool>>) -> Self {
        self.push(name, Arc::new(values.into_iter().collect::<BooleanArray>()))
    }

    /// A UTC timestamp column.
    pub fn times(
        self,
        name: &str,
        values: impl IntoIterator<Item = Option<DateTime<Utc>>>,
    ) -> Self {
        let array: TimestampNanosecondArray = values
            .into_iter()
            .map(|t| t.and_then(|t| t.timestamp_nanos_opt()))
            .collect();
        self.push(name, Arc::new(array.with_timezone("UTC")))
    }

    /// The finished table.
    pub fn build(self) -> Result<RecordBatch> {
        let schema = Arc::new(Schema::new(self.fields));
        Ok(RecordBatch::try_new(schema, self.columns)?)
    }
}

/// A result with no columns and no rows (for commands that only act).
pub fn empty() -> RecordBatch {
    RecordBatch::new_empty(Arc::new(Schema::empty()))
}
