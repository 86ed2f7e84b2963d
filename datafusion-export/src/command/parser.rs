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
//! <props>  := <prop-name> = <value> [, ...]
//! <value>  := <string> | true | false | [-]<number> | <timespan> | <identifier>
//! <string> := 'x' | "x" | @'x' | @"x" | h'x' | h"x" | h@'x' | h@"x"
//! ```
//!
//! String literals follow the SQL tokenizer: a quote inside a literal is
//! written twice (`'it''s'`) and backslashes are kept as they are. Comments
//! (`--`, `//`, `/* */`) may appear between tokens.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::ast::{
    parse_timespan, ColumnDef, Command, KustoType, Property, PropertyValue, SecretString,
};
use super::error::ParseError;
use super::lexer::{lex, LexError, Lexed, Tok};

/// The supported command forms, listed in "unknown command" errors.
pub const SUPPORTED_COMMANDS: &str = ".create table <name> (<col>:<type>, ...), \
.drop table <name> [ifexists], .show tables, .show table <name> [schema|extents], \
.append <name> [with (...)] <| <query>, .set-or-append <name> [with (...)] <| <query>, \
.ingest into table <name> ('<url>', ...) [with (...)]";

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
            "drop" => self.parse_drop(),
            "show" => self.parse_show(),
            "append" => self.parse_append(false),
            "set-or-append" => self.parse_append(true),
            "ingest" => self.parse_ingest(),
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
        self.expect_keyword(
            "table",
            "expected 'table' after '.create' (only '.create table' is supported)",
        )?;
        let (name, _) = self.parse_name("a table name after '.create table'")?;
        self.expect(
            |t| matches!(t, Token::LParen),
            "expected '(' and a column list after the table name, e.g. (a:long, s:string)",
        )?;
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
            let Some(type_tok) = self
                .peek()
                .filter(|t| bare_word(&t.token).is_some())
                .cloned()
            else {
                return Err(self.unexpected(&format!(
                    "expected a type for column '{}'; expected one of {}",
                    truncate(&column),
                    KustoType::expected_list()
                )));
            };
            let type_name = bare_word(&type_tok.token).unwrap_or_default();
            let Some(kusto_type) = KustoType::from_name(type_name) else {
                return Err(self.error_at(
                    type_tok.start,
                    format!(
                        "unknown type '{}' for column '{}'; expected one of {}",
                        truncate(type_name),
                        truncate(&column),
                        KustoType::expected_list()
                    ),
                ));
            };
            self.advance();
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
        self.expect_end("'.create table'")?;
        Ok(Command::CreateTable { name, columns })
    }

    fn parse_drop(&mut self) -> Result<Command, ParseError> {
        self.expect_keyword(
            "table",
            "expected 'table' after '.drop' (only '.drop table' is supported)",
        )?;
        let (name, _) = self.parse_name("a table name after '.drop table'")?;
        let mut if_exists = false;
        if self.peek_keyword("ifexists") {
            self.advance();
            if_exists = true;
        } else if self.peek_keyword("if")
            && self
                .peek_nth(1)
                .is_some_and(|t| is_keyword(&t.token, "exists"))
        {
            self.pos += 2;
            if_exists = true;
        }
        self.expect_end("'.drop table <name> [ifexists]'")?;
        Ok(Command::DropTable { name, if_exists })
    }

    fn parse_show(&mut self) -> Result<Command, ParseError> {
        if self.peek_keyword("tables") {
            self.advance();
            self.expect_end("'.show tables'")?;
            return Ok(Command::ShowTables);
        }
        self.expect_keyword("table", "expected 'tables' or 'table <name>' after '.show'")?;
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

    fn parse_append(&mut self, create_if_missing: bool) -> Result<Command, ParseError> {
        let command = if create_if_missing {
            ".set-or-append"
        } else {
            ".append"
        };
        let (table, _) = self.parse_name(&format!("a table name after '{command}'"))?;
        let properties = if self.peek_keyword("with") {
            self.parse_properties()?
        } else {
            Vec::new()
        };
        let arrow = self
            .peek()
            .filter(|t| {
                matches!(t.token, Token::Lt) && self.text.get(t.start..t.start + 2) == Some("<|")
            })
            .map(|t| t.start);
        let Some(arrow) = arrow else {
            let expected = if properties.is_empty() {
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
        Ok(Command::Append {
            table,
            query,
            create_if_missing,
            properties,
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
        let properties = if self.peek_keyword("with") {
            self.parse_properties()?
        } else {
            Vec::new()
        };
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
        let Some(first) = self.advance() else {
            return Err(self.unexpected("expected a number"));
        };
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
            return match parse_timespan(raw) {
                Some(d) => Ok(PropertyValue::Timespan(d)),
                None => Err(self.error_at(
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
            e.message.contains("expected 'tables' or 'table <name>'"),
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
        assert!(e.message.contains("expected 'table' after '.drop'"), "{e}");
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
            e.message.contains("only '.create table' is supported"),
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
