//! Planning query text, SQL or KQL, into a DataFusion [`LogicalPlan`].
//!
//! Every place that plans user query text (plain statements, the bodies after `<|`,
//! continuous-export queries) goes through [`plan_query`] or [`plan_query_body`], so
//! SQL and KQL are accepted everywhere alike. Which language a text is follows one
//! rule, [`crate::command::kql::is_sql`] (documented there). SQL goes to DataFusion's
//! SQL planner unchanged; KQL goes to the planner in [`kql`], which builds the plan
//! with `LogicalPlanBuilder` and DataFusion expressions (never by generating SQL), so
//! the analyzer rule that turns cursor predicates into scan scopes sees the same
//! plan shapes for both.

pub mod kql;

use datafusion::execution::SessionState;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};

use crate::command::kql::{is_sql, is_sql_statement};
use crate::error::Result;

/// Plans one top-level statement: SQL (see [`is_sql_statement`]) through
/// `state.create_logical_plan`, anything else as KQL. `EXPLAIN [ANALYZE] [VERBOSE]`
/// followed by a KQL query explains the KQL query's plan.
pub async fn plan_query(state: &SessionState, text: &str) -> Result<LogicalPlan> {
    if let Some((body, verbose, analyze)) = explained_kql(text) {
        let plan = kql::plan_kql(state, body).await?;
        return Ok(LogicalPlanBuilder::from(plan)
            .explain(verbose, analyze)?
            .build()?);
    }
    if is_sql_statement(text) {
        return Ok(state.create_logical_plan(text).await?);
    }
    kql::plan_kql(state, text).await
}

/// Plans the query body after `<|` of a command: SQL when it starts with `SELECT`,
/// `WITH`, `VALUES` or `(` ([`is_sql`]), KQL otherwise. A body that starts with a SQL
/// statement keyword (`INSERT`, `CREATE`, …) is planned as SQL too, so that the
/// caller can refuse it as "a statement, not a query" rather than report it as a KQL
/// table name.
pub async fn plan_query_body(state: &SessionState, text: &str) -> Result<LogicalPlan> {
    if is_sql(text) || is_sql_statement(text) {
        return Ok(state.create_logical_plan(text).await?);
    }
    kql::plan_kql(state, text).await
}

/// Applies a KQL operator pipeline (`| where … | project …`, the first `|` optional)
/// to `input`, e.g. to the result of a management command. `text` is the pipeline's
/// text: errors point at its line:column. Async because a `join` or `union` in the
/// pipeline may read tables, which are resolved from the catalog first.
pub async fn plan_pipeline(
    state: &SessionState,
    input: LogicalPlan,
    text: &str,
) -> Result<LogicalPlan> {
    kql::plan_kql_pipeline(state, input, text).await
}

/// `EXPLAIN [ANALYZE] [VERBOSE] <KQL>`: the KQL text, verbose, analyze. `None` when
/// the text is not an `EXPLAIN` or explains SQL.
fn explained_kql(text: &str) -> Option<(&str, bool, bool)> {
    let mut rest = strip_word(text.trim_start(), "explain")?;
    let mut verbose = false;
    let mut analyze = false;
    loop {
        if let Some(r) = strip_word(rest, "analyze") {
            analyze = true;
            rest = r;
        } else if let Some(r) = strip_word(rest, "verbose") {
            verbose = true;
            rest = r;
        } else {
            break;
        }
    }
    let body = rest.trim_start();
    if strip_word(body, "format").is_some() {
        return None;
    }
    (!body.is_empty() && !is_sql_statement(body)).then_some((body, verbose, analyze))
}

/// `text` without a leading keyword `word` (case-insensitive, then a space).
fn strip_word<'t>(text: &'t str, word: &str) -> Option<&'t str> {
    let head = text.get(..word.len())?;
    let rest = text.get(word.len()..)?;
    (head.eq_ignore_ascii_case(word) && rest.starts_with(char::is_whitespace))
        .then(|| rest.trim_start())
}
