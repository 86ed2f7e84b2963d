//! Partitioning exported rows: evaluating `partition by` expressions on a batch and
//! splitting it into one sub-batch per distinct partition.
//!
//! Values are computed column-at-a-time with Arrow kernels; rows are grouped by
//! their binary row encoding, so formatting a partition's path happens once per
//! group, not once per row.

use datafusion::common::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, TimeZone, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;

use crate::command::{BinStep, PartitionDef, PartitionExpr, StartOfUnit};
use crate::error::{ExportError, Result};

/// The bucket of `hash(col, N)`: the value's [stable hash](crate::stable_hash) modulo `N`.
pub fn partition_hash(bytes: &[u8], modulo: u32) -> u32 {
    (crate::stable_hash::fnv1a(bytes) % u64::from(modulo.max(1))) as u32
}

/// What kind of value a partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionValueKind {
    /// A UTC timestamp in nanoseconds (bin/startof of a datetime, or a datetime column).
    Datetime,
    /// Anything else, shown as text.
    Text,
}

/// One partition value of a group, ready to be rendered into a path.
#[derive(Debug, Clone, PartialEq)]
pub enum PartitionValue {
    /// Null or empty: goes to `__DEFAULT_PARTITION__`.
    Default,
    /// A datetime.
    Datetime(DateTime<Utc>),
    /// Text (numbers and strings).
    Text(String),
}

impl PartitionValue {
    /// The value as Delta / hive partition text (`None` for the default partition).
    pub fn as_text(&self) -> Option<String> {
        match self {
            PartitionValue::Default => None,
            PartitionValue::Datetime(t) => Some(default_datetime_text(t)),
            PartitionValue::Text(s) => Some(s.clone()),
        }
    }
}

/// Datetimes aligned on a day show as the date; others to the second.
pub fn default_datetime_text(t: &DateTime<Utc>) -> String {
    if t.timestamp_nanos_opt()
        .is_some_and(|n| n.rem_euclid(86_400_000_000_000) == 0)
    {
        t.format("%Y-%m-%d").to_string()
    } else if t.timestamp_subsec_nanos() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
    }
}

/// `partition by (…)` resolved against the exported schema.
#[derive(Debug, Clone)]
pub struct Partitioner {
    defs: Vec<PartitionDef>,
    columns: Vec<usize>,
    kinds: Vec<PartitionValueKind>,
}

/// A group of rows sharing one partition.
#[derive(Debug)]
pub struct PartitionGroup {
    /// The partition values, in `partition by` order.
    pub values: Vec<PartitionValue>,
    /// The rows.
    pub batch: RecordBatch,
}

impl Partitioner {
    /// Checks `defs` against `schema` (the export query's output).
    pub fn try_new(defs: &[PartitionDef], schema: &SchemaRef) -> Result<Self> {
        let mut columns = Vec::new();
        let mut kinds = Vec::new();
        for def in defs {
            let source = match &def.expr {
                PartitionExpr::Column(c) => c,
                PartitionExpr::Bin { column, .. }
                | PartitionExpr::StartOf { column, .. }
                | PartitionExpr::Hash { column, .. } => column,
            };
            let index = schema.index_of(source).map_err(|_| {
                ExportError::Invalid(format!(
                    "partition '{}' uses column '{source}', which the data does not have",
                    def.name
                ))
            })?;
            let data_type = schema.field(index).data_type();
            let is_time = matches!(
                data_type,
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
            );
            let kind = match &def.expr {
                PartitionExpr::Column(_) if is_time => PartitionValueKind::Datetime,
                PartitionExpr::Column(_) => PartitionValueKind::Text,
                PartitionExpr::Bin {
                    step: BinStep::Timespan(_),
                    ..
                }
                | PartitionExpr::StartOf { .. } => {
                    if !is_time {
                        return Err(ExportError::Invalid(format!(
                            "partition '{}': column '{source}' is {data_type}, but bin(…, timespan) and startof…() need a datetime",
                            def.name
                        )));
                    }
                    PartitionValueKind::Datetime
                }
                PartitionExpr::Bin {
                    step: BinStep::Number(_),
                    ..
                } => {
                    if !data_type.is_integer() && !data_type.is_floating() {
                        return Err(ExportError::Invalid(format!(
                            "partition '{}': bin(…, number) needs a numeric column, '{source}' is {data_type}",
                            def.name
                        )));
                    }
                    PartitionValueKind::Text
                }
                PartitionExpr::Hash { .. } => PartitionValueKind::Text,
            };
            columns.push(index);
            kinds.push(kind);
        }
        Ok(Self {
            defs: defs.to_vec(),
            columns,
            kinds,
        })
    }

