//! KQL tabular operators → `LogicalPlanBuilder` calls.

use datafusion::common::{Column, ScalarValue};
use datafusion::functions_aggregate::count::count;
use datafusion::logical_expr::lit;
use datafusion::logical_expr::{Expr as DfExpr, LogicalPlan, LogicalPlanBuilder, SortExpr};

use super::aggregates::Names;
use super::scalar::as_equalities;
use super::Planner;
use crate::command::kql::{Expr, ExprKind, NamedExpr, Operator, OperatorKind, SortKey};
use crate::error::Result;

impl Planner<'_> {
    /// Applies one operator to `plan`.
    pub(crate) fn operator(&self, plan: LogicalPlan, op: &Operator) -> Result<LogicalPlan> {
        let schema = plan.schema().clone();
        let builder = LogicalPlanBuilder::from(plan);
        let plan = match &op.kind {
            OperatorKind::Where(predicate) => builder
                .filter(as_equalities(self.scalar(predicate, &schema)?))?
                .build()?,
            OperatorKind::Project(items) => {
                let mut names = Names::default();
                let mut exprs = Vec::new();
                for item in items {
                    let expr = self.scalar(&item.expr, &schema)?;
                    exprs.push(match (&item.name, &item.expr.kind) {
                        (Some(n), _) => expr.alias(names.unique(&n.name)),
                        (None, ExprKind::Name(n)) if matches!(expr, DfExpr::Column(_)) => {
                            names.take(n);
                            expr
                        }
                        (None, _) => expr.alias(names.column()),
                    });
                }
                builder.project(exprs)?.build()?
            }
            OperatorKind::Extend(items) => {
                let mut plan = builder.build()?;
                for item in items {
                    plan = self.extend_one(plan, item)?;
                }
                plan
            }
            OperatorKind::ProjectAway(columns) => {
                let mut away = Vec::new();
                for c in columns {
                    away.push(self.column(&c.name, c.span, &schema)?);
                }
                let keep: Vec<DfExpr> = schema
                    .columns()
                    .into_iter()
                    .filter(|c| !away.iter().any(|a| a.name == c.name))
                    .map(DfExpr::Column)
                    .collect();
                builder.project(keep)?.build()?
            }
            OperatorKind::ProjectRename(pairs) => {
                let mut renamed = Vec::new();
                for (new, old) in pairs {
                    renamed.push((self.column(&old.name, old.span, &schema)?, new.name.clone()));
                }
                let exprs: Vec<DfExpr> = schema
                    .columns()
                    .into_iter()
                    .map(
                        |c| match renamed.iter().find(|(old, _)| old.name == c.name) {
                            Some((_, new)) => DfExpr::Column(c).alias(new.as_str()),
                            None => DfExpr::Column(c),
                        },
                    )
                    .collect();
                builder.project(exprs)?.build()?
            }
            OperatorKind::Summarize { aggregates, by } => {
                self.summarize(builder.build()?, aggregates, by)?
            }
            OperatorKind::Join { kind, right, on } => {
                let right = self.tabular(right)?;
                self.join(builder.build()?, *kind, right, on)?
            }
            OperatorKind::Union(items) => {
                let mut builder = builder;
                for item in items {
                    builder = builder.union_by_name(self.tabular(item)?)?;
                }
                builder.build()?
            }
            OperatorKind::Take(n) => builder.limit(0, Some(self.count_of(n)?))?.build()?,
            OperatorKind::Top { count, by } => builder
                .sort(vec![self.sort_key(by, &schema)?])?
                .limit(0, Some(self.count_of(count)?))?
                .build()?,
            OperatorKind::Sort(keys) => {
                let keys = keys
                    .iter()
                    .map(|k| self.sort_key(k, &schema))
                    .collect::<Result<Vec<_>>>()?;
                builder.sort(keys)?.build()?
            }
            OperatorKind::Distinct(None) => builder.distinct()?.build()?,
            OperatorKind::Distinct(Some(columns)) => {
                let mut exprs = Vec::new();
                for c in columns {
                    exprs.push(DfExpr::Column(self.column(&c.name, c.span, &schema)?));
                }
                builder.project(exprs)?.distinct()?.build()?
            }
            OperatorKind::Count => builder
                .aggregate(Vec::<DfExpr>::new(), vec![count(lit(1i64)).alias("Count")])?
                .build()?,
            // `as U`: later operators of the query may read the result as `U`.
            OperatorKind::As(name) => {
                let plan = builder.build()?;
                self.as_names
                    .borrow_mut()
                    .insert(name.name.clone(), plan.clone());
                plan
            }
        };
        Ok(plan)
    }

    /// `extend name = expr`: a new column at the end, or a replaced column in place.
    fn extend_one(&self, plan: LogicalPlan, item: &NamedExpr) -> Result<LogicalPlan> {
        let schema = plan.schema().clone();
        let expr = self.scalar(&item.expr, &schema)?;
        let mut names = Names::with_used(schema.fields().iter().map(|f| f.name().as_str()));
        let name = match (&item.name, &item.expr.kind) {
            (Some(n), _) => n.name.clone(),
            (None, ExprKind::Name(n)) => n.clone(),
            (None, _) => names.column(),
        };
        let mut replaced = false;
        let mut exprs: Vec<DfExpr> = schema
            .columns()
            .into_iter()
            .map(|c: Column| {
                if c.name == name {
                    replaced = true;
                    expr.clone().alias(name.as_str())
                } else {
                    DfExpr::Column(c)
                }
            })
            .collect();
        if !replaced {
            exprs.push(expr.alias(name.as_str()));
        }
        Ok(LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
    }

    /// Kusto's sort defaults: descending; nulls first when ascending, last when
    /// descending.
    fn sort_key(&self, key: &SortKey, schema: &datafusion::common::DFSchema) -> Result<SortExpr> {
        let expr = self.scalar(&key.expr, schema)?;
        let nulls_first = key.nulls_first.unwrap_or(key.ascending);
        Ok(expr.sort(key.ascending, nulls_first))
    }

    /// The row count of `take n` / `top n`: a non-negative integer constant.
    fn count_of(&self, n: &Expr) -> Result<usize> {
        let planned = self.scalar(n, &datafusion::common::DFSchema::empty())?;
        let value = match Self::constant(&planned) {
            Some(ScalarValue::Int64(Some(v))) => Some(*v),
            Some(ScalarValue::Int32(Some(v))) => Some(i64::from(*v)),
            _ => None,
        };
        value
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| self.error(n.span, "expected a non-negative integer constant"))
    }
}
