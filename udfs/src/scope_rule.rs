//! The analyzer rule that turns cursor functions into scan scopes.
//!
//! Two passes over the logical plan, after the SQL planner has expanded `*`:
//!
//! 1. **Scopes.** A `Filter` whose top-level conjuncts call `cursor_after(c)` /
//!    `cursor_before_or_at(c)` loses those conjuncts, and every ingestion-tracked
//!    `TableScan` below it (its `FROM`, subqueries in the `FROM` included) gets a
//!    scoped provider for the cursor range. Nested scopes intersect. The provider then
//!    lists only the extents in range: old data is pruned by metadata, never read.
//! 2. **Ingestion time.** Each node that calls `ingestion_time()` gets it as a column
//!    of the one ingestion-tracked scan below it; the scan adds that column, and the
//!    nodes in between pass it through.

use std::fmt;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{plan_datafusion_err, plan_err, Column, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, TableScan, TableScanBuilder};
use datafusion::optimizer::AnalyzerRule;

use crate::cursor::Cursor;
use crate::functions::{
    as_cursor_current, as_cursor_predicate, is_ingestion_time, CursorPredicateKind,
    INGESTION_TIME_COLUMN,
};
use crate::range::CursorRange;

/// A table provider whose scans can be limited to a cursor range.
pub trait CursorScopedTable: Send + Sync {
    /// The range this provider's scans are limited to.
    fn cursor_scope(&self) -> CursorRange;
    /// Whether scans add the [`INGESTION_TIME_COLUMN`].
    fn includes_ingestion_time(&self) -> bool;
    /// The same table, limited to `range` (replacing the current scope), with or
    /// without the ingestion-time column (appended as the last field).
    fn with_cursor_scope(
        &self,
        range: CursorRange,
        include_ingestion_time: bool,
    ) -> Arc<dyn TableProvider>;
}

/// Recognises the ingestion-tracked providers of a catalog.
pub type ScopedTableResolver = fn(&dyn TableProvider) -> Option<&dyn CursorScopedTable>;

/// The analyzer rule; install it with `SessionStateBuilder::with_analyzer_rule`.
#[derive(Clone)]
pub struct CursorScopeRule {
    resolve: ScopedTableResolver,
}

impl fmt::Debug for CursorScopeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorScopeRule")
    }
}

impl CursorScopeRule {
    /// A rule that scopes the providers `resolve` recognises.
    pub fn new(resolve: ScopedTableResolver) -> Self {
        Self { resolve }
    }

    fn scoped(&self, scan: &TableScan) -> Option<Arc<dyn TableProvider>> {
        let provider = source_as_provider(&scan.source).ok()?;
        (self.resolve)(provider.as_ref())
            .is_some()
            .then_some(provider)
    }

    fn apply_scopes(
        &self,
        plan: LogicalPlan,
        inherited: Option<CursorRange>,
    ) -> Result<LogicalPlan> {
        // Subqueries in expressions (`IN (SELECT …)`, `EXISTS`) are not part of the
        // WHERE's FROM: they start unscoped.
        let plan = plan
            .map_subqueries(|sub| self.apply_scopes(sub, None).map(Transformed::yes))?
            .data;
        match plan {
            LogicalPlan::Filter(filter) => self.scope_filter(filter, inherited),
            LogicalPlan::TableScan(scan) => match (inherited, self.scoped(&scan)) {
                (Some(range), Some(provider)) => {
                    let table = (self.resolve)(provider.as_ref()).ok_or_else(|| {
                        plan_datafusion_err!("table {} is not ingestion-tracked", scan.table_name)
                    })?;
                    let scoped = table.with_cursor_scope(
                        table.cursor_scope().intersect(&range),
                        table.includes_ingestion_time(),
                    );
                    rebuild_scan(scan, scoped, None).map(LogicalPlan::TableScan)
                }
                _ => Ok(LogicalPlan::TableScan(scan)),
            },
            other => Ok(other
                .map_children(|child| self.apply_scopes(child, inherited).map(Transformed::yes))?
                .data),
        }
    }

