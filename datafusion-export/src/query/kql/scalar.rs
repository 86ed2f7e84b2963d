//! KQL scalar expressions → DataFusion expressions.

use std::cell::RefCell;
use std::ops::Not;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::{binary_expr, lit, Expr as DfExpr, ExprSchemable, Operator as DfOp};

use super::Planner;
use crate::command::kql::{BinaryOp, Expr, ExprKind, Literal, Span, StringOp, AGGREGATE_FUNCTIONS};
use crate::error::Result;

/// Aggregations met while planning a `summarize` item: each is planned once, named
/// `__kql_agg<n>`, and the item refers to it by that column.
#[derive(Default)]
pub(crate) struct AggregateSink {
    /// The aggregations, aliased.
    pub(crate) items: RefCell<Vec<DfExpr>>,
    /// The order of the rows coming in, when a `sort` made one (`make_list` keeps it,
    /// as Kusto does for serialized input).
    pub(crate) order: Vec<datafusion::logical_expr::SortExpr>,
}

/// The time zone of datetime values, as the tables store them.
pub(crate) const UTC: &str = "UTC";

impl Planner<'_> {
    /// Plans a scalar expression over rows of `schema` (aggregations refused).
    pub(crate) fn scalar(&self, e: &Expr, schema: &DFSchema) -> Result<DfExpr> {
        self.scalar_in(e, schema, None)
    }

    /// Plans a scalar expression; aggregations go to `aggs` when given.
    pub(crate) fn scalar_in(
        &self,
        e: &Expr,
        schema: &DFSchema,
        aggs: Option<&AggregateSink>,
    ) -> Result<DfExpr> {
        let sub = |x: &Expr| self.scalar_in(x, schema, aggs);
        Ok(match &e.kind {
            ExprKind::Literal(l) => literal(l),
            ExprKind::Name(name) => self.name(name, e.span, schema)?,
            ExprKind::Star => {
                return Err(self.error(e.span, "'*' is allowed only in arg_max/arg_min(x, *)"))
            }
            ExprKind::List(_) => {
                return Err(self.error(
                    e.span,
                    "a dynamic array is supported only as the list of 'in (…)'",
                ))
            }
            ExprKind::Negate(inner) => DfExpr::Negative(Box::new(sub(inner)?)),
            ExprKind::Binary { op, left, right } => {
                let (l, r) = (sub(left)?, sub(right)?);
                match op {
                    BinaryOp::EqTilde | BinaryOp::NotEqTilde => {
                        binary_expr(self.lower(l)?, df_op(*op), self.lower(r)?)
                    }
                    op => binary_expr(l, df_op(*op), r),
                }
            }
            ExprKind::StringOp {
                op,
                negated,
                case_sensitive,
                left,
                right,
            } => {
                let matched =
                    self.string_op(*op, *case_sensitive, sub(left)?, sub(right)?, right.span)?;
                if *negated {
                    matched.not()
                } else {
                    matched
                }
            }
            ExprKind::In {
                expr,
                list,
                negated,
                case_insensitive,
            } => {
                let mut value = sub(expr)?;
                let mut items = list.iter().map(sub).collect::<Result<Vec<_>>>()?;
                if *case_insensitive {
                    value = self.lower(value)?;
                    items = items
                        .into_iter()
                        .map(|i| self.lower(i))
                        .collect::<Result<Vec<_>>>()?;
                }
                value.in_list(items, *negated)
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let (v, lo, hi) = (sub(expr)?, sub(low)?, sub(high)?);
                if *negated {
                    v.not_between(lo, hi)
                } else {
                    v.between(lo, hi)
                }
            }
            ExprKind::Call { name, args } => {
                if AGGREGATE_FUNCTIONS.contains(&name.name.as_str()) {
                    let Some(sink) = aggs else {
                        return Err(self.error(
                            name.span,
                            format!("'{}' is an aggregation: use it in 'summarize'", name.name),
                        ));
                    };
                    let agg = self.aggregate(&name.name, args, name.span, schema, &sink.order)?;
                    let mut sink = sink.items.borrow_mut();
                    let alias = format!("__kql_agg{}", sink.len());
                    sink.push(agg.alias(alias.as_str()));
                    return Ok(DfExpr::Column(Column::new_unqualified(alias)));
                }
                let planned = args.iter().map(sub).collect::<Result<Vec<_>>>()?;
                self.function(name, args, planned, e.span, schema)?
            }
        })
    }

    /// A column of `schema`, or a scalar `let`.
    fn name(&self, name: &str, span: Span, schema: &DFSchema) -> Result<DfExpr> {
        if let Some((qualifier, field)) = schema.iter().find(|(_, f)| f.name() == name) {
            return Ok(DfExpr::Column(Column::new(
                qualifier.cloned(),
                field.name(),
            )));
        }
        if let Some(value) = self.scalar_lets.get(name) {
            return Ok(value.clone());
        }
        Err(self.error(span, unknown_column(name, schema)))
    }

    /// A column of `schema` by name (for operators that take bare column names).
    pub(crate) fn column(&self, name: &str, span: Span, schema: &DFSchema) -> Result<Column> {
        schema
            .iter()
            .find(|(_, f)| f.name() == name)
            .map(|(q, f)| Column::new(q.cloned(), f.name()))
            .ok_or_else(|| self.error(span, unknown_column(name, schema)))
    }

    /// Calls a scalar function registered in the session.
    pub(crate) fn call(&self, name: &str, args: Vec<DfExpr>) -> Result<DfExpr> {
        let udf = self.state.scalar_functions().get(name).ok_or_else(|| {
            crate::error::ExportError::Invalid(format!(
                "the function '{name}' is not registered in this session"
            ))
        })?;
        Ok(udf.call(args))
    }

    /// `lower(e)`.
    pub(crate) fn lower(&self, e: DfExpr) -> Result<DfExpr> {
        self.call("lower", vec![e])
    }

    fn string_op(
        &self,
        op: StringOp,
        case_sensitive: bool,
        left: DfExpr,
        right: DfExpr,
        right_span: Span,
    ) -> Result<DfExpr> {
        // Kusto treats a null string as empty for these operators.
        let left = self.call("coalesce", vec![left, lit("")])?;
        if matches!(
            op,
            StringOp::Has | StringOp::HasPrefix | StringOp::HasSuffix
        ) {
            let term = match Self::constant(&right) {
                Some(ScalarValue::Utf8(Some(s)))
                | Some(ScalarValue::LargeUtf8(Some(s)))
                | Some(ScalarValue::Utf8View(Some(s))) => s.clone(),
                _ => {
                    return Err(
                        self.error(right_span, "the term of 'has' must be a constant string")
                    )
                }
            };
            // A term is bounded by the text's ends or by a non-alphanumeric character.
            const BEFORE: &str = r"(?:^|[^\p{L}\p{N}])";
            const AFTER: &str = r"(?:$|[^\p{L}\p{N}])";
            let flags = if case_sensitive { "" } else { "(?i)" };
            let term = regex::escape(&term);
            let pattern = match op {
                StringOp::Has => format!("{flags}{BEFORE}{term}{AFTER}"),
                StringOp::HasPrefix => format!("{flags}{BEFORE}{term}"),
                _ => format!("{flags}{term}{AFTER}"),
            };
            return self.call("regexp_like", vec![left, lit(pattern)]);
        }
        let (left, right) = if case_sensitive {
            (left, right)
        } else {
            (self.lower(left)?, self.lower(right)?)
        };
        match op {
            StringOp::StartsWith => self.call("starts_with", vec![left, right]),
            StringOp::EndsWith => self.call("ends_with", vec![left, right]),
            _ => self.call("contains", vec![left, right]),
        }
    }
}

