//! Parser for Kusto-style management commands.
//!
//! Grammar (keywords are case-insensitive, `<name>` is an identifier made of
//! letters, digits and `_`, or a quoted name `"x"`, `` `x` ``, `['x']`,
//! `["x"]`):
//!
//! ```text
//! .create table <name> ( <column>:<type> [, ...] )
//! .drop table <name> [ifexists]
//! .show tables
//! .show table <name> [schema | extents]
//! .append <name> [with ( <props> )] <| <query>
//! .set-or-append <name> [with ( <props> )] <| <query>
//! .ingest into table <name> ( <string> [, ...] ) [with ( <props> )]
//! .ingest into table <name> <string> [with ( <props> )]
//!
//! .export [async] [compressed] to <format> ( <string> [, ...] ) [with ( <props> )] <| <query>
//! .export [async] [compressed] to table <name> [with ( <props> )] <| <query>
//!
//! <create-ext> external table <name> [( <column>:<type> [, ...] )]
//!     kind = storage
//!     [partition by ( <partition> [, ...] )]
//!     [pathformat = ( <path-part> ... )]
//!     dataformat = <format>
//!     ( <string> [, ...] )
//!     [with ( <props> )]
//! <create-ext> external table <name> [( <column>:<type> [, ...] )]
//!     kind = delta [partition by ( <column>:<type> [, ...] )] ( <string> ) [with ( <props> )]
//! .drop external table <name> [ifexists]
//! .show external tables
//! .show external table <name> [schema | cslschema]
//!
//! .show operations
//! .show operation <guid> [details]          (also .show operations <guid>)
//!
//! .create-or-alter continuous-export <name> [over ( <name> [, ...] )]
//!     to table <name> [with ( <props> )] <| <query>
//! .show continuous-exports
//! .show continuous-export <name> [exported-artifacts | failures]
//! .enable continuous-export <name>
//! .disable continuous-export <name>
//! .drop continuous-export <name> [ifexists]
//! .run continuous-export <name>
//!
//! <create-ext> := .create | .create-or-alter | .create or alter | .alter
//! <format>     := csv | tsv | json | parquet
//! <partition>  := <name>:<type> [= <column> | = bin(<column>, <timespan> | <integer>)
//!                 | = startofday(<column>) | = startofweek(<column>)
//!                 | = startofmonth(<column>) | = startofyear(<column>)
//!                 | = hash(<column>, <integer>)]
//! <path-part>  := <string> | <partition name> | datetime_pattern(<string>, <partition name>)
//! <guid>       := xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits; bare or quoted)
//! <props>      := <prop-name> = <value> [, ...]
//! <value>      := <string> | true | false | [-]<number> | <timespan> | <identifier>
//! <string>     := 'x' | "x" | @'x' | @"x" | h'x' | h"x" | h@'x' | h@"x"
//! ```
//!
//! Hyphenated keywords (`set-or-append`, `create-or-alter`,
//! `continuous-export`, `exported-artifacts`) are written without spaces
//! around the `-`.
//!
//! External table clauses must come in the order shown. The parser checks
//! what it can without a catalog: partition names are unique; `bin` steps
//! are positive; `hash` moduli are between 1 and 2^31-1; `startof...()` and
//! `bin(..., <timespan>)` partitions are declared `datetime`, `hash`
//! partitions `long` (or `int`) and `bin(..., <integer>)` partitions numeric;
//! a `pathformat` needs `partition by`, refers only to declared partitions,
//! uses every partition, separates partition references with a string and
//! applies `datetime_pattern` only to datetime partitions. Delta external
//! tables take exactly one URL, no `pathformat` or `dataformat`, and
//! partitions only as plain columns (`partition by (Region:string)`) of
//! non-temporal types; storage external tables need a column list and a
//! `dataformat`.
//!
//! String literals follow the SQL tokenizer: a quote inside a literal is
//! written twice (`'it''s'`) and backslashes are kept as they are. Comments
//! (`--`, `//`, `/* */`) may appear between tokens.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::ast::{
    format_timespan, try_parse_timespan, BinStep, ColumnDef, Command, CreateMode, DataFormat,
    ExportCommand, ExportTarget, ExternalTableDef, ExternalTableKind, KustoType, PartitionDef,
    PartitionExpr, PathFormatPart, Property, PropertyValue, SecretString, Since, StartOfUnit,
    TimespanError,
};
use super::error::ParseError;
use super::lexer::{lex, LexError, Lexed, Tok};

/// The supported command forms, listed in "unknown command" errors.
pub const SUPPORTED_COMMANDS: &str = ".create table <name> (<col>:<type>, ...), \
.drop table <name> [ifexists], .show tables, .show table <name> [schema|extents], \
.append <name> [with (...)] <| <query>, .set-or-append <name> [with (...)] <| <query>, \
.ingest into table <name> ('<url>', ...) [with (...)], \
.export [async] [compressed] to csv|tsv|json|parquet ('<url>', ...) [with (...)] <| <query>, \
.export [async] [compressed] to table <name> [with (...)] <| <query>, \
.create|.create-or-alter|.alter external table <name> [(<col>:<type>, ...)] kind=storage|delta \
[partition by (...)] [pathformat=(...)] [dataformat=<format>] ('<url>', ...) [with (...)], \
.drop external table <name> [ifexists], .show external tables, .show external table <name>, \
.alter database secret key, .clean database [older than <timespan>], \
.show operations, .show operation <id> [details], \
.create-or-alter continuous-export <name> [over (<table>, ...)] to table <name> [with (...)] <| <query>, \
.show continuous-exports, .show continuous-export <name> [exported-artifacts|failures], \
.enable|.disable|.run continuous-export <name>, .drop continuous-export <name> [ifexists]";

/// The longest step of `bin(column, <timespan>)`: 36500 days (about 100 years).
/// Longer bins would put every date of the era in one folder and do not fit the
/// nanosecond intervals that read the partitions back.
pub const MAX_BIN_TIMESPAN: std::time::Duration = std::time::Duration::from_secs(36_500 * 86_400);

/// Example GUID shown in operation-id errors.
const GUID_EXAMPLE: &str = "00000000-0000-0000-0000-000000000000";

