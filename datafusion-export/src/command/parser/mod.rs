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

use super::ast::{Command, CreateMode};
use super::error::ParseError;
use super::lexer::{lex, LexError, Lexed, Tok};

mod continuous;
mod database;
mod export;
mod external_table;
mod ingest;
mod partitions;
mod path_format;
mod show;
mod tables;
mod values;

#[cfg(test)]
mod cross_cutting_tests;
#[cfg(test)]
mod test_util;

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
.merge [async] <table> [(<extent id>, ...)], \
.alter table <name> policy merge '<json>', .alter database policy merge '<json>', \
.show table <name> policy merge, .show database policy merge, \
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
    let pipe = top_level_pipe(&lexed);
    match Parser::new(text, lexed).parse() {
        Ok(command) => Ok(command),
        // `.show operations | where State == "Failed"`: a command, then KQL operators
        // (a command that takes `|` itself, as `exported-artifacts | take N`, parsed
        // above).
        Err(error) => match pipe {
            Some(at) => piped(text, at),
            None => Err(error),
        },
    }
}

/// The offset of the first `|` outside parentheses, unless `<|` comes first (then
/// every `|` belongs to the command's query).
fn top_level_pipe(lexed: &Lexed) -> Option<usize> {
    let mut depth = 0usize;
    let mut previous: Option<&Tok> = None;
    for t in lexed.tokens.iter().filter(|t| !t.is_trivia()) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Pipe => {
                let after_lt =
                    previous.is_some_and(|p| matches!(p.token, Token::Lt) && p.end == t.start);
                if after_lt {
                    return None;
                }
                if depth == 0 {
                    return Some(t.start);
                }
            }
            _ => {}
        }
        previous = Some(t);
    }
    None
}

/// `<command> | <pipeline>` split at byte `at` (the `|`).
fn piped(text: &str, at: usize) -> Result<Command, ParseError> {
    let head = text.get(..at).unwrap_or("");
    let tail = text.get(at + 1..).unwrap_or("");
    let command = parse_command(head)?;
    // Check the pipeline now, with positions in the whole text: the command's part
    // is blanked out (newlines kept) so lines and columns line up.
    let blanked: String = head
        .chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .chain(std::iter::once('|'))
        .chain(tail.chars())
        .collect();
    super::kql::parse_pipeline(&blanked)?;
    Ok(Command::Piped {
        command: Box::new(command),
        pipeline: clean_pipeline(tail),
    })
}

/// The pipeline text, trimmed, without trailing `;`.
fn clean_pipeline(tail: &str) -> String {
    tail.trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
        .to_string()
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

/// A cursor over the significant tokens of one management command.
///
/// The cursor helpers and the top-level dispatch are defined here; the methods
/// that parse each command family are `impl Parser<'_>` blocks in the
/// submodules (`tables`, `ingest`, `export`, `external_table`, `partitions`,
/// `path_format`, `continuous`, `show`, `database`, `values`).
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
            "merge" => self.parse_merge(),
            _ => Err(self.error_at(
                first.start,
                format!(
                    "unknown command '.{}'; supported commands: {SUPPORTED_COMMANDS}",
                    truncate(&name)
                ),
            )),
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
        self.parse_create_table()
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
            return self.parse_alter_database();
        }
        if self.peek_keyword("table") {
            // `.alter table T policy merge …`; anything else after `.alter table` is
            // reported as before (only external tables are altered).
            let saved = self.pos;
            self.advance();
            if let Ok((table, _)) = self.parse_name("a table name after '.alter table'") {
                if self.peek_keyword("policy") {
                    self.advance();
                    let policy =
                        self.parse_merge_policy_text(".alter table <name> policy merge")?;
                    return Ok(Command::AlterMergePolicy {
                        table: Some(table),
                        policy,
                    });
                }
            }
            self.pos = saved;
        }
        self.expect_keyword("external", "expected 'external table' after '.alter'")?;
        self.parse_external_table(CreateMode::Alter, ".alter")
    }

    fn parse_drop(&mut self) -> Result<Command, ParseError> {
        if self.peek_keyword("external") {
            self.advance();
            return self.parse_drop_external_table();
        }
        if self.accept_compound("continuous-export") {
            return self.parse_drop_continuous_export();
        }
        self.expect_keyword(
            "table",
            "expected 'table', 'external table' or 'continuous-export' after '.drop'",
        )?;
        self.parse_drop_table()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{parse, parse_err, prop};
    use crate::command::ast::{Command, PropertyValue};

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
}
