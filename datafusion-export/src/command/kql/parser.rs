//! Recursive-descent parser from [`lexer`](super::lexer) tokens to the [`ast`](super::ast).
//!
//! ```text
//! query     := (let <name> = (tabular | scalar) ;)* tabular [;]
//! tabular   := source (| operator)*
//! source    := <name> | external_table('X') | union <item>, … | ( tabular )
//!            | datatable (<name>:<type>, …) [ <literal>, … ]
//! item      := <name> | ( tabular )
//! operator  := where|filter <expr> | project <named>, … | project-away <name>, …
//!            | project-rename <new> = <old>, … | extend <named>, …
//!            | summarize [<named>, …] [by <named>, …]
//!            | join [kind=<kind>] <item> on (<name> | $left.<name> == $right.<name>), …
//!            | union <item>, … | take|limit <expr> | top <expr> by <sort>
//!            | sort|order by <sort>, … | distinct * | distinct <name>, … | count | as <name>
//! sort      := <expr> [asc|desc] [nulls first|last]
//! named     := [<name> =] <expr>
//! ```
//! Expressions, loosest first: `or`; `and`; comparisons (`==`, `!=`, `<>`, `=~`, `!~`,
//! `<`, `<=`, `>`, `>=`), string operators (`has`, `contains`, `startswith`,
//! `endswith`, `hasprefix`, `hassuffix`, each with `!` and `_cs` forms), `in`/`!in`/
//! `in~`/`!in~ (…)`, `between`/`!between (a .. b)`; `+ -`; `* / %`; unary `-`.
//! Operator names and keywords are lowercase, as in Kusto.

use std::collections::HashSet;

use super::ast::*;
use super::lexer::{lex, Tok, T};
use super::{AGGREGATE_FUNCTIONS, SCALAR_FUNCTIONS, TABULAR_OPERATORS};
use crate::command::error::ParseError;

/// The deepest nesting of parentheses and pipelines accepted (keeps the recursion
/// far from the stack's end on hostile input).
const MAX_DEPTH: usize = 128;

/// Parses a whole KQL query.
pub fn parse_query(text: &str) -> Result<Query, ParseError> {
    let mut p = Parser::new(text)?;
    let query = p.query()?;
    p.end()?;
    Ok(query)
}

