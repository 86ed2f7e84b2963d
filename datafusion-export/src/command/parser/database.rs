//! Parses `.clean database [older than <timespan>]` and `.alter database secret key`.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::Parser;
use crate::command::ast::{try_parse_timespan, Command};
use crate::command::error::ParseError;

impl Parser<'_> {
    /// `.alter database` (already consumed) `secret key`.
    pub(super) fn parse_alter_database(&mut self) -> Result<Command, ParseError> {
        self.expect_keyword("secret", "expected 'secret key' after '.alter database'")?;
        self.expect_keyword("key", "expected 'key' after '.alter database secret'")?;
        self.expect_end("'.alter database secret key'")?;
        Ok(Command::AlterSecretKey)
    }

    /// `.clean` (already consumed) `database [older than <timespan>]`.
    pub(super) fn parse_clean(&mut self) -> Result<Command, ParseError> {
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
}
