//! `summarize`: aggregations and their Kusto default names.

use std::collections::HashSet;

use datafusion::common::{Column, DFSchema};
use datafusion::logical_expr::{
    lit, when, Expr as DfExpr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, SortExpr,
};

use super::scalar::AggregateSink;
use super::Planner;
use crate::command::kql::{Expr, ExprKind, NamedExpr, Span};
use crate::error::{ExportError, Result};

/// Output names of one operator: Kusto's `Column1`, `Column2`, … for unnamed
/// expressions, and a numeric suffix for a name already taken.
#[derive(Default)]
pub(crate) struct Names {
    used: HashSet<String>,
    next_column: usize,
}

impl Names {
    /// Names already present (e.g. the input's columns that `extend` keeps).
    pub(crate) fn with_used<'n>(names: impl IntoIterator<Item = &'n str>) -> Self {
        Self {
            used: names.into_iter().map(str::to_string).collect(),
            next_column: 0,
        }
    }

    /// `name`, or `name1`, `name2`, … when it is taken.
    pub(crate) fn unique(&mut self, name: &str) -> String {
        let mut candidate = name.to_string();
        let mut k = 1;
        while self.used.contains(&candidate) {
            candidate = format!("{name}{k}");
            k += 1;
        }
        self.used.insert(candidate.clone());
        candidate
    }

    /// The next free `ColumnN`.
    pub(crate) fn column(&mut self) -> String {
        loop {
            self.next_column += 1;
            let name = format!("Column{}", self.next_column);
            if !self.used.contains(&name) {
                self.used.insert(name.clone());
                return name;
            }
        }
    }

    /// Marks `name` as taken.
    pub(crate) fn take(&mut self, name: &str) {
        self.used.insert(name.to_string());
    }
}

/// The first column an expression reads (for `sum_x`-style names).
pub(crate) fn first_column(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Name(n) => Some(n),
        ExprKind::Literal(_) | ExprKind::Star => None,
        ExprKind::List(items) => items.iter().find_map(first_column),
        ExprKind::Negate(inner) => first_column(inner),
        ExprKind::Binary { left, right, .. } | ExprKind::StringOp { left, right, .. } => {
            first_column(left).or_else(|| first_column(right))
        }
        ExprKind::In { expr, .. } | ExprKind::Between { expr, .. } => first_column(expr),
        ExprKind::Call { args, .. } => args.iter().find_map(first_column),
    }
}

