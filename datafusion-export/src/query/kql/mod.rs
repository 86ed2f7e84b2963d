//! KQL → DataFusion [`LogicalPlan`].
//!
//! Table names are resolved first, asynchronously (the catalog is async); the plan is
//! then built synchronously with `LogicalPlanBuilder` and DataFusion expressions:
//! [`operators`] (tabular operators), [`scalar`] (expressions), [`functions`] (scalar
//! functions), [`aggregates`] (`summarize`), [`join`].
//!
//! # Semantics and differences from Kusto
//!
//! * Names (tables, columns, `let`s) are case-sensitive; operator names and keywords
//!   are lowercase, as in Kusto.
//! * `==`/`!=` on strings are case-sensitive; `=~`/`!~`, `has`, `contains`,
//!   `startswith`, `endswith`, `hasprefix`, `hassuffix` and `in~` compare lowercased
//!   values (their `_cs` forms do not). A null string is the empty string for these
//!   operators, as in Kusto.
//! * `has` matches a whole term: the right side (a constant) bounded by the start or
//!   end of the text or by a character that is neither a letter nor a digit (a regex;
//!   Kusto uses its term index, with the same result on these boundaries).
//! * `sort`/`order by` and `top` default to descending; ascending puts nulls first,
//!   descending last, unless `nulls first|last` is given.
//! * `join` without `kind` is `innerunique`: the left side keeps one (arbitrary) row
//!   per key before an inner join. The output keeps both sides' columns; a right
//!   column whose name is taken gets the suffix `1` (then `2`, …), e.g. `id1`.
//!   `leftsemi`/`leftanti` keep only the left columns, `rightsemi`/`rightanti` only the
//!   right ones. Null keys match nothing.
//! * `union` (operator or source) matches columns by name; a column missing from an
//!   input is null (Kusto's `kind=outer`). Kusto's type-suffixed columns for clashing
//!   types are not made: DataFusion coerces or refuses.
//! * `summarize` names: `count_`, `countif_`, `sum_x`, `sumif_x`, `avg_x`, `min_x`,
//!   `max_x`, `dcount_x`, `list_x` (`make_list`), `set_x` (`make_set`), `any_x`
//!   (`any`/`take_any`), where `x` is the first column the argument reads; a key
//!   `bin(x, …)`, `floor(x, …)` or `startof…(x)` keeps the name `x`; other unnamed
//!   expressions are `Column1`, `Column2`, …. A taken name gets a numeric suffix.
//!   `arg_max(x, *|cols)` / `arg_min` give the keys, `x`, then the columns of the row
//!   with the largest/smallest `x` (`first_value(col ORDER BY x)` per column).
//!   `dcount` is exact (Kusto's is an estimate). Expressions over aggregations
//!   (`summarize r = 100.0 * countif(p) / count()`) are supported.
//! * `bin` of a datetime counts steps from 0001-01-01, as Kusto does (so `bin(t, 7d)`
//!   starts weeks on Mondays); `startofweek` starts on
//!   Sunday (Kusto's rule; DataFusion's `date_trunc('week')` would give Monday).
//! * `substring(s, start[, length])` is 0-based, as in Kusto; a negative start or
//!   length counts as 0.
//! * `tostring`, `toint`, `tolong`, `todouble`/`toreal`, `todatetime` are safe casts:
//!   a value that does not convert is null (`tostring(null)` is `""`).
//! * `hash(x[, n])` is FNV-1a 64 over the value's bytes (strings as UTF-8, integers as
//!   8 little-endian bytes, anything else as its string form), not Kusto's xxhash64:
//!   values differ from Kusto's. `hash(x, n)` is the bucket that `hash(col, n)`
//!   partitions of external tables use.
//! * Timespans are `Duration(ns)` values, datetimes `Timestamp(ns, UTC)`, as the
//!   tables store them; `ago(d)` is `now() - d`.
//! * `let x = <scalar>;` is substituted where `x` is used; `let t = <tabular>;` is
//!   planned where `t` is read. `let a = b;` where `b` is not a scalar `let` is a table
//!   alias. `as U` names the result so far: later operators of the query (a `join`
//!   or `union`) may read it as `U`.
//! * `==`/`!=` are never null: null equals null and differs from every value (SQL's
//!   `IS [NOT] DISTINCT FROM`); in a `where`, `x == <constant>` is planned as `=`,
//!   which selects the same rows and lets scans prune. `<`, `>`, … with a null are
//!   null, so such rows fail a `where`.
//! * `coalesce` of strings skips empty strings too, as Kusto's does.

