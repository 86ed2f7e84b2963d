//! Parses `.show`: dispatches each form to its family; parses `.show operation(s)` itself.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::{bare_word, is_guid, string_value, truncate, Parser, GUID_EXAMPLE};
use crate::command::ast::Command;
use crate::command::error::ParseError;

impl Parser<'_> {
    pub(super) fn parse_show(&mut self) -> Result<Command, ParseError> {
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
            "database" => {
                self.advance();
                self.expect_keyword("policy", "expected 'policy merge' after '.show database'")?;
                self.expect_keyword("merge", "expected 'merge' after '.show database policy'")?;
                self.expect_end("'.show database policy merge'")?;
                Ok(Command::ShowMergePolicy { table: None })
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
                self.parse_show_continuous_export()
            }
            _ => Err(self.unexpected(EXPECTED)),
        }
    }

    /// An operation id: a GUID, bare (`f008dc1e-2710-...`, which the
    /// tokenizer splits into several tokens; they are re-read from the raw
    /// text) or quoted. Returned in lowercase.
    fn parse_operation_id(&mut self) -> Result<String, ParseError> {
        self.parse_guid("operation id")
    }

    /// A GUID, bare or quoted, as the id of `what` (e.g. `operation id`); lower-cased.
    pub(super) fn parse_guid(&mut self, what: &str) -> Result<String, ParseError> {
        let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        let expected = format!("expected {article} {what} (a GUID such as {GUID_EXAMPLE})");
        let Some(first) = self.peek().cloned() else {
            return Err(self.unexpected(&expected));
        };
        if let Some(value) = string_value(&first.token) {
            let value = value.trim().to_string();
            self.advance();
            if !is_guid(&value) {
                return Err(self.error_at(
                    first.start,
                    format!("invalid {what}: expected a GUID such as {GUID_EXAMPLE}"),
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
                    "invalid {what} '{}': expected a GUID such as {GUID_EXAMPLE}",
                    truncate(raw)
                ),
            ));
        }
        Ok(raw.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use crate::command::ast::Command;
    use crate::command::parser::is_guid;
    use crate::command::parser::test_util::{column_of, parse, parse_err};

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
}
