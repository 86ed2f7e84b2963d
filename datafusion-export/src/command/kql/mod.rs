//! KQL (Kusto Query Language) query bodies: the SQL-or-KQL rule, the syntax tree and
//! the parser. Planning into DataFusion lives in `crate::query` (a layer above: this
//! module stays pure parsing).
//!
//! # SQL or KQL
//!
//! One rule, [`is_sql`]: after leading whitespace and comments (`//`, `--`, `/* */`),
//! a query body that starts (case-insensitively) with the keyword `SELECT`, `WITH`,
//! `VALUES`, or with `(` is SQL; anything else is KQL. A whole top-level statement
//! ([`is_sql_statement`]) is SQL also when it starts with one of the SQL statement
//! keywords `EXPLAIN`, `INSERT`, `CREATE`, `DROP`, `SET`, `SHOW`, `DESCRIBE`, `COPY`,
//! `UPDATE`, `DELETE`; the body after `<|` of a command uses only the four.
//!
//! # The subset
//!
//! [`TABULAR_OPERATORS`], [`SCALAR_FUNCTIONS`] and [`AGGREGATE_FUNCTIONS`] list what is
//! supported; anything else is refused at parse time with its name, its line:column
//! and these lists. The grammar is in [`parser`]; the semantics, and where they
//! differ from Kusto, in `crate::query::kql`.
//!
//! # Why not the `kqlparser` crate
//!
//! `kqlparser` (0.0.4, nom-based, with its planner sibling `datafusion-kql`) was
//! evaluated and not used. Its AST carries no source positions, so errors could not
//! point at line:column as every other error of this crate does; its nom errors are
//! not user-facing; it is undocumented (0% of items) and at version 0.0.x its README
//! says some queries "may not be parsed". Our planner needs its own AST with spans
//! and Kusto's naming rules anyway, and a recursive-descent parser of this subset is
//! a few hundred lines that we control, fuzz and keep panic-free. `datafusion-kql`
//! pins an older DataFusion, so it could only serve as a source of ideas.

pub mod ast;
mod lexer;
pub mod parser;

pub use ast::*;
pub use parser::{parse_pipeline, parse_query};

/// The tabular operators that KQL pipelines support.
pub const TABULAR_OPERATORS: &[&str] = &[
    "where",
    "filter",
    "project",
    "project-away",
    "project-rename",
    "extend",
    "summarize",
    "join",
    "union",
    "take",
    "limit",
    "top",
    "sort",
    "order",
    "distinct",
    "count",
    "as",
];

/// The scalar functions that KQL expressions support.
pub const SCALAR_FUNCTIONS: &[&str] = &[
    "ago",
    "now",
    "bin",
    "floor",
    "startofday",
    "startofweek",
    "startofmonth",
    "startofyear",
    "tostring",
    "toint",
    "tolong",
    "todouble",
    "toreal",
    "todatetime",
    "totimespan",
    "strcat",
    "strlen",
    "substring",
    "tolower",
    "toupper",
    "iff",
    "iif",
    "case",
    "isnull",
    "isnotnull",
    "isempty",
    "isnotempty",
    "coalesce",
    "hash",
    "not",
    "abs",
    "round",
    "datetime",
    "timespan",
    "time",
    "dynamic",
    "long",
    "int",
    "real",
    "double",
    "string",
    "bool",
    "ingestion_time",
    "cursor_after",
    "cursor_before_or_at",
    "cursor_current",
];

/// The aggregation functions of `summarize`.
pub const AGGREGATE_FUNCTIONS: &[&str] = &[
    "count",
    "countif",
    "sum",
    "sumif",
    "avg",
    "min",
    "max",
    "dcount",
    "make_list",
    "make_set",
    "arg_max",
    "arg_min",
    "any",
    "take_any",
];

/// Keywords that make a `<|` body SQL.
const SQL_QUERY_KEYWORDS: &[&str] = &["select", "with", "values"];

/// Keywords that also make a top-level statement SQL.
const SQL_STATEMENT_KEYWORDS: &[&str] = &[
    "explain", "insert", "create", "drop", "set", "show", "describe", "copy", "update", "delete",
];

/// The text after leading whitespace and comments (`//`, `--`, `/* */`).
fn after_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("//").or_else(|| text.strip_prefix("--")) {
            text = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.split_once("*/").map(|(_, r)| r).unwrap_or("");
        } else {
            return text;
        }
    }
}

/// The first word of `text` after comments, if it is a keyword of `keywords`.
fn starts_with_keyword(text: &str, keywords: &[&str]) -> bool {
    let text = after_comments(text);
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let word = text.get(..end).unwrap_or("");
    keywords.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Whether a query body (after `<|`) is SQL: it starts with `SELECT`, `WITH`,
/// `VALUES` or `(` (see the [module docs](self)). Anything else is KQL.
pub fn is_sql(body: &str) -> bool {
    after_comments(body).starts_with('(') || starts_with_keyword(body, SQL_QUERY_KEYWORDS)
}

/// Whether a whole statement is SQL: [`is_sql`], or it starts with a SQL statement
/// keyword (`EXPLAIN`, `INSERT`, `CREATE`, `DROP`, `SET`, `SHOW`, `DESCRIBE`, `COPY`,
/// `UPDATE`, `DELETE`).
pub fn is_sql_statement(text: &str) -> bool {
    is_sql(text) || starts_with_keyword(text, SQL_STATEMENT_KEYWORDS)
}

#[cfg(test)]
mod tests;