    /// The partition definitions.
    pub fn defs(&self) -> &[PartitionDef] {
        &self.defs
    }

    /// Splits `batch` into groups of rows with equal partition values.
    pub fn split(&self, batch: &RecordBatch) -> Result<Vec<PartitionGroup>> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let arrays = self
            .defs
            .iter()
            .zip(&self.columns)
            .map(|(def, &i)| partition_array(&def.expr, batch.column(i)))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let fields = arrays
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        let rows = converter.convert_columns(&arrays)?;
        let mut groups: HashMap<&[u8], Vec<u32>> = HashMap::new();
        let mut order: Vec<&[u8]> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let key = row.data();
            groups
                .entry(key)
                .or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                })
                .push(i as u32);
        }
        if order.len() == 1 {
            return Ok(vec![PartitionGroup {
                values: self.values_at(&arrays, 0)?,
                batch: batch.clone(),
            }]);
        }
        order
            .into_iter()
            .map(|key| {
                let indices = UInt32Array::from(groups.remove(key).unwrap_or_default());
                let first = indices.value(0) as usize;
                let columns = batch
                    .columns()
                    .iter()
                    .map(|c| take(c.as_ref(), &indices, None))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(PartitionGroup {
                    values: self.values_at(&arrays, first)?,
                    batch: RecordBatch::try_new(batch.schema(), columns)?,
                })
            })
            .collect()
    }

    fn values_at(&self, arrays: &[ArrayRef], row: usize) -> Result<Vec<PartitionValue>> {
        arrays
            .iter()
            .zip(&self.kinds)
            .map(|(array, kind)| {
                if array.is_null(row) {
                    return Ok(PartitionValue::Default);
                }
                Ok(match kind {
                    PartitionValueKind::Datetime => {
                        let nanos = array.as_primitive::<Int64Type>().value(row);
                        PartitionValue::Datetime(Utc.timestamp_nanos(nanos))
                    }
                    PartitionValueKind::Text => {
                        let text = ScalarValue::try_from_array(array, row)?.to_string();
                        if text.is_empty() {
                            PartitionValue::Default
                        } else {
                            PartitionValue::Text(text)
                        }
                    }
                })
            })
            .collect()
    }
}

/// Timestamps (any unit) as UTC nanoseconds.
fn nanos(column: &ArrayRef) -> Result<Int64Array> {
    let ts = cast(column, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
    let ints = cast(&ts, &DataType::Int64)?;
    Ok(ints.as_primitive::<Int64Type>().clone())
}

fn partition_array(expr: &PartitionExpr, column: &ArrayRef) -> Result<ArrayRef> {
    Ok(match expr {
        PartitionExpr::Column(_) => match column.data_type() {
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
                Arc::new(nanos(column)?)
            }
            _ => Arc::clone(column),
        },
        PartitionExpr::Bin {
            step: BinStep::Timespan(step),
            ..
        } => {
            let step = i64::try_from(step.as_nanos()).unwrap_or(i64::MAX).max(1);
            Arc::new(nanos(column)?.unary::<_, Int64Type>(|v| floor_to(v, step)))
        }
        PartitionExpr::Bin {
            step: BinStep::Number(step),
            ..
        } => {
            let step = (*step).max(1);
            let ints = cast(column, &DataType::Int64)?;
            Arc::new(
                ints.as_primitive::<Int64Type>()
                    .unary::<_, Int64Type>(|v| floor_to(v, step)),
            )
        }
        PartitionExpr::StartOf { unit, .. } => {
            let unit = *unit;
            Arc::new(nanos(column)?.unary::<_, Int64Type>(|v| start_of(v, unit)))
        }
        PartitionExpr::Hash { modulo, .. } => {
            let modulo = *modulo;
            let hashed: UInt64Array = match column.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    let strings = cast(column, &DataType::Utf8)?;
                    let strings: &StringArray = strings.as_string::<i32>();
                    strings
                        .iter()
                        .map(|v| v.map(|s| u64::from(partition_hash(s.as_bytes(), modulo))))
                        .collect()
                }
                t if t.is_integer() => {
                    let ints = cast(column, &DataType::Int64)?;
                    ints.as_primitive::<Int64Type>()
                        .iter()
                        .map(|v| v.map(|i| u64::from(partition_hash(&i.to_le_bytes(), modulo))))
                        .collect()
                }
                other => {
                    let strings = cast(column, &DataType::Utf8).map_err(|_| {
                        ExportError::Invalid(format!(
                            "hash() cannot partition a column of type {other}"
                        ))
                    })?;
                    strings
                        .as_string::<i32>()
                        .iter()
                        .map(|v| v.map(|s| u64::from(partition_hash(s.as_bytes(), modulo))))
                        .collect()
                }
            };
            Arc::new(hashed)
        }
    })
}

