//! The schema side of a Delta target: the Arrow → Delta type mapping, which Delta types an
//! existing column accepts, and the checks of an export schema and its partition columns
//! against a new or an existing table.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{
    DataType as ArrowType, Field, FieldRef, Fields, SchemaRef, TimeUnit,
};
use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
use deltalake::kernel::{DataType as DeltaType, PrimitiveType, StructField, StructType};

use crate::error::Result;

use super::{DeltaTableHandle, DeltaTarget};

impl DeltaTarget {
    /// `schema` as a Delta schema (after the type mapping of [`Self::ensure_table`]).
    pub(super) fn delta_schema(&self, schema: &SchemaRef) -> Result<StructType> {
        if schema.fields().is_empty() {
            return Err(self.invalid("the export schema has no columns".into()));
        }
        let mut seen = HashSet::new();
        let mut fields = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            if !seen.insert(field.name().to_lowercase()) {
                return Err(self.invalid(format!(
                    "column '{}' appears twice (Delta column names are case-insensitive)",
                    field.name()
                )));
            }
            let mapped = delta_field(field)
                .map_err(|reason| self.invalid(format!("column '{}': {reason}", field.name())))?;
            let delta = StructField::try_from_arrow(&mapped).map_err(|e| {
                self.invalid(format!("column '{}': no Delta type: {e}", field.name()))
            })?;
            fields.push(delta);
        }
        StructType::try_new(fields).map_err(|e| self.invalid(format!("bad schema: {e}")))
    }

    pub(super) fn check_partition_columns(
        &self,
        schema: &StructType,
        partition_columns: &[String],
    ) -> Result<()> {
        let mut seen = HashSet::new();
        for column in partition_columns {
            if !seen.insert(column.as_str()) {
                return Err(self.invalid(format!("partition column '{column}' is listed twice")));
            }
            let Some(field) = schema.field(column) else {
                return Err(self.invalid(format!(
                    "partition column '{column}' is not a column of the schema"
                )));
            };
            let partitionable = matches!(
                field.data_type(),
                DeltaType::Primitive(p) if !matches!(p, PrimitiveType::Binary)
            );
            if !partitionable {
                return Err(self.invalid(format!(
                    "column '{column}' of type {} cannot be a partition column",
                    field.data_type()
                )));
            }
        }
        if !partition_columns.is_empty() && partition_columns.len() == schema.fields().len() {
            return Err(self.invalid(
                "every column is a partition column; a Delta table needs at least one data column"
                    .into(),
            ));
        }
        Ok(())
    }

    pub(super) fn check_existing(
        &self,
        handle: &DeltaTableHandle,
        requested: &StructType,
        partition_columns: &[String],
    ) -> Result<()> {
        let state = handle
            .table
            .snapshot()
            .map_err(|e| self.error("cannot read the table state", e))?;
        let configuration = state.metadata().configuration();
        if let Some(mode) = configuration
            .get("delta.columnMapping.mode")
            .filter(|mode| !mode.eq_ignore_ascii_case("none"))
        {
            return Err(self.invalid(format!(
                "the table uses column mapping (mode '{mode}'), which this exporter does not write"
            )));
        }
        if let Some(key) = configuration
            .keys()
            .find(|key| key.starts_with("delta.constraints."))
        {
            return Err(self.invalid(format!(
                "the table has a CHECK constraint ('{key}'), which this exporter does not enforce"
            )));
        }
        for field in handle.delta_schema.fields() {
            let special = field.metadata().keys().find(|key| {
                matches!(
                    key.as_str(),
                    "delta.invariants" | "delta.generationExpression" | "delta.identity.start"
                )
            });
            if let Some(key) = special {
                return Err(self.invalid(format!(
                    "column '{}' carries '{key}', which this exporter does not enforce",
                    field.name()
                )));
            }
        }

        let table_fields: Vec<&StructField> = handle.delta_schema.fields().collect();
        let requested_fields: Vec<&StructField> = requested.fields().collect();
        for i in 0..table_fields.len().max(requested_fields.len()) {
            match (table_fields.get(i), requested_fields.get(i)) {
                (Some(t), Some(r)) if t.name() != r.name() => {
                    return Err(self.mismatch(format!(
                        "column {} is '{}' ({}) in the table but '{}' ({}) in the export schema",
                        i + 1,
                        t.name(),
                        t.data_type(),
                        r.name(),
                        r.data_type()
                    )));
                }
                (Some(t), Some(r)) if !type_compatible(r.data_type(), t.data_type()) => {
                    return Err(self.mismatch(format!(
                        "column '{}' is {} in the table but {} in the export schema",
                        t.name(),
                        t.data_type(),
                        r.data_type()
                    )));
                }
                (Some(_), Some(_)) => {}
                (Some(t), None) => {
                    return Err(self.mismatch(format!(
                        "table column '{}' ({}) is missing from the export schema",
                        t.name(),
                        t.data_type()
                    )));
                }
                (None, Some(r)) => {
                    return Err(self.mismatch(format!(
                        "export column '{}' ({}) is not in the table",
                        r.name(),
                        r.data_type()
                    )));
                }
                (None, None) => {}
            }
        }

        if !partition_columns.is_empty() {
            let wanted: HashSet<&String> = partition_columns.iter().collect();
            let actual: HashSet<&String> = handle.partition_columns.iter().collect();
            if wanted != actual {
                return Err(self.mismatch(format!(
                    "the table is partitioned by ({}) but the export asks for ({})",
                    handle.partition_columns.join(", "),
                    partition_columns.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// `field` with its type mapped to one Delta can store (see [`DeltaTarget::ensure_table`]).
fn delta_field(field: &Field) -> std::result::Result<Field, String> {
    Ok(Field::new(
        field.name(),
        delta_type(field.data_type())?,
        field.is_nullable(),
    ))
}

fn delta_fields(fields: &Fields) -> std::result::Result<Fields, String> {
    fields
        .iter()
        .map(|f| delta_field(f).map(Arc::new))
        .collect::<std::result::Result<Vec<FieldRef>, String>>()
        .map(Fields::from)
}

fn delta_type(data_type: &ArrowType) -> std::result::Result<ArrowType, String> {
    use ArrowType as T;
    Ok(match data_type {
        T::Boolean
        | T::Int8
        | T::Int16
        | T::Int32
        | T::Int64
        | T::Float32
        | T::Float64
        | T::Utf8
        | T::Binary
        | T::Date32 => data_type.clone(),
        T::UInt8 => T::Int16,
        T::UInt16 => T::Int32,
        T::UInt32 | T::UInt64 => T::Int64,
        T::Float16 => T::Float32,
        T::LargeUtf8 | T::Utf8View => T::Utf8,
        T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => T::Binary,
        T::Date64 => T::Date32,
        T::Timestamp(_, None) => T::Timestamp(TimeUnit::Microsecond, None),
        T::Timestamp(_, Some(_)) => T::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        T::Duration(_) => T::Int64,
        T::Decimal32(p, s) | T::Decimal64(p, s) | T::Decimal128(p, s) if *s >= 0 => {
            T::Decimal128(*p, *s)
        }
        T::Decimal256(p, s) if *p <= 38 && *s >= 0 => T::Decimal128(*p, *s),
        T::Dictionary(_, value) => delta_type(value)?,
        T::List(item) | T::LargeList(item) | T::ListView(item) | T::LargeListView(item) => {
            T::List(Arc::new(delta_field(item)?))
        }
        T::FixedSizeList(item, _) => T::List(Arc::new(delta_field(item)?)),
        T::Struct(fields) => T::Struct(delta_fields(fields)?),
        T::Map(entries, sorted) => T::Map(Arc::new(delta_field(entries)?), *sorted),
        other => return Err(format!("type {other} has no Delta Lake equivalent")),
    })
}

/// Whether data of Delta type `requested` can be written into a column of type `table`.
fn type_compatible(requested: &DeltaType, table: &DeltaType) -> bool {
    use PrimitiveType as P;
    match (requested, table) {
        (DeltaType::Primitive(r), DeltaType::Primitive(t)) => {
            r == t
                || matches!(
                    (r, t),
                    (P::Byte, P::Short | P::Integer | P::Long)
                        | (P::Short, P::Integer | P::Long)
                        | (P::Integer, P::Long)
                        | (P::Float, P::Double)
                )
        }
        (DeltaType::Array(r), DeltaType::Array(t)) => {
            type_compatible(r.element_type(), t.element_type())
        }
        (DeltaType::Map(r), DeltaType::Map(t)) => {
            type_compatible(r.key_type(), t.key_type())
                && type_compatible(r.value_type(), t.value_type())
        }
        (DeltaType::Struct(r), DeltaType::Struct(t)) => {
            r.fields().len() == t.fields().len()
                && r.fields().zip(t.fields()).all(|(r, t)| {
                    r.name() == t.name() && type_compatible(r.data_type(), t.data_type())
                })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use datafusion::arrow::datatypes::Schema;

    use super::super::test_fixtures::export_schema;
    use super::*;

    #[tokio::test]
    async fn schema_mismatch_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let target = DeltaTarget::new(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
        target
            .ensure_table(&export_schema(), &["Region".to_string()])
            .await
            .unwrap();

        let error = |fields: Vec<Field>, partitions: Vec<String>| {
            let target = target.clone();
            async move {
                target
                    .ensure_table(&Arc::new(Schema::new(fields)), &partitions)
                    .await
                    .unwrap_err()
                    .to_string()
            }
        };
        let mut fields: Vec<Field> = export_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();

        let mut wrong_type = fields.clone();
        wrong_type[1] = Field::new("s", ArrowType::Int64, true);
        let message = error(wrong_type, vec![]).await;
        assert!(
            message.contains("column 's' is string in the table but long in the export schema"),
            "{message}"
        );

        let mut renamed = fields.clone();
        renamed[0] = Field::new("b", ArrowType::Int64, true);
        let message = error(renamed, vec![]).await;
        assert!(
            message.contains("column 1 is 'a' (long) in the table but 'b'"),
            "{message}"
        );

        let mut extra = fields.clone();
        extra.push(Field::new("z", ArrowType::Boolean, true));
        let message = error(extra, vec![]).await;
        assert!(
            message.contains("export column 'z' (boolean) is not in the table"),
            "{message}"
        );

        let message = error(fields.clone(), vec!["s".into()]).await;
        assert!(
            message.contains("partitioned by (Region) but the export asks for (s)"),
            "{message}"
        );

        // Compatible: Utf8View for string, Int32 widening into long, µs timestamps.
        fields[0] = Field::new("a", ArrowType::Int32, true);
        fields[1] = Field::new("s", ArrowType::Utf8View, true);
        fields[2] = Field::new(
            "ts",
            ArrowType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        );
        target
            .ensure_table(&Arc::new(Schema::new(fields)), &["Region".to_string()])
            .await
            .unwrap();
    }
}
