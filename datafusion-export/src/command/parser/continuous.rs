//! Parses `.create-or-alter`/`.show`/`.enable`/`.disable`/`.run`/`.drop continuous-export`.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::{parse_utc, truncate, Parser};
use crate::command::ast::{try_parse_timespan, Command, Since};
use crate::command::error::ParseError;

impl Parser<'_> {
    /// `.create-or-alter continuous-export` (already consumed) `<name>
    /// [over (...)] to table <name> [with (...)] <| <query>`.
    pub(super) fn parse_create_continuous_export(
        &mut self,
        command: &str,
    ) -> Result<Command, ParseError> {
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

    /// `.show continuous-export` (already consumed) `<name> [exported-artifacts
    /// [since <time>] [| take <n>] | failures]`.
    pub(super) fn parse_show_continuous_export(&mut self) -> Result<Command, ParseError> {
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

    /// `.enable`, `.disable` or `.run` (already consumed) `continuous-export <name>`.
    pub(super) fn parse_continuous_export_action(
        &mut self,
        command: &str,
    ) -> Result<Command, ParseError> {
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

    /// `.drop continuous-export` (already consumed) `<name> [ifexists]`.
    pub(super) fn parse_drop_continuous_export(&mut self) -> Result<Command, ParseError> {
        let (name, _) =
            self.parse_name("a continuous export name after '.drop continuous-export'")?;
        let if_exists = self.parse_if_exists();
        self.expect_end("'.drop continuous-export <name> [ifexists]'")?;
        Ok(Command::DropContinuousExport { name, if_exists })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::command::ast::{Command, PropertyValue, Since};
    use crate::command::parser::test_util::{parse, parse_err, prop};

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
}
