//! Parses `.clean database [older than <timespan>]`, `.alter database secret key` and the
//! merge-policy commands of tables and the database.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::Parser;
use crate::command::ast::{try_parse_timespan, Command};
use crate::command::error::ParseError;

impl Parser<'_> {
    /// `.alter database` (already consumed) `secret key` or `policy merge '{…}'`.
    pub(super) fn parse_alter_database(&mut self) -> Result<Command, ParseError> {
        if self.peek_keyword("policy") {
            self.advance();
            let policy = self.parse_merge_policy_text(".alter database policy merge")?;
            return Ok(Command::AlterMergePolicy {
                table: None,
                policy,
            });
        }
        self.expect_keyword(
            "secret",
            "expected 'secret key' or 'policy merge' after '.alter database'",
        )?;
        self.expect_keyword("key", "expected 'key' after '.alter database secret'")?;
        self.expect_end("'.alter database secret key'")?;
        Ok(Command::AlterSecretKey)
    }

    /// After `policy`: `merge '<json>'` and the end of the command.
    pub(super) fn parse_merge_policy_text(&mut self, command: &str) -> Result<String, ParseError> {
        self.expect_keyword(
            "merge",
            &format!(
                "expected 'merge' after '{}'",
                command.trim_end_matches(" merge")
            ),
        )?;
        let Some(text) = self.try_string_literal()? else {
            return Err(self.unexpected(&format!(
                "expected the policy as a quoted JSON object after '{command}', e.g. \
                 '{{\"MaxExtentsToMerge\": 100}}'"
            )));
        };
        self.expect_end(&format!("'{command} '<json>''"))?;
        Ok(text.expose().to_string())
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