fn unknown_column(name: &str, schema: &DFSchema) -> String {
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    format!(
        "unknown column or scalar 'let' '{name}'; columns: {}",
        columns.join(", ")
    )
}

/// `a IS NOT DISTINCT FROM <non-null literal>` as `a = <literal>`, in each conjunct of
/// a filter: the same rows pass (a null `a` fails both), and an `=` is what scans
/// prune row groups and extents with.
pub(crate) fn as_equalities(predicate: DfExpr) -> DfExpr {
    match predicate {
        DfExpr::BinaryExpr(b) if b.op == DfOp::And => {
            as_equalities(*b.left).and(as_equalities(*b.right))
        }
        DfExpr::BinaryExpr(b)
            if b.op == DfOp::IsNotDistinctFrom
                && (is_non_null_literal(&b.left) || is_non_null_literal(&b.right)) =>
        {
            (*b.left).eq(*b.right)
        }
        other => other,
    }
}

fn is_non_null_literal(e: &DfExpr) -> bool {
    matches!(e, DfExpr::Literal(v, _) if !v.is_null())
}

fn df_op(op: BinaryOp) -> DfOp {
    match op {
        BinaryOp::Or => DfOp::Or,
        BinaryOp::And => DfOp::And,
        // Kusto's `==` is never null: null equals null and differs from any value.
        BinaryOp::Eq | BinaryOp::EqTilde => DfOp::IsNotDistinctFrom,
        BinaryOp::NotEq | BinaryOp::NotEqTilde => DfOp::IsDistinctFrom,
        BinaryOp::Lt => DfOp::Lt,
        BinaryOp::LtEq => DfOp::LtEq,
        BinaryOp::Gt => DfOp::Gt,
        BinaryOp::GtEq => DfOp::GtEq,
        BinaryOp::Plus => DfOp::Plus,
        BinaryOp::Minus => DfOp::Minus,
        BinaryOp::Multiply => DfOp::Multiply,
        BinaryOp::Divide => DfOp::Divide,
        BinaryOp::Modulo => DfOp::Modulo,
    }
}

/// A KQL literal as a DataFusion literal.
pub(crate) fn literal(l: &Literal) -> DfExpr {
    let value = match l {
        Literal::Null => ScalarValue::Null,
        Literal::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Literal::Long(v) => ScalarValue::Int64(Some(*v)),
        Literal::Real(v) => ScalarValue::Float64(Some(*v)),
        Literal::String { value, .. } => ScalarValue::Utf8(Some(value.clone())),
        Literal::DateTime(v) => ScalarValue::TimestampNanosecond(*v, Some(UTC.into())),
        Literal::Timespan(v) => ScalarValue::DurationNanosecond(*v),
    };
    DfExpr::Literal(value, None)
}

/// The type of `e` over `schema`, if it can be told.
pub(crate) fn type_of(e: &DfExpr, schema: &DFSchema) -> Option<DataType> {
    e.get_type(schema).ok()
}