pub mod aggregates;
pub mod functions;
pub mod join;
pub mod operators;
pub mod scalar;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableProvider};
use datafusion::common::{DFSchema, ScalarValue, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{
    cast, lit, Expr as DfExpr, LogicalPlan, LogicalPlanBuilder, TableSource,
};

use crate::command::kql::{
    parse_pipeline, parse_query, Expr, Ident, LetValue, OperatorKind, Pipeline, Source, Span,
    Tabular,
};
use crate::command::{KustoType, ParseError};
use crate::error::{ExportError, Result};

/// Plans a whole KQL query.
pub async fn plan_kql(state: &SessionState, text: &str) -> Result<LogicalPlan> {
    let query = parse_query(text)?;
    let mut planner = Planner::new(state, text);
    let mut lets = Vec::new();
    for l in &query.lets {
        if let LetValue::Tabular(t) = &l.value {
            planner.collect_tabular(t, &lets);
        }
        lets.push(l.name.name.clone());
    }
    planner.collect_tabular(&query.body, &lets);
    planner.resolve().await?;
    for l in &query.lets {
        match &l.value {
            LetValue::Scalar(e) => {
                let value = planner.scalar(e, &DFSchema::empty())?;
                planner.scalar_lets.insert(l.name.name.clone(), value);
                planner.tabular_lets.remove(&l.name.name);
            }
            LetValue::Tabular(t) => {
                let plan = planner.tabular(t)?;
                planner.tabular_lets.insert(l.name.name.clone(), plan);
                planner.scalar_lets.remove(&l.name.name);
            }
        }
    }
    planner.tabular(&query.body)
}

/// Applies a pipeline, parsed from `text`, to `input`.
pub async fn plan_kql_pipeline(
    state: &SessionState,
    input: LogicalPlan,
    text: &str,
) -> Result<LogicalPlan> {
    let pipeline = parse_pipeline(text)?;
    let mut planner = Planner::new(state, text);
    planner.collect_pipeline(&pipeline, &[]);
    planner.resolve().await?;
    planner.pipeline(input, &pipeline)
}

/// The state of planning one query.
pub(crate) struct Planner<'a> {
    pub(crate) state: &'a SessionState,
    /// The text the AST's spans point into.
    text: &'a str,
    /// Table names to resolve, with where each was first used.
    wanted: BTreeMap<String, Span>,
    /// External table names to resolve.
    wanted_external: BTreeMap<String, Span>,
    tables: HashMap<String, Arc<dyn TableSource>>,
    externals: HashMap<String, Arc<dyn TableSource>>,
    pub(crate) scalar_lets: HashMap<String, DfExpr>,
    tabular_lets: HashMap<String, LogicalPlan>,
    /// Results named by `as`, readable by later operators (`| as U | join (U) on …`).
    pub(crate) as_names: RefCell<HashMap<String, LogicalPlan>>,
    /// Every name given by `as` in the query (not looked up in the catalog).
    as_declared: HashSet<String>,
}

impl<'a> Planner<'a> {
    fn new(state: &'a SessionState, text: &'a str) -> Self {
        Self {
            state,
            text,
            wanted: BTreeMap::new(),
            wanted_external: BTreeMap::new(),
            tables: HashMap::new(),
            externals: HashMap::new(),
            scalar_lets: HashMap::new(),
            tabular_lets: HashMap::new(),
            as_names: RefCell::new(HashMap::new()),
            as_declared: HashSet::new(),
        }
    }

    /// An error at `span`, with its line:column.
    pub(crate) fn error(&self, span: Span, message: impl Into<String>) -> ExportError {
        ParseError::at_offset(self.text, span.start, message).into()
    }

    /// Notes the tables a tabular expression reads (not those named by `lets`).
    fn collect_tabular(&mut self, t: &Tabular, lets: &[String]) {
        match &t.source {
            Source::Table(id) => {
                if !lets.contains(&id.name) {
                    self.wanted.entry(id.name.clone()).or_insert(id.span);
                }
            }
            Source::ExternalTable { name, span } => {
                self.wanted_external.entry(name.clone()).or_insert(*span);
            }
            Source::Union(items) => {
                for item in items {
                    self.collect_tabular(item, lets);
                }
            }
            Source::Nested(inner) => self.collect_tabular(inner, lets),
            Source::Datatable { .. } => {}
        }
        self.collect_pipeline(&t.pipeline, lets);
    }

    fn collect_pipeline(&mut self, p: &Pipeline, lets: &[String]) {
        for op in &p.operators {
            match &op.kind {
                OperatorKind::As(name) => {
                    self.as_declared.insert(name.name.clone());
                }
                OperatorKind::Join { right, .. } => self.collect_tabular(right, lets),
                OperatorKind::Union(items) => {
                    for item in items {
                        self.collect_tabular(item, lets);
                    }
                }
                _ => {}
            }
        }
    }

