//! Writing ingested record batches into new, immutable Parquet extents.

use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::parquet::arrow::async_writer::AsyncArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::ObjectStore;
use uuid::Uuid;

use crate::error::{Result, TablesError};
use crate::log::action::ExtentFile;

/// The Parquet settings of every extent; the ingest benchmark's baseline uses them too.
pub fn extent_writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build()
}

/// Streams batches of one table into extents, starting a new extent every
/// `max_rows` records so that scans of big ingestions still parallelise.
pub struct ExtentWriter {
    store: Arc<dyn ObjectStore>,
    table: String,
    schema: SchemaRef,
    max_rows: usize,
    current: Option<(AsyncArrowWriter<BufWriter>, ExtentFile)>,
    finished: Vec<ExtentFile>,
}

impl ExtentWriter {
    /// A writer for `table` with columns `schema`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        table: &str,
        schema: SchemaRef,
        max_rows: usize,
    ) -> Self {
        Self {
            store,
            table: table.to_string(),
            schema,
            max_rows: max_rows.max(1),
            current: None,
            finished: Vec::new(),
        }
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.finished.iter().map(|e| e.rows).sum::<u64>()
            + self.current.as_ref().map_or(0, |(_, e)| e.rows)
    }

    /// Conforms `batch` to the table's columns and writes it.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let batch = conform_batch(&self.table, &self.schema, batch)?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.current.is_none() {
                self.start()?;
            }
            let Some((writer, file)) = self.current.as_mut() else {
                break;
            };
            let room = self.max_rows - file.rows as usize;
            let take = room.min(batch.num_rows() - offset);
            writer.write(&batch.slice(offset, take)).await?;
            file.rows += take as u64;
            offset += take;
            if file.rows as usize >= self.max_rows {
                self.close_current().await?;
            }
        }
        Ok(())
    }

    /// Closes the last extent and returns every extent written.
    pub async fn finish(mut self) -> Result<Vec<ExtentFile>> {
        self.close_current().await?;
        Ok(self.finished)
    }

    fn start(&mut self) -> Result<()> {
        let id = Uuid::new_v4();
        let path = format!("extents/{}.parquet", id.simple());
        let object = BufWriter::new(Arc::clone(&self.store), Path::from(path.as_str()));
        let writer = AsyncArrowWriter::try_new(
            object,
            Arc::clone(&self.schema),
            Some(extent_writer_properties()),
        )?;
        self.current = Some((
            writer,
            ExtentFile {
                id,
                path,
                rows: 0,
                size: 0,
            },
        ));
        Ok(())
    }

    async fn close_current(&mut self) -> Result<()> {
        if let Some((mut writer, mut file)) = self.current.take() {
            writer.finish().await?;
            file.size = writer.bytes_written() as u64;
            self.finished.push(file);
        }
        Ok(())
    }
}

/// Makes `batch` match the table's columns: same names (any order), each column of
/// the table's type or of a type that converts to it without loss of meaning.
pub fn conform_batch(table: &str, schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    let mismatch = |reason: String| TablesError::SchemaMismatch {
        table: table.to_string(),
        reason,
    };
    let given = batch.schema();
    for field in given.fields() {
        if schema.field_with_name(field.name()).is_err() {
            return Err(mismatch(format!(
                "the data has a column '{}' that the table does not have (table columns: {})",
                field.name(),
                column_list(schema)
            )));
        }
    }
    if given.as_ref() == schema.as_ref() {
        return Ok(batch.clone());
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match given.index_of(field.name()) {
            Ok(i) => {
                let column = batch.column(i);
                if column.data_type() == field.data_type() {
                    Arc::clone(column)
                } else if convertible(column.data_type(), field.data_type()) {
                    let options = CastOptions {
                        safe: false,
                        ..Default::default()
                    };
                    cast_with_options(column, field.data_type(), &options).map_err(|e| {
                        mismatch(format!(
                            "column '{}': cannot convert {} to {}: {e}",
                            field.name(),
                            column.data_type(),
                            field.data_type()
                        ))
                    })?
                } else {
                    return Err(mismatch(format!(
                        "column '{}' is {} in the data but {} in the table",
                        field.name(),
                        column.data_type(),
                        field.data_type()
                    )));
                }
            }
            Err(_) => new_null_array(field.data_type(), batch.num_rows()),
        };
        columns.push(column);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

fn column_list(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Conversions that keep a value's meaning: widening numbers, string flavours,
/// timestamp units and zones, dictionaries to their values, nulls to anything.
pub fn convertible(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let string = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let int = |t: &DataType| {
        matches!(
            t,
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
        )
    };
    match (from, to) {
        (Null, _) => true,
        (Dictionary(_, value), to) => value.as_ref() == to || convertible(value, to),
        (a, b) if string(a) && string(b) => true,
        (a, b) if int(a) && (int(b) || matches!(b, Float64 | Decimal128(..))) => true,
        (Float16 | Float32, Float64) => true,
        (Timestamp(..), Timestamp(..)) | (Date32 | Date64, Timestamp(..)) => true,
        (Duration(_), Duration(_)) => true,
        (Decimal128(..), Decimal128(..)) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    fn table_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn widens_and_reorders() {
        let given = RecordBatch::try_from_iter(vec![
            ("s", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
            ("a", Arc::new(Int32Array::from(vec![7])) as ArrayRef),
        ])
        .unwrap();
        let out = conform_batch("T", &table_schema(), &given).unwrap();
        assert_eq!(out.schema(), table_schema());
    }

    #[test]
    fn rejects_wrong_types_and_unknown_columns() {
        let wrong = RecordBatch::try_from_iter(vec![(
            "a",
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
        )])
        .unwrap();
        let err = conform_batch("T", &table_schema(), &wrong).unwrap_err();
        assert!(
            err.to_string()
                .contains("column 'a' is Utf8 in the data but Int64"),
            "{err}"
        );
        let extra = RecordBatch::try_from_iter(vec![(
            "zz",
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
        )])
        .unwrap();
        let err = conform_batch("T", &table_schema(), &extra).unwrap_err();
        assert!(err.to_string().contains("column 'zz'"), "{err}");
    }
}
