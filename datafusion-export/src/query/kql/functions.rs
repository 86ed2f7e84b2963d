//! KQL scalar functions → DataFusion expressions (the session's functions, looked up
//! by name, plus [`KqlHashUdf`]).

use std::ops::Not;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast as cast_array;
use datafusion::arrow::datatypes::{DataType, Int64Type, IntervalMonthDayNano, TimeUnit};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{
    cast, lit, try_cast, when, ColumnarValue, Expr as DfExpr, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use datafusion::logical_expr::conditional_expressions::CaseBuilder;

use super::scalar::{type_of, UTC};
use super::Planner;
use crate::command::kql::{Expr, Ident, Span};
use crate::command::KustoType;
use crate::error::Result;

/// Seconds from 0001-01-01T00:00:00Z, where Kusto's `bin` of a datetime starts, to the
/// Unix epoch.
const SECONDS_FROM_YEAR_ONE_TO_EPOCH: i64 = 62_135_596_800;

/// Nanoseconds in a day.
const DAY_NANOS: i64 = 86_400_000_000_000;

impl Planner<'_> {
    /// Plans `name(args)`: `ast` are the arguments as written, `args` as planned.
    pub(crate) fn function(
        &self,
        name: &Ident,
        ast: &[Expr],
        args: Vec<DfExpr>,
        span: Span,
        schema: &DFSchema,
    ) -> Result<DfExpr> {
        let n = name.name.as_str();
        let arity = |min: usize, max: usize| {
            if args.len() < min || args.len() > max {
                let expected = if min == max {
                    format!("{min}")
                } else if max == usize::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                };
                return Err(self.error(
                    span,
                    format!("{n}() takes {expected} argument(s), got {}", args.len()),
                ));
            }
            Ok(())
        };
        let mut it = args.clone().into_iter();
        let mut next = || {
            it.next()
                .unwrap_or(DfExpr::Literal(ScalarValue::Null, None))
        };
        Ok(match n {
            "ago" => {
                arity(1, 1)?;
                self.call("now", vec![])? - next()
            }
            "now" => {
                arity(0, 1)?;
                let now = self.call("now", vec![])?;
                if args.is_empty() {
                    now
                } else {
                    now + next()
                }
            }
            "bin" | "floor" => {
                arity(2, 2)?;
                let (value, step) = (next(), next());
                self.bin(
                    value,
                    step,
                    ast.get(1).map(|a| a.span).unwrap_or(span),
                    schema,
                )?
            }
            "startofday" | "startofmonth" | "startofyear" => {
                arity(1, 1)?;
                let unit = match n {
                    "startofday" => "day",
                    "startofmonth" => "month",
                    _ => "year",
                };
                self.call("date_trunc", vec![lit(unit), next()])?
            }
            "startofweek" => {
                arity(1, 1)?;
                let value = next();
                // 1970-01-04 was a Sunday: Kusto's weeks start on Sunday.
                let tz = match type_of(&value, schema) {
                    Some(DataType::Timestamp(_, tz)) => tz,
                    _ => Some(UTC.into()),
                };
                let origin = DfExpr::Literal(
                    ScalarValue::TimestampNanosecond(Some(3 * DAY_NANOS), tz),
                    None,
                );
                self.call("date_bin", vec![interval(7 * DAY_NANOS), value, origin])?
            }
            "tostring" => {
                arity(1, 1)?;
                self.call("coalesce", vec![cast(next(), DataType::Utf8), lit("")])?
            }
            "toint" => {
                arity(1, 1)?;
                try_cast(next(), DataType::Int32)
            }
            "tolong" => {
                arity(1, 1)?;
                try_cast(next(), DataType::Int64)
            }
            "todouble" | "toreal" => {
                arity(1, 1)?;
                try_cast(next(), DataType::Float64)
            }
            "todatetime" => {
                arity(1, 1)?;
                try_cast(
                    next(),
                    DataType::Timestamp(TimeUnit::Nanosecond, Some(UTC.into())),
                )
            }
            "strcat" => {
                arity(1, 64)?;
                self.call("concat", args)?
            }
            "strlen" => {
                arity(1, 1)?;
                cast(self.call("character_length", args)?, DataType::Int64)
            }
            "substring" => {
                arity(2, 3)?;
                let (s, start) = (next(), next());
                // Kusto is 0-based, `substr` 1-based; negatives count as 0.
                let start = at_least_zero(start)? + lit(1i64);
                let mut call_args = vec![s, start];
                if args.len() == 3 {
                    call_args.push(at_least_zero(next())?);
                }
                self.call("substr", call_args)?
            }
            "tolower" => {
                arity(1, 1)?;
                self.call("lower", args)?
            }
            "toupper" => {
                arity(1, 1)?;
                self.call("upper", args)?
            }
            "iff" | "iif" => {
                arity(3, 3)?;
                let (c, a, b) = (next(), next(), next());
                when(c, a).otherwise(b)?
            }
            "case" => {
                if args.len() < 3 || args.chunks_exact(2).remainder().is_empty() {
                    return Err(self.error(
                        span,
                        "case() takes pairs of condition and value, then the value otherwise: \
                         case(c1, v1, c2, v2, …, else)",
                    ));
                }
                let pairs = args.chunks_exact(2);
                let otherwise = pairs.remainder().first().cloned();
                let (whens, thens): (Vec<DfExpr>, Vec<DfExpr>) = pairs
                    .filter_map(|p| match p {
                        [c, v] => Some((c.clone(), v.clone())),
                        _ => None,
                    })
                    .unzip();
                CaseBuilder::new(None, whens, thens, otherwise.map(Box::new)).end()?
            }
            "isnull" => {
                arity(1, 1)?;
                next().is_null()
            }
            "isnotnull" => {
                arity(1, 1)?;
                next().is_not_null()
            }
            "isempty" | "isnotempty" => {
                arity(1, 1)?;
                let value = next();
                let empty = match type_of(&value, schema) {
                    Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
                        value.clone().is_null().or(value.eq(lit("")))
                    }
                    _ => value.is_null(),
                };
                if n == "isempty" {
                    empty
                } else {
                    empty.not()
                }
            }
            "coalesce" => {
                arity(1, 64)?;
                // Kusto: the first value that is not null, nor an empty string.
                let strings = matches!(
                    args.first().and_then(|a| type_of(a, schema)),
                    Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
                );
                let last = args.len() - 1;
                let args = if strings {
                    args.into_iter()
                        .enumerate()
                        .map(|(k, a)| {
                            if k < last {
                                self.call("nullif", vec![a, lit("")])
                            } else {
                                Ok(a)
                            }
                        })
                        .collect::<Result<Vec<_>>>()?
                } else {
                    args
                };
                self.call("coalesce", args)?
            }
            "not" => {
                arity(1, 1)?;
                next().not()
            }
            "abs" => {
                arity(1, 1)?;
                self.call("abs", args)?
            }
            "round" => {
                arity(1, 2)?;
                self.call("round", args)?
            }
            "hash" => {
                arity(1, 2)?;
                ScalarUDF::new_from_impl(KqlHashUdf::default()).call(args)
            }
            "long" | "int" | "real" | "double" | "string" | "bool" => {
                arity(1, 1)?;
                let t = KustoType::from_name(n)
                    .map(crate::kusto_types::arrow_type)
                    .unwrap_or(DataType::Null);
                cast(next(), t)
            }
            "ingestion_time" | "cursor_after" | "cursor_before_or_at" | "cursor_current" => {
                self.call(n, args)?
            }
            other => {
                return Err(self.error(
                    name.span,
                    format!(
                        "{other}() is not supported here (datetime()/timespan() take a literal)"
                    ),
                ))
            }
        })
    }

    /// `bin(value, step)`: datetimes with `date_bin` from 0001-01-01 (Kusto's origin), numbers rounded
    /// down to a multiple of `step`.
    fn bin(
        &self,
        value: DfExpr,
        step: DfExpr,
        step_span: Span,
        schema: &DFSchema,
    ) -> Result<DfExpr> {
        match type_of(&value, schema) {
            Some(DataType::Timestamp(_, tz)) => {
                let nanos = match Self::constant(&step) {
                    Some(ScalarValue::DurationNanosecond(Some(n))) if *n > 0 => *n,
                    _ => {
                        return Err(self.error(
                            step_span,
                            "bin() of a datetime takes a positive constant timespan, e.g. bin(Timestamp, 1h)",
                        ))
                    }
                };
                // Kusto bins datetimes from 0001-01-01, which `Timestamp(ns)` cannot hold:
                // the origin is the instant nearest the Unix epoch that is a whole number
                // of steps after it, so that steps which do not divide a day (7d, 5h)
                // bin as in Kusto.
                let since_year_one = i128::from(SECONDS_FROM_YEAR_ONE_TO_EPOCH) * 1_000_000_000;
                let offset = since_year_one.rem_euclid(i128::from(nanos));
                let origin = i64::try_from(-offset).unwrap_or(0);
                let origin =
                    DfExpr::Literal(ScalarValue::TimestampNanosecond(Some(origin), tz), None);
                self.call("date_bin", vec![interval(nanos), value, origin])
            }
            Some(t) if t.is_integer() => {
                // value - ((value % step) + step) % step: rounds down for negatives too.
                let step = cast(step, DataType::Int64);
                let value = cast(value, DataType::Int64);
                Ok(value.clone() - ((value % step.clone()) + step.clone()) % step)
            }
            Some(DataType::Duration(_)) => {
                let nanos = cast(value, DataType::Int64);
                let step = cast(step, DataType::Int64);
                let binned = nanos.clone() - ((nanos % step.clone()) + step.clone()) % step;
                Ok(cast(binned, DataType::Duration(TimeUnit::Nanosecond)))
            }
            _ => Ok(self.call("floor", vec![value / step.clone()])? * step),
        }
    }
}