/// Parses a bare operator pipeline (`| where … | count`; the first `|` is optional).
pub fn parse_pipeline(text: &str) -> Result<Pipeline, ParseError> {
    let mut p = Parser::new(text)?;
    if p.peek().is_none() {
        return Err(p.unexpected("expected a tabular operator"));
    }
    p.accept_sym("|");
    let mut pipeline = Pipeline::default();
    loop {
        pipeline.operators.push(p.operator()?);
        if !p.accept_sym("|") {
            break;
        }
    }
    p.end()?;
    Ok(pipeline)
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    scalar_lets: HashSet<String>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Self, ParseError> {
        Ok(Self {
            text,
            toks: lex(text)?,
            pos: 0,
            depth: 0,
            scalar_lets: HashSet::new(),
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_nth(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n)
    }

    fn advance(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// End of the previous token (for spans).
    fn last_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|k| self.toks.get(k))
            .map(|t| t.end)
            .unwrap_or(0)
    }

    fn here(&self) -> usize {
        self.peek().map(|t| t.start).unwrap_or(self.text.len())
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::at_offset(self.text, offset, message)
    }

    fn describe(t: &Tok, text: &str) -> String {
        match &t.t {
            T::Str { hidden: true, .. } => "a hidden string literal".into(),
            T::Str { .. } => "a string literal".into(),
            _ => {
                let s: String = text
                    .get(t.start..t.end)
                    .unwrap_or("?")
                    .chars()
                    .take(40)
                    .collect();
                format!("'{s}'")
            }
        }
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        match self.peek() {
            Some(t) => self.error_at(
                t.start,
                format!("{expected}, found {}", Self::describe(t, self.text)),
            ),
            None => self.error_at(self.text.len(), format!("{expected}, found end of input")),
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok { t: T::Sym(x), .. }) if *x == s)
    }

    fn accept_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn expect_sym(&mut self, s: &str, what: &str) -> Result<(), ParseError> {
        if self.accept_sym(s) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected '{s}' {what}")))
        }
    }

    fn word_at(&self, n: usize) -> Option<&str> {
        match self.peek_nth(n) {
            Some(Tok {
                t:
                    T::Ident {
                        name,
                        quoted: false,
                    },
                ..
            }) => Some(name.as_str()),
            _ => None,
        }
    }

    fn is_word(&self, w: &str) -> bool {
        self.word_at(0) == Some(w)
    }

    fn accept_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn ident(&mut self, what: &str) -> Result<Ident, ParseError> {
        match self.peek() {
            Some(Tok {
                t: T::Ident { name, .. },
                start,
                end,
            }) if !name.starts_with('$') => {
                let id = Ident {
                    name: name.clone(),
                    span: Span {
                        start: *start,
                        end: *end,
                    },
                };
                self.pos += 1;
                Ok(id)
            }
            _ => Err(self.unexpected(&format!("expected {what}"))),
        }
    }

    fn end(&mut self) -> Result<(), ParseError> {
        while self.accept_sym(";") {}
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.unexpected("expected '|' or the end of the query")),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.here(), "query nested too deeply"));
        }
        Ok(())
    }

    fn query(&mut self) -> Result<Query, ParseError> {
        let mut lets = Vec::new();
        while self.is_word("let") {
            self.pos += 1;
            let name = self.ident("a name after 'let'")?;
            self.expect_sym("=", "after the name of a 'let'")?;
            let value = if self.let_is_tabular() {
                LetValue::Tabular(self.tabular()?)
            } else {
                let e = self.expr()?;
                if self.is_sym("|") {
                    return Err(self.unexpected("expected ';' after a scalar 'let'"));
                }
                self.scalar_lets.insert(name.name.clone());
                LetValue::Scalar(e)
            };
            if !self.accept_sym(";") {
                return Err(self.unexpected("expected ';' after a 'let' statement"));
            }
            while self.accept_sym(";") {}
            lets.push(Let { name, value });
        }
        if self.peek().is_none() {
            return Err(self.unexpected("expected a tabular expression (a table name)"));
        }
        let body = self.tabular()?;
        Ok(Query { lets, body })
    }

    /// Whether a `let`'s value is tabular: it starts with `union`, `datatable`,
    /// `external_table(`, or is a name (not a scalar `let`, not a call) followed by
    /// `|`, `;` or the end.
    fn let_is_tabular(&self) -> bool {
        match self.word_at(0) {
            Some("union" | "datatable" | "external_table") => true,
            Some(name) => {
                let next_is_end = match self.peek_nth(1) {
                    None => true,
                    Some(Tok { t: T::Sym(s), .. }) => *s == "|" || *s == ";",
                    _ => false,
                };
                next_is_end
                    && !self.scalar_lets.contains(name)
                    && !matches!(name, "true" | "false" | "null")
            }
            None => match self.peek() {
                Some(Tok {
                    t: T::Ident { quoted: true, .. },
                    ..
                }) => true,
                Some(Tok { t: T::Sym("("), .. }) => {
                    // `(T | …)`: tabular when a pipe follows the first name.
                    matches!(self.peek_nth(2), Some(Tok { t: T::Sym("|"), .. }))
                }
                _ => false,
            },
        }
    }

    fn tabular(&mut self) -> Result<Tabular, ParseError> {
        self.enter()?;
        let source = self.source()?;
        let mut pipeline = Pipeline::default();
        while self.accept_sym("|") {
            pipeline.operators.push(self.operator()?);
        }
        self.depth -= 1;
        Ok(Tabular { source, pipeline })
    }

    fn source(&mut self) -> Result<Source, ParseError> {
        let start = self.here();
        if self.accept_sym("(") {
            let inner = self.tabular()?;
            self.expect_sym(")", "to close '('")?;
            return Ok(Source::Nested(Box::new(inner)));
        }
        match self.word_at(0) {
            // Kusto's other ways to start a query, outside the subset: refused by name
            // rather than read as a table followed by a stray token.
            Some(
                word @ ("print" | "range" | "search" | "find" | "evaluate" | "materialize"
                | "cluster" | "database" | "externaldata" | "table"),
            ) if !matches!(
                self.peek_nth(1),
                None | Some(Tok {
                    t: T::Sym("|" | ";" | ")" | ","),
                    ..
                })
            ) =>
            {
                return Err(self.error_at(
                    start,
                    format!(
                        "'{word}' is not supported as the start of a query; a query starts \
                         with a table name, a 'let' name, external_table('X'), datatable(…), \
                         union or a parenthesized query"
                    ),
                ));
            }
            Some("union") => {
                self.pos += 1;
                return Ok(Source::Union(self.union_items()?));
            }
            Some("external_table")
                if matches!(self.peek_nth(1), Some(Tok { t: T::Sym("("), .. })) =>
            {
                self.pos += 2;
                let name = match self.advance() {
                    Some(Tok {
                        t: T::Str { value, .. },
                        ..
                    }) => value,
                    _ => {
                        self.pos = self.pos.saturating_sub(1);
                        return Err(
                            self.unexpected("expected the external table's name as a string")
                        );
                    }
                };
                self.expect_sym(")", "after the external table's name")?;
                return Ok(Source::ExternalTable {
                    name,
                    span: Span {
                        start,
                        end: self.last_end(),
                    },
                });
            }
            Some("datatable") => {
                self.pos += 1;
                return self.datatable(start);
            }
            _ => {}
        }
        let id = self.ident("a table name")?;
        Ok(Source::Table(id))
    }

    fn datatable(&mut self, start: usize) -> Result<Source, ParseError> {
        self.expect_sym("(", "after 'datatable'")?;
        let mut columns = Vec::new();
        loop {
            let name = self.ident("a column name")?;
            self.expect_sym(":", "between a column name and its type")?;
            let ty = self.ident("a type")?;
            columns.push((name, ty));
            if !self.accept_sym(",") {
                break;
            }
        }
        self.expect_sym(")", "after the columns of 'datatable'")?;
        self.expect_sym("[", "before the values of 'datatable'")?;
        let mut values = Vec::new();
        if !self.is_sym("]") {
            loop {
                values.push(self.expr()?);
                if !self.accept_sym(",") {
                    break;
                }
            }
        }
        self.expect_sym("]", "after the values of 'datatable'")?;
        Ok(Source::Datatable {
            columns,
            values,
            span: Span {
                start,
                end: self.last_end(),
            },
        })
    }

    /// `T1, (T2 | …), …` after `union` (optional `kind=outer|inner` is accepted).
    fn union_items(&mut self) -> Result<Vec<Tabular>, ParseError> {
        if self.is_word("kind") {
            self.pos += 1;
            self.expect_sym("=", "after 'kind'")?;
            let kind = self.ident("'outer'")?;
            if kind.name != "outer" {
                return Err(self.error_at(
                    kind.span.start,
                    format!(
                        "union kind '{}' is not supported; supported: outer",
                        kind.name
                    ),
                ));
            }
        }
        let mut items = Vec::new();
        loop {
            items.push(self.item()?);
            if !self.accept_sym(",") {
                break;
            }
        }
        Ok(items)
    }

    /// A table name or a parenthesized tabular expression.
    fn item(&mut self) -> Result<Tabular, ParseError> {
        if self.accept_sym("(") {
            let inner = self.tabular()?;
            self.expect_sym(")", "to close '('")?;
            return Ok(inner);
        }
        let start = self.here();
        if self.is_word("external_table") {
            let source = self.source()?;
            let _ = start;
            return Ok(Tabular {
                source,
                pipeline: Pipeline::default(),
            });
        }
        Ok(Tabular {
            source: Source::Table(self.ident("a table name or '(' tabular expression ')'")?),
            pipeline: Pipeline::default(),
        })
    }

    /// The operator name at the cursor, with adjacent `-word` parts joined.
    fn operator_name(&mut self) -> Option<(String, Span)> {
        let first = self.peek()?.clone();
        let T::Ident {
            name,
            quoted: false,
        } = &first.t
        else {
            return None;
        };
        let mut name = name.clone();
        let mut end = first.end;
        self.pos += 1;
        while let (
            Some(Tok {
                t: T::Sym("-"),
                start: ms,
                end: me,
            }),
            Some(Tok {
                t:
                    T::Ident {
                        name: part,
                        quoted: false,
                    },
                start: ps,
                end: pe,
            }),
        ) = (self.peek(), self.peek_nth(1))
        {
            if *ms != end || *ps != *me {
                break;
            }
            name.push('-');
            name.push_str(part);
            end = *pe;
            self.pos += 2;
        }
        Some((
            name,
            Span {
                start: first.start,
                end,
            },
        ))
    }

    fn operator(&mut self) -> Result<Operator, ParseError> {
        let start = self.here();
        let Some((name, span)) = self.operator_name() else {
            return Err(self.unexpected(&format!(
                "expected a tabular operator after '|'; supported operators: {}",
                TABULAR_OPERATORS.join(", ")
            )));
        };
        let kind = match name.as_str() {
            "where" | "filter" => OperatorKind::Where(self.expr()?),
            "project" => OperatorKind::Project(self.named_list(false)?),
            "extend" => OperatorKind::Extend(self.named_list(false)?),
            "project-away" => OperatorKind::ProjectAway(self.ident_list("a column name")?),
            "project-rename" => {
                let mut pairs = Vec::new();
                loop {
                    let new = self.ident("a new column name")?;
                    self.expect_sym("=", "in 'project-rename new = old'")?;
                    let old = self.ident("the column to rename")?;
                    pairs.push((new, old));
                    if !self.accept_sym(",") {
                        break;
                    }
                }
                OperatorKind::ProjectRename(pairs)
            }
            "summarize" => {
                let aggregates = if self.is_word("by") {
                    Vec::new()
                } else {
                    self.named_list(true)?
                };
                let by = if self.accept_word("by") {
                    self.named_list(false)?
                } else {
                    Vec::new()
                };
                if aggregates.is_empty() && by.is_empty() {
                    return Err(self.unexpected("expected aggregations or 'by' after 'summarize'"));
                }
                OperatorKind::Summarize { aggregates, by }
            }
            "join" => self.join()?,
            "union" => OperatorKind::Union(self.union_items()?),
            "take" | "limit" => OperatorKind::Take(self.expr()?),
            "top" => {
                let count = self.expr()?;
                if !self.accept_word("by") {
                    return Err(self.unexpected("expected 'by' after 'top <n>'"));
                }
                OperatorKind::Top {
                    count,
                    by: self.sort_key()?,
                }
            }
            "sort" | "order" => {
                if !self.accept_word("by") {
                    return Err(self.unexpected(&format!("expected 'by' after '{name}'")));
                }
                let mut keys = vec![self.sort_key()?];
                while self.accept_sym(",") {
                    keys.push(self.sort_key()?);
                }
                OperatorKind::Sort(keys)
            }
            "distinct" => {
                if self.accept_sym("*") {
                    OperatorKind::Distinct(None)
                } else {
                    OperatorKind::Distinct(Some(self.ident_list("a column name or '*'")?))
                }
            }
            "count" => OperatorKind::Count,
            "as" => OperatorKind::As(self.ident("a name after 'as'")?),
            other => {
                return Err(self.error_at(
                    span.start,
                    format!(
                        "unknown tabular operator '{}'; supported operators: {}",
                        other.chars().take(40).collect::<String>(),
                        TABULAR_OPERATORS.join(", ")
                    ),
                ))
            }
        };
        Ok(Operator {
            kind,
            span: Span {
                start,
                end: self.last_end(),
            },
        })
    }

    fn join(&mut self) -> Result<OperatorKind, ParseError> {
        let mut kind = JoinKind::InnerUnique;
        while self
            .word_at(0)
            .is_some_and(|w| w == "kind" || w.starts_with("hint"))
        {
            let key = self.operator_name().map(|(n, _)| n).unwrap_or_default();
            // `hint.strategy=…`: hints are accepted and ignored.
            while self.accept_sym(".") {
                self.ident("a hint name")?;
            }
            self.expect_sym("=", "after the join parameter")?;
            let value = self.ident("a join kind")?;
            if key == "kind" {
                kind = match value.name.as_str() {
                    "inner" => JoinKind::Inner,
                    "innerunique" => JoinKind::InnerUnique,
                    "leftouter" => JoinKind::LeftOuter,
                    "rightouter" => JoinKind::RightOuter,
                    "fullouter" => JoinKind::FullOuter,
                    "leftanti" | "anti" | "leftantisemi" => JoinKind::LeftAnti,
                    "leftsemi" => JoinKind::LeftSemi,
                    "rightanti" | "rightantisemi" => JoinKind::RightAnti,
                    "rightsemi" => JoinKind::RightSemi,
                    other => {
                        return Err(self.error_at(
                            value.span.start,
                            format!(
                                "unknown join kind '{other}'; supported kinds: innerunique, \
                                 inner, leftouter, rightouter, fullouter, leftanti, leftsemi, \
                                 rightanti, rightsemi"
                            ),
                        ))
                    }
                };
            }
        }
        let right = self.item()?;
        if !self.accept_word("on") {
            return Err(self.unexpected("expected 'on' after the right side of 'join'"));
        }
        let mut on = Vec::new();
        loop {
            if self.word_at(0).is_some_and(|w| w.starts_with('$'))
                || matches!(self.peek(), Some(Tok { t: T::Ident { name, .. }, .. }) if name.starts_with('$'))
            {
                let (side_a, a) = self.side_column()?;
                self.expect_sym("==", "between '$left.<column>' and '$right.<column>'")?;
                let (side_b, b) = self.side_column()?;
                let (left, right) = match (side_a.as_str(), side_b.as_str()) {
                    ("$left", "$right") => (a, b),
                    ("$right", "$left") => (b, a),
                    _ => {
                        return Err(self.error_at(
                            a.span.start,
                            "a join condition compares '$left.<column>' with '$right.<column>'",
                        ))
                    }
                };
                on.push(JoinKey { left, right });
            } else {
                let c = self.ident("a column name, or '$left.<column> == $right.<column>'")?;
                on.push(JoinKey {
                    left: c.clone(),
                    right: c,
                });
            }
            if !(self.accept_sym(",") || self.accept_word("and")) {
                break;
            }
        }
        Ok(OperatorKind::Join {
            kind,
            right: Box::new(right),
            on,
        })
    }

    /// `$left.col` / `$right.col`.
    fn side_column(&mut self) -> Result<(String, Ident), ParseError> {
        let side = match self.peek() {
            Some(Tok {
                t: T::Ident { name, .. },
                ..
            }) if name == "$left" || name == "$right" => name.clone(),
            _ => return Err(self.unexpected("expected '$left' or '$right'")),
        };
        self.pos += 1;
        self.expect_sym(".", "after '$left' / '$right'")?;
        Ok((side, self.ident("a column name")?))
    }

    fn ident_list(&mut self, what: &str) -> Result<Vec<Ident>, ParseError> {
        let mut out = vec![self.ident(what)?];
        while self.accept_sym(",") {
            out.push(self.ident(what)?);
        }
        Ok(out)
    }

    /// `[name =] expr, …`; stops before `by` when `stop_at_by`.
    fn named_list(&mut self, stop_at_by: bool) -> Result<Vec<NamedExpr>, ParseError> {
        let mut out = Vec::new();
        loop {
            if stop_at_by && self.is_word("by") {
                break;
            }
            let name = match (self.peek(), self.peek_nth(1)) {
                (
                    Some(Tok {
                        t: T::Ident { .. }, ..
                    }),
                    Some(Tok { t: T::Sym("="), .. }),
                ) => {
                    let id = self.ident("a column name")?;
                    self.pos += 1;
                    Some(id)
                }
                _ => None,
            };
            out.push(NamedExpr {
                name,
                expr: self.expr()?,
            });
            if !self.accept_sym(",") {
                break;
            }
        }
        Ok(out)
    }

    fn sort_key(&mut self) -> Result<SortKey, ParseError> {
        let expr = self.expr()?;
        let mut ascending = false;
        if self.accept_word("asc") {
            ascending = true;
        } else {
            self.accept_word("desc");
        }
        let mut nulls_first = None;
        if self.accept_word("nulls") {
            if self.accept_word("first") {
                nulls_first = Some(true);
            } else if self.accept_word("last") {
                nulls_first = Some(false);
            } else {
                return Err(self.unexpected("expected 'first' or 'last' after 'nulls'"));
            }
        }
        Ok(SortKey {
            expr,
            ascending,
            nulls_first,
        })
    }

    // ---- scalar expressions ----

    /// A scalar expression.
    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = self.or_expr();
        self.depth -= 1;
        e
    }

    fn binary(left: Expr, op: BinaryOp, right: Expr) -> Expr {
        let span = Span {
            start: left.span.start,
            end: right.span.end,
        };
        Expr {
            kind: ExprKind::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            },
            span,
        }
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and_expr()?;
        while self.accept_word("or") {
            let right = self.and_expr()?;
            left = Self::binary(left, BinaryOp::Or, right);
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.comparison()?;
        while self.accept_word("and") {
            let right = self.comparison()?;
            left = Self::binary(left, BinaryOp::And, right);
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let left = self.additive()?;
        let op = match self.peek().map(|t| &t.t) {
            Some(T::Sym("==")) => Some(BinaryOp::Eq),
            Some(T::Sym("!=" | "<>")) => Some(BinaryOp::NotEq),
            Some(T::Sym("=~")) => Some(BinaryOp::EqTilde),
            Some(T::Sym("!~")) => Some(BinaryOp::NotEqTilde),
            Some(T::Sym("<")) => Some(BinaryOp::Lt),
            Some(T::Sym("<=")) => Some(BinaryOp::LtEq),
            Some(T::Sym(">")) => Some(BinaryOp::Gt),
            Some(T::Sym(">=")) => Some(BinaryOp::GtEq),
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            let right = self.additive()?;
            return Ok(Self::binary(left, op, right));
        }
        let (word, negated) = match self.peek().map(|t| &t.t) {
            Some(T::Ident {
                name,
                quoted: false,
            }) => (name.clone(), false),
            Some(T::NotWord(name)) => (name.clone(), true),
            _ => return Ok(left),
        };
        let (base, case_sensitive) = match word.strip_suffix("_cs") {
            Some(b) => (b.to_string(), true),
            None => (word.clone(), false),
        };
        let string_op = match base.as_str() {
            "has" => Some(StringOp::Has),
            "contains" => Some(StringOp::Contains),
            "startswith" => Some(StringOp::StartsWith),
            "endswith" => Some(StringOp::EndsWith),
            "hasprefix" => Some(StringOp::HasPrefix),
            "hassuffix" => Some(StringOp::HasSuffix),
            _ => None,
        };
        if let Some(op) = string_op {
            self.pos += 1;
            let right = self.additive()?;
            let span = Span {
                start: left.span.start,
                end: right.span.end,
            };
            return Ok(Expr {
                kind: ExprKind::StringOp {
                    op,
                    negated,
                    case_sensitive,
                    left: Box::new(left),
                    right: Box::new(right),
                },
                span,
            });
        }
        match word.as_str() {
            "in" => {
                self.pos += 1;
                let case_insensitive = self.accept_sym("~");
                self.expect_sym("(", "after 'in'")?;
                let mut list = Vec::new();
                if !self.is_sym(")") {
                    loop {
                        let item = self.expr()?;
                        match item.kind {
                            ExprKind::List(items) => list.extend(items),
                            _ => list.push(item),
                        }
                        if !self.accept_sym(",") {
                            break;
                        }
                    }
                }
                self.expect_sym(")", "to close the list of 'in'")?;
                let span = Span {
                    start: left.span.start,
                    end: self.last_end(),
                };
                Ok(Expr {
                    kind: ExprKind::In {
                        expr: Box::new(left),
                        list,
                        negated,
                        case_insensitive,
                    },
                    span,
                })
            }
            "between" => {
                self.pos += 1;
                self.expect_sym("(", "after 'between'")?;
                let low = self.additive()?;
                self.expect_sym("..", "between the bounds of 'between (low .. high)'")?;
                let high = self.additive()?;
                self.expect_sym(")", "to close 'between (low .. high)'")?;
                let span = Span {
                    start: left.span.start,
                    end: self.last_end(),
                };
                Ok(Expr {
                    kind: ExprKind::Between {
                        expr: Box::new(left),
                        low: Box::new(low),
                        high: Box::new(high),
                        negated,
                    },
                    span,
                })
            }
            _ if negated => Err(self.unexpected(
                "unknown operator; supported: !has, !contains, !startswith, !endswith, \
                 !hasprefix, !hassuffix (and their _cs forms), !in, !between",
            )),
            _ => Ok(left),
        }
    }

    fn additive(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.accept_sym("+") {
                BinaryOp::Plus
            } else if self.accept_sym("-") {
                BinaryOp::Minus
            } else {
                return Ok(left);
            };
            let right = self.multiplicative()?;
            left = Self::binary(left, op, right);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        loop {
            let op = if self.accept_sym("*") {
                BinaryOp::Multiply
            } else if self.accept_sym("/") {
                BinaryOp::Divide
            } else if self.accept_sym("%") {
                BinaryOp::Modulo
            } else {
                return Ok(left);
            };
            let right = self.unary()?;
            left = Self::binary(left, op, right);
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let start = self.here();
        if self.accept_sym("-") {
            self.enter()?;
            let inner = self.unary();
            self.depth -= 1;
            let inner = inner?;
            // Fold `-5` into a literal so that `take -1` and `i64::MIN` behave.
            let kind = match inner.kind {
                ExprKind::Literal(Literal::Long(v)) => {
                    ExprKind::Literal(Literal::Long(v.wrapping_neg()))
                }
                ExprKind::Literal(Literal::Real(v)) => ExprKind::Literal(Literal::Real(-v)),
                ExprKind::Literal(Literal::Timespan(Some(v))) => {
                    ExprKind::Literal(Literal::Timespan(Some(v.wrapping_neg())))
                }
                other => ExprKind::Negate(Box::new(Expr {
                    kind: other,
                    span: inner.span,
                })),
            };
            return Ok(Expr {
                kind,
                span: Span {
                    start,
                    end: inner.span.end,
                },
            });
        }
        if self.accept_sym("+") {
            return self.unary();
        }
        self.primary()
    }

    fn lit(&self, l: Literal, start: usize) -> Expr {
        Expr {
            kind: ExprKind::Literal(l),
            span: Span {
                start,
                end: self.last_end(),
            },
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(self.unexpected("expected an expression"));
        };
        let start = tok.start;
        match tok.t {
            T::Long(v) => {
                self.pos += 1;
                Ok(self.lit(Literal::Long(v), start))
            }
            T::Real(v) => {
                self.pos += 1;
                Ok(self.lit(Literal::Real(v), start))
            }
            T::Timespan(v) => {
                self.pos += 1;
                Ok(self.lit(Literal::Timespan(Some(v)), start))
            }
            T::Str { value, hidden } => {
                self.pos += 1;
                // Adjacent string literals concatenate, as in Kusto.
                let mut value = value;
                let mut hidden = hidden;
                while let Some(Tok {
                    t:
                        T::Str {
                            value: more,
                            hidden: h,
                        },
                    ..
                }) = self.peek().cloned()
                {
                    value.push_str(&more);
                    hidden |= h;
                    self.pos += 1;
                }
                Ok(self.lit(Literal::String { value, hidden }, start))
            }
            T::Raw { kind, text } => {
                self.pos += 1;
                let l = raw_literal(&kind, &text).map_err(|m| self.error_at(start, m))?;
                Ok(self.lit(l, start))
            }
            T::Sym("(") => {
                self.pos += 1;
                let inner = self.expr()?;
                self.expect_sym(")", "to close '('")?;
                Ok(Expr {
                    kind: inner.kind,
                    span: Span {
                        start,
                        end: self.last_end(),
                    },
                })
            }
            T::Sym("[") => {
                self.pos += 1;
                let items = self.list_items("]")?;
                Ok(Expr {
                    kind: ExprKind::List(items),
                    span: Span {
                        start,
                        end: self.last_end(),
                    },
                })
            }
            T::Sym("*") => {
                self.pos += 1;
                Ok(Expr {
                    kind: ExprKind::Star,
                    span: Span {
                        start,
                        end: tok.end,
                    },
                })
            }
            T::Ident { name, quoted } => {
                self.pos += 1;
                if !quoted {
                    match name.as_str() {
                        "true" => return Ok(self.lit(Literal::Bool(true), start)),
                        "false" => return Ok(self.lit(Literal::Bool(false), start)),
                        "null" => return Ok(self.lit(Literal::Null, start)),
                        _ => {}
                    }
                }
                if quoted || !self.is_sym("(") {
                    if name.starts_with('$') {
                        return Err(self.error_at(
                            start,
                            "'$left' and '$right' appear only in a join's 'on' clause",
                        ));
                    }
                    return Ok(Expr {
                        kind: ExprKind::Name(name),
                        span: Span {
                            start,
                            end: tok.end,
                        },
                    });
                }
                self.call(Ident {
                    name,
                    span: Span {
                        start,
                        end: tok.end,
                    },
                })
            }
            _ => Err(self.unexpected("expected an expression")),
        }
    }

    fn list_items(&mut self, close: &str) -> Result<Vec<Expr>, ParseError> {
        let mut items = Vec::new();
        if !self.is_sym(close) {
            loop {
                items.push(self.expr()?);
                if !self.accept_sym(",") {
                    break;
                }
            }
        }
        self.expect_sym(close, "to close the list")?;
        Ok(items)
    }

    /// `name(args)`; `(` is next.
    fn call(&mut self, name: Ident) -> Result<Expr, ParseError> {
        let known = SCALAR_FUNCTIONS.contains(&name.name.as_str())
            || AGGREGATE_FUNCTIONS.contains(&name.name.as_str());
        if !known {
            return Err(self.error_at(
                name.span.start,
                format!(
                    "unknown function '{}'; supported scalar functions: {}; aggregations (in \
                     summarize): {}",
                    name.name.chars().take(40).collect::<String>(),
                    SCALAR_FUNCTIONS.join(", "),
                    AGGREGATE_FUNCTIONS.join(", ")
                ),
            ));
        }
        self.pos += 1; // `(`
        let args = self.list_items(")")?;
        let span = Span {
            start: name.span.start,
            end: self.last_end(),
        };
        // `datetime("…")` / `timespan("…")`: literals written as strings.
        if let (
            "datetime" | "timespan" | "time",
            [Expr {
                kind: ExprKind::Literal(Literal::String { value, .. }),
                ..
            }],
        ) = (name.name.as_str(), args.as_slice())
        {
            let l = raw_literal(&name.name, value).map_err(|m| self.error_at(span.start, m))?;
            return Ok(Expr {
                kind: ExprKind::Literal(l),
                span,
            });
        }
        if name.name == "dynamic" {
            return match args.as_slice() {
                [single] => Ok(Expr {
                    kind: single.kind.clone(),
                    span,
                }),
                _ => Err(self.error_at(span.start, "dynamic() takes one value: dynamic([1, 2])")),
            };
        }
        Ok(Expr {
            kind: ExprKind::Call { name, args },
            span,
        })
    }
}

/// The value of `datetime(text)` / `timespan(text)` / `time(text)`.
fn raw_literal(kind: &str, text: &str) -> Result<Literal, String> {
    let text = text.trim();
    let is_null = text == "null";
    if kind == "datetime" {
        if is_null {
            return Ok(Literal::DateTime(None));
        }
        return parse_datetime(text)
            .map(|n| Literal::DateTime(Some(n)))
            .ok_or_else(|| {
                format!(
                    "invalid datetime '{}': use ISO 8601, e.g. datetime(2024-01-31), \
                     datetime(2024-01-31 10:00:00) or datetime(2024-01-31T10:00:00Z)",
                    text.chars().take(40).collect::<String>()
                )
            });
    }
    if is_null {
        return Ok(Literal::Timespan(None));
    }
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    crate::command::timespan::try_parse_timespan(body)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .map(|n| Literal::Timespan(Some(if negative { -n } else { n })))
        .ok_or_else(|| {
            format!(
                "invalid timespan '{}': e.g. timespan(1d), 2h, 30m, 10s, 100ms or 01:30:00",
                text.chars().take(40).collect::<String>()
            )
        })
}

/// Nanoseconds since the epoch of an ISO 8601 date or date-time (UTC unless an
/// offset is given).
fn parse_datetime(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return dt.timestamp_nanos_opt();
    }
    let naive = text.trim_end_matches('Z');
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, format) {
            return dt.and_utc().timestamp_nanos_opt();
        }
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)?
        .and_utc()
        .timestamp_nanos_opt()
}