/// Kusto's name for an unnamed `by` key: a column keeps its name, and so does a
/// column rounded by `bin`, `floor` or `startof…`.
pub(crate) fn key_name(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Name(n) => Some(n),
        ExprKind::Call { name, args }
            if matches!(
                name.name.as_str(),
                "bin" | "floor" | "startofday" | "startofweek" | "startofmonth" | "startofyear"
            ) =>
        {
            match args.first().map(|a| &a.kind) {
                Some(ExprKind::Name(n)) => Some(n),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Kusto's name for an unnamed aggregation: `count_`, `sum_x`, `list_x`, ….
fn aggregate_name(e: &Expr) -> Option<String> {
    let ExprKind::Call { name, args } = &e.kind else {
        return None;
    };
    let prefix = match name.name.as_str() {
        "count" => return Some("count_".into()),
        "countif" => return Some("countif_".into()),
        "make_list" => "list",
        "make_set" => "set",
        "take_any" | "any" => "any",
        "sum" | "sumif" | "avg" | "min" | "max" | "dcount" => name.name.as_str(),
        _ => return None,
    };
    let column = args.first().and_then(first_column).unwrap_or("");
    Some(format!("{prefix}_{column}"))
}

/// The sort order of `plan`'s rows when a `sort` (under any `where`s) made it.
fn input_order(plan: &LogicalPlan) -> Vec<SortExpr> {
    match plan {
        LogicalPlan::Sort(sort) => sort.expr.clone(),
        LogicalPlan::Filter(filter) => input_order(&filter.input),
        _ => Vec::new(),
    }
}

impl Planner<'_> {
    /// An aggregate function of the session, called with `args`.
    fn udaf(&self, name: &str, args: Vec<DfExpr>) -> Result<DfExpr> {
        let udaf = self.state.aggregate_functions().get(name).ok_or_else(|| {
            ExportError::Invalid(format!(
                "the aggregate function '{name}' is not registered in this session"
            ))
        })?;
        Ok(udaf.call(args))
    }

    /// Plans one (single-column) aggregation call.
    pub(crate) fn aggregate(
        &self,
        name: &str,
        args: &[Expr],
        span: Span,
        schema: &DFSchema,
        order: &[SortExpr],
    ) -> Result<DfExpr> {
        let arity = |min: usize, max: usize| {
            if args.len() < min || args.len() > max {
                return Err(self.error(
                    span,
                    format!(
                        "{name}() takes {min} to {max} argument(s), got {}",
                        args.len()
                    ),
                ));
            }
            Ok(())
        };
        let arg = |k: usize| -> Result<DfExpr> {
            match args.get(k) {
                Some(a) => self.scalar(a, schema),
                None => Err(self.error(span, format!("{name}() is missing an argument"))),
            }
        };
        Ok(match name {
            "count" => {
                arity(0, 1)?;
                match args.first() {
                    None
                    | Some(Expr {
                        kind: ExprKind::Star,
                        ..
                    }) => self.udaf("count", vec![lit(1i64)])?,
                    Some(_) => self.udaf("count", vec![arg(0)?])?,
                }
            }
            "countif" => {
                arity(1, 1)?;
                self.udaf("count", vec![when(arg(0)?, lit(1i64)).end()?])?
            }
            "sum" | "avg" | "min" | "max" => {
                arity(1, 1)?;
                self.udaf(name, vec![arg(0)?])?
            }
            "sumif" => {
                arity(2, 2)?;
                self.udaf("sum", vec![when(arg(1)?, arg(0)?).end()?])?
            }
            "dcount" => {
                // An optional accuracy level is accepted: the count is exact anyway.
                arity(1, 2)?;
                self.udaf("count", vec![arg(0)?])?.distinct().build()?
            }
            "make_list" | "make_set" => {
                arity(1, 2)?;
                let value = arg(0)?;
                let agg = self
                    .udaf("array_agg", vec![value.clone()])?
                    .filter(value.is_not_null());
                let agg = if order.is_empty() || name == "make_set" {
                    agg
                } else {
                    agg.order_by(order.to_vec())
                };
                if name == "make_set" {
                    agg.distinct().build()?
                } else {
                    agg.build()?
                }
            }
            "any" | "take_any" => {
                arity(1, 1)?;
                self.udaf("first_value", vec![arg(0)?])?
            }
            "arg_max" | "arg_min" => {
                return Err(self.error(
                    span,
                    format!(
                        "{name}() must be a whole 'summarize' item: summarize {name}(x, *) by …"
                    ),
                ))
            }
            other => {
                return Err(self.error(span, format!("'{other}' is not an aggregation")));
            }
        })
    }

    /// `summarize aggregates by keys`.
    pub(crate) fn summarize(
        &self,
        plan: LogicalPlan,
        aggregates: &[NamedExpr],
        by: &[NamedExpr],
    ) -> Result<LogicalPlan> {
        let schema = plan.schema().clone();
        let mut names = Names::default();
        let mut keys = Vec::new();
        let mut output = Vec::new();
        for key in by {
            let expr = self.scalar(&key.expr, &schema)?;
            let name = match (&key.name, key_name(&key.expr)) {
                (Some(n), _) => names.unique(&n.name),
                (None, Some(n)) => names.unique(n),
                (None, None) => names.column(),
            };
            keys.push(expr.alias(name.as_str()));
            output.push(DfExpr::Column(Column::new_unqualified(name)));
        }
        let key_names: HashSet<String> = by
            .iter()
            .filter_map(|k| {
                k.name
                    .as_ref()
                    .map(|n| n.name.as_str())
                    .or_else(|| key_name(&k.expr))
            })
            .map(str::to_string)
            .collect();
        let sink = AggregateSink {
            items: Default::default(),
            order: input_order(&plan),
        };
        for item in aggregates {
            if let ExprKind::Call { name, args } = &item.expr.kind {
                if name.name == "arg_max" || name.name == "arg_min" {
                    output.extend(self.arg_max(
                        &name.name, args, name.span, &schema, &key_names, &sink, &mut names,
                    )?);
                    continue;
                }
            }
            let expr = self.scalar_in(&item.expr, &schema, Some(&sink))?;
            let name = match (&item.name, aggregate_name(&item.expr)) {
                (Some(n), _) => names.unique(&n.name),
                (None, Some(n)) => names.unique(&n),
                (None, None) => names.column(),
            };
            output.push(expr.alias(name));
        }
        let plan = LogicalPlanBuilder::from(plan)
            .aggregate(keys, sink.items.into_inner())?
            .project(output)?
            .build()?;
        Ok(plan)
    }

    /// `arg_max(x, *|cols…)` / `arg_min`: `x`, then each column of the row with the
    /// largest (smallest) `x`. Returns the output expressions.
    #[allow(clippy::too_many_arguments)]
    fn arg_max(
        &self,
        name: &str,
        args: &[Expr],
        span: Span,
        schema: &DFSchema,
        key_names: &HashSet<String>,
        sink: &AggregateSink,
        names: &mut Names,
    ) -> Result<Vec<DfExpr>> {
        let Some((x_ast, rest)) = args.split_first() else {
            return Err(self.error(
                span,
                format!("{name}() takes the maximized expression, then '*' or columns"),
            ));
        };
        let x = self.scalar(x_ast, schema)?;
        let x_name = first_column(x_ast).map(str::to_string);
        let descending = name == "arg_max";
        let mut columns: Vec<(String, DfExpr)> = Vec::new();
        let star = rest.is_empty() || rest.iter().any(|a| matches!(a.kind, ExprKind::Star));
        if star {
            for (q, f) in schema.iter() {
                if key_names.contains(f.name()) || x_name.as_deref() == Some(f.name().as_str()) {
                    continue;
                }
                columns.push((
                    f.name().clone(),
                    DfExpr::Column(Column::new(q.cloned(), f.name())),
                ));
            }
        }
        for a in rest.iter().filter(|a| !matches!(a.kind, ExprKind::Star)) {
            let col_name = first_column(a).map(str::to_string).unwrap_or_default();
            columns.push((col_name, self.scalar(a, schema)?));
        }
        let mut sink = sink.items.borrow_mut();
        let mut output = Vec::new();
        let mut push = |expr: DfExpr, out_name: String, sink: &mut Vec<DfExpr>| {
            let alias = format!("__kql_agg{}", sink.len());
            sink.push(expr.alias(alias.as_str()));
            output.push(DfExpr::Column(Column::new_unqualified(alias)).alias(out_name));
        };
        let extreme = self.udaf(if descending { "max" } else { "min" }, vec![x.clone()])?;
        let x_out = match &x_name {
            Some(n) => names.unique(n),
            None => names.column(),
        };
        push(extreme, x_out, &mut sink);
        for (col_name, expr) in columns {
            let value = self
                .udaf("first_value", vec![expr])?
                .order_by(vec![x.clone().sort(!descending, false)])
                .build()?;
            let out = if col_name.is_empty() {
                names.column()
            } else {
                names.unique(&col_name)
            };
            push(value, out, &mut sink);
        }
        Ok(output)
    }
}