    /// Looks the collected names up in the session's catalog and table functions.
    async fn resolve(&mut self) -> Result<()> {
        let wanted = std::mem::take(&mut self.wanted);
        for (name, span) in wanted
            .into_iter()
            .filter(|(name, _)| !self.as_declared.contains(name))
        {
            let reference = TableReference::bare(name.as_str());
            let schema = self
                .state
                .schema_for_ref(reference)
                .map_err(|e| self.error(span, e.to_string()))?;
            let provider = schema
                .table(&name)
                .await
                .map_err(|e| self.error(span, e.to_string()))?
                .ok_or_else(|| {
                    let known = schema.table_names();
                    self.error(
                        span,
                        format!(
                            "unknown table or tabular 'let' '{name}'; tables: {}",
                            if known.is_empty() {
                                "(none)".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    )
                })?;
            self.tables.insert(name, provider_as_source(provider));
        }
        for (name, span) in std::mem::take(&mut self.wanted_external) {
            let function = self
                .state
                .table_functions()
                .get("external_table")
                .ok_or_else(|| {
                    self.error(span, "external_table() is not installed in this session")
                })?;
            let provider: Arc<dyn TableProvider> = function
                .create_table_provider_with_args(TableFunctionArgs::new(
                    &[lit(name.as_str())],
                    self.state,
                ))
                .map_err(|e| self.error(span, e.to_string()))?;
            self.externals.insert(name, provider_as_source(provider));
        }
        Ok(())
    }

    /// Plans a tabular expression.
    pub(crate) fn tabular(&self, t: &Tabular) -> Result<LogicalPlan> {
        let source = self.source(&t.source)?;
        self.pipeline(source, &t.pipeline)
    }

    fn source(&self, source: &Source) -> Result<LogicalPlan> {
        match source {
            Source::Table(id) => self.table(id),
            Source::ExternalTable { name, span } => {
                let source =
                    self.externals.get(name).cloned().ok_or_else(|| {
                        self.error(*span, format!("unknown external table '{name}'"))
                    })?;
                Ok(LogicalPlanBuilder::scan(name.as_str(), source, None)?.build()?)
            }
            Source::Union(items) => {
                let mut plans = items.iter().map(|t| self.tabular(t));
                let first = plans
                    .next()
                    .ok_or_else(|| ExportError::Invalid("union needs a table".into()))??;
                let mut builder = LogicalPlanBuilder::from(first);
                for plan in plans {
                    builder = builder.union_by_name(plan?)?;
                }
                Ok(builder.build()?)
            }
            Source::Nested(inner) => self.tabular(inner),
            Source::Datatable {
                columns,
                values,
                span,
            } => self.datatable(columns, values, *span),
        }
    }

    fn table(&self, id: &Ident) -> Result<LogicalPlan> {
        if let Some(plan) = self.as_names.borrow().get(&id.name) {
            return Ok(plan.clone());
        }
        if let Some(plan) = self.tabular_lets.get(&id.name) {
            return Ok(plan.clone());
        }
        let source = self.tables.get(&id.name).cloned().ok_or_else(|| {
            self.error(
                id.span,
                format!("unknown table or tabular 'let' '{}'", id.name),
            )
        })?;
        Ok(LogicalPlanBuilder::scan(id.name.as_str(), source, None)?.build()?)
    }

    fn datatable(
        &self,
        columns: &[(Ident, Ident)],
        values: &[Expr],
        span: Span,
    ) -> Result<LogicalPlan> {
        if columns.is_empty()
            || !values.chunks_exact(columns.len()).remainder().is_empty()
            || values.is_empty()
        {
            return Err(self.error(
                span,
                format!(
                    "datatable has {} columns and {} values: give a value for every column of every row",
                    columns.len(),
                    values.len()
                ),
            ));
        }
        let mut types = Vec::new();
        for (_, ty) in columns {
            let kusto = KustoType::from_name(&ty.name)
                .ok_or_else(|| self.error(ty.span, format!("unknown type '{}'", ty.name)))?;
            types.push(crate::kusto_types::arrow_type(kusto));
        }
        let empty = DFSchema::empty();
        let mut rows = Vec::new();
        for row in values.chunks(columns.len()) {
            let mut out = Vec::new();
            for (v, t) in row.iter().zip(&types) {
                out.push(cast(self.scalar(v, &empty)?, t.clone()));
            }
            rows.push(out);
        }
        let plan = LogicalPlanBuilder::values(rows)?.build()?;
        let projection: Vec<DfExpr> = plan
            .schema()
            .columns()
            .into_iter()
            .zip(columns)
            .map(|(c, (name, _))| DfExpr::Column(c).alias(name.name.as_str()))
            .collect();
        Ok(LogicalPlanBuilder::from(plan)
            .project(projection)?
            .build()?)
    }

    /// Applies a pipeline's operators to `plan`.
    pub(crate) fn pipeline(&self, mut plan: LogicalPlan, p: &Pipeline) -> Result<LogicalPlan> {
        for op in &p.operators {
            plan = self.operator(plan, op)?;
        }
        Ok(plan)
    }

    /// `ScalarValue` of a constant expression, if it is one.
    pub(crate) fn constant(e: &DfExpr) -> Option<&ScalarValue> {
        match e {
            DfExpr::Literal(v, _) => Some(v),
            DfExpr::Alias(a) => Self::constant(&a.expr),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