/// `max(e, 0)` for an integer.
fn at_least_zero(e: DfExpr) -> Result<DfExpr> {
    Ok(when(e.clone().lt(lit(0i64)), lit(0i64)).otherwise(cast(e, DataType::Int64))?)
}

/// An interval literal of `nanos` nanoseconds (what `date_bin` takes as its stride).
fn interval(nanos: i64) -> DfExpr {
    DfExpr::Literal(
        ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(0, 0, nanos))),
        None,
    )
}

/// KQL's `hash(x[, n])`: FNV-1a 64 over the value's bytes (see the module docs of
/// [`super`]); with `n`, the hash modulo `n` (the bucket of `hash(col, n)` partitions).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KqlHashUdf {
    signature: Signature,
}

impl Default for KqlHashUdf {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for KqlHashUdf {
    fn name(&self) -> &str {
        "kql_hash"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let modulo = match args.args.get(1) {
            None => None,
            Some(ColumnarValue::Scalar(s)) => match s {
                ScalarValue::Int64(Some(m)) if *m > 0 => Some(*m as u64),
                ScalarValue::Int32(Some(m)) if *m > 0 => Some(*m as u64),
                _ => {
                    return datafusion::common::plan_err!("hash(x, n) takes a positive constant n")
                }
            },
            Some(_) => return datafusion::common::plan_err!("hash(x, n) takes a constant n"),
        };
        let Some(values) = args.args.first() else {
            return datafusion::common::plan_err!("hash() takes a value");
        };
        let values: ArrayRef = values.to_array(args.number_rows)?;
        let finish = |h: u64| match modulo {
            Some(m) => (h % m) as i64,
            None => (h >> 1) as i64,
        };
        let out: Int64Array = match values.data_type() {
            t if t.is_integer() => {
                let ints = cast_array(&values, &DataType::Int64)?;
                ints.as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.map(|i| finish(crate::stable_hash::fnv1a(&i.to_le_bytes()))))
                    .collect()
            }
            _ => {
                let strings = cast_array(&values, &DataType::Utf8)?;
                strings
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(|s| finish(crate::stable_hash::fnv1a(s.as_bytes()))))
                    .collect()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
