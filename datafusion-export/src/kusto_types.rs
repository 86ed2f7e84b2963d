//! Kusto scalar types and their Arrow counterparts.

use datafusion::arrow::datatypes::{DataType, TimeUnit};

use crate::command::KustoType;

/// The Arrow type a Kusto column type is stored as.
///
/// `guid` and `dynamic` are stored as strings (a GUID's canonical text, and JSON).
pub fn arrow_type(t: KustoType) -> DataType {
    match t {
        KustoType::Bool => DataType::Boolean,
        KustoType::Int => DataType::Int32,
        KustoType::Long => DataType::Int64,
        KustoType::Real => DataType::Float64,
        KustoType::Decimal => DataType::Decimal128(38, 18),
        KustoType::String | KustoType::Guid | KustoType::Dynamic => DataType::Utf8,
        KustoType::Datetime => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        KustoType::Timespan => DataType::Duration(TimeUnit::Nanosecond),
    }
}

/// The Kusto name of an Arrow type, or the Arrow name where Kusto has none.
pub fn kusto_name(t: &DataType) -> String {
    match t {
        DataType::Boolean => "bool".into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
            "int".into()
        }
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "long".into(),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "real".into(),
        DataType::Decimal128(..) | DataType::Decimal256(..) => "decimal".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => "datetime".into(),
        DataType::Duration(_) | DataType::Interval(_) => "timespan".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_kusto_names() {
        for t in [
            KustoType::Bool,
            KustoType::Int,
            KustoType::Long,
            KustoType::Real,
            KustoType::Decimal,
            KustoType::String,
            KustoType::Datetime,
            KustoType::Timespan,
        ] {
            assert_eq!(kusto_name(&arrow_type(t)), t.name());
        }
    }
}