/// Whether `s` is a GUID in `8-4-4-4-12` hexadecimal form.
fn is_guid(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Parses one unit of user text.
///
/// Text whose first token (after whitespace and comments) does not start
/// with `.` is returned as [`Command::Sql`]: trimmed, without trailing `;`
/// and trailing comments, and otherwise unchanged. Everything else is parsed
/// as a management command; see the [module documentation](crate::command::parser) for the
/// grammar.
///
/// Never panics. Errors carry the line and column of the offending token and
/// never contain the value of a string literal.
pub fn parse_command(text: &str) -> Result<Command, ParseError> {
    let lexed = lex(text);
    let probe = lexed
        .tokens
        .iter()
        .find(|t| !t.is_trivia())
        .map(|t| t.start)
        .unwrap_or_else(|| lexed.tokens.last().map(|t| t.end).unwrap_or(0));
    let is_command = text
        .get(probe..)
        .is_some_and(|s| s.trim_start().starts_with('.'));
    if !is_command {
        return Ok(Command::Sql(clean_statement(text, &lexed)));
    }
    Parser::new(text, lexed).parse()
}

/// Trims `text` and removes trailing `;` and trailing comments.
///
/// When the text cannot be tokenized, only whitespace and `;` are trimmed.
fn clean_statement(text: &str, lexed: &Lexed) -> String {
    if lexed.error.is_none() {
        let last = lexed
            .tokens
            .iter()
            .rev()
            .find(|t| !t.is_trivia() && !matches!(t.token, Token::SemiColon));
        return match last {
            Some(last) => text.get(..last.end).unwrap_or(text).trim().to_string(),
            None => {
                // Only whitespace, comments and semicolons.
                trim_semicolons(text)
            }
        };
    }
    trim_semicolons(text)
}

fn trim_semicolons(text: &str) -> String {
    text.trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
        .to_string()
}

/// Whether `token` is a string literal of any kind.
fn is_string_like(token: &Token) -> bool {
    matches!(
        token,
        Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
    )
}

/// An instant as users write it: RFC 3339 (`2026-12-01T10:00:00+01:00`), or a date
/// and time without offset (`2026-12-01 10:00[:00[.123]]`, `T` or space), or a date,
/// read as UTC.
fn parse_utc(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    Some(naive.and_utc())
}

/// Shortens user text quoted in error messages.
fn truncate(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// The value of a Kusto string token: `'x'` or `"x"`.
fn string_value(token: &Token) -> Option<&str> {
    match token {
        Token::SingleQuotedString(s) => Some(s),
        Token::Word(w) if w.quote_style == Some('"') => Some(&w.value),
        _ => None,
    }
}

/// The value of an unquoted word.
fn bare_word(token: &Token) -> Option<&str> {
    match token {
        Token::Word(w) if w.quote_style.is_none() => Some(&w.value),
        _ => None,
    }
}

fn is_keyword(token: &Token, keyword: &str) -> bool {
    bare_word(token).is_some_and(|w| w.eq_ignore_ascii_case(keyword))
}

struct Parser<'a> {
    text: &'a str,
    /// Significant tokens (no whitespace or comments).
    toks: Vec<Tok>,
    pos: usize,
    lex_error: Option<LexError>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, lexed: Lexed) -> Self {
        Self {
            text,
            toks: lexed
                .tokens
                .into_iter()
                .filter(|t| !t.is_trivia())
                .collect(),
            pos: 0,
            lex_error: lexed.error,
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_nth(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos.saturating_add(n))
    }

    fn advance(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn peek_is(&self, pred: impl Fn(&Token) -> bool) -> bool {
        self.peek().is_some_and(|t| pred(&t.token))
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        self.peek_is(|t| is_keyword(t, keyword))
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::at_offset(self.text, offset, message)
    }

    /// Human-readable description of a token that never reveals the
    /// content of string literals.
    fn describe(&self, t: &Tok) -> String {
        match &t.token {
            Token::Word(w) if w.quote_style.is_none() => format!("'{}'", truncate(&w.value)),
            Token::Word(_) => "a quoted name or string".to_string(),
            token if is_string_like(token) => "a string literal".to_string(),
            _ => format!(
                "'{}'",
                truncate(self.text.get(t.start..t.end).unwrap_or("?"))
            ),
        }
    }

    /// An error saying `expected` at the current token (or at the end of the
    /// input, or the tokenizer error that ended the input early).
    fn unexpected(&self, expected: &str) -> ParseError {
        match self.peek() {
            Some(t) => self.error_at(t.start, format!("{expected}, found {}", self.describe(t))),
            None => match &self.lex_error {
                Some(e) => self.error_at(e.offset, e.message.clone()),
                None => {
                    let end = self.toks.last().map(|t| t.end).unwrap_or(0);
                    self.error_at(end, format!("{expected}, found end of input"))
                }
            },
        }
    }

    fn expect(&mut self, pred: impl Fn(&Token) -> bool, expected: &str) -> Result<Tok, ParseError> {
        if self.peek_is(pred) {
            if let Some(t) = self.advance() {
                return Ok(t);
            }
        }
        Err(self.unexpected(expected))
    }

    fn expect_keyword(&mut self, keyword: &str, expected: &str) -> Result<Tok, ParseError> {
        self.expect(|t| is_keyword(t, keyword), expected)
    }

    /// Accepts trailing `;` and then requires the end of the input.
    fn expect_end(&mut self, command: &str) -> Result<(), ParseError> {
        let mut saw_semicolon = false;
        while self.peek_is(|t| matches!(t, Token::SemiColon)) {
            self.advance();
            saw_semicolon = true;
        }
        if let Some(t) = self.peek() {
            let message = if saw_semicolon {
                format!(
                    "unexpected {} after ';': only one statement can be parsed at a time \
                     (split scripts with split_statements)",
                    self.describe(t)
                )
            } else {
                format!("unexpected {} after {command}", self.describe(t))
            };
            return Err(self.error_at(t.start, message));
        }
        if let Some(e) = &self.lex_error {
            return Err(self.error_at(e.offset, e.message.clone()));
        }
        Ok(())
    }

    fn parse(mut self) -> Result<Command, ParseError> {
        let Some(dot) = self.advance() else {
            return Err(self.unexpected("expected a management command"));
        };
        if !matches!(dot.token, Token::Period) {
            return Err(self.error_at(
                dot.start,
                format!(
                    "expected a command name after '.'; supported commands: {SUPPORTED_COMMANDS}"
                ),
            ));
        }
        let Some(first) = self
            .peek()
            .filter(|t| bare_word(&t.token).is_some())
            .cloned()
        else {
            return Err(self.unexpected(&format!(
                "expected a command name after '.'; supported commands: {SUPPORTED_COMMANDS}"
            )));
        };
        self.advance();
        let mut name = bare_word(&first.token).unwrap_or_default().to_string();
        let mut end = first.end;
        // Hyphenated names such as `set-or-append` (no spaces allowed).
        while let (Some(minus), Some(word)) = (self.peek(), self.peek_nth(1)) {
            let hyphen = matches!(minus.token, Token::Minus)
                && minus.start == end
                && word.start == minus.end
                && bare_word(&word.token).is_some();
            if !hyphen {
                break;
            }
            name.push('-');
            name.push_str(bare_word(&word.token).unwrap_or_default());
            end = word.end;
            self.pos += 2;
        }
        match name.to_ascii_lowercase().as_str() {
            "create" => self.parse_create(),
            "create-or-alter" => self.parse_create_or_alter(".create-or-alter"),
            "alter" => self.parse_alter(),
            "drop" => self.parse_drop(),
            "show" => self.parse_show(),
            "append" => self.parse_append(false),
            "set-or-append" => self.parse_append(true),
            "ingest" => self.parse_ingest(),
            "export" => self.parse_export(),
            "enable" => self.parse_continuous_export_action(".enable"),
            "disable" => self.parse_continuous_export_action(".disable"),
            "run" => self.parse_continuous_export_action(".run"),
            "clean" => self.parse_clean(),
            _ => Err(self.error_at(
                first.start,
                format!(
                    "unknown command '.{}'; supported commands: {SUPPORTED_COMMANDS}",
                    truncate(&name)
                ),
            )),
        }
    }

    /// A table or column name.
    fn parse_name(&mut self, what: &str) -> Result<(String, Tok), ParseError> {
        let expected = format!("expected {what}");
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected(&expected));
        };
        match &t.token {
            Token::Word(w) if w.quote_style.is_none() => {
                if let Some(bad) = w
                    .value
                    .chars()
                    .find(|c| !(c.is_alphanumeric() || *c == '_'))
                {
                    return Err(self.error_at(
                        t.start,
                        format!(
                            "invalid character '{bad}' in name '{}'; quote names with special \
                             characters as ['name']",
                            truncate(&w.value)
                        ),
                    ));
                }
                self.advance();
                Ok((w.value.clone(), t))
            }
            Token::Word(w) => {
                if w.value.trim().is_empty() {
                    return Err(self.error_at(t.start, format!("{expected}, found an empty name")));
                }
                self.advance();
                Ok((w.value.clone(), t))
            }
            Token::LBracket => {
                self.advance();
                let inner = self
                    .peek()
                    .and_then(|i| string_value(&i.token))
                    .map(str::to_string);
                let Some(name) = inner else {
                    return Err(
                        self.unexpected("expected a quoted name inside [...], e.g. ['my table']")
                    );
                };
                let name_tok = self.advance();
                self.expect(
                    |t| matches!(t, Token::RBracket),
                    "expected ']' after the quoted name",
                )?;
                if name.trim().is_empty() {
                    let at = name_tok.map(|n| n.start).unwrap_or(t.start);
                    return Err(self.error_at(at, format!("{expected}, found an empty name")));
                }
                Ok((name, t))
            }
            _ => Err(self.unexpected(&expected)),
        }
    }

    fn parse_create(&mut self) -> Result<Command, ParseError> {
        if self.peek_keyword("or")
            && self
                .peek_nth(1)
                .is_some_and(|t| is_keyword(&t.token, "alter"))
        {
            self.pos += 2;
            return self.parse_create_or_alter(".create or alter");
        }
        if self.peek_keyword("external") {
            self.advance();
            return self.parse_external_table(CreateMode::Create, ".create");
        }
        self.expect_keyword(
            "table",
            "expected 'table', 'external table' or 'or alter' after '.create'",
        )?;
        let (name, _) = self.parse_name("a table name after '.create table'")?;
        let columns = self.parse_column_list(
            "expected '(' and a column list after the table name, e.g. (a:long, s:string)",
        )?;
        self.expect_end("'.create table'")?;
        Ok(Command::CreateTable { name, columns })
    }

    /// `.create-or-alter` / `.create or alter` (already consumed).
    fn parse_create_or_alter(&mut self, command: &str) -> Result<Command, ParseError> {
        if self.peek_keyword("external") {
            self.advance();
            return self.parse_external_table(CreateMode::CreateOrAlter, command);
        }
        if self.accept_compound("continuous-export") {
            return self.parse_create_continuous_export(command);
        }
        Err(self.unexpected(&format!(
            "expected 'external table' or 'continuous-export' after '{command}'"
        )))
    }

    fn parse_alter(&mut self) -> Result<Command, ParseError> {
        if self.peek_keyword("database") {
            self.advance();
            self.expect_keyword("secret", "expected 'secret key' after '.alter database'")?;
            self.expect_keyword("key", "expected 'key' after '.alter database secret'")?;
            self.expect_end("'.alter database secret key'")?;
            return Ok(Command::AlterSecretKey);
        }
        self.expect_keyword(
            "external",
            "expected 'external table' after '.alter' (or '.alter database secret key')",
        )?;
        self.parse_external_table(CreateMode::Alter, ".alter")
    }

    /// `( <column>:<type> [, ...] )`: at least one column, names unique.
    fn parse_column_list(&mut self, missing_paren: &str) -> Result<Vec<ColumnDef>, ParseError> {
        self.expect(|t| matches!(t, Token::LParen), missing_paren)?;
        if self.peek_is(|t| matches!(t, Token::RParen)) {
            return Err(self.unexpected("expected at least one column definition such as a:long"));
        }
        let mut columns: Vec<ColumnDef> = Vec::new();
        loop {
            let (column, column_tok) = self.parse_name("a column name")?;
            self.expect(
                |t| matches!(t, Token::Colon),
                &format!(
                    "expected ':' and a type after column '{}', e.g. {}:long",
                    truncate(&column),
                    truncate(&column)
                ),
            )?;
            let kusto_type = self.parse_kusto_type(&format!("column '{}'", truncate(&column)))?;
            if columns.iter().any(|c| c.name == column) {
                return Err(self.error_at(
                    column_tok.start,
                    format!("duplicate column name '{}'", truncate(&column)),
                ));
            }
            columns.push(ColumnDef {
                name: column.clone(),
                kusto_type,
            });
            match self.peek().map(|t| &t.token) {
                Some(Token::Comma) => {
                    self.advance();
                }
                Some(Token::RParen) => {
                    self.advance();
                    break;
                }
                Some(_) => {
                    return Err(self.unexpected(&format!(
                        "expected ',' or ')' after column '{}'",
                        truncate(&column)
                    )))
                }
                None => return Err(self.unexpected("expected ')' after column list")),
            }
        }
        Ok(columns)
    }

    /// A Kusto type name; `owner` (e.g. `column 'a'`) is used in errors.
    fn parse_kusto_type(&mut self, owner: &str) -> Result<KustoType, ParseError> {
        let Some(type_tok) = self
            .peek()
            .filter(|t| bare_word(&t.token).is_some())
            .cloned()
        else {
            return Err(self.unexpected(&format!(
                "expected a type for {owner}; expected one of {}",
                KustoType::expected_list()
            )));
        };
        let type_name = bare_word(&type_tok.token).unwrap_or_default();
        let Some(kusto_type) = KustoType::from_name(type_name) else {
            return Err(self.error_at(
                type_tok.start,
                format!(
                    "unknown type '{}' for {owner}; expected one of {}",
                    truncate(type_name),
                    KustoType::expected_list()
                ),
            ));
        };
        self.advance();
        Ok(kusto_type)
    }

    /// `ifexists` or `if exists`, if present.
    fn parse_if_exists(&mut self) -> bool {
        if self.peek_keyword("ifexists") {
            self.advance();
            true
        } else if self.peek_keyword("if")
            && self
                .peek_nth(1)
                .is_some_and(|t| is_keyword(&t.token, "exists"))
        {
            self.pos += 2;
            true
        } else {
            false
        }
    }

    /// The keyword at the current position, lowercased, with adjacent
    /// `-word` parts joined (`continuous-export`), and its token count.
    fn peek_compound(&self) -> Option<(String, usize)> {
        let first = self.peek()?;
        let mut word = bare_word(&first.token)?.to_ascii_lowercase();
        let mut end = first.end;
        let mut count = 1usize;
        while let (Some(minus), Some(next)) = (self.peek_nth(count), self.peek_nth(count + 1)) {
            let joined = matches!(minus.token, Token::Minus)
                && minus.start == end
                && next.start == minus.end;
            let Some(part) = bare_word(&next.token).filter(|_| joined) else {
                break;
            };
            word.push('-');
            word.push_str(&part.to_ascii_lowercase());
            end = next.end;
            count += 2;
        }
        Some((word, count))
    }

    /// Consumes the hyphenated keyword `compound` if it is next.
    fn accept_compound(&mut self, compound: &str) -> bool {
        match self.peek_compound() {
            Some((word, count)) if word.eq_ignore_ascii_case(compound) => {
                self.pos += count;
                true
            }
            _ => false,
        }
    }

    fn parse_drop(&mut self) -> Result<Command, ParseError> {
        if self.peek_keyword("external") {
            self.advance();
            self.expect_keyword("table", "expected 'table' after '.drop external'")?;
            let (name, _) =
                self.parse_name("an external table name after '.drop external table'")?;
            let if_exists = self.parse_if_exists();
            self.expect_end("'.drop external table <name> [ifexists]'")?;
            return Ok(Command::DropExternalTable { name, if_exists });
        }
        if self.accept_compound("continuous-export") {
            let (name, _) =
                self.parse_name("a continuous export name after '.drop continuous-export'")?;
            let if_exists = self.parse_if_exists();
            self.expect_end("'.drop continuous-export <name> [ifexists]'")?;
            return Ok(Command::DropContinuousExport { name, if_exists });
        }
        self.expect_keyword(
            "table",
            "expected 'table', 'external table' or 'continuous-export' after '.drop'",
        )?;
        let (name, _) = self.parse_name("a table name after '.drop table'")?;
        let if_exists = self.parse_if_exists();
        self.expect_end("'.drop table <name> [ifexists]'")?;
        Ok(Command::DropTable { name, if_exists })
    }

    fn parse_show(&mut self) -> Result<Command, ParseError> {
        const EXPECTED: &str = "expected 'tables', 'table <name>', 'external tables', \
            'external table <name>', 'operations', 'operation <id>', 'continuous-exports' or \
            'continuous-export <name>' after '.show'";
        let Some((word, count)) = self.peek_compound() else {
            return Err(self.unexpected(EXPECTED));
        };
        match word.as_str() {
            "tables" => {
                self.advance();
                self.expect_end("'.show tables'")?;
                Ok(Command::ShowTables)
            }
            "table" => {
                self.advance();
                self.parse_show_table()
            }
            "external" => {
                self.advance();
                self.parse_show_external()
            }
            "operations" => {
                self.advance();
                if !self.peek_is(|t| !matches!(t, Token::SemiColon)) {
                    self.expect_end("'.show operations'")?;
                    return Ok(Command::ShowOperations);
                }
                let id = self.parse_operation_id()?;
                self.expect_end("'.show operations <id>'")?;
                Ok(Command::ShowOperation { id, details: false })
            }
            "operation" => {
                self.advance();
                let id = self.parse_operation_id()?;
                let details = self.peek_keyword("details");
                if details {
                    self.advance();
                }
                self.expect_end("'.show operation <id> [details]'")?;
                Ok(Command::ShowOperation { id, details })
            }
            "continuous-exports" => {
                self.pos += count;
                self.expect_end("'.show continuous-exports'")?;
                Ok(Command::ShowContinuousExports)
            }
            "continuous-export" => {
                self.pos += count;
                let (name, _) =
                    self.parse_name("a continuous export name after '.show continuous-export'")?;
                let command = if self.accept_compound("exported-artifacts") {
                    let since = if self.peek_keyword("since") {
                        self.advance();
                        Some(self.parse_since()?)
                    } else {
                        None
                    };
                    let take = if self.peek_is(|t| matches!(t, Token::Pipe)) {
                        self.advance();
                        Some(self.parse_take()?)
                    } else {
                        None
                    };
                    Command::ShowExportedArtifacts { name, since, take }
                } else if self.peek_keyword("failures") {
                    self.advance();
                    Command::ShowContinuousExportFailures { name }
                } else if self.peek_is(|t| !matches!(t, Token::SemiColon)) {
                    return Err(self.unexpected(
                        "expected 'exported-artifacts', 'failures' or the end of the command \
                         after the continuous export name",
                    ));
                } else {
                    Command::ShowContinuousExport { name }
                };
                self.expect_end(
                    "'.show continuous-export <name> [exported-artifacts [since <time>] [| take \
                     <n>] | failures]'",
                )?;
                Ok(command)
            }
            _ => Err(self.unexpected(EXPECTED)),
        }
    }

    /// After `since`: a timespan before now (`1h`, `7d`, `00:30:00`) or an instant
    /// as a quoted ISO 8601 / RFC 3339 text (`'2026-12-01T00:00:00Z'`, UTC if no offset).
    fn parse_since(&mut self) -> Result<Since, ParseError> {
        const EXPECTED: &str = "expected a timespan such as 1h or 7d, or a quoted UTC time such \
             as '2026-12-01T00:00:00Z', after 'since'";
        let start = self.peek().map_or(self.text.len(), |t| t.start);
        if let Some(text) = self.try_string_literal()? {
            let text = text.expose().trim().to_string();
            return parse_utc(&text).map(Since::At).ok_or_else(|| {
                self.error_at(
                    start,
                    format!("'{}' is not a time; {EXPECTED}", truncate(&text)),
                )
            });
        }
        if !self.peek_is(|t| matches!(t, Token::Number(..))) {
            return Err(self.unexpected(EXPECTED));
        }
        let Some((first, end, _)) = self.take_number_run() else {
            return Err(self.unexpected(EXPECTED));
        };
        let raw = self.text.get(first.start..end).unwrap_or("");
        try_parse_timespan(raw)
            .map(Since::Ago)
            .map_err(|e| self.error_at(first.start, format!("{}; {EXPECTED}", e.describe(raw))))
    }

    /// `.clean` (already consumed) `database [older than <timespan>]`.
    fn parse_clean(&mut self) -> Result<Command, ParseError> {
        const FORM: &str = "'.clean database [older than <timespan>]'";
        self.expect_keyword("database", "expected 'database' after '.clean'")?;
        let older_than = if self.peek_keyword("older") {
            self.advance();
            self.expect_keyword("than", "expected 'than' after 'older'")?;
            const EXPECTED: &str =
                "expected a timespan such as 7d, 12h or 00:30:00 after 'older than'";
            if !self.peek_is(|t| matches!(t, Token::Number(..))) {
                return Err(self.unexpected(EXPECTED));
            }
            let Some((first, end, _)) = self.take_number_run() else {
                return Err(self.unexpected(EXPECTED));
            };
            let raw = self.text.get(first.start..end).unwrap_or("");
            Some(try_parse_timespan(raw).map_err(|e| {
                self.error_at(first.start, format!("{}; {EXPECTED}", e.describe(raw)))
            })?)
        } else {
            None
        };
        self.expect_end(FORM)?;
        Ok(Command::CleanDatabase { older_than })
    }

    /// After `|`: `take <n>` or `limit <n>`.
    fn parse_take(&mut self) -> Result<u64, ParseError> {
        const EXPECTED: &str = "expected 'take <n>' or 'limit <n>' after '|'";
        if !(self.peek_keyword("take") || self.peek_keyword("limit")) {
            return Err(self.unexpected(EXPECTED));
        }
        self.advance();
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected("expected a number of rows after 'take'"));
        };
        match &t.token {
            Token::Number(n, _) => {
                let n = n.parse::<u64>().map_err(|_| {
                    self.error_at(
                        t.start,
                        format!("'{}' is not a number of rows (0 or more)", truncate(n)),
                    )
                })?;
                self.advance();
                Ok(n)
            }
            _ => Err(self.unexpected("expected a number of rows after 'take'")),
        }
    }

    /// `.show table` (already consumed) `<name> [schema | extents]`.
    fn parse_show_table(&mut self) -> Result<Command, ParseError> {
        let (name, _) = self.parse_name("a table name after '.show table'")?;
        let command = if self.peek_keyword("extents") {
            self.advance();
            Command::ShowTableExtents { name }
        } else if self.peek_keyword("schema") {
            self.advance();
            Command::ShowTableSchema { name }
        } else if self.peek_is(|t| !matches!(t, Token::SemiColon)) {
            return Err(self.unexpected(
                "expected 'schema', 'extents' or the end of the command after the table name",
            ));
        } else {
            Command::ShowTableSchema { name }
        };
        self.expect_end("'.show table <name> [schema|extents]'")?;
        Ok(command)
    }

    /// `.show external` (already consumed) `tables` or `table <name>
    /// [schema | cslschema]`.
    fn parse_show_external(&mut self) -> Result<Command, ParseError> {
        if self.peek_keyword("tables") {
            self.advance();
            self.expect_end("'.show external tables'")?;
            return Ok(Command::ShowExternalTables);
        }
        self.expect_keyword(
            "table",
            "expected 'tables' or 'table <name>' after '.show external'",
        )?;
        let (name, _) = self.parse_name("an external table name after '.show external table'")?;
        if self.peek_keyword("schema") || self.peek_keyword("cslschema") {
            self.advance();
        } else if self.peek_is(|t| !matches!(t, Token::SemiColon)) {
            return Err(self.unexpected(
                "expected 'schema', 'cslschema' or the end of the command after the external \
                 table name",
            ));
        }
        self.expect_end("'.show external table <name> [schema|cslschema]'")?;
        Ok(Command::ShowExternalTable { name })
    }

    /// An operation id: a GUID, bare (`f008dc1e-2710-...`, which the
    /// tokenizer splits into several tokens; they are re-read from the raw
    /// text) or quoted. Returned in lowercase.
    fn parse_operation_id(&mut self) -> Result<String, ParseError> {
        let expected = format!("expected an operation id (a GUID such as {GUID_EXAMPLE})");
        let Some(first) = self.peek().cloned() else {
            return Err(self.unexpected(&expected));
        };
        if let Some(value) = string_value(&first.token) {
            let value = value.trim().to_string();
            self.advance();
            if !is_guid(&value) {
                return Err(self.error_at(
                    first.start,
                    format!("invalid operation id: expected a GUID such as {GUID_EXAMPLE}"),
                ));
            }
            return Ok(value.to_ascii_lowercase());
        }
        let is_id_part = |token: &Token| {
            bare_word(token).is_some() || matches!(token, Token::Number(..) | Token::Minus)
        };
        if !is_id_part(&first.token) {
            return Err(self.unexpected(&expected));
        }
        self.advance();
        let mut end = first.end;
        while let Some(next) = self.peek() {
            if next.start != end || !is_id_part(&next.token) {
                break;
            }
            end = next.end;
            self.pos += 1;
        }
        let raw = self.text.get(first.start..end).unwrap_or("");
        if !is_guid(raw) {
            return Err(self.error_at(
                first.start,
                format!(
                    "invalid operation id '{}': expected a GUID such as {GUID_EXAMPLE}",
                    truncate(raw)
                ),
            ));
        }
        Ok(raw.to_ascii_lowercase())
    }

    fn parse_append(&mut self, create_if_missing: bool) -> Result<Command, ParseError> {
        let command = if create_if_missing {
            ".set-or-append"
        } else {
            ".append"
        };
        let (table, _) = self.parse_name(&format!("a table name after '{command}'"))?;
        let properties = self.parse_optional_properties()?;
        let query = self.parse_query(properties.is_empty())?;
        Ok(Command::Append {
            table,
            query,
            create_if_missing,
            properties,
        })
    }

    /// `with ( <props> )` if present, otherwise no properties.
    fn parse_optional_properties(&mut self) -> Result<Vec<Property>, ParseError> {
        if self.peek_keyword("with") {
            self.parse_properties()
        } else {
            Ok(Vec::new())
        }
    }

    /// `<| <query>`: the rest of the text, sliced raw (trimmed, without
    /// trailing `;` and comments). `with_allowed` adds a hint that a
    /// `with (...)` clause may come before `<|`.
    fn parse_query(&mut self, with_allowed: bool) -> Result<String, ParseError> {
        let arrow = self
            .peek()
            .filter(|t| {
                matches!(t.token, Token::Lt) && self.text.get(t.start..t.start + 2) == Some("<|")
            })
            .map(|t| t.start);
        let Some(arrow) = arrow else {
            let expected = if with_allowed {
                "expected '<|' followed by a query (or 'with (...)' properties)"
            } else {
                "expected '<|' followed by a query"
            };
            return Err(self.unexpected(expected));
        };
        let query_start = arrow + 2;
        let raw = self.text.get(query_start..).unwrap_or("");
        let lexed = lex(raw);
        let only_trivia = lexed.error.is_none()
            && lexed
                .tokens
                .iter()
                .all(|t| t.is_trivia() || matches!(t.token, Token::SemiColon));
        let query = clean_statement(raw, &lexed);
        if query.is_empty() || only_trivia {
            return Err(self.error_at(query_start, "expected a query after '<|'"));
        }
        // Nothing after `<|` belongs to the command.
        self.pos = self.toks.len();
        Ok(query)
    }

    /// `( <string> [, ...] )`: at least one non-blank URL.
    fn parse_url_list(&mut self, missing_paren: &str) -> Result<Vec<SecretString>, ParseError> {
        const URL: &str = "expected a storage URL string such as 'https://...' or h'...'";
        self.expect(|t| matches!(t, Token::LParen), missing_paren)?;
        let mut urls = Vec::new();
        loop {
            let start = self.peek().map(|t| t.start);
            let Some(url) = self.try_string_literal()? else {
                return Err(self.unexpected(URL));
            };
            if url.expose().trim().is_empty() {
                return Err(self.error_at(start.unwrap_or(0), "storage URL must not be empty"));
            }
            urls.push(url);
            match self.peek().map(|t| &t.token) {
                Some(Token::Comma) => {
                    self.advance();
                }
                Some(Token::RParen) => {
                    self.advance();
                    break;
                }
                _ => return Err(self.unexpected("expected ',' or ')' after storage URL")),
            }
        }
        Ok(urls)
    }

    /// `.export` (already consumed) `[async] [compressed] to ...`.
    fn parse_export(&mut self) -> Result<Command, ParseError> {
        let is_async = self.peek_keyword("async");
        if is_async {
            self.advance();
        }
        let compressed = self.peek_keyword("compressed");
        if compressed {
            self.advance();
        }
        if compressed && self.peek_keyword("async") {
            return Err(self.unexpected("'async' must come before 'compressed': expected 'to'"));
        }
        self.expect_keyword(
            "to",
            "expected 'to <format> (...)' or 'to table <name>' after '.export [async] [compressed]'",
        )?;
        let expected_format = "expected an export format (csv, tsv, json, parquet) or \
                               'table <name>' after 'to'";
        let Some(format_tok) = self
            .peek()
            .filter(|t| bare_word(&t.token).is_some())
            .cloned()
        else {
            return Err(self.unexpected(expected_format));
        };
        let word = bare_word(&format_tok.token).unwrap_or_default();
        let target = if word.eq_ignore_ascii_case("table") {
            self.advance();
            let (name, _) = self.parse_name("an external table name after 'to table'")?;
            ExportTarget::Table { name }
        } else {
            let Some(format) = DataFormat::from_name(word) else {
                return Err(self.error_at(
                    format_tok.start,
                    format!(
                        "unknown export format '{}'; expected one of csv, tsv, json, parquet \
                         (or 'table <name>')",
                        truncate(word)
                    ),
                ));
            };
            self.advance();
            let urls = self.parse_url_list(&format!(
                "expected '(' and a list of storage URLs after '{}', e.g. ('https://...')",
                format.name()
            ))?;
            ExportTarget::Storage { format, urls }
        };
        let properties = self.parse_optional_properties()?;
        let query = self.parse_query(properties.is_empty())?;
        Ok(Command::Export(ExportCommand {
            is_async,
            compressed,
            target,
            properties,
            query,
        }))
    }

    /// An error for a missing clause of `.create external table`, with a
    /// hint on clause order when a known clause was found instead.
    fn clause_error(&self, expected: &str) -> ParseError {
        let misplaced = ["kind", "partition", "pathformat", "dataformat", "with"]
            .iter()
            .any(|k| self.peek_keyword(k));
        let mut error = self.unexpected(expected);
        if misplaced {
            error.message.push_str(
                "; the clauses of an external table definition must come in this order: \
                 (columns) kind, partition by, pathformat, dataformat, (urls), with",
            );
        }
        error
    }

    /// `<create-ext> external` (already consumed) `table <name> ...`.
    fn parse_external_table(
        &mut self,
        mode: CreateMode,
        command: &str,
    ) -> Result<Command, ParseError> {
        self.expect_keyword(
            "table",
            &format!("expected 'table' after '{command} external'"),
        )?;
        let (name, _) = self.parse_name(&format!(
            "an external table name after '{command} external table'"
        ))?;
        let columns = if self.peek_is(|t| matches!(t, Token::LParen)) {
            self.parse_column_list("expected '(' and a column list")?
        } else {
            Vec::new()
        };
        let Some(kind_tok) = self
            .peek()
            .filter(|t| is_keyword(&t.token, "kind"))
            .cloned()
        else {
            let expected = if columns.is_empty() {
                "expected a column list such as (a:long, s:string) or 'kind = storage|delta' \
                 after the external table name"
            } else {
                "expected 'kind = storage' or 'kind = delta' after the column list"
            };
            return Err(self.clause_error(expected));
        };
        self.advance();
        self.expect(
            |t| matches!(t, Token::Eq),
            "expected '=' after 'kind', e.g. kind = storage",
        )?;
        let Some(value_tok) = self
            .peek()
            .filter(|t| bare_word(&t.token).is_some())
            .cloned()
        else {
            return Err(self.unexpected("expected 'storage' or 'delta' after 'kind ='"));
        };
        let value = bare_word(&value_tok.token).unwrap_or_default();
        let kind = match value.to_ascii_lowercase().as_str() {
            "storage" | "blob" | "adl" => ExternalTableKind::Storage,
            "delta" => ExternalTableKind::Delta,
            _ => {
                return Err(self.error_at(
                    value_tok.start,
                    format!(
                        "unknown external table kind '{}'; expected storage or delta",
                        truncate(value)
                    ),
                ))
            }
        };
        self.advance();
        if kind == ExternalTableKind::Storage && columns.is_empty() {
            return Err(self.error_at(
                kind_tok.start,
                "a column list such as (a:long, s:string) is required before 'kind = storage' \
                 (only kind=delta external tables can infer their schema)",
            ));
        }
        let delta_rejects = |clause: &str, why: &str| {
            format!("'{clause}' is not allowed for kind=delta external tables ({why})")
        };

        let mut partitions = Vec::new();
        if let Some(t) = self
            .peek()
            .filter(|t| is_keyword(&t.token, "partition"))
            .cloned()
        {
            partitions = self.parse_partitions()?;
            if kind == ExternalTableKind::Delta {
                // A Delta table is partitioned by some of its columns; their values
                // live in the log, not in the data files.
                for p in &partitions {
                    if !matches!(&p.expr, PartitionExpr::Column(c) if *c == p.name) {
                        return Err(self.error_at(
                            t.start,
                            format!(
                                "a kind=delta external table is partitioned by its own columns: \
                                 write partition by ({}:{}), not an expression",
                                truncate(&p.name),
                                p.kusto_type
                            ),
                        ));
                    }
                    if !matches!(
                        p.kusto_type,
                        KustoType::String
                            | KustoType::Int
                            | KustoType::Long
                            | KustoType::Real
                            | KustoType::Bool
                            | KustoType::Decimal
                    ) {
                        return Err(self.error_at(
                            t.start,
                            format!(
                                "Delta partition column '{}' is {}; partition a Delta table by \
                                 string, int, long, real, bool or decimal columns",
                                truncate(&p.name),
                                p.kusto_type
                            ),
                        ));
                    }
                }
            }
        }

        let mut path_format = Vec::new();
        if let Some(t) = self
            .peek()
            .filter(|t| is_keyword(&t.token, "pathformat"))
            .cloned()
        {
            if kind == ExternalTableKind::Delta {
                return Err(self.error_at(
                    t.start,
                    delta_rejects("pathformat", "the layout comes from the Delta log"),
                ));
            }
            path_format = self.parse_path_format(&partitions)?;
        }

        let mut data_format = None;
        if let Some(t) = self
            .peek()
            .filter(|t| is_keyword(&t.token, "dataformat"))
            .cloned()
        {
            if kind == ExternalTableKind::Delta {
                return Err(self.error_at(
                    t.start,
                    delta_rejects("dataformat", "Delta tables are always parquet"),
                ));
            }
            self.advance();
            self.expect(
                |t| matches!(t, Token::Eq),
                "expected '=' after 'dataformat', e.g. dataformat = parquet",
            )?;
            const FORMATS: &str = "csv, tsv, json, parquet";
            let Some(format_tok) = self
                .peek()
                .filter(|t| bare_word(&t.token).is_some())
                .cloned()
            else {
                return Err(self.unexpected(&format!(
                    "expected a data format after 'dataformat ='; expected one of {FORMATS}"
                )));
            };
            let word = bare_word(&format_tok.token).unwrap_or_default();
            let Some(format) = DataFormat::from_name(word) else {
                return Err(self.error_at(
                    format_tok.start,
                    format!(
                        "unknown data format '{}'; expected one of {FORMATS}",
                        truncate(word)
                    ),
                ));
            };
            self.advance();
            data_format = Some(format);
        } else if kind == ExternalTableKind::Storage {
            return Err(self.clause_error(
                "expected 'dataformat = parquet|csv|tsv|json' (required for kind=storage)",
            ));
        }

        let url_start = self.peek().map(|t| t.start);
        let urls = if self.peek_is(|t| matches!(t, Token::LParen)) {
            self.parse_url_list("expected '('")?
        } else {
            let expected = match kind {
                ExternalTableKind::Storage => {
                    "expected '(' and a list of storage URLs, e.g. ('https://...')"
                }
                ExternalTableKind::Delta => {
                    "expected '(' and the Delta table URL, e.g. ('https://...')"
                }
            };
            return Err(self.clause_error(expected));
        };
        if kind == ExternalTableKind::Delta && urls.len() != 1 {
            return Err(self.error_at(
                url_start.unwrap_or(0),
                "a kind=delta external table takes exactly one URL",
            ));
        }
        let properties = self.parse_optional_properties()?;
        self.expect_end(&format!("'{command} external table'"))?;
        Ok(Command::CreateExternalTable(ExternalTableDef {
            name,
            mode,
            columns,
            kind,
            partitions,
            path_format,
            data_format,
            urls,
            properties,
        }))
    }

    /// `partition by ( <partition> [, ...] )`
    fn parse_partitions(&mut self) -> Result<Vec<PartitionDef>, ParseError> {
        self.expect_keyword("partition", "expected 'partition by'")?;
        self.expect_keyword("by", "expected 'by' after 'partition'")?;
        self.expect(
            |t| matches!(t, Token::LParen),
            "expected '(' after 'partition by', e.g. partition by (Day:datetime = startofday(Timestamp))",
        )?;
        if self.peek_is(|t| matches!(t, Token::RParen)) {
            return Err(self.unexpected(
                "expected at least one partition such as Day:datetime = startofday(Timestamp)",
            ));
        }
        let mut partitions: Vec<PartitionDef> = Vec::new();
        loop {
            let (name, name_tok) = self.parse_name("a partition name")?;
            self.expect(
                |t| matches!(t, Token::Colon),
                &format!(
                    "expected ':' and a type after partition '{}', e.g. {}:string",
                    truncate(&name),
                    truncate(&name)
                ),
            )?;
            let kusto_type = self.parse_kusto_type(&format!("partition '{}'", truncate(&name)))?;
            if partitions.iter().any(|p| p.name == name) {
                return Err(self.error_at(
                    name_tok.start,
                    format!("duplicate partition name '{}'", truncate(&name)),
                ));
            }
            let expr = if self.peek_is(|t| matches!(t, Token::Eq)) {
                self.advance();
                self.parse_partition_expr(&name, kusto_type)?
            } else {
                PartitionExpr::Column(name.clone())
            };
            partitions.push(PartitionDef {
                name: name.clone(),
                kusto_type,
                expr,
            });
            match self.peek().map(|t| &t.token) {
                Some(Token::Comma) => {
                    self.advance();
                }
                Some(Token::RParen) => {
                    self.advance();
                    break;
                }
                _ => {
                    return Err(self.unexpected(&format!(
                        "expected ',' or ')' after partition '{}'",
                        truncate(&name)
                    )))
                }
            }
        }
        Ok(partitions)
    }

    /// The expression after `Partition:type =`.
    fn parse_partition_expr(
        &mut self,
        partition: &str,
        kusto_type: KustoType,
    ) -> Result<PartitionExpr, ParseError> {
        const EXPECTED: &str = "expected a column name, bin(<column>, <step>), \
            hash(<column>, <modulo>) or startofday|startofweek|startofmonth|startofyear(<column>)";
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected(EXPECTED));
        };
        let function = bare_word(&t.token)
            .filter(|_| {
                self.peek_nth(1)
                    .is_some_and(|next| matches!(next.token, Token::LParen))
            })
            .map(str::to_ascii_lowercase);
        let Some(function) = function else {
            if !matches!(t.token, Token::Word(_) | Token::LBracket) {
                return Err(self.unexpected(EXPECTED));
            }
            let (column, _) = self.parse_name("a column name")?;
            return Ok(PartitionExpr::Column(column));
        };
        let mismatch = |expr: &str, produces: &str| {
            format!(
                "partition '{}': {expr} produces {produces}, but the partition is declared as {}",
                truncate(partition),
                kusto_type
            )
        };
        let is_numeric = matches!(
            kusto_type,
            KustoType::Int | KustoType::Long | KustoType::Real | KustoType::Decimal
        );
        if let Some(unit) = StartOfUnit::from_function_name(&function) {
            if kusto_type != KustoType::Datetime {
                return Err(self.error_at(
                    t.start,
                    mismatch(&format!("{}()", unit.function_name()), "a datetime"),
                ));
            }
            self.pos += 2;
            let (column, _) = self.parse_name("a column name")?;
            self.expect(
                |t| matches!(t, Token::RParen),
                &format!(
                    "expected ')' after the column of {}()",
                    unit.function_name()
                ),
            )?;
            return Ok(PartitionExpr::StartOf { column, unit });
        }
        match function.as_str() {
            "bin" => {
                self.pos += 2;
                let (column, _) = self.parse_name("a column name")?;
                self.expect(
                    |t| matches!(t, Token::Comma),
                    "expected ',' and a bin size after the column, e.g. bin(Timestamp, 1d)",
                )?;
                let step_start = self.peek().map(|s| s.start).unwrap_or(t.start);
                let step = self.parse_bin_step()?;
                let ok = match step {
                    BinStep::Timespan(_) => kusto_type == KustoType::Datetime,
                    BinStep::Number(_) => is_numeric,
                };
                if !ok {
                    let produces = match step {
                        BinStep::Timespan(_) => "a datetime",
                        BinStep::Number(_) => "a number (int, long, real or decimal)",
                    };
                    return Err(self.error_at(step_start, mismatch("bin()", produces)));
                }
                self.expect(
                    |t| matches!(t, Token::RParen),
                    "expected ')' after the bin size",
                )?;
                Ok(PartitionExpr::Bin { column, step })
            }
            "hash" => {
                if !matches!(kusto_type, KustoType::Long | KustoType::Int) {
                    return Err(self.error_at(t.start, mismatch("hash()", "a long")));
                }
                self.pos += 2;
                let (column, _) = self.parse_name("a column name")?;
                self.expect(
                    |t| matches!(t, Token::Comma),
                    "expected ',' and a modulo after the column, e.g. hash(UserId, 16)",
                )?;
                let modulo = self.parse_hash_modulo()?;
                self.expect(
                    |t| matches!(t, Token::RParen),
                    "expected ')' after the hash modulo",
                )?;
                Ok(PartitionExpr::Hash { column, modulo })
            }
            _ => Err(self.error_at(
                t.start,
                format!(
                    "unknown partition function '{}'; expected bin, hash, startofday, \
                     startofweek, startofmonth or startofyear",
                    truncate(bare_word(&t.token).unwrap_or_default())
                ),
            )),
        }
    }

    /// A number token followed by the tokens that touch it (no whitespace)
    /// and may continue a number or timespan: `10m`, `1.5h`, `00:10:00`.
    /// Returns the first token, the end offset and the token count.
    fn take_number_run(&mut self) -> Option<(Tok, usize, usize)> {
        let first = self.advance()?;
        let mut end = first.end;
        let mut run = 1usize;
        while let Some(next) = self.peek() {
            let continues = next.start == end
                && (matches!(
                    &next.token,
                    Token::Number(..) | Token::Colon | Token::Period
                ) || bare_word(&next.token).is_some());
            if !continues {
                break;
            }
            end = next.end;
            run += 1;
            self.pos += 1;
        }
        Some((first, end, run))
    }

    /// The step of `bin(column, step)`: a positive timespan or integer.
    fn parse_bin_step(&mut self) -> Result<BinStep, ParseError> {
        const EXPECTED: &str =
            "expected a bin size: a timespan such as 1d, 1h or 00:30:00, or a positive integer";
        if let Some(minus) = self.peek().filter(|t| matches!(t.token, Token::Minus)) {
            return Err(self.error_at(minus.start, "the bin size must be greater than zero"));
        }
        if !self.peek_is(|t| matches!(t, Token::Number(..))) {
            return Err(self.unexpected(EXPECTED));
        }
        let Some((first, end, run)) = self.take_number_run() else {
            return Err(self.unexpected(EXPECTED));
        };
        let raw = self.text.get(first.start..end).unwrap_or("");
        let invalid = || {
            format!(
                "invalid bin size '{}'; expected a timespan such as 1d, 1h or 00:30:00, or a \
                 positive integer",
                truncate(raw)
            )
        };
        let step = if run > 1 {
            match try_parse_timespan(raw) {
                Ok(d) if d.is_zero() => {
                    return Err(self.error_at(first.start, "the bin size must be greater than zero"))
                }
                Ok(d) if d <= MAX_BIN_TIMESPAN => BinStep::Timespan(d),
                Ok(_) | Err(TimespanError::OutOfRange) => {
                    return Err(self.error_at(
                        first.start,
                        format!(
                            "bin size {} is out of range; a timespan bin is at most {}",
                            truncate(raw),
                            format_timespan(MAX_BIN_TIMESPAN)
                        ),
                    ))
                }
                Err(TimespanError::Invalid) => return Err(self.error_at(first.start, invalid())),
            }
        } else if raw.bytes().all(|b| b.is_ascii_digit()) {
            match raw.parse::<i64>() {
                Ok(n) if n > 0 => BinStep::Number(n),
                Ok(_) => {
                    return Err(self.error_at(first.start, "the bin size must be greater than zero"))
                }
                Err(_) => {
                    return Err(self.error_at(
                        first.start,
                        format!("bin size {} is out of range", truncate(raw)),
                    ))
                }
            }
        } else {
            return Err(self.error_at(first.start, invalid()));
        };
        Ok(step)
    }

    /// The modulo of `hash(column, modulo)`: an integer in 1..=2^31-1.
    fn parse_hash_modulo(&mut self) -> Result<u32, ParseError> {
        const RANGE: &str = "the hash modulo must be an integer between 1 and 2147483647";
        if let Some(minus) = self.peek().filter(|t| matches!(t.token, Token::Minus)) {
            return Err(self.error_at(minus.start, RANGE));
        }
        if !self.peek_is(|t| matches!(t, Token::Number(..))) {
            return Err(self.unexpected("expected a hash modulo such as 16"));
        }
        let Some((first, end, run)) = self.take_number_run() else {
            return Err(self.unexpected("expected a hash modulo such as 16"));
        };
        let raw = self.text.get(first.start..end).unwrap_or("");
        let modulo = (run == 1 && raw.bytes().all(|b| b.is_ascii_digit()))
            .then(|| raw.parse::<u32>().ok())
            .flatten()
            .filter(|m| (1..=i32::MAX as u32).contains(m));
        match modulo {
            Some(m) => Ok(m),
            None => Err(self.error_at(
                first.start,
                format!("invalid hash modulo '{}': {RANGE}", truncate(raw)),
            )),
        }
    }

    /// `pathformat = ( <part> ... )`, checked against `partitions`.
    fn parse_path_format(
        &mut self,
        partitions: &[PartitionDef],
    ) -> Result<Vec<PathFormatPart>, ParseError> {
        let Some(keyword) = self.advance() else {
            return Err(self.unexpected("expected 'pathformat'"));
        };
        if partitions.is_empty() {
            return Err(self.error_at(
                keyword.start,
                "'pathformat' requires a 'partition by' clause before it",
            ));
        }
        self.expect(
            |t| matches!(t, Token::Eq),
            "expected '=' after 'pathformat', e.g. pathformat = (\"region=\" Region)",
        )?;
        self.expect(
            |t| matches!(t, Token::LParen),
            "expected '(' after 'pathformat =', e.g. pathformat = (\"region=\" Region)",
        )?;
        let declared = |name: &str| partitions.iter().find(|p| p.name == name);
        let declared_list = || {
            partitions
                .iter()
                .map(|p| truncate(&p.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        let mut used: Vec<&str> = Vec::new();
        let mut after_partition = false;
        loop {
            let Some(t) = self.peek().cloned() else {
                return Err(self.unexpected("expected ')' to close pathformat"));
            };
            if matches!(t.token, Token::RParen) {
                self.advance();
                break;
            }
            if let Some(literal) = self.try_string_literal()? {
                if literal.is_obfuscated() {
                    return Err(self.error_at(
                        t.start,
                        "obfuscated strings (h'...') are not allowed in pathformat",
                    ));
                }
                if !literal.expose().is_empty() {
                    parts.push(PathFormatPart::Literal(literal.expose().to_string()));
                    after_partition = false;
                }
                continue;
            }
            let is_pattern = is_keyword(&t.token, "datetime_pattern")
                && self
                    .peek_nth(1)
                    .is_some_and(|next| matches!(next.token, Token::LParen));
            let clause_keyword = bare_word(&t.token).is_some_and(|w| {
                declared(w).is_none()
                    && ["kind", "partition", "pathformat", "dataformat", "with"]
                        .iter()
                        .any(|k| w.eq_ignore_ascii_case(k))
            });
            if clause_keyword {
                return Err(self.unexpected("expected ')' to close pathformat"));
            }
            if !is_pattern && !matches!(t.token, Token::Word(_) | Token::LBracket) {
                return Err(self.unexpected(
                    "expected a string, a partition name, datetime_pattern(...) or ')' in \
                     pathformat",
                ));
            }
            if after_partition {
                return Err(self.error_at(
                    t.start,
                    "partition references in pathformat must be separated by a string such as \"/\"",
                ));
            }
            let pattern = if is_pattern {
                self.pos += 2;
                let pattern_start = self.peek().map(|p| p.start);
                let pattern =
                    match self.try_string_literal()? {
                        Some(p) if p.is_obfuscated() => {
                            return Err(self.error_at(
                                pattern_start.unwrap_or(t.start),
                                "obfuscated strings (h'...') are not allowed in pathformat",
                            ))
                        }
                        Some(p) if p.expose().is_empty() => {
                            return Err(self.error_at(
                                pattern_start.unwrap_or(t.start),
                                "the datetime_pattern format must not be empty",
                            ))
                        }
                        Some(p) => p.expose().to_string(),
                        None => return Err(self.unexpected(
                            "expected a format string such as \"yyyy/MM/dd\" in datetime_pattern",
                        )),
                    };
                self.expect(
                    |t| matches!(t, Token::Comma),
                    "expected ',' and a partition name after the datetime_pattern format",
                )?;
                Some(pattern)
            } else {
                None
            };
            let (name, name_tok) = self.parse_name("a partition name")?;
            let Some(partition) = declared(&name) else {
                return Err(self.error_at(
                    name_tok.start,
                    format!(
                        "pathformat refers to '{}', which is not a declared partition \
                         (declared: {})",
                        truncate(&name),
                        declared_list()
                    ),
                ));
            };
            let part = match pattern {
                Some(pattern) => {
                    if partition.kusto_type != KustoType::Datetime {
                        return Err(self.error_at(
                            name_tok.start,
                            format!(
                                "datetime_pattern can only format a datetime partition; '{}' is \
                                 declared as {}",
                                truncate(&name),
                                partition.kusto_type
                            ),
                        ));
                    }
                    self.expect(
                        |t| matches!(t, Token::RParen),
                        "expected ')' after the partition name of datetime_pattern",
                    )?;
                    PathFormatPart::DatetimePattern {
                        pattern,
                        partition: name,
                    }
                }
                None => PathFormatPart::Partition(name),
            };
            used.push(partition.name.as_str());
            parts.push(part);
            after_partition = true;
        }
        if let Some(missing) = partitions.iter().find(|p| !used.contains(&p.name.as_str())) {
            return Err(self.error_at(
                keyword.start,
                format!(
                    "partition '{}' does not appear in pathformat; every partition must be used \
                     in pathformat",
                    truncate(&missing.name)
                ),
            ));
        }
        Ok(parts)
    }

    /// `.create-or-alter continuous-export` (already consumed) `<name>
    /// [over (...)] to table <name> [with (...)] <| <query>`.
    fn parse_create_continuous_export(&mut self, command: &str) -> Result<Command, ParseError> {
        let (name, _) = self.parse_name(&format!(
            "a continuous export name after '{command} continuous-export'"
        ))?;
        let mut over = None;
        if self.peek_keyword("over") {
            self.advance();
            self.expect(
                |t| matches!(t, Token::LParen),
                "expected '(' and table names after 'over', e.g. over (T1, T2)",
            )?;
            if self.peek_is(|t| matches!(t, Token::RParen)) {
                return Err(self.unexpected("expected at least one table name in 'over (...)'"));
            }
            let mut tables: Vec<String> = Vec::new();
            loop {
                let (table, table_tok) = self.parse_name("a table name")?;
                if tables.contains(&table) {
                    return Err(self.error_at(
                        table_tok.start,
                        format!(
                            "table '{}' is listed twice in 'over (...)'",
                            truncate(&table)
                        ),
                    ));
                }
                tables.push(table);
                match self.peek().map(|t| &t.token) {
                    Some(Token::Comma) => {
                        self.advance();
                    }
                    Some(Token::RParen) => {
                        self.advance();
                        break;
                    }
                    _ => return Err(self.unexpected("expected ',' or ')' after table name")),
                }
            }
            over = Some(tables);
        }
        let to_expected = if over.is_some() {
            "expected 'to table <external table>'"
        } else {
            "expected 'over (...)' or 'to table <external table>' after the continuous export name"
        };
        self.expect_keyword("to", to_expected)?;
        self.expect_keyword(
            "table",
            "expected 'table <external table>' after 'to' (continuous exports write to an \
             external table)",
        )?;
        let (external_table, _) = self.parse_name("an external table name after 'to table'")?;
        let properties = self.parse_optional_properties()?;
        let query = self.parse_query(properties.is_empty())?;
        Ok(Command::CreateOrAlterContinuousExport {
            name,
            over,
            external_table,
            properties,
            query,
        })
    }

    /// `.enable`, `.disable` or `.run` (already consumed) `continuous-export <name>`.
    fn parse_continuous_export_action(&mut self, command: &str) -> Result<Command, ParseError> {
        if !self.accept_compound("continuous-export") {
            return Err(self.unexpected(&format!(
                "expected 'continuous-export <name>' after '{command}'"
            )));
        }
        let (name, _) = self.parse_name(&format!(
            "a continuous export name after '{command} continuous-export'"
        ))?;
        self.expect_end(&format!("'{command} continuous-export <name>'"))?;
        Ok(match command {
            ".enable" => Command::EnableContinuousExport { name },
            ".disable" => Command::DisableContinuousExport { name },
            _ => Command::RunContinuousExport { name },
        })
    }

    fn parse_ingest(&mut self) -> Result<Command, ParseError> {
        self.expect_keyword("into", "expected 'into table <name>' after '.ingest'")?;
        self.expect_keyword("table", "expected 'table' after '.ingest into'")?;
        let (table, _) = self.parse_name("a table name after '.ingest into table'")?;
        const SOURCE: &str = "expected a source URL string such as 'https://...' or h'...'";
        let mut sources = Vec::new();
        if self.peek_is(|t| matches!(t, Token::LParen)) {
            self.advance();
            loop {
                let start = self.peek().map(|t| t.start);
                let Some(source) = self.try_string_literal()? else {
                    return Err(self.unexpected(SOURCE));
                };
                if source.expose().trim().is_empty() {
                    return Err(self.error_at(start.unwrap_or(0), "source URL must not be empty"));
                }
                sources.push(source);
                match self.peek().map(|t| &t.token) {
                    Some(Token::Comma) => {
                        self.advance();
                    }
                    Some(Token::RParen) => {
                        self.advance();
                        break;
                    }
                    _ => return Err(self.unexpected("expected ',' or ')' after source")),
                }
            }
        } else {
            let start = self.peek().map(|t| t.start);
            let Some(source) = self.try_string_literal()? else {
                return Err(self.unexpected(
                    "expected a source URL string or a parenthesized list of them after the \
                     table name, e.g. ('https://...')",
                ));
            };
            if source.expose().trim().is_empty() {
                return Err(self.error_at(start.unwrap_or(0), "source URL must not be empty"));
            }
            sources.push(source);
        }
        let properties = self.parse_optional_properties()?;
        self.expect_end("'.ingest into table'")?;
        Ok(Command::Ingest {
            table,
            sources,
            properties,
        })
    }

    /// Parses a Kusto string literal at the current position, if there is
    /// one: `'x'`, `"x"`, `@'x'`, `@"x"`, and the obfuscated `h'x'`,
    /// `h"x"`, `h@'x'`, `h@"x"` (prefix case-insensitive, no space between
    /// prefix and quote).
    fn try_string_literal(&mut self) -> Result<Option<SecretString>, ParseError> {
        let Some(t) = self.peek() else {
            return Ok(None);
        };
        if let Some(value) = string_value(&t.token) {
            let s = SecretString::new(value, false);
            self.advance();
            return Ok(Some(s));
        }
        let adjacent_string = self
            .peek_nth(1)
            .filter(|next| next.start == t.end)
            .and_then(|next| string_value(&next.token))
            .map(str::to_string);
        let prefix = bare_word(&t.token).map(str::to_ascii_lowercase);
        let obfuscated = matches!(prefix.as_deref(), Some("h") | Some("h@"));
        let at_sign = matches!(t.token, Token::AtSign);
        if !(obfuscated || at_sign) {
            return Ok(None);
        }
        match adjacent_string {
            Some(value) => {
                self.pos += 2;
                Ok(Some(SecretString::new(value, obfuscated)))
            }
            None if at_sign => {
                let at = t.end;
                Err(self.error_at(
                    at,
                    "expected a string literal right after '@', e.g. @'C:\\data'",
                ))
            }
            // A plain word `h`.
            None => Ok(None),
        }
    }

    /// `with ( name = value [, ...] )`
    fn parse_properties(&mut self) -> Result<Vec<Property>, ParseError> {
        self.expect_keyword("with", "expected 'with'")?;
        self.expect(
            |t| matches!(t, Token::LParen),
            "expected '(' after 'with', e.g. with (format='csv')",
        )?;
        let mut properties: Vec<Property> = Vec::new();
        loop {
            let Some(name_tok) = self
                .peek()
                .filter(|t| matches!(t.token, Token::Word(_)))
                .cloned()
            else {
                return Err(self.unexpected("expected a property name"));
            };
            let name = match &name_tok.token {
                Token::Word(w) => w.value.clone(),
                _ => String::new(),
            };
            self.advance();
            self.expect(
                |t| matches!(t, Token::Eq),
                &format!("expected '=' after property '{}'", truncate(&name)),
            )?;
            let value = self.parse_property_value(&name)?;
            if properties
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(&name))
            {
                return Err(self.error_at(
                    name_tok.start,
                    format!("duplicate property '{}'", truncate(&name)),
                ));
            }
            properties.push(Property {
                name: name.clone(),
                value,
            });
            match self.peek().map(|t| &t.token) {
                Some(Token::Comma) => {
                    self.advance();
                }
                Some(Token::RParen) => {
                    self.advance();
                    break;
                }
                _ => {
                    return Err(self.unexpected(&format!(
                        "expected ',' or ')' after property '{}'",
                        truncate(&name)
                    )))
                }
            }
        }
        Ok(properties)
    }

    fn parse_property_value(&mut self, name: &str) -> Result<PropertyValue, ParseError> {
        if let Some(s) = self.try_string_literal()? {
            return Ok(PropertyValue::String(s));
        }
        let expected = format!(
            "expected a value for property '{}' (a string, number, timespan such as 10m, \
             true/false or an identifier)",
            truncate(name)
        );
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected(&expected));
        };
        match &t.token {
            Token::Word(w) if w.quote_style.is_none() => {
                self.advance();
                if w.value.eq_ignore_ascii_case("true") {
                    Ok(PropertyValue::Bool(true))
                } else if w.value.eq_ignore_ascii_case("false") {
                    Ok(PropertyValue::Bool(false))
                } else if w.value.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    Ok(PropertyValue::Identifier(w.value.clone()))
                } else {
                    Err(self.error_at(
                        t.start,
                        format!(
                            "invalid value '{}' for property '{}'; quote it as a string, e.g. '{}'",
                            truncate(&w.value),
                            truncate(name),
                            truncate(&w.value)
                        ),
                    ))
                }
            }
            Token::Number(..) => self.parse_number_or_timespan(name, false, t.start),
            Token::Minus => {
                self.advance();
                if !self.peek_is(|t| matches!(t, Token::Number(..))) {
                    return Err(self.unexpected(&format!(
                        "expected a number after '-' for property '{}'",
                        truncate(name)
                    )));
                }
                self.parse_number_or_timespan(name, true, t.start)
            }
            _ => Err(self.unexpected(&expected)),
        }
    }

    /// A number, or a run of adjacent tokens starting with a number that
    /// forms a timespan (`10m`, `1.5h`, `00:10:00`, `1.02:00:00`).
    fn parse_number_or_timespan(
        &mut self,
        name: &str,
        negative: bool,
        sign_start: usize,
    ) -> Result<PropertyValue, ParseError> {
        let Some((first, end, run)) = self.take_number_run() else {
            return Err(self.unexpected("expected a number"));
        };
        let raw = self.text.get(first.start..end).unwrap_or("");
        if run > 1 {
            if negative {
                return Err(self.error_at(
                    sign_start,
                    format!(
                        "negative timespans are not supported (property '{}')",
                        truncate(name)
                    ),
                ));
            }
            return match try_parse_timespan(raw) {
                Ok(d) => Ok(PropertyValue::Timespan(d)),
                Err(TimespanError::OutOfRange) => Err(self.error_at(
                    first.start,
                    format!(
                        "property '{}': {}",
                        truncate(name),
                        TimespanError::OutOfRange.describe(raw)
                    ),
                )),
                Err(TimespanError::Invalid) => Err(self.error_at(
                    first.start,
                    format!(
                        "invalid value '{}' for property '{}'; expected a number or a timespan \
                         such as 10m, 1.5h, 100ms or 00:10:00",
                        truncate(raw),
                        truncate(name)
                    ),
                )),
            };
        }
        let digits = match &first.token {
            Token::Number(n, _) => n.as_str(),
            _ => raw,
        };
        let signed = if negative {
            format!("-{digits}")
        } else {
            digits.to_string()
        };
        if digits.bytes().all(|b| b.is_ascii_digit()) {
            return signed
                .parse::<i64>()
                .map(PropertyValue::Integer)
                .map_err(|_| {
                    self.error_at(
                        sign_start,
                        format!(
                            "integer {} for property '{}' is out of range",
                            truncate(&signed),
                            truncate(name)
                        ),
                    )
                });
        }
        match signed.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(PropertyValue::Float(f)),
            _ => Err(self.error_at(
                sign_start,
                format!(
                    "invalid number '{}' for property '{}'",
                    truncate(&signed),
                    truncate(name)
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(text: &str) -> Command {
        parse_command(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn parse_err(text: &str) -> ParseError {
        match parse_command(text) {
            Ok(c) => panic!("{text:?} parsed as {c:?}"),
            Err(e) => e,
        }
    }

    fn col(name: &str, kusto_type: KustoType) -> ColumnDef {
        ColumnDef {
            name: name.to_string(),
            kusto_type,
        }
    }

    fn prop(name: &str, value: PropertyValue) -> Property {
        Property {
            name: name.to_string(),
            value,
        }
    }

    fn plain(s: &str) -> SecretString {
        SecretString::new(s, false)
    }

    #[test]
    fn sql_passthrough() {
        assert_eq!(parse("select 1"), Command::Sql("select 1".into()));
        assert_eq!(
            parse("  SELECT * FROM t;  \n"),
            Command::Sql("SELECT * FROM t".into())
        );
        assert_eq!(parse("select 1;;"), Command::Sql("select 1".into()));
        assert_eq!(
            parse("select 1 -- trailing ; comment"),
            Command::Sql("select 1".into())
        );
        assert_eq!(
            parse("-- leading\nselect 'a;' ;"),
            Command::Sql("-- leading\nselect 'a;'".into())
        );
        assert_eq!(parse(""), Command::Sql(String::new()));
        assert_eq!(parse("  ;  "), Command::Sql(String::new()));
        // Text the tokenizer rejects is still passed through for DataFusion
        // to report.
        assert_eq!(parse("select 'oops;"), Command::Sql("select 'oops".into()));
        assert_eq!(
            parse("select x.y from t"),
            Command::Sql("select x.y from t".into())
        );
    }

    #[test]
    fn show_tables_case_insensitive() {
        for text in [
            ".show tables",
            ".Show Tables",
            ".SHOW TABLES;",
            "  .show   tables  ;; ",
            "-- comment\n.show tables",
            "/* c */ .show /* c */ tables // c",
            ".show\ntables",
        ] {
            assert_eq!(parse(text), Command::ShowTables, "{text}");
        }
    }

    #[test]
    fn show_table_forms() {
        assert_eq!(
            parse(".show table T"),
            Command::ShowTableSchema { name: "T".into() }
        );
        assert_eq!(
            parse(".show TABLE MyTable Schema;"),
            Command::ShowTableSchema {
                name: "MyTable".into()
            }
        );
        assert_eq!(
            parse(".show table T extents"),
            Command::ShowTableExtents { name: "T".into() }
        );
        assert_eq!(
            parse(".show table ['my table'] EXTENTS"),
            Command::ShowTableExtents {
                name: "my table".into()
            }
        );
        let e = parse_err(".show table T details");
        assert!(e.message.contains("'schema', 'extents'"), "{e}");
        assert_eq!((e.line, e.column), (1, 15));
        let e = parse_err(".show");
        assert!(
            e.message
                .starts_with("expected 'tables', 'table <name>', 'external tables'"),
            "{e}"
        );
        assert!(e.message.contains("found end of input"), "{e}");
        let e = parse_err(".show databases");
        assert_eq!(e.column, 7);
    }

    #[test]
    fn names() {
        let cases = [
            (".drop table T", "T"),
            (".drop table my_table2", "my_table2"),
            (".drop table \"Quoted Name\"", "Quoted Name"),
            (".drop table `back tick`", "back tick"),
            (".drop table ['with spaces']", "with spaces"),
            (".drop table [\"dq\"]", "dq"),
            (".drop table [ 'x-y.z' ]", "x-y.z"),
            (".drop table ['it''s']", "it's"),
            (".drop table Données", "Données"),
            (".drop table select", "select"),
        ];
        for (text, name) in cases {
            assert_eq!(
                parse(text),
                Command::DropTable {
                    name: name.into(),
                    if_exists: false
                },
                "{text}"
            );
        }
        let e = parse_err(".drop table a$b");
        assert!(e.message.contains("invalid character '$'"), "{e}");
        assert!(e.message.contains("['name']"), "{e}");
        let e = parse_err(".drop table ['']");
        assert!(e.message.contains("empty name"), "{e}");
        let e = parse_err(".drop table [T]");
        assert!(
            e.message.contains("expected a quoted name inside [...]"),
            "{e}"
        );
        let e = parse_err(".drop table ['T'");
        assert!(e.message.contains("expected ']'"), "{e}");
        let e = parse_err(".drop table 'T'");
        assert!(e.message.contains("found a string literal"), "{e}");
        let e = parse_err(".drop table 1abc");
        assert!(e.message.contains("expected a table name"), "{e}");
        let e = parse_err(".drop table a.b");
        assert!(e.message.contains("unexpected '.'"), "{e}");
    }

    #[test]
    fn drop_table() {
        assert_eq!(
            parse(".drop table T ifexists"),
            Command::DropTable {
                name: "T".into(),
                if_exists: true
            }
        );
        assert_eq!(
            parse(".DROP TABLE T IfExists;"),
            Command::DropTable {
                name: "T".into(),
                if_exists: true
            }
        );
        assert_eq!(
            parse(".drop table T if exists"),
            Command::DropTable {
                name: "T".into(),
                if_exists: true
            }
        );
        let e = parse_err(".drop T");
        assert!(
            e.message.contains(
                "expected 'table', 'external table' or 'continuous-export' after '.drop'"
            ),
            "{e}"
        );
        assert_eq!((e.line, e.column), (1, 7));
        let e = parse_err(".drop table T whatever");
        assert!(e.message.contains("unexpected 'whatever'"), "{e}");
    }

    #[test]
    fn create_table() {
        assert_eq!(
            parse(".create table T (a:long, s:string)"),
            Command::CreateTable {
                name: "T".into(),
                columns: vec![col("a", KustoType::Long), col("s", KustoType::String)],
            }
        );
        let text = ".CREATE TABLE Events (\n  Timestamp: datetime,\n  ['user id']:GUID,\n  \
                    \"Flag\" : boolean, n:int32, big:int64, r:double, d:decimal,\n  \
                    ts:timespan, t2:time, dyn:dynamic, u:uuid, b:bool, i:int, x:real\n);";
        assert_eq!(
            parse(text),
            Command::CreateTable {
                name: "Events".into(),
                columns: vec![
                    col("Timestamp", KustoType::Datetime),
                    col("user id", KustoType::Guid),
                    col("Flag", KustoType::Bool),
                    col("n", KustoType::Int),
                    col("big", KustoType::Long),
                    col("r", KustoType::Real),
                    col("d", KustoType::Decimal),
                    col("ts", KustoType::Timespan),
                    col("t2", KustoType::Timespan),
                    col("dyn", KustoType::Dynamic),
                    col("u", KustoType::Guid),
                    col("b", KustoType::Bool),
                    col("i", KustoType::Int),
                    col("x", KustoType::Real),
                ],
            }
        );
    }

    #[test]
    fn create_table_errors() {
        let e = parse_err(".create table T (a:lng)");
        assert_eq!(
            e.message,
            "unknown type 'lng' for column 'a'; expected one of bool, int, long, real, \
             decimal, string, datetime, timespan, guid, dynamic"
        );
        assert_eq!((e.line, e.column), (1, 20));
        assert_eq!(
            e.to_string(),
            format!("{} (at line 1, column 20)", e.message)
        );

        let e = parse_err(".create table T (a:long");
        assert!(
            e.message.starts_with("expected ')' after column list"),
            "{e}"
        );
        assert_eq!(e.column, 24);

        let e = parse_err(".create table T (a:long s:string)");
        assert!(
            e.message
                .starts_with("expected ',' or ')' after column 'a', found 's'"),
            "{e}"
        );
        assert_eq!(e.column, 25);

        let e = parse_err(".create table T (a long)");
        assert!(
            e.message
                .contains("expected ':' and a type after column 'a'"),
            "{e}"
        );

        let e = parse_err(".create table T ()");
        assert!(e.message.contains("at least one column"), "{e}");

        let e = parse_err(".create table T");
        assert!(e.message.contains("expected '(' and a column list"), "{e}");

        let e = parse_err(".create table T (a:long, a:string)");
        assert!(e.message.contains("duplicate column name 'a'"), "{e}");
        assert_eq!(e.column, 26);

        let e = parse_err(".create table T (a:long,)");
        assert!(
            e.message.contains("expected a column name, found ')'"),
            "{e}"
        );

        let e = parse_err(".create table T (a:)");
        assert!(e.message.contains("expected a type for column 'a'"), "{e}");

        let e = parse_err(".create T (a:long)");
        assert!(
            e.message
                .starts_with("expected 'table', 'external table' or 'or alter' after '.create'"),
            "{e}"
        );

        let e = parse_err(".create table T (a:long) with (docstring='x')");
        assert!(
            e.message
                .contains("unexpected 'with' after '.create table'"),
            "{e}"
        );

        let e = parse_err(".create table T (a:long); select 1");
        assert!(e.message.contains("only one statement"), "{e}");
    }

    #[test]
    fn append_and_set_or_append() {
        assert_eq!(
            parse(".append T <| select * from src"),
            Command::Append {
                table: "T".into(),
                query: "select * from src".into(),
                create_if_missing: false,
                properties: vec![],
            }
        );
        assert_eq!(
            parse(".Set-Or-Append ['My T'] with (creationTime='2024-01-01') <|\n  select 1 ;  \n"),
            Command::Append {
                table: "My T".into(),
                query: "select 1".into(),
                create_if_missing: true,
                properties: vec![prop(
                    "creationTime",
                    PropertyValue::String(plain("2024-01-01"))
                )],
            }
        );
        // The query is sliced raw from the original text, comments and all.
        assert_eq!(
            parse(".append T <|select a, 'x<|y;' /* c */ from t -- done"),
            Command::Append {
                table: "T".into(),
                query: "select a, 'x<|y;' /* c */ from t".into(),
                create_if_missing: false,
                properties: vec![],
            }
        );
        // Whatever follows `<|` is not tokenized by the command parser.
        assert_eq!(
            parse(".append T <| T | where x == 'unterminated"),
            Command::Append {
                table: "T".into(),
                query: "T | where x == 'unterminated".into(),
                create_if_missing: false,
                properties: vec![],
            }
        );
        let e = parse_err(".append T <|   ;  ");
        assert_eq!(e.message, "expected a query after '<|'");
        assert_eq!(e.column, 13);
        let e = parse_err(".append T <| -- nothing\n");
        assert_eq!(e.message, "expected a query after '<|'");
        let e = parse_err(".append T select 1");
        assert!(
            e.message.starts_with("expected '<|' followed by a query"),
            "{e}"
        );
        assert_eq!(e.column, 11);
        let e = parse_err(".append T < | select 1");
        assert!(e.message.starts_with("expected '<|'"), "{e}");
        let e = parse_err(".set-or-append <| select 1");
        assert!(
            e.message
                .contains("expected a table name after '.set-or-append'"),
            "{e}"
        );
        let e = parse_err(".set - or-append T <| select 1");
        assert!(e.message.contains("unknown command '.set'"), "{e}");
    }

    #[test]
    fn multibyte_text_before_query() {
        let text = ".append ['données 日本 😀'] with (tag='é😀') <| select 'ü', \"ç\" from 表";
        assert_eq!(
            parse(text),
            Command::Append {
                table: "données 日本 😀".into(),
                query: "select 'ü', \"ç\" from 表".into(),
                create_if_missing: false,
                properties: vec![prop("tag", PropertyValue::String(plain("é😀")))],
            }
        );
        let text = "/* ünïcödé 😀\n ☃ */ .append\n  ['日本'] <|\n\tselect '😀'";
        match parse(text) {
            Command::Append { table, query, .. } => {
                assert_eq!(table, "日本");
                assert_eq!(query, "select '😀'");
            }
            other => panic!("{other:?}"),
        }
        // Error columns count characters, not bytes.
        let e = parse_err(".append ['日本'] <|");
        assert_eq!((e.line, e.column), (1, 18));
        let e = parse_err("-- ☃☃☃\n.drop table ☃");
        assert_eq!((e.line, e.column), (2, 13));
    }

    #[test]
    fn properties() {
        let text = ".append T with (a=1, b='x', c=true, d=10m, e=csv, F=-3, g=1.5, h=\"dq\", \
                    i=FALSE, j=00:10:00, k=1.02:00:00, l=100ms, m=1.5h, n=@'C:\\dir\\', \
                    o=-2.5, p=1e3, q=2d, r=10L) <| select 1";
        let Command::Append { properties, .. } = parse(text) else {
            panic!()
        };
        let expected = vec![
            prop("a", PropertyValue::Integer(1)),
            prop("b", PropertyValue::String(plain("x"))),
            prop("c", PropertyValue::Bool(true)),
            prop("d", PropertyValue::Timespan(Duration::from_secs(600))),
            prop("e", PropertyValue::Identifier("csv".into())),
            prop("F", PropertyValue::Integer(-3)),
            prop("g", PropertyValue::Float(1.5)),
            prop("h", PropertyValue::String(plain("dq"))),
            prop("i", PropertyValue::Bool(false)),
            prop("j", PropertyValue::Timespan(Duration::from_secs(600))),
            prop("k", PropertyValue::Timespan(Duration::from_secs(93_600))),
            prop("l", PropertyValue::Timespan(Duration::from_millis(100))),
            prop("m", PropertyValue::Timespan(Duration::from_secs(5_400))),
            prop("n", PropertyValue::String(plain("C:\\dir\\"))),
            prop("o", PropertyValue::Float(-2.5)),
            prop("p", PropertyValue::Float(1000.0)),
            prop("q", PropertyValue::Timespan(Duration::from_secs(172_800))),
            prop("r", PropertyValue::Integer(10)),
        ];
        assert_eq!(properties, expected);
        assert_eq!(
            properties[3].value.as_duration(),
            Some(Duration::from_secs(600))
        );

        // forcedLatency quoted or not
        for text in [
            ".append T with (forcedLatency=10m) <| select 1",
            ".append T with (forcedLatency='00:10:00') <| select 1",
            ".append T with (FORCEDLATENCY=\"10m\") <| select 1",
        ] {
            let Command::Append { properties, .. } = parse(text) else {
                panic!()
            };
            let v = crate::command::find_property(&properties, "forcedlatency").unwrap();
            assert_eq!(v.as_duration(), Some(Duration::from_secs(600)), "{text}");
        }
    }

    #[test]
    fn property_errors() {
        let e = parse_err(".append T with (a=1, A=2) <| select 1");
        assert_eq!(e.message, "duplicate property 'A'");
        assert_eq!(e.column, 22);
        let e = parse_err(".append T with (a 1) <| select 1");
        assert!(
            e.message.starts_with("expected '=' after property 'a'"),
            "{e}"
        );
        let e = parse_err(".append T with (a=10x) <| select 1");
        assert!(
            e.message
                .starts_with("invalid value '10x' for property 'a'"),
            "{e}"
        );
        assert_eq!(e.column, 19);
        let e = parse_err(".append T with (a=-10m) <| select 1");
        assert!(e.message.contains("negative timespans"), "{e}");
        let e = parse_err(".append T with (a=99999999999999999999) <| select 1");
        assert!(e.message.contains("out of range"), "{e}");
        let e = parse_err(".append T with (a=) <| select 1");
        assert!(
            e.message.starts_with("expected a value for property 'a'"),
            "{e}"
        );
        let e = parse_err(".append T with () <| select 1");
        assert!(e.message.starts_with("expected a property name"), "{e}");
        let e = parse_err(".append T with (a=1 <| select 1");
        assert!(
            e.message
                .starts_with("expected ',' or ')' after property 'a'"),
            "{e}"
        );
        let e = parse_err(".append T with a=1 <| select 1");
        assert!(e.message.starts_with("expected '(' after 'with'"), "{e}");
        let e = parse_err(".append T with (a=@x) <| select 1");
        assert!(
            e.message.starts_with("invalid value '@x' for property 'a'"),
            "{e}"
        );
        assert_eq!(e.column, 19);
        let e = parse_err(".append T with (a=-x) <| select 1");
        assert!(e.message.contains("expected a number after '-'"), "{e}");
    }

    #[test]
    fn huge_timespans_are_errors() {
        for (text, needle) in [
            (
                ".create-or-alter continuous-export E to table X with (forcedLatency=100000000d) <| select 1",
                "property 'forcedLatency': timespan '100000000d' is out of range",
            ),
            (
                ".create-or-alter continuous-export E to table X with (forcedLatency=99999999999999999999s) <| select 1",
                "property 'forcedLatency': timespan '99999999999999999999s' is out of range",
            ),
            (
                ".create-or-alter continuous-export E to table X with (intervalBetweenRuns=99999999999.00:00:00) <| select 1",
                "is out of range",
            ),
            (
                ".create-or-alter continuous-export E to table X with (forcedLatency=-1.00:00:00) <| select 1",
                "negative timespans are not supported (property 'forcedLatency')",
            ),
            (
                ".create external table X (ts:datetime) kind=storage partition by (D:datetime = bin(ts, 36501d)) dataformat=csv ('u')",
                "bin size 36501d is out of range; a timespan bin is at most 36500d",
            ),
            (
                ".create external table X (ts:datetime) kind=storage partition by (D:datetime = bin(ts, 100000000d)) dataformat=csv ('u')",
                "bin size 100000000d is out of range",
            ),
            (
                ".create external table X (a:long) kind=storage partition by (D:long = bin(a, 99999999999999999999)) dataformat=csv ('u')",
                "out of range",
            ),
        ] {
            let e = parse_err(text);
            assert!(e.message.contains(needle), "{text}: {e}");
        }
        // The largest ones still parse.
        parse(".create-or-alter continuous-export E to table X with (forcedLatency=10675199d) <| select 1");
        parse(".create external table X (ts:datetime) kind=storage partition by (D:datetime = bin(ts, 36500d)) dataformat=csv ('u')");
    }

    #[test]
    fn ingest() {
        assert_eq!(
            parse(".ingest into table T ('https://a/x.csv', h'https://b/y.csv?sig=s') with (format='csv', ignoreFirstRecord=true)"),
            Command::Ingest {
                table: "T".into(),
                sources: vec![
                    plain("https://a/x.csv"),
                    SecretString::new("https://b/y.csv?sig=s", true)
                ],
                properties: vec![
                    prop("format", PropertyValue::String(plain("csv"))),
                    prop("ignoreFirstRecord", PropertyValue::Bool(true)),
                ],
            }
        );
        assert_eq!(
            parse(".INGEST INTO TABLE T h@'https://c/z;key'"),
            Command::Ingest {
                table: "T".into(),
                sources: vec![SecretString::new("https://c/z;key", true)],
                properties: vec![],
            }
        );
        let e = parse_err(".ingest into table T ()");
        assert!(e.message.starts_with("expected a source URL string"), "{e}");
        let e = parse_err(".ingest into table T ('')");
        assert_eq!(e.message, "source URL must not be empty");
        let e = parse_err(".ingest into table T");
        assert!(e.message.contains("found end of input"), "{e}");
        let e = parse_err(".ingest table T ('x')");
        assert!(e.message.starts_with("expected 'into table <name>'"), "{e}");
        let e = parse_err(".ingest into table T ('x' 'y')");
        assert!(
            e.message.starts_with("expected ',' or ')' after source"),
            "{e}"
        );
        let e = parse_err(".ingest into table T ('x') with (format=csv) extra");
        assert!(e.message.contains("unexpected 'extra'"), "{e}");
    }

    #[test]
    fn string_literal_forms() {
        let cases = [
            ("'a''b'", "a'b", false),
            ("\"a\"\"b\"", "a\"b", false),
            ("@'C:\\x\\'", "C:\\x\\", false),
            ("@\"C:\\y\"", "C:\\y", false),
            ("h'secret'", "secret", true),
            ("H'secret'", "secret", true),
            ("h\"secret\"", "secret", true),
            ("h@'sec\\ret'", "sec\\ret", true),
            ("H@\"secret\"", "secret", true),
            ("'/*!x*/'", "/*!x*/", false),
            ("'a // b'", "a // b", false),
        ];
        for (literal, value, obfuscated) in cases {
            let text = format!(".ingest into table T ({literal})");
            let Command::Ingest { sources, .. } = parse(&text) else {
                panic!()
            };
            assert_eq!(
                sources,
                vec![SecretString::new(value, obfuscated)],
                "{text}"
            );
        }
        // prefix and quote must touch
        let e = parse_err(".ingest into table T (h 'x')");
        assert!(e.message.starts_with("expected a source URL string"), "{e}");
        let e = parse_err(".ingest into table T (@ 'x')");
        assert!(e.message.contains("right after '@'"), "{e}");
    }

    #[test]
    fn secrets_never_leak() {
        let secret = "SUPERSECRETVALUE";
        let texts = [
            format!(".ingest into table T (h'https://a/b?sig={secret}')"),
            format!(".ingest into table T (h@'https://a/b;{secret}') with (x=h'{secret}')"),
            format!(".append T with (token=h\"{secret}\") <| select 1"),
            format!(".ingest into table T ('https://a/b?sv=1&sig={secret}')"),
            format!(".ingest into table T ('https://acct.blob.core.windows.net/c;{secret}')"),
            format!(".ingest into table T ('https://user:{secret}@host/x')"),
        ];
        for text in &texts {
            let command = parse(text);
            let debug = format!("{command:?}");
            assert!(!debug.contains(secret), "{debug}");
            let pretty = format!("{command:#?}");
            assert!(!pretty.contains(secret), "{pretty}");
        }
        // errors never quote string literals
        let broken = [
            format!(".drop table h'{secret}'"),
            format!(".ingest into table T (h'{secret}' h'{secret}')"),
            format!(".append T with (a=1) h'{secret}' <| x"),
            format!(".create table T (h'{secret}':long)"),
            format!(".show table T h'{secret}'"),
            format!(".ingest into table T (h'{secret}') with (a=h'{secret}' b)"),
        ];
        for text in &broken {
            let e = parse_err(text);
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
    }

    #[test]
    fn unknown_commands() {
        let e = parse_err(".foo bar");
        assert!(
            e.message
                .starts_with("unknown command '.foo'; supported commands:"),
            "{e}"
        );
        assert!(e.message.contains(".create table"), "{e}");
        assert!(e.message.contains(".ingest into table"), "{e}");
        assert_eq!((e.line, e.column), (1, 2));
        let e = parse_err(".create-merge table T (a:long)");
        assert!(
            e.message.starts_with("unknown command '.create-merge'"),
            "{e}"
        );
        let e = parse_err(".");
        assert!(
            e.message.starts_with("expected a command name after '.'"),
            "{e}"
        );
        let e = parse_err(". 'x'");
        assert!(e.message.contains("found a string literal"), "{e}");
        let e = parse_err(".5");
        assert!(
            e.message.starts_with("expected a command name after '.'"),
            "{e}"
        );
        let e = parse_err("._x");
        assert_eq!((e.line, e.column), (1, 1));
    }

    #[test]
    fn tokenizer_errors_are_reported_with_position() {
        let e = parse_err(".drop table T 'unterminated");
        assert!(e.message.to_lowercase().contains("unterminated"), "{e}");
        assert_eq!((e.line, e.column), (1, 15));
        let e = parse_err(".show tables /* open");
        assert_eq!(e.line, 1);
        let e = parse_err(".append T with (a='x) <| select 1");
        assert!(e.message.to_lowercase().contains("unterminated"), "{e}");
    }

    #[test]
    fn windows_line_endings() {
        let text = ".append T\r\n  with (a=1)\r\n<| select 1\r\n;\r\n";
        assert_eq!(
            parse(text),
            Command::Append {
                table: "T".into(),
                query: "select 1".into(),
                create_if_missing: false,
                properties: vec![prop("a", PropertyValue::Integer(1))],
            }
        );
        let e = parse_err(".create table T (\r\n a:lng)");
        assert_eq!((e.line, e.column), (2, 4));
    }

    fn secret(s: &str) -> SecretString {
        SecretString::new(s, true)
    }

    fn export(text: &str) -> ExportCommand {
        match parse(text) {
            Command::Export(e) => e,
            other => panic!("{text:?} parsed as {other:?}"),
        }
    }

    fn external(text: &str) -> ExternalTableDef {
        match parse(text) {
            Command::CreateExternalTable(d) => d,
            other => panic!("{text:?} parsed as {other:?}"),
        }
    }

    fn part(name: &str, kusto_type: KustoType, expr: PartitionExpr) -> PartitionDef {
        PartitionDef {
            name: name.to_string(),
            kusto_type,
            expr,
        }
    }

    /// Byte offset of the `n`-th (0-based) occurrence of `needle` as a
    /// 1-based character column on a one-line text.
    fn column_of(text: &str, needle: &str, n: usize) -> u64 {
        let offset = text
            .match_indices(needle)
            .nth(n)
            .unwrap_or_else(|| panic!("{needle:?} not in {text:?}"))
            .0;
        text[..offset].chars().count() as u64 + 1
    }

    #[test]
    fn export_kusto_example() {
        let text = ".export async compressed to csv (h@\"https://storage1.blob.core.windows.net/containerName;secretKey\", h@\"https://storage1.blob.core.windows.net/containerName2;secretKey\") with (sizeLimit=100000, namePrefix=export, includeHeaders=all, encoding=UTF8NoBOM) <| myLogs | where id == \"moshe\" | limit 10000";
        assert_eq!(
            parse(text),
            Command::Export(ExportCommand {
                is_async: true,
                compressed: true,
                target: ExportTarget::Storage {
                    format: DataFormat::Csv,
                    urls: vec![
                        secret("https://storage1.blob.core.windows.net/containerName;secretKey"),
                        secret("https://storage1.blob.core.windows.net/containerName2;secretKey"),
                    ],
                },
                properties: vec![
                    prop("sizeLimit", PropertyValue::Integer(100_000)),
                    prop("namePrefix", PropertyValue::Identifier("export".into())),
                    prop("includeHeaders", PropertyValue::Identifier("all".into())),
                    prop("encoding", PropertyValue::Identifier("UTF8NoBOM".into())),
                ],
                query: "myLogs | where id == \"moshe\" | limit 10000".into(),
            })
        );
        let debug = format!("{:?}", parse(text));
        assert!(!debug.contains("secretKey"), "{debug}");
    }

    #[test]
    fn export_to_storage_forms() {
        let e = export(".export to parquet ('/tmp/out') <| select 1");
        assert!(!e.is_async && !e.compressed);
        assert_eq!(
            e.target,
            ExportTarget::Storage {
                format: DataFormat::Parquet,
                urls: vec![plain("/tmp/out")]
            }
        );
        assert!(e.properties.is_empty());
        assert_eq!(e.query, "select 1");

        let e = export(".EXPORT ASYNC TO Json (@'C:\\out', \"s3://b/p\") <| T;");
        assert!(e.is_async && !e.compressed);
        assert_eq!(
            e.target,
            ExportTarget::Storage {
                format: DataFormat::Json,
                urls: vec![plain("C:\\out"), plain("s3://b/p")]
            }
        );
        let e = export(".export compressed to TSV ('a') <| T | take 10 ; ");
        assert!(!e.is_async && e.compressed);
        assert_eq!(e.query, "T | take 10");
        let ExportTarget::Storage { format, .. } = e.target else {
            panic!()
        };
        assert_eq!(format, DataFormat::Tsv);

        for (name, format) in [
            ("csv", DataFormat::Csv),
            ("tsv", DataFormat::Tsv),
            ("json", DataFormat::Json),
            ("parquet", DataFormat::Parquet),
            ("PARQUET", DataFormat::Parquet),
        ] {
            let e = export(&format!(".export to {name} ('x') <| select 1"));
            assert_eq!(
                e.target,
                ExportTarget::Storage {
                    format,
                    urls: vec![plain("x")]
                },
                "{name}"
            );
        }
        // The query is raw text: comments, quotes and `<|` inside are kept.
        let e = export(
            ".export to csv ('x')\n  with (a=1)\n<|\n  select 'a<|b' /* c */ from t -- end\n",
        );
        assert_eq!(e.query, "select 'a<|b' /* c */ from t");
        assert_eq!(e.properties, vec![prop("a", PropertyValue::Integer(1))]);
    }

    #[test]
    fn export_to_table() {
        assert_eq!(
            parse(".export async to table ExternalBlob <| T"),
            Command::Export(ExportCommand {
                is_async: true,
                compressed: false,
                target: ExportTarget::Table {
                    name: "ExternalBlob".into()
                },
                properties: vec![],
                query: "T".into(),
            })
        );
        let e = export(
            ".export compressed to TABLE ['ext t'] with (sizeLimit=1000, distribution='per_node') <| select * from src",
        );
        assert!(e.compressed);
        assert_eq!(
            e.target,
            ExportTarget::Table {
                name: "ext t".into()
            }
        );
        assert_eq!(e.properties.len(), 2);
        assert_eq!(e.query, "select * from src");
    }

    #[test]
    fn export_errors() {
        let text = ".export to xml ('x') <| T";
        let e = parse_err(text);
        assert_eq!(
            e.message,
            "unknown export format 'xml'; expected one of csv, tsv, json, parquet (or 'table <name>')"
        );
        assert_eq!((e.line, e.column), (1, column_of(text, "xml", 0)));

        let e = parse_err(".export to csv () <| T");
        assert!(
            e.message.starts_with("expected a storage URL string"),
            "{e}"
        );
        assert_eq!(e.column, 17);
        let e = parse_err(".export to csv ('x', '  ') <| T");
        assert_eq!(e.message, "storage URL must not be empty");
        assert_eq!(e.column, 22);
        let e = parse_err(".export to csv 'x' <| T");
        assert!(
            e.message
                .starts_with("expected '(' and a list of storage URLs after 'csv'"),
            "{e}"
        );
        let e = parse_err(".export to csv ('x' 'y') <| T");
        assert!(
            e.message
                .starts_with("expected ',' or ')' after storage URL"),
            "{e}"
        );
        let e = parse_err(".export csv ('x') <| T");
        assert!(e.message.starts_with("expected 'to <format> (...)'"), "{e}");
        assert_eq!(e.column, 9);
        let e = parse_err(".export compressed async to csv ('x') <| T");
        assert!(
            e.message
                .starts_with("'async' must come before 'compressed'"),
            "{e}"
        );
        assert_eq!(e.column, 20);
        let e = parse_err(".export to ('x') <| T");
        assert!(e.message.starts_with("expected an export format"), "{e}");
        let e = parse_err(".export to csv ('x')");
        assert!(
            e.message
                .starts_with("expected '<|' followed by a query (or 'with (...)' properties)"),
            "{e}"
        );
        let e = parse_err(".export to csv ('x') with (a=1) T");
        assert!(
            e.message.starts_with("expected '<|' followed by a query,"),
            "{e}"
        );
        let e = parse_err(".export to csv ('x') <|  ");
        assert_eq!(e.message, "expected a query after '<|'");
        let e = parse_err(".export to table <| T");
        assert!(
            e.message
                .starts_with("expected an external table name after 'to table'"),
            "{e}"
        );
        let e = parse_err(".export async async to csv ('x') <| T");
        assert!(e.message.starts_with("expected 'to"), "{e}");
    }

    const STORAGE_EXAMPLE: &str = ".create external table X (a:long, s:string, ts:datetime)
  kind = storage
  partition by (Region:string = s, Day:datetime = bin(ts, 1d), Hour:datetime = startofday(ts), Bucket:long = hash(a, 16), P:string)
  pathformat = (\"region=\" Region \"/\" datetime_pattern(\"yyyy/MM/dd\", Day) \"/\" Hour \"/b=\" Bucket \"/\" P)
  dataformat = parquet
  ( 'https://acct.blob.core.windows.net/c/x', h@'https://acct.blob.core.windows.net/c/y;KEY' )
  with (fileExtension='.parquet', includeHeaders='none')";

    #[test]
    fn external_table_storage_full() {
        assert_eq!(
            external(STORAGE_EXAMPLE),
            ExternalTableDef {
                name: "X".into(),
                mode: CreateMode::Create,
                columns: vec![
                    col("a", KustoType::Long),
                    col("s", KustoType::String),
                    col("ts", KustoType::Datetime),
                ],
                kind: ExternalTableKind::Storage,
                partitions: vec![
                    part(
                        "Region",
                        KustoType::String,
                        PartitionExpr::Column("s".into())
                    ),
                    part(
                        "Day",
                        KustoType::Datetime,
                        PartitionExpr::Bin {
                            column: "ts".into(),
                            step: BinStep::Timespan(Duration::from_secs(86_400)),
                        }
                    ),
                    part(
                        "Hour",
                        KustoType::Datetime,
                        PartitionExpr::StartOf {
                            column: "ts".into(),
                            unit: StartOfUnit::Day,
                        }
                    ),
                    part(
                        "Bucket",
                        KustoType::Long,
                        PartitionExpr::Hash {
                            column: "a".into(),
                            modulo: 16,
                        }
                    ),
                    part("P", KustoType::String, PartitionExpr::Column("P".into())),
                ],
                path_format: vec![
                    PathFormatPart::Literal("region=".into()),
                    PathFormatPart::Partition("Region".into()),
                    PathFormatPart::Literal("/".into()),
                    PathFormatPart::DatetimePattern {
                        pattern: "yyyy/MM/dd".into(),
                        partition: "Day".into(),
                    },
                    PathFormatPart::Literal("/".into()),
                    PathFormatPart::Partition("Hour".into()),
                    PathFormatPart::Literal("/b=".into()),
                    PathFormatPart::Partition("Bucket".into()),
                    PathFormatPart::Literal("/".into()),
                    PathFormatPart::Partition("P".into()),
                ],
                data_format: Some(DataFormat::Parquet),
                urls: vec![
                    plain("https://acct.blob.core.windows.net/c/x"),
                    secret("https://acct.blob.core.windows.net/c/y;KEY"),
                ],
                properties: vec![
                    prop("fileExtension", PropertyValue::String(plain(".parquet"))),
                    prop("includeHeaders", PropertyValue::String(plain("none"))),
                ],
            }
        );
    }

    #[test]
    fn external_table_kusto_examples() {
        let d = external(
            ".create external table ExternalTable (Timestamp:datetime, x:long, s:string)
kind=storage
partition by (Date:datetime = bin(Timestamp, 1d))
dataformat=csv
(
   h@'abfss://filesystem@storageaccount.dfs.core.windows.net/path;secretKey'
)",
        );
        assert_eq!(d.partitions.len(), 1);
        assert!(d.path_format.is_empty());
        assert_eq!(d.data_format, Some(DataFormat::Csv));
        assert_eq!(d.urls.len(), 1);
        assert!(d.urls[0].is_obfuscated());

        let d = external(
            ".create external table ExternalTable (Timestamp:datetime, CustomerName:string)
kind=storage
partition by (CustomerNamePart:string = CustomerName, Date:datetime = startofday(Timestamp))
pathformat = (\"customer_name=\" CustomerNamePart \"/\" datetime_pattern(\"yyyy/MM/dd\", Date))
dataformat=csv
(
   h@'https://storageaccount.blob.core.windows.net/container1;secretKey'
)
with (fileExtension = \".txt\")",
        );
        assert_eq!(
            d.path_format,
            vec![
                PathFormatPart::Literal("customer_name=".into()),
                PathFormatPart::Partition("CustomerNamePart".into()),
                PathFormatPart::Literal("/".into()),
                PathFormatPart::DatetimePattern {
                    pattern: "yyyy/MM/dd".into(),
                    partition: "Date".into()
                },
            ]
        );
        assert_eq!(
            d.properties,
            vec![prop("fileExtension", PropertyValue::String(plain(".txt")))]
        );

        // Virtual columns and a datetime_pattern without separators inside.
        let d = external(
            ".create external table ExternalTable (EventName:string, Revenue:double)
kind=storage
partition by (CustomerName:string, Date:datetime)
pathformat=(\"customer=\" CustomerName \"/date=\" datetime_pattern(\"yyyyMMdd\", Date))
dataformat=parquet
(
    h@'https://storageaccount.blob.core.windows.net/container1;secretKey'
)",
        );
        assert_eq!(
            d.partitions,
            vec![
                part(
                    "CustomerName",
                    KustoType::String,
                    PartitionExpr::Column("CustomerName".into())
                ),
                part(
                    "Date",
                    KustoType::Datetime,
                    PartitionExpr::Column("Date".into())
                ),
            ]
        );

        let d = external(
            ".create external table ExternalTable (Timestamp:datetime, CustomerName:string)
kind=storage
partition by (CustomerId:long = hash(CustomerName, 10), Date:datetime = startofday(Timestamp))
pathformat = (\"customer_id=\" CustomerId \"/dt=\" datetime_pattern(\"yyyyMMdd\", Date))
dataformat=parquet
(
   h@'https://storageaccount.blob.core.windows.net/container1;secretKey'
)",
        );
        assert_eq!(
            d.partitions[0].expr,
            PartitionExpr::Hash {
                column: "CustomerName".into(),
                modulo: 10
            }
        );
        let debug = format!("{d:?}");
        assert!(!debug.contains("secretKey"), "{debug}");
    }

    #[test]
    fn external_table_modes() {
        let body = "external table T (a:long) kind=storage dataformat=csv ('x')";
        for (prefix, mode) in [
            (".create", CreateMode::Create),
            (".CREATE", CreateMode::Create),
            (".create-or-alter", CreateMode::CreateOrAlter),
            (".Create-Or-Alter", CreateMode::CreateOrAlter),
            (".create or alter", CreateMode::CreateOrAlter),
            (".create  OR\n ALTER", CreateMode::CreateOrAlter),
            (".alter", CreateMode::Alter),
        ] {
            let d = external(&format!("{prefix} {body}"));
            assert_eq!(d.mode, mode, "{prefix}");
            assert_eq!(d.name, "T");
            assert_eq!(d.columns, vec![col("a", KustoType::Long)]);
            assert_eq!(d.kind, ExternalTableKind::Storage);
            assert!(d.partitions.is_empty() && d.path_format.is_empty());
            assert_eq!(d.data_format, Some(DataFormat::Csv));
            assert_eq!(d.urls, vec![plain("x")]);
            assert!(d.properties.is_empty());
        }
        // kind and dataformat values are case-insensitive; blob/adl are
        // deprecated Kusto aliases of storage.
        for kind in ["STORAGE", "Storage", "blob", "ADL"] {
            let d = external(&format!(
                ".create external table T (a:long) kind = {kind} dataformat = JSON ('x');"
            ));
            assert_eq!(d.kind, ExternalTableKind::Storage, "{kind}");
            assert_eq!(d.data_format, Some(DataFormat::Json));
        }
        // Startof units, numeric bins, int hash and quoted names.
        let d = external(
            ".create external table ['my ext'] (['a b']:long, ts:datetime, r:real) kind=storage \
             partition by (W:datetime = STARTOFWEEK(ts), M:date = startofmonth(['ts']), \
             Y:datetime = startofyear(ts), N:long = bin(['a b'], 1000), R:real = bin(r, 5), \
             H:int = Hash(r, 2147483647), D:datetime = bin(ts, 00:30:00), E:datetime = bin(ts, 1.5h)) \
             dataformat=parquet ('x')",
        );
        assert_eq!(d.name, "my ext");
        let exprs: Vec<PartitionExpr> = d.partitions.into_iter().map(|p| p.expr).collect();
        assert_eq!(
            exprs,
            vec![
                PartitionExpr::StartOf {
                    column: "ts".into(),
                    unit: StartOfUnit::Week
                },
                PartitionExpr::StartOf {
                    column: "ts".into(),
                    unit: StartOfUnit::Month
                },
                PartitionExpr::StartOf {
                    column: "ts".into(),
                    unit: StartOfUnit::Year
                },
                PartitionExpr::Bin {
                    column: "a b".into(),
                    step: BinStep::Number(1000)
                },
                PartitionExpr::Bin {
                    column: "r".into(),
                    step: BinStep::Number(5)
                },
                PartitionExpr::Hash {
                    column: "r".into(),
                    modulo: 2_147_483_647
                },
                PartitionExpr::Bin {
                    column: "ts".into(),
                    step: BinStep::Timespan(Duration::from_secs(1800))
                },
                PartitionExpr::Bin {
                    column: "ts".into(),
                    step: BinStep::Timespan(Duration::from_secs(5400))
                },
            ]
        );
    }

    #[test]
    fn external_table_delta() {
        assert_eq!(
            parse(".create-or-alter external table ExternalTable kind=delta (h@'https://storageaccount.blob.core.windows.net/container1;secretKey')"),
            Command::CreateExternalTable(ExternalTableDef {
                name: "ExternalTable".into(),
                mode: CreateMode::CreateOrAlter,
                columns: vec![],
                kind: ExternalTableKind::Delta,
                partitions: vec![],
                path_format: vec![],
                data_format: None,
                urls: vec![secret(
                    "https://storageaccount.blob.core.windows.net/container1;secretKey"
                )],
                properties: vec![],
            })
        );
        let d = external(
            ".create external table D (a:long, s:string) kind = DELTA ('/data/delta') with (docString='x')",
        );
        assert_eq!(d.kind, ExternalTableKind::Delta);
        assert_eq!(d.columns.len(), 2);
        assert_eq!(d.urls, vec![plain("/data/delta")]);
        assert_eq!(d.properties.len(), 1);
    }

    #[test]
    fn external_table_errors() {
        let check = |text: &str, message: &str, needle: &str, nth: usize| {
            let e = parse_err(text);
            assert!(e.message.starts_with(message), "{text}: {e}");
            assert_eq!(
                (e.line, e.column),
                (1, column_of(text, needle, nth)),
                "{text}: {e}"
            );
        };
        let ok_tail = "kind=storage dataformat=csv ('x')";
        check(
            ".create external table T kind=storage dataformat=csv ('x')",
            "a column list such as (a:long, s:string) is required before 'kind = storage'",
            "kind",
            0,
        );
        check(
            ".create external table T (a:long) dataformat=csv ('x')",
            "expected 'kind = storage' or 'kind = delta' after the column list, found 'dataformat'; \
             the clauses of an external table definition must come in this order",
            "dataformat",
            0,
        );
        check(
            ".create external table T ('x')",
            "expected a column name, found a string literal",
            "'x'",
            0,
        );
        check(
            ".create external table T with (a=1)",
            "expected a column list such as (a:long, s:string) or 'kind = storage|delta' after \
             the external table name, found 'with'; the clauses of an external table definition \
             must come in this order",
            "with",
            0,
        );
        let e = parse_err(".create external table T");
        assert!(e.message.ends_with("found end of input"), "{e}");
        assert_eq!(e.column, 25);
        check(
            ".create external table T (a:long) kind=sql ('x')",
            "unknown external table kind 'sql'; expected storage or delta",
            "sql",
            0,
        );
        check(
            ".create external table T (a:long) kind storage",
            "expected '=' after 'kind'",
            "storage",
            0,
        );
        check(
            ".create external table T (a:long) kind=storage ('x')",
            "expected 'dataformat = parquet|csv|tsv|json' (required for kind=storage)",
            "(",
            1,
        );
        check(
            ".create external table T (a:long) kind=storage dataformat=avro ('x')",
            "unknown data format 'avro'; expected one of csv, tsv, json, parquet",
            "avro",
            0,
        );
        check(
            ".create external table T (a:long) kind=storage dataformat=csv with (a=1)",
            "expected '(' and a list of storage URLs, e.g. ('https://...'), found 'with'; the \
             clauses of an external table definition must come in this order",
            "with",
            0,
        );
        check(
            ".create external table T (a:long) kind=storage dataformat=csv ()",
            "expected a storage URL string",
            ")",
            1,
        );
        check(
            ".create external table T (a:long) kind=storage dataformat=csv ('')",
            "storage URL must not be empty",
            "''",
            0,
        );
        // Clause order.
        check(
            ".create external table T (a:long) kind=storage dataformat=csv partition by (P:string) ('x')",
            "expected '(' and a list of storage URLs, e.g. ('https://...'), found 'partition'; the \
             clauses of an external table definition must come in this order: (columns) kind, \
             partition by, pathformat, dataformat, (urls), with",
            "partition",
            0,
        );
        check(
            ".create external table T (a:long) kind=storage pathformat=(\"a\" P) partition by (P:string) dataformat=csv ('x')",
            "'pathformat' requires a 'partition by' clause before it",
            "pathformat",
            0,
        );
        check(
            ".create external table T (a:long) kind=storage dataformat=csv ('x') with (a=1) extra",
            "unexpected 'extra' after '.create external table'",
            "extra",
            0,
        );
        // Delta restrictions.
        check(
            ".create external table T kind=delta dataformat=parquet ('x')",
            "'dataformat' is not allowed for kind=delta external tables (Delta tables are always parquet)",
            "dataformat",
            0,
        );
        check(
            ".create external table T kind=delta partition by (P:string = s) ('x')",
            "a kind=delta external table is partitioned by its own columns: write partition by (P:string), not an expression",
            "partition",
            0,
        );
        check(
            ".create external table T kind=delta partition by (D:datetime) ('x')",
            "Delta partition column 'D' is datetime; partition a Delta table by string, int, long, real, bool or decimal columns",
            "partition",
            0,
        );
        check(
            ".create external table T kind=delta pathformat=(\"a\") ('x')",
            "'pathformat' is not allowed for kind=delta external tables",
            "pathformat",
            0,
        );
        check(
            ".create external table T kind=delta ('x', 'y')",
            "a kind=delta external table takes exactly one URL",
            "(",
            0,
        );
        check(
            ".create external table T kind=delta with (a=1)",
            "expected '(' and the Delta table URL, e.g. ('https://...'), found 'with'",
            "with",
            0,
        );
        // Other commands.
        check(
            ".alter table T (a:long)",
            "expected 'external table' after '.alter'",
            "table",
            0,
        );
        check(
            ".create or alter table T (a:long)",
            "expected 'external table' or 'continuous-export' after '.create or alter'",
            "table",
            0,
        );
        check(
            ".create-or-alter external T (a:long)",
            "expected 'table' after '.create-or-alter external'",
            "T",
            0,
        );
        check(
            ".create external table T (a:long, a:string) kind=storage dataformat=csv ('x')",
            "duplicate column name 'a'",
            "a:",
            1,
        );
        let _ = ok_tail;
    }

    #[test]
    fn partition_errors() {
        let check = |partitions: &str, message: &str, needle: &str, nth: usize| {
            let text = format!(
                ".create external table T (a:long, s:string, ts:datetime) kind=storage \
                 partition by ({partitions}) dataformat=csv ('x')"
            );
            let e = parse_err(&text);
            assert!(e.message.starts_with(message), "{text}: {e}");
            assert_eq!(
                (e.line, e.column),
                (1, column_of(&text, needle, nth)),
                "{text}: {e}"
            );
        };
        check(
            "P:string, Q:long = a, P:datetime",
            "duplicate partition name 'P'",
            "P:",
            1,
        );
        check(
            "P string",
            "expected ':' and a type after partition 'P'",
            "string",
            1,
        );
        check(
            "P:text",
            "unknown type 'text' for partition 'P'; expected one of bool, int",
            "text",
            0,
        );
        check("P:", "expected a type for partition 'P'", ")", 1);
        check(
            "P:long = hash(a, 0)",
            "invalid hash modulo '0': the hash modulo must be an integer between 1 and 2147483647",
            "0",
            0,
        );
        check(
            "P:long = hash(a, 2147483648)",
            "invalid hash modulo '2147483648'",
            "2147483648",
            0,
        );
        check(
            "P:long = hash(a, -3)",
            "the hash modulo must be an integer between 1 and 2147483647",
            "-",
            0,
        );
        check(
            "P:long = hash(a, 1.5)",
            "invalid hash modulo '1.5'",
            "1.5",
            0,
        );
        check(
            "P:long = hash(a, 16x)",
            "invalid hash modulo '16x'",
            "16x",
            0,
        );
        check(
            "P:long = hash(a)",
            "expected ',' and a modulo after the column",
            ")",
            1,
        );
        check(
            "P:long = hash(a, b)",
            "expected a hash modulo such as 16",
            "b)",
            0,
        );
        check(
            "P:string = hash(a, 16)",
            "partition 'P': hash() produces a long, but the partition is declared as string",
            "hash",
            0,
        );
        check(
            "P:datetime = bin(ts, 0d)",
            "the bin size must be greater than zero",
            "0d",
            0,
        );
        check(
            "P:long = bin(a, 0)",
            "the bin size must be greater than zero",
            "0)",
            0,
        );
        check(
            "P:long = bin(a, -5)",
            "the bin size must be greater than zero",
            "-5",
            0,
        );
        check("P:datetime = bin(ts, 1x)", "invalid bin size '1x'", "1x", 0);
        check("P:long = bin(a, 1.5)", "invalid bin size '1.5'", "1.5", 0);
        check(
            "P:long = bin(a, 99999999999999999999)",
            "bin size 99999999999999999999 is out of range",
            "9999",
            0,
        );
        check("P:long = bin(a, x)", "expected a bin size", "x)", 0);
        check(
            "P:string = bin(ts, 1d)",
            "partition 'P': bin() produces a datetime, but the partition is declared as string",
            "1d",
            0,
        );
        check(
            "P:datetime = bin(a, 10)",
            "partition 'P': bin() produces a number (int, long, real or decimal), but the \
             partition is declared as datetime",
            "10",
            0,
        );
        check(
            "P:string = startofday(ts)",
            "partition 'P': startofday() produces a datetime, but the partition is declared as string",
            "startofday",
            0,
        );
        check(
            "P:datetime = startofhour(ts)",
            "unknown partition function 'startofhour'; expected bin, hash, startofday",
            "startofhour",
            0,
        );
        check(
            "P:datetime = startofday(ts, 1)",
            "expected ')' after the column of startofday()",
            ",",
            2,
        );
        check("P:string = 'x'", "expected a column name, bin(", "'x'", 0);
        check("P:string = ", "expected a column name, bin(", ")", 1);
        check(
            "P:string P2:string",
            "expected ',' or ')' after partition 'P'",
            "P2",
            0,
        );
        let e = parse_err(
            ".create external table T (a:long) kind=storage partition by () dataformat=csv ('x')",
        );
        assert!(
            e.message.starts_with("expected at least one partition"),
            "{e}"
        );
        let e = parse_err(
            ".create external table T (a:long) kind=storage partition (P:string) dataformat=csv ('x')",
        );
        assert!(
            e.message.starts_with("expected 'by' after 'partition'"),
            "{e}"
        );
    }

    #[test]
    fn path_format_errors() {
        let check = |path_format: &str, message: &str, needle: &str, nth: usize| {
            let text = format!(
                ".create external table T (a:long, ts:datetime) kind=storage \
                 partition by (R:string = a, D:datetime = startofday(ts)) \
                 pathformat = {path_format} dataformat=csv ('x')"
            );
            let e = parse_err(&text);
            assert!(e.message.starts_with(message), "{text}: {e}");
            assert_eq!(
                (e.line, e.column),
                (1, column_of(&text, needle, nth)),
                "{text}: {e}"
            );
        };
        check(
            "(\"r=\" R \"/\" X)",
            "pathformat refers to 'X', which is not a declared partition (declared: R, D)",
            "X",
            0,
        );
        check(
            "(\"r=\" R)",
            "partition 'D' does not appear in pathformat; every partition must be used in pathformat",
            "pathformat",
            0,
        );
        check(
            "()",
            "partition 'R' does not appear in pathformat",
            "pathformat",
            0,
        );
        check(
            "(R D)",
            "partition references in pathformat must be separated by a string such as \"/\"",
            "D)",
            0,
        );
        check(
            "(R \"\" datetime_pattern(\"yyyy\", D))",
            "partition references in pathformat must be separated",
            "datetime_pattern",
            0,
        );
        check(
            "(datetime_pattern(\"yyyy\", R) \"/\" D)",
            "datetime_pattern can only format a datetime partition; 'R' is declared as string",
            "R)",
            0,
        );
        check(
            "(\"/\" datetime_pattern(\"yyyy\", Z) \"/\" R)",
            "pathformat refers to 'Z', which is not a declared partition",
            "Z",
            0,
        );
        check(
            "(R \"/\" datetime_pattern(\"\", D))",
            "the datetime_pattern format must not be empty",
            "\"\"",
            0,
        );
        check(
            "(R \"/\" datetime_pattern(D))",
            "expected a format string such as \"yyyy/MM/dd\" in datetime_pattern",
            "D))",
            0,
        );
        check(
            "(R \"/\" datetime_pattern(\"yyyy\" D))",
            "expected ',' and a partition name after the datetime_pattern format",
            "D))",
            0,
        );
        check(
            "(R \"/\" datetime_pattern(\"yyyy\", D, 1))",
            "expected ')' after the partition name of datetime_pattern",
            ", 1",
            0,
        );
        check(
            "(R, \"/\", D)",
            "expected a string, a partition name, datetime_pattern(...) or ')' in pathformat",
            ",",
            2,
        );
        check(
            "(h'/' R \"/\" D)",
            "obfuscated strings (h'...') are not allowed in pathformat",
            "h'",
            0,
        );
        check("\"r=\" R", "expected '(' after 'pathformat ='", "\"r=\"", 0);
        check(
            "(\"r=\" R \"/\" D",
            "expected ')' to close pathformat",
            "dataformat",
            0,
        );
        // Literals may be adjacent, partitions may repeat, leading/trailing
        // separators are allowed.
        let d = external(
            ".create external table T (a:long, ts:datetime) kind=storage \
             partition by (R:string = a, D:datetime = startofday(ts)) \
             pathformat = (\"/\" \"r=\" R \"/y=\" datetime_pattern('yyyy', D) \"/m=\" \
             datetime_pattern(@'MM', D) \"/\" D '/') dataformat=csv ('x')",
        );
        assert_eq!(
            d.path_format,
            vec![
                PathFormatPart::Literal("/".into()),
                PathFormatPart::Literal("r=".into()),
                PathFormatPart::Partition("R".into()),
                PathFormatPart::Literal("/y=".into()),
                PathFormatPart::DatetimePattern {
                    pattern: "yyyy".into(),
                    partition: "D".into()
                },
                PathFormatPart::Literal("/m=".into()),
                PathFormatPart::DatetimePattern {
                    pattern: "MM".into(),
                    partition: "D".into()
                },
                PathFormatPart::Literal("/".into()),
                PathFormatPart::Partition("D".into()),
                PathFormatPart::Literal("/".into()),
            ]
        );
    }

    #[test]
    fn drop_and_show_external_tables() {
        assert_eq!(
            parse(".drop external table T"),
            Command::DropExternalTable {
                name: "T".into(),
                if_exists: false
            }
        );
        assert_eq!(
            parse(".DROP EXTERNAL TABLE ['x y'] IfExists;"),
            Command::DropExternalTable {
                name: "x y".into(),
                if_exists: true
            }
        );
        assert_eq!(
            parse(".drop external table T if exists"),
            Command::DropExternalTable {
                name: "T".into(),
                if_exists: true
            }
        );
        assert_eq!(parse(".show external tables"), Command::ShowExternalTables);
        assert_eq!(parse(".Show External Tables;"), Command::ShowExternalTables);
        for text in [
            ".show external table T",
            ".show external table T schema",
            ".show EXTERNAL table T CslSchema;",
        ] {
            assert_eq!(
                parse(text),
                Command::ShowExternalTable { name: "T".into() },
                "{text}"
            );
        }
        let e = parse_err(".show external table T artifacts");
        assert!(
            e.message.starts_with(
                "expected 'schema', 'cslschema' or the end of the command after the external \
                 table name"
            ),
            "{e}"
        );
        assert_eq!(e.column, 24);
        let e = parse_err(".show external T");
        assert!(
            e.message
                .starts_with("expected 'tables' or 'table <name>' after '.show external'"),
            "{e}"
        );
        let e = parse_err(".drop external T");
        assert!(
            e.message
                .starts_with("expected 'table' after '.drop external'"),
            "{e}"
        );
        let e = parse_err(".drop external table T now");
        assert!(
            e.message
                .contains("unexpected 'now' after '.drop external table <name> [ifexists]'"),
            "{e}"
        );
    }

    #[test]
    fn show_operations() {
        assert_eq!(parse(".show operations"), Command::ShowOperations);
        assert_eq!(parse(".SHOW OPERATIONS ;"), Command::ShowOperations);
        let id = "f008dc1e-2710-47d8-8d34-0d562f5f8615";
        let cases = [
            (format!(".show operation {id}"), false),
            (format!(".show operation {id} details"), true),
            (format!(".show operation '{id}' Details;"), true),
            (format!(".show operation \"{id}\""), false),
            (format!(".show operations {id}"), false),
            (
                format!(".show operation {} details", id.to_uppercase()),
                true,
            ),
            (format!(".show operation {id} // comment"), false),
            // ids whose tokens look like numbers with exponents
            (
                ".show operation 12345678-47e8-8d34-1e10-0d562f5f8615".to_string(),
                false,
            ),
        ];
        for (text, details) in &cases {
            let Command::ShowOperation {
                id: got,
                details: d,
            } = parse(text)
            else {
                panic!("{text}")
            };
            assert_eq!(d, *details, "{text}");
            assert!(is_guid(&got), "{text}: {got}");
            assert_eq!(got, got.to_ascii_lowercase());
            if !text.contains("12345678") {
                assert_eq!(got, id, "{text}");
            }
        }
        let bad = [
            (".show operation f008dc1e-2710-47d8-8d34", "f008dc1e"),
            (
                ".show operation f008dc1e-2710-47d8-8d34-0d562f5f861g",
                "f008dc1e",
            ),
            (".show operation 42", "42"),
            (".show operation x-y details", "x-y"),
            (
                ".show operation f008dc1e-2710-47d8-8d34-0d562f5f8615-00",
                "f008dc1e",
            ),
        ];
        for (text, at) in bad {
            let e = parse_err(text);
            assert!(e.message.starts_with("invalid operation id '"), "{e}");
            assert!(
                e.message
                    .ends_with("expected a GUID such as 00000000-0000-0000-0000-000000000000"),
                "{e}"
            );
            assert_eq!(e.column, column_of(text, at, 0), "{text}");
        }
        // The value of a quoted id is not repeated.
        let e = parse_err(".show operation 'nope'");
        assert_eq!(
            e.message,
            "invalid operation id: expected a GUID such as 00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(e.column, 17);
        let e = parse_err(".show operation");
        assert!(e.message.starts_with("expected an operation id"), "{e}");
        assert!(e.message.contains("found end of input"), "{e}");
        let e = parse_err(".show operation (x)");
        assert!(e.message.starts_with("expected an operation id"), "{e}");
        let e = parse_err(&format!(".show operation {id} details please"));
        assert!(e.message.contains("unexpected 'please'"), "{e}");
        let e = parse_err(&format!(".show operations {id} details"));
        assert!(e.message.contains("unexpected 'details'"), "{e}");
        // A space inside the id splits it.
        let e = parse_err(".show operation f008dc1e-2710 -47d8-8d34-0d562f5f8615");
        assert!(
            e.message
                .starts_with("invalid operation id 'f008dc1e-2710'"),
            "{e}"
        );
    }

    #[test]
    fn continuous_export_create() {
        assert_eq!(
            parse(".create-or-alter continuous-export MyExport over (T1, ['T 2']) to table ExtT with (intervalBetweenRuns=1h, forcedLatency=10m, sizeLimit=104857600) <| T1 | join T2 on x"),
            Command::CreateOrAlterContinuousExport {
                name: "MyExport".into(),
                over: Some(vec!["T1".into(), "T 2".into()]),
                external_table: "ExtT".into(),
                properties: vec![
                    prop("intervalBetweenRuns", PropertyValue::Timespan(Duration::from_secs(3600))),
                    prop("forcedLatency", PropertyValue::Timespan(Duration::from_secs(600))),
                    prop("sizeLimit", PropertyValue::Integer(104_857_600)),
                ],
                query: "T1 | join T2 on x".into(),
            }
        );
        assert_eq!(
            parse(".CREATE-OR-ALTER Continuous-Export E to TABLE X <| select * from t;"),
            Command::CreateOrAlterContinuousExport {
                name: "E".into(),
                over: None,
                external_table: "X".into(),
                properties: vec![],
                query: "select * from t".into(),
            }
        );
        let Command::CreateOrAlterContinuousExport { name, .. } =
            parse(".create or alter continuous-export E to table X <| select 1")
        else {
            panic!()
        };
        assert_eq!(name, "E");

        let e = parse_err(".create-or-alter continuous-export E over () to table X <| T");
        assert!(
            e.message
                .starts_with("expected at least one table name in 'over (...)'"),
            "{e}"
        );
        assert_eq!(e.column, 44);
        let e = parse_err(".create-or-alter continuous-export E over (A, A) to table X <| T");
        assert_eq!(e.message, "table 'A' is listed twice in 'over (...)'");
        assert_eq!(e.column, 47);
        let e = parse_err(".create-or-alter continuous-export E to X <| T");
        assert!(
            e.message.starts_with("expected 'table <external table>'"),
            "{e}"
        );
        let e = parse_err(".create-or-alter continuous-export E table X <| T");
        assert!(
            e.message
                .starts_with("expected 'over (...)' or 'to table <external table>'"),
            "{e}"
        );
        let e = parse_err(".create-or-alter continuous-export E over (A) table X <| T");
        assert!(e.message.starts_with("expected 'to table"), "{e}");
        let e = parse_err(".create-or-alter continuous-export E over A to table X <| T");
        assert!(e.message.starts_with("expected '(' and table names"), "{e}");
        let e = parse_err(".create-or-alter continuous-export E over (A B) to table X <| T");
        assert!(
            e.message
                .starts_with("expected ',' or ')' after table name"),
            "{e}"
        );
        let e = parse_err(".create-or-alter continuous-export E to table X");
        assert!(
            e.message.starts_with("expected '<|' followed by a query"),
            "{e}"
        );
        let e = parse_err(".create-or-alter continuous-export E to table X <| ;");
        assert_eq!(e.message, "expected a query after '<|'");
        let e = parse_err(".create-or-alter continuous - export E to table X <| T");
        assert!(
            e.message
                .starts_with("expected 'external table' or 'continuous-export'"),
            "{e}"
        );
        let e = parse_err(".create-or-alter table T (a:long)");
        assert!(
            e.message.starts_with(
                "expected 'external table' or 'continuous-export' after '.create-or-alter'"
            ),
            "{e}"
        );
        assert_eq!(e.column, 18);
    }

    #[test]
    fn continuous_export_management() {
        let name = || "E".to_string();
        let cases = [
            (".show continuous-exports", Command::ShowContinuousExports),
            (".SHOW CONTINUOUS-EXPORTS;", Command::ShowContinuousExports),
            (
                ".show continuous-export E",
                Command::ShowContinuousExport { name: name() },
            ),
            (
                ".show continuous-export E exported-artifacts",
                Command::ShowExportedArtifacts {
                    name: name(),
                    since: None,
                    take: None,
                },
            ),
            (
                ".show continuous-export E Exported-Artifacts ;",
                Command::ShowExportedArtifacts {
                    name: name(),
                    since: None,
                    take: None,
                },
            ),
            (
                ".show continuous-export E exported-artifacts since 2h | take 10",
                Command::ShowExportedArtifacts {
                    name: name(),
                    since: Some(Since::Ago(Duration::from_secs(7200))),
                    take: Some(10),
                },
            ),
            (
                ".show continuous-export E exported-artifacts since '2026-12-01 10:00:00' | LIMIT 0",
                Command::ShowExportedArtifacts {
                    name: name(),
                    since: Some(Since::At(
                        chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
                            .unwrap()
                            .to_utc(),
                    )),
                    take: Some(0),
                },
            ),
            (
                ".show continuous-export E exported-artifacts since '2026-12-01T10:00:00+01:00'",
                Command::ShowExportedArtifacts {
                    name: name(),
                    since: Some(Since::At(
                        chrono::DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
                            .unwrap()
                            .to_utc(),
                    )),
                    take: None,
                },
            ),
            (
                ".show continuous-export E failures",
                Command::ShowContinuousExportFailures { name: name() },
            ),
            (
                ".enable continuous-export E",
                Command::EnableContinuousExport { name: name() },
            ),
            (
                ".disable continuous-export E",
                Command::DisableContinuousExport { name: name() },
            ),
            (
                ".Run Continuous-Export E;",
                Command::RunContinuousExport { name: name() },
            ),
            (
                ".drop continuous-export E",
                Command::DropContinuousExport {
                    name: name(),
                    if_exists: false,
                },
            ),
            (
                ".drop continuous-export E ifexists",
                Command::DropContinuousExport {
                    name: name(),
                    if_exists: true,
                },
            ),
            (
                ".drop continuous-export ['E'] if exists",
                Command::DropContinuousExport {
                    name: name(),
                    if_exists: true,
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), expected, "{text}");
        }
        let e = parse_err(".show continuous-export E artifacts");
        assert!(
            e.message
                .starts_with("expected 'exported-artifacts', 'failures' or the end of the command"),
            "{e}"
        );
        assert_eq!(e.column, 27);
        let e = parse_err(".show continuous-export E exported - artifacts");
        assert!(
            e.message.starts_with("expected 'exported-artifacts'"),
            "{e}"
        );
        let e = parse_err(".enable E");
        assert_eq!(
            e.message,
            "expected 'continuous-export <name>' after '.enable', found 'E'"
        );
        assert_eq!(e.column, 9);
        let e = parse_err(".run continuous-exports E");
        assert!(
            e.message
                .starts_with("expected 'continuous-export <name>' after '.run'"),
            "{e}"
        );
        let e = parse_err(".disable continuous-export");
        assert!(
            e.message.starts_with(
                "expected a continuous export name after '.disable continuous-export'"
            ),
            "{e}"
        );
        let e = parse_err(".run continuous-export E now");
        assert!(
            e.message
                .contains("unexpected 'now' after '.run continuous-export <name>'"),
            "{e}"
        );
        let e = parse_err(".show continuous-exports E");
        assert!(e.message.contains("unexpected 'E'"), "{e}");
        let e = parse_err(".show continuous-export");
        assert!(e.message.contains("found end of input"), "{e}");
    }

    #[test]
    fn external_table_def_serde_round_trip() {
        let def = external(STORAGE_EXAMPLE);
        let json = serde_json::to_string(&def).unwrap();
        let back: ExternalTableDef = serde_json::from_str(&json).unwrap();
        assert_eq!(back, def);
        // Obfuscation survives the round trip; Debug stays redacted.
        assert!(back.urls[1].is_obfuscated());
        assert!(!format!("{back:?}").contains("KEY"));
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["mode"], "create");
        assert_eq!(value["kind"], "storage");
        assert_eq!(value["data_format"], "parquet");
        assert_eq!(value["columns"][0]["kusto_type"], "long");
        assert_eq!(value["partitions"][0]["expr"]["column"], "s");
        assert_eq!(
            value["partitions"][1]["expr"]["bin"]["step"]["timespan"]["secs"],
            86_400
        );
        assert_eq!(value["partitions"][2]["expr"]["start_of"]["unit"], "day");
        assert_eq!(value["partitions"][3]["expr"]["hash"]["modulo"], 16);
        assert_eq!(value["path_format"][1]["partition"], "Region");
        assert_eq!(
            value["path_format"][3]["datetime_pattern"]["pattern"],
            "yyyy/MM/dd"
        );
        assert_eq!(
            value["urls"][1],
            serde_json::json!({"value": "https://acct.blob.core.windows.net/c/y;KEY", "obfuscated": true})
        );
        let delta =
            external(".alter external table D kind=delta ('/d') with (x=1.5, y=true, z=10m, w=id)");
        let back: ExternalTableDef =
            serde_json::from_str(&serde_json::to_string(&delta).unwrap()).unwrap();
        assert_eq!(back, delta);
        let e = export(".export to table X with (a=h'sec') <| T");
        let back: ExportCommand =
            serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn new_commands_never_leak_secrets() {
        let secret = "SUPERSECRETVALUE";
        let texts = [
            format!(".export to csv (h'https://a/b;{secret}') <| T"),
            format!(".export to parquet ('https://a/b?sv=1&sig={secret}') with (k=h'{secret}') <| T"),
            format!(".create external table T (a:long) kind=storage dataformat=csv (h@'https://a/c;{secret}')"),
            format!(".create external table T kind=delta ('https://user:{secret}@host/x')"),
            format!(".create-or-alter continuous-export E to table X with (token=h\"{secret}\") <| T"),
        ];
        for text in &texts {
            let command = parse(text);
            assert!(!format!("{command:?}").contains(secret), "{command:?}");
            assert!(!format!("{command:#?}").contains(secret), "{command:#?}");
        }
        let broken = [
            format!(".export to xml (h'{secret}') <| T"),
            format!(".export to csv (h'{secret}' h'{secret}') <| T"),
            format!(".export to csv (h'{secret}')"),
            format!(".export to csv ('https://a/b;{secret}') h'{secret}' <| T"),
            format!(".create external table T (a:long) kind=storage dataformat=csv (h'{secret}') h'{secret}'"),
            format!(".create external table T kind=delta (h'{secret}', h'{secret}')"),
            format!(".create external table T kind=delta dataformat=csv (h'{secret}')"),
            format!(".create external table T (a:long) kind=storage (h'{secret}')"),
            format!(".create external table T (a:long) kind=storage partition by (P:string) pathformat=(h'{secret}' P) dataformat=csv ('x')"),
            format!(".create external table T (a:long) kind=storage partition by (P:datetime) pathformat=(datetime_pattern(h'{secret}', P)) dataformat=csv ('x')"),
            format!(".show operation '{secret}'"),
            format!(".show operation h'{secret}'"),
            format!(".create-or-alter continuous-export E over (h'{secret}') to table X <| T"),
            format!(".drop continuous-export h'{secret}'"),
        ];
        for text in &broken {
            let e = parse_err(text);
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
    }

    #[test]
    fn multiline_positions() {
        let text =
            ".create external table X (a:long)\n  kind = storage\n  dataformat = avro\n  ('x')";
        let e = parse_err(text);
        assert_eq!((e.line, e.column), (3, 16));
        let text = ".create external table X (a:long, ts:datetime)\r\n kind=storage\r\n partition by (D:datetime = startofday(ts))\r\n pathformat = (\"d=\" Z)\r\n dataformat=csv ('x')";
        let e = parse_err(text);
        assert_eq!((e.line, e.column), (4, 21));
        let text = "// leading\n.show operation\n  1234";
        let e = parse_err(text);
        assert_eq!((e.line, e.column), (3, 3));
    }

    const VALID: &[&str] = &[
        ".show tables",
        ".show table T",
        ".show table ['x y'] schema",
        ".show table T extents;",
        ".drop table T ifexists",
        ".drop table \"T\" if exists",
        ".create table T (a:long, ['b c']:string, d:datetime)",
        ".append T with (a=1, b='x', c=true, d=10m, e=csv, f=00:10:00) <| select 1",
        ".set-or-append T <| select 'é😀' from t",
        ".ingest into table T ('https://a/b.csv', h'https://c?sig=x', @'C:\\x', h@\"y\") with (format=csv, z=-1.5)",
        ".export async compressed to csv (h@\"https://s.blob.core.windows.net/c;k\", 'x') with (sizeLimit=100000, namePrefix=export) <| myLogs | where id == \"moshe\" | limit 10000",
        ".export to table Ext with (a=1) <| select 1",
        ".create external table X (a:long, s:string, ts:datetime) kind = storage partition by (Region:string = s, Day:datetime = bin(ts, 1d), Hour:datetime = startofday(ts), Bucket:long = hash(a, 16), P:string, N:long = bin(a, 10)) pathformat = (\"region=\" Region \"/\" datetime_pattern(\"yyyy/MM/dd\", Day) \"/\" Hour \"/\" Bucket \"/\" P \"/\" N) dataformat = parquet ('u1', h@'u2') with (fileExtension='.p', includeHeaders='none')",
        ".create-or-alter external table D kind=delta ('/d') with (x=1)",
        ".create or alter external table D (a:long) kind=delta ('/d')",
        ".alter external table ['x'] (a:long) kind=storage dataformat=csv ('u')",
        ".drop external table X ifexists",
        ".show external tables",
        ".show external table X cslschema",
        ".show operations",
        ".show operation f008dc1e-2710-47d8-8d34-0d562f5f8615 details",
        ".show operation 'f008dc1e-2710-47d8-8d34-0d562f5f8615'",
        ".create-or-alter continuous-export E over (T1, T2) to table X with (intervalBetweenRuns=1h) <| T1 | join T2",
        ".show continuous-exports",
        ".show continuous-export E exported-artifacts",
        ".show continuous-export E failures",
        ".enable continuous-export E",
        ".disable continuous-export E",
        ".drop continuous-export E ifexists",
        ".run continuous-export E",
        "/* c */ .show tables // x",
        "select 1",
    ];

    #[test]
    fn valid_commands_parse() {
        for text in VALID {
            parse(text);
        }
    }

    #[test]
    fn no_panic_on_prefixes_and_mutations() {
        for text in VALID {
            for (i, _) in text.char_indices() {
                let _ = parse_command(&text[..i]);
                let _ = parse_command(&text[i..]);
                let mut mutated = String::from(&text[..i]);
                mutated.push_str("'\u{1F600}");
                mutated.push_str(&text[i..]);
                let _ = parse_command(&mutated);
            }
        }
    }

    #[test]
    fn no_panic_on_random_input() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u32
        };
        let pieces = [
            ".",
            "show",
            "table",
            "tables",
            "create",
            "drop",
            "append",
            "set-or-append",
            "ingest",
            "into",
            "with",
            "ifexists",
            "extents",
            "schema",
            "T",
            "(",
            ")",
            "[",
            "]",
            ",",
            ":",
            "=",
            "<|",
            "<",
            "|",
            "'x'",
            "h'",
            "h@",
            "@",
            "\"",
            "'",
            "`",
            ";",
            "--",
            "//",
            "/*",
            "*/",
            "/*!",
            "\n",
            "\r\n",
            " ",
            "\t",
            "1",
            "10m",
            "1.5",
            "00:10:00",
            "-",
            "é",
            "日本",
            "😀",
            "long",
            "string",
            "lng",
            "true",
            "_",
            "$",
            "#",
            "\\",
            "e'",
            "N'",
            "x'",
            "$$",
            "?",
            "\u{0}",
            "\u{feff}",
            "\u{2028}",
            "export",
            "async",
            "compressed",
            "to",
            "csv",
            "parquet",
            "external",
            "kind",
            "storage",
            "delta",
            "partition",
            "by",
            "pathformat",
            "dataformat",
            "datetime_pattern(",
            "bin(",
            "hash(",
            "startofday(",
            "1d",
            "16",
            "2147483648",
            "0",
            "alter",
            "or",
            "create-or-alter",
            "continuous-export",
            "continuous-exports",
            "exported-artifacts",
            "failures",
            "over",
            "enable",
            "run",
            "operation",
            "operations",
            "details",
            "f008dc1e-2710-47d8-8d34-0d562f5f8615",
            "f008dc1e",
            "'yyyy'",
            "D:datetime",
        ];
        for _ in 0..5000 {
            let n = (next() % 16) as usize;
            let mut text = String::new();
            if next() % 2 == 0 {
                text.push('.');
            }
            for _ in 0..n {
                text.push_str(pieces[(next() as usize) % pieces.len()]);
                if next() % 3 == 0 {
                    text.push(' ');
                }
            }
            if let Err(e) = parse_command(&text) {
                assert!(e.line >= 1 && e.column >= 1, "{text:?}: {e:?}");
            }
            let len = (next() % 48) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = parse_command(&String::from_utf8_lossy(&bytes));
            let mut dotted = String::from(".");
            dotted.push_str(&String::from_utf8_lossy(&bytes));
            let _ = parse_command(&dotted);
        }
    }
}