    fn scope_filter(&self, filter: Filter, inherited: Option<CursorRange>) -> Result<LogicalPlan> {
        let mut range = inherited;
        let mut rest = Vec::new();
        let mut found = false;
        for conjunct in split_conjunction_owned(filter.predicate) {
            match as_cursor_predicate(&conjunct) {
                Some((kind, args)) => {
                    found = true;
                    let bound = cursor_argument(kind, args)?;
                    let r = match kind {
                        CursorPredicateKind::After => CursorRange::after(bound),
                        CursorPredicateKind::BeforeOrAt => CursorRange::at_or_before(bound),
                    };
                    range = Some(range.map_or(r, |prev| prev.intersect(&r)));
                }
                None => rest.push(conjunct),
            }
        }
        if found && !self.reads_scoped_table(&filter.input)? {
            return plan_err!(
                "cursor_after()/cursor_before_or_at() scope ingestion-tracked tables, but this WHERE clause's FROM reads none"
            );
        }
        let input = self.apply_scopes(Arc::unwrap_or_clone(filter.input), range)?;
        match conjunction(rest) {
            Some(predicate) => Ok(LogicalPlan::Filter(Filter::try_new(
                predicate,
                Arc::new(input),
            )?)),
            None => Ok(input),
        }
    }

    fn reads_scoped_table(&self, plan: &LogicalPlan) -> Result<bool> {
        let mut found = false;
        plan.apply(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                if self.scoped(scan).is_some() {
                    found = true;
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(found)
    }

    fn expose_ingestion_time(&self, plan: LogicalPlan, needed_above: bool) -> Result<LogicalPlan> {
        let plan = plan
            .map_subqueries(|sub| self.expose_ingestion_time(sub, false).map(Transformed::yes))?
            .data;
        let used_here = plan.expressions().iter().any(uses_ingestion_time);
        let needed = needed_above || used_here;

        if let LogicalPlan::TableScan(scan) = plan {
            return match self.scoped(&scan) {
                Some(provider) if needed => {
                    let table = (self.resolve)(provider.as_ref()).ok_or_else(|| {
                        plan_datafusion_err!("table {} is not ingestion-tracked", scan.table_name)
                    })?;
                    if table.includes_ingestion_time() {
                        return Ok(LogicalPlan::TableScan(scan));
                    }
                    let column_index = provider.schema().fields().len();
                    let with_time = table.with_cursor_scope(table.cursor_scope(), true);
                    rebuild_scan(scan, with_time, Some(column_index)).map(LogicalPlan::TableScan)
                }
                _ => Ok(LogicalPlan::TableScan(scan)),
            };
        }
        if !needed {
            return Ok(plan
                .map_children(|c| self.expose_ingestion_time(c, false).map(Transformed::yes))?
                .data);
        }

        // An aggregate's output has no per-record ingestion time to pass up.
        let child_need = if matches!(plan, LogicalPlan::Aggregate(_)) {
            used_here
        } else {
            needed
        };
        let inputs = plan
            .inputs()
            .into_iter()
            .map(|input| self.expose_ingestion_time(input.clone(), child_need))
            .collect::<Result<Vec<_>>>()?;

        let column = if used_here {
            Some(ingestion_time_column(&inputs)?)
        } else {
            None
        };
        let preserver = NamePreserver::new(&plan);
        let mut exprs = plan
            .expressions()
            .into_iter()
            .map(|expr| match &column {
                Some(column) => {
                    let saved = preserver.save(&expr);
                    let rewritten = expr
                        .transform_up(|e| {
                            Ok(if is_ingestion_time(&e) {
                                Transformed::yes(Expr::Column(column.clone()))
                            } else {
                                Transformed::no(e)
                            })
                        })?
                        .data;
                    Ok(saved.restore(rewritten))
                }
                None => Ok(expr),
            })
            .collect::<Result<Vec<_>>>()?;
        if needed_above {
            if let LogicalPlan::Projection(_) = &plan {
                if let Ok(column) = ingestion_time_column(&inputs) {
                    exprs.push(Expr::Column(column));
                }
            }
        }
        plan.with_new_exprs(exprs, inputs)
    }
}

impl AnalyzerRule for CursorScopeRule {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let mut uses = false;
        plan.apply_with_subqueries(|node| {
            uses = node_uses_cursor_functions(node);
            Ok(if uses {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })?;
        if !uses {
            return Ok(plan);
        }
        let plan = self.apply_scopes(plan, None)?;
        self.expose_ingestion_time(plan, false)
    }

    fn name(&self) -> &str {
        "cursor_scope"
    }
}

fn node_uses_cursor_functions(node: &LogicalPlan) -> bool {
    node.expressions().iter().any(|e| {
        e.exists(|e| Ok(as_cursor_predicate(e).is_some() || is_ingestion_time(e)))
            .unwrap_or(false)
    })
}

fn uses_ingestion_time(expr: &Expr) -> bool {
    expr.exists(|e| Ok(is_ingestion_time(e))).unwrap_or(false)
}

/// The ingestion-time column among `inputs`' outputs; exactly one must exist.
fn ingestion_time_column(inputs: &[LogicalPlan]) -> Result<Column> {
    let mut found: Vec<Column> = inputs
        .iter()
        .flat_map(|input| {
            input
                .schema()
                .iter()
                .filter(|(_, field)| field.name() == INGESTION_TIME_COLUMN)
                .map(|(qualifier, field)| Column::new(qualifier.cloned(), field.name()))
                .collect::<Vec<_>>()
        })
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => plan_err!(
            "ingestion_time() needs an ingestion-tracked table in the FROM clause (it is not available after GROUP BY or from a subquery that does not select it)"
        ),
        _ => plan_err!(
            "ingestion_time() is ambiguous here: the FROM clause reads several ingestion-tracked tables; compute it in a subquery over one table, e.g. (SELECT *, ingestion_time() AS t FROM T)"
        ),
    }
}

/// The bound a cursor predicate's argument gives.
fn cursor_argument(kind: CursorPredicateKind, args: &[Expr]) -> Result<Cursor> {
    let name = kind.function_name();
    let [arg] = args else {
        return plan_err!("{name}() takes exactly one argument, a cursor string");
    };
    let text = literal_text(arg).ok_or_else(|| {
        plan_datafusion_err!(
            "{name}() takes a cursor string literal (such as '42', '' or cursor_current()), not {arg}"
        )
    })??;
    match text {
        None => Ok(Cursor::BEGINNING),
        Some(t) => {
            Cursor::parse_optional(Some(&t)).map_err(|e| plan_datafusion_err!("{name}(): {e}"))
        }
    }
}

/// `Some(Ok(text))` for a string (or NULL) literal, possibly cast, or `cursor_current()`.
fn literal_text(expr: &Expr) -> Option<Result<Option<String>>> {
    if let Some(current) = as_cursor_current(expr) {
        return Some(current.current().map(|c| Some(c.to_string())));
    }
    match expr {
        Expr::Literal(value, _) => match value {
            ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s) => {
                Some(Ok(s.clone()))
            }
            ScalarValue::Null => Some(Ok(None)),
            v if v.is_null() => Some(Ok(None)),
            _ => None,
        },
        Expr::Cast(c) => literal_text(&c.expr),
        Expr::TryCast(c) => literal_text(&c.expr),
        Expr::Alias(a) => literal_text(&a.expr),
        _ => None,
    }
}

/// `scan` reading from `provider`; `add_column` appends that field index to an
/// explicit projection.
fn rebuild_scan(
    scan: TableScan,
    provider: Arc<dyn TableProvider>,
    add_column: Option<usize>,
) -> Result<TableScan> {
    let projection = match (scan.projection, add_column) {
        (Some(mut p), Some(i)) => {
            p.push(i);
            Some(p)
        }
        (p, _) => p,
    };
    TableScanBuilder::new(scan.table_name, provider_as_source(provider))
        .with_projection(projection)
        .with_filters(scan.filters)
        .with_fetch(scan.fetch)
        .with_statistics_requests(scan.statistics_requests)
        .build()
}