/// `partition_hash(value, N)`: the SQL face of [`partition_hash`], used to recompute
/// `hash(col, N)` partitions when an external table is read back.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PartitionHashUdf {
    signature: datafusion::logical_expr::Signature,
}

impl Default for PartitionHashUdf {
    fn default() -> Self {
        Self {
            signature: datafusion::logical_expr::Signature::any(
                2,
                datafusion::logical_expr::Volatility::Immutable,
            ),
        }
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for PartitionHashUdf {
    fn name(&self) -> &str {
        "partition_hash"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::UInt64)
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::common::Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::logical_expr::ColumnarValue;
        let modulo = match args.args.get(1) {
            Some(ColumnarValue::Scalar(s)) => match s {
                ScalarValue::Int64(Some(m)) if *m > 0 && *m <= i64::from(u32::MAX) => *m as u32,
                _ => {
                    return datafusion::common::plan_err!(
                        "partition_hash() takes a positive modulo"
                    )
                }
            },
            _ => return datafusion::common::plan_err!("partition_hash() takes a constant modulo"),
        };
        let values = match args.args.first() {
            Some(v) => v.to_array(args.number_rows)?,
            None => {
                return datafusion::common::plan_err!("partition_hash() takes a value and a modulo")
            }
        };
        let hashed = partition_array(
            &PartitionExpr::Hash {
                column: String::new(),
                modulo,
            },
            &values,
        )
        .map_err(datafusion::error::DataFusionError::from)?;
        Ok(ColumnarValue::Array(hashed))
    }
}

/// Kusto's startof…(): day, week (starting Sunday), month, year — in UTC.
/// `v` rounded down to a multiple of `step` (> 0); near `i64::MIN`, where that
/// multiple is not an `i64`, the smallest `i64` (never an overflow).
fn floor_to(v: i64, step: i64) -> i64 {
    let step = step.max(1);
    v.div_euclid(step).checked_mul(step).unwrap_or(i64::MIN)
}

fn start_of(nanos: i64, unit: StartOfUnit) -> i64 {
    const DAY: i64 = 86_400_000_000_000;
    let day_start = floor_to(nanos, DAY);
    let date = Utc.timestamp_nanos(day_start).date_naive();
    let start: Option<NaiveDate> = match unit {
        StartOfUnit::Day => Some(date),
        StartOfUnit::Week => {
            Some(date - ChronoDuration::days(i64::from(date.weekday().num_days_from_sunday())))
        }
        StartOfUnit::Month => NaiveDate::from_ymd_opt(date.year(), date.month(), 1),
        StartOfUnit::Year => NaiveDate::from_ymd_opt(date.year(), 1, 1),
    };
    start
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| d.and_utc().timestamp_nanos_opt())
        .unwrap_or(day_start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::KustoType;
    use datafusion::arrow::array::TimestampNanosecondArray;
    use datafusion::arrow::datatypes::{Field, Schema};

    fn batch() -> RecordBatch {
        let ts = TimestampNanosecondArray::from(vec![
            Some(1_763_683_200_000_000_000), // 2025-11-21T00:00:00Z
            Some(1_763_690_400_000_000_000), // +2h
            None,
            Some(1_763_769_600_000_000_000), // +1d
        ])
        .with_timezone("UTC");
        RecordBatch::try_from_iter(vec![
            (
                "s",
                Arc::new(StringArray::from(vec![
                    Some("EU"),
                    Some("EU"),
                    Some(""),
                    None,
                ])) as ArrayRef,
            ),
            ("ts", Arc::new(ts) as ArrayRef),
            (
                "n",
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn def(name: &str, t: KustoType, expr: PartitionExpr) -> PartitionDef {
        PartitionDef {
            name: name.into(),
            kusto_type: t,
            expr,
        }
    }

    #[test]
    fn splits_by_value_and_day() {
        let b = batch();
        let p = Partitioner::try_new(
            &[
                def(
                    "Region",
                    KustoType::String,
                    PartitionExpr::Column("s".into()),
                ),
                def(
                    "Day",
                    KustoType::Datetime,
                    PartitionExpr::Bin {
                        column: "ts".into(),
                        step: BinStep::Timespan(std::time::Duration::from_secs(86_400)),
                    },
                ),
            ],
            &b.schema(),
        )
        .unwrap();
        let groups = p.split(&b).unwrap();
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].batch.num_rows(), 2);
        assert_eq!(groups[0].values[0], PartitionValue::Text("EU".into()));
        assert_eq!(groups[0].values[1].as_text().unwrap(), "2025-11-21");
        assert_eq!(
            groups[1].values,
            vec![PartitionValue::Default, PartitionValue::Default]
        );
        assert_eq!(groups[2].values[0], PartitionValue::Default);
    }

    #[test]
    fn hash_is_stable_and_bounded() {
        assert_eq!(partition_hash(b"abc", 16), partition_hash(b"abc", 16));
        assert!((0..1000).all(|i: i32| partition_hash(&i.to_le_bytes(), 7) < 7));
        let b = batch();
        let p = Partitioner::try_new(
            &[def(
                "B",
                KustoType::Long,
                PartitionExpr::Hash {
                    column: "n".into(),
                    modulo: 2,
                },
            )],
            &b.schema(),
        )
        .unwrap();
        let rows: usize = p
            .split(&b)
            .unwrap()
            .iter()
            .map(|g| g.batch.num_rows())
            .sum();
        assert_eq!(rows, 4);
    }

    #[test]
    fn bins_never_overflow() {
        assert_eq!(floor_to(17, 5), 15);
        assert_eq!(floor_to(-17, 5), -20);
        assert_eq!(floor_to(i64::MIN, 10), i64::MIN);
        assert_eq!(floor_to(i64::MIN + 1, i64::MAX), i64::MIN + 1);
        assert_eq!(floor_to(i64::MIN, i64::MAX), i64::MIN);
        assert_eq!(floor_to(i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(floor_to(5, 0), 5);
        for unit in [
            StartOfUnit::Day,
            StartOfUnit::Week,
            StartOfUnit::Month,
            StartOfUnit::Year,
        ] {
            for v in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
                let _ = start_of(v, unit);
            }
        }
        // Extreme timestamps and numbers through whole arrays.
        let ts: ArrayRef = Arc::new(
            TimestampNanosecondArray::from(vec![Some(i64::MIN), Some(i64::MAX), None])
                .with_timezone("UTC"),
        );
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![i64::MIN, i64::MAX, 0]));
        for step in [
            std::time::Duration::from_nanos(1),
            std::time::Duration::from_secs(86_400),
            std::time::Duration::from_secs(36_500 * 86_400),
            std::time::Duration::MAX,
        ] {
            let bin = PartitionExpr::Bin {
                column: "ts".into(),
                step: BinStep::Timespan(step),
            };
            partition_array(&bin, &ts).unwrap();
        }
        for step in [1, 7, i64::MAX] {
            let bin = PartitionExpr::Bin {
                column: "a".into(),
                step: BinStep::Number(step),
            };
            partition_array(&bin, &ints).unwrap();
        }
    }

    #[test]
    fn start_of_week_is_sunday() {
        // 2025-11-21 is a Friday; its week starts on Sunday 2025-11-16.
        let friday = 1_763_683_200_000_000_000;
        let sunday = Utc.timestamp_nanos(start_of(friday, StartOfUnit::Week));
        assert_eq!(sunday.format("%Y-%m-%d").to_string(), "2025-11-16");
        let month = Utc.timestamp_nanos(start_of(friday, StartOfUnit::Month));
        assert_eq!(month.format("%Y-%m-%d").to_string(), "2025-11-01");
    }

    #[test]
    fn rejects_bad_partition_columns() {
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let bad = Partitioner::try_new(
            &[def(
                "D",
                KustoType::Datetime,
                PartitionExpr::StartOf {
                    column: "s".into(),
                    unit: StartOfUnit::Day,
                },
            )],
            &schema,
        );
        assert!(bad.unwrap_err().to_string().contains("need a datetime"));
        let missing = Partitioner::try_new(
            &[def(
                "X",
                KustoType::String,
                PartitionExpr::Column("zz".into()),
            )],
            &schema,
        );
        assert!(missing.unwrap_err().to_string().contains("'zz'"));
    }
}
